"""HTTP transport: HTTP/3 on aioquic, HTTP/1.1-2 on httpx, CDN failover, and the lab servers."""

from __future__ import annotations

from transport.config import (
    Protocol,
    RetryConfig,
    Timeouts,
    TransportConfig,
)
from transport.errors import (
    AllEdgesFailed,
    ConnectError,
    ConnectTimeout,
    HttpStatusError,
    NetworkError,
    ProtocolError,
    ReadError,
    RequestTimeout,
    ResponseTooLarge,
    StallTimeout,
    TransportConfigError,
    TransportError,
    UnsafeUrl,
)

__all__ = [
    "AllEdgesFailed",
    "ConnectError",
    "ConnectTimeout",
    "HttpStatusError",
    "NetworkError",
    "Protocol",
    "ProtocolError",
    "ReadError",
    "RequestTimeout",
    "ResponseTooLarge",
    "RetryConfig",
    "StallTimeout",
    "Timeouts",
    "TransportConfig",
    "TransportConfigError",
    "TransportError",
    "UnsafeUrl",
]
