"""How a download fetches: the session's request planning, range checks and index loading.

The downloader asks the transport for resources exactly as a playback session does: every
request's locations, health keys and headers come from a ``RequestPlanner`` (pathways,
``BaseURL``s, alternate origins; failover and retries are the transport's), every ranged
answer passes a ``RangeGuard`` (a ``206`` must be the bytes asked for; a server that ignores
``Range`` has its whole file cut from memory), and DASH ``SegmentBase`` indexes are read by
the session's ``IndexLoader`` (init and ``sidx`` in one request when adjacent).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from player._pathways import RequestPlanner, build_selector
from player._ranges import RangeGuard, check_ranged, from_memory
from player._segment_index import IndexLoader
from player._track_runtime import TrackRuntime
from player.config import PlayerConfig
from player.manifest import (
    ByteRange,
    Presentation,
    Representation,
    StreamFormat,
    load_media_playlist,
    parse_manifest,
)
from player.offline._plan import Chosen
from player.steering import PathwaySelector
from transport import HttpClient, Response, with_alternates

__all__: list[str] = []


class _Host:
    """What the request planner needs of its user (``PlannerHost``)."""

    def __init__(
        self, config: PlayerConfig, presentation: Presentation, selector: PathwaySelector | None
    ) -> None:
        self._config = config
        self._format = presentation.format
        self._selector = selector

    @property
    def config(self) -> PlayerConfig:
        return self._config

    @property
    def format(self) -> StreamFormat:
        return self._format

    @property
    def selector(self) -> PathwaySelector | None:
        return self._selector

    def now(self) -> float:
        return time.monotonic()


async def fetch_presentation(
    http: HttpClient, url: str, config: PlayerConfig, *, wall: Callable[[], float]
) -> tuple[Presentation, int]:
    """Fetch and parse the manifest (the configured alternate origins serve it too).

    Returns:
        The presentation, and the bytes received.

    Raises:
        ManifestError: Malformed or unsupported.
        TransportError: It could not be fetched.
    """
    locations = with_alternates((url,), config.playback.alternate_origins)
    response = await http.fetch(locations)
    base = url if response.url in locations else response.url
    parsed = parse_manifest(response.content, url=base, now=wall(), config=config.manifest)
    return parsed, response.sample.nbytes


class Fetching:
    """The requests of one download: planned, failed over, range-checked, counted.

    Args:
        http: The transport client.
        config: Player configuration.
        presentation: The source presentation (its locations and pathways).
    """

    def __init__(self, http: HttpClient, config: PlayerConfig, presentation: Presentation) -> None:
        self._http = http
        self._config = config
        selector = build_selector(
            presentation, config, health=http.policy.health, now=time.monotonic()
        )
        self.planner = RequestPlanner(_Host(config, presentation, selector))
        self.ranges = RangeGuard(cache_bytes=config.playback.whole_file_cache_bytes)
        self.indexes = IndexLoader(self.fetch_range, config=config.manifest)
        self.bytes_fetched = 0
        """Bytes received over the network so far (ranges cut from memory count 0)."""

    async def fetch(
        self, rep: Representation | None, urls: tuple[str, ...], byte_range: ByteRange | None
    ) -> bytes:
        """Exactly the bytes of a resource (or of its range), with failover.

        Raises:
            TransportError: Every location failed.
            RangeResponseError: An answer is not the range asked for.
        """
        request = self.planner.plan(rep, urls)
        span = None if byte_range is None else (byte_range.first, byte_range.last)
        if span is not None:
            whole = self.ranges.lookup(request.urls)
            if whole is not None:
                return from_memory(whole, self.ranges.cut(whole, span)).content
        response: Response = await self._http.fetch(
            request.urls, byte_range=span, edges=request.edges, headers=request.headers
        )
        self.bytes_fetched += response.sample.nbytes
        if span is not None:
            response, _ = check_ranged(
                self.ranges, request.urls, response, span, now=time.monotonic()
            )
        return response.content

    async def fetch_range(
        self,
        track: TrackRuntime,
        rep: Representation,
        urls: tuple[str, ...],
        byte_range: ByteRange,
        *,
        number: int,
    ) -> bytes:
        """The ``RangeFetch`` role of ``IndexLoader`` (``track`` and ``number`` unused)."""
        del track, number
        return await self.fetch(rep, urls, byte_range)

    async def load_segments(
        self, presentation: Presentation, chosen: tuple[Chosen, ...], *, now: float
    ) -> tuple[Presentation, tuple[Chosen, ...], dict[tuple[str, ByteRange | None], bytes]]:
        """Give every chosen rendition its segments: HLS media playlists, DASH indexes.

        Returns:
            The presentation with the playlists merged in, the renditions with segments,
            and init bytes fetched along with an index (by URL and range).
        """
        for item in chosen:
            rep = item.representation
            if rep.segments is None and rep.playlist_urls:
                request = self.planner.plan(rep, rep.playlist_urls, is_playlist=True)
                response = await self._http.fetch(
                    request.urls, edges=request.edges, headers=request.headers
                )
                self.bytes_fetched += response.sample.nbytes
                presentation = load_media_playlist(
                    presentation,
                    rep.id,
                    response.content,
                    url=response.url,
                    now=now,
                    config=self._config.manifest,
                )
        out: list[Chosen] = []
        prefetched: dict[tuple[str, ByteRange | None], bytes] = {}
        for item in chosen:
            rep = _reloaded(presentation, item)
            ref = rep.index
            if rep.segments is None and ref is not None:
                runtime = TrackRuntime(item.kind, item.track, (rep,))
                await self.indexes.ensure(runtime, 0, manifest_url=presentation.url)
                rep = runtime.ladder[0]
                init = rep.init if rep.init is not None else ref.init
                if init is not None:
                    data = self.indexes.take_init(init)
                    if data is not None:
                        prefetched[(init.url, init.byte_range)] = data
            out.append(Chosen(item.period_index, item.kind, item.track, rep))
        return presentation, tuple(out), prefetched


def _reloaded(presentation: Presentation, item: Chosen) -> Representation:
    period = presentation.periods[item.period_index]
    for rep in period.representations():
        if rep.id == item.representation.id:
            return rep
    return item.representation
