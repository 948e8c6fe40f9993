"""querytrack-demo on bad checkpoints, sources and output folders: one line, and --out never half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

import querytrack.demo_track
from querytrack.demo import main
from tests.bad_input.helpers import assert_refused, digest
from tests.test_demo import _frames
from tests.tiny_checkpoint import make_tiny_ckpt

TOOL = "querytrack-demo"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_ckpt(tmp_path_factory.mktemp("ckpt") / "tiny.ckpt")


def _folder(path: Path, n: int = 3, sizes: list[tuple[int, int]] | None = None) -> Path:
    path.mkdir()
    for i, f in enumerate(_frames(n)):
        im = Image.fromarray(f.permute(1, 2, 0).numpy())
        if sizes:
            im = im.resize(sizes[i])
        im.save(path / f"{i:05d}.png")
    return path


@pytest.mark.parametrize("kind", ["missing", "garbage", "truncated", "folder", "not_ours", "foreign_target"])
def test_bad_checkpoint(kind: str, ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = _folder(tmp_path / "frames")
    bad = tmp_path / "bad.ckpt"
    if kind == "garbage":
        bad.write_bytes(b"\x00garbage" * 100)
    elif kind == "truncated":
        data = ckpt.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    elif kind == "folder":
        bad.mkdir()
    elif kind == "not_ours":
        torch.save({"state_dict": {}}, bad)
    elif kind == "foreign_target":
        spec = torch.load(ckpt, weights_only=True)
        spec["querytrack"]["model"]["_target_"] = "os.system"
        torch.save(spec, bad)
    needle = {
        "missing": "checkpoint not found",
        "garbage": "cannot read the checkpoint",
        "truncated": "cannot read the checkpoint",
        "folder": "is a folder",
        "not_ours": "not a querytrack training checkpoint",
        "foreign_target": "names no querytrack model builder",
    }[kind]
    out = tmp_path / "out"
    assert_refused(
        main, [str(frames), "--ckpt", str(bad), "--out", str(out)], capsys, TOOL, bad, needle, inputs=[frames]
    )
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_out_is_an_existing_file(ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = _folder(tmp_path / "frames")
    out = tmp_path / "out.txt"
    out.write_text("keep me")
    assert_refused(
        main,
        [str(frames), "--ckpt", str(ckpt), "--out", str(out)],
        capsys,
        TOOL,
        out,
        "not a folder",
        inputs=[out],
    )


def test_out_is_the_source(ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = _folder(tmp_path / "frames")
    argv = [str(frames), "--ckpt", str(ckpt), "--out", str(frames), "--overwrite"]
    assert_refused(main, argv, capsys, TOOL, frames, "is or contains the input", inputs=[frames])


def test_earlier_run_is_kept(ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = _folder(tmp_path / "frames")
    out = tmp_path / "out"
    assert main([str(frames), "--ckpt", str(ckpt), "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["complete"] is True
    first = digest([out])
    capsys.readouterr()
    # a second run into the same folder is refused without --overwrite
    assert_refused(
        main,
        [str(frames), "--ckpt", str(ckpt), "--out", str(out)],
        capsys,
        TOOL,
        out,
        "not empty",
        "--overwrite",
    )
    # a failed run with --overwrite leaves the earlier run whole
    bad = _folder(tmp_path / "bad", sizes=[(80, 48), (80, 48), (40, 24)])
    argv = [str(bad), "--ckpt", str(ckpt), "--out", str(out), "--overwrite"]
    assert_refused(main, argv, capsys, TOOL, bad / "00002.png", "frame 2", "same size")
    assert digest([out]) == first
    # a successful one replaces it
    assert (
        main([str(frames), "--ckpt", str(ckpt), "--out", str(out), "--overwrite", "--max-frames", "2"]) == 0
    )
    assert json.loads((out / "summary.json").read_text())["frames"] == 2
    assert len(list((out / "masks").glob("*.png"))) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "frames", "out"]  # no temporary folder left


def test_mixed_frame_sizes_refused_before_any_output(
    ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = _folder(tmp_path / "frames", sizes=[(80, 48), (64, 48), (80, 48)])
    out = tmp_path / "out"
    argv = [str(frames), "--ckpt", str(ckpt), "--out", str(out)]
    assert_refused(
        main, argv, capsys, TOOL, frames / "00001.png", "frame 1: 64x48 but frame 0", inputs=[frames]
    )
    assert not out.exists()


def test_decompression_bomb_frame(
    ckpt: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frames = _folder(tmp_path / "frames")
    monkeypatch.setattr(
        Image, "MAX_IMAGE_PIXELS", 1000
    )  # an 80x48 frame is then a "bomb" (> 2 x 1000 pixels)
    out = tmp_path / "out"
    argv = [str(frames), "--ckpt", str(ckpt), "--out", str(out)]
    assert_refused(
        main, argv, capsys, TOOL, frames / "00000.png", "frame 0: cannot decode", "decompression bomb"
    )
    assert not out.exists()


def test_crash_mid_run_leaves_nothing_that_looks_complete(
    ckpt: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frames = _folder(tmp_path / "frames", n=4)
    real = querytrack.demo_track.overlay
    calls = []

    def flaky(*args: object) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("simulated crash")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(querytrack.demo_track, "overlay", flaky)
    out = tmp_path / "out"
    rc = main([str(frames), "--ckpt", str(ckpt), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 3 and err.count("\n") == 1 and "internal error: RuntimeError: simulated crash" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]  # neither out nor a temporary folder


def test_corrupt_frame_mid_run_is_marked_partial(
    ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = _folder(tmp_path / "frames", n=4)
    data = (frames / "00002.png").read_bytes()
    (frames / "00002.png").write_bytes(data[: len(data) // 3])  # the header reads, the pixels do not
    out = tmp_path / "out"
    rc = main([str(frames), "--ckpt", str(ckpt), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err and "00002.png: frame 2: cannot decode" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is False and summary["frames"] == 2 and "frame 2" in summary["error"]
    assert len(list((out / "masks").glob("*.png"))) == 2
