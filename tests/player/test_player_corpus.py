"""Play the shared corpus's media sets, served by the lab, with their published keys.

Keys and the expectations come from ../shared/corpus/media/MANIFEST.md and keys.json.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drm import DrmConfig
from player import PlaybackState, VirtualClock
from player._player import Player
from player.config import PlayerConfig
from transport import TransportConfig
from transport.lab import LabCdn

MEDIA = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "media"


def published_key(set_name: str) -> dict[str, str]:
    entries = json.loads((MEDIA / "keys.json").read_text())["fmp4_cenc"]
    entry = next(e for e in entries if e["set"] == set_name)
    return {entry["kid"]: entry["key"]}


CASES = {
    # manifest: (keys, minimum frames)
    "shaka-player/dash-clearkey/dash.mpd": (
        lambda: published_key("shaka-player/dash-clearkey"),
        400,
    ),
    "shaka-player/hls-sample-aes/index.m3u8": (
        lambda: published_key("shaka-player/hls-sample-aes"),
        1000,
    ),
    # Protected sample entries but clear fragments; the PlayReady test server's keys equal
    # the KIDs (MANIFEST.md), and the samples must come out unchanged.
    "shaka-player/clear-encrypted/manifest.mpd": (
        lambda: {
            "517453862d4256fd8bad4f58422004d7": "517453862d4256fd8bad4f58422004d7",
            "26470f4296d45d04a9babb442e169800": "26470f4296d45d04a9babb442e169800",
        },
        150,
    ),
    # DASH SEA: whole-segment AES-128 with the key at the keyUriTemplate.
    "shaka-player/dash-aes-128/dash.mpd": (dict, 150),
    # HLS AES-256 (CBC) and AES-256-CTR segments, and an encrypted EXT-X-MAP init.
    "shaka-player/hls-aes-256/media.m3u8": (dict, 400),
}


@pytest.fixture(scope="module")
def cdn() -> Iterator[Any]:
    handle = LabCdn(MEDIA, edges=1).start_in_thread()
    yield handle
    handle.stop()


@pytest.mark.parametrize("manifest", sorted(CASES))
def test_corpus_set_plays_without_decode_errors(cdn: Any, manifest: str) -> None:
    keys_of, min_frames = CASES[manifest]
    config = PlayerConfig(
        transport=TransportConfig(ca_file=cdn.ca_file), drm=DrmConfig(keys=keys_of())
    )

    async def run() -> Player:
        async with Player(config, clock=VirtualClock()) as player:
            await player.load(f"{cdn.edges[0].base_url}/{manifest}")
            await player.wait(timeout_s=60)
        return player

    player = asyncio.run(run())
    assert player.state is PlaybackState.ENDED, player.error
    stats = player.stats()
    assert stats.decode_errors == 0
    assert stats.frames_decoded >= min_frames


def test_wrong_key_for_a_corpus_set_is_detected(cdn: Any) -> None:
    """Without the key H.264 may 'decode' with errors only in the log: they must count."""
    config = PlayerConfig(
        transport=TransportConfig(ca_file=cdn.ca_file),
        drm=DrmConfig(keys={"4060a865887842679cbf91ae5bae1e72": "00" * 16}),
    )

    async def run() -> Player:
        async with Player(config, clock=VirtualClock()) as player:
            await player.load(f"{cdn.edges[0].base_url}/shaka-player/dash-clearkey/dash.mpd")
            await player.wait(timeout_s=60)
        return player

    player = asyncio.run(run())
    # A wrong cenc key still "decodes" (slice headers are clear): every frame has errors.
    stats = player.stats()
    assert player.state is PlaybackState.ENDED
    assert stats.decode_errors >= stats.frames_decoded > 400


def test_hls_aes128_mpeg_ts_with_the_sequence_number_iv(tmp_path: Path) -> None:
    """inputstream-hls/seq2: AES-128 TS whose IV is the media sequence number (2)."""
    source = MEDIA / "inputstream-hls" / "seq2"
    (tmp_path / "D00000002.ts").write_bytes((source / "D00000002.ts").read_bytes())
    (tmp_path / "key.bin").write_bytes((source / "aes_key").read_bytes()[:16])
    (tmp_path / "media.m3u8").write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:2\n"
        '#EXT-X-KEY:METHOD=AES-128,URI="key.bin"\n#EXTINF:10.0,\nD00000002.ts\n#EXT-X-ENDLIST\n'
    )
    handle = LabCdn(tmp_path, edges=1).start_in_thread()
    try:
        config = PlayerConfig(transport=TransportConfig(ca_file=handle.ca_file))

        async def run() -> Player:
            async with Player(config, clock=VirtualClock()) as player:
                await player.load(f"{handle.edges[0].base_url}/media.m3u8")
                await player.wait(timeout_s=60)
            return player

        player = asyncio.run(run())
    finally:
        handle.stop()
    assert player.state is PlaybackState.ENDED, player.error
    stats = player.stats()
    assert stats.decode_errors == 0
    assert stats.frames_decoded > 0
