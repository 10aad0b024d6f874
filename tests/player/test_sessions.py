"""The reference session service over real HTTPS on loopback (lab server, SQLite)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from heartbeat_support import (
    Service,
    auth,
    dumps,
    heartbeat_json,
    running_service,
)

from player.config import SessionServiceConfig
from player.errors import PlayerConfigError


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    config = SessionServiceConfig(max_streams=2, session_timeout_s=60.0, max_body_bytes=4096)
    with running_service(tmp_path, config=config) as svc:
        yield svc


@pytest.fixture(scope="module")
def shared_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service for the many requests that must leave no trace in it."""
    config = SessionServiceConfig(max_body_bytes=4096)
    with running_service(tmp_path_factory.mktemp("shared"), config=config) as svc:
        yield svc


def _client(service: Service) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=service.ca_file)
    return httpx.Client(base_url=service.base_url, verify=ctx, timeout=5.0)


@pytest.fixture
def client(service: Service) -> Iterator[httpx.Client]:
    with _client(service) as c:
        yield c


@pytest.fixture(scope="module")
def shared_client(shared_service: Service) -> Iterator[httpx.Client]:
    with _client(shared_service) as c:
        yield c


def post(client: httpx.Client, body: Any, viewer: str = "alice") -> httpx.Response:
    return client.post("/v1/heartbeats", content=dumps(body), headers=auth(viewer))


def beat(session: str, seq: int, **kw: Any) -> dict[str, Any]:
    return heartbeat_json(id=f"{session}:{seq}", session_id=session, seq=seq, **kw)


def position(client: httpx.Client, title: str = "title-1", viewer: str = "alice") -> Any:
    response = client.get(f"/v1/positions/{viewer}/{title}", headers=auth(viewer))
    return response.status_code, response.json()


def test_two_devices_hand_the_position_over(client: httpx.Client, service: Service) -> None:
    t0 = service.clock.now
    assert position(client)[0] == 404
    assert post(client, beat("tv1", 0, device_id="tv", position_s=100.0, ts=t0)).json() == {
        "action": "continue",
        "reason": None,
    }
    post(client, beat("tv1", 1, device_id="tv", position_s=110.0, state="paused", ts=t0 + 10))
    assert position(client) == (200, {"position_s": 110.0, "device_id": "tv", "ts": t0 + 10})
    # the phone resumes where the TV stopped and moves on
    service.clock.now += 30
    post(client, beat("ph1", 0, device_id="phone", position_s=110.0, ts=t0 + 30))
    post(client, beat("ph1", 1, device_id="phone", position_s=125.5, ts=t0 + 40))
    assert position(client) == (200, {"position_s": 125.5, "device_id": "phone", "ts": t0 + 40})


def test_stream_limit_ends_the_oldest_of_three_devices(
    client: httpx.Client, service: Service
) -> None:
    t0 = service.clock.now
    for n, device in enumerate(["tv", "phone"]):
        service.clock.now = t0 + n
        assert post(client, beat(device, 0, device_id=device, ts=t0 + n)).json()["action"] == (
            "continue"
        )
    service.clock.now = t0 + 2
    assert post(client, beat("tablet", 0, device_id="tablet", ts=t0 + 2)).json() == {
        "action": "continue",
        "reason": None,
    }
    # the oldest (tv) is told to stop at its next heartbeat, and stays stopped
    for seq in (1, 2):
        reply = post(client, beat("tv", seq, device_id="tv", ts=t0 + 3)).json()
        assert reply == {"action": "terminate", "reason": "stream_limit"}
    assert post(client, beat("phone", 1, device_id="phone", ts=t0 + 3)).json()["action"] == (
        "continue"
    )
    sessions = client.get("/v1/sessions", headers=auth()).json()["sessions"]
    assert [s["device_id"] for s in sessions] == ["phone", "tablet"]
    # an ended session frees its slot: a new device then fits without terminating anyone
    post(client, beat("phone", 2, device_id="phone", state="ended", ts=t0 + 4))
    post(client, beat("laptop", 0, device_id="laptop", ts=t0 + 4))
    assert post(client, beat("tablet", 1, device_id="tablet", ts=t0 + 5)).json()["action"] == (
        "continue"
    )


def test_sessions_expire_without_heartbeats(client: httpx.Client, service: Service) -> None:
    t0 = service.clock.now
    post(client, beat("tv", 0, device_id="tv", ts=t0))
    post(client, beat("phone", 0, device_id="phone", ts=t0))
    service.clock.now = t0 + 61  # both silent longer than session_timeout_s
    assert client.get("/v1/sessions", headers=auth()).json() == {"sessions": []}
    post(client, beat("tablet", 0, device_id="tablet", ts=t0 + 61))
    service.clock.now = t0 + 62
    post(client, beat("laptop", 0, device_id="laptop", ts=t0 + 62))
    service.clock.now = t0 + 63
    # the expired tv comes back: it is a newcomer again and ends the oldest active session
    assert post(client, beat("tv", 1, device_id="tv", ts=t0 + 63)).json()["action"] == "continue"
    reply = post(client, beat("tablet", 1, device_id="tablet", ts=t0 + 63)).json()
    assert reply == {"action": "terminate", "reason": "stream_limit"}


def sessions(client: httpx.Client, viewer: str = "alice") -> list[str]:
    """Device ids of the viewer's active sessions, oldest first."""
    found = client.get("/v1/sessions", headers=auth(viewer)).json()["sessions"]
    return [s["device_id"] for s in found]


CONTINUE = {"action": "continue", "reason": None}
TERMINATE = {"action": "terminate", "reason": "stream_limit"}
DAY_S = 86_400.0


@pytest.mark.parametrize("cheat", ["old", "ancient", "future", "frozen", "replayed"])
def test_the_stream_limit_holds_whatever_the_device_clock_says(
    client: httpx.Client, service: Service, cheat: str
) -> None:
    """A device is counted from the service's receive times, whatever its ``ts`` says.

    ``old`` and ``ancient`` send timestamps hours or weeks in the past, ``future`` minutes
    ahead (within the bound), ``frozen`` the same timestamp forever, and ``replayed`` the
    very same heartbeat again and again. Each streams for five minutes of service time.
    """
    t0 = service.clock.now

    def cheat_beat(seq: int) -> dict[str, Any]:
        now = service.clock.now
        ts = {"old": now - 7200, "ancient": now - 29 * DAY_S, "future": now + 250}.get(cheat, t0)
        seq = 0 if cheat == "replayed" else seq
        return beat("cheat", seq, device_id="laptop", position_s=999.0, ts=ts)

    assert post(client, beat("tv", 0, device_id="tv", ts=t0)).json() == CONTINUE
    service.clock.now = t0 + 1
    assert post(client, beat("phone", 0, device_id="phone", ts=t0 + 1)).json() == CONTINUE
    for n in range(31):  # 5 minutes, 5 session timeouts; max_streams=2: the laptop is third
        service.clock.now = t0 + 2 + 10 * n
        assert post(client, cheat_beat(n)).json() == CONTINUE
        phone = beat("phone", n + 1, device_id="phone", position_s=float(n), ts=t0 + 2 + 10 * n)
        assert post(client, phone).json() == CONTINUE
    assert post(client, beat("tv", 1, device_id="tv", ts=service.clock.now)).json() == TERMINATE
    assert sessions(client) == ["phone", "laptop"]
    # the laptop still counts: a newcomer ends the oldest session, the phone's
    assert post(client, beat("tab", 0, device_id="tablet", ts=service.clock.now)).json() == (
        CONTINUE
    )
    assert sessions(client) == ["laptop", "tablet"]
    assert service.wire.heartbeat_counts()["cheat:0"] == (31 if cheat == "replayed" else 1)
    # positions are ordered by ts: only a clock ahead (by at most max_ts_ahead_s) wins
    winner = {"future": ("laptop", 999.0)}.get(cheat, ("phone", 30.0))
    assert (position(client)[1]["device_id"], position(client)[1]["position_s"]) == winner


@pytest.mark.parametrize(
    ("offset_s", "status"),
    [(300.0, 200), (301.0, 422), (3650 * DAY_S, 422), (-30 * DAY_S, 200), (-30 * DAY_S - 1, 422)],
)
def test_timestamps_beyond_the_bounds_are_refused(
    client: httpx.Client, service: Service, offset_s: float, status: int
) -> None:
    now = service.clock.now
    body = {"heartbeats": [beat("s", 0, ts=now), beat("s", 1, ts=now + offset_s)]}
    answer = post(client, body)
    assert answer.status_code == status
    if status == 422:
        assert answer.json()["error"] == "ts_out_of_range"
        assert "'ts'" in answer.json()["detail"] and "s:1" in answer.json()["detail"]
        assert service.app.store.received("alice") == []  # the batch is refused whole
        assert sessions(client) == []
    else:
        assert service.app.store.received("alice") == [("s", 0), ("s", 1)]
        assert sessions(client) == ["tv"]


def test_liveness_runs_on_the_service_clock(client: httpx.Client, service: Service) -> None:
    """A timestamp ahead does not keep a silent session alive; one behind does not end it."""
    t0 = service.clock.now
    post(client, beat("ahead", 0, device_id="tv", ts=t0 + 300))
    post(client, beat("behind", 0, device_id="phone", ts=t0 - 20 * DAY_S))
    assert sessions(client) == ["tv", "phone"]
    service.clock.now = t0 + 59
    post(client, beat("behind", 1, device_id="phone", ts=t0 - 20 * DAY_S + 1))
    service.clock.now = t0 + 61  # the tv is silent for longer than session_timeout_s
    assert sessions(client) == ["phone"]
    started = client.get("/v1/sessions", headers=auth()).json()["sessions"][0]
    assert (started["started_at"], started["last_seen"]) == (t0, t0 + 59)


def test_ids_reused_across_devices_are_refused(client: httpx.Client, service: Service) -> None:
    """A session belongs to one device and title; a heartbeat id to one heartbeat."""
    t0 = service.clock.now
    tv = beat("s", 0, device_id="tv", ts=t0)
    assert post(client, tv).json() == CONTINUE
    refused = [
        (beat("s", 1, device_id="phone", ts=t0), "session_conflict"),  # the tv's session
        (beat("s", 1, device_id="tv", title_id="title-2", ts=t0), "session_conflict"),
        ({**beat("p", 0, device_id="phone", ts=t0), "id": "s:0"}, "id_conflict"),  # its id
        ({**tv, "position_s": 99.0}, "id_conflict"),  # same id, other content
        ({"heartbeats": [beat("p", 0, device_id="phone", ts=t0), beat("s", 1, device_id="x")]},
         "session_conflict"),
    ]  # fmt: skip
    for body, error in refused:
        answer = post(client, body)
        assert (answer.status_code, answer.json()["error"]) == (409, error)
    assert service.app.store.received("alice") == [("s", 0)]
    assert post(client, tv).json() == CONTINUE  # a true repeat is answered, not stored again
    assert service.app.store.received("alice") == [("s", 0)]
    assert service.wire.heartbeat_counts()["s:0"] == 4  # first, two refused re-uses, repeat
    # to play, the phone needs a session of its own, and then it counts
    service.clock.now = t0 + 1
    post(client, beat("p", 0, device_id="phone", ts=t0 + 1))
    service.clock.now = t0 + 2
    post(client, beat("q", 0, device_id="tablet", ts=t0 + 2))
    assert post(client, beat("s", 1, device_id="tv", ts=t0 + 3)).json() == TERMINATE
    assert sessions(client) == ["phone", "tablet"]


def test_a_late_offline_session_counts_only_while_it_is_open(
    client: httpx.Client, service: Service
) -> None:
    """Heartbeats from an outbox after an outage (or an offline playback) are delivered days late.

    The service cannot tell them from a live stream without trusting the device's clock, so it
    does not try: a whole session that ends within one request never counts, and one that
    is still open counts like any other, from the time it was received.
    """
    t0 = service.clock.now
    post(client, beat("tv", 0, device_id="tv", ts=t0))
    service.clock.now = t0 + 1
    post(client, beat("phone", 0, device_id="phone", ts=t0 + 1))
    played = t0 - 2 * DAY_S
    offline = [beat("dl", n, device_id="laptop", position_s=10.0 * n, ts=played + 10 * n)
               for n in range(6)]  # fmt: skip
    offline.append(beat("dl", 6, device_id="laptop", state="ended", ts=played + 60))
    assert post(client, {"heartbeats": offline}).json() == CONTINUE
    assert sessions(client) == ["tv", "phone"]
    for device in ("tv", "phone"):
        assert post(client, beat(device, 1, device_id=device, ts=t0)).json() == CONTINUE
    assert position(client)[1]["device_id"] in ("tv", "phone")  # newer than the download's
    # another offline session, delivered without its end: it is counted as a new stream
    service.clock.now = t0 + 2
    open_ = [beat("dl2", n, device_id="laptop", ts=played + n) for n in range(3)]
    assert post(client, {"heartbeats": open_}).json() == CONTINUE
    assert post(client, beat("tv", 2, device_id="tv", ts=t0 + 2)).json() == TERMINATE
    assert sessions(client) == ["phone", "laptop"]
    assert position(client, title="title-1")[1]["device_id"] in ("tv", "phone")


def test_out_of_order_and_duplicate_heartbeats(client: httpx.Client, service: Service) -> None:
    t0 = service.clock.now
    late = beat("s", 2, position_s=300.0, ts=t0 + 20)
    early = beat("s", 1, position_s=200.0, ts=t0 + 10)
    post(client, late)
    post(client, early)  # arrives after a newer one: stored, but does not win
    assert position(client) == (200, {"position_s": 300.0, "device_id": "tv", "ts": t0 + 20})
    for _ in range(3):
        post(client, late)
    post(client, {"heartbeats": [early, late, beat("s", 3, position_s=310.0, ts=t0 + 30)]})
    assert service.app.store.received("alice") == [("s", 2), ("s", 1), ("s", 3)]
    assert position(client)[1]["position_s"] == 310.0
    # same device timestamp: the higher sequence number wins
    post(client, beat("s", 5, position_s=400.0, ts=t0 + 40))
    post(client, beat("s", 4, position_s=390.0, ts=t0 + 40))
    assert position(client)[1]["position_s"] == 400.0


HOSTILE = [
    (b"{not json", 400, "malformed_json"),
    (b'{"id": NaN}', 400, "malformed_json"),
    (b"[" * 1500 + b"]" * 1500, 400, "malformed_json"),
    (b'{"heartbeats": [], "heartbeats": []}', 400, "malformed_json"),
    (dumps([heartbeat_json()]), 422, "invalid_heartbeat"),
    (dumps(heartbeat_json(seq=-1)), 422, "invalid_heartbeat"),
    (dumps(heartbeat_json(seq=1.5)), 422, "invalid_heartbeat"),
    (dumps(heartbeat_json(seq=True)), 422, "invalid_heartbeat"),
    (dumps(heartbeat_json(position_s="12")), 422, "invalid_heartbeat"),
    (dumps(heartbeat_json(position_s=1e300)), 422, "invalid_heartbeat"),
    (dumps(heartbeat_json(state="rewinding")), 422, "invalid_heartbeat"),
    (dumps(heartbeat_json(bitrate_bps=-5)), 422, "invalid_heartbeat"),
    (dumps(heartbeat_json(buffer_s=None)), 422, "invalid_heartbeat"),
    (dumps(heartbeat_json(ts=0)), 422, "invalid_heartbeat"),
    (dumps(heartbeat_json(id="x" * 129)), 422, "invalid_heartbeat"),
    (dumps(heartbeat_json(session_id="s" * 101)), 422, "invalid_heartbeat"),
    (dumps(heartbeat_json(title_id="../../etc/passwd")), 422, "invalid_heartbeat"),
    (dumps(heartbeat_json(device_id="tv\r\nX-Injected: 1")), 422, "invalid_heartbeat"),
    (dumps(heartbeat_json(admin=True)), 422, "invalid_heartbeat"),
    (dumps({"heartbeats": []}), 422, "invalid_heartbeat"),
    (dumps({"heartbeats": [heartbeat_json()], "x": 1}), 422, "invalid_heartbeat"),
    (dumps({k: v for k, v in heartbeat_json().items() if k != "ts"}), 422, "invalid_heartbeat"),
    (b"x" * 5000, 413, "too_large"),
    (dumps(heartbeat_json(viewer_id="bob")), 403, "forbidden"),
]


@pytest.mark.parametrize(
    ("body", "status", "error"), HOSTILE, ids=[f"{i}-{c[2]}" for i, c in enumerate(HOSTILE)]
)
def test_malformed_and_hostile_bodies_are_refused(
    shared_client: httpx.Client, shared_service: Service, body: bytes, status: int, error: str
) -> None:
    response = shared_client.post("/v1/heartbeats", content=body, headers=auth())
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert response.headers["content-type"] == "application/json"
    assert shared_service.app.store.received("alice") == []
    assert shared_service.app.store.received("bob") == []


def test_oversized_batch_and_wrong_requests(client: httpx.Client, service: Service) -> None:
    batch = {"heartbeats": [beat("s", n) for n in range(600)]}  # 127 kB
    too_large = post(client, batch)
    assert (too_large.status_code, too_large.json()["error"]) == (413, "too_large")
    # the service read the body to its end before answering (up to max_drain_bytes), so
    # the connection stays in a known state and the next request goes over it
    assert "connection" not in too_large.headers
    bad_type = client.post("/v1/heartbeats", content=dumps(heartbeat_json()), headers={
        "Authorization": "Bearer alice-token", "Content-Type": "text/plain"})  # fmt: skip
    assert bad_type.status_code == 415
    assert client.get("/v1/heartbeats", headers=auth()).status_code == 405
    assert client.get("/v1/nothing", headers=auth()).json()["error"] == "not_found"
    assert client.get("/v1/positions/alice/bad%2Fid", headers=auth()).status_code == 400
    first, second = service.wire.records[:2]
    assert (first.status, second.status) == (413, 415)
    assert first.client == second.client  # one connection: nothing was left half-read on it
    assert service.app.store.received("alice") == []


def test_a_body_beyond_the_drain_bound_is_answered_and_the_connection_closed(
    tmp_path: Path,
) -> None:
    """Past ``max_drain_bytes`` the service stops reading: it answers ``Connection: close``
    so that the client does not send its next request over a connection being closed."""
    config = SessionServiceConfig(max_body_bytes=4096, max_drain_bytes=16384)
    with running_service(tmp_path, config=config) as svc, _client(svc) as client:
        for _ in range(3):
            batch = {"heartbeats": [beat("s", n) for n in range(600)]}  # 127 kB
            too_large = post(client, batch)
            assert (too_large.status_code, too_large.json()["error"]) == (413, "too_large")
            assert too_large.headers["connection"] == "close"
            assert post(client, beat("s", 0)).json() == CONTINUE
        records = svc.wire.records
        assert [r.status for r in records] == [413, 200] * 3
        # each 413 closed its connection: the next request came on a new one
        assert all(a.client != b.client for a, b in zip(records[::2], records[1::2], strict=True))
        assert svc.app.store.received("alice") == [("s", 0)]


def test_unauthenticated_and_other_viewers_are_refused(
    client: httpx.Client, service: Service
) -> None:
    post(client, heartbeat_json())
    no_token = client.post("/v1/heartbeats", content=dumps(heartbeat_json()))
    assert (no_token.status_code, no_token.json()["error"]) == (401, "unauthenticated")
    assert no_token.headers["www-authenticate"].startswith("Bearer")
    wrong = client.get("/v1/positions/alice/title-1", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    basic = client.get("/v1/positions/alice/title-1", headers={"Authorization": "Basic YTpi"})
    assert basic.status_code == 401
    # bob can neither read alice's position nor write into it
    as_bob = client.get("/v1/positions/alice/title-1", headers=auth("bob"))
    assert (as_bob.status_code, as_bob.json()["error"]) == (403, "forbidden")
    assert post(client, heartbeat_json(id="b:0", position_s=999.0), viewer="bob").status_code == 403
    assert position(client)[1]["position_s"] == 12.5
    # bob's own namespace is separate, even with the same ids
    assert (
        post(client, heartbeat_json(viewer_id="bob", position_s=1.0), viewer="bob").json()["action"]
        == "continue"
    )
    assert position(client, viewer="bob")[1]["position_s"] == 1.0
    assert position(client)[1]["position_s"] == 12.5
    assert client.get("/v1/sessions", headers=auth("bob")).json()["sessions"][0]["device_id"] == (
        "tv"
    )


def test_state_survives_a_service_restart(tmp_path: Path) -> None:
    """The store alone (no HTTP): positions, sessions and de-duplication outlive the process."""
    from player.heartbeat._model import parse_heartbeat
    from player.sessions import SessionStore

    db = str(tmp_path / "persist.db")
    first = SessionStore(SessionServiceConfig(max_streams=1), db)
    t0 = 1_700_000_000.0
    first.record([parse_heartbeat(beat("tv", 0, position_s=42.0, ts=t0))], now=t0)
    first.close()
    again = SessionStore(SessionServiceConfig(max_streams=1), db)
    position = again.position("alice", "title-1")
    assert position is not None and position.position_s == 42.0
    again.record([parse_heartbeat(beat("tv", 0, position_s=42.0, ts=t0))], now=t0 + 1)
    assert again.received("alice") == [("tv", 0)]
    # the tv's session is still the active one: a phone beyond the limit ends it
    again.record([parse_heartbeat(beat("ph", 0, device_id="phone", ts=t0 + 2))], now=t0 + 2)
    reply = again.record([parse_heartbeat(beat("tv", 1, ts=t0 + 3))], now=t0 + 3)
    assert reply.reason == "stream_limit"
    again.close()


@pytest.mark.parametrize(
    "field",
    [{"max_ts_ahead_s": 0.0}, {"max_ts_age_s": -1.0}, {"max_ts_age_s": float("nan")},
     {"max_drain_bytes": -1}],
)  # fmt: skip
def test_bounds_must_be_sensible(field: dict[str, float]) -> None:
    with pytest.raises(PlayerConfigError, match=next(iter(field))):
        SessionServiceConfig(**field)  # type: ignore[arg-type]
    assert SessionServiceConfig(max_drain_bytes=0).max_drain_bytes == 0
