"""TTML and IMSC1 (W3C TTML2, IMSC 1.1 text profile) parsed into cues, sans-I/O.

``parse_ttml`` reads one document (a sidecar file, or one ``stpp`` sample) and returns a cue
per timed paragraph (``p``), or per timed ``span`` of a paragraph that has no timing of its
own. Times are seconds on the document's time base (``media``: the track's media timeline);
``player.text._timing`` places them on the presentation timeline.

Timing follows TTML's parallel time containment: ``begin``/``end``/``dur`` of ``body``,
``div``, ``p`` and ``span`` are relative to the parent's begin and clipped to its end; time
expressions are clock times (``hh:mm:ss.fff``, ``hh:mm:ss:ff``) or offsets (``1.5s``,
``500ms``, ``25f``, ``1000t``...) with ``ttp:frameRate``, ``frameRateMultiplier``,
``subFrameRate`` and ``tickRate``. Regions and styles are kept as data on each cue.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

from player.config import TextConfig
from player.errors import TextParseError, UnsupportedText
from player.events import Cue
from player.text._xml import local, namespace, parse_xml

__all__ = ["TtmlDocument", "parse_ttml"]

_XML_NS = "http://www.w3.org/XML/1998/namespace"
_CLOCK = re.compile(r"(\d{1,9}):(\d{2}):(\d{2})(?:(\.\d+)|:(\d{2,})(?:\.(\d+))?)?")
_OFFSET = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|f|t)")
_SPACES = re.compile(r"[ \t\r\n]+")


@dataclass(frozen=True, slots=True)
class TtmlDocument:
    """One parsed TTML document.

    Attributes:
        cues: Timed paragraphs in document order; times in seconds on the document's time
            base, ``end_s`` may be ``math.inf`` (no end in the document: the sample's or
            the file's end applies).
        language: ``xml:lang`` of the root, if given.
    """

    cues: tuple[Cue, ...]
    language: str | None = None


@dataclass(frozen=True, slots=True)
class _Rates:
    """The document's timing parameters (``ttp:`` attributes of the root)."""

    frame_rate: float
    sub_frame_rate: float
    tick_rate: float


@dataclass(slots=True)
class _Context:
    """What a paragraph inherits while the body is walked."""

    begin: float
    end: float
    region: str | None
    style: dict[str, str]
    preserve: bool


def parse_ttml(data: bytes, *, url: str, config: TextConfig) -> TtmlDocument:
    """Parse a TTML document.

    Args:
        data: The document's bytes.
        url: Where it came from, named in errors.
        config: Size, depth and cue bounds.

    Returns:
        The document's cues, times on its own time base.

    Raises:
        TextParseError: Not well-formed XML, a DTD or entities, too large or deep, not a
            ``tt`` document, a malformed time expression, too many or too long cues.
        UnsupportedText: ``ttp:timeBase="clock"`` (wall-clock times).
    """
    root = parse_xml(data, url=url, config=config)
    if local(root.tag) != "tt":
        raise TextParseError(
            f"{url}: not TTML: the root element is <{local(root.tag)}>, not <tt>",
            url=url,
            detail="not ttml",
        )
    rates = _rates(root, url=url)
    styles = _styles(root)
    regions = _regions(root, styles)
    body = next((c for c in root if local(c.tag) == "body"), None)
    cues: list[Cue] = []
    if body is not None:
        top = _Context(0.0, math.inf, None, {}, _preserves(root, False))
        reader = _Reader(url=url, rates=rates, styles=styles, regions=regions, config=config)
        for cue in reader.walk(body, top):
            cues.append(cue)
            if len(cues) > config.max_cues_per_file:
                raise TextParseError(
                    f"{url}: more than {config.max_cues_per_file} cues",
                    url=url,
                    detail="too many cues",
                )
    return TtmlDocument(cues=tuple(cues), language=root.get(f"{{{_XML_NS}}}lang") or None)


def _param(root: ET.Element, name: str) -> str | None:
    for key, value in root.attrib.items():
        if local(key) == name and namespace(key).endswith("#parameter"):
            return value.strip()
    return None


def _number(text: str | None, default: float, *, name: str, url: str) -> float:
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise TextParseError(
            f"{url}: ttp:{name}={text[:40]!r} is not a positive number",
            url=url,
            detail=f"bad {name}",
        )
    return value


def _rates(root: ET.Element, *, url: str) -> _Rates:
    """Frame, sub-frame and tick rates (TTML2 section 7.2 defaults)."""
    base = _param(root, "timeBase")
    if base == "clock":
        raise UnsupportedText(
            f"{url}: ttp:timeBase='clock' (wall-clock times) is not supported",
            url=url,
            detail="clock time base",
        )
    frame_text = _param(root, "frameRate")
    frame_rate = _number(frame_text, 30.0, name="frameRate", url=url)
    multiplier = (_param(root, "frameRateMultiplier") or "1 1").split()
    if len(multiplier) == 2 and all(p.isdigit() and int(p) > 0 for p in multiplier):
        frame_rate *= int(multiplier[0]) / int(multiplier[1])
    sub = _number(_param(root, "subFrameRate"), 1.0, name="subFrameRate", url=url)
    default_ticks = frame_rate * sub if frame_text is not None else 1.0
    ticks = _number(_param(root, "tickRate"), default_ticks, name="tickRate", url=url)
    return _Rates(frame_rate=frame_rate, sub_frame_rate=sub, tick_rate=ticks)


def parse_time(text: str, rates: _Rates) -> float | None:
    """Seconds of a TTML time expression, ``None`` when it is not one.

    >>> r = _Rates(frame_rate=25.0, sub_frame_rate=1.0, tick_rate=10_000_000.0)
    >>> parse_time("00:00:01.500", r), parse_time("00:01:00:05", r), parse_time("2.5s", r)
    (1.5, 60.2, 2.5)
    >>> parse_time("500ms", r), parse_time("50f", r), parse_time("15000000t", r)
    (0.5, 2.0, 1.5)
    """
    text = text.strip()
    clock = _CLOCK.fullmatch(text)
    if clock is not None:
        hours, minutes, seconds, fraction, frames, subframes = clock.groups()
        value = float(int(hours) * 3600 + int(minutes) * 60 + int(seconds))
        if fraction:
            value += float(fraction)
        if frames:
            value += int(frames) / rates.frame_rate
        if subframes:
            value += int(subframes) / (rates.sub_frame_rate * rates.frame_rate)
        return float(value)
    offset = _OFFSET.fullmatch(text)
    if offset is None:
        return None
    count, metric = float(offset.group(1)), offset.group(2)
    scale = {
        "h": 3600.0,
        "m": 60.0,
        "s": 1.0,
        "ms": 0.001,
        "f": 1.0 / rates.frame_rate,
        "t": 1.0 / rates.tick_rate,
    }[metric]
    return count * scale


def _style_attrs(element: ET.Element) -> dict[str, str]:
    """The ``tts:`` attributes of an element, by local name."""
    return {
        local(k): v.strip() for k, v in element.attrib.items() if namespace(k).endswith("#styling")
    }


def _xml_id(element: ET.Element) -> str | None:
    return element.get(f"{{{_XML_NS}}}id") or element.get("id")


def _refs(element: ET.Element) -> list[str]:
    return (element.get("style") or "").split()


def _styles(root: ET.Element) -> dict[str, dict[str, str]]:
    """Every ``head/styling/style`` resolved: id -> its ``tts:`` attributes (refs first)."""
    raw: dict[str, ET.Element] = {}
    for element in root.iter():
        if local(element.tag) == "style" and (style_id := _xml_id(element)):
            raw.setdefault(style_id, element)
    resolved: dict[str, dict[str, str]] = {}

    def resolve(style_id: str, seen: frozenset[str]) -> dict[str, str]:
        if style_id in resolved:
            return resolved[style_id]
        element = raw.get(style_id)
        if element is None or style_id in seen:
            return {}
        out: dict[str, str] = {}
        for ref in _refs(element):
            out.update(resolve(ref, seen | {style_id}))
        out.update(_style_attrs(element))
        resolved[style_id] = out
        return out

    for style_id in raw:
        resolve(style_id, frozenset())
    return resolved


def _regions(
    root: ET.Element, styles: dict[str, dict[str, str]]
) -> dict[str, tuple[tuple[str, str], ...]]:
    """Every ``region``: id -> referenced styles, nested ``style`` children, own ``tts:``."""
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    for element in root.iter():
        if local(element.tag) != "region" or not (region_id := _xml_id(element)):
            continue
        attrs: dict[str, str] = {}
        for ref in _refs(element):
            attrs.update(styles.get(ref, {}))
        for child in element:
            if local(child.tag) == "style":
                attrs.update(_style_attrs(child))
        attrs.update(_style_attrs(element))
        out.setdefault(region_id, tuple(sorted(attrs.items())))
    return out


def _preserves(element: ET.Element, inherited: bool) -> bool:
    space = element.get(f"{{{_XML_NS}}}space")
    return inherited if space is None else space == "preserve"


class _Reader:
    """Walks ``body`` with timing, region and style inheritance, yielding cues."""

    def __init__(
        self,
        *,
        url: str,
        rates: _Rates,
        styles: dict[str, dict[str, str]],
        regions: dict[str, tuple[tuple[str, str], ...]],
        config: TextConfig,
    ) -> None:
        self.url = url
        self.rates = rates
        self.styles = styles
        self.regions = regions
        self.config = config

    def _time(self, element: ET.Element, name: str) -> float | None:
        text = element.get(name)
        if text is None:
            return None
        value = parse_time(text, self.rates)
        if value is None:
            raise TextParseError(
                f"{self.url}: <{local(element.tag)}> {name}={text[:40]!r} is not a TTML time "
                "expression",
                url=self.url,
                detail="bad time expression",
            )
        return value

    def _has_timing(self, element: ET.Element) -> bool:
        return any(element.get(name) is not None for name in ("begin", "end", "dur"))

    def context(self, element: ET.Element, parent: _Context) -> _Context:
        """The interval, region, style and spacing ``element`` passes to its children."""
        begin = parent.begin + (self._time(element, "begin") or 0.0)
        end = parent.end
        own_end, duration = self._time(element, "end"), self._time(element, "dur")
        if own_end is not None:
            end = min(end, parent.begin + own_end)
        if duration is not None:
            end = min(end, begin + duration)
        style = dict(parent.style)
        for ref in _refs(element):
            style.update(self.styles.get(ref, {}))
        style.update(_style_attrs(element))
        return _Context(
            begin=begin,
            end=end,
            region=element.get("region") or parent.region,
            style=style,
            preserve=_preserves(element, parent.preserve),
        )

    def walk(self, element: ET.Element, parent: _Context) -> Iterator[Cue]:
        """Cues of ``element`` and its descendants (``body`` and ``div`` recurse)."""
        context = self.context(element, parent)
        for child in element:
            name = local(child.tag)
            if name == "div":
                yield from self.walk(child, context)
            elif name == "p":
                yield from self.paragraph(child, context, timed=self._timed(element, context))

    def _timed(self, element: ET.Element, context: _Context) -> bool:
        """Whether an ancestor (or ``element``) gave a time interval."""
        return context.begin > 0 or math.isfinite(context.end) or self._has_timing(element)

    def paragraph(self, element: ET.Element, parent: _Context, *, timed: bool) -> Iterator[Cue]:
        """One cue for a timed paragraph, else one per timed span inside it."""
        context = self.context(element, parent)
        if timed or self._has_timing(element):
            yield from self._cue(element, context, element)
            return
        spans = [s for s in element.iter() if local(s.tag) == "span" and self._has_timing(s)]
        if not spans:
            yield from self._cue(element, context, element)
        for span in spans:
            yield from self._cue(span, self.context(span, context), element)

    def _cue(self, element: ET.Element, context: _Context, paragraph: ET.Element) -> Iterator[Cue]:
        if context.end <= context.begin:
            return
        text = _text(element, context.preserve)
        if not text.strip():
            return
        if len(text) > self.config.max_cue_chars:
            raise TextParseError(
                f"{self.url}: a paragraph at {context.begin:.3f} s has {len(text)} characters, "
                f"more than {self.config.max_cue_chars}",
                url=self.url,
                detail="cue too long",
            )
        region = context.region or next(
            (s.get("region") for s in paragraph.iter() if s.get("region")), None
        )
        region_settings = self.regions.get(region, ()) if region else ()
        style = {**dict(region_settings), **context.style} if region_settings else context.style
        yield Cue(
            start_s=context.begin,
            end_s=context.end,
            text=text,
            format="ttml",
            id=_xml_id(paragraph) or "",
            region=region,
            region_settings=region_settings,
            style=tuple(sorted(style.items())),
        )


def _text(element: ET.Element, preserve: bool) -> str:
    """The paragraph's text: ``br`` is a line break, whitespace collapsed unless preserved."""
    parts: list[str] = []

    def visit(node: ET.Element, keep: bool) -> None:
        if node.text:
            parts.append(node.text if keep else _SPACES.sub(" ", node.text))
        for child in node:
            name = local(child.tag)
            if name == "br":
                parts.append("\n")
            elif name in ("span", "p"):
                visit(child, _preserves(child, keep))
            if child.tail:
                parts.append(child.tail if keep else _SPACES.sub(" ", child.tail))

    visit(element, preserve)
    joined = "".join(parts)
    if preserve:
        return joined.strip("\n")
    return "\n".join(line.strip() for line in joined.split("\n")).strip()
