"""An in-flight response, common to both stacks: status checks, body bounds, timing sample."""

from __future__ import annotations

import abc
import asyncio
import email.utils
import time
from collections.abc import AsyncIterator, Mapping

from transport._deadline import RequestDeadline
from transport._redact import redact_url
from transport._response import Response, TransferSample, WireProtocol
from transport.errors import HttpStatusError, ReadError, ResponseTooLarge

__all__ = ["StreamingResponse"]


class StreamingResponse(abc.ABC):
    """A response whose body is still arriving; iterate it for chunks of bytes.

    Bodies are buffered only up to ``TransportConfig.stream_buffer_bytes``: a consumer that
    reads slowly slows the transfer down instead of growing memory.

    Attributes:
        url: The URL that answered.
        edge: Its origin (``scheme://host:port``).
        protocol: The HTTP version used.
        status: HTTP status code.
        headers: Response headers, lowercase names.
        ttfb_s: Seconds from the request to its headers.
        nbytes: Body bytes delivered so far.
        skip_bytes: Leading body bytes still to discard (a resumed transfer whose server
            ignored ``Range``).
    """

    def __init__(
        self,
        *,
        url: str,
        edge: str,
        protocol: WireProtocol,
        deadline: RequestDeadline,
        max_bytes: int,
        method: str = "GET",
    ) -> None:
        self.url = url
        self.edge = edge
        self.protocol: WireProtocol = protocol
        self.status = 0
        self.headers: Mapping[str, str] = {}
        self.ttfb_s = 0.0
        self.nbytes = 0
        self.skip_bytes = 0
        self._deadline = deadline
        self._max_bytes = max_bytes
        self._is_head = method.upper() == "HEAD"
        self._finished_at: float | None = None
        self._is_closed = False

    @abc.abstractmethod
    async def _read_chunk(self) -> bytes:
        """Return the next body chunk, ``b""`` at the end; applies the stall limit."""

    @abc.abstractmethod
    async def _release(self) -> None:
        """Free the underlying stream or connection."""

    @property
    def expected_bytes(self) -> int | None:
        """The body length announced by ``content-length``, if any (none for HEAD, 204, 304)."""
        if self._is_head or self.status in (204, 304):
            return None
        value = self.headers.get("content-length")
        return int(value) if value is not None and value.isdigit() else None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.iter_chunks()

    async def _read_pieces(self) -> list[bytes]:
        """Return the next body bytes as pieces, ``[]`` at the end; applies the stall limit.

        A stack that receives many small pieces at once (HTTP/3) overrides this, so that
        ``read`` joins the body once instead of once per chunk.
        """
        chunk = await self._read_chunk()
        return [chunk] if chunk else []

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """Yield the body in chunks as they arrive.

        Yields:
            Non-empty chunks of body bytes.

        Raises:
            ResponseTooLarge: The body exceeded ``max_response_bytes``.
            ReadError: The body ended before its announced length (truncated) or broke.
            StallTimeout: No byte arrived for ``Timeouts.stall_s``.
            RequestTimeout: The total limit passed.
        """
        async for pieces in self.iter_pieces():
            yield pieces[0] if len(pieces) == 1 else b"".join(pieces)

    async def iter_pieces(self) -> AsyncIterator[list[bytes]]:
        """Yield the body as lists of pieces as they arrive (``iter_chunks`` without joins).

        Yields:
            Non-empty lists of non-empty pieces of body bytes.

        Raises:
            ResponseTooLarge: See :meth:`iter_chunks`.
            ReadError: See :meth:`iter_chunks`.
            StallTimeout: See :meth:`iter_chunks`.
            RequestTimeout: See :meth:`iter_chunks`.
        """
        expected = self.expected_bytes
        while True:
            pieces = await self._read_pieces()
            if not pieces:
                break
            self.nbytes += len(pieces[0]) if len(pieces) == 1 else sum(map(len, pieces))
            if self.nbytes > self._max_bytes:
                raise ResponseTooLarge(
                    f"body of {redact_url(self.url)} exceeds {self._max_bytes} bytes", url=self.url
                )
            yield pieces
        if expected is not None and self.nbytes != expected:
            raise ReadError(
                f"body of {redact_url(self.url)} truncated at byte {self.nbytes} of {expected}",
                url=self.url,
            )
        self._finished_at = asyncio.get_running_loop().time()

    async def read(self) -> bytes:
        """Read the whole remaining body.

        Returns:
            The body bytes.

        Raises:
            ResponseTooLarge: See :meth:`iter_chunks`.
            ReadError: See :meth:`iter_chunks`.
            RequestTimeout: See :meth:`iter_chunks`.
        """
        parts: list[bytes] = []
        async for pieces in self.iter_pieces():
            parts += pieces
        return b"".join(parts)

    @property
    def sample(self) -> TransferSample:
        """The transfer's timing so far (complete once the body has been read)."""
        end = self._finished_at or asyncio.get_running_loop().time()
        return TransferSample(
            nbytes=self.nbytes,
            ttfb_s=self.ttfb_s,
            duration_s=max(end - self._deadline.started_at, 0.0),
            protocol=self.protocol,
            edge=self.edge,
        )

    def to_response(self, content: bytes) -> Response:
        """Freeze this exchange into a ``Response`` holding ``content``.

        Args:
            content: The body read from this exchange.

        Returns:
            The response.
        """
        return Response(
            url=self.url,
            status=self.status,
            headers=dict(self.headers),
            content=content,
            protocol=self.protocol,
            edge=self.edge,
            sample=self.sample,
        )

    async def aclose(self) -> None:
        """Stop the transfer (if unfinished) and release its stream; idempotent."""
        if not self._is_closed:
            self._is_closed = True
            await self._release()

    async def raise_for_status(self) -> None:
        """Raise for a non-2xx status, after closing the exchange.

        Raises:
            HttpStatusError: The status is not 2xx; carries ``Retry-After`` if sent.
        """
        if 200 <= self.status < 300:
            return
        retry_after = parse_retry_after(self.headers.get("retry-after"), now=time.time())
        await self.aclose()
        raise HttpStatusError(
            f"HTTP {self.status} from {redact_url(self.url)}",
            status=self.status,
            url=self.url,
            retry_after_s=retry_after,
        )


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Parse a ``Retry-After`` header: delay seconds or an HTTP date.

    Args:
        value: The header value, or ``None``.
        now: Current wall-clock time (Unix seconds), for the date form.

    Returns:
        Seconds to wait (never negative), or ``None`` when absent or malformed.

    >>> parse_retry_after("3", now=0.0)
    3.0
    >>> parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", now=4.0)
    6.0
    >>> parse_retry_after("soon", now=0.0) is None
    True
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now, 0.0)
