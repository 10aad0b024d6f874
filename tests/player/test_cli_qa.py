"""The QA workflow from the command line, as real processes against real lab servers.

``content make`` (clear and encrypted, with its keys file), ``play`` of a manifest on disk
(served from its folder), ``--keys-file``, ``license serve``, the continue-watching options
(``--heartbeat-url`` and ``--resume`` against ``sessions serve``), honest stats on the real
clock with ``--stop-after``, and Ctrl-C (SIGINT) in ``play`` and ``demo``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from proc_cpu import StopMeter

from transport.lab import LabCdn

STOP_WITHIN_S = 2.0
"""CPU seconds a stopping ``play`` may spend after SIGINT (tests/proc_cpu.py)."""
STOP_WITHIN_WALL_S = 20.0


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "player", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "player", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(proc: subprocess.Popen[str]) -> None:
    """End a server with SIGTERM (its documented stop) and close its pipes."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


@pytest.fixture(scope="module")
def clear(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clear")
    made = run_cli(
        "content", "make", str(folder), "--duration", "20", "--ladder", "160x90@150k,320x180@400k"
    )
    assert made.returncode == 0, made.stderr
    return folder


@pytest.fixture(scope="module")
def encrypted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cbcs")
    made = run_cli(
        "content", "make", str(folder), "--duration", "6", "--encryption", "cbcs",
        "--ladder", "160x90@150k", "--format", "hls",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "encoding video v90" in made.stdout  # it says what it is doing
    return folder


@pytest.fixture(scope="module")
def cdn(clear: Path) -> Iterator[Any]:
    handle = LabCdn(clear, edges=1).start_in_thread()
    yield handle
    handle.stop()


def test_content_make_writes_a_replayable_encrypted_ladder(encrypted: Path) -> None:
    described = json.loads((encrypted / "content.json").read_text())
    assert (described["scheme"], described["dash"], described["hls"]) == (
        "cbcs",
        None,
        "master.m3u8",
    )
    assert not (encrypted / "manifest.mpd").exists()
    keys = json.loads((encrypted / "keys.json").read_text())["keys"]
    ((kid, key),) = keys.items()
    assert kid == described["kid"] and len(key) == 32
    assert (encrypted / "keys.json").stat().st_mode & 0o077 == 0  # private to its owner


def test_play_a_local_encrypted_manifest_with_its_keys_file(
    encrypted: Path, tmp_path: Path
) -> None:
    report = tmp_path / "deep" / "folder" / "r.json"  # created before playback
    result = run_cli(
        "play", str(encrypted / "master.m3u8"), "--keys-file", str(encrypted / "keys.json"),
        "--virtual-clock", "--quiet", "--report", str(report),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    assert data["final_state"] == "ended"
    assert data["frames_decoded"] == 6 * 25
    assert data["local_file"] == str(encrypted / "master.m3u8")
    assert data["url"].startswith("https://127.0.0.1:")  # served over loopback, as over HTTP
    licenses = [e for e in data["events"] if e["type"] == "LicenseAcquired"]
    assert [e["source"] for e in licenses] == ["config"]
    # HLS declares no audio bandwidth; the report measures it, under a readable id
    assert 40_000 < data["rendition_bitrates_bps"]["audio-en"] < 120_000
    assert "90p" in data["rendition_bitrates_bps"]


def test_a_local_manifest_cannot_reach_files_outside_its_folder(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the player")
    folder = tmp_path / "content"
    folder.mkdir()
    (folder / "media.m3u8").write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n"
        "#EXTINF:2,\n../secret.txt\n#EXT-X-ENDLIST\n"
    )
    report = tmp_path / "r.json"
    result = run_cli("play", str(folder / "media.m3u8"), "--quiet", "--virtual-clock",
                     "--report", str(report), "--timeout", "60")  # fmt: skip
    assert result.returncode == 1, result.stderr
    data = json.loads(report.read_text())
    assert data["final_state"] == "error"
    assert data["bytes_downloaded"] < 200  # only the playlist: the file outside was refused


def test_license_server_serves_the_keys_file(encrypted: Path, tmp_path: Path) -> None:
    server = start("license", "serve", "--keys-file", str(encrypted / "keys.json"),
                   "--token", "qa=s3cret")  # fmt: skip
    try:
        assert server.stdout is not None
        info = json.loads(server.stdout.readline())
        assert info["tokens"] == {"qa": "s3cret"}
        report = tmp_path / "r.json"
        result = run_cli(
            "play", str(encrypted / "master.m3u8"), "--license-url", info["license_url"],
            "--ca", info["ca_file"], "--header", "Authorization: Bearer s3cret",
            "--virtual-clock", "--quiet", "--report", str(report),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        licenses = [e for e in json.loads(report.read_text())["events"]
                    if e["type"] == "LicenseAcquired"]  # fmt: skip
        assert [e["source"] for e in licenses] == ["license-server"]
    finally:
        stop(server)
    assert server.returncode == 0


def test_stop_after_on_the_real_clock_counts_the_time_played(cdn: Any, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    result = run_cli(
        "play", f"{cdn.edges[0].base_url}/manifest.mpd", "--ca", cdn.ca_file,
        "--stop-after", "5", "--quiet", "--report", str(report), "--no-decode",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    assert data["stall_count"] == 0
    # Exactly the span asked for: --stop-after (counted from load()) less the startup time,
    # however long a busy machine took to start.
    assert 0.0 < data["startup_s"] < 5.0
    assert data["time_played_s"] == pytest.approx(5.0 - data["startup_s"], abs=0.3)
    checks = {c["name"]: c for c in data["checks"]}
    span = checks["played_span"]
    assert span["passed"], span
    assert span["limit"]["requested_s"] == pytest.approx(5.0 - data["startup_s"], abs=1e-3)
    assert span["value"]["played_s"] >= span["limit"]["min_played_s"]
    assert "playback_completed" not in checks  # a stopped run is not asked to end
    events = data["events"]
    assert events[0]["at_s"] < 1.0  # seconds since load(), not monotonic clock readings
    timeline = [s for s in data["timeline"] if s["state"] == "playing"]
    gaps = [b["at_s"] - a["at_s"] for a, b in zip(timeline, timeline[1:], strict=False)]
    assert max(gaps) <= 1.05  # the timeline never freezes while playing
    positions = [s["position_s"] for s in timeline]
    # the samples span what was played, less at most one sampling interval and a little
    assert positions == sorted(positions)
    assert positions[-1] - positions[0] > data["time_played_s"] - 1.3


def test_heartbeats_and_resume_from_the_command_line(cdn: Any, tmp_path: Path) -> None:
    service = start("sessions", "serve", "--db", str(tmp_path / "s.db"), "--token", "qa=t0k")
    try:
        assert service.stdout is not None
        info = json.loads(service.stdout.readline())
        common = (
            f"{cdn.edges[0].base_url}/manifest.mpd", "--ca", cdn.ca_file, "--ca",
            info["ca_file"], "--heartbeat-url", info["base_url"], "--viewer", "qa",
            "--heartbeat-token", "t0k", "--title", "clip-1", "--quiet", "--no-decode",
        )  # fmt: skip
        first, second = tmp_path / "1.json", tmp_path / "2.json"
        result = run_cli("play", *common, "--stop-after", "4", "--report", str(first))
        assert result.returncode == 0, result.stderr
        beats = [e for e in json.loads(first.read_text())["events"] if e["type"] == "HeartbeatSent"]
        assert beats
        result = run_cli("play", *common, "--resume", "--stop-after", "1", "--report", str(second))
        assert result.returncode == 0, result.stderr
        started = [e for e in json.loads(second.read_text())["events"]
                   if e["type"] == "PlaybackStarted"]  # fmt: skip
        assert started[0]["position_s"] >= 2.0  # resumed where the first run stopped
    finally:
        stop(service)


def test_ctrl_c_in_play_stops_fast_and_writes_the_partial_report(cdn: Any, tmp_path: Path) -> None:
    report, junit, frames = tmp_path / "r.json", tmp_path / "j.xml", tmp_path / "frames"
    proc = start(
        "play", f"{cdn.edges[0].base_url}/manifest.mpd", "--ca", cdn.ca_file, "--quiet",
        "--report", str(report), "--junit", str(junit), "--thumbnails", "1",
        "--thumbnail-dir", str(frames),
    )  # fmt: skip
    meter = StopMeter(proc)
    try:
        deadline = time.monotonic() + 60
        while not any(frames.glob("*.png")) and time.monotonic() < deadline:
            time.sleep(0.1)  # decoding has begun once the 1 s thumbnail exists
        time.sleep(1.0)
        assert proc.poll() is None
        meter.signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        stop(proc)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    # the work of stopping, in CPU time (a loaded machine stretches the wall time: bounded
    # loosely)
    took, cpu = meter.wall_s(), meter.cpu_after_s()
    assert cpu < STOP_WITHIN_S, f"{cpu:.2f} s of CPU after SIGINT"
    assert took < STOP_WITHIN_WALL_S, f"stopped {took:.2f} s after SIGINT"
    data = json.loads(report.read_text())
    assert data["final_state"] == "interrupted"
    assert 0 < data["time_played_s"] < 20
    failures = [c.get("name") for c in ET.parse(junit).getroot().iter("testcase")
                if c.find("failure") is not None]  # fmt: skip
    assert "playback_completed" in failures


def test_ctrl_c_in_the_demo_writes_the_partial_report_and_plot(tmp_path: Path) -> None:
    report, plot = tmp_path / "r.json", tmp_path / "p.png"
    proc = start("demo", "--duration", "20", "--real-clock", "--quiet",
                 "--report", str(report), "--plot", str(plot))  # fmt: skip
    meter = StopMeter(proc)
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("demo: playing"):
                break
        assert any("encoding video" in line for line in seen)  # it says what it builds
        time.sleep(2.0)
        meter.signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        stop(proc)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    data = json.loads(report.read_text())
    assert data["final_state"] == "interrupted"
    assert data["time_played_s"] > 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the plot is drawn after the stop (the stop itself is timed in play): CPU time, as there
    cpu = meter.cpu_after_s()
    assert cpu < 10.0, f"{cpu:.2f} s of CPU after SIGINT"
    assert meter.wall_s() < 60.0
