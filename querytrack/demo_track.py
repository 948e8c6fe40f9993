"""The tracking pass of ``querytrack-demo`` (imports torch; :mod:`querytrack.demo` checks its inputs first)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from querytrack.core.files import write_json_atomic
from querytrack.inference.frame_model import DetectorFrameModel
from querytrack.inference.load import InferenceBundle
from querytrack.inference.results import VideoTrackBuilder, write_results
from querytrack.inference.stream import track_video
from querytrack.video_io import DecodedFrame, VideoReadError, VideoWriter, iter_video
from querytrack.video_probe import SourceInfo
from querytrack.visualize import decode_rles, overlay


def id_mask(masks: torch.Tensor, track_ids: list[int], height: int, width: int) -> np.ndarray:
    """``[H, W]`` uint16 with track id + 1 per pixel (later instances drawn over earlier ones)."""
    out = np.zeros((height, width), dtype=np.uint16)
    for m, tid in zip(masks.numpy(), track_ids, strict=True):
        out[m] = tid + 1
    return out


def track_into(
    info: SourceInfo,
    bundle: InferenceBundle,
    work: Path,
    device: str,
    max_frames: int | None,
    progress: bool,
    audio: bool = True,
) -> dict[str, object]:
    """Write every output of the run into ``work``; returns the summary (also written as ``summary.json``).

    Every output is indexed by the decoder's frame index; ``timestamps.txt`` maps it to the source's time.
    """
    (work / "masks").mkdir()
    builder = VideoTrackBuilder()
    seen: list[DecodedFrame] = []  # holds at most the current frame
    stopped_early = False

    def frames() -> Iterator[torch.Tensor]:
        nonlocal stopped_early
        for frame in iter_video(info):
            if max_frames is not None and frame.index >= max_frames:
                stopped_early = True
                return
            seen[:] = [frame]
            yield frame.image

    error: str | None = None
    count = 0
    first_pts = 0
    start = time.perf_counter()
    # no bar when stderr is not a terminal (logs, pipes): there, stderr holds the error lines alone
    bar = tqdm(desc="querytrack-demo", unit="frame", disable=not (progress and sys.stderr.isatty()))
    carry = audio and info.audio is not None
    writer = VideoWriter(work / "overlay.mp4", info.fps, info.time_base, info.path if carry else None)
    try:
        with open(work / "tracks.txt", "w") as mots, open(work / "timestamps.txt", "w") as stamps:
            stamps.write(f"# frame pts time_s (time base {info.time_base})\n")
            try:
                stream = track_video(
                    DetectorFrameModel(bundle.model),  # an nn.Module or the ONNX detector (same outputs)
                    frames(),
                    bundle.tracker,
                    resize=bundle.resize,
                    device=device,
                    top_k=bundle.top_k,
                )
                for result in stream:
                    frame = seen[0]
                    assert frame.index == result.frame_index
                    if count == 0:
                        first_pts = frame.pts
                    h, w = int(frame.image.shape[-2]), int(frame.image.shape[-1])
                    masks = decode_rles(result.rles, h, w)
                    picture = overlay(
                        frame.image, masks, result.boxes, result.track_ids, result.labels, bundle.class_names
                    )
                    writer.write(picture, frame.pts, frame.duration)
                    Image.fromarray(id_mask(masks, result.track_ids, h, w)).save(
                        work / "masks" / f"{frame.index:06d}.png"
                    )
                    stamps.write(f"{frame.index} {frame.pts} {float(frame.pts * info.time_base):.6f}\n")
                    for tid, label, rle in zip(result.track_ids, result.labels, result.rles, strict=True):
                        cat = bundle.category_ids[label]
                        mots.write(f"{frame.index} {cat * 1000 + tid} {cat} {h} {w} {rle['counts']}\n")
                    builder.add(result)
                    count += 1
                    bar.update(1)
                    bar.set_postfix(fps=f"{count / (time.perf_counter() - start):.1f}")
            except VideoReadError as e:
                if count == 0:
                    raise
                error = str(e)
            finally:
                bar.close()
    finally:
        # a partial run ends its sound where its pictures end
        writer.close(audio_end=writer.end_time if (error or stopped_early) else None)
    entries = builder.entries(0, bundle.category_ids, num_frames=count) if count else []
    write_results(entries, work / "results.json")
    track = writer.audio
    summary: dict[str, object] = {
        "frames": count,
        "tracks": len(entries),
        "fps": info.fps,
        "time_base": str(info.time_base),
        "duration": round(writer.end_time - float(first_pts * info.time_base), 6) if count else 0.0,
        "audio": None if track is None else track.mode,
        "audio_error": writer.audio_error if track is None else track.error,
        "complete": error is None,
        "error": error,
    }
    write_json_atomic(summary, work / "summary.json")
    return summary
