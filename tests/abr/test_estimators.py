from __future__ import annotations

import numpy as np
import pytest

import abr

NO_THRESHOLDS = abr.AbrConfig(min_total_bytes=0, min_sample_bytes=0)


def _feed(est: abr.ThroughputEstimator, mbps: float, seconds: float, now: float) -> float:
    """One transfer at ``mbps`` lasting ``seconds`` (plus 50 ms TTFB); returns the new clock."""
    nbytes = mbps * 1e6 / 8 * seconds
    now += seconds + 0.05
    est.on_sample(nbytes, 0.05, seconds + 0.05, now)
    return now


def test_ewma_default_until_enough_bytes() -> None:
    est = abr.EwmaEstimator(abr.AbrConfig())
    assert est.estimate_bps(0.0) == 1_000_000.0
    est.on_sample(10_000, 0.01, 0.1, 0.1)  # below min_sample_bytes: ignored
    assert est.estimate_bps(0.1) == 1_000_000.0
    est.on_sample(100_000, 0.01, 0.21, 0.3)  # counted, but 100 kB < min_total_bytes
    assert est.estimate_bps(0.3) == 1_000_000.0
    est.on_sample(100_000, 0.01, 0.21, 0.5)
    assert est.estimate_bps(0.5) == pytest.approx(4_000_000.0)


def test_ewma_falls_fast_rises_slowly_on_steps() -> None:
    est = abr.EwmaEstimator(NO_THRESHOLDS)
    now = 0.0
    for _ in range(20):
        now = _feed(est, 8.0, 1.0, now)
    assert est.estimate_bps(now) == pytest.approx(8e6, rel=1e-9)
    now = _feed(est, 2.0, 2.0, now)  # step down: the fast average (2 s half-life) leads
    after_down = est.estimate_bps(now)
    assert after_down == pytest.approx(8e6 * 0.5 + 2e6 * 0.5, rel=1e-3)
    for _ in range(10):
        now = _feed(est, 2.0, 1.0, now)
    low = est.estimate_bps(now)
    now = _feed(est, 8.0, 2.0, now)  # step up: the slow average (5 s) holds it back
    fast_only = low * 0.5 + 8e6 * 0.5
    assert low < est.estimate_bps(now) < fast_only - 1e5
    for _ in range(40):
        now = _feed(est, 8.0, 1.0, now)
    assert est.estimate_bps(now) == pytest.approx(8e6, rel=1e-2)


def test_ewma_latency_tracks_ttfb() -> None:
    est = abr.EwmaEstimator(NO_THRESHOLDS)
    assert est.estimate_latency_s(0.0) == 0.0
    est.on_sample(100_000, 0.1, 1.0, 1.0)
    assert est.estimate_latency_s(1.0) == pytest.approx(0.1)


def test_ewma_batch_rows_are_independent() -> None:
    est = abr.EwmaEstimator(NO_THRESHOLDS, sessions=3)
    rows = np.array([0, 2])
    est.on_sample_batch(
        rows, np.array([1e6, 2e6]), np.array([0.0, 0.0]), np.array([1.0, 1.0]), np.array([1.0, 1.0])
    )
    out = est.estimate_bps_batch(np.arange(3), np.ones(3))
    assert out.tolist() == pytest.approx([8e6, 1e6, 16e6])


def test_percentile_window_and_age() -> None:
    cfg = abr.AbrConfig(
        min_sample_bytes=0,
        percentile_q=50.0,
        percentile_window_samples=3,
        percentile_max_age_s=10.0,
    )
    est = abr.PercentileEstimator(cfg)
    for i, mbps in enumerate((1.0, 9.0, 2.0, 3.0)):
        est.on_sample(mbps * 125_000, 0.0, 1.0, float(i))
    assert est.estimate_bps(3.0) == pytest.approx(3e6)  # window holds 9, 2, 3
    assert est.estimate_bps(100.0) == cfg.default_bandwidth_bps  # all samples too old


def test_config_rejects_bad_values() -> None:
    with pytest.raises(abr.AbrConfigError):
        abr.AbrConfig(fast_half_life_s=0.0)
    with pytest.raises(abr.AbrConfigError):
        abr.AbrConfig(up_safety=0.99, down_safety=0.9)
    with pytest.raises(abr.AbrConfigError):
        abr.AbrConfig(min_switch_interval_s=-1.0)
    with pytest.raises(ValueError):
        abr.MpcConfig(horizon=0)
