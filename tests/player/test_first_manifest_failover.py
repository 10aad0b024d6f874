"""Issue 11 defect 5: alternate origins apply to the first manifest fetch and to every refresh.

The preferred edge is down before ``load()``; the manifest, the segments and (live) every
manifest refresh come from the alternate edge. Lab servers on loopback, real sockets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from player import PlaybackState, VirtualClock
from player._player import Player
from player.config import PlaybackConfig, PlayerConfig
from player.lab import ContentInfo, ContentSpec, LiveContent, RenditionSpec, generate_content
from transport import AllEdgesFailed, TransportConfig
from transport.lab import LabCdn

LADDER = (RenditionSpec(id="v1", width=160, height=90, bitrate_bps=150_000),)


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> ContentInfo:
    spec = ContentSpec(duration_s=6, segment_s=1, ladder=LADDER)
    return generate_content(tmp_path_factory.mktemp("failover"), spec)


@pytest.fixture()
def cdn_first_edge_down(content: ContentInfo) -> Iterator[Any]:
    handle = LabCdn(content.root, edges=2).start_in_thread()
    handle.edges[0].kill().result(5.0)
    yield handle
    handle.stop()


def config(cdn: Any, *, alternates: bool) -> PlayerConfig:
    origins = (cdn.edges[1].base_url, cdn.origin.base_url) if alternates else ()
    return PlayerConfig(
        transport=TransportConfig(ca_file=cdn.ca_file),
        playback=PlaybackConfig(alternate_origins=origins, decode=False),
    )


@pytest.mark.parametrize("path", ["manifest.mpd", "master.m3u8"])
def test_load_uses_the_alternate_origin_when_the_edge_is_down(
    cdn_first_edge_down: Any, path: str
) -> None:
    cdn = cdn_first_edge_down
    url = f"{cdn.edges[0].base_url}/{path}"

    async def run() -> Player:
        async with Player(config(cdn, alternates=True), clock=VirtualClock()) as player:
            started = time.monotonic()
            await player.load(url)
            assert time.monotonic() - started < 5.0  # a refused edge is skipped at once
            await player.wait(timeout_s=60)
        return player

    player = asyncio.run(run())
    assert player.state is PlaybackState.ENDED, player.error
    stats = player.stats()
    assert stats.time_played_s == pytest.approx(6.0, abs=0.05)
    assert set(stats.bytes_by_edge) == {cdn.edges[1].base_url}
    assert any(r.path.endswith(path) for r in cdn.edges[1].requests)


def test_without_alternates_the_same_load_fails(cdn_first_edge_down: Any) -> None:
    cdn = cdn_first_edge_down

    async def run() -> None:
        async with Player(config(cdn, alternates=False), clock=VirtualClock()) as player:
            await player.load(f"{cdn.edges[0].base_url}/manifest.mpd")

    with pytest.raises(AllEdgesFailed):
        asyncio.run(run())


@pytest.fixture()
def live_cdn_first_edge_down(content: ContentInfo) -> Iterator[Any]:
    live = LiveContent(content, window_s=3.0, start_s=time.time() - 3.0)
    handle = LabCdn(live, edges=2).start_in_thread()
    handle.edges[0].kill().result(5.0)
    yield handle
    handle.stop()


def test_live_refreshes_use_the_alternate_origin_too(live_cdn_first_edge_down: Any) -> None:
    cdn = live_cdn_first_edge_down

    async def run() -> Player:
        async with Player(config(cdn, alternates=True)) as player:
            presentation = await player.load(f"{cdn.edges[0].base_url}/live/manifest.mpd")
            assert presentation.is_live
            await player.wait(timeout_s=30)
        return player

    player = asyncio.run(run())
    # the event ends only in a refreshed manifest: reaching ENDED took working refreshes
    assert player.state is PlaybackState.ENDED, player.error
    manifests = [r for r in cdn.edges[1].requests if r.path.endswith("manifest.mpd")]
    assert len(manifests) >= 2  # the first fetch and at least one refresh
    assert set(player.stats().bytes_by_edge) == {cdn.edges[1].base_url}
