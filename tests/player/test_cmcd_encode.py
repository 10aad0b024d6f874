"""The sans-I/O CMCD encoder against the specs' own examples and rules.

v2 examples are CTA-5004-B section 8.1 (Request mode), copied key for key; v1's is
CTA-5004 (2020) section 6, example 9. Every encoded payload is also read back by the lab's
Structured Field parser (``transport.lab.parse_sf_dictionary``, written independently from
RFC 8941), so the encoder is checked by a second implementation, not by itself.
"""

from __future__ import annotations

from urllib.parse import urljoin

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from player.cmcd import (
    CmcdData,
    NextObject,
    ObjectType,
    StreamingFormat,
    StreamType,
    TypedValue,
    cmcd_fields,
    cmcd_headers,
    cmcd_payload,
    cmcd_query,
    relative_reference,
    strip_cmcd_query,
    with_cmcd_query,
)
from player.errors import PlayerConfigError
from transport.lab import SfInnerList, SfItem, SfToken, parse_sf_dictionary, received_cmcd

V, A = ObjectType.VIDEO, ObjectType.AUDIO
SID, CID = "session-id-123", "content-id-123"


def test_v2_standard_video_request_8_1_1() -> None:
    """CTA-5004-B 8.1.1 without ``sta=p`` (a v2 key this player does not send)."""
    data = CmcdData(
        buffer_length_s=(TypedValue(2.0),),
        encoded_bitrate_bps=(TypedValue(3_000_000, V),),
        content_id=CID,
        object_duration_s=4.0,
        deadline_s=1.0,
        measured_throughput_bps=(TypedValue(15_000_000),),
        next_objects=(NextObject("next-seg.mp4"),),
        object_type=V,
        requested_throughput_bps=12_000_000,
        streaming_format=StreamingFormat.DASH,
        session_id=SID,
        stream_type=StreamType.VOD,
        top_bitrate_bps=(TypedValue(6_000_000, V),),
    )
    assert cmcd_payload(data) == (
        'bl=(2000),br=(3000;v),cid="content-id-123",d=4000,dl=1000,mtp=(15000),'
        'nor=("next-seg.mp4"),ot=v,rtp=12000,sf=d,sid="session-id-123",st=v,tb=(6000;v),v=2'
    )
    assert cmcd_query(data) == (
        "CMCD=bl%3D%282000%29%2Cbr%3D%283000%3Bv%29%2Ccid%3D%22content-id-123%22%2Cd%3D4000"
        "%2Cdl%3D1000%2Cmtp%3D%2815000%29%2Cnor%3D%28%22next-seg.mp4%22%29%2Cot%3Dv%2C"
        "rtp%3D12000%2Csf%3Dd%2Csid%3D%22session-id-123%22%2Cst%3Dv%2Ctb%3D%286000%3Bv%29"
        "%2Cv%3D2"
    )
    assert cmcd_headers(data) == {
        "CMCD-Object": "br=(3000;v),d=4000,ot=v,tb=(6000;v)",
        "CMCD-Request": 'bl=(2000),dl=1000,mtp=(15000),nor=("next-seg.mp4")',
        "CMCD-Session": 'cid="content-id-123",sf=d,sid="session-id-123",st=v,v=2',
        "CMCD-Status": "rtp=12000",
    }


def test_v2_standard_audio_request_8_1_2() -> None:
    data = CmcdData(
        buffer_length_s=(TypedValue(2.0),),
        encoded_bitrate_bps=(TypedValue(320_000),),
        content_id=CID,
        object_duration_s=2.0,
        measured_throughput_bps=(TypedValue(15_000_000),),
        object_type=A,
        session_id=SID,
        stream_type=StreamType.VOD,
    )
    assert cmcd_query(data) == (
        "CMCD=bl%3D%282000%29%2Cbr%3D%28320%29%2Ccid%3D%22content-id-123%22%2Cd%3D2000%2C"
        "mtp%3D%2815000%29%2Cot%3Da%2Csid%3D%22session-id-123%22%2Cst%3Dv%2Cv%3D2"
    )
    assert cmcd_headers(data) == {
        "CMCD-Object": "br=(320),d=2000,ot=a",
        "CMCD-Request": "bl=(2000),mtp=(15000)",
        "CMCD-Session": 'cid="content-id-123",sid="session-id-123",st=v,v=2',
    }


def test_v2_minimal_and_manifest_requests_8_1_3_and_8_1_4() -> None:
    minimal = CmcdData(content_id=CID, session_id=SID)
    assert cmcd_query(minimal) == (
        "CMCD=cid%3D%22content-id-123%22%2Csid%3D%22session-id-123%22%2Cv%3D2"
    )
    assert cmcd_headers(minimal) == {
        "CMCD-Session": 'cid="content-id-123",sid="session-id-123",v=2'
    }
    manifest = CmcdData(
        content_id=CID,
        object_type=ObjectType.MANIFEST,
        streaming_format=StreamingFormat.DASH,
        session_id=SID,
        stream_type=StreamType.VOD,
        is_startup=True,
    )
    assert cmcd_query(manifest) == (
        "CMCD=cid%3D%22content-id-123%22%2Cot%3Dm%2Csf%3Dd%2Csid%3D%22session-id-123%22%2C"
        "st%3Dv%2Csu%2Cv%3D2"
    )
    assert cmcd_headers(manifest) == {
        "CMCD-Object": "ot=m",
        "CMCD-Request": "su",
        "CMCD-Session": 'cid="content-id-123",sf=d,sid="session-id-123",st=v,v=2',
    }


def test_v2_next_objects_list_8_1_4_request_2() -> None:
    """``nor`` names two segments (``sta=s`` of the example left out)."""
    data = CmcdData(
        buffer_length_s=(TypedValue(0.0),),
        encoded_bitrate_bps=(TypedValue(3_000_000, V),),
        content_id=CID,
        measured_throughput_bps=(TypedValue(15_000_000),),
        next_objects=(NextObject("seg-1.m4v"), NextObject("seg-2.m4v")),
        object_type=ObjectType.INIT,
        session_id=SID,
        stream_type=StreamType.VOD,
        is_startup=True,
    )
    assert cmcd_headers(data)["CMCD-Request"] == (
        'bl=(0),mtp=(15000),nor=("seg-1.m4v" "seg-2.m4v"),su'
    )
    assert "nor%3D%28%22seg-1.m4v%22%20%22seg-2.m4v%22%29" in cmcd_query(data)


def test_v2_per_type_lists_8_1_8() -> None:
    """The inner lists of 8.1.8 (only the keys this player sends)."""
    data = CmcdData(
        buffer_length_s=(TypedValue(2.1, V), TypedValue(1.8, A)),
        encoded_bitrate_bps=(TypedValue(3_000_000, V), TypedValue(164_000, A)),
        measured_throughput_bps=(TypedValue(15_000_000, V), TypedValue(6_000_000, A)),
        top_bitrate_bps=(TypedValue(6_000_000, V), TypedValue(350_000, A)),
        playback_rate=1.1,
        stream_type=StreamType.LIVE,
    )
    assert cmcd_payload(data) == (
        "bl=(2100;v 1800;a),br=(3000;v 164;a),mtp=(15000;v 6000;a),pr=1.1,st=l,"
        "tb=(6000;v 350;a),v=2"
    )
    assert cmcd_headers(data)["CMCD-Status"] == "pr=1.1"


def test_v1_example_9() -> None:
    """CTA-5004 (2020) section 6, example 9: v1 integers, URL-encoded ``nor``, ``nrr``, no ``v``."""
    data = CmcdData(
        buffer_length_s=(TypedValue(21.3),),
        encoded_bitrate_bps=(TypedValue(3_200_000),),
        is_buffer_starved=True,
        content_id="faec5fc2-ac30-11ea-bb37-0242ac130002",
        object_duration_s=4.004,
        deadline_s=18.5,
        measured_throughput_bps=(TypedValue(48_100_000),),
        next_objects=(NextObject("../300kbps/track.m4v", 12323, 48763),),
        object_type=V,
        playback_rate=1.08,
        requested_throughput_bps=12_000_000,
        streaming_format=StreamingFormat.DASH,
        session_id="6e2fb550-c457-11e9-bb97-0800200c9a66",
        stream_type=StreamType.VOD,
        is_startup=True,
        top_bitrate_bps=(TypedValue(6_000_000),),
    )
    assert cmcd_query(data, version=1) == (
        "CMCD=bl%3D21300%2Cbr%3D3200%2Cbs%2Ccid%3D%22faec5fc2-ac30-11ea-bb37-0242ac130002%22"
        "%2Cd%3D4004%2Cdl%3D18500%2Cmtp%3D48100%2Cnor%3D%22..%252F300kbps%252Ftrack.m4v%22"
        "%2Cnrr%3D%2212323-48763%22%2Cot%3Dv%2Cpr%3D1.08%2Crtp%3D12000%2Csf%3Dd%2C"
        "sid%3D%226e2fb550-c457-11e9-bb97-0800200c9a66%22%2Cst%3Dv%2Csu%2Ctb%3D6000"
    )
    assert cmcd_headers(data, version=1) == {
        "CMCD-Object": "br=3200,d=4004,ot=v,tb=6000",
        "CMCD-Request": 'bl=21300,dl=18500,mtp=48100,nor="..%2F300kbps%2Ftrack.m4v",'
        'nrr="12323-48763",su',
        "CMCD-Session": 'cid="faec5fc2-ac30-11ea-bb37-0242ac130002",pr=1.08,sf=d,'
        'sid="6e2fb550-c457-11e9-bb97-0800200c9a66",st=v',
        "CMCD-Status": "bs,rtp=12000",
    }


def test_v2_range_of_next_object_is_a_parameter() -> None:
    data = CmcdData(next_objects=(NextObject("a.mp4", 500, None), NextObject("b.mp4", None, 200)))
    assert cmcd_payload(data) == 'nor=("a.mp4";r="500-" "b.mp4";r="-200"),v=2'
    assert cmcd_payload(data, version=1) == 'nor="a.mp4",nrr="500-"'


@pytest.mark.parametrize(
    ("seconds", "wire"), [(2.049, 2000), (2.05, 2100), (0.0, 0), (0.0499, 0), (12.35, 12400)]
)
def test_buffer_and_deadline_round_to_100_ms(seconds: float, wire: int) -> None:
    data = CmcdData(buffer_length_s=(TypedValue(seconds),), deadline_s=seconds)
    assert cmcd_fields(data, version=1)[:2] == [("bl", str(wire)), ("dl", str(wire))]


@pytest.mark.parametrize(
    ("bps", "mtp", "br"),
    [(15_049_000, 15000, 15049), (15_050_000, 15100, 15050), (449, 0, 0), (3_200_499, 3200, 3200)],
)
def test_throughput_rounds_to_100_kbps_and_bitrate_to_kbps(bps: int, mtp: int, br: int) -> None:
    data = CmcdData(
        measured_throughput_bps=(TypedValue(bps),),
        requested_throughput_bps=bps,
        encoded_bitrate_bps=(TypedValue(bps),),
    )
    assert dict(cmcd_fields(data, version=1)) == {"mtp": str(mtp), "rtp": str(mtp), "br": str(br)}


def test_booleans_playback_rate_and_duration_rules() -> None:
    quiet = CmcdData(is_buffer_starved=False, is_startup=False, playback_rate=1.0)
    assert cmcd_payload(quiet, version=1) == ""  # false booleans and pr=1 are not sent
    assert cmcd_query(quiet, version=1) == ""
    stopped = CmcdData(playback_rate=0.0, is_startup=True, is_buffer_starved=True)
    assert cmcd_payload(stopped, version=1) == "bs,pr=0.0,su"  # RFC 8941 decimal
    for ot in (ObjectType.MANIFEST, ObjectType.INIT, ObjectType.KEY):
        assert "d=" not in cmcd_payload(CmcdData(object_type=ot, object_duration_s=2.0))
    assert "d=2000" in cmcd_payload(CmcdData(object_type=ObjectType.CAPTION, object_duration_s=2))


def test_pr_travels_in_session_header_in_v1_and_status_header_in_v2() -> None:
    data = CmcdData(playback_rate=2.0)
    assert cmcd_headers(data, version=1) == {"CMCD-Session": "pr=2.0"}
    assert cmcd_headers(data, version=2) == {"CMCD-Session": "v=2", "CMCD-Status": "pr=2.0"}


def test_strings_are_escaped_and_non_ascii_refused() -> None:
    data = CmcdData(session_id='a"b\\c')
    assert cmcd_payload(data, version=1) == 'sid="a\\"b\\\\c"'
    assert parse_sf_dictionary(cmcd_payload(data))["sid"] == SfItem('a"b\\c')
    with pytest.raises(PlayerConfigError, match="printable ASCII"):
        CmcdData(content_id="café")
    with pytest.raises(PlayerConfigError, match="version"):
        cmcd_payload(data, version=3)


def test_key_filter_keeps_v_in_v2() -> None:
    data = CmcdData(session_id="s", content_id="c", is_startup=True)
    assert cmcd_payload(data, keys={"sid"}) == 'sid="s",v=2'
    assert cmcd_payload(data, keys={"sid"}, version=1) == 'sid="s"'


def test_query_argument_is_added_once_and_removed_cleanly() -> None:
    arg = cmcd_query(CmcdData(session_id="s"))
    url = with_cmcd_query("https://cdn/v/seg-1.m4s?token=a%2Fb&x", arg)
    assert url == f"https://cdn/v/seg-1.m4s?token=a%2Fb&x&{arg}"
    again = with_cmcd_query(url, cmcd_query(CmcdData(session_id="t")))
    assert again.count("CMCD=") == 1 and again.endswith("%22t%22%2Cv%3D2")
    assert strip_cmcd_query(url) == "https://cdn/v/seg-1.m4s?token=a%2Fb&x"
    assert strip_cmcd_query(with_cmcd_query("https://cdn/a", arg)) == "https://cdn/a"
    assert with_cmcd_query("https://cdn/a?q=1", "") == "https://cdn/a?q=1"


_values = st.floats(min_value=0, max_value=1e5, allow_nan=False)
_bps = st.floats(min_value=0, max_value=1e10, allow_nan=False)
_ids = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=64)
_types = st.sampled_from(list(ObjectType))
_paths = st.text(st.sampled_from("abz09._~/-?=&%"), min_size=1, max_size=30)
PROPS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def _data(draw: st.DrawFn) -> CmcdData:
    return CmcdData(
        buffer_length_s=tuple(
            TypedValue(draw(_values), draw(st.none() | _types))
            for _ in range(draw(st.integers(0, 2)))
        ),
        encoded_bitrate_bps=(TypedValue(draw(_bps), draw(_types)),),
        is_buffer_starved=draw(st.booleans()),
        content_id=draw(st.none() | _ids),
        object_duration_s=draw(st.none() | _values),
        deadline_s=draw(st.none() | _values),
        measured_throughput_bps=(TypedValue(draw(_bps)),),
        next_objects=tuple(
            NextObject(draw(_paths), draw(st.integers(0, 10**9)), draw(st.none() | st.integers(0)))
            for _ in range(draw(st.integers(0, 2)))
        ),
        object_type=draw(st.none() | _types),
        playback_rate=draw(st.none() | st.floats(min_value=0, max_value=16)),
        session_id=draw(st.none() | _ids),
        stream_type=draw(st.none() | st.sampled_from(list(StreamType))),
        is_startup=draw(st.booleans()),
    )


@PROPS
@given(_data(), st.sampled_from([1, 2]))
def test_query_and_headers_say_the_same_to_an_independent_parser(
    data: CmcdData, version: int
) -> None:
    """Both transmission modes parse (RFC 8941) to the same, alphabetically sorted keys."""
    query = received_cmcd(cmcd_query(data, version=version), [])
    headers = received_cmcd("", list(cmcd_headers(data, version=version).items()))
    if query is None:
        assert headers is None
        return
    assert headers is not None and query.error is None and headers.error is None
    assert query.fields == headers.fields
    assert list(query.fields) == sorted(query.fields)
    assert query.version == version
    for key, header in headers.header_of.items():
        assert header == ("cmcd-status" if key == "pr" and version == 2 else header)
    if data.session_id is not None:
        assert query.value("sid") == data.session_id
    if data.object_type is not None:
        assert query.value("ot") == SfToken(data.object_type.value)
    if data.is_startup:
        assert query.value("su") is True
    if version == 2 and data.next_objects:
        member = query.fields["nor"]
        assert isinstance(member, SfInnerList)
        assert [i.value for i in member.items] == [n.path for n in data.next_objects]


@st.composite
def _url_pairs(draw: st.DrawFn) -> tuple[str, str]:
    segment = st.text(st.sampled_from("aZ09._~-"), min_size=1, max_size=8).filter(
        lambda s: s not in (".", "..")
    )
    base = "/".join(draw(st.lists(segment, min_size=1, max_size=4)))
    target = "/".join(draw(st.lists(segment, min_size=1, max_size=4)))
    query = draw(st.sampled_from(["", "?t=1", "?a=b&c=d"]))
    return f"https://cdn.test:8443/{base}", f"https://cdn.test:8443/{target}{query}"


@PROPS
@given(_url_pairs())
def test_relative_reference_resolves_back_to_its_target(pair: tuple[str, str]) -> None:
    base, target = pair
    rel = relative_reference(base, target)
    assert rel is not None and "//" not in rel and not rel.startswith("/")
    assert urljoin(base, rel) == target


def test_relative_reference_needs_the_same_origin() -> None:
    assert relative_reference("https://a/x/1.m4s", "https://b/x/2.m4s") is None
    assert relative_reference("https://a/x/1.m4s", "http://a/x/2.m4s") is None
    assert relative_reference("https://a/x/1.m4s", "https://a:444/x/2.m4s") is None
    assert relative_reference("https://a/1.m4s", "https://a/y:z") == "./y:z"
    assert relative_reference("https://a/x/1.m4s", "https://a/y:z") == "../y:z"


def test_lab_parser_reads_the_v2_complex_example_8_1_8() -> None:
    """The lab reads every key of 8.1.8's query form, including keys the player never sends."""
    query = (
        "CMCD=bg%2Cbl%3D%282100%3Bv%201800%3Ba%29%2Cbr%3D%283000%3Bv%20164%3Ba%29%2Cbs%2C"
        "cid%3D%22content-id-123%22%2Cd%3D4000%2Cec%3D%28%222001%22%29%2Cmtp%3D%2815000%3Bv"
        "%206000%3Ba%29%2Cnor%3D%28%22next-seg.mp4%22%29%2Cot%3Dv%2Cpr%3D1.1%2Csid%3D%22"
        "session-id-123%22%2Cst%3Dl%2Csu%2Cv%3D2"
    )
    got = received_cmcd(query, [])
    assert got is not None and got.error is None and got.source == "query"
    assert got.value("bl") == (SfItem(2100, {"v": True}), SfItem(1800, {"a": True}))
    assert got.value("bg") is True and got.value("pr") == 1.1 and got.version == 2
    assert got.value("ec") == (SfItem("2001"),)
    assert isinstance(got.value("ot"), SfToken) and not isinstance(got.value("cid"), SfToken)
