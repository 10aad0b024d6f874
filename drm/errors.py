"""The drm package's error tree (STYLE.md section 4).

Messages name key ids, URLs and byte offsets; they never contain key material.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BoxError",
    "DecryptionError",
    "DrmConfigError",
    "DrmError",
    "HlsKeyError",
    "KeyNotFound",
    "LicenseError",
    "LicenseExpired",
    "UnsupportedKeySystem",
]


class DrmError(Exception):
    """Root of every error raised by ``drm``."""

    code: ClassVar[str] = "drm.error"


class DrmConfigError(DrmError, ValueError):
    """A ``DrmConfig`` value is invalid (bad key hex, bad URL...)."""

    code: ClassVar[str] = "drm.config"


class UnsupportedKeySystem(DrmError):
    """The content needs a key system or scheme this SDK does not implement."""

    code: ClassVar[str] = "drm.unsupported_key_system"


class LicenseError(DrmError):
    """The license exchange failed.

    Attributes:
        status: HTTP status of the license response, or ``None`` when the
            failure was not an HTTP status (malformed body, network).
    """

    code: ClassVar[str] = "drm.license"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LicenseExpired(LicenseError):
    """A stored (persistent) license is past the expiry its license server stated.

    Attributes:
        expired_at_s: When it expired, UTC epoch seconds.
    """

    code: ClassVar[str] = "drm.license_expired"

    def __init__(self, message: str, *, expired_at_s: float) -> None:
        super().__init__(message)
        self.expired_at_s = expired_at_s


class KeyNotFound(DrmError):
    """No key is known for a key id that content needs.

    Attributes:
        key_id: The missing key id as 32 lowercase hex digits.
    """

    code: ClassVar[str] = "drm.key_not_found"

    def __init__(self, message: str, *, key_id: str) -> None:
        super().__init__(message)
        self.key_id = key_id


class DecryptionError(DrmError):
    """Encrypted media could not be parsed or decrypted."""

    code: ClassVar[str] = "drm.decryption"


class HlsKeyError(DrmError):
    """An HLS identity key is unusable: a malformed ``data:`` URI, a wrong size.

    The message names the key URI safely (never a ``data:`` URI's payload or a query).
    """

    code: ClassVar[str] = "drm.hls_key"


class BoxError(DecryptionError):
    """An MP4 box is malformed: a size field overruns its parent, a field is truncated...

    Attributes:
        offset: Byte offset of the offending box in the input, or ``None`` when unknown.
    """

    code: ClassVar[str] = "drm.box"

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        super().__init__(message if offset is None else f"{message} (at byte {offset})")
        self.offset = offset
