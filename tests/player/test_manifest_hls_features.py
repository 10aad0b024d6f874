"""The rest of the corpus feature index (ad cues, interstitials, start offset, session data...),
KID extraction from key-system data, and the JSON / summary forms of HLS presentations."""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from player.errors import ManifestParseError
from player.manifest import (
    PresentationType,
    Representation,
    TrackType,
    build_reload_url,
    parse_hls,
    parse_manifest,
)
from player.manifest._hls_keys import build_key, kid_from_pssh
from player.manifest._hls_urls import UrlResolver

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
HLS = SHARED / "corpus" / "manifests" / "hls"
BASE = "https://cdn.example.com/x/"
NOW = 1_700_000_000.0
KID = "0123456789abcdef0123456789abcdef"
WIDEVINE = "edef8ba979d64acea3c827dcd51d21ed"


def rep_of(name: str) -> Representation:
    p = parse_hls((HLS / name).read_bytes(), url=BASE + name, now=NOW)
    (rep,) = p.representations()
    return rep


def test_ad_cue_playlist_keeps_segments_and_dates() -> None:
    rep = rep_of("m3u8__cue_out_playlist.m3u8")
    assert rep.segments is not None
    assert [s.number for s in rep.segments] == [143474331, 143474332, 143474333, 143474334]
    assert rep.segments[0].url == BASE + "1432451707508/ts/71737/sequence143474338.ts"
    when = datetime(2015, 6, 18, 23, 22, 10, tzinfo=timezone.utc).timestamp()
    assert [s.program_date_time for s in rep.segments] == [when + 10 * i for i in range(4)]


def test_interstitial_dateranges_after_endlist_are_ignored() -> None:
    rep = rep_of("shaka__hls-interstitial__main.m3u8")
    assert rep.segments is not None
    assert [s.url for s in rep.segments] == [BASE + f"s{i}.mp4" for i in range(1, 6)]
    assert rep.init is not None and rep.init.url == BASE + "init.mp4"
    assert rep.segments[0].program_date_time == 946684800.0


def test_start_offset_playlist() -> None:
    rep = rep_of("m3u8__simple_playlist_with_start_negative_offset.m3u8")
    assert rep.segments is not None
    assert [(s.url, s.duration_s) for s in rep.segments] == [
        ("http://media.example.com/entire.ts", 5220.0)
    ]
    name = "m3u8__simple_playlist_with_start_negative_offset.m3u8"
    p = parse_hls((HLS / name).read_bytes(), url=BASE + name)
    assert p.start_offset_s == -2.0
    assert p.to_json()["start_offset_s"] == -2.0


def test_session_data_only_playlist() -> None:
    p = parse_hls((HLS / "m3u8__session_data_playlist.m3u8").read_bytes(), url=BASE + "s.m3u8")
    (rep,) = p.representations()
    assert rep.segments == ()
    assert p.type is PresentationType.DYNAMIC


def test_closed_captions_make_no_track() -> None:
    p = parse_hls((HLS / "m3u8__multi_media_playlist.m3u8").read_bytes(), url=BASE + "m.m3u8")
    assert [t.type for t in p.periods[0].tracks] == [
        TrackType.VIDEO,
        TrackType.TEXT,
        TrackType.TEXT,
        TrackType.AUDIO,
        TrackType.AUDIO,
        TrackType.AUDIO,
    ]
    assert all(t.group_id != "cc" for t in p.periods[0].tracks)


def test_independent_segments_fmp4_media_playlist() -> None:
    rep = rep_of("shaka__hls-iframe-only__media.m3u8")
    assert rep.is_iframe_only
    assert rep.segments is not None and len(rep.segments) == 2
    assert rep.init is not None


def _pssh(version: int, system_id: str, kids: list[str], payload: bytes) -> bytes:
    body = bytes([version, 0, 0, 0]) + bytes.fromhex(system_id)
    if version >= 1:
        body += len(kids).to_bytes(4, "big") + b"".join(bytes.fromhex(k) for k in kids)
    body += len(payload).to_bytes(4, "big") + payload
    return (len(body) + 8).to_bytes(4, "big") + b"pssh" + body


def test_kid_from_widevine_v0_payload() -> None:
    payload = (
        b"\x08\x01"
        + b"\x22\x03abc"
        + b"\x12\x10"
        + bytes.fromhex(KID)
        + b"\x48\xe3\xdc\x95\x9b\x06"
    )
    assert kid_from_pssh(_pssh(0, WIDEVINE, [], payload)) == KID
    assert kid_from_pssh(_pssh(0, WIDEVINE, [], b"\x08\x01\x22\x02ab")) is None
    assert kid_from_pssh(_pssh(0, WIDEVINE, [], b"\x0d\x00\x00")) is None  # fixed32: not read
    assert kid_from_pssh(_pssh(1, "1077efecc0b24d02ace33c1e52e2fb4b", [KID], b"")) == KID
    assert kid_from_pssh(_pssh(1, "1077efecc0b24d02ace33c1e52e2fb4b", [], b"")) is None
    assert kid_from_pssh(b"\x00\x00\x00\x20moov" + bytes(24)) is None


def _key(attributes: dict[str, str]) -> tuple[str | None, str | None]:
    key = build_key(attributes, UrlResolver(BASE + "m.m3u8", manifest_url=BASE + "m.m3u8"))
    return key.key_id, key.uri


def _data_uri(blob: bytes) -> str:
    return "data:text/plain;base64," + base64.b64encode(blob).decode()


def test_kid_from_key_attributes() -> None:
    box = _pssh(0, WIDEVINE, [], b"\x12\x10" + bytes.fromhex(KID))
    widevine = {"METHOD": "SAMPLE-AES-CTR", "KEYFORMAT": "urn:uuid:" + WIDEVINE}
    assert _key({**widevine, "URI": _data_uri(box)}) == (KID, _data_uri(box))
    assert _key({**widevine, "URI": "data:," + "".join(f"%{b:02x}" for b in box)})[0] == KID
    assert _key({**widevine, "URI": "data:;base64,!!!"})[0] is None
    assert _key({**widevine, "URI": "skd://x"}) == (None, None)
    assert _key({"METHOD": "AES-128", "URI": "k.bin", "KEYID": "0x" + KID.upper()}) == (
        KID,
        BASE + "k.bin",
    )


@pytest.mark.parametrize(
    "xml",
    [
        "<WRMHEADER><DATA><KID>{b64}</KID></DATA></WRMHEADER>",
        '<WRMHEADER version="4.3.0.0"><DATA><KIDS><KID ALGID="AESCTR" VALUE="{b64}">'
        "</KID></KIDS></DATA></WRMHEADER>",
    ],
)
def test_kid_from_playready_object(xml: str) -> None:
    guid = uuid.UUID(hex=KID)
    text = xml.format(b64=base64.b64encode(guid.bytes_le).decode()).encode("utf-16-le")
    record = (1).to_bytes(2, "little") + len(text).to_bytes(2, "little") + text
    pro = (len(record) + 6).to_bytes(4, "little") + (1).to_bytes(2, "little") + record
    attributes = {"METHOD": "SAMPLE-AES-CTR", "KEYFORMAT": "com.microsoft.playready"}
    assert _key({**attributes, "URI": _data_uri(pro)})[0] == KID
    broken = pro.replace(base64.b64encode(guid.bytes_le)[:4].decode().encode("utf-16-le"), b"")
    assert _key({**attributes, "URI": _data_uri(broken)})[0] is None


def test_bad_keys_are_parse_errors() -> None:
    with pytest.raises(ManifestParseError, match="IV"):
        _key({"METHOD": "AES-128", "URI": "k", "IV": "0xZZ"})
    with pytest.raises(ManifestParseError, match="only absolute http"):
        _key({"METHOD": "AES-128", "URI": "skd://identity-must-be-http"})


def test_json_and_summary_of_a_live_ll_hls_playlist() -> None:
    name = "m3u8__low_latency_delta_update_playlist.m3u8"
    p = parse_manifest((HLS / name).read_bytes(), url=BASE + name, now=NOW)
    data = json.loads(json.dumps(p.to_json()))
    assert (data["format"], data["type"], data["duration_s"]) == ("hls", "dynamic", None)
    assert data["live"]["media_sequence"] == 266
    assert data["live"]["part_target_s"] == pytest.approx(0.33334)
    assert data["live"]["can_block_reload"] is True
    (rep,) = data["representations"]
    assert rep["segment_count"] == 4
    assert rep["first_segment_number"] == 269
    assert rep["pending_part_count"] == 5
    assert rep["track_type"] == "muxed"
    assert rep["kids"] == []
    text = p.summary()
    assert text.splitlines()[0] == (
        "HLS dynamic presentation: 1 period(s), 1 representation(s), duration unknown"
    )
    assert "media sequence 266" in text
    assert "part target 0.333 s" in text


def test_json_of_a_multivariant_playlist() -> None:
    name = "m3u8__content_steering_playlist.m3u8"
    data = parse_manifest((HLS / name).read_bytes(), url=BASE + name).to_json()
    assert data["steering"] == {
        "server_url": "https://cdn.example.com/steering?video=00012",
        "default_pathway": "CDN-A",
        "query_before_start": False,
        "proxy_server_url": None,
    }
    assert data["live"] is None
    assert [t["id"] for t in data["tracks"]] == ["main", "audio:A:English", "iframe"]
    main = [r for r in data["representations"] if r["track_id"] == "main"]
    assert [r["bandwidth_bps"] for r in main] == [1280000, 7680000]
    assert [loc["service_location"] for loc in main[0]["locations"]] == ["CDN-A", "CDN-B"]
    assert {r["segment_count"] for r in data["representations"]} == {None}


def test_gap_in_parts() -> None:
    p = parse_hls((HLS / "m3u8__gap_in_parts_playlist.m3u8").read_bytes(), url=BASE + "g.m3u8")
    (rep,) = p.representations()
    assert [(x.url.rsplit("/", 1)[1], x.is_gap) for x in rep.pending_parts] == [
        ("filePart271.a.ts", False),
        ("filePart271.b.ts", True),
        ("filePart271.c.ts", True),
    ]


def test_non_finite_server_control_values_are_dropped() -> None:
    text = (
        b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n"
        b"#EXT-X-SERVER-CONTROL:HOLD-BACK=nan,PART-HOLD-BACK=1e999,CAN-SKIP-UNTIL=-3\n"
        b"#EXT-X-PART-INF:PART-TARGET=inf\n#EXTINF:4,\na.ts\n"
    )
    p = parse_hls(text, url=BASE + "l.m3u8", now=NOW)
    assert p.live.suggested_presentation_delay_s == 12.0
    assert (p.live.part_hold_back_s, p.live.can_skip_until_s, p.live.part_target_s) == (
        None,
        None,
        None,
    )
    json.loads(json.dumps(p.to_json(), allow_nan=False))


def test_json_has_no_non_finite_numbers() -> None:
    p = parse_hls(b"#EXTM3U\n#EXTINF:4,\na.ts\n#EXT-X-ENDLIST\n", url=BASE + "v.m3u8")
    rep = next(p.representations())
    track = dataclasses.replace(
        p.periods[0].tracks[0],
        representations=(dataclasses.replace(rep, frame_rate=float("nan")),),
    )
    odd = dataclasses.replace(
        p, periods=(dataclasses.replace(p.periods[0], tracks=(track,)),), min_buffer_s=math.inf
    )
    data = odd.to_json()
    assert data["min_buffer_s"] is None
    assert data["representations"][0]["frame_rate"] is None
    assert data["duration_s"] == 4.0


def test_reload_url_with_ll_hls_delivery_directives() -> None:
    name = "m3u8__low_latency_delta_update_playlist.m3u8"
    p = parse_hls((HLS / name).read_bytes(), url=BASE + name + "?token=1", now=NOW)
    (rep,) = p.representations()
    # Segments up to 272 and parts 273.0-273.3 are listed: the next part is 273.4.
    assert build_reload_url(p, rep.id) == BASE + name + "?token=1&_HLS_msn=273&_HLS_part=4"
    assert build_reload_url(p, rep.id, is_delta=True).endswith("&_HLS_part=4&_HLS_skip=YES")
    plain = "androidx-media__live_low_latency_segments_and_parts.m3u8"  # no CAN-BLOCK-RELOAD
    q = parse_hls((HLS / plain).read_bytes(), url=BASE + plain, now=NOW)
    assert build_reload_url(q, next(q.representations()).id) == BASE + plain
    full = (
        "androidx-media__live_low_latency_media_can_block_reload_low_latency_full_segment"
        "_preload.m3u8"
    )
    r = parse_hls((HLS / full).read_bytes(), url=BASE + "f.m3u8", now=NOW)
    # Segment 13 is complete and no part of 14 is listed yet: ask for part 0 of segment 14.
    assert build_reload_url(r, "f.m3u8") == BASE + "f.m3u8?_HLS_msn=14&_HLS_part=0"


def test_segment_bitrates_from_the_corpus() -> None:
    """Apple's tool writes ``EXT-X-BITRATE`` between ``EXTINF`` and the URI of each segment."""
    rep = rep_of("shaka__hls-ts-h264__prog_index.m3u8")
    assert rep.segments is not None
    assert [s.bitrate_bps for s in rep.segments] == [
        377_000,
        385_000,
        388_000,
        378_000,
        378_000,
        372_000,
    ]


BITRATES = """#EXTM3U
#EXT-X-TARGETDURATION:4
#EXTINF:4,
s0.ts
#EXT-X-BITRATE:800
#EXTINF:4,
s1.ts
#EXTINF:4,
s2.ts
#EXT-X-BYTERANGE:1000@0
#EXTINF:4,
whole.ts
#EXTINF:4,
s4.ts
#EXT-X-BITRATE:12x
#EXTINF:4,
s5.ts
#EXTINF:4,
#EXT-X-BITRATE:1500
s6.ts
#EXT-X-ENDLIST
"""


@pytest.mark.parametrize("extra", ["", "#EXT-X-START:TIME-OFFSET=0\n"], ids=["fast", "m3u8"])
def test_a_segment_bitrate_applies_until_the_next_tag_but_not_to_byte_ranges(
    extra: str, caplog: pytest.LogCaptureFixture
) -> None:
    """RFC 8216bis 4.4.4.8, on both parse paths (an unlisted tag sends it to ``m3u8``)."""
    text = BITRATES.replace("#EXT-X-TARGETDURATION:4\n", f"#EXT-X-TARGETDURATION:4\n{extra}")
    p = parse_hls(text.encode(), url=BASE + "v.m3u8", now=NOW)
    (rep,) = p.representations()
    assert rep.segments is not None
    rates = [s.bitrate_bps for s in rep.segments]
    assert rates == [None, 800_000, 800_000, None, 800_000, None, 1_500_000]
    assert any("ignoring EXT-X-BITRATE:12x" in r.getMessage() for r in caplog.records)
