"""Every lab fault against every protocol: the policy's decision, the error type, the time."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from transport import (
    ConnectError,
    ConnectionRefused,
    ConnectTimeout,
    FailureInfo,
    HttpClient,
    HttpStatusError,
    ReadError,
    RequestTimeout,
    RetryConfig,
    RetryDecision,
    RetryPolicy,
    StallTimeout,
    Timeouts,
    TransportConfig,
    TransportError,
)
from transport.lab import (
    DripFault,
    Fault,
    LabCdnThread,
    LabServer,
    LabServerThread,
    ResetFault,
    StallFault,
    StatusFault,
    TestCA,
    TruncateFault,
)

PROTOCOLS = ["h3", "h2", "h1"]
TIMEOUTS = Timeouts(connect_s=1.0, ttfb_s=1.0, stall_s=0.5, total_s=1.5)
SLACK_S = 0.5
"""Scheduling slack allowed on top of a timeout (the lab runs in this process)."""


class RecordingPolicy(RetryPolicy):
    """The real policy, recording each failure it was told about and what it decided."""

    def __init__(self, config: RetryConfig) -> None:
        super().__init__(config)
        self.log: list[tuple[FailureInfo, RetryDecision | None]] = []

    def on_error(self, info: FailureInfo, *, rng: np.random.Generator) -> RetryDecision | None:
        decision = super().on_error(info, rng=rng)
        self.log.append((info, decision))
        return decision


def make_client(
    protocol: str, ca_file: str, timeouts: Timeouts = TIMEOUTS, **retry: object
) -> tuple[HttpClient, RecordingPolicy]:
    cfg = TransportConfig(
        protocol="h3" if protocol == "h3" else "h1",
        ca_file=ca_file,
        is_http2_enabled=protocol != "h1",
        timeouts=timeouts,
        retry=RetryConfig(base_delay_s=0.05, max_delay_s=0.2, **retry),  # type: ignore[arg-type]
    )
    policy = RecordingPolicy(cfg.retry)
    return HttpClient(cfg, policy=policy, rng=np.random.default_rng(0)), policy


STALL_TIMEOUTS = dataclasses.replace(TIMEOUTS, total_s=4.0)
"""For the stall fault: the total limit far from the stall limit, so that which one trips
does not depend on how long a busy machine took to deliver the bytes before the stall."""


def timeouts_for(fault_name: str) -> Timeouts:
    return STALL_TIMEOUTS if fault_name == "stall" else TIMEOUTS


def answered_at(records: list[Any], count: int) -> list[float]:
    """When the server started answering each of the last ``count`` requests (monotonic)."""
    assert len(records) >= count
    return [r.at_s for r in records[len(records) - count :]]


# fault, error type seen by the policy, longest time the failed attempt may take
FAULTS: dict[str, tuple[Fault | None, type[TransportError], float]] = {
    "status": (StatusFault(status=503), HttpStatusError, 0.5),
    "stall": (StallFault(after_bytes=20_000, stall_s=5.0), StallTimeout, TIMEOUTS.stall_s),
    "drip": (DripFault(rate_bytes_per_s=50_000, after_bytes=1000), RequestTimeout, 1.5),
    "reset": (ResetFault(after_bytes=30_000), ReadError, 0.5),
    "truncate": (TruncateFault(after_bytes=30_000), ReadError, 0.5),
    "die": (None, ConnectError, TIMEOUTS.connect_s),
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("fault_name", list(FAULTS))
async def test_fault_on_first_edge_fails_over_to_second(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], protocol: str, fault_name: str
) -> None:
    fault, error_type, limit_s = FAULTS[fault_name]
    edge0, edge1 = lab.edges
    if fault is None:
        edge0.kill().result(5.0)
    else:
        edge0.faults.set(fault, count=1)
    urls = [edge0.base_url + "/big.bin", edge1.base_url + "/big.bin"]
    client, policy = make_client(protocol, lab.ca_file, timeouts_for(fault_name))
    started = time.monotonic()
    async with client:
        response = await client.fetch(urls)
    ended = time.monotonic()

    assert response.content == lab_payloads["/big.bin"]
    assert response.edge == edge1.base_url
    assert len(policy.log) == 1
    info, decision = policy.log[0]
    assert isinstance(info.error, error_type)
    if fault_name == "die" and protocol == "h3":
        assert isinstance(info.error, ConnectError | ConnectTimeout)
    assert info.edge_index == 0
    assert decision == RetryDecision(delay_s=0.0, edge_index=1)
    # The failed attempt stayed within its timeout, and the whole request finished soon after
    # (2 MB from edge1), counted from when edge0 started answering (from the start for a dead
    # edge, which never answers): the connection's setup, which a busy machine stretches, is
    # not what the limit is about.
    began = started if fault is None else answered_at(edge0.requests, 1)[0]
    assert ended - began < limit_s + SLACK_S + 1.0
    assert not policy.health.is_available(edge0.base_url, time.monotonic())
    if fault is not None:
        assert edge0.requests[-1].fault == type(fault).__name__


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("fault_name", ["stall", "drip", "die"])
async def test_no_attempt_outlives_its_timeout(
    lab: LabCdnThread, protocol: str, fault_name: str
) -> None:
    """With a single location, every attempt fails on its timeout and the budget runs out."""
    fault, error_type, limit_s = FAULTS[fault_name]
    edge0 = lab.edges[0]
    if fault is None:
        edge0.kill().result(5.0)
    else:
        edge0.faults.set(fault, count=2)
    client, policy = make_client(protocol, lab.ca_file, timeouts_for(fault_name), max_attempts=2)
    started = time.monotonic()
    async with client:
        with pytest.raises(TransportError) as raised:
            await client.fetch(edge0.base_url + "/big.bin")
    elapsed = time.monotonic() - started
    assert type(raised.value).__name__ == "AllEdgesFailed"
    if fault_name == "die":  # refused: retrying the only edge cannot help (issue 12)
        assert [type(i.error) for i, _ in policy.log] == [ConnectionRefused]
        assert policy.log[0][1] is None
        assert elapsed < 2.0
        return
    assert [type(i.error) for i, _ in policy.log] == [type(policy.log[0][0].error)] * 2
    assert all(isinstance(i.error, error_type) for i, _ in policy.log)
    assert policy.log[-1][1] is None
    backoff = policy.log[0][1]
    assert backoff is not None and backoff.edge_index == 0 and backoff.delay_s <= 0.2
    # The attempts took their limits, counted from when edge0 started answering each one
    # (connection setup, which a busy machine stretches, is not what the limits are about),
    # and the second one started after the backoff.
    began = answered_at(edge0.requests, 2)
    failed = [i.now for i, _ in policy.log]
    took = [end - start for start, end in zip(began, failed, strict=True)]
    assert sum(took) < 2 * limit_s + 2 * SLACK_S, took
    assert began[1] - failed[0] >= backoff.delay_s


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_not_found_on_one_edge_is_served_by_the_next_without_penalty(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], protocol: str
) -> None:
    edge0, edge1 = lab.edges
    edge0.faults.set(StatusFault(status=404), count=1)
    client, policy = make_client(protocol, lab.ca_file)
    async with client:
        response = await client.fetch(
            [edge0.base_url + "/small.bin", edge1.base_url + "/small.bin"]
        )
    assert response.content == lab_payloads["/small.bin"]
    assert response.edge == edge1.base_url
    assert policy.log[0][1] == RetryDecision(delay_s=0.0, edge_index=1)
    assert policy.health.is_available(edge0.base_url, time.monotonic())


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_not_found_everywhere_raises_the_404(lab: LabCdnThread, protocol: str) -> None:
    client, policy = make_client(protocol, lab.ca_file)
    urls = [lab.edges[0].base_url + "/missing", lab.edges[1].base_url + "/missing"]
    async with client:
        with pytest.raises(HttpStatusError) as raised:
            await client.fetch(urls)
    assert raised.value.status == 404
    assert raised.value.url == urls[1]
    assert [d for _, d in policy.log] == [RetryDecision(delay_s=0.0, edge_index=1), None]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("status", [400, 403, 410])
async def test_non_retryable_status_raises_at_once(
    lab: LabCdnThread, protocol: str, status: int
) -> None:
    edge0, edge1 = lab.edges
    edge0.faults.set(StatusFault(status=status), count=1)
    before = len(edge1.requests)
    client, policy = make_client(protocol, lab.ca_file)
    async with client:
        with pytest.raises(HttpStatusError) as raised:
            await client.fetch([edge0.base_url + "/small.bin", edge1.base_url + "/small.bin"])
    assert raised.value.status == status
    assert policy.log[0][1] is None
    assert len(edge1.requests) == before


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_retry_after_is_honoured_on_the_only_edge(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], protocol: str
) -> None:
    edge0 = lab.edges[0]
    edge0.faults.set(StatusFault(status=503, retry_after_s=1.0), count=1)
    client, policy = make_client(protocol, lab.ca_file)
    started = time.monotonic()
    async with client:
        response = await client.fetch(edge0.base_url + "/small.bin")
    elapsed = time.monotonic() - started
    assert response.content == lab_payloads["/small.bin"]
    info, decision = policy.log[0]
    assert isinstance(info.error, HttpStatusError) and info.error.retry_after_s == 1.0
    assert decision is not None and decision.delay_s == 1.0 and decision.edge_index == 0
    assert 1.0 <= elapsed < 1.0 + SLACK_S + 0.5


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_edge_killed_mid_download_finishes_on_the_next_edge(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], protocol: str
) -> None:
    edge0, edge1 = lab.edges
    edge0.faults.set(DripFault(rate_bytes_per_s=400_000, after_bytes=200_000), count=1)
    client, policy = make_client(protocol, lab.ca_file)
    received = bytearray()
    async with client:
        async with client.stream([edge0.base_url + "/big.bin", edge1.base_url + "/big.bin"]) as r:
            assert r.edge == edge0.base_url
            killed = False
            async for chunk in r:
                received += chunk
                if not killed and len(received) >= 250_000:
                    killed = True
                    await asyncio.wrap_future(edge0.kill())
            assert r.edge == edge1.base_url
    assert bytes(received) == lab_payloads["/big.bin"]
    assert len(policy.log) == 1 and policy.log[0][1] == RetryDecision(delay_s=0.0, edge_index=1)
    assert isinstance(
        policy.log[0][0].error, ReadError | ConnectError | ConnectTimeout | StallTimeout
    )
    # the next edge was asked only for the missing bytes
    assert edge1.requests[-1].status == 206


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_edge_that_comes_back_is_used_after_its_exclusion_window(
    lab: LabCdnThread, protocol: str
) -> None:
    edge0, edge1 = lab.edges
    urls = [edge0.base_url + "/small.bin", edge1.base_url + "/small.bin"]
    client, policy = make_client(protocol, lab.ca_file, exclusion_s=1.5)
    loop = asyncio.get_running_loop()
    async with client:
        await asyncio.wrap_future(edge0.kill(revive_after_s=0.3))
        first = await client.fetch(urls)
        excluded_until = policy.health.get(edge0.base_url).excluded_until
        assert excluded_until is not None
        await asyncio.sleep(0.4)  # edge0 is back, but still inside its exclusion window
        before = len(edge0.requests)
        second = await client.fetch(urls)
        assert loop.time() < excluded_until
        assert len(edge0.requests) == before  # the dead edge is not retried per request
        await asyncio.sleep(max(0.0, excluded_until - loop.time()) + 0.05)
        third = await client.fetch(urls)  # the window has passed: this request probes edge0
    assert [first.edge, second.edge, third.edge] == [edge1.base_url, edge1.base_url, edge0.base_url]
    assert policy.health.get(edge0.base_url).state(time.monotonic()) == "closed"


async def test_failover_from_death_to_first_byte_is_under_a_second(lab: LabCdnThread) -> None:
    edge0, edge1 = lab.edges
    urls = [edge0.base_url + "/small.bin", edge1.base_url + "/small.bin"]
    client, _ = make_client("h3", lab.ca_file)
    async with client:
        await client.fetch(urls)  # warm: a pooled connection to edge0
        await asyncio.wrap_future(edge0.kill())
        died = time.monotonic()
        response = await client.fetch(urls)
    assert response.edge == edge1.base_url
    assert time.monotonic() - died - response.sample.duration_s + response.sample.ttfb_s < 1.0


def test_timeouts_in_these_tests_are_small() -> None:
    assert dataclasses.astuple(TIMEOUTS) == (1.0, 1.0, 0.5, 1.5)


SLOW_ARRIVALS: list[float] = []
"""``time.monotonic()`` when each request reached ``_slow_headers_app``."""


async def _slow_headers_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app that waits 3 s before answering: a time-to-first-byte fault."""
    if scope["type"] != "http":
        return
    SLOW_ARRIVALS.append(time.monotonic())
    await asyncio.sleep(3.0)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"late"})


@pytest.fixture(scope="module")
def slow_server(lab_ca: TestCA) -> Iterator[LabServerThread]:
    handle = LabServer(_slow_headers_app, ca=lab_ca).start_in_thread()
    try:
        yield handle
    finally:
        handle.stop()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_ttfb_timeout(slow_server: LabServerThread, protocol: str) -> None:
    client, policy = make_client(protocol, str(slow_server.ca_file), max_attempts=1)
    started = time.monotonic()
    async with client:
        with pytest.raises(TransportError):
            await client.fetch(slow_server.base_url + "/x")
    elapsed = time.monotonic() - started
    info = policy.log[0][0]
    assert type(info.error) is RequestTimeout  # neither a connect nor a stall timeout
    assert "no response within 1.0 s" in str(info.error)
    assert TIMEOUTS.ttfb_s <= elapsed
    # the limit counts from the request: from its arrival at the server, not from the start,
    # which includes the connection's setup (stretched on a busy machine)
    assert info.now - SLOW_ARRIVALS[-1] < TIMEOUTS.ttfb_s + SLACK_S


RANGELESS_BODY = bytes(range(256)) * 1200  # 307,200 bytes


class _RangelessApp:
    """Ignores Range (always 200, whole body); its first response breaks after 100 kB."""

    def __init__(self) -> None:
        self.ranges: list[str | None] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = dict(scope["headers"])
        self.ranges.append(headers.get(b"range", b"").decode() or None)
        length = str(len(RANGELESS_BODY)).encode()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", length)]}
        )
        if len(self.ranges) == 1:
            await send(
                {"type": "http.response.body", "body": RANGELESS_BODY[:100_000], "more_body": True}
            )
            await asyncio.sleep(0.05)
            raise ConnectionAbortedError("test: the edge breaks mid-body")
        await send({"type": "http.response.body", "body": RANGELESS_BODY})


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_resume_on_a_server_that_ignores_range_skips_what_was_delivered(
    lab_ca: TestCA, protocol: str
) -> None:
    app = _RangelessApp()
    handle = LabServer(app, ca=lab_ca).start_in_thread()
    try:
        client, policy = make_client(protocol, str(handle.ca_file))
        async with client:
            response = await client.fetch(handle.base_url + "/file")
    finally:
        handle.stop()
    assert response.content == RANGELESS_BODY
    assert app.ranges[0] is None
    assert app.ranges[1] is not None and app.ranges[1].startswith("bytes=")
    assert isinstance(policy.log[0][0].error, ReadError | StallTimeout)
