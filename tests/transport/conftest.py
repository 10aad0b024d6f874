"""Shared fixtures for transport tests: the lab's test CA, servers and a raw HTTP/3 client.

Fixtures:
    lab_ca: one ``TestCA`` for the whole session (its ``ca_file`` is what clients trust).
    lab_payloads: the in-memory files the lab CDN serves (path -> bytes, seeded random).
    lab: a running ``LabCdnThread`` (2 edges + origin over ``lab_payloads``, thread-backed,
        shared by the session); every test gets it with no fault armed and every edge up,
        and faults/kills are undone after the test. ``lab.edges[i].base_url``,
        ``lab.origin.base_url``, ``lab.ca_file``, ``lab.edges[i].faults.set(...)``,
        ``lab.edges[i].kill(revive_after_s=...)``.
    lab_emulator: ``make(target=None, **kwargs) -> NetworkEmulator`` starts a thread-backed
        ``NetworkEmulator`` (in front of ``lab.edges[0]`` by default; ``kwargs`` as for
        ``NetworkEmulator``) and stops it after the test; use ``emulator.base_url``.
    h3_get: ``await h3_get(url, headers=..., timeout_s=...) -> H3Result`` -- a minimal aioquic
        HTTP/3 client used to check the servers independently of ``transport``'s own client.
"""

from __future__ import annotations

import asyncio
import gc
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
from aioquic.asyncio import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, QuicEvent, StreamReset

from transport.lab import (
    EmulatorThread,
    LabCdn,
    LabCdnThread,
    MemoryContent,
    NetworkEmulator,
    TestCA,
)

LAB_TIMEOUT_S = 10.0
"""Bound on reviving an edge between tests."""


@dataclass
class H3Result:
    """What a raw HTTP/3 request got: status, headers, the body bytes seen, how it ended."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    ended: bool = False
    error: str | None = None
    arrivals: list[tuple[float, int]] = field(default_factory=list)
    """``(time.monotonic(), nbytes)`` of each DATA piece received."""
    max_datagram_bytes: int = 0
    """Largest UDP datagram received on the connection."""


class _H3Client(QuicConnectionProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._http = H3Connection(self._quic)
        self._results: dict[int, H3Result] = {}
        self._done: dict[int, asyncio.Future[H3Result]] = {}
        self._chunks: dict[int, list[bytes]] = {}

    def datagram_received(self, data: bytes | str, addr: Any) -> None:
        self.max_datagram = max(getattr(self, "max_datagram", 0), len(data))
        super().datagram_received(data, addr)

    def _finish(self, stream_id: int, error: str | None = None) -> None:
        if self._done[stream_id].done():
            return
        result = self._results[stream_id]
        result.body = b"".join(self._chunks[stream_id])
        result.max_datagram_bytes = getattr(self, "max_datagram", 0)
        result.error = error
        fut = self._done[stream_id]
        if not fut.done():
            fut.set_result(result)

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ConnectionTerminated):
            for sid in list(self._done):
                self._finish(sid, f"connection closed: {event.error_code} {event.reason_phrase}")
            return
        if isinstance(event, StreamReset) and event.stream_id in self._done:
            self._finish(event.stream_id, f"stream reset: {event.error_code}")
            return
        for h3_event in self._http.handle_event(event):
            sid = h3_event.stream_id  # type: ignore[attr-defined]
            if sid not in self._results:
                continue
            if isinstance(h3_event, HeadersReceived):
                headers = {k.decode(): v.decode() for k, v in h3_event.headers}
                self._results[sid].status = int(headers.pop(":status", "0"))
                self._results[sid].headers = headers
            elif isinstance(h3_event, DataReceived):
                self._chunks[sid].append(h3_event.data)
                self._results[sid].arrivals.append((time.monotonic(), len(h3_event.data)))
            if getattr(h3_event, "stream_ended", False):
                self._results[sid].ended = True
                self._finish(sid)

    async def request(
        self, method: str, authority: str, path: str, headers: list[tuple[str, str]]
    ) -> H3Result:
        sid = self._quic.get_next_available_stream_id()
        self._results[sid] = H3Result()
        self._chunks[sid] = []
        self._done[sid] = asyncio.get_running_loop().create_future()
        self._http.send_headers(
            sid,
            [
                (b":method", method.encode()),
                (b":scheme", b"https"),
                (b":authority", authority.encode()),
                (b":path", path.encode()),
            ]
            + [(k.encode(), v.encode()) for k, v in headers],
            end_stream=True,
        )
        self.transmit()
        return await self._done[sid]


H3Get = Callable[..., Awaitable[H3Result]]


@pytest.fixture(scope="session")
def lab_ca() -> Iterator[TestCA]:
    """One throwaway CA for the session."""
    with TestCA() as ca:
        yield ca


@pytest.fixture(scope="session")
def lab_payloads() -> dict[str, bytes]:
    """Files served by the ``lab`` fixture: small, 100 kB, 2 MB, a playlist and a segment."""
    rng = np.random.default_rng(20261121)
    return {
        "/small.bin": rng.bytes(10_000),
        "/medium.bin": rng.bytes(100_000),
        "/big.bin": rng.bytes(2_000_000),
        "/video/index.m3u8": b"#EXTM3U\n#EXT-X-VERSION:7\n",
        "/video/seg-1.m4s": rng.bytes(50_000),
    }


@pytest.fixture(scope="session")
def lab_session(lab_ca: TestCA, lab_payloads: dict[str, bytes]) -> Iterator[LabCdnThread]:
    """The session's lab CDN (use ``lab``, which resets it around each test)."""
    handle = LabCdn(MemoryContent(lab_payloads), edges=2, ca=lab_ca).start_in_thread()
    try:
        yield handle
    finally:
        handle.stop()


def _reset_lab(handle: LabCdnThread) -> None:
    handle.cdn.clear_faults()
    for edge in handle.cdn.all:
        if not edge.is_running:
            edge.revive().result(LAB_TIMEOUT_S)


@pytest.fixture
def lab(lab_session: LabCdnThread) -> Iterator[LabCdnThread]:
    """The running lab CDN with no fault armed and every edge up (restored afterwards)."""
    _reset_lab(lab_session)
    try:
        yield lab_session
    finally:
        _reset_lab(lab_session)


@pytest.fixture
def lab_emulator(lab: LabCdnThread) -> Iterator[Callable[..., NetworkEmulator]]:
    """Factory of network emulators in front of lab edges, stopped after the test."""
    handles: list[EmulatorThread] = []

    def make(target: str | None = None, **kwargs: Any) -> NetworkEmulator:
        handle = NetworkEmulator(target or lab.edges[0].base_url, **kwargs).start_in_thread()
        handles.append(handle)
        return handle.emulator

    try:
        yield make
    finally:
        for handle in handles:
            handle.stop()


@pytest.fixture
def h3_get(lab_ca: TestCA) -> Iterator[H3Get]:
    """A raw HTTP/3 GET (or HEAD) over a fresh QUIC connection, bounded by ``timeout_s``.

    The handshake and the response are each bounded by ``timeout_s`` (``TimeoutError``).
    """

    async def get(
        url: str,
        *,
        method: str = "GET",
        headers: list[tuple[str, str]] | None = None,
        timeout_s: float = 5.0,
        ca_file: str | None = None,
    ) -> H3Result:
        parts = urlsplit(url)
        config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN)
        config.load_verify_locations(ca_file or str(lab_ca.ca_file))
        config.verify_mode = ssl.CERT_REQUIRED
        config.idle_timeout = timeout_s + 1.0
        assert parts.hostname is not None and parts.port is not None
        path = parts.path + (f"?{parts.query}" if parts.query else "")

        async def run() -> H3Result:
            # Timeouts cancel only awaits inside the ``async with``, so that the connection is
            # always closed properly: a coroutine cancelled inside aioquic's ``connect`` leaves
            # garbage whose finalizer breaks a later ``ast.parse`` on CPython 3.11.
            async with connect(
                parts.hostname,  # type: ignore[arg-type]
                parts.port,
                configuration=config,
                create_protocol=_H3Client,
                wait_connected=False,
            ) as client:
                assert isinstance(client, _H3Client)
                client.transmit()  # send the Initial (connect() did not, wait_connected=False)
                await asyncio.wait_for(client.wait_connected(), timeout_s)
                request = client.request(method, parts.netloc, path or "/", headers or [])
                return await asyncio.wait_for(request, timeout_s)

        return await run()

    yield get
    gc.collect()  # finalize closed connections while this test is still the one running
