"""Helpers for the heartbeat tests: the session service on the lab's HTTPS server, and clients."""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator, MutableMapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from player import HttpCall, http_call_via
from player.config import SessionServiceConfig
from player.sessions import SessionService
from transport import HttpClient, RetryConfig, Timeouts, TransportConfig
from transport.lab import LabServer, LabServerThread, TestCA

TOKENS = {"alice": "alice-token", "bob": "bob-token"}


@asynccontextmanager
async def service_call(ca_file: str, *, attempts: int = 1) -> AsyncIterator[HttpCall]:
    """``player.HttpCall`` through transport's real client, trusting the lab's CA."""
    config = TransportConfig(
        ca_file=ca_file,
        retry=RetryConfig(max_attempts=attempts, base_delay_s=0.05, max_delay_s=0.1),
        timeouts=Timeouts(connect_s=1.0, ttfb_s=5.0, stall_s=5.0, total_s=10.0),
    )
    async with HttpClient(config) as client:
        yield http_call_via(client)


@dataclass
class ManualClock:
    """The service's wall clock, moved by hand."""

    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class WireRecord:
    """One request as it reached the service, and what became of its answer."""

    method: str
    path: str
    client: tuple[str, int]
    """Peer address and port: the connection the request came on (HTTP/1.1, HTTP/2)."""
    http_version: str
    status: int | None
    """Status the service answered, or ``None`` when the tap lost the answer."""
    heartbeat_ids: tuple[str, ...]
    """Ids of the heartbeats in a ``POST /v1/heartbeats`` body, in body order."""
    is_lost: bool


class WireTap:
    """The real service behind a transparent front that records every request it receives.

    It counts what went over the wire, which the service's store cannot (it keeps each
    heartbeat id once), and it can lose answers: with ``lose_answers = n``, the service
    handles each of the next ``n`` heartbeat POSTs in full (stores them), and then the
    connection is reset instead of answered, as when a reply is lost on the way back. The
    client cannot know its heartbeats were stored and must send them again.
    """

    def __init__(self, app: SessionService) -> None:
        self.app = app
        self.server: LabServer | None = None
        self.records: list[WireRecord] = []
        self.lose_answers = 0
        self._lock = threading.Lock()

    def heartbeat_counts(self) -> Counter[str]:
        """How many times each heartbeat id reached the service, in any request."""
        with self._lock:
            return Counter(i for r in self.records for i in r.heartbeat_ids)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        answer: list[MutableMapping[str, Any]] = []
        is_post = scope["method"] == "POST" and scope["path"] == "/v1/heartbeats"
        with self._lock:
            lose = is_post and self.lose_answers > 0
            self.lose_answers -= lose

        recorded: list[bool] = []

        def record() -> None:  # before the answer leaves: a client that has it sees the record
            if not recorded:
                recorded.append(True)
                self._record(scope, answer, b"".join(chunks), is_post=is_post, is_lost=lose)

        async def tapped_receive() -> MutableMapping[str, Any]:
            message: MutableMapping[str, Any] = await receive()
            chunks.append(message.get("body", b""))
            return message

        async def tapped_send(message: MutableMapping[str, Any]) -> None:
            answer.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                record()
            if not lose:
                await send(message)

        try:
            await self.app(scope, tapped_receive, tapped_send)
            if lose:
                assert self.server is not None
                aborted = await self.server.abort_connection(
                    scope["client"], http_version=scope["http_version"]
                )
                assert aborted, "the tap could not find the connection to reset"
        finally:
            record()

    def _record(
        self,
        scope: MutableMapping[str, Any],
        answer: list[MutableMapping[str, Any]],
        body: bytes,
        *,
        is_post: bool,
        is_lost: bool,
    ) -> None:
        status = next((m["status"] for m in answer if m["type"] == "http.response.start"), None)
        record = WireRecord(
            method=scope["method"],
            path=scope["path"],
            client=(str(scope["client"][0]), int(scope["client"][1])),
            http_version=scope["http_version"],
            status=None if is_lost else status,
            heartbeat_ids=_ids(body) if is_post else (),
            is_lost=is_lost,
        )
        with self._lock:
            self.records.append(record)


def _ids(body: bytes) -> tuple[str, ...]:
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        return ()
    items = obj.get("heartbeats", [obj]) if isinstance(obj, dict) else []
    return tuple(str(i.get("id")) for i in items if isinstance(i, dict))


@dataclass
class Service:
    """A running session service and how to reach it."""

    app: SessionService
    server: LabServerThread
    wire: WireTap
    """The front recording what reached the service."""
    clock: ManualClock = field(default_factory=ManualClock)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def ca_file(self) -> str:
        return self.server.ca_file


@contextmanager
def running_service(
    directory: Path,
    *,
    config: SessionServiceConfig | None = None,
    clock: ManualClock | None = None,
    ca: TestCA | None = None,
    port: int = 0,
    start: bool = True,
) -> Iterator[Service]:
    """Serve a ``SessionService`` on SQLite in ``directory`` over HTTPS on 127.0.0.1."""
    clock = clock or ManualClock()
    app = SessionService(
        config or SessionServiceConfig(),
        db_path=str(directory / "sessions.db"),
        tokens=TOKENS,
        clock=clock,
    )
    ca = ca or TestCA(directory / "ca")
    tap = WireTap(app)
    tap.server = LabServer(tap, ca=ca, port=port)
    handle = LabServerThread(tap.server)
    if start:
        handle.start()
    try:
        yield Service(app=app, server=handle, clock=clock, wire=tap)
    finally:
        handle.stop()
        app.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def heartbeat_json(**overrides: Any) -> dict[str, Any]:
    """A valid heartbeat of alice as a JSON object, with fields overridden."""
    hb: dict[str, Any] = {
        "id": "s1:0",
        "session_id": "s1",
        "seq": 0,
        "viewer_id": "alice",
        "title_id": "title-1",
        "device_id": "tv",
        "position_s": 12.5,
        "state": "playing",
        "bitrate_bps": 3_000_000,
        "buffer_s": 8.0,
        "ts": 1_700_000_000.0,
    }
    hb.update(overrides)
    return hb


def auth(viewer: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[viewer]}", "Content-Type": "application/json"}


def dumps(obj: object) -> bytes:
    return json.dumps(obj).encode()
