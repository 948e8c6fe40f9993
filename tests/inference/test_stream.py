"""Streaming loop: stable identities on a fake detector, and nothing video-sized kept alive."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import torch

from querytrack.inference import FrameModel, Tracker, VideoTrackBuilder, track_video
from querytrack.inference.postprocess import RawFrameOutput
from querytrack.testing.fake_model import FakeDetector


def _frames(n: int, h: int = 90, w: int = 160):
    for _ in range(n):
        yield torch.zeros(3, h, w, dtype=torch.uint8)


def test_fake_detector_satisfies_protocol_and_tracks() -> None:
    model = FakeDetector(num_objects=3, num_queries=20, num_classes=5, embed_dim=16)
    assert isinstance(model, FrameModel)
    builder = VideoTrackBuilder()
    for n, result in enumerate(track_video(model, _frames(25))):
        assert result.frame_index == n
        assert len(result.rles) == len(result.track_ids) == 3
        assert all(r["size"] == [90, 160] and isinstance(r["counts"], str) for r in result.rles)
        builder.add(result)
    entries = builder.entries(video_id=7, num_frames=25)
    assert len(entries) == 3  # one identity per object for the whole video
    assert all(sum(s is not None for s in e["segmentations"]) == 25 for e in entries)
    assert sorted(e["category_id"] for e in entries) == sorted((model.classes + 1).tolist())


def test_resize_maps_boxes_back() -> None:
    model = FakeDetector(num_objects=1, num_queries=5, num_classes=2, embed_dim=4)
    seen = []

    def resize(img: torch.Tensor) -> torch.Tensor:
        out = torch.nn.functional.interpolate(img[None].float(), scale_factor=0.5)[0].to(torch.uint8)
        seen.append(tuple(out.shape[-2:]))
        return out

    res = next(iter(track_video(model, _frames(1, 80, 120), resize=resize)))
    assert seen == [(40, 60)]
    assert res.boxes[:, 2].max() <= 120 and res.boxes[:, 0].min() >= 0


class _Recorder:
    """Wraps a model and keeps weak references to every tensor it returns."""

    def __init__(self, model: FakeDetector) -> None:
        self.model = model
        self.refs: list[weakref.ref] = []

    def predict_frame(self, image: torch.Tensor) -> RawFrameOutput:
        out = self.model.predict_frame(image)
        self.refs += [weakref.ref(out.cls_logits), weakref.ref(out.embeddings), weakref.ref(image)]
        return out


def _live_tensor_bytes() -> tuple[int, int]:
    gc.collect()
    n = b = 0
    tensor_types = (torch.Tensor, torch.nn.Parameter)
    for o in gc.get_objects():
        if type(o) in tensor_types:  # exact type check: much faster than isinstance on torch's metaclass
            n += 1
            b += o.element_size() * o.nelement()
    return n, b


def test_no_per_video_tensor_is_kept() -> None:
    rec = _Recorder(FakeDetector(num_objects=4, num_queries=30, num_classes=5, embed_dim=32))
    tracker = Tracker()
    counts = {}
    for result in track_video(rec, _frames(50), tracker=tracker):
        del result
        i = len(rec.refs) // 3 - 1
        if i >= 2:
            # the detector outputs and input image of frames before the current one are already freed
            assert all(r() is None for r in rec.refs[: 3 * (i - 1)])
        if i in (10, 49):
            counts[i] = _live_tensor_bytes()
    # live tensors (count and bytes) do not grow with the number of frames processed
    assert counts[49][0] == counts[10][0]
    assert counts[49][1] == counts[10][1]


def test_python_heap_does_not_grow() -> None:
    model = FakeDetector(num_objects=4, num_queries=30, num_classes=5, embed_dim=32)
    tracemalloc.start()
    try:
        current = {}
        for result in track_video(model, _frames(40)):
            del result
            if model.t in (10, 40):
                gc.collect()
                current[model.t] = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert current[40] - current[10] < 10_000  # bytes; O(identities), not O(frames)


def test_video_results_end_to_end() -> None:
    from querytrack.evaluation import validate_results
    from querytrack.inference import video_results

    model = FakeDetector(num_objects=2, num_queries=10, num_classes=3, embed_dim=8)
    entries = video_results(model, _frames(6, 30, 40), video_id=5, num_frames=6, label_to_category=[7, 8, 9])
    split = {
        "videos": [{"id": 5, "height": 30, "width": 40, "file_names": [str(i) for i in range(6)]}],
        "categories": [{"id": c} for c in (7, 8, 9)],
    }
    assert len(entries) == 2 and validate_results(entries, split) == []


def test_candidates_are_every_top_k_detection_before_the_tracker() -> None:
    """Frame AP's input: the top-k candidates, including those the tracker's thresholds drop."""

    def model() -> FakeDetector:
        return FakeDetector(num_objects=3, num_queries=20, num_classes=5, embed_dim=16)

    strict = Tracker(new_track_score_threshold=1.01)  # no candidate may start an identity
    plain = list(track_video(model(), _frames(3), top_k=7))
    results = list(track_video(model(), _frames(3), strict, top_k=7, candidates=True))
    for res, ref in zip(results, plain, strict=True):
        assert res.track_ids == [] and res.rles == []
        assert res.candidates is not None and len(res.candidates.rles) == 7
        assert res.candidates.scores == sorted(res.candidates.scores, reverse=True)
        assert ref.candidates is None
    # With a permissive tracker the tracked RLEs are the candidates' RLEs of the kept detections.
    for res, ref in zip(track_video(model(), _frames(3), top_k=7, candidates=True), plain, strict=True):
        assert res.rles == ref.rles and res.track_ids == ref.track_ids
        assert all(rle in res.candidates.rles for rle in res.rles)  # type: ignore[union-attr]
