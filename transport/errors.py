"""The transport package's error tree (STYLE.md section 4)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from transport._redact import redact_url

__all__ = [
    "AllEdgesFailed",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionRefused",
    "HttpStatusError",
    "NetworkError",
    "ProtocolError",
    "ReadError",
    "RequestTimeout",
    "ResponseTooLarge",
    "StallTimeout",
    "TlsVerificationError",
    "TransportConfigError",
    "TransportError",
    "UnknownHost",
    "UnsafeUrl",
]


class TransportError(Exception):
    """Root of every error raised by ``transport``.

    The message shows ``url`` through ``transport.redact_url`` (no query, user info or
    ``data:`` payload) wherever it names it; the attribute keeps the whole URL.

    Attributes:
        url: The URL the failed request was for, when known.
    """

    code: ClassVar[str] = "transport.error"

    def __init__(self, message: str, *, url: str | None = None) -> None:
        if url:
            message = message.replace(url, redact_url(url))
        super().__init__(message)
        self.url = url


class TransportConfigError(TransportError, ValueError):
    """A ``TransportConfig`` value is invalid."""

    code: ClassVar[str] = "transport.config"


class UnsafeUrl(TransportError):
    """A URL uses a scheme other than http/https, or is otherwise refused."""

    code: ClassVar[str] = "transport.unsafe_url"


class ResponseTooLarge(TransportError):
    """A response body exceeded the configured size bound."""

    code: ClassVar[str] = "transport.response_too_large"


class RequestTimeout(TransportError):
    """A request exceeded one of its timeouts."""

    code: ClassVar[str] = "transport.timeout"


class ConnectTimeout(RequestTimeout):
    """The connection (TCP+TLS or QUIC handshake) was not set up in time."""

    code: ClassVar[str] = "transport.connect_timeout"


class StallTimeout(RequestTimeout):
    """No byte arrived for longer than the stall timeout."""

    code: ClassVar[str] = "transport.stall_timeout"


class NetworkError(TransportError):
    """The network failed underneath a request."""

    code: ClassVar[str] = "transport.network"


class ConnectError(NetworkError):
    """The connection could not be established (refused, unreachable, TLS)."""

    code: ClassVar[str] = "transport.connect"


class TlsVerificationError(ConnectError):
    """The server's certificate did not verify (untrusted CA, wrong name, expired).

    The retry policy never retries the same edge for it: another CDN may present a valid
    certificate, but this one will not start to.
    """

    code: ClassVar[str] = "transport.tls_verification"


class ConnectionRefused(ConnectError):
    """Nothing listens at the edge's address and port: the connection was refused.

    The retry policy does not retry the same edge for it within a request (another edge is
    tried at once): a server that is not there answers the same way a second later.
    """

    code: ClassVar[str] = "transport.connection_refused"


class UnknownHost(ConnectError):
    """The edge's host name does not resolve to an address.

    Like ``ConnectionRefused``, never retried on the same edge within a request.
    """

    code: ClassVar[str] = "transport.unknown_host"


class ReadError(NetworkError):
    """The connection broke while reading (reset, truncated body)."""

    code: ClassVar[str] = "transport.read"


class ProtocolError(TransportError):
    """The peer violated QUIC or HTTP."""

    code: ClassVar[str] = "transport.protocol"


class HttpStatusError(TransportError):
    """The server answered with a non-success status.

    Attributes:
        status: The HTTP status code.
        retry_after_s: The ``Retry-After`` delay in seconds, if the server sent one.
    """

    code: ClassVar[str] = "transport.http_status"

    def __init__(
        self, message: str, *, status: int, url: str, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, url=url)
        self.status = status
        self.retry_after_s = retry_after_s


class AllEdgesFailed(TransportError):
    """Every location of a resource failed within the retry budget.

    Attributes:
        attempts: One error per attempt, in the order they were made.
    """

    code: ClassVar[str] = "transport.all_edges_failed"

    def __init__(
        self, message: str, *, attempts: Sequence[TransportError], url: str | None = None
    ) -> None:
        super().__init__(message, url=url)
        self.attempts = tuple(attempts)
