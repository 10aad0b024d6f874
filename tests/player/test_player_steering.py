"""Content steering end to end: lab edges as pathways, the lab's steering server, real sockets.

Edge 0 plays pathway ``A`` and edge 1 pathway ``B`` of an HLS multivariant playlist
(``PATHWAY-ID``) and a DASH MPD (``BaseURL@serviceLocation``), both naming the lab's
``SteeringApp`` (``EXT-X-CONTENT-STEERING`` / ``ContentSteering``). Sessions run on the virtual
clock with a 1 s ``TTL``, 1 s segments and a 3 s buffering goal, so downloads stay paced by
playback and a whole 12 s presentation plays in a few real seconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from player import PlaybackState, VirtualClock
from player._player import Player
from player.config import PlaybackConfig, PlayerConfig
from player.events import (
    ErrorOccurred,
    Event,
    PathwayChanged,
    PathwayChangeReason,
    SegmentDownloaded,
)
from player.lab import ContentInfo, ContentSpec, RenditionSpec, generate_content
from transport import RetryConfig, TransportConfig
from transport.lab import LabCdn, LabServer, StatusFault, SteeringApp, TestCA

DURATION_S = 12
SEGMENT_S = 1
TTL_S = 1.0
EXCLUSION_S = 2.0
LADDER = (
    RenditionSpec(id="v1", width=160, height=90, bitrate_bps=150_000),
    RenditionSpec(id="v2", width=320, height=180, bitrate_bps=400_000),
)
FORMATS = ["hls", "dash"]


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> ContentInfo:
    spec = ContentSpec(duration_s=DURATION_S, segment_s=SEGMENT_S, ladder=LADDER)
    return generate_content(tmp_path_factory.mktemp("steer"), spec)


@pytest.fixture(scope="module")
def cdn(content: ContentInfo, ca: TestCA) -> Iterator[Any]:
    handle = LabCdn(content.root, edges=2, ca=ca).start_in_thread()
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def steering_server(ca: TestCA) -> Iterator[tuple[SteeringApp, Any]]:
    app = SteeringApp(priority=["A", "B"], ttl_s=TTL_S)
    server = LabServer(app, ca=ca).start_in_thread()
    yield app, server
    server.stop()


@pytest.fixture(scope="module")
def manifests(
    content: ContentInfo, cdn: Any, steering_server: tuple[SteeringApp, Any]
) -> dict[str, str]:
    """Write the steered HLS and DASH manifests; return their URLs on the origin."""
    steer_url = f"{steering_server[1].base_url}/steer?title=t1"
    bases = {"A": cdn.edges[0].base_url, "B": cdn.edges[1].base_url}
    hls = steered_hls((content.root / content.hls_path).read_text(), steer_url, bases)
    (content.root / "steer.m3u8").write_text(hls)
    dash = steered_mpd((content.root / content.dash_path).read_text(), steer_url, bases)
    (content.root / "steer.mpd").write_text(dash)
    origin = cdn.origin.base_url
    return {"hls": f"{origin}/steer.m3u8", "dash": f"{origin}/steer.mpd"}


def steered_hls(master: str, steer_url: str, bases: dict[str, str]) -> str:
    """Each variant and audio rendition once per pathway, at that pathway's edge."""
    header, media, streams = [], [], []
    lines = master.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("#EXT-X-MEDIA:"):
            media.append(line)
        elif line.startswith("#EXT-X-STREAM-INF:"):
            streams.append((line, lines[index + 1]))
        elif line.startswith("#EXT") and not line.startswith("#EXT-X-STREAM-INF"):
            header.append(line)
    out = [*header, f'#EXT-X-CONTENT-STEERING:SERVER-URI="{steer_url}",PATHWAY-ID="A"']
    for pathway, base in bases.items():
        for line in media:
            line = line.replace('GROUP-ID="aud"', f'GROUP-ID="aud-{pathway}"')
            out.append(re.sub(r'URI="([^"]+)"', rf'URI="{base}/\1"', line))
        for info, uri in streams:
            info = info.replace('AUDIO="aud"', f'AUDIO="aud-{pathway}"')
            out += [f'{info},PATHWAY-ID="{pathway}"', f"{base}/{uri}"]
    return "\n".join(out) + "\n"


def steered_mpd(mpd: str, steer_url: str, bases: dict[str, str]) -> str:
    """One ``BaseURL`` per pathway and a ``ContentSteering`` element before the period."""
    elements = "".join(
        f'<BaseURL serviceLocation="{pathway}">{base}/</BaseURL>' for pathway, base in bases.items()
    )
    elements += (
        '<ContentSteering defaultServiceLocation="A" queryBeforeStart="true">'
        f"{steer_url.replace('&', '&amp;')}</ContentSteering>"
    )
    return mpd.replace("<Period ", elements + "<Period ", 1)


@pytest.fixture
def steering(steering_server: tuple[SteeringApp, Any], cdn: Any) -> Iterator[SteeringApp]:
    """The steering app answering ``A, B`` with the test TTL; every server up afterwards."""
    app, server = steering_server
    app.set_priority(["A", "B"], ttl_s=TTL_S)
    app.set_clones([])
    app.faults.clear()
    yield app
    app.faults.clear()
    if not server.server.is_running:
        server.server.revive().result(10)
    for edge in cdn.edges:
        if not edge.is_running:
            edge.revive().result(10)


def config_for(cdn: Any) -> PlayerConfig:
    retry = RetryConfig(
        exclusion_s=EXCLUSION_S,
        max_exclusion_s=8 * EXCLUSION_S,
        base_delay_s=0.05,
        max_delay_s=0.2,
        max_attempts=4,
    )
    return PlayerConfig(
        transport=TransportConfig(ca_file=cdn.ca_file, protocol="h1", retry=retry),
        playback=PlaybackConfig(buffering_goal_s=3.0, startup_buffer_s=1.0, decode=False),
    )


async def play(
    url: str, config: PlayerConfig, on_event: Callable[[Player, Event], None] | None = None
) -> tuple[Player, list[Event]]:
    events: list[Event] = []
    player = Player(config, clock=VirtualClock())

    def listen(event: Event) -> None:
        events.append(event)
        if on_event is not None:
            on_event(player, event)

    player.add_listener(listen)
    await player.load(url)
    await player.wait(timeout_s=60)
    await player.aclose()
    return player, events


def media(events: list[Event]) -> list[SegmentDownloaded]:
    return [e for e in events if isinstance(e, SegmentDownloaded) and e.number >= 0]


def changes(events: list[Event]) -> list[tuple[str | None, str, PathwayChangeReason]]:
    return [
        (e.from_pathway, e.to_pathway, e.reason) for e in events if isinstance(e, PathwayChanged)
    ]


def segment_count(events: list[Event], track: str) -> int:
    return len({e.number for e in media(events) if e.track == track})


@pytest.mark.parametrize("fmt", FORMATS)
async def test_priority_change_moves_requests_within_one_ttl(
    fmt: str, cdn: Any, manifests: dict[str, str], steering: SteeringApp
) -> None:
    changed: list[float] = []

    def on_event(player: Player, event: Event) -> None:
        if isinstance(event, SegmentDownloaded) and event.track == "video" and event.number == 4:
            if not changed:
                steering.set_priority(["B", "A"])
                changed.append(event.at_s)

    player, events = await play(manifests[fmt], config_for(cdn), on_event)
    assert player.state == PlaybackState.ENDED
    stats = player.stats()
    assert stats.stall_count == 0
    assert changes(events) == [
        (None, "A", PathwayChangeReason.INITIAL),
        ("A", "B", PathwayChangeReason.STEERING),
    ]
    first_b = next(e for e in media(events) if e.pathway == "B")
    lag = first_b.at_s - first_b.download_s - changed[0]
    assert 0 <= lag <= TTL_S + SEGMENT_S, lag
    after = [e for e in media(events) if e.at_s >= first_b.at_s]
    assert after and {e.pathway for e in after} == {"B"}
    assert segment_count(events, "video") == DURATION_S // SEGMENT_S
    assert stats.bytes_by_pathway["A"] > 0 and stats.bytes_by_pathway["B"] > 0
    assert sum(stats.bytes_by_pathway.values()) == sum(e.nbytes for e in media(events)) + sum(
        e.nbytes for e in events if isinstance(e, SegmentDownloaded) and e.number < 0
    )
    assert set(stats.time_by_pathway_s) == {"A", "B"}
    assert [h["reason"] for h in stats.to_json()["pathway_history"]] == ["initial", "steering"]
    reports = [dict(parse_qsl(urlsplit(u).query)) for u in player.steering_requests]
    key = "_HLS_pathway" if fmt == "hls" else "_DASH_pathway"
    reported = [r[key] for r in reports if key in r]
    assert '"A"' in reported and reported[-1] == '"B"'
    throughput = "_HLS_throughput" if fmt == "hls" else "_DASH_throughput"
    assert any(int(r[throughput].split(",")[0]) > 0 for r in reports if throughput in r)
    assert all(r["title"] == "t1" for r in reports)
    if fmt == "dash":  # queryBeforeStart: the first request carries no report
        assert key not in reports[0]
    print(f"\n{fmt}: first request on the new pathway {lag:.3f} s after the priority change")


@pytest.mark.parametrize("fmt", FORMATS)
async def test_killed_pathway_is_penalised_then_reprobed(
    fmt: str, cdn: Any, manifests: dict[str, str], steering: SteeringApp
) -> None:
    steering.set_priority(["A", "B"], ttl_s=60.0)

    def on_event(player: Player, event: Event) -> None:
        if isinstance(event, SegmentDownloaded) and event.track == "video" and event.number == 3:
            if cdn.edges[0].is_running:
                cdn.edges[0].kill().result(10)
        if isinstance(event, PathwayChanged) and event.reason is PathwayChangeReason.FAILURE:
            cdn.edges[0].revive().result(10)  # back up; the penalty still has to end

    player, events = await play(manifests[fmt], config_for(cdn), on_event)
    assert player.state == PlaybackState.ENDED
    assert segment_count(events, "video") == DURATION_S // SEGMENT_S
    assert player.stats().stall_count == 0
    assert changes(events) == [
        (None, "A", PathwayChangeReason.INITIAL),
        ("A", "B", PathwayChangeReason.FAILURE),
        ("B", "A", PathwayChangeReason.RECOVERED),
    ]
    failed, recovered = [e.at_s for e in events if isinstance(e, PathwayChanged)][1:]
    assert recovered - failed >= EXCLUSION_S  # not flapped back at once
    on_b = [e for e in media(events) if failed <= e.at_s < recovered]
    assert on_b and {e.pathway for e in on_b} == {"B"}
    assert not [e for e in events if isinstance(e, ErrorOccurred) and e.fatal]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_dead_pathway_probes_back_off(
    fmt: str, cdn: Any, manifests: dict[str, str], steering: SteeringApp
) -> None:
    steering.set_priority(["A", "B"], ttl_s=60.0)

    def on_event(player: Player, event: Event) -> None:
        if isinstance(event, SegmentDownloaded) and event.track == "video" and event.number == 2:
            if cdn.edges[0].is_running:
                cdn.edges[0].kill().result(10)

    player, events = await play(manifests[fmt], config_for(cdn), on_event)
    assert player.state == PlaybackState.ENDED
    assert segment_count(events, "video") == DURATION_S // SEGMENT_S
    # Probes of A failed inside requests that B then served: no flapping events.
    assert changes(events) == [
        (None, "A", PathwayChangeReason.INITIAL),
        ("A", "B", PathwayChangeReason.FAILURE),
    ]
    health = player._health.get("pathway:A")
    assert health.total_failures >= 2  # penalised, re-probed after the window, failed again
    assert health.exclusion_s > EXCLUSION_S  # each failed probe doubles the penalty


@pytest.mark.parametrize("fmt", FORMATS)
async def test_steering_server_down_keeps_last_priority(
    fmt: str, cdn: Any, manifests: dict[str, str], steering: SteeringApp, steering_server: Any
) -> None:
    steering.set_priority(["B", "A"])
    server = steering_server[1]

    def on_event(player: Player, event: Event) -> None:
        if isinstance(event, SegmentDownloaded) and event.track == "video" and event.number == 2:
            if server.server.is_running:
                server.server.kill().result(10)

    player, events = await play(manifests[fmt], config_for(cdn), on_event)
    assert player.state == PlaybackState.ENDED
    assert player.stats().stall_count == 0
    late = [e for e in media(events) if e.number >= 3]
    assert late and {e.pathway for e in late} == {"B"}
    soft = [e for e in events if isinstance(e, ErrorOccurred)]
    assert soft and not any(e.fatal for e in soft)
    assert all(e.message.startswith("content steering:") for e in soft)
    # Backed off: fewer failed requests than TTLs in the session.
    assert len(soft) < player.stats().time_played_s / TTL_S


@pytest.mark.parametrize("fmt", FORMATS)
async def test_gone_stops_steering_requests(
    fmt: str, cdn: Any, manifests: dict[str, str], steering: SteeringApp
) -> None:
    steering.set_priority(["B", "A"])
    steering.faults.set(StatusFault(status=410), count=None, for_s=120.0, path_glob="*")
    player, events = await play(manifests[fmt], config_for(cdn))
    assert player.state == PlaybackState.ENDED
    assert len(player.steering_requests) == 1
    assert {e.pathway for e in media(events)} == {"A"}  # the default pathway, kept


@pytest.mark.parametrize("fmt", FORMATS)
async def test_clone_serves_from_its_replaced_host(
    fmt: str, cdn: Any, manifests: dict[str, str], steering: SteeringApp
) -> None:
    clone = {"BASE-ID": "B", "ID": "C", "URI-REPLACEMENT": {"HOST": "localhost"}}
    steering.set_clones([clone])
    steering.set_priority(["C", "A"])
    before = len(cdn.edges[1].requests)
    player, events = await play(manifests[fmt], config_for(cdn))
    assert player.state == PlaybackState.ENDED
    on_c = [e for e in media(events) if e.pathway == "C"]
    assert len(on_c) >= segment_count(events, "video")  # every segment after the first answer
    assert all(urlsplit(e.edge).hostname == "localhost" for e in on_c)
    assert len(cdn.edges[1].requests) - before >= len(on_c)  # edge 1 served the clone
    assert player.stats().bytes_by_pathway.get("C", 0) > 0


def test_steered_manifests_parse_with_pathways(
    manifests: dict[str, str], content: ContentInfo
) -> None:
    from player.manifest import parse_manifest

    for name in ("steer.m3u8", "steer.mpd"):
        data = (content.root / name).read_bytes()
        p = parse_manifest(data, url=manifests["hls" if name.endswith("m3u8") else "dash"], now=0)
        assert p.steering is not None and p.steering.default_pathway == "A"
        pathways = {loc.service_location for rep in p.representations() for loc in rep.locations}
        assert pathways == {"A", "B"}
        assert unquote(p.steering.server_url).endswith("/steer?title=t1")
    assert Path(content.root / "steer.mpd").exists()
