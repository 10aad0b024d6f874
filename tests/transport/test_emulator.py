"""NetworkEmulator measured on loopback: goodput to a trace over QUIC and TCP, run-time rate
changes, delay, loss, and the emulator stopping by itself."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import H3Get

import abr
from transport.errors import TransportConfigError
from transport.lab import (
    CdnApp,
    LabCdnThread,
    LabServer,
    LabServerThread,
    MemoryContent,
    NetworkEmulator,
    TestCA,
    ThroughputTrace,
)

GOODPUT_BYTES = 2_500_000
"""20 Mbit: 10 s at 2 Mbit/s."""


@pytest.fixture(scope="module")
def payload() -> bytes:
    return np.random.default_rng(7).bytes(GOODPUT_BYTES + 100_000)


@pytest.fixture(scope="module")
def edge(lab_ca: TestCA, payload: bytes) -> Iterator[LabServerThread]:
    app = CdnApp(MemoryContent({"/p.bin": payload}), name="shaped")
    handle = LabServer(app, ca=lab_ca).start_in_thread()
    try:
        yield handle
    finally:
        handle.stop()


async def tcp_arrivals(
    url: str, ca_file: str, *, range_header: str | None = None
) -> list[tuple[float, int]]:
    ctx = ssl.create_default_context(cafile=ca_file)
    arrivals: list[tuple[float, int]] = []
    headers = {"range": range_header} if range_header else {}
    async with httpx.AsyncClient(verify=ctx, timeout=30.0) as client:
        async with client.stream("GET", url, headers=headers) as response:
            assert response.status_code in (200, 206)
            async for chunk in response.aiter_raw():
                arrivals.append((time.monotonic(), len(chunk)))
    return arrivals


async def test_two_mbit_trace_gives_two_mbit_goodput_over_quic_and_tcp(
    edge: LabServerThread, lab_ca: TestCA, payload: bytes, h3_get: H3Get, tmp_path: Path
) -> None:
    """Both measured at once (separate emulators), 10 s each: the suite's one long test."""
    sabre = tmp_path / "2mbit.json"
    sabre.write_text(
        json.dumps([{"duration_ms": 60_000, "bandwidth_kbps": 2000, "latency_ms": 20}])
    )
    cooked = tmp_path / "2mbit.cooked"
    cooked.write_text("0.0\t2.0\n30.0\t2.0\n")
    window = f"bytes=0-{GOODPUT_BYTES - 1}"
    # both files read by abr's readers, the SDK's one trace parser set (transport.lab._traces)
    quic_emu = NetworkEmulator(
        edge.base_url, trace=abr.parse_trace(sabre.read_bytes()), delay_s=0.01
    )
    tcp_emu = NetworkEmulator(
        edge.base_url, trace=abr.parse_trace(cooked.read_bytes()), delay_s=0.01
    )
    async with quic_emu, tcp_emu:
        h3, tcp = await asyncio.gather(
            h3_get(quic_emu.base_url + "/p.bin", headers=[("range", window)], timeout_s=30.0),
            tcp_arrivals(tcp_emu.base_url + "/p.bin", str(lab_ca.ca_file), range_header=window),
        )
    assert h3.status == 206 and h3.body == payload[:GOODPUT_BYTES]
    assert sum(n for _, n in tcp) == GOODPUT_BYTES
    # The shaping is measured by the emulator's own schedule, not by when the client's event
    # loop got round to reading (issue 11: 1.79 Mbit/s on a machine at load average 6-11).
    for name, emu in (("QUIC", quic_emu), ("TCP", tcp_emu)):
        stats = emu.stats()
        assert stats.link_bytes >= GOODPUT_BYTES  # everything went through the bottleneck
        assert stats.link_bytes <= stats.bytes_down + 200_000  # ... and nothing around it
        shaped_bps = stats.link_bytes * 8 / stats.link_busy_s
        pieces = emu.transmissions()
        rates = [p.nbytes * 8 / (p.end_s - p.start_s) for p in pieces if p.end_s > p.start_s]
        span = pieces[-1].end_s - pieces[0].start_s
        print(
            f"{name} at 2 Mbit/s: shaped {shaped_bps / 1e6:.4f} Mbit/s over {len(pieces)} pieces,"
            f" link busy {stats.link_busy_s / span:.0%} of {span:.2f} s"
        )
        assert shaped_bps == pytest.approx(2e6, rel=0.01)
        assert min(rates) == pytest.approx(2e6, rel=0.01)  # every single piece, not an average
        assert max(rates) == pytest.approx(2e6, rel=0.01)
        # the client cannot have had it sooner than the link let it through
        assert span >= (GOODPUT_BYTES * 8 / 2e6) * 0.99
    assert quic_emu.stats().bytes_down >= GOODPUT_BYTES
    assert tcp_emu.stats().tcp_connections == 1


def piece_rates(emu: NetworkEmulator, start: float, end: float) -> list[float]:
    """Rates the emulator's link applied to the pieces it sent within [start, end] (loop time).

    From the emulator's own schedule: independent of when the client got round to reading.
    """
    return [
        p.nbytes * 8 / (p.end_s - p.start_s)
        for p in emu.transmissions()
        if start <= p.start_s and p.end_s <= end and p.end_s > p.start_s
    ]


def all_near(rates: list[float], rate: float) -> bool:
    return bool(rates) and all(abs(r - rate) <= 0.01 * rate for r in rates)


async def test_throttle_changes_the_rate_at_run_time(edge: LabServerThread, lab_ca: TestCA) -> None:
    emu = NetworkEmulator(edge.base_url, trace=ThroughputTrace.constant(4e6))
    throttled_at: list[float] = []
    async with emu:

        async def throttle_later() -> None:
            await asyncio.sleep(1.0)
            throttled_at.append(time.monotonic())  # the emulator runs on this loop's clock
            emu.throttle(1e6, for_s=1.2)

        throttler = asyncio.create_task(throttle_later())
        arrivals = await tcp_arrivals(
            emu.base_url + "/p.bin", str(lab_ca.ca_file), range_header="bytes=0-1299999"
        )
        await throttler
    assert sum(n for _, n in arrivals) == 1_300_000
    t = throttled_at[0]
    # a piece is shaped when it is queued, at most one read-ahead (~10 ms) before it starts
    assert all_near(piece_rates(emu, 0.0, t), 4e6)
    assert all_near(piece_rates(emu, t + 0.05, t + 1.15), 1e6)
    assert all_near(piece_rates(emu, t + 1.25, float("inf")), 4e6)
    emu.set_rate(2e6)
    assert emu._override_rate() == 2e6
    emu.set_rate(None)
    assert emu._override_rate() is None


async def test_rate_follows_a_varying_trace(edge: LabServerThread, lab_ca: TestCA) -> None:
    trace = ThroughputTrace(np.array([1.0, 1.0]), np.array([4e6, 1e6]))  # loops: 4, 1, 4 ...
    emu = NetworkEmulator(edge.base_url, trace=trace)
    async with emu:
        # the trace's own origin (loop time), not a clock read after start() returned: on a
        # busy machine that read can come tens of ms later and shift every window below
        began = emu._started_at
        arrivals = await tcp_arrivals(
            emu.base_url + "/p.bin", str(lab_ca.ca_file), range_header="bytes=0-1099999"
        )
    assert sum(n for _, n in arrivals) == 1_100_000
    # pieces wholly inside one period of the trace went at that period's rate
    assert all_near(piece_rates(emu, began + 0.05, began + 0.95), 4e6)
    assert all_near(piece_rates(emu, began + 1.05, began + 1.95), 1e6)
    assert all_near(piece_rates(emu, began + 2.05, began + 2.95), 4e6)


class _UdpEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)  # type: ignore[attr-defined]


class _Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: dict[int, float] = {}

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received[int.from_bytes(data[:4], "big")] = time.monotonic()


async def test_udp_delay_and_seeded_loss() -> None:
    loop = asyncio.get_running_loop()
    echo, _ = await loop.create_datagram_endpoint(_UdpEcho, local_addr=("127.0.0.1", 0))
    target = echo.get_extra_info("sockname")[:2]
    try:
        emu = NetworkEmulator(tuple(target), delay_s=0.05, loss=0.1, seed=3)
        async with emu:
            client, collector = await loop.create_datagram_endpoint(
                _Collector, remote_addr=("127.0.0.1", emu.port)
            )
            sent: dict[int, float] = {}
            # Bursts of 100, each sent once the previous one is all accounted for (received or
            # lost): the delay lines then never hold more than 100 datagrams, so a wake-up of
            # the relay that came late (a busy machine) cannot flood a socket's receive buffer
            # with more than it holds, which the kernel would drop as loss of its own.
            deadline = time.monotonic() + 30.0
            for burst in range(10):
                for i in range(burst * 100, burst * 100 + 100):
                    sent[i] = time.monotonic()
                    client.sendto(i.to_bytes(4, "big") + b"x" * 100)
                while len(collector.received) + emu.stats().datagrams_lost < len(sent):
                    assert time.monotonic() < deadline, "datagrams neither delivered nor lost"
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
            client.close()
            stats = emu.stats()
    finally:
        echo.close()
    got = collector.received
    rtts = [got[i] - sent[i] for i in got]
    assert 0.81 - 0.05 < len(got) / 1000 < 0.81 + 0.05  # 10 % each way
    assert stats.datagrams_lost == 1000 - len(got)
    assert stats.datagrams_queue_dropped == 0
    assert 0.1 <= min(rtts) and float(np.median(rtts)) < 0.2


async def test_tcp_delay_and_stopping_by_itself() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    target = server.sockets[0].getsockname()[:2]
    try:
        emu = NetworkEmulator(tuple(target), delay_s=0.05, duration_s=1.0)
        await emu.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", emu.port)
        started = time.monotonic()
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 2.0) == b"ping"
        rtt = time.monotonic() - started
        await asyncio.wait_for(emu.wait_stopped(), 2.0)
        assert not emu.is_running
        assert await asyncio.wait_for(reader.read(), 2.0) == b""  # relayed connection closed
        writer.close()
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", emu.port)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", emu.port))  # the UDP port is released too
    finally:
        server.close()
        await server.wait_closed()
    assert 0.1 <= rtt < 0.3


def test_restart_trace_starts_the_trace_over(edge: LabServerThread) -> None:
    """A session that begins after the emulator started meets the trace's first second."""
    trace = ThroughputTrace(np.array([0.3, 30.0]), np.array([4e6, 1e6]))
    handle = NetworkEmulator(edge.base_url, trace=trace).start_in_thread()
    try:
        emu = handle.emulator
        time.sleep(0.35)
        assert emu.current_rate_bps() == 1e6
        emu.restart_trace()
        now = emu.loop.time()
        assert emu.current_rate_bps() == 4e6
        # 1 Mbit from now: 0.3 s at 4 Mbit/s carry 1.2 Mbit (less the time since the restart)
        assert emu._transmit_end(now, 125_000) == pytest.approx(now + 0.25, abs=0.01)
    finally:
        handle.stop()
    with pytest.raises(RuntimeError):
        NetworkEmulator(edge.base_url).restart_trace()


def test_thread_form_and_validation(edge: LabServerThread) -> None:
    handle = NetworkEmulator(edge.base_url, trace=ThroughputTrace.constant(1e6)).start_in_thread()
    try:
        assert handle.base_url.startswith("https://127.0.0.1:")
        handle.emulator.throttle(5e5, for_s=1.0)
        assert handle.emulator._override_rate() == 5e5
    finally:
        handle.stop()
    assert not handle.emulator.is_running
    with pytest.raises(TransportConfigError):
        NetworkEmulator(edge.base_url, loss=1.0)
    with pytest.raises(TransportConfigError):
        NetworkEmulator("https://127.0.0.1", duration_s=1.0)
    with pytest.raises(TransportConfigError):
        NetworkEmulator(edge.base_url).set_rate(0)


async def test_lab_emulator_fixture_shapes_a_lab_edge(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], lab_emulator: Callable[..., NetworkEmulator]
) -> None:
    emu = lab_emulator(trace=ThroughputTrace.constant(1e6), delay_s=0.02)
    started = time.monotonic()
    arrivals = await tcp_arrivals(emu.base_url + "/medium.bin", lab.ca_file)
    elapsed = time.monotonic() - started
    assert sum(n for _, n in arrivals) == len(lab_payloads["/medium.bin"])
    assert 0.8 <= elapsed  # 100 kB at 1 Mbit/s, plus the TLS handshake over 40 ms RTT
    # The rate is read from the emulator's own schedule, not from the wall time the client
    # took, which a busy machine stretches (the upper bound that used to be here).
    stats = emu.stats()
    assert stats.tcp_connections == 1
    assert stats.link_bytes >= len(lab_payloads["/medium.bin"])
    assert stats.link_bytes * 8 / stats.link_busy_s == pytest.approx(1e6, rel=0.01)
