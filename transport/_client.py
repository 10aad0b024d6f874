"""``HttpClient``: the public client. Protocol choice, CDN failover and resumed transfers.

This is the adapter around the sans-I/O ``RetryPolicy``: it reads the clock, performs the
attempts over ``H3Client`` / ``H1Client``, reports outcomes to the policy and carries out its
decisions (sleep, switch edge, give up). A transfer that breaks mid-body continues on the
next edge with a ``Range`` request for the bytes still missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence

import numpy as np

from transport._alt_svc import ProtocolMemory
from transport._exchange import StreamingResponse
from transport._h1 import H1Client
from transport._h3 import H3Client
from transport._redact import redact_url
from transport._response import Response
from transport._retry import FailureInfo, FailureKind, RetryPolicy, classify_failure
from transport._urls import check_url, origin_of
from transport.config import TransportConfig
from transport.errors import (
    AllEdgesFailed,
    ConnectError,
    ConnectTimeout,
    ProtocolError,
    TransportError,
)

__all__ = ["HttpClient"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _Request:
    urls: tuple[str, ...]
    edges: tuple[str, ...]
    method: str
    headers: Mapping[str, str] | None
    body: bytes | None
    byte_range: tuple[int, int] | None


class _Attempts:
    """The per-request state the adapter keeps between attempts."""

    def __init__(self, request: _Request, first_edge: int) -> None:
        self.request = request
        self.edge_index = first_edge
        self.errors: list[TransportError] = []
        self.not_found: set[int] = set()


class HttpClient:
    """HTTP client with HTTP/3, HTTP/1.1-2 fallback and failover across CDN edges.

    One client is meant to live for a playback session: it pools connections, remembers which
    origins speak HTTP/3 and keeps per-edge health, so once an edge fails later requests go
    straight to a healthy one until the failed edge's exclusion window passes.

    Args:
        config: Transport settings.
        policy: The retry policy; one built from ``config.retry`` when omitted.
        rng: Randomness for backoff jitter; a fresh unseeded generator when omitted.
        clock: Monotonic seconds for edge health (exclusion windows, probes); the event
            loop's clock when omitted. A player on a virtual clock passes its own, so an
            edge's exclusion lasts session time, like everything else it schedules.
    """

    def __init__(
        self,
        config: TransportConfig,
        *,
        policy: RetryPolicy | None = None,
        rng: np.random.Generator | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self.policy = policy if policy is not None else RetryPolicy(config.retry)
        self._rng = rng if rng is not None else np.random.default_rng()
        h3_config = config
        if config.protocol == "auto":
            connect_s = min(config.timeouts.connect_s, config.h3_fallback_s)
            timeouts = dataclasses.replace(config.timeouts, connect_s=connect_s)
            h3_config = dataclasses.replace(config, timeouts=timeouts)
        self.h3 = H3Client(h3_config)
        self.h1 = H1Client(config)
        self.protocols = ProtocolMemory(config)
        self.last_failure_codes: dict[str, str] = {}
        """Stable code of the latest failed attempt per edge (``scheme://host:port``)."""

    async def fetch(
        self,
        urls: str | Sequence[str],
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        byte_range: tuple[int, int] | None = None,
        edges: Sequence[str] | None = None,
    ) -> Response:
        """Fetch one resource from the first location that works.

        Args:
            urls: The resource's locations in preference order (CDN edges, then origin).
            method: HTTP method.
            headers: Extra request headers.
            body: Request body (e.g. a license challenge).
            byte_range: Inclusive ``(first, last)`` byte offsets, or ``None`` for all.
            edges: Health key of each location (one per URL), e.g. a content-steering
                pathway id; ``None`` keys each location by its origin (``scheme://host:port``).
                Failures and exclusion windows are kept per key.

        Returns:
            The complete response.

        Raises:
            UnsafeUrl: A location is not an http/https URL.
            HttpStatusError: A non-retryable status (4xx other than 404/408/425/429), or 404
                from every location.
            ResponseTooLarge: The body exceeded ``max_response_bytes``.
            AllEdgesFailed: The retry budget ran out; ``attempts`` lists every error.
        """
        async with self.stream(
            urls, method=method, headers=headers, body=body, byte_range=byte_range, edges=edges
        ) as response:
            content = await response.read()
            return response.to_response(content)

    @contextlib.asynccontextmanager
    async def stream(
        self,
        urls: str | Sequence[str],
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        byte_range: tuple[int, int] | None = None,
        edges: Sequence[str] | None = None,
    ) -> AsyncIterator[StreamingResponse]:
        """Open a resource for streaming; iterate the yielded response for body chunks.

        At most ``stream_buffer_bytes`` are buffered. If the edge breaks mid-body, iteration
        continues transparently from the next edge (a ``Range`` request for the rest).

        Args:
            urls: The resource's locations in preference order.
            method: HTTP method.
            headers: Extra request headers.
            body: Request body.
            byte_range: Inclusive byte range, or ``None``.
            edges: Health key of each location, as for :meth:`fetch`.

        Yields:
            The response (headers known); iterate it for the body.

        Raises:
            TransportError: As for :meth:`fetch`.
        """
        request = self._build(urls, method, headers, body, byte_range, edges)
        loop = asyncio.get_running_loop()
        attempts = _Attempts(request, self.policy.select_edge(request.edges, self._now(loop)))
        response = _FailoverResponse(self, attempts, await self._open_with_retries(attempts, 0))
        try:
            yield response
        finally:
            await response.aclose()

    def _build(
        self,
        urls: str | Sequence[str],
        method: str,
        headers: Mapping[str, str] | None,
        body: bytes | None,
        byte_range: tuple[int, int] | None,
        edges: Sequence[str] | None = None,
    ) -> _Request:
        locations = (urls,) if isinstance(urls, str) else tuple(urls)
        if not locations:
            raise ProtocolError("no URL given")
        for url in locations:
            check_url(url)
        if edges is not None and len(edges) != len(locations):
            raise ProtocolError(f"{len(edges)} edge keys for {len(locations)} URLs")
        return _Request(
            urls=locations,
            edges=tuple(edges) if edges is not None else tuple(origin_of(u) for u in locations),
            method=method,
            headers=headers,
            body=body,
            byte_range=byte_range,
        )

    async def _open_with_retries(self, attempts: _Attempts, offset: int) -> StreamingResponse:
        """Attempt until one location answers (headers received) or the policy gives up."""
        while True:
            try:
                return await self._attempt(attempts, offset)
            except TransportError as exc:
                await self._handle_failure(attempts, exc)

    async def _handle_failure(self, attempts: _Attempts, error: TransportError) -> None:
        """Report a failed attempt to the policy and carry out its decision.

        Args:
            attempts: The request's state.
            error: What the attempt raised.

        Raises:
            TransportError: The policy gave up (the error itself, or ``AllEdgesFailed``).
        """
        request = attempts.request
        attempts.errors.append(error)
        self.last_failure_codes[request.edges[attempts.edge_index]] = error.code
        kind = classify_failure(error)
        if kind in (FailureKind.NOT_FOUND, FailureKind.UNTRUSTED, FailureKind.UNREACHABLE):
            attempts.not_found.add(attempts.edge_index)  # never this edge again here
        loop = asyncio.get_running_loop()
        info = FailureInfo(
            edges=request.edges,
            edge_index=attempts.edge_index,
            error=error,
            attempt=len(attempts.errors),
            now=self._now(loop),
            not_found=frozenset(attempts.not_found),
        )
        decision = self.policy.on_error(info, rng=self._rng)
        logger.debug(
            "attempt %d on %s failed: %s -> %s",
            info.attempt,
            redact_url(request.urls[attempts.edge_index]),
            error,
            decision,
        )
        if decision is None:
            if kind is FailureKind.FATAL:
                raise error
            if all(classify_failure(e) is FailureKind.NOT_FOUND for e in attempts.errors):
                raise error  # every location answered 404: the resource does not exist
            raise AllEdgesFailed(
                f"{request.method} {redact_url(request.urls[0])} failed after "
                f"{len(attempts.errors)} attempts on {len(set(request.edges))} edges; "
                f"last: {error}",
                attempts=attempts.errors,
                url=request.urls[0],
            ) from error
        if decision.delay_s > 0:
            await asyncio.sleep(decision.delay_s)
        attempts.edge_index = decision.edge_index

    async def _attempt(self, attempts: _Attempts, offset: int) -> StreamingResponse:
        request = attempts.request
        index = attempts.edge_index
        url = request.urls[index]
        byte_range = request.byte_range
        if offset:
            first, last = byte_range if byte_range is not None else (0, -1)
            byte_range = (first + offset, last)
        self.policy.on_attempt(request.edges[index], self._now(asyncio.get_running_loop()))
        response = await self._open_one(url, request, byte_range)
        if offset:
            await _skip_to_offset(response, first + offset, request)
        return response

    async def _open_one(
        self, url: str, request: _Request, byte_range: tuple[int, int] | None
    ) -> StreamingResponse:
        loop = asyncio.get_running_loop()
        method, headers, body = request.method, request.headers, request.body
        mode = self.config.protocol
        is_https = check_url(url)[0] == "https"
        if mode == "h1" or (
            mode == "auto" and not (is_https and self.protocols.wants_h3(url, loop.time()))
        ):
            response = await self.h1.open(
                url, method=method, headers=headers, body=body, byte_range=byte_range
            )
            if mode == "auto":
                self.protocols.on_alt_svc(url, response.headers.get("alt-svc"), now=loop.time())
            return response
        port = self.protocols.h3_port(url, loop.time()) if mode == "auto" else None
        try:
            return await self.h3.open(
                url, method=method, headers=headers, body=body, byte_range=byte_range, port=port
            )
        except (ConnectError, ConnectTimeout) as h3_error:
            if mode == "h3":
                raise
            logger.debug("HTTP/3 to %s failed (%s); trying HTTP/1.1-2", redact_url(url), h3_error)
        response = await self.h1.open(
            url, method=method, headers=headers, body=body, byte_range=byte_range
        )
        self.protocols.on_h3_failed(url, loop.time())
        self.protocols.on_alt_svc(url, response.headers.get("alt-svc"), now=loop.time())
        return response

    def _record_success(self, response: StreamingResponse, edge: str | None = None) -> None:
        """Report a finished transfer to the policy (edge health, latency, throughput).

        Args:
            response: The exchange whose body was read completely.
            edge: The location's health key (the request's ``edges`` entry); its origin
                when ``None``.
        """
        sample = response.sample
        self.policy.on_success(
            sample.edge if edge is None else edge,
            self._now(asyncio.get_running_loop()),
            ttfb_s=sample.ttfb_s,
            nbytes=sample.nbytes,
            duration_s=sample.duration_s,
        )

    def _now(self, loop: asyncio.AbstractEventLoop) -> float:
        """The edge-health clock: the one given, else the event loop's."""
        return self._clock() if self._clock is not None else loop.time()

    async def aclose(self) -> None:
        """Close every connection of both stacks."""
        await self.h3.aclose()
        await self.h1.aclose()

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def _skip_to_offset(response: StreamingResponse, start: int, request: _Request) -> None:
    """Make a resumed response start at byte ``start`` of the resource.

    A 206 must begin exactly there; a 200 (range ignored) has its first bytes discarded.
    """
    content_range = response.headers.get("content-range", "")
    if response.status == 206 and content_range.startswith(f"bytes {start}-"):
        return
    if response.status == 200 and request.byte_range is None:
        response.skip_bytes = start  # the whole body again: drop what was delivered
        return
    await response.aclose()
    raise ProtocolError(
        f"resumed {redact_url(response.url)} at byte {start} but got {response.status} "
        f"{content_range!r}",
        url=response.url,
    )


class _FailoverResponse(StreamingResponse):
    """The response the caller iterates; swaps the underlying exchange on mid-body failure."""

    def __init__(self, client: HttpClient, attempts: _Attempts, first: StreamingResponse) -> None:
        super().__init__(
            url=first.url,
            edge=first.edge,
            protocol=first.protocol,
            deadline=first._deadline,
            max_bytes=client.config.max_response_bytes,
            method=attempts.request.method,
        )
        self.status = first.status
        self.headers = first.headers
        self.ttfb_s = first.ttfb_s
        self._client = client
        self._attempts = attempts
        self._current = first
        self._iter = first.iter_pieces()
        self._delivered = 0

    async def _read_chunk(self) -> bytes:
        pieces = await self._read_pieces()
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    async def _read_pieces(self) -> list[bytes]:
        while True:
            try:
                pieces = await self._next_underlying()
            except TransportError as exc:
                await self._current.aclose()
                if self._delivered and self._attempts.request.method.upper() != "GET":
                    raise  # only a GET body can be resumed elsewhere with a Range request
                await self._client._handle_failure(self._attempts, exc)
                await self._switch()
                continue
            if pieces:
                self._delivered += sum(map(len, pieces))
            else:
                attempts = self._attempts
                edge = attempts.request.edges[attempts.edge_index]
                self._client._record_success(self._current, edge)
            return pieces

    async def _next_underlying(self) -> list[bytes]:
        current = self._current
        while True:
            pieces: list[bytes] = await anext(self._iter, [])
            skip = current.skip_bytes
            if not skip or not pieces:
                return pieces
            index = 0
            while index < len(pieces) and skip >= len(pieces[index]):
                skip -= len(pieces[index])
                index += 1
            if skip and index < len(pieces):
                pieces = [pieces[index][skip:], *pieces[index + 1 :]]
                skip = 0
            else:
                pieces = pieces[index:]
            current.skip_bytes = skip
            if pieces:
                return pieces

    async def _switch(self) -> None:
        fresh = await self._client._open_with_retries(self._attempts, self._delivered)
        self._current = fresh
        self._iter = fresh.iter_pieces()
        self.url, self.edge, self.protocol = fresh.url, fresh.edge, fresh.protocol

    async def _release(self) -> None:
        await self._current.aclose()
