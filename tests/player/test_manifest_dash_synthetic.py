"""DASH parser on small hand-written MPDs: templates, timelines, live windows, hostile input."""

from __future__ import annotations

import struct
import time

import pytest

from player.config import ManifestConfig
from player.errors import ManifestError, ManifestParseError, UnsupportedManifest
from player.manifest import (
    ByteRange,
    Presentation,
    Representation,
    apply_segment_index,
    parse_dash,
    parse_sidx,
)

URL = "https://cdn.example.com/a/manifest.mpd"
NS = 'xmlns="urn:mpeg:dash:schema:mpd:2011"'


def mpd(body: str, *, attrs: str = 'type="static" mediaPresentationDuration="PT20S"') -> bytes:
    return f'<?xml version="1.0"?>\n<MPD {NS} {attrs}>{body}</MPD>'.encode()


def video(inner: str, *, rep_attrs: str = 'id="v1" bandwidth="1000"') -> str:
    return (
        '<Period id="p"><AdaptationSet mimeType="video/mp4">'
        f"<Representation {rep_attrs}>{inner}</Representation></AdaptationSet></Period>"
    )


def only_rep(p: Presentation) -> Representation:
    (rep,) = list(p.representations())
    return rep


def names(rep: Representation) -> list[str]:
    assert rep.segments is not None
    return [s.url.rsplit("/", 1)[1] for s in rep.segments]


# --- templates -------------------------------------------------------------------------------


def test_template_identifiers_and_widths() -> None:
    tpl = (
        '<SegmentTemplate timescale="10" duration="50" startNumber="8" '
        'initialization="$RepresentationID$/init-$Bandwidth%08d$.mp4" '
        'media="$RepresentationID$/$Number%04d$-$Time$-$$-$Bandwidth$.m4s"/>'
    )
    rep = only_rep(parse_dash(mpd(video(tpl)), url=URL))
    assert rep.init is not None and rep.init.url == "https://cdn.example.com/a/v1/init-00001000.mp4"
    assert names(rep)[:2] == ["0008-0-$-1000.m4s", "0009-50-$-1000.m4s"]
    assert len(names(rep)) == 4  # 20 s of 5 s segments
    assert rep.segments is not None and rep.segments[3].start_s == 15.0


def test_template_width_is_bounded() -> None:
    tpl = '<SegmentTemplate duration="5" media="$Number%0999999999d$.m4s"/>'
    with pytest.raises(ManifestParseError) as info:
        parse_dash(mpd(video(tpl)), url=URL)
    assert info.value.detail == "bad template width"


def test_representation_id_is_not_reinterpreted_as_identifier() -> None:
    tpl = '<SegmentTemplate duration="10" media="$RepresentationID$-$Number$.m4s"/>'
    rep = only_rep(
        parse_dash(mpd(video(tpl, rep_attrs='id="a$Number${x}" bandwidth="1"')), url=URL)
    )
    assert names(rep) == ["a$Number${x}-1.m4s", "a$Number${x}-2.m4s"]


def test_last_segment_is_clipped_to_period_end() -> None:
    tpl = '<SegmentTemplate timescale="1000" duration="6000" media="$Number$.m4s"/>'
    rep = only_rep(parse_dash(mpd(video(tpl)), url=URL))
    assert rep.segments is not None
    assert [s.duration_s for s in rep.segments] == [6.0, 6.0, 6.0, 2.0]


def test_end_number_limits_segments() -> None:
    tpl = '<SegmentTemplate duration="2" startNumber="5" endNumber="7" media="$Number$.m4s"/>'
    assert names(only_rep(parse_dash(mpd(video(tpl)), url=URL))) == ["5.m4s", "6.m4s", "7.m4s"]


# --- SegmentTimeline ---------------------------------------------------------------------------


def timeline(s_elements: str, *, extra: str = 'timescale="1000"') -> str:
    return (
        f'<SegmentTemplate {extra} media="$Time$.m4s">'
        f"<SegmentTimeline>{s_elements}</SegmentTimeline></SegmentTemplate>"
    )


def test_timeline_repeats_and_implicit_t() -> None:
    tl = timeline('<S t="1000" d="2000" r="2"/><S d="1500"/><S t="9000" d="500" r="1"/>')
    rep = only_rep(parse_dash(mpd(video(tl)), url=URL))
    assert names(rep) == [f"{t}.m4s" for t in (1000, 3000, 5000, 7000, 9000, 9500)]
    assert rep.segments is not None
    assert [s.duration_s for s in rep.segments] == [2.0, 2.0, 2.0, 1.5, 0.5, 0.5]
    assert [s.number for s in rep.segments] == [1, 2, 3, 4, 5, 6]


def test_open_repeat_runs_to_next_s() -> None:
    tl = timeline('<S t="0" d="2000" r="-1"/><S t="10000" d="5000"/>')
    rep = only_rep(parse_dash(mpd(video(tl)), url=URL))
    assert names(rep) == ["0.m4s", "2000.m4s", "4000.m4s", "6000.m4s", "8000.m4s", "10000.m4s"]


def test_open_repeat_runs_to_period_end() -> None:
    tl = timeline('<S t="0" d="3000" r="-1"/>')
    rep = only_rep(parse_dash(mpd(video(tl)), url=URL))
    assert len(names(rep)) == 7  # ceil(20 / 3)
    assert rep.segments is not None and rep.segments[-1].duration_s == 2.0


def test_open_repeat_without_end_in_static_mpd_is_an_error() -> None:
    tl = timeline('<S t="0" d="3000" r="-1"/>')
    with pytest.raises(ManifestParseError):
        parse_dash(mpd(video(tl), attrs='type="static"'), url=URL)


def test_presentation_time_offset() -> None:
    tl = timeline(
        '<S t="90000" d="2000" r="1"/>', extra='timescale="1000" presentationTimeOffset="90000"'
    )
    rep = only_rep(parse_dash(mpd(video(tl)), url=URL))
    assert rep.segments is not None
    assert [(s.start_s, s.url.rsplit("/", 1)[1]) for s in rep.segments] == [
        (0.0, "90000.m4s"),
        (2.0, "92000.m4s"),
    ]


def test_huge_repeat_in_static_mpd_is_bounded() -> None:
    tl = timeline('<S t="0" d="1" r="999999999999"/>')
    started = time.perf_counter()
    with pytest.raises(ManifestParseError) as info:
        parse_dash(
            mpd(video(tl), attrs='type="static" mediaPresentationDuration="P9999D"'), url=URL
        )
    assert info.value.detail == "too many segments"
    assert time.perf_counter() - started < 1.0


def test_inheritance_from_period_and_adaptation_set() -> None:
    body = (
        '<Period><SegmentTemplate timescale="1000" media="p-$Number$.m4s" initialization="i.mp4">'
        '<SegmentTimeline><S d="4000" r="1"/></SegmentTimeline></SegmentTemplate>'
        '<AdaptationSet mimeType="audio/mp4" codecs="mp4a.40.2" audioSamplingRate="48000">'
        '<SegmentTemplate startNumber="10"/>'
        '<Representation id="a" bandwidth="64000"/></AdaptationSet></Period>'
    )
    rep = only_rep(parse_dash(mpd(body), url=URL))
    assert names(rep) == ["p-10.m4s", "p-11.m4s"]
    assert rep.codecs == "mp4a.40.2" and rep.audio_sampling_rate == 48000
    assert rep.init is not None and rep.init.url == "https://cdn.example.com/a/i.mp4"


# --- periods ---------------------------------------------------------------------------------


def test_period_starts_from_durations() -> None:
    tpl = '<SegmentTemplate duration="5" media="$Number$.m4s"/>'
    period = (
        '<Period duration="PT10S"><AdaptationSet mimeType="video/mp4">'
        f'<Representation id="v" bandwidth="1">{tpl}</Representation></AdaptationSet></Period>'
    )
    p = parse_dash(mpd(period * 2), url=URL)
    assert [(q.start_s, q.duration_s) for q in p.periods] == [(0.0, 10.0), (10.0, 10.0)]
    second = p.periods[1].tracks[0].representations[0]
    assert second.segments is not None
    assert [(s.start_s, s.discontinuity_seq) for s in second.segments] == [(10.0, 1), (15.0, 1)]


# --- live ------------------------------------------------------------------------------------

LIVE = (
    'type="dynamic" availabilityStartTime="2020-01-01T00:00:00Z" '
    'publishTime="2020-01-01T00:01:00Z" minimumUpdatePeriod="PT2S" timeShiftBufferDepth="PT10S"'
)
AST = 1577836800.0


def test_live_number_window() -> None:
    tpl = '<SegmentTemplate timescale="1" duration="2" startNumber="1" media="$Number$.m4s"/>'
    now = AST + 101.0
    p = parse_dash(mpd(video(tpl), attrs=LIVE), url=URL, now=now)
    rep = only_rep(p)
    # segments ending in (91, 101]: ends 92..100 -> numbers 46..50
    assert names(rep) == [f"{n}.m4s" for n in range(46, 51)]
    assert rep.segments is not None
    assert (
        rep.segments[-1].available_from == AST + 100
        and rep.segments[-1].available_until == AST + 110
    )
    assert p.next_refresh_at(now) == AST + 102  # next segment, before now + MUP (103)
    assert p.live.minimum_update_period_s == 2.0


def test_live_open_repeat_is_bounded_by_now() -> None:
    tl = timeline('<S t="0" d="1000" r="-1"/>')
    p = parse_dash(mpd(video(tl), attrs=LIVE), url=URL, now=AST + 50.5)
    assert names(only_rep(p)) == [
        f"{t}.m4s" for t in range(40000, 50000, 1000)
    ]  # ends in (40.5, 50.5]


def test_live_availability_time_offset() -> None:
    tpl = '<SegmentTemplate duration="2" availabilityTimeOffset="1.5" media="$Number$.m4s"/>'
    rep = only_rep(parse_dash(mpd(video(tpl), attrs=LIVE), url=URL, now=AST + 100.6))
    assert rep.segments is not None
    assert rep.segments[-1].number == 51 and rep.segments[-1].available_from == AST + 100.5


def test_live_without_tsbd_keeps_latest_max_segments() -> None:
    attrs = 'type="dynamic" availabilityStartTime="1970-01-01T00:00:00Z"'
    tpl = '<SegmentTemplate duration="1" media="$Number$.m4s"/>'
    started = time.perf_counter()
    p = parse_dash(
        mpd(video(tpl), attrs=attrs),
        url=URL,
        now=1_700_000_000.0,
        config=ManifestConfig(max_segments=100),
    )
    rep = only_rep(p)
    assert rep.segments is not None and len(rep.segments) == 100
    assert rep.segments[-1].number == 1_700_000_000
    assert time.perf_counter() - started < 1.0


def test_next_refresh_uses_minimum_update_period_when_no_segments() -> None:
    tpl = '<SegmentTemplate duration="2" media="$Number$.m4s"/>'
    p = parse_dash(mpd(video(tpl), attrs=LIVE), url=URL, now=AST - 100)
    assert only_rep(p).segments == ()
    assert p.next_refresh_at(AST - 100) == AST - 98
    assert p.next_refresh_at(AST) == AST  # a stale manifest is refreshed at once


def test_live_mpd_without_availability_start_time() -> None:
    with pytest.raises(ManifestParseError):
        parse_dash(mpd(video(""), attrs='type="dynamic"'), url=URL, now=0.0)


# --- base URLs, steering ---------------------------------------------------------------------


def test_content_steering_and_service_locations() -> None:
    body = (
        '<ContentSteering defaultServiceLocation="beta" queryBeforeStart="true">'
        "https://steer.example.com/v1</ContentSteering>"
        '<BaseURL serviceLocation="alpha">https://a.example.com/x/</BaseURL>'
        '<BaseURL serviceLocation="beta">https://b.example.com/y/</BaseURL>'
        + video('<SegmentTemplate duration="10" media="s$Number$.m4s"/>')
    )
    p = parse_dash(mpd(body), url=URL)
    assert p.steering is not None
    assert (p.steering.server_url, p.steering.default_pathway, p.steering.query_before_start) == (
        "https://steer.example.com/v1",
        "beta",
        True,
    )
    rep = only_rep(p)
    assert [(loc.service_location, loc.priority) for loc in rep.locations] == [
        ("alpha", 0),
        ("beta", 1),
    ]
    assert rep.segments is not None
    assert rep.segments[0].urls == (
        "https://a.example.com/x/s1.m4s",
        "https://b.example.com/y/s1.m4s",
    )


def test_unsafe_base_url_is_refused() -> None:
    body = "<BaseURL>file:///etc/</BaseURL>" + video('<SegmentTemplate duration="10" media="x"/>')
    with pytest.raises(ManifestParseError) as info:
        parse_dash(mpd(body), url=URL)
    assert info.value.detail == "unsafe url scheme"


# --- hostile XML -----------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<MPD>&lol2;</MPD>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE MPD [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><MPD>&xxe;</MPD>"""


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (BILLION_LAUGHS, "xml dtd or entities forbidden"),
        (EXTERNAL, "xml dtd or entities forbidden"),
        (b"<MPD>" + b"<a>" * 100 + b"</a>" * 100 + b"</MPD>", "xml too deep"),
        (b"not xml at all", None),
        (b"<HTML/>", "not an MPD"),
        (b"", None),
        (mpd(""), "no Period"),
    ],
)
def test_hostile_or_broken_xml(data: bytes, detail: str | None) -> None:
    with pytest.raises(ManifestParseError) as info:
        parse_dash(data, url=URL)
    assert info.value.url == URL
    if detail is not None:
        assert info.value.detail == detail
    else:
        assert info.value.detail.startswith("xml syntax")


def test_size_limit() -> None:
    with pytest.raises(ManifestParseError) as info:
        parse_dash(mpd(video("")), url=URL, config=ManifestConfig(max_manifest_bytes=50))
    assert info.value.detail == "manifest too large"


@pytest.mark.parametrize(
    "inner",
    [
        '<SegmentTemplate duration="-5" media="$Number$"/>',
        '<SegmentTemplate duration="abc" media="$Number$"/>',
        '<SegmentTemplate duration="1e400" media="$Number$"/>',
        '<SegmentTemplate timescale="0" duration="5" media="$Number$"/>',
        timeline('<S t="0" d="0" r="-1"/>'),
        timeline('<S t="0" r="2"/>'),
        '<SegmentList duration="2"><SegmentURL media="a" mediaRange="9-1"/></SegmentList>',
        '<SegmentBase indexRange="x-y"/>',
    ],
)
def test_bad_values_raise_parse_errors(inner: str) -> None:
    with pytest.raises(ManifestParseError):
        parse_dash(mpd(video(inner)), url=URL)


def test_unknown_mpd_type_is_unsupported() -> None:
    with pytest.raises(UnsupportedManifest):
        parse_dash(mpd(video(""), attrs='type="sometimes"'), url=URL)


def test_undeclared_prefixes_are_recovered() -> None:
    body = (
        '<Period><AdaptationSet mimeType="video/mp4" foo:bar="1">'
        '<ContentProtection schemeIdUri="urn:uuid:EDEF8BA9-79D6-4ACE-A3C8-27DCD51D21ED" '
        'cenc:default_KID="{11111111-2222-3333-4444-555555555555}">'
        "<cenc:pssh>AAAAIHBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAAAA=</cenc:pssh>"
        "<ms:laurl licenseUrl='https://lic.example.com/pr'/></ContentProtection>"
        '<Representation id="v" bandwidth="1.5e6"/></AdaptationSet></Period>'
    )
    rep = only_rep(parse_dash(mpd(body), url=URL))
    (prot,) = rep.protections
    assert prot.system_id == "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
    assert prot.default_kids == ("11111111222233334444555555555555",)
    assert prot.pssh is not None and prot.pssh[4:8] == b"pssh"
    assert prot.license_url == "https://lic.example.com/pr"
    assert rep.bandwidth_bps == 1_500_000


def test_whole_resource_representation_without_segment_info() -> None:
    body = video("<BaseURL>media/file.mp4</BaseURL>")
    rep = only_rep(parse_dash(mpd(body), url=URL))
    assert rep.segments is not None and len(rep.segments) == 1
    assert (rep.segments[0].url, rep.segments[0].duration_s) == (
        "https://cdn.example.com/a/media/file.mp4",
        20.0,
    )


# --- sidx ------------------------------------------------------------------------------------


def sidx_box(refs: list[tuple[int, int]], *, timescale: int = 1000, first_offset: int = 0) -> bytes:
    body = struct.pack(">B3xIIIIHH", 0, 1, timescale, 500, first_offset, 0, len(refs))
    for size, duration in refs:
        body += struct.pack(">III", size, duration, 0x90000000)
    return struct.pack(">I4s", 8 + len(body), b"sidx") + body


def test_parse_sidx_byte_ranges_and_times() -> None:
    data = struct.pack(">I4s", 16, b"styp") + b"\0" * 8 + sidx_box([(100, 2000), (50, 1500)])
    index = parse_sidx(data, url=URL, offset=1000)
    assert index.timescale == 1000 and index.earliest_presentation_time == 500
    box_end = 1000 + len(data)
    assert [(r.byte_range, r.start_s, r.duration_s) for r in index.references] == [
        (ByteRange(box_end, box_end + 99), 0.5, 2.0),
        (ByteRange(box_end + 100, box_end + 149), 2.5, 1.5),
    ]
    assert all(r.starts_with_sap and not r.is_index for r in index.references)


def test_apply_segment_index_to_segment_base_representation() -> None:
    inner = (
        '<BaseURL>v.mp4</BaseURL><SegmentBase indexRange="800-899" timescale="1000" '
        'presentationTimeOffset="500"><Initialization range="0-799"/></SegmentBase>'
    )
    rep = only_rep(parse_dash(mpd(video(inner)), url=URL))
    assert rep.segments is None and rep.index is not None
    assert rep.index.byte_range == ByteRange(800, 899) and rep.index.time_offset_s == -0.5
    box = sidx_box([(1000, 4000), (1200, 4000)])
    loaded = apply_segment_index(rep, box, url=URL)
    assert loaded.segments is not None
    assert [(s.byte_range, s.start_s, s.duration_s) for s in loaded.segments] == [
        (ByteRange(800 + len(box), 800 + len(box) + 999), 0.0, 4.0),
        (ByteRange(1800 + len(box), 1800 + len(box) + 1199), 4.0, 4.0),
    ]
    assert loaded.segments[0].url == "https://cdn.example.com/a/v.mp4"
    assert loaded.segments[0].init is not None
    assert loaded.segments[0].init.byte_range == ByteRange(0, 799)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\0\0\0\x08free",
        sidx_box([(10, 10)])[:-4],
        sidx_box([(10, 10)], timescale=0),
        sidx_box([(0, 10)]),
        struct.pack(">I4s", 4, b"sidx"),
    ],
)
def test_bad_sidx(data: bytes) -> None:
    with pytest.raises(ManifestParseError):
        parse_sidx(data, url=URL)


def test_hierarchical_sidx_is_unsupported() -> None:
    inner = '<BaseURL>v.mp4</BaseURL><SegmentBase indexRange="0-99"/>'
    rep = only_rep(parse_dash(mpd(video(inner)), url=URL))
    with pytest.raises(UnsupportedManifest):
        apply_segment_index(rep, sidx_box([(0x80000000 | 10, 10)]), url=URL)


def test_apply_segment_index_needs_an_index() -> None:
    rep = only_rep(parse_dash(mpd(video('<SegmentTemplate duration="5" media="x"/>')), url=URL))
    with pytest.raises(ManifestError):
        apply_segment_index(rep, sidx_box([(10, 10)]), url=URL)


# --- memory bounds ---------------------------------------------------------------------------


def test_overlong_url_template_is_refused() -> None:
    tpl = f'<SegmentTemplate duration="1" media="{"x" * 9000}$Number$"/>'
    with pytest.raises(ManifestParseError) as info:
        parse_dash(mpd(video(tpl)), url=URL)
    assert info.value.detail == "url too long"


def test_locations_are_capped_and_preferred_first() -> None:
    bases = "".join(
        f'<BaseURL dvb:priority="{40 - i}" xmlns:dvb="urn:dvb:dash">https://c{i}.example/</BaseURL>'
        for i in range(40)
    )
    rep = only_rep(
        parse_dash(mpd(bases + video('<SegmentTemplate duration="10" media="s"/>')), url=URL)
    )
    assert len(rep.locations) == 16
    assert rep.locations[0].url == "https://c39.example/" and rep.locations[0].priority == 1
    assert rep.segments is not None and len(rep.segments[0].urls) == 16


def test_overlong_duration_text_is_refused_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(ManifestParseError):
        parse_dash(mpd(video(""), attrs=f'mediaPresentationDuration="P{"1" * 2_000_000}"'), url=URL)
    assert time.perf_counter() - started < 1.0


# --- smaller paths ---------------------------------------------------------------------------


def sidx_v1_large(refs: list[tuple[int, int]]) -> bytes:
    body = struct.pack(">B3xIIQQHH", 1, 1, 48000, 2**40, 0, 0, len(refs))
    for size, duration in refs:
        body += struct.pack(">III", size, duration, 0)
    return struct.pack(">I4sQ", 1, b"sidx", 16 + len(body)) + body


def test_sidx_version_1_with_64_bit_box_size() -> None:
    index = parse_sidx(sidx_v1_large([(10, 48000)]), url=URL)
    assert index.earliest_presentation_time == 2**40
    (ref,) = index.references
    assert ref.duration_s == 1.0 and not ref.starts_with_sap
    assert ref.byte_range == ByteRange(16 + 12 + 20 + 12, 16 + 12 + 20 + 12 + 9)


@pytest.mark.parametrize(
    "data",
    [
        struct.pack(">I4sQ", 1, b"free", 24) + b"\0" * 8,  # 64-bit box skipped, no sidx
        struct.pack(">I4s", 0, b"free") + b"\0" * 8,  # size 0: to the end
        struct.pack(">I4s", 1, b"sidx"),  # 64-bit size missing
        struct.pack(">I4s", 12, b"sidx") + b"\0\0\0\0",  # too short for its header
        struct.pack(">I4sB3xIIIIHH", 32, b"sidx", 0, 1, 1000, 0, 0, 0, 5),  # 5 refs, none there
    ],
)
def test_more_bad_sidx(data: bytes) -> None:
    with pytest.raises(ManifestParseError):
        parse_sidx(data, url=URL)


def test_sidx_subsegments_bounded_by_max_segments() -> None:
    inner = '<BaseURL>v.mp4</BaseURL><SegmentBase indexRange="0-99"/>'
    rep = only_rep(parse_dash(mpd(video(inner)), url=URL))
    with pytest.raises(ManifestParseError):
        apply_segment_index(
            rep, sidx_box([(10, 10)] * 3), url=URL, config=ManifestConfig(max_segments=2)
        )


def test_segment_list_single_url_spans_the_period() -> None:
    inner = '<SegmentList timescale="10"><SegmentURL media="all.mp4"/></SegmentList>'
    rep = only_rep(parse_dash(mpd(video(inner)), url=URL))
    assert rep.segments is not None
    assert [(s.url, s.start_s, s.duration_s) for s in rep.segments] == [
        ("https://cdn.example.com/a/all.mp4", 0.0, 20.0)
    ]


def test_segment_list_without_duration_of_several_urls_is_an_error() -> None:
    inner = '<SegmentList><SegmentURL media="a"/><SegmentURL media="b"/></SegmentList>'
    with pytest.raises(ManifestParseError):
        parse_dash(mpd(video(inner)), url=URL)


def test_segment_list_shorter_than_its_timeline() -> None:
    inner = (
        '<SegmentList timescale="1"><SegmentTimeline><S d="2" r="4"/></SegmentTimeline>'
        '<SegmentURL media="a"/><SegmentURL media="b"/></SegmentList>'
    )
    assert names(only_rep(parse_dash(mpd(video(inner)), url=URL))) == ["a", "b"]


def test_template_without_duration_or_timeline_is_an_error() -> None:
    with pytest.raises(ManifestParseError):
        parse_dash(mpd(video('<SegmentTemplate media="$Number$"/>')), url=URL)


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ('mimeType="audio/mp4"', "audio"),
        ('codecs="opus"', "audio"),
        ('mimeType="application/ttml+xml"', "text"),
        ('mimeType="application/octet-stream"', "text"),
        ('contentType="image" mimeType="image/jpeg"', "image"),
        ("", "video"),
    ],
)
def test_track_type_detection(attrs: str, expected: str) -> None:
    rep = '<Representation id="r" bandwidth="1"/>'
    body = f"<Period><AdaptationSet {attrs}>{rep}</AdaptationSet></Period>"
    assert parse_dash(mpd(body), url=URL).periods[0].tracks[0].type.value == expected


def test_value_readers() -> None:
    tpl = '<SegmentTemplate duration="2" availabilityTimeOffset="INF" media="$Number$.m4s"/>'
    rep = only_rep(
        parse_dash(
            mpd(video(tpl, rep_attrs='id="v" bandwidth="5" frameRate="30000/1001"'), attrs=LIVE),
            url=URL,
            now=AST + 10,
        )
    )
    assert rep.frame_rate == pytest.approx(29.97, abs=0.001)
    assert rep.segments is not None and rep.segments[-1].available_from is None
    bad_ato = '<SegmentTemplate duration="2" availabilityTimeOffset="soon" media="x"/>'
    with pytest.raises(ManifestParseError):
        parse_dash(mpd(video(bad_ato), attrs=LIVE), url=URL, now=AST + 10)
    for duration in ("P", "PT", "P1DT", "-PT5S", "PT1H2X"):
        with pytest.raises(ManifestParseError):
            parse_dash(mpd(video(""), attrs=f'mediaPresentationDuration="{duration}"'), url=URL)
    p = parse_dash(mpd(video(""), attrs='mediaPresentationDuration="12.5"'), url=URL)
    assert p.duration_s == 12.5
    with pytest.raises(ManifestParseError):
        parse_dash(mpd(video(""), attrs=LIVE.replace("2020-01-01T00:00:00Z", "yesterday")), url=URL)


def test_steering_proxy_and_bad_pssh_variants() -> None:
    body = (
        '<ContentSteering proxyServerURL="proxy/" queryBeforeStart="maybe">steer</ContentSteering>'
        + '<Period><AdaptationSet mimeType="video/mp4">'
        '<ContentProtection schemeIdUri="urn:uuid:not-a-uuid"><pssh> </pssh></ContentProtection>'
        '<ContentProtection schemeIdUri="urn:uuid:EDEF8BA9-79D6-4ACE-A3C8-27DCD51D21ED">'
        "<pssh>!!notbase64</pssh><Laurl>lic</Laurl></ContentProtection>"
        '<Representation id="v" bandwidth="1"/></AdaptationSet></Period>'
    )
    p = parse_dash(mpd(body), url=URL)
    assert p.steering is not None
    assert p.steering.proxy_server_url == "https://cdn.example.com/a/proxy/"
    assert p.steering.server_url == "https://cdn.example.com/a/steer"
    assert p.steering.query_before_start is False
    odd, widevine = only_rep(p).protections
    assert (odd.system_id, odd.pssh) == (None, None)
    assert (widevine.pssh, widevine.license_url) == (None, "https://cdn.example.com/a/lic")


def test_too_many_representations() -> None:
    reps_xml = "".join(f'<Representation id="{i}" bandwidth="1"/>' for i in range(5))
    body = f'<Period><AdaptationSet mimeType="video/mp4">{reps_xml}</AdaptationSet></Period>'
    with pytest.raises(ManifestParseError) as info:
        parse_dash(mpd(body), url=URL, config=ManifestConfig(max_representations=4))
    assert info.value.detail == "too many representations"


def test_unrecoverable_unbound_prefix() -> None:
    with pytest.raises(ManifestParseError):
        parse_dash(b"<!-- only a comment --><x:MPD/", url=URL)


def test_sidx_of_a_file_shared_by_periods_keeps_the_periods_subsegments() -> None:
    period = (
        '<Period duration="PT8S"><AdaptationSet mimeType="video/mp4">'
        '<Representation id="v" bandwidth="1"><BaseURL>v.mp4</BaseURL>'
        '<SegmentBase indexRange="0-99" timescale="1000" presentationTimeOffset="{pto}"/>'
        "</Representation></AdaptationSet></Period>"
    )
    body = period.format(pto=0) + period.format(pto=8000)
    p = parse_dash(mpd(body, attrs='type="static" mediaPresentationDuration="PT16S"'), url=URL)
    box = sidx_box([(100, 4000)] * 4)  # the file: four 4 s subsegments from 0.5 s
    second = p.periods[1].tracks[0].representations[0]
    loaded = apply_segment_index(second, box, url=URL)
    assert loaded.segments is not None
    # media times 8.5 and 12.5 s start in the second period (8..16 s); 4.5 s ends after 8 s
    assert [(s.number, s.start_s, s.discontinuity_seq) for s in loaded.segments] == [
        (2, 4.5, 1),
        (3, 8.5, 1),
        (4, 12.5, 1),
    ]


def test_availability_time_offsets_add_up_over_base_urls_and_templates() -> None:
    body = (
        '<BaseURL availabilityTimeOffset="0.25">https://cdn.example.com/x/</BaseURL>'
        '<Period><BaseURL availabilityTimeOffset="0.5">p/</BaseURL>'
        '<SegmentTemplate duration="2" availabilityTimeOffset="0.5" media="$Number$.m4s"/>'
        '<AdaptationSet mimeType="video/mp4">'
        '<SegmentTemplate availabilityTimeOffset="0.25"/>'
        '<Representation id="v" bandwidth="1"/></AdaptationSet></Period>'
    )
    rep = only_rep(parse_dash(mpd(body, attrs=LIVE), url=URL, now=AST + 100.6))
    assert rep.segments is not None
    # 0.25 + 0.5 (BaseURLs) + 0.5 + 0.25 (templates) = 1.5 s early
    assert rep.segments[-1].number == 51 and rep.segments[-1].available_from == AST + 100.5
    assert rep.segments[-1].url == "https://cdn.example.com/x/p/51.m4s"
