"""The one place where httpx, aioquic and socket exceptions become transport errors."""

from __future__ import annotations

import socket
import ssl
from typing import Literal

import h2.exceptions
import httpx
from aioquic.h3.exceptions import H3Error
from aioquic.quic.connection import QuicConnectionError

from transport._redact import redact_url
from transport.errors import (
    ConnectError,
    ConnectionRefused,
    ConnectTimeout,
    NetworkError,
    ProtocolError,
    ReadError,
    RequestTimeout,
    StallTimeout,
    TlsVerificationError,
    TransportError,
    UnknownHost,
    UnsafeUrl,
)

__all__: list[str] = []

Stage = Literal["connect", "request", "body"]


def map_exception(exc: BaseException, *, url: str, stage: Stage) -> TransportError:
    """Convert a third-party or OS exception to the transport error tree.

    The caller raises the result ``from exc`` so the cause stays attached.

    Args:
        exc: The exception caught at the package boundary.
        url: The request URL, for the message.
        stage: What the request was doing: connecting, waiting for headers, or reading body.

    Returns:
        The typed error to raise.

    >>> map_exception(ConnectionRefusedError(111, "refused"), url="https://a/?t=1", stage="connect")
    ConnectionRefused('connection to https://a/?<redacted> refused: [Errno 111] refused')
    """
    if isinstance(exc, TransportError):
        return exc
    if stage != "body":
        unreachable = unreachable_error(exc, url)
        if unreachable is not None:
            return unreachable
    if isinstance(exc, httpx.HTTPError):
        return _map_httpx(exc, url=url, stage=stage)
    if isinstance(exc, h2.exceptions.ProtocolError):
        if stage == "body":
            return ReadError(f"HTTP/2 body of {redact_url(url)} broken: {exc}", url=url)
        return ProtocolError(f"HTTP/2 error from {redact_url(url)}: {exc}", url=url)
    if isinstance(exc, H3Error | QuicConnectionError):
        return ProtocolError(f"HTTP/3 error from {redact_url(url)}: {exc!r}", url=url)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TlsVerificationError(f"certificate of {redact_url(url)} not trusted: {exc}", url=url)
    if isinstance(exc, ssl.SSLError):
        return ConnectError(f"TLS failure with {redact_url(url)}: {exc}", url=url)
    if isinstance(exc, OSError):
        if stage == "body":
            return ReadError(f"connection broke reading {redact_url(url)}: {exc}", url=url)
        return ConnectError(f"cannot connect to {redact_url(url)}: {exc}", url=url)
    return NetworkError(f"unexpected failure for {redact_url(url)}: {exc!r}", url=url)


def unreachable_error(exc: BaseException, url: str) -> ConnectError | None:
    """Recognise a refused connection or an unresolvable host anywhere in a cause chain.

    httpx wraps the OS error twice (httpcore, then httpx), so the chain is walked.

    Args:
        exc: The exception raised while connecting.
        url: The request URL, for the message.

    Returns:
        ``ConnectionRefused`` or ``UnknownHost``, or ``None`` for any other failure.

    >>> unreachable_error(socket.gaierror(-2, "not known"), "https://x.invalid/")
    UnknownHost('cannot resolve the host of https://x.invalid/: [Errno -2] not known')
    """
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, socket.gaierror):
            return UnknownHost(f"cannot resolve the host of {redact_url(url)}: {cause}", url=url)
        if isinstance(cause, ConnectionRefusedError):
            return ConnectionRefused(f"connection to {redact_url(url)} refused: {cause}", url=url)
        cause = cause.__cause__ or cause.__context__
    return None


def _map_httpx(exc: httpx.HTTPError, *, url: str, stage: Stage) -> TransportError:
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return ConnectTimeout(f"connect timeout to {redact_url(url)}", url=url)
    if isinstance(exc, httpx.TimeoutException):
        if stage == "body":
            return StallTimeout(f"read stalled from {redact_url(url)}", url=url)
        return RequestTimeout(f"no response from {redact_url(url)}", url=url)
    if isinstance(exc, httpx.ConnectError):
        if isinstance(exc.__cause__, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY" in str(
            exc
        ):
            return TlsVerificationError(
                f"certificate of {redact_url(url)} not trusted: {exc}", url=url
            )
        return ConnectError(f"cannot connect to {redact_url(url)}: {exc}", url=url)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return UnsafeUrl(f"refused URL {redact_url(url)}: {exc}", url=url)
    if isinstance(exc, httpx.RemoteProtocolError):
        if stage == "body":
            return ReadError(f"body of {redact_url(url)} cut short: {exc}", url=url)
        return ReadError(
            f"connection to {redact_url(url)} closed before the response: {exc}", url=url
        )
    if isinstance(exc, httpx.ReadError | httpx.WriteError | httpx.CloseError):
        return ReadError(f"connection broke with {redact_url(url)}: {exc}", url=url)
    if isinstance(exc, httpx.ProtocolError | httpx.DecodingError | httpx.TooManyRedirects):
        return ProtocolError(f"HTTP error from {redact_url(url)}: {exc}", url=url)
    return NetworkError(f"network failure with {redact_url(url)}: {exc}", url=url)
