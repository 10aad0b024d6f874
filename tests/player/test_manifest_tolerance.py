"""Tolerance where players are tolerant (issue 10, defect 8), on manifests from other projects.

Each manifest below is a verbatim copy of a file from another project's test suite (named with
its repository, path, commit and licence), kept here because ``../shared/corpus`` has none of
these quirks. What is truly unplayable is still refused with a ``ManifestError`` and a reason.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from pathlib import Path

import pytest

from player import PlaybackState, VirtualClock
from player._player import Player
from player.config import PlayerConfig
from player.errors import ManifestParseError
from player.events import Event, SegmentDownloaded
from player.lab import ContentSpec, RenditionSpec, generate_content
from player.manifest import ByteRange, TrackType, parse_dash, parse_hls, parse_manifest
from transport import TransportConfig
from transport.lab import LabCdn, TestCA

NOW = 1_700_000_000.0

# grafov/m3u8 sample-playlists/master-with-i-frame-stream-inf.m3u8
# @e1285117e7c05d290bf572b527e5419458bb36c4 (BSD-3-Clause)
GRAFOV_IFRAME_INVALID_BW = b"""#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=1280000
low/audio-video.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=86000,URI="low/iframe.m3u8",PROGRAM-ID=1,CODECS="c1",RESOLUTION="1x1",VIDEO="1"
#EXT-X-STREAM-INF:BANDWIDTH=2560000
mid/audio-video.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=150000,URI="mid/iframe.m3u8",PROGRAM-ID=1,CODECS="c2",RESOLUTION="2x2",VIDEO="2"
#EXT-X-STREAM-INF:BANDWIDTH=7680000
hi/audio-video.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=550000,URI="hi/iframe.m3u8",PROGRAM-ID=1,CODECS="c2",RESOLUTION="2x2",VIDEO="2"
#EXT-X-STREAM-INF:BANDWIDTH=65000,CODECS="mp4a.40.5"
audio-only.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH="INVALIDBW",URI="hi/iframe.m3u8",PROGRAM-ID=1,CODECS="c2",RESOLUTION="2x2",VIDEO="2"
"""  # noqa: E501

# videojs/videojs-contrib-hls test/data/manifests.js, key 'versionInvalid'
# @148883144e6a8186dc705273572f9cec03463c5e (Apache-2.0)
VIDEOJS_VERSION_INVALID = b"""#EXTM3U
#EXT-X-TARGETDURATION:10
#EXT-X-VERSION:NaN
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXTINF:10,
hls_450k_video.ts
#EXT-X-ENDLIST

"""

# --- HLS ---------------------------------------------------------------------------------------


def test_variant_with_invalid_bandwidth_is_dropped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = "https://cdn.example.com/grafov/master.m3u8"
    with caplog.at_level(logging.WARNING, logger="player.manifest._hls_scan"):
        p = parse_manifest(GRAFOV_IFRAME_INVALID_BW, url=url, now=NOW)
    tracks = {t.id: t for t in p.periods[0].tracks}
    assert [r.bandwidth_bps for r in tracks["main"].representations] == [
        1_280_000,
        2_560_000,
        7_680_000,
        65_000,
    ]
    iframes = tracks["iframe"].representations
    assert [r.bandwidth_bps for r in iframes] == [86_000, 150_000, 550_000]
    assert tracks["iframe"].type is TrackType.VIDEO
    assert [r.message for r in caplog.records] == [
        f'{url}: line 13: dropping a variant stream: BANDWIDTH="INVALIDBW" is not a number'
    ]


@pytest.mark.parametrize(
    "line",
    [
        "#EXT-X-STREAM-INF:BANDWIDTH=-5",
        '#EXT-X-STREAM-INF:BANDWIDTH="INVALIDBW"',
        "#EXT-X-STREAM-INF:BANDWIDTH=1000,AVERAGE-BANDWIDTH=x",
        "#EXT-X-STREAM-INF:BANDWIDTH=1000,FRAME-RATE=fast",
        "#EXT-X-STREAM-INF:BANDWIDTH=inf",
    ],
)
def test_a_playlist_whose_only_variant_is_unusable_is_refused(line: str) -> None:
    data = f"#EXTM3U\n{line}\nv.m3u8\n".encode()
    with pytest.raises(ManifestParseError) as caught:
        parse_hls(data, url="https://cdn.example.com/m.m3u8")
    assert caught.value.detail == "no usable variant"
    good = f"#EXTM3U\n{line}\nv.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=9\nw.m3u8\n".encode()
    reps = list(parse_hls(good, url="https://cdn.example.com/m.m3u8").representations())
    assert [(r.id, r.bandwidth_bps) for r in reps] == [("w", 9)]  # no size: the URI's name


def test_unreadable_version_tag_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    url = "https://cdn.example.com/videojs/versionInvalid.m3u8"
    with caplog.at_level(logging.WARNING, logger="player.manifest._hls_scan"):
        p = parse_manifest(VIDEOJS_VERSION_INVALID, url=url, now=NOW)
    (rep,) = list(p.representations())
    assert rep.segments is not None and [s.url for s in rep.segments] == [
        "https://cdn.example.com/videojs/hls_450k_video.ts"
    ]
    assert p.duration_s == 10.0
    assert "ignoring EXT-X-VERSION:NaN" in caplog.text


# carlanton/m3u8-parser src/test/resources/media/ll-hls-byteranges.m3u8
# @5a00025a016c6d1db42c897643fe5a47fe7140f8 (MIT)
CARLANTON_LL_HLS_BYTERANGES = b"""#EXTM3U
# Following the example above, this Playlist is a response to: GET https://example.com/2M/waitForMSN.php?_HLS_msn=273&_HLS_part=3 &_HLS_skip=YES
#EXT-X-TARGETDURATION:4
#EXT-X-VERSION:9
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0,CAN-SKIP-UNTIL=12.0
#EXT-X-PART-INF:PART-TARGET=0.33334
#EXT-X-MEDIA-SEQUENCE:266
#EXT-X-SKIP:SKIPPED-SEGMENTS=3
#EXTINF:4.00008,
fileSequence269.mp4
#EXTINF:4.00008,
fileSequence270.mp4
#EXT-X-PART:DURATION=0.33334,URI="filePart271.mp4",BYTERANGE="1949@0"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.mp4",BYTERANGE="1829@1949"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.mp4",BYTERANGE="1880@3778"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.mp4",BYTERANGE="1766@5658"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.mp4",INDEPENDENT=YES,BYTERANGE="1808@7424"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.mp4",BYTERANGE="1994@9232"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.mp4",BYTERANGE="1635@11226"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.mp4",BYTERANGE="1813@12861"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.mp4",INDEPENDENT=YES,BYTERANGE="1800@14674"
#EXT-X-PART:DURATION=0.33334,URI="filePart271.mp4",BYTERANGE="1589@16474"
#EXTINF:4.00008,
fileSequence271.mp4
#EXT-X-PART:DURATION=0.33334,URI="filePart272.mp4",INDEPENDENT=YES,BYTERANGE="1949@0"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.mp4",BYTERANGE="1829@1949"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.mp4",BYTERANGE="1880@3778"
#EXT-X-PART:DURATION=0.33334,URI="filePart272.mp4",BYTERANGE="1766@5658"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="filePart273.mp4"


#EXT-X-RENDITION-REPORT:URI="../1M/waitForMSN.php",LAST-MSN=273,LAST-PART=3
#EXT-X-RENDITION-REPORT:URI="../4M/waitForMSN.php",LAST-MSN=273,LAST-PART=3"""  # noqa: E501


def test_quoted_part_byterange_is_read() -> None:
    url = "https://example.com/2M/waitForMSN.php"
    p = parse_hls(CARLANTON_LL_HLS_BYTERANGES, url=url, now=NOW)
    (rep,) = list(p.representations())
    assert rep.segments is not None and [s.number for s in rep.segments] == [269, 270, 271]
    parts = rep.segments[2].parts
    assert [
        (part.byte_range.first, part.byte_range.last) for part in parts[:2] if part.byte_range
    ] == [
        (0, 1948),
        (1949, 3777),
    ]
    assert len(parts) == 10 and parts[4].is_independent and parts[9].byte_range is not None
    assert parts[9].byte_range.header() == "bytes=16474-18062"
    pending = [(part.url.rsplit("/", 1)[1], part.byte_range) for part in rep.pending_parts]
    assert pending[0] == ("filePart272.mp4", ByteRange(0, 1948)) and len(pending) == 5
    assert rep.pending_parts[-1].is_preload_hint


# --- DASH --------------------------------------------------------------------------------------

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "manifests"


def test_an_invalid_default_kid_on_one_adaptation_set_is_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Shaka Packager's encryption test output with the audio set's KID made invalid."""
    original = (CORPUS / "dash" / "shaka-packager__encryption__output.mpd").read_bytes()
    kid = b'cenc:default_KID="31323334-3536-3738-3930-313233343536"'
    assert original.count(kid) == 2
    data = original.replace(kid, b'cenc:default_KID="aaa"', 1)
    url = "https://cdn.example.com/shaka/output.mpd"
    with caplog.at_level(logging.WARNING, logger="player.manifest._dash_protection"):
        p = parse_dash(data, url=url)
    tracks = p.periods[0].tracks
    assert [t.type for t in tracks] == [TrackType.AUDIO, TrackType.VIDEO]
    (audio,) = tracks[0].representations
    (video,) = tracks[1].representations
    assert audio.kids == () and video.kids == ("31323334353637383930313233343536",)
    assert audio.protections[0].scheme == "cenc" and audio.protections[0].default_kids == ()
    assert audio.segments is None and audio.index is not None  # still playable: its sidx
    assert caplog.messages == [f"{url}: ignoring cenc:default_KID 'aaa': not a 16-byte key id"]


def test_kids_that_are_all_invalid_or_mixed() -> None:
    data = (
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:cenc="urn:mpeg:cenc:2013" '
        'type="static" mediaPresentationDuration="PT4S"><Period>'
        '<AdaptationSet mimeType="video/mp4">'
        '<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cbcs" '
        'cenc:default_KID="zz 0123456789ABCDEF0123456789abcdef {nope}"/>'
        '<SegmentTemplate duration="2" media="$Number$.m4s"/>'
        '<Representation id="v" bandwidth="1"/></AdaptationSet></Period></MPD>'
    ).encode()
    (rep,) = list(parse_dash(data, url="https://cdn.example.com/m.mpd").representations())
    assert rep.kids == ("0123456789abcdef0123456789abcdef",)


# YouTube Live's "ISO BMFF MPD with Embedded Initialization" example (developers.google.com/
# youtube/v3/live/guides/encoding-with-dash), with its unescaped '&' written '&amp;' (as
# published it is not well-formed XML) and its init segment, shown truncated ("...").
YOUTUBE_ISO_EXAMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns="urn:mpeg:dash:schema:mpd:2011"
    type="dynamic"
    minimumUpdatePeriod="PT30S"
    availabilityStartTime="2016-05-04T20:47:25"
    minBufferTime="PT12S"
    profiles="urn:mpeg:dash:profile:isoff-live:2011">
  <Period start="PT0S" id="1">
    <AdaptationSet mimeType="video/mp4" codecs="avc1.4d401e,mp4a.40.2">
      <ContentComponent contentType="video" id="1"/>
      <ContentComponent contentType="audio" id="2"/>
      <SegmentTemplate timescale="600"
             media="/dash_upload?cid=ug50-xg26&amp;file=media$Number%09d$.mp4"
             initialization="data:video/mp4;base64,INIT"
             duration="306"
             startNumber="1"/>
      <Representation id="1" width="640" height="360" bandwidth="526952">
        <SubRepresentation contentComponent="1" bandwidth="526952" codecs="avc1.4d401e"/>
        <SubRepresentation contentComponent="2" bandwidth="125584" codecs="mp4a.40.2"/>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
"""


def test_data_uri_init_segment_is_decoded_into_the_model() -> None:
    init = bytes.fromhex("00000018667479706973six35".replace("six", "6f")) + b"\x00" * 12
    text = YOUTUBE_ISO_EXAMPLE.replace("INIT", base64.b64encode(init).decode())
    p = parse_dash(text.encode(), url="https://a.example.com/live.mpd", now=1_462_395_000.0)
    (rep,) = list(p.representations())
    assert rep.init is not None and rep.init.data == init
    assert rep.init.url.startswith("data:video/mp4;base64,AAAAGGZ0eXBpc281")
    assert rep.segments is not None and rep.segments[0].init == rep.init
    assert rep.segments[-1].url.startswith(
        "https://a.example.com/dash_upload?cid=ug50-xg26&file=media"
    )
    assert p.to_json()["representations"][0]["init"]["url"].startswith("data:")
    truncated = YOUTUBE_ISO_EXAMPLE.replace("INIT", "AAAAGGZ0eXBpc291...")  # as published
    with pytest.raises(ManifestParseError) as caught:
        parse_dash(truncated.encode(), url="https://a.example.com/live.mpd", now=1_462_395_000.0)
    assert caught.value.detail == "bad data uri: not base64"


def test_data_uri_init_in_a_segment_list_and_an_hls_map() -> None:
    init = b"\x00\x00\x00\x08free" + b"0123456789"
    uri = "data:application/octet-stream;base64," + base64.b64encode(init).decode()
    mpd = (
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT4S">'
        f'<Period><AdaptationSet mimeType="video/mp4"><SegmentList duration="2">'
        f'<Initialization sourceURL="{uri}" range="8-11"/>'
        '<SegmentURL media="a.m4s"/><SegmentURL media="b.m4s"/></SegmentList>'
        '<Representation id="v" bandwidth="1"/></AdaptationSet></Period></MPD>'
    ).encode()
    (rep,) = list(parse_dash(mpd, url="https://cdn.example.com/m.mpd").representations())
    assert rep.init is not None and rep.init.data == b"0123"
    playlist = f'#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI="{uri}"\n#EXTINF:2,\na.m4s\n'
    (rep,) = list(
        parse_hls(playlist.encode(), url="https://cdn.example.com/p.m3u8").representations()
    )
    assert rep.init is not None and rep.init.data == init and rep.init.url == uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("data:,%00%01abc", b"\x00\x01abc"),  # percent-encoded payload
        ("DATA:video/mp4;BASE64, AAEC\tAw== ", b"\x00\x01\x02\x03"),  # white space, case
        ("data:;base64,AAECAw", b"\x00\x01\x02\x03"),  # padding left out
        ("data:video/mp4;base64", None),  # no comma
        ("data:;base64,AAECA", None),  # one character too many
        ("data:;base64,AA=C", None),  # padding inside
        ("data:;base64,AAéC", None),  # not ASCII
    ],
)
def test_data_uris_decode_as_browsers_do(uri: str, expected: bytes | None) -> None:
    playlist = f'#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI="{uri}"\n#EXTINF:2,\na.m4s\n'
    url = "https://cdn.example.com/p.m3u8"
    if expected is None:
        with pytest.raises(ManifestParseError, match="data: URI"):
            parse_hls(playlist.encode(), url=url)
        return
    (rep,) = list(parse_hls(playlist.encode(), url=url).representations())
    assert rep.init is not None and rep.init.data == expected


def test_the_session_plays_a_data_uri_init_without_fetching_it(tmp_path: Path) -> None:
    """An MPD whose init segment is a data: URI plays over the lab, the init never fetched."""
    spec = ContentSpec(
        duration_s=4,
        ladder=(RenditionSpec(id="v1", width=160, height=90, bitrate_bps=150_000),),
        audio_languages=(),
    )
    generate_content(tmp_path, spec)
    init = (tmp_path / "video" / "v1" / "init.mp4").read_bytes()
    mpd = (tmp_path / "manifest.mpd").read_text()
    uri = "data:video/mp4;base64," + base64.b64encode(init).decode()
    assert 'initialization="video/v1/init.mp4"' in mpd
    (tmp_path / "inline.mpd").write_text(
        mpd.replace('initialization="video/v1/init.mp4"', f'initialization="{uri}"')
    )
    (tmp_path / "video" / "v1" / "init.mp4").unlink()  # a fetch would fail

    async def play(url: str, config: PlayerConfig) -> tuple[Player, list[Event]]:
        events: list[Event] = []
        player = Player(config, clock=VirtualClock())
        player.add_listener(events.append)
        await player.load(url)
        await player.wait(timeout_s=60)
        await player.aclose()
        return player, events

    cdn = LabCdn(tmp_path, edges=1, ca=TestCA(tmp_path / "ca")).start_in_thread()
    try:
        config = PlayerConfig(transport=TransportConfig(ca_file=cdn.ca_file))
        player, events = asyncio.run(play(f"{cdn.edges[0].base_url}/inline.mpd", config))
    finally:
        cdn.stop()
    assert player.state is PlaybackState.ENDED, player.error
    assert player.stats().frames_decoded == 4 * 25 and player.stats().decode_errors == 0
    downloads = [e for e in events if isinstance(e, SegmentDownloaded)]
    assert sorted(e.number for e in downloads) == [1, 2]  # no init (-1) download
