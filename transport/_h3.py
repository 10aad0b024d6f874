"""HTTP/3 client on aioquic: a pool of one QUIC connection per origin, requests as streams."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Mapping
from typing import NamedTuple

from aioquic.tls import SessionTicket

from transport._deadline import RequestDeadline
from transport._errmap import map_exception
from transport._exchange import StreamingResponse
from transport._quic import H3Stream, QuicConn
from transport._redact import redact_url
from transport._single import SingleOriginClient
from transport._urls import check_url, origin_of
from transport.config import TransportConfig
from transport.errors import ProtocolError, RequestTimeout, TransportError

__all__ = ["H3Client"]

logger = logging.getLogger(__name__)

_USER_AGENT = b"streamsdk-transport/0.1"
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})


def _with_url(error: TransportError, url: str) -> TransportError:
    """Return ``error`` carrying ``url`` (connection-level errors are raised without one)."""
    if error.url is not None:
        return error
    try:
        fresh = type(error)(str(error), url=url)
    except TypeError:
        error.url = url
        return error
    fresh.__cause__ = error.__cause__
    return fresh


def build_headers(
    headers: Mapping[str, str] | None, byte_range: tuple[int, int] | None
) -> dict[str, str]:
    """Merge caller headers with a ``Range`` header, lowercasing names.

    Args:
        headers: Caller headers.
        byte_range: Inclusive ``(first, last)`` byte offsets, or ``None``.

    Returns:
        The request headers.

    >>> build_headers({"Accept": "*/*"}, (0, 99))
    {'accept': '*/*', 'range': 'bytes=0-99'}
    """
    merged = {k.lower(): v for k, v in (headers or {}).items()}
    if byte_range is not None:
        first, last = byte_range
        merged["range"] = f"bytes={first}-{last}" if last >= 0 else f"bytes={first}-"
    return merged


class _RequestParts(NamedTuple):
    method: str
    headers: Mapping[str, str] | None
    body: bytes | None
    byte_range: tuple[int, int] | None


class _H3Response(StreamingResponse):
    def __init__(self, stream: H3Stream, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._stream = stream

    async def _read_chunk(self) -> bytes:
        pieces = await self._read_pieces()
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    async def _read_pieces(self) -> list[bytes]:
        stream = self._stream
        try:
            while True:
                pieces = stream.pop_pieces()
                if pieces is not None:
                    return pieces
                waited_from = stream.conn.loop.time()
                try:
                    await self._deadline.run(stream.wait(), "stall")
                except RequestTimeout:
                    stream.conn.on_timeout(silent_since=waited_from)
                    raise
        except TransportError as exc:
            raise _with_url(exc, self.url) from exc.__cause__

    async def _release(self) -> None:
        stream = self._stream
        if stream.is_ended and not stream.chunks:
            stream.conn.finish(stream)
        else:
            stream.conn.cancel(stream)


class H3Client(SingleOriginClient):
    """HTTP/3 client: one pooled QUIC connection per origin, many concurrent streams.

    Session tickets are kept per origin, so a replacement connection resumes the TLS session
    (and sends idempotent requests as 0-RTT when the server allows it). A connection that
    received GOAWAY, was closed or stayed idle is replaced, never reused.

    Args:
        config: Transport settings.
    """

    def __init__(self, config: TransportConfig) -> None:
        self._config = config
        if not config.verify_tls:
            logger.warning("TLS certificate verification is OFF (TransportConfig.verify_tls)")
        self._conns: dict[str, QuicConn] = {}
        self._tickets: dict[str, SessionTicket] = {}
        self._retired: set[QuicConn] = set()
        self._lock = asyncio.Lock()

    @property
    def connections(self) -> Mapping[str, QuicConn]:
        """Pooled connections by origin (read-only view, for diagnostics and tests)."""
        return dict(self._conns)

    def has_ticket(self, origin: str) -> bool:
        """Whether a session ticket is stored for ``origin`` (``scheme://host:port``).

        Args:
            origin: The origin key.

        Returns:
            True if a reconnect would offer session resumption.
        """
        return origin in self._tickets

    async def _connection(
        self, url: str, udp_port: int | None, deadline: RequestDeadline
    ) -> QuicConn:
        scheme, host, port, _ = check_url(url)
        if scheme != "https":
            raise ProtocolError(f"HTTP/3 needs https, not {redact_url(url)}", url=url)
        origin = origin_of(url)
        port = udp_port or port
        async with self._lock:
            conn = self._conns.get(origin)
            if conn is None or not conn.is_usable:
                if conn is not None:
                    self._retire(conn)
                conn = await self._open(origin, host, port, deadline)
                self._conns[origin] = conn
        return conn

    def _retire(self, conn: QuicConn) -> None:
        """Take a connection out of the pool; requests still on it (after GOAWAY) finish."""
        self._retired = {c for c in self._retired if not c.is_closed}
        if conn.streams and not conn.is_closed:
            self._retired.add(conn)
        else:
            conn.close()

    async def _open(self, origin: str, host: str, port: int, deadline: RequestDeadline) -> QuicConn:
        loop = asyncio.get_running_loop()
        infos = await deadline.run(loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM), "connect")
        addr = infos[0][4]

        def keep_ticket(ticket: SessionTicket) -> None:
            self._tickets[origin] = ticket

        conn = QuicConn(
            self._config,
            host=host,
            addr=(str(addr[0]), int(addr[1])),
            ticket=self._tickets.get(origin),
            on_ticket=keep_ticket,
        )
        conn.start()
        return conn

    async def open(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        byte_range: tuple[int, int] | None = None,
        port: int | None = None,
    ) -> StreamingResponse:
        """Send a request and return once its headers arrived; the body streams after.

        Args:
            url: An https URL.
            method: HTTP method.
            headers: Extra request headers.
            body: Request body.
            byte_range: Inclusive byte range to request, or ``None``.
            port: UDP port to connect to instead of the URL's (an ``Alt-Svc`` alternative).

        Returns:
            The response; the caller must ``aclose()`` it.

        Raises:
            UnsafeUrl: Not an http/https URL.
            ConnectError: The QUIC handshake failed (unreachable, TLS rejected).
            ConnectTimeout: The handshake took longer than ``Timeouts.connect_s``.
            RequestTimeout: No headers within ``Timeouts.ttfb_s`` (or the total limit).
            ReadError: The stream or connection broke.
            HttpStatusError: The status is not 2xx.
        """
        check_url(url)
        loop = asyncio.get_running_loop()
        deadline = RequestDeadline(self._config.timeouts, url, started_at=loop.time())
        request = _RequestParts(method, headers, body, byte_range)
        try:
            return await self._exchange(url, request, port, deadline)
        except TransportError as exc:
            raise _with_url(exc, url) from exc.__cause__
        except (OSError, ValueError, AssertionError) as exc:
            raise map_exception(exc, url=url, stage="request") from exc

    async def _exchange(
        self, url: str, parts: _RequestParts, udp_port: int | None, deadline: RequestDeadline
    ) -> StreamingResponse:
        method, headers, body, byte_range = parts
        _, host, port, target = check_url(url)
        conn = await self._connection(url, udp_port, deadline)
        is_early_ok = method.upper() in _IDEMPOTENT and conn.quic.configuration.session_ticket
        if not is_early_ok:
            await deadline.run(asyncio.shield(conn.handshake), "connect")
        authority = host if port == 443 else f"{host}:{port}"
        request = [
            (b":method", method.upper().encode()),
            (b":scheme", b"https"),
            (b":authority", authority.encode()),
            (b":path", target.encode()),
            (b"user-agent", _USER_AGENT),
        ]
        request += [(k.encode(), v.encode()) for k, v in build_headers(headers, byte_range).items()]
        stream = conn.send_request(request, body)
        response = _H3Response(
            stream,
            url=url,
            edge=origin_of(url),
            protocol="h3",
            deadline=deadline,
            max_bytes=self._config.max_response_bytes,
            method=method,
        )
        sent_at = conn.loop.time()
        watchdog = self._watch_liveness(conn, sent_at)
        try:
            await deadline.run(asyncio.shield(conn.handshake), "connect")
            await deadline.run(asyncio.shield(stream.headers_waiter), "ttfb")
        except BaseException as exc:
            if isinstance(exc, RequestTimeout):
                conn.on_timeout(silent_since=sent_at)
            await response.aclose()
            raise
        finally:
            if watchdog is not None:
                watchdog.cancel()
        loop = asyncio.get_running_loop()
        response.ttfb_s = loop.time() - deadline.started_at
        response.status, response.headers = _parse_headers(stream.headers or [], url)
        await response.raise_for_status()
        return response

    def _watch_liveness(self, conn: QuicConn, sent_at: float) -> asyncio.TimerHandle | None:
        """Probe a connection that has been quiet for a while before trusting it again.

        A quiet connection may belong to a server that restarted and forgot it (it then drops
        our packets without a word). The request is sent anyway, with a PING; if nothing at
        all comes back within ``connect_s`` the connection is closed, which fails the request
        at once instead of after the longer ``ttfb_s``.
        """
        if (
            not conn.handshake.done()
            or sent_at - conn.last_activity < self._config.timeouts.stall_s
        ):
            return None
        conn.ping()
        return conn.loop.call_later(self._config.timeouts.connect_s, conn.on_timeout_now, sent_at)

    async def aclose(self) -> None:
        """Close every pooled connection (session tickets are kept)."""
        for conn in [*self._conns.values(), *self._retired]:
            conn.close()
        self._conns.clear()
        self._retired.clear()

    async def __aenter__(self) -> H3Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _parse_headers(raw: list[tuple[bytes, bytes]], url: str) -> tuple[int, dict[str, str]]:
    status = 0
    headers: dict[str, str] = {}
    for name_b, value_b in raw:
        name = name_b.decode("latin-1").lower()
        value = value_b.decode("latin-1")
        if name == ":status":
            status = int(value) if value.isdigit() else 0
        elif not name.startswith(":"):
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if not 100 <= status <= 599:
        raise ProtocolError(f"bad :status from {redact_url(url)}", url=url)
    return status, headers
