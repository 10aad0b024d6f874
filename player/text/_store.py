"""The cues of one text track and which of them the playhead is in, sans-I/O.

``CueStore`` keeps every cue loaded for a track once: a cue that several segments repeat
(segmented WebVTT repeats a cue crossing a boundary) or split (MP4 text samples end at
fragment boundaries) becomes one cue again. It also records the spans of the presentation
its segments covered. ``CueTracker`` follows the playhead over a store and reports which
cues it entered and left, with the exact session time of each crossing.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from player.events import Cue
from player.text._intervals import IntervalSet

__all__ = ["CueChange", "CueStore", "CueTracker", "merge_cues"]

_TOUCH_S = 1e-3
"""Equal cues this close together are one cue (timelines round to their timescale)."""


def _identity(cue: Cue) -> tuple[object, ...]:
    """What two pieces of one cue share: everything but the times and the id.

    Files number their cues on their own, so a cue repeated by the next segment may get
    another id.
    """
    return (cue.text, cue.markup, cue.settings, cue.region, cue.style, cue.format)


def _order(cue: Cue) -> tuple[float, float, str]:
    return (cue.start_s, cue.end_s, cue.text)


def merge_cues(cues: Iterable[Cue]) -> tuple[Cue, ...]:
    """Equal cues (same text, settings, region, style) that overlap or touch become one.

    >>> a = Cue(start_s=1.0, end_s=2.0, text="Hi", format="webvtt")
    >>> b = Cue(start_s=2.0, end_s=2.5, text="Hi", format="webvtt")
    >>> [(c.start_s, c.end_s) for c in merge_cues([b, a, a])]
    [(1.0, 2.5)]
    """
    open_by_identity: dict[tuple[object, ...], int] = {}
    out: list[Cue] = []
    for cue in sorted(cues, key=_order):
        key = _identity(cue)
        index = open_by_identity.get(key)
        if index is not None and cue.start_s <= out[index].end_s + _TOUCH_S:
            if cue.end_s > out[index].end_s:
                out[index] = dataclasses.replace(out[index], end_s=cue.end_s)
            continue
        open_by_identity[key] = len(out)
        out.append(cue)
    return tuple(sorted(out, key=_order))


class CueStore:
    """Every cue of one text track, each once, in start order, bounded.

    Args:
        max_cues: Most cues kept; past it the cues furthest behind ``keep_near_s`` go.

    >>> store = CueStore(max_cues=10)
    >>> store.add([Cue(start_s=1.0, end_s=2.0, text="a", format="webvtt")])
    1
    >>> [c.text for c in store.at(1.5)], store.at(2.0)
    (['a'], ())
    """

    def __init__(self, *, max_cues: int) -> None:
        self._max = max_cues
        self._cues: list[Cue] = []
        self._starts: list[float] = []
        self._longest_s = 0.0
        self.loaded = IntervalSet()
        """Spans of the presentation covered by segments parsed without error."""
        self.dropped = 0
        """Cues dropped to stay within ``max_cues``."""

    def __len__(self) -> int:
        return len(self._cues)

    @property
    def cues(self) -> tuple[Cue, ...]:
        """Every cue, in start order."""
        return tuple(self._cues)

    def add(self, cues: Iterable[Cue], *, keep_near_s: float = 0.0) -> int:
        """Add cues, joining each with an equal cue it overlaps or touches.

        Args:
            cues: Cues on the presentation timeline.
            keep_near_s: Where the playhead is: when over the bound, the cues furthest
                from it are dropped.

        Returns:
            How many cues the store grew by.
        """
        incoming = list(cues)
        if not incoming:
            return 0
        lo = min(c.start_s for c in incoming) - self._longest_s - _TOUCH_S
        hi = max(c.end_s for c in incoming) + _TOUCH_S
        i = bisect.bisect_left(self._starts, lo)
        j = bisect.bisect_right(self._starts, hi)
        before = len(self._cues)
        merged = merge_cues([*self._cues[i:j], *incoming])
        self._cues[i:j] = merged
        self._starts[i:j] = [c.start_s for c in merged]
        self._longest_s = max(self._longest_s, *(c.end_s - c.start_s for c in merged))
        self._bound(keep_near_s)
        return len(self._cues) - before

    def _bound(self, near_s: float) -> None:
        while len(self._cues) > self._max:
            first, last = self._cues[0], self._cues[-1]
            index = 0 if near_s - first.start_s >= last.start_s - near_s else -1
            del self._cues[index]
            del self._starts[index]
            self.dropped += 1

    def at(self, position_s: float) -> tuple[Cue, ...]:
        """The cues showing at ``position_s`` (``start_s <= position_s < end_s``)."""
        hi = bisect.bisect_right(self._starts, position_s)
        lo = bisect.bisect_left(self._starts, position_s - self._longest_s)
        return tuple(c for c in self._cues[lo:hi] if c.end_s > position_s)

    def starting_in(self, after_s: float, until_s: float) -> tuple[Cue, ...]:
        """The cues with ``after_s < start_s <= until_s``, in start order."""
        lo = bisect.bisect_right(self._starts, after_s)
        hi = bisect.bisect_right(self._starts, until_s)
        return tuple(self._cues[lo:hi])

    def next_boundary_after(self, position_s: float, active: Iterable[Cue]) -> float | None:
        """The first cue start after ``position_s``, or end of an ``active`` cue, if any."""
        candidates = [c.end_s for c in active if c.end_s > position_s]
        i = bisect.bisect_right(self._starts, position_s)
        if i < len(self._starts):
            candidates.append(self._starts[i])
        return min(candidates) if candidates else None


@dataclass(frozen=True, slots=True)
class CueChange:
    """The playhead entered or left a cue.

    Attributes:
        is_entered: ``True`` entered, ``False`` left.
        cue: The cue.
        at: Session time it happened (clock seconds).
        position_s: The playhead position then.
    """

    is_entered: bool
    cue: Cue
    at: float
    position_s: float


class CueTracker:
    """Which cues of a store the playhead is in; reports every entry and exit.

    Cues are told apart by start, end and text (a cue extended by a later segment stays
    the same cue while it is shown).
    """

    def __init__(self) -> None:
        self._active: dict[tuple[float, str, str], Cue] = {}
        self.position_s: float | None = None

    @property
    def active(self) -> tuple[Cue, ...]:
        """The cues shown now, in start order."""
        return tuple(sorted(self._active.values(), key=_order))

    @staticmethod
    def _key(cue: Cue) -> tuple[float, str, str]:
        return (round(cue.start_s, 3), cue.text, cue.region or "")

    def advance(
        self, store: CueStore, *, from_s: float, to_s: float, now: float
    ) -> list[CueChange]:
        """The playhead played from ``from_s`` to ``to_s``, reaching ``to_s`` at ``now``.

        Returns:
            Every entry and exit on the way, in order of position, each timed at the session
            time the playhead crossed it (``now - (to_s - crossing)``); exits before entries
            at the same position. Then the shown set is ``store.at(to_s)``.
        """
        if self.position_s is None or to_s < from_s:
            return self.sync(store, position_s=to_s, now=now)
        changes: list[tuple[float, int, Cue]] = []
        shown = dict(self._active)
        for key, cue in list(shown.items()):
            if cue.end_s <= to_s:
                changes.append((max(from_s, cue.end_s), 0, cue))
                del shown[key]
        for cue in store.starting_in(from_s, to_s):
            changes.append((cue.start_s, 1, cue))
            if cue.end_s <= to_s:
                changes.append((cue.end_s, 0, cue))
            else:
                shown[self._key(cue)] = cue
        changes.sort(key=lambda item: (item[0], item[1]))
        out = [CueChange(kind == 1, cue, now - (to_s - at), at) for at, kind, cue in changes]
        self._active = shown
        self.position_s = to_s
        return out + self.sync(store, position_s=to_s, now=now)

    def sync(self, store: CueStore, *, position_s: float, now: float) -> list[CueChange]:
        """Make the shown set ``store.at(position_s)`` at once (seek, switch, new cues)."""
        wanted = {self._key(c): c for c in store.at(position_s)}
        out: list[CueChange] = []
        for key, cue in list(self._active.items()):
            if key not in wanted:
                out.append(CueChange(False, cue, now, position_s))
                del self._active[key]
        for key, cue in wanted.items():
            if key not in self._active:
                out.append(CueChange(True, cue, now, position_s))
            self._active[key] = cue
        self.position_s = position_s
        return out

    def clear(self, *, now: float, position_s: float) -> list[CueChange]:
        """Leave every shown cue at ``position_s`` (the track was switched off or replaced)."""
        out = [CueChange(False, c, now, position_s) for c in self.active]
        self._active.clear()
        self.position_s = position_s
        return out
