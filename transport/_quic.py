"""One client QUIC connection carrying HTTP/3, on its own non-blocking UDP socket.

aioquic is sans-I/O; this module is its adapter. It does not use aioquic's asyncio helpers:
a readiness callback drains every datagram the kernel holds (up to a batch limit), feeds them
all to aioquic, dispatches the resulting events, and transmits once. Per-datagram event-loop
overhead is what limits HTTP/3 throughput in Python, so batching is the main optimisation.
Backpressure: aioquic grows flow-control windows as data arrives, so when a stream buffers
more than ``stream_buffer_bytes`` the socket is no longer read until the consumer catches up.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable, Sequence

from aioquic.h3.connection import H3_ALPN
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import (
    ConnectionTerminated,
    HandshakeCompleted,
    QuicEvent,
    StreamDataReceived,
    StreamReset,
)
from aioquic.tls import SessionTicket

from transport._quic_rx import FastQuicConnection, H3Session, StreamChunksReceived
from transport.config import TransportConfig
from transport.errors import (
    ConnectError,
    ConnectionRefused,
    ReadError,
    TlsVerificationError,
    TransportError,
)

__all__: list[str] = []

logger = logging.getLogger(__name__)

_RECV_BATCH = 256
_RECV_SIZE = 65536
_ARENA_BYTES = 1 << 20
"""Receive buffer of one batch: _RECV_BATCH datagrams of up to 4 KB, or fewer larger ones."""
_H3_NO_ERROR = 0x100
_TLS_CERTIFICATE_ALERTS = frozenset(0x100 + alert for alert in (42, 43, 44, 45, 46, 48))
"""QUIC CRYPTO_ERROR codes (RFC 9001 section 4.8: 0x100 + TLS alert) for certificate
alerts (RFC 8446 section 6.2: bad, unsupported, revoked, expired, unknown, unknown_ca)."""
_H3_REQUEST_CANCELLED = 0x10C
_CRYPTO_ERROR_BASE = 0x100


def quic_configuration(
    config: TransportConfig, host: str, ticket: SessionTicket | None
) -> QuicConfiguration:
    """Build aioquic's client configuration from ours (TLS always verified unless disabled).

    Args:
        config: Transport settings.
        host: Server name for SNI and the certificate check.
        ticket: Session ticket to resume with, if any.

    Returns:
        The configuration.
    """
    qconf = QuicConfiguration(
        is_client=True,
        alpn_protocols=H3_ALPN,
        server_name=host,
        max_datagram_size=config.max_datagram_size,
        idle_timeout=config.quic_idle_timeout_s,
        max_data=max(config.stream_buffer_bytes * 4, 1 << 20),
        max_stream_data=max(config.stream_buffer_bytes, 1 << 20),
        verify_mode=ssl.CERT_REQUIRED if config.verify_tls else ssl.CERT_NONE,
        session_ticket=ticket if ticket is not None and ticket.is_valid else None,
    )
    if config.ca_file is not None:
        qconf.load_verify_locations(cafile=config.ca_file)
    return qconf


def _is_interim(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a header block is an interim (1xx) response, e.g. 103 Early Hints."""
    return any(name == b":status" and value.startswith(b"1") for name, value in headers)


class H3Stream:
    """The receiving side of one request stream: headers, then buffered body chunks."""

    __slots__ = (
        "buffered",
        "chunks",
        "conn",
        "error",
        "headers",
        "headers_waiter",
        "is_ended",
        "stream_id",
        "waiter",
    )

    def __init__(self, conn: QuicConn, stream_id: int) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.headers: list[tuple[bytes, bytes]] | None = None
        self.headers_waiter: asyncio.Future[None] = conn.loop.create_future()
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.is_ended = False
        self.error: TransportError | None = None
        self.waiter: asyncio.Future[None] | None = None

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def on_headers(self, headers: list[tuple[bytes, bytes]], is_ended: bool) -> None:
        """Record response headers (interim 1xx responses and trailers are ignored)."""
        if self.headers is None and _is_interim(headers):
            return
        if self.headers is None:
            self.headers = headers
            if not self.headers_waiter.done():
                self.headers_waiter.set_result(None)
        if is_ended:
            self.is_ended = True
            self._wake()

    def on_data(self, data: bytes, is_ended: bool) -> None:
        """Buffer body bytes; asks the connection to pause reading past the bound."""
        if data:
            self.chunks.append(data)
            self.buffered += len(data)
            if self.buffered > self.conn.buffer_limit:
                self.conn.pause_for(self)
        if is_ended:
            self.is_ended = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def on_body(self, pieces: list[bytes]) -> None:
        """Buffer body pieces taken in one batch; asks the connection to pause past the bound."""
        self.chunks.extend(pieces)
        self.buffered += sum(map(len, pieces))
        if self.buffered > self.conn.buffer_limit:
            self.conn.pause_for(self)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def on_error(self, error: TransportError) -> None:
        """Fail the stream; waiting readers see ``error``."""
        if self.error is None and not self.is_ended:
            self.error = error
        if not self.headers_waiter.done():
            self.headers_waiter.set_exception(error)
            self.headers_waiter.exception()  # mark retrieved; the reader raises it itself
        self._wake()

    def pop_pieces(self) -> list[bytes] | None:
        """Return every buffered piece, ``[]`` at the end, ``None`` if none is ready.

        Raises:
            TransportError: The stream failed.
        """
        pieces = self.chunks
        if pieces:
            self.chunks = []
            self.buffered = 0
            self.conn.on_consumed(self)
            return pieces
        if self.error is not None:
            raise self.error
        if self.is_ended:
            return []
        return None

    async def wait(self) -> None:
        """Wait until a chunk, the end or an error arrives."""
        self.waiter = self.conn.loop.create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None


class QuicConn:
    """A client QUIC connection to one origin, multiplexing HTTP/3 request streams.

    Args:
        config: Transport settings (TLS, datagram size, windows, idle timeout).
        host: Server name (SNI and certificate check).
        addr: Resolved ``(ip, port)``.
        ticket: A session ticket from an earlier connection, for resumption/0-RTT.
        on_ticket: Called with each new session ticket the server issues.
    """

    def __init__(
        self,
        config: TransportConfig,
        *,
        host: str,
        addr: tuple[str, int],
        ticket: SessionTicket | None,
        on_ticket: Callable[[SessionTicket], None],
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.addr = addr
        self.host = host
        self.buffer_limit = config.stream_buffer_bytes
        self.idle_timeout_s = config.quic_idle_timeout_s
        qconf = quic_configuration(config, host, ticket)
        self.quic = FastQuicConnection(
            configuration=qconf, session_ticket_handler=on_ticket, sink=self._take_body
        )
        self.h3: H3Session | None = None
        self.streams: dict[int, H3Stream] = {}
        self.handshake: asyncio.Future[None] = self.loop.create_future()
        self.is_closed = False
        self.is_resumed = False
        self.is_early_data_accepted = False
        self.close_reason: TransportError | None = None
        self.last_activity = self.loop.time()
        self._paused_by: set[int] = set()
        self._is_reading = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._is_tx_scheduled = False
        self._ping_uid = 0
        self._sock = self._make_socket(config.udp_buffer_bytes)
        self._arena = memoryview(bytearray(_ARENA_BYTES))

    def _make_socket(self, buffer_bytes: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.addr[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                sock.setsockopt(socket.SOL_SOCKET, option, buffer_bytes)
            sock.connect(self.addr)
        except OSError:
            sock.close()
            raise
        return sock

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Begin the handshake; ``handshake`` resolves when it completes or fails."""
        self.quic.connect(self.addr, now=self.loop.time())
        self.h3 = H3Session(self.quic)
        self._start_reading()
        self._transmit()

    @property
    def is_usable(self) -> bool:
        """Whether new requests may use this connection (not closed, draining or idle)."""
        if self.is_closed or (self.h3 is not None and self.h3.is_goaway_received):
            return False
        if self.handshake.done() and self.handshake.exception() is not None:
            return False
        return self.loop.time() - self.last_activity < self.idle_timeout_s

    def close(self) -> None:
        """Close the connection gracefully and release the socket."""
        if self.is_closed:
            return
        self.quic.close(error_code=_H3_NO_ERROR)
        self._transmit()
        self._terminate(ConnectError(f"connection to {self.host} closed", url=None))

    def ping(self) -> None:
        """Ask the peer for an acknowledgement (any reply updates ``last_activity``)."""
        if not self.is_closed:
            self._ping_uid += 1
            self.quic.send_ping(self._ping_uid)
            self._schedule_transmit()

    def on_timeout_now(self, silent_since: float) -> None:
        """Timer form of :meth:`on_timeout`."""
        self.on_timeout(silent_since=silent_since)

    def on_timeout(self, *, silent_since: float) -> None:
        """Close the connection if a timed-out request saw no packet from the peer.

        A peer silent since ``silent_since`` (loop time) is dead, e.g. a server that restarted
        and forgot the connection; the next request then opens a new one instead of reusing it.

        Args:
            silent_since: Loop time since which the request waited.
        """
        if not self.is_closed and self.last_activity <= silent_since:
            where = f"{self.host}:{self.addr[1]}"
            self.quic.close(error_code=_H3_NO_ERROR, reason_phrase="peer silent")
            self._transmit()
            self._terminate(ReadError(f"QUIC peer {where} went silent", url=None))

    def _terminate(self, error: TransportError) -> None:
        self.is_closed = True
        self.close_reason = error
        self._stop_reading()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.handshake.done():
            self.handshake.set_exception(error)
            self.handshake.exception()
        for stream in list(self.streams.values()):
            stream.on_error(error if not stream.headers else ReadError(str(error), url=None))
        self.streams.clear()
        self._sock.close()

    # -- requests --------------------------------------------------------------------------

    def send_request(self, headers: Sequence[tuple[bytes, bytes]], body: bytes | None) -> H3Stream:
        """Open a request stream and queue its headers and body for sending.

        Args:
            headers: Pseudo-headers first, then regular headers, lowercase names.
            body: Request body, or ``None``.

        Returns:
            The stream that will receive the response.
        """
        assert self.h3 is not None
        stream_id = self.quic.get_next_available_stream_id()
        stream = H3Stream(self, stream_id)
        self.streams[stream_id] = stream
        self.quic.use_window(stream_id)
        if (b":method", b"HEAD") in headers:
            self.h3.head_stream_ids.add(stream_id)
        self.h3.send_headers(stream_id, list(headers), end_stream=not body)
        if body:
            self.h3.send_data(stream_id, body, end_stream=True)
        self._schedule_transmit()
        return stream

    def cancel(self, stream: H3Stream) -> None:
        """Abandon a stream: reset it both ways and drop its buffer."""
        self.resume_for(stream)
        self.quic.forget_window(stream.stream_id)
        if self.h3 is not None:
            self.h3.head_stream_ids.discard(stream.stream_id)
        if self.streams.pop(stream.stream_id, None) is None or self.is_closed:
            return
        if not stream.is_ended:
            try:
                self.quic.reset_stream(stream.stream_id, _H3_REQUEST_CANCELLED)
                self.quic.stop_stream(stream.stream_id, _H3_REQUEST_CANCELLED)
            except Exception:  # noqa: BLE001 - the stream may already be finished in aioquic
                logger.debug("stream %d already closed", stream.stream_id)
            self._schedule_transmit()

    def finish(self, stream: H3Stream) -> None:
        """Forget a completed stream."""
        self.resume_for(stream)
        self.quic.forget_window(stream.stream_id)
        self.streams.pop(stream.stream_id, None)
        if self.h3 is not None:
            self.h3.head_stream_ids.discard(stream.stream_id)

    # -- backpressure ----------------------------------------------------------------------

    def pause_for(self, stream: H3Stream) -> None:
        """Stop reading the socket while ``stream`` holds more than the buffer bound."""
        self._paused_by.add(stream.stream_id)
        self._stop_reading()

    def on_consumed(self, stream: H3Stream) -> None:
        """The reader took a stream's buffered bytes: resume reading, slide its window."""
        self.resume_for(stream)
        if not self.is_closed and self.quic.on_consumed(
            stream.stream_id, unread=stream.buffered, window=self.buffer_limit
        ):
            self._schedule_transmit()

    def resume_for(self, stream: H3Stream) -> None:
        """Resume reading once no stream is over its bound."""
        if stream.stream_id in self._paused_by:
            self._paused_by.discard(stream.stream_id)
            if not self._paused_by and not self.is_closed:
                self._start_reading()
                self.loop.call_soon(self._on_readable)

    def _start_reading(self) -> None:
        if not self._is_reading:
            self._is_reading = True
            self.loop.add_reader(self._sock.fileno(), self._on_readable)

    def _stop_reading(self) -> None:
        if self._is_reading:
            self._is_reading = False
            self.loop.remove_reader(self._sock.fileno())

    # -- I/O -------------------------------------------------------------------------------

    def _on_readable(self) -> None:
        if self.is_closed or self._paused_by:
            return
        # Datagrams are read into one buffer and handed over as views of it: no allocation per
        # datagram. They are read before the next batch reuses the buffer (receive_datagrams
        # keeps no view).
        recv_into, arena = self._sock.recv_into, self._arena
        datagrams: list[memoryview] = []
        append = datagrams.append
        pos, last = 0, len(arena) - _RECV_SIZE
        for _ in range(_RECV_BATCH):
            try:
                size = recv_into(arena[pos:], _RECV_SIZE)
            except BlockingIOError:
                break
            except OSError as exc:
                self._on_socket_error(exc)
                return
            append(arena[pos : pos + size])
            pos += size
            if pos > last:
                break
        if datagrams:
            now = self.loop.time()
            self.last_activity = now
            self.quic.receive_datagrams(datagrams, self.addr, now)
        self._process()
        self._transmit()

    def _on_socket_error(self, exc: OSError) -> None:
        where = f"{self.host}:{self.addr[1]}"
        if self.handshake.done():
            self._terminate(ReadError(f"QUIC connection to {where} broke: {exc}", url=None))
        elif isinstance(exc, ConnectionRefusedError):  # ICMP port unreachable: nobody listens
            self._terminate(ConnectionRefused(f"{where} refused QUIC: {exc}", url=None))
        else:
            self._terminate(ConnectError(f"cannot reach {where} over QUIC: {exc}", url=None))

    def _schedule_transmit(self) -> None:
        if not self._is_tx_scheduled:
            self._is_tx_scheduled = True
            self.loop.call_soon(self._transmit)

    def _transmit(self) -> None:
        self._is_tx_scheduled = False
        if self.is_closed:
            return
        send = self._sock.send
        for data, _addr in self.quic.datagrams_to_send(now=self.loop.time()):
            try:
                send(data)
            except BlockingIOError:
                break  # the kernel queue is full: QUIC loss recovery resends
            except OSError as exc:
                self._on_socket_error(exc)
                return
        self._arm_timer()

    def _arm_timer(self) -> None:
        when = self.quic.get_timer()
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = None if when is None else self.loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if self.is_closed:
            return
        self.quic.handle_timer(now=self.loop.time())
        self._process()
        self._transmit()

    def _take_body(self, stream_id: int, chunks: list[bytes]) -> bool:
        """Take in-order bytes of one of our request streams from the QUIC fast path.

        Bytes inside DATA frames go straight to the stream (the hot path of a download);
        the rest, from the first other frame on (trailers, unknown frames), goes through the
        HTTP/3 parser at once, so the stream's bytes stay in order.
        """
        stream = self.streams.get(stream_id)
        h3 = self.h3
        if stream is None or h3 is None:
            return False
        taken = h3.take_body(stream_id, chunks)
        if taken is None:
            rest = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        else:
            body, rest = taken
            if body:
                stream.on_body(body)
        if rest:
            event = StreamDataReceived(data=rest, end_stream=False, stream_id=stream_id)
            self._dispatch(h3.handle_event(event))
        return True

    def _take_chunks(self, stream_id: int, chunks: list[bytes]) -> None:
        """Take a run of fast-path data queued after other events (as the sink would)."""
        if not self._take_body(stream_id, chunks):
            assert self.h3 is not None
            for data in chunks:
                event = StreamDataReceived(data=data, end_stream=False, stream_id=stream_id)
                self._dispatch(self.h3.handle_event(event))

    def _dispatch(self, h3_events: list[H3Event]) -> None:
        streams = self.streams
        for h3_event in h3_events:
            stream = streams.get(h3_event.stream_id)  # type: ignore[attr-defined]
            if stream is None:
                continue
            if type(h3_event) is DataReceived:
                stream.on_data(h3_event.data, h3_event.stream_ended)
            elif isinstance(h3_event, HeadersReceived):
                stream.on_headers(h3_event.headers, h3_event.stream_ended)

    def _process(self) -> None:
        quic = self.quic
        h3 = self.h3
        assert h3 is not None
        while (event := quic.next_event()) is not None:
            if type(event) is StreamChunksReceived:
                self._take_chunks(event.stream_id, event.chunks)
            elif type(event) is StreamDataReceived:
                if not event.end_stream and event.stream_id in self.streams:
                    chunks = [event.data, *quic.next_stream_data(event.stream_id)]
                    self._take_body(event.stream_id, chunks)
                    continue
                self._dispatch(h3.handle_event(event))
            elif self._on_connection_event(event):
                return

    def _on_connection_event(self, event: QuicEvent) -> bool:
        """Handle a non-data event; return True when the connection is gone."""
        assert self.h3 is not None
        self.h3.handle_event(event)
        if isinstance(event, HandshakeCompleted):
            self.is_resumed = bool(event.session_resumed)
            self.is_early_data_accepted = bool(event.early_data_accepted)
            if not self.handshake.done():
                self.handshake.set_result(None)
        elif isinstance(event, StreamReset):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                reason = f"stream reset by {self.host} (code {event.error_code})"
                stream.on_error(ReadError(reason, url=None))
        elif isinstance(event, ConnectionTerminated):
            self._on_terminated(event)
            return True
        return False

    def _on_terminated(self, event: ConnectionTerminated) -> None:
        reason = f"{event.reason_phrase or 'no reason'} (code {event.error_code:#x})"
        if not self.handshake.done():
            error: TransportError = ConnectError(
                f"QUIC handshake with {self.host} failed: {reason}", url=None
            )
            if event.error_code in _TLS_CERTIFICATE_ALERTS:
                error = TlsVerificationError(
                    f"certificate of {self.host} not trusted: {reason}", url=None
                )
        else:
            error = ReadError(f"QUIC connection to {self.host} terminated: {reason}", url=None)
        self._terminate(error)
