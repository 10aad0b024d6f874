"""``EXT-X-KEY`` IVs as the tools write them: the padding follows the number of hex digits.

RFC 8216 calls ``IV`` a 128-bit integer (a short value has zeros on the left). Shaka Packager
writes an 8-byte IV as 16 hex digits meaning zeros on the right, and FFmpeg reads every short
IV so. The manifest records how many digits were written and ``drm.hls_key_iv`` decides: a
16-digit IV is the 8-byte form, 32 digits are used as written (also when the first 8 bytes
are zero, which a guess from the value once misread), other short values are RFC integers.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import recipes
from foreign import (
    DURATION_S,
    PLAY_TIMEOUT_S,
    Clip,
    Served,
    Workshop,
    compare_pictures,
    config_for,
    play,
)

from drm import decrypt_hls_segment, hls_key_iv
from player import VirtualClock
from player._pipeline import MediaProcessor
from player._player import Player
from player.config import PlayerConfig
from player.manifest import HlsKey, Representation, Segment, parse_manifest

SAMPLE_AES = {
    "shaka-sample-aes-ts": (recipes.shaka_sample_aes_ts, recipes.SHORT_IV),
    "shaka-sample-aes-ts-rfc-iv": (recipes.shaka_sample_aes_ts_rfc_iv, recipes.RFC_IV),
}


def _ivs_written(folder: Path) -> set[str]:
    found: set[str] = set()
    for playlist in folder.glob("*.m3u8"):
        found.update(re.findall(r"#EXT-X-KEY:.*IV=0x([0-9A-Fa-f]+)", playlist.read_text()))
    return found


@pytest.mark.parametrize("name", list(SAMPLE_AES))
def test_shaka_sample_aes_ts_decrypts_to_the_source_pictures(
    name: str, workshop: Workshop, clip: Clip, lab_server: Served
) -> None:
    """SAMPLE-AES in MPEG-TS (H.264 NAL and AAC ADTS decryption), key given by KID.

    With the 8-byte IV read RFC 8216's way, or the 32-digit IV with 8 leading zero bytes
    read as the 8-byte form, every NAL unit decrypts to garbage.
    """
    recipe, iv = SAMPLE_AES[name]
    path = workshop.build(name, recipe)
    assert _ivs_written(clip.folder / Path(path).parent) == {iv}
    playback = play(lab_server, path, keys={recipes.KID: recipes.KEY})
    assert playback.state == "ended", playback.error
    assert playback.stats["decode_errors"] == 0
    comparison = compare_pictures(playback, clip, anchor="first")
    assert comparison.is_exact, comparison
    assert comparison.frames == clip.frames
    assert len(playback.audio_pts_s) >= 0.98 * clip.audio_frames


def test_ffmpeg_aes128_with_an_8_byte_iv_decrypts_to_ffmpegs_clear_segments(
    workshop: Workshop, clip: Clip
) -> None:
    """Whole-segment AES-128: a wrong IV spoils only the first block of each segment (which
    decoders shrug off), so the decrypted bytes are compared with FFmpeg's clear packaging
    of the same source, segment by segment, through the SDK's playlist reading."""
    made = workshop.build("aes128-short-iv", recipes.ffmpeg_hls_aes128_short_iv)
    encrypted = clip.folder / Path(made).parent
    clear = clip.folder / Path(workshop.build("ffmpeg-hls-ts", recipes.ffmpeg_hls_ts)).parent
    assert _ivs_written(encrypted) == {recipes.SHORT_IV}
    checked = 0
    for playlist in sorted(encrypted.glob("v*.m3u8")):
        url = f"https://lab.example/{playlist.name}"
        presentation = parse_manifest(playlist.read_bytes(), url=url, now=0.0)
        (rep,) = presentation.representations()
        assert rep.segments
        for segment in rep.segments:
            key = segment.key
            assert key is not None and key.method == "AES-128" and key.iv is not None
            assert key.iv_hex_digits == 16
            iv = hls_key_iv(key.iv, hex_digits=key.iv_hex_digits)
            assert iv == bytes.fromhex(recipes.SHORT_IV) + bytes(8)
            name = segment.urls[0].rsplit("/", 1)[1]
            data = (encrypted / name).read_bytes()
            out = decrypt_hls_segment(data, recipes.AES_KEY, iv=iv, method=key.method)
            assert out == (clear / name).read_bytes(), name
            checked += 1
    assert checked >= 2 * DURATION_S


class _Recording:
    """The player's own processor, keeping what each media segment decrypted to."""

    def __init__(self, inner: MediaProcessor) -> None:
        self.inner = inner
        self.clear: dict[str, bytes] = {}

    async def prepare_init(
        self, rep: Representation, init: bytes, *, key: HlsKey | None = None
    ) -> bytes:
        return await self.inner.prepare_init(rep, init, key=key)

    async def process_segment(
        self, rep: Representation, segment: Segment, data: bytes, *, init: bytes
    ) -> bytes:
        out = await self.inner.process_segment(rep, segment, data, init=init)
        self.clear[segment.urls[0].rsplit("/", 1)[1]] = out
        return out


async def _play_recording(url: str, config: PlayerConfig) -> tuple[Player, _Recording]:
    player = Player(config, clock=VirtualClock())
    recording = _Recording(player.processor)
    player.processor = recording
    try:
        await player.load(url)
        await player.wait(timeout_s=PLAY_TIMEOUT_S)
    finally:
        await player.aclose()
    return player, recording


def test_the_player_decrypts_ffmpeg_aes128_with_an_8_byte_iv_exactly(
    workshop: Workshop, clip: Clip, lab_server: Served
) -> None:
    """The player's path (playlist, ``HlsKey.iv_hex_digits``, drm) gives FFmpeg's clear bytes
    for every segment it played."""
    path = workshop.build("aes128-short-iv", recipes.ffmpeg_hls_aes128_short_iv)
    clear = clip.folder / Path(workshop.build("ffmpeg-hls-ts", recipes.ffmpeg_hls_ts)).parent
    player, recording = asyncio.run(_play_recording(lab_server.url(path), config_for(lab_server)))
    assert player.state.value == "ended", player.error
    assert len(recording.clear) >= DURATION_S
    for name, data in recording.clear.items():
        assert data == (clear / name).read_bytes(), name
