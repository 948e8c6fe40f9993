"""What a video source is, found without torch: checked before a tool loads its model, so a bad path answers at once.

:func:`probe_source` opens a video file (PyAV) or lists a folder of frames and reads headers only;
:func:`frame_timestamps` reads the video's packets (no decoding) for the presentation time of every frame. Both
raise :class:`VideoReadError` (a ``UserError``: ``PATH: what is wrong``) naming the file.
"""

from __future__ import annotations

import os
import struct
from array import array
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from querytrack.core.errors import UserError

VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".webm", ".mov", ".m4v"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
#: Files whose index (``moov`` box) is needed to read any frame.
MP4_SUFFIXES = {".mp4", ".mov", ".m4v", ".3gp", ".m4a"}
#: Frame rate given to a folder of frames (its frames have no timestamps).
FOLDER_FPS = 6.0


class VideoReadError(UserError, RuntimeError):
    """A video file or frame folder could not be read at some frame; names the file and the frame.

    Args:
        path: the video file, frame folder or frame file.
        message: what is wrong (``frame I: ...`` where it applies).
    """

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        super().__init__(path, message)


@dataclass(frozen=True)
class SourceInfo:
    """Header facts of a source.

    Attributes:
        path: the file or folder.
        is_folder: a folder of frames (sorted by name).
        fps: average frame rate (``FOLDER_FPS`` for a folder or a file without one).
        time_base: unit of the video stream's timestamps (``1/fps`` for a folder).
        duration: the video stream's length in seconds as its header declares it (None when not declared).
        frames: frame count the header declares (the folder's image count; 0 when unknown).
        audio: codec name of the first audio stream, or None.
    """

    path: Path
    is_folder: bool
    fps: float
    time_base: Fraction
    duration: float | None
    frames: int
    audio: str | None


def folder_images(path: Path) -> list[Path]:
    """The folder's frame files, sorted by name (``VideoReadError`` when there are none)."""
    try:
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    except OSError as e:
        raise VideoReadError(path, f"cannot list the folder ({e.strerror or e})") from None
    if not files:
        raise VideoReadError(path, f"no frames ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
    return files


def mp4_index_missing(path: Path) -> str | None:
    """Why an mp4/mov file has no usable index, from its top-level boxes, or None when its ``moov`` box is whole.

    A recording that was cut (copied in part, camera stopped) keeps its ``ftyp`` and ``mdat`` boxes but loses
    the ``moov`` box (the index) that a normal writer puts at the end; without it no frame can be located.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            pos = 0
            boxes: list[bytes] = []
            while pos + 8 <= size:
                f.seek(pos)
                head = f.read(16)
                n, kind = struct.unpack(">I4s", head[:8])
                if n == 1 and len(head) == 16:
                    n = struct.unpack(">Q", head[8:16])[0]
                elif n == 0:
                    n = size - pos
                if n < 8:
                    return None  # not a box structure we understand: let the decoder speak
                if kind == b"moov":
                    return (
                        None if pos + n <= size else "its index (moov box) is cut off: the file is truncated"
                    )
                boxes.append(kind)
                pos += n
    except OSError:
        return None
    if b"ftyp" in boxes or b"mdat" in boxes:
        cut = " and the file ends inside a box" if pos > size else ""
        return f"no index (moov box missing{cut}): the file is truncated or its recording was not finalised"
    return None


def _declared_duration(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, time_base: Fraction
) -> float | None:
    """The video stream's own length in seconds as the header declares it (None when it declares none).

    AVI's stream length (``dwLength``, in time-base units: a variable-rate AVI declares more units than it
    has pictures), the stream's duration field (mp4), else its ``DURATION`` tag (Matroska / WebM), else the file's
    duration when the file holds nothing but this stream (a longer audio track must not count).
    """
    if container.format.name == "avi" and stream.frames:  # AVI's length field counts time units, not pictures
        return float(max(stream.frames, stream.duration or 0) * time_base)
    if stream.duration:
        return float(stream.duration * time_base)
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if tag:
        try:
            h, m, sec = tag.split(":")
            return int(h) * 3600 + int(m) * 60 + float(sec)
        except ValueError:
            pass
    if container.duration and len(container.streams) == 1:
        return container.duration / av.time_base
    return None


def probe_source(source: str | os.PathLike[str]) -> SourceInfo:
    """Check that ``source`` is a readable video file with a video stream or a folder of images (headers only).

    Raises:
        VideoReadError: missing, unreadable, not a video, no video stream, an mp4 without its index, an empty
            folder.
    """
    path = Path(source)
    if path.is_dir():
        files = folder_images(path)
        return SourceInfo(path, True, FOLDER_FPS, Fraction(1) / Fraction(FOLDER_FPS), None, len(files), None)
    if not path.exists():
        raise VideoReadError(path, "no such file or folder")
    if not path.is_file():
        raise VideoReadError(path, "not a regular file or folder")
    if path.suffix.lower() in MP4_SUFFIXES and (why := mp4_index_missing(path)):
        raise VideoReadError(path, why)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                kinds: list[str] = sorted({s.type for s in container.streams}) or ["no"]
                raise VideoReadError(path, f"no video stream (the file has {', '.join(kinds)} streams)")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.base_rate or stream.guessed_rate
            fps = float(rate) if rate else FOLDER_FPS
            time_base = stream.time_base or Fraction(1) / Fraction(fps).limit_denominator(1001)
            duration = _declared_duration(container, stream, time_base)
            audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
            return SourceInfo(path, False, fps, time_base, duration, int(stream.frames or 0), audio)
    except av.error.FFmpegError as e:
        raise VideoReadError(path, f"cannot open as a video ({e.strerror or e})") from None
    except OSError as e:
        raise VideoReadError(path, f"cannot read the file ({e.strerror or e})") from None


def frame_timestamps(path: str | os.PathLike[str]) -> tuple[array, array]:
    """Presentation times of the video stream's frames, in display order, from its packets (nothing decoded).

    Each packet's pts (its dts where a pts is missing), packets flagged as discarded (before an edit list's
    start) skipped, sorted: the ``i``-th picture the decoder returns is shown at the ``i``-th time. Sorting
    repairs files whose per-picture pts are attached in decode order (AVI with packed B-frames, some phone
    mp4s); on a clean file it is the identity. Reading stops quietly at a damaged packet (the decoder reports
    it).

    Returns:
        ``(pts, durations)``: int64 arrays in ``time_base`` ticks (duration 0 where the packet has none).
    """
    pairs: list[tuple[int, int]] = []
    try:
        with av.open(str(path)) as container:
            for packet in container.demux(video=0):
                t = packet.pts if packet.pts is not None else packet.dts
                if t is None or packet.size == 0 or packet.is_discard:
                    continue
                if packet.is_corrupt:
                    break
                pairs.append((int(t), int(packet.duration or 0)))
    except (av.error.FFmpegError, OSError):
        pass
    pairs.sort()
    return array("q", [p for p, _ in pairs]), array("q", [d for _, d in pairs])
