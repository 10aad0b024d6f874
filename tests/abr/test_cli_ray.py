"""``--engine ray``: the same results as ``--engine local`` for the same seed, with progress.

Ray is the optional ``cluster`` extra; CI installs it with ``.[all]``, and a missing Ray fails
this test (it never skips). Ray runs in a child process: it starts a local Ray (raylet, object
store, workers) of its own, which must not share this process's warning filters or state.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from abr_data import DATA

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
