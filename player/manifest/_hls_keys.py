"""HLS ``EXT-X-KEY`` / ``EXT-X-SESSION-KEY`` into ``HlsKey``, with the KID where one is carried.

A KID is found in the ``KEYID`` attribute, or in the ``pssh`` box of a ``data:`` URI
(version 1 boxes list KIDs; version 0 Widevine boxes carry them in the protobuf payload), or in
the PlayReady object of a PlayReady ``data:`` URI. ``identity`` keys (AES-128) have no KID.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from urllib.parse import unquote_to_bytes

from player.manifest._hls_scan import parse_error
from player.manifest._hls_urls import UrlResolver
from player.manifest._model import HlsKey

__all__: list[str] = []

_HEX = re.compile(r"0[xX]([0-9A-Fa-f]{1,32})")
_WIDEVINE = "edef8ba979d64acea3c827dcd51d21ed"
_PLAYREADY_KEYFORMAT = "com.microsoft.playready"
_PR_KID = re.compile(r'<KID[^>]*>([A-Za-z0-9+/=]+)</KID>|KID\s+[^>]*VALUE="([A-Za-z0-9+/=]+)"')
_SAFE_SCHEMES = ("http:", "https:", "data:")


def _data_payload(uri: str) -> bytes | None:
    """Return the bytes of a ``data:`` URI, or ``None`` if it is not a valid one."""
    if not uri[:5].lower() == "data:" or "," not in uri:
        return None
    header, _, payload = uri[5:].partition(",")
    try:
        if header.lower().endswith(";base64"):
            return base64.b64decode(payload, validate=False)
        return unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        return None


def _widevine_kid(payload: bytes) -> str | None:
    """Return the first ``key_id`` (field 2) of a Widevine ``WidevinePsshData`` protobuf."""
    pos = 0
    while pos < len(payload):
        tag = payload[pos]
        pos += 1
        wire = tag & 7
        if wire == 0:  # varint
            while pos < len(payload) and payload[pos] & 0x80:
                pos += 1
            pos += 1
        elif wire == 2:
            length = 0
            shift = 0
            while pos < len(payload) and shift < 35:
                byte = payload[pos]
                pos += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            if tag >> 3 == 2 and length == 16 and pos + 16 <= len(payload):
                return payload[pos : pos + 16].hex()
            pos += length
        else:
            return None
    return None


def kid_from_pssh(box: bytes) -> str | None:
    """Return the first KID of a ``pssh`` box (version 1 KID list or Widevine payload).

    >>> box = bytes.fromhex("00000034" "70737368" "01000000") + bytes(16) + (1).to_bytes(4, "big")
    >>> kid_from_pssh(box + bytes(range(16)) + bytes(4))
    '000102030405060708090a0b0c0d0e0f'
    """
    if len(box) < 32 or box[4:8] != b"pssh":
        return None
    version = box[8]
    system_id = box[12:28].hex()
    pos = 28
    if version >= 1:
        (count,) = struct.unpack_from(">I", box, pos)
        pos += 4
        if count >= 1 and pos + 16 <= len(box):
            return box[pos : pos + 16].hex()
        pos += 16 * count
    if system_id == _WIDEVINE and pos + 4 <= len(box):
        (size,) = struct.unpack_from(">I", box, pos)
        return _widevine_kid(box[pos + 4 : pos + 4 + size])
    return None


def _playready_kid(payload: bytes) -> str | None:
    """Return the KID of a PlayReady object (UTF-16 header XML), as big-endian hex."""
    text = payload.decode("utf-16-le", errors="ignore")
    match = _PR_KID.search(text)
    if match is None:
        return None
    try:
        raw = base64.b64decode(match.group(1) or match.group(2))
    except binascii.Error:
        return None
    if len(raw) != 16:
        return None
    # A GUID stores its first three fields little-endian.
    return (raw[3::-1] + raw[5:3:-1] + raw[7:5:-1] + raw[8:]).hex()


def _find_kid(attributes: dict[str, str], keyformat: str) -> str | None:
    """Return the KID the key's attributes carry, if any."""
    match = _HEX.fullmatch(attributes.get("KEYID", "").strip())
    if match is not None and len(match.group(1)) == 32:
        return match.group(1).lower()
    if keyformat == "identity":
        return None
    payload = _data_payload(attributes.get("URI", "").strip())
    if payload is None:
        return None
    if keyformat.lower() == _PLAYREADY_KEYFORMAT:
        return _playready_kid(payload)
    return kid_from_pssh(payload)


def parse_iv(text: str) -> tuple[bytes, int] | None:
    """Parse an ``IV=0x...`` value, ``None`` if it is malformed.

    Returns:
        The 128-bit integer RFC 8216 reads (16 bytes, zeros on the left) and how many hex
        digits were written: Shaka Packager writes 8-byte IVs meaning zeros on the right,
        so the consumer decides the padding (``drm.hls_key_iv``).

    >>> iv, digits = parse_iv("0x0102")
    >>> iv.hex(), digits
    ('00000000000000000000000000000102', 4)
    """
    match = _HEX.fullmatch(text.strip())
    if match is None:
        return None
    digits = match.group(1)
    return bytes.fromhex(digits.rjust(32, "0")), len(digits)


def build_key(attributes: dict[str, str], resolver: UrlResolver) -> HlsKey:
    """Build an ``HlsKey`` from a tag's attributes.

    The URI is resolved against the playlist (``data:`` allowed). A URI of another scheme is
    kept only as ``None`` when the key belongs to a key system that is not ``identity``
    (FairPlay's ``skd://`` names a key for its CDM and is never fetched).

    Raises:
        ManifestParseError: An ``identity`` key URI that is not http(s)/``data:``, or a
            malformed IV.
    """
    method = attributes.get("METHOD", "").upper() or "NONE"
    keyformat = attributes.get("KEYFORMAT") or "identity"
    uri_text = attributes.get("URI", "").strip()
    uri: str | None = None
    if uri_text:
        scheme = uri_text.split(":", 1)[0].lower() + ":" if ":" in uri_text.split("/")[0] else ""
        if not scheme or scheme in _SAFE_SCHEMES or keyformat == "identity":
            uri = resolver.resolve_key(uri_text)
    iv: tuple[bytes, int] | None = None
    if "IV" in attributes:
        iv = parse_iv(attributes["IV"])
        if iv is None:
            raise parse_error(
                resolver.manifest_url,
                f"EXT-X-KEY IV {attributes['IV'][:40]!r} is not a hexadecimal 0x... value",
                detail="bad key iv",
            )
    return HlsKey(
        method=method,
        uri=uri,
        iv=None if iv is None else iv[0],
        keyformat=keyformat,
        keyformat_versions=attributes.get("KEYFORMATVERSIONS"),
        key_id=_find_kid(attributes, keyformat),
        iv_hex_digits=None if iv is None else iv[1],
    )


def preferred_key(keys: list[HlsKey]) -> HlsKey:
    """Pick the key a segment is decrypted with: ``identity`` first, then one with a URI."""
    for key in keys:
        if key.keyformat == "identity":
            return key
    for key in keys:
        if key.uri is not None:
            return key
    return keys[0]
