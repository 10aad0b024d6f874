"""Manifest parsing: HLS and DASH into one format-agnostic ``Presentation`` (sans-I/O)."""

from __future__ import annotations

from player.manifest._api import detect_format, parse_manifest
from player.manifest._dash import parse_dash
from player.manifest._hls import build_reload_url, load_media_playlist, parse_hls
from player.manifest._images import ThumbnailSlot, locate_thumbnail, thumbnail_slots
from player.manifest._model import (
    ByteRange,
    ContentProtection,
    HlsKey,
    InitSegment,
    LiveTiming,
    Location,
    Part,
    Period,
    Presentation,
    PresentationType,
    Representation,
    Segment,
    SegmentIndexRef,
    SteeringInfo,
    StreamFormat,
    TileGrid,
    Track,
    TrackType,
    UtcTiming,
)
from player.manifest._segment_runs import SegmentRuns
from player.manifest._sidx import (
    SegmentIndex,
    SegmentIndexBuilder,
    SidxReference,
    apply_segment_index,
    parse_sidx,
)

__all__ = [
    "ByteRange",
    "ContentProtection",
    "HlsKey",
    "InitSegment",
    "LiveTiming",
    "Location",
    "Part",
    "Period",
    "Presentation",
    "PresentationType",
    "Representation",
    "Segment",
    "SegmentIndex",
    "SegmentIndexBuilder",
    "SegmentIndexRef",
    "SegmentRuns",
    "SidxReference",
    "SteeringInfo",
    "StreamFormat",
    "ThumbnailSlot",
    "TileGrid",
    "Track",
    "TrackType",
    "UtcTiming",
    "apply_segment_index",
    "build_reload_url",
    "detect_format",
    "load_media_playlist",
    "locate_thumbnail",
    "parse_dash",
    "parse_hls",
    "parse_manifest",
    "parse_sidx",
    "thumbnail_slots",
]
