"""The corpus manifests that carry text tracks (../shared/corpus): which track a viewer's
language selects, and where their segments' cues land on the presentation timeline.

The corpus holds manifests without their media; the cue files here are made to the
manifests' own timing (a live ``stpp`` timeline at 2018 epoch times). The HLS text-offset
case is played with media FFmpeg makes in ``tests/interop/test_interop_text.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mp4_text_builder import fragment, init_segment, stpp_entry, ttml_document

from player._tracks import choose_tracks
from player.config import PlaybackConfig, TextConfig
from player.manifest import Presentation, Track, TrackType, parse_manifest
from player.text import TextTiming, parse_text_segment

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "manifests"
WITH_TEXT = {
    "dash/androidx-media__sample_mpd_text.mpd": 3,
    "dash/streamlink__test_2.mpd": 4,
    "dash/streamlink__test_3.mpd": 1,
    "dash/streamlink__test_no_segment_list_or_template.mpd": 1,
    "dash/streamlink__test_segments_dynamic_number.mpd": 1,
    "dash/yt-dlp__subtitles.mpd": 1,
    "hls/shaka__hls-text-offset__index.m3u8": 1,
    "hls/shaka__hls-text-no-discontinuity__index.m3u8": 1,
    "hls/streamlink__test_1.m3u8": 4,
    "hls/yt-dlp__bipbop_16x9.m3u8": 8,
    "hls/yt-dlp__img_bipbop_adv_example_fmp4.m3u8": 1,
    "hls/androidx-media__multivariant_with_redundant_variants_and_renditions.m3u8": 1,
}
"""Manifest -> text tracks in its last period."""
PUBLISHED = 1525450876.0  # streamlink__test_3.mpd's publishTime (2018-05-04T16:21:16Z)


def load(name: str, *, now: float = PUBLISHED) -> Presentation:
    path = CORPUS / name
    return parse_manifest(path.read_bytes(), url=f"https://corpus.test/{path.name}", now=now)


def text_tracks(presentation: Presentation) -> tuple[Track, ...]:
    return presentation.periods[-1].tracks_of(TrackType.TEXT)


def chosen(presentation: Presentation, language: str) -> Track | None:
    period = presentation.periods[-1]
    return choose_tracks(period, PlaybackConfig(), text_language=language).text


@pytest.mark.parametrize("name", sorted(WITH_TEXT))
def test_each_text_track_is_chosen_by_its_own_language(name: str) -> None:
    presentation = load(name)
    tracks = text_tracks(presentation)
    assert len(tracks) == WITH_TEXT[name]
    for track in tracks:
        if track.language is None:
            continue
        picked = chosen(presentation, track.language)
        assert picked is not None and picked.language == track.language
    assert chosen(presentation, "*") is not None
    assert chosen(presentation, "xx") is None  # never another language instead


def test_language_prefixes_and_the_main_rendition() -> None:
    offset = load("hls/shaka__hls-text-offset__index.m3u8")
    picked = chosen(offset, "en")
    assert picked is not None and picked.language == "en-US"
    assert chosen(offset, "de") is None
    bipbop = load("hls/yt-dlp__bipbop_16x9.m3u8")
    english = chosen(bipbop, "en")
    assert english is not None and english.label == "English"  # not "English (Forced)"
    japanese = chosen(bipbop, "ja")
    assert japanese is not None and japanese.label == "日本語"


def test_vod_stpp_segments_follow_the_timeline() -> None:
    presentation = load("dash/yt-dlp__subtitles.mpd")
    rep = text_tracks(presentation)[0].representations[0]
    assert rep.codecs == "stpp" and rep.segments is not None
    assert [round(s.start_s, 3) for s in rep.segments] == [60.0 * i for i in range(11)]
    assert rep.segments[-1].duration_s == 24.0


@pytest.mark.parametrize("relative", [False, True])
def test_live_stpp_cues_land_on_the_presentation_timeline(relative: bool) -> None:
    """streamlink__test_3.mpd: ``$Time$`` at 2018 epoch milliseconds, timescale 1000."""
    presentation = load("dash/streamlink__test_3.mpd")
    assert presentation.is_live
    video = presentation.periods[-1].tracks_of(TrackType.VIDEO)[0].representations[0]
    text = text_tracks(presentation)[0].representations[0]
    assert text.segments is not None and video.segments is not None
    assert [s.start_s for s in text.segments] == [s.start_s for s in video.segments]
    second = text.segments[1]
    assert second.start_s == 1525450864.0
    media_ms = 1525450864000
    # times on the track's media timeline (the standard), or from the sample's start
    begin, end = ("0.5s", "3.5s") if relative else ("423736:21:04.500", "423736:21:07.500")
    document = ttml_document(f'<div><p begin="{begin}" end="{end}">live</p></div>')
    placed = parse_text_segment(
        fragment([(4000, document)], decode_time=media_ms, wide_tfdt=True),
        init=init_segment(stpp_entry(), timescale=1000),
        timing=TextTiming(segment_start_s=second.start_s, segment_end_s=second.end_s),
        url=second.url,
        config=TextConfig(),
    )
    assert [(c.start_s, c.end_s, c.text) for c in placed.cues] == [
        (1525450864.5, 1525450867.5, "live")
    ]
