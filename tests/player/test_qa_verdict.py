"""An honest QA verdict: each check FAILS on a real broken stream and PASSES on good content.

Content is the lab's (PyAV), served by the lab's origin; the broken cases are manifests that
lie about the media they point at, played end to end through ``play_to_report``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from player.cli._evidence import _bytes
from player.cli._qa import play_to_report
from player.cli._report import Thresholds, check_thresholds
from player.cli._verdict import heartbeats_check
from player.config import HeartbeatConfig, PlaybackConfig, PlayerConfig, SessionServiceConfig
from player.lab import ContentInfo, ContentSpec, RenditionSpec, generate_content
from player.manifest import parse_dash
from player.sessions import SessionService
from transport import TransportConfig
from transport.lab import LabCdn, LabServer, TestCA

DURATION_S = 4
FPS = 25
TOKEN = "verdict-token"


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> ContentInfo:
    ladder = (RenditionSpec(id="lo", width=160, height=90, bitrate_bps=150_000),)
    info = generate_content(
        tmp_path_factory.mktemp("verdict"), ContentSpec(duration_s=DURATION_S, ladder=ladder)
    )
    mpd = (info.root / info.dash_path).read_text()
    variants = {
        # The MPD lists no segment at all: nothing plays, and the session "ends" at 0 s.
        "nothing.mpd": re.sub(r"<SegmentTimeline>.*?</SegmentTimeline>", "<SegmentTimeline/>", mpd),
        # Wrong timescale: the MPD says 2 s per segment (8 s), the media has 1 s each.
        "half.mpd": mpd.replace("PT4S", "PT8S")
        .replace('d="25600"', 'd="51200"')
        .replace('d="96256"', 'd="192512"')
        .replace('t="192512" d="512"', 't="385024" d="1024"'),
        # A truncated stream: the MPD promises 8 s, its segments hold 4 s.
        "truncated.mpd": mpd.replace("PT4S", "PT8S"),
        # A bandwidth 8.7x too low for the media: the run fetches far more than declared.
        "greedy.mpd": re.sub(r'(id="lo" bandwidth=")\d+', r"\g<1>20000", mpd),
        # The video init segment is missing: playback fails before it starts.
        "broken-init.mpd": mpd.replace("video/lo/init.mp4", "video/lo/nope.mp4"),
    }
    for name, text in variants.items():
        (info.root / name).write_text(text)
    return info


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("verdict-ca"))


@pytest.fixture(scope="module")
def origin(content: ContentInfo, ca: TestCA) -> Iterator[Any]:
    handle = LabCdn(content.root, edges=0, ca=ca).start_in_thread()
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, ca: TestCA) -> Iterator[Any]:
    app = SessionService(
        SessionServiceConfig(),
        db_path=str(tmp_path_factory.mktemp("svc") / "sessions.db"),
        tokens={"viewer": TOKEN},
    )
    handle = LabServer(app, ca=ca).start_in_thread()  # type: ignore[arg-type]
    yield handle
    handle.stop()


def run(origin: Any, path: str, **options: Any) -> dict[str, Any]:
    heartbeat = options.pop("heartbeat", None)
    config = PlayerConfig(
        transport=TransportConfig(ca_file=origin.ca_file),
        playback=PlaybackConfig(**options),
    )
    if heartbeat is not None:
        config = PlayerConfig(
            transport=config.transport, playback=config.playback, heartbeat=heartbeat
        )
    report: dict[str, Any] = asyncio.run(
        play_to_report(
            f"{origin.origin.base_url}/{path}",
            config,
            virtual_clock=True,
            timeout_s=60,
            identity={"viewer_id": "viewer", "title_id": "t", "device_id": "d"},
        )
    )
    return report


def failures(report: dict[str, Any], **limits: Any) -> dict[str, str]:
    checks = check_thresholds(report, Thresholds(**limits))
    return {name: failure for name, failure in checks if failure is not None}


def names(report: dict[str, Any], **limits: Any) -> list[str]:
    return [name for name, _ in check_thresholds(report, Thresholds(**limits))]


def test_good_content_passes_every_check(origin: Any) -> None:
    report = run(origin, "manifest.mpd")
    assert failures(report) == {}
    assert {"frames_decoded", "played_span", "bytes_plausible"} <= set(names(report))
    video = report["tracks"]["video"]
    assert video["frames_in_span"] == DURATION_S * FPS
    assert video["frame_rate"] == FPS and video["frame_rate_from"] == "manifest"
    assert report["tracks"]["audio"]["audio_s_in_span"] == pytest.approx(DURATION_S, rel=0.02)
    assert report["license_latency_s"] is None  # clear content: no license was fetched


def test_a_manifest_without_segments_plays_nothing_and_fails(origin: Any) -> None:
    report = run(origin, "nothing.mpd")
    assert report["final_state"] == "ended"  # what the old verdict passed
    found = failures(report)
    assert "never started" in found["played_span"]
    assert "no frame decoded" in found["frames_decoded"]
    assert "playback_completed" not in found and "decode_errors" not in found


def test_media_shorter_than_the_manifest_says_fails_frames_decoded(origin: Any) -> None:
    report = run(origin, "half.mpd")
    found = failures(report)
    assert set(found) == {"frames_decoded"}, found
    assert "expected 200 at 25 fps" in found["frames_decoded"]
    assert "0.50x" in found["frames_decoded"]


def test_a_truncated_stream_fails_played_span(origin: Any) -> None:
    report = run(origin, "truncated.mpd")
    assert report["final_state"] == "ended"
    found = failures(report)
    assert "played_span" in found and "of the 8.00 s requested" in found["played_span"]


def test_fetching_many_times_the_declared_bytes_fails_bytes_plausible(origin: Any) -> None:
    report = run(origin, "greedy.mpd")
    found = failures(report)
    assert set(found) == {"bytes_plausible"}, found
    assert "video: fetched" in found["bytes_plausible"]
    assert "bandwidth x duration" in found["bytes_plausible"]


def test_stop_after_is_the_requested_span(origin: Any) -> None:
    report = asyncio.run(
        play_to_report(
            f"{origin.origin.base_url}/manifest.mpd",
            PlayerConfig(transport=TransportConfig(ca_file=origin.ca_file)),
            virtual_clock=True,
            stop_after_s=2.0,
        )
    )
    limits: dict[str, Any] = {"require_end": False}
    assert failures(report, **limits) == {}
    span = report["span"]
    assert span["stop_after_s"] == 2.0 and span["reached_s"] >= 2.0 - report["startup_s"]
    # A run that got to less of the span than it was given is a failure, not a pass.
    stalled = {**report, "span": {**span, "reached_s": span["start_s"] + 1.0}}
    found = failures(stalled, **limits)
    assert "played 1.00 s of the" in found["played_span"]
    assert "video: 100 frames decoded in the 1.00 s played" in found["frames_decoded"]


def test_frame_hashes_go_into_the_report_and_repeat_across_runs(origin: Any) -> None:
    first = run(origin, "manifest.mpd", hash_frames=True)["frame_hashes"]["video"]
    second = run(origin, "manifest.mpd", hash_frames=True)["frame_hashes"]["video"]
    assert first["count"] == DURATION_S * FPS == len(first["frames"])
    assert first["digest"] == second["digest"]
    assert [t for t, _ in first["frames"]] == sorted(t for t, _ in first["frames"])
    assert len({h for _, h in first["frames"]}) > DURATION_S * FPS // 2  # pictures differ


def test_no_decode_runs_skip_frames_but_keep_span_and_bytes(origin: Any) -> None:
    report = run(origin, "greedy.mpd", decode=False)
    assert "frames_decoded" not in names(report)
    assert set(failures(report)) == {"bytes_plausible"}


def _heartbeats(service: Any, tmp_path: Path) -> HeartbeatConfig:
    return HeartbeatConfig(
        service_url=service.base_url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        outbox_path=str(tmp_path / "outbox.db"),
        interval_s=1.0,
    )


def test_heartbeats_pass_on_a_full_run(origin: Any, service: Any, tmp_path: Path) -> None:
    report = run(origin, "manifest.mpd", decode=False, heartbeat=_heartbeats(service, tmp_path))
    assert report["heartbeat"] == {"interval_s": 1.0}
    assert "heartbeats_delivered" in names(report)
    assert failures(report) == {}


def test_heartbeats_fail_when_a_failed_playback_delivered_only_its_first(
    origin: Any, service: Any, tmp_path: Path
) -> None:
    report = run(origin, "broken-init.mpd", heartbeat=_heartbeats(service, tmp_path))
    beats = [e for e in report["events"] if e["type"] == "HeartbeatSent"]
    assert len(beats) == 1  # the old check (at least one delivered) passed this run
    found = failures(report)
    assert "never reported as running" in found["heartbeats_delivered"]
    assert "no_fatal_error" in found and "played_span" in found


def _beat(state: str, at_s: float) -> dict[str, Any]:
    return {"type": "HeartbeatSent", "state": state, "at_s": at_s, "seq": 0, "position_s": 0.0}


@pytest.mark.parametrize(
    ("beats", "final", "played", "expected"),
    [
        ([("playing", 0)], "error", 30.0, "expected >= 4"),
        ([("playing", t) for t in (0, 10, 20, 30)], "error", 30.0, "final 'error'"),
        ([("playing", t) for t in (0, 10, 20)] + [("error", 30)], "error", 30.0, None),
        ([("playing", t) for t in (0, 10, 20)] + [("ended", 30)], "ended", 30.0, None),
        ([("playing", t) for t in (0, 10, 20, 30)], "stopped", 30.0, None),
    ],
)
def test_heartbeats_check_rules(
    beats: list[tuple[str, float]], final: str, played: float, expected: str | None
) -> None:
    report = {
        "final_state": final,
        "clock": "real",
        "time_played_s": played,
        "events": [_beat(state, at) for state, at in beats],
    }
    name, failure = heartbeats_check(report, interval_s=10.0)
    assert name == "heartbeats_delivered"
    if expected == "expected >= 4":  # no count on the virtual clock; the final beat still
        virtual = heartbeats_check({**report, "clock": "virtual"}, interval_s=10.0)[1]
        assert virtual is not None and "final 'error'" in virtual
    if expected is None:
        assert failure is None
    else:
        assert failure is not None and expected in failure


def test_a_segment_fetched_twice_counts_twice_against_one_declared_size(
    origin: Any, content: ContentInfo
) -> None:
    """Declared sizes count each segment once; a second fetch of it is bytes over them.

    The downloader never refetches a segment on its own (whole files from servers that
    ignore ``Range`` are kept; abandoned downloads are not reported), so this feeds a good
    run's downloads, each media segment repeated, to the evidence, as a refetching
    regression would produce them.
    """
    report = run(origin, "manifest.mpd")
    mpd = (content.root / content.dash_path).read_bytes()
    url = f"{origin.origin.base_url}/manifest.mpd"
    reps = {r.id: r for r in parse_dash(mpd, url=url, now=0.0).periods[0].representations()}
    video = [e for e in report["events"] if e["type"] == "SegmentDownloaded"]
    video = [e for e in video if e["track"] == "video"]
    once, twice = _bytes(video, reps), _bytes(video + [e for e in video if e["number"] >= 0], reps)
    assert once["declared_bytes"] == twice["declared_bytes"]
    assert twice["bytes_compared"] > 1.9 * once["bytes_compared"]
    ratio = once["bytes_compared"] / once["declared_bytes"]
    limits = {"max_bytes_ratio": 1.5 * ratio}  # the good run passes with room to spare
    assert "bytes_plausible" not in failures(report, **limits)
    tracks = {**report["tracks"], "video": {**report["tracks"]["video"], **twice}}
    found = failures({**report, "tracks": tracks}, **limits)
    assert "video: fetched" in found["bytes_plausible"]
