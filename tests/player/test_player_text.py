"""Subtitles through a whole session on the lab: cue events, seeks, switches, broken files.

The lab's content gets text tracks from ``text_support`` (segmented WebVTT with
``X-TIMESTAMP-MAP`` for HLS, a sidecar WebVTT file for DASH); every test plays it through
``Player`` over real sockets on the virtual clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from text_support import TextCue, add_text_tracks, cues_for, two_period_mpd_with_text

from player import VirtualClock
from player._player import Player
from player.config import PlaybackConfig, PlayerConfig
from player.errors import UsageError
from player.events import (
    BufferingStarted,
    CueEntered,
    CueExited,
    CuesLoaded,
    ErrorOccurred,
    Event,
    PlaybackStarted,
    Seeked,
    SegmentDownloaded,
)
from player.lab import ContentInfo, ContentSpec, RenditionSpec, generate_content
from transport import TransportConfig
from transport.lab import LabCdn, TestCA

DURATION_S = 12
SEGMENT_S = 2
CUES = {lang: cues_for(lang, DURATION_S) for lang in ("en", "fr", "de", "es")}
BROKEN_SEGMENT = 3
"""``de``'s third HLS segment (4-6 s) is not WebVTT; ``es``'s fourth (6-8 s) is missing."""
MANIFESTS = ["master.m3u8", "manifest.mpd"]


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> ContentInfo:
    spec = ContentSpec(
        duration_s=DURATION_S,
        segment_s=SEGMENT_S,
        ladder=(RenditionSpec(id="v1", width=160, height=90, bitrate_bps=150_000),),
    )
    info = generate_content(tmp_path_factory.mktemp("text"), spec)
    add_text_tracks(info, CUES, broken={"de": BROKEN_SEGMENT})
    (info.root / "text-es" / "4.vtt").unlink()
    return info


@pytest.fixture(scope="module")
def cdn(content: ContentInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    ca = TestCA(tmp_path_factory.mktemp("ca"))
    handle = LabCdn(content.root, edges=0, ca=ca).start_in_thread()
    yield handle
    handle.stop()


def run(
    cdn: Any,
    path: str,
    *,
    on_event: Callable[[Player, Event], None] | None = None,
    **playback: Any,
) -> tuple[Player, list[Event]]:
    config = PlayerConfig(
        transport=TransportConfig(ca_file=cdn.ca_file),
        playback=PlaybackConfig(**{"decode": False, **playback}),
    )
    events: list[Event] = []

    async def main() -> Player:
        player = Player(config, clock=VirtualClock())
        player.add_listener(events.append)
        if on_event is not None:
            player.add_listener(lambda event: on_event(player, event))
        await player.load(f"{cdn.origin.base_url}/{path}")
        await player.wait(timeout_s=60)
        await player.aclose()
        return player

    return asyncio.run(main()), events


def of(events: list[Event], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def texts(events: list[Any]) -> list[str]:
    return [e.cue.text for e in events]


@pytest.mark.parametrize("path", MANIFESTS)
def test_cues_enter_and_exit_at_their_positions(cdn: Any, path: str) -> None:
    player, events = run(cdn, path, text_language="en")
    assert player.state.value == "ended"
    expected: list[TextCue] = CUES["en"]
    assert [(c.start_s, c.end_s, c.text) for c in player.text_cues()] == [
        (c.start_s, c.end_s, c.text) for c in expected
    ]
    stats = player.stats()
    assert stats.subtitle_cues == len(expected)
    assert stats.subtitle_coverage == pytest.approx(1.0)
    started = of(events, PlaybackStarted)[0]
    assert of(events, BufferingStarted) == []
    entered, exited = of(events, CueEntered), of(events, CueExited)
    assert texts(entered) == texts(exited) == [c.text for c in expected]
    for event, cue in zip(entered, expected, strict=True):
        assert event.position_s == pytest.approx(cue.start_s, abs=1e-9)
        assert event.at_s == pytest.approx(started.at_s + cue.start_s, abs=1e-6)
        assert event.language == "en" and event.cue.format == "webvtt"
    for event, cue in zip(exited, expected, strict=True):
        assert event.at_s == pytest.approx(started.at_s + cue.end_s, abs=1e-6)
    loads = of(events, CuesLoaded)
    assert len(loads) == (DURATION_S // SEGMENT_S if path.endswith("m3u8") else 1)
    shown = [s for s in player.timeline() if s.get("cues") == ["en cue 2"]]
    assert shown and all(1.75 <= s["position_s"] <= 2.75 for s in shown)
    logged = [e for e in player.event_log() if e["type"] == "CueEntered"]
    assert logged[0]["cue"]["settings"] == {"align": "center"}


@pytest.mark.parametrize("path", MANIFESTS)
def test_seek_back_shows_the_cues_again_without_fetching_them(cdn: Any, path: str) -> None:
    """Cues must not disappear after a seek back into a span already fetched."""
    seeks: list[float] = []

    def steer(player: Player, event: Event) -> None:
        if isinstance(event, CueExited) and event.cue.text == "en cue 5" and not seeks:
            seeks.append(event.at_s)
            player.seek(0.5)

    player, events = run(cdn, path, on_event=steer, text_language="en")
    assert player.state.value == "ended" and seeks
    seeked = of(events, Seeked)[0]
    before = [e for e in of(events, CueEntered) if e.at_s < seeked.at_s]
    after = [e for e in of(events, CueEntered) if e.at_s >= seeked.at_s]
    every = [c.text for c in CUES["en"]]
    assert texts(before) == every[: len(before)] and len(before) >= 5
    # at once, on the seek: cue 1 covers 0.5 s; then every cue again, none downloaded again
    assert texts(after) == every
    assert after[0].at_s == seeked.at_s and after[0].position_s == 0.5
    text_downloads = [e for e in of(events, SegmentDownloaded) if e.track == "text"]
    assert len(text_downloads) == len(of(events, CuesLoaded))
    assert len(text_downloads) == (DURATION_S // SEGMENT_S if path.endswith("m3u8") else 1)
    assert len(player.text_cues()) == len(CUES["en"])
    assert player.stats().subtitle_coverage == pytest.approx(1.0)


@pytest.mark.parametrize("path", MANIFESTS)
def test_switching_language_mid_playback(cdn: Any, path: str) -> None:
    switched: list[float] = []

    def steer(player: Player, event: Event) -> None:
        if isinstance(event, CueEntered) and event.cue.text == "en cue 3" and not switched:
            switched.append(event.at_s)
            asyncio.ensure_future(player.select_text_language("fr"))

    player, events = run(cdn, path, on_event=steer, text_language="en")
    assert player.state.value == "ended" and switched
    entered = of(events, CueEntered)
    english = [e for e in entered if e.language == "en"]
    french = [e for e in entered if e.language == "fr"]
    assert texts(english) == ["en cue 1", "en cue 2", "en cue 3"]
    assert entered == english + french  # no English cue after the switch
    # French from the cue at the playhead when its first segment arrived, to the end
    numbers = [int(e.cue.text.split()[-1]) for e in french]
    assert numbers == list(range(numbers[0], len(CUES["fr"]) + 1)) and numbers[0] <= 4
    gone = next(e for e in of(events, CueExited) if e.cue.text == "en cue 3")
    assert gone.at_s < french[0].at_s and gone.language == "en"
    assert gone.position_s < 4.25  # it left before its end: taken off by the switch
    assert player.text_cues()[-1].text == "fr cue 8"  # the French store after the switch
    assert player.stats().subtitle_cues >= 3 + len(french)


def test_turning_text_off_and_an_unknown_language(cdn: Any) -> None:
    outcome: list[object] = []

    def steer(player: Player, event: Event) -> None:
        if isinstance(event, CueEntered) and not outcome:
            outcome.append(event.cue.text)

            async def change() -> None:
                try:
                    await player.select_text_language("xx")
                except UsageError as exc:
                    outcome.append(str(exc))
                await player.select_text_language(None)

            asyncio.ensure_future(change())

    player, events = run(cdn, "master.m3u8", on_event=steer, text_language="en")
    assert outcome[0] == "en cue 1"
    assert "no text track for language 'xx'" in str(outcome[1]) and "'fr'" in str(outcome[1])
    assert texts(of(events, CueEntered)) == ["en cue 1"]
    assert texts(of(events, CueExited)) == ["en cue 1"]
    assert player.active_cues() == [] and player.state.value == "ended"


def test_a_malformed_cue_file_is_a_non_fatal_error_on_the_text_track(cdn: Any) -> None:
    player, events = run(cdn, "master.m3u8", text_language="de", decode=True)
    assert player.state.value == "ended" and player.error is None
    errors = of(events, ErrorOccurred)
    assert [(e.code, e.fatal) for e in errors] == [("player.text_parse", False)]
    assert "text-de/3.vtt" in errors[0].message and "WEBVTT" in errors[0].message
    assert player.stats().frames_decoded == DURATION_S * 25
    # the cues of the other segments play; the span 4-6 s is not covered
    loaded = [c.text for c in player.text_cues()]
    assert "de cue 4" not in loaded and "de cue 3" in loaded  # 3 was in segment 2 as well
    assert player.stats().subtitle_coverage == pytest.approx(1 - SEGMENT_S / DURATION_S)


def test_a_missing_cue_segment_is_a_non_fatal_error_on_the_text_track(cdn: Any) -> None:
    player, events = run(cdn, "master.m3u8", text_language="es")
    assert player.state.value == "ended" and player.error is None
    errors = of(events, ErrorOccurred)
    assert len(errors) == 1 and not errors[0].fatal
    assert errors[0].code.startswith("transport.") and "4.vtt" in errors[0].message
    assert player.stats().subtitle_coverage == pytest.approx(1 - SEGMENT_S / DURATION_S)
    assert player.stats().errors_by_code == {errors[0].code: 1}


def test_each_period_places_its_sidecar_from_its_own_start(cdn: Any, content: ContentInfo) -> None:
    first = [TextCue(0.5, 1.5, "period one"), TextCue(2.5, 3.5, "still one")]
    second = [TextCue(0.5, 1.5, "period two"), TextCue(4.0, 5.5, "still two")]
    mpd = two_period_mpd_with_text(content, 3, (first, second))
    (content.root / "two-periods-text.mpd").write_text(mpd, encoding="utf-8")
    player, events = run(cdn, "two-periods-text.mpd", text_language="en")
    assert player.state.value == "ended", player.error
    split = 3 * SEGMENT_S
    entered = [(e.cue.start_s, e.cue.end_s, e.cue.text) for e in of(events, CueEntered)]
    assert entered == [
        (0.5, 1.5, "period one"),
        (2.5, 3.5, "still one"),
        (split + 0.5, split + 1.5, "period two"),
        (split + 4.0, split + 5.5, "still two"),
    ]
    loads = of(events, CuesLoaded)
    assert [(e.representation_id, e.start_s, e.end_s) for e in loads] == [
        ("text-p0", 0.0, split),
        ("text-p1", split, DURATION_S),
    ]
    assert player.stats().subtitle_coverage == pytest.approx(1.0)
