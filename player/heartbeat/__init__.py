"""Position heartbeats for continue-watching.

The wire model, schedule, durable outbox, delivery, the reporter and its bridge to the
session's events, and resume positions.

The reference service that receives them is ``player.sessions``.
"""

from __future__ import annotations

from player.heartbeat._delivery import DeliveryStats, HeartbeatDelivery, HttpCall, http_call_via
from player.heartbeat._model import (
    MAX_SESSION_ID_CHARS,
    Heartbeat,
    HeartbeatAction,
    HeartbeatReply,
    HeartbeatState,
    PlaybackSnapshot,
    SessionIdentity,
    heartbeat_state,
)
from player.heartbeat._outbox import Outbox, OutboxEntry, OutboxStats
from player.heartbeat._reporter import HeartbeatReporter
from player.heartbeat._resume import ResumePosition, fetch_resume_position
from player.heartbeat._schedule import HeartbeatScheduler, HeartbeatTrigger

__all__ = [
    "DeliveryStats",
    "Heartbeat",
    "HeartbeatAction",
    "HeartbeatDelivery",
    "HeartbeatReply",
    "HeartbeatReporter",
    "HeartbeatScheduler",
    "HeartbeatState",
    "HeartbeatTrigger",
    "HttpCall",
    "MAX_SESSION_ID_CHARS",
    "Outbox",
    "OutboxEntry",
    "OutboxStats",
    "PlaybackSnapshot",
    "ResumePosition",
    "SessionIdentity",
    "fetch_resume_position",
    "heartbeat_state",
    "http_call_via",
]
