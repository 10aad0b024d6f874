"""The heartbeat wire format: the payload, the service's answer, and their strict validation.

This module is the one copy of the contract written down in ``docs/heartbeat.schema.json``:
the reporter builds payloads with it and the reference session service validates
requests with it. It does no I/O.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Literal, get_args

from player._state import PlaybackState
from player.errors import HeartbeatError

__all__ = [
    "Heartbeat",
    "HeartbeatAction",
    "HeartbeatReply",
    "HeartbeatState",
    "MAX_SESSION_ID_CHARS",
    "PlaybackSnapshot",
    "SessionIdentity",
    "heartbeat_state",
]

HeartbeatState = Literal["playing", "paused", "buffering", "seeking", "ended", "error"]
"""Playback state as a heartbeat carries it (``player.PlaybackState`` maps onto it)."""

_STATES: Final = frozenset(get_args(HeartbeatState))
_FROM_PLAYBACK: Final[dict[PlaybackState, HeartbeatState]] = {
    PlaybackState.IDLE: "paused",
    PlaybackState.LOADING: "buffering",
    PlaybackState.BUFFERING: "buffering",
    PlaybackState.PLAYING: "playing",
    PlaybackState.REBUFFERING: "buffering",
    PlaybackState.PAUSED: "paused",
    PlaybackState.SEEKING: "seeking",
    PlaybackState.ENDED: "ended",
    PlaybackState.ERROR: "error",
}
_ID_RE: Final = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
_FIELDS: Final = (
    "id",
    "session_id",
    "seq",
    "viewer_id",
    "title_id",
    "device_id",
    "position_s",
    "state",
    "bitrate_bps",
    "buffer_s",
    "ts",
)
# Bounds of the contract (docs/heartbeat.schema.json), not tunables.
_MAX_SEQ: Final = 2**53 - 1
_MAX_POSITION_S: Final = 1e7
_MAX_BUFFER_S: Final = 1e5
_MAX_BITRATE_BPS: Final = 10**12
_MAX_TS: Final = 2.0**33

MAX_SESSION_ID_CHARS: Final = 100
"""Longest session id, in characters, on both sides of the wire (docs/heartbeat.schema.json).

Ids are 1-128 characters; a session id is at most 100 so that the SDK's heartbeat ids,
``"{session_id}:{seq}"`` with ``seq`` up to 2**53 - 1 (16 digits), fit in 128 too. The SDK
refuses a longer one (``SessionIdentity``) and the session service answers ``422
invalid_heartbeat`` to it. It is part of the contract, not a tunable: a client and a service
configured differently could not talk."""


class HeartbeatAction(StrEnum):
    """What the service tells a reporter to do next."""

    CONTINUE = "continue"
    """Keep playing and reporting."""

    TERMINATE = "terminate"
    """Stop playback: the session was ended by the service (e.g. the stream limit)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionIdentity:
    """Who is playing what, where: the fixed part of every heartbeat of one session.

    Every value must match ``[A-Za-z0-9._:@-]{1,128}``; a session id is at most
    ``MAX_SESSION_ID_CHARS`` (100) characters so that heartbeat ids
    (``"{session_id}:{seq}"``) fit too.
    """

    session_id: str
    """Unique id of this playback session."""

    viewer_id: str
    """The viewer (account profile) the positions belong to."""

    title_id: str
    """The title being played."""

    device_id: str
    """The device playing it."""

    def __post_init__(self) -> None:
        """Validate the ids.

        Raises:
            HeartbeatError: An id is empty, too long or has characters outside the id alphabet.
        """
        for name in ("viewer_id", "title_id", "device_id"):
            _check_id(name, getattr(self, name))
        _check_session_id(self.session_id)


@dataclass(frozen=True, kw_only=True, slots=True)
class PlaybackSnapshot:
    """What the player looks like at one instant; the variable part of a heartbeat."""

    position_s: float
    """Media position in seconds."""

    state: HeartbeatState
    """Playback state."""

    bitrate_bps: int
    """Bitrate of the rendition being played, in bits per second (0 before the first)."""

    buffer_s: float
    """Seconds of media buffered ahead of the position."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Heartbeat:
    """One heartbeat, exactly as it travels (see :meth:`to_json`)."""

    id: str
    """Idempotency id: the service stores a heartbeat with a given id at most once."""

    session_id: str
    """Playback session it belongs to."""

    seq: int
    """Position in its session's sequence, from 0, strictly increasing."""

    viewer_id: str
    """Viewer the position belongs to."""

    title_id: str
    """Title played."""

    device_id: str
    """Device playing."""

    position_s: float
    """Media position in seconds."""

    state: HeartbeatState
    """Playback state."""

    bitrate_bps: int
    """Current rendition bitrate in bits per second."""

    buffer_s: float
    """Buffer level in seconds."""

    ts: float
    """Wall-clock time of the snapshot, Unix seconds."""

    def to_json(self) -> dict[str, Any]:
        """Return the wire form, a JSON object with the fields of the schema.

        Returns:
            A dict ready for ``json.dumps``.
        """
        return {name: getattr(self, name) for name in _FIELDS}

    def encode(self) -> bytes:
        """Return the compact UTF-8 JSON encoding of :meth:`to_json`."""
        return json.dumps(self.to_json(), separators=(",", ":")).encode()


@dataclass(frozen=True, kw_only=True, slots=True)
class HeartbeatReply:
    """The service's answer to a heartbeat request."""

    action: HeartbeatAction
    """Continue, or terminate the session."""

    reason: str | None = None
    """Why, for ``terminate`` (e.g. ``"stream_limit"``)."""

    @classmethod
    def decode(cls, data: bytes) -> HeartbeatReply:
        """Parse the service's JSON answer.

        Args:
            data: Response body.

        Returns:
            The reply.

        Raises:
            HeartbeatError: The body is not ``{"action": "continue"|"terminate", "reason": ...}``.
        """
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise HeartbeatError("session service answered with malformed JSON") from exc
        if not isinstance(obj, dict) or obj.get("action") not in ("continue", "terminate"):
            raise HeartbeatError("session service answer has no valid 'action'")
        reason = obj.get("reason")
        return cls(
            action=HeartbeatAction(obj["action"]),
            reason=reason[:200] if isinstance(reason, str) else None,
        )


def heartbeat_state(state: PlaybackState) -> HeartbeatState:
    """Map the session's state to the heartbeat's: loading and rebuffering report ``buffering``.

    >>> heartbeat_state(PlaybackState.REBUFFERING)
    'buffering'

    Args:
        state: The playback state machine's state.

    Returns:
        The state a heartbeat carries.
    """
    return _FROM_PLAYBACK[state]


def is_wire_id(value: str) -> bool:
    """Return whether ``value`` is a valid id on the wire: 1-128 of ``[A-Za-z0-9._:@-]``."""
    return _ID_RE.fullmatch(value) is not None


def _check_id(name: str, value: object) -> str:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise HeartbeatError(f"heartbeat field {name!r} must be a string of 1-128 [A-Za-z0-9._:@-]")
    return value


def _check_session_id(value: object) -> str:
    value = _check_id("session_id", value)
    if len(value) > MAX_SESSION_ID_CHARS:
        raise HeartbeatError(
            f"heartbeat field 'session_id' must be at most {MAX_SESSION_ID_CHARS} characters"
        )
    return value


def _check_number(name: str, value: object, upper: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HeartbeatError(f"heartbeat field {name!r} must be a number")
    number = float(value)
    if not math.isfinite(number) or not 0 <= number <= upper:
        raise HeartbeatError(f"heartbeat field {name!r} must be within [0, {upper:g}]")
    return number


def _check_int(name: str, value: object, upper: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= upper:
        raise HeartbeatError(f"heartbeat field {name!r} must be an integer within [0, {upper}]")
    return value


def parse_heartbeat(obj: object) -> Heartbeat:
    """Validate one decoded JSON heartbeat strictly: every field, no extra ones.

    Args:
        obj: The decoded JSON value.

    Returns:
        The heartbeat.

    Raises:
        HeartbeatError: A field is missing, unknown, of the wrong type or out of range; the
            message names the field.
    """
    if not isinstance(obj, dict):
        raise HeartbeatError("a heartbeat must be a JSON object")
    missing = [name for name in _FIELDS if name not in obj]
    if missing:
        raise HeartbeatError(f"heartbeat misses field {missing[0]!r}")
    extra = sorted(str(key)[:40] for key in obj if key not in _FIELDS)
    if extra:
        raise HeartbeatError(f"heartbeat has unknown field {extra[0]!r}")
    state = obj["state"]
    if state not in _STATES:
        raise HeartbeatError(f"heartbeat field 'state' must be one of {sorted(_STATES)}")
    ts = _check_number("ts", obj["ts"], _MAX_TS)
    if ts <= 0:
        raise HeartbeatError("heartbeat field 'ts' must be positive Unix seconds")
    return Heartbeat(
        id=_check_id("id", obj["id"]),
        session_id=_check_session_id(obj["session_id"]),
        seq=_check_int("seq", obj["seq"], _MAX_SEQ),
        viewer_id=_check_id("viewer_id", obj["viewer_id"]),
        title_id=_check_id("title_id", obj["title_id"]),
        device_id=_check_id("device_id", obj["device_id"]),
        position_s=_check_number("position_s", obj["position_s"], _MAX_POSITION_S),
        state=state,
        bitrate_bps=_check_int("bitrate_bps", obj["bitrate_bps"], _MAX_BITRATE_BPS),
        buffer_s=_check_number("buffer_s", obj["buffer_s"], _MAX_BUFFER_S),
        ts=ts,
    )


def parse_heartbeat_body(obj: object, *, max_batch: int) -> list[Heartbeat]:
    """Validate a request body: one heartbeat, or ``{"heartbeats": [...]}``.

    Args:
        obj: The decoded JSON body.
        max_batch: Most heartbeats accepted in one batch.

    Returns:
        The heartbeats, in body order.

    Raises:
        HeartbeatError: The body or one of its heartbeats is invalid.
    """
    if isinstance(obj, dict) and "heartbeats" in obj:
        if len(obj) != 1:
            raise HeartbeatError("a batch body has exactly one field, 'heartbeats'")
        items = obj["heartbeats"]
        if not isinstance(items, list) or not 1 <= len(items) <= max_batch:
            raise HeartbeatError(f"'heartbeats' must be a list of 1-{max_batch} heartbeats")
        return [parse_heartbeat(item) for item in items]
    return [parse_heartbeat(obj)]
