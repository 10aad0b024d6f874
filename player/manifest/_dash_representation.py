"""One DASH ``Representation``: inherited attributes, segment information, segments."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from player.errors import ManifestParseError
from player.manifest._dash_baseurls import Base, child_bases, to_locations
from player.manifest._dash_protection import parse_protections
from player.manifest._dash_segments import (
    Scope,
    SegmentInfo,
    SegmentTimes,
    TimelineEntry,
    Timing,
    list_segments,
    template_pattern,
    template_segments,
)
from player.manifest._dash_values import (
    attr_int,
    attr_offset,
    attr_str,
    bad_value,
    parse_byte_range,
    parse_frame_rate,
)
from player.manifest._model import (
    ByteRange,
    InitSegment,
    Representation,
    Segment,
    SegmentIndexRef,
)
from player.manifest._urls import resolve_url

__all__: list[str] = []

_KINDS = ("SegmentTemplate", "SegmentList", "SegmentBase")
_KIND_NAMES = {"SegmentTemplate": "template", "SegmentList": "list", "SegmentBase": "base"}
_CHANNEL_SCHEME_23003 = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011"
"""Longest segment URL template accepted: RFC 9110 asks servers for at least 8000 octets and
common servers refuse more. A template's URL is copied into every segment (a memory bound)."""


@dataclass(frozen=True, slots=True)
class Level:
    """An element of the MPD hierarchy with what its children inherit.

    Attributes:
        element: The Period or AdaptationSet element.
        bases: Base URLs in force at this level, preferred first.
        ancestors: Elements above, outermost first (the Period for an AdaptationSet).
        scope: The period's timing, the manifest URL and the bounds.
        base_cap: Most base-URL combinations kept (the MPD's ``BaseURL`` count).
        timelines: Parsed ``SegmentTimeline``s by element id, shared by the representations
            that inherit one (one parse of the MPD).
        times: Expanded segment times, shared the same way.
    """

    element: ET.Element
    bases: tuple[Base, ...]
    ancestors: tuple[ET.Element, ...]
    scope: Scope
    base_cap: int
    timelines: dict[int, tuple[TimelineEntry, ...]] = field(default_factory=dict)
    times: dict[object, SegmentTimes] = field(default_factory=dict)

    def child(self, el: ET.Element) -> Level:
        """The level of a child element (an AdaptationSet of this Period)."""
        return Level(
            el,
            child_bases(self.bases, el, url=self.scope.url, cap=self.base_cap),
            (*self.ancestors, self.element),
            self.scope,
            self.base_cap,
            self.timelines,
            self.times,
        )


class _Ident(NamedTuple):
    """What ``$RepresentationID$`` and ``$Bandwidth$`` stand for."""

    rep_id: str
    bandwidth: int


def build_representation(
    el: ET.Element, fallback_id: str, *, parent: Level, is_trick: bool
) -> Representation:
    """Build a ``Representation`` from its element and the AdaptationSet level above it.

    Args:
        el: The ``Representation`` element.
        fallback_id: Id used when the element has none.
        parent: The AdaptationSet's level.
        is_trick: The AdaptationSet is a trick-mode (I-frame only) one.

    Returns:
        The representation, with its segments (or its pending segment index).

    Raises:
        ManifestParseError: A value, URL or segment description is malformed.
    """
    url = parent.scope.url
    adaptation = parent.element
    bases = child_bases(parent.bases, el, url=url, cap=parent.base_cap)
    locations = to_locations(bases, limit=parent.scope.config.max_locations)
    base_urls = tuple(loc.url for loc in locations)
    ident = _Ident(attr_str(el, "id") or fallback_id, attr_int(el, "bandwidth", url=url) or 0)
    protections = parse_protections(
        adaptation.findall("ContentProtection"), base=base_urls[0], url=url
    ) + parse_protections(el.findall("ContentProtection"), base=base_urls[0], url=url)
    info = merge_segment_info(
        (*parent.ancestors, adaptation, el), url=url, timelines=parent.timelines
    )
    base_offset = next(b.availability_time_offset_s for b in bases if b.url == base_urls[0])
    if base_offset:
        info = replace(
            info, availability_time_offset_s=info.availability_time_offset_s + base_offset
        )
    segments, init, index = _segments(info, ident=ident, bases=base_urls, parent=parent)
    media = _media_attributes(el, adaptation, url=url)
    return Representation(
        id=ident.rep_id,
        bandwidth_bps=ident.bandwidth,
        codecs=media.codecs,
        mime_type=media.mime_type,
        width=media.width,
        height=media.height,
        frame_rate=media.frame_rate,
        audio_sampling_rate=media.audio_sampling_rate,
        audio_channels=media.audio_channels,
        segments=segments,
        init=init,
        locations=locations,
        index=index,
        protections=protections,
        is_iframe_only=is_trick,
    )


class _Media(NamedTuple):
    codecs: str | None
    mime_type: str | None
    width: int | None
    height: int | None
    frame_rate: float | None
    audio_sampling_rate: int | None
    audio_channels: int | None


def _media_attributes(el: ET.Element, adaptation: ET.Element, *, url: str) -> _Media:
    """Media attributes of a Representation, inherited from its AdaptationSet."""

    def inherited(name: str) -> str | None:
        value = attr_str(el, name)
        return value if value is not None else attr_str(adaptation, name)

    def inherited_int(name: str) -> int | None:
        value = attr_int(el, name, url=url)
        return value if value is not None else attr_int(adaptation, name, url=url)

    return _Media(
        codecs=inherited("codecs"),
        mime_type=inherited("mimeType"),
        width=inherited_int("width"),
        height=inherited_int("height"),
        frame_rate=parse_frame_rate(inherited("frameRate")),
        audio_sampling_rate=_sampling_rate(inherited("audioSamplingRate")),
        audio_channels=_channels(el) or _channels(adaptation),
    )


def _sampling_rate(text: str | None) -> int | None:
    """``audioSamplingRate`` may list a range (``44100 48000``): the first value."""
    if not text:
        return None
    first = text.split()[0]
    return int(first) if first.isdigit() and len(first) < 10 else None


def _channels(el: ET.Element) -> int | None:
    for conf in el.findall("AudioChannelConfiguration"):
        value = attr_str(conf, "value") or ""
        scheme = (attr_str(conf, "schemeIdUri") or "").lower()
        if scheme == _CHANNEL_SCHEME_23003 and value.isdigit() and len(value) < 4:
            return int(value)
    return None


def merge_segment_info(
    chain: tuple[ET.Element, ...],
    *,
    url: str,
    timelines: dict[int, tuple[TimelineEntry, ...]] | None = None,
) -> SegmentInfo:
    """Merge the segment description over the levels, innermost winning.

    The kind (template, list, base) is that of the innermost level declaring one; elements
    of that kind further out supply the attributes and children the inner ones omit.

    Args:
        chain: Period, AdaptationSet and Representation elements, outermost first.
        url: Manifest URL, for errors.
        timelines: Cache of parsed timelines by element id, reused across calls.

    Returns:
        The merged description (``kind="none"`` when no level has one).

    Raises:
        ManifestParseError: A value is malformed.
    """
    kind = next((k for el in reversed(chain) for k in _KINDS if el.find(k) is not None), None)
    if kind is None:
        return SegmentInfo(kind="none")
    found = [e for el in reversed(chain) if (e := el.find(kind)) is not None]

    def pick(name: str) -> str | None:
        return next((v for e in found if (v := attr_str(e, name)) is not None), None)

    def pick_int(name: str, default: int | None, minimum: int = 0) -> int | None:
        e = next((e for e in found if e.get(name) is not None), None)
        return default if e is None else attr_int(e, name, url=url, minimum=minimum)

    timescale = pick_int("timescale", 1, minimum=1) or 1
    init_el = next((i for e in found if (i := e.find("Initialization")) is not None), None)
    init_range = _range_attr(init_el, "range", url=url) if init_el is not None else None
    index_el = next((e for e in found if e.get("indexRange") is not None), None)
    return SegmentInfo(
        kind=_KIND_NAMES[kind],
        timescale=timescale,
        pto=pick_int("presentationTimeOffset", 0) or 0,
        duration=pick_int("duration", None),
        start_number=pick_int("startNumber", 1) or 0,
        end_number=pick_int("endNumber", None),
        media=pick("media"),
        initialization=pick("initialization"),
        timeline=_timeline(found, url=url, cache={} if timelines is None else timelines),
        init_source=attr_str(init_el, "sourceURL") if init_el is not None else None,
        init_range=init_range,
        has_init=init_el is not None,
        segment_urls=_segment_urls(found, url=url),
        index_range=_range_attr(index_el, "indexRange", url=url) if index_el is not None else None,
        availability_time_offset_s=_ato(found, url=url),
    )


def _range_attr(el: ET.Element, name: str, *, url: str) -> ByteRange | None:
    raw = attr_str(el, name)
    return None if not raw else parse_byte_range(raw, url=url, element=el.tag, name=name)


def _ato(found: list[ET.Element], *, url: str) -> float:
    """``availabilityTimeOffset`` adds up over the Period, AdaptationSet and Representation."""
    return sum((attr_offset(e, url=url) for e in found), 0.0)


def _timeline(
    found: list[ET.Element], *, url: str, cache: dict[int, tuple[TimelineEntry, ...]]
) -> tuple[TimelineEntry, ...] | None:
    tl = next((t for e in found if (t := e.find("SegmentTimeline")) is not None), None)
    if tl is None:
        return None
    cached = cache.get(id(tl))
    if cached is not None:
        return cached
    entries = []
    for s in tl.findall("S"):
        d = attr_int(s, "d", url=url)
        if d is None:
            raise bad_value(url, "S", "d", "", "missing")
        entries.append(
            TimelineEntry(attr_int(s, "t", url=url), d, attr_int(s, "r", url=url, minimum=-1) or 0)
        )
    cache[id(tl)] = result = tuple(entries)
    return result


def _segment_urls(
    found: list[ET.Element], *, url: str
) -> tuple[tuple[str | None, ByteRange | None], ...]:
    for e in found:
        items = e.findall("SegmentURL")
        if items:
            return tuple(
                (attr_str(s, "media"), _range_attr(s, "mediaRange", url=url)) for s in items
            )
    return ()


def _segments(
    info: SegmentInfo, *, ident: _Ident, bases: tuple[str, ...], parent: Level
) -> tuple[tuple[Segment, ...] | None, InitSegment | None, SegmentIndexRef | None]:
    """Segments, init segment and pending index of one representation."""
    scope = parent.scope
    url, timing = scope.url, scope.timing
    if info.kind == "template" and info.media:
        init = _template_init(info, ident=ident, bases=bases, url=url)
        pattern = template_pattern(
            info.media, rep_id=ident.rep_id, bandwidth=ident.bandwidth, url=url
        )
        limit = scope.config.max_url_chars
        media = tuple(
            _short(resolve_url(b, pattern, manifest_url=url), url=url, limit=limit) for b in bases
        )
        segs = template_segments(info, media=media, init=init, scope=scope, cache=parent.times)
        return segs, init, None
    init = _list_init(info, bases=bases, url=url)
    if info.kind == "list" and info.segment_urls:
        media_list = tuple(
            (tuple(resolve_url(b, m or "", manifest_url=url) for b in bases), byte_range)
            for m, byte_range in info.segment_urls
        )
        return list_segments(info, media=media_list, init=init, scope=scope), init, None
    if info.kind == "base" and info.index_range is not None:
        index = SegmentIndexRef(
            bases,
            info.index_range,
            init,
            time_offset_s=timing.period_start_s - info.pto / info.timescale,
            discontinuity_seq=timing.period_index,
            period_end_s=timing.period_end_s,
            period_start_s=timing.period_start_s,
        )
        return None, init, index
    return (_whole_resource(bases, init, timing),), init, None


def _template_init(
    info: SegmentInfo, *, ident: _Ident, bases: tuple[str, ...], url: str
) -> InitSegment | None:
    if not info.initialization:
        return None
    pattern = template_pattern(
        info.initialization, rep_id=ident.rep_id, bandwidth=ident.bandwidth, url=url
    )
    return InitSegment(
        tuple(resolve_url(b, pattern, manifest_url=url).format(n=0, t=0) for b in bases)
    )


def _short(pattern: str, *, url: str, limit: int) -> str:
    """Refuse a media URL template longer than ``limit`` (it is copied per segment)."""
    if len(pattern) > limit:
        raise ManifestParseError(
            f"{url}: segment URL template of {len(pattern)} characters is too long",
            url=url,
            detail="url too long",
        )
    return pattern


def _list_init(info: SegmentInfo, *, bases: tuple[str, ...], url: str) -> InitSegment | None:
    if not info.has_init:
        return None
    source = info.init_source or ""
    return InitSegment(
        tuple(resolve_url(b, source, manifest_url=url) for b in bases), info.init_range
    )


def _whole_resource(bases: tuple[str, ...], init: InitSegment | None, timing: Timing) -> Segment:
    """The single segment of a representation that is one resource (its BaseURL)."""
    end = timing.period_end_s
    return Segment(
        urls=bases,
        number=0,
        start_s=timing.period_start_s,
        duration_s=0.0 if end is None else end - timing.period_start_s,
        init=init,
        discontinuity_seq=timing.period_index,
    )
