"""Checkpoint import: mmdetection QueryInst weights and our own Lightning checkpoints, with a load report."""

from querytrack.checkpoints.lightning import load_lightning_checkpoint, strip_prefix
from querytrack.checkpoints.mmdet import (
    convert_mmdet_state_dict,
    load_mmdet_checkpoint,
    mmdet_key_to_ours,
    select_class_rows,
)
from querytrack.checkpoints.report import LoadReport, load_mapped

__all__ = [
    "LoadReport",
    "convert_mmdet_state_dict",
    "load_lightning_checkpoint",
    "load_mapped",
    "load_mmdet_checkpoint",
    "mmdet_key_to_ours",
    "select_class_rows",
    "strip_prefix",
]
