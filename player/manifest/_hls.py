"""HLS playlists into the presentation model (RFC 8216 and its LL-HLS successor).

``parse_hls`` reads either kind of playlist: a multivariant playlist gives a presentation whose
representations point at media playlists not yet loaded (``segments is None``); a media
playlist alone gives a one-representation presentation. ``load_media_playlist`` puts a media
playlist, once the session has fetched it, into a multivariant presentation; on a live refresh
it keeps presentation times continuous and fills delta updates (``EXT-X-SKIP``) from the
segments already known.
"""

from __future__ import annotations

import dataclasses
import math
import posixpath
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from player.config import ManifestConfig
from player.errors import ManifestError, ManifestParseError, UsageError, redact_url
from player.manifest._budget import SegmentBudget
from player.manifest._hls_media import MediaPlaylist, build_media_playlist, epoch
from player.manifest._hls_multivariant import build_multivariant, build_session_keys
from player.manifest._hls_scan import parse_error, scan_playlist
from player.manifest._hls_urls import UrlResolver
from player.manifest._model import (
    Location,
    Period,
    Presentation,
    PresentationType,
    Representation,
    Segment,
    StreamFormat,
    Track,
    TrackType,
)

__all__ = ["build_reload_url", "load_media_playlist", "parse_hls"]

_DEFAULT_CONFIG = ManifestConfig()
_SHAPE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)
"""What a value of an unexpected shape from the line parser may raise while building."""
_UNCHANGED_FACTOR = 0.5
"""RFC 8216 section 6.3.4: reload after half the target duration when nothing changed."""
_TEXT_EXTENSIONS = (".vtt", ".webvtt", ".srt", ".ttml")
_AUDIO_EXTENSIONS = (".aac", ".mp3", ".ac3", ".ec3", ".m4a", ".mka")


def _shape_error(url: str, exc: Exception) -> ManifestParseError:
    """The error for a playlist whose parsed values have a shape the builder cannot use."""
    return parse_error(
        url,
        f"malformed HLS playlist ({type(exc).__name__}: {str(exc)[:200]})",
        detail="malformed playlist",
    )


def _start_offset(parsed: dict[str, Any]) -> float | None:
    """``EXT-X-START TIME-OFFSET`` in seconds, if given and finite."""
    offset = (parsed.get("start") or {}).get("time_offset")
    return float(offset) if isinstance(offset, float) and math.isfinite(offset) else None


def _is_multivariant(parsed: dict[str, Any]) -> bool:
    return bool(
        parsed["playlists"]
        or parsed["iframe_playlists"]
        or parsed["image_playlists"]
        or (parsed["media"] and not parsed["segments"])
    )


def _guess_type(media: MediaPlaylist) -> TrackType:
    """Kind of a media playlist given alone, from its tags and segment names."""
    if media.is_images_only:
        return TrackType.IMAGE
    if media.is_iframe_only:
        return TrackType.VIDEO
    path = urlsplit(media.segments[0].url).path.lower() if media.segments else ""
    if path.endswith(_TEXT_EXTENSIONS):
        return TrackType.TEXT
    if path.endswith(_AUDIO_EXTENSIONS):
        return TrackType.AUDIO
    return TrackType.MUXED


def _with_media(rep: Representation, media: MediaPlaylist) -> Representation:
    return dataclasses.replace(
        rep,
        segments=media.segments,
        init=media.init,
        pending_parts=media.pending_parts,
        hls_keys=media.keys,
        is_iframe_only=rep.is_iframe_only or media.is_iframe_only,
        bandwidth_bps=rep.bandwidth_bps or media.peak_bps,
    )


def _timing(media: MediaPlaylist) -> tuple[PresentationType, float | None]:
    if media.is_live:
        return PresentationType.DYNAMIC, None
    return PresentationType.STATIC, media.duration_s


def _parse_playlist(
    data: bytes,
    *,
    url: str,
    now: float | None,
    config: ManifestConfig,
    imports: Mapping[str, str] | None,
) -> Presentation:
    parsed = scan_playlist(data, url=url, config=config, imports=imports)
    variables = tuple(parsed["variables"].items())
    resolver = UrlResolver(url, manifest_url=url)
    if _is_multivariant(parsed):
        tracks, steering, session_keys = build_multivariant(parsed, resolver=resolver)
        return Presentation(
            format=StreamFormat.HLS,
            type=PresentationType.STATIC,
            url=url,
            periods=(Period("0", 0.0, None, tracks),),
            steering=steering,
            session_keys=session_keys,
            is_multivariant=True,
            fetched_at=now,
            start_offset_s=_start_offset(parsed),
            variables=variables,
        )
    media = build_media_playlist(parsed, resolver=resolver, now=now, config=config)
    SegmentBudget(limit=config.max_materialized_segments, url=url).charge(len(media.segments))
    name = posixpath.basename(urlsplit(url).path) or "media"
    rep = _with_media(
        Representation(id=name, bandwidth_bps=0, playlist_urls=(url,), locations=(Location(url),)),
        media,
    )
    kind, duration = _timing(media)
    return Presentation(
        format=StreamFormat.HLS,
        type=kind,
        url=url,
        periods=(Period("0", 0.0, duration, (Track("main", _guess_type(media), (rep,)),)),),
        duration_s=duration,
        live=media.live,
        min_buffer_s=media.target_duration_s,
        session_keys=build_session_keys(parsed, resolver),
        fetched_at=now,
        start_offset_s=_start_offset(parsed),
        variables=variables,
    )


def parse_hls(
    data: bytes,
    *,
    url: str,
    now: float | None = None,
    config: ManifestConfig = _DEFAULT_CONFIG,
    imports: Mapping[str, str] | None = None,
) -> Presentation:
    r"""Parse an HLS multivariant or media playlist.

    ``EXT-X-DEFINE`` variables are substituted as RFC 8216bis section 4.3 says (see
    ``docs/manifest.md``); ``QUERYPARAM`` values come from ``url``'s query.

    Args:
        data: The playlist bytes (UTF-8).
        url: The playlist's absolute http(s) URL; relative URIs are resolved against it.
        now: Wall-clock time of the fetch (UTC epoch s); gives live segments their
            ``available_until`` and the presentation its ``fetched_at``.
        config: Parsing bounds.
        imports: For a media playlist, the variables of its multivariant playlist
            (``Presentation.variables``), which its ``EXT-X-DEFINE:IMPORT`` tags read.

    Returns:
        A multivariant presentation (``is_multivariant``, media playlists still to load with
        ``load_media_playlist``) or a one-representation presentation.

    Raises:
        ManifestParseError: The playlist is malformed, too large, or names a non-http(s) URI;
            or a variable is undefined or defined twice.

    >>> p = parse_hls(b"#EXTM3U\n#EXTINF:4,\na.ts\n#EXT-X-ENDLIST\n", url="https://cdn/x.m3u8")
    >>> p.duration_s, next(p.representations()).segments[0].url
    (4.0, 'https://cdn/a.ts')
    """
    try:
        return _parse_playlist(data, url=url, now=now, config=config, imports=imports)
    except ManifestError:
        raise
    except _SHAPE_ERRORS as exc:
        raise _shape_error(url, exc) from exc


def _find(presentation: Presentation, representation_id: str) -> Representation:
    for rep in presentation.representations():
        if rep.id == representation_id:
            return rep
    raise UsageError(f"no representation {representation_id!r} in {redact_url(presentation.url)}")


def _continuity(old: Sequence[Segment], parsed: dict[str, Any], target_s: float) -> float:
    """Presentation time of the first listed segment, continuing the previous load's times."""
    listed = [raw for raw in parsed["segments"] if "uri" in raw]
    if not old or not listed:
        return 0.0
    skipped = int((parsed.get("skip") or {}).get("skipped_segments") or 0)
    first = int(parsed.get("media_sequence") or 0) + skipped
    by_number = {seg.number: seg for seg in old}
    offset = 0.0
    for index, raw in enumerate(listed):
        known = by_number.get(first + index)
        if known is not None:
            return known.start_s - offset
        offset += raw.get("duration") or 0.0
    last = old[-1]
    if first > last.number:
        return last.end_s + (first - last.number - 1) * target_s
    return 0.0


def _is_live(parsed: dict[str, Any]) -> bool:
    return not parsed.get("is_endlist") and str(parsed.get("playlist_type") or "").lower() != "vod"


def _aligned_start(
    presentation: Presentation, rep: Representation, parsed: dict[str, Any], target_s: float
) -> float:
    """Start time of a live media playlist loaded for the first time.

    It is placed on the timeline of the representations already loaded: by program date time
    when both carry one, else by media sequence number against a variant of the same track.
    """
    listed = [raw for raw in parsed["segments"] if "uri" in raw]
    if not listed or not _is_live(parsed):
        return 0.0
    first_date = listed[0].get("program_date_time")
    siblings: tuple[Representation, ...] = ()
    others: list[Representation] = []
    for track in presentation.periods[0].tracks:
        if any(r.id == rep.id for r in track.representations):
            siblings = track.representations
        others.extend(r for r in track.representations if r.segments and r.id != rep.id)
    others.sort(key=lambda r: r not in siblings)
    for other in others:
        segments = other.segments or ()
        dated = next((s for s in segments if s.program_date_time is not None), None)
        if first_date is not None and dated is not None and dated.program_date_time is not None:
            return dated.start_s + (epoch(first_date) - dated.program_date_time)
        if other in siblings:
            return _continuity(segments, parsed, target_s)
    return 0.0


def _merge_skipped(old: Sequence[Segment], media: MediaPlaylist, first: int) -> MediaPlaylist:
    """Fill an ``EXT-X-SKIP`` delta update with the previously known skipped segments."""
    if not media.segments:
        return media
    kept = tuple(seg for seg in old if first <= seg.number < media.segments[0].number)
    return dataclasses.replace(media, segments=kept + media.segments)


def _is_unchanged(rep: Representation, media: MediaPlaylist) -> bool:
    """Whether a refresh brought nothing new (same last segment, same parts)."""
    if not rep.segments or not media.segments:
        return False
    before, after = rep.segments[-1], media.segments[-1]
    return (
        before.number == after.number
        and before.urls == after.urls
        and len(before.parts) == len(after.parts)
        and len(rep.pending_parts) == len(media.pending_parts)
    )


def _build_for(
    presentation: Presentation,
    rep: Representation,
    parsed: dict[str, Any],
    *,
    url: str,
    now: float | None,
    config: ManifestConfig,
) -> MediaPlaylist:
    """Build a media playlist on the timeline of what the presentation already knows."""
    old = rep.segments or ()
    target = float(parsed.get("targetduration") or 0.0)
    if old:
        start = _continuity(old, parsed, target)
    else:
        start = _aligned_start(presentation, rep, parsed, target)
    resolver = UrlResolver(url, manifest_url=url)
    media = build_media_playlist(parsed, resolver=resolver, now=now, config=config, start_s=start)
    if (parsed.get("skip") or {}).get("skipped_segments"):
        media = _merge_skipped(old, media, int(parsed.get("media_sequence") or 0))
    budget = SegmentBudget(limit=config.max_materialized_segments, url=url)
    budget.charge_all(r for r in presentation.representations() if r.id != rep.id)
    budget.charge(len(media.segments))
    return media


def _replaced(
    presentation: Presentation, new_rep: Representation, duration: float | None
) -> tuple[Period, ...]:
    """The periods with ``new_rep`` in place of the representation of the same id."""
    return tuple(
        dataclasses.replace(
            period,
            duration_s=duration,
            tracks=tuple(
                dataclasses.replace(
                    track,
                    representations=tuple(
                        new_rep if r.id == new_rep.id else r for r in track.representations
                    ),
                )
                for track in period.tracks
            ),
        )
        for period in presentation.periods
    )


def load_media_playlist(
    presentation: Presentation,
    representation_id: str,
    data: bytes,
    *,
    url: str,
    now: float | None = None,
    config: ManifestConfig = _DEFAULT_CONFIG,
    imports: Mapping[str, str] | None = None,
) -> Presentation:
    """Put a fetched (or refreshed) media playlist into a presentation.

    Args:
        presentation: The presentation (usually from a multivariant playlist).
        representation_id: The representation the media playlist belongs to.
        data: The media playlist bytes.
        url: The media playlist's URL after redirects; its URIs are resolved against it.
        now: Wall-clock time of the fetch (UTC epoch s).
        config: Parsing bounds.
        imports: The multivariant playlist's ``EXT-X-DEFINE`` variables, for ``IMPORT``;
            ``None``: those of ``presentation`` when it came from a multivariant playlist.

    Returns:
        A new presentation in which the representation has its segments. The presentation's
        type, duration and live timing follow the media playlist. On a refresh whose playlist did
        not change, ``live.minimum_update_period_s`` is half the target duration (RFC 8216
        section 6.3.4); the caller reloads at ``fetched_at + minimum_update_period_s``.

    Raises:
        ManifestParseError: The playlist is malformed or is not a media playlist, or a
            variable is undefined or defined twice.
        UsageError: No representation has that id.
    """
    rep = _find(presentation, representation_id)
    if imports is None and presentation.is_multivariant:
        imports = dict(presentation.variables)
    parsed = scan_playlist(data, url=url, config=config, imports=imports)
    if _is_multivariant(parsed):
        raise parse_error(
            url,
            "expected a media playlist, got a multivariant playlist",
            detail="not a media playlist",
        )
    try:
        media = _build_for(presentation, rep, parsed, url=url, now=now, config=config)
    except _SHAPE_ERRORS as exc:
        raise _shape_error(url, exc) from exc
    live = media.live
    if media.is_live and _is_unchanged(rep, media):
        live = dataclasses.replace(
            live, minimum_update_period_s=media.target_duration_s * _UNCHANGED_FACTOR
        )
    kind, duration = _timing(media)
    return dataclasses.replace(
        presentation,
        type=kind,
        periods=_replaced(presentation, _with_media(rep, media), duration),
        duration_s=duration,
        live=live,
        min_buffer_s=media.target_duration_s,
        fetched_at=now,
    )


def build_reload_url(
    presentation: Presentation, representation_id: str, *, is_delta: bool = False
) -> str:
    """Build the URL to reload a live media playlist with, with LL-HLS delivery directives.

    When the server declares ``CAN-BLOCK-RELOAD=YES``, the URL asks for the next segment
    (``_HLS_msn``) or, in a playlist with parts, the next part (``_HLS_part``); the server holds
    the response until that exists, so the caller may send the request at once instead of
    waiting for ``presentation.next_refresh_at(now)``. Otherwise the playlist URL is returned
    unchanged and the caller reloads at ``next_refresh_at``.

    Args:
        presentation: The presentation, with the representation's media playlist loaded.
        representation_id: The representation to reload.
        is_delta: Ask for a delta update (``_HLS_skip=YES``) when the server allows it
            (``CAN-SKIP-UNTIL``); ``load_media_playlist`` fills in the skipped segments.

    Returns:
        The preferred media playlist URL, with the directives added to its query.

    Raises:
        UsageError: No representation has that id, or it has no media playlist.
    """
    rep = _find(presentation, representation_id)
    if not rep.playlist_urls:
        raise UsageError(f"representation {representation_id!r} has no media playlist")
    url = rep.playlist_urls[0]
    live = presentation.live
    if not live.can_block_reload or not rep.segments:
        return url
    directives = {"_HLS_msn": rep.segments[-1].number + 1}
    parts = [part for part in rep.pending_parts if not part.is_preload_hint]
    if parts or live.part_target_s:
        directives["_HLS_part"] = len(parts)
    query = "&".join(f"{name}={value}" for name, value in directives.items())
    if is_delta and live.can_skip_until_s:
        query += "&_HLS_skip=YES"
    base, _, fragment = url.partition("#")
    joined = f"{base}{'&' if '?' in base else '?'}{query}"
    return f"{joined}#{fragment}" if fragment else joined
