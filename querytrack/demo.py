"""``querytrack-demo SOURCE --ckpt CKPT --out DIR``: track every instance of a video and write what was found.

SOURCE is a video file (mp4, mkv, avi, webm, ...) or a folder of frames. Frames are decoded one at a time with
PyAV, run through the streaming tracker, and written in one pass:

* ``DIR/overlay.mp4`` — masks, boxes, class and track id (one stable colour per id), every frame at its source
  presentation time (variable frame rate kept, the source's time base), with the source's audio (copied, or
  re-encoded to AAC where mp4 cannot hold the codec; ``--no-audio`` drops it);
* ``DIR/masks/000000.png`` ... — per-frame id masks (16-bit PNG; pixel = track id + 1, 0 = background);
* ``DIR/results.json`` — YouTube-VIS results (one entry per track, one RLE or null per frame);
* ``DIR/tracks.txt`` — MOTS-style lines ``frame object_id class_id height width rle``
  (``object_id = class_id * 1000 + track id``);
* ``DIR/timestamps.txt`` — ``frame pts time_s`` per frame: the frame index of every file above (the decoder's
  index) mapped to the source time;
* ``DIR/summary.json`` — ``{"frames", "tracks", "fps", "time_base", "duration", "audio", "audio_error",
  "complete", "error"}``.

The source and ``--out`` are checked before torch and the model are loaded, so a wrong path answers at once.
Memory does not grow with the video: only RLE strings of the output are kept. A video that ends cleanly is
complete whatever frame count its header gave; a truncated one (decode error, a file cut inside a frame, a
file ending well before the length its header declares) stops with a clear error (exit 1) after everything up
to the last good frame has been written; ``summary.json`` then says ``"complete": false`` and names the error.
An mp4 without its index (``moov`` box) has no readable frame and is refused outright.

Output folder rule (the same for every tool): ``DIR`` must be absent or empty unless ``--overwrite`` is given;
the run is built in a hidden temporary folder beside ``DIR`` and renamed to ``DIR`` when it ends, so ``DIR``
never mixes two runs, and a run that fails outright (bad checkpoint, unreadable source, crash) leaves ``DIR``
as it was. Errors go to stderr as ``querytrack-demo: PATH: what is wrong``. Exit codes: 0 complete, 1 bad input
or a truncated source, 2 bad arguments, 3 internal error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from querytrack.core.cli import cli_main
from querytrack.core.errors import UserError
from querytrack.core.files import output_folder
from querytrack.video_probe import probe_source

if TYPE_CHECKING:
    from querytrack.inference.load import InferenceBundle


def _check_model_path(path: Path, what: str) -> None:
    """The cheap checks of a model file (exists, not a folder), made before torch is imported."""
    if path.is_dir():
        raise UserError(path, f"is a folder, expected a {what} file")
    if not path.exists():
        raise UserError(path, f"{what} not found")


def run_demo(
    source: str | Path,
    ckpt: str | Path | None,
    out: str | Path,
    device: str | None = None,
    max_frames: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
    onnx: str | Path | None = None,
    audio: bool = True,
) -> dict[str, object]:
    """Track ``source`` with the model in ``ckpt`` (or the ``onnx`` export of one, run by ONNX Runtime on CPU);
    write the outputs into ``out``. See the module docstring.

    The source, the model path and ``out`` are checked before torch is imported.

    Args:
        device: where the model runs (default: ``cuda`` when available, else ``cpu``).
        audio: carry the source's audio into the overlay.

    Returns:
        The summary (``summary.json``): ``error`` is None, or the message of the read error that stopped the
        run early.

    Raises:
        UserError: ``out`` breaks the output-folder rule (``querytrack.core.files.output_folder``).
        VideoReadError: the source cannot be opened, has no video stream, is an mp4 without its index, or its
            first frame cannot be read.
        CheckpointError: the checkpoint cannot be loaded.
    """
    out = Path(out)
    if (ckpt is None) == (onnx is None):
        raise ValueError("give exactly one of a checkpoint and an ONNX model")
    model_file = Path(onnx if onnx is not None else ckpt)  # type: ignore[arg-type]
    info = probe_source(source)
    _check_model_path(model_file, "ONNX model" if onnx is not None else "checkpoint")
    with output_folder(out, overwrite, inputs=[source, model_file]) as work:
        bundle, device = _load(model_file, onnx is not None, device)
        from querytrack.demo_track import track_into

        return track_into(info, bundle, work, device, max_frames, progress, audio)


def _load(model_file: Path, is_onnx: bool, device: str | None) -> tuple[InferenceBundle, str]:
    """Import torch and load the model (the slow part, after every input is checked)."""
    if is_onnx:  # the exported detector (querytrack-export); the tracker stays in Python
        from querytrack.inference.onnx_model import load_onnx_for_inference

        return load_onnx_for_inference(model_file), "cpu"
    import torch

    from querytrack.inference.load import load_for_inference

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return load_for_inference(model_file, device), device


@cli_main("querytrack-demo")
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``querytrack-demo``: 0 when the whole source was tracked, 1 otherwise."""
    p = argparse.ArgumentParser(
        prog="querytrack-demo",
        description=__doc__.split("\n\n")[0]
        + " DIR must be absent or empty unless --overwrite; it is built in a temporary folder and renamed "
        "when the run ends, so a failed run leaves it as it was. Exit 0: the whole source was tracked; 1: bad "
        "input or a truncated source (what was read is written, summary.json says complete: false).",
    )
    p.add_argument("source", help="video file or folder of frames (all of one size)")
    model = p.add_mutually_exclusive_group(required=True)
    model.add_argument("--ckpt", help="checkpoint written by python -m querytrack.run")
    model.add_argument("--onnx", help="detector exported by querytrack-export (ONNX Runtime, CPU)")
    p.add_argument("--out", required=True, help="output folder (absent or empty, unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out (once the run ends)")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--no-audio", action="store_true", help="leave the source's audio out of overlay.mp4")
    args = p.parse_args(argv)
    summary = run_demo(
        args.source,
        args.ckpt,
        args.out,
        args.device,
        args.max_frames,
        overwrite=args.overwrite,
        onnx=args.onnx,
        audio=not args.no_audio,
    )
    print(
        f"{summary['frames']} frames, {summary['tracks']} tracks -> {args.out} (overlay.mp4, masks/, results.json, "
        "tracks.txt, timestamps.txt)"
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
