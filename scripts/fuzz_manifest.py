"""The manifest parsers' fuzz targets (imported by scripts/fuzz.py, which runs them).

Every target may raise only ``player.errors.ManifestError`` subclasses, and it reads back what
a session or a report reads (JSON form, summary, refresh time, KIDs, the first, last and a
middle segment of every index, lookups by number and time), so a computed index that breaks
when it is read counts as an escape too. Seeds are the shared corpus's manifests under 20 kB
(``../shared/corpus/manifests``) plus the hostile shapes of issue 11 (the amplification MPD,
huge repeats, EXT-X-DEFINE expansion). Half of the cases use a manifest-aware mutator: lines
repeated thousands of times, numbers replaced by extreme values, attribute values replaced by
hostile ones (other schemes, ``data:``, variable references), elements and tags inserted.

Run: ``python scripts/fuzz.py --targets manifest.entry,manifest.dash,manifest.hls_multivariant,\
manifest.hls_media`` (100,000 cases each by default).
"""

from __future__ import annotations

import functools
import logging
import random
import re

from fuzz import ROOT, register

from player.errors import ManifestError
from player.manifest import (
    Presentation,
    SegmentRuns,
    load_media_playlist,
    parse_dash,
    parse_hls,
    parse_manifest,
)

CORPUS = ROOT.parent / "shared" / "corpus" / "manifests"
URL = "https://cdn.example.com/fuzz/manifest?token=abc"
NOW = 1_700_000_000.0
ALLOWED = (ManifestError,)
logging.disable(logging.WARNING)  # tolerated quirks warn; thousands of cases would flood

AMPLIFICATION_MPD = b"""<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic"
     availabilityStartTime="2000-01-01T00:00:00Z" publishTime="2023-11-14T22:13:20Z"
     minimumUpdatePeriod="PT2S" timeShiftBufferDepth="P3650D" minBufferTime="PT2S">
  <Period id="0" start="PT0S">
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4">
      <SegmentTemplate timescale="1" duration="1" startNumber="1"
          initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/$Number$.m4s"/>
      <Representation id="v1" bandwidth="400000" width="640" height="360"/>
      <Representation id="v2" bandwidth="800000" width="960" height="540"/>
    </AdaptationSet>
  </Period>
</MPD>
"""
TIMELINE_MPD = b"""<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"
     mediaPresentationDuration="PT1H"><Period><AdaptationSet mimeType="audio/mp4">
  <SegmentList timescale="1000" duration="2000"><SegmentURL media="a.m4s"/>
    <SegmentURL media="b.m4s" mediaRange="0-99"/></SegmentList>
  <SegmentTemplate timescale="1000" media="$Time$.m4s"><SegmentTimeline>
    <S t="0" d="2000" r="1000000000"/><S d="1999" r="-1"/></SegmentTimeline></SegmentTemplate>
  <Representation id="a" bandwidth="1"/><Representation id="b" bandwidth="2"/>
</AdaptationSet></Period></MPD>
"""
DEFINE_MULTIVARIANT = b"""#EXTM3U
#EXT-X-DEFINE:NAME="auth",VALUE="?t=1"
#EXT-X-DEFINE:QUERYPARAM="token"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio.m3u8{$auth}"
#EXT-X-STREAM-INF:BANDWIDTH=800000,AUDIO="a",CODECS="avc1.64001f,mp4a.40.2"
video.m3u8{$auth}&x={$token}
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH="INVALIDBW",URI="iframe.m3u8"
"""
DEFINE_MEDIA = b"""#EXTM3U
#EXT-X-VERSION:NaN
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:10
#EXT-X-DEFINE:IMPORT="auth"
#EXT-X-DEFINE:NAME="k",VALUE="key1"
#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example.com/{$k}",IV=0x0102
#EXT-X-MAP:URI="data:video/mp4;base64,AAAAGGZ0eXBpc281"
#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20Z
#EXTINF:4,
seg10.m4s{$auth}
#EXTINF:4,
seg11.m4s{$auth}
#EXT-X-PART:DURATION=1,URI="p12.mp4",BYTERANGE="1949@0"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p12b.mp4"
"""


@functools.cache
def _corpus(suffix: str) -> list[bytes]:
    files = sorted(p for p in CORPUS.glob(f"*/*{suffix}") if p.stat().st_size < 20_000)
    return [p.read_bytes() for p in files]


def _hls_seeds() -> list[bytes]:
    return [*_corpus(".m3u8"), DEFINE_MULTIVARIANT, DEFINE_MEDIA]


def _dash_seeds() -> list[bytes]:
    return [*_corpus(".mpd"), AMPLIFICATION_MPD, TIMELINE_MPD]


def _all_seeds() -> list[bytes]:
    return [*_hls_seeds(), *_dash_seeds()]


def _multivariant_seeds() -> list[bytes]:
    return [s for s in _hls_seeds() if b"#EXT-X-STREAM-INF" in s or b"#EXT-X-MEDIA:" in s]


def _media_seeds() -> list[bytes]:
    return [s for s in _hls_seeds() if b"#EXTINF" in s]


# --- reading back what a session reads --------------------------------------------------------


def exercise(p: Presentation) -> None:
    """Read the presentation as a session and a report would (escapes surface here too)."""
    read: list[object] = [p.to_json(), p.summary(), p.next_refresh_at(NOW), p.kids]
    reps = list(p.representations())
    for rep in reps[:20] + reps[20:][-20:]:
        segs = rep.segments
        if not segs:
            continue
        middle = segs[len(segs) // 2]
        read += [segs[0], segs[-1], rep.init.url if rep.init is not None else None]
        if isinstance(segs, SegmentRuns):
            read += [segs.index_of_number(middle.number), segs.segment_at(middle.start_s)]
            read += [segs[1:][:3], segs.total_duration_s]


# --- a manifest-aware mutator ------------------------------------------------------------------

_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?")
_QUOTED = re.compile(rb'"[^"\n]*"')
_ELEMENT = re.compile(rb"<(S|SegmentURL|Representation|BaseURL|AdaptationSet|Period)\b[^>]*/?>")
_EXTREMES = (
    b"0",
    b"-1",
    b"1",
    b"4294967296",
    b"18446744073709551617",
    b"9" * 40,
    b"1e308",
    b"nan",
    b"inf",
    b"0.0000001",
)
_VALUES = (
    b'"file:///etc/passwd"',
    b'"data:video/mp4;base64,AAAA"',
    b'"data:,x"',
    b'"{$undefined}"',
    b'"{$auth}{$auth}{$auth}"',
    b'"//other.example.com/a"',
    b'"../../../../a"',
    b'""',
    b'"' + b"a" * 9000 + b'"',
    b'"P3650D"',
    b'"PT0.001S"',
)
_LINES = (
    b'#EXT-X-DEFINE:NAME="auth",VALUE="?x=' + b"y" * 2000 + b'"',
    b'#EXT-X-DEFINE:QUERYPARAM="token"',
    b'#EXT-X-DEFINE:IMPORT="auth"',
    b"#EXT-X-STREAM-INF:BANDWIDTH=INVALIDBW",
    b'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="x",URI="a.m3u8"',
    b'#EXT-X-KEY:METHOD=AES-128,URI="k",IV=0x{$iv}',
    b'#EXT-X-PART:DURATION=1,URI="p.mp4",BYTERANGE="10@0"',
    b'<S d="1" r="1000000000000"/>',
    b'<SegmentTemplate duration="1" media="$Number$"/>',
    b'<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" default_KID="aaa"/>',
)


def mutate_manifest(seed: bytes, rng: random.Random) -> bytes:
    """Return ``seed`` with 1 to 3 manifest-aware mutations."""
    data = seed
    for _ in range(rng.choice((1, 1, 2, 3))):
        data = _MUTATIONS[rng.randrange(len(_MUTATIONS))](data, rng)
    return data


def _repeat_line(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    at = rng.randrange(len(lines))
    lines[at:at] = [lines[at]] * rng.choice((2, 3, 10, 50, 200, 1000))
    return b"\n".join(lines)


def _repeat_element(data: bytes, rng: random.Random) -> bytes:
    found = list(_ELEMENT.finditer(data))
    if not found:
        return _repeat_line(data, rng)
    match = rng.choice(found)
    return (
        data[: match.end()]
        + match.group(0) * rng.choice((2, 3, 10, 50, 200, 1000))
        + data[match.end() :]
    )


def _replace(pattern: re.Pattern[bytes], choices: tuple[bytes, ...]) -> object:
    def mutation(data: bytes, rng: random.Random) -> bytes:
        found = list(pattern.finditer(data))
        if not found:
            return data
        match = rng.choice(found)
        return data[: match.start()] + rng.choice(choices) + data[match.end() :]

    return mutation


def _insert_line(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    lines.insert(rng.randrange(len(lines) + 1), rng.choice(_LINES))
    return b"\n".join(lines)


def _drop_line(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    del lines[rng.randrange(len(lines))]
    return b"\n".join(lines)


def _swap_lines(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


_MUTATIONS = (
    _repeat_line,
    _repeat_element,
    _replace(_NUMBER, _EXTREMES),
    _replace(_QUOTED, _VALUES),
    _insert_line,
    _drop_line,
    _swap_lines,
)


# --- the targets -------------------------------------------------------------------------------


@register("manifest.entry", allowed=ALLOWED, seeds=_all_seeds, mutator=mutate_manifest)
def entry(data: bytes) -> None:
    """``parse_manifest``: format detection, then either parser."""
    exercise(parse_manifest(data, url=URL, now=NOW))


@register("manifest.dash", allowed=ALLOWED, seeds=_dash_seeds, mutator=mutate_manifest)
def dash(data: bytes) -> None:
    """``parse_dash`` at two clocks (live windows move with ``now``) and without one."""
    for now in (NOW, 1_000_000_000.0):
        exercise(parse_dash(data, url=URL, now=now))


@register(
    "manifest.hls_multivariant",
    allowed=ALLOWED,
    seeds=_multivariant_seeds,
    mutator=mutate_manifest,
)
def hls_multivariant(data: bytes) -> None:
    """A multivariant playlist, then a fixed media playlist loaded into its first variant."""
    p = parse_hls(data, url=URL, now=NOW)
    exercise(p)
    rep = next(p.representations(), None)
    if p.is_multivariant and rep is not None and rep.playlist_urls:
        exercise(load_media_playlist(p, rep.id, _MEDIA, url=rep.playlist_urls[0], now=NOW))


_MEDIA = b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\na.m4s\n#EXTINF:4,\nb.m4s\n"


@functools.cache
def _master() -> Presentation:
    return parse_hls(DEFINE_MULTIVARIANT, url=URL, now=NOW)


@register("manifest.hls_media", allowed=ALLOWED, seeds=_media_seeds, mutator=mutate_manifest)
def hls_media(data: bytes) -> None:
    """A media playlist loaded into a multivariant presentation (IMPORT), then refreshed."""
    master = _master()
    rep = next(master.representations())
    url = rep.playlist_urls[0]
    first = load_media_playlist(master, rep.id, data, url=url, now=NOW)
    exercise(first)
    exercise(load_media_playlist(first, rep.id, data, url=url, now=NOW + 4))
