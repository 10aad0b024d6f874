"""Helpers for the heartbeat tests: the session service on the lab's HTTPS server, and clients."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
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


@dataclass
class Service:
    """A running session service and how to reach it."""

    app: SessionService
    server: LabServerThread
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
    handle = LabServerThread(LabServer(app, ca=ca, port=port))
    if start:
        handle.start()
    try:
        yield Service(app=app, server=handle, clock=clock)
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
