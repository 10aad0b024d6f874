"""Subtitles in a live HLS event: a sliding window of WebVTT segments beside the lab's live
video (real clock: the live edge moves in real time, about 5 s per test)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from text_support import add_text_tracks, cues_for

from player._player import Player
from player.config import PlaybackConfig, PlayerConfig
from player.events import CueEntered, Event
from player.lab import ContentInfo, ContentSpec, LiveContent, RenditionSpec, generate_content
from transport import TransportConfig
from transport.lab import LabCdn, Resource

DURATION_S = 8
CUES = cues_for("en", DURATION_S, every_s=1.0)


class LiveWithText(LiveContent):
    """The lab's live event plus an English WebVTT rendition with the same window."""

    def master_playlist(self) -> str:
        body = re.sub(
            r"(#EXT-X-STREAM-INF:[^\n]*)", r'\1,SUBTITLES="subs"', super().master_playlist()
        )
        text = (
            '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",LANGUAGE="en",NAME="English",'
            'DEFAULT=YES,AUTOSELECT=YES,URI="text-en/index.m3u8"\n'
        )
        return body.replace("#EXT-X-VERSION:7\n", "#EXT-X-VERSION:7\n" + text, 1)

    def lookup(self, path: str) -> Resource | None:
        if path != "/live/text-en/index.m3u8":
            return super().lookup(path)
        now = self.clock()
        first, last = self._first_listed(now), self.available(now)
        lines = ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-TARGETDURATION:1"]
        lines.append(f"#EXT-X-MEDIA-SEQUENCE:{first}")
        for number in range(first, last + 1):
            lines += [f"#EXTINF:{self.segment_s:.6f},", f"../../text-en/{number}.vtt"]
        if self.has_ended(now):
            lines.append("#EXT-X-ENDLIST")
        body = ("\n".join(lines) + "\n").encode()
        return Resource(
            size=len(body),
            etag=f'"{hash(body)}"',
            media_type="application/vnd.apple.mpegurl",
            read=lambda offset, length: body[offset : offset + length],
        )


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> ContentInfo:
    spec = ContentSpec(
        duration_s=DURATION_S,
        segment_s=1,
        ladder=(RenditionSpec(id="v1", width=160, height=90, bitrate_bps=150_000),),
    )
    info = generate_content(tmp_path_factory.mktemp("live-text"), spec)
    add_text_tracks(info, {"en": CUES})
    return info


@pytest.fixture()
def live_cdn(content: ContentInfo) -> Iterator[Any]:
    live = LiveWithText(content, window_s=4.0, start_s=time.time() - 4.0)
    handle = LabCdn(live, edges=0).start_in_thread()
    yield handle
    handle.stop()


def test_live_subtitles_follow_the_video_timeline(live_cdn: Any) -> None:
    async def run() -> tuple[Player, list[Event], float]:
        events: list[Event] = []
        config = PlayerConfig(
            transport=TransportConfig(ca_file=live_cdn.ca_file),
            playback=PlaybackConfig(text_language="en", decode=False),
        )
        async with Player(config) as player:
            player.add_listener(events.append)
            presentation = await player.load(f"{live_cdn.origin.base_url}/live/master.m3u8")
            assert presentation.is_live
            start = player.position_s
            await player.wait(timeout_s=30)
        return player, events, start

    player, events, start = asyncio.run(run())
    assert player.state.value == "ended", player.error
    presentation = player.presentation
    assert presentation is not None
    video = next(t for t in presentation.periods[0].tracks if t.type.value == "video")
    segments = video.representations[0].segments or ()
    # segment n holds media time (n - 1) s: the offset of the presentation timeline from it
    offset = (segments[0].number - 1) * 1.0 - segments[0].start_s
    entered = [e for e in events if isinstance(e, CueEntered)]
    expected = [c for c in CUES if c.end_s - offset > start + 1e-3]
    assert [e.cue.text for e in entered] == [c.text for c in expected]
    for event, cue in zip(entered, expected, strict=True):
        assert event.cue.start_s == pytest.approx(cue.start_s - offset, abs=1e-3)
        assert event.cue.end_s == pytest.approx(cue.end_s - offset, abs=1e-3)
    assert player.stats().subtitle_coverage == pytest.approx(1.0, abs=0.01)
