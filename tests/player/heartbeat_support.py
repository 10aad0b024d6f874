"""Helpers for the heartbeat tests: the session service on the lab's HTTPS server, and clients.

``HttpxCall`` is a minimal ``player.HttpCall`` built on httpx, used (in test code only) until
transport's own client lands; it raises transport's errors as the real client does.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from player.config import SessionServiceConfig
from player.sessions import SessionService
from transport.errors import ConnectError, HttpStatusError, NetworkError, RequestTimeout
from transport.lab import LabServer, LabServerThread, TestCA

TOKENS = {"alice": "alice-token", "bob": "bob-token"}


class HttpxCall:
    """``player.HttpCall`` over httpx (HTTP/1.1), trusting one CA file."""

    def __init__(self, ca_file: str, *, timeout_s: float = 5.0) -> None:
        self._client = httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=ca_file), timeout=timeout_s
        )

    async def __call__(
        self, url: str, *, method: str, headers: Mapping[str, str], body: bytes | None
    ) -> bytes:
        try:
            response = await self._client.request(method, url, headers=dict(headers), content=body)
        except httpx.TimeoutException as exc:
            raise RequestTimeout(f"{url}: timed out", url=url) from exc
        except httpx.ConnectError as exc:
            raise ConnectError(f"{url}: cannot connect", url=url) from exc
        except httpx.HTTPError as exc:
            raise NetworkError(f"{url}: {exc}", url=url) from exc
        if not 200 <= response.status_code < 300:
            raise HttpStatusError(
                f"{url}: HTTP {response.status_code}", status=response.status_code, url=url
            )
        return response.content

    async def aclose(self) -> None:
        await self._client.aclose()


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
    handle = LabServerThread(LabServer(app, ca=ca, port=port, http3=False))
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
