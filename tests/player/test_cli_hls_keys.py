"""``play --hls-key URI:KEY`` / ``'*:KEY'`` and a keys file's ``hls_keys``: HLS identity keys
given on the command line, on FFmpeg's AES-128 output played from disk.

The playlist names its key ``keys/k.bin?token=...`` (relative, with a token in the query),
and no such file is served: playback works only when the key is given, and no output ever
shows the key or the token.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from player.cli._args import BadInput
from player.cli._cmd_download import config_from_args as download_config
from player.cli._keysfile import hls_key_arg, read_key_sets, read_keys_file, resolve_hls_keys
from player.cli._main import build_parser, main

KEY = "8f1ad3b0c9e2f7465a3b2c1d0e9f8a7b"
TOKEN = "s3cr3t-t0ken"
KEY_URI = f"keys/k.bin?token={TOKEN}"


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """Run ``python -m player`` in this process (fast; tests/test_cli_errors.py runs the
    real process for bad input)."""

    def run(*args: str) -> Run:
        try:
            status = main(list(args))
        except SystemExit as exc:  # argparse refusing a value
            status = int(exc.code or 0)
        captured = capsys.readouterr()
        return Run(status, captured.out, captured.err)

    return run


@pytest.fixture(scope="module")
def playlist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FFmpeg HLS MPEG-TS, AES-128, 2 s; the key is kept outside the served folder."""
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg is not None, "ffmpeg not found on PATH: run scripts/setup-dev.sh (CI does)"
    root = tmp_path_factory.mktemp("hls-keys")
    content = root / "content"
    content.mkdir()
    (root / "k.bin").write_bytes(bytes.fromhex(KEY))
    info = root / "key-info.txt"
    info.write_text(f"{KEY_URI}\n{root / 'k.bin'}\n", encoding="utf-8")
    # fmt: off
    subprocess.run(
        [
            ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25", "-t", "2",
            "-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p", "-threads", "1",
            "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod",
            "-hls_key_info_file", str(info), str(content / "index.m3u8"),
        ],
        check=True, timeout=60,
    )
    # fmt: on
    text = (content / "index.m3u8").read_text(encoding="utf-8")
    assert f'URI="{KEY_URI}"' in text
    return content / "index.m3u8"


PLAY = ("--virtual-clock", "--quiet")


def _nothing_leaked(result: Run) -> None:
    output = result.stdout + result.stderr
    assert KEY not in output.lower()
    assert TOKEN not in output


def test_hls_key_by_the_uri_the_playlist_names(playlist: Path, cli: Callable[..., Run]) -> None:
    result = cli("play", str(playlist), *PLAY, "--hls-key", f"{KEY_URI}:{KEY.upper()}")
    assert result.returncode == 0, result.stderr
    assert "PASS playback_completed" in result.stdout
    _nothing_leaked(result)


def test_one_hls_key_for_every_identity_key_from_a_keys_file(
    playlist: Path, tmp_path: Path, cli: Callable[..., Run]
) -> None:
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps({"hls_keys": {"*": KEY}}), encoding="utf-8")
    result = cli("play", str(playlist), *PLAY, "--keys-file", str(keys_file))
    assert result.returncode == 0, result.stderr
    _nothing_leaked(result)


def test_a_key_for_another_uri_is_not_used_and_the_error_hides_the_token(
    playlist: Path, cli: Callable[..., Run]
) -> None:
    """The key URI is fetched (404: no such file is served) and the failure names it
    without its query."""
    result = cli("play", str(playlist), *PLAY, "--hls-key", f"keys/other.bin:{KEY}")
    assert result.returncode == 1
    assert "keys/k.bin?<redacted>" in result.stdout + result.stderr
    _nothing_leaked(result)


@pytest.mark.parametrize(
    "value",
    [
        KEY,
        f"{KEY_URI}:{KEY[:-2]}",
        f":{KEY}",
        f"  :{KEY}",
        f"skd://{TOKEN}:{KEY}",
        f"{KEY_URI}={KEY}",
    ],
)
def test_malformed_hls_key_values_are_refused_without_echoing_them(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        hls_key_arg(value)
    assert KEY[:-2] not in str(info.value).lower() and TOKEN not in str(info.value)


def test_hls_key_values_keep_the_uri_as_written() -> None:
    assert hls_key_arg(f"{KEY_URI}:{KEY.upper()}") == (KEY_URI, KEY)
    data = "data:text/plain;base64,MTIzNDU2Nzg5MDEyMzQ1Ng=="
    assert hls_key_arg(f"{data}:{KEY * 2}") == (data, KEY * 2)
    assert hls_key_arg(f"https://k.example:8443/k?a=b:{KEY}") == (
        "https://k.example:8443/k?a=b",
        KEY,
    )
    assert resolve_hls_keys(
        {"keys/k.bin?t=1": KEY, "*": KEY, data: KEY, "https://x/k": KEY},
        manifest_url="https://127.0.0.1:8443/content/index.m3u8",
    ) == {
        "https://127.0.0.1:8443/content/keys/k.bin?t=1": KEY,
        "*": KEY,
        data: KEY,
        "https://x/k": KEY,
    }


def test_a_malformed_hls_key_exits_2_in_one_line_without_echoing_it(
    playlist: Path, cli: Callable[..., Run]
) -> None:
    result = cli("play", str(playlist), "--hls-key", f"skd://{TOKEN}:{KEY}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "python -m player play: error: argument --hls-key"
    )
    _nothing_leaked(result)


@pytest.mark.parametrize(
    "document",
    [
        {"hls_keys": {KEY_URI: KEY[:-2]}},
        {"hls_keys": {f"file:///{TOKEN}": KEY}},
        {"hls_keys": [KEY]},
        {"scheme": "cenc"},
    ],
)
def test_malformed_hls_keys_in_a_keys_file_are_refused_naming_the_file_only(
    tmp_path: Path, document: object
) -> None:
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(BadInput) as info:
        read_key_sets(keys_file)
    assert str(keys_file) in str(info.value)
    assert KEY[:-2] not in str(info.value).lower() and TOKEN not in str(info.value)


def test_a_keys_file_with_only_hls_keys_serves_no_license(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps({"hls_keys": {"*": KEY}}), encoding="utf-8")
    assert read_key_sets(keys_file).hls_keys == {"*": KEY}
    with pytest.raises(BadInput, match="no 'keys' object"):
        read_keys_file(keys_file)


def test_a_malformed_keys_file_exits_2_in_one_line(
    playlist: Path, tmp_path: Path, cli: Callable[..., Run]
) -> None:
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps({"hls_keys": {f"file:///{TOKEN}": KEY}}), encoding="utf-8")
    result = cli("play", str(playlist), *PLAY, "--keys-file", str(keys_file))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and str(keys_file) in result.stderr
    _nothing_leaked(result)


def test_download_takes_the_same_hls_keys(tmp_path: Path) -> None:
    """``download --hls-key`` / ``--keys-file``: resolved against the manifest URL given."""
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps({"hls_keys": {"*": KEY}}), encoding="utf-8")
    args = build_parser().parse_args(
        [
            "download",
            "https://cdn.example/show/index.m3u8?token=t",
            "--out",
            str(tmp_path / "out"),
            "--hls-key",
            f"{KEY_URI}:{KEY}",
            "--keys-file",
            str(keys_file),
        ]
    )
    config = download_config(args, ca_file=None)
    assert config.drm.hls_keys == {f"https://cdn.example/show/{KEY_URI}": KEY, "*": KEY}
