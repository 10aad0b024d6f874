"""Reading HLS playlist text: bounds, decoding, and ``m3u8``'s line parser with our tag hook.

``m3u8.loads`` is ``m3u8.parse`` (a line parser that returns plain dicts) plus an object layer.
This module calls ``m3u8.parse`` directly, on text, so nothing is ever fetched. Skipping the
object layer matters for two reasons: it costs about 45 ms per 10,000 segments, and it is where
stock ``m3u8`` rejects playlists that players accept (a ``EXT-X-RENDITION-REPORT`` without
``LAST-MSN``, a ``EXT-X-DATERANGE`` without ``ID``, a ``EXT-X-STREAM-INF`` without
``BANDWIDTH``). A ``custom_tags_parser`` hook takes over the tags that ``m3u8`` handles in a way
that is wrong or unbounded for us:

- ``EXT-X-KEY``: ``m3u8`` de-duplicates keys with a list scan (quadratic with key rotation) and
  keeps only the last of several simultaneous keys; we keep every key of a key set.
- ``EXTINF``: the duration is the leading number (IPTV lists append attributes after it).
- ``EXT-X-TARGETDURATION``: a decimal value is tolerated, as players do.
- ``EXT-X-PROGRAM-DATE-TIME``: an unparsable date is ignored instead of failing the playlist, and
  ``m3u8``'s running date (which counts LL-HLS parts twice) is not used.
- ``EXT-X-PRELOAD-HINT``: every hint is kept (``m3u8`` keeps the last one).
- ``EXT-X-SESSION-KEY``: parsed with our attribute parser.
- ``EXT-X-MAP``: remembers the key in force, which encrypts the init segment.
- ``EXT-X-RENDITION-REPORT`` and ``EXT-X-DATERANGE``: not part of the model, dropped.
- ``EXT-X-TILES`` (image playlists): ``m3u8`` keeps the tags in one playlist-wide list; we keep
  each with the segment it precedes (``tiles``: its attributes), as the tag applies to it.
- ``EXT-X-BITRATE``: ``m3u8`` gives the rate to the next segment only, and fails the playlist
  on a value that is not an integer; the tag applies to every segment until the next one
  (RFC 8216bis 4.4.4.8), so we record where each starts (``bitrates``: ``(index of the next
  segment, kbit/s or None)``), and a malformed value is ignored with a warning.

Plain media playlists, made only of the tags listed in ``_HOOK_TAGS`` and ``_SIMPLE_TAGS``,
take a fast path (``_fast_parse``) that builds the same dictionary as ``m3u8.parse`` with the
hook, without ``m3u8``'s chain of about forty prefix tests per line.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import m3u8

from player.config import ManifestConfig
from player.errors import ManifestError, ManifestParseError, redact_url
from player.manifest._hls_define import substitute_variables

__all__: list[str] = []

_ATTRIBUTE = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("[^"]*"|[^,]*)\s*,?')
_BOM = "\ufeff"
_VARIANT_NUMBERS: dict[str, dict[str, Callable[[str], float]]] = {
    # Attributes m3u8 converts, with its conversion: a value it cannot convert fails the parse.
    "#EXT-X-STREAM-INF": {
        "BANDWIDTH": lambda x: int(float(x)),
        "AVERAGE-BANDWIDTH": int,
        "PROGRAM-ID": int,
        "FRAME-RATE": float,
    },
    "#EXT-X-I-FRAME-STREAM-INF": {"BANDWIDTH": int, "AVERAGE-BANDWIDTH": int, "PROGRAM-ID": int},
    "#EXT-X-IMAGE-STREAM-INF": {"BANDWIDTH": int, "AVERAGE-BANDWIDTH": int, "PROGRAM-ID": int},
}
_RAW_ATTRIBUTE = re.compile(r'([^,="]+)=("[^"]*"|[^,]*)')
log = logging.getLogger(__name__)


def parse_error(url: str, message: str, *, detail: str) -> ManifestParseError:
    """Build the error for a malformed playlist, naming its URL."""
    return ManifestParseError(f"{url}: {message}", url=url, detail=detail)


def parse_attributes(text: str) -> dict[str, str]:
    """Parse an HLS attribute list into ``NAME -> value`` with quotes removed.

    Args:
        text: The part of the tag line after the colon.

    Returns:
        Attribute names upper-cased, values with surrounding double quotes stripped.

    >>> parse_attributes('METHOD=AES-128,URI="k.bin", IV=0x01')
    {'METHOD': 'AES-128', 'URI': 'k.bin', 'IV': '0x01'}
    """
    found: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(text):
        value = match.group(2).strip()
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        found[match.group(1).upper()] = value
    return found


def _variant_problem(tag: str, text: str) -> str | None:
    """What makes a variant tag's numbers unusable (as ``m3u8`` reads them), or ``None``.

    A ``BANDWIDTH`` that is not a number (``"INVALIDBW"``) or is negative makes the variant
    unusable; so does any other number ``m3u8`` converts and cannot.
    """
    casts = _VARIANT_NUMBERS[tag]
    for match in _RAW_ATTRIBUTE.finditer(text):
        name = match.group(1).strip().upper()
        cast = casts.get(name)
        if cast is None:
            continue
        raw = match.group(2)
        try:
            number = cast(raw)
        except (ValueError, OverflowError):
            return f"{name}={raw[:40]} is not a number"
        if name == "BANDWIDTH" and number < 0:
            return f"BANDWIDTH={raw[:40]} is negative"
    return None


def decode_playlist(data: bytes, *, url: str, config: ManifestConfig) -> str:
    """Check the size and the ``#EXTM3U`` header and decode UTF-8 playlist bytes.

    Args:
        data: The playlist bytes.
        url: The playlist URL, named in errors.
        config: Parsing bounds.

    Returns:
        The text, without a byte-order mark.

    Raises:
        ManifestParseError: Too large, not UTF-8, or not an HLS playlist.
    """
    if len(data) > config.max_manifest_bytes:
        raise parse_error(
            url,
            f"playlist is {len(data)} bytes, more than max_manifest_bytes="
            f"{config.max_manifest_bytes}",
            detail="too large",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise parse_error(
            url, f"playlist is not UTF-8 at byte offset {exc.start}", detail="not utf-8"
        ) from exc
    text = text.lstrip(_BOM).lstrip()
    if not text.startswith("#EXTM3U"):
        raise parse_error(url, "playlist does not start with #EXTM3U", detail="no #EXTM3U")
    return text


def _check_counts(text: str, *, url: str, config: ManifestConfig) -> None:
    """Refuse playlists that would expand past the configured bounds, before parsing."""
    segments = max(text.count("#EXTINF"), text.count("#EXT-X-PART:"))
    if segments > config.max_segments:
        raise parse_error(
            url,
            f"{segments} segments or parts, more than max_segments={config.max_segments}",
            detail="too many segments",
        )
    variants = sum(
        text.count(tag)
        for tag in (
            "#EXT-X-STREAM-INF",
            "#EXT-X-MEDIA:",
            "#EXT-X-I-FRAME-STREAM-INF",
            "#EXT-X-IMAGE-STREAM-INF",
        )
    )
    if variants > config.max_representations:
        raise parse_error(
            url,
            f"{variants} variants and renditions, more than max_representations="
            f"{config.max_representations}",
            detail="too many representations",
        )


def _parse_date(value: str) -> datetime | None:
    """Parse an ISO 8601 date, or return ``None`` when it is not one."""
    value = value.strip()
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        pass
    if value[-5:-4] in "+-" and value[-4:].isdigit():  # +0000 without a colon
        try:
            return datetime.fromisoformat(f"{value[:-2]}:{value[-2:]}")
        except ValueError:
            return None
    return None


class TagHook:
    """``m3u8.parse``'s ``custom_tags_parser``: handles the tags listed in the module docstring."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._handlers: dict[str, Any] = {
            "#EXTINF": self._extinf,
            "#EXT-X-PROGRAM-DATE-TIME": self._date,
            "#EXT-X-KEY": self._key,
            "#EXT-X-MAP": self._map,
            "#EXT-X-TARGETDURATION": self._target,
            "#EXT-X-PRELOAD-HINT": self._hint,
            "#EXT-X-SESSION-KEY": self._session_key,
            "#EXT-X-VERSION": self._version,
            "#EXT-X-STREAM-INF": self._variant,
            "#EXT-X-I-FRAME-STREAM-INF": self._variant,
            "#EXT-X-IMAGE-STREAM-INF": self._variant,
            "#EXT-X-TILES": self._tiles,
            "#EXT-X-BITRATE": self._bitrate,
        }

    def __call__(self, line: str, lineno: int, data: dict[str, Any], state: dict[str, Any]) -> bool:
        name, colon, value = line.partition(":")
        handler = self._handlers.get(name) if colon else None
        if handler is not None:
            return bool(handler(name, value, lineno, data, state))
        return line.startswith(("#EXT-X-RENDITION-REPORT", "#EXT-X-DATERANGE"))

    def _date(self, _name: str, value: str, _lineno: int, data: dict[str, Any], state: Any) -> bool:
        when = _parse_date(value)
        if when is not None:
            data.setdefault("program_date_time", when)
            state["program_date_time"] = when
        return True

    def _target(self, _name: str, value: str, lineno: int, data: dict[str, Any], _s: Any) -> bool:
        data["targetduration"] = self._number(value, lineno, "EXT-X-TARGETDURATION")
        return True

    def _hint(self, _name: str, value: str, _lineno: int, data: dict[str, Any], _s: Any) -> bool:
        data.setdefault("preload_hints", []).append(parse_attributes(value))
        return True

    def _session_key(self, _n: str, value: str, _l: int, data: dict[str, Any], _s: Any) -> bool:
        data["session_keys"].append(parse_attributes(value))
        return True

    def _tiles(self, _name: str, value: str, _l: int, _d: Any, state: dict[str, Any]) -> bool:
        """``EXT-X-TILES``: kept with the segment whose URI follows (before or after EXTINF)."""
        state.setdefault("segment", {})["tiles"] = parse_attributes(value)
        return True

    def _bitrate(self, _name: str, value: str, lineno: int, data: dict[str, Any], _s: Any) -> bool:
        """``EXT-X-BITRATE:<kbit/s>``: from the next segment on, until the next such tag."""
        text = value.strip()
        rate = int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else None
        if rate is None:
            log.warning(
                "%s: line %d: ignoring EXT-X-BITRATE:%.40s (not a decimal integer)",
                redact_url(self.url),
                lineno,
                value,
            )
        data.setdefault("bitrates", []).append((len(data["segments"]), rate))
        return True

    def _version(self, _name: str, value: str, lineno: int, data: dict[str, Any], _s: Any) -> bool:
        """``EXT-X-VERSION``; an unreadable one (``NaN``) is ignored, as players do."""
        try:
            data["version"] = int(value.strip())
        except ValueError:
            log.warning(
                "%s: line %d: ignoring EXT-X-VERSION:%.40s", redact_url(self.url), lineno, value
            )
        return True

    def _variant(self, name: str, value: str, lineno: int, data: dict[str, Any], _s: Any) -> bool:
        """Drop (with a warning) a variant whose numbers ``m3u8`` cannot read, else defer to it.

        Returning ``True`` consumes the tag; the URI line of a dropped ``EXT-X-STREAM-INF`` is
        then not expected by ``m3u8`` and is ignored.
        """
        problem = _variant_problem(name, value)
        if problem is None:
            return False
        log.warning(
            "%s: line %d: dropping a variant stream: %s", redact_url(self.url), lineno, problem
        )
        data["dropped_variants"] = data.get("dropped_variants", 0) + 1
        return True

    def _number(self, text: str, lineno: int, tag: str) -> float:
        token = text.strip().split(None, 1)[0] if text.strip() else ""
        try:
            value = float(token)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise parse_error(
                self.url,
                f"line {lineno}: {tag} value {text[:40]!r} is not a number >= 0",
                detail=f"bad {tag}",
            )
        return value

    def _extinf(self, _name: str, value: str, lineno: int, _d: Any, state: dict[str, Any]) -> bool:
        duration, _, title = value.partition(",")
        try:
            number = float(duration)
        except ValueError:
            number = self._number(duration, lineno, "EXTINF")  # "10 tvg-id=..." and the like
        if not 0.0 <= number < math.inf:
            number = self._number(duration, lineno, "EXTINF")  # raises
        segment = state.setdefault("segment", {})
        segment["duration"] = number
        segment["title"] = title
        state["expect_segment"] = True
        return True

    def _key(self, _name: str, value: str, _l: int, data: dict[str, Any], state: Any) -> bool:
        attributes = parse_attributes(value)
        if attributes.get("METHOD", "").upper() == "NONE":
            state["current_key"] = None
            return True
        # Keys of different KEYFORMATs given together (one per key system) form one set; a key
        # of a format already in the set replaces the set.
        count = len(data["segments"])
        current = state.get("current_key")
        keyformat = attributes.get("KEYFORMAT") or "identity"
        if (
            current is not None
            and state.get("key_set_at") == count
            and all((key.get("KEYFORMAT") or "identity") != keyformat for key in current)
        ):
            current.append(attributes)
        else:
            state["current_key"] = [attributes]
            state["key_set_at"] = count
        return True

    def _map(self, _name: str, value: str, _l: int, data: dict[str, Any], state: Any) -> bool:
        attributes = parse_attributes(value)
        section = {
            "uri": attributes.get("URI"),
            "byterange": attributes.get("BYTERANGE"),
            "key": state.get("current_key"),
        }
        state["current_segment_map"] = section
        data["segment_map"].append(section)
        return True


_HOOK_TAGS = frozenset(
    {
        "#EXTINF",
        "#EXT-X-PROGRAM-DATE-TIME",
        "#EXT-X-KEY",
        "#EXT-X-MAP",
        "#EXT-X-TARGETDURATION",
        "#EXT-X-PRELOAD-HINT",
        "#EXT-X-SESSION-KEY",
        "#EXT-X-RENDITION-REPORT",
        "#EXT-X-DATERANGE",
        "#EXT-X-VERSION",
        "#EXT-X-BITRATE",
    }
)


def _simple_value(line: str, cast: Any) -> Any:
    """``m3u8``'s simple-parameter rule: the text after the first colon, stripped, lower-cased."""
    return cast(line.split(":", 1)[1].strip().lower())


def _set_flag(name: str) -> Any:
    def handler(line: str, data: dict[str, Any], state: dict[str, Any]) -> None:
        data[name] = True

    return handler


def _set_state(name: str) -> Any:
    def handler(line: str, data: dict[str, Any], state: dict[str, Any]) -> None:
        state[name] = True

    return handler


def _set_value(name: str, cast: Any) -> Any:
    def handler(line: str, data: dict[str, Any], state: dict[str, Any]) -> None:
        data[name] = _simple_value(line, cast)

    return handler


def _byterange(line: str, data: dict[str, Any], state: dict[str, Any]) -> None:
    state.setdefault("segment", {})["byterange"] = line.replace("#EXT-X-BYTERANGE:", "")
    state["expect_segment"] = True


_SIMPLE_TAGS = {
    "#EXTM3U": lambda line, data, state: None,
    "#EXT-X-BYTERANGE": _byterange,
    "#EXT-X-MEDIA-SEQUENCE": _set_value("media_sequence", int),
    "#EXT-X-DISCONTINUITY-SEQUENCE": _set_value("discontinuity_sequence", int),
    "#EXT-X-PLAYLIST-TYPE": _set_value("playlist_type", str),
    "#EXT-X-ALLOW-CACHE": _set_value("allow_cache", str),
    "#EXT-X-DISCONTINUITY": _set_state("discontinuity"),
    "#EXT-X-GAP": _set_state("gap"),
    "#EXT-X-ENDLIST": _set_flag("is_endlist"),
    "#EXT-X-INDEPENDENT-SEGMENTS": _set_flag("is_independent_segments"),
    "#EXT-X-I-FRAMES-ONLY": _set_flag("is_i_frames_only"),
}
"""Tags the fast path handles the way ``m3u8.parse`` does (same dictionary entries)."""


def _segment_line(line: str, data: dict[str, Any], state: dict[str, Any]) -> None:
    """A segment URI line, as ``m3u8``'s ``_parse_ts_chunk`` records it (the fields we read)."""
    segment = state.pop("segment")
    if state.get("program_date_time"):
        segment["program_date_time"] = state.pop("program_date_time")
    segment["uri"] = line
    segment["discontinuity"] = state.pop("discontinuity", False)
    if state.get("current_key"):
        segment["key"] = state["current_key"]
    if state.get("current_segment_map"):
        segment["init_section"] = state["current_segment_map"]
    segment["gap_tag"] = state.pop("gap", None)
    data["segments"].append(segment)
    state["expect_segment"] = False


def _fast_parse(text: str, hook: TagHook) -> dict[str, Any] | None:
    """Parse a plain media playlist like ``m3u8.parse``, or return ``None`` to defer to it.

    Only the tags of ``_HOOK_TAGS`` and ``_SIMPLE_TAGS`` are handled; any other ``#EXT`` line
    (variants, renditions, LL-HLS parts, ad cues...) makes the caller use ``m3u8.parse``.
    ``tests/player/test_manifest_hls_fast.py`` checks both give the same presentation.
    """
    data: dict[str, Any] = {
        "media_sequence": 0,
        "is_variant": False,
        "is_endlist": False,
        "is_i_frames_only": False,
        "is_independent_segments": False,
        "is_images_only": False,
        "playlist_type": None,
        "playlists": [],
        "segments": [],
        "iframe_playlists": [],
        "image_playlists": [],
        "media": [],
        "keys": [],
        "rendition_reports": [],
        "skip": {},
        "part_inf": {},
        "session_data": [],
        "session_keys": [],
        "segment_map": [],
    }
    state: dict[str, Any] = {"expect_segment": False, "current_key": None}
    for lineno, raw in enumerate(text.strip().splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line[0] != "#":
            if state["expect_segment"]:
                _segment_line(line, data, state)
            continue
        if not line.startswith("#EXT"):
            continue  # a comment
        name, colon, _ = line.partition(":")
        if colon and name in _HOOK_TAGS:
            hook(line, lineno, data, state)
            continue
        handler = _SIMPLE_TAGS.get(name)
        if handler is None:
            return None
        handler(line, data, state)
    if "segment" in state:
        data["segments"].append(state.pop("segment"))
    return data


def scan_playlist(
    data: bytes,
    *,
    url: str,
    config: ManifestConfig,
    fast: bool = True,
    imports: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Parse playlist bytes into ``m3u8.parse``'s dictionary form, within bounds.

    Args:
        data: The playlist bytes.
        url: The playlist URL, named in errors.
        config: Parsing bounds.
        fast: Try the fast path for plain media playlists first (``False``: ``m3u8`` only).
        imports: The multivariant playlist's variables, for ``EXT-X-DEFINE:IMPORT``.

    Returns:
        The dictionary ``m3u8.parse`` builds; ``EXT-X-KEY`` sets are lists of attribute dicts,
        ``preload_hints`` lists every ``EXT-X-PRELOAD-HINT`` and ``variables`` holds the
        playlist's ``EXT-X-DEFINE`` variables (already substituted into the text).

    Raises:
        ManifestParseError: The playlist is malformed or exceeds a bound.
    """
    text = decode_playlist(data, url=url, config=config)
    text, variables = substitute_variables(text, url=url, imports=imports, config=config)
    _check_counts(text, url=url, config=config)
    hook = TagHook(url)
    try:
        parsed = _fast_parse(text, hook) if fast else None
        if parsed is None:
            parsed = m3u8.parse(text, custom_tags_parser=hook)
    except ManifestError:
        raise
    except Exception as exc:  # m3u8 raises ValueError, KeyError, TypeError... on bad input
        raise parse_error(
            url,
            f"malformed HLS playlist ({type(exc).__name__}: {str(exc)[:200]})",
            detail="malformed playlist",
        ) from exc
    parsed["variables"] = variables
    dropped = parsed.get("dropped_variants", 0)
    if dropped and not (
        parsed["playlists"] or parsed["iframe_playlists"] or parsed["image_playlists"]
    ):
        raise parse_error(
            url,
            f"no usable variant stream: all {dropped} have unusable attributes (see the log)",
            detail="no usable variant",
        )
    return parsed
