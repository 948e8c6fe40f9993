"""Merging the ranks' validation outputs: every video once, from the first rank that tracked it."""

from __future__ import annotations

from pathlib import Path

import pytest

from querytrack.lit.gather import RankOutput, gather_rank_outputs, merge_rank_outputs


def entry(video: int, score: float) -> dict[str, object]:
    return {"video_id": video, "category_id": 1, "score": score, "segmentations": [None]}


def test_a_video_repeated_by_the_sampler_counts_once() -> None:
    # DistributedSampler, 3 videos on 2 ranks: rank 0 tracks [1, 3], rank 1 tracks [2, 1] (1 is padding).
    rank0 = RankOutput(
        [1, 3], [entry(1, 0.9), entry(3, 0.8)], [(1, 0, 1, 0.9, {}), (3, 0, 1, 0.8, {})], "gt.json"
    )
    rank1 = RankOutput(
        [2, 1], [entry(2, 0.7), entry(1, 0.9)], [(2, 0, 1, 0.7, {}), (1, 0, 1, 0.9, {})], "gt.json"
    )
    merged = merge_rank_outputs([rank0, rank1])
    assert merged.videos == [1, 3, 2]
    assert [(e["video_id"], e["score"]) for e in merged.results] == [(1, 0.9), (3, 0.8), (2, 0.7)]
    assert [i[0] for i in merged.frame_items] == [1, 3, 2]
    assert merged.gt == "gt.json"


def test_a_video_without_tracks_on_its_first_rank_takes_none_from_the_repeat() -> None:
    rank0 = RankOutput([1], [], [], "gt.json")
    rank1 = RankOutput([2, 1], [entry(2, 0.5), entry(1, 0.4)], [], "gt.json")
    assert [e["video_id"] for e in merge_rank_outputs([rank0, rank1]).results] == [2]


def test_a_rank_without_videos_and_no_process_group() -> None:
    empty = RankOutput()
    assert merge_rank_outputs([empty, empty]).gt is None
    local = RankOutput([4], [entry(4, 0.3)], [], "gt.json")
    assert gather_rank_outputs(local).results == local.results  # no process group: the local outputs


def _rank_main(rank: int, init_file: str, fail: bool, out_dir: str) -> None:
    """One of 2 gloo processes: rank 0 computes (or fails), every rank records what it got."""
    import torch.distributed as dist

    from querytrack.lit.gather import RankZeroError, computed_on_rank_zero

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)

    def compute() -> dict[str, float]:
        if fail:
            raise ValueError("bad ground truth")
        return {"AP": 0.5}

    try:
        got = repr(computed_on_rank_zero(compute, default={}))
    except (ValueError, RankZeroError) as e:
        got = f"{type(e).__name__}: {e}"
    finally:
        dist.destroy_process_group()
    Path(out_dir, f"rank{rank}.txt").write_text(got)


@pytest.mark.parametrize("fail", [False, True])
def test_rank_zero_value_or_failure_reaches_every_rank(tmp_path: Path, fail: bool) -> None:
    import torch.multiprocessing as mp

    mp.start_processes(
        _rank_main, args=(str(tmp_path / "init"), fail, str(tmp_path)), nprocs=2, start_method="spawn"
    )
    got = [(tmp_path / f"rank{r}.txt").read_text() for r in (0, 1)]
    if fail:
        assert got == [
            "ValueError: bad ground truth",
            "RankZeroError: rank 0 failed: ValueError: bad ground truth",
        ]
    else:
        assert got == ["{'AP': 0.5}", "{'AP': 0.5}"]
