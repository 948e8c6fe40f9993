"""querytrack-export: the detector as ONNX with a dynamic image size, run by ONNX Runtime on CPU, equal to PyTorch;
the Python tracker on its outputs (querytrack-demo --onnx)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("onnxruntime", reason="needs the onnx extra")
pytest.importorskip("onnxscript", reason="needs the onnx extra")

from querytrack.export_onnx import OUTPUT_NAMES, export_onnx, main
from querytrack.inference.frame_model import DetectorFrameModel
from querytrack.inference.load import load_for_inference
from querytrack.inference.onnx_model import OnnxDetector, load_onnx_for_inference
from querytrack.inference.stream import track_video
from tests.tiny_checkpoint import make_tiny_ckpt


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("onnx")
    ckpt = make_tiny_ckpt(folder / "tiny.ckpt", num_stages=2, mask_channels=16, mask_topk=4)
    out = export_onnx(ckpt, folder / "model.onnx", example_size=(64, 96))
    return ckpt, out


@pytest.mark.parametrize("size", [(64, 96), (96, 160), (128, 64)])
def test_onnx_runtime_matches_pytorch(exported: tuple[Path, Path], size: tuple[int, int]) -> None:
    ckpt, onnx_path = exported
    torch_model = load_for_inference(ckpt).model.detector
    onnx_model = OnnxDetector(onnx_path)
    g = torch.Generator().manual_seed(size[0])
    h, w = size
    images = torch.randint(0, 256, (1, 3, h, w), dtype=torch.uint8, generator=g)
    sizes = torch.tensor([[h - 5, w - 17]])
    with torch.no_grad():
        ref = torch_model(images, sizes)
    got = onnx_model(images, sizes)
    assert torch.equal(got.mask_indices, ref.mask_indices)
    for name in OUTPUT_NAMES:
        a, b = getattr(got, name), getattr(ref, name)
        assert a.shape == b.shape, name
        torch.testing.assert_close(a.float(), b.float(), rtol=1e-4, atol=1e-4, msg=name)


def test_tracker_runs_on_onnx_outputs(exported: tuple[Path, Path]) -> None:
    ckpt, onnx_path = exported
    g = torch.Generator().manual_seed(0)
    frames = [torch.randint(0, 255, (3, 48, 80), dtype=torch.uint8, generator=g) for _ in range(4)]
    results = {}
    for kind, bundle, model in (
        ("torch", b := load_for_inference(ckpt), DetectorFrameModel(b.model)),
        ("onnx", o := load_onnx_for_inference(onnx_path), DetectorFrameModel(o.model)),  # type: ignore[arg-type]
    ):
        stream = track_video(model, iter(frames), bundle.tracker, resize=bundle.resize, top_k=bundle.top_k)
        results[kind] = [(r.track_ids, r.labels) for r in stream]
    assert results["onnx"] == results["torch"] and any(ids for ids, _ in results["torch"])


def test_export_cli_errors(
    exported: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt, _ = exported
    assert main([str(ckpt), "--out", str(ckpt)]) == 1
    assert "overwrite the input" in capsys.readouterr().err
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}}, other)
    assert main([str(other), "--out", str(tmp_path / "m.onnx")]) == 1
    err = capsys.readouterr().err
    assert str(other) in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.onnx").exists() and not list(tmp_path.glob(".m.onnx*"))
    with pytest.raises(ValueError, match="not a readable ONNX"):
        OnnxDetector(ckpt)


def test_demo_with_onnx(exported: tuple[Path, Path], tmp_path: Path) -> None:
    from PIL import Image

    from querytrack.demo import main as demo_main

    _, onnx_path = exported
    folder = tmp_path / "frames"
    folder.mkdir()
    g = torch.Generator().manual_seed(1)
    for i in range(3):
        frame = torch.randint(0, 255, (48, 80, 3), dtype=torch.uint8, generator=g).numpy()
        Image.fromarray(frame).save(folder / f"{i:05d}.jpg")
    out = tmp_path / "o"
    assert demo_main([str(folder), "--onnx", str(onnx_path), "--out", str(out)]) == 0
    assert (out / "results.json").is_file() and len(list((out / "masks").glob("*.png"))) == 3


def test_export_roi_path_equals_the_gather() -> None:
    from querytrack.modeling.roi_extractor import MultiLevelRoIAlign, map_roi_levels

    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(2, 4, 64 // s, 96 // s, generator=g) for s in (4, 8, 16, 32)]
    xy = torch.rand(40, 2, generator=g) * torch.tensor([200.0, 150.0])
    wh = torch.rand(40, 2, generator=g) ** 3 * 700 + 2  # every level gets boxes
    rois = torch.cat([torch.randint(0, 2, (40, 1), generator=g).float(), xy, xy + wh], 1)
    # the export path's kernel (the CPU default, the gather, differs from it by rounding only)
    pool = MultiLevelRoIAlign(7, kernel="torchvision")
    levels = map_roi_levels(rois[:, 1:], 4)
    assert set(levels.tolist()) == {0, 1, 2, 3}
    torch.testing.assert_close(pool._all_levels(feats, rois, levels), pool(feats, rois), rtol=0, atol=0)


def test_exported_graph_says_its_embeddings_are_of_the_top_k(exported: tuple[Path, Path]) -> None:
    from querytrack.inference.onnx_model import EMBEDDINGS_KEY, EMBEDDINGS_OF_TOPK

    assert OnnxDetector(exported[1]).meta[EMBEDDINGS_KEY] == EMBEDDINGS_OF_TOPK


def test_an_older_graph_gets_the_embeddings_of_its_mask_indices() -> None:
    """Graphs exported before the detector's track head ran on the top-k only give ``[1, N, D]``: ``OnnxDetector``
    picks the ``mask_indices`` rows, so the frame model sees the current layout."""

    class _Session:
        def run(self, names: list[str], feeds: dict[str, object]) -> list[object]:
            return [
                torch.zeros((1, 5, 2)).numpy(),
                torch.zeros((1, 5, 4)).numpy(),
                torch.tensor([[3, 0]]).numpy(),
                torch.zeros((1, 2, 2, 28, 28)).numpy(),
                torch.arange(5.0)[None, :, None].expand(1, 5, 3).contiguous().numpy(),
            ]

    det = OnnxDetector.__new__(OnnxDetector)
    det.session, det.meta = _Session(), {}
    out = det(torch.zeros((1, 3, 32, 32), dtype=torch.uint8), torch.tensor([[32, 32]]))
    assert out.track_embeddings.shape == (1, 2, 3) and out.track_embeddings[0, :, 0].tolist() == [3.0, 0.0]


def test_vit_backbone_exports_with_a_dynamic_size(tmp_path: Path) -> None:
    """A DINOv2 (patch 14) detector: the position-embedding interpolation, the padding to the patch and the
    resampling to stride 16 follow the input size in the graph, so ONNX Runtime equals PyTorch at other sizes."""
    ckpt = make_tiny_ckpt(tmp_path / "vit.ckpt", backbone="vit_small_patch14_dinov2", mask_topk=4)
    onnx_model = OnnxDetector(export_onnx(ckpt, tmp_path / "vit.onnx", example_size=(64, 96)))
    torch_model = load_for_inference(ckpt).model.detector
    for h, w in ((64, 96), (160, 96)):  # 160 px: 12 tokens of 14, padded; not the traced size
        images = torch.randint(
            0, 256, (1, 3, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(h)
        )
        sizes = torch.tensor([[h - 5, w - 17]])
        with torch.no_grad():
            ref = torch_model(images, sizes)
        got = onnx_model(images, sizes)
        assert torch.equal(got.mask_indices, ref.mask_indices)
        for name in OUTPUT_NAMES:  # boxes are pixels (up to ~160): 1e-3 absolute is 1e-5 relative
            torch.testing.assert_close(
                getattr(got, name).float(), getattr(ref, name).float(), rtol=1e-4, atol=1e-3
            )
