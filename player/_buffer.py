"""Per-track media buffers and the playhead (pure: times are parameters)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

__all__: list[str] = []  # internal to the session

_EPSILON_S = 1e-6  # float tolerance when joining adjacent segments (not a tunable)


@dataclass(frozen=True, slots=True)
class BufferedSegment:
    """A decrypted segment waiting in a buffer.

    Attributes:
        start_s: Presentation start, seconds.
        end_s: Presentation end, seconds.
        representation_id: Where it came from.
        bitrate_bps: The representation's bandwidth.
        number: Segment number.
        data: Media bytes (decrypted), or empty when data is not kept.
        init: Init segment bytes for decoding, or empty.
        discontinuity_seq: Decoder-reset boundary id.
    """

    start_s: float
    end_s: float
    representation_id: str
    bitrate_bps: int
    number: int
    data: bytes = field(default=b"", repr=False)
    init: bytes = field(default=b"", repr=False)
    discontinuity_seq: int = 0


class TrackBuffer:
    """The segments of one track, ordered by start time, with gap-aware level queries.

    >>> buf = TrackBuffer()
    >>> buf.add(BufferedSegment(0.0, 2.0, "v1", 1000, 1))
    >>> buf.add(BufferedSegment(2.0, 4.0, "v1", 1000, 2))
    >>> buf.buffered_end(1.0), buf.level_s(1.0)
    (4.0, 3.0)
    """

    def __init__(self) -> None:
        self._segments: list[BufferedSegment] = []
        self._starts: list[float] = []
        self._end_memo: tuple[int, float] | None = None
        """``(i, end)``: the contiguous buffer from segment ``i`` ends at ``end``; dropped
        on every change (the session asks several times a turn, from nearby positions)."""

    def __len__(self) -> int:
        return len(self._segments)

    @property
    def segments(self) -> tuple[BufferedSegment, ...]:
        """Buffered segments in presentation order."""
        return tuple(self._segments)

    def add(self, segment: BufferedSegment) -> None:
        """Insert a segment, replacing any buffered segment with the same start."""
        i = bisect.bisect_left(self._starts, segment.start_s - _EPSILON_S)
        while i < len(self._segments) and abs(self._starts[i] - segment.start_s) <= _EPSILON_S:
            del self._segments[i]
            del self._starts[i]
        self._segments.insert(i, segment)
        self._starts.insert(i, segment.start_s)
        self._end_memo = None

    def buffered_end(self, position_s: float) -> float:
        """End of the contiguous buffered range that contains ``position_s``.

        Returns ``position_s`` itself when nothing is buffered there.
        """
        i = bisect.bisect_right(self._starts, position_s + _EPSILON_S) - 1
        segments = self._segments
        if i < 0 or segments[i].end_s <= position_s:
            return position_s
        memo = self._end_memo
        if memo is not None and memo[0] == i:
            return memo[1]
        end = segments[i].end_s
        for j in range(i + 1, len(segments)):
            seg = segments[j]
            if seg.start_s > end + _EPSILON_S:
                break
            end = max(end, seg.end_s)
        self._end_memo = (i, end)
        return end

    def level_s(self, position_s: float) -> float:
        """Seconds of media buffered ahead of ``position_s`` without a gap."""
        return self.buffered_end(position_s) - position_s

    def covering(self, start_s: float, end_s: float) -> list[BufferedSegment]:
        """Segments overlapping ``[start_s, end_s)``, in order."""
        i = max(0, bisect.bisect_right(self._starts, start_s) - 1)
        out: list[BufferedSegment] = []
        for seg in self._segments[i:]:
            if seg.start_s >= end_s:
                break
            if seg.end_s > start_s:
                out.append(seg)
        return out

    def evict_before(self, position_s: float) -> list[BufferedSegment]:
        """Remove and return segments that end at or before ``position_s``."""
        n = 0
        while n < len(self._segments) and self._segments[n].end_s <= position_s + _EPSILON_S:
            n += 1
        if n == 0:
            return []
        self._end_memo = None
        gone, self._segments, self._starts = (
            self._segments[:n],
            self._segments[n:],
            self._starts[n:],
        )
        return gone

    def clear(self) -> None:
        """Drop everything (seek, track change)."""
        self._segments.clear()
        self._starts.clear()
        self._end_memo = None


class Playhead:
    """Playback position as a function of session time.

    The position advances at rate 1 while running. ``advance`` moves it to ``now`` but
    never past ``limit_s`` (the buffered end, or the end of the presentation) and says
    when the limit was hit, so stalls are timed exactly even if noticed late.

    >>> ph = Playhead(position_s=10.0)
    >>> ph.start(now=100.0)
    >>> ph.advance(now=103.0, limit_s=20.0)
    (13.0, None)
    >>> ph.advance(now=110.0, limit_s=15.0)
    (15.0, 105.0)
    """

    def __init__(self, *, position_s: float = 0.0) -> None:
        self.position_s = position_s
        self.is_running = False
        self._since = 0.0

    def start(self, *, now: float) -> None:
        """Start (or resume) advancing from the current position at ``now``."""
        self.is_running = True
        self._since = now

    def stop(self, *, now: float, limit_s: float | None = None) -> None:
        """Stop advancing (pause or stall), first advancing up to ``now``."""
        if self.is_running and limit_s is not None:
            self.advance(now=now, limit_s=limit_s)
        self.is_running = False

    def seek(self, position_s: float, *, now: float) -> None:
        """Jump to ``position_s``; keeps running if it was."""
        self.position_s = position_s
        self._since = now

    def position_at(self, *, now: float, limit_s: float) -> float:
        """Where the playhead will be at ``now`` (not beyond ``limit_s``), without moving it."""
        if not self.is_running or now <= self._since:
            return self.position_s
        return min(max(self.position_s, limit_s), self.position_s + (now - self._since))

    def advance(self, *, now: float, limit_s: float) -> tuple[float, float | None]:
        """Move the position to ``now`` but not beyond ``limit_s``.

        Args:
            now: Session time, seconds.
            limit_s: Furthest position playable (buffered end or presentation end).

        Returns:
            ``(position_s, hit_at)``: the new position and, if the limit stopped it,
            the session time at which it was reached (the caller then stalls or ends).
        """
        if not self.is_running or now <= self._since:
            return (self.position_s, None)
        target = self.position_s + (now - self._since)
        if target < limit_s:
            self.position_s = target
            self._since = now
            return (target, None)
        hit_at = self._since + max(0.0, limit_s - self.position_s)
        self.position_s = max(self.position_s, limit_s)
        self._since = now
        return (self.position_s, hit_at)
