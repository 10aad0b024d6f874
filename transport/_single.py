"""What the single-origin HTTP clients share: ``fetch`` and ``stream`` on top of ``open``."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import AsyncIterator, Mapping

from transport._exchange import StreamingResponse
from transport._response import Response

__all__: list[str] = []


class SingleOriginClient(abc.ABC):
    """A client for one URL at a time with no retries (``H1Client``, ``H3Client``).

    Subclasses implement :meth:`open`; ``HttpClient`` adds failover on top.
    """

    @abc.abstractmethod
    async def open(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        byte_range: tuple[int, int] | None = None,
    ) -> StreamingResponse:
        """Send a request and return once the response headers arrived."""

    async def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        byte_range: tuple[int, int] | None = None,
    ) -> Response:
        """Fetch ``url`` with no retries (see ``HttpClient`` for failover).

        Args:
            url: An http or https URL.
            method: HTTP method.
            headers: Extra request headers.
            body: Request body.
            byte_range: Inclusive byte range, or ``None``.

        Returns:
            The complete response.

        Raises:
            TransportError: Any failure (see :meth:`open` and ``StreamingResponse``).
        """
        response = await self.open(
            url, method=method, headers=headers, body=body, byte_range=byte_range
        )
        try:
            return response.to_response(await response.read())
        finally:
            await response.aclose()

    @contextlib.asynccontextmanager
    async def stream(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        byte_range: tuple[int, int] | None = None,
    ) -> AsyncIterator[StreamingResponse]:
        """Open a streaming request; iterate the yielded response for body chunks.

        Args:
            url: An http or https URL.
            method: HTTP method.
            headers: Extra request headers.
            body: Request body.
            byte_range: Inclusive byte range, or ``None``.

        Yields:
            The response with headers; its body is read by iterating it.
        """
        response = await self.open(
            url, method=method, headers=headers, body=body, byte_range=byte_range
        )
        try:
            yield response
        finally:
            await response.aclose()
