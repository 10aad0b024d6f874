"""The player: presentation model, playback session, decoding, heartbeats, events, stats and CLI."""

from __future__ import annotations

from abr.errors import AbrError
from drm.errors import DrmError
from player._clock import Clock, RealClock, VirtualClock
from player._decode import DecodeResult
from player._state import PlaybackState
from player._stats import PlaybackStats
from player.config import (
    ManifestConfig,
    PlayerConfig,
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
    "DrmError",
    "HeartbeatError",
    "ManifestConfig",
    "ManifestError",
    "ManifestParseError",
    "PlaybackState",
    "PlaybackStats",
    "PlayerConfig",
    "PlayerConfigError",
    "PlayerError",
    "RealClock",
    "SDK_ERRORS",
    "TransportError",
    "UnsupportedManifest",
    "UsageError",
    "VirtualClock",
]
