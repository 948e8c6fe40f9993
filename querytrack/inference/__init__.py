"""Inference: post-processing, online tracking (eq. 8), streaming per-frame loop, results files."""

from querytrack.inference.detections import FrameDetections
from querytrack.inference.postprocess import RawFrameOutput, paste_masks, postprocess_frame
from querytrack.inference.results import VideoTrackBuilder, select_top_tracks, video_results, write_results
from querytrack.inference.stream import FrameModel, FrameResult, track_video
from querytrack.inference.track_stats import TrackStats
from querytrack.inference.tracker import Tracker

__all__ = [
    "FrameDetections",
    "FrameModel",
    "FrameResult",
    "RawFrameOutput",
    "TrackStats",
    "Tracker",
    "VideoTrackBuilder",
    "paste_masks",
    "postprocess_frame",
    "select_top_tracks",
    "track_video",
    "video_results",
    "write_results",
]
