"""What a request returns: the response and its timing sample, free of httpx/aioquic types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["Response", "TransferSample", "WireProtocol"]

WireProtocol = Literal["h3", "h2", "h1"]
"""The HTTP version a response actually arrived over."""


@dataclass(frozen=True, kw_only=True, slots=True)
class TransferSample:
    """Timing of one finished transfer, for the ABR throughput estimator.

    Attributes:
        nbytes: Body bytes received.
        ttfb_s: Seconds from sending the request to the first response byte (headers).
        duration_s: Seconds from sending the request to the last body byte.
        protocol: The HTTP version used.
        edge: The origin (``scheme://host:port``) that served the bytes.
    """

    nbytes: int
    ttfb_s: float
    duration_s: float
    protocol: WireProtocol
    edge: str

    @property
    def throughput_bps(self) -> float:
        """Body bits per second over the whole transfer (0 when it took no time).

        >>> TransferSample(nbytes=1000, ttfb_s=0.1, duration_s=0.5, protocol="h3",
        ...                edge="https://a").throughput_bps
        16000.0
        """
        return self.nbytes * 8 / self.duration_s if self.duration_s > 0 else 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Response:
    """A complete HTTP response.

    Attributes:
        url: The URL that answered (the location that succeeded).
        status: HTTP status code (2xx; other statuses raise ``HttpStatusError``).
        headers: Response headers with lowercase names; repeated headers joined by ", ".
        content: The body.
        protocol: The HTTP version used.
        edge: The origin (``scheme://host:port``) of ``url``.
        sample: Timing of the transfer.
    """

    url: str
    status: int
    headers: Mapping[str, str]
    content: bytes
    protocol: WireProtocol
    edge: str
    sample: TransferSample
