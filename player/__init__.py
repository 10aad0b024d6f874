"""The player: presentation model, playback session, decoding, heartbeats, events, stats and CLI."""

from __future__ import annotations

from abr.errors import AbrError
from drm.errors import DrmError
from player._clock import Clock, RealClock, VirtualClock
from player._decode import DecodeResult
from player._heartbeat import (
    Heartbeat,
    HeartbeatAction,
    HeartbeatReply,
    HeartbeatState,
    PlaybackSnapshot,
    SessionIdentity,
    heartbeat_state,
)
from player._heartbeat_delivery import (
    DeliveryStats,
    HeartbeatDelivery,
    HttpCall,
    http_call_via,
)
from player._heartbeat_reporter import HeartbeatReporter
from player._heartbeat_schedule import HeartbeatScheduler, HeartbeatTrigger
from player._outbox import Outbox, OutboxEntry, OutboxStats
from player._player import Player
from player._qa import play_to_report
from player._report import Thresholds, build_report, check_thresholds, write_junit, write_plot
from player._resume import ResumePosition, fetch_resume_position
from player._state import PlaybackState
from player._stats import PlaybackStats
from player.config import (
    HeartbeatConfig,
    ManifestConfig,
    PlayerConfig,
    SessionServiceConfig,
)
from player.errors import (
    SDK_ERRORS,
    DecodeError,
    HeartbeatError,
    ManifestError,
    ManifestParseError,
    PlayerConfigError,
    PlayerError,
    UnsupportedManifest,
    UsageError,
)
from transport.errors import TransportError

__all__ = [
    "AbrError",
    "Clock",
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
