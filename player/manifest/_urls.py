"""URL resolution and the scheme rule shared by the HLS and DASH parsers."""

from __future__ import annotations

import base64
import re
from urllib.parse import unquote_to_bytes, urljoin, urlsplit

from player.errors import ManifestParseError, redact_url

__all__: list[str] = []

_SAFE_SCHEMES = frozenset({"http", "https"})
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
_ASCII_WHITESPACE = b"\t\n\f\r "


def is_data_uri(ref: str) -> bool:
    """Whether ``ref`` is a ``data:`` URI (RFC 2397)."""
    return ref.strip()[:5].lower() == "data:"


def decode_data_uri(uri: str, *, manifest_url: str) -> bytes:
    r"""Return the bytes of a ``data:`` URI (RFC 2397).

    Base64 payloads are decoded as browsers do (WHATWG forgiving-base64: ASCII white space
    ignored, padding optional, any other character refused); other payloads are
    percent-decoded.

    >>> decode_data_uri("data:video/mp4;base64,AAAAGGZ0eXA", manifest_url="https://a/")
    b'\x00\x00\x00\x18ftyp'

    Raises:
        ManifestParseError: Not a ``data:`` URI, or its payload does not decode.
    """
    header, comma, payload = uri.strip()[5:].partition(",")
    if not comma:
        raise _bad_data(manifest_url, "no comma")
    if not header.lower().endswith(";base64"):
        return unquote_to_bytes(payload)
    raw = payload.encode("ascii", errors="replace")
    text = bytes(b for b in unquote_to_bytes(raw) if b not in _ASCII_WHITESPACE)
    if len(text) % 4 == 0:
        text = text.removesuffix(b"=").removesuffix(b"=")
    if len(text) % 4 == 1 or not _BASE64.fullmatch(text) or b"=" in text:
        raise _bad_data(manifest_url, "not base64")
    return base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)


def _bad_data(manifest_url: str, why: str) -> ManifestParseError:
    return ManifestParseError(
        f"{manifest_url}: data: URI of an init segment: {why}",
        url=manifest_url,
        detail=f"bad data uri: {why}",
    )


def resolve_url(base: str, ref: str, *, manifest_url: str, allow_data: bool = False) -> str:
    """Resolve ``ref`` against ``base`` and refuse anything but http(s) (and ``data:`` keys).

    Args:
        base: Absolute base URL (the manifest URL or a DASH ``BaseURL``).
        ref: Reference from the manifest, relative or absolute.
        manifest_url: The manifest's URL, named in errors.
        allow_data: Accept ``data:`` URIs (HLS key URIs only).

    Returns:
        The absolute URL.

    Raises:
        ManifestParseError: The result is not an http(s) URL (or ``data:`` where allowed).
    """
    ref = ref.strip()
    if allow_data and ref[:5].lower() == "data:":
        return ref
    try:
        url = urljoin(base, ref)
        parts = urlsplit(url)
    except ValueError as exc:
        raise ManifestParseError(
            f"{manifest_url}: malformed URL {redact_url(ref)!r}", url=manifest_url, detail="bad url"
        ) from exc
    if parts.scheme.lower() not in _SAFE_SCHEMES or not parts.netloc:
        raise ManifestParseError(
            f"{manifest_url}: refusing URL {redact_url(url)!r}: only absolute http(s) URLs are "
            "followed",
            url=manifest_url,
            detail="unsafe url scheme",
        )
    return url
