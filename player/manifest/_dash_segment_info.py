"""Merging a Representation's segment description over the MPD levels (``SegmentInfo``).

``SegmentTemplate``, ``SegmentList`` and ``SegmentBase`` elements of the Period, AdaptationSet
and Representation combine: the innermost kind wins, and outer elements of that kind supply
what the inner ones omit (attributes, ``SegmentTimeline``, ``Initialization``, ``SegmentURL``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from player.manifest._dash_segments import SegmentInfo, TimelineEntry
from player.manifest._dash_tree import ElementIndex
from player.manifest._dash_values import (
    attr_int,
    attr_offset,
    attr_str,
    bad_value,
    parse_byte_range,
)
from player.manifest._model import ByteRange

__all__: list[str] = []

KINDS = ("SegmentTemplate", "SegmentList", "SegmentBase")
_KIND_NAMES = {"SegmentTemplate": "template", "SegmentList": "list", "SegmentBase": "base"}
_FAST_DIGITS = 19
"""Digit strings shorter than this are below 2**64, the largest value ``attr_int`` accepts."""


def merge_segment_info(
    chain: tuple[ET.Element, ...],
    *,
    url: str,
    timelines: dict[int, tuple[TimelineEntry, ...]] | None = None,
    tree: ElementIndex | None = None,
) -> SegmentInfo:
    """Merge the segment description over the levels, innermost winning.

    The kind (template, list, base) is that of the innermost level declaring one; elements
    of that kind further out supply the attributes and children the inner ones omit.

    Args:
        chain: Period, AdaptationSet and Representation elements, outermost first.
        url: Manifest URL, for errors.
        timelines: Cache of parsed timelines by element id, reused across calls.
        tree: Children by name, shared by the calls of one parse.

    Returns:
        The merged description (``kind="none"`` when no level has one).

    Raises:
        ManifestParseError: A value is malformed.
    """
    index = tree or ElementIndex()
    kind = next((k for el in reversed(chain) for k in KINDS if index.find(el, k) is not None), None)
    if kind is None:
        return SegmentInfo(kind="none")
    found = [e for el in reversed(chain) if (e := index.find(el, kind)) is not None]

    def pick(name: str) -> str | None:
        return next((v for e in found if (v := attr_str(e, name)) is not None), None)

    def pick_int(name: str, default: int | None, minimum: int = 0) -> int | None:
        e = next((e for e in found if e.get(name) is not None), None)
        return default if e is None else attr_int(e, name, url=url, minimum=minimum)

    timescale = pick_int("timescale", 1, minimum=1) or 1
    init_el = next((i for e in found if (i := index.find(e, "Initialization")) is not None), None)
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
        timeline=_timeline(
            found, url=url, cache={} if timelines is None else timelines, tree=index
        ),
        init_source=attr_str(init_el, "sourceURL") if init_el is not None else None,
        init_range=init_range,
        has_init=init_el is not None,
        segment_urls=index.memo(
            ("segment urls", *map(id, found)), lambda: _segment_urls(found, url=url)
        ),
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
    found: list[ET.Element],
    *,
    url: str,
    cache: dict[int, tuple[TimelineEntry, ...]],
    tree: ElementIndex,
) -> tuple[TimelineEntry, ...] | None:
    tl = next((t for e in found if (t := tree.find(e, "SegmentTimeline")) is not None), None)
    if tl is None:
        return None
    cached = cache.get(id(tl))
    if cached is not None:
        return cached
    entries = []
    for s in tl.findall("S"):
        d = _s_int(s, "d", url=url)
        if d is None:
            raise bad_value(url, "S", "d", "", "missing")
        entries.append(
            TimelineEntry(_s_int(s, "t", url=url), d, _s_int(s, "r", url=url, minimum=-1) or 0)
        )
    cache[id(tl)] = result = tuple(entries)
    return result


def _s_int(el: ET.Element, name: str, *, url: str, minimum: int = 0) -> int | None:
    """``attr_int`` with a fast path for plain digits (a timeline has one ``<S>`` per run)."""
    raw = el.get(name)
    if raw is not None and len(raw) < _FAST_DIGITS and raw.isascii() and raw.isdigit():
        return int(raw)
    return attr_int(el, name, url=url, minimum=minimum)


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
