"""Configuration of the transport package: every tunable number, written once, with its reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from transport.errors import TransportConfigError

__all__ = ["Protocol", "RetryConfig", "Timeouts", "TransportConfig"]

Protocol = Literal["h3", "h1", "auto"]
"""Which HTTP stack to use: HTTP/3 only, HTTP/1.1-2 only, or HTTP/3 with fallback."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Timeouts:
    """Per-request time limits, in seconds."""

    connect_s: float = 5.0
    """Connection set-up (TCP+TLS or QUIC handshake). Long enough for a slow mobile RTT."""

    ttfb_s: float = 10.0
    """From request sent to first response byte."""

    stall_s: float = 5.0
    """Longest gap between two received bytes before the transfer is declared stalled."""

    total_s: float = 60.0
    """Whole request, including body."""

    def __post_init__(self) -> None:
        """Validate ranges.

        Raises:
            TransportConfigError: A timeout is not positive.
        """
        for name in ("connect_s", "ttfb_s", "stall_s", "total_s"):
            if getattr(self, name) <= 0:
                raise TransportConfigError(f"Timeouts.{name} must be positive")


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryConfig:
    """Retry, backoff and edge-health settings for the retry policy."""

    max_attempts: int = 6
    """Attempts per request across all edges before giving up with AllEdgesFailed."""

    base_delay_s: float = 1.0
    """First backoff delay; Shaka and hls.js both start at 1 s."""

    max_delay_s: float = 8.0
    """Cap of the exponential backoff; hls.js caps at 8 s."""

    backoff_factor: float = 2.0
    """Growth of the delay per attempt on the same edge (Shaka, hls.js: x2)."""

    def __post_init__(self) -> None:
        """Validate ranges.

        Raises:
            TransportConfigError: A value is out of range.
        """
        if self.max_attempts < 1:
            raise TransportConfigError("RetryConfig.max_attempts must be >= 1")
        if self.base_delay_s < 0 or self.max_delay_s < self.base_delay_s:
            raise TransportConfigError("RetryConfig delays must satisfy 0 <= base <= max")
        if self.backoff_factor < 1:
            raise TransportConfigError("RetryConfig.backoff_factor must be >= 1")


@dataclass(frozen=True, kw_only=True, slots=True)
class TransportConfig:
    """HTTP client settings."""

    protocol: Protocol = "auto"
    """HTTP stack choice; ``auto`` tries HTTP/3 and falls back to HTTP/1.1-2."""

    verify_tls: bool = True
    """Verify server certificates. Turning this off is never silent: it must be set here."""

    ca_file: str | None = None
    """Extra CA bundle (PEM path), e.g. the lab's test CA. ``None`` uses the system store."""

    max_response_bytes: int = 256 * 1024 * 1024
    """Largest body accepted; bounds memory for hostile servers (256 MiB fits any segment)."""

    timeouts: Timeouts = field(default_factory=Timeouts)
    """Per-request time limits."""

    retry: RetryConfig = field(default_factory=RetryConfig)
    """Retry and failover settings."""

    def __post_init__(self) -> None:
        """Validate ranges.

        Raises:
            TransportConfigError: A value is out of range.
        """
        if self.protocol not in ("h3", "h1", "auto"):
            raise TransportConfigError(f"unknown protocol {self.protocol!r}")
        if self.max_response_bytes <= 0:
            raise TransportConfigError("max_response_bytes must be positive")
