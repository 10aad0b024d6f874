"""The DASH parser: MPD bytes to a ``Presentation`` (sans-I/O).

The XML is parsed by ``_xml.parse_xml`` (defusedxml, bounded) and walked here directly;
see ``docs/manifest-dash.md`` for why mpegdash's object tree is not used.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from player.config import ManifestConfig
from player.errors import ManifestError, ManifestParseError, UnsupportedManifest
from player.manifest._budget import SegmentBudget
from player.manifest._dash_baseurls import Base, child_bases
from player.manifest._dash_representation import Level, build_representation
from player.manifest._dash_segments import Scope, Timing
from player.manifest._dash_tree import ElementIndex
from player.manifest._dash_values import (
    attr_bool,
    attr_datetime,
    attr_duration,
    attr_str,
)
from player.manifest._images import log_dropped_image_set, thumbnail_tile_value
from player.manifest._model import (
    LiveTiming,
    Period,
    Presentation,
    PresentationType,
    SteeringInfo,
    StreamFormat,
    Track,
    TrackType,
    UtcTiming,
)
from player.manifest._urls import resolve_url
from player.manifest._xml import parse_xml

__all__ = ["parse_dash"]

_TEXT_CODECS = ("stpp", "wvtt", "ttml", "tx3g", "c608", "c708")
_TEXT_MIME_HINTS = ("ttml", "vtt", "subtitle", "caption")
_VIDEO_CODECS = ("avc", "hvc", "hev", "vp8", "vp9", "vp08", "vp09", "av01", "dvh", "dva", "mp4v")
_AUDIO_CODECS = ("mp4a", "ac-3", "ec-3", "ac-4", "opus", "flac", "dtsc", "mha1", "mhm1")
_TRICK_MODE_SCHEME = "http://dashif.org/guidelines/trickmode"
_SWITCHING_SCHEMES = (
    "urn:mpeg:dash:adaptation-set-switching:2016",  # ISO/IEC 23009-1 5.3.3.5
    "http://dashif.org/guidelines/adaptationsetswitching",  # DASH-IF IOP 3.8 (lowercased)
)
_DEFAULT_CONFIG = ManifestConfig()


@dataclass(frozen=True, slots=True)
class _Mpd:
    """MPD-wide values every period needs."""

    url: str
    config: ManifestConfig
    is_dynamic: bool
    duration_s: float | None
    live: LiveTiming
    clock: float | None
    base_cap: int


def parse_dash(
    data: bytes,
    *,
    url: str,
    now: float | None = None,
    config: ManifestConfig = _DEFAULT_CONFIG,
) -> Presentation:
    """Parse a DASH MPD into a ``Presentation``.

    For a dynamic MPD the segments are those available at ``now`` within the time-shift
    window, each with ``available_from``/``available_until``. Without ``now`` the MPD's
    ``publishTime`` is used as the time of the window; a dynamic MPD with neither raises.
    The caller schedules the next parse from ``presentation.next_refresh_at(now)``.

    Args:
        data: The MPD's bytes (as fetched; any XML encoding).
        url: The MPD's URL after redirects; relative URLs are resolved against it.
        now: Wall-clock time, UTC epoch seconds. Needed for live windows.
        config: Size bounds for untrusted input.

    Returns:
        The presentation.

    Raises:
        ManifestParseError: The MPD is malformed, too large, unsafe, or dynamic without a
            time to take the live window at.
        UnsupportedManifest: The MPD is well formed but uses something not supported.
    """
    root = parse_xml(data, url=url, config=config)
    if root.tag != "MPD":
        raise ManifestParseError(
            f"{url}: root element is <{root.tag[:40]}>, not <MPD>", url=url, detail="not an MPD"
        )
    try:
        return _parse_mpd(root, url=url, now=now, config=config)
    except ManifestError:
        raise
    except (ValueError, TypeError, ArithmeticError, LookupError, RecursionError) as exc:
        raise ManifestParseError(
            f"{url}: unusable MPD ({type(exc).__name__}: {str(exc)[:120]})",
            url=url,
            detail=f"unusable values: {type(exc).__name__}",
        ) from exc


def _parse_mpd(
    root: ET.Element, *, url: str, now: float | None, config: ManifestConfig
) -> Presentation:
    kind = (attr_str(root, "type") or "static").lower()
    if kind not in ("static", "dynamic"):
        raise UnsupportedManifest(
            f"{url}: MPD@type={kind[:40]!r} is neither static nor dynamic",
            url=url,
            detail="unknown MPD type",
        )
    mpd = _mpd_values(root, url=url, now=now, config=config, is_dynamic=kind == "dynamic")
    tree = ElementIndex()
    bases = child_bases(
        (Base(url),), root, url=url, cap=mpd.base_cap, limit=config.max_locations, tree=tree
    )
    periods = _periods(root, mpd, bases, tree)
    duration = mpd.duration_s
    if duration is None and not mpd.is_dynamic and periods and periods[-1].duration_s is not None:
        duration = periods[-1].start_s + periods[-1].duration_s
    return Presentation(
        format=StreamFormat.DASH,
        type=PresentationType.DYNAMIC if mpd.is_dynamic else PresentationType.STATIC,
        url=url,
        periods=periods,
        duration_s=duration,
        live=mpd.live,
        min_buffer_s=attr_duration(root, "minBufferTime", url=url),
        utc_timing=tuple(
            UtcTiming(attr_str(el, "schemeIdUri") or "", attr_str(el, "value") or "")
            for el in root.findall("UTCTiming")
        ),
        location=_location(root, url=url),
        steering=_steering(root, url=url),
        fetched_at=now,
    )


def _mpd_values(
    root: ET.Element, *, url: str, now: float | None, config: ManifestConfig, is_dynamic: bool
) -> _Mpd:
    live = LiveTiming()
    clock = None
    if is_dynamic:
        live = LiveTiming(
            availability_start=attr_datetime(root, "availabilityStartTime", url=url),
            published_at=attr_datetime(root, "publishTime", url=url),
            time_shift_buffer_depth_s=attr_duration(root, "timeShiftBufferDepth", url=url),
            minimum_update_period_s=attr_duration(root, "minimumUpdatePeriod", url=url),
            suggested_presentation_delay_s=attr_duration(
                root, "suggestedPresentationDelay", url=url
            ),
        )
        clock = now if now is not None else live.published_at
        if clock is None:
            raise ManifestParseError(
                f"{url}: dynamic MPD without publishTime: pass `now` to take the live window at",
                url=url,
                detail="dynamic MPD needs now",
            )
        if live.availability_start is None:
            raise ManifestParseError(
                f"{url}: dynamic MPD without availabilityStartTime",
                url=url,
                detail="dynamic MPD without availabilityStartTime",
            )
    return _Mpd(
        url=url,
        config=config,
        is_dynamic=is_dynamic,
        duration_s=attr_duration(root, "mediaPresentationDuration", url=url),
        live=live,
        clock=clock,
        base_cap=max(1, sum(1 for _ in root.iter("BaseURL"))),
    )


def _period_spans(elements: list[ET.Element], mpd: _Mpd) -> list[tuple[float, float | None]]:
    """Start and end of each period on the presentation timeline."""
    url = mpd.url
    starts: list[float] = []
    for i, el in enumerate(elements):
        start = attr_duration(el, "start", url=url)
        if start is None:
            start = 0.0
            if i:
                prev_dur = attr_duration(elements[i - 1], "duration", url=url)
                start = starts[-1] + (prev_dur or 0.0)
        starts.append(start)
    spans: list[tuple[float, float | None]] = []
    for i, el in enumerate(elements):
        start = starts[i]
        own = attr_duration(el, "duration", url=url)
        end: float | None
        if own is not None:
            end = start + own
        elif i + 1 < len(elements):
            end = starts[i + 1]
        else:
            end = mpd.duration_s
        if end is not None and end <= start:
            # quirk: a period start beyond the presentation's duration; read it as relative
            end = start + mpd.duration_s if mpd.duration_s else None
        spans.append((start, end))
    return spans


def _periods(
    root: ET.Element, mpd: _Mpd, bases: tuple[Base, ...], tree: ElementIndex
) -> tuple[Period, ...]:
    elements = root.findall("Period")
    if not elements:
        raise ManifestParseError(f"{mpd.url}: MPD has no Period", url=mpd.url, detail="no Period")
    budget = [mpd.config.max_representations]
    segment_budget = SegmentBudget(limit=mpd.config.max_materialized_segments, url=mpd.url)
    periods: list[Period] = []
    for index, (el, (start, end)) in enumerate(
        zip(elements, _period_spans(elements, mpd), strict=True)
    ):
        timing = Timing(
            period_index=index,
            period_start_s=start,
            period_end_s=end,
            availability_start=mpd.live.availability_start,
            now=mpd.clock,
            time_shift_buffer_s=mpd.live.time_shift_buffer_depth_s,
        )
        level = Level(
            el,
            child_bases(
                bases,
                el,
                url=mpd.url,
                cap=mpd.base_cap,
                limit=mpd.config.max_locations,
                tree=tree,
            ),
            (),
            Scope(timing, mpd.url, mpd.config),
            mpd.base_cap,
            segment_budget,
            tree,
        )
        tracks = tuple(
            track
            for i, as_el in enumerate(el.findall("AdaptationSet"))
            if (track := _track(as_el, i, level=level.child(as_el), budget=budget)) is not None
        )
        periods.append(
            Period(
                id=attr_str(el, "id") or str(index),
                start_s=start,
                duration_s=None if end is None else end - start,
                tracks=tracks,
            )
        )
    return tuple(periods)


def _track(el: ET.Element, index: int, *, level: Level, budget: list[int]) -> Track | None:
    """One AdaptationSet; ``budget`` counts down the representations still allowed.

    An image AdaptationSet (thumbnails) that cannot be read is dropped with a warning
    (``None``): thumbnails never stop playback.
    """
    url, config = level.scope.url, level.scope.config
    rep_elements = el.findall("Representation")
    budget[0] -= len(rep_elements)
    if budget[0] < 0:
        raise ManifestParseError(
            f"{url}: more than {config.max_representations} representations",
            url=url,
            detail="too many representations",
        )
    properties = [
        p for name in ("EssentialProperty", "SupplementalProperty") for p in el.findall(name)
    ]
    is_trick = any(attr_str(p, "schemeIdUri") == _TRICK_MODE_SCHEME for p in properties)
    kind = _track_type(el, rep_elements)
    descriptors = [(attr_str(p, "schemeIdUri"), attr_str(p, "value")) for p in properties]
    if thumbnail_tile_value(descriptors) is not None:
        kind = TrackType.IMAGE
    try:
        reps = tuple(
            build_representation(
                rep_el,
                f"{index}.{i}",
                parent=level,
                is_trick=is_trick,
                is_image=kind == TrackType.IMAGE,
            )
            for i, rep_el in enumerate(rep_elements)
        )
    except ManifestParseError as exc:
        if kind != TrackType.IMAGE:
            raise
        log_dropped_image_set(url, index, exc)
        return None
    roles = tuple(v for r in el.findall("Role") if (v := attr_str(r, "value")))
    label = attr_str(el, "label") or next(
        (t for lab in el.findall("Label") if (t := (lab.text or "").strip())), None
    )
    return Track(
        id=attr_str(el, "id") or str(index),
        type=kind,
        representations=reps,
        language=attr_str(el, "lang"),
        label=label,
        roles=roles,
        codecs=attr_str(el, "codecs"),
        is_default="main" in roles,
        switching_ids=_switching_ids(properties),
    )


def _switching_ids(properties: list[ET.Element]) -> tuple[str, ...]:
    """AdaptationSet ids named by adaptation-set-switching descriptors, in order, unique."""
    ids: dict[str, None] = {}
    for prop in properties:
        if (attr_str(prop, "schemeIdUri") or "").lower() in _SWITCHING_SCHEMES:
            for part in (attr_str(prop, "value") or "").split(","):
                if part.strip():
                    ids[part.strip()] = None
    return tuple(ids)


def _track_type(el: ET.Element, reps: list[ET.Element]) -> TrackType:
    """Kind of media, from ``contentType``, then MIME type, then codecs."""
    first = reps[0] if reps else el
    declared = (attr_str(el, "contentType") or "").lower()
    mime = (attr_str(el, "mimeType") or attr_str(first, "mimeType") or "").lower()
    codecs = (attr_str(el, "codecs") or attr_str(first, "codecs") or "").lower()
    components = {
        (attr_str(c, "contentType") or "").lower() for c in el.findall("ContentComponent")
    }
    has_video = any(c.strip().startswith(_VIDEO_CODECS) for c in codecs.split(","))
    has_audio = any(c.strip().startswith(_AUDIO_CODECS) for c in codecs.split(","))
    if {"video", "audio"} <= components or (has_video and has_audio):
        return TrackType.MUXED
    major = declared or mime.partition("/")[0]
    if major in ("video", "audio", "text", "image"):
        return TrackType(major)
    if codecs.startswith(_TEXT_CODECS) or any(h in mime for h in _TEXT_MIME_HINTS):
        return TrackType.TEXT
    if has_audio:
        return TrackType.AUDIO
    if major == "application":
        return TrackType.TEXT
    return TrackType.VIDEO


def _location(root: ET.Element, *, url: str) -> str | None:
    for el in root.findall("Location"):
        text = (el.text or "").strip()
        if text:
            return resolve_url(url, text, manifest_url=url)
    return None


def _steering(root: ET.Element, *, url: str) -> SteeringInfo | None:
    el = root.find("ContentSteering")
    if el is None or not (el.text or "").strip():
        return None
    proxy = attr_str(el, "proxyServerURL")
    return SteeringInfo(
        server_url=resolve_url(url, (el.text or "").strip(), manifest_url=url),
        default_pathway=attr_str(el, "defaultServiceLocation"),
        query_before_start=bool(attr_bool(el, "queryBeforeStart")),
        proxy_server_url=resolve_url(url, proxy, manifest_url=url) if proxy else None,
    )
