"""CMCD sent by the player, as the lab's edges received it, against the player's real state.

Each run plays generated content from a lab edge with CMCD on, over HTTP/1.1 or HTTP/3, in
query or header mode, v2 or v1. ``cmcd_support.check_requests`` then checks every key of
every request the edge answered: the rendition's bitrate, the track's buffer at request
time, ``su`` only before the buffer reached its goal, ``bs`` after a stall, ``nor`` naming
the request that followed, one ``sid``. The tallies make sure each case really occurred.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from cmcd_support import Expectations, RecordingClient, check_requests
from test_player_steering import steered_mpd

from drm import DrmConfig, LicenseServerApp, package_mp4
from player import PlaybackState, VirtualClock
from player._player import Player
from player.cmcd import strip_cmcd_query
from player.config import CmcdConfig, PlaybackConfig, PlayerConfig
from player.events import Event, LicenseAcquired
from player.lab import ContentInfo, ContentSpec, RenditionSpec, generate_content
from transport import TransportConfig
from transport.lab import (
    LabCdn,
    LabCdnThread,
    LabServer,
    StallFault,
    SteeringApp,
    TestCA,
    received_cmcd,
)

LADDER = (
    RenditionSpec(id="v1", width=160, height=90, bitrate_bps=150_000),
    RenditionSpec(id="v2", width=320, height=180, bitrate_bps=400_000),
)
CONTENT_ID = "lab-movie-1"
PROTOCOLS = {
    "h1": TransportConfig(protocol="h1", is_http2_enabled=False),
    "h3": TransportConfig(protocol="h3"),
}
EXPECTED_VERSION = {"h1": "1.1", "h3": "3"}


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> ContentInfo:
    spec = ContentSpec(duration_s=8, segment_s=1, ladder=LADDER)
    return generate_content(tmp_path_factory.mktemp("cmcd-content"), spec)


@pytest.fixture(scope="module")
def cdn(content: ContentInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCdnThread]:
    ca = TestCA(tmp_path_factory.mktemp("cmcd-ca"))
    handle = LabCdn(content.root, edges=1, ca=ca).start_in_thread()
    try:
        yield handle
    finally:
        handle.stop()


def config_for(
    cdn: LabCdnThread,
    protocol: str,
    mode: str,
    *,
    version: int = 2,
    rtp_factor: float | None = None,
    **playback: Any,
) -> PlayerConfig:
    transport = PROTOCOLS[protocol]
    return PlayerConfig(
        transport=TransportConfig(
            protocol=transport.protocol,
            is_http2_enabled=transport.is_http2_enabled,
            ca_file=cdn.ca_file,
        ),
        playback=PlaybackConfig(
            decode=False, startup_buffer_s=2.0, buffering_goal_s=3.0, **playback
        ),
        cmcd=CmcdConfig(
            mode=mode,  # type: ignore[arg-type]
            version=version,
            content_id=CONTENT_ID,
            requested_throughput_factor=rtp_factor,
        ),
    )


async def play(
    cdn: LabCdnThread, path: str, config: PlayerConfig, *, clock: Any, autoplay: bool = True
) -> tuple[Player, RecordingClient, list[Event]]:
    return await play_url(f"{cdn.edges[0].base_url}/{path}", config, clock=clock, autoplay=autoplay)


async def play_url(
    url: str, config: PlayerConfig, *, clock: Any, autoplay: bool = True
) -> tuple[Player, RecordingClient, list[Event]]:
    http = RecordingClient(config.transport)
    player = Player(config, clock=clock, http=http)
    http.player = player
    events: list[Event] = []
    http.events = events
    player.add_listener(events.append)
    try:
        await player.load(url, autoplay=autoplay)
        if not autoplay:  # fill the buffer while paused, then play
            for _ in range(200):
                if player.state is PlaybackState.PAUSED and player.buffer_s >= 2.5:
                    break
                await asyncio.sleep(0.05)
            player.play()
        await player.wait(timeout_s=60)
    finally:
        await player.aclose()
        await http.aclose()
    return player, http, events


def run_and_check(
    cdn: LabCdnThread,
    path: str,
    config: PlayerConfig,
    *,
    clock: Any = None,
    autoplay: bool = True,
) -> dict[str, int]:
    before = len(cdn.edges[0].requests)
    clock = clock if clock is not None else VirtualClock()
    player, http, events = asyncio.run(play(cdn, path, config, clock=clock, autoplay=autoplay))
    assert player.state is PlaybackState.ENDED, player.error
    records = cdn.edges[0].requests[before:]
    assert records and all(r.status in (200, 206) for r in records)
    presentation = player.presentation
    assert presentation is not None
    expect = Expectations(
        version=config.cmcd.version,
        mode=config.cmcd.mode or "",
        content_id=CONTENT_ID,
        fmt="h" if path.endswith(".m3u8") else "d",
        default_bps=config.abr.default_bandwidth_bps,
        manifest_paths={r.path for r in records if r.path.endswith((".m3u8", ".mpd"))},
        rtp_factor=config.cmcd.requested_throughput_factor,
    )
    tally = check_requests(records, http.calls, presentation, events, expect)
    sid = records[0].cmcd.value("sid") if records[0].cmcd else None
    assert isinstance(sid, str) and uuid.UUID(sid).version == 4
    assert {r.http_version for r in records} == {EXPECTED_VERSION[config.transport.protocol]}
    return tally.counts


@pytest.mark.parametrize("protocol", ["h1", "h3"])
@pytest.mark.parametrize("mode", ["query", "header"])
def test_every_key_matches_the_player_state_dash(
    cdn: LabCdnThread, protocol: str, mode: str
) -> None:
    counts = run_and_check(cdn, "manifest.mpd", config_for(cdn, protocol, mode))
    # each behaviour occurred: startup and steady requests, a real buffer, a deadline,
    # a measured throughput, nor naming the next request, and a last segment without nor
    for case in ("su", "no-su", "bl>0:True", "dl", "mtp", "br", "nor=next request"):
        assert counts.get(case, 0) > 0, (case, counts)
    assert counts["no nor: last segment"] == 2  # video and audio


@pytest.mark.parametrize(("protocol", "mode"), [("h3", "query"), ("h1", "header")])
def test_every_key_matches_the_player_state_hls(
    cdn: LabCdnThread, protocol: str, mode: str
) -> None:
    config = config_for(cdn, protocol, mode, rtp_factor=4.0)
    counts = run_and_check(cdn, "master.m3u8", config)
    for case in ("su", "no-su", "bl>0:True", "dl", "nor=next request", "rtp"):
        assert counts.get(case, 0) > 0, (case, counts)


@pytest.mark.parametrize(("protocol", "mode"), [("h1", "query"), ("h3", "header")])
def test_version_1_syntax(cdn: LabCdnThread, protocol: str, mode: str) -> None:
    counts = run_and_check(cdn, "manifest.mpd", config_for(cdn, protocol, mode, version=1))
    assert counts.get("nor=next request", 0) > 0 and counts.get("su", 0) > 0


@pytest.mark.parametrize(("protocol", "mode"), [("h3", "header"), ("h1", "query")])
def test_a_stall_is_reported_with_bs_and_su(cdn: LabCdnThread, protocol: str, mode: str) -> None:
    """A segment held back by the edge drains the buffer: the next requests say so."""
    cdn.edges[0].faults.set(
        StallFault(after_bytes=100, stall_s=4.0), count=1, path_glob="/video/*/seg-5.m4s"
    )
    try:
        counts = run_and_check(cdn, "manifest.mpd", config_for(cdn, protocol, mode))
    finally:
        cdn.cdn.clear_faults()
    assert counts.get("bs", 0) >= 2, counts  # the next video and audio requests at least


def test_requests_while_paused_are_not_urgent(cdn: LabCdnThread) -> None:
    """Paused with the startup buffer full: no ``su``, ``pr=0``, no deadline."""
    counts = run_and_check(cdn, "manifest.mpd", config_for(cdn, "h3", "header"), autoplay=False)
    assert counts.get("state:paused", 0) >= 1, counts
    assert counts.get("state:buffering", 0) >= 1 and counts.get("state:playing", 0) >= 1


def test_cmcd_is_off_by_default(cdn: LabCdnThread) -> None:
    before = len(cdn.edges[0].requests)
    config = PlayerConfig(
        transport=TransportConfig(ca_file=cdn.ca_file), playback=PlaybackConfig(decode=False)
    )

    async def main() -> None:
        async with Player(config, clock=VirtualClock()) as player:
            await player.load(f"{cdn.edges[0].base_url}/manifest.mpd")
            await player.wait(timeout_s=60)

    asyncio.run(main())
    records = cdn.edges[0].requests[before:]
    assert len(records) > 10
    assert all(r.cmcd is None and "CMCD" not in r.query for r in records)


@pytest.fixture(scope="module")
def protected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    kid, key = secrets.token_hex(16), secrets.token_bytes(16)
    ca = TestCA(tmp_path_factory.mktemp("cmcd-drm-ca"))
    licenses = LabServer(
        LicenseServerApp({kid: key.hex()}, {"token": [kid]}),
        ca=ca,  # type: ignore[arg-type]
    ).start_in_thread()
    spec = ContentSpec(
        duration_s=3,
        ladder=LADDER[:1],
        scheme="cenc",
        kid_hex=kid,
        license_url=licenses.base_url + "/license",
    )
    info = generate_content(
        tmp_path_factory.mktemp("cmcd-cenc"),
        spec,
        encrypt=lambda d: package_mp4(d, key_id=kid, key=key, scheme="cenc"),
    )
    cdn = LabCdn(info.root, edges=1, ca=ca).start_in_thread()
    try:
        yield {"cdn": cdn, "kid": kid}
    finally:
        cdn.stop()
        licenses.stop()


@pytest.mark.parametrize(
    ("mode", "types"), [("query", None), ("header", None), ("header", {"m", "i", "v", "a"})]
)
def test_license_requests_carry_the_session_keys(
    protected: dict[str, Any], mode: str, types: set[str] | None
) -> None:
    """CTA-5004-B 4.3: ``sid`` on DRM key requests too (``ot=k``), unless configured out."""
    cdn = protected["cdn"]
    cmcd = CmcdConfig(mode=mode, content_id=CONTENT_ID)  # type: ignore[arg-type]
    if types is not None:
        cmcd = dataclasses.replace(cmcd, object_types=frozenset(types))
    config = PlayerConfig(
        transport=TransportConfig(protocol="h3", ca_file=cdn.ca_file),
        playback=PlaybackConfig(decode=False),
        drm=DrmConfig(license_headers={"Authorization": "Bearer token"}),
        cmcd=cmcd,
    )
    before = len(cdn.edges[0].requests)
    player, http, events = asyncio.run(play(cdn, "manifest.mpd", config, clock=VirtualClock()))
    assert player.state is PlaybackState.ENDED, player.error
    assert [e.source for e in events if isinstance(e, LicenseAcquired)] == ["license-server"]
    (call,) = [c for c in http.calls if c.path == "/license"]
    sent = call.sent()
    sids = {r.cmcd.value("sid") for r in cdn.edges[0].requests[before:] if r.cmcd}
    if types is not None:
        assert sent is None
        return
    assert sent is not None and sent.source == mode
    assert sent.value("ot") == "k" and sent.value("cid") == CONTENT_ID
    assert {sent.value("sid")} == sids and sent.value("v") == 2
    assert sent.value("sf") == "d" and sent.value("st") == "v"
    assert not {"br", "bl", "d", "nor", "mtp", "tb", "bs"} & set(sent.fields)


@pytest.fixture(scope="module")
def steered(content: ContentInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Two edges as content steering pathways A and B, the lab's steering server in front."""
    ca = TestCA(tmp_path_factory.mktemp("cmcd-steer-ca"))
    app = SteeringApp(priority=["A", "B"], ttl_s=1.0)
    server = LabServer(app, ca=ca).start_in_thread()
    cdn = LabCdn(content.root, edges=2, ca=ca).start_in_thread()
    steer_url = f"{server.base_url}/steer?title=t1"
    bases = {"A": cdn.edges[0].base_url, "B": cdn.edges[1].base_url}
    mpd = steered_mpd((content.root / content.dash_path).read_text(), steer_url, bases)
    (content.root / "cmcd-steer.mpd").write_text(mpd)
    try:
        yield cdn, app
    finally:
        cdn.stop()
        server.stop()


@pytest.mark.parametrize("mode", ["query", "header"])
def test_steering_requests_carry_the_session_keys(steered: Any, mode: str) -> None:
    """A steering manifest is a text object the player requests: ``ot=m`` and the session."""
    cdn, app = steered
    before = len(app.requests)
    config = PlayerConfig(
        transport=TransportConfig(protocol="h1", ca_file=cdn.ca_file),
        playback=PlaybackConfig(decode=False, startup_buffer_s=1.0, buffering_goal_s=3.0),
        cmcd=CmcdConfig(mode=mode, content_id=CONTENT_ID),  # type: ignore[arg-type]
    )
    player, http, _ = asyncio.run(
        play_url(f"{cdn.origin.base_url}/cmcd-steer.mpd", config, clock=VirtualClock())
    )
    assert player.state is PlaybackState.ENDED, player.error
    steering_calls = [c for c in http.calls if c.path == "/steer"]
    assert len(steering_calls) >= 2 and len(app.requests) - before == len(steering_calls)
    media_sids = {r.cmcd.value("sid") for edge in cdn.edges for r in edge.requests[-5:] if r.cmcd}
    for call in steering_calls:
        sent = call.sent()
        assert sent is not None and sent.source == mode
        assert sent.value("ot") == "m" and sent.value("cid") == CONTENT_ID
        assert sent.value("sf") == "d" and sent.value("v") == 2
        assert {sent.value("sid")} == media_sids
    # the steering client's URLs (pathway and throughput parameters) are kept as they were
    assert [strip_cmcd_query(c.urls[0]) for c in steering_calls] == player.steering_requests
    assert any("_DASH_pathway=" in c.urls[0] for c in steering_calls)
    if mode == "query":
        received = [received_cmcd(urlencode(r.query), []) for r in app.requests[before:]]
        assert all(r is not None and r.value("ot") == "m" for r in received)
        assert any("_DASH_pathway" in r.query for r in app.requests[before:])
