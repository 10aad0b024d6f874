"""HLS multivariant playlists from the corpus, and loading media playlists into them."""

from __future__ import annotations

from pathlib import Path

import pytest

from player.errors import ManifestParseError, UsageError
from player.manifest import (
    Location,
    Presentation,
    PresentationType,
    SteeringInfo,
    Track,
    TrackType,
    load_media_playlist,
    parse_hls,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
HLS = SHARED / "corpus" / "manifests" / "hls"
BASE = "https://cdn.example.com/vod/"
NOW = 1_700_000_000.0
LOW = "http://example.com/low.m3u8"
MID = "http://example.com/mid.m3u8"
LOW_ID, MID_ID = "1280k", "2560k"
"""Readable ids of those two variants (named by bandwidth: they declare no resolution)."""


def load(name: str) -> Presentation:
    return parse_hls((HLS / name).read_bytes(), url=BASE + name, now=NOW)


def track(p: Presentation, track_id: str) -> Track:
    (found,) = [t for t in p.periods[0].tracks if t.id == track_id]
    return found


def test_variant_ladder() -> None:
    p = load("m3u8__variant_playlist.m3u8")
    assert p.is_multivariant
    assert p.type is PresentationType.STATIC
    main = track(p, "main")
    assert [r.bandwidth_bps for r in main.representations] == [1280000, 2560000, 7680000, 65000]
    assert [r.playlist_urls for r in main.representations] == [
        ("http://example.com/low.m3u8",),
        ("http://example.com/mid.m3u8",),
        ("http://example.com/hi.m3u8",),
        ("http://example.com/audio-only.m3u8",),
    ]
    assert all(r.segments is None for r in main.representations)
    assert main.type is TrackType.MUXED
    assert (main.is_default, main.roles) == (True, ("main",))
    assert p.next_refresh_at(NOW) is None


def test_resolution_frame_rate_average_bandwidth() -> None:
    p = load("androidx-media__multivariant_with_redundant_variants_and_renditions.m3u8")
    high, low = track(p, "main").representations
    assert (high.width, high.height, high.frame_rate) == (1920, 1080, 50.0)
    assert (low.width, low.height) == (640, 360)
    assert (high.bandwidth_bps, high.average_bandwidth_bps) == (6520800, 5640800)
    assert high.codecs == "avc1.64002a,mp4a.40.2"


def test_redundant_variants_and_renditions_are_merged() -> None:
    p = load("androidx-media__multivariant_with_redundant_variants_and_renditions.m3u8")
    high, low = track(p, "main").representations
    assert high.playlist_urls == (
        "https://cdn.example.com/media/high.m3u8",
        "https://cdn.example.com/media-b/high.m3u8",
    )
    assert [loc.priority for loc in high.locations] == [0, 1]
    assert low.playlist_urls[1] == "https://cdn.example.com/media-b/low.m3u8"
    assert (high.audio_group, high.subtitle_group) == ("audio", "subs")
    audio = p.periods[0].tracks_of(TrackType.AUDIO)
    assert len(audio) == 1
    assert audio[0].representations[0].playlist_urls == (
        "https://cdn.example.com/media/audio.m3u8",
        "https://cdn.example.com/media-b/audio.m3u8",
    )
    assert (audio[0].language, audio[0].is_default, audio[0].group_id) == ("de", True, "audio")
    assert audio[0].representations[0].audio_channels == 2
    text = p.periods[0].tracks_of(TrackType.TEXT)
    assert [t.representations[0].playlist_urls for t in text] == [
        (
            "https://cdn.example.com/media/subs.m3u8",
            "https://cdn.example.com/media-b/subs.m3u8",
        )
    ]


def test_content_steering_pathways() -> None:
    p = load("m3u8__content_steering_playlist.m3u8")
    assert p.steering == SteeringInfo(
        server_url="https://cdn.example.com/steering?video=00012", default_pathway="CDN-A"
    )
    low, high = track(p, "main").representations
    assert low.locations == (
        Location(BASE + "low/video.m3u8", "CDN-A", 0),
        Location("https://backup.example.com/content/videos/video12/low/video.m3u8", "CDN-B", 1),
    )
    assert high.bandwidth_bps == 7680000
    (audio,) = p.periods[0].tracks_of(TrackType.AUDIO)
    # The primary copy of a rendition group belongs to the pathway of the variants using it.
    assert [loc.service_location for loc in audio.representations[0].locations] == [
        "CDN-A",
        "CDN-B",
    ]
    iframe = track(p, "iframe").representations[0]
    assert iframe.is_iframe_only
    assert [loc.service_location for loc in iframe.locations] == ["CDN-A", "CDN-B"]


def test_content_steering_with_absolute_server_path() -> None:
    p = load("androidx-media__multivariant_with_content_steering.m3u8")
    assert p.steering is not None
    assert p.steering.server_url == "https://cdn.example.com/steering"
    reps = track(p, "main").representations
    assert [(r.height, r.playlist_urls) for r in reps] == [
        (
            720,
            ("https://cdn.example.com/cdn-a/720p.m3u8", "https://cdn.example.com/cdn-b/720p.m3u8"),
        ),
        (
            360,
            ("https://cdn.example.com/cdn-a/360p.m3u8", "https://cdn.example.com/cdn-b/360p.m3u8"),
        ),
    ]


def test_alternative_audio_and_subtitles() -> None:
    p = load("m3u8__multi_media_playlist.m3u8")
    audio = p.periods[0].tracks_of(TrackType.AUDIO)
    assert [(t.label, t.language, t.is_default) for t in audio] == [
        ("English", "en", True),
        ("Spanish", "sp", False),
        ("Commentary (eng)", "en", False),
    ]
    assert audio[0].roles == ("main",)
    text = p.periods[0].tracks_of(TrackType.TEXT)
    assert [(t.label, t.language) for t in text] == [("Chinese", "zho"), ("French", "fra")]
    assert text[1].roles == (
        "public.accessibility.transcribes-spoken-dialog",
        "public.accessibility.describes-music-and-sound",
    )
    assert text[0].representations[0].playlist_urls == (BASE + "chinese/ed.ttml",)
    main = track(p, "main")
    assert main.type is TrackType.VIDEO  # audio comes from the renditions
    assert [r.height for r in main.representations] == [720, 432, 252]


def test_alternative_video_renditions() -> None:
    p = load("shaka__hls-multivideo__master.m3u8")
    video = [t for t in p.periods[0].tracks_of(TrackType.VIDEO) if t.id != "main"]
    assert [(t.group_id, t.label) for t in video] == [
        ("1280x720", "GREEN"),
        ("1280x720", "BLUE"),
        ("640x360", "GREEN"),
        ("640x360", "BLUE"),
    ]
    assert video[0].representations[0].codecs == "avc1.640028"
    assert {t.roles for t in video} == {("alternate",)}
    audio = p.periods[0].tracks_of(TrackType.AUDIO)
    assert [t.label for t in audio] == ["Original 128k", "High Pitch 128k", "Low Pitch 128k"]
    assert audio[0].representations[0].codecs == "mp4a.40.2"


def test_iframe_variants() -> None:
    p = load("m3u8__variant_playlist_with_iframe_playlists.m3u8")
    iframe = track(p, "iframe")
    assert [r.bandwidth_bps for r in iframe.representations] == [151288, 193350, 83598, 38775]
    assert all(r.is_iframe_only for r in iframe.representations)
    assert iframe.representations[0].playlist_urls == (BASE + "video-800k-iframes.m3u8",)
    assert (iframe.representations[0].width, iframe.representations[0].height) == (624, 352)
    assert len(track(p, "main").representations) == 5


def test_image_variants() -> None:
    p = load("m3u8__variant_playlist_with_image_playlists.m3u8")
    (images,) = p.periods[0].tracks_of(TrackType.IMAGE)
    assert [(r.bandwidth_bps, r.width) for r in images.representations] == [
        (16460, 320),
        (32920, 640),
    ]


def test_audio_only_presentation() -> None:
    p = load("shaka__hls-raw-mp3__playlist.m3u8")
    main = track(p, "main")
    assert main.type is TrackType.AUDIO
    assert main.representations[0].bandwidth_bps == 63701


def test_missing_bandwidth_is_recovered() -> None:
    """Stock m3u8 6.0.0 raises KeyError('bandwidth'); players treat it as unknown (0)."""
    p = load("streamlink__test_multivariant_bandwidth.m3u8")
    reps = track(p, "main").representations
    assert [r.id for r in reps] == ["1080p", "audio_only", "720p", "480p", "360p", "160p"]
    assert [r.bandwidth_bps for r in reps] == [0, 0, 3000000, 1500000, 700000, 300000]
    assert reps[0].frame_rate == pytest.approx(59.993)


def test_session_key_in_a_media_playlist() -> None:
    p = load("m3u8__playlist_with_session_encrypted_segments_and_iv.m3u8")
    (key,) = p.session_keys
    assert (key.method, key.uri) == ("AES-128", "https://cdn.example.com/hls-key/key.bin")
    assert key.iv == bytes.fromhex("10ef8f758ca555115584bb5b3c687f52")


def test_ec3_audio_rendition_codecs() -> None:
    p = load("shaka-packager__ec3-and-hls-single-segment-mp4-encrypted__output.m3u8")
    (audio,) = p.periods[0].tracks_of(TrackType.AUDIO)
    assert audio.representations[0].codecs == "ec-3"
    assert not audio.is_default
    assert track(p, "iframe").representations[0].average_bandwidth_bps == 159315


MEDIA = b"""#EXTM3U
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:%d
#EXTINF:4,
s%d.ts
#EXTINF:4,
s%d.ts
"""


def media(first: int) -> bytes:
    return MEDIA % (first, first, first + 1)


def test_load_media_playlist_into_multivariant() -> None:
    p = load("m3u8__variant_playlist.m3u8")
    vod = b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\na.ts\n#EXTINF:3,\nb.ts\n#EXT-X-ENDLIST\n"
    loaded = load_media_playlist(p, MID_ID, vod, url=MID, now=NOW)
    assert loaded.is_multivariant
    mid = [r for r in loaded.representations() if r.id == MID_ID][0]
    assert mid.segments is not None
    assert [s.url for s in mid.segments] == ["http://example.com/a.ts", "http://example.com/b.ts"]
    assert mid.bandwidth_bps == 2560000
    assert loaded.duration_s == 7.0
    assert loaded.type is PresentationType.STATIC
    others = [r for r in loaded.representations() if r.id != MID_ID]
    assert all(r.segments is None for r in others)


def test_live_refresh_keeps_times_and_halves_interval_when_unchanged() -> None:
    p = load("m3u8__variant_playlist.m3u8")
    url = LOW
    first = load_media_playlist(p, LOW_ID, media(100), url=url, now=NOW)
    assert first.type is PresentationType.DYNAMIC
    assert first.next_refresh_at(NOW) == NOW + 4.0
    later = load_media_playlist(first, LOW_ID, media(101), url=url, now=NOW + 4)
    segs = next(later.representations()).segments
    assert segs is not None
    assert [(s.number, s.start_s) for s in segs] == [(101, 4.0), (102, 8.0)]
    assert later.next_refresh_at(NOW + 4) == NOW + 8.0
    same = load_media_playlist(later, LOW_ID, media(101), url=url, now=NOW + 8)
    assert same.live.minimum_update_period_s == 2.0  # RFC 8216 6.3.4: half a target duration
    assert same.next_refresh_at(NOW + 8) == NOW + 10.0


def test_delta_update_is_filled_from_known_segments() -> None:
    p = load("m3u8__variant_playlist.m3u8")
    url = LOW
    full = b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:10\n" + b"".join(
        b"#EXTINF:4,\ns%d.ts\n" % n for n in range(10, 14)
    )
    delta = (
        b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:11\n"
        b"#EXT-X-SKIP:SKIPPED-SEGMENTS=2\n#EXTINF:4,\ns13.ts\n#EXTINF:4,\ns14.ts\n"
    )
    first = load_media_playlist(p, LOW_ID, full, url=url, now=NOW)
    second = load_media_playlist(first, LOW_ID, delta, url=url, now=NOW + 4)
    segs = next(second.representations()).segments
    assert segs is not None
    assert [(s.number, s.url.rsplit("/", 1)[1], s.start_s) for s in segs] == [
        (11, "s11.ts", 4.0),
        (12, "s12.ts", 8.0),
        (13, "s13.ts", 12.0),
        (14, "s14.ts", 16.0),
    ]


def test_load_media_playlist_errors() -> None:
    p = load("m3u8__variant_playlist.m3u8")
    with pytest.raises(UsageError):
        load_media_playlist(p, "nope", media(1), url="http://example.com/x.m3u8")
    master = (HLS / "m3u8__variant_playlist.m3u8").read_bytes()
    with pytest.raises(ManifestParseError, match="expected a media playlist"):
        load_media_playlist(p, LOW_ID, master, url=LOW)


def test_first_live_load_of_another_variant_is_aligned_by_sequence_number() -> None:
    p = load("m3u8__variant_playlist.m3u8")
    p = load_media_playlist(p, LOW_ID, media(100), url=LOW, now=NOW)
    p = load_media_playlist(p, MID_ID, media(101), url=MID, now=NOW)
    by_id = {r.id: r for r in p.representations()}
    low, mid = by_id[LOW_ID].segments, by_id[MID_ID].segments
    assert low is not None and mid is not None
    assert [(s.number, s.start_s) for s in low] == [(100, 0.0), (101, 4.0)]
    assert [(s.number, s.start_s) for s in mid] == [(101, 4.0), (102, 8.0)]


def test_first_live_load_of_a_rendition_is_aligned_by_date() -> None:
    p = load("m3u8__multi_media_playlist.m3u8")
    video_id, audio_id = "720p", "audio-en"
    video_uri = "1280/chunklist_w370587926_b2962000_vo_slen_t64TWFpbg==.m3u8"
    audio_uri = "en/chunklist_w370587926_b160000_ao_slen_t64RW5nbGlzaA==.m3u8"
    head = b"#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:%d\n"
    video = (
        head % 10 + b"#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00Z\n" + (b"#EXTINF:6,\nv.ts\n" * 3)
    )
    audio = (
        head % 500
        + b"#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:06Z\n"
        + (b"#EXTINF:6,\na.aac\n" * 2)
    )
    p = load_media_playlist(p, video_id, video, url=BASE + video_uri, now=NOW)
    p = load_media_playlist(p, audio_id, audio, url=BASE + audio_uri, now=NOW)
    segs = {r.id: r.segments for r in p.representations()}[audio_id]
    assert segs is not None
    assert [(s.number, s.start_s) for s in segs] == [(500, 6.0), (501, 12.0)]


def test_live_refresh_after_missed_updates_estimates_times() -> None:
    p = load("m3u8__variant_playlist.m3u8")
    first = load_media_playlist(p, LOW_ID, media(100), url=LOW, now=NOW)
    later = load_media_playlist(first, LOW_ID, media(110), url=LOW, now=NOW + 40)
    segs = next(later.representations()).segments
    assert segs is not None
    # 101 ended at 8 s; 102..109 were never seen: one target duration (4 s) each.
    assert [(s.number, s.start_s) for s in segs] == [(110, 40.0), (111, 44.0)]


@pytest.mark.parametrize(
    ("segment", "kind"),
    [("a.aac", TrackType.AUDIO), ("s.vtt", TrackType.TEXT), ("v.ts", TrackType.MUXED)],
)
def test_media_playlist_alone_guesses_its_track_type(segment: str, kind: TrackType) -> None:
    text = f"#EXTM3U\n#EXTINF:4,\n{segment}\n#EXT-X-ENDLIST\n".encode()
    p = parse_hls(text, url=BASE + "m.m3u8")
    assert p.periods[0].tracks[0].type is kind
