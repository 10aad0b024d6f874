"""The simulator and reference algorithms reproduce the published reference simulators.

Reference figures (issue 5, docs/abr.md): Pensieve's own simulator on its Norway test set
gives mean QoE_lin 30.04 for BB and 39.59 (per-session state) to 40.71 (state shared across
traces) for robustMPC; Sabre's on FCC-SD (bbb.json) gives 3542 kbps / 0.52 s for BOLA and
2839 kbps / 17.6 s for the throughput rule, and on FCC-HD (bbb4k.json) 13860 kbps / 1.32 s for
BOLA. Each must land within 3 %.
"""

from __future__ import annotations

import pytest
from abr_data import norway, pensieve_video, sabre_movie, sabre_set

import abr

TOLERANCE = 0.03


def _run(
    name: str, traces: tuple[abr.NetworkTrace, ...], video: abr.Video, mode: abr.SimMode
) -> dict[str, float]:
    ctrl = abr.make_controller(name, mode)
    return abr.simulate(
        ctrl, traces, video, mode=mode, estimator=abr.make_estimator(name)
    ).aggregate()


def _close(value: float, want: float) -> bool:
    return abs(value - want) <= TOLERANCE * abs(want)


def test_bb_matches_pensieve() -> None:
    agg = _run("bba", norway(), pensieve_video(), abr.SimMode.pensieve())
    assert agg["sessions"] == 142
    assert _close(agg["mean_qoe_lin"], 30.04), agg["mean_qoe_lin"]


def test_robust_mpc_matches_pensieve() -> None:
    agg = _run("robustmpc", norway(), pensieve_video(), abr.SimMode.pensieve())
    assert _close(agg["mean_qoe_lin"], 39.59), agg["mean_qoe_lin"]
    assert abs(agg["mean_switches"] - 9.3) < 0.5


@pytest.mark.parametrize(
    ("name", "folder", "movie", "kbps", "rebuffer_s"),
    [
        ("bola", "sd_fs", "bbb.json", 3542.0, 0.52),
        ("throughput", "sd_fs", "bbb.json", 2839.0, 17.6),
        ("bola", "hd_fs", "bbb4k.json", 13860.0, 1.32),
    ],
)
def test_matches_sabre(name: str, folder: str, movie: str, kbps: float, rebuffer_s: float) -> None:
    agg = _run(name, sabre_set(folder), sabre_movie(movie), abr.SimMode.sabre())
    assert agg["sessions"] == 1000
    assert _close(agg["mean_bitrate_kbps"], kbps), agg["mean_bitrate_kbps"]
    assert abs(agg["mean_rebuffer_s"] - rebuffer_s) <= max(TOLERANCE * rebuffer_s, 0.05), agg[
        "mean_rebuffer_s"
    ]
