"""Follow a playback session's events with ``async for`` while it plays.

Run: python examples/events.py
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from player import Player, PlayerConfig, VirtualClock
from player.events import Ended, ErrorOccurred, SegmentDownloaded, VariantSwitched
from player.lab import ContentSpec, generate_content
from transport import TransportConfig
from transport.lab import LabCdn


async def watch(player: Player) -> None:
    async for event in player.events():
        if isinstance(event, VariantSwitched):
            print(f"{event.at_s:7.2f}s switch {event.from_id} -> {event.to_id} ({event.reason})")
        elif isinstance(event, SegmentDownloaded) and event.track == "video":
            print(
                f"{event.at_s:7.2f}s video #{event.number} {event.nbytes} B over {event.protocol}"
            )
        elif isinstance(event, ErrorOccurred):
            print(f"{event.at_s:7.2f}s error {event.code}: {event.message}")
        elif isinstance(event, Ended):
            print(f"{event.at_s:7.2f}s ended at {event.position_s:.1f}s")


async def main(root: Path) -> None:
    content = generate_content(root, ContentSpec(duration_s=8))
    cdn = LabCdn(content.root, edges=1).start_in_thread()
    try:
        config = PlayerConfig(transport=TransportConfig(ca_file=cdn.ca_file))
        async with Player(config, clock=VirtualClock()) as player:
            watcher = asyncio.create_task(watch(player))
            await player.load(f"{cdn.edges[0].base_url}/master.m3u8")
            await player.wait(timeout_s=60)
            await watcher
    finally:
        cdn.stop()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(Path(tmp)))
