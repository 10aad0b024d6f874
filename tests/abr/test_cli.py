"""The command line, run in-process on shared data: flags, JSON keys, plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from abr_data import DATA

from abr._cli import main

AGG_KEYS = {
    "sessions",
    "mean_qoe_lin",
    "mean_bitrate_kbps",
    "rebuffer_ratio",
    "mean_rebuffer_s",
    "mean_switches",
    "mean_startup_s",
}


def _norway_files(n: int) -> list[str]:
    return [str(p) for p in sorted((DATA / "pensieve" / "cooked_test_traces").iterdir())[:n]]


def test_simulate_writes_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, plot = tmp_path / "r.json", tmp_path / "r.png"
    args = ["simulate", "--traces", *_norway_files(5), "--video", str(DATA / "pensieve")]
    args += ["--algorithm", "hybrid", "--algorithm", "bba", "--mode", "pensieve"]
    args += ["--param", "up_after_down_s=12", "--out", str(out), "--plot", str(plot), "--quiet"]
    assert main(args) == 0
    doc = json.loads(out.read_text())
    assert set(doc["algorithms"]) == {"hybrid", "bba"}
    hybrid = doc["algorithms"]["hybrid"]
    assert AGG_KEYS <= set(hybrid["aggregate"])
    assert hybrid["aggregate"]["sessions"] == 5
    assert hybrid["config"]["up_after_down_s"] == 12.0
    assert doc["algorithms"]["bba"]["config"] == {"reservoir_s": 5.0, "cushion_s": 10.0}
    assert len(hybrid["sessions"]) == 5 and len(hybrid["sessions"][0]["segments"]["quality"]) == 48
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "mean_qoe_lin" in printed and "bba" in printed


def test_compare_and_sweep_on_sabre_traces(tmp_path: Path) -> None:
    traces = [str(p) for p in sorted((DATA / "sabre" / "4Glogs").iterdir())[:3]]
    out = tmp_path / "c.json"
    args = ["compare", "--traces", *traces, "--video", str(DATA / "sabre" / "bbb.json")]
    args += ["--mode", "sabre", "--algorithm", "hybrid", "--algorithm", "throughput"]
    args += ["--sweep", "up_safety=0.8,0.85", "--jobs", "1", "--out", str(out), "--quiet"]
    assert main(args) == 0
    doc = json.loads(out.read_text())
    assert set(doc["algorithms"]) == {
        "hybrid[up_safety=0.8]",
        "hybrid[up_safety=0.85]",
        "throughput",
    }
    assert doc["algorithms"]["hybrid[up_safety=0.8]"]["config"]["up_safety"] == 0.8
    assert doc["mode"]["name"] == "sabre"


def test_bad_parameter_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate", "--traces", *_norway_files(1), "--video", str(DATA / "pensieve")]
    assert main([*args, "--param", "nope=1", "--quiet"]) == 2
    assert "no selected algorithm has parameter 'nope'" in capsys.readouterr().err
    assert main([*args, "--param", "up_safety=fast", "--quiet"]) == 2
    assert "is not a float" in capsys.readouterr().err


def test_seeded_runs_reproduce_and_sweeps_run_in_parallel(tmp_path: Path) -> None:
    base = ["simulate", "--traces", *_norway_files(4), "--video", str(DATA / "pensieve"), "--quiet"]
    docs = []
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        out = tmp_path / f"{name}.json"
        args = [
            *base,
            "--seed",
            seed,
            "--sweep",
            "up_safety=0.8,0.85",
            "--jobs",
            "2",
            "--out",
            str(out),
        ]
        assert main(args) == 0
        docs.append(json.loads(out.read_text())["algorithms"])
    assert set(docs[0]) == {"hybrid[up_safety=0.8]", "hybrid[up_safety=0.85]"}
    assert docs[0] == docs[1]
    assert docs[0] != docs[2]
