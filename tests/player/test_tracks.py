"""Track choice on real multivariant playlists from the corpus."""

from __future__ import annotations

from pathlib import Path

from player._tracks import choose_tracks, rungs_of, video_ladder
from player.config import PlaybackConfig
from player.manifest import TrackType, parse_manifest

HLS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "manifests" / "hls"


def parse(name: str):  # type: ignore[no-untyped-def]
    return parse_manifest((HLS / name).read_bytes(), url=f"https://cdn.example/{name}")


def test_video_ladder_follows_the_chosen_audio_group() -> None:
    presentation = parse("yt-dlp__img_bipbop_adv_example_fmp4.m3u8")
    period = presentation.periods[0]
    choice = choose_tracks(period, PlaybackConfig())
    assert choice.video is not None and choice.audio is not None
    groups = {r.audio_group for r in choice.video.representations}
    assert len(groups) > 1  # several audio groups (codecs) in this playlist
    ladder = video_ladder(choice.video, PlaybackConfig(), audio_group=choice.audio.group_id)
    assert ladder and {r.audio_group for r in ladder} == {choice.audio.group_id}
    rates = [r.bitrate_bps for r in rungs_of(ladder)]
    assert rates == sorted(rates) and len(set(rates)) == len(rates)


def test_muxed_variants_get_no_second_audio_unless_asked() -> None:
    presentation = parse("yt-dlp__bipbop_16x9.m3u8")
    period = presentation.periods[0]
    choice = choose_tracks(period, PlaybackConfig())
    assert choice.video is not None
    if choice.video.type == TrackType.MUXED:
        assert choice.audio is None
        asked = choose_tracks(period, PlaybackConfig(), audio_language="en")
        assert asked.audio is None or asked.audio.type == TrackType.AUDIO


def test_caps_keep_at_least_the_lowest_rung() -> None:
    presentation = parse("yt-dlp__img_bipbop_adv_example_fmp4.m3u8")
    video = choose_tracks(presentation.periods[0], PlaybackConfig()).video
    assert video is not None
    capped = video_ladder(video, PlaybackConfig(max_video_height=1))
    assert len(capped) == 1
    assert capped[0].bandwidth_bps == min(
        r.bandwidth_bps for r in video_ladder(video, PlaybackConfig())
    )
