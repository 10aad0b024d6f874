"""The local HLS playlists of a download: a multivariant playlist and one media playlist each.

Sans-I/O. The multivariant playlist names the downloaded video variants (``STREAM-INF`` with
the source's bandwidth, codecs, resolution and frame rate, and its id as
``STABLE-VARIANT-ID``) and the audio and subtitle renditions (``EXT-X-MEDIA``). Each media
playlist lists the rendition's files with the source's durations, media sequence numbers (an
AES-128 IV may be the sequence number), discontinuities, ``EXT-X-MAP`` and ``EXT-X-KEY``
tags; keys keep their URI (an identity key's is answered from the stored license, never
fetched).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from player.manifest import HlsKey
from player.offline._plan import LocalRendition

__all__: list[str] = []

_STABLE_ID = re.compile(r"^[A-Za-z0-9+/=._-]{1,64}$")
PLAYLIST_NAME = "index.m3u8"
"""Name of each rendition's media playlist, in its folder."""


@dataclass(frozen=True, slots=True)
class Playlists:
    """The text of every local playlist.

    Attributes:
        multivariant: The multivariant playlist (the download's manifest).
        media: Path relative to the folder -> media playlist text.
    """

    multivariant: str
    media: dict[str, str]


def build_playlists(renditions: Sequence[LocalRendition]) -> Playlists:
    """Return the local playlists of the downloaded renditions.

    Args:
        renditions: The downloaded renditions (HLS has one period).

    Returns:
        The multivariant playlist and each media playlist, by path.
    """
    media = {f"{r.folder}/{PLAYLIST_NAME}": media_playlist(r) for r in renditions}
    return Playlists(_multivariant(renditions), media)


def _multivariant(renditions: Sequence[LocalRendition]) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    videos = [r for r in renditions if r.chosen.kind == "video"]
    audios = [r for r in renditions if r.chosen.kind == "audio"]
    texts = [r for r in renditions if r.chosen.kind == "text"]
    audio_group = _group(audios, "audio")
    text_group = _group(texts, "subs")
    for rendition in audios:
        lines.append(_media_tag("AUDIO", audio_group, rendition))
    for rendition in texts:
        lines.append(_media_tag("SUBTITLES", text_group, rendition))
    for rendition in videos or audios:
        rep = rendition.chosen.representation
        attrs = [f"BANDWIDTH={max(rep.bandwidth_bps, 1)}"]
        if rep.average_bandwidth_bps:
            attrs.append(f"AVERAGE-BANDWIDTH={rep.average_bandwidth_bps}")
        if rep.codecs:
            attrs.append(f'CODECS="{_quoted(rep.codecs)}"')
        if rep.width and rep.height:
            attrs.append(f"RESOLUTION={rep.width}x{rep.height}")
        if rep.frame_rate:
            attrs.append(f"FRAME-RATE={rep.frame_rate:.3f}")
        if videos and audios:
            attrs.append(f'AUDIO="{audio_group}"')
        if texts:
            attrs.append(f'SUBTITLES="{text_group}"')
        if _STABLE_ID.match(rep.id):
            attrs.append(f'STABLE-VARIANT-ID="{rep.id}"')
        lines.append("#EXT-X-STREAM-INF:" + ",".join(attrs))
        lines.append(f"{rendition.folder}/{PLAYLIST_NAME}")
    return "\n".join(lines) + "\n"


def _group(renditions: Sequence[LocalRendition], default: str) -> str:
    for rendition in renditions:
        group = rendition.chosen.track.group_id
        if group and '"' not in group and "\n" not in group:
            return group
    return default


def _media_tag(kind: str, group: str, rendition: LocalRendition) -> str:
    track = rendition.chosen.track
    rep = rendition.chosen.representation
    name = track.label or track.language or rep.id
    attrs = [f"TYPE={kind}", f'GROUP-ID="{group}"', f'NAME="{_quoted(name)}"']
    if track.language:
        attrs.append(f'LANGUAGE="{_quoted(track.language)}"')
    attrs.append("DEFAULT=YES" if track.is_default or kind == "AUDIO" else "DEFAULT=NO")
    attrs.append("AUTOSELECT=YES")
    if rep.audio_channels:
        attrs.append(f'CHANNELS="{rep.audio_channels}"')
    if _STABLE_ID.match(rep.id):
        attrs.append(f'STABLE-RENDITION-ID="{rep.id}"')
    attrs.append(f'URI="{rendition.folder}/{PLAYLIST_NAME}"')
    return "#EXT-X-MEDIA:" + ",".join(attrs)


def media_playlist(rendition: LocalRendition) -> str:
    """One rendition's media playlist; URIs are relative to its folder."""
    segments = rendition.segments
    target = max(1, math.ceil(max(s.segment.duration_s for s in segments) - 1e-3))
    first = segments[0].segment
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{target}",
        f"#EXT-X-MEDIA-SEQUENCE:{max(first.number, 0)}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
    ]
    if first.discontinuity_seq:
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{first.discontinuity_seq}")
    prefix = rendition.folder + "/"
    init_path: str | None = None
    key: HlsKey | None = None
    discontinuity = first.discontinuity_seq
    for local in segments:
        segment = local.segment
        if segment.discontinuity_seq != discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
            discontinuity = segment.discontinuity_seq
        init = segment.init
        init_key = init.key if init is not None else None
        if local.init_path is not None and local.init_path != init_path:
            if init_key != key:
                lines.append(_key_tag(init_key))
                key = init_key
            lines.append(f'#EXT-X-MAP:URI="{local.init_path.removeprefix(prefix)}"')
            init_path = local.init_path
        if segment.key != key:
            lines.append(_key_tag(segment.key))
            key = segment.key
        if segment.is_gap:
            lines.append("#EXT-X-GAP")
        lines.append(f"#EXTINF:{segment.duration_s:.6f},")
        lines.append(local.path.removeprefix(prefix))
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def _key_tag(key: HlsKey | None) -> str:
    if key is None or key.method == "NONE":
        return "#EXT-X-KEY:METHOD=NONE"
    attrs = [f"METHOD={key.method}"]
    if key.uri is not None:
        attrs.append(f'URI="{_quoted(key.uri)}"')
    if key.iv is not None:
        attrs.append(f"IV=0x{_iv_as_written(key)}")
    if key.keyformat != "identity":
        attrs.append(f'KEYFORMAT="{_quoted(key.keyformat)}"')
    if key.keyformat_versions:
        attrs.append(f'KEYFORMATVERSIONS="{_quoted(key.keyformat_versions)}"')
    return "#EXT-X-KEY:" + ",".join(attrs)


def _iv_as_written(key: HlsKey) -> str:
    """The IV's hex digits, as many as the source tag had.

    Tools read a short IV (Shaka Packager's and FFmpeg's 16 digits) otherwise than the same
    value in 32 digits (``drm.hls_key_iv``), so the local playlist keeps the spelling.

    >>> _iv_as_written(HlsKey("SAMPLE-AES", iv=bytes(8) + b"34567890", iv_hex_digits=16))
    '3334353637383930'
    >>> _iv_as_written(HlsKey("AES-128", iv=bytes(15) + b"1"))
    '00000000000000000000000000000031'
    """
    assert key.iv is not None
    digits = key.iv.hex()
    wanted = key.iv_hex_digits
    if wanted is not None and 0 < wanted < len(digits) and not digits[:-wanted].strip("0"):
        return digits[-wanted:]
    return digits


def _quoted(text: str) -> str:
    """A quoted-string attribute value: no quote, CR or LF (RFC 8216 section 4.2)."""
    return text.replace('"', "'").replace("\r", " ").replace("\n", " ")
