"""Configuration of the drm package: every tunable number, written once, with its reason."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from drm.errors import DrmConfigError

__all__ = ["DrmConfig", "LicensePolicy", "LicenseServerConfig"]

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX_KEY = re.compile(r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{64})$")


@dataclass(frozen=True, kw_only=True, slots=True)
class DrmConfig:
    """License acquisition and decryption settings."""

    license_url: str | None = None
    """ClearKey license server URL; overrides the manifest's ``Laurl`` when set."""

    license_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Extra headers for license requests, e.g. ``Authorization: Bearer ...``."""

    keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Keys given out of band, ``{kid_hex: key_hex}``, as Shaka and dash.js allow (left out of
    the repr, like the headers, which may carry a bearer token)."""

    hls_keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Keys for HLS identity key URIs given out of band, ``{key_uri: key_hex}`` (32 hex
    digits, 64 for the AES-256 methods): the URI as the playlist gives it, resolved to an
    absolute URL (or the whole ``data:`` URI), or ``"*"`` for every identity key. Used
    before the URI is fetched; see docs/drm.md for the order with ``keys``."""

    max_license_bytes: int = 64 * 1024
    """Largest license response accepted; a ClearKey response for 100 keys is under 10 kB."""

    license_timeout_s: float = 10.0
    """Longest wait for one license response; a ClearKey server answers in milliseconds,
    so 10 s only trips on a stalled server and still fits inside a startup budget."""

    license_attempts: int = 3
    """License requests tried before giving up (network failures, timeouts and 5xx only;
    a 4xx is final). Three rides out one slow or restarting server."""

    license_retry_delay_s: float = 0.5
    """Pause before a license retry, doubled on each further retry."""

    license_ttl_s: float = 3600.0
    """How long a cached key stays valid when the license gives no expiry: one hour
    covers a typical session while still letting rotated keys be fetched again."""

    max_license_keys: int = 64
    """Most key ids asked for (and accepted) in one license exchange; a title has a
    handful (video, audio, per-resolution keys), so 64 only stops abuse."""

    def __post_init__(self) -> None:
        """Validate values.

        Raises:
            DrmConfigError: A key, URL or number is invalid.
        """
        for kid, key in self.keys.items():
            if not _HEX32.match(kid) or not _HEX32.match(key):
                raise DrmConfigError(
                    f"keys: kid {kid!r} must map 32 lowercase hex to 32 hex digits"
                )
        for uri, key in self.hls_keys.items():
            if not isinstance(uri, str) or not uri or not _HEX_KEY.match(key):
                # Never echo the entry: a data: URI holds key material.
                raise DrmConfigError("hls_keys: each key URI must map to 32 or 64 hex digits")
        if self.license_url is not None and not self.license_url.startswith(
            ("http://", "https://")
        ):
            raise DrmConfigError("license_url must be http(s)")
        if self.max_license_bytes <= 0:
            raise DrmConfigError("max_license_bytes must be positive")
        if self.license_timeout_s <= 0 or self.license_retry_delay_s < 0:
            raise DrmConfigError("license_timeout_s must be > 0 and license_retry_delay_s >= 0")
        if self.license_attempts < 1 or self.max_license_keys < 1:
            raise DrmConfigError("license_attempts and max_license_keys must be at least 1")
        if self.license_ttl_s <= 0:
            raise DrmConfigError("license_ttl_s must be positive")


@dataclass(frozen=True, kw_only=True, slots=True)
class LicenseServerConfig:
    """The lab's ClearKey license server (``drm.LicenseServerApp``): limits, partial answers."""

    max_body_bytes: int = 16 * 1024
    """Largest request body read; a ClearKey request for 64 KIDs is about 2 kB."""

    max_kids: int = 64
    """Most key ids one request may ask for."""

    partial_licenses: bool = False
    """Answer a request that names KIDs the token may not receive with the keys it may
    (the others left out: a partial licence, as ClearKey and commercial license services
    do for an entitlement without HD), instead of refusing the whole request with 403. A
    request granting none of its KIDs is still refused."""

    def __post_init__(self) -> None:
        """Validate values.

        Raises:
            DrmConfigError: A limit is not positive.
        """
        if self.max_body_bytes <= 0 or self.max_kids <= 0:
            raise DrmConfigError("license server limits must be positive")


@dataclass(frozen=True, kw_only=True, slots=True)
class LicensePolicy:
    """What the lab's license server grants one bearer token, beyond its KIDs.

    A ``persistent-license`` request (offline playback) is answered only when the token's
    policy allows it; a ``temporary`` request is answered as before.
    """

    allow_persistent: bool = False
    """Whether this token may receive ``persistent-license`` licenses (keys kept on the
    device for offline playback). Off by default: offline rights are an entitlement of their
    own, as with commercial DRM services, and refusing is the safe choice."""

    persistent_duration_s: float | None = 30 * 86_400.0
    """How long a persistent license stays usable from when it is issued, seconds (stated to
    the client as ``expiration``); ``None`` states no expiry. Thirty days is the rental window
    of common download-to-go offers."""

    def __post_init__(self) -> None:
        """Validate values.

        Raises:
            DrmConfigError: The duration is not positive.
        """
        if self.persistent_duration_s is not None and not self.persistent_duration_s > 0:
            raise DrmConfigError("persistent_duration_s must be positive (or None: no expiry)")
