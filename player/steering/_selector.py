"""``PathwaySelector``: which content steering pathway media requests use (sans-I/O).

The session owns one per presentation with pathways. It feeds the selector steering
manifests (``on_manifest``), failed steering requests (``on_reload_failure``), failed and
successful media transfers (``on_failure`` / ``on_served``), and asks it two things: the
order in which to try the pathways for the next request (``select``), and the next steering
request (``next_request_at`` / ``build_request_url``). Time is always a parameter.

Penalties are not kept here but in a ``transport.HealthTracker`` keyed by
``pathway_key(id)``: the very tracker the transport's retry policy uses when it fails over
inside one request, so a pathway, a DASH ``BaseURL``, an HLS redundant variant and an
alternate origin are excluded, probed and re-admitted by one mechanism (the circuit
breaker: an exclusion window after a failure, one probe when it ends, a doubled window when
the probe fails). See docs/steering.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from player.config import SteeringConfig
from player.events import PathwayChangeReason
from player.steering._manifest import PathwayClone, SteeringManifest
from transport import HealthTracker

__all__ = ["PathwayChange", "PathwaySelector", "SteeringOrigin", "pathway_key"]

_GONE = 410
_TOO_MANY = 429


def pathway_key(pathway: str) -> str:
    """The health key of a pathway (what the transport's ``edges`` are given).

    Distinct from origin keys (``scheme://host:port``), so a pathway's health is its own
    even when two pathways share a host.

    >>> pathway_key("CDN-A")
    'pathway:CDN-A'
    """
    return f"pathway:{pathway}"


@dataclass(frozen=True, kw_only=True, slots=True)
class SteeringOrigin:
    """Where steering comes from, as the manifest declares it.

    Attributes:
        server_url: The steering server's URL (HLS ``SERVER-URI``, DASH ``ContentSteering``
            text), resolved; ``None`` when there is none (pathways without steering).
        default_pathways: HLS ``PATHWAY-ID`` / DASH ``defaultServiceLocation`` (which may
            list several): what to use until the first steering manifest arrives.
        is_dash: DASH rules (``_DASH_*`` parameters, ``queryBeforeStart``, proxy).
        query_before_start: DASH ``queryBeforeStart``: the first request goes out before
            the first segment, and without steering parameters.
        proxy_url: DASH ``proxyServerURL``: steering requests go there, the steering URL
            (with its parameters) in the ``url`` query parameter.
    """

    server_url: str | None
    default_pathways: tuple[str, ...] = ()
    is_dash: bool = False
    query_before_start: bool = False
    proxy_url: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PathwayChange:
    """Media requests moved from one pathway to another.

    Attributes:
        from_pathway: The pathway used before (``None`` for the first request).
        to_pathway: The pathway that served the latest request.
        reason: Why.
    """

    from_pathway: str | None
    to_pathway: str
    reason: PathwayChangeReason


class PathwaySelector:
    """Pathway priority, clones, penalties (through ``health``) and steering requests.

    Args:
        config: Steering settings.
        origin: Where steering comes from.
        pathways: The pathway ids the manifest's locations name, in manifest order.
        health: The health tracker shared with the transport (penalties live there).
        now: Monotonic seconds at creation.

    >>> from transport import HealthTracker, RetryConfig
    >>> sel = PathwaySelector(SteeringConfig(), SteeringOrigin(server_url=None,
    ...     default_pathways=("B",)), pathways=("A", "B"),
    ...     health=HealthTracker(RetryConfig(exclusion_s=30.0)), now=0.0)
    >>> sel.select(0.0)
    ('B', 'A')
    >>> sel.on_failure("B", 1.0)
    >>> sel.select(2.0), sel.select(31.5)
    (('A', 'B'), ('B', 'A'))
    """

    def __init__(
        self,
        config: SteeringConfig,
        origin: SteeringOrigin,
        *,
        pathways: Sequence[str],
        health: HealthTracker,
        now: float,
    ) -> None:
        self._config = config
        self.origin = origin
        self.health = health
        self._known = tuple(dict.fromkeys(pathways))
        defaults = tuple(p for p in origin.default_pathways if p in self._known)
        self.priority: tuple[str, ...] = defaults + tuple(
            p for p in self._known if p not in defaults
        )
        """The steering priority in force (the fallback order before any manifest)."""
        self.clones: dict[str, PathwayClone] = {}
        """Clones of the current steering manifest, by clone id."""
        self.current: str | None = None
        """The pathway that served the latest media request."""
        self.ttl_s = config.default_ttl_s
        self.manifests = 0
        """Steering manifests applied so far."""
        self._reload_url = origin.server_url
        self._next_at: float | None = None
        if origin.server_url is not None and config.is_enabled:
            starts_now = not origin.is_dash or origin.query_before_start
            self._next_at = now if starts_now else None
        self._failures = 0
        self._requests = 0
        self._penalised: set[str] = set()
        self._throughput: dict[str, float] = {}
        self._reported: list[str] = []

    # -- the pathways --------------------------------------------------------------------

    @property
    def pathways(self) -> tuple[str, ...]:
        """Every pathway that can be used: the manifest's, then the current clones."""
        return self._known + tuple(c for c in self.clones if c not in self._known)

    def clone_base(self, pathway: str) -> tuple[str, list[PathwayClone]]:
        """The manifest pathway a clone derives from, and the clones applied to reach it.

        Args:
            pathway: A pathway id.

        Returns:
            ``(base, chain)``: ``base`` is a pathway of the manifest; apply the clones'
            replacements in ``chain`` order to ``base``'s URLs. ``chain`` is empty for a
            manifest pathway.
        """
        chain: list[PathwayClone] = []
        while pathway in self.clones and pathway not in self._known:
            clone = self.clones[pathway]
            chain.insert(0, clone)
            pathway = clone.base_id
        return pathway, chain

    def select(self, now: float) -> tuple[str, ...]:
        """The order in which the next media request tries the pathways.

        The steering priority's pathways that are not penalised, in its order; then the
        other known pathways (not listed by the server: a last resort that keeps playback
        going); then the penalised ones, the soonest to be re-admitted first. A pathway whose
        penalty has ended comes back in its place: the next request is its probe.

        Args:
            now: Monotonic seconds.

        Returns:
            Pathway ids. The caller builds the request's locations in this order, asks the
            transport for them with ``edges`` from ``pathway_key``, and reports the outcome
            with ``on_served`` (and ``on_failure`` for failures the transport did not see).
        """
        listed = [p for p in self.priority if p in self.pathways]
        ordered = listed + [p for p in self.pathways if p not in listed]
        open_, penalised = [], []
        for pathway in ordered:
            if self.health.is_available(pathway_key(pathway), now):
                open_.append(pathway)
            else:
                penalised.append(pathway)
                self._penalised.add(pathway)
        penalised.sort(key=lambda p: self.health.get(pathway_key(p)).excluded_until or 0.0)
        return tuple(open_ + penalised)

    def on_failure(self, pathway: str, now: float) -> None:
        """A request on ``pathway`` failed where the transport could not record it.

        Penalises the pathway through the shared health tracker (an exclusion window, longer
        each time its probe fails). Nothing for the caller to do: the next ``select`` puts
        the pathway last.

        Args:
            pathway: The pathway id.
            now: Monotonic seconds.
        """
        self.health.on_failure(pathway_key(pathway), now)
        self._penalised.add(pathway)

    def on_served(
        self, pathway: str, now: float, *, planned: str, nbytes: int, duration_s: float
    ) -> PathwayChange | None:
        """A media request was served from ``pathway``.

        Args:
            pathway: The pathway that answered.
            now: Monotonic seconds.
            planned: The first pathway ``select`` gave for the request.
            nbytes: Body bytes (for the throughput reported to the steering server).
            duration_s: Transfer time, seconds.

        Returns:
            The change to report as ``PathwayChanged``, or ``None`` when the pathway stayed.
        """
        if nbytes > 0 and duration_s > 0:
            sample = nbytes * 8 / duration_s
            old = self._throughput.get(pathway)
            weight = self._config.throughput_weight
            self._throughput[pathway] = sample if old is None else old + weight * (sample - old)
        if pathway not in self._reported:
            self._reported.append(pathway)
        previous = self.current
        self.current = pathway
        was_penalised = pathway in self._penalised
        self._penalised.discard(pathway)
        if previous == pathway:
            return None
        if previous is None:
            reason = PathwayChangeReason.INITIAL
        elif pathway != planned or previous in self._penalised:
            reason = PathwayChangeReason.FAILURE
        elif was_penalised:
            reason = PathwayChangeReason.RECOVERED
        else:
            reason = PathwayChangeReason.STEERING
        del now
        return PathwayChange(from_pathway=previous, to_pathway=pathway, reason=reason)

    def throughput_bps(self, pathway: str) -> float | None:
        """The average throughput measured on ``pathway``, if any transfer was measured."""
        return self._throughput.get(pathway)

    # -- steering requests ---------------------------------------------------------------

    def on_playback_started(self, now: float) -> None:
        """Playback started: DASH without ``queryBeforeStart`` sends its first request now.

        Args:
            now: Monotonic seconds.
        """
        if self._next_at is None and self._requests == 0 and self._can_request():
            self._next_at = now

    def _can_request(self) -> bool:
        return self._config.is_enabled and self._reload_url is not None

    def next_request_at(self) -> float | None:
        """When the next steering request is due (monotonic s), ``None`` if none will be."""
        return self._next_at if self._can_request() else None

    def build_request_url(self, now: float) -> str:
        """The URL of the steering request due now, with the reporting parameters.

        HLS (RFC 8216bis section 7.4): ``_HLS_pathway="<current>"`` and
        ``_HLS_throughput=<bit/s>``. DASH (ETSI TS 103 998 clause 7): ``_DASH_pathway``
        and ``_DASH_throughput`` list every pathway used since the previous request; the
        first request of a ``queryBeforeStart`` presentation carries neither. Through a DASH
        ``proxyServerURL`` the whole steering URL travels in the ``url`` parameter.

        Args:
            now: Monotonic seconds.

        Returns:
            The absolute URL to GET. The caller fetches it, then calls ``on_manifest`` with
            the parsed body or ``on_reload_failure``.
        """
        del now
        url = self._reload_url or ""
        params = self._report_params()
        if params:
            url = _with_params(url, params)
        if self.origin.is_dash and self.origin.proxy_url is not None:
            url = _with_params(self.origin.proxy_url, [("url", quote(url, safe=""))])
        self._requests += 1
        self._reported = [self.current] if self.current is not None else []
        return url

    def _report_params(self) -> list[tuple[str, str]]:
        if self.origin.is_dash:
            if self._requests == 0 and self.origin.query_before_start:
                return []
            listed = self._reported or ([self.current] if self.current else [])
            if not listed:
                return []
            rates = [self._throughput.get(p) for p in listed]
            params = [("_DASH_pathway", quote(f'"{",".join(listed)}"', safe=","))]
            if any(r is not None for r in rates):
                text = ",".join("" if r is None else str(round(r)) for r in rates)
                params.append(("_DASH_throughput", text))
            return params
        if self.current is None:
            return []
        params = [("_HLS_pathway", quote(f'"{self.current}"'))]
        rate = self._throughput.get(self.current)
        if rate is not None:
            params.append(("_HLS_throughput", str(round(rate))))
        return params

    def on_manifest(self, manifest: SteeringManifest, now: float) -> None:
        """Apply a steering manifest: priority, clones, next request after ``TTL``.

        A clone is kept when its ``BASE-ID`` is a known pathway or an earlier clone and its
        ``ID`` is new; only the current manifest's clones exist. The next ``select`` follows
        the new priority, so the switch happens at the next segment request.

        Args:
            manifest: The parsed manifest.
            now: Monotonic seconds.
        """
        self.manifests += 1
        self._failures = 0
        self.ttl_s = max(manifest.ttl_s, self._config.min_ttl_s)
        if manifest.reload_url is not None:
            self._reload_url = manifest.reload_url
        clones: dict[str, PathwayClone] = {}
        for clone in manifest.clones:
            base_known = clone.base_id in self._known or clone.base_id in clones
            if base_known and clone.id not in self._known and clone.id not in clones:
                clones[clone.id] = clone
        self.clones = clones
        self.priority = manifest.priority
        self._next_at = now + self.ttl_s

    def on_reload_failure(
        self, now: float, *, status: int | None = None, retry_after_s: float | None = None
    ) -> float | None:
        """A steering request failed (network, HTTP status, or a refused manifest).

        The priority in force stays. HTTP 410 ends steering requests for the session;
        429 with ``Retry-After`` waits that long; anything else waits the last ``TTL``,
        doubled per consecutive failure, up to ``max_failure_delay_s``.

        Args:
            now: Monotonic seconds.
            status: The HTTP status, when the server answered.
            retry_after_s: The ``Retry-After`` delay, seconds, when given.

        Returns:
            The time of the next request, ``None`` when none will be made.
        """
        self._failures += 1
        if status == _GONE:
            self._next_at = None
            self._reload_url = None
            return None
        if status == _TOO_MANY and retry_after_s is not None and retry_after_s > 0:
            delay = retry_after_s
            if self.origin.is_dash:
                self.ttl_s = max(retry_after_s, self._config.min_ttl_s)
        else:
            factor = 2.0 ** min(self._failures - 1, 30)
            delay = min(self.ttl_s * factor, max(self.ttl_s, self._config.max_failure_delay_s))
        self._next_at = now + max(delay, self._config.min_ttl_s)
        return self._next_at


def _with_params(url: str, params: Sequence[tuple[str, str]]) -> str:
    """``url`` with each parameter set (replacing one of the same name)."""
    parts = urlsplit(url)
    names = {name for name, _ in params}
    kept = [p for p in parts.query.split("&") if p and p.partition("=")[0] not in names]
    query = "&".join(kept + [f"{name}={value}" for name, value in params])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
