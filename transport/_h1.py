"""HTTP/1.1 and HTTP/2 client on httpx, behind the same interface as ``H3Client``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Mapping

import httpx

from transport._deadline import RequestDeadline
from transport._errmap import map_exception
from transport._exchange import StreamingResponse
from transport._h3 import build_headers
from transport._single import SingleOriginClient
from transport._urls import check_url, origin_of
from transport.config import TransportConfig
from transport.errors import TransportError

__all__ = ["H1Client"]

logger = logging.getLogger(__name__)

_USER_AGENT = "streamsdk-transport/0.1"


def _ssl_context(config: TransportConfig) -> ssl.SSLContext | bool:
    if not config.verify_tls:
        return False
    context = ssl.create_default_context(cafile=config.ca_file)
    return context


class _H1Response(StreamingResponse):
    def __init__(self, response: httpx.Response, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._response = response
        self._chunks = response.aiter_raw()

    async def _read_chunk(self) -> bytes:
        try:
            return await self._deadline.run(anext(self._chunks, b""), "stall")
        except TransportError:
            raise
        except Exception as exc:  # noqa: BLE001 - httpcore lets h2's own errors through
            raise map_exception(exc, url=self.url, stage="body") from exc

    async def _release(self) -> None:
        with contextlib.suppress(httpx.HTTPError, OSError):
            await self._response.aclose()


class H1Client(SingleOriginClient):
    """HTTP/1.1-2 client (httpx): pooled TCP+TLS connections, HTTP/2 negotiated by ALPN.

    Args:
        config: Transport settings.
    """

    def __init__(self, config: TransportConfig) -> None:
        self._config = config
        if not config.verify_tls:
            logger.warning("TLS certificate verification is OFF (TransportConfig.verify_tls)")
        t = config.timeouts
        self._client = httpx.AsyncClient(
            http2=config.is_http2_enabled,
            verify=_ssl_context(config),
            timeout=httpx.Timeout(
                connect=t.connect_s,
                read=max(t.ttfb_s, t.stall_s),
                write=t.stall_s,
                pool=t.connect_s,
            ),
            limits=httpx.Limits(max_connections=config.max_tcp_connections),
            follow_redirects=False,
            # identity: bodies (and their size bound) are the bytes on the wire, never inflated
            headers={"user-agent": _USER_AGENT, "accept-encoding": "identity"},
        )

    async def open(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        byte_range: tuple[int, int] | None = None,
    ) -> StreamingResponse:
        """Send a request and return once its headers arrived; the body streams after.

        Args:
            url: An http or https URL.
            method: HTTP method.
            headers: Extra request headers.
            body: Request body.
            byte_range: Inclusive byte range to request, or ``None``.

        Returns:
            The response; the caller must ``aclose()`` it.

        Raises:
            UnsafeUrl: Not an http/https URL.
            ConnectError: TCP or TLS set-up failed (refused, certificate rejected).
            ConnectTimeout: Set-up took longer than ``Timeouts.connect_s``.
            RequestTimeout: No headers within ``Timeouts.ttfb_s`` (or the total limit).
            ReadError: The connection broke.
            HttpStatusError: The status is not 2xx.
        """
        check_url(url)
        loop = asyncio.get_running_loop()
        deadline = RequestDeadline(self._config.timeouts, url, started_at=loop.time())
        request = self._client.build_request(
            method, url, headers=build_headers(headers, byte_range), content=body
        )
        send = self._client.send(request, stream=True)
        try:
            limit = self._config.timeouts.connect_s + self._config.timeouts.ttfb_s
            async with asyncio.timeout(min(limit, deadline.total_at - loop.time())):
                raw = await send
        except TimeoutError:
            is_total = deadline.total_at - loop.time() <= 0.001
            raise deadline.timeout_error("ttfb", is_total=is_total) from None
        except (httpx.ReadTimeout, httpx.WriteTimeout) as exc:
            # httpx's read limit on the headers is the time to first byte
            raise deadline.timeout_error("ttfb", is_total=False) from exc
        except TransportError:
            raise
        except Exception as exc:  # noqa: BLE001 - httpcore lets h2's own errors through
            raise map_exception(exc, url=url, stage="request") from exc
        protocol = "h2" if raw.http_version == "HTTP/2" else "h1"
        response = _H1Response(
            raw,
            url=url,
            edge=origin_of(url),
            protocol=protocol,
            deadline=deadline,
            max_bytes=self._config.max_response_bytes,
            method=method,
        )
        response.ttfb_s = loop.time() - deadline.started_at
        response.status = raw.status_code
        response.headers = _joined(raw.headers)
        await response.raise_for_status()
        return response

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def __aenter__(self) -> H1Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _joined(headers: httpx.Headers) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in headers.multi_items():
        name = name.lower()
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined
