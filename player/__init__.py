"""The player: presentation model, playback session, decoding, heartbeats, events, stats and CLI."""

from __future__ import annotations

from abr.errors import AbrError
from drm.errors import DrmError
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
    "DecodeError",
    "DrmError",
    "HeartbeatError",
    "ManifestConfig",
    "ManifestError",
    "ManifestParseError",
    "PlayerConfig",
    "PlayerConfigError",
    "PlayerError",
    "SDK_ERRORS",
    "TransportError",
    "UnsupportedManifest",
    "UsageError",
]
