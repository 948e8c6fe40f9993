"""Label placement (golden geometry), text contrast, and labels drawn on small and large frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from querytrack.labels import _overlaps, draw_labels, place_labels, text_colour
from querytrack.visualize import label_font, overlay, track_colour


def test_text_colour_contrasts_with_the_background() -> None:
    assert text_colour((255, 0, 0)) == (0, 0, 0)  # red: black 5.25:1 beats white 4.0:1
    assert text_colour((0, 0, 255)) == (255, 255, 255)
    assert text_colour((255, 255, 0)) == (0, 0, 0)
    assert text_colour((20, 20, 20)) == (255, 255, 255)


def test_first_choice_is_above_the_box() -> None:
    assert place_labels([(30, 10)], [(50, 40, 90, 80)], 200, 100) == [(50, 30, 80, 40)]


def test_labels_stay_inside_the_frame() -> None:
    # a box at the top-right corner: the label cannot go above it nor run past the right edge
    (r,) = place_labels([(60, 12)], [(150, 0, 176, 30)], 176, 144)
    assert r == (116, 0, 176, 12)
    # a label wider than the frame starts at its left edge
    assert place_labels([(300, 12)], [(10, 10, 20, 20)], 176, 144)[0][:2] == (0, 0)


def test_boxes_sharing_a_corner_get_separate_labels() -> None:
    boxes = [(40, 40, 100, 100), (40, 40, 120, 90)]  # same top-left corner
    rects = place_labels([(50, 10), (50, 10)], boxes, 200, 200)
    assert rects[0] == (40, 30, 90, 40)  # above the first box
    assert rects[1] == (40, 40, 90, 50)  # second choice: inside the corner
    assert not _overlaps(*rects)


def test_crowded_labels_shift_to_the_nearest_free_slot() -> None:
    # seven boxes with one top-left corner: the four corner places run out, the rest take free slots
    boxes = [(100, 100, 150 + 10 * k, 150 + 5 * k) for k in range(7)]
    rects = place_labels([(40, 10)] * 7, boxes, 400, 300)
    assert all(not _overlaps(a, b) for i, a in enumerate(rects) for b in rects[i + 1 :])
    assert all(0 <= r[0] < r[2] <= 400 and 0 <= r[1] < r[3] <= 300 for r in rects)
    assert rects[:2] == [(100, 90, 140, 100), (100, 100, 140, 110)]
    # no free slot at all: the label still goes to its first choice
    assert place_labels([(10, 10), (10, 10)], [(0, 0, 5, 5), (0, 0, 5, 5)], 10, 10) == [(0, 0, 10, 10)] * 2


@pytest.mark.parametrize(("height", "width"), [(144, 176), (720, 1280)])
def test_drawn_labels_are_filled_and_readable(height: int, width: int) -> None:
    # the label of a red track sits on its own red mask: its background is the track colour, its text black
    image = Image.new("RGB", (width, height), (0, 0, 0))
    colour = (255, 0, 0)
    size = max(8, min(height, width) // 24)
    boxes = [(width - 30, 0, width, 30), (width - 30, 0, width - 2, 28)]  # top-right corner, shared
    rects = draw_labels(image, ["#0 cross", "#1 cross"], boxes, [colour, (0, 0, 255)], label_font(), size)
    arr = np.asarray(image)
    assert not _overlaps(*rects)
    for rect, bg, fg in zip(rects, [colour, (0, 0, 255)], [(0, 0, 0), (255, 255, 255)], strict=True):
        x0, y0, x1, y1 = rect
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height  # inside the frame
        patch = arr[y0:y1, x0:x1].reshape(-1, 3)
        bg_share = np.mean(np.all(patch == bg, axis=1))
        fg_share = np.mean(np.all(patch == fg, axis=1))
        assert bg_share > 0.4 and fg_share > 0.02  # filled background, text in the contrasting colour


def test_overlay_draws_labels_over_masks_of_the_same_colour() -> None:
    frame = torch.zeros((3, 144, 176), dtype=torch.uint8)
    masks = torch.zeros((2, 144, 176), dtype=torch.bool)
    masks[0, 10:80, 100:176] = True
    masks[1, 10:60, 100:150] = True
    boxes = torch.tensor([[100.0, 10.0, 176.0, 80.0], [100.0, 10.0, 150.0, 60.0]])
    out = overlay(frame, masks, boxes, [0, 1], [0, 0], ["cross"])
    assert out.shape == (3, 144, 176)
    # the first label's background is the full track colour (a mask blends at 50 %)
    assert (
        (out.permute(1, 2, 0).reshape(-1, 3) == torch.tensor(track_colour(0), dtype=torch.uint8)).all(1).any()
    )
