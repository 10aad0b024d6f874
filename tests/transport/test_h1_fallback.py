"""``protocol="auto"``: HTTP/3 first, bounded fallback to HTTP/1.1-2, per-origin memory, Alt-Svc."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from transport import HttpClient, Timeouts, TransportConfig
from transport._alt_svc import ProtocolMemory, parse_alt_svc_h3
from transport.lab import LabCdn, LabCdnThread, MemoryContent, TestCA

PAYLOAD = bytes(range(256)) * 40


@pytest.fixture(scope="module")
def tcp_only(lab_ca: TestCA) -> Iterator[LabCdnThread]:
    """An origin without HTTP/3 (its UDP port is closed)."""
    handle = LabCdn(
        MemoryContent({"/a.bin": PAYLOAD}), edges=0, ca=lab_ca, http3=False
    ).start_in_thread()
    try:
        yield handle
    finally:
        handle.stop()


def auto_config(ca_file: str, **kw: object) -> TransportConfig:
    return TransportConfig(
        protocol="auto",
        ca_file=ca_file,
        timeouts=Timeouts(connect_s=2.0, ttfb_s=2.0, stall_s=2.0, total_s=5.0),
        **kw,  # type: ignore[arg-type]
    )


async def test_auto_uses_http3_when_the_server_speaks_it(lab: LabCdnThread) -> None:
    async with HttpClient(auto_config(lab.ca_file)) as client:
        response = await client.fetch(lab.edges[0].base_url + "/small.bin")
    assert response.protocol == "h3"
    assert lab.edges[0].requests[-1].http_version == "3"


async def test_auto_falls_back_when_udp_is_closed_and_remembers(tcp_only: LabCdnThread) -> None:
    url = tcp_only.origin.base_url + "/a.bin"
    async with HttpClient(auto_config(tcp_only.ca_file)) as client:
        started = time.monotonic()
        first = await client.fetch(url)
        first_s = time.monotonic() - started
        assert not client.protocols.wants_h3(url, asyncio.get_running_loop().time())
        second = await client.fetch(url)
    assert (first.protocol, second.protocol) == ("h2", "h2")
    assert first.content == second.content == PAYLOAD
    assert first_s < 1.0  # the closed port answers at once (ICMP), no waiting


async def test_auto_fallback_is_bounded_when_udp_is_black_holed(tcp_only: LabCdnThread) -> None:
    """A UDP socket bound at the server's port swallows the QUIC handshake: no answer at all."""
    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hole.bind(("127.0.0.1", tcp_only.origin.port))
    hole.setblocking(False)
    try:
        cfg = auto_config(tcp_only.ca_file, h3_fallback_s=0.3)
        url = tcp_only.origin.base_url + "/a.bin"
        async with HttpClient(cfg) as client:
            started = time.monotonic()
            response = await client.fetch(url)
            elapsed = time.monotonic() - started
            first_flight = _drain(hole)
            again = await client.fetch(url)
            second_flight = _drain(hole)
    finally:
        hole.close()
    assert response.protocol == again.protocol == "h2"
    assert 0.3 <= elapsed < 0.3 + 1.0
    assert first_flight and min(len(d) for d in first_flight) >= 1200  # QUIC Initials were sent
    # Remembered: no second handshake attempt. A late retransmission of the first attempt's
    # Initial (a busy machine can hold it past the drain) carries the first attempt's
    # connection ID; a new attempt would carry a new one.
    assert {_initial_dcid(d) for d in second_flight} <= {_initial_dcid(d) for d in first_flight}


def _initial_dcid(datagram: bytes) -> bytes:
    """The Destination Connection ID of a QUIC long-header packet (RFC 9000, section 17.2)."""
    assert datagram[0] & 0x80, "not a long-header packet"
    length = datagram[5]
    return datagram[6 : 6 + length]


def _drain(sock: socket.socket) -> list[bytes]:
    datagrams = []
    while True:
        try:
            datagrams.append(sock.recv(65536))
        except BlockingIOError:
            return datagrams


async def test_http1_mode_never_touches_udp(lab: LabCdnThread) -> None:
    cfg = TransportConfig(protocol="h1", ca_file=lab.ca_file, is_http2_enabled=False)
    async with HttpClient(cfg) as client:
        response = await client.fetch(lab.edges[0].base_url + "/small.bin")
        assert client.h3.connections == {}
    assert response.protocol == "h1"
    assert lab.edges[0].requests[-1].http_version == "1.1"


def test_alt_svc_parsing() -> None:
    assert parse_alt_svc_h3('h3=":4433"; ma=60') == (4433, 60.0)
    assert parse_alt_svc_h3('h2=":443", h3=":8443"') == (8443, 86400.0)
    assert parse_alt_svc_h3('h3-29=":443"') is None
    assert parse_alt_svc_h3('h3="evil.example:443"') is None
    assert parse_alt_svc_h3("clear") is False


def test_protocol_memory_honours_alt_svc_and_broken_windows() -> None:
    memory = ProtocolMemory(TransportConfig(h3_broken_s=10.0))
    url = "https://cdn.example:8443/seg.m4s"
    assert memory.wants_h3(url, 0.0)
    memory.on_alt_svc(url, 'h3=":9443"; ma=100', now=0.0)
    assert memory.h3_port(url, 50.0) == 9443
    assert memory.h3_port(url, 150.0) is None  # expired
    memory.on_h3_failed(url, 200.0)
    assert not memory.wants_h3(url, 205.0)
    assert memory.wants_h3(url, 210.0)
    memory.on_alt_svc(url, "clear", now=211.0)
    assert not memory.wants_h3(url, 1000.0)
    memory.on_alt_svc(url, 'h3=":8443"', now=1001.0)
    assert memory.wants_h3(url, 1002.0)
