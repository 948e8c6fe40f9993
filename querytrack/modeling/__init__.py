"""Model: timm backbone → FPN → learned proposals → dynamic stages (box, mask, track heads)."""

from querytrack.modeling.backbone import BACKBONES, TimmBackbone
from querytrack.modeling.detector import QueryInstDetector, build_detector
from querytrack.modeling.outputs import DetectorOutput, StageOutput
from querytrack.modeling.querytrack import QueryTrack, build_querytrack

__all__ = [
    "BACKBONES",
    "DetectorOutput",
    "QueryInstDetector",
    "QueryTrack",
    "StageOutput",
    "TimmBackbone",
    "build_detector",
    "build_querytrack",
]
