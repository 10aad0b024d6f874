"""``python -m player probe`` in a subprocess, on the bundled examples and on bad input."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from player.cli._main import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "manifests"


def probe_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the same command in this process (fast); the subprocess tests cover the real exit."""
    status = main(["probe", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "player", "probe", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_probe_dash_example_summary() -> None:
    result = probe("examples/manifests/vod.mpd")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("DASH static presentation")
    assert "1280x720" in result.stdout
    assert result.stderr == ""


def test_probe_dash_example_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = probe_in_process(capsys, str(EXAMPLES / "vod.mpd"), "--json")
    assert status == 0, err
    data = json.loads(out)
    assert (data["format"], data["type"], data["duration_s"]) == ("dash", "static", 30.0)
    video = [r for r in data["representations"] if r["track_type"] == "video"]
    assert [(r["bandwidth_bps"], r["width"], r["height"]) for r in video] == [
        (800000, 640, 360),
        (2500000, 1280, 720),
        (5000000, 1920, 1080),
    ]
    assert {r["segment_count"] for r in data["representations"]} == {8}
    assert video[0]["kids"] == ["6f4c8a1e2b3d4e5f8a9b0c1d2e3f4a5b"]
    assert video[0]["codecs"] == "avc1.64001e"


def test_probe_hls_multivariant_json() -> None:
    result = probe(str(EXAMPLES / "vod.m3u8"), "--json", "--base-url", "https://cdn.example/v/")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["format"], data["type"], data["is_multivariant"]) == ("hls", "static", True)
    main = [r for r in data["representations"] if r["track_id"] == "main"]
    assert [r["height"] for r in main] == [360, 720, 1080]
    assert main[1]["playlist_urls"] == [
        "https://cdn.example/v/video/720p/playlist.m3u8",
        "https://backup.example.net/vod/video/720p/playlist.m3u8",
    ]
    assert {r["segment_count"] for r in data["representations"]} == {None}


def test_probe_hls_media_playlist_json_hides_key_material(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = probe_in_process(capsys, str(EXAMPLES / "vod_720p.m3u8"), "--json")
    assert status == 0, err
    data = json.loads(out)
    (rep,) = data["representations"]
    assert rep["segment_count"] == 4
    assert rep["init"]["byte_range"] == [0, 719]
    assert data["duration_s"] == 14.5
    assert rep["hls_keys"] == [
        {
            "method": "AES-128",
            "uri": "https://keys.example.net/vod/key1",
            "keyformat": "identity",
            "keyformat_versions": None,
            "kid": None,
            "has_iv": True,
        }
    ]
    assert "000102030405060708090a0b0c0d0e0f" not in out


def test_probe_live_example_summary(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = probe_in_process(capsys, str(EXAMPLES / "live.m3u8"))
    assert status == 0, err
    assert out.startswith("HLS dynamic presentation")
    assert "media sequence 1200" in out


def test_probe_malformed_manifest_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.m3u8"
    bad.write_bytes(b"#EXTM3U\n#EXTINF:abc,\nsegment.ts\n")
    result = probe(str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert "ManifestParseError" in lines[0] and "EXTINF" in lines[0]


def test_probe_not_a_manifest_and_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html = tmp_path / "page.html"
    html.write_bytes(b"<html><body>hello</body></html>")
    status, out, err = probe_in_process(capsys, str(html))
    assert (status, out) == (2, "")
    assert len(err.splitlines()) == 1
    assert "UnsupportedManifest" in err
    status, _, err = probe_in_process(capsys, str(tmp_path / "nope.mpd"))
    assert status == 2
    assert err.startswith("python -m player probe: error: cannot read")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def served_examples() -> Iterator[str]:
    """A real HTTP server on loopback serving ``examples/manifests``."""
    handler = functools.partial(_QuietHandler, directory=str(EXAMPLES))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_probe_fetches_http_urls_with_the_transport_client(served_examples: str) -> None:
    result = probe(served_examples + "vod_720p.m3u8", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["url"] == served_examples + "vod_720p.m3u8"
    (rep,) = data["representations"]
    assert rep["init"]["url"] == served_examples + "720p.mp4"
    missing = probe(served_examples + "missing.m3u8")
    assert missing.returncode == 1
    assert len(missing.stderr.splitlines()) == 1
    assert "404" in missing.stderr


def test_probe_media_loads_every_media_playlist_from_disk(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = probe_in_process(capsys, str(EXAMPLES / "vod.m3u8"), "--media", "--json")
    assert status == 0, err
    data = json.loads(out)
    assert data["duration_s"] == 30.0
    assert [r["segment_count"] for r in data["representations"]] == [8, 8, 8, 8, 8]
    assert [r["segments_duration_s"] for r in data["representations"]] == [30.0] * 5
    status, out, err = probe_in_process(capsys, str(EXAMPLES / "vod.m3u8"), "--media")
    assert status == 0, err
    assert "5 of 5 media playlists loaded" in out


def test_probe_media_missing_playlist_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    master = tmp_path / "master.m3u8"
    master.write_bytes(b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nmissing/media.m3u8\n")
    status, out, err = probe_in_process(capsys, str(master), "--media")
    assert (status, out) == (2, "")
    assert err.count("\n") == 1 and "cannot read" in err and "media.m3u8" in err


def test_probe_media_over_http(served_examples: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = probe_in_process(capsys, served_examples + "vod.m3u8", "--media", "--json")
    assert status == 0, err
    reps = json.loads(out)["representations"]
    assert [r["segment_count"] for r in reps] == [8, 8, 8, 8, 8]
    assert reps[0]["playlist_urls"][0] == served_examples + "video/360p/playlist.m3u8"
