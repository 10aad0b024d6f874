"""Subtitles packaged by FFmpeg and Shaka Packager, played through the lab (issue 15).

Every case carries the same four cues (``recipes.SUBTITLES``, written by the test as SRT for
FFmpeg and WebVTT for Shaka Packager; one crosses two segment boundaries). The SDK plays the
case to the end with the text track selected, and every cue must enter once and exit once
at its own times, with its text, whatever the layout: segmented WebVTT in HLS (with and
without ``X-TIMESTAMP-MAP``, over MPEG-TS and fMP4), WebVTT and TTML in fMP4 (``wvtt``,
``stpp``) in DASH and HLS, raw WebVTT segments in DASH, and sidecar WebVTT, TTML and MP4 TTML
files. The corpus's HLS text-offset case is played with media FFmpeg makes here.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import recipes
from foreign import Clip, Playback, Served, Workshop, downloads, play

from player._player import Player

Recipe = Callable[[Path, Clip], str]

FFMPEG_SHIFT_S = 0.08
"""FFmpeg's HLS muxer writes cue times on its own output clock, where the first picture is
at the B-frame delay (2 frames at 25 fps); it writes no ``X-TIMESTAMP-MAP`` to say so, so the
cues play that much later than the SRT says (every player does the same)."""

CASES: dict[str, tuple[Recipe, str, str, float]] = {
    # name: (recipe, manifest, language, shift of every cue against the source, seconds)
    "ffmpeg-hls-ts-webvtt": (recipes.ffmpeg_hls_ts_webvtt, "master.m3u8", "en", FFMPEG_SHIFT_S),
    "ffmpeg-hls-fmp4-webvtt": (
        recipes.ffmpeg_hls_fmp4_webvtt,
        "master.m3u8",
        "en",
        FFMPEG_SHIFT_S,
    ),
    "ffmpeg-dash-sidecar-webvtt": (recipes.ffmpeg_dash_sidecars, "manifest.mpd", "en", 0.0),
    "ffmpeg-dash-sidecar-ttml": (recipes.ffmpeg_dash_sidecars, "manifest.mpd", "fr", 0.0),
    "ffmpeg-dash-sidecar-stpp-mp4": (recipes.ffmpeg_dash_sidecars, "manifest.mpd", "de", 0.0),
    "shaka-hls-ts-webvtt-map": (recipes.shaka_hls_ts_webvtt, "master.m3u8", "en", 0.0),
    "shaka-hls-fmp4-webvtt": (recipes.shaka_text, "master.m3u8", "en", 0.0),
    "shaka-hls-fmp4-wvtt": (recipes.shaka_text, "master.m3u8", "de", 0.0),
    "shaka-hls-fmp4-stpp": (recipes.shaka_text, "master.m3u8", "fr", 0.0),
    "shaka-dash-webvtt-segments": (recipes.shaka_text, "manifest.mpd", "en", 0.0),
    "shaka-dash-wvtt": (recipes.shaka_text, "manifest.mpd", "de", 0.0),
    "shaka-dash-stpp": (recipes.shaka_text, "manifest.mpd", "fr", 0.0),
    "shaka-dash-sidecar-ttml": (recipes.shaka_text_sidecar, "manifest.mpd", "en", 0.0),
}
_FOLDERS = {
    recipes.ffmpeg_dash_sidecars: "ffmpeg-dash-text-sidecars",
    recipes.shaka_text: "shaka-text",
}
_TOLERANCE_S = 0.0015  # millisecond cue times, timescales of 1000 (not a tunable)


def _path(workshop: Workshop, name: str) -> str:
    recipe, manifest, _, _ = CASES[name]
    built = workshop.build(_FOLDERS.get(recipe, name), recipe)
    return str(Path(built).parent / manifest)


def _plain(text: str) -> str:
    """Cue text without tags and entities: Shaka Packager 3.4.2 turns a WebVTT payload into
    TTML text as is, so its TTML says ``<i>`` and ``&amp;`` literally."""
    return html.unescape(re.sub(r"<[^>]*>", "", text))


def cue_events(playback: Playback, kind: str) -> list[dict[str, Any]]:
    return [e for e in playback.events if e["type"] == kind]


def check_cues(playback: Playback, shift_s: float, language: str) -> int:
    """Every source cue entered and exited once at its times; returns the cues checked."""
    assert playback.state == "ended", playback.error
    assert [e["code"] for e in cue_events(playback, "ErrorOccurred")] == []
    expected = [(a + shift_s, b + shift_s, _plain(t)) for a, b, t in recipes.SUBTITLES]
    for kind in ("CueEntered", "CueExited"):
        events = cue_events(playback, kind)
        got = [(e["cue"]["start_s"], e["cue"]["end_s"], _plain(e["cue"]["text"])) for e in events]
        assert [g[2] for g in got] == [x[2] for x in expected], kind
        for (start, end, _), (want_start, want_end, _) in zip(got, expected, strict=True):
            assert start == pytest.approx(want_start, abs=_TOLERANCE_S), got
            assert end == pytest.approx(want_end, abs=_TOLERANCE_S), got
        assert all(e["language"] == language for e in events)
    for event in cue_events(playback, "CueEntered"):
        assert event["position_s"] == pytest.approx(event["cue"]["start_s"], abs=1e-6)
    assert playback.stats["subtitle_cues"] == len(expected)
    assert playback.stats["subtitle_coverage"] == pytest.approx(1.0, abs=0.01)
    return len(expected)


@pytest.mark.parametrize("name", list(CASES))
def test_foreign_subtitles_play_on_time(
    name: str, workshop: Workshop, clip: Clip, lab_server: Served
) -> None:
    _, _, language, shift = CASES[name]
    playback = play(lab_server, _path(workshop, name), text_language=language)
    assert check_cues(playback, shift, language) == len(recipes.SUBTITLES)
    assert playback.stats["frames_decoded"] == clip.frames
    assert playback.stats["decode_errors"] == 0


@pytest.mark.parametrize("name", ["shaka-dash-wvtt", "shaka-hls-ts-webvtt-map"])
def test_seeking_back_into_fetched_subtitles_shows_them_again(
    name: str, workshop: Workshop, lab_server: Served
) -> None:
    """The cue split over three ``wvtt`` samples (or repeated by three WebVTT segments) is
    one cue: after a seek back into it, it enters again at once, with nothing refetched."""
    seeks: list[float] = []

    def steer(player: Player, event: Any) -> None:
        if type(event).__name__ == "CueEntered" and event.cue.text == "Four" and not seeks:
            seeks.append(event.position_s)
            player.seek(1.5)

    _, _, language, _ = CASES[name]
    playback = play(lab_server, _path(workshop, name), on_event=steer, text_language=language)
    assert playback.state == "ended" and seeks
    seeked = next(e for e in playback.events if e["type"] == "Seeked")
    entered = cue_events(playback, "CueEntered")
    after = [e for e in entered if e["at_s"] >= seeked["at_s"]]
    assert [_plain(e["cue"]["text"]) for e in after] == [
        "Two italic & more",
        "Three\nsecond line",
        "Four",
    ]
    assert after[0]["at_s"] == seeked["at_s"] and after[0]["position_s"] == 1.5
    assert after[0]["cue"]["start_s"] == pytest.approx(0.9, abs=_TOLERANCE_S)
    assert after[0]["cue"]["end_s"] == pytest.approx(2.3, abs=_TOLERANCE_S)
    media = [e for e in downloads(playback, "text") if e["number"] >= 0]
    assert len(media) == 4  # each text segment once: the seek back fetched none again


def test_corpus_hls_text_offset_with_a_discontinuity_and_a_timestamp_wrap(
    workshop: Workshop, lab_server: Served
) -> None:
    """Shaka Player's hls-text-offset playlists (../shared/corpus), media made by FFmpeg."""
    path = workshop.build("corpus-hls-text-offset", recipes.corpus_hls_text_offset)
    playback = play(lab_server, path, text_language="en")
    assert playback.state == "ended", playback.error
    assert cue_events(playback, "ErrorOccurred") == []
    entered = cue_events(playback, "CueEntered")
    got = [(e["cue"]["start_s"], e["cue"]["end_s"], e["cue"]["text"]) for e in entered]
    assert [g[2] for g in got] == [c[2] for c in recipes.TEXT_OFFSET_CUES]
    for (start, end, _), (want_start, want_end, _) in zip(
        got, recipes.TEXT_OFFSET_CUES, strict=True
    ):
        assert start == pytest.approx(want_start, abs=_TOLERANCE_S), got
        assert end == pytest.approx(want_end, abs=_TOLERANCE_S), got
    assert playback.stats["subtitle_cues"] == len(recipes.TEXT_OFFSET_CUES)
    assert playback.stats["subtitle_coverage"] == pytest.approx(1.0, abs=0.01)
