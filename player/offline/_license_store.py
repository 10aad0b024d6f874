"""The license kept with a download: content keys at rest, with the expiry the server stated.

``license.json`` in the download's store folder holds the keys of a ClearKey
``persistent-license`` (or keys given with ``--keys``), the HLS identity keys of AES-128
content, where they came from and when they expire. The file is mode 0600 in a 0700 folder.
That is the whole protection: anyone who can read the user's files (the user, root, a backup,
malware running as the user) can read the keys; ClearKey is not DRM-grade and this is not
either (docs/offline.md, "Threat model").

The document is deliberately not shaped like a keys file (no top-level ``keys`` object), so
``play --keys-file`` cannot read it and skip the expiry check by mistake.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drm import LicenseExpired, PersistentLicense
from player.errors import DownloadStateError
from player.offline._journal import write_atomically

__all__ = ["StoredLicense"]

_log = logging.getLogger(__name__)

LICENSE_FILE = "license.json"
LICENSE_VERSION = 1
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX_KEY = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{64})$")


@dataclass(frozen=True, slots=True, repr=False)
class StoredLicense:
    """The keys a download plays with, and until when.

    Attributes:
        keys: Content keys, KID hex -> key hex (never shown in a repr).
        hls_keys: HLS identity keys, key URI -> key hex.
        expires_at_s: When the license stops being usable, UTC epoch seconds (``None``: the
            server stated no expiry, or the keys were given directly).
        acquired_at_s: When it was obtained, UTC epoch seconds.
        source: ``license-server`` (a persistent license), ``keys`` (given to the
            downloader), or ``key-uri`` (HLS identity keys only).
        license_url: The license server asked, without its query string.
    """

    keys: Mapping[str, str] = field(default_factory=dict)
    hls_keys: Mapping[str, str] = field(default_factory=dict)
    expires_at_s: float | None = None
    acquired_at_s: float = 0.0
    source: str = "keys"
    license_url: str | None = None

    def __repr__(self) -> str:
        return (
            f"StoredLicense(kids={sorted(self.keys)!r}, hls_keys={len(self.hls_keys)}, "
            f"expires_at_s={self.expires_at_s!r}, source={self.source!r})"
        )

    @property
    def kids(self) -> tuple[str, ...]:
        """The KIDs it has keys for, sorted."""
        return tuple(sorted(self.keys))

    def is_expired(self, *, now: float) -> bool:
        """Whether the license is past its expiry at ``now`` (UTC epoch seconds)."""
        return self.expires_at_s is not None and now >= self.expires_at_s

    def check(self, *, now: float) -> None:
        """Refuse an expired license.

        Args:
            now: Wall-clock time, UTC epoch seconds.

        Raises:
            LicenseExpired: ``now`` is at or past ``expires_at_s``.
        """
        if self.expires_at_s is not None and now >= self.expires_at_s:
            raise LicenseExpired(
                f"the license stored with this download (KIDs {list(self.kids)}) expired "
                f"{now - self.expires_at_s:.0f} s ago: run the download again online to renew "
                "it",
                expired_at_s=self.expires_at_s,
            )

    def covers(self, kids: set[str], hls_uris: set[str], *, now: float) -> bool:
        """Whether it holds every key asked for and is still valid at ``now``."""
        return (
            not self.is_expired(now=now)
            and kids <= set(self.keys)
            and hls_uris <= set(self.hls_keys)
        )

    @classmethod
    def from_persistent(
        cls,
        found: PersistentLicense,
        *,
        acquired_at_s: float,
        license_url: str | None,
        extra_keys: Mapping[str, str],
    ) -> StoredLicense:
        """A stored license from a server's persistent license (plus keys given directly)."""
        keys = {**extra_keys, **{kid: key.key.hex() for kid, key in found.keys.items()}}
        return cls(
            keys=keys,
            expires_at_s=found.expires_at_s,
            acquired_at_s=acquired_at_s,
            source="license-server",
            license_url=license_url.split("?", 1)[0] if license_url else None,
        )

    def to_json(self) -> dict[str, Any]:
        """The document written to ``license.json`` (holds key material)."""
        return {
            "license_version": LICENSE_VERSION,
            "type": "persistent-license",
            "source": self.source,
            "license_url": self.license_url,
            "acquired_at_s": self.acquired_at_s,
            "expires_at_s": self.expires_at_s,
            "content_keys": [{"kid": k, "key": v} for k, v in sorted(self.keys.items())],
            "hls_keys": [{"uri": u, "key": v} for u, v in sorted(self.hls_keys.items())],
        }


def write_license(path: Path, stored: StoredLicense) -> None:
    """Write the license, readable by the owner only (0600), in its 0700 folder."""
    os.chmod(path.parent, 0o700)
    write_atomically(path, json.dumps(stored.to_json(), indent=1).encode() + b"\n", mode=0o600)


def read_license(path: Path) -> StoredLicense:
    """Read a stored license; permissions wider than 0600 are narrowed (and logged).

    Raises:
        DownloadStateError: Missing, unreadable, or not a stored license (the message
            names the file, never a key).
    """
    try:
        raw = path.read_bytes()
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise DownloadStateError(
            f"cannot read the stored license {path}: {exc.strerror or exc}", path=str(path)
        ) from exc
    if mode & 0o077:
        _log.warning("%s was readable by others (mode %o): narrowed to 0600", path, mode)
        os.chmod(path, 0o600)
    try:
        return _parse(json.loads(raw))
    except (ValueError, UnicodeDecodeError, TypeError, AttributeError):
        raise DownloadStateError(f"{path} is not a stored license", path=str(path)) from None


def _parse(doc: Any) -> StoredLicense:
    if not isinstance(doc, dict) or doc.get("license_version") != LICENSE_VERSION:
        raise ValueError("not a stored license")
    keys = {str(e["kid"]): str(e["key"]) for e in doc.get("content_keys", [])}
    hls = {str(e["uri"]): str(e["key"]) for e in doc.get("hls_keys", [])}
    if not all(_HEX32.match(k) and _HEX32.match(v) for k, v in keys.items()):
        raise ValueError("bad content key")
    if not all(_HEX_KEY.match(v) for v in hls.values()):
        raise ValueError("bad HLS key")
    expires = doc.get("expires_at_s")
    if expires is not None and not isinstance(expires, int | float):
        raise ValueError("bad expiry")
    url = doc.get("license_url")
    return StoredLicense(
        keys=keys,
        hls_keys=hls,
        expires_at_s=None if expires is None else float(expires),
        acquired_at_s=float(doc.get("acquired_at_s") or 0.0),
        source=str(doc.get("source") or "keys"),
        license_url=url if isinstance(url, str) else None,
    )
