"""One DASH ``Representation``: inherited attributes, segment information, segments."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from player.errors import ManifestParseError
from player.manifest._budget import SegmentBudget
from player.manifest._dash_baseurls import Base, child_bases, to_locations
from player.manifest._dash_protection import parse_protections
from player.manifest._dash_segment_info import KINDS, merge_segment_info
from player.manifest._dash_segments import (
    Scope,
    SegmentInfo,
    TimelineEntry,
    Timing,
    compile_template,
    fill_template,
    list_segments,
    template_pattern,
    template_segments,
)
from player.manifest._dash_tree import ElementIndex
from player.manifest._dash_values import (
    attr_int,
    attr_str,
    parse_frame_rate,
)
from player.manifest._images import dash_tile_grid, thumbnail_tile_value
from player.manifest._model import (
    ByteRange,
    InitSegment,
    Representation,
    Segment,
    SegmentIndexRef,
    TileGrid,
)
from player.manifest._segment_runs import RunTable
from player.manifest._urls import decode_data_uri, is_data_uri, resolve_url

__all__: list[str] = []

_SAFE_ID = re.compile(r"[A-Za-z0-9_.~-]+")
"""Representation ids that cannot change the structure of a URL they are put into."""
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
        budget: The presentation's bound on the segment entries it holds.
        tree: Children of elements by name and memos, for the whole parse.
        timelines: Parsed ``SegmentTimeline``s by element id, shared by the representations
            that inherit one (one parse of the MPD).
        times: Run tables of segment times, shared the same way.
    """

    element: ET.Element
    bases: tuple[Base, ...]
    ancestors: tuple[ET.Element, ...]
    scope: Scope
    base_cap: int
    budget: SegmentBudget
    tree: ElementIndex
    timelines: dict[int, tuple[TimelineEntry, ...]] = field(default_factory=dict)
    times: dict[object, RunTable] = field(default_factory=dict)

    def child(self, el: ET.Element) -> Level:
        """The level of a child element (an AdaptationSet of this Period)."""
        return Level(
            el,
            child_bases(
                self.bases,
                el,
                url=self.scope.url,
                cap=self.base_cap,
                limit=self.scope.config.max_locations,
                tree=self.tree,
            ),
            (*self.ancestors, self.element),
            self.scope,
            self.base_cap,
            self.budget,
            self.tree,
            self.timelines,
            self.times,
        )


class _Ident(NamedTuple):
    """What ``$RepresentationID$`` and ``$Bandwidth$`` stand for."""

    rep_id: str
    bandwidth: int


def build_representation(
    el: ET.Element, fallback_id: str, *, parent: Level, is_trick: bool, is_image: bool = False
) -> Representation:
    """Build a ``Representation`` from its element and the AdaptationSet level above it.

    Args:
        el: The ``Representation`` element.
        fallback_id: Id used when the element has none.
        parent: The AdaptationSet's level.
        is_trick: The AdaptationSet is a trick-mode (I-frame only) one.
        is_image: The AdaptationSet is an image (thumbnail) one: read its tile grid.

    Returns:
        The representation, with its segments (or its pending segment index).

    Raises:
        ManifestParseError: A value, URL or segment description is malformed.
    """
    url = parent.scope.url
    adaptation = parent.element
    tree = parent.tree
    limit = parent.scope.config.max_locations
    bases = child_bases(parent.bases, el, url=url, cap=parent.base_cap, limit=limit, tree=tree)
    if bases is parent.bases:  # no BaseURL of its own: the AdaptationSet's locations
        locations = tree.memo(
            ("locations", id(adaptation)), lambda: to_locations(bases, limit=limit)
        )
    else:
        locations = to_locations(bases, limit=limit)
    base_urls = tuple(loc.url for loc in locations)
    ident = _Ident(attr_str(el, "id") or fallback_id, attr_int(el, "bandwidth", url=url) or 0)
    shared = tree.memo(
        ("protections", id(adaptation), base_urls[0]),
        lambda: parse_protections(
            tree.findall(adaptation, "ContentProtection"), base=base_urls[0], url=url
        ),
    )
    protections = shared + parse_protections(
        el.findall("ContentProtection"), base=base_urls[0], url=url
    )
    info = _segment_info(el, parent=parent)
    base_offset = next(b.availability_time_offset_s for b in bases if b.url == base_urls[0])
    if base_offset:
        info = replace(
            info, availability_time_offset_s=info.availability_time_offset_s + base_offset
        )
    segments, init, index = _segments(info, ident=ident, bases=base_urls, parent=parent)
    media = _media_attributes(el, adaptation, url=url, tree=tree)
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
        tiles=_image_tiles(el, info=info, media=media, parent=parent) if is_image else None,
    )


def _image_tiles(el: ET.Element, *, info: SegmentInfo, media: _Media, parent: Level) -> TileGrid:
    """The tile grid of an image Representation (``thumbnail_tile`` here or on its set)."""
    adaptation, tree = parent.element, parent.tree
    elements = [
        *el.findall("EssentialProperty"),
        *el.findall("SupplementalProperty"),
        *tree.findall(adaptation, "EssentialProperty"),
        *tree.findall(adaptation, "SupplementalProperty"),
    ]
    descriptors = [(attr_str(p, "schemeIdUri"), attr_str(p, "value")) for p in elements]
    nominal = None  # one image's time span: @duration, or a timeline's longest S@d
    if info.timeline:
        nominal = max(entry.d for entry in info.timeline) / info.timescale
    elif info.duration:
        nominal = info.duration / info.timescale
    return dash_tile_grid(
        thumbnail_tile_value(descriptors),
        width=media.width,
        height=media.height,
        segment_duration_s=nominal,
        url=parent.scope.url,
        config=parent.scope.config,
    )


def _segment_info(el: ET.Element, *, parent: Level) -> SegmentInfo:
    """The merged segment description; shared by the Representations that add nothing to it."""
    tree, url = parent.tree, parent.scope.url
    chain = (*parent.ancestors, parent.element)
    if any(el.find(kind) is not None for kind in KINDS):
        return merge_segment_info((*chain, el), url=url, timelines=parent.timelines, tree=tree)
    return tree.memo(
        ("segment info", *map(id, chain)),
        lambda: merge_segment_info(chain, url=url, timelines=parent.timelines, tree=tree),
    )


class _Media(NamedTuple):
    codecs: str | None
    mime_type: str | None
    width: int | None
    height: int | None
    frame_rate: float | None
    audio_sampling_rate: int | None
    audio_channels: int | None


def _media_attributes(
    el: ET.Element, adaptation: ET.Element, *, url: str, tree: ElementIndex
) -> _Media:
    """Media attributes of a Representation, inherited from its AdaptationSet.

    The AdaptationSet's own values are read once (and only when some Representation needs
    them), not once per Representation.
    """
    key = id(adaptation)

    def text(name: str) -> str | None:
        value = attr_str(el, name)
        if value is not None:
            return value
        return tree.memo((name, key), lambda: attr_str(adaptation, name))

    def number(name: str) -> int | None:
        value = attr_int(el, name, url=url)
        if value is not None:
            return value
        return tree.memo((name, key), lambda: attr_int(adaptation, name, url=url))

    return _Media(
        codecs=text("codecs"),
        mime_type=text("mimeType"),
        width=number("width"),
        height=number("height"),
        frame_rate=parse_frame_rate(text("frameRate")),
        audio_sampling_rate=_sampling_rate(text("audioSamplingRate")),
        audio_channels=_channels(el.findall("AudioChannelConfiguration"))
        or tree.memo(
            ("channels", key),
            lambda: _channels(tree.findall(adaptation, "AudioChannelConfiguration")),
        ),
    )


def _sampling_rate(text: str | None) -> int | None:
    """``audioSamplingRate`` may list a range (``44100 48000``): the first value."""
    if not text:
        return None
    first = text.split()[0]
    return int(first) if first.isdigit() and len(first) < 10 else None


def _channels(configurations: list[ET.Element]) -> int | None:
    for conf in configurations:
        value = attr_str(conf, "value") or ""
        scheme = (attr_str(conf, "schemeIdUri") or "").lower()
        if scheme == _CHANNEL_SCHEME_23003 and value.isdigit() and len(value) < 4:
            return int(value)
    return None


def _segments(
    info: SegmentInfo, *, ident: _Ident, bases: tuple[str, ...], parent: Level
) -> tuple[Sequence[Segment] | None, InitSegment | None, SegmentIndexRef | None]:
    """Segments, init segment and pending index of one representation."""
    scope = parent.scope
    url, timing = scope.url, scope.timing
    if info.kind == "template" and info.media:
        init = _template_init(info, ident=ident, bases=bases, parent=parent)
        limit = scope.config.max_url_chars
        media = tuple(
            _short(
                _resolved_pattern(b, info.media, ident=ident, parent=parent), url=url, limit=limit
            )
            for b in bases
        )
        segs = template_segments(info, media=media, init=init, scope=scope, cache=parent.times)
        parent.budget.charge_index(segs)
        return segs, init, None
    init = _list_init(info, bases=bases, url=url)
    if info.kind == "list" and info.segment_urls:
        # Representations that inherit one list and its base URLs share its resolved URLs.
        known: dict[int, tuple[str, ...]] = parent.tree.memo(
            ("list urls", bases, id(info.segment_urls)), dict
        )

        def resolve(index: int) -> tuple[str, ...]:
            urls = known.get(index)
            if urls is None:
                ref = info.segment_urls[index][0] or ""
                urls = known[index] = tuple(resolve_url(b, ref, manifest_url=url) for b in bases)
            return urls

        listed = list_segments(info, resolve=resolve, init=init, scope=scope)
        parent.budget.charge_index(listed)
        # Every SegmentURL is checked once per list (a bad one is refused now, not in playback).
        parent.tree.memo(
            ("list checked", id(info.segment_urls)),
            lambda: [resolve(i) for i in range(len(info.segment_urls))],
        )
        return listed, init, None
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
    parent.budget.charge(1)
    return (_whole_resource(bases, init, timing),), init, None


def _template_init(
    info: SegmentInfo, *, ident: _Ident, bases: tuple[str, ...], parent: Level
) -> InitSegment | None:
    if not info.initialization:
        return None
    template = info.initialization
    if is_data_uri(template):
        return _data_init(template, None, url=parent.scope.url)
    return InitSegment(
        tuple(
            _resolved_pattern(b, template, ident=ident, parent=parent).format(n=0, t=0)
            for b in bases
        )
    )


def _resolved_pattern(base: str, template: str, *, ident: _Ident, parent: Level) -> str:
    """``resolve_url(base, template_pattern(template, ...))``, sharing the resolution.

    When the representation id cannot change a URL's structure (no ``/``, ``?``, ``#``, ``:``
    or dot-segment) and the base holds no ``$``/braces, resolving the template before the id
    and bandwidth are substituted gives the same URL; that resolution is then done once for
    all the representations of an AdaptationSet instead of once each.
    """
    url = parent.scope.url
    rep_id = ident.rep_id
    if (
        _SAFE_ID.fullmatch(rep_id)
        and rep_id.strip(".")
        and "$" not in base
        and "{" not in base
        and "}" not in base
    ):
        pieces = parent.tree.memo(
            ("template url", base, template),
            lambda: compile_template(
                parent.tree.resolve(base, template, manifest_url=url), url=url
            ),
        )
        return fill_template(pieces, rep_id=rep_id, bandwidth=ident.bandwidth)
    pattern = template_pattern(template, rep_id=rep_id, bandwidth=ident.bandwidth, url=url)
    return resolve_url(base, pattern, manifest_url=url)


def _data_init(uri: str, byte_range: ByteRange | None, *, url: str) -> InitSegment:
    """An init segment the MPD carries in a ``data:`` URI (decoded now; nothing to fetch)."""
    data = decode_data_uri(uri, manifest_url=url)
    if byte_range is not None:
        data = data[byte_range.first : byte_range.last + 1]
    return InitSegment((uri.strip(),), data=data)


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
    if is_data_uri(source):
        return _data_init(source, info.init_range, url=url)
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
