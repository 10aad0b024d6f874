"""Configuration of the drm package: every tunable number, written once, with its reason."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from drm.errors import DrmConfigError

__all__ = ["DrmConfig"]

_HEX32 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, kw_only=True, slots=True)
class DrmConfig:
    """License acquisition and decryption settings."""

    license_url: str | None = None
    """ClearKey license server URL; overrides the manifest's ``Laurl`` when set."""

    license_headers: Mapping[str, str] = field(default_factory=dict)
    """Extra headers for license requests, e.g. ``Authorization: Bearer ...``."""

    keys: Mapping[str, str] = field(default_factory=dict)
    """Keys given out of band, ``{kid_hex: key_hex}``, as Shaka and dash.js allow."""

    max_license_bytes: int = 64 * 1024
    """Largest license response accepted; a ClearKey response for 100 keys is under 10 kB."""

    def __post_init__(self) -> None:
        """Validate values.

        Raises:
            DrmConfigError: A key or URL is malformed.
        """
        for kid, key in self.keys.items():
            if not _HEX32.match(kid) or not _HEX32.match(key):
                raise DrmConfigError(
                    f"keys: kid {kid!r} must map 32 lowercase hex to 32 hex digits"
                )
        if self.license_url is not None and not self.license_url.startswith(
            ("http://", "https://")
        ):
            raise DrmConfigError("license_url must be http(s)")
        if self.max_license_bytes <= 0:
            raise DrmConfigError("max_license_bytes must be positive")
