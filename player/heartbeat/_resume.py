"""Resume: ask the session service where this viewer stopped, never holding playback up."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from dataclasses import dataclass
from urllib.parse import quote

from player.config import HeartbeatConfig
from player.heartbeat._delivery import HttpCall
from player.heartbeat._model import is_wire_id
from transport.errors import TransportError

__all__ = ["ResumePosition", "fetch_resume_position"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class ResumePosition:
    """The latest position the service holds for a viewer and title."""

    position_s: float
    """Media position to start from, seconds."""

    device_id: str
    """Device that reported it."""

    ts: float
    """When that device reported it, Unix seconds (the device's clock)."""


async def fetch_resume_position(
    config: HeartbeatConfig, call: HttpCall, *, viewer_id: str, title_id: str
) -> ResumePosition | None:
    """Ask ``GET /v1/positions/{viewer_id}/{title_id}``, waiting at most ``resume_timeout_s``.

    Any failure means "start from the beginning": no position stored (404), the answer is
    late, the request fails, or the answer is malformed. The reason is logged.

    Args:
        config: Heartbeat section: ``service_url``, ``headers``, ``resume_timeout_s``.
        call: How to send the request.
        viewer_id: The viewer.
        title_id: The title.

    Returns:
        The position, or ``None``.
    """
    if config.service_url is None:
        return None
    if not (is_wire_id(viewer_id) and is_wire_id(title_id)):
        _log.warning("not asking for a resume position: invalid viewer or title id")
        return None
    url = f"{config.service_url.rstrip('/')}/v1/positions/{quote(viewer_id)}/{quote(title_id)}"
    try:
        async with asyncio.timeout(config.resume_timeout_s):
            data = await call(url, method="GET", headers=config.headers, body=None)
    except TimeoutError:
        _log.info("no resume position within %.1f s", config.resume_timeout_s)
        return None
    except TransportError as exc:
        _log.info("no resume position (%s)", exc.code)
        return None
    return _decode(data)


def _decode(data: bytes) -> ResumePosition | None:
    try:
        obj = json.loads(data)
        position_s, device_id, ts = obj["position_s"], obj["device_id"], obj["ts"]
    except (ValueError, TypeError, KeyError, RecursionError):
        _log.warning("malformed resume position from the session service")
        return None
    numbers = (position_s, ts)
    if not isinstance(device_id, str) or not all(
        isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n) and n >= 0
        for n in numbers
    ):
        _log.warning("malformed resume position from the session service")
        return None
    return ResumePosition(position_s=float(position_s), device_id=device_id, ts=float(ts))
