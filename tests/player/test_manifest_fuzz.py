"""Hostile input: manifests refused with the right typed error, mutated ones bounded in time.

Known attacks must be refused, each with its own reason (DTDs and entities, external
entities, ``file://`` and other schemes, deep nesting, oversized input, undefined variables):
a test that accepted "parsed or refused" would not notice a parser that started to follow
them. Mutated corpus manifests and the shapes that once amplified or made parsing quadratic
must give a ``Presentation`` or a ``ManifestError`` within ``CASE_BUDGET_S`` of CPU time
(the parsing thread's, so other jobs loading the machine do not make the checks flaky), with the
default ``ManifestConfig`` and every lookup of the result exercised. The long campaign
(100,000 cases per target) is ``python scripts/fuzz.py --targets manifest.entry,...``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from player.errors import ManifestError, ManifestParseError
from player.manifest import Presentation, SegmentRuns, parse_manifest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CORPUS = SHARED / "corpus" / "manifests"
FILES = sorted(p for p in CORPUS.glob("*/*") if p.suffix in (".m3u8", ".mpd"))
SMALL = [p for p in FILES if p.stat().st_size < 20_000]
DATA = {p.name: p.read_bytes() for p in SMALL}
HLS_NAMES = sorted(name for name in DATA if name.endswith(".m3u8"))
DASH_NAMES = sorted(name for name in DATA if name.endswith(".mpd"))
CASE_BUDGET_S = 2.0
NOW = 1_700_000_000.0
URL = "https://cdn.example.com/a/manifest"
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def exercise(p: Presentation) -> None:
    """Read everything a session or a report reads, including computed segment indexes."""
    json.dumps(p.to_json(), allow_nan=False)
    assert p.summary()
    p.next_refresh_at(NOW)
    assert all(len(kid) == 32 for kid in p.kids)
    reps = list(p.representations())
    for rep in reps[:50] + reps[50:][-50:]:  # thousands of them are checked by their counts
        segs = rep.segments
        if not segs:
            continue
        first, last = segs[0], segs[-1]
        assert first.urls and last.urls
        middle = segs[len(segs) // 2]
        if isinstance(segs, SegmentRuns):
            assert segs.index_of_number(middle.number) == len(segs) // 2
            assert segs.segment_at(middle.start_s) is not None
            assert len(segs[1:]) == len(segs) - 1
        assert len(segs) <= 1_000_000  # ManifestConfig().max_segments


def check(data: bytes) -> Presentation | ManifestError:
    # CPU time of this thread only: lab servers left running in this process by other tests
    # (threads) and other jobs on the machine do not count against the parser.
    start = time.thread_time()
    try:
        result: Presentation | ManifestError = parse_manifest(data, url=URL, now=NOW)
    except ManifestError as exc:
        assert exc.url == URL and exc.detail
        result = exc
    else:
        exercise(result)
    assert time.thread_time() - start < CASE_BUDGET_S
    return result


def refused(data: bytes, detail: str) -> None:
    result = check(data)
    assert isinstance(result, ManifestParseError), f"accepted: {result!r}"[:300]
    assert detail in result.detail, result.detail


# --- mutations of the corpus -------------------------------------------------------------------


@FUZZ
@given(name=st.sampled_from(sorted(DATA)), cut=st.floats(0, 1))
def test_truncation(name: str, cut: float) -> None:
    data = DATA[name]
    check(data[: int(len(data) * cut)])


@FUZZ
@given(
    name=st.sampled_from(sorted(DATA)),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_byte_flips(name: str, flips: list[tuple[float, int]]) -> None:
    data = bytearray(DATA[name])
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    check(bytes(data))


@FUZZ
@given(name=st.sampled_from(sorted(DATA)), line=st.floats(0, 1), times=st.integers(2, 3000))
def test_line_repetition(name: str, line: float, times: int) -> None:
    """Any line (an HLS tag, a ``<Representation>``, an ``<S>``) repeated thousands of times."""
    lines = DATA[name].split(b"\n")
    index = min(int(line * len(lines)), len(lines) - 1)
    lines[index:index] = [lines[index]] * times
    check(b"\n".join(lines))


HUGE = st.sampled_from(
    [b"9" * 5000, b"1e999", b"-1", b"nan", b"inf", b"18446744073709551617", b"0", b"-0.0"]
)


@FUZZ
@given(name=st.sampled_from(sorted(DATA)), number=HUGE, where=st.floats(0, 1))
def test_huge_numbers(name: str, number: bytes, where: float) -> None:
    data = DATA[name]
    digits = [i for i, byte in enumerate(data) if 48 <= byte <= 57]
    if not digits:
        check(data + number)
        return
    at = digits[min(int(where * len(digits)), len(digits) - 1)]
    check(data[:at] + number + data[at + 1 :])


# --- amplification: one element describing millions of segments -------------------------------

AMPLIFIER = (
    '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="{kind}" {timing}>'
    '<Period start="PT0S"><AdaptationSet mimeType="video/mp4">{template}'
    "{reps}</AdaptationSet></Period></MPD>"
)


@FUZZ
@given(
    live=st.booleans(),
    duration=st.sampled_from([1, 2, 7, 1000]),
    timescale=st.sampled_from([1, 1000, 90_000, 10**9]),
    window=st.sampled_from(["PT1M", "P3650D", "P100000D", None]),
    reps=st.integers(1, 100),
    repeat=st.sampled_from([None, 0, 10**6, 10**12, -1]),
)
def test_amplifying_templates_and_timelines_stay_bounded(
    live: bool, duration: int, timescale: int, window: str | None, reps: int, repeat: int | None
) -> None:
    if live:
        timing = 'availabilityStartTime="1970-01-01T00:00:00Z" publishTime="2023-11-14T00:00:00Z"'
        if window:
            timing += f' timeShiftBufferDepth="{window}"'
    else:
        timing = f'mediaPresentationDuration="{window or "P30D"}"'
    if repeat is None:
        template = (
            f'<SegmentTemplate timescale="{timescale}" duration="{duration}" media="$Number$.m4s"/>'
        )
    else:
        template = (
            f'<SegmentTemplate timescale="{timescale}" media="$Time$.m4s"><SegmentTimeline>'
            f'<S t="0" d="{duration}" r="{repeat}"/></SegmentTimeline></SegmentTemplate>'
        )
    body = "".join(f'<Representation id="r{i}" bandwidth="{i + 1}"/>' for i in range(reps))
    data = AMPLIFIER.format(
        kind="dynamic" if live else "static", timing=timing, template=template, reps=body
    )
    result = check(data.encode())
    if isinstance(result, Presentation):
        assert sum(1 for _ in result.representations()) == reps
    else:  # only a static description of more than max_segments is refused
        assert result.detail == "too many segments" and not live


def test_repetition_shapes_from_the_audit_are_linear() -> None:
    renditions = b"".join(
        b'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="x%d",URI="a.m3u8"\n' % i for i in range(9_990)
    )
    result = check(b"#EXTM3U\n" + renditions + b'#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO="a"\nv.m3u8\n')
    assert isinstance(result, Presentation) and sum(1 for _ in result.representations()) == 9_991
    reps = "".join(f'<Representation id="r{i}" bandwidth="1"/>' for i in range(8_000))
    data = AMPLIFIER.format(
        kind="static",
        timing='mediaPresentationDuration="PT1H"',
        template='<SegmentTemplate duration="2" media="$RepresentationID$/$Number$.m4s"/>',
        reps=reps,
    )
    result = check(data.encode())
    assert isinstance(result, Presentation) and sum(1 for _ in result.representations()) == 8_000
    keys = b"".join(
        b'#EXT-X-KEY:METHOD=AES-128,URI="k%d"\n#EXTINF:1,\na.ts\n' % i for i in range(20_000)
    )
    result = check(b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n" + keys)
    assert isinstance(result, Presentation) and len(result.representations().__next__().hls_keys)


def test_variable_expansion_is_bounded() -> None:
    value = b"v" * 1_000_000
    define = b'#EXT-X-DEFINE:NAME="a",VALUE="' + value + b'"\n'
    lines = b"#EXTINF:1,\n" + b"{$a}" * 1_000 + b"\n"
    refused(b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n" + define + lines, "substitution too large")


# --- known attacks: refused, each for its own reason -------------------------------------------

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE MPD [
<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
<!ENTITY ext SYSTEM "file:///etc/passwd">
]>
"""


@FUZZ
@given(name=st.sampled_from(DASH_NAMES), entity=st.sampled_from([b"&f;", b"&ext;", b""]))
def test_billion_laughs_and_external_entities_are_refused(name: str, entity: bytes) -> None:
    body = DATA[name]
    if body.startswith(b"<?xml"):
        body = body[body.find(b"?>") + 2 :]
    at = body.find(b">", body.find(b"<MPD")) + 1
    refused(LAUGHS + body[:at] + entity + body[at:], "xml dtd or entities forbidden")


@FUZZ
@given(depth=st.integers(1, 100_000), name=st.sampled_from(DASH_NAMES))
def test_deep_xml_nesting_is_refused_past_the_bound(depth: int, name: str) -> None:
    data = DATA[name]
    at = data.find(b"<Period")
    if at == -1:
        at = len(data) // 2
    result = check(data[:at] + b"<a>" * depth + b"</a>" * depth + data[at:])
    if depth > 64:  # ManifestConfig().max_xml_depth
        assert isinstance(result, ManifestParseError) and result.detail == "xml too deep"


UNSAFE = [b"file:///etc/passwd", b"ftp://cdn.example.com/a.ts", b"javascript:alert(1)", b"gopher:x"]


@pytest.mark.parametrize("uri", UNSAFE)
def test_unsafe_uris_are_refused_wherever_they_appear(uri: bytes) -> None:
    media = b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n"
    refused(media + uri + b"\n", "unsafe url scheme")
    refused(b'#EXTM3U\n#EXT-X-MAP:URI="' + uri + b'"\n#EXTINF:1,\na.ts\n', "unsafe url scheme")
    refused(b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n" + uri + b"\n", "unsafe url scheme")
    refused(
        b'#EXTM3U\n#EXT-X-DEFINE:NAME="u",VALUE="' + uri + b'"\n#EXTINF:1,\n{$u}\n',
        "unsafe url scheme",
    )
    for where in (b"<BaseURL>%s</BaseURL>", b'<SegmentTemplate duration="1" media="%s"/>'):
        mpd = (
            b'<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
            b'mediaPresentationDuration="PT2S"><Period><AdaptationSet mimeType="video/mp4">'
            + where % uri
            + b'<Representation id="v" bandwidth="1"/></AdaptationSet></Period></MPD>'
        )
        refused(mpd, "unsafe url scheme")


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=-5\na.m3u8\n", "no usable variant"),
        (b'#EXTM3U\n#EXT-X-MAP:BYTERANGE="5@0"\n#EXTINF:1,\na.ts\n', "map without uri"),
        (b"#EXTM3U\n#EXTINF:1,\n#EXT-X-BYTERANGE:0@5\na.ts\n", "bad byterange"),
        (b'#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="k",IV=0xZZ\n#EXTINF:1,\na.ts\n', "bad key iv"),
        (
            b"#EXTM3U\n#EXTINF:1e308,\nb.ts\n#EXTINF:1e308,\nc.ts\n",
            "bad extinf",
        ),
        (
            b"#EXTM3U\n" + b'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="x",URI="a.m3u8"\n' * 10_001,
            "too many representations",
        ),
        (b"#EXTM3U\n" + b"#EXTINF:1,\na.ts\n" * 1_000_001, "too many segments"),
        (b"#EXTM3U\n#EXTINF:1,\n\xff.ts\n", "not utf-8"),
        (b"#EXTM3U\n#EXTINF:1,\n{$nope}.ts\n", "undefined variable"),
        (b'#EXTM3U\n#EXT-X-MAP:URI="data:;base64,%%%"\n#EXTINF:1,\na.ts\n', "bad data uri"),
        (b"x" * (16 * 1024 * 1024 + 1), "too large"),
    ],
)
def test_hostile_hls_playlists_are_refused_with_their_reason(data: bytes, detail: str) -> None:
    refused(data, detail)
