r"""CMCD encoding: ``CmcdData`` to the ``CMCD`` query argument or the four ``CMCD-*`` headers.

Sans-I/O. The rules, by section of CTA-5004-B (CMCD v2) unless v1 (CTA-5004, 2020) differs:

- 4.1: ``key=value`` pairs separated by commas, keys sorted alphabetically, a true boolean
  written as the bare key (false ones are not sent), strings in double quotes with ``"``
  and ``\`` escaped, tokens bare, Structured Field syntax (RFC 8941).
- 3.2 / 4.1 item 11: in the query the whole payload is URL-encoded (every byte outside
  ``A-Za-z0-9-._~``); headers are not encoded.
- 3.1 and Table 1: each key travels in its own header (``CMCD-Object``, ``-Request``,
  ``-Status``, ``-Session``); ``pr`` moved from ``CMCD-Session`` (v1) to ``CMCD-Status`` (v2).
- 4.1 item 14 (v2): ``bl``, ``br``, ``mtp``, ``nor`` and ``tb`` are inner lists, each entry
  optionally tagged with its object type (``br=(3000;v)``); v1 sends plain integers.
- Table 1: ``bl``/``dl`` rounded to the nearest 100 ms, ``mtp``/``rtp`` to the nearest
  100 kbps; ``d`` is not sent for ``ot`` ``m``, ``i`` or ``k``; ``pr`` only when not 1.
- ``nor``: v1 sends one URL-encoded relative path and the byte range as ``nrr="a-b"``; v2
  removed ``nrr`` and sends a list of relative paths, each with its range as ``;r="a-b"``.
- ``v``: v2 requires ``v=2``; v1 SHOULD omit the key (a missing ``v`` means version 1).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from urllib.parse import quote, urlsplit, urlunsplit

from player.cmcd._model import CmcdData, ObjectType, TypedValue
from player.errors import PlayerConfigError

__all__ = [
    "CMCD_HEADERS",
    "CMCD_QUERY_PARAM",
    "CMCD_VERSIONS",
    "cmcd_fields",
    "cmcd_header_of",
    "cmcd_headers",
    "cmcd_payload",
    "cmcd_query",
    "strip_cmcd_query",
    "with_cmcd_query",
]

CMCD_QUERY_PARAM = "CMCD"
"""The query argument's name (case-sensitive, CTA-5004-B section 3.2)."""

CMCD_HEADERS = ("CMCD-Object", "CMCD-Request", "CMCD-Session", "CMCD-Status")
"""The four request headers (CTA-5004-B section 3.1)."""

_SHARDS_V1 = {
    **dict.fromkeys(("br", "d", "ot", "tb"), "CMCD-Object"),
    **dict.fromkeys(("bl", "dl", "mtp", "nor", "nrr", "su"), "CMCD-Request"),
    **dict.fromkeys(("bs", "rtp"), "CMCD-Status"),
    **dict.fromkeys(("cid", "pr", "sf", "sid", "st", "v"), "CMCD-Session"),
}
_SHARDS_V2 = {**_SHARDS_V1, "pr": "CMCD-Status"}
_NO_DURATION = frozenset({ObjectType.MANIFEST, ObjectType.INIT, ObjectType.KEY})
_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]*")
CMCD_VERSIONS = (1, 2)
"""The CMCD versions the encoder writes (CTA-5004 and CTA-5004-A/B)."""

Field = tuple[str, str | None]
"""A serialized member: key and value, ``None`` for a true boolean (the bare key)."""


def cmcd_header_of(key: str, *, version: int = 2) -> str:
    """The header a key travels in (custom keys go in ``CMCD-Request``).

    >>> cmcd_header_of("pr", version=1), cmcd_header_of("pr", version=2)
    ('CMCD-Session', 'CMCD-Status')
    """
    shards = _SHARDS_V1 if version == 1 else _SHARDS_V2
    return shards.get(key, "CMCD-Request")


def _round_to(value: float, step: int) -> int:
    """Round half up to a multiple of ``step``: ``_round_to(2049, 100) == 2000``."""
    return int(math.floor(value / step + 0.5)) * step


def _integer(value: int) -> str:
    if abs(value) >= 10**15:
        raise PlayerConfigError(f"CMCD integer {value} exceeds 15 digits")
    return str(value)


def _decimal(value: float) -> str:
    """RFC 8941 section 4.1.5: at most 3 fractional digits, at least one."""
    if not math.isfinite(value) or abs(value) >= 10**12:
        raise PlayerConfigError(f"CMCD decimal {value} cannot be sent")
    text = f"{round(value, 3):.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _token(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise PlayerConfigError(f"CMCD token {value!r} is not a Structured Field token")
    return value


def _list(entries: tuple[TypedValue, ...], scale: Callable[[float], int]) -> str:
    items = []
    for entry in entries:
        tag = "" if entry.object_type is None else f";{_token(entry.object_type.value)}"
        items.append(_integer(scale(entry.value)) + tag)
    return "(" + " ".join(items) + ")"


def _per_type(
    entries: tuple[TypedValue, ...], scale: Callable[[float], int], version: int
) -> str | None:
    if not entries:
        return None
    if version == 1:
        return _integer(scale(entries[0].value))
    return _list(entries, scale)


def _ms(seconds: float) -> int:
    return _round_to(seconds * 1000.0, 1)


def _ms100(seconds: float) -> int:
    return _round_to(seconds * 1000.0, 100)


def _kbps(bps: float) -> int:
    return _round_to(bps / 1000.0, 1)


def _kbps100(bps: float) -> int:
    return _round_to(bps / 1000.0, 100)


def _next_objects(data: CmcdData, version: int) -> list[Field]:
    if not data.next_objects:
        return []
    if version == 1:
        first = data.next_objects[0]
        out: list[Field] = [("nor", _string(quote(first.path, safe="")))]
        if first.range_text is not None:
            out.append(("nrr", _string(first.range_text)))
        return out
    items = []
    for entry in data.next_objects:
        rng = entry.range_text
        items.append(_string(entry.path) + ("" if rng is None else f";r={_string(rng)}"))
    return [("nor", "(" + " ".join(items) + ")")]


def _scalars(data: CmcdData) -> list[Field]:
    out: list[Field] = []
    if data.is_buffer_starved:
        out.append(("bs", None))
    if data.content_id is not None:
        out.append(("cid", _string(data.content_id)))
    if data.object_duration_s is not None and data.object_type not in _NO_DURATION:
        out.append(("d", _integer(_ms(data.object_duration_s))))
    if data.deadline_s is not None:
        out.append(("dl", _integer(_ms100(data.deadline_s))))
    if data.object_type is not None:
        out.append(("ot", _token(data.object_type.value)))
    if data.playback_rate is not None and data.playback_rate != 1.0:
        out.append(("pr", _decimal(data.playback_rate)))
    if data.requested_throughput_bps is not None:
        out.append(("rtp", _integer(_kbps100(data.requested_throughput_bps))))
    if data.streaming_format is not None:
        out.append(("sf", _token(data.streaming_format.value)))
    if data.session_id is not None:
        out.append(("sid", _string(data.session_id)))
    if data.stream_type is not None:
        out.append(("st", _token(data.stream_type.value)))
    if data.is_startup:
        out.append(("su", None))
    return out


def cmcd_fields(
    data: CmcdData, *, version: int = 2, keys: Collection[str] | None = None
) -> list[Field]:
    """Serialize every key ``data`` holds, sorted by key (CTA-5004-B section 4.1).

    Args:
        data: The report.
        version: CMCD version, 1 or 2 (``v=2`` is always sent in v2).
        keys: Send only these keys (``v`` is always sent in v2); ``None`` sends all.

    Returns:
        ``(key, value)`` pairs; the value is ``None`` for a true boolean.

    Raises:
        PlayerConfigError: Unknown version, or a value a Structured Field cannot carry.

    >>> cmcd_fields(CmcdData(session_id="s", is_startup=True), version=1)
    [('sid', '"s"'), ('su', None)]
    """
    if version not in CMCD_VERSIONS:
        raise PlayerConfigError(f"CMCD version must be 1 or 2, got {version}")
    per_type = {
        "bl": _per_type(data.buffer_length_s, _ms100, version),
        "br": _per_type(data.encoded_bitrate_bps, _kbps, version),
        "mtp": _per_type(data.measured_throughput_bps, _kbps100, version),
        "tb": _per_type(data.top_bitrate_bps, _kbps, version),
    }
    out: list[Field] = [(k, v) for k, v in per_type.items() if v is not None]
    out += _scalars(data) + _next_objects(data, version)
    if version != 1:
        out.append(("v", _integer(version)))
    if keys is not None:
        out = [f for f in out if f[0] in keys or (f[0] == "v" and version != 1)]
    return sorted(out)


def _join(fields: list[Field]) -> str:
    return ",".join(key if value is None else f"{key}={value}" for key, value in fields)


def cmcd_payload(data: CmcdData, *, version: int = 2, keys: Collection[str] | None = None) -> str:
    """The payload as ``key=value`` pairs joined by commas, not URL-encoded.

    Args:
        data: The report.
        version: CMCD version, 1 or 2.
        keys: Send only these keys; ``None`` sends all.

    Returns:
        E.g. ``cid="c",ot=m,sid="s",su,v=2``.

    >>> cmcd_payload(CmcdData(content_id="c", session_id="s", is_startup=True))
    'cid="c",sid="s",su,v=2'
    """
    return _join(cmcd_fields(data, version=version, keys=keys))


def cmcd_query(data: CmcdData, *, version: int = 2, keys: Collection[str] | None = None) -> str:
    """The ``CMCD=<URL-encoded payload>`` query argument (``""`` when there is nothing to send).

    Args:
        data: The report.
        version: CMCD version, 1 or 2.
        keys: Send only these keys; ``None`` sends all.

    Returns:
        The argument, without a leading ``?`` or ``&``.

    >>> cmcd_query(CmcdData(session_id="s", is_startup=True), version=1)
    'CMCD=sid%3D%22s%22%2Csu'
    """
    payload = cmcd_payload(data, version=version, keys=keys)
    return f"{CMCD_QUERY_PARAM}={quote(payload, safe='')}" if payload else ""


def cmcd_headers(
    data: CmcdData, *, version: int = 2, keys: Collection[str] | None = None
) -> dict[str, str]:
    """The CMCD request headers, each key in its own header; empty headers are left out.

    Args:
        data: The report.
        version: CMCD version, 1 or 2.
        keys: Send only these keys; ``None`` sends all.

    Returns:
        Header name to value, e.g. ``{"CMCD-Session": 'sid="s",v=2'}``.

    >>> cmcd_headers(CmcdData(session_id="s", playback_rate=0.0))
    {'CMCD-Session': 'sid="s",v=2', 'CMCD-Status': 'pr=0.0'}
    """
    shards: dict[str, list[Field]] = {}
    for key, value in cmcd_fields(data, version=version, keys=keys):
        shards.setdefault(cmcd_header_of(key, version=version), []).append((key, value))
    return {name: _join(shards[name]) for name in CMCD_HEADERS if name in shards}


def _without_cmcd(query: str) -> list[str]:
    return [p for p in query.split("&") if p and p.partition("=")[0] != CMCD_QUERY_PARAM]


def with_cmcd_query(url: str, argument: str) -> str:
    """``url`` with ``argument`` (from :func:`cmcd_query`) as its only ``CMCD`` argument.

    A ``CMCD`` argument already in the URL (a manifest may carry one) is replaced, as
    CTA-5004-B section 5 item 6 asks. Other arguments and their order are kept.

    Args:
        url: An absolute URL.
        argument: ``CMCD=...``, or ``""`` to only remove an existing one.

    Returns:
        The URL to request.

    >>> with_cmcd_query("https://a/s.m4s?t=1&CMCD=old", "CMCD=sid%3D%22s%22")
    'https://a/s.m4s?t=1&CMCD=sid%3D%22s%22'
    """
    parts = urlsplit(url)
    kept = _without_cmcd(parts.query)
    if len(kept) == len([p for p in parts.query.split("&") if p]):
        query = parts.query  # no CMCD argument yet: keep the query exactly as it is
    else:
        query = "&".join(kept)
    if argument:
        query = f"{query}&{argument}" if query else argument
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def strip_cmcd_query(url: str) -> str:
    """``url`` without its ``CMCD`` query argument (what a response's URL is reported as).

    >>> strip_cmcd_query("https://a/s.m4s?CMCD=sid%3D%22s%22")
    'https://a/s.m4s'
    """
    return with_cmcd_query(url, "")
