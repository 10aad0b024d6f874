"""PSSH boxes, key-system ids and key ids (ISO/IEC 23001-7 section 8.1)."""

from __future__ import annotations

import base64
import binascii
import re
import struct
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from drm._boxes import iter_boxes
from drm.errors import BoxError, DrmError

__all__ = [
    "CLEARKEY_SYSTEM_ID",
    "COMMON_SYSTEM_ID",
    "PLAYREADY_SYSTEM_ID",
    "WIDEVINE_SYSTEM_ID",
    "Pssh",
    "build_pssh",
    "collect_key_ids",
    "find_pssh",
    "normalize_kid",
    "parse_pssh",
]

CLEARKEY_SYSTEM_ID = "e2719d58-a985-b3c9-781a-b030af78d30e"
"""DASH-IF ClearKey system id."""
COMMON_SYSTEM_ID = "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b"
"""W3C common PSSH system id (``cenc`` initData format), also used by ClearKey."""
WIDEVINE_SYSTEM_ID = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
"""Widevine system id (recognised, never licensed by this SDK)."""
PLAYREADY_SYSTEM_ID = "9a04f079-9840-4286-ab92-e65be0885f95"
"""PlayReady system id (recognised, never licensed by this SDK)."""

_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
_MAX_PSSH_KIDS = 4096


@dataclass(frozen=True, slots=True)
class Pssh:
    """A parsed ``pssh`` box.

    Attributes:
        system_id: Key-system UUID in canonical lowercase form.
        key_ids: Key ids listed by a version 1 box, as 32 lowercase hex digits.
        data: The opaque system-specific data.
        version: Box version, 0 or 1.
    """

    system_id: str
    key_ids: tuple[str, ...] = ()
    data: bytes = b""
    version: int = 0


def normalize_kid(value: str) -> str:
    """Return a key id as 32 lowercase hex digits.

    Args:
        value: 32 hex digits, a UUID with dashes (``cenc:default_KID``) or 22
            base64url characters (ClearKey JSON).

    Returns:
        The normalized key id.

    Raises:
        DrmError: The value is not a 16-byte key id.

    >>> normalize_kid("31323334-3536-3738-3930-313233343536")
    '31323334353637383930313233343536'
    >>> normalize_kid("MTIzNDU2Nzg5MDEyMzQ1Ng")
    '31323334353637383930313233343536'
    """
    text = value.strip().replace("-", "")
    if _HEX32.match(text):
        return text.lower()
    if len(value) == 22 and re.match(r"^[A-Za-z0-9_-]{22}$", value):
        return base64.urlsafe_b64decode(value + "==").hex()
    raise DrmError(f"not a 16-byte key id: {value[:48]!r}")


def parse_pssh(box: bytes | bytearray | memoryview) -> Pssh:
    """Parse one complete ``pssh`` box.

    Args:
        box: The box bytes, header included.

    Returns:
        The parsed box.

    Raises:
        BoxError: The bytes are not a well-formed ``pssh`` box.
    """
    boxes = list(iter_boxes(box))
    if len(boxes) != 1 or boxes[0].type != "pssh":
        raise BoxError("expected exactly one pssh box", offset=0)
    pos, end = boxes[0].payload_start, boxes[0].end
    if end - pos < 24:
        raise BoxError("pssh box is truncated", offset=0)
    version = box[pos]
    if version > 1:
        raise BoxError(f"unsupported pssh version {version}", offset=0)
    system_id = str(uuid.UUID(bytes=bytes(box[pos + 4 : pos + 20])))
    pos += 20
    kids: list[str] = []
    if version == 1:
        (count,) = struct.unpack_from(">I", box, pos)
        pos += 4
        if count > _MAX_PSSH_KIDS or pos + 16 * count + 4 > end:
            raise BoxError(f"pssh lists {count} key ids but the box is too small", offset=0)
        kids = [bytes(box[pos + 16 * i : pos + 16 * i + 16]).hex() for i in range(count)]
        pos += 16 * count
    if end - pos < 4:
        raise BoxError("pssh data size is truncated", offset=0)
    (size,) = struct.unpack_from(">I", box, pos)
    pos += 4
    if pos + size != end:
        raise BoxError(f"pssh data size {size} does not match the box", offset=0)
    return Pssh(system_id, tuple(kids), bytes(box[pos:end]), version)


def build_pssh(system_id: str, *, key_ids: tuple[str, ...] = (), data: bytes = b"") -> bytes:
    """Build a ``pssh`` box; version 1 when key ids are given, else version 0.

    Args:
        system_id: Key-system UUID (with or without dashes).
        key_ids: Key ids (any form :func:`normalize_kid` accepts).
        data: System-specific data.

    Returns:
        The box bytes.

    Raises:
        DrmError: The system id or a key id is malformed.

    >>> box = build_pssh(COMMON_SYSTEM_ID, key_ids=("31323334353637383930313233343536",))
    >>> parse_pssh(box).key_ids
    ('31323334353637383930313233343536',)
    """
    try:
        system = uuid.UUID(system_id).bytes
    except ValueError as exc:
        raise DrmError(f"not a system id: {system_id[:48]!r}") from exc
    version = 1 if key_ids else 0
    body = struct.pack(">B3x", version) + system
    if key_ids:
        body += struct.pack(">I", len(key_ids))
        body += b"".join(binascii.unhexlify(normalize_kid(kid)) for kid in key_ids)
    body += struct.pack(">I", len(data)) + data
    return struct.pack(">I4s", 8 + len(body), b"pssh") + body


def find_pssh(data: bytes | bytearray | memoryview) -> list[Pssh]:
    """Return the ``pssh`` boxes at top level and inside ``moov``/``moof``.

    Args:
        data: An init segment, a media segment or a whole file.

    Returns:
        The boxes in file order.

    Raises:
        BoxError: The file is malformed.
    """
    found: list[Pssh] = []
    for box in iter_boxes(data):
        if box.type == "pssh":
            found.append(parse_pssh(data[box.start : box.end]))
        elif box.type in ("moov", "moof"):
            for sub in iter_boxes(data, box.payload_start, box.end):
                if sub.type == "pssh":
                    found.append(parse_pssh(data[sub.start : sub.end]))
    return found


def collect_key_ids(
    *,
    default_kids: Iterable[str] = (),
    pssh: Iterable[bytes | Pssh] = (),
    systems: Iterable[str] = (CLEARKEY_SYSTEM_ID, COMMON_SYSTEM_ID),
) -> tuple[str, ...]:
    """Gather the KIDs a presentation needs, as the session does from ``ContentProtection``.

    Args:
        default_kids: ``cenc:default_KID`` values and ``tenc`` KIDs (any accepted form).
        pssh: ``pssh`` boxes (bytes from ``cenc:pssh`` or init segments, or parsed).
        systems: Key systems whose version 1 ``pssh`` KIDs count (ClearKey and common).

    Returns:
        Sorted, deduplicated KIDs as 32 lowercase hex digits.

    Raises:
        DrmError: A KID is malformed.
        BoxError: A ``pssh`` box is malformed.

    >>> collect_key_ids(default_kids=["31323334-3536-3738-3930-313233343536"])
    ('31323334353637383930313233343536',)
    """
    wanted = set(systems)
    kids = {normalize_kid(kid) for kid in default_kids}
    for box in pssh:
        parsed = box if isinstance(box, Pssh) else parse_pssh(box)
        if parsed.system_id in wanted:
            kids.update(parsed.key_ids)
    return tuple(sorted(kids))
