"""Every lab fault, demonstrated from raw clients (httpx h1/h2, aioquic h3), bounded in time."""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass

import h2.exceptions
import httpx
import pytest
from conftest import H3Get

from transport.errors import TransportConfigError
from transport.lab import (
    DripFault,
    FaultSwitch,
    LabCdnThread,
    ResetFault,
    StallFault,
    StatusFault,
    TruncateFault,
)

PROTOCOLS = ["1.1", "2", "3"]


@dataclass
class Outcome:
    status: int
    headers: dict[str, str]
    body: bytes
    error: str | None
    elapsed_s: float


async def fetch(
    lab: LabCdnThread,
    h3_get: H3Get,
    url: str,
    protocol: str,
    *,
    read_timeout_s: float = 5.0,
) -> Outcome:
    """GET ``url`` over ``protocol`` keeping whatever body bytes arrive before an error."""
    started = time.monotonic()
    if protocol == "3":
        r = await h3_get(url, timeout_s=read_timeout_s + 5.0)
        return Outcome(r.status, r.headers, r.body, r.error, time.monotonic() - started)
    ctx = ssl.create_default_context(cafile=lab.ca_file)
    timeout = httpx.Timeout(5.0, read=read_timeout_s)
    chunks: list[bytes] = []
    status, headers, error = 0, {}, None
    async with httpx.AsyncClient(verify=ctx, http2=protocol == "2", timeout=timeout) as client:
        try:
            async with client.stream("GET", url) as response:
                status, headers = response.status_code, dict(response.headers)
                assert response.http_version == ("HTTP/2" if protocol == "2" else "HTTP/1.1")
                async for chunk in response.aiter_raw():
                    chunks.append(chunk)
        except (httpx.HTTPError, h2.exceptions.ProtocolError) as exc:  # h2: not wrapped by httpx
            error = f"{type(exc).__name__}: {exc}"
    return Outcome(status, headers, b"".join(chunks), error, time.monotonic() - started)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_status_fault_with_retry_after_then_recovers(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], h3_get: H3Get, protocol: str
) -> None:
    edge = lab.edges[0]
    armed = edge.faults.set(StatusFault(status=503, retry_after_s=1.5), count=1)
    url = edge.base_url + "/small.bin"
    failed = await fetch(lab, h3_get, url, protocol)
    assert failed.status == 503 and failed.error is None
    assert failed.headers["retry-after"] == "2"
    assert failed.headers["x-lab-edge"] == "edge0"
    ok = await fetch(lab, h3_get, url, protocol)
    assert ok.status == 200 and ok.body == lab_payloads["/small.bin"]
    assert armed.applied == 1
    assert [r.status for r in edge.requests[-2:]] == [503, 200]
    assert edge.requests[-2].fault == "StatusFault"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_stall_fault_pauses_then_resumes(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], h3_get: H3Get, protocol: str
) -> None:
    edge = lab.edges[0]
    edge.faults.set(StallFault(after_bytes=20_000, stall_s=1.0))
    out = await fetch(lab, h3_get, edge.base_url + "/medium.bin", protocol)
    assert out.error is None and out.status == 200
    assert out.body == lab_payloads["/medium.bin"]
    assert 1.0 <= out.elapsed_s < 3.0


@pytest.mark.parametrize("protocol", ["1.1", "2"])
async def test_stall_fault_trips_a_client_read_timeout(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], h3_get: H3Get, protocol: str
) -> None:
    edge = lab.edges[1]
    edge.faults.set(StallFault(after_bytes=30_000, stall_s=3.0))
    out = await fetch(lab, h3_get, edge.base_url + "/medium.bin", protocol, read_timeout_s=0.4)
    assert out.error is not None and out.error.startswith("ReadTimeout")
    assert out.body == lab_payloads["/medium.bin"][: len(out.body)]
    assert 16_000 <= len(out.body) <= 30_000
    assert out.elapsed_s < 2.0


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_drip_fault_limits_the_rate(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], h3_get: H3Get, protocol: str
) -> None:
    edge = lab.edges[0]
    edge.faults.set(DripFault(rate_bytes_per_s=100_000, after_bytes=10_000), path_glob="*.bin")
    out = await fetch(lab, h3_get, edge.base_url + "/medium.bin", protocol)
    assert out.error is None and out.body == lab_payloads["/medium.bin"]
    # 90 000 dripped bytes at 100 kB/s take 0.9 s
    assert 0.8 <= out.elapsed_s < 3.0


async def test_drip_is_bounded_by_max_s(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], h3_get: H3Get
) -> None:
    edge = lab.edges[1]
    # 100 kB at 10 kB/s would take 10 s; the drip stops after 0.5 s and the rest goes at once
    edge.faults.set(DripFault(rate_bytes_per_s=10_000, max_s=0.5))
    out = await fetch(lab, h3_get, edge.base_url + "/medium.bin", "2")
    assert out.error is None and out.body == lab_payloads["/medium.bin"]
    assert 0.5 <= out.elapsed_s < 3.0


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_reset_fault_breaks_the_connection_mid_body(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], h3_get: H3Get, protocol: str
) -> None:
    edge = lab.edges[0]
    edge.faults.set(ResetFault(after_bytes=200_000))
    out = await fetch(lab, h3_get, edge.base_url + "/big.bin", protocol)
    assert out.status == 200
    assert out.headers["content-length"] == "2000000"
    assert out.error is not None
    if protocol == "3":
        assert out.error.startswith("connection closed: 257")
    else:
        assert out.error.split(":")[0] in ("ReadError", "RemoteProtocolError")
    assert len(out.body) <= 200_000
    assert out.body == lab_payloads["/big.bin"][: len(out.body)]
    assert out.elapsed_s < 3.0


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_truncate_fault_sends_a_short_body(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], h3_get: H3Get, protocol: str
) -> None:
    edge = lab.edges[1]
    edge.faults.set(TruncateFault(after_bytes=40_000), path_glob="/medium.bin")
    out = await fetch(lab, h3_get, edge.base_url + "/medium.bin", protocol)
    assert out.status == 200
    assert out.headers["content-length"] == "100000"
    if protocol == "3":
        # the stream ends cleanly; aioquic's H3 layer checks the length and closes (0x10e)
        assert out.error is not None and out.error.startswith("connection closed: 270")
        assert 0 < len(out.body) <= 40_000
        assert out.body == lab_payloads["/medium.bin"][: len(out.body)]
    else:
        assert out.body == lab_payloads["/medium.bin"][:40_000]
        expected = "RemoteProtocolError" if protocol == "1.1" else "InvalidBodyLengthError"
        assert out.error is not None and out.error.startswith(expected)
    assert out.elapsed_s < 3.0


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_die_and_come_back(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], h3_get: H3Get, protocol: str
) -> None:
    edge = lab.edges[1]
    port = edge.port
    edge.kill(revive_after_s=1.0).result(5.0)
    assert not edge.is_running
    started = time.monotonic()
    if protocol == "3":
        with pytest.raises((TimeoutError, ConnectionError)):
            await h3_get(edge.base_url + "/small.bin", timeout_s=0.5)
    else:
        dead = await fetch(lab, h3_get, edge.base_url + "/small.bin", protocol)
        assert dead.error is not None and dead.error.startswith("ConnectError")
    while not edge.is_running and time.monotonic() - started < 5.0:
        await asyncio.sleep(0.05)
    assert edge.is_running and edge.port == port
    back = await fetch(lab, h3_get, edge.base_url + "/small.bin", protocol)
    assert back.status == 200 and back.body == lab_payloads["/small.bin"]


@pytest.mark.parametrize("protocol", ["1.1", "2", "3"])
async def test_kill_drops_a_download_in_flight(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], h3_get: H3Get, protocol: str
) -> None:
    edge = lab.edges[0]
    edge.faults.set(DripFault(rate_bytes_per_s=50_000))
    url = edge.base_url + "/medium.bin"
    if protocol == "3":
        task = asyncio.create_task(h3_get(url, timeout_s=1.5))
    else:
        task = asyncio.create_task(fetch(lab, h3_get, url, protocol))
    await asyncio.sleep(0.5)
    started = time.monotonic()
    await asyncio.wrap_future(edge.kill())
    assert time.monotonic() - started < 1.0
    if protocol == "3":
        with pytest.raises(TimeoutError):  # a dead QUIC server is silent: the client times out
            await asyncio.wait_for(task, 5.0)
    else:
        out = await asyncio.wait_for(task, 5.0)
        assert out.error is not None
        assert 0 < len(out.body) < 100_000
        assert out.body == lab_payloads["/medium.bin"][: len(out.body)]
    await asyncio.wrap_future(edge.revive())
    assert edge.is_running


def test_fault_switch_bounds_by_count_time_and_path() -> None:
    now = [100.0]
    switch = FaultSwitch(clock=lambda: now[0])
    two = switch.set(StatusFault(status=404), count=2, path_glob="*.m4s")
    timed = switch.set(StatusFault(status=500), count=None, for_s=5.0)
    assert switch.take("/a.m3u8") == StatusFault(status=500)
    assert switch.take("/a.m4s") == StatusFault(status=404)
    assert switch.take("/b.m4s") == StatusFault(status=404)
    assert two.applied == 2 and two not in switch.armed
    assert switch.take("/c.m4s") == StatusFault(status=500)
    now[0] = 105.0
    assert switch.take("/c.m4s") is None
    assert timed.applied == 2
    assert switch.armed == ()
    assert [p for _, p in switch.history] == ["/a.m3u8", "/a.m4s", "/b.m4s", "/c.m4s"]
    switch.set(ResetFault(), count=3)
    switch.clear()
    assert switch.take("/x") is None


def test_faults_are_validated() -> None:
    switch = FaultSwitch()
    with pytest.raises(TransportConfigError, match="count or a time limit"):
        switch.set(ResetFault(), count=None)
    with pytest.raises(TransportConfigError):
        switch.set(ResetFault(), count=0)
    with pytest.raises(TransportConfigError):
        StatusFault(status=200)
    with pytest.raises(TransportConfigError):
        DripFault(rate_bytes_per_s=0)
    with pytest.raises(TransportConfigError):
        DripFault(rate_bytes_per_s=1, max_s=0)
    with pytest.raises(TransportConfigError):
        StallFault(stall_s=-1)
