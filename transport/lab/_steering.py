"""The lab's content steering server: a steering manifest whose priorities change at run time.

``SteeringApp`` answers every ``GET`` with a steering manifest (draft-pantos-content-steering
section 4: ``VERSION``, ``TTL``, ``RELOAD-URI``, ``PATHWAY-PRIORITY``, ``PATHWAY-CLONES``).
Tests change what it answers from Python (``app.set_priority([...])``) or over HTTP
(``POST /control`` with a JSON body), and read what players reported in the query of each
request (``_HLS_pathway``, ``_HLS_throughput``, ``_DASH_pathway``, ``_DASH_throughput``)
from ``app.requests``. Its ``faults`` switch answers an error status (503, 410, 429...) like
an edge's; ``LabServer.kill`` takes it down.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from transport.errors import TransportConfigError
from transport.lab._cdn_app import Receive, Scope, Send
from transport.lab._faults import FaultSwitch, StatusFault

__all__ = ["SteeringApp", "SteeringRecord"]

_HISTORY_LEN = 10_000
"""Requests remembered (a bounded history, like the edges')."""
_MAX_CONTROL_BYTES = 64 * 1024
"""Largest ``POST /control`` body read."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SteeringRecord:
    """One steering request the server answered.

    Attributes:
        at: ``time.monotonic()`` when it arrived.
        path: The request path.
        query: The query parameters, decoded (``{"_HLS_pathway": '"A"', ...}``).
        status: Status sent.
        priority: The ``PATHWAY-PRIORITY`` answered (empty for an error status).
    """

    at: float
    path: str
    query: dict[str, str]
    status: int
    priority: tuple[str, ...]


class SteeringApp:
    """ASGI steering server whose manifest a test changes while players run.

    Args:
        priority: The first ``PATHWAY-PRIORITY``.
        ttl_s: ``TTL`` in seconds.
        reload_uri: ``RELOAD-URI`` to send, if any.
        clones: ``PATHWAY-CLONES`` entries (JSON objects as the spec writes them).
        faults: The fault switch consulted per request (a new one when ``None``); only
            ``StatusFault`` applies here.

    >>> app = SteeringApp(priority=["A", "B"], ttl_s=5)
    >>> app.set_priority(["B", "A"])
    >>> app.manifest()["PATHWAY-PRIORITY"]
    ['B', 'A']
    """

    def __init__(
        self,
        *,
        priority: Sequence[str],
        ttl_s: float = 300.0,
        reload_uri: str | None = None,
        clones: Sequence[Mapping[str, Any]] = (),
        faults: FaultSwitch | None = None,
    ) -> None:
        self.faults = faults if faults is not None else FaultSwitch()
        self._lock = threading.Lock()
        self._priority = _checked_priority(priority)
        self._ttl_s = _checked_ttl(ttl_s)
        self._reload_uri = reload_uri
        self._clones = [dict(c) for c in clones]
        self._requests: deque[SteeringRecord] = deque(maxlen=_HISTORY_LEN)
        self.changed_at = time.monotonic()
        """``time.monotonic()`` of the latest change of priority, TTL or clones."""

    def set_priority(self, priority: Sequence[str], *, ttl_s: float | None = None) -> None:
        """Answer a new ``PATHWAY-PRIORITY`` (and ``TTL``) from now on; any thread.

        Args:
            priority: Pathway ids, most preferred first.
            ttl_s: A new ``TTL``, seconds; unchanged when ``None``.

        Raises:
            TransportConfigError: An empty priority or a TTL that is not positive.
        """
        checked = _checked_priority(priority)
        ttl = None if ttl_s is None else _checked_ttl(ttl_s)
        with self._lock:
            self._priority = checked
            if ttl is not None:
                self._ttl_s = ttl
            self.changed_at = time.monotonic()

    def set_clones(self, clones: Sequence[Mapping[str, Any]]) -> None:
        """Answer these ``PATHWAY-CLONES`` from now on (an empty list removes them)."""
        with self._lock:
            self._clones = [dict(c) for c in clones]
            self.changed_at = time.monotonic()

    def manifest(self) -> dict[str, Any]:
        """The steering manifest answered now, as JSON data."""
        with self._lock:
            body: dict[str, Any] = {
                "VERSION": 1,
                "TTL": self._ttl_s,
                "PATHWAY-PRIORITY": list(self._priority),
            }
            if self._reload_uri is not None:
                body["RELOAD-URI"] = self._reload_uri
            if self._clones:
                body["PATHWAY-CLONES"] = [dict(c) for c in self._clones]
        return body

    @property
    def requests(self) -> tuple[SteeringRecord, ...]:
        """The steering requests answered so far, oldest first (bounded history)."""
        with self._lock:
            return tuple(self._requests)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one ASGI connection scope (``lifespan`` or ``http``)."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["method"] == "POST" and scope["path"] == "/control":
            await self._control(receive, send)
            return
        await self._steer(scope, send)

    async def _steer(self, scope: Scope, send: Send) -> None:
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        fault = self.faults.take(scope["path"])
        headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
        if scope["method"] not in ("GET", "HEAD"):
            status, body, priority = 405, b"{}", ()
        elif isinstance(fault, StatusFault):
            status, body, priority = fault.status, b"{}", ()
            if fault.retry_after_s is not None:
                retry = str(max(1, round(fault.retry_after_s))).encode()
                headers.append((b"retry-after", retry))
        else:
            manifest = self.manifest()
            status, priority = 200, tuple(manifest["PATHWAY-PRIORITY"])
            body = json.dumps(manifest).encode()
        record = SteeringRecord(
            at=time.monotonic(), path=scope["path"], query=query, status=status, priority=priority
        )
        with self._lock:
            self._requests.append(record)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _control(self, receive: Receive, send: Send) -> None:
        raw = b""
        while len(raw) <= _MAX_CONTROL_BYTES:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body", False):
                break
        status, answer = 204, b""
        try:
            change = json.loads(raw or b"{}")
            if not isinstance(change, dict):
                raise TransportConfigError("control body must be a JSON object")
            if "clones" in change:
                self.set_clones(list(change["clones"]))
            if "priority" in change or "ttl_s" in change:
                priority = change.get("priority") or list(self.manifest()["PATHWAY-PRIORITY"])
                self.set_priority(priority, ttl_s=change.get("ttl_s"))
        except (ValueError, TypeError, TransportConfigError) as exc:
            status, answer = 400, f"{exc}\n".encode()
        headers = [(b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


def _checked_priority(priority: Sequence[str]) -> tuple[str, ...]:
    if isinstance(priority, str) or not priority or not all(isinstance(p, str) for p in priority):
        raise TransportConfigError("steering priority must be a non-empty list of pathway ids")
    return tuple(priority)


def _checked_ttl(ttl_s: float) -> float:
    if not isinstance(ttl_s, int | float) or not ttl_s > 0:
        raise TransportConfigError(f"steering TTL must be positive, got {ttl_s!r}")
    return float(ttl_s)
