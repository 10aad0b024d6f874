"""DASH segment indexes (``sidx``) fetched for the representations ABR actually uses.

A ``SegmentBase`` representation (the DASH on-demand profile: one file per
representation) has no segments until its index is read. The downloader asks
``IndexLoader.ensure`` before it first needs a rung's segments (at start, and before
switching to a rung not used yet), so only the rungs played cost an index request. The
initialisation range and the index range are fetched in one request when they are
adjacent (the usual layout: ``ftyp moov sidx moof mdat ...``); a hierarchical index
costs one more request per referenced ``sidx`` box (``SegmentIndexBuilder``).
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from player._track_runtime import TrackRuntime
from player.config import ManifestConfig
from player.manifest import (
    ByteRange,
    InitSegment,
    Presentation,
    Representation,
    SegmentIndexBuilder,
    SegmentIndexRef,
    Track,
)

__all__: list[str] = []

INDEX_NUMBER = -2
"""``SegmentDownloaded.number`` of a download of segment index bytes alone."""
INIT_NUMBER = -1
"""``SegmentDownloaded.number`` of an init segment (also with the index in one request)."""


class RangeFetch(Protocol):
    """Fetches a byte range of a representation's resource (the downloader does it)."""

    async def __call__(
        self,
        track: TrackRuntime,
        rep: Representation,
        urls: tuple[str, ...],
        byte_range: ByteRange,
        *,
        number: int,
    ) -> bytes:
        """Return exactly the bytes of ``byte_range``; ``number`` labels the download event."""
        ...


class IndexLoader:
    """Loads segment indexes on first use and keeps init bytes fetched along with them.

    Args:
        fetch: Fetches a byte range (with failover, range checks, events).
        config: Bounds for the index (``ManifestConfig``).
    """

    def __init__(self, fetch: RangeFetch, *, config: ManifestConfig) -> None:
        self._fetch = fetch
        self._config = config
        self._inits: dict[tuple[str, ByteRange | None], bytes] = {}

    def take_init(self, init: InitSegment) -> bytes | None:
        """Init bytes fetched with an index, once (``None`` when they must be fetched)."""
        return self._inits.pop((init.url, init.byte_range), None)

    async def ensure(self, track: TrackRuntime, index: int, *, manifest_url: str) -> None:
        """Make sure rung ``index`` of ``track`` has its segments (fetch its index if needed).

        Args:
            track: The track whose ladder holds the rung; the loaded representation
                replaces it there.
            index: The rung.
            manifest_url: Named in errors.

        Raises:
            ManifestParseError: The index is not a usable ``sidx`` or exceeds the bounds.
            TransportError: The index could not be fetched (``AllEdgesFailed`` after
                failover, as for any segment).
            RangeResponseError: The server's answer is not the range asked for.
        """
        rep = track.ladder[index]
        ref = rep.index
        if rep.segments is not None or ref is None:
            return
        builder = SegmentIndexBuilder(rep, url=manifest_url, config=self._config)
        builder.on_data(ref.byte_range.first, await self._first_fetch(track, rep, ref))
        while (need := builder.next_fetch()) is not None:
            data = await self._fetch(track, rep, ref.urls, need, number=INDEX_NUMBER)
            builder.on_data(need.first, data)
        track.replace_ladder((builder.build(),))

    async def _first_fetch(
        self, track: TrackRuntime, rep: Representation, ref: SegmentIndexRef
    ) -> bytes:
        """The index range's bytes, fetched together with the init range when adjacent."""
        init = ref.init
        index = ref.byte_range
        joined = _joined(init, ref)
        if init is None or init.byte_range is None or joined is None:
            return await self._fetch(track, rep, ref.urls, index, number=INDEX_NUMBER)
        data = await self._fetch(track, rep, ref.urls, joined, number=INIT_NUMBER)
        init_range = init.byte_range
        start = init_range.first - joined.first
        self._inits[(init.url, init_range)] = data[start : start + init_range.length]
        start = index.first - joined.first
        return data[start : start + index.length]


def _joined(init: InitSegment | None, ref: SegmentIndexRef) -> ByteRange | None:
    """One range covering init and index when they are adjacent in the same resource."""
    if init is None or init.byte_range is None or init.urls != ref.urls:
        return None
    a, b = sorted((init.byte_range, ref.byte_range), key=lambda r: r.first)
    if a.last + 1 != b.first:
        return None
    return ByteRange(a.first, b.last)


def with_loaded_index(presentation: Presentation, rep: Representation) -> Presentation:
    """``presentation`` with ``rep`` (its index loaded) in place of the representation it was.

    The one replaced has the same id and index reference and no segments yet; everything
    else is kept (the same objects), so ``Player.presentation`` shows each loaded index.
    """

    def track_of(track: Track) -> Track:
        reps = tuple(
            rep if old.id == rep.id and old.index == rep.index and old.segments is None else old
            for old in track.representations
        )
        changed = any(a is not b for a, b in zip(reps, track.representations, strict=True))
        return dataclasses.replace(track, representations=reps) if changed else track

    periods = []
    for period in presentation.periods:
        tracks = tuple(track_of(t) for t in period.tracks)
        changed = any(a is not b for a, b in zip(tracks, period.tracks, strict=True))
        periods.append(dataclasses.replace(period, tracks=tracks) if changed else period)
    return dataclasses.replace(presentation, periods=tuple(periods))
