"""End to end on the project's synthetic set: GT as results scores 1 through the CLIs (eval, devsplit, submit)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from querytrack.core.rle import to_compressed
from querytrack.data.devsplit import main as devsplit_main
from querytrack.score import main as eval_main
from querytrack.submit import main as submit_main


def _gt_as_results(gt: dict) -> list[dict]:
    videos = {v["id"]: v for v in gt["videos"]}
    out = []
    for a in gt["annotations"]:
        v = videos[a["video_id"]]
        segs = []
        for s in a["segmentations"]:
            r = to_compressed(s, v["height"], v["width"])
            if r is not None:
                r = {
                    "size": list(r["size"]),
                    "counts": r["counts"].decode() if isinstance(r["counts"], bytes) else r["counts"],
                }
            segs.append(r)
        out.append(
            {"video_id": a["video_id"], "category_id": a["category_id"], "score": 0.9, "segmentations": segs}
        )
    return out


def test_cli_pipeline(tiny_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert devsplit_main([str(tiny_set / "train.json"), "--count", "2", "--out-dir", str(tmp_path)]) == 0
    val = tmp_path / "train_val_part.json"
    results = tmp_path / "results.json"
    results.write_text(json.dumps(_gt_as_results(json.loads(val.read_text()))))
    assert eval_main([str(val), str(results), "--out", str(tmp_path / "m.json")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["AP"] == pytest.approx(1.0) and metrics["HOTA"] == pytest.approx(1.0)
    assert "AP50" in capsys.readouterr().out
    assert submit_main([str(results), "--split", str(val), "--out", str(tmp_path / "s.zip")]) == 0
