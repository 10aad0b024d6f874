"""Media requests: the one place the session turns a resource into locations, keys and headers.

``RequestPlanner.plan`` takes a resource as the manifest gives it (a segment's, init's or
index's URLs, or an HLS media playlist's) and returns a ``MediaRequest``: every location to
try, in order, with the health key the transport keeps failures under and the content
steering pathway each belongs to, plus the request headers. Pathways come first, in the
order ``PathwaySelector.select`` gives (steering priority, penalised last); then locations
that belong to no pathway (DASH ``BaseURL``s without ``serviceLocation``), then the
configured alternate origins. Whatever is later added to every media request (CMCD query
keys or headers) is added here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from player.config import PlayerConfig
from player.manifest import Location, Presentation, Representation, StreamFormat
from player.steering import (
    PathwaySelector,
    SteeringOrigin,
    UriReplacement,
    apply_uri_replacement,
    pathway_key,
)
from transport import HealthTracker, with_alternates

__all__: list[str] = []

_HLS_DEFAULT_PATHWAY = "."
"""The pathway of an HLS variant without ``PATHWAY-ID`` (RFC 8216bis section 4.4.6.2)."""


@dataclass(frozen=True, slots=True)
class MediaRequest:
    """One request as the transport gets it.

    Attributes:
        urls: Locations in the order to try them.
        edges: Health key of each location (``pathway:<id>`` or the URL's origin).
        pathways: Pathway of each location, ``None`` for one in no pathway.
        headers: Extra request headers, if any.
    """

    urls: tuple[str, ...]
    edges: tuple[str, ...]
    pathways: tuple[str | None, ...]
    headers: Mapping[str, str] | None = None

    @property
    def planned(self) -> str | None:
        """The pathway the request is meant for (its first location's)."""
        return self.pathways[0] if self.pathways else None

    def pathway_of(self, url: str) -> str | None:
        """The pathway of the location ``url`` (the one that answered), if any."""
        for candidate, pathway in zip(self.urls, self.pathways, strict=True):
            if candidate == url:
                return pathway
        return None

    def edge_of(self, origin: str) -> str:
        """The health key of the first location at ``origin`` (that origin if none)."""
        for url, edge in zip(self.urls, self.edges, strict=True):
            if _origin(url) == origin:
                return edge
        return origin


class PlannerHost(Protocol):
    """What the planner needs of the session."""

    @property
    def config(self) -> PlayerConfig:
        """Player configuration."""
        ...

    @property
    def format(self) -> StreamFormat:
        """The presentation's manifest format."""
        ...

    @property
    def selector(self) -> PathwaySelector | None:
        """The pathway selector, ``None`` when no location names a pathway."""
        ...

    def now(self) -> float:
        """Session clock, monotonic seconds."""
        ...


class RequestPlanner:
    """Builds every media request of a session (see the module docstring).

    Args:
        host: The session.
    """

    def __init__(self, host: PlannerHost) -> None:
        self.host = host

    def plan(
        self, rep: Representation | None, urls: tuple[str, ...], *, is_playlist: bool = False
    ) -> MediaRequest:
        """The locations, keys and headers of one media request.

        Args:
            rep: The representation the resource belongs to (its ``locations`` name the
                pathways), or ``None``.
            urls: The resource's URLs as the manifest gives them.
            is_playlist: ``urls`` are the representation's HLS media playlist URLs.

        Returns:
            The request to hand to the transport.
        """
        by_pathway, loose = self._by_pathway(rep, urls, is_playlist=is_playlist)
        out: list[tuple[str, str, str | None]] = []
        selector = self.host.selector
        if selector is not None and by_pathway:
            self._add_clones(selector, by_pathway, is_playlist=is_playlist)
            for pathway in selector.select(self.host.now()):
                for url in by_pathway.get(pathway, ()):
                    out.append((url, pathway_key(pathway), pathway))
        else:
            loose = [url for group in by_pathway.values() for url in group] + loose
        out.extend((url, _origin(url), None) for url in loose)
        seen = {url for url, _, _ in out}
        base = [u for u, _, _ in out] or list(urls)
        origins = self.host.config.playback.alternate_origins
        for url in with_alternates(base, origins)[len(base) :]:
            if url not in seen:
                seen.add(url)
                out.append((url, _origin(url), None))
        return MediaRequest(
            urls=tuple(u for u, _, _ in out),
            edges=tuple(e for _, e, _ in out),
            pathways=tuple(p for _, _, p in out),
        )

    # -- pathways of a resource ----------------------------------------------------------

    def _pathway_of(self, location: Location) -> str | None:
        if location.service_location is not None:
            return location.service_location
        return _HLS_DEFAULT_PATHWAY if self.host.format == StreamFormat.HLS else None

    def _by_pathway(
        self, rep: Representation | None, urls: tuple[str, ...], *, is_playlist: bool
    ) -> tuple[dict[str, list[str]], list[str]]:
        """The resource's URLs per pathway (manifest order), and those in no pathway."""
        by_pathway: dict[str, list[str]] = {}
        loose: list[str] = []
        if (
            rep is None
            or not rep.locations
            or not any(loc.service_location is not None for loc in rep.locations)
        ):
            return by_pathway, list(urls)
        if is_playlist or (
            self.host.format == StreamFormat.DASH and len(urls) == len(rep.locations)
        ):
            pairs = list(zip(rep.locations, urls, strict=False))
        else:
            pairs = _rerooted(rep.locations, urls)
            if not pairs:
                return by_pathway, list(urls)
        for location, url in pairs:
            pathway = self._pathway_of(location)
            if pathway is None:
                loose.append(url)
            else:
                by_pathway.setdefault(pathway, []).append(url)
        return by_pathway, loose

    def _add_clones(
        self, selector: PathwaySelector, by_pathway: dict[str, list[str]], *, is_playlist: bool
    ) -> None:
        """Add each current clone's URLs, made from its base pathway's (URI replacement)."""
        for clone_id in selector.clones:
            base, chain = selector.clone_base(clone_id)
            if clone_id in by_pathway or base not in by_pathway:
                continue
            urls = by_pathway[base]
            segment_of_hls = self.host.format == StreamFormat.HLS and not is_playlist
            for clone in chain:
                replacement = clone.replacement
                if segment_of_hls:
                    # HLS replaces media playlist URIs; a segment resolves against the cloned
                    # playlist: it takes the new host, not the playlist's query (RFC 8216bis
                    # section 7.3).
                    replacement = UriReplacement(host=replacement.host)
                urls = [apply_uri_replacement(u, replacement) for u in urls]
            by_pathway[clone_id] = urls


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _directory(url: str) -> str:
    """``url`` up to and including the last ``/`` of its path."""
    parts = urlsplit(url)
    path = parts.path[: parts.path.rfind("/") + 1] or "/"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _rerooted(locations: tuple[Location, ...], urls: tuple[str, ...]) -> list[tuple[Location, str]]:
    """An HLS segment's URL at each location, re-rooted from the playlist it came from.

    A segment listed relative to its media playlist sits at the same relative path under
    each redundant copy of that playlist. Segments at absolute URLs outside the playlist's
    directory cannot be moved: then only the URL as listed is returned (empty list).
    """
    if len(urls) != 1:
        return []
    url = urls[0]
    loaded = next((loc for loc in locations if url.startswith(_directory(loc.url))), None)
    if loaded is None:
        return []
    relative = url[len(_directory(loaded.url)) :]
    return [(loc, _directory(loc.url) + relative) for loc in locations]


def build_selector(
    presentation: Presentation, config: PlayerConfig, *, health: HealthTracker, now: float
) -> PathwaySelector | None:
    """The pathway selector of a presentation, ``None`` when no location names a pathway.

    Args:
        presentation: The parsed presentation.
        config: Player configuration (its ``steering`` section).
        health: The health tracker the transport fails over with (shared, see
            ``PathwaySelector``).
        now: Monotonic seconds.

    Returns:
        A selector over the pathways the locations name (HLS variants without
        ``PATHWAY-ID`` are pathway ``.``), with the manifest's steering server, if any.
    """
    is_hls = presentation.format == StreamFormat.HLS
    named: list[str] = []
    for rep in presentation.representations():
        if not any(loc.service_location is not None for loc in rep.locations):
            continue
        for loc in rep.locations:
            pathway = loc.service_location or (_HLS_DEFAULT_PATHWAY if is_hls else None)
            if pathway is not None and pathway not in named:
                named.append(pathway)
    steering = presentation.steering
    if not named:
        return None
    defaults: tuple[str, ...] = ()
    if steering is not None and steering.default_pathway:
        defaults = tuple(steering.default_pathway.replace(",", " ").split())
    origin = SteeringOrigin(
        server_url=steering.server_url if steering is not None else None,
        default_pathways=defaults,
        is_dash=not is_hls,
        query_before_start=steering is not None and steering.query_before_start,
        proxy_url=steering.proxy_server_url if steering is not None else None,
    )
    return PathwaySelector(config.steering, origin, pathways=named, health=health, now=now)
