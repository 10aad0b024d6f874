"""Sans-I/O retry and failover policy with per-edge health (STYLE.md section 3).

Nothing here awaits, sleeps or reads a clock: ``now`` (monotonic seconds) and ``rng`` are
parameters. The client (the adapter) reads the clock, performs the request, and tells the
policy what happened through ``on_success`` / ``on_error``; ``on_error`` answers with a
``RetryDecision`` the adapter carries out (sleep ``delay_s``, then try ``edge_index``), or
``None`` to give up.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from transport.config import RetryConfig
from transport.errors import (
    AllEdgesFailed,
    ConnectionRefused,
    HttpStatusError,
    NetworkError,
    ProtocolError,
    RequestTimeout,
    TlsVerificationError,
    TransportError,
    UnknownHost,
)

__all__ = [
    "EdgeHealth",
    "FailureInfo",
    "FailureKind",
    "HealthTracker",
    "RetryDecision",
    "RetryPolicy",
    "classify_failure",
]

_TRANSIENT_STATUSES = frozenset({408, 425, 429})
_FATAL_5XX = frozenset({501, 505})


class FailureKind(enum.Enum):
    """How the policy treats a failed attempt."""

    FATAL = "fatal"
    """Retrying cannot help (bad request, forbidden, gone, refused URL, body too large)."""

    NOT_FOUND = "not_found"
    """404: this edge lacks the object; another CDN may have it. The edge stays healthy."""

    TRANSIENT = "transient"
    """408/425/429: the edge asks the client to slow down; retry after a delay."""

    EDGE = "edge"
    """The edge failed (5xx, timeout, reset, truncated body, protocol error): fail over."""

    UNTRUSTED = "untrusted"
    """The edge's certificate did not verify: exclude it, fail over at once, never retry it."""

    UNREACHABLE = "unreachable"
    """Nothing listens at the edge, or its name does not resolve: exclude it and fail over at
    once; the request does not retry it (a backoff would only delay the error)."""


_EXCLUDING = frozenset(
    {FailureKind.EDGE, FailureKind.TRANSIENT, FailureKind.UNTRUSTED, FailureKind.UNREACHABLE}
)
"""Failures that count against the edge's health (its circuit breaker)."""

_SKIPPING = frozenset({FailureKind.NOT_FOUND, FailureKind.UNTRUSTED, FailureKind.UNREACHABLE})
"""Failures after which the request moves to another edge at once and never comes back."""


def classify_failure(error: TransportError) -> FailureKind:
    """Classify an error for retrying, from its type and status alone.

    Args:
        error: The error an attempt raised.

    Returns:
        The failure kind.

    >>> classify_failure(HttpStatusError("x", status=503, url="https://a/"))
    <FailureKind.EDGE: 'edge'>
    >>> classify_failure(HttpStatusError("x", status=403, url="https://a/"))
    <FailureKind.FATAL: 'fatal'>
    """
    if isinstance(error, HttpStatusError):
        if error.status == 404:
            return FailureKind.NOT_FOUND
        if error.status in _TRANSIENT_STATUSES:
            return FailureKind.TRANSIENT
        if error.status >= 500 and error.status not in _FATAL_5XX:
            return FailureKind.EDGE
        return FailureKind.FATAL
    if isinstance(error, AllEdgesFailed):
        return FailureKind.FATAL
    if isinstance(error, TlsVerificationError):
        return FailureKind.UNTRUSTED
    if isinstance(error, ConnectionRefused | UnknownHost):
        return FailureKind.UNREACHABLE
    if isinstance(error, RequestTimeout | NetworkError | ProtocolError):
        return FailureKind.EDGE
    return FailureKind.FATAL


@dataclass(frozen=True, kw_only=True, slots=True)
class FailureInfo:
    """One failed attempt, as the adapter reports it to the policy.

    Attributes:
        edges: Edge keys (origins) of the request's locations, in preference order.
        edge_index: Index into ``edges`` of the location that failed.
        error: What the attempt raised.
        attempt: Attempts made for this request so far, this one included (1-based).
        now: Monotonic time of the failure, in seconds.
        not_found: Indices of edges not to try again for this request: they answered 404,
            presented an untrusted certificate, or were unreachable.
    """

    edges: tuple[str, ...]
    edge_index: int
    error: TransportError
    attempt: int
    now: float
    not_found: frozenset[int] = frozenset()


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryDecision:
    """Retry: wait ``delay_s`` seconds, then try ``edges[edge_index]``.

    Attributes:
        delay_s: Seconds to wait before the next attempt.
        edge_index: Which location to try next.
    """

    delay_s: float
    edge_index: int


class EdgeHealth:
    """Health of one edge: failures, circuit breaker, latency and throughput averages.

    Attributes:
        consecutive_failures: Failures since the last success.
        total_failures: Failures over the session.
        total_successes: Successes over the session.
        excluded_until: Monotonic time the exclusion window ends (breaker open before it).
        exclusion_s: Length of the current (or next) exclusion window.
        probe_started_at: When the running half-open probe started, ``None`` if none runs.
        ttfb_s: Average time to first byte, ``None`` before the first sample.
        throughput_bps: Average throughput, ``None`` before the first sample.
    """

    __slots__ = (
        "consecutive_failures",
        "excluded_until",
        "exclusion_s",
        "probe_started_at",
        "throughput_bps",
        "total_failures",
        "total_successes",
        "ttfb_s",
    )

    def __init__(self, exclusion_s: float) -> None:
        self.consecutive_failures = 0
        self.total_failures = 0
        self.total_successes = 0
        self.excluded_until: float | None = None
        self.exclusion_s = exclusion_s
        self.probe_started_at: float | None = None
        self.ttfb_s: float | None = None
        self.throughput_bps: float | None = None

    def state(self, now: float) -> str:
        """Return the breaker state at ``now``: ``closed``, ``open`` or ``half_open``.

        Args:
            now: Monotonic seconds.

        Returns:
            ``closed`` (usable), ``open`` (excluded) or ``half_open`` (one probe allowed).
        """
        if self.excluded_until is None:
            return "closed"
        return "open" if now < self.excluded_until else "half_open"


class HealthTracker:
    """Per-edge health for a session, shared by all its requests.

    Args:
        config: Retry settings (exclusion windows, threshold, averaging weight).
    """

    def __init__(self, config: RetryConfig) -> None:
        self._config = config
        self._edges: dict[str, EdgeHealth] = {}

    def get(self, edge: str) -> EdgeHealth:
        """Return the health record of ``edge``, creating a healthy one if unseen.

        Args:
            edge: Edge key (origin).

        Returns:
            The live record (mutated by the tracker).
        """
        health = self._edges.get(edge)
        if health is None:
            health = self._edges[edge] = EdgeHealth(self._config.exclusion_s)
        return health

    def is_available(self, edge: str, now: float) -> bool:
        """Whether a new request may use ``edge`` at ``now`` without waiting.

        A half-open edge is available to one probe at a time.

        Args:
            edge: Edge key.
            now: Monotonic seconds.

        Returns:
            True if the breaker is closed, or half-open with no probe running.
        """
        health = self.get(edge)
        state = health.state(now)
        if state == "closed":
            return True
        if state == "open":
            return False
        started = health.probe_started_at
        return started is None or now - started >= self._config.probe_timeout_s

    def on_attempt(self, edge: str, now: float) -> None:
        """Note that a request is about to use ``edge``; marks a half-open probe as running.

        Args:
            edge: Edge key.
            now: Monotonic seconds.
        """
        health = self.get(edge)
        if health.state(now) == "half_open":
            health.probe_started_at = now

    def on_success(
        self, edge: str, now: float, *, ttfb_s: float, throughput_bps: float | None
    ) -> None:
        """Record a successful transfer: closes the breaker and updates the averages.

        Args:
            edge: Edge key.
            now: Monotonic seconds.
            ttfb_s: Time to first byte of the transfer.
            throughput_bps: Throughput of the transfer, ``None`` if too small to measure.
        """
        del now
        health = self.get(edge)
        weight = self._config.health_ewma_weight
        health.consecutive_failures = 0
        health.total_successes += 1
        health.excluded_until = None
        health.probe_started_at = None
        health.exclusion_s = self._config.exclusion_s
        health.ttfb_s = _ewma(health.ttfb_s, ttfb_s, weight)
        if throughput_bps is not None:
            health.throughput_bps = _ewma(health.throughput_bps, throughput_bps, weight)

    def on_failure(self, edge: str, now: float, *, min_exclusion_s: float = 0.0) -> None:
        """Record an edge failure; opens the breaker once the threshold is reached.

        A failed probe re-opens the breaker with a doubled window (capped).

        Args:
            edge: Edge key.
            now: Monotonic seconds.
            min_exclusion_s: Exclude for at least this long (an honoured ``Retry-After``).
        """
        health = self.get(edge)
        was_probe = health.state(now) == "half_open"
        health.consecutive_failures += 1
        health.total_failures += 1
        health.probe_started_at = None
        if was_probe:
            health.exclusion_s = min(health.exclusion_s * 2, self._config.max_exclusion_s)
        if was_probe or health.consecutive_failures >= self._config.failure_threshold:
            window = max(health.exclusion_s, min_exclusion_s)
            health.excluded_until = now + window

    def select(
        self, edges: Sequence[str], now: float, *, skip: frozenset[int] = frozenset()
    ) -> int | None:
        """Pick the first available edge in preference order.

        Args:
            edges: Edge keys in preference order.
            now: Monotonic seconds.
            skip: Indices that must not be chosen.

        Returns:
            An index into ``edges``, or ``None`` if no edge is available now.
        """
        for index, edge in enumerate(edges):
            if index not in skip and self.is_available(edge, now):
                return index
        return None

    def soonest(self, edges: Sequence[str], *, skip: frozenset[int] = frozenset()) -> int | None:
        """Pick the edge whose exclusion ends first (used when every edge is excluded).

        Args:
            edges: Edge keys in preference order.
            skip: Indices that must not be chosen.

        Returns:
            An index into ``edges``, or ``None`` if all are skipped.
        """
        best: tuple[float, int] | None = None
        for index, edge in enumerate(edges):
            if index in skip:
                continue
            until = self.get(edge).excluded_until or 0.0
            if best is None or until < best[0]:
                best = (until, index)
        return None if best is None else best[1]


class RetryPolicy:
    """Decides, per failure, whether and where to retry (sans-I/O).

    The adapter calls ``select_edge`` before a request's first attempt, ``on_attempt`` just
    before each attempt, ``on_success`` after a transfer, and ``on_error`` after a failure.

    Args:
        config: Retry settings.
        health: Per-edge health shared across requests; a new tracker if omitted.

    >>> policy = RetryPolicy(RetryConfig())
    >>> edges = ("https://a:443", "https://b:443")
    >>> err = HttpStatusError("503", status=503, url="https://a/x")
    >>> info = FailureInfo(edges=edges, edge_index=0, error=err, attempt=1, now=10.0)
    >>> policy.on_error(info, rng=np.random.default_rng(0))
    RetryDecision(delay_s=0.0, edge_index=1)
    >>> policy.select_edge(edges, 11.0)   # a stays excluded, later requests go to b
    1
    """

    def __init__(self, config: RetryConfig, health: HealthTracker | None = None) -> None:
        self._config = config
        self.health = health if health is not None else HealthTracker(config)

    def select_edge(self, edges: Sequence[str], now: float) -> int:
        """Choose the location for a request's first attempt.

        Args:
            edges: Edge keys in preference order (non-empty).
            now: Monotonic seconds.

        Returns:
            The first available edge; if all are excluded, the one excluded the shortest.
        """
        index = self.health.select(edges, now)
        if index is None:
            index = self.health.soonest(edges)
        return 0 if index is None else index

    def on_attempt(self, edge: str, now: float) -> None:
        """Tell the policy an attempt on ``edge`` starts now (marks probes). No I/O follows.

        Args:
            edge: Edge key.
            now: Monotonic seconds.
        """
        self.health.on_attempt(edge, now)

    def on_success(
        self, edge: str, now: float, *, ttfb_s: float, nbytes: int, duration_s: float
    ) -> None:
        """Tell the policy a transfer from ``edge`` succeeded. The caller goes on as normal.

        Args:
            edge: Edge key.
            now: Monotonic seconds.
            ttfb_s: Time to first byte.
            nbytes: Body bytes received.
            duration_s: Whole transfer time.
        """
        throughput = nbytes * 8 / duration_s if duration_s > 0 and nbytes > 0 else None
        self.health.on_success(edge, now, ttfb_s=ttfb_s, throughput_bps=throughput)

    def on_error(self, info: FailureInfo, *, rng: np.random.Generator) -> RetryDecision | None:
        """Decide what to do after a failed attempt.

        The caller must, on a decision, wait ``delay_s`` seconds and then attempt
        ``info.edges[edge_index]``; on ``None``, raise (the error itself when it is fatal or
        every edge answered 404, ``AllEdgesFailed`` when the budget is exhausted).

        Args:
            info: The failed attempt.
            rng: Source of jitter.

        Returns:
            Where and when to retry, or ``None`` to give up.
        """
        kind = classify_failure(info.error)
        edge = info.edges[info.edge_index]
        if kind is FailureKind.FATAL:
            return None
        retry_after = self._retry_after(info.error)
        if kind in _EXCLUDING:
            self.health.on_failure(edge, info.now, min_exclusion_s=retry_after)
        if info.attempt >= self._config.max_attempts:
            return None
        if kind in _SKIPPING:
            skip = info.not_found | {info.edge_index}
            index = self.health.select(info.edges, info.now, skip=skip)
            if index is None:
                index = self.health.soonest(info.edges, skip=skip)
            return None if index is None else RetryDecision(delay_s=0.0, edge_index=index)
        index = self.health.select(info.edges, info.now, skip=info.not_found)
        if index is not None and index != info.edge_index:
            return RetryDecision(delay_s=self._config.failover_delay_s, edge_index=index)
        if index is None:
            index = self.health.soonest(info.edges, skip=info.not_found)
            if index is None:
                return None
        delay = max(self._backoff(info.attempt, rng), retry_after)
        return RetryDecision(delay_s=delay, edge_index=index)

    def _backoff(self, attempt: int, rng: np.random.Generator) -> float:
        cfg = self._config
        ceiling = min(cfg.max_delay_s, cfg.base_delay_s * cfg.backoff_factor ** (attempt - 1))
        low = ceiling * (1.0 - cfg.jitter)
        return float(rng.uniform(low, ceiling)) if ceiling > low else ceiling

    def _retry_after(self, error: TransportError) -> float:
        if isinstance(error, HttpStatusError) and error.retry_after_s is not None:
            return min(max(error.retry_after_s, 0.0), self._config.max_retry_after_s)
        return 0.0


def _ewma(previous: float | None, sample: float, weight: float) -> float:
    return sample if previous is None else previous + weight * (sample - previous)
