"""Overlay drawing, ID-switch counting (golden), video writing."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import torch

from querytrack.data.rle import encode_compressed
from querytrack.video_io import write_video
from querytrack.visualize import count_id_switches, decode_rles, overlay, track_colour


def _rle(y0: int, x0: int, size: int = 4, h: int = 16, w: int = 16) -> dict:
    m = np.zeros((h, w), dtype=bool)
    m[y0 : y0 + size, x0 : x0 + size] = True
    return encode_compressed(m)


def test_count_id_switches_golden() -> None:
    a = [_rle(0, 0), _rle(0, 1), _rle(0, 2), _rle(0, 3)]  # object A moves right
    b = [_rle(10, 10), None, _rle(10, 10), _rle(10, 10)]  # object B absent in frame 1
    preds = [
        ([1, 2], [a[0], b[0]]),
        ([1], [a[1]]),
        ([3, 2], [a[2], b[2]]),  # A switches 1 -> 3
        ([1, 2], [a[3], b[3]]),  # A switches 3 -> 1
    ]
    assert count_id_switches([a, b], preds) == 2
    assert count_id_switches([a, b], [(ids, r) for ids, r in preds[:2]]) == 0
    assert count_id_switches([a, b], [([], []) for _ in range(4)]) == 0


def test_overlay_and_colours() -> None:
    frame = torch.zeros((3, 16, 16), dtype=torch.uint8)
    masks = decode_rles([_rle(2, 2)], 16, 16)
    out = overlay(frame, masks, torch.tensor([[2.0, 2.0, 6.0, 6.0]]), [7], [0], ["disc"])
    assert out.shape == frame.shape and out.dtype == torch.uint8 and out.sum() > 0
    assert track_colour(7) == track_colour(7) and track_colour(7) != track_colour(8)
    assert torch.equal(overlay(frame, masks[:0], torch.zeros((0, 4)), [], []), frame)


def test_write_video_round_trip(tmp_path: Path) -> None:
    frames = [torch.full((3, 33, 47), i * 20, dtype=torch.uint8) for i in range(5)]
    assert write_video(tmp_path / "v.mp4", frames, fps=6) == 5
    with av.open(str(tmp_path / "v.mp4")) as c:
        stream = c.streams.video[0]
        decoded = list(c.decode(stream))
        assert len(decoded) == 5 and float(stream.average_rate) == 6.0
        assert (decoded[0].height, decoded[0].width) == (34, 48)
