"""The player package's error tree, plus the roots of the other three (STYLE.md section 4)."""

from __future__ import annotations

from typing import ClassVar

from abr.errors import AbrError
from drm.errors import DrmError
from transport.errors import TransportError

__all__ = [
    "SDK_ERRORS",
    "AbrError",
    "DecodeError",
    "DrmError",
    "HeartbeatError",
    "ManifestError",
    "ManifestParseError",
    "PlayerConfigError",
    "PlayerError",
    "TransportError",
    "UnsupportedManifest",
    "UsageError",
]


class PlayerError(Exception):
    """Root of every error raised by ``player``."""

    code: ClassVar[str] = "player.error"


class PlayerConfigError(PlayerError, ValueError):
    """A ``PlayerConfig`` value is invalid."""

    code: ClassVar[str] = "player.config"


class ManifestError(PlayerError):
    """A manifest could not be turned into a presentation.

    Attributes:
        url: The manifest's URL (or file path given to the CLI).
        detail: What was wrong, in a few words.
    """

    code: ClassVar[str] = "player.manifest"

    def __init__(self, message: str, *, url: str, detail: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.detail = detail or message


class ManifestParseError(ManifestError):
    """The manifest is malformed: bad syntax, bad values, missing parts, too large."""

    code: ClassVar[str] = "player.manifest_parse"


class UnsupportedManifest(ManifestError):
    """The manifest is well formed but uses something this SDK does not support."""

    code: ClassVar[str] = "player.unsupported_manifest"


class DecodeError(PlayerError):
    """Media could not be decoded."""

    code: ClassVar[str] = "player.decode"


class HeartbeatError(PlayerError):
    """Heartbeat reporting or the session service failed."""

    code: ClassVar[str] = "player.heartbeat"


class UsageError(PlayerError, RuntimeError):
    """The API was used in the wrong order (e.g. ``play()`` before ``load()``)."""

    code: ClassVar[str] = "player.usage"


SDK_ERRORS: tuple[type[Exception], ...] = (PlayerError, TransportError, DrmError, AbrError)
"""Every root of the SDK's four error trees, for ``except SDK_ERRORS:``."""
