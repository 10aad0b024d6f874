"""``python -m player download`` and offline ``play``, as real processes against the lab.

The license server is the command line's own (``license serve --persistent``); the CDN runs
in the test so it can be slowed (a drip fault, to interrupt a download mid-way) and stopped
(to play with the network cut).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from drm import package_mp4
from player.cli._keysfile import write_keys_file
from player.lab import ContentInfo, ContentSpec, RenditionSpec, generate_content
from transport.lab import DripFault, LabCdn, TestCA

LADDER = (RenditionSpec(id="v1", width=160, height=90, bitrate_bps=150_000),)
DURATION_S = 6
KID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
KEY = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
STOP_WITHIN_S = 2.0


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
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


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> ContentInfo:
    spec = ContentSpec(duration_s=DURATION_S, ladder=LADDER, scheme="cenc", kid_hex=KID)
    info = generate_content(
        tmp_path_factory.mktemp("enc"),
        spec,
        encrypt=lambda d: package_mp4(d, key_id=KID, key=bytes.fromhex(KEY), scheme="cenc"),
    )
    write_keys_file(info.root / "keys.json", {KID: KEY})
    return info


@contextmanager
def cdn_for(content: ContentInfo, ca: TestCA) -> Iterator[Any]:
    handle = LabCdn(content.root, edges=1, ca=ca).start_in_thread()
    try:
        yield handle
    finally:
        handle.stop()


@contextmanager
def license_server(content: ContentInfo, *extra: str) -> Iterator[dict[str, Any]]:
    proc = start(
        "license", "serve", "--keys-file", str(content.root / "keys.json"),
        "--token", "qa=s3cret", "--token", "guest=g0", "--persistent", "qa", *extra,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        yield json.loads(proc.stdout.readline())
    finally:
        stop(proc)


def test_download_then_play_with_the_network_cut(
    content: ContentInfo, ca: TestCA, tmp_path: Path
) -> None:
    out = tmp_path / "movie"
    with cdn_for(content, ca) as cdn, license_server(content) as lic:
        result = run_cli(
            "download", f"{cdn.edges[0].base_url}/manifest.mpd", "--out", str(out),
            "--ca", cdn.ca_file, "--ca", lic["ca_file"], "--license-url", lic["license_url"],
            "--header", "Authorization: Bearer s3cret",
        )  # fmt: skip
        refused = run_cli(
            "download", f"{cdn.edges[0].base_url}/manifest.mpd", "--out", str(tmp_path / "x"),
            "--ca", cdn.ca_file, "--ca", lic["ca_file"], "--license-url", lic["license_url"],
            "--header", "Authorization: Bearer g0", "--quiet",
        )  # fmt: skip
    assert lic["persistent"] == ["qa"]
    assert result.returncode == 0, result.stderr
    assert f"play with: python -m player play {out / 'manifest.mpd'}" in result.stdout
    assert "license for 1 KIDs stored (from license-server, expires" in result.stderr
    assert KEY not in result.stdout + result.stderr
    assert refused.returncode == 1 and "HTTP 403 (persistent-license)" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    # the CDN and the license server are stopped
    report = tmp_path / "r.json"
    played = run_cli(
        "play", str(out / "manifest.mpd"), "--virtual-clock", "--quiet",
        "--report", str(report), "--hash-frames",
    )  # fmt: skip
    assert played.returncode == 0, played.stderr
    data = json.loads(report.read_text())
    assert data["final_state"] == "ended" and data["frames_decoded"] == DURATION_S * 25
    licenses = [e for e in data["events"] if e["type"] == "LicenseAcquired"]
    assert [e["source"] for e in licenses] == ["config"]
    # the same with the license given by the flag, moved out of the folder
    moved = tmp_path / "license-copy.json"
    shutil.copy(out / ".streamsdk-offline" / "license.json", moved)
    (out / ".streamsdk-offline" / "license.json").unlink()
    flagged = run_cli(
        "play", str(out / "manifest.mpd"), "--virtual-clock", "--quiet",
        "--offline-license", str(moved),
    )  # fmt: skip
    assert flagged.returncode == 0, flagged.stderr


def test_play_after_the_license_expired_fails_with_a_typed_error(
    content: ContentInfo, ca: TestCA, tmp_path: Path
) -> None:
    out = tmp_path / "rental"
    with (
        cdn_for(content, ca) as cdn,
        license_server(content, "--persistent-duration", "1.5") as lic,
    ):
        result = run_cli(
            "download", f"{cdn.edges[0].base_url}/manifest.mpd", "--out", str(out), "--quiet",
            "--ca", cdn.ca_file, "--ca", lic["ca_file"], "--license-url", lic["license_url"],
            "--header", "Authorization: Bearer s3cret",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    stored = json.loads((out / ".streamsdk-offline" / "license.json").read_text())
    wait = stored["expires_at_s"] - time.time()
    assert 0 < wait <= 1.5
    time.sleep(wait + 0.1)
    played = run_cli("play", str(out / "manifest.mpd"), "--virtual-clock", "--quiet")
    assert played.returncode == 1
    lines = played.stderr.strip().splitlines()
    assert len(lines) == 1 and "LicenseExpired" in lines[0] and "expired" in lines[0], lines


def test_ctrl_c_keeps_what_is_done_and_the_same_command_continues(
    content: ContentInfo, ca: TestCA, tmp_path: Path
) -> None:
    out = tmp_path / "slow"
    with cdn_for(content, ca) as cdn:
        cdn.edges[0].faults.set(
            DripFault(rate_bytes_per_s=2000, max_s=30), count=None, for_s=60, path_glob="*seg-3*"
        )
        command = (
            "download", f"{cdn.edges[0].base_url}/manifest.mpd", "--out", str(out),
            "--ca", cdn.ca_file, "--keys", f"{KID}:{KEY}", "--quiet",
        )  # fmt: skip
        proc = start(*command)
        journal = out / ".streamsdk-offline" / "journal.jsonl"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if journal.exists() and len(journal.read_text().splitlines()) >= 4:
                    break
                time.sleep(0.05)
            time.sleep(0.3)
            assert proc.poll() is None, "the download ended before the drip"
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
            took = time.monotonic() - sent
        finally:
            stop(proc)
        assert proc.returncode == 130, err
        assert took < STOP_WITHIN_S, f"stopped {took:.2f} s after SIGINT"
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "interrupted" in lines[0] and "run the same command" in lines[0]
        kept = len(journal.read_text().splitlines())
        assert kept >= 4 and not (out / "manifest.mpd").exists()
        assert not list(out.rglob("*.part")) or all(
            p.stat().st_size < 10**6 for p in out.rglob("*.part")
        )
        cdn.edges[0].faults.clear()
        again = run_cli(*command[:-1])  # with progress lines this time
    assert again.returncode == 0, again.stderr
    assert "already there" in again.stderr
    assert f"({kept} kept from a previous run)" in again.stdout
    played = run_cli("play", str(out / "manifest.mpd"), "--virtual-clock", "--quiet")
    assert played.returncode == 0, played.stderr
