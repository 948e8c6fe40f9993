"""querytrack-demo on a video the test encodes (PyAV) with a tiny untrained checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from querytrack.demo import main, run_demo
from querytrack.inference.load import load_for_inference
from querytrack.video_io import VideoReadError, write_video
from tests.tiny_checkpoint import make_tiny_ckpt


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_ckpt(tmp_path_factory.mktemp("ckpt") / "tiny.ckpt")


def _frames(n: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randint(0, 255, (3, 48, 80), dtype=torch.uint8, generator=g) for _ in range(n)]


def test_load_for_inference_round_trip(ckpt: Path) -> None:
    bundle = load_for_inference(ckpt)
    assert bundle.class_names == ["a", "b", "c"] and bundle.top_k == 3
    assert not bundle.model.training
    ref = torch.load(ckpt, weights_only=True)["state_dict"]
    own = bundle.model.state_dict()
    assert all(torch.equal(own[k[len("model.") :]], v) for k, v in ref.items())


def test_a_checkpoint_with_retired_model_arguments_still_loads(ckpt: Path, tmp_path: Path) -> None:
    """Checkpoints written before issue 26 name the removed CPU-inference switches and ``roi_kernel: auto``."""
    from querytrack.modeling.roi_extractor import MultiLevelRoIAlign

    old = torch.load(ckpt, weights_only=True)
    old["querytrack"]["model"].update(cpu_packed_linear=True, cpu_channels_last=True, roi_kernel="auto")
    torch.save(old, tmp_path / "old.ckpt")
    bundle = load_for_inference(tmp_path / "old.ckpt")
    pools = [m for m in bundle.model.modules() if isinstance(m, MultiLevelRoIAlign)]
    assert pools and all(m.kernel == "torchvision" for m in pools)


def test_demo_on_video_writes_everything(ckpt: Path, tmp_path: Path) -> None:
    video = tmp_path / "in.mp4"
    write_video(video, _frames(7), fps=12)
    out = tmp_path / "out"
    summary = run_demo(video, ckpt, out, progress=False)
    assert summary["frames"] == 7 and summary["error"] is None
    with av.open(str(out / "overlay.mp4")) as c:
        s = c.streams.video[0]
        assert len(list(c.decode(s))) == 7 and float(s.average_rate) == 12.0  # source frame rate
    pngs = sorted((out / "masks").glob("*.png"))
    assert len(pngs) == 7
    ids = np.array(Image.open(pngs[0]))
    assert ids.shape == (48, 80)
    results = json.loads((out / "results.json").read_text())
    assert all(len(r["segmentations"]) == 7 and r["category_id"] in (4, 5, 6) for r in results)
    lines = (out / "tracks.txt").read_text().splitlines()
    assert len(lines) == sum(1 for r in results for s in r["segmentations"] if s is not None)
    if lines:
        _, obj, cat, h, w, _ = lines[0].split(" ")
        assert int(obj) // 1000 == int(cat) and (h, w) == ("48", "80")


def test_demo_on_frame_folder(ckpt: Path, tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(_frames(3)):
        Image.fromarray(f.permute(1, 2, 0).numpy()).save(folder / f"{i:05d}.jpg")
    assert main([str(folder), "--ckpt", str(ckpt), "--out", str(tmp_path / "o")]) == 0
    assert len(list((tmp_path / "o" / "masks").glob("*.png"))) == 3


def test_truncated_video_keeps_outputs_and_reports(
    ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = tmp_path / "in.mkv"
    write_video(video, _frames(20), fps=10)
    data = video.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    assert main([str(cut), "--ckpt", str(ckpt), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    # Matroska cut in half ends cleanly for the demuxer: the header's declared length tells the cut
    assert "cut.mkv: frame" in err and "truncated" in err and "its header declares" in err
    summary = json.loads((out / "summary.json").read_text())
    assert 0 < summary["frames"] < 20 and summary["complete"] is False
    assert len(list((out / "masks").glob("*.png"))) == summary["frames"]
    with av.open(str(out / "overlay.mp4")) as c:
        assert len(list(c.decode(video=0))) == summary["frames"]


def test_unreadable_source_is_a_clear_error(ckpt: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(VideoReadError, match=r"bad\.mp4"):
        run_demo(bad, ckpt, tmp_path / "o", progress=False)
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(VideoReadError, match="frames_missing: no such file"):  # the source is checked first
        run_demo(tmp_path / "frames_missing", tmp_path / "other.ckpt", tmp_path / "o2", progress=False)
    video = tmp_path / "in.mp4"
    write_video(video, _frames(2), fps=12)
    with pytest.raises(ValueError, match="not a querytrack training checkpoint"):
        run_demo(video, tmp_path / "other.ckpt", tmp_path / "o2", progress=False)
