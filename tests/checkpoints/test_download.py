"""Named init checkpoints: download once into the weights cache, hash checks, errors, registry, mmdet loading.

Every download goes to a loopback HTTP server (127.0.0.1, a free port, in a thread) that counts its requests;
nothing here reaches the internet.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from querytrack.checkpoints import registry
from querytrack.checkpoints.download import (
    download,
    init_entry,
    is_coco_init,
    main,
    resolve_init_checkpoint,
    weights_dir,
)
from querytrack.checkpoints.mmdet import load_mmdet_checkpoint, mmdet_key_to_ours
from querytrack.checkpoints.registry import (
    ALIASES,
    REGISTRY,
    CheckpointEntry,
    coco_init_for,
    get_entry,
    hash_prefix_of,
)
from querytrack.core.errors import UserError
from querytrack.data.synthetic import default_cache_dir
from querytrack.modeling import build_detector
from querytrack.modeling.backbone import BACKBONES


class Server:
    """A loopback HTTP server: ``files[path] = bytes``; ``truncate`` paths announce more bytes than they send."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.truncate: set[str] = set()
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404, "File not found")
                    return
                self.send_response(200)
                extra = 1000 if self.path in outer.truncate else 0
                self.send_header("Content-Length", str(len(body) + extra))
                self.end_headers()
                self.wfile.write(body)
                if extra:
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.stop()


def _pt_bytes(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _files(folder: Path) -> list[str]:
    """Every file under ``folder`` (hidden temporary files included)."""
    return (
        sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        if folder.exists()
        else []
    )


TINY = {"w": torch.arange(12, dtype=torch.float32).reshape(3, 4), "b": torch.tensor([1.0, -2.0])}


def test_url_downloaded_once_checked_and_loadable(server: Server, tmp_path: Path) -> None:
    body = _pt_bytes(TINY)
    sha = hashlib.sha256(body).hexdigest()
    name = f"tiny-{sha[:8]}.pt"
    server.files[f"/weights/{name}"] = body
    cache = tmp_path / "weights"
    path = resolve_init_checkpoint(server.url(f"/weights/{name}"), cache, progress=False)
    assert path == cache / name
    assert _files(cache) == [name]
    assert path.read_bytes() == body
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded["w"], TINY["w"]) and torch.equal(loaded["b"], TINY["b"])
    assert len(server.requests) == 1
    again = resolve_init_checkpoint(server.url(f"/weights/{name}"), cache, progress=False)
    assert again == path and len(server.requests) == 1  # served from the cache
    assert _files(cache) == [name]


def test_default_cache_is_querytrack_cache_weights(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = b"not really a checkpoint"
    name = f"blob-{hashlib.sha256(body).hexdigest()[:10]}.bin"
    server.files[f"/{name}"] = body
    monkeypatch.setenv("QUERYTRACK_CACHE", str(tmp_path / "qc"))
    path = resolve_init_checkpoint(server.url(f"/{name}"), progress=False)
    assert path == tmp_path / "qc" / "weights" / name and path.read_bytes() == body


def test_weights_dir_follows_the_project_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUERYTRACK_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert (
        weights_dir()
        == default_cache_dir() / "weights"
        == tmp_path / "home" / ".cache" / "querytrack" / "weights"
    )
    monkeypatch.setenv("QUERYTRACK_CACHE", str(tmp_path / "c"))
    assert weights_dir() == default_cache_dir() / "weights" == tmp_path / "c" / "weights"
    assert weights_dir(tmp_path / "x") == tmp_path / "x"


def test_bad_hash_prefix_names_url_and_hashes_and_keeps_nothing(server: Server, tmp_path: Path) -> None:
    body = _pt_bytes(TINY)
    actual = hashlib.sha256(body).hexdigest()
    wrong = "0123abcd" if not actual.startswith("0123abcd") else "ffffffff"
    server.files[f"/tiny-{wrong}.pt"] = body
    url = server.url(f"/tiny-{wrong}.pt")
    cache = tmp_path / "weights"
    with pytest.raises(UserError) as err:
        resolve_init_checkpoint(url, cache, progress=False)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{url}: sha256 mismatch")
    assert f"expected {wrong}" in msg and f"got {actual}" in msg
    assert _files(cache) == []
    # a retry downloads again (nothing was cached) and fails the same way
    with pytest.raises(UserError):
        resolve_init_checkpoint(url, cache, progress=False)
    assert len(server.requests) == 2 and _files(cache) == []


def test_truncated_transfer_is_rejected(server: Server, tmp_path: Path) -> None:
    body = _pt_bytes(TINY)
    name = f"tiny-{hashlib.sha256(body).hexdigest()[:8]}.pt"
    server.files[f"/{name}"] = body[: len(body) // 2]  # the server drops the second half
    server.truncate.add(f"/{name}")
    with pytest.raises(UserError, match="sha256 mismatch"):
        resolve_init_checkpoint(server.url(f"/{name}"), tmp_path, progress=False)
    assert _files(tmp_path) == []


def test_full_sha256_of_a_table_entry(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = _pt_bytes(TINY)
    sha = hashlib.sha256(body).hexdigest()
    server.files["/plain.pt"] = body  # no hash in the name: only the table's full sha256 can catch a bad file
    entry = CheckpointEntry(
        name="loopback_test",
        url=server.url("/plain.pt"),
        sha256=sha[:-1] + ("0" if sha[-1] != "0" else "1"),  # differs in the last digit only
        source="test",
        config="-",
        backbone="r18",
        num_stages=1,
        num_queries=6,
        epochs=0,
        box_ap=0.0,
        mask_ap=0.0,
    )
    monkeypatch.setitem(REGISTRY, entry.name, entry)
    with pytest.raises(UserError) as err:
        resolve_init_checkpoint("loopback_test", tmp_path, progress=False)
    assert f"expected {entry.sha256}, got {sha}" in str(err.value)
    assert _files(tmp_path) == []
    monkeypatch.setitem(REGISTRY, entry.name, CheckpointEntry(**{**entry.__dict__, "sha256": sha}))
    assert resolve_init_checkpoint("loopback_test", tmp_path, progress=False) == tmp_path / "plain.pt"


def test_404_is_one_line_naming_the_url(server: Server, tmp_path: Path) -> None:
    url = server.url("/missing-0123abcd.pth")
    with pytest.raises(UserError) as err:
        resolve_init_checkpoint(url, tmp_path / "weights", progress=False)
    msg = str(err.value)
    assert msg == f"{url}: cannot download (HTTP 404 File not found)"
    assert _files(tmp_path) == []


def test_dead_server_is_one_line_naming_the_url(tmp_path: Path) -> None:
    s = Server()
    url = s.url("/gone-0123abcd.pth")
    s.stop()  # nothing listens on the port any more
    with pytest.raises(UserError) as err:
        resolve_init_checkpoint(url, tmp_path / "weights", progress=False)
    msg = str(err.value)
    assert msg.startswith(f"{url}: cannot download (") and "\n" not in msg
    assert _files(tmp_path) == []


def test_cli_reports_a_failed_download_on_one_line(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server.url("/nothing-0123abcd.pth")
    assert main([url, "--cache-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == f"querytrack.checkpoints.download: {url}: cannot download (HTTP 404 File not found)\n"


def _no_network(*args: object, **kwargs: object) -> None:
    raise AssertionError("no download expected")


def test_registry_names_resolve_to_the_cached_file_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    entry = REGISTRY["queryinst_r50_fpn_300_proposals_crop_mstrain_480-800_3x_coco"]
    cached = (
        tmp_path / "queryinst_r50_fpn_300_proposals_crop_mstrain_480-800_3x_coco_20210904_101802-85cffbd8.pth"
    )
    cached.write_bytes(b"placed earlier")
    assert resolve_init_checkpoint(entry.name, tmp_path) == cached
    assert resolve_init_checkpoint("coco_r50", tmp_path) == cached
    monkeypatch.setenv("QUERYTRACK_CACHE", str(tmp_path / "env"))
    (tmp_path / "env" / "weights").mkdir(parents=True)
    (tmp_path / "env" / "weights" / cached.name).write_bytes(b"x")
    assert resolve_init_checkpoint("coco_r50") == tmp_path / "env" / "weights" / cached.name


def test_google_drive_entry_says_where_to_put_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    entry = REGISTRY[ALIASES["coco_swin_l"]]
    expected_path = tmp_path / f"{entry.name}.pth"
    with pytest.raises(UserError) as err:
        resolve_init_checkpoint("coco_swin_l", tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and "Google Drive" in msg
    assert entry.url in msg and f"save the file as {expected_path} " in msg and "init_checkpoint=" in msg
    assert _files(tmp_path) == []
    expected_path.write_bytes(b"downloaded by hand")
    assert resolve_init_checkpoint("coco_swin_l", tmp_path) == expected_path
    assert resolve_init_checkpoint(entry.name, tmp_path) == expected_path


def test_local_paths_and_builtin(tmp_path: Path) -> None:
    f = tmp_path / "mine.pth"
    f.write_bytes(b"x")
    assert resolve_init_checkpoint(str(f), tmp_path / "cache") == f
    with pytest.raises(UserError) as err:
        resolve_init_checkpoint(str(tmp_path / "nope.pth"), tmp_path / "cache")
    assert str(err.value).startswith(f"{tmp_path / 'nope.pth'}: init checkpoint not found")
    with pytest.raises(UserError, match="is a folder"):
        resolve_init_checkpoint(str(tmp_path), tmp_path / "cache")
    shipped = resolve_init_checkpoint("builtin:synthetic_pretrain")
    assert shipped.is_file() and shipped.name == "synthetic_pretrain.pt"
    with pytest.raises(UserError, match="no checkpoint 'builtin:nope' ships"):
        resolve_init_checkpoint("builtin:nope")
    assert not (tmp_path / "cache").exists()


def test_download_refuses_nothing_it_already_has(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    dst = tmp_path / "x-0123abcd.pt"
    dst.write_bytes(b"cached")  # an existing cache file is trusted (it was checked when it was written)
    assert download("http://127.0.0.1:9/x-0123abcd.pt", dst) == dst


# --- the table -------------------------------------------------------------------------------------------------

# The weights URLs exactly as open-mmlab/mmdetection configs/queryinst/metafile.yml publishes them.
METAFILE_URLS = {
    "queryinst_r50_fpn_1x_coco": "https://download.openmmlab.com/mmdetection/v2.0/queryinst/queryinst_r50_fpn_1x_coco/queryinst_r50_fpn_1x_coco_20210907_084916-5a8f1998.pth",
    "queryinst_r50_fpn_mstrain_480-800_3x_coco": "https://download.openmmlab.com/mmdetection/v2.0/queryinst/queryinst_r50_fpn_mstrain_480-800_3x_coco/queryinst_r50_fpn_mstrain_480-800_3x_coco_20210901_103643-7837af86.pth",
    "queryinst_r50_fpn_300_proposals_crop_mstrain_480-800_3x_coco": "https://download.openmmlab.com/mmdetection/v2.0/queryinst/queryinst_r50_fpn_300_proposals_crop_mstrain_480-800_3x_coco/queryinst_r50_fpn_300_proposals_crop_mstrain_480-800_3x_coco_20210904_101802-85cffbd8.pth",
    "queryinst_r101_fpn_mstrain_480-800_3x_coco": "https://download.openmmlab.com/mmdetection/v2.0/queryinst/queryinst_r101_fpn_mstrain_480-800_3x_coco/queryinst_r101_fpn_mstrain_480-800_3x_coco_20210904_104048-91f9995b.pth",
    "queryinst_r101_fpn_300_proposals_crop_mstrain_480-800_3x_coco": "https://download.openmmlab.com/mmdetection/v2.0/queryinst/queryinst_r101_fpn_300_proposals_crop_mstrain_480-800_3x_coco/queryinst_r101_fpn_300_proposals_crop_mstrain_480-800_3x_coco_20210904_153621-76cce59f.pth",
}  # fmt: skip


def test_mmdet_entries_match_the_metafile() -> None:
    mmdet = {k: e for k, e in REGISTRY.items() if e.source == registry.MMDET_SOURCE}
    assert {k: e.url for k, e in mmdet.items()} == METAFILE_URLS
    assert [e.hash_prefix for e in mmdet.values()] == [
        "5a8f1998",
        "7837af86",
        "85cffbd8",
        "91f9995b",
        "76cce59f",
    ]
    assert all(
        not e.manual and e.sha256 is None and e.expected_sha256 == e.hash_prefix for e in mmdet.values()
    )


def test_table_is_consistent() -> None:
    assert len(REGISTRY) == 8
    for e in REGISTRY.values():
        assert e.backbone in BACKBONES
        assert e.num_stages == 6 and e.num_queries in (100, 300) and e.num_classes == 80
        assert len(e.class_names) == 80 and e.class_names[0] == "person" and e.class_names[-1] == "toothbrush"
        assert 0 < e.mask_ap < e.box_ap < 60
        assert e.manual == ("drive.google.com" in e.url)
        # each config's name states its proposals where it has them
        assert ("300_proposals" in e.config) == (e.num_queries == 300)
    assert all(a in REGISTRY.values() for a in map(get_entry, ALIASES))
    assert hash_prefix_of("resnet18-f37072fd.pth") == "f37072fd"
    assert hash_prefix_of("model-2021.pt") is None and hash_prefix_of("model.pt") is None


def test_coco_init_lookup() -> None:
    assert coco_init_for("r50") is REGISTRY[ALIASES["coco_r50"]]
    assert coco_init_for("r101") is REGISTRY[ALIASES["coco_r101"]]
    assert coco_init_for("swin_l") is REGISTRY[ALIASES["coco_swin_l"]]
    assert coco_init_for("r50", 100) is REGISTRY["queryinst_r50_fpn_mstrain_480-800_3x_coco"]  # 44.8 > 42.0
    assert coco_init_for("swin_l", 100) is None and coco_init_for("r18") is None
    e = REGISTRY["queryinst_r101_fpn_mstrain_480-800_3x_coco"]
    for value in (e.name, e.url, f"/data/weights/{e.filename}", "coco_swin_l"):
        assert is_coco_init(value), value
    assert init_entry(e.url) is e and init_entry(f"https://mirror.example/{e.filename}") is e
    for value in (
        "builtin:synthetic_pretrain",
        "/data/my_model.pth",
        "https://example.com/x-0123abcd.pth",
        None,
    ):
        assert not is_coco_init(value), value


def test_cli_list_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["name", "alias", "backbone", "queries"]
    assert len(out) == 1 + len(REGISTRY) + 1
    row = next(line for line in out if line.startswith("queryinst_r101_fpn_300_proposals"))
    assert row.split()[1:6] == ["coco_r101", "r101", "300", "49.0", "42.9"] and row.endswith("no")
    assert main(["no_such_name", "--cache-dir", str(tmp_path)]) == 1


# --- an mmdet-style checkpoint fetched this way loads into the detector ----------------------------------------


def _to_mmdet_key(ours: str) -> str:
    """The mmdetection name of one of our detector keys (the inverse of ``mmdet_key_to_ours`` for ResNets)."""
    for prefix, repl in (("backbone.body.", "backbone."), ("proposals.", "rpn_head.")):
        if ours.startswith(prefix):
            return repl + ours[len(prefix) :]
    parts = ours.split(".")
    if parts[:2] == ["neck", "fpn"]:  # neck.fpn.inner_blocks.{i}.0.* / layer_blocks
        kind = {"inner_blocks": "lateral_convs", "layer_blocks": "fpn_convs"}[parts[2]]
        return ".".join(["neck", kind, parts[3], "conv", *parts[5:]])
    if parts[0] == "stages":  # stages.{t}.bbox_head.* / mask_head.*
        return ".".join(["roi_head", parts[2], parts[1], *parts[3:]])
    raise KeyError(ours)


def test_fetched_mmdet_checkpoint_loads(server: Server, tmp_path: Path) -> None:
    kwargs = {"backbone": "r18", "num_queries": 6, "num_classes": 3, "num_stages": 2, "embed_dim": 8}
    torch.manual_seed(0)
    src = build_detector(**kwargs, with_track_head=False, hidden_dim=32, ffn_dim=64, mask_channels=16)
    sd = {_to_mmdet_key(k): v for k, v in src.state_dict().items()}
    assert all(mmdet_key_to_ours(m) == o for m, o in zip(sd, src.state_dict(), strict=True))
    body = _pt_bytes({"meta": {"mmdet_version": "2.16.0"}, "state_dict": sd})
    name = f"queryinst_tiny-{hashlib.sha256(body).hexdigest()[:8]}.pth"
    server.files[f"/mmdet/{name}"] = body
    path = resolve_init_checkpoint(server.url(f"/mmdet/{name}"), tmp_path, progress=False)
    torch.manual_seed(1)
    dst = build_detector(**kwargs, with_track_head=True, hidden_dim=32, ffn_dim=64, mask_channels=16)
    report = load_mmdet_checkpoint(dst, path, verbose=False)
    assert len(report.mapped) == len(sd) and report.unexpected == [] and report.shape_mismatch == []
    assert report.missing and all(".track_head." in k for k in report.missing)
    own = dst.state_dict()
    for k, v in src.state_dict().items():
        assert torch.equal(own[k], v), k
