"""``python -m player play`` and ``python -m player demo`` as subprocesses against the lab."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from player.lab import ContentSpec, RenditionSpec, generate_content
from transport.lab import LabCdn

LADDER = (
    RenditionSpec(id="lo", width=160, height=90, bitrate_bps=150_000),
    RenditionSpec(id="hi", width=320, height=180, bitrate_bps=400_000),
)


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "player", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    content = generate_content(
        tmp_path_factory.mktemp("cli"), ContentSpec(duration_s=6, ladder=LADDER)
    )
    (content.root / "broken.mpd").write_text("<MPD><Period><AdaptationSet", encoding="utf-8")
    handle = LabCdn(content.root, edges=2).start_in_thread()
    yield handle
    handle.stop()


def test_play_writes_report_junit_and_plot(lab: Any, tmp_path: Path) -> None:
    report, junit, plot = tmp_path / "r.json", tmp_path / "j.xml", tmp_path / "p.png"
    result = run_cli(
        "play", f"{lab.edges[0].base_url}/manifest.mpd", "--ca", lab.ca_file,
        "--cdn", lab.edges[1].base_url, "--virtual-clock", "--quiet",
        "--report", str(report), "--junit", str(junit), "--plot", str(plot),
        "--max-startup-s", "30", "--max-rebuffer-ratio", "0.5",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    for key in (
        "startup_s", "rebuffer_ratio", "stall_count", "switch_count", "mean_bitrate_bps",
        "frames_decoded", "decode_errors", "license_latency_s", "bytes_by_edge",
    ):  # fmt: skip
        assert key in data, key
    assert data["final_state"] == "ended"
    assert data["frames_decoded"] == 150
    assert data["decode_errors"] == 0
    assert any(e["type"] == "PlaybackStarted" for e in data["events"])
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "0"
    assert {c.get("name") for c in suite.iter("testcase")} >= {
        "startup_time", "rebuffer_ratio", "decode_errors", "playback_completed",
    }  # fmt: skip
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "PASS playback_completed" in result.stdout
    # The JSON report carries the verdict: every check with its figure and its bound.
    assert data["verdict"] == "PASS" and data["passed"] is True
    checks = {c["name"]: c for c in data["checks"]}
    assert set(checks) == {c.get("name") for c in suite.iter("testcase")}
    assert all(c["passed"] and c["message"] is None for c in checks.values())
    assert checks["startup_time"]["limit"] == 30 and checks["startup_time"]["value"] > 0
    assert checks["frames_decoded"]["value"]["video"]["frames"] == 150


def test_failed_threshold_exits_1_with_a_junit_failure(lab: Any, tmp_path: Path) -> None:
    junit, report = tmp_path / "j.xml", tmp_path / "r.json"
    result = run_cli(
        "play", f"{lab.edges[0].base_url}/master.m3u8", "--ca", lab.ca_file, "--virtual-clock",
        "--quiet", "--junit", str(junit), "--report", str(report), "--max-startup-s", "0.000001",
    )  # fmt: skip
    assert result.returncode == 1
    failures = [
        c for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None
    ]
    assert [c.get("name") for c in failures] == ["startup_time"]
    assert "FAIL startup_time" in result.stdout
    data = json.loads(report.read_text())
    assert data["verdict"] == "FAIL" and data["passed"] is False
    failed = [c for c in data["checks"] if not c["passed"]]
    assert [c["name"] for c in failed] == ["startup_time"]
    assert failed[0]["limit"] == 0.000001 and failed[0]["value"] > failed[0]["limit"]
    assert failed[0]["message"].startswith("startup ")


def test_malformed_manifest_exits_2_with_one_line(lab: Any) -> None:
    result = run_cli("play", f"{lab.edges[0].base_url}/broken.mpd", "--ca", lab.ca_file, "--quiet")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("python -m player play: error:")
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_key_argument_exits_2_without_echoing_the_key(lab: Any) -> None:
    secret = "00112233445566778899aabbccddeeff"
    result = run_cli(
        "play", f"{lab.edges[0].base_url}/manifest.mpd", "--keys", f"nothex:{secret}", "--quiet"
    )
    assert result.returncode == 2
    assert secret not in result.stderr + result.stdout


def test_untrusted_lab_certificate_fails_without_the_ca(lab: Any) -> None:
    result = run_cli("play", f"{lab.edges[0].base_url}/manifest.mpd", "--quiet", "--timeout", "60")
    assert result.returncode == 1
    # one line, the typed failure naming the certificate (aioquic's own log line kept off)
    assert result.stderr.count("\n") == 1, result.stderr
    assert "AllEdgesFailed" in result.stderr and "not trusted" in result.stderr
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr


@pytest.mark.parametrize("stream_format", ["dash", "hls"])
def test_demo_shows_failover_switches_and_license(tmp_path: Path, stream_format: str) -> None:
    """Both formats pass every demo check (HLS used to fail: no license URL in playlists)."""
    report = tmp_path / "demo.json"
    result = run_cli(
        "demo", "--duration", "20", "--format", stream_format, "--report", str(report),
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    for check in ("frames_decoded", "played_span", "bytes_plausible", "heartbeats_delivered"):
        assert f"PASS {check}" in result.stdout
    assert "FAIL" not in result.stdout
    data = json.loads(report.read_text())
    types = [e["type"] for e in data["events"]]
    assert "EdgeFailedOver" in types
    assert "LicenseAcquired" in types
    assert types.count("VariantSwitched") >= 2
    assert data["decode_errors"] == 0
    assert data["frames_decoded"] == 20 * 25
    assert data["verdict"] == "PASS"
    names = {c["name"] for c in data["checks"] if c["passed"]}
    assert {"failover_seen", "license_acquired", "av_drift", "frames_decoded"} <= names
    assert data["final_state"] == "ended"
    assert data["license_latency_s"] is not None and data["license_latency_s"] > 0
    assert [a["action"] for a in data["demo"]["actions"]] == [
        "throttle", "unthrottle", "kill_primary_edge",
    ]  # fmt: skip


@pytest.mark.parametrize("mode", ["query", "header"])
def test_play_sends_cmcd_when_asked(lab: Any, mode: str) -> None:
    before = {edge.name: len(edge.requests) for edge in lab.cdn.all}
    result = run_cli(
        "play", f"{lab.edges[0].base_url}/manifest.mpd", "--ca", lab.ca_file,
        "--virtual-clock", "--quiet", "--no-decode", "--protocol", "h3",
        "--cmcd", mode, "--cmcd-content-id", "cli-movie", "--cmcd-session-id", "cli-session-7",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [r for edge in lab.cdn.all for r in edge.requests[before[edge.name] :]]
    assert len(records) > 8
    for record in records:
        assert record.cmcd is not None and record.cmcd.source == mode, record.path
        assert record.cmcd.value("cid") == "cli-movie"
        assert record.cmcd.value("sid") == "cli-session-7"
        assert record.cmcd.value("v") == 2
    assert {r.cmcd.value("ot") for r in records if r.cmcd} == {"m", "i", "v", "a"}


def test_play_refuses_a_bad_cmcd_id(lab: Any) -> None:
    result = run_cli(
        "play", f"{lab.edges[0].base_url}/manifest.mpd", "--ca", lab.ca_file,
        "--cmcd", "query", "--cmcd-session-id", "x" * 65,
    )  # fmt: skip
    assert result.returncode == 2
    assert "session_id must be 1 to 64 printable ASCII characters" in result.stderr
