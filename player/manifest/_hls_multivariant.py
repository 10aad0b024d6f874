"""An HLS multivariant playlist (``m3u8.parse``'s dictionary) into tracks.

Variant streams form one track (video, or muxed when audio is not in separate renditions);
each alternative rendition with a URI is a track of its own, carrying its language, name,
``DEFAULT`` and ``CHARACTERISTICS``; I-frame and image playlists form their own tracks.
Redundant variant streams (RFC 8216 section 6.2.3: the same attributes, another URI, or
another ``PATHWAY-ID``) become one representation with one location per copy; the rendition
groups such copies refer to are merged the same way, rendition by rendition.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from player.manifest._hls_keys import build_key
from player.manifest._hls_scan import parse_error
from player.manifest._hls_urls import UrlResolver
from player.manifest._model import (
    HlsKey,
    Location,
    Representation,
    SteeringInfo,
    Track,
    TrackType,
)

__all__: list[str] = []

_NOT_COMPARED = frozenset(
    {"pathway_id", "audio", "video", "subtitles", "closed_captions", "stable_variant_id"}
)
"""Attributes that may differ between redundant copies of one variant stream."""
_VIDEO_CODECS = ("avc1", "avc3", "hvc1", "hev1", "dvh1", "dvhe", "dva1", "dvav", "av01", "vp09")
_VIDEO_CODECS_MORE = ("vp08", "vp8", "vp9", "mp4v", "lvc1", "vvc1", "vvi1")
_AUDIO_CODECS = ("mp4a", "ac-3", "ec-3", "ac-4", "opus", "flac", "mp3", "alac", "dts", "mha1")
_MAX_DIGITS = 12
"""Longest digit string read as a pixel or channel count; longer ones are ignored."""
_GROUP_KINDS = {"audio": "AUDIO", "video": "VIDEO", "subtitles": "SUBTITLES"}
_RENDITION_TYPES = {"AUDIO": TrackType.AUDIO, "VIDEO": TrackType.VIDEO, "SUBTITLES": TrackType.TEXT}


def codec_kind(codec: str) -> str | None:
    """Return ``video``, ``audio`` or ``None`` for an RFC 6381 codec entry.

    >>> codec_kind("avc1.64001f"), codec_kind("mp4a.40.2"), codec_kind("wvtt")
    ('video', 'audio', None)
    """
    head = codec.strip().lower()
    if head.startswith(_VIDEO_CODECS) or head.startswith(_VIDEO_CODECS_MORE):
        return "video"
    if head.startswith(_AUDIO_CODECS):
        return "audio"
    return None


def _codecs_of(codecs: str | None, kind: str) -> str | None:
    if not codecs:
        return None
    chosen = [c.strip() for c in codecs.split(",") if codec_kind(c) == kind]
    return ",".join(chosen) or None


def _resolution(text: Any) -> tuple[int | None, int | None]:
    width, sep, height = str(text or "").lower().partition("x")
    width, height = width.strip(), height.strip()
    if sep and width.isdigit() and height.isdigit() and len(width) + len(height) <= _MAX_DIGITS:
        return int(width), int(height)
    return None, None


@dataclass
class _Stream:
    """One variant (or I-frame/image) stream and its redundant copies."""

    info: dict[str, Any]
    refs: list[str] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)
    urls: set[str] = field(default_factory=set)


_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


class _Ids:
    """Unique, readable representation ids.

    ``STABLE-VARIANT-ID`` / ``STABLE-RENDITION-ID`` when given; otherwise a variant is named
    by its height (``720p``, then ``720p-2500k`` if two share it) or its bandwidth
    (``128k``), an I-frame variant ``iframe-720p``, a rendition by its type and language or
    name (``audio-en``). The URI's file name, then its path, are the last resorts; clashes
    get ``#2``, ``#3``... (the next suffix is remembered per name, so many renditions with
    one name cost linear time, not quadratic).
    """

    def __init__(self) -> None:
        self.used: set[str] = set()
        self.next_suffix: dict[str, int] = {}

    def take(self, *candidates: str, uri: str) -> str:
        path = uri.split("?", 1)[0].split("#", 1)[0]
        stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        candidates = (*candidates, stem, path.rsplit(".", 1)[0], uri)
        names = [_UNSAFE_ID_CHARS.sub("_", c).strip("_") for c in candidates if c]
        names = [n for n in names if n] or ["rendition"]
        for name in names:
            if name not in self.used:
                self.used.add(name)
                return name
        base = names[0]
        n = self.next_suffix.get(base, 1) + 1
        candidate = f"{base}#{n}"
        while candidate in self.used:
            n += 1
            candidate = f"{base}#{n}"
        self.next_suffix[base] = n
        self.used.add(candidate)
        return candidate


def _variant_names(info: dict[str, Any], *, prefix: str) -> list[str]:
    """Readable id candidates of a variant stream, preferred first."""
    names = [str(info.get("stable_variant_id") or "")]
    _, height = _resolution(info.get("resolution"))
    kbps = round(int(info.get("bandwidth") or 0) / 1000)
    if height:
        names += [f"{prefix}{height}p", f"{prefix}{height}p-{kbps}k"]
    elif kbps > 0:
        names.append(f"{prefix}{kbps}k")
    return names


class _Builder:
    def __init__(self, parsed: dict[str, Any], resolver: UrlResolver) -> None:
        self.parsed = parsed
        self.resolver = resolver
        self.url = resolver.manifest_url
        self.ids = _Ids()
        self.aliases: dict[tuple[str, str], tuple[str, str | None]] = {}
        self.first_variant: dict[tuple[str, str], dict[str, Any]] = {}
        for stream_info in parsed["playlists"]:
            info = stream_info.get("stream_info") or {}
            for attribute in _GROUP_KINDS:
                group = info.get(attribute)
                if isinstance(group, str):
                    self.first_variant.setdefault((attribute, group), info)
        self._group_codecs: dict[tuple[str, str], str | None] = {}

    def group_codecs(self, kind: str, group: str) -> str | None:
        """Codecs of a rendition group's kind, from the first variant that uses the group."""
        key = (kind, group)
        if key not in self._group_codecs:
            info = self.first_variant.get((kind.lower(), group))
            codecs = None
            if info is not None:
                codecs = _codecs_of(info.get("codecs"), "audio" if kind == "AUDIO" else "video")
            self._group_codecs[key] = codecs
        return self._group_codecs[key]

    def group_streams(self, entries: list[dict[str, Any]], info_key: str) -> list[_Stream]:
        streams: list[_Stream] = []
        by_key: dict[tuple[tuple[str, str], ...], _Stream] = {}
        for entry in entries:
            info = entry.get(info_key) or {}
            ref = entry.get("uri")
            if not isinstance(ref, str) or not ref.strip():
                raise parse_error(self.url, "variant stream without URI", detail="no uri")
            url = self.resolver.resolve(ref)
            key = tuple(sorted((k, str(v)) for k, v in info.items() if k not in _NOT_COMPARED))
            stream = by_key.get(key)
            if stream is None or url in stream.urls:
                stream = _Stream(info)
                streams.append(stream)
                by_key[key] = stream
            else:
                self._alias_groups(stream.info, info)
            pathway = info.get("pathway_id")
            stream.refs.append(ref)
            stream.urls.add(url)
            stream.locations.append(Location(url, pathway, len(stream.locations)))
        return streams

    def _alias_groups(self, primary: dict[str, Any], copy: dict[str, Any]) -> None:
        for attribute, kind in _GROUP_KINDS.items():
            mine, theirs = primary.get(attribute), copy.get(attribute)
            if mine and theirs and mine != theirs:
                self.aliases.setdefault((kind, str(theirs)), (str(mine), copy.get("pathway_id")))

    def representation(
        self, stream: _Stream, *, is_iframe_only: bool = False, prefix: str = ""
    ) -> Representation:
        info = stream.info
        bandwidth = int(info.get("bandwidth") or 0)
        if bandwidth < 0:
            raise parse_error(
                self.url, f"BANDWIDTH {bandwidth} is negative", detail="bad bandwidth"
            )
        width, height = _resolution(info.get("resolution"))
        frame_rate = info.get("frame_rate")
        if not isinstance(frame_rate, float) or not math.isfinite(frame_rate) or frame_rate <= 0:
            frame_rate = None
        return Representation(
            id=self.ids.take(*_variant_names(info, prefix=prefix), uri=stream.refs[0]),
            bandwidth_bps=bandwidth,
            codecs=info.get("codecs") or None,
            width=width,
            height=height,
            frame_rate=frame_rate,
            locations=tuple(stream.locations),
            playlist_urls=tuple(loc.url for loc in stream.locations),
            audio_group=info.get("audio") or None,
            subtitle_group=info.get("subtitles") or None,
            average_bandwidth_bps=info.get("average_bandwidth"),
            is_iframe_only=is_iframe_only,
        )


def _variant_track_type(streams: list[_Stream], audio_groups_with_uri: set[str]) -> TrackType:
    kinds = {codec_kind(c) for s in streams for c in str(s.info.get("codecs") or "").split(",")}
    has_codecs = all(s.info.get("codecs") for s in streams)
    if streams and all(s.info.get("audio") in audio_groups_with_uri for s in streams):
        return TrackType.VIDEO
    if has_codecs and "video" not in kinds and "audio" in kinds:
        return TrackType.AUDIO
    return TrackType.MUXED


def _rendition_track(
    builder: _Builder, media: dict[str, Any], copies: list[tuple[dict[str, Any], str | None]]
) -> Track:
    kind = str(media.get("type", "")).upper()
    group = str(media.get("group_id") or "")
    name = media.get("name") or None
    codecs = builder.group_codecs(kind, group)
    refs = [str(media["uri"])] + [str(copy["uri"]) for copy, _ in copies]
    primary = builder.first_variant.get((kind.lower(), group)) or {}
    locations = [Location(builder.resolver.resolve(refs[0]), primary.get("pathway_id"), 0)]
    for index, (copy, pathway) in enumerate(copies, start=1):
        locations.append(Location(builder.resolver.resolve(str(copy["uri"])), pathway, index))
    channels = str(media.get("channels") or "").split("/")[0]
    is_default = str(media.get("default", "")).upper() == "YES"
    # Alternative video renditions are angles of the variants' video, never the main video.
    lead = ("alternate",) if kind == "VIDEO" else ("main",) if is_default else ()
    roles = lead + tuple(
        r.strip() for r in str(media.get("characteristics") or "").split(",") if r.strip()
    )
    label = str(media.get("language") or name or "")
    rep = Representation(
        id=builder.ids.take(
            str(media.get("stable_rendition_id") or ""),
            f"{kind.lower()}-{label}" if label else "",
            f"{kind.lower()}-{group}-{label}" if label else "",
            uri=refs[0],
        ),
        bandwidth_bps=0,
        codecs=codecs if kind != "SUBTITLES" else None,
        audio_channels=int(channels)
        if channels.isdigit() and len(channels) < _MAX_DIGITS
        else None,
        locations=tuple(locations),
        playlist_urls=tuple(loc.url for loc in locations),
    )
    return Track(
        id=f"{kind.lower()}:{group}:{name or refs[0]}",
        type=_RENDITION_TYPES[kind],
        representations=(rep,),
        language=media.get("language") or None,
        label=name,
        roles=roles,
        is_default=is_default,
        group_id=group or None,
    )


def _rendition_tracks(builder: _Builder) -> list[Track]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for media in builder.parsed["media"]:
        kind = str(media.get("type", "")).upper()
        if kind in _RENDITION_TYPES and media.get("uri"):
            groups.setdefault((kind, str(media.get("group_id") or "")), []).append(media)
    merged: dict[tuple[str, str], list[list[tuple[dict[str, Any], str | None]]]] = {
        key: [[] for _ in members] for key, members in groups.items()
    }
    for (kind, alias), (primary, pathway) in builder.aliases.items():
        copies, originals = groups.get((kind, alias)), groups.get((kind, primary))
        if copies and originals and len(copies) == len(originals):
            for index, copy in enumerate(copies):
                merged[(kind, primary)][index].append((copy, pathway))
            del groups[(kind, alias)]
    tracks = []
    for key, members in groups.items():
        for media, found in zip(members, merged[key], strict=True):
            tracks.append(_rendition_track(builder, media, found))
    return tracks


def build_session_keys(parsed: dict[str, Any], resolver: UrlResolver) -> tuple[HlsKey, ...]:
    """Build the ``EXT-X-SESSION-KEY`` keys (``METHOD=NONE`` ones are dropped)."""
    keys = [build_key(attributes, resolver) for attributes in parsed.get("session_keys", ())]
    return tuple(key for key in keys if key.method != "NONE")


def _steering(parsed: dict[str, Any], resolver: UrlResolver) -> SteeringInfo | None:
    steering = parsed.get("content_steering")
    if not steering or not steering.get("server_uri"):
        return None
    return SteeringInfo(
        server_url=resolver.resolve(str(steering["server_uri"])),
        default_pathway=steering.get("pathway_id") or None,
    )


def build_multivariant(
    parsed: dict[str, Any], *, resolver: UrlResolver
) -> tuple[tuple[Track, ...], SteeringInfo | None, tuple[HlsKey, ...]]:
    """Turn a parsed multivariant playlist into tracks, steering and session keys.

    Args:
        parsed: ``scan_playlist``'s dictionary.
        resolver: Resolves URIs against the playlist URL.

    Returns:
        The tracks (variants first), the content steering, the session keys.

    Raises:
        ManifestParseError: A URI or value is malformed.
    """
    builder = _Builder(parsed, resolver)
    variants = builder.group_streams(parsed["playlists"], "stream_info")
    iframes = builder.group_streams(parsed["iframe_playlists"], "iframe_stream_info")
    images = builder.group_streams(parsed["image_playlists"], "image_stream_info")
    audio = [m for m in parsed["media"] if str(m.get("type", "")).upper() == "AUDIO"]
    # Audio is separate from the variants only if every rendition of the group has a URI.
    with_uri = {str(m.get("group_id")) for m in audio} - {
        str(m.get("group_id")) for m in audio if not m.get("uri")
    }
    tracks: list[Track] = []
    if variants:
        reps = tuple(builder.representation(s) for s in variants)
        kind = _variant_track_type(variants, with_uri)
        tracks.append(Track("main", kind, reps, roles=("main",), is_default=True))
    tracks.extend(_rendition_tracks(builder))
    if iframes:
        reps = tuple(
            builder.representation(s, is_iframe_only=True, prefix="iframe-") for s in iframes
        )
        tracks.append(Track("iframe", TrackType.VIDEO, reps, roles=("trick",)))
    if images:
        reps = tuple(builder.representation(s, prefix="image-") for s in images)
        tracks.append(Track("image", TrackType.IMAGE, reps))
    return tuple(tracks), _steering(parsed, resolver), build_session_keys(parsed, resolver)
