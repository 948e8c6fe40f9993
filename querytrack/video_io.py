"""Video reading and writing with PyAV (frames are ``uint8`` RGB ``Tensor[3, H, W]``), timestamps kept.

Reading (:func:`iter_video`) gives each picture with the index the decoder gave it and its presentation time
(:func:`querytrack.video_probe.frame_timestamps`); writing (:class:`VideoWriter`) puts each picture at the time
it is given, in the time base it is given, so a variable-frame-rate source comes out with its own timing, and
can carry the source's audio (:mod:`querytrack.audio_copy`).

Where a read stops: a clean end of file is the end of the video, whatever frame count the header gave (AVI
headers count time units, not pictures); a video is *truncated* when a packet cannot be demuxed or decoded
(``decode error``), when the file ends inside a packet (``cut inside frame data``), when it ends well before the
length its header declares for the video stream (``ends at X s of the Y s its header declares``), or, for an
mp4, when its index is missing (refused by :func:`querytrack.video_probe.probe_source` before any frame).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
import torch
from PIL import Image
from torch import Tensor

from querytrack.audio_copy import AudioTrack
from querytrack.video_probe import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    SourceInfo,
    VideoReadError,
    folder_images,
    frame_timestamps,
    probe_source,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "DecodedFrame",
    "VideoReadError",
    "VideoWriter",
    "iter_frames",
    "iter_video",
    "source_fps",
    "write_video",
]


@dataclass
class DecodedFrame:
    """One picture of a source.

    Attributes:
        index: its place in the decoder's output (0, 1, 2, ...): the frame index of every result file.
        image: ``uint8`` RGB ``Tensor[3, H, W]``.
        pts: presentation time in ``time_base`` ticks (strictly increasing along a source).
        duration: how long it is shown, in ticks (> 0).
    """

    index: int
    image: Tensor
    pts: int
    duration: int


class VideoWriter:
    """Incremental H.264 mp4 writer (yuv420p; odd sizes are padded by one pixel). Use as a context manager.

    Frames are written at the times given to :meth:`write` (in ``time_base`` ticks), or one ``1/fps`` apart when
    none is given. B-frames are off: with them the encoder's decode timestamps of a variable-rate input make
    the mp4 muxer record a shorter track than the pictures span.

    Args:
        path: the output file (its suffix picks the container).
        fps: nominal frame rate (the stream's declared rate; the spacing of frames written without a time).
        time_base: unit of the times given to :meth:`write` (default ``1/fps``).
        audio_from: a video file whose first audio stream is carried over (:class:`AudioTrack`), or None.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float = 6.0,
        time_base: Fraction | None = None,
        audio_from: str | os.PathLike[str] | None = None,
    ) -> None:
        self.path = str(path)
        self.fps = fps
        self.rate = Fraction(fps).limit_denominator(1001)
        self.time_base = time_base if time_base is not None else 1 / self.rate
        self.count = 0
        self.end_time = 0.0  # seconds on the source timeline where the last written frame ends
        self._container = av.open(self.path, mode="w")
        self._stream: av.video.stream.VideoStream | None = None
        self._durations: dict[int, int] = {}
        self._last_pts: int | None = None
        self._audio_from = audio_from
        self.audio: AudioTrack | None = None  # added after the video stream, with the first frame
        self.audio_error: str | None = None

    def write(self, frame: Tensor | np.ndarray, pts: int | None = None, duration: int | None = None) -> None:
        """Encode one ``[3, H, W]`` tensor or ``[H, W, 3]`` array shown at ``pts`` for ``duration`` ticks.

        Raises:
            ValueError: ``pts`` is not after the previous frame's.
        """
        arr = frame.permute(1, 2, 0).cpu().numpy() if isinstance(frame, Tensor) else np.asarray(frame)
        h, w = arr.shape[:2]
        if h % 2 or w % 2:
            arr = np.pad(arr, ((0, h % 2), (0, w % 2), (0, 0)))
        if self._stream is None:
            stream = self._container.add_stream("libx264", rate=self.rate)
            stream.height, stream.width = arr.shape[:2]
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = self.time_base
            stream.time_base = self.time_base
            stream.codec_context.max_b_frames = 0
            self._stream = stream
            if self._audio_from is not None:
                try:
                    self.audio = AudioTrack(self._audio_from, self._container)
                except (av.error.FFmpegError, ValueError, IndexError) as e:  # sound is a courtesy
                    self.audio_error = f"audio left out: cannot carry it over ({e})"
        step = max(1, round(1 / (self.rate * self.time_base)))
        if pts is None:
            pts = 0 if self._last_pts is None else self._last_pts + step
        if self._last_pts is not None and pts <= self._last_pts:
            raise ValueError(
                f"frame {self.count}: time {pts} is not after the previous frame's {self._last_pts}"
            )
        out = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
        out.pts, out.time_base = pts, self.time_base
        self._durations[pts] = duration if duration and duration > 0 else step
        self._mux(self._stream.encode(out))
        self._last_pts = pts
        self.end_time = float((pts + self._durations[pts]) * self.time_base)
        self.count += 1

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            if packet.pts is not None:
                packet.duration = self._durations.pop(packet.pts, 0) or packet.duration
            if self.audio is not None and packet.dts is not None:
                self.audio.mux_until(float(packet.dts * self.time_base))
            self._container.mux(packet)

    def close(self, audio_end: float | None = None) -> None:
        """Flush the encoder, add the rest of the audio (up to ``audio_end`` seconds; None: all) and close."""
        try:
            if self._stream is not None:
                self._mux(self._stream.encode())
            if self.audio is not None:
                self.audio.finish(audio_end)
        finally:
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
    info = probe_source(source)
    return default if info.is_folder or not info.fps else info.fps


def iter_frames(source: str | os.PathLike[str]) -> Iterator[Tensor]:
    """The pictures of :func:`iter_video`, without their timestamps."""
    for frame in iter_video(source):
        yield frame.image


def iter_video(source: str | os.PathLike[str] | SourceInfo) -> Iterator[DecodedFrame]:
    """Yield the frames of a video file or of a folder of images (sorted by name), one at a time.

    Every frame of a source has one size: a folder whose frames differ in size is refused before its first
    frame is yielded, a video whose frame size changes stops there. A folder's frame ``i`` is at ``i`` ticks of
    ``1/FOLDER_FPS``; a file's frames carry its own times (see the module docstring).

    Raises:
        VideoReadError: naming the file and the frame index where reading failed (frames before it were
            yielded), and whether it was a decode error or a truncation.
    """
    info = source if isinstance(source, SourceInfo) else probe_source(source)
    if info.is_folder:
        for i, image in enumerate(_iter_folder(info.path)):
            yield DecodedFrame(i, image, i, 1)
        return
    yield from _iter_file(info)


def _iter_file(info: SourceInfo) -> Iterator[DecodedFrame]:
    path = info.path
    times, durations = frame_timestamps(path)
    step = max(1, round(1 / (Fraction(info.fps).limit_denominator(1001) * info.time_base)))
    index = 0
    last: DecodedFrame | None = None
    shape: tuple[int, ...] | None = None

    def stamp(frame: av.VideoFrame) -> DecodedFrame:
        nonlocal index, shape, last
        arr = frame.to_ndarray(format="rgb24")
        if shape is not None and arr.shape != shape:
            raise VideoReadError(
                path,
                f"frame {index}: the frame size changes from {shape[1]}x{shape[0]} to "
                f"{arr.shape[1]}x{arr.shape[0]} (width x height) within the video",
            )
        shape = arr.shape
        if index < len(times):
            pts = times[index]
            nxt = times[index + 1] if index + 1 < len(times) else None
            dur = (nxt - pts) if nxt is not None else (durations[index] or step)
        else:  # more pictures than packets (e.g. fields): one nominal frame after the last
            pts = (last.pts + last.duration) if last is not None else 0
            dur = step
        if last is not None and pts <= last.pts:
            pts = last.pts + 1
        last = DecodedFrame(index, torch.from_numpy(arr).permute(2, 0, 1), int(pts), max(1, int(dur)))
        index += 1
        return last

    cut = False
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if packet.is_corrupt and packet.size:
                    cut = True
                    for frame in stream.codec_context.decode(None):  # the pictures already decoded
                        yield stamp(frame)
                    break
                for frame in packet.decode():
                    yield stamp(frame)
    except (av.error.FFmpegError, IndexError) as e:
        why = (e.strerror if isinstance(e, av.error.FFmpegError) else None) or e
        raise VideoReadError(path, f"frame {index}: decode error ({why}): damaged or truncated") from None
    if index == 0:
        raise VideoReadError(path, "no decodable video frame (truncated or not a video)")
    if cut:
        raise VideoReadError(path, f"frame {index}: truncated (the file ends inside a frame's data)")
    if last is not None and info.duration and times:
        end = float((last.pts + last.duration - times[0]) * info.time_base)
        if end < info.duration - max(3 / info.fps, 0.5):
            raise VideoReadError(
                path,
                f"frame {index}: truncated (the file ends at {end:.2f} s of the {info.duration:.2f} s its header "
                "declares for the video)",
            )


#: What PIL raises for an unreadable image: OSError for most, DecompressionBombError (not an OSError) for an
#: image whose header declares more than twice ``Image.MAX_IMAGE_PIXELS`` pixels.
_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def _iter_folder(path: Path) -> Iterator[Tensor]:
    """Frames of a folder of images, sorted by name, after checking every header (one size for all)."""
    files = folder_images(path)
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
