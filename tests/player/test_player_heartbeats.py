"""Heartbeats wired into playback: delivery, resume, and the service ending a session."""

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

from player import PlaybackState, RealClock, VirtualClock
from player._player import Player
from player.config import HeartbeatConfig, PlaybackConfig, PlayerConfig, SessionServiceConfig
from player.events import ErrorOccurred, Event, HeartbeatSent
from player.lab import ContentInfo, ContentSpec, RenditionSpec, generate_content
from player.sessions import SessionService
from transport import TransportConfig
from transport.lab import LabCdn, LabServer, TestCA

LADDER = (RenditionSpec(id="v1", width=160, height=90, bitrate_bps=150_000),)
TOKEN = "viewer-token"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> ContentInfo:
    spec = ContentSpec(duration_s=12, ladder=LADDER)
    return generate_content(tmp_path_factory.mktemp("hb"), spec)


@pytest.fixture(scope="module")
def cdn(content: ContentInfo, ca: TestCA) -> Iterator[Any]:
    handle = LabCdn(content.root, edges=1, ca=ca).start_in_thread()
    yield handle
    handle.stop()


@pytest.fixture()
def service(tmp_path: Path, ca: TestCA) -> Iterator[Any]:
    app = SessionService(
        SessionServiceConfig(max_streams=1),
        db_path=str(tmp_path / "sessions.db"),
        tokens={"alice": TOKEN},
    )
    handle = LabServer(app, ca=ca).start_in_thread()  # type: ignore[arg-type]
    yield handle
    handle.stop()


def config_for(cdn: Any, service: Any, tmp_path: Path, **heartbeat: Any) -> PlayerConfig:
    return PlayerConfig(
        transport=TransportConfig(ca_file=cdn.ca_file),
        playback=PlaybackConfig(decode=False),
        heartbeat=HeartbeatConfig(
            service_url=service.base_url,
            headers={"Authorization": f"Bearer {TOKEN}"},
            outbox_path=str(tmp_path / "outbox.db"),
            **heartbeat,
        ),
    )


def stored_position(service: Any, ca_file: str) -> dict[str, Any]:
    response = httpx.get(
        f"{service.base_url}/v1/positions/alice/title-1",
        headers={"Authorization": f"Bearer {TOKEN}"},
        verify=ssl.create_default_context(cafile=ca_file),
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_playback_reports_heartbeats_and_the_final_position(
    cdn: Any, service: Any, tmp_path: Path
) -> None:
    events: list[Event] = []

    async def run() -> Player:
        config = config_for(cdn, service, tmp_path, interval_s=2.0)
        async with Player(config, clock=VirtualClock(), viewer_id="alice", device_id="tv") as p:
            p.add_listener(events.append)
            await p.load(f"{cdn.edges[0].base_url}/manifest.mpd", title_id="title-1")
            await p.wait(timeout_s=60)
        return p

    player = asyncio.run(run())
    assert player.state is PlaybackState.ENDED
    sent = [e for e in events if isinstance(e, HeartbeatSent)]
    assert sent and sent[0].state == "playing"
    assert [e.seq for e in sent] == sorted(e.seq for e in sent)
    assert sent[-1].state == "ended"
    stored = stored_position(service, cdn.ca_file)
    assert stored["device_id"] == "tv"
    assert stored["position_s"] == pytest.approx(12.0, abs=0.2)


def test_resume_starts_where_the_viewer_stopped(cdn: Any, service: Any, tmp_path: Path) -> None:
    heartbeat = {
        "id": "phone-session:1", "session_id": "phone-session", "seq": 1, "viewer_id": "alice",
        "title_id": "title-1", "device_id": "phone", "position_s": 6.5, "state": "paused",
        "bitrate_bps": 150000, "buffer_s": 4.0, "ts": time.time(),
    }  # fmt: skip
    answer = httpx.post(
        f"{service.base_url}/v1/heartbeats",
        content=json.dumps(heartbeat),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        verify=ssl.create_default_context(cafile=cdn.ca_file),
    )
    assert answer.status_code == 200, answer.text

    async def run() -> Player:
        config = config_for(cdn, service, tmp_path)
        async with Player(config, clock=VirtualClock(), viewer_id="alice") as p:
            await p.load(f"{cdn.edges[0].base_url}/manifest.mpd", title_id="title-1", resume=True)
            assert p.position_s == pytest.approx(6.5)
            await p.wait(timeout_s=60)
        return p

    player = asyncio.run(run())
    assert player.state is PlaybackState.ENDED
    assert player.stats().time_played_s == pytest.approx(12.0 - 6.5, abs=0.2)


def test_resume_without_a_service_answer_starts_at_the_default(cdn: Any, tmp_path: Path) -> None:
    config = PlayerConfig(
        transport=TransportConfig(ca_file=cdn.ca_file),
        heartbeat=HeartbeatConfig(service_url="https://127.0.0.1:9", resume_timeout_s=0.5),
    )

    async def run() -> float:
        async with Player(config, clock=VirtualClock(), viewer_id="alice") as p:
            await p.load(
                f"{cdn.edges[0].base_url}/manifest.mpd",
                title_id="title-1",
                resume=True,
                start_at_s=2.0,
                autoplay=False,
            )
            return p.position_s

    assert asyncio.run(run()) == pytest.approx(2.0)


def test_stream_limit_ends_the_older_session_with_a_terminal_error(
    cdn: Any, service: Any, tmp_path: Path
) -> None:
    events: list[Event] = []

    async def run() -> Player:
        config = config_for(cdn, service, tmp_path, interval_s=0.3)
        config = PlayerConfig(
            transport=config.transport,
            heartbeat=config.heartbeat,
            playback=PlaybackConfig(decode=False, buffering_goal_s=4.0),
        )
        async with Player(config, clock=RealClock(), viewer_id="alice", device_id="tv") as p:
            p.add_listener(events.append)
            await p.load(f"{cdn.edges[0].base_url}/manifest.mpd", title_id="title-1")
            for _ in range(200):
                if any(isinstance(e, HeartbeatSent) for e in events):
                    break
                await asyncio.sleep(0.05)
            other = {
                "id": "tablet:1", "session_id": "tablet", "seq": 1, "viewer_id": "alice",
                "title_id": "title-2", "device_id": "tablet", "position_s": 0.0,
                "state": "playing", "bitrate_bps": 1, "buffer_s": 0.0, "ts": time.time(),
            }  # fmt: skip
            async with httpx.AsyncClient(
                verify=ssl.create_default_context(cafile=cdn.ca_file)
            ) as client:
                reply = await client.post(
                    f"{service.base_url}/v1/heartbeats",
                    content=json.dumps(other),
                    headers={
                        "Authorization": f"Bearer {TOKEN}",
                        "Content-Type": "application/json",
                    },
                )
                assert reply.status_code == 200
            await p.wait(timeout_s=30)
        return p

    player = asyncio.run(run())
    assert player.state is PlaybackState.ERROR
    fatal = [e for e in events if isinstance(e, ErrorOccurred) and e.fatal]
    assert [e.code for e in fatal] == ["player.heartbeat"]
