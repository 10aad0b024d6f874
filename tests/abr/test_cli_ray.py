"""``--engine ray``: the same results as ``--engine local`` for the same seed, with progress.

Ray is the optional ``cluster`` extra; CI installs it with ``.[all]``, and a missing Ray fails
this test (it never skips). Ray runs in a child process: it starts a local Ray (raylet, object
store, workers) of its own, which must not share this process's warning filters or state.
"""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from abr_data import DATA
from proc_cpu import OwnCpuWatcher

from abr._cli import main


def _args(out: Path) -> list[str]:
    traces = sorted((DATA / "pensieve" / "cooked_test_traces").iterdir())[:10]
    args = ["compare", "--traces", *map(str, traces), "--video", str(DATA / "pensieve")]
    args += ["--algorithm", "hybrid", "--algorithm", "bba", "--algorithm", "robustmpc"]
    return [
        *args,
        "--sweep",
        "hybrid.up_safety=0.8,0.85",
        "--seed",
        "11",
        "--batch",
        "3",
        "--out",
        str(out),
    ]


def test_ray_engine_gives_the_local_results(tmp_path: Path) -> None:
    local_out, ray_out = tmp_path / "local.json", tmp_path / "ray.json"
    assert main([*_args(local_out), "--quiet", "--jobs", "1"]) == 0
    proc = subprocess.run(
        [sys.executable, "-m", "abr", *_args(ray_out), "--engine", "ray"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    local, ray = json.loads(local_out.read_text()), json.loads(ray_out.read_text())
    assert list(ray["algorithms"]) == [
        "hybrid[up_safety=0.8]",
        "hybrid[up_safety=0.85]",
        "bba",
        "robustmpc",
    ]
    assert ray == local  # every session, segment and aggregate, bit for bit
    # progress as with the local engine: one bar per job, each run to the end
    for label in ("hybrid[up_safety=0.8] (pensieve, ray)", "robustmpc (pensieve, ray)"):
        assert label in proc.stdout
    assert proc.stdout.count("100%") >= 4


def test_address_without_ray_engine_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*_args(tmp_path / "x.json"), "--quiet", "--address", "127.0.0.1:6379"]) == 2
    assert capsys.readouterr().err.endswith(": error: --address needs --engine ray\n")


STOP_WITHIN_S = 2.0
"""CPU seconds the command may spend after SIGINT (tests/proc_cpu.py)."""
STOP_WITHIN_WALL_S = 20.0


def test_ctrl_c_stops_a_ray_run_quickly_and_writes_partial_results(tmp_path: Path) -> None:
    """As ``tests/abr/test_cli_interrupt.py`` checks for the local engine: SIGINT once the
    batches are submitted (the run says so on stdout) stops within 2 s of CPU, exit 130, one line
    on stderr, and ``--out`` holds the batches finished, ``"state": "interrupted"``.

    Takes about 10 to 15 s: starting a local Ray is most of it.
    """
    out = tmp_path / "out.json"
    traces = [str(DATA / "pensieve" / "cooked_test_traces")] * 5  # 710 sessions
    proc = subprocess.Popen(
        [sys.executable, "-m", "abr", "simulate", "--traces", *traces,
         "--video", str(DATA / "pensieve"), "--batch", "1", "--engine", "ray",
         "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        while True:
            ready, _, _ = select.select(
                [proc.stdout], [], [], max(0.0, deadline - time.monotonic())
            )
            assert ready, "Ray did not start within 120 s"
            line = proc.stdout.readline()
            assert line, "the run ended before it said its batches were submitted"
            if line.startswith("Ray (local): 710 batches of 1 job(s) submitted"):
                break
        time.sleep(2.0)  # some batches finish
        assert proc.poll() is None, "the run ended before it could be interrupted"
        meter = OwnCpuWatcher(proc)
        meter.signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        took = meter.wall_s()
    finally:
        proc.kill()
        proc.communicate()  # close the pipes here, not in a later test's garbage collection
    assert proc.returncode == 130, err
    # The work of stopping, as the command's own CPU time (a loaded machine stretches the wall
    # time, mostly waiting for a core and for Ray's services to go: bounded loosely).
    cpu = meter.cpu_after_s()
    assert cpu < STOP_WITHIN_S, f"{cpu:.2f} s of CPU after SIGINT"
    assert took < STOP_WITHIN_WALL_S, f"stopped {took:.2f} s after SIGINT"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "interrupted (Ctrl-C) after" in lines[0], err
    document = json.loads(out.read_text())
    assert document["state"] == "interrupted"
    sessions = sum(a["aggregate"]["sessions"] for a in document["algorithms"].values())
    assert sessions < 710
