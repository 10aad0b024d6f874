"""DASH parser against the shared corpus: real values for a representative set of MPDs."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
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
    parse_dash,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
DASH_DIR = SHARED / "corpus" / "manifests" / "dash"
URL = "https://cdn.example.com/live/manifest.mpd"
WIDEVINE = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
PLAYREADY = "9a04f079-9840-4286-ab92-e65be0885f95"
W3C_COMMON = "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b"
CLEARKEY = "e2719d58-a985-b3c9-781a-b030af78d30e"


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def parse(name: str, *, now: float | None = None, url: str = URL) -> Presentation:
    return parse_dash((DASH_DIR / name).read_bytes(), url=url, now=now)


def reps(p: Presentation) -> list[Representation]:
    return list(p.representations())


def all_files() -> list[Path]:
    return sorted(DASH_DIR.glob("*.mpd"))


def test_corpus_is_present() -> None:
    assert len(all_files()) == 83


@functools.cache
def outcome(path: Path) -> Presentation | ManifestError:
    """Each corpus file parsed once (at 2024-01-01) for the corpus-wide tests."""
    try:
        return parse_dash(path.read_bytes(), url=URL, now=epoch("2024-01-01T00:00:00"))
    except ManifestError as exc:
        return exc


@pytest.mark.parametrize("path", all_files(), ids=lambda p: p.name)
def test_every_corpus_file_gives_a_presentation_or_a_manifest_error(path: Path) -> None:
    p = outcome(path)
    if isinstance(p, ManifestError):
        assert p.url == URL and p.detail
        return
    assert p.format == StreamFormat.DASH
    assert p.periods
    for rep in p.representations():
        assert rep.locations and all(
            loc.url.startswith(("http://", "https://")) for loc in rep.locations
        )
        for seg in rep.segments or ():
            assert len(seg.urls) == len(rep.locations)
            assert seg.duration_s >= 0


def test_corpus_outcome_counts() -> None:
    failed = [p.name for p in all_files() if isinstance(outcome(p), ManifestError)]
    # only shaka-packager's golden live outputs fail: availabilityStartTime="some_time"
    assert failed == [
        "shaka-packager__live-profile-and-encryption__output.mpd",
        "shaka-packager__live-profile-and-key-rotation-cbcs__output.mpd",
    ]
    assert sum(isinstance(outcome(p), Presentation) for p in all_files()) == 81


def test_placeholder_date_is_a_clear_parse_error() -> None:
    with pytest.raises(ManifestParseError) as info:
        parse("shaka-packager__live-profile-and-encryption__output.mpd")
    assert "availabilityStartTime" in str(info.value)
    assert info.value.url == URL


# --- static: SegmentTemplate $Number$ + SegmentTimeline, ContentProtection ------------------


def test_clearkey_timeline_number_template_and_drm() -> None:
    p = parse("shaka__dash-clearkey__dash.mpd")
    assert p.type == PresentationType.STATIC and p.duration_s == 20.0 and p.min_buffer_s == 2.0
    (track,) = p.periods[0].tracks
    assert track.type == TrackType.VIDEO and track.roles == ("main",) and track.is_default
    (rep,) = track.representations
    assert (rep.id, rep.bandwidth_bps, rep.width, rep.height) == ("7", 513226, 512, 288)
    assert rep.frame_rate == 24.0
    assert rep.segments is not None and len(rep.segments) == 5
    assert rep.segments[0].url == "https://cdn.example.com/live/video-H264-288-400k_1.m4s"
    assert rep.segments[4].number == 5 and rep.segments[4].start_s == 16.0
    assert rep.init is not None
    assert rep.init.url == "https://cdn.example.com/live/video-H264-288-400k_init.mp4"
    assert [c.system_id for c in rep.protections] == [None, PLAYREADY, WIDEVINE]
    assert {c.scheme for c in rep.protections} == {"cenc"}
    assert rep.kids == ("4060a865887842679cbf91ae5bae1e72",)
    widevine = rep.protections[2].pssh
    assert widevine is not None and widevine[4:8] == b"pssh" and len(widevine) == 92
    assert p.kids == ("4060a865887842679cbf91ae5bae1e72",)


def test_with_content_protection_presentation_time_offset() -> None:
    p = parse("mpegdash__with_content_protection.mpd")
    (rep,) = reps(p)
    assert rep.segments is not None and len(rep.segments) == 1
    seg = rep.segments[0]
    assert seg.start_s == 0.0 and seg.duration_s == pytest.approx(10.08)
    assert seg.url == "https://cdn.example.com/live/video_720p_1.mp4"
    assert rep.protections[1].system_id == WIDEVINE
    assert rep.kids == ("6c28b62458545b8c80339d61ac0c039c",)


def test_time_template_timeline_is_clipped_at_period_end_and_sea_key() -> None:
    p = parse("shaka__dash-aes-128__dash.mpd")
    (rep,) = reps(p)
    assert rep.segments is not None
    # S r=4 lists five 2 s segments but the presentation lasts 8 s
    assert [s.url.rsplit("/", 1)[1] for s in rep.segments] == [
        f"Fragments(video={t},format=mpd-time-csf)" for t in (0, 20000000, 40000000, 60000000)
    ]
    (prot,) = rep.protections
    assert prot.scheme == "AES-128" and prot.license_url == "https://cdn.example.com/live/license"


def test_float_duration_is_tolerated() -> None:
    """yt-dlp float_duration: duration="2000000.0" (stock mpegdash raises)."""
    p = parse("yt-dlp__float_duration.mpd")
    rs = reps(p)
    assert len(rs) == 7
    assert [r.bandwidth_bps for r in rs[1:]] == [318597, 638590, 1022565, 2046506, 3998017, 5997485]
    video = rs[-1]
    assert video.segments is not None and len(video.segments) == 3007  # ceil(6014 / 2)
    assert video.segments[0].url == "https://cdn.example.com/live/v_5997485_0.mp4d"
    assert video.segments[-1].number == 3006 and video.segments[-1].start_s == 6012.0
    assert p.periods[0].tracks[0].type == TrackType.AUDIO


def test_dashjs_unit_manifest_number_template() -> None:
    p = parse("dashjs__unit_data_dash_manifest.mpd")
    video = p.periods[0].tracks[0].representations[0]
    assert video.id == "bbb_30fps_1024x576_2500k" and video.bandwidth_bps == 3134488
    assert video.segments is not None and len(video.segments) == 159
    assert video.segments[-1].duration_s == pytest.approx(2.566)
    assert video.init is not None and video.init.url.endswith("bbb_30fps_1024x576_2500k_0.m4v")
    assert len(reps(p)) == 11


# --- SegmentBase / SegmentList / byte ranges ------------------------------------------------


def test_segment_base_index_range_w3c_pssh() -> None:
    p = parse("shaka-packager__encryption__output.mpd")
    audio, video = reps(p)
    assert audio.segments is None and audio.index is not None
    assert audio.index.byte_range == ByteRange(1014, 1081)
    assert audio.index.urls == ("https://cdn.example.com/live/bear-640x360-audio.mp4",)
    assert audio.init is not None and audio.init.byte_range == ByteRange(0, 1013)
    assert (audio.audio_sampling_rate, audio.audio_channels) == (44100, 2)
    assert video.frame_rate == pytest.approx(29.97, abs=0.01)
    assert [c.system_id for c in video.protections] == [None, W3C_COMMON]
    assert video.kids == ("31323334353637383930313233343536",)
    assert p.duration_s == pytest.approx(2.736067)


def test_cbcs_scheme() -> None:
    p = parse("shaka-packager__encryption-cbcs__output.mpd")
    assert {c.scheme for r in reps(p) for c in r.protections} == {"cbcs"}
    assert reps(p)[1].index is not None and reps(p)[1].index.byte_range == ByteRange(1147, 1214)


def test_multi_drm_system_ids() -> None:
    p = parse("shaka-packager__encryption-with-multi-drms__output.mpd")
    ids = [c.system_id for c in reps(p)[0].protections]
    assert ids == [None, PLAYREADY, WIDEVINE, "5e629af5-38da-4063-8977-97ffbd9902d4"]
    assert reps(p)[0].protections[3].pssh is None


def test_segment_list_media_ranges() -> None:
    name = (
        "shaka-packager__encryption-and-output-media-info-and-mpd-from-media-info-"
        "segmentlist__output.mpd"
    )
    (rep,) = reps(parse(name))
    assert rep.segments is not None
    assert [s.byte_range for s in rep.segments] == [
        ByteRange(1014, 18041),
        ByteRange(18042, 34723),
        ByteRange(34724, 44582),
    ]
    assert [s.start_s for s in rep.segments] == [0.0, 1.0, 2.0]
    assert rep.segments[2].duration_s == pytest.approx(0.739955)
    assert rep.segments[0].init is not None
    assert rep.segments[0].init.byte_range == ByteRange(0, 1013)


def test_segment_list_muxed_specimen() -> None:
    p = parse("mpegdash__360p_speciment_dash.mpd")
    track = p.periods[0].tracks[0]
    assert track.type == TrackType.MUXED and track.language == "eng"
    (rep,) = track.representations
    assert rep.codecs == "avc3.42c01e,mp4a.40.2"
    assert rep.segments is not None and len(rep.segments) == 3
    assert rep.segments[1].byte_range == ByteRange(840738, 1763124)
    assert rep.segments[2].duration_s == pytest.approx(2.959)


def test_segments_byterange() -> None:
    p = parse("streamlink__test_segments_byterange.mpd")
    video, audio = reps(p)
    assert video.init is not None and video.init.byte_range == ByteRange(36, 746)
    assert video.segments is not None and len(video.segments) == 4
    assert video.segments[0].byte_range == ByteRange(747, 876117)
    assert audio.segments is not None and audio.segments[3].byte_range == ByteRange(374366, 374836)


def test_segment_base_motion_manifest() -> None:
    p = parse("mpegdash__motion-20120802-manifest.mpd")
    rs = reps(p)
    assert len(rs) == 8
    assert all(r.segments is None and r.index is not None for r in rs)
    assert rs[0].index is not None and rs[0].index.byte_range == ByteRange(674, 981)
    assert rs[0].locations[0].url == "https://cdn.example.com/live/motion-20120802-89.mp4"


# --- multi-period, nested and multiple BaseURLs ---------------------------------------------


def test_multi_period_sample_001() -> None:
    p = parse("mpegdash__sample-001.mpd")
    assert [(q.id, q.start_s, q.duration_s) for q in p.periods] == [
        ("0", 0.0, 30.0),
        ("1", 30.0, 300.0),
    ]
    ad = p.periods[0].tracks[0].representations[0]
    assert (
        ad.segments is not None and ad.segments[0].url == "https://cdn.example.com/live/ad/720p.ts"
    )
    main = p.periods[1].tracks[0].representations[0]
    assert main.segments is not None and len(main.segments) == 5
    assert main.segments[1].start_s == 90.0 and main.segments[1].discontinuity_seq == 1
    assert main.segments[1].url == "https://cdn.example.com/live/main/video/720p/segment-2.ts"


def test_multi_period_clear_then_encrypted() -> None:
    """Undeclared ``mspr:`` prefix (stock mpegdash raises ExpatError)."""
    p = parse("shaka__clear-encrypted__manifest.mpd")
    assert [q.start_s for q in p.periods] == [0.0, 8.0]
    clear, enc = (
        p.periods[0].tracks[0].representations[0],
        p.periods[1].tracks[0].representations[0],
    )
    assert clear.protections == () and clear.kids == ()
    assert enc.kids == ("517453862d4256fd8bad4f58422004d7",)
    assert enc.segments is not None and enc.segments[0].start_s == 8.0
    assert enc.segments[0].discontinuity_seq == 1
    assert p.kids == ("26470f4296d45d04a9babb442e169800", "517453862d4256fd8bad4f58422004d7")


def test_nested_base_urls() -> None:
    p = parse("streamlink__test_baseurl_nested.mpd")
    urls = [r.segments[0].url for r in reps(p) if r.segments]
    assert urls == [
        "https://hostname/period/media_video_5000kbps-1.m4s",
        "https://hostname/period/representation/media_video_9000kbps-1.m4s",
        "https://hostname/period/adaptationset/media_audio_128kbps-1.m4s",
        "https://hostname/period/adaptationset/representation/media_audio_256kbps-1.m4s",
        "https://other/media_audio_320kbps-1.m4s",
    ]


def test_baseurl_urljoin_periods_with_string_ids() -> None:
    """AdaptationSet id="absolute-segments" (stock mpegdash raises ValueError)."""
    p = parse("streamlink__test_baseurl_urljoin.mpd", url="https://foo/bar/manifest.mpd")
    assert len(p.periods) == 4
    first = [t.representations[0].segments[0].url for t in p.periods[0].tracks]  # type: ignore[index]
    assert first == [
        "https://foo/absolute/media_video_5000kbps-1.m4s",
        "https://foo/bar/relative/media_video_5000kbps-1.m4s",
    ]
    assert [t.id for t in p.periods[1].tracks] == ["absolute-segments", "relative-segments"]
    second = [t.representations[0].segments[0].url for t in p.periods[1].tracks]  # type: ignore[index]
    assert second == [
        "https://host/absolute/media_video_5000kbps-1.m4s",
        "https://host/path/relative/media_video_5000kbps-1.m4s",
    ]


def test_multiple_base_urls_with_dvb_priority_become_locations() -> None:
    p = parse("androidx-media__sample_mpd_vod_location_fallback.mpd")
    rep = reps(p)[0]
    assert [(loc.url, loc.service_location, loc.priority) for loc in rep.locations] == [
        ("http://video.com/baseUrl/a/video/", "a", 1),
        ("http://video.com/baseUrl/b/video/", "b", 2),
        ("http://video.com/baseUrl/d/video/", "d", 3),
    ]
    assert rep.segments is not None and len(rep.segments) == 226
    assert rep.segments[1].urls == (
        "http://video.com/baseUrl/a/video/video_4000_1300000.m4s",
        "http://video.com/baseUrl/b/video/video_4000_1300000.m4s",
        "http://video.com/baseUrl/d/video/video_4000_1300000.m4s",
    )


def test_multiple_base_urls_with_weights() -> None:
    p = parse("androidx-media__sample_mpd_multiple_baseUrls.mpd", now=epoch("2016-10-14T18:00:00"))
    audio, video, text = reps(p)
    assert [(loc.service_location, loc.weight) for loc in audio.locations] == [
        ("a", 1),
        ("a", 1),
        ("b", 2),
        ("b", 2),
        ("c", 3),
        ("c", 3),
    ]
    assert audio.locations[0].url == "http://video.com/baseUrl/a/media/audio"
    assert "http://video.com/baseUrl/d/alternative/" in [loc.url for loc in video.locations]
    assert [loc.url for loc in text.locations] == ["http://video.com/baseUrl/e/text/"]
    assert [t.type for t in p.periods[0].tracks] == [
        TrackType.AUDIO,
        TrackType.VIDEO,
        TrackType.TEXT,
    ]


# --- licence URLs, undeclared prefixes ------------------------------------------------------


def test_dashif_laurl_with_undeclared_prefix() -> None:
    """Undeclared ``dashif:`` prefix (stock mpegdash raises ExpatError)."""
    p = parse("androidx-media__sample_mpd_dashif_license_url.mpd")
    audio, video = reps(p)
    assert audio.protections[1].license_url == "https://testserver1.test/AcquireLicense"
    assert video.protections[0].license_url == "https://testserver2.test/AcquireLicense"
    assert audio.kids == video.kids == ("30303030303030303030303030303030",)
    assert audio.segments is not None
    assert [round(s.start_s, 3) for s in audio.segments] == [6.009, 8.011, 10.013]
    assert audio.segments[0].url == "https://cdn.example.com/live/sq/0"


def test_clearkey_laurl() -> None:
    p = parse("androidx-media__sample_mpd_clear_key_license_url.mpd")
    audio, video = reps(p)
    assert audio.protections[1].system_id == CLEARKEY
    assert audio.protections[1].license_url == "https://testserver1.test/AcquireLicense"
    assert video.protections[0].license_url == "https://testserver2.test/AcquireLicense"
    assert video.kids == ("9eb4050de44b4802932e27d75083e266",)


def test_attribute_namespaces_and_placeholder_pssh() -> None:
    p = parse("streamlink__test_attribute_namespaces.mpd")
    (rep,) = reps(p)
    assert rep.kids == ("00000000000000000000000000000000", "00000000000000000000000000000001")
    assert rep.protections[2].system_id == PLAYREADY
    assert rep.protections[2].pssh is None  # "..." is not base64: ignored, as players do


def test_live_with_undeclared_yt_prefix_segment_list_timeline() -> None:
    """Undeclared ``yt:`` prefix on the root (stock mpegdash raises ExpatError)."""
    p = parse("androidx-media__sample_mpd_live.mpd", now=epoch("2014-09-01T00:00:00"))
    assert p.is_live and p.live.minimum_update_period_s == 5.0
    assert p.live.time_shift_buffer_depth_s == 129600.0
    assert len(reps(p)) == 3


def test_event_stream_with_undeclared_scte35_prefix() -> None:
    p = parse("androidx-media__sample_mpd_event_stream.mpd", now=epoch("2016-10-14T17:30:00"))
    assert p.is_live and p.live.time_shift_buffer_depth_s == 7200.0
    assert len(reps(p)) == 2


# --- text, trick play, misc -----------------------------------------------------------------


def test_text_tracks_and_period_level_template() -> None:
    p = parse("androidx-media__sample_mpd_text.mpd")
    tracks = p.periods[0].tracks
    assert [t.type for t in tracks] == [TrackType.TEXT] * 3
    assert tracks[0].roles == ("forced-subtitle",)
    assert tracks[0].representations[0].segments is not None
    assert tracks[0].representations[0].segments[0].url == "https://test.com/sq/0"


def test_trick_play_marks_iframe_representations() -> None:
    p = parse("androidx-media__sample_mpd_trick_play.mpd")
    assert [r.is_iframe_only for r in reps(p)] == [False, False, True, True]


def test_utc_timing_and_location() -> None:
    p = parse("mpegdash__utc_timing.mpd")
    assert [(u.scheme, u.value) for u in p.utc_timing] == [
        ("urn:mpeg:dash:utc:http-iso:2014", "https://time.akamai.com/?iso")
    ]
    assert p.location == "http://www.example.com/location.mpd"


# --- dynamic: live windows at a fixed now ----------------------------------------------------


def test_live_timeline_window_at_fixed_now() -> None:
    ast = epoch("2018-01-01T00:00:00")
    now = ast + 4610.5
    p = parse("streamlink__test_dynamic_timeline_continued_p1.mpd", now=now)
    assert p.type == PresentationType.DYNAMIC and p.fetched_at == now
    assert p.live.availability_start == ast and p.live.time_shift_buffer_depth_s == 30.0
    assert p.location == "http://test/"
    (rep,) = reps(p)
    assert rep.segments is not None
    # eleven 1 s segments from 4600 s; the one ending at 4611 s is not available yet
    assert len(rep.segments) == 10
    first, last = rep.segments[0], rep.segments[-1]
    assert first.url == "https://cdn.example.com/live/video/1000000.mp4"
    assert last.url == "https://cdn.example.com/live/video/1009000.mp4"
    assert (first.start_s, first.available_from, first.available_until) == (
        4600.0,
        ast + 4601,
        ast + 4631,
    )
    assert p.next_refresh_at(now) == ast + 4611  # the next segment, before the MUP (now + 5)


def test_live_window_slides_out_old_segments() -> None:
    ast = epoch("2018-01-01T00:00:00")
    p = parse("streamlink__test_dynamic_timeline_continued_p1.mpd", now=ast + 4635.5)
    (rep,) = reps(p)
    assert rep.segments is not None
    # window (4605.5, 4635.5]: segments ending 4606..4611
    assert [s.number for s in rep.segments] == [6, 7, 8, 9, 10, 11]


def test_live_without_now_uses_publish_time() -> None:
    p = parse("streamlink__test_9.mpd")
    assert p.fetched_at is None and p.live.published_at == epoch("2018-08-06T10:14:52")
    video, audio = reps(p)
    assert video.segments is not None and len(video.segments) == 5
    assert video.segments[0].duration_s == 10.0
    assert video.segments[0].available_from == pytest.approx(epoch("2018-08-06T10:14:05.984"))
    assert all(
        s.available_from is not None and s.available_from <= p.live.published_at
        for s in video.segments
    )
    assert p.utc_timing[0].scheme == "urn:mpeg:dash:utc:direct:2014"
    assert p.live.suggested_presentation_delay_s == 20.0


def test_dynamic_without_publish_time_or_now_is_refused() -> None:
    with pytest.raises(ManifestParseError) as info:
        parse("streamlink__test_dynamic_no_publish_time_timeline_with_start.mpd")
    assert info.value.detail == "dynamic MPD needs now"


def test_dynamic_number_template_window() -> None:
    now = epoch("2000-01-01T00:10:00")
    p = parse("streamlink__test_segments_dynamic_number.mpd", now=now)
    rep = reps(p)[0]
    assert rep.segments is not None
    # period starts at 90 s; 5 s segments; at 600 s the newest complete one ends at 600 s
    assert len(rep.segments) == (600 - 90) // 5
    assert rep.segments[0].url == "https://cdn.example.com/live/hd-5_000000100.mp4"
    assert rep.segments[-1].number == 100 + 101
    assert rep.segments[-1].available_from == now
    assert rep.segments[-1].available_until == now + 86400


def test_dynamic_segment_list() -> None:
    p = parse("streamlink__test_dynamic_segment_list_p1.mpd")
    (rep,) = reps(p)
    assert rep.segments is not None and len(rep.segments) == 11
    assert p.next_refresh_at(p.live.published_at or 0.0) is not None


def test_live_time_template_with_huge_timestamps() -> None:
    first_t = 152740179303376
    start = first_t / 90000  # AST is the epoch: presentation time == wall clock
    p = parse("streamlink__test_suggested_presentation_delay.mpd")
    assert p.live.availability_start == 0.0 and p.live.suggested_presentation_delay_s is None
    assert all(r.segments == () for r in reps(p))  # at publishTime (2000) nothing exists yet
    p = parse("streamlink__test_suggested_presentation_delay.mpd", now=start + 3600 + 10)
    rep = reps(p)[0]
    assert rep.segments is not None and len(rep.segments) == 900  # S r=899, no TSBD
    assert rep.segments[0].url == f"https://cdn.example.com/live/V0_t{first_t}.m4s"
    assert rep.segments[-1].url == f"https://cdn.example.com/live/V0_t{first_t + 899 * 360000}.m4s"
    assert rep.segments[0].available_until is None
    assert sum(len(r.segments or ()) for r in reps(p)) == 4500


def test_shaka_live_multi_period() -> None:
    now = epoch("2021-10-28T07:36:29.744")
    p = parse("shaka__7401__dash_0.mpd", now=now)
    assert len(p.periods) == 3 and p.live.time_shift_buffer_depth_s == 42.0
    starts = [q.start_s for q in p.periods]
    assert starts == sorted(starts)
    for i, period in enumerate(p.periods):
        for rep in period.representations():
            for seg in rep.segments or ():
                assert seg.discontinuity_seq == i
                assert seg.available_from is not None and seg.available_from <= now
                assert seg.available_until is not None and seg.available_until > now


def test_static_presentation_has_no_refresh() -> None:
    assert parse("shaka__dash-clearkey__dash.mpd").next_refresh_at(0.0) is None


def test_live_known_duration_segments_leave_the_window() -> None:
    ast = epoch("2024-01-01T00:01:00")
    name = "androidx-media__sample_mpd_live_known_duration_ended.mpd"
    assert [len(r.segments or ()) for r in reps(parse(name, now=ast + 5))] == [1]
    (rep,) = reps(parse(name, now=ast + 9))
    assert rep.segments is not None
    assert [(s.url, s.available_until) for s in rep.segments] == [
        ("https://cdn.example.com/live/video_0.m4s", ast + 4 + 16),
        ("https://cdn.example.com/live/video_4000.m4s", ast + 8 + 16),
    ]
    assert reps(parse(name, now=ast + 120))[0].segments == ()
    assert parse(name, now=ast + 9).periods[0].duration_s == 10.0


def test_service_description_live_with_period_start() -> None:
    p = parse("shaka__3675__dash_0.mpd")  # at publishTime the first segment is not out yet
    assert reps(p)[0].segments == ()
    ast = p.live.availability_start
    assert ast == pytest.approx(epoch("2021-10-28T07:36:27.755"))
    (rep,) = reps(parse("shaka__3675__dash_0.mpd", now=ast + 12.5))
    assert rep.segments is not None
    assert [s.url for s in rep.segments] == ["https://cdn.example.com/live/chunk-stream0-00001.m4s"]
    assert rep.segments[0].start_s == 10.0 and rep.segments[0].available_from == ast + 12


def test_relative_location_is_resolved() -> None:
    p = parse("androidx-media__sample_mpd_multiple_locations_relative.mpd", now=1778760100.0)
    assert p.location == "https://cdn.example.com/live/location1/manifest.mpd"
    assert p.live.minimum_update_period_s == 1.0
    assert p.next_refresh_at(1778760100.0) == 1778760101.0


def test_event_message_mpd_audio_timeline_at_publish_time() -> None:
    p = parse("mpegdash__with_event_message_data.mpd")
    (track,) = p.periods[0].tracks
    assert (track.type, track.language, track.is_default) == (TrackType.AUDIO, "en", True)
    (rep,) = track.representations
    assert (rep.audio_sampling_rate, rep.audio_channels) == (48000, 2)
    assert rep.segments is not None and len(rep.segments) == 12
    assert rep.segments[0].url == (
        "https://cdn.example.com/live/audio_128000_en=128000-74511434605440.dash"
    )
    assert rep.segments[0].available_until is None  # no timeShiftBufferDepth


STOCK_REJECTED = {
    # MANIFEST.md: files stock mpegdash 0.4.1 cannot parse, all playable by browser players
    "shaka__clear-encrypted__manifest.mpd": 4,
    "streamlink__test_baseurl_urljoin.mpd": 8,
    "yt-dlp__float_duration.mpd": 7,
    "androidx-media__sample_mpd_dashif_license_url.mpd": 2,
    "androidx-media__sample_mpd_live.mpd": 3,
    "androidx-media__sample_mpd_event_stream.mpd": 2,
}


@pytest.mark.parametrize(("name", "count"), sorted(STOCK_REJECTED.items()))
def test_files_stock_mpegdash_rejects_are_recovered(name: str, count: int) -> None:
    p = parse(name, now=epoch("2016-10-14T18:00:00"))
    assert len(reps(p)) == count
    assert all(r.bandwidth_bps > 0 for r in reps(p) if r.mime_type != "text/vtt")


def test_live_segment_list_with_period_timeline_and_undeclared_prefix() -> None:
    ast = epoch("2014-06-19T23:07:42")
    start = 6462826.784 - 34740.095  # period start minus presentationTimeOffset (S@t absent: 0)
    now = ast + start + 16
    audio, video, text = reps(parse("androidx-media__sample_mpd_live.mpd", now=now))
    assert audio.segments is not None and video.segments is not None
    assert [s.number for s in audio.segments] == [1292317, 1292318, 1292319]
    assert audio.segments[1].url == (
        "http://www.test.com/sq/1292318/clen/86958/lmt/1409671174832549/dur/5.339"
    )
    assert audio.segments[1].start_s == pytest.approx(start + 4.804)
    assert audio.segments[1].available_from == pytest.approx(ast + start + 4.804 + 5.338)
    assert audio.init is not None and audio.init.byte_range == ByteRange(0, 591)
    assert video.init is not None and video.init.byte_range == ByteRange(0, 671)
    assert text.mime_type == "text/vtt" and text.segments is not None
    assert text.segments[0].url == "http://www.test.com/sq/1292317"
