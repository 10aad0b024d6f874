"""``python -m player probe`` in a subprocess, on the bundled examples and on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "manifests"


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


def test_probe_dash_example_json() -> None:
    result = probe(str(EXAMPLES / "vod.mpd"), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
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


def test_probe_hls_media_playlist_json_hides_key_material() -> None:
    result = probe(str(EXAMPLES / "vod_720p.m3u8"), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
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
    assert "000102030405060708090a0b0c0d0e0f" not in result.stdout


def test_probe_live_example_summary() -> None:
    result = probe(str(EXAMPLES / "live.m3u8"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("HLS dynamic presentation")
    assert "media sequence 1200" in result.stdout


def test_probe_malformed_manifest_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.m3u8"
    bad.write_bytes(b"#EXTM3U\n#EXTINF:abc,\nsegment.ts\n")
    result = probe(str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert "ManifestParseError" in lines[0] and "EXTINF" in lines[0]


def test_probe_not_a_manifest_and_missing_file(tmp_path: Path) -> None:
    html = tmp_path / "page.html"
    html.write_bytes(b"<html><body>hello</body></html>")
    result = probe(str(html))
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "UnsupportedManifest" in result.stderr
    missing = probe(str(tmp_path / "nope.mpd"))
    assert missing.returncode == 2
    assert missing.stderr.startswith("probe: cannot read")
