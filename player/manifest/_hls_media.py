"""An HLS media playlist (``m3u8.parse``'s dictionary) into segments, parts and live timing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from player.config import ManifestConfig
from player.errors import redact_url
from player.manifest._hls_keys import build_key, preferred_key
from player.manifest._hls_scan import parse_error
from player.manifest._hls_urls import UrlResolver
from player.manifest._images import assign_hls_tiles
from player.manifest._model import (
    ByteRange,
    HlsKey,
    InitSegment,
    LiveTiming,
    Part,
    Segment,
)
from player.manifest._urls import decode_data_uri, is_data_uri

__all__: list[str] = []

_HOLD_BACK_TARGETS = 3.0
"""RFC 8216 section 4.4.3.8: HOLD-BACK defaults to three target durations."""


@dataclass(frozen=True, slots=True)
class MediaPlaylist:
    """What a media playlist says, before it is placed in a presentation."""

    segments: tuple[Segment, ...]
    init: InitSegment | None
    pending_parts: tuple[Part, ...]
    keys: tuple[HlsKey, ...]
    is_live: bool
    is_iframe_only: bool
    is_images_only: bool
    duration_s: float
    target_duration_s: float
    live: LiveTiming
    peak_bps: int


def _parse_range(text: str, *, url: str) -> tuple[int, int | None]:
    """Split ``length[@offset]``.

    Quotes around it are tolerated: ``EXT-X-PART``'s BYTERANGE is a quoted-string in RFC
    8216bis, and unquoted in many playlists.
    """
    length_text, sep, offset_text = str(text).strip().strip('"').partition("@")
    try:
        length = int(length_text)
        offset = int(offset_text) if sep else None
    except ValueError:
        length, offset = -1, None
    if length <= 0 or (offset is not None and offset < 0):
        raise parse_error(
            url, f"byte range {str(text)[:40]!r} is malformed", detail="bad byterange"
        )
    return length, offset


class _RangeChain:
    """Byte ranges whose offset may be implicit: right after the previous range of the same URI."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.last_uri: str | None = None
        self.next_offset = 0

    def take(self, text: str | None, uri: str) -> ByteRange | None:
        if text is None:
            self.last_uri = None
            return None
        length, offset = _parse_range(text, url=self.url)
        if offset is None:
            offset = self.next_offset if uri == self.last_uri else 0
        self.last_uri = uri
        self.next_offset = offset + length
        return ByteRange(offset, offset + length - 1)


class _Context:
    """Caches shared by all segments of one playlist: keys, init segments, byte-range chains."""

    def __init__(self, resolver: UrlResolver, *, expiry: float | None) -> None:
        self.resolver = resolver
        self.expiry = expiry
        self.url = resolver.manifest_url
        self.key_sets: dict[int, tuple[list[dict[str, str]], HlsKey]] = {}
        self.all_keys: dict[HlsKey, None] = {}
        self.keys_by_text: dict[tuple[tuple[str, str], ...], HlsKey] = {}
        self.inits: dict[int, tuple[dict[str, Any], InitSegment]] = {}

    def key(self, key_set: list[dict[str, str]] | None) -> HlsKey | None:
        if not key_set:
            return None
        cached = self.key_sets.get(id(key_set))
        if cached is None:
            keys = [self._build_key(attributes) for attributes in key_set]
            self.all_keys.update(dict.fromkeys(keys))
            cached = (key_set, preferred_key(keys))
            self.key_sets[id(key_set)] = cached
        return cached[1]

    def _build_key(self, attributes: dict[str, str]) -> HlsKey:
        """Build a key once per distinct tag (rotation often repeats the same key tag)."""
        text = tuple(sorted(attributes.items()))
        key = self.keys_by_text.get(text)
        if key is None:
            key = build_key(attributes, self.resolver)
            self.keys_by_text[text] = key
        return key

    def init(self, section: dict[str, Any] | None) -> InitSegment | None:
        if not section:
            return None
        cached = self.inits.get(id(section))
        if cached is None:
            uri = section.get("uri")
            if not isinstance(uri, str) or not uri.strip():
                raise parse_error(self.url, "EXT-X-MAP without URI", detail="map without uri")
            byte_range = None
            if section.get("byterange"):
                length, offset = _parse_range(section["byterange"], url=self.url)
                start = offset or 0
                byte_range = ByteRange(start, start + length - 1)
            key = self.key(section["key"])
            if is_data_uri(uri):  # carried by the playlist: nothing to fetch
                data = decode_data_uri(uri, manifest_url=self.url)
                if byte_range is not None:
                    data = data[byte_range.first : byte_range.last + 1]
                init = InitSegment((uri.strip(),), byte_range, key, data)
            else:
                init = InitSegment((self.resolver.resolve(uri),), byte_range, key)
            cached = (section, init)
            self.inits[id(section)] = cached
        return cached[1]

    def parts(self, raw_parts: list[dict[str, Any]] | None) -> tuple[Part, ...]:
        if not raw_parts:
            return ()
        chain = _RangeChain(self.url)
        found = []
        for raw in raw_parts:
            uri = raw.get("uri")
            duration = raw.get("duration")
            if not isinstance(uri, str) or not isinstance(duration, float):
                raise parse_error(self.url, "EXT-X-PART needs URI and DURATION", detail="bad part")
            if not math.isfinite(duration) or duration < 0:
                raise parse_error(self.url, "EXT-X-PART DURATION is invalid", detail="bad part")
            absolute = self.resolver.resolve(uri)
            found.append(
                Part(
                    absolute,
                    duration,
                    chain.take(raw.get("byterange"), absolute),
                    is_independent=str(raw.get("independent", "")).upper() == "YES",
                    is_gap=str(raw.get("gap", "")).upper() == "YES" or bool(raw.get("gap_tag")),
                )
            )
        return tuple(found)


def epoch(when: datetime) -> float:
    """UTC epoch seconds of a date (a date without time zone is UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def _preload_hints(parsed: dict[str, Any], context: _Context) -> tuple[Part, ...]:
    hints = []
    for hint in parsed.get("preload_hints", ()):
        if hint.get("TYPE", "").upper() != "PART" or not hint.get("URI"):
            continue
        byte_range = None
        if "BYTERANGE-LENGTH" in hint:
            length, offset = _parse_range(
                f"{hint['BYTERANGE-LENGTH']}@{hint.get('BYTERANGE-START', '0')}", url=context.url
            )
            byte_range = ByteRange(offset or 0, (offset or 0) + length - 1)
        url = context.resolver.resolve(hint["URI"])
        hints.append(Part(url, 0.0, byte_range, is_preload_hint=True))
    return tuple(hints)


def _segments(
    raw_segments: list[dict[str, Any]],
    context: _Context,
    *,
    first_number: int,
    first_discontinuity: int,
    start_s: float,
    bitrates: Sequence[tuple[int, int | None]] = (),
) -> tuple[list[Segment], tuple[Part, ...]]:
    """Build the segments; ``context.expiry`` is ``now + window`` for sliding live windows.

    ``bitrates`` lists each ``EXT-X-BITRATE`` as ``(index of the segment it starts at, kbit/s
    or None)``: a rate applies to the segments from there to the next tag, except those with a
    byte range (RFC 8216bis 4.4.4.8).
    """
    changes = iter(bitrates)
    change = next(changes, None)
    rate_kbps: int | None = None
    expiry = context.expiry
    resolve = context.resolver.resolve
    chain = _RangeChain(context.url)
    segments: list[Segment] = []
    pending: tuple[Part, ...] = ()
    discontinuity = first_discontinuity
    pdt: float | None = None
    prev_duration = 0.0
    start = start_s
    for index, raw in enumerate(raw_segments):
        while change is not None and change[0] <= index:
            rate_kbps, change = change[1], next(changes, None)
        uri = raw.get("uri")
        if uri is None:  # trailing parts of the segment still being produced
            pending = context.parts(raw.get("parts"))
            continue
        duration = raw.get("duration")
        if duration is None:
            raise parse_error(
                context.url, f"segment {redact_url(uri)!r} has no EXTINF", detail="no extinf"
            )
        if raw["discontinuity"]:
            discontinuity += 1
        when = raw.get("program_date_time")
        pdt = epoch(when) if when is not None else (None if pdt is None else pdt + prev_duration)
        absolute = resolve(uri)
        byte_range = chain.take(raw.get("byterange"), absolute)
        segments.append(
            Segment(
                (absolute,),
                first_number + len(segments),
                start,
                duration,
                byte_range,
                context.init(raw.get("init_section")),
                discontinuity,
                context.key(raw.get("key")),
                None,
                None if expiry is None else expiry + duration,
                pdt,
                context.parts(raw.get("parts")),
                bool(raw.get("gap_tag")),
                bitrate_bps=(
                    None if rate_kbps is None or byte_range is not None else rate_kbps * 1000
                ),
            )
        )
        start += duration
        prev_duration = duration
    if not math.isfinite(start):
        raise parse_error(context.url, "segment durations add up to infinity", detail="bad extinf")
    return segments, pending


def _seconds(value: Any) -> float | None:
    """A duration attribute as float seconds; ``None`` when absent, negative or not finite."""
    if isinstance(value, int | float) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


def _live_timing(parsed: dict[str, Any], *, target: float, window_s: float) -> LiveTiming:
    control = parsed.get("server_control") or {}
    hold_back = _seconds(control.get("hold_back"))
    return LiveTiming(
        time_shift_buffer_depth_s=window_s,
        minimum_update_period_s=target,
        suggested_presentation_delay_s=(
            hold_back if hold_back is not None else _HOLD_BACK_TARGETS * target
        ),
        target_duration_s=target,
        part_target_s=_seconds((parsed.get("part_inf") or {}).get("part_target")),
        media_sequence=int(parsed.get("media_sequence") or 0),
        can_block_reload=str(control.get("can_block_reload", "")).upper() == "YES",
        part_hold_back_s=_seconds(control.get("part_hold_back")),
        can_skip_until_s=_seconds(control.get("can_skip_until")),
    )


def _peak_bps(segments: list[Segment]) -> int:
    """Peak bit rate of the segments whose byte ranges give their size, else 0."""
    peak = 0.0
    for seg in segments:
        if seg.byte_range is not None and seg.duration_s > 0:
            peak = max(peak, seg.byte_range.length * 8 / seg.duration_s)
    return int(peak)


def build_media_playlist(
    parsed: dict[str, Any],
    *,
    resolver: UrlResolver,
    now: float | None,
    config: ManifestConfig,
    start_s: float = 0.0,
) -> MediaPlaylist:
    """Turn a parsed media playlist into segments and timing.

    Args:
        parsed: ``scan_playlist``'s dictionary.
        resolver: Resolves URIs against the playlist URL.
        now: Wall-clock time of the fetch (UTC epoch s), if known.
        config: Parsing bounds.
        start_s: Presentation time of the first listed segment.

    Returns:
        The playlist's content.

    Raises:
        ManifestParseError: A value is malformed or a bound is exceeded.
    """
    raw_segments: list[dict[str, Any]] = parsed["segments"]
    durations = [raw.get("duration") or 0.0 for raw in raw_segments if "uri" in raw]
    window_s = sum(durations)
    if not math.isfinite(window_s):
        raise parse_error(
            resolver.manifest_url, "segment durations add up to infinity", detail="bad extinf"
        )
    playlist_type = str(parsed.get("playlist_type") or "").lower()
    is_live = not parsed.get("is_endlist") and playlist_type != "vod"
    target = parsed.get("targetduration")
    target_s = float(target) if target else float(math.ceil(max(durations, default=0.0)))
    expiry = None
    if is_live and now is not None and playlist_type != "event":
        # A removed segment stays available for its duration plus the playlist's (RFC 8216 6.2.2).
        expiry = now + window_s
    skipped = int((parsed.get("skip") or {}).get("skipped_segments") or 0)
    context = _Context(resolver, expiry=expiry)
    segments, pending = _segments(
        raw_segments,
        context,
        first_number=int(parsed.get("media_sequence") or 0) + skipped,
        first_discontinuity=int(parsed.get("discontinuity_sequence") or 0),
        start_s=start_s,
        bitrates=parsed.get("bitrates") or (),
    )
    if len(segments) > config.max_segments:
        raise parse_error(resolver.manifest_url, "too many segments", detail="too many segments")
    if parsed.get("is_images_only"):
        segments = assign_hls_tiles(
            segments, raw_segments, url=resolver.manifest_url, config=config
        )
    inits = {id(seg.init): seg.init for seg in segments}  # shared objects: compare identities
    return MediaPlaylist(
        segments=tuple(segments),
        init=next(iter(inits.values())) if len(inits) == 1 else None,
        pending_parts=pending + _preload_hints(parsed, context),
        keys=tuple(context.all_keys),
        is_live=is_live,
        is_iframe_only=bool(parsed.get("is_i_frames_only")),
        is_images_only=bool(parsed.get("is_images_only")),
        duration_s=window_s,
        target_duration_s=target_s,
        live=_live_timing(parsed, target=target_s, window_s=window_s) if is_live else LiveTiming(),
        peak_bps=_peak_bps(segments),
    )
