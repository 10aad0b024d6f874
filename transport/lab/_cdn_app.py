"""The CDN edge/origin ASGI app: static files with ranges, ETags, CORS and injected faults."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from transport.errors import UnsafeUrl
from transport.lab._cmcd import ReceivedCmcd, received_cmcd
from transport.lab._content import Content, Resource
from transport.lab._faults import (
    DripFault,
    Fault,
    FaultSwitch,
    ResetFault,
    StallFault,
    StatusFault,
    TruncateFault,
)

__all__ = ["CdnApp", "ConnectionControl", "RequestRecord"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

_CHUNK_BYTES = 64 * 1024
"""Size of the body pieces handed to the server: large enough to be cheap per byte, small
enough that faults (stall/reset after N bytes) land close to N."""

_DRIP_TICK_S = 0.05
"""Interval between two pieces of a dripped body: fine-grained enough to look continuous."""

_HISTORY_LEN = 10_000
"""Requests remembered per app for tests and reports (older ones are dropped)."""

_MAX_REQUEST_BODY_BYTES = 1024 * 1024
"""Request body read (and discarded) before answering 405; a larger one closes the connection."""

_CORS = [
    (b"access-control-allow-origin", b"*"),
    (
        b"access-control-expose-headers",
        b"Content-Length, Content-Range, ETag, Accept-Ranges, Retry-After, X-Lab-Edge",
    ),
]


class ConnectionControl(Protocol):
    """What the app needs from its server to reset or close a request's connection."""

    async def abort_connection(
        self, client: tuple[str, int], *, http_version: str, graceful: bool = False
    ) -> bool:
        """Reset (or, when ``graceful``, close) the connection of ``client``."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestRecord:
    """One request an app answered, for tests and QA reports."""

    method: str
    """Request method."""

    path: str
    """Decoded request path."""

    http_version: str
    """``"1.1"``, ``"2"`` or ``"3"``."""

    status: int
    """Status sent."""

    fault: str | None
    """Name of the fault applied (``"StallFault"``...), if any."""

    query: str = ""
    """The query string (without ``?``), as sent."""

    at_s: float = 0.0
    """``time.monotonic()`` when the answer started (the request had arrived)."""

    cmcd: ReceivedCmcd | None = None
    """The Common Media Client Data the request carried (query argument or ``CMCD-*``
    headers, read as CTA-5004-B section 6 says), ``None`` when it carried none."""

    def to_json(self, *, edge: str) -> dict[str, Any]:
        """One line of the request log (``python -m transport lab --request-log``).

        Args:
            edge: The edge that answered.

        Returns:
            JSON-ready fields; ``cmcd`` as ``ReceivedCmcd.to_json`` or ``null``.
        """
        return {
            "at_s": self.at_s,
            "edge": edge,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "http_version": self.http_version,
            "status": self.status,
            "fault": self.fault,
            "cmcd": None if self.cmcd is None else self.cmcd.to_json(),
        }


class _NotSatisfiable(Exception):
    """The Range header names no byte of the resource (answer 416)."""


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """Parse a single-range ``Range`` header.

    Args:
        value: The header value, e.g. ``bytes=0-99``, ``bytes=100-`` or ``bytes=-50``.
        size: The resource size in bytes.

    Returns:
        ``(first, last)`` byte positions (inclusive), or ``None`` when the header is to be
        ignored (malformed, other unit, several ranges): the full body is sent.

    Raises:
        _NotSatisfiable: The range lies outside the resource.
    """
    unit, _, spec = value.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_s, dash, last_s = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first_s == "":
            suffix = int(last_s)
            if suffix <= 0 or size == 0:
                raise _NotSatisfiable(value)
            return max(0, size - suffix), size - 1
        first = int(first_s)
        last = int(last_s) if last_s else size - 1
    except ValueError:
        return None
    if first >= size:
        raise _NotSatisfiable(value)
    if first < 0 or last < first:
        return None
    return first, min(last, size - 1)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _drain_request(receive: Receive) -> None:
    """Read a request body (up to a bound) so that the connection can be reused after it."""
    seen = 0
    while seen <= _MAX_REQUEST_BODY_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class CdnApp:
    """ASGI app of one CDN edge (or the origin): serves ``content`` with faults.

    GET and HEAD with single byte ranges (206 / 416), ``ETag`` and ``If-None-Match`` (304),
    ``If-Range``, ``Content-Length``, CORS headers (and ``OPTIONS`` preflight), and the
    ``X-Lab-Edge`` header naming the edge. Paths leaving the root get 400.

    Every request is remembered as a ``RequestRecord`` (bounded history), including the
    CMCD it carried, and passed to ``on_request`` when one is given (the lab CLI's request
    log).

    Args:
        content: What to serve.
        name: Edge name, sent as ``X-Lab-Edge``.
        faults: The fault switch consulted on each request (a new one when ``None``).
        on_request: Called with the edge name and each record, on the server's loop.
    """

    def __init__(
        self,
        content: Content,
        *,
        name: str = "edge",
        faults: FaultSwitch | None = None,
        on_request: Callable[[str, RequestRecord], None] | None = None,
    ):
        self.content = content
        self.name = name
        self.faults = faults if faults is not None else FaultSwitch()
        self.on_request = on_request
        self.connections: ConnectionControl | None = None
        """Set by the server wrapper so that reset/truncate faults can act on connections."""
        self._lock = threading.Lock()
        self._requests: deque[RequestRecord] = deque(maxlen=_HISTORY_LEN)

    @property
    def requests(self) -> tuple[RequestRecord, ...]:
        """The requests answered so far, oldest first (bounded history)."""
        with self._lock:
            return tuple(self._requests)

    def _common(self) -> Headers:
        return [*_CORS, (b"x-lab-edge", self.name.encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one ASGI connection scope (``lifespan`` or ``http``)."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _start(
        self, scope: Scope, send: Send, status: int, headers: Headers, fault: Fault | None
    ) -> None:
        query = bytes(scope.get("query_string", b"")).decode("latin-1")
        raw_headers = [
            (bytes(k).decode("latin-1"), bytes(v).decode("latin-1")) for k, v in scope["headers"]
        ]
        record = RequestRecord(
            method=scope["method"],
            path=scope["path"],
            http_version=scope["http_version"],
            status=status,
            fault=None if fault is None else type(fault).__name__,
            query=query,
            at_s=time.monotonic(),
            cmcd=received_cmcd(query, raw_headers),
        )
        with self._lock:
            self._requests.append(record)
        if self.on_request is not None:
            self.on_request(self.name, record)
        await send({"type": "http.response.start", "status": status, "headers": headers})

    async def _simple(
        self, scope: Scope, send: Send, status: int, extra: Headers, fault: Fault | None = None
    ) -> None:
        body = b"" if status in (204, 304) else f"{status}\n".encode()
        headers = [*self._common(), *extra]
        if status != 304:
            headers += [(b"content-length", b"%d" % len(body)), (b"content-type", b"text/plain")]
        await self._start(scope, send, status, headers, fault)
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        if method == "OPTIONS":
            asked = _header(scope, b"access-control-request-headers") or "Range"
            preflight = [
                (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
                (b"access-control-allow-headers", asked.encode("latin-1")),
                (b"access-control-max-age", b"600"),
            ]
            return await self._simple(scope, send, 204, preflight)
        if method not in ("GET", "HEAD"):
            await _drain_request(receive)
            return await self._simple(scope, send, 405, [(b"allow", b"GET, HEAD, OPTIONS")])
        fault = self.faults.take(path)
        if isinstance(fault, StatusFault):
            extra: Headers = []
            if fault.retry_after_s is not None:
                extra.append((b"retry-after", b"%d" % math.ceil(fault.retry_after_s)))
            return await self._simple(scope, send, fault.status, extra, fault)
        try:
            resource = self.content.lookup(path)
        except UnsafeUrl:
            return await self._simple(scope, send, 400, [])
        if resource is None:
            return await self._simple(scope, send, 404, [])
        await self._resource(scope, receive, send, resource, fault)

    async def _resource(
        self, scope: Scope, receive: Receive, send: Send, resource: Resource, fault: Fault | None
    ) -> None:
        validators: Headers = [(b"etag", resource.etag.encode()), (b"accept-ranges", b"bytes")]
        if_none_match = _header(scope, b"if-none-match")
        if if_none_match is not None and (
            if_none_match.strip() == "*"
            or resource.etag in [t.strip() for t in if_none_match.split(",")]
        ):
            return await self._simple(scope, send, 304, validators)
        size, status, first, length = resource.size, 200, 0, resource.size
        range_value = _header(scope, b"range")
        if_range = _header(scope, b"if-range")
        if range_value is not None and (if_range is None or if_range.strip() == resource.etag):
            try:
                span = parse_range(range_value, size)
            except _NotSatisfiable:
                unsat = [*validators, (b"content-range", b"bytes */%d" % size)]
                return await self._simple(scope, send, 416, unsat)
            if span is not None:
                status, first, length = 206, span[0], span[1] - span[0] + 1
                validators.append((b"content-range", b"bytes %d-%d/%d" % (*span, size)))
        headers = [
            *self._common(),
            *validators,
            (b"content-type", resource.media_type.encode()),
            (b"content-length", b"%d" % length),
        ]
        await self._start(scope, send, status, headers, fault)
        if scope["method"] == "HEAD" or length == 0:
            await send({"type": "http.response.body", "body": b""})
            return
        watcher = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            await _Body(scope, send, resource, watcher, self.connections).run(first, length, fault)
        finally:
            watcher.cancel()


class _Body:
    """Sends one response body, applying a body fault (stall, drip, reset, truncate)."""

    def __init__(
        self,
        scope: Scope,
        send: Send,
        resource: Resource,
        watcher: asyncio.Future[None],
        connections: ConnectionControl | None,
    ) -> None:
        self.scope = scope
        self.send = send
        self.resource = resource
        self.watcher = watcher
        self.connections = connections

    async def run(self, first: int, length: int, fault: Fault | None) -> None:
        end = first + length
        if isinstance(fault, StallFault | ResetFault | TruncateFault | DripFault):
            cut = min(first + fault.after_bytes, end)
        else:
            cut = end
        if not await self._pump(first, cut, rate=None, last=cut == end):
            return
        if cut == end:
            return
        if isinstance(fault, ResetFault):
            await self._abort(graceful=False)
        elif isinstance(fault, TruncateFault):
            if self.scope["http_version"] == "1.1":
                await self._abort(graceful=True)
            else:
                await self.send({"type": "http.response.body", "body": b""})
        elif isinstance(fault, StallFault):
            if not await self._pause(fault.stall_s):
                await self._pump(cut, end, rate=None, last=True)
        elif isinstance(fault, DripFault):
            await self._pump(cut, end, rate=fault.rate_bytes_per_s, last=True, max_s=fault.max_s)

    async def _pause(self, seconds: float) -> bool:
        """Sleep, waking early if the client goes away; return whether it went away."""
        done, _ = await asyncio.wait([self.watcher], timeout=seconds)
        return bool(done)

    async def _pump(
        self, start: int, stop: int, *, rate: float | None, last: bool, max_s: float = 0.0
    ) -> bool:
        """Send bytes [start, stop), at ``rate`` for at most ``max_s`` then at full speed.

        Returns:
            False if the client went away meanwhile.
        """
        piece = (
            _CHUNK_BYTES if rate is None else max(1, min(_CHUNK_BYTES, int(rate * _DRIP_TICK_S)))
        )
        began = time.monotonic()
        offset = start
        while offset < stop:
            if self.watcher.done():
                return False
            data = self.resource.read(offset, min(piece, stop - offset))
            if not data:  # the file shrank underneath us: end what we have
                break
            offset += len(data)
            more = not (last and offset >= stop)
            await self.send({"type": "http.response.body", "body": data, "more_body": more})
            if rate is not None and time.monotonic() - began >= max_s:
                rate, piece = None, _CHUNK_BYTES  # the drip is over: send the rest
            if rate is not None and offset < stop:
                due = began + (offset - start) / rate - time.monotonic()
                if due > 0 and await self._pause(due):
                    return False
        if last and offset < stop:
            await self.send({"type": "http.response.body", "body": b""})
        return True

    async def _abort(self, *, graceful: bool) -> None:
        if self.connections is not None:
            client = self.scope.get("client") or ("", 0)
            http_version = self.scope["http_version"]
            if await self.connections.abort_connection(
                client, http_version=http_version, graceful=graceful
            ):
                return
        raise ConnectionAbortedError("lab fault: connection reset")
