"""querytrack-demo on footage like real files: variable frame rate, AVI headers that count time units, audio
tracks, truncated files (small clips made with PyAV; tiny untrained checkpoint)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import av
import pytest

from querytrack.demo import main, run_demo
from querytrack.video_io import iter_video
from querytrack.video_probe import probe_source
from tests.tiny_checkpoint import make_tiny_ckpt
from tests.video_clips import audio_codecs, audio_seconds, decoded_times, sound_only, timed_clip

VFR_PTS = [0, 40, 200, 230, 800, 810, 1500]  # ms: bursts and pauses, as a phone records


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_ckpt(tmp_path_factory.mktemp("ckpt") / "tiny.ckpt")


def test_variable_frame_rate_keeps_every_timestamp(ckpt: Path, tmp_path: Path) -> None:
    src = timed_clip(tmp_path / "vfr.mp4", VFR_PTS, Fraction(1, 1000))
    assert decoded_times(src) == [Fraction(p, 1000) for p in VFR_PTS]  # the clip is what the test says
    out = tmp_path / "out"
    summary = run_demo(src, ckpt, out, progress=False)
    assert summary["complete"] is True and summary["frames"] == 7
    assert decoded_times(out / "overlay.mp4") == [Fraction(p, 1000) for p in VFR_PTS]
    with av.open(str(src)) as a, av.open(str(out / "overlay.mp4")) as b:
        source_tb = a.streams.video[0].time_base
        assert b.streams.video[0].time_base == source_tb  # the time base carried over
    assert summary["time_base"] == str(source_tb)
    rows = [line.split() for line in (out / "timestamps.txt").read_text().splitlines()[1:]]
    assert [(int(i), int(p) * source_tb) for i, p, _ in rows] == [
        (i, Fraction(p, 1000)) for i, p in enumerate(VFR_PTS)
    ]
    assert [float(t) for *_, t in rows] == [p / 1000 for p in VFR_PTS]
    # results and masks are indexed by decoded picture (0..6), not by time
    results = json.loads((out / "results.json").read_text())
    assert all(len(r["segmentations"]) == 7 for r in results)
    assert sorted(p.name for p in (out / "masks").iterdir()) == [f"{i:06d}.png" for i in range(7)]
    frames_in_tracks = {int(line.split()[0]) for line in (out / "tracks.txt").read_text().splitlines()}
    assert frames_in_tracks <= set(range(7))


def test_header_counting_more_frames_than_pictures_is_complete(ckpt: Path, tmp_path: Path) -> None:
    # an AVI with gaps: its header counts 26 time units (1/15 s) for 7 pictures (like a cinepak AVI with
    # dropped frames); the file is whole and ends cleanly
    pts = [0, 3, 4, 9, 15, 16, 25]
    src = timed_clip(tmp_path / "gaps.avi", pts, Fraction(1, 15), codec="mpeg4")
    info = probe_source(src)
    assert info.frames == 26 and len(decoded_times(src)) == 7
    out = tmp_path / "out"
    assert main([str(src), "--ckpt", str(ckpt), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is True and summary["error"] is None and summary["frames"] == 7
    assert decoded_times(out / "overlay.mp4") == [Fraction(p, 15) for p in pts]
    assert summary["duration"] == pytest.approx(26 / 15, abs=1 / 15)  # the source's length, within a frame


def test_pictures_get_display_times_from_packets_stored_out_of_order(tmp_path: Path) -> None:
    # with B-frames the file stores packets in decode order (pts jump back); pictures come out in display
    # order, each at its own time, indexed 0, 1, 2, ... as the decoder returns them
    src = timed_clip(tmp_path / "vfr.mkv", VFR_PTS, Fraction(1, 1000), b_frames=2)
    with av.open(str(src)) as c:
        stored = [p.pts for p in c.demux(video=0) if p.size]
    assert stored != sorted(stored)
    frames = list(iter_video(src))
    assert [f.index for f in frames] == list(range(7))
    assert [f.pts for f in frames] == VFR_PTS
    assert [f.duration for f in frames[:-1]] == [b - a for a, b in itertools.pairwise(VFR_PTS)]


@pytest.mark.parametrize(
    ("codec", "suffix", "mode", "out_codec"),
    [
        ("aac", ".mp4", "copy", "aac"),
        ("pcm_u8", ".mkv", "aac", "aac"),  # mp4 cannot hold 8-bit PCM: re-encoded
    ],
)
def test_audio_is_carried_over(
    ckpt: Path, tmp_path: Path, codec: str, suffix: str, mode: str, out_codec: str
) -> None:
    src = timed_clip(tmp_path / f"talk{suffix}", list(range(10)), Fraction(1, 10), audio=codec)
    out = tmp_path / "out"
    summary = run_demo(src, ckpt, out, progress=False)
    assert summary["audio"] == mode and summary["audio_error"] is None
    assert audio_codecs(out / "overlay.mp4") == [out_codec]
    assert audio_seconds(out / "overlay.mp4") == pytest.approx(audio_seconds(src), abs=0.1)
    if mode == "copy":  # the packets themselves
        with av.open(str(src)) as a, av.open(str(out / "overlay.mp4")) as b:
            sa = [bytes(p) for p in a.demux(audio=0) if p.size]
            sb = [bytes(p) for p in b.demux(audio=0) if p.size]
        assert sa == sb
    quiet = tmp_path / "quiet"
    assert main([str(src), "--ckpt", str(ckpt), "--out", str(quiet), "--no-audio"]) == 0
    assert audio_codecs(quiet / "overlay.mp4") == []
    assert json.loads((quiet / "summary.json").read_text())["audio"] is None


def test_partial_run_cuts_the_sound_where_the_pictures_end(ckpt: Path, tmp_path: Path) -> None:
    src = timed_clip(tmp_path / "talk.mp4", list(range(20)), Fraction(1, 10), audio="aac")
    out = tmp_path / "out"
    assert main([str(src), "--ckpt", str(ckpt), "--out", str(out), "--max-frames", "5"]) == 0
    assert audio_seconds(out / "overlay.mp4") == pytest.approx(0.5, abs=0.07)  # 5 frames of 0.1 s


def test_mp4_cut_inside_its_data_keeps_what_was_read(ckpt: Path, tmp_path: Path) -> None:
    # index first (faststart): the cut file opens and its first half decodes
    whole = timed_clip(
        tmp_path / "whole.mp4", list(range(30)), Fraction(1, 10), options={"movflags": "faststart"}
    )
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    assert main([str(cut), "--ckpt", str(ckpt), "--out", str(out)]) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is False and 0 < summary["frames"] < 30
    assert "truncated" in summary["error"] or "decode error" in summary["error"]
    assert len(decoded_times(out / "overlay.mp4")) == summary["frames"]


FAIL_FAST = textwrap.dedent(
    """
    import io, json, sys
    seen = []
    class Tap(io.StringIO):
        def write(self, s):
            seen.append("torch" in sys.modules)
            return super().write(s)
    sys.stderr = tap = Tap()
    from querytrack.demo import main
    rc = main(sys.argv[1:])
    print(json.dumps({"rc": rc, "err": tap.getvalue(), "torch_at_print": seen}))
    """
)


@pytest.mark.parametrize("kind", ["missing", "cut_mp4", "not_video", "no_video_stream", "out_is_file"])
def test_bad_source_is_refused_before_torch_is_imported(ckpt: Path, tmp_path: Path, kind: str) -> None:
    src = tmp_path / "clip.mp4"
    out = tmp_path / "out"
    needle = {
        "missing": "no such file",
        "cut_mp4": "no index (moov box missing",
        "not_video": "cannot open as a video",
        "no_video_stream": "no video stream",
        "out_is_file": "exists and is not a folder",
    }[kind]
    if kind == "cut_mp4":  # an ordinary mp4 has its index at the end: half of it has none
        whole = timed_clip(tmp_path / "whole.mp4", list(range(30)), Fraction(1, 10))
        data = whole.read_bytes()
        src.write_bytes(data[: len(data) // 2])
    elif kind == "not_video":
        src.write_bytes(b"not a video at all" * 50)
    elif kind == "no_video_stream":
        src = sound_only(tmp_path / "sound.m4a")
    elif kind == "out_is_file":
        timed_clip(src, list(range(3)), Fraction(1, 10))
        out.write_text("keep")
    argv = [str(src), "--ckpt", str(ckpt), "--out", str(out)]
    run = subprocess.run(
        [sys.executable, "-c", FAIL_FAST, *argv], capture_output=True, text=True, timeout=120
    )
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["rc"] == 1 and needle in report["err"], report
    assert report["err"].count("\n") == 1 and report["err"].startswith("querytrack-demo: ")
    assert report["torch_at_print"] and not any(report["torch_at_print"])  # refused before torch was imported
    if kind != "out_is_file":
        assert not out.exists()
