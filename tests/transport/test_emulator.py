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


def goodput_bps(arrivals: list[tuple[float, int]]) -> float:
    """Bytes after the first piece over the time from first to last piece, bit/s."""
    span = arrivals[-1][0] - arrivals[0][0]
    return sum(n for _, n in arrivals[1:]) * 8 / span


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
            h3_get(quic_emu.base_url + "/p.bin", headers=[("range", window)], timeout_s=20.0),
            tcp_arrivals(tcp_emu.base_url + "/p.bin", str(lab_ca.ca_file), range_header=window),
        )
    assert h3.status == 206 and h3.body == payload[:GOODPUT_BYTES]
    assert sum(n for _, n in tcp) == GOODPUT_BYTES
    quic_bps, tcp_bps = goodput_bps(h3.arrivals), goodput_bps(tcp)
    print(f"goodput at 2 Mbit/s: QUIC {quic_bps / 1e6:.3f} Mbit/s, TCP {tcp_bps / 1e6:.3f} Mbit/s")
    assert quic_bps == pytest.approx(2e6, rel=0.10)
    assert tcp_bps == pytest.approx(2e6, rel=0.10)
    assert quic_emu.stats().bytes_down >= GOODPUT_BYTES
    assert tcp_emu.stats().tcp_connections == 1


def window_bps(arrivals: list[tuple[float, int]], start: float, end: float) -> float:
    inside = [n for t, n in arrivals if start <= t < end]
    return sum(inside) * 8 / (end - start)


async def test_throttle_changes_the_rate_at_run_time(edge: LabServerThread, lab_ca: TestCA) -> None:
    emu = NetworkEmulator(edge.base_url, trace=ThroughputTrace.constant(4e6))
    async with emu:
        began = time.monotonic()

        async def throttle_later() -> None:
            await asyncio.sleep(1.0)
            emu.throttle(1e6, for_s=1.2)

        throttler = asyncio.create_task(throttle_later())
        arrivals = await tcp_arrivals(
            emu.base_url + "/p.bin", str(lab_ca.ca_file), range_header="bytes=0-1299999"
        )
        await throttler
    before = window_bps(arrivals, began + 0.3, began + 1.0)
    during = window_bps(arrivals, began + 1.3, began + 2.1)
    after = window_bps(arrivals, began + 2.5, arrivals[-1][0])
    assert before == pytest.approx(4e6, rel=0.2)
    assert during == pytest.approx(1e6, rel=0.2)
    assert after == pytest.approx(4e6, rel=0.2)
    emu.set_rate(2e6)
    assert emu._override_rate() == 2e6
    emu.set_rate(None)
    assert emu._override_rate() is None


async def test_rate_follows_a_varying_trace(edge: LabServerThread, lab_ca: TestCA) -> None:
    trace = ThroughputTrace(np.array([1.0, 1.0]), np.array([4e6, 1e6]))  # loops: 4, 1, 4 ...
    emu = NetworkEmulator(edge.base_url, trace=trace)
    async with emu:
        began = time.monotonic()
        arrivals = await tcp_arrivals(
            emu.base_url + "/p.bin", str(lab_ca.ca_file), range_header="bytes=0-1099999"
        )
    assert window_bps(arrivals, began + 0.2, began + 0.9) == pytest.approx(4e6, rel=0.2)
    assert window_bps(arrivals, began + 1.2, began + 1.9) == pytest.approx(1e6, rel=0.2)
    assert window_bps(arrivals, began + 2.2, began + 2.7) == pytest.approx(4e6, rel=0.2)


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
            for i in range(1000):
                sent[i] = time.monotonic()
                client.sendto(i.to_bytes(4, "big") + b"x" * 100)
                if i % 50 == 49:
                    await asyncio.sleep(0.005)
            await asyncio.sleep(0.3)
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
    assert 0.8 <= elapsed < 3.0  # 100 kB at 1 Mbit/s, plus the TLS handshake over 40 ms RTT
    assert emu.stats().tcp_connections == 1
