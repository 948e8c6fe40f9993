"""Video reading and writing with PyAV (frames are ``uint8`` RGB ``Tensor[3, H, W]``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
import torch
from PIL import Image
from torch import Tensor

from querytrack.core.errors import UserError

VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".webm", ".mov", ".m4v"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class VideoReadError(UserError, RuntimeError):
    """A video file or frame folder could not be read at some frame; names the file and the frame.

    Args:
        path: the video file, frame folder or frame file.
        message: what is wrong (``frame I: ...`` where it applies).
    """

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        super().__init__(path, message)


class VideoWriter:
    """Incremental H.264 mp4 writer (yuv420p; odd sizes are padded by one pixel). Use as a context manager."""

    def __init__(self, path: str | os.PathLike[str], fps: float = 6.0) -> None:
        self.path = str(path)
        self.fps = fps
        self.count = 0
        self._container = av.open(self.path, mode="w")
        self._stream: av.video.stream.VideoStream | None = None

    def write(self, frame: Tensor | np.ndarray) -> None:
        arr = frame.permute(1, 2, 0).cpu().numpy() if isinstance(frame, Tensor) else np.asarray(frame)
        h, w = arr.shape[:2]
        if h % 2 or w % 2:
            arr = np.pad(arr, ((0, h % 2), (0, w % 2), (0, 0)))
        if self._stream is None:
            stream = self._container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
            stream.height, stream.width = arr.shape[:2]
            stream.pix_fmt = "yuv420p"
            self._stream = stream
        for packet in self._stream.encode(
            av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
        ):
            self._container.mux(packet)
        self.count += 1

    def close(self) -> None:
        if self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def write_video(path: str | os.PathLike[str], frames: Iterable[Tensor | np.ndarray], fps: float = 6.0) -> int:
    """Encode ``frames`` (``[3, H, W]`` tensors or ``[H, W, 3]`` arrays) to ``path``; returns the count."""
    with VideoWriter(path, fps) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.count


def source_fps(source: str | os.PathLike[str], default: float = 6.0) -> float:
    """Frame rate of a video file (``default`` for a folder of frames or an unknown rate)."""
    path = Path(source)
    if path.is_dir():
        return default
    try:
        with av.open(str(path)) as container:
            rate = container.streams.video[0].average_rate
            return float(rate) if rate else default
    except (av.error.FFmpegError, IndexError) as e:
        raise VideoReadError(path, f"cannot open video ({e})") from None


def iter_frames(source: str | os.PathLike[str]) -> Iterator[Tensor]:
    """Yield the frames of a video file or of a folder of images (sorted by name), one at a time.

    Every frame of a source has one size: a folder whose frames differ in size is refused before its first
    frame is yielded, a video whose frame size changes stops there.

    Raises:
        VideoReadError: naming the file and the frame index where reading failed (frames before it were
            yielded).
    """
    path = Path(source)
    if path.is_dir():
        yield from _iter_folder(path)
        return
    if not path.is_file():
        raise VideoReadError(path, "no such file or folder")
    index = 0
    expected = 0
    shape: tuple[int, ...] | None = None
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            expected = int(stream.frames or 0)
            if not expected and container.duration and stream.average_rate:
                expected = round(container.duration / av.time_base * float(stream.average_rate))
            for frame in container.decode(video=0):
                arr = frame.to_ndarray(format="rgb24")
                if shape is not None and arr.shape != shape:
                    raise VideoReadError(
                        path,
                        f"frame {index}: the frame size changes from {shape[1]}x{shape[0]} to "
                        f"{arr.shape[1]}x{arr.shape[0]} (width x height) within the video",
                    )
                shape = arr.shape
                yield torch.from_numpy(arr).permute(2, 0, 1)
                index += 1
    except (av.error.FFmpegError, IndexError) as e:
        raise VideoReadError(path, f"frame {index}: cannot decode ({e})") from None
    if index == 0:
        raise VideoReadError(path, "no decodable video frame (truncated or not a video)")
    if expected and index < expected - 1:
        raise VideoReadError(
            path,
            f"frame {index}: the video ends early (truncated? its header promises about {expected} frames)",
        )


#: What PIL raises for an unreadable image: OSError for most, DecompressionBombError (not an OSError) for an
#: image whose header declares more than twice ``Image.MAX_IMAGE_PIXELS`` pixels.
_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def _iter_folder(path: Path) -> Iterator[Tensor]:
    """Frames of a folder of images, sorted by name, after checking every header (one size for all)."""
    try:
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    except OSError as e:
        raise VideoReadError(path, f"cannot list the folder ({e.strerror or e})") from None
    if not files:
        raise VideoReadError(path, f"no frames ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
    size = None
    for i, f in enumerate(files):  # headers only: a mixed-size folder is refused before any frame is used
        try:
            with Image.open(f) as im:
                this = im.size
        except _IMAGE_ERRORS as e:
            raise VideoReadError(f, f"frame {i}: cannot decode ({e})") from None
        if size is None:
            size = this
        elif this != size:
            raise VideoReadError(
                f,
                f"frame {i}: {this[0]}x{this[1]} but frame 0 ({files[0].name}) is {size[0]}x{size[1]} "
                "(width x height); every frame of a folder must have the same size",
            )
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                arr = np.array(im.convert("RGB"))
        except _IMAGE_ERRORS as e:
            raise VideoReadError(f, f"frame {i}: cannot decode ({e})") from None
        if arr.shape[1::-1] != size:  # the file changed since its header was read
            raise VideoReadError(f, f"frame {i}: the frame size changed while reading")
        yield torch.from_numpy(arr).permute(2, 0, 1)
