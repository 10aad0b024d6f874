"""HLS identity keys: ``data:`` URIs, keys given out of band, and safe descriptions (sans-I/O).

An ``EXT-X-KEY`` with ``KEYFORMAT="identity"`` names its key by URI. The key is 16 bytes
(32 for the AES-256 methods) fetched from that URI, or carried in it as a ``data:`` URI.
A player may also be given the key out of band (:func:`configured_hls_key`). No message
here ever contains a key, a ``data:`` URI's payload or a URI's query string.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote_to_bytes, urlsplit

from drm.config import DrmConfig
from drm.errors import HlsKeyError

__all__ = [
    "check_hls_key",
    "configured_hls_key",
    "describe_key_uri",
    "hls_key_from_data_uri",
]

_MAX_DATA_URI_CHARS = 4096
_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]*={0,2}$")
_KEY_SIZES = {"AES-128": (16,), "SAMPLE-AES": (16,), "AES-256": (32,), "AES-256-CTR": (32,)}
_KID_SIZE = 16
_REDACTED = "<redacted>"
_MAX_SHOWN_CHARS = 300


def describe_key_uri(uri: str) -> str:
    r"""Return a key or license URI as drm's messages and log lines show it: nothing secret.

    ``data:`` URIs carry the key itself, a query string may carry a token and user info a
    password, so none of them is shown: the query and fragment become ``?<redacted>`` /
    ``#<redacted>``, user info ``<redacted>@``, a ``data:`` URI ``data:<redacted>``; control
    characters are escaped and the result is at most 300 characters. This is the same
    form as ``transport.redact_url`` (which player uses); drm imports nothing of transport,
    so it keeps its own copy, checked against transport's by tests/test_url_redaction.py.

    Args:
        uri: The key URI.

    Returns:
        The URI without its secrets.

    >>> describe_key_uri("data:text/plain;base64,MTIzNDU2Nzg5MDEyMzQ1Ng==")
    'data:<redacted>'
    >>> describe_key_uri("https://keys.example/k/1?token=secret")
    'https://keys.example/k/1?<redacted>'
    """
    if uri[:5].lower() == "data:":
        return "data:" + _REDACTED
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<malformed URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = _REDACTED + "@" + netloc.rpartition("@")[2]
    shown = f"{parts.scheme}:" if parts.scheme else ""
    if netloc or uri[len(shown) :].startswith("//"):
        shown += "//" + netloc
    shown += parts.path
    shown += "?" + _REDACTED if parts.query else ""
    shown += "#" + _REDACTED if parts.fragment else ""
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in shown)
    return shown if len(shown) <= _MAX_SHOWN_CHARS else shown[: _MAX_SHOWN_CHARS - 3] + "..."


def hls_key_from_data_uri(uri: str) -> bytes:
    r"""Return the bytes a ``data:`` URI carries (RFC 2397), strictly.

    Args:
        uri: ``data:[<mediatype>][;base64],<data>``.

    Returns:
        The payload bytes.

    Raises:
        HlsKeyError: Not a ``data:`` URI, no comma, too long, non-ASCII, or bad base64
            (the message never contains the payload).

    >>> hls_key_from_data_uri("data:text/plain;base64,MTIzNDU2Nzg5MDEyMzQ1Ng==")
    b'1234567890123456'
    >>> hls_key_from_data_uri("data:,%01%02")
    b'\x01\x02'
    """
    if uri[:5].lower() != "data:" or "," not in uri:
        raise HlsKeyError("key URI is not a data: URI with a comma")
    if len(uri) > _MAX_DATA_URI_CHARS:
        raise HlsKeyError(f"key data: URI of {len(uri)} characters is too long")
    if not uri.isascii():
        raise HlsKeyError("key data: URI has non-ASCII characters")
    header, _, payload = uri[5:].partition(",")
    if not header.lower().endswith(";base64"):
        return unquote_to_bytes(payload)
    text = unquote_to_bytes(payload).decode("latin-1").strip()  # the patterns refuse non-ASCII
    if len(text) % 4:
        text += "=" * (-len(text) % 4)
    try:
        if _BASE64.match(text):
            return base64.b64decode(text, validate=True)
        if _BASE64URL.match(text):
            return base64.urlsafe_b64decode(text)
    except (binascii.Error, ValueError):
        pass
    raise HlsKeyError("key data: URI is not valid base64")


def check_hls_key(secret: bytes, *, method: str, uri: str | None) -> bytes:
    """Check that a key has the size its method needs.

    Args:
        secret: The key bytes.
        method: ``AES-128``, ``SAMPLE-AES``, ``AES-256`` or ``AES-256-CTR``.
        uri: Where the key came from (described safely in the message); ``None`` for a key
            given in the configuration.

    Returns:
        ``secret``.

    Raises:
        HlsKeyError: The size is wrong for the method.
    """
    sizes = _KEY_SIZES.get(method, (16, 32))
    if len(secret) not in sizes:
        want = " or ".join(str(size) for size in sizes)
        origin = "the configuration" if uri is None else describe_key_uri(uri)
        raise HlsKeyError(f"{method} key from {origin} is {len(secret)} bytes, not {want}")
    return secret


def configured_hls_key(config: DrmConfig, *, uri: str | None, key_id: str | None) -> bytes | None:
    """Return the key given out of band for an HLS identity key, or ``None``.

    In order: ``config.hls_keys[uri]``; ``config.keys[key_id]`` when the tag names a KID
    (``KEYID``); ``config.keys[kid]`` when the URI is a ``data:`` URI of 16 bytes that is
    a configured KID (Shaka Packager, given raw keys and no key URI, writes the KID there);
    then ``config.hls_keys["*"]``.

    Args:
        config: The drm configuration.
        uri: The key URI as resolved against the playlist, if any.
        key_id: The tag's KID (32 lowercase hex digits), if any.

    Returns:
        The key, or ``None`` when none was configured for this key.
    """
    if uri is not None and uri in config.hls_keys:
        return bytes.fromhex(config.hls_keys[uri])
    if key_id is not None and key_id in config.keys:
        return bytes.fromhex(config.keys[key_id])
    if uri is not None and uri[:5].lower() == "data:" and config.keys:
        try:
            payload = hls_key_from_data_uri(uri)
        except HlsKeyError:
            payload = b""
        if len(payload) == _KID_SIZE and payload.hex() in config.keys:
            return bytes.fromhex(config.keys[payload.hex()])
    if "*" in config.hls_keys:
        return bytes.fromhex(config.hls_keys["*"])
    return None
