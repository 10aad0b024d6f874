"""DRM: PSSH, ClearKey license exchange, CENC and HLS AES decryption (sans-I/O cores)."""

from __future__ import annotations

from drm.config import (
    DrmConfig,
)
from drm.errors import (
    DecryptionError,
    DrmConfigError,
    DrmError,
    KeyNotFound,
    LicenseError,
    UnsupportedKeySystem,
)

__all__ = [
    "DecryptionError",
    "DrmConfig",
    "DrmConfigError",
    "DrmError",
    "KeyNotFound",
    "LicenseError",
    "UnsupportedKeySystem",
]
