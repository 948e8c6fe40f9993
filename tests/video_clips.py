"""Small videos made with PyAV for the demo tests: irregular timestamps, gappy AVI headers, audio tracks."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def _picture(i: int, height: int, width: int) -> np.ndarray:
    """A frame that differs from its neighbours (a moving bar on noise), ``[H, W, 3]`` uint8."""
    rng = np.random.default_rng(i)
    arr = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    x = (i * 7) % max(1, width - 8)
    arr[:, x : x + 8] = (255, 40, 40)
    return arr


def timed_clip(
    path: Path,
    pts: Sequence[int],
    time_base: Fraction,
    codec: str = "libx264",
    size: tuple[int, int] = (48, 80),
    rate: int = 25,
    audio: str | None = None,
    audio_seconds: float | None = None,
    options: dict[str, str] | None = None,
    b_frames: int = 0,
) -> Path:
    """Write one picture at each ``pts`` (ticks of ``time_base``); optionally an audio stream (a 440 Hz tone).

    Args:
        path: output file; its suffix picks the container.
        audio: audio encoder name (``"aac"``, ``"pcm_s16le"``, ...) or None.
        audio_seconds: tone length (default: up to the last picture's time).
        options: container options (e.g. ``{"movflags": "faststart"}``).
        b_frames: B-frames of the encoder (its packets are then stored out of display order).
    """
    height, width = size
    out = av.open(str(path), "w", options=options or {})
    v = out.add_stream(codec, rate=rate)
    v.height, v.width, v.pix_fmt = height, width, "yuv420p"
    v.codec_context.time_base = time_base
    v.codec_context.max_b_frames = b_frames
    a = None
    if audio is not None:
        a = out.add_stream(audio, rate=16000, layout="mono")
    for i, p in enumerate(pts):
        frame = av.VideoFrame.from_ndarray(_picture(i, height, width), format="rgb24")
        frame.pts, frame.time_base = p, time_base
        out.mux(v.encode(frame))
    out.mux(v.encode())
    if a is not None:
        seconds = audio_seconds if audio_seconds is not None else float((pts[-1] + 1) * time_base)
        _tone(out, a, seconds)
    out.close()
    return path


def _tone(out: av.container.OutputContainer, a: av.audio.stream.AudioStream, seconds: float) -> None:
    """Encode and mux a 440 Hz mono tone of ``seconds`` into audio stream ``a`` (16 kHz)."""
    fmt = a.codec_context.format.name
    samples = int(seconds * 16000)
    tone = np.sin(2 * np.pi * 440 * np.arange(samples) / 16000) * 0.3
    chunk = a.codec_context.frame_size or 1024
    for start in range(0, samples, chunk):
        part = tone[start : start + chunk]
        if fmt == "fltp":
            data = part.astype(np.float32)
        elif fmt == "u8":
            data = ((part + 1) * 127.5).astype(np.uint8)
        else:
            data = (part * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(data[None], format=fmt, layout="mono")
        frame.rate, frame.pts = 16000, start
        out.mux(a.encode(frame))
    out.mux(a.encode())


def sound_only(path: Path, seconds: float = 0.5) -> Path:
    """A file with one AAC audio stream and no video."""
    out = av.open(str(path), "w")
    _tone(out, out.add_stream("aac", rate=16000, layout="mono"), seconds)
    out.close()
    return path


def decoded_times(path: Path) -> list[Fraction]:
    """Presentation time (seconds, exact) of every decoded picture of the first video stream."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [Fraction(f.pts) * s.time_base for f in c.decode(s)]


def audio_codecs(path: Path) -> list[str]:
    """Codec names of the audio streams of a file."""
    with av.open(str(path)) as c:
        return [s.codec_context.name for s in c.streams.audio]


def audio_seconds(path: Path) -> float:
    """Seconds of sound in the first audio stream (decoded samples / rate)."""
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        return sum(f.samples for f in c.decode(s)) / s.codec_context.sample_rate
