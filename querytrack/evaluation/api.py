"""``evaluate_ytvis``: official YouTube-VIS AP/AR + per-category AP (+ optional HOTA) in one call."""

from __future__ import annotations

import os
import warnings
from typing import Any

from querytrack.core.gc_pause import gc_paused
from querytrack.core.rle_check import RleValid, compressed_rle_valid
from querytrack.core.rle_once import ParseOnce
from querytrack.core.ytvis_format import YTVISFormatError, validate
from querytrack.evaluation.io import PathOrObj, load_gt, load_results
from querytrack.evaluation.validate import InvalidResultsError, Problem, validate_results
from querytrack.evaluation.ytvis_eval import STAT_KEYS, evaluate_ap

# Problems the official evaluator survives (it drops unknown categories, does not look at score ranges):
# reported as warnings, the entry is evaluated as the official code would.
_WARN_KINDS = {"unknown_category"}


def check_gt(
    gt: dict[str, Any],
    path: str | os.PathLike[str] | None = None,
    rle_valid: RleValid = compressed_rle_valid,
) -> None:
    """Validate ground truth for evaluation as ``querytrack-check-data`` does (a ``length`` may stand in for
    ``file_names``), RLE strings included, so that pycocotools and trackeval only ever see valid data.

    Raises:
        YTVISFormatError: listing every problem.
    """
    problems = validate(gt, require_file_names=False, rle_valid=rle_valid)
    if problems:
        raise YTVISFormatError(path if path is not None else "<ground truth>", problems)


def check_results(
    gt: dict[str, Any],
    results: list[dict[str, Any]],
    strict: bool = True,
    check_rle_counts: bool = True,
    path: str | os.PathLike[str] | None = None,
    rle_valid: RleValid = compressed_rle_valid,
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Validate results for evaluation; raise or drop bad entries.

    Args:
        gt: ground truth dict (already valid, see ``check_gt``).
        results: results list.
        strict: raise ``InvalidResultsError`` on any error (default); else warn and drop the bad entries.
        check_rle_counts: parse every compressed RLE string (default; pycocotools hangs or reads garbage on
            malformed ones, so only turn it off for results this process encoded itself).
        path: the results file, for the error message.
        rle_valid: the check of the compressed strings (``ParseOnce.check`` keeps the areas for the evaluation).

    Returns:
        The entries to evaluate and the problems found.
    """
    problems = validate_results(
        results,
        gt,
        max_tracks_per_video=None,
        require_compressed=False,
        check_score_range=False,
        check_rle_counts=check_rle_counts,
        rle_valid=rle_valid,
    )
    errors = [p for p in problems if p.kind not in _WARN_KINDS]
    for p in problems:
        if p.kind in _WARN_KINDS:
            warnings.warn(f"results {p} (ignored, as the official evaluator does)", stacklevel=3)
    if errors and strict:
        raise InvalidResultsError(errors, path=path)
    if errors:
        bad = {p.index for p in errors}
        warnings.warn(str(InvalidResultsError(errors)) + "\n(dropped)", stacklevel=3)
        results = [r for i, r in enumerate(results) if i not in bad]
    return results, problems


def evaluate_ytvis(
    gt: PathOrObj,
    results: PathOrObj,
    per_category: bool = True,
    hota: bool = False,
    strict: bool = True,
    check_rle_counts: bool = True,
) -> dict[str, float]:
    """Evaluate a YouTube-VIS results file like the official evaluator (same 12 numbers), plus extras.

    Args:
        gt: ground-truth json path or dict (videos, annotations, categories).
        results: results json path or list.
        per_category: add ``AP/<category name>`` (IoU .50:.95, all areas, 100 dets; NaN without GT).
        hota: add ``HOTA``, ``DetA``, ``AssA`` (+ ``_det_av``) from trackeval (slower).
        strict: raise on malformed entries (listing each, with index and video id); else drop them.
        check_rle_counts: verify every compressed RLE string of the results before pycocotools sees it
            (default; see ``validate_results``). The ground truth is always validated, strings included.

    Returns:
        ``{"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl", ...}``;
        -1 where the official evaluator gives -1 (no GT in that area range).

    Raises:
        UserError: a file cannot be read (``querytrack.core.cli``); ``YTVISFormatError``: invalid ground truth;
            ``InvalidResultsError``: invalid results (strict mode).
    """
    with gc_paused():  # millions of JSON objects, no cycles: the collector would only walk them
        gt_d = load_gt(gt)
        once = (
            ParseOnce()
        )  # each string is parsed once in NumPy: by the validation, its areas then reused for the IoUs
        check_gt(gt_d, gt if isinstance(gt, str | os.PathLike) else None, rle_valid=once.check)
        res_path = results if isinstance(results, str | os.PathLike) else None
        res, _ = check_results(
            gt_d,
            load_results(results),
            strict=strict,
            check_rle_counts=check_rle_counts,
            path=res_path,
            rle_valid=once.check,
        )
        ap = evaluate_ap(gt_d, res, rles=once)
    out = {k: ap.stats[k] for k in STAT_KEYS}
    if per_category:
        names = {c["id"]: c.get("name", str(c["id"])) for c in gt_d["categories"]}
        out.update({f"AP/{names[k]}": v for k, v in ap.per_category.items()})
    if hota:
        from querytrack.evaluation.hota import evaluate_hota

        out.update(evaluate_hota(gt_d, res))
    return out
