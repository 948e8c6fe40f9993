"""Readable box labels: a filled background in the track's colour, black or white text (whichever contrasts
more), kept inside the frame, and never drawn over another label when a free place exists.

Placement (:func:`place_labels`) is pure geometry, so it can be tested on numbers: each label tries, in order,
above its box's top-left corner, inside that corner, below the box, inside the bottom-left corner; the first
of these that lies inside the frame and touches no label already placed wins. When all four are taken, the
free slot (a grid of label-sized steps over the frame) nearest the first choice is used; only a frame with no
free slot left gets an overlap.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

Rect = tuple[int, int, int, int]
"""``(x0, y0, x1, y1)`` in pixels, ``x1``/``y1`` exclusive."""


def _luminance(rgb: Sequence[int]) -> float:
    """WCAG relative luminance of an sRGB colour (0 black .. 1 white)."""

    def lin(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(int(c)) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_colour(background: Sequence[int]) -> tuple[int, int, int]:
    """Black or white, whichever has the higher WCAG contrast ratio on ``background`` (RGB)."""
    lum = _luminance(background)
    on_black = (lum + 0.05) / 0.05
    on_white = 1.05 / (lum + 0.05)
    return (0, 0, 0) if on_black >= on_white else (255, 255, 255)


def _overlaps(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _inside(x: int, y: int, w: int, h: int, width: int, height: int) -> tuple[int, int]:
    """Top-left corner moved so that a ``w`` x ``h`` rectangle lies inside the frame (top-left wins if too big)."""
    return max(0, min(x, width - w)), max(0, min(y, height - h))


def place_labels(
    sizes: Sequence[tuple[int, int]], boxes: Sequence[Sequence[float]], width: int, height: int
) -> list[Rect]:
    """Where to draw each label, in order (earlier labels keep their first choice).

    Args:
        sizes: ``(w, h)`` of each label in pixels.
        boxes: the box each label belongs to, xyxy in pixels.
        width: frame width.
        height: frame height.

    Returns:
        One ``Rect`` per label, inside the frame (as far as the label fits), overlapping no earlier label
        unless the frame has no free slot for it.
    """
    placed: list[Rect] = []
    for (w, h), box in zip(sizes, boxes, strict=True):
        x0, y0, _x1, y1 = (round(float(v)) for v in box[:4])
        wanted = [(x0, y0 - h), (x0, y0), (x0, y1), (x0, y1 - h)]
        first = _inside(*wanted[0], w, h, width, height)
        choice: Rect | None = None
        for x, y in wanted:
            x, y = _inside(x, y, w, h, width, height)
            rect = (x, y, x + w, y + h)
            if not any(_overlaps(rect, r) for r in placed):
                choice = rect
                break
        if choice is None:
            choice = _nearest_free(first, w, h, width, height, placed)
        placed.append(choice)
    return placed


def _nearest_free(
    first: tuple[int, int], w: int, h: int, width: int, height: int, placed: list[Rect]
) -> Rect:
    """The free slot nearest ``first`` on a grid of half-label steps (``first`` itself when none is free)."""
    fx, fy = first
    step_x, step_y = max(1, w // 2), max(1, h)
    xs = sorted(
        {max(0, min(width - w, fx + k * step_x)) for k in range(-(width // step_x) - 1, width // step_x + 2)}
    )
    ys = sorted(
        {
            max(0, min(height - h, fy + k * step_y))
            for k in range(-(height // step_y) - 1, height // step_y + 2)
        }
    )
    best: tuple[int, Rect] | None = None
    for y in ys:
        for x in xs:
            rect = (x, y, x + w, y + h)
            if any(_overlaps(rect, r) for r in placed):
                continue
            d = (x - fx) ** 2 + (y - fy) ** 2
            if best is None or d < best[0]:
                best = (d, rect)
    return best[1] if best is not None else (fx, fy, fx + w, fy + h)


@functools.cache
def _font(path: str | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if path is not None:
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def draw_labels(
    image: Image.Image,
    texts: Sequence[str],
    boxes: Sequence[Sequence[float]],
    colours: Sequence[tuple[int, int, int]],
    font_path: str | None,
    font_size: int,
) -> list[Rect]:
    """Draw each text on a filled rectangle of its colour near its box (``place_labels``), in place.

    A text wider than the frame is shortened with an ellipsis. Returns the rectangles drawn.
    """
    font = _font(font_path, font_size)
    draw = ImageDraw.Draw(image)
    pad = max(1, font_size // 6)
    ascent, descent = font.getmetrics() if hasattr(font, "getmetrics") else (font_size, 0)
    h = ascent + descent + 2 * pad
    fitted: list[str] = []
    sizes: list[tuple[int, int]] = []
    for text in texts:
        while True:
            w = int(draw.textlength(text, font=font)) + 2 * pad
            if w <= image.width or len(text) <= 2:
                break
            text = text[:-2] + "…"
        fitted.append(text)
        sizes.append((min(w, image.width), h))
    rects = place_labels(sizes, boxes, image.width, image.height)
    for text, rect, colour in zip(fitted, rects, colours, strict=True):
        draw.rectangle((rect[0], rect[1], rect[2] - 1, rect[3] - 1), fill=tuple(colour))
        draw.text((rect[0] + pad, rect[1] + pad), text, fill=text_colour(colour), font=font)
    return rects
