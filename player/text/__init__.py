"""Subtitles and captions: WebVTT, TTML/IMSC1 and MP4 text (``wvtt``, ``stpp``) to cues, sans-I/O.

The parsers take bytes and a ``TextTiming`` (where the segment lies on the presentation
timeline) and return ``Cue`` values; ``CueStore`` and ``CueTracker`` keep a track's cues and
follow the playhead over them. Nothing here fetches, sleeps or reads a clock: the session
(``player/_text.py``) is the adapter. See docs/text.md.
"""

from __future__ import annotations

from player.events import Cue
from player.text._intervals import IntervalSet
from player.text._probe import media_start_ticks
from player.text._segment import TextSegment, parse_text_segment, sniff_format
from player.text._store import CueChange, CueStore, CueTracker, merge_cues
from player.text._timing import (
    MPEGTS_HZ,
    MPEGTS_WRAP,
    MediaAnchor,
    TextTiming,
    wrapped_ticks,
)
from player.text._ttml import TtmlDocument, parse_ttml
from player.text._webvtt import TimestampMap, WebVttDocument, parse_webvtt

__all__ = [
    "Cue",
    "CueChange",
    "CueStore",
    "CueTracker",
    "IntervalSet",
    "MPEGTS_HZ",
    "MPEGTS_WRAP",
    "MediaAnchor",
    "TextSegment",
    "TextTiming",
    "TimestampMap",
    "TtmlDocument",
    "WebVttDocument",
    "media_start_ticks",
    "merge_cues",
    "parse_text_segment",
    "parse_ttml",
    "parse_webvtt",
    "sniff_format",
    "wrapped_ticks",
]
