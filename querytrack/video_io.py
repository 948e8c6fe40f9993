"""Video writing with PyAV (H.264 in mp4, yuv420p)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction

import av
import numpy as np
from torch import Tensor


def write_video(path: str | os.PathLike[str], frames: Iterable[Tensor | np.ndarray], fps: float = 6.0) -> int:
    """Encode ``uint8`` RGB frames (``[3, H, W]`` tensors or ``[H, W, 3]`` arrays) to ``path``; returns the count.

    Odd frame sizes are padded by one pixel (yuv420p needs even sizes).
    """
    count = 0
    with av.open(str(path), mode="w") as container:
        stream = None
        for frame in frames:
            arr = frame.permute(1, 2, 0).cpu().numpy() if isinstance(frame, Tensor) else np.asarray(frame)
            h, w = arr.shape[:2]
            if h % 2 or w % 2:
                arr = np.pad(arr, ((0, h % 2), (0, w % 2), (0, 0)))
            if stream is None:
                stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                stream.height, stream.width = arr.shape[:2]
                stream.pix_fmt = "yuv420p"
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
            ):
                container.mux(packet)
            count += 1
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    return count
