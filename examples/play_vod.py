"""Play a VOD stream from the local lab headless and print the figures.

Run: python examples/play_vod.py
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from player import Player, PlayerConfig, VirtualClock
from player.config import PlaybackConfig
from player.lab import ContentSpec, generate_content
from transport import TransportConfig
from transport.lab import LabCdn


async def main(root: Path) -> None:
    content = generate_content(root, ContentSpec(duration_s=10))
    cdn = LabCdn(content.root, edges=2).start_in_thread()
    try:
        config = PlayerConfig(
            transport=TransportConfig(ca_file=cdn.ca_file),  # trust the lab's test CA only
            playback=PlaybackConfig(alternate_origins=(cdn.edges[1].base_url,)),
        )
        async with Player(config, clock=VirtualClock()) as player:
            await player.load(f"{cdn.edges[0].base_url}/manifest.mpd")
            state = await player.wait(timeout_s=60)
            stats = player.stats()
            print(f"state={state.value} startup={stats.startup_s:.3f}s")
            print(f"frames={stats.frames_decoded} decode_errors={stats.decode_errors}")
            mbps = stats.mean_bitrate_bps / 1e6
            print(f"mean bitrate={mbps:.2f} Mbit/s switches={stats.switch_count}")
    finally:
        cdn.stop()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(Path(tmp)))
