"""The player: presentation model, playback session, decoding, heartbeats, events, stats and CLI."""

from __future__ import annotations

from abr.errors import AbrError
from drm.errors import DrmError
from player._clock import Clock, RealClock, VirtualClock
from player._decode import DecodeResult
from player._player import Player
from player._state import PlaybackState
from player._stats import PlaybackStats
from player.cli import (
    Thresholds,
    build_report,
    check_thresholds,
    play_to_report,
    write_junit,
    write_plot,
)
from player.config import (
    CmcdConfig,
    HeartbeatConfig,
    ManifestConfig,
    PlayerConfig,
    SessionServiceConfig,
    SteeringConfig,
)
from player.errors import (
    SDK_ERRORS,
    DecodeError,
    HeartbeatError,
    ManifestError,
    ManifestParseError,
    PlayerConfigError,
    PlayerError,
    SteeringError,
    UnsupportedManifest,
    UsageError,
)
from player.heartbeat import (
    DeliveryStats,
    Heartbeat,
    HeartbeatAction,
    HeartbeatDelivery,
    HeartbeatReply,
    HeartbeatReporter,
    HeartbeatScheduler,
    HeartbeatState,
    HeartbeatTrigger,
    HttpCall,
    Outbox,
    OutboxEntry,
    OutboxStats,
    PlaybackSnapshot,
    ResumePosition,
    SessionIdentity,
    fetch_resume_position,
    heartbeat_state,
    http_call_via,
)
from transport.errors import TransportError

__all__ = [
    "AbrError",
    "Clock",
    "CmcdConfig",
    "DecodeError",
    "DecodeResult",
    "DeliveryStats",
    "DrmError",
    "Heartbeat",
    "HeartbeatAction",
    "HeartbeatConfig",
    "HeartbeatDelivery",
    "HeartbeatError",
    "HeartbeatReply",
    "HeartbeatReporter",
    "HeartbeatScheduler",
    "HeartbeatState",
    "HeartbeatTrigger",
    "HttpCall",
    "ManifestConfig",
    "ManifestError",
    "ManifestParseError",
    "Outbox",
    "OutboxEntry",
    "OutboxStats",
    "PlaybackSnapshot",
    "PlaybackState",
    "PlaybackStats",
    "Player",
    "PlayerConfig",
    "PlayerConfigError",
    "PlayerError",
    "RealClock",
    "ResumePosition",
    "SDK_ERRORS",
    "SessionIdentity",
    "SessionServiceConfig",
    "SteeringConfig",
    "SteeringError",
    "Thresholds",
    "TransportError",
    "UnsupportedManifest",
    "UsageError",
    "VirtualClock",
    "build_report",
    "check_thresholds",
    "fetch_resume_position",
    "heartbeat_state",
    "http_call_via",
    "play_to_report",
    "write_junit",
    "write_plot",
]
