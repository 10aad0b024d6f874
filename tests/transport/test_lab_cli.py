"""``python -m transport lab``: one JSON line, real servers, clean exit on SIGINT/SIGTERM."""

from __future__ import annotations

import json
import os
import selectors
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import H3Get

from abr._cli import main as abr_main
from transport._cli import build_parser
from transport._cli import main as cli_main

ROOT = Path(__file__).resolve().parents[2]


def start_lab(*args: str) -> tuple[subprocess.Popen[str], dict[str, object]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "transport", "lab", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=15.0):
            proc.kill()
            proc.communicate(timeout=5)  # closes the pipes (no ResourceWarning in a later test)
            pytest.fail("lab printed nothing within 15 s")
    line = proc.stdout.readline()
    return proc, json.loads(line)


@pytest.fixture
def media(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "media"
    (root / "v").mkdir(parents=True)
    (root / "v" / "seg.m4s").write_bytes(bytes(range(256)) * 40)
    yield root


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_lab_command_serves_and_exits_cleanly(
    media: Path, tmp_path: Path, h3_get: H3Get, signum: int
) -> None:
    ca_dir = tmp_path / "ca"
    proc, info = start_lab("--root", str(media), "--edges", "2", "--ca-dir", str(ca_dir))
    try:
        assert sorted(info) == ["ca_file", "edges", "origin"]
        assert info["ca_file"] == str(ca_dir / "ca.pem")
        edges = info["edges"]
        assert isinstance(edges, list) and len(edges) == 2
        urls = [*edges, info["origin"]]
        assert all(isinstance(u, str) and u.startswith("https://127.0.0.1:") for u in urls)
        ctx = ssl.create_default_context(cafile=str(info["ca_file"]))
        async with httpx.AsyncClient(verify=ctx, http2=True) as client:
            bodies = [(await client.get(f"{u}/v/seg.m4s")).content for u in urls]
        assert bodies == [bytes(range(256)) * 40] * 3
        h3 = await h3_get(f"{edges[1]}/v/seg.m4s", ca_file=str(info["ca_file"]))
        assert h3.status == 200 and h3.body == bytes(range(256)) * 40
    finally:
        proc.send_signal(signum)
        rc = proc.wait(10)
        _, stderr = proc.communicate(timeout=5)
    assert rc == 0, stderr
    assert "Traceback" not in stderr
    assert (ca_dir / "ca.pem").exists()  # a CA directory that was given is kept


def test_lab_command_stop_after_and_temporary_ca(media: Path) -> None:
    proc, info = start_lab("--root", str(media), "--edges", "1", "--stop-after", "0.5")
    _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    assert len(info["edges"]) == 1  # type: ignore[arg-type]
    assert not Path(str(info["ca_file"])).exists()  # the temporary CA is removed


def test_lab_duration_is_a_hidden_alias_of_stop_after(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--duration`` was the flag's name: old command lines keep working, --help shows
    only the unambiguous ``--stop-after``."""
    parser = build_parser()
    for flag in ("--stop-after", "--duration"):
        args = parser.parse_args(["lab", "--root", str(tmp_path), flag, "2.5"])
        assert args.stop_after == 2.5
    with pytest.raises(SystemExit):
        cli_main(["lab", "--help"])
    shown = capsys.readouterr().out
    assert "--stop-after SECONDS" in shown and "--duration" not in shown


async def test_lab_command_with_emulated_edges(media: Path, tmp_path: Path) -> None:
    sabre = tmp_path / "100kbit.json"
    sabre.write_text(json.dumps([{"duration_ms": 60_000, "bandwidth_kbps": 100, "latency_ms": 0}]))
    # the documented route from any trace format to the emulator's archive
    assert abr_main(["traces", "convert", str(sabre), "--to", "npz", "--out", str(tmp_path)]) == 0
    trace = tmp_path / "100kbit.npz"
    proc, info = start_lab(
        "--root", str(media), "--edges", "1", "--trace", str(trace), "--delay-s", "0.02"
    )
    try:
        edges, direct = info["edges"], info["direct_edges"]
        assert isinstance(edges, list) and isinstance(direct, list)
        assert len(edges) == len(direct) == 1 and edges != direct
        ctx = ssl.create_default_context(cafile=str(info["ca_file"]))
        async with httpx.AsyncClient(verify=ctx) as client:
            started = time.monotonic()
            shaped = await client.get(f"{edges[0]}/v/seg.m4s")
            shaped_s = time.monotonic() - started
            started = time.monotonic()
            plain = await client.get(f"{direct[0]}/v/seg.m4s")
            plain_s = time.monotonic() - started
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    assert shaped.content == plain.content == bytes(range(256)) * 40
    # 10 240 body bytes (+ TLS handshake and headers) at 100 kbit/s: at least 0.8 s
    assert 0.8 <= shaped_s < 4.0
    assert plain_s + 0.4 < shaped_s


def test_lab_command_rejects_a_bad_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.json").write_text("[{}]")
    args = build_parser().parse_args(
        ["lab", "--root", str(tmp_path), "--trace", str(tmp_path / "bad.json")]
    )
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert "not a trace archive" in err and "python -m abr traces convert" in err


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--loss", "1.5"], "--loss 1.5 must be below 1"),
        (["--loss", "x"], "argument --loss: 'x' is not a number"),
        (["--datagram-size", "9000"], "--datagram-size 9000 is not within 1200 to 1452"),
        (["--edges", "-1"], "argument --edges: '-1' must not be negative"),
        (["--stop-after", "0"], "argument --stop-after: '0' must be a number greater than 0"),
        (["--duration", "0"], "argument --duration: '0' must be a number greater than 0"),
        (["--delay-s", "-0.1"], "argument --delay-s: '-0.1' must be a number of at least 0"),
        (["--trace", "/nope.npz"], "argument --trace: no such file: /nope.npz"),
        (["--root", "{root}/nope"], "argument --root: no such directory: {root}/nope"),
        (["--root", "{root}/a-file"], "argument --root: {root}/a-file is not a directory"),
        (
            ["--ca-dir", "{root}/a-file/ca"],
            "argument --ca-dir: cannot create the folder for {root}/a-file/ca",
        ),
        (["--ca-dir", "{root}/a-file"], "argument --ca-dir: {root}/a-file exists and is not a"),
        (
            ["--request-log", "{root}/a-file/r.jsonl"],
            "argument --request-log: cannot create the folder for {root}/a-file/r.jsonl",
        ),
    ],
)
def test_lab_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], expected: str
) -> None:
    (tmp_path / "a-file").write_text("")
    extra = [arg.format(root=tmp_path) for arg in extra]
    expected = expected.format(root=tmp_path)
    try:
        status = cli_main(["lab", "--root", str(tmp_path), *extra])
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    out, err = capsys.readouterr()
    assert (status, out) == (2, "")
    assert len(err.splitlines()) == 1 and expected in err, err
