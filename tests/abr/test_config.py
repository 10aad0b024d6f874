"""Configuration validation, algorithm registry and input errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from abr_data import DATA, pensieve_video

import abr
from abr._cli import read_traces, read_video


@pytest.mark.parametrize(
    ("cls", "bad"),
    [
        (abr.AbrConfig, {"default_bandwidth_bps": 0.0}),
        (abr.AbrConfig, {"min_total_bytes": -1}),
        (abr.AbrConfig, {"latency_half_life_samples": 0.0}),
        (abr.AbrConfig, {"percentile_window_samples": 0}),
        (abr.AbrConfig, {"percentile_q": 101.0}),
        (abr.AbrConfig, {"abandon_after_buffer_fraction": 1.5}),
        (abr.AbrConfig, {"max_up_steps": -1}),
        (abr.AbrConfig, {"shift_error_window": 4}),
        (abr.AbrConfig, {"shift_sigmas": 0.0}),
        (abr.AbrConfig, {"plan_segments": 0}),
        (abr.ThroughputRuleConfig, {"safety": 0.0}),
        (abr.ThroughputRuleConfig, {"abandon_multiplier": 0.0}),
        (abr.BbaConfig, {"cushion_s": 0.0}),
        (abr.BolaConfig, {"gamma_p": 0.0}),
        (abr.MpcConfig, {"past_samples": 0}),
        (abr.MpcConfig, {"rebuffer_penalty": -1.0}),
        (abr.MpcConfig, {"size_offset": -1}),
        (abr.SimMode, {"payload_factor": 0.0}),
        (abr.SimMode, {"rtt_s": -0.1}),
        (abr.SimMode, {"abandon_check_bytes": 0.0}),
    ],
)
def test_out_of_range_values_fail_at_construction(cls: type, bad: dict[str, object]) -> None:
    with pytest.raises(abr.AbrConfigError):
        cls(**bad)


def test_config_errors_are_value_errors_with_a_code() -> None:
    assert issubclass(abr.AbrConfigError, ValueError)
    assert abr.AbrConfigError.code == "abr.config"
    assert abr.TraceFormatError.code == "abr.trace_format"


def test_registry_converts_and_rejects() -> None:
    cfg = abr.algorithm_config("bola", None, {"is_basic": "yes", "gamma_p": "4"})
    assert cfg.is_basic is True and cfg.gamma_p == 4.0
    assert abr.algorithm_config("robustmpc", abr.SimMode.pensieve()).size_offset == 1
    assert abr.algorithm_config("robustmpc", abr.SimMode.sabre()).size_offset == 0
    assert abr.algorithm_config("robustmpc", None, {"horizon": 3}).horizon == 3
    for bad in ({"is_basic": "maybe"}, {"gamma_p": "x"}, {"nope": "1"}):
        with pytest.raises(abr.AbrConfigError):
            abr.algorithm_config("bola", None, bad)
    with pytest.raises(abr.AbrConfigError):
        abr.make_controller("pensieve-rl")
    assert {abr.make_controller(n).name for n in abr.ALGORITHMS} == set(abr.ALGORITHMS)
    assert abr.make_estimator("bola").estimate_bps(0.0) == abr.AbrConfig().default_bandwidth_bps


def test_trace_and_video_validation() -> None:
    z = np.zeros(1)
    with pytest.raises(abr.TraceFormatError):
        abr.NetworkTrace("n", np.ones(2), np.ones(1), np.ones(2))
    with pytest.raises(abr.TraceFormatError):
        abr.NetworkTrace("n", np.ones(1), -np.ones(1), z)
    t = abr.NetworkTrace("n", np.array([1.0, 3.0]), np.array([4e6, 0.0]), np.zeros(2))
    assert t.mean_bps == 1e6
    with pytest.raises(abr.TraceFormatError):
        abr.parse_cooked_trace("0 1\n2 1\n1 1\n")  # time goes back
    with pytest.raises(abr.TraceFormatError):
        abr.parse_pensieve_video(["1\n2\n", "1\n"], bitrates_kbps=(1.0, 2.0))
    with pytest.raises(abr.TraceFormatError):
        abr.parse_pensieve_video(["x\n"], bitrates_kbps=(1.0,))
    ok = np.ones((1, 2))
    with pytest.raises(abr.TraceFormatError):
        abr.Video(
            segment_duration_s=1.0, bitrates_bps=np.array([1.0, 2.0]), sizes_bytes=np.ones((1, 3))
        )
    with pytest.raises(abr.TraceFormatError):
        abr.Video(segment_duration_s=0.0, bitrates_bps=np.array([1.0, 2.0]), sizes_bytes=ok)
    with pytest.raises(abr.TraceFormatError):
        abr.Video(segment_duration_s=1.0, bitrates_bps=np.array([1.0, 2.0]), sizes_bytes=0 * ok)
    v = pensieve_video()
    assert v.segments == 49 and v.sizes_bytes.shape == (49, 6)


def test_cli_readers(tmp_path: Path) -> None:
    sabre = read_traces([DATA / "sabre" / "network.json"])
    assert len(sabre) == 1 and sabre[0].latency_s.tolist() == [0.075, 0.15, 0.2, 0.15]
    with pytest.raises(abr.AbrError):
        read_traces([tmp_path / "missing"])
    with pytest.raises(abr.AbrError):
        read_traces([tmp_path])  # empty directory
    prefix = read_video(DATA / "pensieve" / "video_size_")
    assert prefix.segments == 49
    with pytest.raises(abr.AbrError):
        read_video(tmp_path)


def test_module_entry_point_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "abr", "simulate", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--algorithm" in out.stdout and "--mode" in out.stdout
