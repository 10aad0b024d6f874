"""Thumbnails from image tracks: the session's adapter (``Player.thumbnail_at``).

``player.manifest`` says where the thumbnail for a time is (``locate_thumbnail``: which image,
which tile); this module does the I/O: it loads an HLS image playlist on first use (with the
player's manifest fetch, so CMCD ``ot=m`` and failover apply), fetches images through the
session's ``RequestPlanner`` (every location of the image in content steering order, with the
transport failing over between them), keeps the last ``ThumbnailConfig.max_cached_images``
images, and shares one download between callers asking for the same image at once.

Image downloads feed neither the ABR estimator nor the steering selector: they are small,
rare and not on the playback path.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from player._clock import Clock
from player._parts import Fetcher
from player._pathways import RequestPlanner
from player._thumbnail_images import crop_pixels, decode_image, probe_image
from player.config import PlayerConfig
from player.errors import ThumbnailImageError, ThumbnailUnavailable, UsageError, redact_url
from player.manifest import (
    Period,
    Presentation,
    Representation,
    Segment,
    StreamFormat,
    ThumbnailSlot,
    TrackType,
    load_media_playlist,
    locate_thumbnail,
    thumbnail_slots,
)
from transport import Response

__all__ = ["Thumbnail", "decode_thumbnail"]

_EPSILON_S = 1e-6


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """One thumbnail: the image (sprite sheet) that holds it and where in it.

    Attributes:
        image: The whole image as fetched (JPEG or PNG bytes); thumbnails of one image share
            the same bytes object.
        crop: The thumbnail's rectangle in the image, ``(x, y, width, height)`` in pixels
            (computed from the image's real size; ``decode_thumbnail`` cuts it out).
        mime_type: ``image/jpeg`` or ``image/png`` (from the image's bytes).
        start_s: When the thumbnail starts, seconds on the presentation timeline.
        duration_s: How long it stands for, seconds.
        url: The image's URL (the location that answered).
        representation_id: The image representation it came from.
        image_size: The image's ``(width, height)`` in pixels, from its header.
        index: The thumbnail's number in the image, 0 at the top left, row by row.
        grid: ``(columns, rows)`` of the image.
    """

    image: bytes = field(repr=False)
    crop: tuple[int, int, int, int]
    mime_type: str
    start_s: float
    duration_s: float
    url: str
    representation_id: str
    image_size: tuple[int, int]
    index: int = 0
    grid: tuple[int, int] = (1, 1)

    @property
    def end_s(self) -> float:
        """When the thumbnail ends, seconds."""
        return self.start_s + self.duration_s


def decode_thumbnail(thumbnail: Thumbnail) -> np.ndarray:
    """Decode a thumbnail's image and cut the thumbnail out of it.

    CPU work (a JPEG decode): from async code call it with ``asyncio.to_thread``.

    Args:
        thumbnail: From ``Player.thumbnail_at``.

    Returns:
        The thumbnail's pixels, a ``(height, width, 3)`` array of ``uint8`` (RGB).

    Raises:
        ThumbnailImageError: The image cannot be decoded, or decodes to another size than
            its header declared.
    """
    pixels = decode_image(thumbnail.image, url=thumbnail.url, position_s=thumbnail.start_s)
    height, width = pixels.shape[:2]
    if (width, height) != thumbnail.image_size:
        raise ThumbnailImageError(
            f"{thumbnail.url}: image decodes to {width}x{height}, its header says "
            f"{thumbnail.image_size[0]}x{thumbnail.image_size[1]}",
            position_s=thumbnail.start_s,
            url=thumbnail.url,
        )
    return crop_pixels(pixels, thumbnail.crop)


class ThumbnailHost(Protocol):
    """What the thumbnail runtime needs of the session."""

    @property
    def presentation(self) -> Presentation:
        """The presentation as the session knows it now (live refreshes included)."""
        ...

    @property
    def planner(self) -> RequestPlanner:
        """The session's request planner."""
        ...

    def wall_now(self) -> float:
        """Session time as UTC epoch seconds."""
        ...


PlaylistFetch = Callable[
    [tuple[str, ...], tuple[str, ...], Mapping[str, str] | None], Awaitable[Response]
]
"""``fetch(urls, edges, headers)``: the player's manifest fetch (CMCD, failover)."""


@dataclass(frozen=True, slots=True)
class _Loaded:
    """An HLS image representation with its playlist loaded."""

    rep: Representation
    fetched_at: float
    target_s: float
    is_live: bool


class ThumbnailRuntime:
    """Thumbnails of one session (see the module docstring).

    Args:
        host: The session.
        config: Player configuration (``thumbnails``, ``manifest``).
        http: The transport client.
        clock: The session clock.
        fetch_playlist: The player's manifest fetch, for HLS image playlists.
    """

    def __init__(
        self,
        host: ThumbnailHost,
        *,
        config: PlayerConfig,
        http: Fetcher,
        clock: Clock,
        fetch_playlist: PlaylistFetch,
    ) -> None:
        self.host = host
        self.config = config
        self.http = http
        self.clock = clock
        self._fetch_playlist = fetch_playlist
        self._loaded: dict[str, _Loaded] = {}
        self._images: OrderedDict[tuple[str, Any], tuple[bytes, str]] = OrderedDict()
        self._inflight: dict[tuple[str, Any], asyncio.Task[tuple[bytes, str]]] = {}
        self.images_fetched = 0
        """Images downloaded (each image once while it stays cached)."""
        self.cache_hits = 0
        """Thumbnails answered from an image already in memory."""

    # -- which representation ------------------------------------------------------------

    def _period_at(self, position_s: float) -> Period:
        periods = self.host.presentation.periods
        for period in reversed(periods):
            if position_s >= period.start_s - _EPSILON_S:
                return period
        return periods[0]

    def image_representations(self, position_s: float = 0.0) -> list[Representation]:
        """The image representations of the period at ``position_s``, best first.

        Best: the highest bandwidth, then the largest thumbnails (HLS ``RESOLUTION``, DASH
        ``@width`` per column).
        """
        period = self._period_at(position_s)
        reps = [r for t in period.tracks_of(TrackType.IMAGE) for r in t.representations]
        return sorted(reps, key=_rank, reverse=True)

    def _choose(self, position_s: float, representation_id: str | None) -> Representation:
        reps = self.image_representations(position_s)
        if not reps:
            raise ThumbnailUnavailable(
                f"no image track in {redact_url(self.host.presentation.url)} at {position_s:.3f} s",
                position_s=position_s,
            )
        if representation_id is None:
            return reps[0]
        for rep in reps:
            if rep.id == representation_id:
                return rep
        raise UsageError(
            f"no image representation {representation_id!r}; have {[r.id for r in reps]}"
        )

    # -- HLS image playlists -------------------------------------------------------------

    async def _with_segments(
        self, rep: Representation, position_s: float, *, reload: bool = False
    ) -> Representation:
        """The representation with segments: an HLS image playlist is loaded on first use."""
        presentation = self.host.presentation
        if presentation.format != StreamFormat.HLS or not rep.playlist_urls:
            return rep
        loaded = self._loaded.get(rep.id)
        if loaded is not None and not reload:
            return loaded.rep
        if rep.segments is not None and loaded is None and not presentation.is_multivariant:
            return rep  # a media playlist given alone
        request = self.host.planner.plan(rep, rep.playlist_urls, is_playlist=True)
        response = await self._fetch_playlist(request.urls, request.edges, request.headers)
        base = presentation if loaded is None else _with_rep(presentation, loaded.rep)
        updated = load_media_playlist(
            base,
            rep.id,
            response.content,
            url=response.url,
            now=self.host.wall_now(),
            config=self.config.manifest,
        )
        found = next(r for r in updated.representations() if r.id == rep.id)
        self._loaded[rep.id] = _Loaded(
            found,
            fetched_at=self.clock.now(),
            target_s=updated.live.target_duration_s or 0.0,
            is_live=updated.is_live,
        )
        return found

    def _is_stale(self, rep_id: str, position_s: float) -> bool:
        """A live image playlist whose segments end before ``position_s``, due a reload."""
        loaded = self._loaded.get(rep_id)
        if loaded is None or not loaded.is_live:
            return False
        segments = loaded.rep.segments or ()
        ends_before = not segments or segments[-1].end_s <= position_s
        return ends_before and self.clock.now() - loaded.fetched_at >= loaded.target_s

    # -- thumbnails ----------------------------------------------------------------------

    async def locate(
        self, position_s: float, representation_id: str | None = None
    ) -> tuple[Representation, ThumbnailSlot]:
        """The image representation and the slot of the thumbnail at ``position_s``."""
        rep = self._choose(position_s, representation_id)
        rep = await self._with_segments(rep, position_s)
        slot = locate_thumbnail(rep, position_s)
        if slot is None and self._is_stale(rep.id, position_s):
            rep = await self._with_segments(rep, position_s, reload=True)
            slot = locate_thumbnail(rep, position_s)
        if slot is None:
            raise ThumbnailUnavailable(
                f"image representation {rep.id!r} has no image at {position_s:.3f} s",
                position_s=position_s,
            )
        return rep, slot

    async def thumbnail_at(
        self, position_s: float, representation_id: str | None = None
    ) -> Thumbnail:
        """The thumbnail shown at ``position_s`` (see ``Player.thumbnail_at``)."""
        rep, slot = await self.locate(position_s, representation_id)
        data, url = await self._image(rep, slot.segment)
        info = probe_image(data)
        if info is None:
            raise ThumbnailImageError(
                f"{url}: not a JPEG or PNG image (starts {data[:8]!r})",
                position_s=position_s,
                url=url,
            )
        if info.width * info.height > self.config.thumbnails.max_image_pixels:
            raise ThumbnailImageError(
                f"{url}: image of {info.width}x{info.height} pixels, more than "
                f"max_image_pixels={self.config.thumbnails.max_image_pixels}",
                position_s=position_s,
                url=url,
            )
        return Thumbnail(
            image=data,
            crop=slot.crop(info.width, info.height),
            mime_type=info.mime_type,
            start_s=slot.start_s,
            duration_s=slot.duration_s,
            url=url,
            representation_id=rep.id,
            image_size=(info.width, info.height),
            index=slot.index,
            grid=(slot.grid.columns, slot.grid.rows),
        )

    def renditions(self, position_s: float = 0.0) -> list[dict[str, Any]]:
        """The image representations at ``position_s``, best first, as JSON (``describe``)."""
        out = []
        for rep in self.image_representations(position_s):
            loaded = self._loaded.get(rep.id)
            shown = loaded.rep if loaded is not None else rep
            out.append(describe(shown, shown.segments))
        return out

    async def slots(
        self, start_s: float, end_s: float, representation_id: str | None, *, limit: int
    ) -> list[ThumbnailSlot]:
        """Every thumbnail shown between ``start_s`` and ``end_s`` (at most ``limit``)."""
        rep = self._choose(start_s, representation_id)
        rep = await self._with_segments(rep, start_s)
        return list(thumbnail_slots(rep, start_s, end_s, limit=limit))

    # -- images --------------------------------------------------------------------------

    async def _image(self, rep: Representation, segment: Segment) -> tuple[bytes, str]:
        """The image of ``segment``: from memory, from a download in flight, or fetched."""
        key = (segment.urls[0], segment.byte_range)
        cached = self._images.get(key)
        if cached is not None:
            self._images.move_to_end(key)
            self.cache_hits += 1
            return cached
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch_image(rep, segment))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        data, url = await asyncio.shield(task)
        self._images[key] = (data, url)
        self._images.move_to_end(key)
        while len(self._images) > self.config.thumbnails.max_cached_images:
            self._images.popitem(last=False)
        return data, url

    async def _fetch_image(self, rep: Representation, segment: Segment) -> tuple[bytes, str]:
        request = self.host.planner.plan(rep, segment.urls)
        span = segment.byte_range
        with self.clock.busy():
            response = await self.http.fetch(
                request.urls,
                headers=request.headers,
                byte_range=None if span is None else (span.first, span.last),
                edges=request.edges,
            )
        self.images_fetched += 1
        data = response.content
        if span is not None and response.status == 200 and len(data) > span.last:
            data = data[span.first : span.last + 1]  # a server that ignores Range
        limit = self.config.thumbnails.max_image_bytes
        if len(data) > limit:
            raise ThumbnailImageError(
                f"{response.url}: image of {len(data)} bytes, more than max_image_bytes={limit}",
                position_s=segment.start_s,
                url=response.url,
            )
        return data, response.url


def _rank(rep: Representation) -> tuple[int, int]:
    width = rep.width or 0
    if rep.tiles is not None and rep.tiles.tile_width is not None:
        width = rep.tiles.tile_width
    return rep.bandwidth_bps, width


def _with_rep(presentation: Presentation, rep: Representation) -> Presentation:
    """``presentation`` with ``rep`` (a loaded copy) in place of the one of the same id."""
    periods: list[Period] = []
    for period in presentation.periods:
        tracks = tuple(
            dataclasses.replace(
                track,
                representations=tuple(rep if r.id == rep.id else r for r in track.representations),
            )
            for track in period.tracks
        )
        periods.append(dataclasses.replace(period, tracks=tracks))
    return dataclasses.replace(presentation, periods=tuple(periods))


def describe(rep: Representation, segments: Sequence[Segment] | None = None) -> dict[str, Any]:
    """An image representation as JSON: id, bandwidth, size and grid (if uniform)."""
    grid = rep.tiles
    if grid is None and segments:
        grids = {s.tiles for s in segments if s.tiles is not None}
        grid = grids.pop() if len(grids) == 1 else None
    return {
        "id": rep.id,
        "bandwidth_bps": rep.bandwidth_bps,
        "width": rep.width,
        "height": rep.height,
        "mime_type": rep.mime_type,
        "codecs": rep.codecs,
        "grid": None if grid is None else [grid.columns, grid.rows],
        "tile_size": None
        if grid is None or grid.tile_width is None
        else [grid.tile_width, grid.tile_height],
        "image_duration_s": None if grid is None else grid.image_duration_s,
    }
