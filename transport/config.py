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

    jitter: float = 1.0
    """Fraction of the backoff delay that is randomised: the delay is drawn uniformly from
    ``[d * (1 - jitter), d]``. 1.0 is "full jitter" (AWS's recommendation), which spreads a
    crowd of clients that failed together better than Shaka's +-50 %."""

    failover_delay_s: float = 0.0
    """Delay before moving to a different, healthy edge. Zero: Shaka rotates hosts on every
    attempt without waiting, and a healthy edge has no reason to be spared; this is what keeps
    failover under one second."""

    max_retry_after_s: float = 30.0
    """Cap on an honoured ``Retry-After``; longer values would stall playback past any buffer."""

    exclusion_s: float = 30.0
    """How long an edge that failed is excluded (circuit breaker open) before one probe request
    may use it again. Short enough that a blip on the preferred CDN is forgotten within a minute."""

    max_exclusion_s: float = 300.0
    """Cap of the exclusion window, which doubles each time a probe fails; 300 s is Media3's
    exclusion of a failed location (5 minutes)."""

    failure_threshold: int = 1
    """Consecutive failures that open an edge's circuit breaker. One, like Media3: once an
    edge fails the session moves to a healthy one instead of retrying it for every segment."""

    probe_timeout_s: float = 60.0
    """How long a probe of a half-open edge may stay unanswered before another request may
    probe it; covers a probe whose outcome was never reported (a cancelled request)."""

    health_ewma_weight: float = 0.3
    """Weight of the newest sample in the per-edge latency and throughput averages."""

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
        if not 0.0 <= self.jitter <= 1.0:
            raise TransportConfigError("RetryConfig.jitter must be within [0, 1]")
        if self.failover_delay_s < 0 or self.max_retry_after_s < 0:
            raise TransportConfigError("RetryConfig delays must not be negative")
        if self.exclusion_s <= 0 or self.max_exclusion_s < self.exclusion_s:
            raise TransportConfigError("RetryConfig exclusions must satisfy 0 < exclusion <= max")
        if self.failure_threshold < 1:
            raise TransportConfigError("RetryConfig.failure_threshold must be >= 1")
        if self.probe_timeout_s <= 0:
            raise TransportConfigError("RetryConfig.probe_timeout_s must be positive")
        if not 0.0 < self.health_ewma_weight <= 1.0:
            raise TransportConfigError("RetryConfig.health_ewma_weight must be within (0, 1]")


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

    stream_buffer_bytes: int = 4 * 1024 * 1024
    """Body bytes buffered per request before the client stops reading from the network
    (backpressure). Over HTTP/3 it is also each request stream's flow-control window: the
    server may send at most this much beyond what the reader consumed (aioquic alone would
    double the window as data arrives). 4 MiB covers about one second at 30 Mbit/s without
    pausing the link, and fits the default socket buffer, so a fast sender never overflows it."""

    max_datagram_size: int = 1200
    """Largest UDP payload sent by QUIC. 1200 is QUIC's guaranteed minimum and works on every
    path; 1452 fits an Ethernet MTU with PPPoE/IPv6 headroom and cuts per-packet cost by 17 %."""

    quic_idle_timeout_s: float = 30.0
    """A QUIC connection silent for this long is closed and replaced, never reused."""

    udp_buffer_bytes: int = 4 * 1024 * 1024
    """Requested kernel receive/send buffer of a QUIC socket; a burst of a fast download must
    not overflow it between two event-loop wakeups (the kernel may cap it lower)."""

    h3_fallback_s: float = 1.0
    """With ``protocol="auto"``, how long the QUIC handshake may take before the request goes
    over HTTP/1.1-2 instead. A handshake is one round trip, so 1 s is many mobile RTTs."""

    h3_broken_s: float = 300.0
    """With ``protocol="auto"``, how long an origin whose QUIC handshake failed is served over
    HTTP/1.1-2 without trying HTTP/3 again (Chromium marks a broken alternative for 5 minutes)."""

    is_http2_enabled: bool = True
    """Offer HTTP/2 in the TCP stack's ALPN; one connection then carries many requests."""

    max_tcp_connections: int = 10
    """Connections per pool in the HTTP/1.1-2 stack."""

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
        if self.stream_buffer_bytes < 16 * 1024:
            raise TransportConfigError("stream_buffer_bytes must be at least 16 KiB")
        if not 1200 <= self.max_datagram_size <= 65527:
            raise TransportConfigError("max_datagram_size must be within [1200, 65527]")
        for name in ("quic_idle_timeout_s", "h3_fallback_s", "h3_broken_s"):
            if getattr(self, name) <= 0:
                raise TransportConfigError(f"TransportConfig.{name} must be positive")
        if self.udp_buffer_bytes <= 0 or self.max_tcp_connections < 1:
            raise TransportConfigError("udp_buffer_bytes and max_tcp_connections must be positive")
