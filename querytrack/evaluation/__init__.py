"""Evaluation: official-equivalent YouTube-VIS AP/AR (vectorised), HOTA via trackeval, results validation."""

from querytrack.evaluation.api import evaluate_ytvis
from querytrack.evaluation.evaluator import YTVISEvaluator
from querytrack.evaluation.validate import InvalidResultsError, Problem, validate_results
from querytrack.evaluation.ytvis_eval import STAT_KEYS, evaluate_ap

__all__ = [
    "STAT_KEYS",
    "InvalidResultsError",
    "Problem",
    "YTVISEvaluator",
    "evaluate_ap",
    "evaluate_ytvis",
    "validate_results",
]
