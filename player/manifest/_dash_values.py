"""Typed, tolerant readers for MPD attribute values (numbers, durations, dates, ranges).

Real MPDs write floats where the schema wants integers (``duration="2000000.0"``) and
ISO 8601 durations with fractions; both are accepted. Anything unusable raises
``ManifestParseError`` naming the manifest URL, the element and the attribute.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from player.errors import ManifestParseError
from player.manifest._model import ByteRange

__all__: list[str] = []

_INT = re.compile(r"[+-]?\d{1,30}")
_DURATION = re.compile(
    r"(?P<sign>-)?P(?:(?P<Y>\d+(?:[.,]\d+)?)Y)?(?:(?P<Mo>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<W>\d+(?:[.,]\d+)?)W)?(?:(?P<D>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?:(?P<H>\d+(?:[.,]\d+)?)H)?(?:(?P<Mi>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<S>\d+(?:[.,]\d+)?)S)?)?"
)
_DURATION_UNITS_S = {
    "Y": 365 * 86400.0,
    "Mo": 30 * 86400.0,
    "W": 7 * 86400.0,
    "D": 86400.0,
    "H": 3600.0,
    "Mi": 60.0,
    "S": 1.0,
}
_RANGE = re.compile(r"\s*(\d{1,20})\s*-\s*(\d{1,20})\s*")
_UNSIGNED_LONG_MAX = 2**64
_FRACTION_DIGITS = 6
_MAX_TIME_TEXT = 64
"""Longest duration or date text read; real ones have under 40 characters (bounds regex work)."""


def bad_value(url: str, element: str, name: str, value: str, why: str) -> ManifestParseError:
    """Build the error for an unusable attribute value.

    Args:
        url: Manifest URL.
        element: Element name.
        name: Attribute name.
        value: The offending value (shortened in the message).
        why: What is wrong with it.

    Returns:
        The error, for the caller to raise.
    """
    return ManifestParseError(
        f"{url}: {element}@{name}={value[:80]!r}: {why}",
        url=url,
        detail=f"bad {element}@{name}: {why}",
    )


def attr_str(el: ET.Element, name: str) -> str | None:
    """Return an attribute with surrounding white space removed, or ``None``."""
    value = el.get(name)
    return None if value is None else value.strip()


def attr_int(el: ET.Element, name: str, *, url: str, minimum: int = 0) -> int | None:
    """Read an integer attribute, accepting integral floats such as ``2000000.0``.

    Args:
        el: The element.
        name: Attribute name.
        url: Manifest URL, for errors.
        minimum: Smallest value accepted.

    Returns:
        The value, or ``None`` when the attribute is absent.

    Raises:
        ManifestParseError: Not a number, not finite, out of range.
    """
    raw = attr_str(el, name)
    if raw is None:
        return None
    if _INT.fullmatch(raw):
        value = int(raw)
    else:
        number = _to_float(raw)
        if number is None or not math.isfinite(number):
            raise bad_value(url, el.tag, name, raw, "not an integer")
        value = round(number)
    if value < minimum or value > _UNSIGNED_LONG_MAX:
        raise bad_value(url, el.tag, name, raw, "out of range")
    return value


def attr_float(el: ET.Element, name: str, *, url: str) -> float | None:
    """Read a finite float attribute (``INF`` is refused); ``None`` when absent.

    Raises:
        ManifestParseError: Not a finite number.
    """
    raw = attr_str(el, name)
    if raw is None:
        return None
    number = _to_float(raw)
    if number is None or not math.isfinite(number):
        raise bad_value(url, el.tag, name, raw, "not a finite number")
    return number


def attr_offset(el: ET.Element, *, url: str) -> float:
    """Read ``availabilityTimeOffset`` in seconds: ``INF`` is infinite, absent is 0.

    Raises:
        ManifestParseError: Neither a finite number nor ``INF``.
    """
    raw = attr_str(el, "availabilityTimeOffset")
    if raw is not None and raw.upper() == "INF":
        return math.inf
    return attr_float(el, "availabilityTimeOffset", url=url) or 0.0


def attr_bool(el: ET.Element, name: str) -> bool | None:
    """Read an ``xs:boolean`` (``true``/``false``/``1``/``0``); unknown spellings give ``None``."""
    raw = attr_str(el, name)
    if raw is None:
        return None
    return {"true": True, "1": True, "false": False, "0": False}.get(raw.lower())


def attr_duration(el: ET.Element, name: str, *, url: str) -> float | None:
    """Read an ``xs:duration`` attribute in seconds; ``None`` when absent.

    Raises:
        ManifestParseError: Not a non-negative ISO 8601 duration.
    """
    raw = attr_str(el, name)
    if raw is None:
        return None
    value = parse_duration(raw)
    if value is None:
        raise bad_value(url, el.tag, name, raw, "not a non-negative ISO 8601 duration")
    return value


def parse_duration(text: str) -> float | None:
    """Convert an ISO 8601 duration to seconds (years are 365 days, months 30).

    Plain numbers are read as seconds, as some packagers write them.

    >>> parse_duration("PT1H2M3.5S")
    3723.5
    >>> parse_duration("P1DT0.25S")
    86400.25

    Args:
        text: The duration text.

    Returns:
        Seconds, or ``None`` if the text is not a finite, non-negative duration.
    """
    if len(text) > _MAX_TIME_TEXT:
        return None
    match = _DURATION.fullmatch(text.strip())
    if match is None or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        number = _to_float(text)
        return number if number is not None and math.isfinite(number) and number >= 0 else None
    if match.group("sign"):
        return None
    total = 0.0
    for unit, seconds in _DURATION_UNITS_S.items():
        part = match.group(unit)
        if part:
            total += float(part.replace(",", ".")) * seconds
    return total if math.isfinite(total) else None


def attr_datetime(el: ET.Element, name: str, *, url: str) -> float | None:
    """Read an ``xs:dateTime`` as UTC epoch seconds (no zone means UTC); ``None`` if absent.

    Raises:
        ManifestParseError: Not a date and time.
    """
    raw = attr_str(el, name)
    if raw is None:
        return None
    value = parse_datetime(raw)
    if value is None:
        raise bad_value(url, el.tag, name, raw, "not an ISO 8601 date and time")
    return value


def parse_datetime(text: str) -> float | None:
    """Convert an ISO 8601 date and time to UTC epoch seconds, ``None`` if unreadable.

    >>> parse_datetime("1970-01-01T00:01:00.5Z")
    60.5
    """
    text = text.strip()
    if len(text) > _MAX_TIME_TEXT:
        return None
    head, dot, tail = text.partition(".")
    if dot:  # more than microsecond precision: keep six digits, keep any zone suffix
        digits = len(tail) - len(tail.lstrip("0123456789"))
        tail = tail[:_FRACTION_DIGITS] + tail[digits:] if digits > _FRACTION_DIGITS else tail
        text = f"{head}.{tail}"
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def parse_byte_range(text: str, *, url: str, element: str, name: str) -> ByteRange:
    """Parse ``first-last`` into an inclusive ``ByteRange``.

    Raises:
        ManifestParseError: Not two offsets, or ``last`` before ``first``.
    """
    match = _RANGE.fullmatch(text)
    if match is None:
        raise bad_value(url, element, name, text, "not a byte range 'first-last'")
    first, last = int(match.group(1)), int(match.group(2))
    if last < first:
        raise bad_value(url, element, name, text, "range ends before it starts")
    return ByteRange(first, last)


def parse_frame_rate(text: str | None) -> float | None:
    """Read ``30``, ``29.97`` or ``30000/1001`` as frames per second; ``None`` if unusable."""
    if not text:
        return None
    num, _, den = text.strip().partition("/")
    top, bottom = _to_float(num), _to_float(den) if den else 1.0
    if top is None or bottom is None or bottom == 0:
        return None
    rate = top / bottom
    return rate if math.isfinite(rate) and rate > 0 else None


def _to_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
