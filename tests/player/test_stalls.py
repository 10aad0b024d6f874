"""Stalls that begin while a segment is downloading are timed from when the buffer ran out.

Found by ``python -m player fidelity``: on a link slower than the lowest rung the player
reported a third less rebuffering than the simulator, because the segment in flight was added
to the buffer before the playhead was advanced, and the playhead then ran on through media that
had not been there.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from player._clock import VirtualClock
from player._player import Player
from player.config import PlaybackConfig, PlayerConfig
from player.events import BufferingEnded, BufferingStarted, Event, SegmentDownloaded
from player.lab import ContentSpec, RenditionSpec, generate_content
from transport import TransportConfig
from transport.lab import LabCdn, NetworkEmulator, ThroughputTrace

SEGMENTS = 4


def test_stall_during_a_download_is_counted_from_the_buffers_end(tmp_path: Path) -> None:
    spec = ContentSpec(
        duration_s=2 * SEGMENTS,
        ladder=(RenditionSpec(id="only", width=320, height=180, bitrate_bps=400_000),),
        audio_languages=(),
    )
    content = generate_content(tmp_path / "c", spec)
    video = next(t for t in content.tracks if t.kind == "video")
    mean_bps = sum(n for _, _, n in video.segments) * 8 / spec.duration_s
    cdn = LabCdn(content.root, edges=0).start_in_thread()
    # each 2 s segment takes about 3 s to arrive: every segment after the first stalls ~1 s
    rate = ThroughputTrace.constant(mean_bps * 2 / 3)
    relay = NetworkEmulator(cdn.origin.base_url, trace=rate, duration_s=120.0).start_in_thread()
    events: list[Event] = []

    async def play() -> float:
        config = PlayerConfig(
            transport=TransportConfig(ca_file=cdn.ca_file, protocol="h3"),
            playback=PlaybackConfig(decode=False),
        )
        async with Player(config, clock=VirtualClock()) as player:
            player.add_listener(events.append)
            await player.load(f"{relay.base_url}/{content.dash_path}")
            await player.wait(timeout_s=60)
            return player.stats().rebuffer_s

    try:
        rebuffer_s = asyncio.run(play())
    finally:
        relay.stop()
        cdn.stop()
    arrivals = [e.at_s for e in events if isinstance(e, SegmentDownloaded) and e.number > 0]
    assert len(arrivals) == SEGMENTS
    # playback starts with segment 1; segment k (k >= 2) is due 2 s after k-1 became playable
    expected = sum(max(0.0, b - a - 2.0) for a, b in zip(arrivals, arrivals[1:], strict=False))
    assert expected > 1.5  # the link really is too slow
    assert rebuffer_s == pytest.approx(expected, abs=0.15)
    starts = [e for e in events if isinstance(e, BufferingStarted)]
    ends = [e for e in events if isinstance(e, BufferingEnded)]
    assert len(starts) == len(ends) == SEGMENTS - 1
    # each stall starts when the buffered media ran out, before the next segment arrived
    for start, arrival in zip(starts, arrivals[1:], strict=True):
        assert start.at_s < arrival - 0.3
