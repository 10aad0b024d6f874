"""Content keys: a key id with its 16-byte key, never shown in a repr or a message."""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from drm._pssh import normalize_kid
from drm.errors import DrmConfigError, DrmError, KeyNotFound

__all__ = ["ContentKey", "KeySource", "key_lookup", "keys_from_hex"]

_HEX = re.compile(r"^[0-9a-fA-F]+$")


@dataclass(frozen=True, slots=True, repr=False)
class ContentKey:
    """A content key.

    Attributes:
        kid: Key id, 32 lowercase hex digits.
        key: The AES key (16 bytes; 32 for HLS AES-256). Never logged or shown.
        expires_at: Monotonic time (s) after which a cache drops it, or ``None``.
    """

    kid: str
    key: bytes = field(compare=False)
    expires_at: float | None = None

    def __post_init__(self) -> None:
        """Validate sizes.

        Raises:
            DrmError: The key is not 16 or 32 bytes long.
        """
        if len(self.key) not in (16, 32):
            raise DrmError(f"key for KID {self.kid} must be 16 or 32 bytes, got {len(self.key)}")

    def __repr__(self) -> str:
        """Show the key id only.

        >>> ContentKey("00" * 16, bytes(16))
        ContentKey(kid='00000000000000000000000000000000', key=<redacted>)
        """
        return f"ContentKey(kid={self.kid!r}, key=<redacted>)"


KeySource = Mapping[str, ContentKey] | Mapping[str, bytes]
"""Keys by KID hex: :class:`ContentKey` values or raw key bytes."""


def keys_from_hex(pairs: Mapping[str, str]) -> dict[str, ContentKey]:
    """Build keys from ``{kid_hex: key_hex}`` as given in ``DrmConfig.keys``.

    Args:
        pairs: Key ids (hex or UUID form) mapped to 32 hex digits.

    Returns:
        Keys by normalized KID.

    Raises:
        DrmConfigError: A key id or key is malformed (the message names the KID only).
    """
    keys: dict[str, ContentKey] = {}
    for kid_text, key_hex in pairs.items():
        try:
            kid = normalize_kid(kid_text)
        except DrmError as exc:
            raise DrmConfigError(str(exc)) from None
        if len(key_hex) != 32 or not _HEX.match(key_hex):
            raise DrmConfigError(f"key for KID {kid} must be 32 hex digits")
        keys[kid] = ContentKey(kid, binascii.unhexlify(key_hex))
    return keys


def key_lookup(keys: KeySource) -> Callable[[str], bytes]:
    """Return a function mapping a KID to its key bytes.

    Args:
        keys: Keys by KID hex.

    Returns:
        The lookup; it raises :class:`KeyNotFound` naming the KID for a missing key.
    """
    table = {
        normalize_kid(k): (v.key if isinstance(v, ContentKey) else bytes(v))
        for k, v in keys.items()
    }

    def lookup(kid: str) -> bytes:
        try:
            return table[kid]
        except KeyError:
            raise KeyNotFound(f"no key for KID {kid}", key_id=kid) from None

    return lookup
