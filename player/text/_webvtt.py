"""WebVTT (W3C WebVTT, RFC 8216 section 3.5 for HLS) parsed into cues, sans-I/O.

``parse_webvtt`` reads one file or segment and returns its cues with their times *as
written* (seconds on the file's own clock) plus the HLS ``X-TIMESTAMP-MAP``; placing them on
the presentation timeline is ``player.text._timing``'s job.

It follows the WebVTT parsing rules where they matter to a player: a file must start with
the ``WEBVTT`` signature; ``NOTE``, ``STYLE`` and ``REGION`` blocks are recognised; a cue
whose timing line is malformed (or ends before it starts) is skipped and counted, as
browsers do, rather than failing the file.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from player.config import TextConfig
from player.errors import TextParseError
from player.events import Cue

__all__ = ["TimestampMap", "WebVttDocument", "parse_webvtt"]

_TIMESTAMP = re.compile(r"(?:(\d{1,9}):)?([0-5]\d):([0-5]\d)\.(\d{3})")
_TIMING = re.compile(
    r"^\s*(?P<start>\S+)\s+-->\s+(?P<end>\S+)(?P<settings>(?:[ \t]+.*)?)$",
)
_TAG = re.compile(r"<[^>]*>")
_SIGNATURE = re.compile(r"^WEBVTT(?:[ \t].*)?$")
_BLANK = re.compile(r"\r\n|\r|\n")
_MPEGTS_MAX = 1 << 33


@dataclass(frozen=True, slots=True)
class TimestampMap:
    """The HLS ``X-TIMESTAMP-MAP`` header: a cue time and the media timestamp it matches.

    Attributes:
        mpegts: ``MPEGTS``: a 90 kHz media timestamp (33 bits, as in MPEG-2 PES headers).
        local_s: ``LOCAL``: the cue time, in seconds, that plays at ``mpegts``.
    """

    mpegts: int
    local_s: float


@dataclass(frozen=True, slots=True)
class WebVttDocument:
    """One parsed WebVTT file.

    Attributes:
        cues: The cues in file order, times in seconds on the file's own clock.
        timestamp_map: ``X-TIMESTAMP-MAP``, if the header has one.
        regions: ``REGION`` definitions: id -> ``(name, value)`` settings.
        styles: The CSS text of each ``STYLE`` block, in order.
        skipped: Cue blocks skipped for a malformed timing line or an end before the start.
    """

    cues: tuple[Cue, ...]
    timestamp_map: TimestampMap | None = None
    regions: dict[str, tuple[tuple[str, str], ...]] | None = None
    styles: tuple[str, ...] = ()
    skipped: int = 0


def parse_timestamp(text: str) -> float | None:
    """Seconds of a WebVTT timestamp (``hh:mm:ss.ttt`` or ``mm:ss.ttt``), else ``None``.

    >>> parse_timestamp("01:02:03.004"), parse_timestamp("02:03.500"), parse_timestamp("2.5")
    (3723.004, 123.5, None)
    """
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    hours, minutes, seconds, millis = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def plain_text(markup: str) -> str:
    """Cue text without tags, with entities decoded (``<i>a</i> &amp; b`` -> ``a & b``).

    >>> plain_text("<v Bob>Hi <i>there</i></v> &amp; &lt;3")
    'Hi there & <3'
    """
    return html.unescape(_TAG.sub("", markup))


def parse_webvtt(data: bytes, *, url: str, config: TextConfig) -> WebVttDocument:
    """Parse a WebVTT file or segment.

    Args:
        data: The file's bytes (UTF-8, optional BOM; invalid bytes are replaced).
        url: Where it came from, named in errors.
        config: Size bounds.

    Returns:
        The document: cues with times as written, the timestamp map, regions, styles.

    Raises:
        TextParseError: Not WebVTT (no ``WEBVTT`` signature), larger than
            ``config.max_text_bytes``, more cues than ``config.max_cues_per_file``, a cue
            longer than ``config.max_cue_chars``, or a malformed ``X-TIMESTAMP-MAP``.
    """
    _check_size(data, url=url, config=config)
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    blocks = _blocks(text)
    if not blocks or not _SIGNATURE.match(blocks[0][0]):
        head = text[:20].splitlines()[0] if text else ""
        raise TextParseError(
            f"{url}: not WebVTT: the file must start with 'WEBVTT', found {head!r}",
            url=url,
            detail="no webvtt signature",
        )
    timestamp_map = _header_map(blocks[0][1:], url=url)
    cues: list[Cue] = []
    regions: dict[str, tuple[tuple[str, str], ...]] = {}
    styles: list[str] = []
    skipped = 0
    for block in blocks[1:]:
        first = block[0]
        if first.startswith("NOTE") and (len(first) == 4 or first[4] in " \t"):
            continue
        if first.strip() == "STYLE" and "-->" not in "".join(block):
            styles.append("\n".join(block[1:]))
            continue
        if first.strip() == "REGION" and "-->" not in "".join(block):
            region = _settings(" ".join(block[1:]), separator=":")
            region_id = dict(region).get("id")
            if region_id:
                regions[region_id] = tuple(p for p in region if p[0] != "id")
            continue
        cue = _cue(block, regions, url=url, config=config)
        if cue is None:
            skipped += 1
            continue
        cues.append(cue)
        if len(cues) > config.max_cues_per_file:
            raise TextParseError(
                f"{url}: more than {config.max_cues_per_file} cues",
                url=url,
                detail="too many cues",
            )
    return WebVttDocument(
        cues=tuple(cues),
        timestamp_map=timestamp_map,
        regions=regions or None,
        styles=tuple(styles),
        skipped=skipped,
    )


def _check_size(data: bytes, *, url: str, config: TextConfig) -> None:
    if len(data) > config.max_text_bytes:
        raise TextParseError(
            f"{url}: text file is {len(data)} bytes, more than the {config.max_text_bytes} allowed",
            url=url,
            detail="text too large",
        )


def _blocks(text: str) -> list[list[str]]:
    """Split into blocks of non-empty lines (blank lines separate blocks)."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in _BLANK.split(text):
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _header_map(lines: list[str], *, url: str) -> TimestampMap | None:
    """``X-TIMESTAMP-MAP=MPEGTS:n,LOCAL:hh:mm:ss.ttt`` (either order) from the header."""
    for line in lines:
        if "-->" in line:
            break
        if not line.startswith("X-TIMESTAMP-MAP="):
            continue
        values = dict(
            part.split(":", 1)
            for part in line.removeprefix("X-TIMESTAMP-MAP=").split(",")
            if ":" in part
        )
        mpegts_text = values.get("MPEGTS", "").strip()
        local = parse_timestamp(values.get("LOCAL", "").strip())
        if not mpegts_text.isdigit() or local is None or int(mpegts_text) >= _MPEGTS_MAX:
            raise TextParseError(
                f"{url}: malformed X-TIMESTAMP-MAP {line[:120]!r} (want "
                "MPEGTS:<33-bit 90 kHz ticks>,LOCAL:<hh:mm:ss.ttt>)",
                url=url,
                detail="bad timestamp map",
            )
        return TimestampMap(mpegts=int(mpegts_text), local_s=local)
    return None


def _settings(text: str, *, separator: str) -> tuple[tuple[str, str], ...]:
    """``name:value`` (or ``name=value`` in regions) words as pairs; other words ignored."""
    pairs: list[tuple[str, str]] = []
    for word in text.split():
        for sep in (separator, "=", ":"):
            name, found, value = word.partition(sep)
            if found and name and value:
                pairs.append((name, value))
                break
    return tuple(pairs)


def _cue(
    block: list[str],
    regions: dict[str, tuple[tuple[str, str], ...]],
    *,
    url: str,
    config: TextConfig,
) -> Cue | None:
    """The cue of one block, or ``None`` when its timing line is malformed."""
    cue_id = ""
    lines = block
    if "-->" not in lines[0]:
        cue_id, lines = lines[0].strip(), lines[1:]
    if not lines:
        return None
    match = _TIMING.match(lines[0])
    if match is None:
        return None
    start = parse_timestamp(match.group("start"))
    end = parse_timestamp(match.group("end"))
    if start is None or end is None or end <= start:
        return None
    markup = "\n".join(lines[1:])
    if len(markup) > config.max_cue_chars:
        raise TextParseError(
            f"{url}: a cue at {start:.3f} s has {len(markup)} characters, more than "
            f"{config.max_cue_chars}",
            url=url,
            detail="cue too long",
        )
    settings = _settings(match.group("settings"), separator=":")
    region = dict(settings).get("region")
    return Cue(
        start_s=start,
        end_s=end,
        text=plain_text(markup),
        format="webvtt",
        id=cue_id,
        markup=markup,
        settings=settings,
        region=region,
        region_settings=regions.get(region, ()) if region else (),
    )
