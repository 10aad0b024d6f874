"""What a playback session is built from: the transport role and the injected collaborators.

Kept apart from ``_session`` so that the session's helpers (the downloader, the DRM
adapter, the public ``Player``) can name these types without importing the session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from abr import Controller, ThroughputEstimator
from player._clock import Clock
from player._cmcd_requests import CmcdRequests
from player._hub import EventHub
from player._pipeline import MediaProcessor
from player._stats import StatsCollector
from player.config import PlayerConfig
from player.events import Event
from transport import Response, StreamingResponse

__all__: list[str] = []


class Fetcher(Protocol):
    """What the session needs of the transport (``transport.HttpClient`` satisfies it)."""

    async def fetch(
        self,
        urls: str | tuple[str, ...],
        *,
        headers: Mapping[str, str] | None = None,
        byte_range: tuple[int, int] | None = None,
        edges: Sequence[str] | None = None,
    ) -> Response:
        """Fetch one resource with failover across ``urls`` (``edges``: their health keys)."""
        ...

    def stream(
        self,
        urls: str | tuple[str, ...],
        *,
        headers: Mapping[str, str] | None = None,
        byte_range: tuple[int, int] | None = None,
        edges: Sequence[str] | None = None,
    ) -> AbstractAsyncContextManager[StreamingResponse]:
        """Open one resource for streaming, with failover across ``urls``."""
        ...


@dataclass(frozen=True, slots=True)
class Refusal:
    """Keys a license server refused: the DRM adapter tells the session (partial licences).

    Attributes:
        kids: KID hex -> why (the server's status, or a licence that left it out).
        rendition: The representation whose init segment named them, when the manifest
            did not declare them (``None``: the renditions declaring them are meant).
    """

    kids: Mapping[str, str]
    rendition: str | None = None


@dataclass(slots=True)
class SessionParts:
    """The collaborators a session is built from (all injected).

    Attributes:
        config: Player configuration.
        clock: Session clock.
        http: Transport client.
        controller: ABR controller for video.
        estimator: Throughput estimator fed with every transfer.
        processor: Decryption (or pass-through).
        hub: Event delivery.
        stats: Figures.
        emit: Where events go (stats, hub and sampling); ``None`` uses stats and hub.
        cmcd: Common Media Client Data of the requests; ``None`` sends none.
    """

    config: PlayerConfig
    clock: Clock
    http: Fetcher
    controller: Controller
    estimator: ThroughputEstimator
    processor: MediaProcessor
    hub: EventHub
    stats: StatsCollector
    emit: Callable[[Event], None] | None = None
    cmcd: CmcdRequests | None = None
