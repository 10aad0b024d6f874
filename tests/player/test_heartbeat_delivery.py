"""Reporter and delivery against the real session service over HTTPS (transport's client)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest
from heartbeat_support import TOKENS, free_port, running_service, service_call

from player import (
    HeartbeatConfig,
    HeartbeatDelivery,
    HeartbeatError,
    HeartbeatReporter,
    HeartbeatTrigger,
    PlaybackSnapshot,
    UsageError,
)
from player.config import SessionServiceConfig
from transport.lab import LabServer, LabServerThread, TestCA

WALL = 1_700_000_000.0


def config(base_url: str, tmp_path: Path, viewer: str = "alice") -> HeartbeatConfig:
    return HeartbeatConfig(
        service_url=base_url,
        headers={"Authorization": f"Bearer {TOKENS[viewer]}"},
        outbox_path=str(tmp_path / "outbox.db"),
        interval_s=10.0,
        retry_base_delay_s=0.05,
        retry_max_delay_s=0.2,
    )


def snap(position_s: float, state: str = "playing") -> PlaybackSnapshot:
    return PlaybackSnapshot(
        position_s=position_s,
        state=state,  # type: ignore[arg-type]
        bitrate_bps=1_000_000,
        buffer_s=5.0,
    )


async def test_reporter_delivers_in_order_and_surfaces_terminate(tmp_path: Path) -> None:
    limit = SessionServiceConfig(max_streams=1)
    with running_service(tmp_path, config=limit) as svc:
        svc.clock.now = WALL
        cfg = config(svc.base_url, tmp_path)
        async with service_call(svc.ca_file) as call, HeartbeatDelivery(cfg, call=call) as out:
            sent: list[tuple[int, str, float]] = []  # what a session turns into HeartbeatSent
            tv = HeartbeatReporter.for_session(
                cfg,
                out,
                viewer_id="alice",
                title_id="t1",
                device_id="tv",
                on_delivered=lambda hb: sent.append((hb.seq, hb.state, hb.position_s)),
            )
            await tv.notify(HeartbeatTrigger.START, snap(0.0), now=0.0, wall_s=WALL)
            for t in (5.0, 10.0, 20.0, 25.0, 30.0):
                await tv.tick(snap(t), now=t, wall_s=WALL + t)
            await asyncio.wait_for(out.flush(), 10)
            assert svc.app.store.received("alice") == [(tv.session_id, n) for n in range(4)]
            assert sent == [(0, "playing", 0.0), (1, "playing", 10.0), (2, "playing", 20.0),
                            (3, "playing", 30.0)]  # fmt: skip
            assert tv.termination is None

            svc.clock.now = WALL + 31  # the phone starts later than the tv
            phone = HeartbeatReporter.for_session(
                cfg, out, viewer_id="alice", title_id="t1", device_id="phone"
            )
            await phone.notify(HeartbeatTrigger.START, snap(30.0), now=31.0, wall_s=WALL + 31)
            await tv.tick(snap(40.0), now=40.0, wall_s=WALL + 40)
            reply = await asyncio.wait_for(tv.wait_terminated(), 10)
            assert reply.reason == "stream_limit"
            error = tv.termination_error()
            assert isinstance(error, HeartbeatError) and "stream_limit" in str(error)
            assert tv.next_due_at is None
            assert await tv.tick(snap(50.0), now=50.0, wall_s=WALL + 50) is None
            assert phone.termination is None and phone.termination_error() is None
            stats = await out.stats()
            assert (stats.outbox.delivered, stats.outbox.pending, stats.failures) == (6, 0, 0)


async def test_heartbeats_wait_in_the_outbox_until_the_service_is_up(tmp_path: Path) -> None:
    port = free_port()
    with running_service(tmp_path, port=port, start=False) as svc:
        svc.clock.now = WALL
        cfg = config(svc.base_url, tmp_path)
        async with service_call(svc.ca_file) as call, HeartbeatDelivery(cfg, call=call) as out:
            rep = HeartbeatReporter.for_session(
                cfg, out, viewer_id="alice", title_id="t1", device_id="tv"
            )
            await rep.notify(HeartbeatTrigger.START, snap(0.0), now=0.0, wall_s=WALL)
            for n in range(1, 5):
                await rep.notify(HeartbeatTrigger.SEEK, snap(n * 60.0), now=n, wall_s=WALL + n)
            while (await out.stats()).failures < 2:
                await asyncio.sleep(0.05)
            assert (await out.stats()).outbox.pending == 5
            await asyncio.to_thread(svc.server.start)
            await asyncio.wait_for(out.flush(), 10)
        assert svc.app.store.received("alice") == [(rep.session_id, n) for n in range(5)]
        position = svc.app.store.position("alice", "t1")
        assert position is not None and position.position_s == 240.0


async def test_refused_heartbeats_are_counted_and_not_retried(tmp_path: Path) -> None:
    with running_service(tmp_path) as svc:
        cfg = config(svc.base_url, tmp_path, viewer="bob")  # bob's token, alice's heartbeats
        async with service_call(svc.ca_file) as call, HeartbeatDelivery(cfg, call=call) as out:
            rep = HeartbeatReporter.for_session(
                cfg, out, viewer_id="alice", title_id="t1", device_id="tv"
            )
            await rep.notify(HeartbeatTrigger.START, snap(0.0), now=0.0, wall_s=WALL)
            await rep.notify(HeartbeatTrigger.END, snap(1.0, "ended"), now=1.0, wall_s=WALL + 1)
            await asyncio.wait_for(out.flush(), 10)
            stats = await out.stats()
            assert (stats.outbox.rejected, stats.outbox.delivered, stats.failures) == (2, 0, 0)
            assert stats.requests <= 2  # one or two batches, each refused once, none retried
        assert svc.app.store.received("alice") == []


async def test_delivery_needs_an_endpoint_and_a_running_context(tmp_path: Path) -> None:
    async def never(url: str, *, method: str, headers: object, body: bytes | None) -> bytes:
        raise AssertionError("not called")

    with pytest.raises(UsageError):
        HeartbeatDelivery(HeartbeatConfig(), call=never)
    cfg = dataclasses.replace(HeartbeatConfig(), service_url="https://127.0.0.1:9")
    delivery = HeartbeatDelivery(cfg, call=never)
    with pytest.raises(UsageError, match="async with"):
        await delivery.flush()


async def test_flush_surfaces_a_broken_sender(tmp_path: Path) -> None:
    """A sender that breaks its contract (raises a non-transport error) stops the task;
    ``flush`` must say so instead of waiting forever. No server is involved on purpose."""

    async def broken(url: str, *, method: str, headers: object, body: bytes | None) -> bytes:
        raise RuntimeError("bug in the sender")

    cfg = config("https://127.0.0.1:9", tmp_path)
    async with HeartbeatDelivery(cfg, call=broken) as out:
        rep = HeartbeatReporter.for_session(cfg, out, viewer_id="a", title_id="t", device_id="d")
        await rep.notify(HeartbeatTrigger.START, snap(0.0), now=0.0, wall_s=WALL)
        with pytest.raises(RuntimeError, match="bug in the sender"):
            await asyncio.wait_for(out.flush(), 5)
        assert (await out.stats()).outbox.pending == 1  # still queued for the next start


class _Overloaded:
    """The real service behind a front that answers the first ``refusals`` POSTs with
    ``503 Retry-After: 1`` (an overloaded or restarting service)."""

    def __init__(self, app: Any, refusals: int) -> None:
        self.app = app
        self.refusals = refusals

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and self.refusals > 0:
            self.refusals -= 1
            headers = [(b"retry-after", b"1"), (b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": b'{"error": "overloaded"}'})
            return
        await self.app(scope, receive, send)


async def test_5xx_is_retried_after_the_servers_retry_after(tmp_path: Path) -> None:
    with running_service(tmp_path, start=False) as svc:
        front = _Overloaded(svc.app, refusals=1)
        with LabServerThread(LabServer(front, ca=TestCA(tmp_path / "ca2"), http3=False)) as srv:
            # base delay 0.05 s; the cap (5 s) leaves room for the server's 1 s
            cfg = dataclasses.replace(config(srv.base_url, tmp_path), retry_max_delay_s=5.0)
            async with service_call(srv.ca_file) as call, HeartbeatDelivery(cfg, call=call) as out:
                rep = HeartbeatReporter.for_session(
                    cfg, out, viewer_id="alice", title_id="t1", device_id="tv"
                )
                started = time.monotonic()
                await rep.notify(HeartbeatTrigger.START, snap(0.0), now=0.0, wall_s=WALL)
                await asyncio.wait_for(out.flush(), 10)
                elapsed = time.monotonic() - started
                stats = await out.stats()
        # the 503, plus attempts transport refuses while it keeps the edge excluded
        assert stats.failures >= 1 and front.refusals == 0
        assert (stats.outbox.delivered, stats.outbox.pending) == (1, 0)
        assert svc.app.store.received("alice") == [(rep.session_id, 0)]
    assert elapsed >= 1.0  # the server asked for 1 s; our own first delay is 0.05 s


DAY_S = 86_400.0


async def _run_offline(
    cfg: HeartbeatConfig, ca_file: str, *, title: str, played_at: float, seconds: int
) -> list[str]:
    """One run of a process that cannot reach the service: it plays a whole session, then exits.

    Returns the ids of the heartbeats it queued.
    """
    async with service_call(ca_file) as call, HeartbeatDelivery(cfg, call=call) as out:
        rep = HeartbeatReporter.for_session(
            cfg, out, viewer_id="alice", title_id=title, device_id="laptop"
        )
        beats = [await rep.notify(HeartbeatTrigger.START, snap(0.0), now=0.0, wall_s=played_at)]
        for t in range(10, seconds, 10):
            beats.append(await rep.tick(snap(float(t)), now=t, wall_s=played_at + t))
        end = snap(float(seconds), "ended")
        beats.append(
            await rep.notify(HeartbeatTrigger.END, end, now=seconds, wall_s=played_at + seconds)
        )
        assert (await out.stats()).outbox.delivered == 0
    return [hb.id for hb in beats if hb is not None]


async def test_offline_sessions_wait_across_restarts_and_arrive_once_in_order(
    tmp_path: Path,
) -> None:
    """What offline playback (issue 15) relies on: heartbeats queued while the service cannot be
    reached, over several process runs, reach it days later in order and exactly once.

    Delivered whole, the offline sessions do not count against the stream limit (the live
    phone is not ended); one older than ``max_ts_age_s`` is refused and counted, without
    holding up the rest.
    """
    limit = SessionServiceConfig(max_streams=1)
    with running_service(tmp_path, config=limit, port=free_port(), start=False) as svc:
        cfg, ca_file = config(svc.base_url, tmp_path), svc.ca_file
        first = await _run_offline(cfg, ca_file, title="t1", played_at=WALL, seconds=95)
        second = await _run_offline(cfg, ca_file, title="t2", played_at=WALL + 3600, seconds=50)
        old = WALL - 40 * DAY_S  # older than max_ts_age_s when delivered
        stale = await _run_offline(cfg, ca_file, title="t3", played_at=old, seconds=20)
        svc.clock.now = WALL + 2 * DAY_S  # the device is back online two days later
        await asyncio.to_thread(svc.server.start)
        async with service_call(ca_file) as call:
            live = dict(id="ph:0", session_id="ph", seq=0, viewer_id="alice", title_id="t9",
                        device_id="phone", position_s=5.0, state="playing", bitrate_bps=1,
                        buffer_s=1.0, ts=svc.clock.now)  # fmt: skip
            url = f"{svc.base_url}/v1/heartbeats"
            headers = {"Authorization": f"Bearer {TOKENS['alice']}",
                       "Content-Type": "application/json"}  # fmt: skip
            await call(url, method="POST", headers=headers, body=json.dumps(live).encode())
            async with HeartbeatDelivery(cfg, call=call) as out:  # the next start delivers
                await asyncio.wait_for(out.flush(), 20)
                stats = await out.stats()
            body = json.dumps({**live, "id": "ph:1", "seq": 1}).encode()
            again = await call(url, method="POST", headers=headers, body=body)
        received = svc.app.store.received("alice")
        wire = svc.wire.heartbeat_counts()
        sessions = svc.app.store.active_sessions("alice", now=svc.clock.now)
        position = svc.app.store.position("alice", "t1")
    assert len(first) == 11 and len(second) == 6 and len(stale) == 3
    assert [f"{s}:{q}" for s, q in received if s != "ph"] == first + second
    assert all(wire[i] == 1 for i in first + second + stale)  # each sent once, none doubled
    assert (stats.outbox.delivered, stats.outbox.rejected, stats.outbox.pending) == (17, 3, 0)
    assert json.loads(again) == {"action": "continue", "reason": None}
    assert [s.device_id for s in sessions] == ["phone"]
    assert position is not None and (position.position_s, position.ts) == (95.0, WALL + 95)
