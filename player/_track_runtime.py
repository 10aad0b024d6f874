"""One playing track inside a session: its ladder, buffer, init cache and decoder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from abr import Rung
from player._buffer import TrackBuffer
from player._decode import TrackDecoder
from player._pipeline import DecodeTally
from player._tracks import TrackNeed, rungs_of, segment_at
from player.manifest import Representation, Segment, Track

__all__: list[str] = []


@dataclass(slots=True)
class TrackRuntime:
    """Mutable per-track state of a session.

    Attributes:
        kind: ``video``, ``audio`` or ``text``.
        track: The model's track in the current period.
        ladder: Representations the session may choose from (one for audio/text).
        current: Index into ``ladder`` of the rendition in use, ``None`` before the first.
        buffer: Buffered segments.
        inits: Clear init segment per representation id, fetched once.
        raw_inits: Downloaded (possibly encrypted) init per representation id.
        decoder: Decoder, when decoding is on.
        tally: Decode figures.
        last_edge: Edge the previous segment came from.
        excluded: Ladder indices that failed on every edge.
        needs_reset: The decoder must forget continuity before the next segment.
        last_discontinuity: Discontinuity sequence of the last segment fetched.
        next_memo: The last ``next_segment`` answer: the segment index it searched, the
            buffered end it searched from, the segment found (the loop asks the same
            question several times a turn; the index objects are immutable).
    """

    kind: str
    track: Track
    ladder: tuple[Representation, ...]
    current: int | None = None
    buffer: TrackBuffer = field(default_factory=TrackBuffer)
    inits: dict[str, bytes] = field(default_factory=dict)
    raw_inits: dict[str, bytes] = field(default_factory=dict)
    decoder: TrackDecoder | None = None
    tally: DecodeTally = field(default_factory=DecodeTally)
    last_edge: str | None = None
    excluded: set[int] = field(default_factory=set)
    needs_reset: bool = False
    last_discontinuity: int | None = None
    next_memo: tuple[Sequence[Segment], float, Segment | None] | None = field(
        default=None, repr=False
    )

    @property
    def rungs(self) -> tuple[Rung, ...]:
        """The ladder as abr rungs."""
        return rungs_of(self.ladder)

    def representation(self, index: int | None = None) -> Representation:
        """The representation at ``index`` (default: current, else the lowest usable)."""
        return self.ladder[self.index_or_current(index)]

    def index_or_current(self, index: int | None = None) -> int:
        """``index``, else the current rung, else the lowest rung not excluded."""
        if index is not None:
            return index
        if self.current is not None:
            return self.current
        return next((i for i in range(len(self.ladder)) if i not in self.excluded), 0)

    def is_index_pending(self, index: int | None = None) -> bool:
        """The rung's segments wait for its DASH segment index (``sidx``) to be fetched."""
        rep = self.representation(index)
        return rep.segments is None and rep.index is not None

    def replace_ladder(self, ladder: tuple[Representation, ...]) -> None:
        """Swap in refreshed representations (live update, media playlist loaded), by id.

        A representation whose segment index was loaded keeps its segments when the new
        one is the same index still unloaded.
        """
        by_id = {rep.id: rep for rep in ladder}

        def pick(old: Representation) -> Representation:
            new = by_id.get(old.id, old)
            if new.segments is None and old.segments is not None and new.index == old.index:
                return old
            return new

        self.ladder = tuple(pick(rep) for rep in self.ladder)

    def drop(self, ids: set[str]) -> None:
        """Take representations out of the ladder; ``current`` and ``excluded`` follow by id.

        When the current one goes, ``current`` moves to the highest rendition left at or
        below its bandwidth (else the lowest).
        """
        old = self.ladder
        current = old[self.current] if self.current is not None else None
        excluded = {old[i].id for i in self.excluded}
        self.ladder = tuple(rep for rep in old if rep.id not in ids)
        self.excluded = {i for i, rep in enumerate(self.ladder) if rep.id in excluded}
        if current is None or not self.ladder:
            self.current = None
            return
        kept = [rep.id for rep in self.ladder]
        if current.id in kept:
            self.current = kept.index(current.id)
            return
        lower = [
            i for i, rep in enumerate(self.ladder) if rep.bandwidth_bps <= current.bandwidth_bps
        ]
        self.current = lower[-1] if lower else 0

    def next_segment(self, position_s: float) -> Segment | None:
        """The next segment to fetch for the current (or lowest) representation."""
        if not self.ladder:
            return None
        segments = self.representation().segments
        if segments is None:
            return None
        end = self.buffer.buffered_end(position_s)
        memo = self.next_memo
        if memo is not None and memo[0] is segments and memo[1] == end:
            return memo[2]
        found = segment_at(segments, end)
        self.next_memo = (segments, end, found)
        return found

    def need(self, position_s: float) -> TrackNeed:
        """This track's buffer as the scheduler sees it."""
        return TrackNeed(
            kind=self.kind,
            buffered_end_s=self.buffer.buffered_end(position_s),
            is_exhausted=self.next_segment(position_s) is None
            and not (self.ladder and self.is_index_pending()),
        )
