"""The shipped synthetic init checkpoint: small enough, documented, and it fits the default model exactly."""

from __future__ import annotations

from hydra.utils import instantiate

from querytrack.checkpoints.compact import load_compact, load_compact_into, resolve_checkpoint_path
from tests.hydra_config import compose_config


def test_shipped_init_is_small_documented_and_fits_the_default_model() -> None:
    cfg = compose_config("experiment=synthetic")
    path = resolve_checkpoint_path(cfg.init_checkpoint)
    assert cfg.init_checkpoint == "builtin:synthetic_pretrain" and path.is_file()
    assert path.stat().st_size <= 25 * 2**20
    assert (path.parent / "README.md").is_file()  # provenance beside it
    _, meta = load_compact(path)
    assert meta["command"] and meta["git_sha"] and meta["model"]["with_track_head"] is False
    for key in ("backbone", "num_queries", "num_stages", "hidden_dim", "mask_channels"):
        assert meta["model"][key] == cfg.model[key], key
    model = instantiate(cfg.model, num_classes=len(meta["class_names"]))
    report = load_compact_into(model, path, verbose=False)
    assert not report.shape_mismatch and not report.unexpected
    assert report.missing and all(".track_head." in k for k in report.missing)
