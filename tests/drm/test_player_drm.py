"""The player's DRM stage (player/_protection.py) on foreign and corpus content, over the lab.

- HLS SAMPLE-AES MPEG-TS: keys given out of band (``DrmConfig.keys`` by KID, the form
  ``--keys`` fills, and ``DrmConfig.hls_keys`` by key URI) and keys fetched from a key URI.
- Typed, fatal errors for bad ``data:`` key URIs, with no key material in the message.
- FFmpeg 5.1's DASH CENC output (no ``senc`` in its fragments) ends in ``drm.decryption``.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from drm_helpers import MEDIA
from foreign_tools import ffmpeg, make_source, packager, run

from drm import CencDecryptor, DecryptionError, DrmConfig
from player import PlaybackState, VirtualClock
from player._player import Player
from player.config import PlayerConfig
from player.events import ErrorOccurred, Event, LicenseAcquired
from transport import TransportConfig
from transport.lab import LabCdn

CORPUS_KID = "31323334353637383930313233343536"
CORPUS_KEY = "32333435363738393021323334353637"
SAMPLE_AES = "shaka-packager/hls-ts-sample-aes/output.m3u8"
KID = "00112233445566778899aabbccddeeff"
KEY = "ffeeddccbbaa99887766554433221100"


@pytest.fixture(scope="module")
def corpus_cdn() -> Iterator[Any]:
    handle = LabCdn(MEDIA, edges=1).start_in_thread()
    yield handle
    handle.stop()


async def _play(url: str, config: PlayerConfig) -> tuple[Player, list[Event]]:
    events: list[Event] = []
    player = Player(config, clock=VirtualClock())
    player.add_listener(events.append)
    await player.load(url)
    await player.wait(timeout_s=60)
    await player.aclose()
    return player, events


def _config(cdn: Any, drm: DrmConfig) -> PlayerConfig:
    return PlayerConfig(transport=TransportConfig(ca_file=cdn.ca_file), drm=drm)


@pytest.mark.parametrize(
    "drm",
    [
        DrmConfig(keys={CORPUS_KID: CORPUS_KEY}),  # what --keys KID:KEY gives
        DrmConfig(hls_keys={"*": CORPUS_KEY}),
        DrmConfig(hls_keys={"data:text/plain;base64,MTIzNDU2Nzg5MDEyMzQ1Ng==": CORPUS_KEY}),
    ],
    ids=["keys-by-kid", "hls-keys-any", "hls-keys-by-uri"],
)
def test_corpus_sample_aes_plays_with_a_key_given_out_of_band(
    corpus_cdn: Any, drm: DrmConfig
) -> None:
    url = f"{corpus_cdn.edges[0].base_url}/{SAMPLE_AES}"
    player, events = asyncio.run(_play(url, _config(corpus_cdn, drm)))
    assert player.state is PlaybackState.ENDED, player.error
    stats = player.stats()
    assert (stats.frames_decoded, stats.decode_errors) == (82, 0)
    sources = {e.source for e in events if isinstance(e, LicenseAcquired)}
    assert sources == {"config"}


def test_corpus_sample_aes_without_a_key_is_not_decrypted_with_the_kid(corpus_cdn: Any) -> None:
    """Its data: URI holds the KID (Shaka Packager's convention), so decoding must fail."""
    url = f"{corpus_cdn.edges[0].base_url}/{SAMPLE_AES}"
    player, _ = asyncio.run(_play(url, _config(corpus_cdn, DrmConfig())))
    assert player.stats().decode_errors > 50


@pytest.fixture(scope="module")
def keyed_cdn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """Shaka Packager SAMPLE-AES TS whose playlists name a key file the lab serves."""
    root = tmp_path_factory.mktemp("sample-aes-keyuri")
    src = make_source(root, "source", video="", audio="aac", seconds=2)
    args = [packager()]
    for stream in ("video", "audio"):
        template = f"segment_template={stream}_$Number$.ts,playlist_name={stream}.m3u8"
        args.append(f"in={src},stream={stream},{template}")
    args += ["--hls_master_playlist_output", "main.m3u8", "--segment_duration", "1"]
    args += ["--enable_raw_key_encryption", "--keys", f"label=:key_id={KID}:key={KEY}"]
    args += ["--protection_scheme", "cbcs", "--clear_lead", "0", "--hls_key_uri", "key.bin"]
    run(args, root)
    (root / "key.bin").write_bytes(bytes.fromhex(KEY))
    handle = LabCdn(root, edges=1).start_in_thread()
    yield handle, root
    handle.stop()


def test_sample_aes_key_fetched_from_its_uri(keyed_cdn: tuple[Any, Path]) -> None:
    cdn, _ = keyed_cdn
    url = f"{cdn.edges[0].base_url}/main.m3u8"
    player, events = asyncio.run(_play(url, _config(cdn, DrmConfig())))
    assert player.state is PlaybackState.ENDED, player.error
    stats = player.stats()
    assert (stats.frames_decoded, stats.decode_errors) == (50, 0)
    assert [e.source for e in events if isinstance(e, LicenseAcquired)] == ["key-uri"]


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("data:text/plain;base64,MjM0NTY3ODk*ITIzNDU2Nw==", "not valid base64"),
        ("data:text/plain;base64,MjM0NTY3ODkwITIzNDU2Nwé=", "non-ASCII"),
        ("data:text/plain;base64,MjM0NTY3ODkwITIzNDU2NzI=", "is 17 bytes, not 16"),
    ],
)
def test_bad_data_uri_keys_are_typed_fatal_errors_without_key_material(
    tmp_path: Path, uri: str, fragment: str
) -> None:
    segment = (MEDIA / "inputstream-hls" / "seq2" / "D00000002.ts").read_bytes()
    (tmp_path / "s.ts").write_bytes(segment)
    (tmp_path / "media.m3u8").write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:2\n"
        f'#EXT-X-KEY:METHOD=AES-128,URI="{uri}"\n#EXTINF:10.0,\ns.ts\n#EXT-X-ENDLIST\n',
        encoding="utf-8",
    )
    handle = LabCdn(tmp_path, edges=1).start_in_thread()
    try:
        url = f"{handle.edges[0].base_url}/media.m3u8"
        player, events = asyncio.run(_play(url, _config(handle, DrmConfig())))
    finally:
        handle.stop()
    assert player.state is PlaybackState.ERROR
    (error,) = [e for e in events if isinstance(e, ErrorOccurred)]
    assert (error.code, error.fatal) == ("drm.hls_key", True)
    assert fragment in error.message and "data:" in error.message
    payload = uri.partition(",")[2]
    assert payload[:8] not in error.message and "MjM0" not in error.message


# --- FFmpeg's own DASH CENC: a protected track whose fragments have no senc/saiz/saio -----


@pytest.fixture(scope="module")
def ffmpeg_cenc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ffmpeg-cenc")
    options = f"encryption_scheme=cenc-aes-ctr:encryption_key={KEY}:encryption_kid={KID}"
    args = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y"]
    args += ["-f", "lavfi", "-i", "testsrc=size=160x90:rate=25", "-t", "2"]
    args += ["-c:v", "libx264", "-g", "25", "-threads", "1", "-f", "dash", "-seg_duration", "1"]
    run([*args, "-format_options", options, "out.mpd"], root)
    return root


def test_ffmpeg_cenc_fragments_without_senc_raise_a_typed_error(ffmpeg_cenc: Path) -> None:
    init = (ffmpeg_cenc / "init-stream0.m4s").read_bytes()
    segment = (ffmpeg_cenc / "chunk-stream0-00001.m4s").read_bytes()
    assert b"encv" in init and b"senc" not in segment
    decryptor = CencDecryptor(init, {KID: bytes.fromhex(KEY)})
    moof = segment.index(b"moof") - 4
    with pytest.raises(DecryptionError) as info:
        decryptor.decrypt_segment(segment)
    assert f"fragment 1 (moof at byte {moof})" in str(info.value)
    assert "no sample auxiliary information" in str(info.value)
    with pytest.raises(DecryptionError, match="fragment 1"):
        decryptor.decrypt_segment_in_place(bytearray(segment))
    assert info.value.code == "drm.decryption"


def test_ffmpeg_cenc_playback_ends_in_a_fatal_drm_error(ffmpeg_cenc: Path, tmp_path: Path) -> None:
    folder = tmp_path / "dash"
    shutil.copytree(ffmpeg_cenc, folder)
    handle = LabCdn(folder, edges=1).start_in_thread()
    try:
        url = f"{handle.edges[0].base_url}/out.mpd"
        config = _config(handle, DrmConfig(keys={KID: KEY}))
        player, events = asyncio.run(_play(url, config))
    finally:
        handle.stop()
    assert player.state is PlaybackState.ERROR
    errors = [e for e in events if isinstance(e, ErrorOccurred)]
    assert errors and errors[-1].fatal and errors[-1].code == "drm.decryption"
    assert "no sample auxiliary information" in errors[-1].message
    assert player.stats().frames_decoded == 0


def test_fairplay_sample_aes_is_refused_as_unsupported(tmp_path: Path) -> None:
    segment = (MEDIA / "shaka-packager/hls-ts-sample-aes/bear-640x360-video-2.ts").read_bytes()
    (tmp_path / "s.ts").write_bytes(segment)
    (tmp_path / "media.m3u8").write_text(
        "#EXTM3U\n#EXT-X-VERSION:5\n#EXT-X-TARGETDURATION:2\n"
        '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://asset-1",IV=0x3334353637383930,'
        'KEYFORMAT="com.apple.streamingkeydelivery",KEYFORMATVERSIONS="1"\n'
        "#EXTINF:1.0,\ns.ts\n#EXT-X-ENDLIST\n",
        encoding="utf-8",
    )
    handle = LabCdn(tmp_path, edges=1).start_in_thread()
    try:
        url = f"{handle.edges[0].base_url}/media.m3u8"
        player, events = asyncio.run(_play(url, _config(handle, DrmConfig())))
        assert player.state is PlaybackState.ERROR
        (error,) = [e for e in events if isinstance(e, ErrorOccurred)]
        assert (error.code, error.fatal) == ("drm.unsupported_key_system", True)
        assert "com.apple.streamingkeydelivery" in error.message
        # a key given for every identity key is also used for it
        config = _config(handle, DrmConfig(hls_keys={"*": CORPUS_KEY}))
        player, _ = asyncio.run(_play(url, config))
    finally:
        handle.stop()
    assert player.state is PlaybackState.ENDED, player.error
    assert (player.stats().frames_decoded, player.stats().decode_errors) == (30, 0)
