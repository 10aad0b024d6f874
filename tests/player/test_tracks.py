"""Track choice on real multivariant playlists from the corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from player._tracks import (
    choose_tracks,
    dropped_by_caps,
    rungs_of,
    switching_groups,
    video_ladder,
)
from player.config import PlaybackConfig
from player.errors import RestrictionsNotMet
from player.manifest import Period, TrackType, parse_dash, parse_manifest

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


def test_caps_that_leave_nothing_are_a_typed_error() -> None:
    presentation = parse("yt-dlp__img_bipbop_adv_example_fmp4.m3u8")
    video = choose_tracks(presentation.periods[0], PlaybackConfig()).video
    assert video is not None
    full = video_ladder(video, PlaybackConfig())
    with pytest.raises(RestrictionsNotMet) as info:
        video_ladder(video, PlaybackConfig(max_video_height=1))
    assert info.value.max_height == 1
    assert len(info.value.available) == len(full)
    assert info.value.code == "player.restrictions_not_met"
    capped = video_ladder(video, PlaybackConfig(max_video_height=360))
    assert capped and max(r.height or 0 for r in capped) == 360
    assert dropped_by_caps(video, capped, PlaybackConfig(max_video_height=360)) == tuple(
        r.id for r in full if (r.height or 0) > 360
    )


def _mpd(sets: str) -> Period:
    xml = (
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        f'mediaPresentationDuration="PT4S"><Period>{sets}</Period></MPD>'
    )
    return parse_dash(xml.encode(), url="https://cdn.example/m.mpd").periods[0]


def _set(set_id: int, rep: str, codecs: str, *, extra: str = "", kind: str = "video") -> str:
    return (
        f'<AdaptationSet id="{set_id}" contentType="{kind}" frameRate="25">{extra}'
        f'<Representation id="{rep}" bandwidth="{1000 * (set_id + 1)}" codecs="{codecs}" '
        f'height="{180 * (set_id + 1)}"><BaseURL>{rep}.mp4</BaseURL>'
        '<SegmentBase indexRange="800-899"><Initialization range="0-799"/></SegmentBase>'
        "</Representation></AdaptationSet>"
    )


SWITCH = (
    '<SupplementalProperty schemeIdUri="urn:mpeg:dash:adaptation-set-switching:2016" value="{}"/>'
)


def test_sets_linked_by_adaptation_set_switching_form_one_ladder() -> None:
    # Shaka Packager 3.4.2 writes one-way links, one of them to the audio set's id
    period = _mpd(
        _set(0, "sd", "avc1.64000d", extra=SWITCH.format("2"))
        + _set(1, "hd", "hvc1.1.6.L93.90", extra=SWITCH.format("0"))
        + _set(2, "en", "mp4a.40.2", kind="audio")
    )
    assert [t.switching_ids for t in period.tracks] == [("2",), ("0",), ()]
    groups = switching_groups(period.tracks, merge_compatible=False)
    assert [(t.id, [r.id for r in t.representations]) for t in groups] == [
        ("0+1", ["sd", "hd"]),
        ("2", ["en"]),
    ]
    choice = choose_tracks(period, PlaybackConfig())
    assert choice.video is not None and choice.video.id == "0+1"
    ladder = video_ladder(choice.video, PlaybackConfig(max_video_height=200))
    assert [r.id for r in ladder] == ["sd"]


def test_compatible_sets_merge_only_when_asked_and_only_if_compatible() -> None:
    period = _mpd(
        _set(0, "a", "avc1.64000d")
        + _set(1, "b", "avc3.64001e")
        + _set(2, "c", "hvc1.1.6.L93.90")
        + _set(
            3,
            "d",
            "avc1.640028",
            extra='<Role schemeIdUri="urn:mpeg:dash:role:2011" value="alternate"/>',
        )
    )
    assert len(switching_groups(period.tracks, merge_compatible=False)) == 4
    merged = switching_groups(period.tracks, merge_compatible=True)
    assert [t.id for t in merged] == ["0+1", "2", "3"]
    choice = choose_tracks(period, PlaybackConfig(), merge_compatible=True)
    assert choice.video is not None and [r.id for r in choice.video.representations] == ["a", "b"]
