"""Downloads of foreign layouts, played back with the network cut (issue 15, offline).

Shaka Packager's on-demand output (DASH ``SegmentBase`` + ``sidx``, HLS ``EXT-X-BYTERANGE``;
clear and ``cenc``), FFmpeg's HLS (fMP4 with an audio group, MPEG-TS with muxed audio,
AES-128 with a key URI) and a server that ignores ``Range`` (``python -m http.server``) are
downloaded through the SDK, the server is stopped, and the download plays from its folder:
every picture must be the clear source's, bit for bit. Each case runs its own server so it
can be stopped without disturbing the session's shared ones.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import recipes
import test_interop_text as text_cases
from foreign import (
    Clip,
    Playback,
    Served,
    Workshop,
    compare_pictures,
    downloads,
    plain_http_server,
    play,
)

from drm import LicensePolicy, LicenseServerApp
from player.config import PlayerConfig
from player.events import Event, event_to_json
from player.offline import Downloader, DownloadProgressed, DownloadResult, OfflineDownload
from transport import TransportConfig
from transport.lab import LabCdn, LabServer, TestCA

Recipe = Callable[[Path, Clip], str]

CASES: dict[str, tuple[Recipe, str]] = {
    # name: (recipe, frame-number anchor: MPEG-TS timestamps start anywhere)
    "shaka-on-demand": (recipes.shaka_on_demand, "absolute"),
    "shaka-on-demand-cenc": (recipes.shaka_on_demand_cenc, "absolute"),
    "ffmpeg-hls-fmp4": (recipes.ffmpeg_hls_fmp4, "absolute"),
    "ffmpeg-hls-ts": (recipes.ffmpeg_hls_ts, "first"),
    "ffmpeg-hls-aes128": (recipes.ffmpeg_hls_aes128, "first"),
    "ffmpeg-dash-timeline": (recipes.ffmpeg_dash_timeline, "absolute"),
    "ffmpeg-dash-single-file": (recipes.ffmpeg_dash_single_file, "absolute"),
    "shaka-cenc": (recipes.shaka_cenc, "absolute"),
    "shaka-multi-key-cbcs": (recipes.shaka_multi_key_cbcs, "absolute"),
    "shaka-sample-aes-ts": (recipes.shaka_sample_aes_ts, "first"),
}
KEYS = {recipes.KID: recipes.KEY}


def _path(workshop: Workshop, name: str, manifest: str) -> str:
    built = workshop.build(name, CASES[name][0])
    return str(Path(built).parent / manifest)


@contextmanager
def _lab(clip: Clip, ca: TestCA, log: Path | None = None) -> Iterator[Served]:
    handle = LabCdn(clip.folder, edges=0, ca=ca, request_log=log).start_in_thread()
    try:
        yield Served("lab", handle.origin.base_url, handle.ca_file)
    finally:
        handle.stop()


def _download(
    served: Served, path: str, out: Path, **drm: Any
) -> tuple[DownloadResult, list[dict[str, Any]]]:
    config = PlayerConfig(
        transport=TransportConfig(ca_file=served.ca_file, protocol=served.protocol)
    )
    if drm:
        config = dataclasses.replace(config, drm=dataclasses.replace(config.drm, **drm))
    events: list[Event] = []

    async def run() -> DownloadResult:
        async with Downloader(config) as downloader:
            downloader.add_listener(events.append)
            return await downloader.download(served.url(path), out)

    return asyncio.run(run()), [event_to_json(e) for e in events]


def _play_offline(folder: Path) -> Playback:
    """Play a download from its folder (its server was stopped before)."""
    download = OfflineDownload.open(folder)
    with download.serve() as served:
        base, _, name = served.url.rpartition("/")
        local = Served("offline", base, served.ca_file)
        return play(local, name, adjust=lambda c: download.player_config(c, now=time.time()))


def _check_exact(playback: Playback, clip: Clip, anchor: str) -> None:
    assert playback.state == "ended", playback.error
    assert playback.stats["decode_errors"] == 0
    comparison = compare_pictures(playback, clip, anchor=anchor)
    assert comparison.is_exact, comparison
    assert comparison.frames == clip.frames


@pytest.mark.parametrize(
    ("name", "manifest"),
    [
        ("shaka-on-demand", "manifest.mpd"),
        ("shaka-on-demand", "master.m3u8"),
        ("shaka-on-demand-cenc", "manifest.mpd"),
        ("ffmpeg-hls-fmp4", "master.m3u8"),
        ("ffmpeg-hls-ts", "master.m3u8"),
        ("ffmpeg-dash-timeline", "manifest.mpd"),
        ("ffmpeg-dash-single-file", "manifest.mpd"),
        ("shaka-sample-aes-ts", "master.m3u8"),
    ],
)
def test_foreign_layout_downloads_and_plays_offline_bit_exact(
    name: str,
    manifest: str,
    workshop: Workshop,
    clip: Clip,
    interop_ca: TestCA,
    tmp_path: Path,
) -> None:
    path = _path(workshop, name, manifest)
    keys = KEYS if name.endswith(("cenc", "sample-aes-ts")) else {}
    with _lab(clip, interop_ca) as served:
        result, events = _download(served, path, tmp_path, keys=keys)
    # the lab is stopped: what follows uses the folder only
    local = "manifest.mpd" if manifest.endswith(".mpd") else "manifest.m3u8"
    assert result.manifest_path == tmp_path / local
    assert result.files_kept == 0 and result.files == len(list(_media_files(tmp_path)))
    progressed = [e for e in events if e["type"] == "DownloadProgressed"]
    assert progressed[-1]["files_done"] == progressed[-1]["files_total"] == result.files
    assert progressed[-1]["total_bytes_done"] == progressed[-1]["total_bytes_estimate"]
    if name == "shaka-sample-aes-ts":  # the KID in a data: URI: its key kept by that URI
        assert result.license is not None and result.license.source == "keys"
        (uri,) = result.license.hls_keys
        assert uri.startswith("data:") and result.license.hls_keys[uri] == recipes.KEY
    elif keys:
        assert result.license is not None and result.license.source == "keys"
        assert result.license.kids == (recipes.KID,) and result.license.expires_at_s is None
    else:
        assert result.license is None
    playback = _play_offline(tmp_path)
    _check_exact(playback, clip, CASES[name][1])
    licenses = [e for e in playback.events if e["type"] == "LicenseAcquired"]
    assert all(e["source"] == "config" for e in licenses)  # nothing asked of a server


@pytest.fixture(scope="module")
def license_server(interop_ca: TestCA) -> Iterator[Any]:
    """The lab's ClearKey server, persistent licenses for the token ``offline`` (1 h)."""
    keys = {recipes.KID: recipes.KEY, **dict(recipes.MULTI_KEYS.values())}
    app = LicenseServerApp(
        keys,
        {"offline": list(keys)},
        policies={"offline": LicensePolicy(allow_persistent=True, persistent_duration_s=3600)},
    )
    handle = LabServer(app, ca=interop_ca).start_in_thread()  # type: ignore[arg-type]
    try:
        yield handle
    finally:
        handle.stop()


@pytest.mark.parametrize(
    ("name", "manifest", "kids"),
    [
        ("shaka-cenc", "manifest.mpd", {recipes.KID}),
        ("shaka-cenc", "master.m3u8", {recipes.KID}),
        (
            "shaka-multi-key-cbcs",
            "manifest.mpd",
            {recipes.MULTI_KEYS[k][0] for k in ("HD", "AUDIO")},
        ),
        (
            "shaka-multi-key-cbcs",
            "master.m3u8",
            {recipes.MULTI_KEYS[k][0] for k in ("HD", "AUDIO")},
        ),
    ],
)
def test_foreign_encryption_gets_a_persistent_license_and_plays_offline(
    name: str,
    manifest: str,
    kids: set[str],
    workshop: Workshop,
    clip: Clip,
    interop_ca: TestCA,
    license_server: Any,
    tmp_path: Path,
) -> None:
    """Shaka Packager's ``cenc`` and ``cbcs`` (one key per rendition; SAMPLE-AES MPEG-TS):
    no key given, the lab's server issues a persistent license for exactly the KIDs of the
    renditions kept; played with the lab and the license server out of the picture."""
    path = _path(workshop, name, manifest)
    drm = {
        "license_url": f"{license_server.base_url}/license",
        "license_headers": {"Authorization": "Bearer offline"},
    }
    before = time.time()
    with _lab(clip, interop_ca) as served:
        result, events = _download(served, path, tmp_path, **drm)
    stored = result.license
    assert stored is not None and stored.source == "license-server"
    assert set(stored.kids) == kids
    assert stored.expires_at_s is not None
    assert before + 3600 - 5 <= stored.expires_at_s <= time.time() + 3600 + 1
    (licensed,) = [e for e in events if e["type"] == "LicenseStored"]
    assert licensed["is_reused"] is False and "keys" not in json.dumps(licensed)
    playback = _play_offline(tmp_path)  # the license server is asked nothing: its keys are off
    _check_exact(playback, clip, CASES[name][1])
    licenses = [e for e in playback.events if e["type"] == "LicenseAcquired"]
    assert licenses and all(e["source"] == "config" for e in licenses)


def test_on_demand_download_fetches_init_and_index_in_one_request(
    workshop: Workshop, clip: Clip, interop_ca: TestCA, tmp_path: Path
) -> None:
    """The session's index loading: init and ``sidx`` adjacent, one ranged request each file."""
    path = _path(workshop, "shaka-on-demand", "manifest.mpd")
    log = tmp_path / "requests.jsonl"
    with _lab(clip, interop_ca, log) as served:
        result, _ = _download(served, path, tmp_path / "dl")
    requested = [
        json.loads(line)["path"].rsplit("/", 1)[-1] for line in log.read_text().splitlines()
    ]
    # one request for init + sidx, one per subsegment; the 180p file is never touched
    assert sorted(requested) == sorted(["manifest.mpd"] + ["v360.mp4"] * 5 + ["audio.mp4"] * 5)
    tmp_path = tmp_path / "dl"
    # 360p and audio: init, and the 4 one-second subsegments each, as separate local files
    inits = sorted(p.name for p in _media_files(tmp_path) if p.name.startswith("init"))
    segments = [p for p in _media_files(tmp_path) if p.name.startswith("seg-")]
    assert inits == ["init.mp4", "init.mp4"] and len(segments) == 8
    # the bytes fetched are the manifest and the two files (init + sidx + media), once each
    sizes = sum(
        (clip.folder / Path(path).parent / f).stat().st_size
        for f in ("v360.mp4", "audio.mp4", "manifest.mpd")
    )
    assert result.bytes_fetched <= sizes
    assert result.bytes_fetched >= sizes - 2 * 4096  # all but the ftyp/moov tail of each file
    assert "SegmentList" in result.manifest_path.read_text()


def test_hls_aes128_key_is_stored_and_never_fetched_offline(
    workshop: Workshop, clip: Clip, interop_ca: TestCA, tmp_path: Path
) -> None:
    path = _path(workshop, "ffmpeg-hls-aes128", "master.m3u8")
    with _lab(clip, interop_ca) as served:
        result, _ = _download(served, path, tmp_path)
        key_uri = served.url(str(Path(path).parent / "enc.key"))
    assert result.license is not None and result.license.source == "key-uri"
    assert dict(result.license.hls_keys) == {key_uri: recipes.AES_KEY.hex()}
    assert result.license.keys == {}
    (playlist,) = (tmp_path / "media/p0/video").glob("*/index.m3u8")
    assert f'URI="{key_uri}"' in playlist.read_text()
    playback = _play_offline(tmp_path)
    _check_exact(playback, clip, "first")
    licenses = [e for e in playback.events if e["type"] == "LicenseAcquired"]
    assert licenses and all(e["source"] == "config" for e in licenses)


def test_server_ignoring_range_downloads_each_file_once(
    workshop: Workshop, clip: Clip, tmp_path: Path
) -> None:
    """``python -m http.server`` answers ranges with whole files: cut from memory, once each."""
    path = _path(workshop, "shaka-on-demand", "manifest.mpd")
    with plain_http_server(clip.folder) as served:
        result, events = _download(served, path, tmp_path)
    sizes = sum(
        (clip.folder / Path(path).parent / f).stat().st_size
        for f in ("v360.mp4", "audio.mp4", "manifest.mpd")
    )
    assert result.bytes_fetched == sizes  # each whole file once, every range cut from it
    playback = _play_offline(tmp_path)
    _check_exact(playback, clip, "absolute")
    assert len(downloads(playback)) == 5  # init + 4 segments, from the local files


@pytest.mark.parametrize(
    "name",
    ["shaka-hls-fmp4-webvtt", "shaka-dash-wvtt", "shaka-dash-stpp", "ffmpeg-dash-sidecar-ttml"],
)
def test_subtitles_are_downloaded_and_play_offline_on_time(
    name: str, workshop: Workshop, clip: Clip, interop_ca: TestCA, tmp_path: Path
) -> None:
    """The text rendition of the language asked for is kept with its timing: every cue of
    ``recipes.SUBTITLES`` enters and exits at its time, offline as online."""
    _, _, language, shift = text_cases.CASES[name]
    path = text_cases._path(workshop, name)
    with _lab(clip, interop_ca) as served:
        config = PlayerConfig(transport=TransportConfig(ca_file=served.ca_file))
        playback = dataclasses.replace(config.playback, text_language=language)
        config = dataclasses.replace(config, playback=playback)
        events: list[Event] = []

        async def run() -> DownloadResult:
            async with Downloader(config) as downloader:
                downloader.add_listener(events.append)
                return await downloader.download(served.url(path), tmp_path)

        asyncio.run(run())
    tracks = {e.track for e in events if isinstance(e, DownloadProgressed)}
    assert tracks == {"video", "audio", "text"}
    download = OfflineDownload.open(tmp_path)
    with download.serve() as local:
        base, _, manifest = local.url.rpartition("/")
        offline = play(Served("offline", base, local.ca_file), manifest, text_language=language)
    assert offline.state == "ended", offline.error
    assert offline.stats["frames_decoded"] == clip.frames
    expected = [(a + shift, b + shift, t) for a, b, t in recipes.SUBTITLES]
    for kind in ("CueEntered", "CueExited"):
        cues = [e for e in offline.events if e["type"] == kind]
        got = [(e["cue"]["start_s"], e["cue"]["end_s"], e["cue"]["text"]) for e in cues]
        assert [text_cases._plain(g[2]) for g in got] == [
            text_cases._plain(t) for *_, t in expected
        ]
        for (start, end, _), (want_start, want_end, _) in zip(got, expected, strict=True):
            assert start == pytest.approx(want_start, abs=0.0015), got
            assert end == pytest.approx(want_end, abs=0.0015), got
        assert all(e["language"] == language for e in cues)
    # (when each cue entered is the text track's timing, checked by test_interop_text.py)
    assert offline.stats["subtitle_cues"] == len(expected)
    assert offline.stats["subtitle_coverage"] == pytest.approx(1.0, abs=0.01)


def _media_files(folder: Path) -> Iterator[Path]:
    yield from (
        p for p in sorted((folder / "media").rglob("*")) if p.suffix in (".mp4", ".m4s", ".ts")
    )
