"""Cue times onto the presentation timeline: the rules of docs/text.md, "Timing", sans-I/O.

Every text format writes times on some clock of its own; ``TextTiming`` says how that clock
relates to the presentation timeline (the one segment ``start_s`` values and the playhead
use) for one segment:

- A file without an HLS timestamp map (sidecar WebVTT/TTML, raw WebVTT segments without
  ``X-TIMESTAMP-MAP``, any DASH WebVTT): cue time 0 is ``origin_s`` (0 for HLS, the period
  start for DASH).
- HLS WebVTT with ``X-TIMESTAMP-MAP=MPEGTS:m,LOCAL:l``: cue time ``l`` plays when the media
  timestamp is ``m`` (90 kHz). ``anchor`` says which media timestamp plays at which
  presentation time in this discontinuity (read from the video or audio segments); the
  difference ``m - anchor.ticks`` is taken modulo 2^33, so a 33-bit timestamp rollover between
  the two does not move cues by 26.5 hours. Without an anchor (no video or audio timestamp
  known), ``l`` is taken to play at the start of the discontinuity.
- MP4 text (``wvtt``, ``stpp``): the segment's ``tfdt`` is ``segment_start_s``; a constant
  offset (``presentationTimeOffset``, an edit list) cancels out.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass

from player.events import Cue

__all__ = ["MPEGTS_HZ", "MPEGTS_WRAP", "MediaAnchor", "TextTiming", "wrapped_ticks"]

MPEGTS_HZ = 90_000
"""MPEG-2 system clock ticks per second (``X-TIMESTAMP-MAP``'s ``MPEGTS``, PES timestamps)."""

MPEGTS_WRAP = 1 << 33
"""PES timestamps are 33 bits: they wrap every 2^33 ticks (about 26.5 hours)."""


def wrapped_ticks(difference: int) -> int:
    """A difference of two 33-bit timestamps as the nearest signed value.

    >>> wrapped_ticks(100), wrapped_ticks(-100), wrapped_ticks(MPEGTS_WRAP - 100)
    (100, -100, -100)
    """
    half = MPEGTS_WRAP // 2
    return (difference + half) % MPEGTS_WRAP - half


@dataclass(frozen=True, kw_only=True, slots=True)
class MediaAnchor:
    """A media timestamp and the presentation time it plays at (one HLS discontinuity).

    Attributes:
        ticks: The media's presentation timestamp, 90 kHz ticks.
        position_s: Where it plays on the presentation timeline, seconds.
    """

    ticks: int
    position_s: float


@dataclass(frozen=True, kw_only=True, slots=True)
class TextTiming:
    """How one text segment's clock maps onto the presentation timeline.

    Attributes:
        segment_start_s: The segment's start on the presentation timeline, seconds.
        segment_end_s: Its end (``segment_start_s`` when unknown), seconds.
        origin_s: Presentation time of cue time 0 in a file without a timestamp map.
        anchor: HLS: the media timestamp of this discontinuity, for ``X-TIMESTAMP-MAP``.
        discontinuity_start_s: HLS: where the segment's discontinuity starts (a map with no
            anchor ties its ``LOCAL`` time there).
        uses_timestamp_map: Whether ``X-TIMESTAMP-MAP`` applies: an HLS notion; DASH WebVTT
            segments and sidecars are on the period's timeline whatever their header says.
    """

    segment_start_s: float
    segment_end_s: float
    origin_s: float = 0.0
    anchor: MediaAnchor | None = None
    discontinuity_start_s: float | None = None
    uses_timestamp_map: bool = True

    def map_offset_s(self, mpegts: int, local_s: float) -> float:
        """Seconds to add to the cue times of a file with ``MPEGTS:mpegts,LOCAL:local_s``.

        >>> t = TextTiming(segment_start_s=4.0, segment_end_s=6.0,
        ...                anchor=MediaAnchor(ticks=9_000, position_s=0.0))
        >>> t.map_offset_s(9_000, 0.0)
        0.0
        >>> round(t.map_offset_s(900_000, 10.0), 6)  # MPEGTS 10 s <-> LOCAL 10 s
        -0.1
        """
        if self.anchor is not None:
            delta = wrapped_ticks(mpegts - self.anchor.ticks) / MPEGTS_HZ
            return self.anchor.position_s + delta - local_s
        start = self.discontinuity_start_s
        return (self.segment_start_s if start is None else start) - local_s

    @property
    def clip_end_s(self) -> float | None:
        """The segment's end, if known (cues without an end stop there)."""
        return self.segment_end_s if self.segment_end_s > self.segment_start_s else None


def shifted(
    cues: Iterable[Cue],
    offset_s: float,
    *,
    clip: tuple[float, float] | None = None,
    open_end_s: float | None = None,
) -> tuple[Cue, ...]:
    """Cues moved by ``offset_s``, optionally clipped to ``clip``; empty ones dropped.

    Args:
        cues: Cues on a file's clock.
        offset_s: Seconds to add.
        clip: ``(start, end)`` on the presentation timeline to keep (MP4 samples).
        open_end_s: Where a cue without an end (``math.inf``) stops, if known; such a
            cue is dropped when it is not.
    """
    out: list[Cue] = []
    for cue in cues:
        start, end = cue.start_s + offset_s, cue.end_s + offset_s
        if math.isinf(end):
            if open_end_s is None:
                continue
            end = open_end_s
        if clip is not None:
            start, end = max(start, clip[0]), min(end, clip[1])
        if end > start:
            out.append(dataclasses.replace(cue, start_s=start, end_s=end))
    return tuple(out)
