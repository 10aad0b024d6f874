"""One text segment (or sidecar file) to cues on the presentation timeline, sans-I/O.

``parse_text_segment`` recognises the format from the bytes (a ``WEBVTT`` signature, an XML
document, MP4 boxes with a ``wvtt`` or ``stpp`` sample entry), parses it and places the cues
with the segment's ``TextTiming`` (docs/text.md, "Timing").
"""

from __future__ import annotations

from dataclasses import dataclass

from player.config import TextConfig
from player.errors import TextError, TextParseError
from player.events import Cue
from player.text._mp4 import Box, TextInit, boxes, read_text_init, text_samples
from player.text._store import merge_cues
from player.text._timing import TextTiming, shifted
from player.text._ttml import TtmlDocument, parse_ttml
from player.text._webvtt import WebVttDocument, parse_webvtt, plain_text

__all__ = ["TextSegment", "parse_text_segment", "sniff_format"]

_MP4_TOP = frozenset({b"ftyp", b"styp", b"moof", b"moov", b"sidx", b"free", b"emsg", b"prft"})


@dataclass(frozen=True, slots=True)
class TextSegment:
    """The cues of one text segment, on the presentation timeline.

    Attributes:
        cues: In start order; equal cues that touch are joined.
        format: ``webvtt``, ``ttml``, ``wvtt`` or ``stpp``.
        skipped: Cues left out because their timing was malformed (WebVTT).
        has_timestamp_map: WebVTT with ``X-TIMESTAMP-MAP``.
    """

    cues: tuple[Cue, ...]
    format: str
    skipped: int = 0
    has_timestamp_map: bool = False


def sniff_format(data: bytes, init: bytes = b"") -> str | None:
    r"""``webvtt``, ``ttml``, ``mp4`` or ``None`` (unrecognised).

    >>> sniff_format(b"\xef\xbb\xbfWEBVTT\n"), sniff_format(b"<?xml version='1.0'?><tt/>")
    ('webvtt', 'ttml')
    >>> sniff_format(b"\x00\x00\x00\x18styp"), sniff_format(b"1\n00:00:01,000")
    ('mp4', None)
    """
    head = data[:64].removeprefix(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"WEBVTT"):
        return "webvtt"
    if head.startswith(b"<"):
        return "ttml"
    if data[4:8] in _MP4_TOP or (init and (not data or data[4:8] in _MP4_TOP)):
        return "mp4"
    return None


def parse_text_segment(
    data: bytes,
    *,
    init: bytes,
    timing: TextTiming,
    url: str,
    config: TextConfig,
    is_hls: bool = False,
) -> TextSegment:
    """Parse one text segment or sidecar file and place its cues.

    Args:
        data: The segment's (or file's) bytes.
        init: The text track's init segment (MP4 text), else ``b""``.
        timing: Where the segment's clock lies on the presentation timeline.
        url: Where it came from, named in errors.
        config: Size and count bounds.
        is_hls: HLS subtitles are WebVTT (RFC 8216) or MP4 text: anything else is
            reported as not WebVTT.

    Returns:
        Its cues on the presentation timeline.

    Raises:
        TextParseError: Not a text format, or malformed (see the format's parser).
        UnsupportedText: A text format the SDK does not parse.
    """
    kind = sniff_format(data, init)
    if kind == "webvtt" or (is_hls and kind != "mp4"):
        return _webvtt(parse_webvtt(data, url=url, config=config), timing)
    if kind == "ttml":
        document = parse_ttml(data, url=url, config=config)
        cues = shifted(document.cues, timing.origin_s, open_end_s=timing.clip_end_s)
        return TextSegment(merge_cues(cues), "ttml")
    if kind == "mp4":
        return _mp4(data, init=init, timing=timing, url=url, config=config)
    raise TextParseError(
        f"{url}: not a text format this SDK reads (WebVTT, TTML, MP4 wvtt/stpp): "
        f"starts with {data[:16]!r}",
        url=url,
        detail="unknown text format",
    )


def _webvtt(document: WebVttDocument, timing: TextTiming) -> TextSegment:
    mapping = document.timestamp_map if timing.uses_timestamp_map else None
    offset = (
        timing.origin_s if mapping is None else timing.map_offset_s(mapping.mpegts, mapping.local_s)
    )
    cues = shifted(document.cues, offset)
    return TextSegment(merge_cues(cues), "webvtt", document.skipped, mapping is not None)


def _mp4(
    data: bytes, *, init: bytes, timing: TextTiming, url: str, config: TextConfig
) -> TextSegment:
    track = read_text_init(init or data, url=url)
    found = text_samples(track, data, url=url, max_samples=config.max_cues_per_file)
    scale = track.timescale
    base = found.base_time

    def place(ticks: float) -> float:
        if base is None:  # a progressive file: its timeline starts at the origin
            return timing.origin_s + ticks / scale
        return timing.segment_start_s + (ticks - base) / scale

    regions = _wvtt_regions(track, url=url, config=config)
    cues: list[Cue] = []
    for sample in found.samples:
        start, end = place(sample.time), place(sample.time + sample.duration)
        if end <= start:
            continue
        if track.codec == "wvtt":
            cues.extend(_vtt_sample(sample.data, start, end, regions, url=url, config=config))
        else:
            document = parse_ttml(sample.data, url=url, config=config)
            cues.extend(_ttml_sample(document, start, end, zero=place(0)))
        if len(cues) > config.max_cues_per_file:
            raise TextParseError(
                f"{url}: more than {config.max_cues_per_file} cues",
                url=url,
                detail="too many cues",
            )
    return TextSegment(merge_cues(cues), track.codec)


def _wvtt_regions(
    track: TextInit, *, url: str, config: TextConfig
) -> dict[str, tuple[tuple[str, str], ...]]:
    """``REGION`` definitions of the ``vttC`` header, if it has any."""
    if "REGION" not in track.header:
        return {}
    try:
        header = parse_webvtt(track.header.encode(), url=url, config=config)
    except TextError:
        return {}
    return header.regions or {}


def _ttml_sample(
    document: TtmlDocument, start: float, end: float, *, zero: float
) -> tuple[Cue, ...]:
    """A ``stpp`` sample's cues, clipped to the sample's time.

    Times in the document are on the track's media timeline (ISO/IEC 14496-30, 5.2), so
    media time 0 is at ``zero``. Some packagers write them relative to the sample instead:
    when no cue meets the sample that way but some would counted from the sample's start,
    they are taken as relative.
    """
    absolute = shifted(document.cues, zero, clip=(start, end), open_end_s=end)
    if absolute or not document.cues:
        return absolute
    return shifted(document.cues, start, clip=(start, end), open_end_s=end)


def _vtt_sample(
    data: bytes,
    start: float,
    end: float,
    regions: dict[str, tuple[tuple[str, str], ...]],
    *,
    url: str,
    config: TextConfig,
) -> list[Cue]:
    """The ``vttc`` boxes of one ``wvtt`` sample (``vtte``: no cue), each lasting the sample."""
    cues: list[Cue] = []
    for box in boxes(data, 0, len(data), url=url):
        if box.kind != b"vttc":
            continue
        fields = _vttc_fields(data, box, url=url)
        markup = fields.get(b"payl", "")
        if len(markup) > config.max_cue_chars:
            raise TextParseError(
                f"{url}: a cue at {start:.3f} s has {len(markup)} characters, more than "
                f"{config.max_cue_chars}",
                url=url,
                detail="cue too long",
            )
        settings = _settings(fields.get(b"sttg", ""))
        region = dict(settings).get("region")
        cues.append(
            Cue(
                start_s=start,
                end_s=end,
                text=plain_text(markup),
                format="webvtt",
                id=fields.get(b"iden", ""),
                markup=markup,
                settings=settings,
                region=region,
                region_settings=regions.get(region, ()) if region else (),
            )
        )
    return cues


def _vttc_fields(data: bytes, vttc: Box, *, url: str) -> dict[bytes, str]:
    return {
        child.kind: data[child.body : child.end].decode("utf-8", errors="replace")
        for child in boxes(data, vttc.body, vttc.end, url=url)
        if child.kind in (b"iden", b"sttg", b"payl")
    }


def _settings(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for word in text.split():
        name, found, value = word.partition(":")
        if found and name and value:
            pairs.append((name, value))
    return tuple(pairs)
