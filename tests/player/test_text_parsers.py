"""The sans-I/O text core: WebVTT, TTML, MP4 text, timing, the media probe, bounds.

Foreign files (FFmpeg's and Shaka Packager's) are parsed in
``tests/interop/test_interop_text.py``; here every rule of docs/text.md is pinned with
hand-made input whose expected cues are known exactly.
"""

from __future__ import annotations

import math
import struct
import time

import pytest
from mp4_text_builder import (
    fragment,
    init_segment,
    stpp_entry,
    ttml_document,
    vttc,
    vtte,
    wvtt_entry,
)

from player.config import TextConfig
from player.errors import TextParseError, UnsupportedText
from player.text import (
    MPEGTS_WRAP,
    MediaAnchor,
    TextTiming,
    media_start_ticks,
    parse_text_segment,
    parse_ttml,
    parse_webvtt,
)

CONFIG = TextConfig()
URL = "https://cdn.test/subs"


def spans(cues: object) -> list[tuple[float, float, str]]:
    return [(round(c.start_s, 6), round(c.end_s, 6), c.text) for c in cues]  # type: ignore[attr-defined]


def timing(start: float = 0.0, end: float = 0.0, **kw: object) -> TextTiming:
    return TextTiming(segment_start_s=start, segment_end_s=end, **kw)  # type: ignore[arg-type]


# -- WebVTT ---------------------------------------------------------------------------------


WEBVTT = b"""\xef\xbb\xbfWEBVTT - a title
X-TIMESTAMP-MAP=LOCAL:00:00:10.000,MPEGTS:900000

REGION
id:fred width:40% lines:3 regionanchor:0%,100%

STYLE
::cue { color: yellow }

NOTE a comment
with --> an arrow

intro
00:00:10.500 --> 00:00:11.250 align:start line:90% region:fred
<v Bob>Hello <i>there</i></v> &amp; welcome

00:11.500 --> 00:12.000
second
line two

00:00:13.000 -> 00:00:14.000
malformed arrow: skipped

00:00:15.000 --> 00:00:14.000
ends before it starts: skipped
"""


def test_webvtt_document() -> None:
    doc = parse_webvtt(WEBVTT, url=URL, config=CONFIG)
    assert doc.timestamp_map is not None
    assert (doc.timestamp_map.mpegts, doc.timestamp_map.local_s) == (900_000, 10.0)
    assert spans(doc.cues) == [
        (10.5, 11.25, "Hello there & welcome"),
        (11.5, 12.0, "second\nline two"),
    ]
    first = doc.cues[0]
    assert first.id == "intro" and first.markup == "<v Bob>Hello <i>there</i></v> &amp; welcome"
    assert dict(first.settings) == {"align": "start", "line": "90%", "region": "fred"}
    assert first.region == "fred"
    assert dict(first.region_settings) == {
        "width": "40%",
        "lines": "3",
        "regionanchor": "0%,100%",
    }
    assert doc.styles == ("::cue { color: yellow }",)
    assert doc.skipped == 2


def test_webvtt_crlf_and_no_header_map() -> None:
    doc = parse_webvtt(b"WEBVTT\r\n\r\n00:01.000 --> 00:02.000\r\nx\r\n", url=URL, config=CONFIG)
    assert doc.timestamp_map is None
    assert spans(doc.cues) == [(1.0, 2.0, "x")]


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"1\n00:00:01,000 --> 00:00:02,000\nan SRT file\n", "no webvtt signature"),
        (b"WEBVTTX\n\n00:01.000 --> 00:02.000\nx\n", "no webvtt signature"),
        (b"", "no webvtt signature"),
        (b"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:abc,LOCAL:00:00:00.000\n", "bad timestamp map"),
        (b"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:8589934592,LOCAL:00:00:00.000\n", "bad timestamp map"),
    ],
)
def test_webvtt_refused(data: bytes, detail: str) -> None:
    with pytest.raises(TextParseError) as caught:
        parse_webvtt(data, url=URL, config=CONFIG)
    assert caught.value.detail == detail
    assert caught.value.url == URL
    assert caught.value.code == "player.text_parse"


def test_webvtt_bounds() -> None:
    small = TextConfig(max_text_bytes=100, max_cues_per_file=2, max_cue_chars=10)
    with pytest.raises(TextParseError, match="more than the 100 allowed"):
        parse_webvtt(b"WEBVTT\n\n" + b"x" * 100, url=URL, config=small)
    three = b"WEBVTT\n\n" + b"".join(b"00:0%d.000 --> 00:0%d.500\nx\n\n" % (i, i) for i in range(3))
    with pytest.raises(TextParseError, match="more than 2 cues"):
        parse_webvtt(three, url=URL, config=small)
    with pytest.raises(TextParseError, match="more than 10"):
        parse_webvtt(b"WEBVTT\n\n00:01.000 --> 00:02.000\n" + b"y" * 11, url=URL, config=small)


# -- timing ---------------------------------------------------------------------------------


def test_hls_map_with_anchor_and_without() -> None:
    data = b"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:9000,LOCAL:00:00:00.000\n\n00:00.500 --> 00:01.500\nx\n"

    def placed(timing: TextTiming) -> list[tuple[float, float, str]]:
        return spans(parse_text_segment(data, init=b"", timing=timing, url=URL, config=CONFIG).cues)

    assert placed(timing(0.0, 2.0, anchor=MediaAnchor(ticks=9000, position_s=0.0))) == [
        (0.5, 1.5, "x")
    ]
    # media started at 1.4 s (FFmpeg's TS offset) while the map says 0.1 s: 1.3 s earlier
    assert placed(timing(0.0, 2.0, anchor=MediaAnchor(ticks=126_000, position_s=0.0))) == [
        (-0.8, 0.2, "x")
    ]
    # no media timestamp known: LOCAL plays where the discontinuity starts
    assert placed(timing(20.0, 22.0, discontinuity_start_s=16.0)) == [(16.5, 17.5, "x")]
    # DASH: the map is an HLS header; the cues are on the period's timeline
    assert placed(timing(20.0, 22.0, origin_s=10.0, uses_timestamp_map=False)) == [
        (10.5, 11.5, "x")
    ]


MAPPED = b"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:%d,LOCAL:00:00:00.000\n\n00:00.000 --> 00:01.000\nw\n"


def test_hls_map_across_the_33_bit_rollover() -> None:
    """The media timestamp is 1 s before the wrap, the text's map 2 s after it: 3 s later."""
    anchor = MediaAnchor(ticks=MPEGTS_WRAP - 90_000, position_s=100.0)
    data = MAPPED % 180_000
    cues = parse_text_segment(
        data, init=b"", timing=timing(100.0, 104.0, anchor=anchor), url=URL, config=CONFIG
    ).cues
    assert spans(cues) == [(103.0, 104.0, "w")]
    # and the other way round: text before the wrap, media after it
    after = MediaAnchor(ticks=90_000, position_s=100.0)
    before = MAPPED % (MPEGTS_WRAP - 90_000)
    cues = parse_text_segment(
        before, init=b"", timing=timing(98.0, 100.0, anchor=after), url=URL, config=CONFIG
    ).cues
    assert spans(cues) == [(98.0, 99.0, "w")]


def test_file_without_map_is_on_the_origin() -> None:
    data = b"WEBVTT\n\n00:01.000 --> 00:02.000\nx\n"
    placed = parse_text_segment(
        data, init=b"", timing=timing(30.0, 60.0, origin_s=30.0), url=URL, config=CONFIG
    )
    assert spans(placed.cues) == [(31.0, 32.0, "x")]
    assert placed.format == "webvtt" and not placed.has_timestamp_map


# -- TTML -----------------------------------------------------------------------------------


STYLED = ttml_document(
    '<div region="bottom" style="base" begin="10s">'
    '<p xml:id="p1" begin="00:00:01.000" end="00:00:02.500" style="yellow" tts:fontStyle="italic">'
    "Hello\n   <span>big</span>  <br/>world</p>"
    '<p begin="3s" dur="500ms" xml:space="preserve">  two  spaces</p>'
    '<p begin="2s">untimed end: to the div end</p>'
    "</div>",
    head='<styling><style xml:id="base" tts:fontSize="100%"/>'
    '<style xml:id="yellow" style="base" tts:color="yellow"/></styling>'
    '<layout><region xml:id="bottom" tts:origin="10% 80%" tts:extent="80% 20%">'
    '<style tts:displayAlign="after"/></region></layout>',
)


def test_ttml_timing_styles_regions() -> None:
    doc = parse_ttml(STYLED, url=URL, config=CONFIG)
    assert doc.language == "en"
    assert [(c.start_s, c.end_s, c.text) for c in doc.cues] == [
        (11.0, 12.5, "Hello big\nworld"),
        (13.0, 13.5, "  two  spaces"),
        (12.0, math.inf, "untimed end: to the div end"),
    ]
    first = doc.cues[0]
    assert first.id == "p1" and first.format == "ttml" and first.region == "bottom"
    assert dict(first.region_settings) == {
        "origin": "10% 80%",
        "extent": "80% 20%",
        "displayAlign": "after",
    }
    style = dict(first.style)
    assert style["color"] == "yellow" and style["fontStyle"] == "italic"
    assert style["fontSize"] == "100%" and style["displayAlign"] == "after"


def test_ttml_frames_ticks_and_span_timing() -> None:
    doc = parse_ttml(
        ttml_document(
            '<div><p begin="00:00:01:12" end="50f">frames</p>'
            '<p begin="20000000t" end="30000000t">ticks</p>'
            '<p><span begin="5s" end="6s">a</span> <span begin="7s" end="8s">b</span></p></div>',
            root_attrs='ttp:frameRate="24" ttp:tickRate="10000000"',
        ),
        url=URL,
        config=CONFIG,
    )
    assert [(round(c.start_s, 6), round(c.end_s, 6), c.text) for c in doc.cues] == [
        (1.5, round(50 / 24, 6), "frames"),
        (2.0, 3.0, "ticks"),
        (5.0, 6.0, "a"),
        (7.0, 8.0, "b"),
    ]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE tt [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<tt xmlns="http://www.w3.org/ns/ttml"><body><div>
<p begin="0s" end="1s">&d;&d;&d;</p></div></body></tt>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE tt [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<tt xmlns="http://www.w3.org/ns/ttml"><body><div><p begin="0s" end="1s">&x;</p></div></body></tt>"""


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (BILLION_LAUGHS, "xml dtd or entities forbidden"),
        (EXTERNAL, "xml dtd or entities forbidden"),
        (b"<tt><body><div><p>unclosed</div></body></tt>", "xml syntax"),
        (b"<html><body/></html>", "not ttml"),
        (ttml_document('<div><p begin="1 second">x</p></div>'), "bad time expression"),
        (ttml_document("<div/>", root_attrs='ttp:frameRate="0"'), "bad frameRate"),
        (b"<tt>" + b"<div>" * 100 + b"</div>" * 100 + b"</tt>", "xml too deep"),
    ],
)
def test_ttml_refused(data: bytes, detail: str) -> None:
    started = time.process_time()
    with pytest.raises(TextParseError) as caught:
        parse_ttml(data, url=URL, config=CONFIG)
    assert caught.value.detail == detail
    assert time.process_time() - started < 1.0


def test_ttml_clock_time_base_is_unsupported() -> None:
    with pytest.raises(UnsupportedText, match="timeBase"):
        parse_ttml(ttml_document("", root_attrs='ttp:timeBase="clock"'), url=URL, config=CONFIG)


def test_ttml_sidecar_is_on_the_period_and_open_ends_stop_at_the_file_end() -> None:
    data = ttml_document('<div><p begin="1s" end="2s">a</p><p begin="5s">b</p></div>')
    placed = parse_text_segment(
        data, init=b"", timing=timing(60.0, 70.0, origin_s=60.0), url=URL, config=CONFIG
    )
    assert spans(placed.cues) == [(61.0, 62.0, "a"), (65.0, 70.0, "b")]
    assert placed.format == "ttml"


# -- MP4 text -------------------------------------------------------------------------------


def test_wvtt_samples_cues_and_joins() -> None:
    init = init_segment(wvtt_entry("WEBVTT\n\nREGION\nid:r1 width:50%"), timescale=1000)
    first = fragment(
        [
            (500, vtte()),
            (1000, vttc("<b>Hi</b>", settings="align:end region:r1", cue_id="7")),
            (500, vttc("Hi", settings="align:end region:r1", cue_id="7") + vttc("Other")),
        ],
        decode_time=90_000,
    )
    placed = parse_text_segment(first, init=init, timing=timing(30.0, 32.0), url=URL, config=CONFIG)
    assert placed.format == "wvtt"
    # tfdt 90 s is the segment's start (30 s on the presentation): presentationTimeOffset
    assert spans(placed.cues) == [(30.5, 31.5, "Hi"), (31.5, 32.0, "Hi"), (31.5, 32.0, "Other")]
    cue = placed.cues[0]
    assert cue.markup == "<b>Hi</b>" and cue.id == "7" and cue.region == "r1"
    assert dict(cue.region_settings) == {"width": "50%"}
    # the two "Hi" pieces differ in markup: not one cue; equal pieces across samples join
    second = fragment([(700, vttc("Other")), (300, vtte())], decode_time=92_000, wide_tfdt=True)
    placed = parse_text_segment(
        second, init=init, timing=timing(32.0, 33.0), url=URL, config=CONFIG
    )
    assert spans(placed.cues) == [(32.0, 32.7, "Other")]


def test_stpp_absolute_and_relative_document_times() -> None:
    init = init_segment(stpp_entry(), timescale=1000)
    document = ttml_document(
        '<div><p begin="00:00:09.500" end="00:00:10.500">across</p>'
        '<p begin="10.8s" end="12s">late</p></div>'
    )
    media = fragment([(2000, document)], decode_time=10_000)
    placed = parse_text_segment(media, init=init, timing=timing(4.0, 6.0), url=URL, config=CONFIG)
    # media 10 s is 4 s on the presentation; clipped to the sample [10, 12)
    assert spans(placed.cues) == [(4.0, 4.5, "across"), (4.8, 6.0, "late")]
    relative = ttml_document('<div><p begin="0.5s" end="1s">from the sample start</p></div>')
    placed = parse_text_segment(
        fragment([(2000, relative)], decode_time=10_000),
        init=init,
        timing=timing(4.0, 6.0),
        url=URL,
        config=CONFIG,
    )
    assert spans(placed.cues) == [(4.5, 5.0, "from the sample start")]


def test_mp4_text_refused() -> None:
    init = init_segment(wvtt_entry())
    hostile = fragment([(1000, vttc("x"))], decode_time=0, data_offset_delta=10_000)
    with pytest.raises(TextParseError, match="outside the segment"):
        parse_text_segment(hostile, init=init, timing=timing(), url=URL, config=CONFIG)
    with pytest.raises(TextParseError, match="does not fit"):
        parse_text_segment(
            fragment([(1000, vttc("x"))], decode_time=0)[:-5],  # the mdat cut short
            init=init,
            timing=timing(),
            url=URL,
            config=CONFIG,
        )
    many = fragment([(1, vtte())] * 5, decode_time=0)
    with pytest.raises(TextParseError, match="more than 4 samples"):
        parse_text_segment(
            many, init=init, timing=timing(), url=URL, config=TextConfig(max_cues_per_file=4)
        )
    tx3g = init_segment(b"\x00\x00\x00\x10tx3g" + bytes(8))
    with pytest.raises(UnsupportedText, match="tx3g") as caught:
        parse_text_segment(many, init=tx3g, timing=timing(), url=URL, config=CONFIG)
    assert caught.value.code == "player.unsupported_text"
    with pytest.raises(TextParseError, match="not a text format"):
        parse_text_segment(b"\x89PNG\r\n", init=b"", timing=timing(), url=URL, config=CONFIG)


# -- the media timestamp probe --------------------------------------------------------------


def _pes_packet(pts: int, *, stream_id: int = 0xE0) -> bytes:
    def stamp(value: int) -> bytes:
        return bytes(
            [
                0x21 | ((value >> 29) & 0x0E),
                (value >> 22) & 0xFF,
                0x01 | ((value >> 14) & 0xFE),
                (value >> 7) & 0xFF,
                0x01 | ((value << 1) & 0xFE),
            ]
        )

    pes = b"\x00\x00\x01" + bytes([stream_id]) + b"\x00\x00\x80\x80\x05" + stamp(pts)
    packet = b"\x47\x41\x00\x10" + pes
    return packet + b"\xff" * (188 - len(packet))


def test_probe_ts_takes_the_smallest_video_pts_across_a_wrap() -> None:
    ts = b"".join(
        [
            _pes_packet(1_000, stream_id=0xC0),
            _pes_packet(MPEGTS_WRAP - 3_600),
            _pes_packet(MPEGTS_WRAP - 7_200),  # the earliest picture, before the wrap
            _pes_packet(1_800),  # after the wrap
        ]
    )
    assert media_start_ticks(b"", ts) == MPEGTS_WRAP - 7_200
    audio_only = _pes_packet(123_456, stream_id=0xC0)
    assert media_start_ticks(b"", audio_only) == 123_456
    assert media_start_ticks(b"", b"\x47" + bytes(187)) is None


def test_probe_packed_audio_id3_and_fmp4() -> None:
    owner = b"com.apple.streaming.transportStreamTimestamp\x00"
    size = struct.pack(">I", len(owner) + 8)
    frame = b"PRIV" + size + b"\x00\x00" + owner + struct.pack(">Q", 5_000)
    id3 = b"ID3\x04\x00\x00" + bytes(4) + frame
    assert media_start_ticks(b"", id3) == 5_000
    init = init_segment(wvtt_entry(), timescale=1000)
    assert media_start_ticks(init, fragment([(1000, vtte())], decode_time=2_000)) == 180_000
    assert media_start_ticks(b"", b"garbage!") is None
