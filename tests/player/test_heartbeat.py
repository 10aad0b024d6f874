"""Heartbeat wire format, its JSON Schema, and the sans-I/O scheduler (explicit clocks)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from heartbeat_support import heartbeat_json

from player import (
    HeartbeatAction,
    HeartbeatConfig,
    HeartbeatError,
    HeartbeatReply,
    HeartbeatScheduler,
    HeartbeatTrigger,
    PlaybackSnapshot,
    PlaybackState,
    PlayerConfig,
    PlayerConfigError,
    SessionIdentity,
    heartbeat_state,
)
from player.heartbeat import MAX_SESSION_ID_CHARS
from player.heartbeat._model import parse_heartbeat, parse_heartbeat_body

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "heartbeat.schema.json").read_text()
)
IDENT = SessionIdentity(session_id="abc", viewer_id="alice", title_id="t1", device_id="tv")
WALL = 1_700_000_000.0


def snap(position_s: float = 0.0, state: Any = "playing") -> PlaybackSnapshot:
    return PlaybackSnapshot(position_s=position_s, state=state, bitrate_bps=2_500_000, buffer_s=6.0)


# -- a small hand-written validator for the subset of JSON Schema the file uses --------------


def schema_errors(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> list[str]:
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return schema_errors(value, target, root)
    if "oneOf" in schema:
        passing = [s for s in schema["oneOf"] if not schema_errors(value, s, root)]
        return [] if len(passing) == 1 else [f"oneOf matched {len(passing)}"]
    errors: list[str] = []
    kinds = schema.get("type")
    if kinds is not None and not any(_is_type(value, k) for k in _as_list(kinds)):
        return [f"{value!r:.40} is not {kinds}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{value!r} not in enum")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{value} < minimum")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{value} > maximum")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            errors.append(f"{value} <= exclusiveMinimum")
    if isinstance(value, str):
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", math.inf):
            errors.append("length")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append("pattern")
    if isinstance(value, dict):
        errors += [f"missing {k}" for k in schema.get("required", []) if k not in value]
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            errors += [f"extra {k}" for k in value if k not in props]
        for key, sub in props.items():
            if key in value:
                errors += schema_errors(value[key], sub, root)
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", math.inf):
            errors.append("items count")
        for item in value:
            errors += schema_errors(item, schema.get("items", {}), root)
    return errors


def _as_list(kinds: Any) -> list[str]:
    return kinds if isinstance(kinds, list) else [kinds]


def _is_type(value: Any, kind: str) -> bool:
    checks: dict[str, Any] = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "null": lambda v: v is None,
    }
    return bool(checks[kind](value))


# -- scheduler --------------------------------------------------------------------------------


def test_periodic_heartbeats_follow_the_interval_and_events_reset_it() -> None:
    sched = HeartbeatScheduler(HeartbeatConfig(interval_s=10.0), IDENT)
    assert sched.on_tick(snap(), now=0.0, wall_s=WALL) is None  # nothing before START
    assert sched.next_due_at is None
    start = sched.on_event(HeartbeatTrigger.START, snap(0.0), now=100.0, wall_s=WALL)
    assert start is not None
    assert (start.seq, start.id, start.state, start.ts) == (0, "abc:0", "playing", WALL)
    assert sched.next_due_at == 110.0
    assert sched.on_tick(snap(9.9), now=109.9, wall_s=WALL + 9.9) is None
    tick = sched.on_tick(snap(10.0), now=110.0, wall_s=WALL + 10)
    assert tick is not None and (tick.seq, tick.position_s) == (1, 10.0)
    pause = sched.on_event(HeartbeatTrigger.PAUSE, snap(13.0, "paused"), now=113.0, wall_s=WALL)
    assert pause is not None and (pause.seq, pause.state) == (2, "paused")
    assert sched.next_due_at == 123.0  # the event restarted the period
    assert sched.on_tick(snap(13.0), now=120.0, wall_s=WALL) is None
    assert [
        hb.seq
        for hb in (
            sched.on_tick(snap(), now=123.0, wall_s=WALL),
            sched.on_event(HeartbeatTrigger.SEEK, snap(50.0, "seeking"), now=124, wall_s=WALL),
        )
        if hb is not None
    ] == [3, 4]


def test_end_and_error_finish_the_session() -> None:
    sched = HeartbeatScheduler(HeartbeatConfig(), IDENT)
    sched.on_event(HeartbeatTrigger.START, snap(), now=0.0, wall_s=WALL)
    end = sched.on_event(HeartbeatTrigger.END, snap(60.0, "ended"), now=5.0, wall_s=WALL)
    assert end is not None and end.state == "ended"
    assert sched.is_finished and sched.next_due_at is None
    assert sched.on_tick(snap(), now=1000.0, wall_s=WALL) is None
    assert sched.on_event(HeartbeatTrigger.RESUME, snap(), now=1000.0, wall_s=WALL) is None


def test_terminate_reply_finishes_and_is_kept() -> None:
    sched = HeartbeatScheduler(HeartbeatConfig(), IDENT)
    sched.on_event(HeartbeatTrigger.START, snap(), now=0.0, wall_s=WALL)
    sched.on_reply(HeartbeatReply(action=HeartbeatAction.CONTINUE))
    assert sched.termination is None and not sched.is_finished
    sched.on_reply(HeartbeatReply(action=HeartbeatAction.TERMINATE, reason="stream_limit"))
    sched.on_reply(HeartbeatReply(action=HeartbeatAction.TERMINATE, reason="later"))
    assert sched.termination is not None and sched.termination.reason == "stream_limit"
    assert sched.on_tick(snap(), now=100.0, wall_s=WALL) is None


def test_same_inputs_give_the_same_heartbeats() -> None:
    def run() -> list[dict[str, Any]]:
        sched = HeartbeatScheduler(HeartbeatConfig(interval_s=2.0), IDENT)
        out = [sched.on_event(HeartbeatTrigger.START, snap(), now=0.0, wall_s=WALL)]
        out += [sched.on_tick(snap(t / 2), now=t / 2, wall_s=WALL + t / 2) for t in range(20)]
        return [hb.to_json() for hb in out if hb is not None]

    first = run()
    assert first == run()
    assert [hb["seq"] for hb in first] == list(range(5))


def test_trigger_kinds_and_state_mapping() -> None:
    assert [t.is_state_change for t in HeartbeatTrigger].count(False) == 1
    assert not HeartbeatTrigger.PERIODIC.is_state_change
    assert {heartbeat_state(s) for s in PlaybackState} <= {
        "playing",
        "paused",
        "buffering",
        "seeking",
        "ended",
        "error",
    }
    assert heartbeat_state(PlaybackState.PLAYING) == "playing"
    assert heartbeat_state(PlaybackState.LOADING) == "buffering"


def test_identity_ids_are_validated() -> None:
    with pytest.raises(HeartbeatError, match="viewer_id"):
        SessionIdentity(session_id="s", viewer_id="a b", title_id="t", device_id="d")
    with pytest.raises(HeartbeatError, match="session_id"):
        SessionIdentity(session_id="s" * 101, viewer_id="a", title_id="t", device_id="d")
    longest = SessionIdentity(session_id="s" * 100, viewer_id="a", title_id="t", device_id="d")
    sched = HeartbeatScheduler(HeartbeatConfig(), longest)
    beat = sched.on_event(HeartbeatTrigger.START, snap(), now=0.0, wall_s=WALL)
    assert beat is not None
    assert parse_heartbeat(json.loads(beat.encode())).session_id == "s" * 100


def test_one_session_id_limit_in_the_sdk_the_service_and_the_schema() -> None:
    """``MAX_SESSION_ID_CHARS`` is the number the schema states, and the longest heartbeat
    id the SDK makes from such a session id is still a valid id."""
    rule = SCHEMA["$defs"]["session_id"]
    assert rule["maxLength"] == MAX_SESSION_ID_CHARS == 100
    assert rule["pattern"].endswith(f"{{1,{MAX_SESSION_ID_CHARS}}}$")
    assert SCHEMA["$defs"]["heartbeat"]["properties"]["session_id"]["$ref"] == "#/$defs/session_id"
    longest_id = f"{'s' * MAX_SESSION_ID_CHARS}:{2**53 - 1}"
    assert schema_errors(longest_id, SCHEMA["$defs"]["id"], SCHEMA) == []


# -- wire format and schema -----------------------------------------------------------------


def test_scheduler_payloads_validate_against_the_schema_and_round_trip() -> None:
    sched = HeartbeatScheduler(HeartbeatConfig(), IDENT)
    beats = [
        sched.on_event(trigger, snap(12.25, state), now=float(n), wall_s=WALL + n)
        for n, (trigger, state) in enumerate(
            [
                (HeartbeatTrigger.START, "buffering"),
                (HeartbeatTrigger.SWITCH, "playing"),
                (HeartbeatTrigger.STALL, "buffering"),
                (HeartbeatTrigger.ERROR, "error"),
            ]
        )
    ]
    wire = [json.loads(hb.encode()) for hb in beats if hb is not None]
    assert len(wire) == 4
    for obj in wire:
        assert schema_errors(obj, SCHEMA, SCHEMA) == []
        assert parse_heartbeat(obj).to_json() == obj
    assert schema_errors({"heartbeats": wire}, SCHEMA, SCHEMA) == []
    assert [hb.seq for hb in parse_heartbeat_body({"heartbeats": wire}, max_batch=10)] == [
        0,
        1,
        2,
        3,
    ]


BAD = [
    {"seq": -1},
    {"seq": 2.0},
    {"seq": False},
    {"position_s": -0.5},
    {"position_s": float("inf")},
    {"position_s": "1"},
    {"state": "PLAYING"},
    {"bitrate_bps": 1.5},
    {"buffer_s": 1e6},
    {"ts": 0},
    {"ts": -1},
    {"id": ""},
    {"id": "a/b"},
    {"session_id": None},
    {"session_id": "s" * 101},
    {"title_id": "x" * 129},
    {"extra": 1},
]


@pytest.mark.parametrize("change", BAD, ids=[str(b)[:30] for b in BAD])
def test_schema_and_parser_refuse_the_same_payloads(change: dict[str, Any]) -> None:
    obj = heartbeat_json(**change)
    assert schema_errors(obj, SCHEMA, SCHEMA) != []
    with pytest.raises(HeartbeatError):
        parse_heartbeat(obj)


def test_schema_and_parser_accept_the_same_edges() -> None:
    edge = heartbeat_json(
        seq=0, position_s=0, buffer_s=0, bitrate_bps=0, ts=1, id="a" * 128, session_id="s" * 100
    )
    assert schema_errors(edge, SCHEMA, SCHEMA) == []
    assert parse_heartbeat(edge).position_s == 0.0
    missing = {k: v for k, v in heartbeat_json().items() if k != "state"}
    assert schema_errors(missing, SCHEMA, SCHEMA) == ["oneOf matched 0"]
    with pytest.raises(HeartbeatError, match="'state'"):
        parse_heartbeat(missing)
    with pytest.raises(HeartbeatError, match="1-3"):
        parse_heartbeat_body({"heartbeats": [heartbeat_json()] * 4}, max_batch=3)


def test_reply_decoding() -> None:
    reply = HeartbeatReply.decode(b'{"action": "terminate", "reason": "stream_limit"}')
    assert (reply.action, reply.reason) == (HeartbeatAction.TERMINATE, "stream_limit")
    assert HeartbeatReply.decode(b'{"action": "continue", "reason": null}').reason is None
    for bad in (b"", b"[]", b'{"action": "stop"}', b"\xff"):
        with pytest.raises(HeartbeatError):
            HeartbeatReply.decode(bad)


def test_config_validation() -> None:
    assert PlayerConfig().heartbeat.interval_s == 10.0
    assert "secret" not in repr(HeartbeatConfig(headers={"Authorization": "Bearer secret"}))
    for bad in (
        {"service_url": "ftp://x"},
        {"service_url": "https://"},
        {"interval_s": 0.0},
        {"max_batch": 0},
        {"retry_base_delay_s": 5.0, "retry_max_delay_s": 1.0},
        {"retry_backoff_factor": 0.5},
    ):
        with pytest.raises(PlayerConfigError):
            HeartbeatConfig(**bad)
