"""Offline playback (issue 15): downloads from the lab, persistent licenses, no network to play.

Every download runs against the lab's CDN (and, for ClearKey content, the lab's license server)
on loopback; every offline playback happens after those servers were stopped, from the
download folder served on loopback like any local manifest. Pictures are compared with an
online playback of the same rendition, frame by frame.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from heartbeat_support import TOKENS, ManualClock, free_port, running_service, service_call
from test_player_e2e import two_period_mpd

from drm import (
    DrmConfig,
    LicenseError,
    LicenseExpired,
    LicensePolicy,
    LicenseServerApp,
    package_mp4,
)
from player import PlaybackState, VirtualClock
from player._player import Player
from player.config import HeartbeatConfig, OfflineConfig, PlaybackConfig, PlayerConfig
from player.errors import (
    DiskFull,
    DownloadStateError,
    DownloadTooLarge,
    InsufficientSpace,
    NotDownloadable,
)
from player.events import Event, LicenseAcquired
from player.heartbeat import HeartbeatDelivery
from player.lab import ContentInfo, ContentSpec, RenditionSpec, generate_content
from player.offline import (
    DownloadCompleted,
    Downloader,
    DownloadProgressed,
    DownloadResult,
    DownloadStarted,
    LicenseStored,
    OfflineDownload,
)
from transport import TransportConfig
from transport.lab import LabCdn, LabServer, TestCA

LADDER = (
    RenditionSpec(id="v1", width=160, height=90, bitrate_bps=150_000),
    RenditionSpec(id="v2", width=320, height=180, bitrate_bps=400_000),
)
DURATION_S = 6
FPS = 25
KID = "5ab2c8d4e6f80a1b2c3d4e5f60718293"
KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
T0 = 1_800_000_000.0
"""The injected wall clock of the license server and the downloader."""


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def contents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ContentInfo]:
    """Clear and ``cenc`` content (DASH and HLS over the same files) under one root."""
    root = tmp_path_factory.mktemp("offline-content")
    clear = ContentSpec(duration_s=DURATION_S, ladder=LADDER, audio_languages=("en", "fr"))
    cenc = dataclasses.replace(clear, audio_languages=("en",), scheme="cenc", kid_hex=KID)
    return {
        "clear": generate_content(root / "clear", clear),
        "cenc": generate_content(
            root / "cenc",
            cenc,
            encrypt=lambda d: package_mp4(d, key_id=KID, key=KEY, scheme="cenc"),
        ),
    }


@dataclass
class Lab:
    """The lab for one test: a CDN over the content root, a license server; both stoppable."""

    cdn: Any
    license: Any
    app: LicenseServerApp
    log: Path
    wall: list[float]

    def url(self, content: ContentInfo, manifest: str) -> str:
        return f"{self.cdn.edges[0].base_url}/{content.root.name}/{manifest}"

    @property
    def license_url(self) -> str:
        return f"{self.license.base_url}/license"

    def requested(self) -> list[str]:
        """Paths the CDN answered, in order."""
        if not self.log.exists():
            return []
        return [json.loads(line)["path"] for line in self.log.read_text().splitlines()]

    def settled_requests(self, quiet_s: float = 0.3, limit_s: float = 5.0) -> list[str]:
        """``requested()`` once the log has not grown for ``quiet_s`` (at most ``limit_s``).

        A request a cancelled client had already sent is answered (and logged) by the server
        thread a little later; a snapshot taken at once would count it in the next run.
        """
        seen, since, deadline = self.requested(), time.monotonic(), time.monotonic() + limit_s
        while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.requested()
            if now != seen:
                seen, since = now, time.monotonic()
        return seen

    def stop(self) -> None:
        self.cdn.stop()
        self.license.stop()


@contextmanager
def lab(contents: dict[str, ContentInfo], ca: TestCA, tmp_path: Path) -> Iterator[Lab]:
    wall = [T0]
    app = LicenseServerApp(
        {KID: KEY.hex()},
        {"offline": [KID], "online-only": [KID], "short": [KID]},
        policies={
            "offline": LicensePolicy(allow_persistent=True, persistent_duration_s=3600.0),
            "short": LicensePolicy(allow_persistent=True, persistent_duration_s=1.5),
        },
        wall=lambda: wall[0],
    )
    license_server = LabServer(app, ca=ca).start_in_thread()  # type: ignore[arg-type]
    log = tmp_path / "requests.jsonl"
    root = contents["clear"].root.parent
    cdn = LabCdn(root, edges=1, ca=ca, request_log=log).start_in_thread()
    running = Lab(cdn, license_server, app, log, wall)
    try:
        yield running
    finally:
        running.stop()


def config_for(lab: Lab, *, token: str = "offline", **playback: Any) -> PlayerConfig:
    return PlayerConfig(
        transport=TransportConfig(ca_file=lab.cdn.ca_file),
        drm=DrmConfig(
            license_url=lab.license_url, license_headers={"Authorization": f"Bearer {token}"}
        ),
        playback=PlaybackConfig(**playback),
    )


def download(
    config: PlayerConfig, url: str, folder: Path, *, wall: float | None = None, **kw: Any
) -> tuple[DownloadResult, list[Event]]:
    events: list[Event] = []

    async def run() -> DownloadResult:
        clock = (lambda: wall) if wall is not None else time.time
        async with Downloader(config, wall=clock) as downloader:
            downloader.add_listener(events.append)
            return await downloader.download(url, folder, **kw)

    return asyncio.run(run()), events


@dataclass
class Played:
    state: PlaybackState
    error: BaseException | None
    frames: list[tuple[float, str]]
    audio_frames: int
    events: list[Event]


async def _play(url: str, config: PlayerConfig, **load: Any) -> Played:
    events: list[Event] = []
    player = Player(config, clock=VirtualClock(), **load.pop("player", {}))
    player.add_listener(events.append)
    try:
        await player.load(url, **load)
        await player.wait(timeout_s=60)
    finally:
        await player.aclose()
    frames = sorted(zip(player.frame_times(), player.frame_hashes(), strict=True))
    return Played(player.state, player.error, frames, len(player.frame_times("audio")), events)


def play_offline(folder: Path, config: PlayerConfig | None = None, **load: Any) -> Played:
    """Play a download from its folder: no server of the lab is needed (they are stopped)."""
    download = OfflineDownload.open(folder)
    with download.serve() as served:
        base = config or PlayerConfig()
        base = dataclasses.replace(
            base,
            transport=TransportConfig(ca_file=served.ca_file),
            playback=dataclasses.replace(base.playback, hash_frames=True),
        )
        return asyncio.run(_play(served.url, download.player_config(base, now=time.time()), **load))


def tracks_of(events: list[Event]) -> dict[str, DownloadProgressed]:
    last: dict[str, DownloadProgressed] = {}
    for event in events:
        if isinstance(event, DownloadProgressed):
            last[f"{event.track}:{event.representation_id}"] = event
    return last


# -- download, cut the network, play -----------------------------------------------------------


@pytest.mark.parametrize("manifest", ["manifest.mpd", "master.m3u8"])
@pytest.mark.parametrize("kind", ["clear", "cenc"])
def test_download_plays_offline_with_the_sources_pictures(
    kind: str, manifest: str, contents: dict[str, ContentInfo], ca: TestCA, tmp_path: Path
) -> None:
    content = contents[kind]
    with lab(contents, ca, tmp_path) as running:
        config = config_for(running, max_video_height=90)
        online = asyncio.run(
            _play(
                running.url(content, manifest),
                dataclasses.replace(
                    config, playback=dataclasses.replace(config.playback, hash_frames=True)
                ),
            )
        )
        result, events = download(config, running.url(content, manifest), tmp_path / "dl")
        served_before = running.app.requests_served
    # the lab is stopped: the CDN and the license server are gone
    assert online.state is PlaybackState.ENDED, online.error
    assert len(online.frames) == DURATION_S * FPS
    offline = play_offline(tmp_path / "dl")
    assert offline.state is PlaybackState.ENDED, offline.error
    assert offline.frames == online.frames  # every picture, at its time, bit for bit
    assert offline.audio_frames == online.audio_frames
    licenses = [e for e in offline.events if isinstance(e, LicenseAcquired)]
    if kind == "cenc":
        assert result.license is not None and result.license.kids == (KID,)
        assert result.license.source == "license-server"
        assert result.license.expires_at_s == T0 + 3600  # the server's clock and policy
        assert served_before == 2  # the online playback's license, the download's persistent one
        assert [(e.kids, e.source) for e in licenses] == [((KID,), "config")]
    else:
        assert result.license is None and licenses == []
    # progress: one start, every rendition counted to its end, one completion
    assert isinstance(events[0], DownloadStarted) and isinstance(events[-1], DownloadCompleted)
    assert events[0].files_present == 0 and events[0].files_total == result.files
    per_track = tracks_of(events)
    assert sorted(per_track) == sorted(events[0].tracks)
    assert {k.split(":")[0] for k in per_track} == {"video", "audio"}
    for progress in per_track.values():
        assert progress.segments_done == progress.segments_total >= DURATION_S // 2
        assert progress.bytes_done == progress.bytes_total > 0
    assert events[-1].bytes_on_disk == result.bytes_on_disk
    assert sum(p.bytes_done for p in per_track.values()) <= result.bytes_on_disk
    assert (kind == "cenc") == any(isinstance(e, LicenseStored) for e in events)


def test_download_folder_layout_and_permissions(
    contents: dict[str, ContentInfo], ca: TestCA, tmp_path: Path
) -> None:
    with lab(contents, ca, tmp_path) as running:
        result, _ = download(
            config_for(running), running.url(contents["cenc"], "manifest.mpd"), tmp_path / "dl"
        )
    store = tmp_path / "dl" / ".streamsdk-offline"
    assert oct(store.stat().st_mode & 0o777) == "0o700"
    assert oct((store / "license.json").stat().st_mode & 0o777) == "0o600"
    stored = json.loads((store / "license.json").read_text())
    assert "keys" not in stored  # not a keys file: play --keys-file cannot skip the expiry
    assert stored["content_keys"] == [{"kid": KID, "key": KEY.hex()}]
    assert KEY.hex() not in repr(result) and KEY.hex() not in repr(result.license)
    state = json.loads((store / "download.json").read_text())
    assert state["status"] == "complete" and len(state["files"]) == result.files
    assert not (store / "journal.jsonl").exists()  # compacted into the state
    # the highest rendition by default, the default audio
    mpd = result.manifest_path.read_text()
    assert 'id="v2"' in mpd and 'id="v1"' not in mpd and 'cenc:default_KID="5ab2c8d4' in mpd


def test_served_download_never_serves_its_store(
    contents: dict[str, ContentInfo], ca: TestCA, tmp_path: Path
) -> None:
    import ssl

    import httpx

    with lab(contents, ca, tmp_path) as running:
        download(config_for(running), running.url(contents["cenc"], "manifest.mpd"), tmp_path)
    with OfflineDownload.open(tmp_path).serve() as served:
        base = served.url.rsplit("/", 1)[0]
        with httpx.Client(verify=ssl.create_default_context(cafile=served.ca_file)) as client:
            assert client.get(served.url).status_code == 200
            for name in ("license.json", "download.json"):
                assert client.get(f"{base}/.streamsdk-offline/{name}").status_code == 404


def test_all_renditions_and_languages(
    contents: dict[str, ContentInfo], ca: TestCA, tmp_path: Path
) -> None:
    with lab(contents, ca, tmp_path) as running:
        config = config_for(running, audio_language="fr")
        result, events = download(
            config,
            running.url(contents["clear"], "master.m3u8"),
            tmp_path,
            all_video_renditions=True,
        )
    assert sorted(tracks_of(events)) == ["audio:audio-fr", "video:180p", "video:90p"]
    playlist = result.manifest_path.read_text()
    assert playlist.count("#EXT-X-STREAM-INF") == 2 and 'LANGUAGE="fr"' in playlist
    offline = play_offline(tmp_path)
    assert offline.state is PlaybackState.ENDED, offline.error
    assert len(offline.frames) == DURATION_S * FPS


def test_multi_period_download_plays_across_the_boundary(
    contents: dict[str, ContentInfo], ca: TestCA, tmp_path: Path
) -> None:
    content = contents["clear"]
    (content.root / "two-periods.mpd").write_text(two_period_mpd(content, 2))
    with lab(contents, ca, tmp_path) as running:
        config = config_for(running, hash_frames=True, max_video_height=90)  # one rendition
        online = asyncio.run(_play(running.url(content, "two-periods.mpd"), config))
        result, events = download(config, running.url(content, "two-periods.mpd"), tmp_path / "dl")
    assert online.state is PlaybackState.ENDED, online.error
    assert sorted(tracks_of(events)) == ["audio:a-en", "video:v1"]
    mpd = result.manifest_path.read_text()
    assert mpd.count("<Period ") == 2 and 'start="PT4S"' in mpd
    offline = play_offline(tmp_path / "dl")
    assert offline.state is PlaybackState.ENDED, offline.error
    assert offline.frames == online.frames and len(offline.frames) == DURATION_S * FPS


# -- resuming -----------------------------------------------------------------------------------


def test_interrupted_download_resumes_without_fetching_a_complete_file_again(
    contents: dict[str, ContentInfo], ca: TestCA, tmp_path: Path
) -> None:
    folder = tmp_path / "dl"
    with lab(contents, ca, tmp_path) as running:
        config = dataclasses.replace(
            config_for(running), offline=OfflineConfig(concurrent_requests=1)
        )
        url = running.url(contents["clear"], "manifest.mpd")

        async def interrupted() -> int:
            enough = asyncio.Event()
            seen: list[DownloadProgressed] = []

            def on_event(event: Event) -> None:
                if isinstance(event, DownloadProgressed):
                    seen.append(event)
                    if event.files_done == 5:
                        enough.set()

            async with Downloader(config) as downloader:
                downloader.add_listener(on_event)
                task = asyncio.create_task(downloader.download(url, folder))
                await enough.wait()
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            return len(seen)

        assert asyncio.run(interrupted()) == 5
        first_run = running.settled_requests()
        journal = [
            json.loads(line)
            for line in (folder / ".streamsdk-offline/journal.jsonl").read_text().splitlines()
        ]
        done = {entry["path"] for entry in journal}
        assert len(done) == 5 and not (folder / "manifest.mpd").exists()
        with pytest.raises(DownloadStateError, match="not complete"):
            OfflineDownload.open(folder)
        # a file left corrupt (a crash, a bad disk) is found and fetched again
        corrupt = sorted(p for p in done if "seg-" in p)[0]
        data = bytearray((folder / corrupt).read_bytes())
        data[100] ^= 0xFF
        (folder / corrupt).write_bytes(bytes(data))
        result, events = download(config, url, folder)
        second_run = running.requested()[len(first_run) :]
    started = events[0]
    assert isinstance(started, DownloadStarted)
    assert (started.files_present, result.files_kept) == (4, 4)
    kept_sources = {urlsplit(e["source"]).path for e in journal if e["path"] != corrupt}
    assert len(kept_sources) == 4 and not kept_sources & set(second_run)  # never again
    media_requests = [p for p in second_run if not p.endswith("manifest.mpd")]
    assert len(media_requests) == len(set(media_requests)) == result.files - 4
    assert urlsplit(next(e["source"] for e in journal if e["path"] == corrupt)).path in second_run
    offline = play_offline(folder)
    assert offline.state is PlaybackState.ENDED and len(offline.frames) == DURATION_S * FPS


def test_rerun_of_a_complete_download_fetches_no_media(
    contents: dict[str, ContentInfo], ca: TestCA, tmp_path: Path
) -> None:
    with lab(contents, ca, tmp_path) as running:
        config = config_for(running)
        url = running.url(contents["cenc"], "master.m3u8")
        first, _ = download(config, url, tmp_path, wall=T0)
        before = len(running.requested())
        licenses_before = running.app.requests_served
        again, events = download(config, url, tmp_path, wall=T0 + 100)
        requested = running.requested()[before:]
        licenses_after = running.app.requests_served
    assert again.files_kept == again.files == first.files
    assert all(p.endswith(".m3u8") for p in requested), requested  # playlists only
    assert licenses_after == licenses_before  # the stored license still covers it
    (stored,) = [e for e in events if isinstance(e, LicenseStored)]
    assert stored.is_reused and stored.expires_at_s == T0 + 3600


def test_rerun_with_other_renditions_keeps_what_is_shared_and_clears_the_rest(
    contents: dict[str, ContentInfo], ca: TestCA, tmp_path: Path
) -> None:
    with lab(contents, ca, tmp_path) as running:
        url = running.url(contents["clear"], "manifest.mpd")
        download(config_for(running, max_video_height=90), url, tmp_path)
        assert (tmp_path / "media/p0/video/v1/seg-00001.m4s").exists()
        (tmp_path / "media/p0/video/v1/seg-00002.m4s.part").write_bytes(b"left by a crash")
        result, _ = download(config_for(running), url, tmp_path)  # now the highest: v2
    audio = len(list((tmp_path / "media/p0/audio/a-en").iterdir()))
    assert result.files_kept == audio  # the audio was kept, the video is another rendition
    assert not (tmp_path / "media/p0/video/v1").exists()  # the old rendition is gone
    on_disk = [p for p in (tmp_path / "media").rglob("*") if p.is_file()]
    assert len(on_disk) == result.files and not any(p.suffix == ".part" for p in on_disk)


def test_other_source_in_the_same_folder_is_refused(
    contents: dict[str, ContentInfo], ca: TestCA, tmp_path: Path
) -> None:
    with lab(contents, ca, tmp_path) as running:
        download(config_for(running), running.url(contents["clear"], "manifest.mpd"), tmp_path)
        with pytest.raises(DownloadStateError, match="holds the download of"):
            download(config_for(running), running.url(contents["cenc"], "manifest.mpd"), tmp_path)


def test_two_downloads_into_one_folder_at_once_one_is_refused(
    contents: dict[str, ContentInfo], ca: TestCA, tmp_path: Path
) -> None:
    """Two runs (here two ``Downloader``s in one loop) on the same folder: the second finds
    the folder locked and fails before fetching anything; the first completes untouched."""
    with lab(contents, ca, tmp_path) as running:
        config = config_for(running)
        url = running.url(contents["clear"], "manifest.mpd")

        async def both() -> list[DownloadResult | BaseException]:
            async with Downloader(config) as first, Downloader(config) as second:
                one = asyncio.create_task(first.download(url, tmp_path))
                await asyncio.sleep(0)  # the first run has locked the folder
                two = asyncio.create_task(second.download(url, tmp_path))
                return await asyncio.gather(one, two, return_exceptions=True)

        done, refused = asyncio.run(both())
        manifests = [p for p in running.requested() if p.endswith("manifest.mpd")]
        again, _ = download(config, url, tmp_path)  # the lock went with the first run
    assert isinstance(done, DownloadResult), done
    assert isinstance(refused, DownloadStateError), refused
    assert "another download is running" in str(refused) and refused.path == str(tmp_path)
    assert len(manifests) == 1  # the refused run asked nothing of the network
    assert again.files_kept == again.files == done.files
    offline = play_offline(tmp_path)
    assert offline.state is PlaybackState.ENDED and len(offline.frames) == DURATION_S * FPS


# -- disk space ---------------------------------------------------------------------------------


def test_download_over_its_budget_is_refused_before_any_media_request(
    contents: dict[str, ContentInfo], ca: TestCA, tmp_path: Path
) -> None:
    with lab(contents, ca, tmp_path) as running:
        config = dataclasses.replace(config_for(running), offline=OfflineConfig(max_bytes=50_000))
        with pytest.raises(DownloadTooLarge) as info:
            download(config, running.url(contents["clear"], "manifest.mpd"), tmp_path / "dl")
        requested = running.requested()
    assert info.value.code == "player.download_too_large"
    assert info.value.limit_bytes == 50_000 and info.value.needed_bytes > 50_000
    assert "over its budget of 0.1 MB" in str(info.value)
    assert [p.rsplit("/", 1)[-1] for p in requested] == ["manifest.mpd"]


def test_download_that_outgrows_its_budget_stops_and_keeps_what_is_complete(
    contents: dict[str, ContentInfo], ca: TestCA, tmp_path: Path
) -> None:
    """A playlist that under-declares its bitrates passes the estimate; the budget still holds
    on the files as they land."""
    content = contents["clear"]
    master = (content.root / "master.m3u8").read_text()
    (content.root / "under-declared.m3u8").write_text(
        re.sub(r"BANDWIDTH=\d+", "BANDWIDTH=1000", master)
    )
    folder = tmp_path / "dl"
    limits = OfflineConfig(
        max_bytes=60_000, unknown_bitrate_bps=1000, init_estimate_bytes=1, concurrent_requests=1
    )
    with lab(contents, ca, tmp_path) as running:
        url = running.url(content, "under-declared.m3u8")
        config = dataclasses.replace(config_for(running), offline=limits)
        with pytest.raises(DownloadTooLarge) as info:
            download(config, url, folder)
        entries = (folder / ".streamsdk-offline/journal.jsonl").read_text().splitlines()
        on_disk = sum(json.loads(line)["size"] for line in entries)
        assert info.value.needed_bytes == on_disk > 60_000
        assert on_disk - max(json.loads(line)["size"] for line in entries) <= 60_000
        assert not (folder / "manifest.m3u8").exists()
        result, _ = download(config_for(running), url, folder)  # no budget: it continues
    assert result.files_kept == len(entries) < result.files
    offline = play_offline(folder)
    assert offline.state is PlaybackState.ENDED and len(offline.frames) == DURATION_S * FPS


def test_too_little_free_space_is_refused_before_any_media_request(
    contents: dict[str, ContentInfo], ca: TestCA, tmp_path: Path
) -> None:
    free = shutil.disk_usage(tmp_path).free
    with lab(contents, ca, tmp_path) as running:
        config = dataclasses.replace(
            config_for(running), offline=OfflineConfig(min_free_bytes=free)
        )
        with pytest.raises(InsufficientSpace) as info:
            download(config, running.url(contents["clear"], "manifest.mpd"), tmp_path / "dl")
        requested = running.requested()
    assert info.value.code == "player.insufficient_space"
    assert info.value.needed_bytes > free >= info.value.free_bytes - 100_000_000
    assert "MB free" in str(info.value)
    assert [p.rsplit("/", 1)[-1] for p in requested] == ["manifest.mpd"]


def test_full_disk_mid_way_is_a_typed_error_and_keeps_what_is_complete(
    contents: dict[str, ContentInfo], ca: TestCA, tmp_path: Path
) -> None:
    """A real ``ENOSPC`` from the kernel: the third segment's partial file is ``/dev/full``."""
    folder = tmp_path / "dl"
    victim = folder / "media/p0/video/v2/seg-00003.m4s"
    victim.parent.mkdir(parents=True)
    os.symlink("/dev/full", victim.with_name(victim.name + ".part"))
    with lab(contents, ca, tmp_path) as running:
        config = dataclasses.replace(
            config_for(running), offline=OfflineConfig(concurrent_requests=1)
        )
        url = running.url(contents["clear"], "manifest.mpd")
        with pytest.raises(DiskFull) as info:
            download(config, url, folder)
        assert info.value.path == str(victim) and info.value.code == "player.disk_full"
        assert not victim.exists() and not victim.with_name(victim.name + ".part").exists()
        journal = (folder / ".streamsdk-offline/journal.jsonl").read_text().splitlines()
        entries = [json.loads(line) for line in journal]
        # in time order: the two inits, then video and audio up to the victim; each intact
        assert [e["path"].rsplit("/", 1)[-1] for e in entries[:2]] == ["init.mp4"] * 2
        assert len(entries) == 6
        for entry in entries:
            assert (folder / entry["path"]).stat().st_size == entry["size"]
        assert not (folder / "manifest.mpd").exists()
        result, _ = download(config, url, folder)  # space is back: the rest is fetched
    assert result.files_kept == 6
    offline = play_offline(folder)
    assert offline.state is PlaybackState.ENDED and len(offline.frames) == DURATION_S * FPS


# -- licenses -----------------------------------------------------------------------------------


def test_stored_license_expires_when_the_server_said(
    contents: dict[str, ContentInfo], ca: TestCA, tmp_path: Path
) -> None:
    with lab(contents, ca, tmp_path) as running:
        config = config_for(running)
        url = running.url(contents["cenc"], "manifest.mpd")
        first, _ = download(config, url, tmp_path, wall=T0)
        assert first.license is not None and first.license.expires_at_s == T0 + 3600
        # an expired license is renewed by running the download again online
        running.wall[0] = T0 + 7200
        renewed, events = download(config, url, tmp_path, wall=T0 + 7200)
    (stored,) = [e for e in events if isinstance(e, LicenseStored)]
    assert not stored.is_reused and renewed.license is not None
    assert renewed.license.expires_at_s == T0 + 7200 + 3600 and renewed.files_kept == renewed.files
    download_ = OfflineDownload.open(tmp_path)
    keys = download_.player_config(now=T0 + 7200 + 3599).drm.keys
    assert keys == {KID: KEY.hex()}
    with pytest.raises(LicenseExpired) as info:
        download_.player_config(now=T0 + 7200 + 3600)
    assert info.value.expired_at_s == T0 + 7200 + 3600 and info.value.code == "drm.license_expired"
    assert KEY.hex() not in str(info.value)


def test_entitlement_without_offline_rights_is_refused_before_media(
    contents: dict[str, ContentInfo], ca: TestCA, tmp_path: Path
) -> None:
    with lab(contents, ca, tmp_path) as running:
        config = config_for(running, token="online-only")
        with pytest.raises(LicenseError) as info:
            download(config, running.url(contents["cenc"], "manifest.mpd"), tmp_path)
        requested = [p.rsplit("/", 1)[-1] for p in running.requested()]
    assert info.value.status == 403
    assert not any(name.startswith("seg-") for name in requested), requested
    assert sorted(requested) == ["init.mp4", "init.mp4", "manifest.mpd"]


def test_live_presentation_is_not_downloadable(ca: TestCA, tmp_path: Path) -> None:
    mpd = (
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" '
        'availabilityStartTime="2024-01-01T00:00:00Z" minBufferTime="PT2S">'
        '<Period id="p" start="PT0S"><AdaptationSet contentType="video" mimeType="video/mp4">'
        '<Representation id="v" bandwidth="1000"><SegmentTemplate media="$Number$.m4s" '
        'duration="2" startNumber="1"/></Representation></AdaptationSet></Period></MPD>'
    )
    (tmp_path / "live.mpd").write_text(mpd)
    cdn = LabCdn(tmp_path, edges=0, ca=ca).start_in_thread()
    try:
        config = PlayerConfig(transport=TransportConfig(ca_file=cdn.ca_file))
        with pytest.raises(NotDownloadable, match="live"):
            download(config, f"{cdn.origin.base_url}/live.mpd", tmp_path / "dl")
    finally:
        cdn.stop()


# -- heartbeats of offline playback ----------------------------------------------------------------


def test_offline_heartbeats_wait_in_the_outbox_and_arrive_later_in_order_once(
    contents: dict[str, ContentInfo], ca: TestCA, tmp_path: Path
) -> None:
    with lab(contents, ca, tmp_path) as running:
        download(config_for(running), running.url(contents["clear"], "manifest.mpd"), tmp_path)
    clock = ManualClock(now=time.time())
    (tmp_path / "svc").mkdir()
    with running_service(tmp_path / "svc", port=free_port(), start=False, clock=clock) as svc:
        heartbeat = HeartbeatConfig(
            service_url=svc.base_url,
            headers={"Authorization": f"Bearer {TOKENS['alice']}"},
            outbox_path=str(tmp_path / "outbox.db"),
            interval_s=1.0,
        )
        # the session service is down while the download plays
        offline = play_offline(
            tmp_path,
            PlayerConfig(heartbeat=heartbeat),
            title_id="title-offline",
            player={"viewer_id": "alice", "device_id": "plane"},
        )
        assert offline.state is PlaybackState.ENDED, offline.error
        assert svc.wire.heartbeat_counts() == {}

        async def back_online() -> Any:
            await asyncio.to_thread(svc.server.start)
            async with service_call(svc.ca_file) as call:
                delivery_config = dataclasses.replace(heartbeat, service_url=svc.base_url)
                async with HeartbeatDelivery(delivery_config, call=call) as out:
                    await asyncio.wait_for(out.flush(), 20)
                    return await out.stats()

        stats = asyncio.run(back_online())
        received = svc.app.store.received("alice")
        wire = svc.wire.heartbeat_counts()
        position = svc.app.store.position("alice", "title-offline")
    assert stats.outbox.pending == 0 and stats.outbox.delivered == len(received) >= 3
    seqs = [seq for _, seq in received]
    assert seqs == sorted(seqs) and len({s for s, _ in received}) == 1  # one session, in order
    assert all(count == 1 for count in wire.values())  # each heartbeat reached the service once
    assert position is not None and position.position_s == pytest.approx(DURATION_S, abs=0.5)
