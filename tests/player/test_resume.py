"""Resume look-ups against the real service, a slow one, a broken one and none at all."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from heartbeat_support import TOKENS, Service, auth, free_port, heartbeat_json, running_service
from heartbeat_support import service_call as call_for

from player import HeartbeatConfig, ResumePosition, fetch_resume_position
from transport.lab import LabServer, LabServerThread, TestCA


def cfg(base_url: str, viewer: str = "alice", timeout_s: float = 1.0) -> HeartbeatConfig:
    return HeartbeatConfig(
        service_url=base_url,
        headers={"Authorization": f"Bearer {TOKENS[viewer]}"},
        resume_timeout_s=timeout_s,
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(tmp_path_factory.mktemp("resume")) as svc:
        body = json.dumps(heartbeat_json(position_s=754.25, device_id="tv", ts=1_700_000_100.0))
        with httpx.Client(verify=ssl.create_default_context(cafile=svc.ca_file)) as client:
            response = client.post(f"{svc.base_url}/v1/heartbeats", content=body, headers=auth())
            assert response.status_code == 200
        yield svc


async def test_resume_returns_the_latest_position(service: Service) -> None:
    async with call_for(service.ca_file) as call:
        found = await fetch_resume_position(
            cfg(service.base_url), call, viewer_id="alice", title_id="title-1"
        )
        assert found == ResumePosition(position_s=754.25, device_id="tv", ts=1_700_000_100.0)
        started = time.monotonic()
        missing = await fetch_resume_position(
            cfg(service.base_url), call, viewer_id="alice", title_id="never-watched"
        )
        assert missing is None
        assert time.monotonic() - started < 1.0
        # bob's token cannot read alice's position: no position, no exception
        as_bob = await fetch_resume_position(
            cfg(service.base_url, viewer="bob"), call, viewer_id="alice", title_id="title-1"
        )
        assert as_bob is None
        assert (
            await fetch_resume_position(cfg(service.base_url), call, viewer_id="a/b", title_id="x")
            is None
        )


class _SlowOrBroken:
    """An ASGI app that answers every request late (``delay_s``) or with ``body``."""

    def __init__(self, delay_s: float, body: bytes) -> None:
        self.delay_s = delay_s
        self.body = body

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await asyncio.sleep(self.delay_s)
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


@pytest.mark.parametrize(
    ("delay_s", "body"),
    [(5.0, b'{"position_s": 1.0, "device_id": "x", "ts": 1.0}'), (0.0, b'{"position_s": "x"}')],
    ids=["late", "malformed"],
)
async def test_late_or_malformed_answers_do_not_hold_playback(
    tmp_path: Path, delay_s: float, body: bytes
) -> None:
    ca = TestCA(tmp_path / "ca")
    with LabServerThread(LabServer(_SlowOrBroken(delay_s, body), ca=ca, http3=False)) as srv:
        async with call_for(srv.ca_file) as call:
            started = time.monotonic()
            found = await fetch_resume_position(
                cfg(srv.base_url, timeout_s=0.3), call, viewer_id="alice", title_id="t"
            )
            elapsed = time.monotonic() - started
    assert found is None
    assert elapsed < 1.5


async def test_no_service_means_no_position(tmp_path: Path) -> None:
    ca = TestCA(tmp_path / "ca")
    url = f"https://127.0.0.1:{free_port()}"
    async with call_for(str(ca.ca_file)) as call:
        started = time.monotonic()
        found = await fetch_resume_position(
            cfg(url, timeout_s=0.5), call, viewer_id="alice", title_id="t"
        )
        assert found is None
        assert time.monotonic() - started < 1.5
        assert (
            await fetch_resume_position(HeartbeatConfig(), call, viewer_id="a", title_id="t")
            is None
        )
