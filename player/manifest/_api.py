"""``parse_manifest``: detect the manifest format and dispatch to the HLS or DASH parser."""

from __future__ import annotations

import codecs
from collections.abc import Mapping

from player.config import ManifestConfig
from player.errors import ManifestParseError, UnsupportedManifest
from player.manifest._dash import parse_dash
from player.manifest._hls import parse_hls
from player.manifest._model import Presentation, StreamFormat

__all__ = ["detect_format", "parse_manifest"]

_DEFAULT_CONFIG = ManifestConfig()
_SNIFF_BYTES = 64 * 1024
"""How much of the start of a manifest is looked at to tell its format."""


def detect_format(data: bytes, *, url: str) -> StreamFormat:
    r"""Tell HLS from DASH by the first bytes (a byte-order mark and whitespace are skipped).

    Args:
        data: The manifest bytes.
        url: The manifest URL, named in errors.

    Returns:
        ``StreamFormat.HLS`` for ``#EXTM3U``, ``StreamFormat.DASH`` for XML with an ``MPD`` root.

    Raises:
        ManifestParseError: Empty, or neither a playlist nor XML.
        UnsupportedManifest: XML that is not an MPD (HTML, Smooth Streaming...).

    >>> detect_format(b"\xef\xbb\xbf  #EXTM3U\n", url="https://cdn/a.m3u8")
    <StreamFormat.HLS: 'hls'>
    """
    head = data[:_SNIFF_BYTES]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        head = head.decode("utf-16", errors="ignore").encode("utf-8")
    head = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if not head:
        raise ManifestParseError(f"{url}: manifest is empty", url=url, detail="empty")
    if head.startswith(b"#EXTM3U"):
        return StreamFormat.HLS
    if head.startswith(b"<"):
        if b"<MPD" in head or b":MPD" in head:
            return StreamFormat.DASH
        raise UnsupportedManifest(
            f"{url}: XML document is not a DASH MPD", url=url, detail="xml without MPD"
        )
    raise ManifestParseError(
        f"{url}: not a manifest: neither #EXTM3U (HLS) nor <MPD (DASH) at the start",
        url=url,
        detail="unknown format",
    )


def parse_manifest(
    data: bytes,
    *,
    url: str,
    now: float | None = None,
    config: ManifestConfig = _DEFAULT_CONFIG,
    imports: Mapping[str, str] | None = None,
) -> Presentation:
    """Parse an HLS or DASH manifest into a presentation.

    Args:
        data: The manifest bytes, as fetched.
        url: The manifest's absolute URL after redirects; relative URLs resolve against it.
        now: Wall-clock time of the fetch (UTC epoch s), for live availability and refresh.
        config: Parsing bounds.
        imports: HLS: the multivariant playlist's ``EXT-X-DEFINE`` variables, when ``data`` is
            one of its media playlists (see ``parse_hls``); ignored for DASH.

    Returns:
        The presentation. An HLS multivariant playlist gives representations whose media
        playlists are still to load (``player.manifest.load_media_playlist``).

    Raises:
        ManifestParseError: Too large, malformed, or naming a non-http(s) URL.
        UnsupportedManifest: Well formed, but not something this SDK plays.
    """
    if len(data) > config.max_manifest_bytes:
        raise ManifestParseError(
            f"{url}: manifest is {len(data)} bytes, more than max_manifest_bytes="
            f"{config.max_manifest_bytes}",
            url=url,
            detail="too large",
        )
    if detect_format(data, url=url) is StreamFormat.HLS:
        return parse_hls(data, url=url, now=now, config=config, imports=imports)
    return parse_dash(data, url=url, now=now, config=config)
