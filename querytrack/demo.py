"""``querytrack-demo SOURCE --ckpt CKPT --out DIR``: track every instance of a video and write what was found.

SOURCE is a video file (mp4, mkv, avi, webm, ...) or a folder of frames. Frames are decoded one at a time with
PyAV, run through the streaming tracker, and written in one pass:

* ``DIR/overlay.mp4`` — masks, boxes, class and track id (one stable colour per id) at the source frame rate;
* ``DIR/masks/000000.png`` ... — per-frame id masks (16-bit PNG; pixel = track id + 1, 0 = background);
* ``DIR/results.json`` — YouTube-VIS results (one entry per track, one RLE or null per frame);
* ``DIR/tracks.txt`` — MOTS-style lines ``frame object_id class_id height width rle``
  (``object_id = class_id * 1000 + track id``).

* ``DIR/summary.json`` — ``{"frames", "tracks", "fps", "complete", "error"}``.

Memory does not grow with the video: only RLE strings of the output are kept. A truncated or corrupt file stops
with a clear error (exit 1) after everything up to the last good frame has been written; ``summary.json`` then
says ``"complete": false`` and names the error.

Output folder rule (the same for every tool): ``DIR`` must be absent or empty unless ``--overwrite`` is given;
the run is built in a hidden temporary folder beside ``DIR`` and renamed to ``DIR`` when it ends, so ``DIR``
never mixes two runs, and a run that fails outright (bad checkpoint, unreadable source, crash) leaves ``DIR``
as it was. Errors go to stderr as ``querytrack-demo: PATH: what is wrong``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from querytrack.core.cli import cli_main
from querytrack.core.files import output_folder, write_json_atomic
from querytrack.inference.frame_model import DetectorFrameModel
from querytrack.inference.load import InferenceBundle, load_for_inference
from querytrack.inference.results import VideoTrackBuilder, write_results
from querytrack.inference.stream import track_video
from querytrack.video_io import VideoReadError, VideoWriter, iter_frames, source_fps
from querytrack.visualize import decode_rles, overlay


def id_mask(masks: torch.Tensor, track_ids: list[int], height: int, width: int) -> np.ndarray:
    """``[H, W]`` uint16 with track id + 1 per pixel (later instances drawn over earlier ones)."""
    out = np.zeros((height, width), dtype=np.uint16)
    for m, tid in zip(masks.numpy(), track_ids, strict=True):
        out[m] = tid + 1
    return out


def run_demo(
    source: str | Path,
    ckpt: str | Path | None,
    out: str | Path,
    device: str = "cpu",
    max_frames: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
    onnx: str | Path | None = None,
) -> dict[str, object]:
    """Track ``source`` with the model in ``ckpt`` (or the ``onnx`` export of one, run by ONNX Runtime on CPU);
    write the outputs into ``out``. See the module docstring.

    Returns:
        ``{"frames", "tracks", "fps", "complete", "error"}`` (``error`` is None, or the message of the read
        error that stopped the run early).

    Raises:
        UserError: ``out`` breaks the output-folder rule (``querytrack.core.files.output_folder``).
        CheckpointError: the checkpoint cannot be loaded.
        VideoReadError: the source cannot be opened at all, or its first frame cannot be read.
    """
    out = Path(out)
    if (ckpt is None) == (onnx is None):
        raise ValueError("give exactly one of a checkpoint and an ONNX model")
    model_file = onnx if onnx is not None else ckpt
    assert model_file is not None
    with output_folder(out, overwrite, inputs=[source, model_file]) as work:
        if onnx is not None:  # the exported detector (querytrack-export); the tracker stays in Python
            from querytrack.inference.onnx_model import load_onnx_for_inference

            bundle, device = load_onnx_for_inference(onnx), "cpu"
        else:
            bundle = load_for_inference(model_file, device)
        fps = source_fps(source)
        return _track_into(source, bundle, work, fps, device, max_frames, progress)


def _track_into(
    source: str | Path,
    bundle: InferenceBundle,
    work: Path,
    fps: float,
    device: str,
    max_frames: int | None,
    progress: bool,
) -> dict[str, object]:
    """Write every output of the run into ``work``; returns the summary (also written as ``summary.json``)."""
    (work / "masks").mkdir()
    builder = VideoTrackBuilder()
    frames_seen: list[torch.Tensor] = []  # holds at most the current frame

    def frames() -> Iterator[torch.Tensor]:
        for i, frame in enumerate(iter_frames(source)):
            if max_frames is not None and i >= max_frames:
                return
            frames_seen[:] = [frame]
            yield frame

    error: str | None = None
    count = 0
    start = time.perf_counter()
    # no bar when stderr is not a terminal (logs, pipes): there, stderr holds the error lines alone
    bar = tqdm(desc="querytrack-demo", unit="frame", disable=not (progress and sys.stderr.isatty()))
    with VideoWriter(work / "overlay.mp4", fps) as writer, open(work / "tracks.txt", "w") as mots:
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
                frame = frames_seen[0]
                h, w = int(frame.shape[-2]), int(frame.shape[-1])
                masks = decode_rles(result.rles, h, w)
                writer.write(
                    overlay(frame, masks, result.boxes, result.track_ids, result.labels, bundle.class_names)
                )
                Image.fromarray(id_mask(masks, result.track_ids, h, w)).save(
                    work / "masks" / f"{result.frame_index:06d}.png"
                )
                for tid, label, rle in zip(result.track_ids, result.labels, result.rles, strict=True):
                    cat = bundle.category_ids[label]
                    mots.write(f"{result.frame_index} {cat * 1000 + tid} {cat} {h} {w} {rle['counts']}\n")
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
    entries = builder.entries(0, bundle.category_ids, num_frames=count) if count else []
    write_results(entries, work / "results.json")
    summary: dict[str, object] = {
        "frames": count,
        "tracks": len(entries),
        "fps": fps,
        "complete": error is None,
        "error": error,
    }
    write_json_atomic(summary, work / "summary.json")
    return summary


@cli_main("querytrack-demo")
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``querytrack-demo``: 0 when the whole source was tracked, 1 otherwise."""
    p = argparse.ArgumentParser(
        prog="querytrack-demo",
        description=__doc__.split("\n\n")[0]
        + " DIR must be absent or empty unless --overwrite; it is built in a temporary folder and renamed "
        "when the run ends, so a failed run leaves it as it was.",
    )
    p.add_argument("source", help="video file or folder of frames (all of one size)")
    model = p.add_mutually_exclusive_group(required=True)
    model.add_argument("--ckpt", help="checkpoint written by python -m querytrack.run")
    model.add_argument("--onnx", help="detector exported by querytrack-export (ONNX Runtime, CPU)")
    p.add_argument("--out", required=True, help="output folder (absent or empty, unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out (once the run ends)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--max-frames", type=int, default=None)
    args = p.parse_args(argv)
    summary = run_demo(
        args.source,
        args.ckpt,
        args.out,
        args.device,
        args.max_frames,
        overwrite=args.overwrite,
        onnx=args.onnx,
    )
    print(
        f"{summary['frames']} frames, {summary['tracks']} tracks -> {args.out} (overlay.mp4, masks/, results.json, tracks.txt)"
    )
    if summary["error"]:
        print(
            f"querytrack-demo: stopped early: {summary['error']} (outputs up to that frame are written; "
            "summary.json says complete: false)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
