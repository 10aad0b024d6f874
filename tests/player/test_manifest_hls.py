"""HLS media playlists from the corpus: segments, byte ranges, keys, live timing, LL-HLS parts."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from player.errors import ManifestError, ManifestParseError
from player.manifest import (
    ByteRange,
    Presentation,
    PresentationType,
    Representation,
    StreamFormat,
    TrackType,
    parse_hls,
    parse_manifest,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
HLS = SHARED / "corpus" / "manifests" / "hls"
BASE = "https://cdn.example.com/live/"
NOW = 1_700_000_000.0


def load(name: str, *, now: float | None = NOW) -> Presentation:
    return parse_hls((HLS / name).read_bytes(), url=BASE + name, now=now)


def only_rep(p: Presentation) -> Representation:
    reps = list(p.representations())
    assert len(reps) == 1
    return reps[0]


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def test_simple_vod_playlist() -> None:
    p = load("streamlink__test_simple_media.m3u8")
    assert p.format is StreamFormat.HLS
    assert p.type is PresentationType.STATIC
    assert not p.is_multivariant
    rep = only_rep(p)
    assert rep.segments is not None
    assert [s.url for s in rep.segments] == [BASE + f"segment{i}.ts" for i in range(3)]
    assert [s.number for s in rep.segments] == [0, 1, 2]
    assert p.duration_s == pytest.approx(sum(s.duration_s for s in rep.segments))
    assert p.live.target_duration_s is None  # static: live timing stays at its defaults
    assert p.fetched_at == NOW


def test_sliding_window_live_playlist_at_fixed_now() -> None:
    p = load("m3u8__sliding_window_playlist.m3u8")
    assert p.type is PresentationType.DYNAMIC
    assert p.duration_s is None
    rep = only_rep(p)
    assert rep.segments is not None
    assert [s.number for s in rep.segments] == [2680, 2681, 2682]
    assert [s.url for s in rep.segments] == [
        f"https://priv.example.com/fileSequence{n}.ts" for n in (2680, 2681, 2682)
    ]
    assert [s.start_s for s in rep.segments] == [0.0, 8.0, 16.0]
    assert p.live.media_sequence == 2680
    assert p.live.target_duration_s == 8.0
    assert p.live.time_shift_buffer_depth_s == 24.0
    assert p.live.suggested_presentation_delay_s == 24.0  # 3 target durations
    # Each listed segment stays available at least its duration plus the window after now.
    assert [s.available_until for s in rep.segments] == [NOW + 32.0] * 3
    assert all(s.available_from is None for s in rep.segments)
    # RFC 8216 6.3.4: reload one target duration after the fetch.
    assert p.next_refresh_at(NOW) == NOW + 8.0


def test_live_window_without_now_has_no_expiry() -> None:
    p = load("m3u8__sliding_window_playlist.m3u8", now=None)
    rep = only_rep(p)
    assert rep.segments is not None
    assert {s.available_until for s in rep.segments} == {None}
    assert p.fetched_at is None


def test_explicit_byte_ranges() -> None:
    rep = only_rep(load("m3u8__playlist_using_byteranges.m3u8"))
    assert rep.segments is not None
    assert [s.byte_range for s in rep.segments] == [
        ByteRange(0, 76241),
        ByteRange(762421, 762421 + 83442 - 1),
        ByteRange(834421, 834421 + 69864 - 1),
    ]
    assert {s.url for s in rep.segments} == {BASE + "segment.ts"}
    assert rep.segments[1].byte_range is not None
    assert rep.segments[1].byte_range.header() == "bytes=762421-845862"


def test_implicit_byte_range_offsets_and_map_range() -> None:
    rep = only_rep(load("shaka__hls-sample-aes__index.m3u8"))
    assert rep.segments is not None
    assert len(rep.segments) == 10
    lengths = [136434, 112920, 31488, 110305, 52472, 141347, 47123, 66647, 78881, 51869]
    offset = 1171
    for seg, length in zip(rep.segments, lengths, strict=True):
        assert seg.byte_range == ByteRange(offset, offset + length - 1)
        offset += length
    assert rep.init is not None
    assert rep.init.url == BASE + "video.mp4"
    assert rep.init.byte_range == ByteRange(0, 1018)
    assert rep.segments[0].key is not None
    assert rep.segments[0].key.method == "SAMPLE-AES-CTR"
    assert rep.segments[0].key.uri == "data:text/plain;base64,q7onHovPVSu9LoakNKml2Q=="
    assert rep.kids == ()  # an identity key carries no KID
    assert rep.segments[-1].end_s == pytest.approx(60.0)


def test_map_per_segment_with_byte_range() -> None:
    rep = only_rep(load("m3u8__map_uri_playlist_with_byterange.m3u8"))
    assert rep.segments is not None
    inits = [s.init for s in rep.segments]
    assert [(i.url, i.byte_range) for i in inits if i is not None] == [
        (BASE + "main.mp4", ByteRange(0, 811)),
        (BASE + "main2.mp4", ByteRange(0, 911)),
    ]
    assert rep.init is None  # no init common to all segments
    assert [s.number for s in rep.segments] == [1, 2]


def test_iframe_only_playlist() -> None:
    p = load("m3u8__iframe_playlist.m3u8")
    rep = only_rep(p)
    assert rep.is_iframe_only
    assert p.periods[0].tracks[0].type is TrackType.VIDEO
    assert rep.segments is not None
    assert [(s.url, s.byte_range, s.duration_s) for s in rep.segments] == [
        (BASE + "segment1.ts", ByteRange(376, 9775), 4.12),
        (BASE + "segment1.ts", ByteRange(47000, 54143), 3.56),
        (BASE + "segment2.ts", ByteRange(1880, 12219), 3.82),
    ]
    assert p.duration_s == pytest.approx(11.5)


def test_discontinuities_and_program_date_time() -> None:
    rep = only_rep(load("m3u8__discontinuity_playlist_with_program_date_time.m3u8"))
    assert rep.segments is not None
    assert [s.discontinuity_seq for s in rep.segments] == [0] * 5 + [1] * 3
    first = epoch("2014-08-13T13:36:33")
    assert [s.program_date_time for s in rep.segments[:5]] == [first + 3 * i for i in range(5)]
    second = epoch("2014-08-13T13:36:55")
    assert [s.program_date_time for s in rep.segments[5:]] == [second, second + 3, second + 6]


def test_discontinuity_sequence_start() -> None:
    rep = only_rep(load("m3u8__simple_playlist_with_discontinuity_sequence.m3u8"))
    assert rep.segments is not None
    assert rep.segments[0].discontinuity_seq == 123
    assert rep.segments[0].url == "http://media.example.com/entire.ts"
    assert rep.segments[0].duration_s == 5220.0


def test_negative_media_sequence() -> None:
    rep = only_rep(load("m3u8__playlist_with_negative_media_sequence.m3u8"))
    assert rep.segments is not None
    assert rep.segments[0].number == -2680


def test_aes128_keys_with_iv_change_mid_playlist() -> None:
    rep = only_rep(load("m3u8__playlist_with_encrypted_segments_and_iv_with_multiple_keys.m3u8"))
    assert rep.segments is not None
    assert [s.number for s in rep.segments] == list(range(82400, 82406))
    assert rep.segments[0].url == "https://cdn.example.com/hls/streamNum82400.ts"
    keys = [s.key for s in rep.segments]
    assert all(k is not None and k.method == "AES-128" for k in keys)
    assert [k.uri for k in keys if k] == ["https://cdn.example.com/hls-key/key.bin"] * 4 + [
        "https://cdn.example.com/hls-key/key2.bin"
    ] * 2
    assert keys[0] is not None and keys[0].iv == bytes.fromhex("10ef8f758ca555115584bb5b3c687f52")
    assert keys[5] is not None and keys[5].iv == bytes.fromhex("cafe8f758ca555115584bb5b3c687f52")
    assert keys[0].keyformat == "identity"


def test_key_none_switches_encryption_off() -> None:
    rep = only_rep(load("m3u8__playlist_with_multiple_keys_unencrypted_and_encrypted_none.m3u8"))
    assert rep.segments is not None
    methods = [None if s.key is None else s.key.method for s in rep.segments]
    assert methods == [None, None] + ["AES-128"] * 4 + [None, None] + ["AES-128"] * 2


def test_aes256_keys_and_encrypted_init_segment() -> None:
    rep = only_rep(load("shaka__hls-aes-256__media.m3u8"))
    assert rep.init is not None and rep.init.key is not None
    assert rep.init.key.uri == BASE + "init.key"
    assert rep.init.key.iv == bytes.fromhex("F9EBE119F65FCF2E5F3FDEEB4A3EB3D5")
    assert rep.segments is not None
    assert [(s.key.method, s.key.uri) for s in rep.segments if s.key] == [
        ("AES-256", BASE + "seg0.key"),
        ("AES-256", BASE + "seg1.key"),
        ("AES-256-CTR", BASE + "seg2.key"),
        ("AES-256-CTR", BASE + "seg3_and_4.key"),
        ("AES-256-CTR", BASE + "seg3_and_4.key"),
    ]
    assert rep.segments[4].key is not None
    assert rep.segments[4].key.iv == bytes.fromhex("035022245B6DBA858C56F2F0079BAC96")


def test_multi_drm_keys_give_the_kid() -> None:
    rep = only_rep(load("shaka-packager__encryption-with-multi-drms__stream_0.m3u8"))
    kid = "31323334353637383930313233343536"
    assert rep.kids == (kid,)
    formats = [k.keyformat for k in rep.hls_keys]
    assert formats == [
        "com.microsoft.playready",
        "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed",
        "com.apple.streamingkeydelivery",
    ]
    # PlayReady object and KEYID both name the KID; FairPlay's skd:// URI is never kept.
    assert [k.key_id for k in rep.hls_keys] == [kid, kid, None]
    assert rep.hls_keys[2].uri is None
    assert rep.hls_keys[1].keyformat_versions == "1"
    assert rep.segments is not None
    assert [s.byte_range for s in rep.segments] == [
        ByteRange(1636, 18663),
        ByteRange(18664, 35345),
        ByteRange(35346, 45204),
    ]


def test_fairplay_key_keeps_format_without_uri() -> None:
    rep = only_rep(load("m3u8__playlist_with_keyformat_and_keyformatversions.m3u8"))
    assert rep.segments is not None
    key = rep.segments[0].key
    assert key is not None
    assert (key.method, key.keyformat, key.keyformat_versions, key.uri) == (
        "SAMPLE-AES",
        "com.apple.streamingkeydelivery",
        "1",
        None,
    )


def test_key_rotation_with_discontinuity_sequence() -> None:
    name = "shaka-packager__avc-ts-live-playlist-with-key-rotation__bear-640x360-video.m3u8"
    p = load(name)
    rep = only_rep(p)
    assert rep.segments is not None
    assert [s.number for s in rep.segments] == [1, 2]
    assert [s.discontinuity_seq for s in rep.segments] == [1, 1]
    assert [s.key.uri for s in rep.segments if s.key] == [
        "data:text/plain;base64,MjM0NTY3ODkwMTIzNDU2MQ==",
        "data:text/plain;base64,MzQ1Njc4OTAxMjM0NTYxMg==",
    ]
    assert rep.segments[0].key is not None
    assert rep.segments[0].key.iv == bytes.fromhex("00000000000000003334353637383930")
    assert rep.segments[0].key.iv_hex_digits == 16  # Shaka's 8-byte form: drm pads on the right


def test_gap_segments() -> None:
    rep = only_rep(load("m3u8__gap_playlist.m3u8"))
    assert rep.segments is not None
    assert [s.is_gap for s in rep.segments] == [False, True, True, False]
    assert [s.number for s in rep.segments] == [14, 15, 16, 17]
    assert rep.segments[3].start_s == pytest.approx(9.84317 + 8.75875 + 9.88487)


def test_program_date_time_rollover_vod() -> None:
    p = load("shaka__hls-ts-rollover__playlist.m3u8")
    rep = only_rep(p)
    assert p.type is PresentationType.STATIC
    assert rep.segments is not None
    assert len(rep.segments) == 10
    assert rep.segments[0].program_date_time == pytest.approx(epoch("2024-03-04T23:02:17.684"))
    assert rep.segments[9].program_date_time == pytest.approx(epoch("2024-03-04T23:02:35.684"))
    assert p.duration_s == 20.0


def test_ended_event_playlist_is_static() -> None:
    p = load("m3u8__playlist_with_program_date_time_without_discontinuity.m3u8")
    assert p.type is PresentationType.STATIC
    rep = only_rep(p)
    assert rep.segments is not None
    assert [s.url for s in rep.segments] == [
        BASE + f"manifest_1_{n}.ts?m=1559946393" for n in (50, 51, 52)
    ]
    assert p.duration_s == 18.0


def test_open_event_playlist_is_live_without_expiry() -> None:
    text = b"#EXTM3U\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\na.ts\n"
    p = parse_hls(text, url=BASE + "event.m3u8", now=NOW)
    assert p.type is PresentationType.DYNAMIC
    rep = only_rep(p)
    assert rep.segments is not None
    assert rep.segments[0].available_until is None  # EVENT playlists never remove segments
    assert p.live.time_shift_buffer_depth_s == 6.0


def test_ll_hls_segments_parts_and_preload_hint() -> None:
    p = load("androidx-media__live_low_latency_segments_and_parts.m3u8")
    rep = only_rep(p)
    assert rep.segments is not None
    assert [s.number for s in rep.segments] == list(range(10, 16))
    assert [len(s.parts) for s in rep.segments] == [0, 0, 0, 0, 4, 4]
    assert [part.url for part in rep.segments[4].parts] == [
        BASE + f"fileSequence14.{i}.ts" for i in range(4)
    ]
    assert [(x.url, x.duration_s, x.is_preload_hint) for x in rep.pending_parts] == [
        (BASE + "fileSequence16.0.ts", 1.0, False),
        (BASE + "fileSequence16.1.ts", 1.0, False),
        (BASE + "fileSequence16.2.ts", 0.0, True),
    ]
    assert p.live.part_target_s == pytest.approx(1.0004)
    assert p.live.target_duration_s == 4.0
    assert not p.live.can_block_reload


def test_ll_hls_server_control_and_independent_parts() -> None:
    p = load("m3u8__low_latency_delta_update_playlist.m3u8")
    rep = only_rep(p)
    assert p.live.can_block_reload
    assert p.live.part_hold_back_s == 1.0
    assert p.live.can_skip_until_s == 12.0
    assert p.live.part_target_s == pytest.approx(0.33334)
    assert rep.segments is not None
    # EXT-X-MEDIA-SEQUENCE 266 with 3 skipped segments: the first listed one is 269.
    assert [s.number for s in rep.segments] == [269, 270, 271, 272]
    parts = rep.segments[2].parts
    assert len(parts) == 12
    assert [i for i, part in enumerate(parts) if part.is_independent] == [4, 8]
    assert [x.url.rsplit("/", 1)[1] for x in rep.pending_parts] == [
        "filePart273.0.ts",
        "filePart273.1.ts",
        "filePart273.2.ts",
        "filePart273.3.ts",
        "filePart273.4.ts",
    ]
    assert rep.pending_parts[-1].is_preload_hint


def test_ll_hls_part_byte_ranges_and_hint_range() -> None:
    rep = only_rep(load("m3u8__low_latency_with_preload_and_byteranges_playlist.m3u8"))
    assert [(x.byte_range, x.is_preload_hint) for x in rep.pending_parts] == [
        (ByteRange(0, 19999), False),
        (ByteRange(20000, 42999), False),
        (ByteRange(43000, 60999), False),
        (ByteRange(61000, 80999), True),
    ]
    assert {x.url for x in rep.pending_parts} == {BASE + "fs271.mp4"}


def test_recovered_rendition_report_without_last_msn() -> None:
    """Stock m3u8 6.0.0 raises TypeError here; RFC 8216bis allows omitting LAST-MSN."""
    p = load("m3u8__low_latency_omitted_attributes.m3u8")
    rep = only_rep(p)
    assert rep.segments is not None
    assert len(rep.segments) == 10
    assert rep.segments[0].number == 6342
    assert rep.segments[0].program_date_time == pytest.approx(epoch("2024-09-24T15:31:57.350"))
    assert p.live.can_block_reload
    assert p.live.part_hold_back_s == 2.171
    assert rep.init is not None and rep.init.url == BASE + "init_data.m4s"
    assert len(rep.pending_parts) == 1 and rep.pending_parts[0].is_preload_hint


def test_recovered_daterange_without_id() -> None:
    """Stock m3u8 6.0.0 raises KeyError('id'); players ignore the bad EXT-X-DATERANGE."""
    p = load("streamlink__test_date.m3u8")
    rep = only_rep(p)
    assert rep.segments is not None
    assert [s.duration_s for s in rep.segments] == [15.0, 15.5, 29.5, 60.0]
    assert [s.program_date_time for s in rep.segments] == [
        epoch("2000-01-01T00:00:00"),
        epoch("2000-01-01T00:00:15"),
        epoch("2000-01-01T00:00:30.5"),
        epoch("2000-01-01T00:01:00"),
    ]
    assert p.live.target_duration_s == 120.0


def test_iptv_list_with_negative_duration_is_a_parse_error() -> None:
    """An IPTV channel list (EXTINF:-1, no target duration) is not playable HLS."""
    with pytest.raises(ManifestParseError) as info:
        load("m3u8__iptv_playlist_with_custom_tags.m3u8")
    assert "EXTINF" in str(info.value)
    assert info.value.url == BASE + "m3u8__iptv_playlist_with_custom_tags.m3u8"


def test_local_windows_paths_are_refused() -> None:
    with pytest.raises(ManifestError):
        parse_manifest((HLS / "m3u8__windows_playlist.m3u8").read_bytes(), url=BASE + "w.m3u8")


def test_image_playlist_with_discontinuities() -> None:
    p = load("m3u8__vod_image_playlist.m3u8")
    assert p.periods[0].tracks[0].type is TrackType.IMAGE
    rep = only_rep(p)
    assert rep.segments is not None
    assert len(rep.segments) == 14
    assert [s.discontinuity_seq for s in rep.segments] == [0] * 3 + [1] * 5 + [2] * 3 + [3] * 3


def test_empty_live_playlist() -> None:
    p = load("androidx-media__media_playlist_live_empty.m3u8")
    rep = only_rep(p)
    assert rep.segments == ()
    assert p.type is PresentationType.DYNAMIC
