"""End-to-end playback on the lab: generated content, real servers, real sockets, PyAV.

Every test plays through ``Player`` against ``transport.lab`` servers on loopback, with
the virtual clock so whole presentations play in about a second.
"""

from __future__ import annotations

import asyncio
import io
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drm import DrmConfig, LicenseError, LicenseServerApp, package_mp4
from player import PlaybackState, RealClock, VirtualClock
from player._player import Player
from player.config import PlaybackConfig, PlayerConfig
from player.events import (
    BufferingStarted,
    EdgeFailedOver,
    ErrorOccurred,
    Event,
    LicenseAcquired,
    SwitchReason,
    VariantSwitched,
)
from player.lab import ContentInfo, ContentSpec, RenditionSpec, generate_content
from transport import TransportConfig
from transport.lab import LabCdn, LabServer, NetworkEmulator, TestCA

LADDER = (
    RenditionSpec(id="v1", width=160, height=90, bitrate_bps=150_000),
    RenditionSpec(id="v2", width=320, height=180, bitrate_bps=400_000),
    RenditionSpec(id="v3", width=480, height=270, bitrate_bps=900_000),
)
DURATION_S = 12
FPS = 25


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def clear_content(tmp_path_factory: pytest.TempPathFactory) -> ContentInfo:
    spec = ContentSpec(duration_s=DURATION_S, ladder=LADDER, audio_languages=("en", "fr"))
    return generate_content(tmp_path_factory.mktemp("clear"), spec)


@pytest.fixture(scope="module")
def cdn(clear_content: ContentInfo, ca: TestCA) -> Iterator[Any]:
    handle = LabCdn(clear_content.root, edges=2, ca=ca).start_in_thread()
    yield handle
    handle.stop()


def config_for(cdn: Any, **playback: Any) -> PlayerConfig:
    return PlayerConfig(
        transport=TransportConfig(ca_file=cdn.ca_file),
        playback=PlaybackConfig(
            alternate_origins=(cdn.edges[1].base_url, cdn.origin.base_url), **playback
        ),
    )


async def play(url: str, config: PlayerConfig, **load: Any) -> tuple[Player, list[Event]]:
    events: list[Event] = []
    player = Player(config, clock=VirtualClock())
    player.add_listener(events.append)
    await player.load(url, **load)
    await player.wait(timeout_s=60)
    await player.aclose()
    return player, events


@pytest.mark.parametrize("path", ["manifest.mpd", "master.m3u8"])
def test_every_frame_decoded_once_in_order(cdn: Any, path: str) -> None:
    player, events = asyncio.run(play(f"{cdn.edges[0].base_url}/{path}", config_for(cdn)))
    assert player.state is PlaybackState.ENDED, player.error
    stats = player.stats()
    frames = player.frame_times("video")
    assert len(frames) == DURATION_S * FPS
    assert frames == sorted(frames)
    assert len(set(frames)) == len(frames)
    assert stats.frames_decoded == DURATION_S * FPS
    assert stats.decode_errors == 0
    assert stats.dropped_frames == 0
    assert stats.stall_count == 0
    assert stats.time_played_s == pytest.approx(DURATION_S, abs=0.05)
    assert stats.startup_s is not None and 0 < stats.startup_s < 5
    assert any(isinstance(e, VariantSwitched) and e.reason is SwitchReason.INITIAL for e in events)
    assert set(stats.bytes_by_protocol) <= {"h3", "h2", "h1"}
    assert sum(stats.bytes_by_edge.values()) == stats.bytes_downloaded > 0


def test_seek_pause_and_resume(cdn: Any) -> None:
    async def run() -> tuple[Player, list[Event]]:
        events: list[Event] = []
        config = config_for(cdn, buffering_goal_s=4.0)
        player = Player(config, clock=VirtualClock())
        player.add_listener(events.append)
        await player.load(f"{cdn.edges[0].base_url}/manifest.mpd", start_at_s=4.0)
        while player.state is not PlaybackState.PLAYING:
            await asyncio.sleep(0.01)
        player.pause()
        assert player.state is PlaybackState.PAUSED
        paused_at = player.position_s
        await asyncio.sleep(0.2)
        assert player.position_s == paused_at
        player.play()
        player.seek(8.0)
        await player.wait(timeout_s=60)
        await player.aclose()
        return player, events

    player, events = asyncio.run(run())
    assert player.state is PlaybackState.ENDED
    seeks = [e for e in events if type(e).__name__ == "Seeked"]
    assert [round(e.to_s) for e in seeks] == [8]  # type: ignore[attr-defined]
    frames = player.frame_times("video")
    assert min(frames) >= 4.0 - 1e-6
    assert player.stats().decode_errors == 0


def test_time_played_counts_up_to_a_pause_and_a_stop_on_the_real_clock(cdn: Any) -> None:
    """The loop sleeps on a full buffer; a pause or stop must still count what was played."""

    async def run() -> tuple[float, float, float, float]:
        player = Player(config_for(cdn, buffering_goal_s=8.0), clock=RealClock())
        await player.load(f"{cdn.edges[0].base_url}/manifest.mpd")
        while player.state is not PlaybackState.PLAYING:
            await asyncio.sleep(0.01)
        await asyncio.sleep(1.5)
        player.pause()
        paused = (player.stats().time_played_s, player.position_s)
        player.play()
        await asyncio.sleep(1.0)
        await player.stop()
        stopped = (player.stats().time_played_s, player.position_s)
        await player.aclose()
        return (*paused, *stopped)

    played, position, played_at_stop, position_at_stop = asyncio.run(run())
    assert played > 1.3 and played == pytest.approx(position, abs=0.05)
    assert played_at_stop > 2.2 and played_at_stop == pytest.approx(position_at_stop, abs=0.05)


def test_audio_language_switch(cdn: Any) -> None:
    async def run() -> Player:
        player = Player(config_for(cdn, audio_language="en"), clock=VirtualClock())
        await player.load(f"{cdn.edges[0].base_url}/master.m3u8")
        assert player.audio_languages() == ["en", "fr"]
        await player.select_audio_language("fr")
        await player.wait(timeout_s=60)
        await player.aclose()
        return player

    player = asyncio.run(run())
    assert player.state is PlaybackState.ENDED
    session = player._session
    assert session is not None
    audio = next(t for t in session.tracks if t.kind == "audio")
    assert audio.track.language == "fr"
    assert {s.representation_id for s in audio.buffer.segments} <= {audio.ladder[0].id}
    assert player.stats().decode_errors == 0


def test_edge_killed_mid_stream_with_full_buffer_does_not_stall(
    clear_content: ContentInfo, ca: TestCA
) -> None:
    handle = LabCdn(clear_content.root, edges=2, ca=ca).start_in_thread()
    killed: list[float] = []

    def kill_when_buffered(player: Player, event: Event) -> None:
        if not killed and player.position_s + player.buffer_s >= 6.0:
            killed.append(player.position_s)
            handle.edges[0].server.kill()

    async def run() -> tuple[Player, list[Event]]:
        events: list[Event] = []
        config = config_for(handle, buffering_goal_s=6.0)
        player = Player(config, clock=VirtualClock())
        player.add_listener(events.append)
        player.add_listener(lambda e: kill_when_buffered(player, e))
        await player.load(f"{handle.edges[0].base_url}/manifest.mpd")
        await player.wait(timeout_s=60)
        await player.aclose()
        return player, events

    try:
        player, events = asyncio.run(run())
    finally:
        handle.stop()
    assert killed, "the edge was never killed"
    assert player.state is PlaybackState.ENDED
    failovers = [e for e in events if isinstance(e, EdgeFailedOver)]
    assert failovers and failovers[0].from_edge == handle.edges[0].base_url
    assert failovers[0].to_edge == handle.edges[1].base_url
    assert failovers[0].error_code.startswith("transport.")
    assert failovers[0].error_code != "transport.error"  # the actual failure is named
    assert not [e for e in events if isinstance(e, BufferingStarted)]
    stats = player.stats()
    assert stats.bytes_by_edge[handle.edges[1].base_url] > 0
    assert stats.frames_decoded == DURATION_S * FPS


def test_bandwidth_drop_switches_down_before_the_buffer_runs_dry(
    tmp_path_factory: pytest.TempPathFactory, ca: TestCA
) -> None:
    spec = ContentSpec(duration_s=30, ladder=LADDER, audio_languages=("en",))
    content = generate_content(tmp_path_factory.mktemp("long"), spec)
    handle = LabCdn(content.root, edges=1, ca=ca).start_in_thread()
    relay = NetworkEmulator(handle.edges[0].base_url, duration_s=120.0).start_in_thread()
    dropped: list[tuple[float, str]] = []

    def drop(player: Player, event: Event) -> None:
        session = player._session
        video = session.video() if session else None
        if dropped or video is None or not video.current or player.buffer_s < 8.0:
            return
        dropped.append((event.at_s, video.representation().id))
        relay.emulator.set_rate(300_000.0)

    async def run() -> tuple[Player, list[Event]]:
        events: list[Event] = []
        config = PlayerConfig(
            transport=TransportConfig(ca_file=handle.ca_file),
            playback=PlaybackConfig(buffering_goal_s=12.0, decode=False),
        )
        player = Player(config, clock=VirtualClock())
        player.add_listener(events.append)
        player.add_listener(lambda e: drop(player, e))
        await player.load(f"{relay.base_url}/manifest.mpd")
        for _ in range(1200):  # bounded: at most 60 s; stop once the down-switch happened
            if player.state.value in ("ended", "error"):
                break
            if dropped and any(
                isinstance(e, VariantSwitched) and e.to_id == "v1" and e.at_s > dropped[0][0]
                for e in events
            ):
                break
            await asyncio.sleep(0.05)
        await player.aclose()
        return player, events

    try:
        player, events = asyncio.run(run())
    finally:
        relay.stop()
        handle.stop()
    switches = [e for e in events if isinstance(e, VariantSwitched)]
    assert dropped, f"never left the lowest rung: {[s.to_id for s in switches]}"
    downs = [s for s in switches if s.at_s > dropped[0][0] and s.to_id == "v1"]
    assert downs, f"no down-switch after the drop: {[(s.at_s, s.to_id) for s in switches]}"
    assert downs[0].reason is SwitchReason.ADAPTIVE
    stalls = [e for e in events if isinstance(e, BufferingStarted)]
    assert not stalls or stalls[0].at_s > downs[0].at_s


@pytest.fixture(scope="module")
def encrypted(tmp_path_factory: pytest.TempPathFactory, ca: TestCA) -> Iterator[dict[str, Any]]:
    kid, key = secrets.token_hex(16), secrets.token_bytes(16)
    license_server = LabServer(
        LicenseServerApp({kid: key.hex()}, {"good-token": [kid]}),
        ca=ca,  # type: ignore[arg-type]
    ).start_in_thread()
    sets: dict[str, ContentInfo] = {}
    for scheme in ("cenc", "cbcs"):
        spec = ContentSpec(
            duration_s=6,
            ladder=LADDER[:2],
            scheme=scheme,
            kid_hex=kid,
            license_url=license_server.base_url + "/license",
        )
        sets[scheme] = generate_content(
            tmp_path_factory.mktemp(scheme),
            spec,
            encrypt=lambda d, s=scheme: package_mp4(d, key_id=kid, key=key, scheme=s),
        )
    root = sets["cenc"].root.parent
    handle = LabCdn(root, edges=1, ca=ca).start_in_thread()
    yield {"cdn": handle, "sets": sets, "kid": kid, "license": license_server}
    handle.stop()
    license_server.stop()


@pytest.mark.parametrize(("scheme", "path"), [("cenc", "manifest.mpd"), ("cbcs", "master.m3u8")])
def test_clearkey_playback(encrypted: dict[str, Any], scheme: str, path: str) -> None:
    cdn = encrypted["cdn"]
    folder = encrypted["sets"][scheme].root.name
    # DASH carries the license URL (dashif:Laurl); HLS ClearKey takes it from config.
    license_url = None if path.endswith(".mpd") else encrypted["license"].base_url + "/license"
    config = PlayerConfig(
        transport=TransportConfig(ca_file=cdn.ca_file),
        drm=DrmConfig(
            license_url=license_url, license_headers={"Authorization": "Bearer good-token"}
        ),
    )
    player, events = asyncio.run(play(f"{cdn.edges[0].base_url}/{folder}/{path}", config))
    assert player.state is PlaybackState.ENDED, player.error
    licenses = [e for e in events if isinstance(e, LicenseAcquired)]
    assert [lic.kids for lic in licenses] == [(encrypted["kid"],)]
    assert licenses[0].source == "license-server"
    stats = player.stats()
    assert stats.license_requests == 1
    assert stats.frames_decoded == 6 * FPS
    assert stats.decode_errors == 0


def test_refused_license_is_a_clear_terminal_error(encrypted: dict[str, Any]) -> None:
    cdn = encrypted["cdn"]
    folder = encrypted["sets"]["cenc"].root.name
    config = PlayerConfig(
        transport=TransportConfig(ca_file=cdn.ca_file),
        drm=DrmConfig(license_headers={"Authorization": "Bearer wrong-token"}),
    )
    player, events = asyncio.run(play(f"{cdn.edges[0].base_url}/{folder}/manifest.mpd", config))
    assert player.state is PlaybackState.ERROR
    errors = [e for e in events if isinstance(e, ErrorOccurred)]
    assert errors and errors[-1].fatal
    assert errors[-1].code == "drm.license"
    assert isinstance(errors[-1].error, LicenseError) and errors[-1].error.status == 401
    assert "answered HTTP 401" in errors[-1].message
    assert player.stats().frames_decoded == 0


def test_wrong_configured_key_is_reported_not_hung(encrypted: dict[str, Any]) -> None:
    cdn = encrypted["cdn"]
    folder = encrypted["sets"]["cenc"].root.name
    config = PlayerConfig(
        transport=TransportConfig(ca_file=cdn.ca_file),
        drm=DrmConfig(keys={"0" * 32: "1" * 32}),
    )
    player, events = asyncio.run(play(f"{cdn.edges[0].base_url}/{folder}/manifest.mpd", config))
    assert player.state is PlaybackState.ERROR
    # The configured key is for another KID, so the player asks the manifest's license
    # server, which refuses a request without a token.
    errors = [e for e in events if isinstance(e, ErrorOccurred)]
    assert [(e.code, e.fatal) for e in errors] == [("drm.license", True)]
    assert isinstance(errors[0].error, LicenseError) and errors[0].error.status == 401


def two_period_mpd(content: ContentInfo, split_segment: int) -> str:
    """The clear content as two periods cut after ``split_segment`` segments."""
    periods = []
    for index, (first, last) in enumerate(((1, split_segment), (split_segment + 1, None))):
        sets = []
        for kind in ("video", "audio"):
            reps = []
            for track in [t for t in content.tracks if t.kind == kind][
                : 3 if kind == "video" else 1
            ]:
                segs = track.segments[first - 1 : last]
                offset = track.segments[first - 1][0]
                timeline = "".join(f'<S t="{t}" d="{d}"/>' for t, d, _ in segs)
                size = (
                    f'width="{track.spec.width}" height="{track.spec.height}"'
                    if track.spec
                    else 'audioSamplingRate="48000"'
                )
                reps.append(
                    f'<Representation id="{track.id}" bandwidth="{track.bandwidth_bps}" '
                    f'codecs="{track.codecs}" {size}>'
                    f'<SegmentTemplate timescale="{track.timescale}" '
                    f'presentationTimeOffset="{offset}" startNumber="{first}" '
                    f'initialization="{track.folder}/init.mp4" '
                    f'media="{track.folder}/seg-$Number$.m4s">'
                    f"<SegmentTimeline>{timeline}</SegmentTimeline></SegmentTemplate></Representation>"
                )
            lang = ' lang="en"' if kind == "audio" else ""
            sets.append(
                f'<AdaptationSet contentType="{kind}" mimeType="{kind}/mp4"{lang}>'
                f"{''.join(reps)}</AdaptationSet>"
            )
        start = (first - 1) * content.spec.segment_s
        periods.append(f'<Period id="p{index}" start="PT{start}S">{"".join(sets)}</Period>')
    return (
        '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        f'mediaPresentationDuration="PT{content.spec.duration_s}S" minBufferTime="PT2S">'
        + "".join(periods)
        + "</MPD>"
    )


def test_multi_period_plays_across_the_boundary(cdn: Any, clear_content: ContentInfo) -> None:
    (clear_content.root / "two-periods.mpd").write_text(two_period_mpd(clear_content, 3))
    player, events = asyncio.run(play(f"{cdn.edges[0].base_url}/two-periods.mpd", config_for(cdn)))
    assert player.state is PlaybackState.ENDED, player.error
    presentation = player.presentation
    assert presentation is not None and len(presentation.periods) == 2
    frames = player.frame_times("video")
    assert len(frames) == DURATION_S * FPS
    assert len(set(frames)) == len(frames)
    stats = player.stats()
    assert stats.decode_errors == 0
    assert stats.time_played_s == pytest.approx(DURATION_S, abs=0.1)
    assert stats.stall_count == 0


def test_thumbnails_frame_hashes_and_no_av_drift(
    cdn: Any, clear_content: ContentInfo, tmp_path: Path
) -> None:
    config = config_for(
        cdn, hash_frames=True, thumbnails_at_s=(1.0, 5.0), thumbnail_dir=str(tmp_path)
    )
    player, _ = asyncio.run(play(f"{cdn.edges[0].base_url}/manifest.mpd", config))
    assert player.state is PlaybackState.ENDED
    thumbs = sorted(p.name for p in tmp_path.glob("thumb-*.png"))
    assert thumbs == ["thumb-00001.000s.png", "thumb-00005.000s.png"]
    assert (tmp_path / thumbs[0]).read_bytes()[:4] == b"\x89PNG"
    stats = player.stats()
    assert stats.av_drift_s < 0.05
    assert stats.frames_decoded == DURATION_S * FPS
    # Every picture the player showed is a picture of the source, at its time, in one of
    # the renditions (ABR may switch): digests computed here from the files on disk.
    reference = _source_digests(clear_content)
    shown = list(zip(player.frame_times("video"), player.frame_hashes("video"), strict=True))
    assert len(shown) == DURATION_S * FPS
    assert all(digest in reference.get(round(t, 3), set()) for t, digest in shown)


def _source_digests(content: ContentInfo) -> dict[float, set[str]]:
    import av

    from player._decode import frame_digest

    found: dict[float, set[str]] = {}
    for track in content.tracks:
        if track.kind != "video":
            continue
        folder = content.root / track.folder
        names = sorted(
            (p for p in folder.glob("seg-*.m4s")), key=lambda p: int(p.stem.split("-")[1])
        )
        blob = (folder / "init.mp4").read_bytes() + b"".join(p.read_bytes() for p in names)
        with av.open(io.BytesIO(blob)) as container:
            for frame in container.decode(video=0):
                assert frame.pts is not None and frame.time_base is not None
                found.setdefault(round(float(frame.pts * frame.time_base), 3), set()).add(
                    frame_digest(frame)
                )
    return found


def test_cap_video_limits_the_ladder_at_run_time(cdn: Any) -> None:
    async def run() -> tuple[Player, list[Event]]:
        events: list[Event] = []
        player = Player(config_for(cdn, buffering_goal_s=4.0), clock=VirtualClock())
        player.add_listener(events.append)
        await player.load(f"{cdn.edges[0].base_url}/manifest.mpd")
        player.cap_video(max_height=90)
        assert [r["id"] for r in player.video_renditions()] == ["v1"]
        await player.wait(timeout_s=60)
        await player.aclose()
        return player, events

    player, events = asyncio.run(run())
    assert player.state is PlaybackState.ENDED
    session = player._session
    assert session is not None
    video = session.video()
    assert video is not None
    late = [s for s in video.buffer.segments if s.start_s >= 6.0]
    assert late and {s.representation_id for s in late} == {"v1"}
