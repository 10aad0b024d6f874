"""Live playback against the lab's live publisher (real clock: live edges move in real time)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from player import PlaybackState
from player._player import Player
from player.config import PlayerConfig
from player.events import BufferingStarted, Event
from player.lab import ContentInfo, ContentSpec, LiveContent, RenditionSpec, generate_content
from player.manifest import parse_manifest
from transport import TransportConfig
from transport.lab import LabCdn

LADDER = (
    RenditionSpec(id="v1", width=160, height=90, bitrate_bps=150_000),
    RenditionSpec(id="v2", width=320, height=180, bitrate_bps=400_000),
)


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> ContentInfo:
    spec = ContentSpec(duration_s=8, segment_s=1, ladder=LADDER)
    return generate_content(tmp_path_factory.mktemp("live"), spec)


def test_live_window_follows_the_clock(content: ContentInfo) -> None:
    now = [1_000.0]
    live = LiveContent(content, window_s=3.0, start_s=1_000.0, clock=lambda: now[0])
    assert live.available() == 0
    assert live.lookup("/video/v1/seg-1.m4s") is None
    now[0] = 1_004.5
    assert live.available() == 4
    assert live.lookup("/video/v1/seg-4.m4s") is not None
    assert live.lookup("/video/v1/seg-5.m4s") is None
    mpd = parse_manifest(live.mpd(now[0]).encode(), url="https://lab/live/manifest.mpd", now=now[0])
    assert mpd.is_live
    video = mpd.periods[0].tracks[0].representations[0]
    assert video.segments is not None
    assert [s.number for s in video.segments] == [2, 3, 4]
    playlist = live.media_playlist(content.tracks[0], now[0])
    assert "#EXT-X-MEDIA-SEQUENCE:2" in playlist and "#EXT-X-ENDLIST" not in playlist
    now[0] = 1_010.0
    assert live.has_ended()
    assert 'type="static"' in live.mpd(now[0])
    assert live.media_playlist(content.tracks[0], now[0]).rstrip().endswith("#EXT-X-ENDLIST")


@pytest.fixture()
def live_cdn(content: ContentInfo) -> Iterator[Any]:
    live = LiveContent(content, window_s=4.0, start_s=time.time() - 4.0)
    handle = LabCdn(live, edges=1).start_in_thread()
    yield handle
    handle.stop()


@pytest.mark.parametrize("path", ["manifest.mpd", "master.m3u8"])
def test_plays_live_from_near_the_edge_to_the_end_of_the_event(live_cdn: Any, path: str) -> None:
    async def run() -> tuple[Player, list[Event], float]:
        events: list[Event] = []
        config = PlayerConfig(transport=TransportConfig(ca_file=live_cdn.ca_file))
        async with Player(config) as player:
            player.add_listener(events.append)
            presentation = await player.load(f"{live_cdn.edges[0].base_url}/live/{path}")
            assert presentation.is_live
            start = player.position_s
            await player.wait(timeout_s=30)
        return player, events, start

    player, events, start = asyncio.run(run())
    assert player.state is PlaybackState.ENDED, player.error
    assert 0.0 < start <= 2.0  # three segments behind a 4 s edge
    stats = player.stats()
    assert stats.frames_decoded == round((8.0 - start) * 25)
    assert stats.decode_errors == 0
    assert player.position_s == pytest.approx(8.0, abs=0.1)
    assert not [e for e in events if isinstance(e, BufferingStarted)]
