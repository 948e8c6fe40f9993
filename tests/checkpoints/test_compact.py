"""Compact (int8 per-channel) detector checkpoints: error bound, round trip, init of a model, CLI safety."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from querytrack.checkpoints.compact import (
    ASSETS,
    dequantize,
    load_compact,
    load_compact_into,
    main,
    quantize,
    resolve_checkpoint_path,
    save_compact,
)
from querytrack.modeling import build_querytrack

SMALL = {
    "backbone": "r18",
    "num_queries": 4,
    "num_stages": 2,
    "hidden_dim": 32,
    "ffn_dim": 64,
    "dynamic_dim": 8,
    "embed_dim": 16,
    "mask_channels": 16,
}


def test_quantize_golden_and_error_bound() -> None:
    w = torch.tensor([[1.27, -0.635, 0.0], [0.0, 0.0, 0.0]])
    q, scale = quantize(w)
    assert q.tolist() == [[127, -64, 0], [0, 0, 0]]  # -63.5 rounds half to even: -64
    assert torch.allclose(scale, torch.tensor([0.01, 1.0]))
    big = torch.randn(64, 3, 3, 3, generator=torch.Generator().manual_seed(0))
    q, scale = quantize(big)
    err = (dequantize(q, scale) - big).abs().reshape(64, -1).amax(dim=1)
    assert bool((err <= scale / 2 + 1e-7).all())


def test_round_trip_and_init_of_a_model_with_track_heads(tmp_path: Path) -> None:
    torch.manual_seed(0)
    det_only = build_querytrack(num_classes=3, with_track_head=False, **SMALL).detector
    state = det_only.state_dict()
    path = tmp_path / "det.pt"
    save_compact(state, path, {"description": "test", "seed": 0})
    loaded, meta = load_compact(path)
    assert meta == {"description": "test", "seed": 0}
    assert loaded.keys() == state.keys()
    for k, v in state.items():
        if v.is_floating_point() and v.dim() >= 2 and v.numel() >= 4096:
            bound = v.reshape(v.shape[0], -1).abs().amax(dim=1).max() / 254 + 1e-7
            assert (loaded[k] - v).abs().max() <= bound, k
        else:
            assert torch.equal(loaded[k], v.float() if v.is_floating_point() else v), k
    assert path.stat().st_size < 0.4 * sum(v.numel() * 4 for v in state.values())

    full = build_querytrack(num_classes=3, with_track_head=True, **SMALL)
    before = {k: v.clone() for k, v in full.detector.state_dict().items()}
    report = load_compact_into(full, path, verbose=False)
    assert report.missing and all(".track_head." in k for k in report.missing)
    assert not report.unexpected and not report.shape_mismatch
    after = full.detector.state_dict()
    assert torch.equal(
        after["proposals.init_proposal_bboxes.weight"], state["proposals.init_proposal_bboxes.weight"]
    )
    assert all(torch.equal(after[k], before[k]) for k in report.missing)


def test_cli_writes_detector_and_refuses_to_overwrite_its_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    det = build_querytrack(num_classes=3, with_track_head=False, **SMALL)
    ckpt = tmp_path / "last.ckpt"
    sd = {f"model.{k}": v for k, v in det.state_dict().items()}
    torch.save({"state_dict": sd, "global_step": 7, "epoch": 1, "querytrack": {"model": SMALL}}, ckpt)
    assert main([str(ckpt), "--out", str(ckpt)]) == 2
    assert "overwrite" in capsys.readouterr().err and torch.load(ckpt, weights_only=False)["global_step"] == 7
    out = tmp_path / "compact.pt"
    assert main([str(ckpt), "--out", str(out), "--command", "python -m querytrack.run"]) == 0
    state, meta = load_compact(out)
    assert (
        meta["global_step"] == 7 and meta["model"] == SMALL and meta["command"] == "python -m querytrack.run"
    )
    assert state.keys() == det.detector.state_dict().keys()
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    assert main([str(bad), "--out", str(tmp_path / "x.pt")]) == 2
    assert "bad.ckpt" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()


def test_builtin_names_resolve_into_the_package() -> None:
    assert resolve_checkpoint_path("builtin:synthetic_pretrain") == ASSETS / "synthetic_pretrain.pt"
    assert resolve_checkpoint_path("a/b.pt") == Path("a/b.pt")


def test_other_formats_are_told_apart(tmp_path: Path) -> None:
    """A plain state dict (e.g. mmdetection's) and a file needing pickle both say 'not compact'."""
    from querytrack.checkpoints.compact import NotCompactError

    plain = tmp_path / "plain.pth"
    torch.save({"state_dict": {"backbone.conv1.weight": torch.zeros(2, 3, 1, 1)}}, plain)
    pickled = tmp_path / "pickled.pth"
    torch.save({"meta": Path("x")}, pickled)  # a Path needs pickle: the weights-only read refuses it
    for path in (plain, pickled):
        with pytest.raises(NotCompactError, match="not a querytrack-compact"):
            load_compact(path)
