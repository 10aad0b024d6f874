"""Manifest parsing: HLS and DASH into one format-agnostic ``Presentation`` (sans-I/O)."""

from __future__ import annotations

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
    Track,
    TrackType,
    UtcTiming,
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
    "SegmentIndexRef",
    "SteeringInfo",
    "StreamFormat",
    "Track",
    "TrackType",
    "UtcTiming",
]
