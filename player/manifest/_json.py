"""The JSON form and the readable summary of a presentation (``python -m player probe``).

Key material never appears: ``data:`` key URIs (which may hold the key itself) are shown as
``data:`` only, IVs and PSSH boxes as flags.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from player.manifest._segment_runs import SegmentRuns

if TYPE_CHECKING:
    from player.manifest._model import (
        ByteRange,
        ContentProtection,
        HlsKey,
        InitSegment,
        LiveTiming,
        Presentation,
        Representation,
        Segment,
        Track,
    )

__all__: list[str] = []


def _range(byte_range: ByteRange | None) -> list[int] | None:
    return None if byte_range is None else [byte_range.first, byte_range.last]


def _safe_uri(uri: str | None) -> str | None:
    if uri is not None and uri[:5].lower() == "data:":
        return "data:"
    return uri


def _key(key: HlsKey) -> dict[str, Any]:
    return {
        "method": key.method,
        "uri": _safe_uri(key.uri),
        "keyformat": key.keyformat,
        "keyformat_versions": key.keyformat_versions,
        "kid": key.key_id,
        "has_iv": key.iv is not None,
    }


def _protection(protection: ContentProtection) -> dict[str, Any]:
    return {
        "system_id": protection.system_id,
        "scheme": protection.scheme,
        "default_kids": list(protection.default_kids),
        "license_url": protection.license_url,
        "has_pssh": protection.pssh is not None,
    }


def _init(init: InitSegment | None) -> dict[str, Any] | None:
    if init is None:
        return None
    return {"url": init.url, "byte_range": _range(init.byte_range)}


def _total_duration_s(segments: Sequence[Segment]) -> float:
    """Sum of the durations; a computed index adds them up run by run."""
    if isinstance(segments, SegmentRuns):
        return segments.total_duration_s
    return sum(s.duration_s for s in segments)


def _representation(rep: Representation, track: Track, period_id: str) -> dict[str, Any]:
    segments = rep.segments
    return {
        "id": rep.id,
        "period_id": period_id,
        "track_id": track.id,
        "track_type": track.type.value,
        "bandwidth_bps": rep.bandwidth_bps,
        "average_bandwidth_bps": rep.average_bandwidth_bps,
        "codecs": rep.codecs,
        "mime_type": rep.mime_type,
        "width": rep.width,
        "height": rep.height,
        "frame_rate": rep.frame_rate,
        "audio_sampling_rate": rep.audio_sampling_rate,
        "audio_channels": rep.audio_channels,
        "segment_count": None if segments is None else len(segments),
        "segments_duration_s": None if segments is None else _total_duration_s(segments),
        "first_segment_number": segments[0].number if segments else None,
        "pending_part_count": len(rep.pending_parts),
        "init": _init(rep.init),
        "index": None
        if rep.index is None
        else {"url": rep.index.urls[0], "byte_range": _range(rep.index.byte_range)},
        "playlist_urls": list(rep.playlist_urls),
        "locations": [
            {
                "url": loc.url,
                "service_location": loc.service_location,
                "priority": loc.priority,
                "weight": loc.weight,
            }
            for loc in rep.locations
        ],
        "kids": list(rep.kids),
        "protections": [_protection(p) for p in rep.protections],
        "hls_keys": [_key(k) for k in rep.hls_keys],
        "audio_group": rep.audio_group,
        "subtitle_group": rep.subtitle_group,
        "is_iframe_only": rep.is_iframe_only,
    }


def _live(live: LiveTiming) -> dict[str, Any]:
    return {
        name: getattr(live, name)
        for name in (
            "availability_start",
            "published_at",
            "time_shift_buffer_depth_s",
            "minimum_update_period_s",
            "suggested_presentation_delay_s",
            "target_duration_s",
            "part_target_s",
            "part_hold_back_s",
            "can_skip_until_s",
            "media_sequence",
            "can_block_reload",
        )
    }


def _strict(value: Any) -> Any:
    """Replace non-finite floats (NaN, infinities) with ``None``: JSON has no such numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strict(item) for item in value]
    return value


def presentation_to_json(p: Presentation) -> dict[str, Any]:
    """Return the presentation as JSON-compatible data (see ``Presentation.to_json``)."""
    data: dict[str, Any] = _strict(_presentation(p))
    return data


def _presentation(p: Presentation) -> dict[str, Any]:
    tracks: list[dict[str, Any]] = []
    reps: list[dict[str, Any]] = []
    for period in p.periods:
        for track in period.tracks:
            tracks.append(
                {
                    "id": track.id,
                    "period_id": period.id,
                    "type": track.type.value,
                    "language": track.language,
                    "label": track.label,
                    "roles": list(track.roles),
                    "codecs": track.codecs,
                    "is_default": track.is_default,
                    "group_id": track.group_id,
                    "representation_ids": [r.id for r in track.representations],
                }
            )
            reps.extend(_representation(r, track, period.id) for r in track.representations)
    return {
        "format": p.format.value,
        "type": p.type.value,
        "url": p.url,
        "duration_s": p.duration_s,
        "is_multivariant": p.is_multivariant,
        "fetched_at": p.fetched_at,
        "start_offset_s": p.start_offset_s,
        "min_buffer_s": p.min_buffer_s,
        "location": p.location,
        "live": _live(p.live) if p.is_live else None,
        "utc_timing": [{"scheme": u.scheme, "value": u.value} for u in p.utc_timing],
        "steering": None
        if p.steering is None
        else {
            "server_url": p.steering.server_url,
            "default_pathway": p.steering.default_pathway,
            "query_before_start": p.steering.query_before_start,
            "proxy_server_url": p.steering.proxy_server_url,
        },
        "session_keys": [_key(k) for k in p.session_keys],
        "kids": list(p.kids),
        "periods": [
            {"id": period.id, "start_s": period.start_s, "duration_s": period.duration_s}
            for period in p.periods
        ],
        "tracks": tracks,
        "representations": reps,
    }


def _seconds(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.3f} s".replace(".000 s", " s")


def _rep_line(rep: Representation) -> str:
    # HLS declares no bandwidth for an alternative rendition (EXT-X-MEDIA has no BANDWIDTH).
    bandwidth = f"{rep.bandwidth_bps:,} bps" if rep.bandwidth_bps else "bandwidth not declared"
    parts = [rep.id, bandwidth]
    if rep.width and rep.height:
        parts.append(f"{rep.width}x{rep.height}")
    if rep.frame_rate:
        parts.append(f"{rep.frame_rate:g} fps")
    if rep.codecs:
        parts.append(rep.codecs)
    if rep.segments is None:
        parts.append("segments not loaded" if rep.index is None else "segment index to fetch")
    else:
        parts.append(f"{len(rep.segments)} segments")
    if rep.is_iframe_only:
        parts.append("I-frames only")
    if len(rep.locations) > 1:
        parts.append(f"{len(rep.locations)} locations")
    if rep.kids:
        parts.append("KID " + ",".join(rep.kids))
    return "      " + "  ".join(parts)


def _live_line(live: LiveTiming) -> str:
    items = [f"window {_seconds(live.time_shift_buffer_depth_s)}"]
    if live.target_duration_s is not None:
        items.append(f"target duration {_seconds(live.target_duration_s)}")
    if live.minimum_update_period_s is not None:
        items.append(f"refresh every {_seconds(live.minimum_update_period_s)}")
    if live.media_sequence is not None:
        items.append(f"media sequence {live.media_sequence}")
    if live.part_target_s is not None:
        items.append(f"part target {_seconds(live.part_target_s)}")
    return "  live: " + ", ".join(items)


def presentation_summary(p: Presentation) -> str:
    """Return a readable multi-line description (see ``Presentation.summary``)."""
    count = sum(1 for _ in p.representations())
    lines = [
        f"{p.format.value.upper()} {p.type.value} presentation: {len(p.periods)} period(s), "
        f"{count} representation(s), duration {_seconds(p.duration_s)}",
        f"  url: {p.url}",
    ]
    if p.is_multivariant:
        loaded = sum(1 for rep in p.representations() if rep.segments is not None)
        lines.append(f"  multivariant playlist: {loaded} of {count} media playlists loaded")
    if p.is_live:
        lines.append(_live_line(p.live))
    if p.steering is not None:
        lines.append(
            f"  content steering: {p.steering.server_url}"
            f" (default pathway {p.steering.default_pathway})"
        )
    if p.kids:
        lines.append(f"  KIDs: {', '.join(p.kids)}")
    for period in p.periods:
        lines.append(
            f"  period {period.id}: start {_seconds(period.start_s)}, "
            f"duration {_seconds(period.duration_s)}"
        )
        for track in period.tracks:
            details = [f"    {track.type.value} track {track.id}"]
            if track.language:
                details.append(f"lang={track.language}")
            if track.label:
                details.append(f"label={track.label!r}")
            if track.is_default:
                details.append("default")
            if track.roles:
                details.append("roles=" + ",".join(track.roles))
            lines.append(" ".join(details))
            lines.extend(_rep_line(rep) for rep in track.representations)
    return "\n".join(lines)
