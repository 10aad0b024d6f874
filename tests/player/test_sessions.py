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


def test_late_heartbeats_update_position_without_starting_sessions(
    client: httpx.Client, service: Service
) -> None:
    t0 = service.clock.now
    for device in ("a", "b"):
        post(client, beat(device, 0, device_id=device, ts=t0))
    # a heartbeat from an outbox, two hours old: history, not a third stream
    assert post(client, beat("old", 0, device_id="c", ts=t0 - 7200)).json()["action"] == (
        "continue"
    )
    assert len(client.get("/v1/sessions", headers=auth()).json()["sessions"]) == 2
    assert position(client)[1]["device_id"] in ("a", "b")


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
    batch = {"heartbeats": [beat("s", n) for n in range(600)]}
    assert post(client, batch).status_code == 413  # bigger than max_body_bytes
    bad_type = client.post("/v1/heartbeats", content=dumps(heartbeat_json()), headers={
        "Authorization": "Bearer alice-token", "Content-Type": "text/plain"})  # fmt: skip
    assert bad_type.status_code == 415
    assert client.get("/v1/heartbeats", headers=auth()).status_code == 405
    assert client.get("/v1/nothing", headers=auth()).json()["error"] == "not_found"
    assert client.get("/v1/positions/alice/bad%2Fid", headers=auth()).status_code == 400


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
