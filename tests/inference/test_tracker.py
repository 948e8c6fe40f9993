"""Tracker (eq. 8): crossings, permutation invariance, causal class, each cue, thresholds, memory."""

from __future__ import annotations

import pytest
import torch

from querytrack.inference.detections import FrameDetections
from querytrack.inference.results import VideoTrackBuilder
from querytrack.inference.stream import FrameResult
from querytrack.inference.tracker import Tracker


def frame(i: int, boxes: list, emb: list, scores: list, labels: list) -> FrameDetections:
    return FrameDetections(
        boxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        scores=torch.tensor(scores, dtype=torch.float32),
        labels=torch.tensor(labels, dtype=torch.int64),
        embeddings=torch.tensor(emb, dtype=torch.float32).reshape(len(scores), -1 if scores else 2),
        frame_index=i,
        orig_size=(100, 200),
    )


def crossing(
    num_frames: int = 11, noise: float = 0.3, seed: int = 0
) -> list[tuple[FrameDetections, list[int]]]:
    """Two same-class objects moving towards each other along y = 40; they overlap fully mid-way."""
    g = torch.Generator().manual_seed(seed)
    e = torch.eye(2, 16) * 4
    out = []
    for t in range(num_frames):
        xa, xb = 10 + 14 * t, 150 - 14 * t
        emb = e + noise * torch.randn(2, 16, generator=g)
        boxes = [[xa, 30, xa + 30, 60], [xb, 30, xb + 30, 60]]
        out.append((frame(t, boxes, emb.tolist(), [0.9, 0.85], [3, 3]), [0, 1]))
    return out


def test_identities_kept_through_crossing() -> None:
    tr = Tracker()
    for det, truth in crossing():
        ids = tr.update(det).track_ids.tolist()
        assert (
            ids == truth
        )  # object 0 keeps id 0, object 1 keeps id 1, including the frames where they overlap


def test_crossing_without_appearance_swaps_or_not_is_iou_driven() -> None:
    # sanity check that the appearance cue is what carries the crossing: the frames after the full overlap
    # are ambiguous without it (IoU of both candidates with both memories is equal at the crossing).
    tr = Tracker(use_appearance=False)
    ids = [tr.update(det).track_ids.tolist() for det, _ in crossing()]
    assert ids[0] == [0, 1]  # starts fine; later ids may switch, not asserted


@pytest.mark.parametrize("assignment", ["hungarian", "greedy"])
def test_ids_stable_under_candidate_permutation(assignment: str) -> None:
    g = torch.Generator().manual_seed(1)
    n, frames = 6, 8
    emb = torch.randn(n, 8, generator=g) * 3
    base = torch.rand(n, 2, generator=g) * 150
    dets = []
    for t in range(frames):
        xy = base + 3 * t
        boxes = torch.cat([xy, xy + 20], 1)
        scores = torch.rand(n, generator=g) * 0.6 + 0.35
        labels = torch.tensor([0, 0, 1, 1, 2, 2])
        dets.append(
            frame(
                t,
                boxes.tolist(),
                (emb + 0.2 * torch.randn(n, 8, generator=g)).tolist(),
                scores.tolist(),
                labels.tolist(),
            )
        )
    ref_tr, perm_tr = Tracker(assignment=assignment), Tracker(assignment=assignment)
    for t, det in enumerate(dets):
        ref = ref_tr.update(det).track_ids
        p = torch.randperm(n, generator=torch.Generator().manual_seed(100 + t))
        got = perm_tr.update(det.select(p)).track_ids
        assert got.tolist() == ref[p].tolist()


def test_causal_class_never_revised_and_aggregate_differs() -> None:
    tr = Tracker(use_class=False)
    labels = [0, 1, 1, 1]
    builder = VideoTrackBuilder()
    emitted = []
    for t, lab in enumerate(labels):
        out = tr.update(frame(t, [[10, 10, 40, 40]], [[4.0, 0.0]], [0.8], [lab]))
        assert out.track_ids.tolist() == [0]
        emitted.append(int(out.track_labels[0]))
        rle = {"size": [100, 200], "counts": "0"}
        builder.add(FrameResult(t, [0], [lab], [0.8], out.track_labels.tolist(), out.boxes, [rle]))
    assert emitted == [0, 0, 0, 0]  # decided at birth, never revised
    assert tr.stats[0].label("aggregate") == 1  # majority over the whole video
    assert builder.entries(1, mode="causal")[0]["category_id"] == 1
    assert builder.entries(1, mode="aggregate")[0]["category_id"] == 2
    assert builder.entries(1, mode="aggregate", class_rule="score_weighted")[0]["category_id"] == 2


def test_each_cue_switchable() -> None:
    mem = frame(0, [[0, 0, 10, 10]], [[1.0, 0.0]], [0.9], [0])
    cand = frame(1, [[0, 0, 10, 5], [50, 50, 60, 60]], [[1.0, 0.0], [0.0, 1.0]], [0.6, 0.2], [0, 1])
    off = dict(use_appearance=False, use_iou=False, use_score=False, use_class=False)
    tr = Tracker(**off)
    tr.update(mem)
    assert torch.equal(tr.matching_factor(cand), torch.ones(2, 1))
    for cue, expected in [
        ("use_iou", torch.tensor([[0.75], [0.5]])),  # (1 + IoU) / 2 with IoU 0.5 and 0
        ("use_score", torch.tensor([[0.8], [0.6]])),  # (1 + π) / 2
        ("use_class", torch.tensor([[1.0], [0.0]])),
    ]:
        tr = Tracker(**{**off, cue: True})
        tr.update(mem)
        assert torch.allclose(tr.matching_factor(cand), expected), cue
    tr = Tracker(**{**off, "use_appearance": True})
    tr.update(mem)
    logits = torch.tensor([[1.0], [0.0]])
    s = 0.5 * (logits.softmax(1) + logits.softmax(0))  # bidirectional softmax
    assert torch.allclose(tr.matching_factor(cand), s)


def test_thresholds() -> None:
    tr = Tracker(new_track_score_threshold=0.5, det_score_threshold=0.05)
    out = tr.update(frame(0, [[0, 0, 10, 10], [50, 50, 60, 60]], [[4, 0], [0, 4]], [0.9, 0.3], [0, 0]))
    assert out.track_ids.tolist() == [0, -1]  # 0.3 < 0.5: does not start a track
    out = tr.update(frame(1, [[0, 0, 10, 10]], [[4, 0]], [0.2], [0]))
    assert out.track_ids.tolist() == [0]  # but a low score may continue one
    out = tr.update(frame(2, [[0, 0, 10, 10]], [[4, 0]], [0.01], [0]))
    assert out.track_ids.tolist() == [-1]  # below det_score_threshold: ignored


def test_min_match_factor_refuses() -> None:
    tr = Tracker(min_match_factor=0.9)
    tr.update(frame(0, [[0, 0, 10, 10]], [[4, 0]], [0.9], [0]))
    out = tr.update(frame(1, [[50, 50, 60, 60]], [[4, 0]], [0.9], [0]))  # F = 1 × 0.5 × 0.95 < 0.9
    assert out.track_ids.tolist() == [1]


def test_max_age_forgets() -> None:
    tr = Tracker(max_age=2)
    tr.update(frame(0, [[0, 0, 10, 10]], [[4, 0]], [0.9], [0]))
    assert tr.update(frame(2, [[0, 0, 10, 10]], [[4, 0]], [0.9], [0])).track_ids.tolist() == [0]
    assert tr.update(frame(5, [[0, 0, 10, 10]], [[4, 0]], [0.9], [0])).track_ids.tolist() == [1]
    assert len(tr) == 1


def test_memory_update_latest_vs_ema() -> None:
    for mode, expected in [("latest", [0.0, 4.0]), ("ema", [2.0, 2.0])]:
        tr = Tracker(memory_update=mode, ema_momentum=0.5, use_appearance=False)
        tr.update(frame(0, [[0, 0, 10, 10]], [[4, 0]], [0.9], [0]))
        tr.update(frame(1, [[0, 0, 10, 10]], [[0, 4]], [0.9], [0]))
        assert tr.embeddings[0].tolist() == expected


def test_hungarian_vs_greedy() -> None:
    F = torch.tensor([[0.9, 0.8], [0.85, 0.15]])
    assert sorted(Tracker(assignment="hungarian")._assign(F)) == [(0, 1), (1, 0)]  # total 1.65
    assert sorted(Tracker(assignment="greedy")._assign(F)) == [(0, 0), (1, 1)]  # highest first


def test_reset_and_empty_frames() -> None:
    tr = Tracker()
    empty = frame(0, [], [], [], [])
    assert tr.update(empty).track_ids.tolist() == []
    tr.update(frame(1, [[0, 0, 10, 10]], [[4, 0]], [0.9], [0]))
    tr.reset()
    assert len(tr) == 0 and tr.update(
        frame(0, [[0, 0, 10, 10]], [[4, 0]], [0.9], [0])
    ).track_ids.tolist() == [0]


def test_new_identity_slot_golden_and_relative_decision() -> None:
    """With the slot, the identity softmax has a zero "new" logit, and a pair must beat the candidate's new factor."""
    tr = Tracker(
        new_identity_slot=True, min_match_factor=0.0, use_iou=False, use_score=False, use_class=False
    )
    tr.update(frame(0, [[0, 0, 10, 10]], [[2.0, 0.0]], [0.9], [1]))  # identity 0 with e = (2, 0)
    same = frame(1, [[50, 50, 60, 60]], [[2.0, 0.0]], [0.9], [1])
    # logit 4: p(new) = 1/(1+e^4), p(id0) = e^4/(1+e^4); the candidate softmax over one candidate is 1
    p0 = torch.tensor(4.0).exp() / (1 + torch.tensor(4.0).exp())
    assert tr.matching_factor(same)[0, 0].item() == pytest.approx(0.5 * (p0.item() + 1.0), rel=1e-5)
    assert tr.new_factor(same)[0].item() == pytest.approx(0.5 * (1 - p0.item()), rel=1e-5)
    assert tr.update(same).track_ids.tolist() == [0]  # similar: joins identity 0
    other = frame(2, [[0, 0, 10, 10]], [[-3.0, 0.0]], [0.9], [1])  # logit -6 against the memory (2, 0)
    assert tr.update(other).track_ids.tolist() == [0]  # one-candidate softmax is 1: F = 0.5(p + 1) > new
    # The relative test refuses when the candidate prefers "new" on both sides: two candidates, one alike.
    tr2 = Tracker(
        new_identity_slot=True, min_match_factor=0.0, use_iou=False, use_score=False, use_class=False
    )
    tr2.update(frame(0, [[0, 0, 10, 10]], [[3.0, 0.0]], [0.9], [1]))
    ids = tr2.update(
        frame(1, [[0, 0, 10, 10], [20, 20, 30, 30]], [[3.0, 0.0], [-3.0, 0.0]], [0.9, 0.9], [1, 1])
    )
    assert ids.track_ids.tolist() == [0, 1]  # the unlike candidate starts a new identity
    without = Tracker(min_match_factor=0.0, use_iou=False, use_score=False, use_class=False)
    without.update(frame(0, [[0, 0, 10, 10]], [[3.0, 0.0]], [0.9], [1]))
    got = without.update(
        frame(1, [[0, 0, 10, 10], [20, 20, 30, 30]], [[-3.0, 0.0], [3.0, 0.0]], [0.9, 0.9], [1, 1])
    )
    assert got.track_ids.tolist() == [1, 0]  # without the slot the alike one still matches, the other is new


def test_an_identity_is_never_handed_a_candidate_of_another_class() -> None:
    """Eq. 8's class factor is a veto: F = 0 is no match, even with min_match_factor 0 (the default)."""
    tr = Tracker(min_match_factor=0.0, new_track_score_threshold=0.5)
    first = tr.update(frame(0, [[10, 10, 40, 40]], [[1.0, 0.0]], [0.9], [2])).track_ids.tolist()
    # the object is gone; a low-score candidate of another class appears where it was
    second = tr.update(frame(1, [[10, 10, 40, 40]], [[1.0, 0.0]], [0.3], [4])).track_ids.tolist()
    assert first == [0] and second == [-1]
    # the same candidate with the identity's class continues it
    third = tr.update(frame(2, [[10, 10, 40, 40]], [[1.0, 0.0]], [0.3], [2])).track_ids.tolist()
    assert third == [0]


def test_nms_keeps_one_identity_per_duplicated_object() -> None:
    # One object found by two queries (box IoU 0.9) at similar scores, plus another object of the same class.
    boxes = [[0, 0, 10, 10], [0, 0, 10, 9], [50, 50, 60, 60]]
    emb, scores, labels = [[4, 0], [0, 4], [4, 4]], [0.6, 0.5, 0.4], [0, 0, 0]
    plain = Tracker(new_track_score_threshold=0.2).update(frame(0, boxes, emb, scores, labels))
    assert plain.track_ids.tolist() == [0, 1, 2]  # the duplicate opens an identity of its own
    tr = Tracker(new_track_score_threshold=0.2, nms_iou=0.5)
    out = tr.update(frame(0, boxes, emb, scores, labels))
    assert out.track_ids.tolist() == [0, -1, 1]  # suppressed: neither matched nor started
    out = tr.update(frame(1, [[0, 0, 10, 9], [0, 0, 10, 10]], [[0, 4], [4, 0]], [0.7, 0.5], [1, 1]))
    assert out.track_ids.tolist() == [2, -1]  # NMS within a class (here class 1, new to the video)
    # another class is not a duplicate: both kept
    out = Tracker(nms_iou=0.5).update(frame(0, boxes[:2], emb[:2], [0.6, 0.5], [0, 1]))
    assert out.track_ids.tolist() == [0, 1]
