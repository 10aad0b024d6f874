"""The sans-I/O retry policy: explicit ``now`` values, seeded rng, no sleeping."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from transport import (
    AllEdgesFailed,
    ConnectError,
    ConnectionRefused,
    ConnectTimeout,
    FailureInfo,
    FailureKind,
    HealthTracker,
    HttpStatusError,
    ProtocolError,
    ReadError,
    RequestTimeout,
    ResponseTooLarge,
    RetryConfig,
    RetryDecision,
    RetryPolicy,
    StallTimeout,
    TransportConfigError,
    UnknownHost,
    UnsafeUrl,
    classify_failure,
)

EDGES = ("https://a:443", "https://b:443", "https://origin:443")
URL = "https://a/seg.m4s"


def status(code: int, retry_after_s: float | None = None) -> HttpStatusError:
    return HttpStatusError(f"HTTP {code}", status=code, url=URL, retry_after_s=retry_after_s)


def info(
    error: Exception, *, edge: int = 0, attempt: int = 1, now: float = 100.0, **kw: object
) -> FailureInfo:
    return FailureInfo(
        edges=EDGES,
        edge_index=edge,
        error=error,  # type: ignore[arg-type]
        attempt=attempt,
        now=now,
        **kw,  # type: ignore[arg-type]
    )


def rng() -> np.random.Generator:
    return np.random.default_rng(7)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (status(404), FailureKind.NOT_FOUND),
        (status(410), FailureKind.FATAL),
        (status(400), FailureKind.FATAL),
        (status(403), FailureKind.FATAL),
        (status(416), FailureKind.FATAL),
        (status(408), FailureKind.TRANSIENT),
        (status(429), FailureKind.TRANSIENT),
        (status(500), FailureKind.EDGE),
        (status(502), FailureKind.EDGE),
        (status(503), FailureKind.EDGE),
        (status(504), FailureKind.EDGE),
        (status(501), FailureKind.FATAL),
        (ConnectError("handshake failed", url=URL), FailureKind.EDGE),
        (ConnectionRefused("refused", url=URL), FailureKind.UNREACHABLE),
        (UnknownHost("no such name", url=URL), FailureKind.UNREACHABLE),
        (ConnectTimeout("slow", url=URL), FailureKind.EDGE),
        (StallTimeout("stalled", url=URL), FailureKind.EDGE),
        (RequestTimeout("ttfb", url=URL), FailureKind.EDGE),
        (ReadError("reset / truncated", url=URL), FailureKind.EDGE),
        (ProtocolError("bad frame", url=URL), FailureKind.EDGE),
        (UnsafeUrl("file:", url=URL), FailureKind.FATAL),
        (ResponseTooLarge("big", url=URL), FailureKind.FATAL),
        (AllEdgesFailed("all", attempts=[]), FailureKind.FATAL),
    ],
)
def test_classification(error: HttpStatusError, kind: FailureKind) -> None:
    assert classify_failure(error) is kind


def test_edge_failure_moves_to_next_edge_at_once() -> None:
    policy = RetryPolicy(RetryConfig())
    decision = policy.on_error(info(status(503)), rng=rng())
    assert decision == RetryDecision(delay_s=0.0, edge_index=1)


def test_fatal_errors_are_not_retried() -> None:
    policy = RetryPolicy(RetryConfig())
    assert policy.on_error(info(status(403)), rng=rng()) is None
    assert policy.on_error(info(status(410)), rng=rng()) is None
    # a fatal error says nothing about the edge's health
    assert policy.health.get(EDGES[0]).total_failures == 0


def test_not_found_tries_each_other_edge_once_without_penalty() -> None:
    policy = RetryPolicy(RetryConfig())
    first = policy.on_error(info(status(404)), rng=rng())
    assert first == RetryDecision(delay_s=0.0, edge_index=1)
    second = policy.on_error(
        info(status(404), edge=1, attempt=2, not_found=frozenset({0})), rng=rng()
    )
    assert second == RetryDecision(delay_s=0.0, edge_index=2)
    last = policy.on_error(
        info(status(404), edge=2, attempt=3, not_found=frozenset({0, 1})), rng=rng()
    )
    assert last is None
    assert all(policy.health.is_available(e, 100.0) for e in EDGES)


@pytest.mark.parametrize(
    "error", [ConnectionRefused("refused", url=URL), UnknownHost("no name", url=URL)]
)
def test_unreachable_only_edge_gives_up_at_once(error: ConnectError) -> None:
    # issue 12: a refused connection on the only origin was retried for 19 s (6 attempts)
    policy = RetryPolicy(RetryConfig())
    one_edge = ("https://a:443",)
    failure = FailureInfo(edges=one_edge, edge_index=0, error=error, attempt=1, now=5.0)
    assert policy.on_error(failure, rng=rng()) is None
    assert policy.health.get(one_edge[0]).state(5.0) == "open"  # later requests skip it too


def test_unreachable_edge_fails_over_at_once_and_is_not_retried_in_the_request() -> None:
    policy = RetryPolicy(RetryConfig())
    refused = ConnectionRefused("refused", url=URL)
    first = policy.on_error(info(refused), rng=rng())
    assert first == RetryDecision(delay_s=0.0, edge_index=1)
    # the other edges time out: backoff goes to them, never back to the refused edge
    later = policy.on_error(
        info(StallTimeout("stall", url=URL), edge=1, attempt=2, not_found=frozenset({0})),
        rng=rng(),
    )
    assert later == RetryDecision(delay_s=0.0, edge_index=2)
    last = policy.on_error(
        info(RequestTimeout("ttfb", url=URL), edge=2, attempt=3, not_found=frozenset({0})),
        rng=rng(),
    )
    assert last is not None and last.edge_index in (1, 2) and last.delay_s > 0


def test_timeouts_and_5xx_on_the_only_edge_are_still_retried_with_backoff() -> None:
    policy = RetryPolicy(RetryConfig())
    one_edge = ("https://a:443",)
    for attempt, error in enumerate(
        [StallTimeout("stall", url=URL), status(503), ReadError("reset mid-body", url=URL)], 1
    ):
        failure = FailureInfo(
            edges=one_edge, edge_index=0, error=error, attempt=attempt, now=float(attempt)
        )
        decision = policy.on_error(failure, rng=rng())
        assert decision is not None and decision.edge_index == 0 and decision.delay_s > 0


def test_budget_is_bounded_by_max_attempts() -> None:
    policy = RetryPolicy(RetryConfig(max_attempts=2))
    assert policy.on_error(info(status(500)), rng=rng()) is not None
    assert policy.on_error(info(status(500), edge=1, attempt=2), rng=rng()) is None


def test_exhausted_edges_back_off_exponentially_with_full_jitter() -> None:
    cfg = RetryConfig(base_delay_s=1.0, max_delay_s=8.0, backoff_factor=2.0, max_attempts=50)
    policy = RetryPolicy(cfg, HealthTracker(cfg))
    generator = np.random.default_rng(3)
    one_edge = ("https://a:443",)
    delays = []
    for attempt in range(1, 7):
        failure = FailureInfo(
            edges=one_edge, edge_index=0, error=status(502), attempt=attempt, now=float(attempt)
        )
        decision = policy.on_error(failure, rng=generator)
        assert decision is not None and decision.edge_index == 0
        delays.append(decision.delay_s)
    ceilings = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert all(0.0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered, not constant
    # the same seed reproduces the same delays exactly
    again = RetryPolicy(cfg)
    generator = np.random.default_rng(3)
    replay = [
        again.on_error(
            FailureInfo(edges=one_edge, edge_index=0, error=status(502), attempt=a, now=float(a)),
            rng=generator,
        )
        for a in range(1, 7)
    ]
    assert [d.delay_s for d in replay if d is not None] == delays


def test_no_jitter_gives_plain_exponential_backoff() -> None:
    cfg = RetryConfig(jitter=0.0, max_attempts=10)
    policy = RetryPolicy(cfg)
    one = ("https://a:443",)
    got = [
        policy.on_error(
            FailureInfo(edges=one, edge_index=0, error=status(500), attempt=a, now=0.0), rng=rng()
        )
        for a in (1, 2, 3, 4, 5)
    ]
    assert [d.delay_s for d in got if d is not None] == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_retry_after_is_honoured_and_capped() -> None:
    cfg = RetryConfig(max_retry_after_s=30.0)
    policy = RetryPolicy(cfg)
    one = ("https://a:443",)
    decision = policy.on_error(
        FailureInfo(edges=one, edge_index=0, error=status(503, 12.0), attempt=1, now=0.0),
        rng=rng(),
    )
    assert decision is not None and decision.delay_s == 12.0
    decision = policy.on_error(
        FailureInfo(edges=one, edge_index=0, error=status(429, 900.0), attempt=2, now=20.0),
        rng=rng(),
    )
    assert decision is not None and decision.delay_s == 30.0
    # the edge is excluded for at least the Retry-After time
    assert policy.health.get(one[0]).excluded_until == pytest.approx(20.0 + 30.0)


def test_retry_after_on_one_edge_fails_over_to_a_healthy_one() -> None:
    policy = RetryPolicy(RetryConfig())
    decision = policy.on_error(info(status(429, 5.0)), rng=rng())
    assert decision == RetryDecision(delay_s=0.0, edge_index=1)


def test_failed_edge_is_excluded_then_probed_after_its_window() -> None:
    cfg = RetryConfig(exclusion_s=30.0, max_exclusion_s=300.0)
    policy = RetryPolicy(cfg)
    policy.on_error(info(ConnectError("refused", url=URL), now=100.0), rng=rng())
    # the session stays on the healthy edge for every later request ...
    assert [policy.select_edge(EDGES, t) for t in (101.0, 110.0, 129.9)] == [1, 1, 1]
    # ... until the window ends: one request probes edge a
    assert policy.select_edge(EDGES, 130.0) == 0
    policy.on_attempt(EDGES[0], 130.0)
    assert policy.health.get(EDGES[0]).state(130.0) == "half_open"
    # while the probe runs, other requests keep using b
    assert policy.select_edge(EDGES, 130.5) == 1
    # the probe succeeds: a is preferred again
    policy.on_success(EDGES[0], 131.0, ttfb_s=0.05, nbytes=1_000_000, duration_s=0.5)
    assert policy.select_edge(EDGES, 131.0) == 0
    assert policy.health.get(EDGES[0]).state(131.0) == "closed"
    assert policy.health.get(EDGES[0]).throughput_bps == pytest.approx(16e6)


def test_failed_probe_doubles_the_exclusion_up_to_the_cap() -> None:
    cfg = RetryConfig(exclusion_s=30.0, max_exclusion_s=100.0)
    tracker = HealthTracker(cfg)
    edge = EDGES[0]
    tracker.on_failure(edge, 0.0)
    assert tracker.get(edge).excluded_until == 30.0
    windows = []
    now = 30.0
    for _ in range(4):
        tracker.on_attempt(edge, now)
        tracker.on_failure(edge, now)
        until = tracker.get(edge).excluded_until
        assert until is not None
        windows.append(until - now)
        now = until
    assert windows == [60.0, 100.0, 100.0, 100.0]


def test_stuck_probe_is_released_after_probe_timeout() -> None:
    cfg = RetryConfig(exclusion_s=10.0, probe_timeout_s=5.0)
    tracker = HealthTracker(cfg)
    tracker.on_failure("e", 0.0)
    tracker.on_attempt("e", 10.0)
    assert not tracker.is_available("e", 14.0)
    assert tracker.is_available("e", 15.0)


def test_failure_threshold_delays_the_breaker() -> None:
    cfg = RetryConfig(failure_threshold=3)
    tracker = HealthTracker(cfg)
    for n in range(2):
        tracker.on_failure("e", float(n))
        assert tracker.is_available("e", float(n))
    tracker.on_failure("e", 2.0)
    assert not tracker.is_available("e", 2.0)


def test_all_edges_excluded_retries_the_one_that_recovers_first() -> None:
    policy = RetryPolicy(RetryConfig(max_attempts=10))
    policy.health.on_failure(EDGES[1], 50.0)
    policy.health.on_failure(EDGES[2], 60.0)
    decision = policy.on_error(info(status(500), now=70.0), rng=rng())
    assert decision is not None
    assert decision.edge_index == 1  # b's exclusion (until 80) ends first
    assert 0.0 <= decision.delay_s <= 1.0
    assert policy.select_edge(EDGES, 71.0) == 1


def test_latency_average_tracks_samples() -> None:
    cfg = RetryConfig(health_ewma_weight=0.5)
    tracker = HealthTracker(cfg)
    tracker.on_success("e", 0.0, ttfb_s=0.1, throughput_bps=None)
    tracker.on_success("e", 1.0, ttfb_s=0.3, throughput_bps=8e6)
    health = tracker.get("e")
    assert health.ttfb_s == pytest.approx(0.2)
    assert health.throughput_bps == 8e6
    assert health.total_successes == 2


@pytest.mark.parametrize(
    "change",
    [
        {"max_attempts": 0},
        {"jitter": 1.5},
        {"exclusion_s": 0.0},
        {"max_exclusion_s": 1.0},
        {"failure_threshold": 0},
        {"health_ewma_weight": 0.0},
        {"base_delay_s": 10.0},
    ],
)
def test_bad_retry_config_is_refused(change: dict[str, float]) -> None:
    with pytest.raises(TransportConfigError):
        dataclasses.replace(RetryConfig(), **change)


def test_policy_module_is_sans_io() -> None:
    """The retry core never awaits, sleeps, reads a clock or touches a socket (STYLE.md 3)."""
    import ast
    from pathlib import Path

    import transport._retry as core

    tree = ast.parse(Path(core.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported.isdisjoint({"asyncio", "time", "socket", "httpx", "aioquic", "random"})
    assert not any(isinstance(n, ast.Await | ast.AsyncFunctionDef) for n in ast.walk(tree))
    assert imported == {"__future__", "enum", "collections", "dataclasses", "numpy", "transport"}
