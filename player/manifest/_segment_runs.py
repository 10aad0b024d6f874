"""Segment indexes computed on demand: ``SegmentRuns`` (DASH ``SegmentTemplate``).

A ``SegmentTemplate`` with ``@duration`` is one run of equally long segments; a
``SegmentTimeline`` is a list of such runs (one per ``<S>``, its ``@r`` repeats kept as a
count). A ``RunTable`` stores the runs of one timeline inside the window the parser chose;
the representations of an ``AdaptationSet`` that share a timeline share one table. A
``SegmentRuns`` is the table plus one representation's URL patterns and init segment: a
``collections.abc.Sequence`` of ``Segment`` whose items are built when they are asked for
and never kept, so its memory does not depend on how many segments it describes.

Times are computed exactly as a list of materialised segments would hold them (integer
media times, one float conversion per value), so both forms give equal ``Segment``s.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

from player.manifest._model import ByteRange, InitSegment, Segment

__all__ = ["SegmentRuns"]


@dataclass(frozen=True, slots=True)
class RunClock:
    """What turns a media time into presentation and wall-clock times.

    Attributes:
        timescale: Ticks per second.
        pto: ``presentationTimeOffset`` in ticks.
        period_start_s: Period start on the presentation timeline.
        period_end: Period end in media time (ticks), if known; the last segment is cut there.
        availability_start: ``availabilityStartTime`` (UTC epoch s) of a live presentation,
            ``None`` for a static one (then segments carry no availability times).
        availability_offset_s: ``availabilityTimeOffset`` (``inf``: always available).
        time_shift_buffer_s: ``timeShiftBufferDepth``, ``None`` for unbounded.
        discontinuity_seq: The period index, given to every segment.
    """

    timescale: int
    pto: int
    period_start_s: float
    period_end: float | None
    availability_start: float | None
    availability_offset_s: float
    time_shift_buffer_s: float | None
    discontinuity_seq: int


def segment_end(clock: RunClock, t: int, d: int) -> float:
    """Media time where a segment (media time ``t``, ``d`` ticks) ends, cut at the period end."""
    period_end = clock.period_end
    return t + d if period_end is None or t + d <= period_end else period_end


def availability(clock: RunClock, t: int, d: int) -> tuple[float | None, float | None]:
    """``(available_from, available_until)`` of a segment (UTC epoch s), as it reports them."""
    ast = clock.availability_start
    if ast is None:
        return None, None
    end_s = clock.period_start_s + (segment_end(clock, t, d) - clock.pto) / clock.timescale
    ato = clock.availability_offset_s
    tsbd = clock.time_shift_buffer_s
    available_from = None if math.isinf(ato) else ast + end_s - ato
    available_until = None if tsbd is None else ast + end_s + tsbd
    return available_from, available_until


class RunTable:
    """Runs of equally long segments: the timing a ``SegmentRuns`` shares with its siblings.

    Run ``k`` holds ``offsets[k + 1] - offsets[k]`` segments; its first one has number
    ``numbers[k]`` and media time ``starts[k]``, and each lasts ``durations[k]`` ticks.
    ``offsets[-1]`` is the number of segments.

    Args:
        runs: ``(first number, first media time, duration, count)`` of each run, in order;
            adjacent runs that continue each other are merged.
        clock: Placement on the presentation timeline and the live clock.
    """

    __slots__ = ("clock", "durations", "numbers", "offsets", "starts")

    def __init__(self, runs: list[tuple[int, int, int, int]], clock: RunClock) -> None:
        self.clock = clock
        self.numbers: list[int] = []
        self.starts: list[int] = []
        self.durations: list[int] = []
        self.offsets: list[int] = [0]
        for number, t0, d, count in runs:
            if count <= 0:
                continue
            if self.numbers and self._continues(number, t0, d):
                self.offsets[-1] += count
                continue
            self.numbers.append(number)
            self.starts.append(t0)
            self.durations.append(d)
            self.offsets.append(self.offsets[-1] + count)

    def _continues(self, number: int, t0: int, d: int) -> bool:
        count = self.offsets[-1] - self.offsets[-2]
        return (
            d == self.durations[-1]
            and t0 == self.starts[-1] + count * d
            and number == self.numbers[-1] + count
        )

    def __len__(self) -> int:
        return self.offsets[-1]

    @property
    def run_count(self) -> int:
        """Number of runs kept (the entries this table holds in memory)."""
        return len(self.numbers)

    def locate(self, index: int) -> tuple[int, int, int]:
        """Number, media time and duration (ticks) of the segment at ``index``."""
        k = bisect.bisect_right(self.offsets, index) - 1
        j = index - self.offsets[k]
        d = self.durations[k]
        return self.numbers[k] + j, self.starts[k] + j * d, d

    def end_s(self, index: int) -> float:
        """Presentation time where the segment at ``index`` ends."""
        _number, t, d = self.locate(index)
        clock = self.clock
        end = self._end(t, d)
        return (
            clock.period_start_s + (t - clock.pto) / clock.timescale + (end - t) / (clock.timescale)
        )

    def _end(self, t: int, d: int) -> float:
        return segment_end(self.clock, t, d)

    def count_below(self, number: int) -> int:
        """Number of segments before the first one numbered ``number`` or more."""
        total = 0
        for k, first in enumerate(self.numbers):
            total += max(0, min(self.offsets[k + 1] - self.offsets[k], number - first))
        return total

    def segment(
        self,
        number: int,
        t: int,
        d: int,
        urls: tuple[str, ...],
        init: InitSegment | None,
        byte_range: ByteRange | None = None,
    ) -> Segment:
        """Build the ``Segment`` of one (number, media time, duration)."""
        clock = self.clock
        scale = clock.timescale
        start_s = clock.period_start_s + (t - clock.pto) / scale
        duration_s = (self._end(t, d) - t) / scale
        if clock.availability_start is None:
            return Segment(
                urls, number, start_s, duration_s, byte_range, init, clock.discontinuity_seq
            )
        available_from, available_until = availability(clock, t, d)
        return Segment(
            urls,
            number,
            start_s,
            duration_s,
            byte_range,
            init,
            clock.discontinuity_seq,
            None,
            available_from,
            available_until,
        )

    def total_ticks(self, lo: int, hi: int) -> float:
        """Sum of the durations (ticks, the last segment cut at the period end) of ``[lo, hi)``."""
        total = 0.0
        for k in range(len(self.numbers)):
            first = max(lo, self.offsets[k])
            last = min(hi, self.offsets[k + 1])
            if last > first:
                total += (last - first) * self.durations[k]
        if hi > lo:
            _number, t, d = self.locate(hi - 1)
            total -= t + d - self._end(t, d)
        return total


class ListedUrls:
    """The URLs of a ``SegmentList``: its i-th ``SegmentURL`` is segment ``first_number + i``.

    Args:
        entries: ``(media reference, byte range)`` of each ``SegmentURL``, shared by the
            representations that inherit the list.
        first_number: The number of the first entry (``startNumber``).
        resolve: The absolute URLs (one per location) of the i-th entry.
    """

    __slots__ = ("entries", "first_number", "resolve")

    def __init__(
        self,
        entries: tuple[tuple[str | None, ByteRange | None], ...],
        first_number: int,
        resolve: Callable[[int], tuple[str, ...]],
    ) -> None:
        self.entries = entries
        self.first_number = first_number
        self.resolve = resolve

    def __call__(self, number: int) -> tuple[tuple[str, ...], ByteRange | None]:
        position = number - self.first_number
        return self.resolve(position), self.entries[position][1]


class SegmentRuns(Sequence[Segment]):
    """A representation's segments, computed from runs when they are asked for.

    Behaves as a ``Sequence[Segment]`` (``len``, indexing, slicing, iteration, equality with
    any sequence of equal segments; its hash, taken from its length and end segments, is not
    a tuple's), with lookups by time and by number in O(log n). Memory
    is that of the shared ``RunTable`` (one entry per run) plus the URL patterns, or the
    shared ``SegmentList`` entries.

    Args:
        table: The runs (shared by the representations of one timeline).
        media: ``str.format`` patterns with fields ``n`` (number) and ``t`` (media time), one
            per location, preferred first; or a ``SegmentList``'s ``ListedUrls``.
        init: The init segment every segment carries.
        lo: First index of the table in this view.
        hi: End index (exclusive) of the table in this view; ``None`` for the table's end.

    >>> clock = RunClock(1, 0, 0.0, None, None, 0.0, None, 0)
    >>> segs = SegmentRuns(RunTable([(1, 0, 2, 3)], clock), ("https://cdn/{n}.m4s",), None)
    >>> len(segs), segs[-1].url, segs[-1].start_s, [s.number for s in segs[1:]]
    (3, 'https://cdn/3.m4s', 4.0, [2, 3])
    """

    __slots__ = ("_hi", "_init", "_lo", "_media", "_table")

    def __init__(
        self,
        table: RunTable,
        media: tuple[str, ...] | ListedUrls,
        init: InitSegment | None,
        *,
        lo: int = 0,
        hi: int | None = None,
    ) -> None:
        self._table = table
        self._media = media
        self._init = init
        self._lo = lo
        self._hi = len(table) if hi is None else hi

    @property
    def table(self) -> RunTable:
        """The shared run table."""
        return self._table

    def __len__(self) -> int:
        return self._hi - self._lo

    @property
    def listed(self) -> ListedUrls | None:
        """The ``SegmentList`` entries this index reads its URLs from, if it has any."""
        return self._media if isinstance(self._media, ListedUrls) else None

    def _build(self, index: int) -> Segment:
        number, t, d = self._table.locate(index)
        return self._segment(number, t, d)

    def _segment(self, number: int, t: int, d: int) -> Segment:
        media = self._media
        if isinstance(media, ListedUrls):
            urls, byte_range = media(number)
            return self._table.segment(number, t, d, urls, self._init, byte_range)
        if len(media) == 1:
            urls = (media[0].format(n=number, t=t),)
        else:
            urls = tuple([pattern.format(n=number, t=t) for pattern in media])
        return self._table.segment(number, t, d, urls, self._init)

    @overload
    def __getitem__(self, index: int) -> Segment: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Segment]: ...

    def __getitem__(self, index: int | slice) -> Segment | Sequence[Segment]:
        size = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(size)
            if step == 1:
                stop = max(start, stop)
                return SegmentRuns(
                    self._table, self._media, self._init, lo=self._lo + start, hi=self._lo + stop
                )
            return tuple(self[i] for i in range(start, stop, step))
        position = index.__index__()
        if position < 0:
            position += size
        if not 0 <= position < size:
            raise IndexError("segment index out of range")
        return self._build(self._lo + position)

    def __iter__(self) -> Iterator[Segment]:
        table = self._table
        for k in range(len(table.numbers)):
            first = max(self._lo, table.offsets[k])
            last = min(self._hi, table.offsets[k + 1])
            if last <= first:
                continue
            d = table.durations[k]
            for j in range(first - table.offsets[k], last - table.offsets[k]):
                number, t = table.numbers[k] + j, table.starts[k] + j * d
                yield self._segment(number, t, d)

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, Segment):
            return False
        index = self.index_of_number(value.number)
        return index is not None and self[index] == value

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        """Return the index of ``value``, as ``tuple.index`` does.

        Raises:
            ValueError: ``value`` is not in the sequence (between ``start`` and ``stop``).
        """
        found = self.index_of_number(value.number) if isinstance(value, Segment) else None
        end = len(self) if stop is None else stop
        if found is None or not start <= found < end or self[found] != value:
            raise ValueError("segment not in index")
        return found

    def count(self, value: Any) -> int:
        """Return 1 if ``value`` is one of the segments, else 0 (numbers are unique)."""
        return 1 if value in self else 0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SegmentRuns) and self._same_description(other):
            return True  # e.g. a live refresh that changed nothing: no segment is built
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        if len(other) != len(self):
            return False
        return all(a == b for a, b in zip(self, other, strict=True))

    def _same_description(self, other: SegmentRuns) -> bool:
        """Whether both describe the same segments the same way (sufficient for equality)."""
        mine, theirs = self._table, other._table
        return (
            (other._lo, other._hi) == (self._lo, self._hi)
            and other._media == self._media
            and other._init == self._init
            and (
                theirs is mine
                or (
                    theirs.clock == mine.clock
                    and theirs.offsets == mine.offsets
                    and theirs.numbers == mine.numbers
                    and theirs.starts == mine.starts
                    and theirs.durations == mine.durations
                )
            )
        )

    def __hash__(self) -> int:
        if not len(self):
            return hash(())
        return hash((len(self), self[0], self[-1]))

    def __repr__(self) -> str:
        return f"SegmentRuns({len(self)} segments in {self._table.run_count} runs)"

    def index_of_number(self, number: int) -> int | None:
        """Return the index of the segment numbered ``number``, or ``None``."""
        table = self._table
        k = bisect.bisect_right(table.numbers, number) - 1
        if k < 0:
            return None
        j = number - table.numbers[k]
        if j >= table.offsets[k + 1] - table.offsets[k]:
            return None
        index = table.offsets[k] + j
        return index - self._lo if self._lo <= index < self._hi else None

    def index_at(self, position_s: float) -> int:
        """Return the index of the first segment that ends after ``position_s``.

        Args:
            position_s: Presentation time, seconds.

        Returns:
            The index, or ``len(self)`` when every segment ends at or before ``position_s``.
        """
        lo, hi = self._lo, self._hi
        end_s = self._table.end_s
        while lo < hi:
            mid = (lo + hi) // 2
            if end_s(mid) <= position_s:
                lo = mid + 1
            else:
                hi = mid
        return lo - self._lo

    def segment_at(self, position_s: float) -> Segment | None:
        """Return the first segment that ends after ``position_s``, or ``None``."""
        index = self.index_at(position_s)
        return self[index] if index < len(self) else None

    @property
    def total_duration_s(self) -> float:
        """Sum of the segment durations, seconds."""
        return self._table.total_ticks(self._lo, self._hi) / self._table.clock.timescale
