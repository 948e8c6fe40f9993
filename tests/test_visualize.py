"""Overlay drawing, ID-switch counting (golden), video writing."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import torch

from querytrack.core.rle import encode_compressed
from querytrack.video_io import write_video
from querytrack.visualize import (
    count_id_switches,
    decode_rles,
    frame_strip,
    overlay,
    render_scale,
    save_png,
    track_colour,
)


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


def test_upscaled_overlay_keeps_masks_in_place() -> None:
    frame = torch.zeros((3, 16, 16), dtype=torch.uint8)
    masks = decode_rles([_rle(2, 2)], 16, 16)
    out = overlay(frame, masks, torch.tensor([[2.0, 2.0, 6.0, 6.0]]), [7], [0], ["disc"], scale=3)
    assert out.shape == (3, 48, 48)
    # inside the mask (rows/cols 2..5 -> 6..17 upscaled) the track colour shows; far outside nothing is drawn
    assert out[:, 10, 10].sum() > 0 and out[:, 40:, 40:].sum() == 0
    assert render_scale(128, 192) == 3 and render_scale(720, 1280) == 1 and render_scale(100, 50, 384) == 8


def test_frame_strip_and_png(tmp_path: Path) -> None:
    frames = [torch.full((3, 8, 10), i, dtype=torch.uint8) for i in range(11)]
    strip = frame_strip(frames, count=3, gap=2)
    assert strip.shape == (3, 8, 3 * 10 + 2 * 2)
    assert [int(strip[0, 0, x]) for x in (0, 12, 24)] == [0, 5, 10]  # first, middle, last frame
    assert int(strip[0, 0, 10]) == 255  # the gap
    assert frame_strip(frames[:2], count=6).shape[-1] == 2 * 10 + 4
    save_png(strip, tmp_path / "s.png")
    from PIL import Image

    assert Image.open(tmp_path / "s.png").size == (34, 8)
