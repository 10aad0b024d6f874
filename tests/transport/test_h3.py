"""H3Client connection management: session resumption, GOAWAY, idle and dead connections.

The lab CDN (Hypercorn) issues no session tickets and sends GOAWAY only when it shuts down,
so the resumption and GOAWAY tests use a small aioquic server defined here (a real QUIC
server on loopback, not a mock) that stores tickets and can send GOAWAY on request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aioquic.asyncio import QuicConnectionProtocol, serve
from aioquic.buffer import encode_uint_var
from aioquic.h3.connection import H3_ALPN, FrameType, H3Connection, encode_frame
from aioquic.h3.events import HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import QuicEvent
from aioquic.tls import SessionTicket

from transport import H3Client, HttpClient, Timeouts, TransportConfig
from transport.lab import LabCdnThread, TestCA

BODY = b"resumable" * 100


class _Server(QuicConnectionProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._http = H3Connection(self._quic)

    def quic_event_received(self, event: QuicEvent) -> None:
        for h3_event in self._http.handle_event(event):
            if isinstance(h3_event, HeadersReceived):
                path = dict(h3_event.headers)[b":path"]
                sid = h3_event.stream_id
                if path == b"/early-hints":
                    self._http.send_headers(sid, [(b":status", b"103"), (b"link", b"</a>")])
                self._http.send_headers(
                    sid, [(b":status", b"200"), (b"content-length", str(len(BODY)).encode())]
                )
                self._http.send_data(sid, BODY, end_stream=True)
                if path == b"/goaway":
                    control = self._http._local_control_stream_id
                    assert control is not None
                    frame = encode_frame(FrameType.GOAWAY, encode_uint_var(sid + 4))
                    self._quic.send_stream_data(control, frame)
                self.transmit()


@pytest.fixture
async def ticket_server(lab_ca: TestCA) -> AsyncIterator[tuple[str, dict[bytes, SessionTicket]]]:
    tickets: dict[bytes, SessionTicket] = {}
    config = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
    config.load_cert_chain(lab_ca.cert_file, lab_ca.key_file)
    server = await serve(
        "127.0.0.1",
        0,
        configuration=config,
        create_protocol=_Server,
        session_ticket_fetcher=tickets.pop,
        session_ticket_handler=lambda t: tickets.__setitem__(t.ticket, t),
    )
    port = server._transport.get_extra_info("sockname")[1]
    try:
        yield f"https://127.0.0.1:{port}", tickets
    finally:
        server.close()


def h3_config(ca_file: str, **kw: object) -> TransportConfig:
    return TransportConfig(
        protocol="h3",
        ca_file=ca_file,
        timeouts=Timeouts(connect_s=2.0, ttfb_s=2.0, stall_s=2.0, total_s=5.0),
        **kw,  # type: ignore[arg-type]
    )


async def test_reconnect_resumes_the_tls_session(
    lab_ca: TestCA, ticket_server: tuple[str, dict[bytes, SessionTicket]]
) -> None:
    base, issued = ticket_server
    async with H3Client(h3_config(str(lab_ca.ca_file))) as client:
        first = await client.fetch(base + "/a")
        conn1 = client.connections[base]
        assert not conn1.is_resumed
        await asyncio.sleep(0.05)  # the ticket arrives after the handshake
        assert client.has_ticket(base)
        await client.aclose()  # drop the connection, keep the ticket
        second = await client.fetch(base + "/b")
        conn2 = client.connections[base]
    assert first.content == second.content == BODY
    assert conn2 is not conn1
    assert conn2.is_resumed
    assert conn2.is_early_data_accepted  # the GET went out as 0-RTT
    assert issued  # the server stored the ticket it issued


async def test_goaway_makes_the_pool_open_a_new_connection(
    lab_ca: TestCA, ticket_server: tuple[str, dict[bytes, SessionTicket]]
) -> None:
    base, _ = ticket_server
    async with H3Client(h3_config(str(lab_ca.ca_file))) as client:
        await client.fetch(base + "/goaway")
        conn1 = client.connections[base]
        await asyncio.sleep(0.05)
        assert not conn1.is_usable
        response = await client.fetch(base + "/after")
        conn2 = client.connections[base]
    assert response.content == BODY
    assert conn2 is not conn1


async def test_idle_connection_is_replaced_not_reused(lab: LabCdnThread) -> None:
    base = lab.edges[0].base_url
    async with H3Client(h3_config(lab.ca_file, quic_idle_timeout_s=1.0)) as client:
        await client.fetch(base + "/small.bin")
        conn1 = client.connections[base]
        await asyncio.sleep(1.2)
        assert not conn1.is_usable
        response = await client.fetch(base + "/small.bin")
        conn2 = client.connections[base]
    assert response.status == 200
    assert conn2 is not conn1


async def test_connection_to_a_restarted_edge_is_replaced(lab: LabCdnThread) -> None:
    edge = lab.edges[0]
    async with HttpClient(h3_config(lab.ca_file)) as client:
        await client.fetch(edge.base_url + "/small.bin")
        conn1 = client.h3.connections[edge.base_url]
        await asyncio.wrap_future(edge.kill())
        await asyncio.wrap_future(edge.revive())
        response = await client.fetch(edge.base_url + "/small.bin")
        conn2 = client.h3.connections[edge.base_url]
    assert response.status == 200
    assert conn1.is_closed and conn2 is not conn1


@pytest.mark.parametrize("size", [1200, 1452])
async def test_datagram_size_is_configurable(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], size: int
) -> None:
    async with H3Client(h3_config(lab.ca_file, max_datagram_size=size)) as client:
        response = await client.fetch(lab.edges[0].base_url + "/big.bin")
        conn = client.connections[lab.edges[0].base_url]
        assert conn.quic.configuration.max_datagram_size == size
    assert response.content == lab_payloads["/big.bin"]


async def test_quiet_connection_to_a_silently_restarted_edge_fails_fast(lab: LabCdnThread) -> None:
    """The restarted server drops our old connection's packets without a word: the liveness
    PING finds it dead within connect_s, long before the 5 s ttfb limit."""
    edge = lab.edges[0]
    cfg = dataclasses.replace(
        h3_config(lab.ca_file),
        timeouts=Timeouts(connect_s=0.5, ttfb_s=5.0, stall_s=0.3, total_s=8.0),
    )
    cfg = dataclasses.replace(
        cfg, retry=dataclasses.replace(cfg.retry, base_delay_s=0.05, max_delay_s=0.1)
    )
    async with HttpClient(cfg) as client:
        await client.fetch(edge.base_url + "/small.bin")
        conn1 = client.h3.connections[edge.base_url]
        await asyncio.wrap_future(edge.kill())
        await asyncio.wrap_future(edge.revive())
        await asyncio.sleep(0.4)  # quiet for longer than stall_s
        started = time.monotonic()
        response = await client.fetch(edge.base_url + "/small.bin")
        elapsed = time.monotonic() - started
        conn2 = client.h3.connections[edge.base_url]
    assert response.status == 200
    assert conn1.is_closed and conn2 is not conn1
    assert elapsed < 0.5 + 0.1 + 1.0


async def test_interim_response_is_skipped(
    lab_ca: TestCA, ticket_server: tuple[str, dict[bytes, SessionTicket]]
) -> None:
    base, _ = ticket_server
    async with H3Client(h3_config(str(lab_ca.ca_file))) as client:
        response = await client.fetch(base + "/early-hints")
    assert response.status == 200
    assert response.content == BODY
    assert "link" not in response.headers
