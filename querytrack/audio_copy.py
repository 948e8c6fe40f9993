"""Carry a source's audio into an output video: packets copied as they are, or re-encoded to AAC.

Copying keeps the sound bit-exact and costs nothing; it is used whenever the output container accepts the codec
(tried on the first packets in memory, header to trailer: FFmpeg refuses some codecs only when the file is
closed, e.g. PCM in mp4). Otherwise the audio is decoded and re-encoded to AAC at its own rate and layout.
Packets keep their source timestamps, so sound and picture stay in sync with a video written on the same
timeline. Audio is a courtesy: a damaged audio stream ends the audio there, never the run
(:attr:`AudioTrack.error` says why).
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Iterator
from fractions import Fraction

import av
from av.container import OutputContainer

#: The AAC encoder's layout for a channel count (a source's unnamed ``N channels`` layout is mapped to it by
#: PyAV's resampler); more channels are downmixed to stereo.
AAC_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def copy_allowed(source: str | os.PathLike[str], format_name: str, packets: int = 4) -> bool:
    """Whether the first audio stream of ``source`` can be copied into a ``format_name`` container.

    Writes a small file in memory (header, the first ``packets`` packets, trailer), as the real output will.
    """
    try:
        with av.open(str(source)) as inp:
            stream = inp.streams.audio[0]
            out = av.open(io.BytesIO(), "w", format=format_name)
            try:
                target = out.add_stream_from_template(stream)
                out.start_encoding()
                for packet in itertools.islice(_real_packets(inp.demux(stream)), packets):
                    packet.stream = target
                    out.mux(packet)
            finally:
                out.close()
        return True
    except (ValueError, av.error.FFmpegError, IndexError):
        return False


def _real_packets(packets: Iterator[av.Packet]) -> Iterator[av.Packet]:
    """Packets with data and a timestamp (drops the demuxer's final empty packet)."""
    for p in packets:
        if p.size and (p.pts is not None or p.dts is not None):
            yield p


class AudioTrack:
    """The first audio stream of ``source``, added to ``container`` (before its first packet is muxed).

    Call :meth:`mux_until` as the video advances (interleaving keeps the muxer's buffer small) and
    :meth:`finish` before the container is closed.

    Args:
        source: the source video file (opened again here, read once).
        container: the output, not yet started.

    Attributes:
        mode: ``"copy"`` or ``"aac"``.
        codec: the source's audio codec.
        error: why the audio stopped early (a damaged audio stream), or None.
    """

    def __init__(self, source: str | os.PathLike[str], container: OutputContainer) -> None:
        self._out = container
        self._in = av.open(str(source))
        self._src = self._in.streams.audio[0]
        self.codec = self._src.codec_context.name
        self.error: str | None = None
        self.mode = "copy" if copy_allowed(source, container.format.name.split(",")[0]) else "aac"
        if self.mode == "copy":
            self._dst = container.add_stream_from_template(self._src)
        else:
            ctx = self._src.codec_context
            layout = AAC_LAYOUTS.get(ctx.channels, "stereo")
            self._dst = container.add_stream("aac", rate=ctx.sample_rate, layout=layout)
        self._packets = _real_packets(self._in.demux(self._src))
        self._pending: av.Packet | None = None
        self._done = False

    @property
    def time_base(self) -> Fraction:
        """Unit of the source audio timestamps."""
        tb = self._src.time_base
        assert tb is not None
        return tb

    def _peek(self) -> av.Packet | None:
        if self._pending is None and not self._done:
            try:
                self._pending = next(self._packets)
            except StopIteration:
                self._done = True
            except (av.error.FFmpegError, OSError) as e:
                self.error, self._done = f"audio stopped at a damaged packet ({e})", True
        return self._pending

    def mux_until(self, seconds: float | None) -> None:
        """Mux the source's audio packets that start before ``seconds`` on the source timeline (None: all)."""
        while (packet := self._peek()) is not None:
            t = packet.pts if packet.pts is not None else packet.dts
            if seconds is not None and t is not None and float(t * self.time_base) >= seconds:
                return
            self._pending = None
            try:
                if self.mode == "copy":
                    packet.stream = self._dst
                    self._out.mux(packet)
                else:
                    for frame in packet.decode():
                        assert isinstance(frame, av.AudioFrame)
                        self._out.mux(self._dst.encode(frame))
            except (av.error.FFmpegError, ValueError) as e:
                self.error, self._done, self._pending = f"audio stopped at a damaged packet ({e})", True, None
                return

    def finish(self, end_seconds: float | None = None) -> None:
        """Mux what is left up to ``end_seconds`` (None: to the end), flush the encoder, close the source."""
        try:
            self.mux_until(end_seconds)
            if self.mode == "aac":
                self._out.mux(self._dst.encode(None))
        finally:
            self._in.close()
