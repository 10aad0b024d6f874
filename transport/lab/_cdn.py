"""The lab CDN: several edges and an origin over one content root, each with its own faults."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from transport.errors import TransportConfigError
from transport.lab._ca import TestCA
from transport.lab._cdn_app import CdnApp, RequestRecord
from transport.lab._content import Content, DirectoryContent
from transport.lab._faults import FaultSwitch
from transport.lab._loop import ThreadedPart
from transport.lab._server import LabServer

__all__ = ["Edge", "LabCdn", "LabCdnThread"]

_THREAD_TIMEOUT_S = 15.0
"""Bound on starting or stopping a whole CDN from the thread form (each server: ~1-4 s)."""


class Edge:
    """One CDN edge (or the origin): a ``CdnApp`` served by its own ``LabServer``.

    Args:
        content: What it serves.
        name: Its name (sent as ``X-Lab-Edge``).
        ca: The test CA.
        host: Listening address.
        http3: Also serve HTTP/3.
        max_datagram_size: Largest QUIC datagram the server sends, bytes.
        on_request: Called with the edge name and each ``RequestRecord`` it answers.

    Attributes:
        name: The edge's name.
        faults: Its fault switch: ``edge.faults.set(StatusFault(status=503), count=2)``.
        app: Its ASGI app.
        server: Its server.
    """

    def __init__(
        self,
        content: Content,
        *,
        name: str,
        ca: TestCA,
        host: str,
        http3: bool = True,
        max_datagram_size: int = 1200,
        on_request: Callable[[str, RequestRecord], None] | None = None,
    ) -> None:
        self.name = name
        self.faults = FaultSwitch()
        self.app = CdnApp(content, name=name, faults=self.faults, on_request=on_request)
        self.server = LabServer(
            self.app, ca=ca, host=host, http3=http3, max_datagram_size=max_datagram_size
        )
        self.app.connections = self.server

    @property
    def base_url(self) -> str:
        """``https://host:port`` (the same port for TCP and UDP)."""
        return self.server.base_url

    @property
    def port(self) -> int:
        """The port number, the same for TCP and UDP."""
        return self.server.port

    @property
    def is_running(self) -> bool:
        """Whether the edge is listening (``False`` while killed)."""
        return self.server.is_running

    @property
    def requests(self) -> tuple[RequestRecord, ...]:
        """Requests this edge answered, oldest first."""
        return self.app.requests

    def kill(self, *, revive_after_s: float | None = None) -> concurrent.futures.Future[None]:
        """Make the edge die (stop listening, drop connections), from any thread.

        Args:
            revive_after_s: Come back at the same port after this many seconds; ``None``
                stays dead until ``revive()``.

        Returns:
            A future done once the edge is down (``.result(timeout)`` or
            ``await asyncio.wrap_future(...)``).
        """
        return self.server.kill(revive_after_s=revive_after_s)

    def revive(self) -> concurrent.futures.Future[None]:
        """Bring a killed edge back at the same port, from any thread.

        Returns:
            A future done once it listens again.
        """
        return self.server.revive()

    def __repr__(self) -> str:
        return f"Edge({self.name!r}, {self.base_url!r}, running={self.is_running})"


class LabCdn:
    """Several CDN edges plus an origin serving one content root, on loopback.

    Use ``async with LabCdn(root) as cdn`` on the running loop, or ``start_in_thread()``.

    Args:
        content: A directory (path) or a ``Content`` source (e.g. ``MemoryContent``).
        edges: Number of edges (each on its own port).
        ca: The test CA; a new one (removed on exit) when ``None``.
        host: Listening address (loopback by default).
        http3: Also serve HTTP/3 on each edge's UDP port.
        max_datagram_size: Largest QUIC datagram the servers send, bytes (1200 to 1452).
        request_log: Append one JSON line per request answered by any edge or the origin
            to this file (``RequestRecord.to_json``: path, query, status, and the CMCD the
            request carried).

    Attributes:
        edges: The edges, in failover order.
        origin: The origin.
        ca: The test CA.
    """

    def __init__(
        self,
        content: Content | str | Path,
        *,
        edges: int = 2,
        ca: TestCA | None = None,
        host: str = "127.0.0.1",
        http3: bool = True,
        max_datagram_size: int = 1200,
        request_log: str | Path | None = None,
    ) -> None:
        if edges < 0:
            raise TransportConfigError(f"edges must be >= 0, got {edges}")
        source = DirectoryContent(content) if isinstance(content, str | Path) else content
        self._owns_ca = ca is None
        self.ca = TestCA() if ca is None else ca
        self._log = None if request_log is None else _RequestLog(Path(request_log))
        options: dict[str, Any] = {"ca": self.ca, "host": host, "http3": http3}
        options["max_datagram_size"] = max_datagram_size
        options["on_request"] = None if self._log is None else self._log.write
        self.edges = [Edge(source, name=f"edge{i}", **options) for i in range(edges)]
        self.origin = Edge(source, name="origin", **options)

    @property
    def ca_file(self) -> str:
        """Path of the CA certificate (PEM) clients must trust."""
        return str(self.ca.ca_file)

    @property
    def all(self) -> list[Edge]:
        """Edges then origin: the usual failover order."""
        return [*self.edges, self.origin]

    @property
    def urls(self) -> list[str]:
        """Base URLs of edges then origin."""
        return [edge.base_url for edge in self.all]

    def describe(self) -> dict[str, object]:
        """Return what a client needs: ``{"edges": [...], "origin": ..., "ca_file": ...}``."""
        return {
            "edges": [edge.base_url for edge in self.edges],
            "origin": self.origin.base_url,
            "ca_file": self.ca_file,
        }

    def clear_faults(self) -> None:
        """Disarm every fault on every edge and the origin."""
        for edge in self.all:
            edge.faults.clear()

    async def start(self) -> None:
        """Start every server (all or none).

        Raises:
            OSError: A port could not be bound.
        """
        try:
            for edge in self.all:
                await edge.server.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop every server (bounded in time, concurrently); close the request log."""
        try:
            await asyncio.gather(*(edge.server.stop() for edge in self.all))
        finally:
            if self._log is not None:
                self._log.close()

    def cleanup(self) -> None:
        """Remove the CA files if this CDN created the CA."""
        if self._owns_ca:
            self.ca.cleanup()

    async def __aenter__(self) -> LabCdn:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.stop()
        finally:
            self.cleanup()

    def start_in_thread(self) -> LabCdnThread:
        """Start every server on one event loop in a daemon thread.

        Returns:
            A synchronous handle with ``stop()``.
        """
        handle = LabCdnThread(self)
        handle.start()
        return handle


class _RequestLog:
    """The ``request_log`` file: one JSON line per request, flushed as it is written."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._file = path.open("a", encoding="utf-8")

    def write(self, edge: str, record: RequestRecord) -> None:
        line = json.dumps(record.to_json(edge=edge), separators=(",", ":"))
        with self._lock:
            if not self._file.closed:
                self._file.write(line + "\n")
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


class LabCdnThread(ThreadedPart):
    """A ``LabCdn`` running on its own event loop in a daemon thread (synchronous API).

    Args:
        cdn: The CDN to run.

    Attributes:
        cdn: The CDN; its edges' faults and ``kill``/``revive`` work from any thread.
    """

    def __init__(self, cdn: LabCdn) -> None:
        super().__init__(
            name="lab-cdn",
            start=cdn.start,
            stop=cdn.stop,
            start_timeout_s=_THREAD_TIMEOUT_S,
            stop_timeout_s=_THREAD_TIMEOUT_S,
        )
        self.cdn = cdn

    @property
    def edges(self) -> list[Edge]:
        """The edges, in failover order."""
        return self.cdn.edges

    @property
    def origin(self) -> Edge:
        """The origin."""
        return self.cdn.origin

    @property
    def ca_file(self) -> str:
        """Path of the CA certificate (PEM) clients must trust."""
        return self.cdn.ca_file

    def describe(self) -> dict[str, object]:
        """Return ``{"edges": [...], "origin": ..., "ca_file": ...}``."""
        return self.cdn.describe()

    def stop(self) -> None:
        """Stop every server and the loop thread (bounded in time); remove an owned CA."""
        try:
            super().stop()
        finally:
            self.cdn.cleanup()
