"""A union of half-open time intervals (played spans, spans covered by text), pure."""

from __future__ import annotations

import bisect

__all__ = ["IntervalSet"]

_JOIN_S = 1e-3  # gaps this small join (timelines round to their timescale; not a tunable)


class IntervalSet:
    """Disjoint, sorted ``[start, end)`` intervals; adding merges overlapping ones.

    >>> s = IntervalSet()
    >>> s.add(0.0, 2.0); s.add(4.0, 6.0); s.add(1.0, 3.0)
    >>> s.intervals, s.total_s
    ([(0.0, 3.0), (4.0, 6.0)], 5.0)
    >>> s.overlap_s(IntervalSet.of([(2.0, 5.0)]))
    2.0
    """

    def __init__(self) -> None:
        self._starts: list[float] = []
        self._ends: list[float] = []

    @classmethod
    def of(cls, intervals: list[tuple[float, float]]) -> IntervalSet:
        """A set holding ``intervals``."""
        out = cls()
        for start, end in intervals:
            out.add(start, end)
        return out

    def add(self, start: float, end: float) -> None:
        """Add ``[start, end)`` (ignored when empty)."""
        if not end > start:
            return
        i = bisect.bisect_left(self._ends, start - _JOIN_S)
        j = bisect.bisect_right(self._starts, end + _JOIN_S)
        if i < j:
            start = min(start, self._starts[i])
            end = max(end, self._ends[j - 1])
        self._starts[i:j] = [start]
        self._ends[i:j] = [end]

    def contains(self, start: float, end: float) -> bool:
        """Whether ``[start, end)`` lies inside one interval (within the join tolerance)."""
        i = bisect.bisect_right(self._starts, start + _JOIN_S) - 1
        return i >= 0 and self._ends[i] >= end - _JOIN_S

    @property
    def intervals(self) -> list[tuple[float, float]]:
        """The intervals, in order."""
        return list(zip(self._starts, self._ends, strict=True))

    @property
    def total_s(self) -> float:
        """Their total length."""
        return sum(e - s for s, e in zip(self._starts, self._ends, strict=True))

    def overlap_s(self, other: IntervalSet) -> float:
        """Length of the intersection with ``other``."""
        total = 0.0
        i = j = 0
        mine, theirs = self.intervals, other.intervals
        while i < len(mine) and j < len(theirs):
            start = max(mine[i][0], theirs[j][0])
            end = min(mine[i][1], theirs[j][1])
            total += max(0.0, end - start)
            if mine[i][1] < theirs[j][1]:
                i += 1
            else:
                j += 1
        return total
