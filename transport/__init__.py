"""HTTP transport: HTTP/3 on aioquic, HTTP/1.1-2 on httpx, CDN failover, and the lab servers."""

from __future__ import annotations

from transport._client import HttpClient
from transport._exchange import StreamingResponse
from transport._h1 import H1Client
from transport._h3 import H3Client
from transport._redact import redact_url
from transport._response import Response, TransferSample, WireProtocol
from transport._retry import (
    EdgeHealth,
    FailureInfo,
    FailureKind,
    HealthTracker,
    RetryDecision,
    RetryPolicy,
    classify_failure,
)
from transport._urls import with_alternates
from transport.config import (
    Protocol,
    RetryConfig,
    Timeouts,
    TransportConfig,
)
from transport.errors import (
    AllEdgesFailed,
    ConnectError,
    ConnectionRefused,
    ConnectTimeout,
    HttpStatusError,
    NetworkError,
    ProtocolError,
    ReadError,
    RequestTimeout,
    ResponseTooLarge,
    StallTimeout,
    TlsVerificationError,
    TransportConfigError,
    TransportError,
    UnknownHost,
    UnsafeUrl,
)

__all__ = [
    "AllEdgesFailed",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionRefused",
    "EdgeHealth",
    "FailureInfo",
    "FailureKind",
    "H1Client",
    "H3Client",
    "HealthTracker",
    "HttpClient",
    "HttpStatusError",
    "NetworkError",
    "Protocol",
    "ProtocolError",
    "ReadError",
    "RequestTimeout",
    "Response",
    "ResponseTooLarge",
    "RetryConfig",
    "RetryDecision",
    "RetryPolicy",
    "StallTimeout",
    "StreamingResponse",
    "Timeouts",
    "TlsVerificationError",
    "TransferSample",
    "TransportConfig",
    "TransportConfigError",
    "TransportError",
    "UnknownHost",
    "UnsafeUrl",
    "WireProtocol",
    "classify_failure",
    "redact_url",
    "with_alternates",
]
