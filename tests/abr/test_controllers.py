"""Decisions of each algorithm at known inputs, from the papers' and reference code's rules."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import abr
from abr.testing import check_controller

PENSIEVE = [abr.Rung(k * 1e3) for k in abr.PENSIEVE_BITRATES_KBPS]


def _state(**kw: object) -> abr.AbrState:
    base: dict[str, object] = {
        "now": 100.0,
        "buffer_s": 20.0,
        "throughput_bps": 2e6,
        "ladder": PENSIEVE,
        "current": 2,
    }
    base.update(kw)
    return abr.AbrState(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", abr.ALGORITHMS)
def test_every_controller_passes_check_controller(name: str) -> None:
    decisions = check_controller(abr.make_controller(name), steps=40)
    assert len(decisions) == 40
    assert {d[0] for d in decisions} <= set(range(6))


@pytest.mark.parametrize(
    ("buffer_s", "want"),
    [(0.0, 0), (4.9, 0), (5.0, 0), (7.0, 1), (11.0, 3), (14.9, 4), (15.0, 5), (60.0, 5)],
)
def test_bba_maps_buffer_linearly_between_reservoir_and_cushion(buffer_s: float, want: int) -> None:
    assert abr.BbaController().select(_state(buffer_s=buffer_s)).index == want


def test_throughput_rule_uses_safety_and_latency() -> None:
    c = abr.ThroughputController()
    # 0.9 * 2 Mbit/s = 1.8 Mbit/s: 1850 does not fit, 1200 does.
    assert c.select(_state(throughput_bps=2e6)).index == 2
    # with 1.5 s latency, 1200 takes 1.5 + 4 * 1.2 / 1.8 = 4.17 s > 4 s
    c.reset()
    assert c.select(_state(throughput_bps=2e6, latency_s=1.5)).index == 1


def test_throughput_rule_insufficient_buffer_rule_caps_size() -> None:
    c = abr.ThroughputController()
    # 10 Mbit/s affords the top rung, but 1 s of buffer only covers 0.9 * 1 s * 10 Mbit = 9 Mbit:
    # 750 (3 Mbit per segment), 1200 (4.8) and 1850 (7.4) fit, 2850 (11.4) does not.
    d = c.select(_state(throughput_bps=10e6, buffer_s=1.0))
    assert (d.index, d.reason) == (3, abr.SelectReason.BUFFER)


def _hopeless(elapsed_s: float) -> abr.AbandonProgress:
    """A top-rung download at 0.44 Mbit/s so far: hopeless whenever it is judged."""
    return abr.AbandonProgress(
        now=1.0,
        index=5,
        ladder=PENSIEVE,
        size_bytes=2_150_000,
        downloaded_bytes=50_000 * (elapsed_s - 0.1) / 0.9,
        elapsed_s=elapsed_s,
        ttfb_s=0.1,
        buffer_s=0.2,
        segment_duration_s=4.0,
    )


def test_throughput_rule_abandons_hopeless_download() -> None:
    c = abr.ThroughputController()
    advice = c.decide_abandon(_hopeless(1.0))
    assert advice is not None and advice.index == 0  # 0.44 Mbit/s so far: 300 kbit/s fits


@pytest.mark.parametrize("name", ["throughput", "hybrid"])
def test_no_abandonment_advice_within_the_grace_period(name: str) -> None:
    """0.5 s grace (Sabre's and the hybrid's default): the same hopeless download, judged at
    the same rate, gets no advice before it and advice from it on."""
    c = abr.make_controller(name)
    grace = 0.5
    for elapsed in (0.15, 0.3, 0.45, grace - 1e-3):
        assert c.decide_abandon(_hopeless(elapsed)) is None, elapsed
    for elapsed in (grace, 0.55, 1.0):
        advice = c.decide_abandon(_hopeless(elapsed))
        assert advice is not None and advice.index == 0, elapsed
    longer = abr.make_controller(name, params={"abandon_grace_s": "0.8"})
    assert longer.decide_abandon(_hopeless(0.7)) is None
    assert longer.decide_abandon(_hopeless(0.8)) is not None


def test_bola_prefers_low_rung_at_empty_buffer_and_top_at_full() -> None:
    c = abr.BolaController(abr.BolaConfig(is_basic=True))
    assert c.select(_state(buffer_s=0.0, current=0)).index == 0
    c.reset()
    assert c.select(_state(buffer_s=24.0, current=5)).index == 5


def test_bola_score_formula_matches_paper() -> None:
    """BOLA picks argmax (V (u_m + gp) - Q) / S_m with u_m = ln(S_m / S_0)."""
    cfg = abr.BolaConfig(is_basic=True)
    rates = np.array(abr.PENSIEVE_BITRATES_KBPS)
    util = np.log(rates / rates[0])
    v = (cfg.buffer_target_s - 4.0) / (util[-1] + cfg.gamma_p)
    for q_buf in (2.0, 8.0, 12.0, 16.0, 20.0):
        want = int(np.argmax((v * (util + cfg.gamma_p) - q_buf) / rates))
        c = abr.BolaController(cfg)
        assert c.select(_state(buffer_s=q_buf, current=want)).index == want


def test_bola_up_switch_limited_by_throughput() -> None:
    c = abr.BolaController()
    # a full buffer asks for the top rung, but 1 Mbit/s sustains only 750: one rung above that
    d = c.select(
        _state(buffer_s=24.0, throughput_bps=1e6, current=0, segment_index=50, segments_total=100)
    )
    assert d.index == 2


def test_robust_mpc_plans_with_discounted_harmonic_mean() -> None:
    c = abr.RobustMpcController()
    for mbit in (2.0, 2.0, 2.0):  # three 2 Mbit/s downloads: prediction 2 Mbit/s, no error
        c.on_download(
            abr.DownloadReport(
                now=0.0,
                index=2,
                nbytes=mbit * 1e6 / 8 * 4,
                ttfb_s=0.0,
                duration_s=4.0,
                buffer_s=20.0,
            )
        )
    d = c.select(_state(buffer_s=8.0, current=2, throughput_bps=0.0))
    assert d.reason is abr.SelectReason.LOOKAHEAD
    assert d.index >= 2  # the plan starts at or above the 1200 kbit/s the link sustains
    c.on_download(
        abr.DownloadReport(
            now=0.0, index=2, nbytes=0.5e6 / 8 * 4, ttfb_s=0.0, duration_s=4.0, buffer_s=20.0
        )
    )
    # a 0.5 Mbit/s sample: harmonic mean falls and the 300 % error discounts it further
    assert c.select(_state(buffer_s=8.0, current=d.index, throughput_bps=0.0)).index < d.index


def test_hybrid_stability_windows_and_step_limit() -> None:
    cfg = abr.AbrConfig(min_switch_interval_s=8.0, max_up_steps=1)
    c = abr.HybridController(cfg)
    assert c.select(_state(now=0.0, current=None, buffer_s=0.0, throughput_bps=1.5e6)).index == 1
    c.on_download(
        abr.DownloadReport(
            now=1.0, index=1, nbytes=375_000, ttfb_s=0.05, duration_s=1.0, buffer_s=4.0
        )
    )
    settle = c.select(_state(now=1.0, current=1, buffer_s=4.0, throughput_bps=1.5e6))
    assert settle.index == 1  # affordable: 0.85 * 1.5 Mbit/s * (4 + 20 - 6) / 20 = 1.15 Mbit/s
    rich = 50e6
    first = c.select(_state(now=2.0, current=1, buffer_s=30.0, throughput_bps=rich))
    assert (first.index, first.reason) == (2, abr.SelectReason.STEP_LIMIT)
    held = c.select(_state(now=5.0, current=2, buffer_s=30.0, throughput_bps=rich))
    assert (held.index, held.reason) == (2, abr.SelectReason.STABILITY)
    assert c.select(_state(now=11.0, current=2, buffer_s=30.0, throughput_bps=rich)).index == 3


def test_hybrid_buffer_rules() -> None:
    c = abr.HybridController()
    c.on_download(
        abr.DownloadReport(now=1.0, index=4, nbytes=1e6, ttfb_s=0.05, duration_s=1.0, buffer_s=4.0)
    )
    c.select(_state(now=1.0, current=4, buffer_s=30.0, throughput_bps=5e6))  # settle
    low = c.select(_state(now=50.0, current=4, buffer_s=2.0, throughput_bps=1e6))
    # affordable at 1.05 * 1 Mbit/s * (2 + 20 - 6) / 20 = 0.84 Mbit/s: rung 1, at once
    assert (low.index, low.reason) == (1, abr.SelectReason.EMERGENCY)
    c.reset()
    c.select(_state(now=1.0, current=4, buffer_s=30.0, throughput_bps=5e6))
    hold = c.select(_state(now=50.0, current=4, buffer_s=40.0, throughput_bps=1e6))
    assert (hold.index, hold.reason) == (4, abr.SelectReason.HOLD_HIGH_BUFFER)
    c.reset()
    c.select(_state(now=1.0, current=1, buffer_s=30.0, throughput_bps=5e6))
    no_up = c.select(_state(now=50.0, current=1, buffer_s=3.0, throughput_bps=50e6))
    assert (no_up.index, no_up.reason) == (1, abr.SelectReason.LOW_BUFFER)


def test_hybrid_abandonment_advice() -> None:
    c = abr.HybridController()
    slow = abr.AbandonProgress(
        now=10.0,
        index=5,
        ladder=PENSIEVE,
        size_bytes=2_150_000,
        downloaded_bytes=100_000,
        elapsed_s=3.0,
        ttfb_s=0.1,
        buffer_s=2.0,
        latency_s=0.1,
        segment_duration_s=4.0,
    )
    advice = c.decide_abandon(slow)
    assert advice is not None and advice.index == 0 and advice.reason is abr.SelectReason.ABANDON
    fast = abr.AbandonProgress(
        **{**{f: getattr(slow, f) for f in slow.__slots__}, "downloaded_bytes": 2_000_000}
    )
    assert c.decide_abandon(fast) is None
    c.on_download(
        abr.DownloadReport(
            now=10.0,
            index=5,
            nbytes=1e5,
            ttfb_s=0.1,
            duration_s=3.0,
            buffer_s=2.0,
            is_abandoned=True,
            abandon_to=0,
        )
    )
    after = c.select(_state(now=10.0, current=5, buffer_s=8.0, throughput_bps=50e6))
    assert (after.index, after.reason) == (0, abr.SelectReason.AFTER_ABANDON)


def test_excluded_rungs_are_never_chosen() -> None:
    for name in abr.ALGORITHMS:
        c = abr.make_controller(name)
        d = c.select(
            _state(buffer_s=40.0, throughput_bps=50e6, current=5, excluded=frozenset({5, 4}))
        )
        assert d.index == 3 and d.reason is abr.SelectReason.EXCLUDED, name


def test_invalid_ladder_raises() -> None:
    with pytest.raises(abr.InvalidLadder):
        abr.HybridController().select(_state(ladder=[abr.Rung(2e6), abr.Rung(1e6)]))
    with pytest.raises(abr.InvalidLadder):
        abr.BbaController().select(_state(ladder=[]))


def test_live_mpc_uses_declared_sizes() -> None:
    """Tiny declared sizes make the top rung cheap; without them it is priced by bitrate."""
    state = _state(
        buffer_s=4.0, current=0, throughput_bps=1e6, segment_index=10, segments_total=100
    )
    assert abr.RobustMpcController().select(state).index < 5
    cheap = [[1000.0] * 6] * 5
    d = abr.RobustMpcController().select(dataclasses.replace(state, next_sizes_bytes=cheap))
    assert d.index == 5
    # past the end of the video nothing is fetched: only the last segment is planned
    end = dataclasses.replace(state, segment_index=99, buffer_s=30.0, current=5)
    assert abr.RobustMpcController().select(end).index == 5


def test_hybrid_plans_relative_to_the_buffer_cap() -> None:
    """Known cap: floor 0.24 x cap and a 0.6 x cap horizon; unknown: plan_floor_s, plan_segments.

    At 20 s of buffer and 1.5 Mbit/s, 5 segments of 4 s above a 6 s floor afford
    0.85 * 1.5 * (20 + 20 - 6) / 20 = 2.17 Mbit/s (rung 3); under a 60 s cap the plan keeps
    14.4 s and spans 9 segments: 0.85 * 1.5 * (20 + 36 - 14.4) / 36 = 1.47 Mbit/s (rung 2).
    A 25 s cap with 3 s segments reproduces the fixed plan (6 s floor, 5 segments) exactly.
    """
    first = _state(now=0.0, current=None, buffer_s=20.0, throughput_bps=1.5e6)
    assert abr.HybridController().select(first).index == 3
    capped = abr.HybridController().select(dataclasses.replace(first, max_buffer_s=60.0))
    assert capped.index == 2
    c = abr.HybridController()
    assert c._plan(_batch(max_buffer_s=25.0, segment_duration_s=3.0)) == (5, 6.0)
    assert c._plan(_batch(max_buffer_s=0.0, segment_duration_s=3.0)) == (5, 6.0)
    segments, floor_s = c._plan(_batch(max_buffer_s=60.0, segment_duration_s=4.0))
    assert segments == 9 and floor_s == pytest.approx(14.4)


def _batch(*, max_buffer_s: float, segment_duration_s: float) -> abr.BatchState:
    one = np.zeros(1)
    return abr.BatchState(
        sessions=np.zeros(1, dtype=np.int64),
        now=one,
        buffer_s=one,
        throughput_bps=one,
        latency_s=one,
        current=np.zeros(1, dtype=np.int64),
        bitrates_bps=np.array([1e6]),
        segment_duration_s=segment_duration_s,
        segment_index=np.zeros(1, dtype=np.int64),
        max_buffer_s=max_buffer_s,
    )


def _report(
    now: float, mbit_s: float, *, index: int = 1, abandoned: bool = False
) -> abr.DownloadReport:
    """A 4 s segment's download at ``mbit_s`` (1 s of transfer after a 0.05 s first byte)."""
    return abr.DownloadReport(
        now=now,
        index=index,
        nbytes=mbit_s * 1e6 / 8,
        ttfb_s=0.05,
        duration_s=1.05,
        buffer_s=20.0,
        is_abandoned=abandoned,
        abandon_to=0 if abandoned else None,
    )


def _steady(c: abr.HybridController, estimate_bps: float, *, steps: int = 6) -> float:
    """Feed ``steps`` decisions whose downloads measure exactly the estimate (no error)."""
    now = 0.0
    for _ in range(steps):
        c.select(_state(now=now, current=2, buffer_s=20.0, throughput_bps=estimate_bps))
        now += 4.0
        c.on_download(_report(now, estimate_bps / 1e6))
    return now


def test_hybrid_level_shift_needs_consecutive_samples_beyond_three_sigmas() -> None:
    """A steady 1 Mbit/s link (errors 0: spread at its 0.1 floor) jumps to 8 Mbit/s.

    At 20 s of buffer 1 Mbit/s affords 0.85 * 1 * (20 + 20 - 6) / 20 = 1.45 Mbit/s (rung 2).
    While the lagging estimate still says 1 Mbit/s, one fast sample is not enough; two are
    (ln 8 > 3 x 0.1), and the plan then uses 8 Mbit/s: rung 5.
    """
    c = abr.HybridController()
    now = _steady(c, 1e6)
    c.on_download(_report(now, 8.0))
    one = c.select(_state(now=now, current=2, buffer_s=20.0, throughput_bps=1e6))
    assert (one.index, one.reason) == (2, abr.SelectReason.THROUGHPUT)
    c.on_download(_report(now + 4.0, 8.0))
    two = c.select(_state(now=now + 4.0, current=2, buffer_s=20.0, throughput_bps=1e6))
    assert (two.index, two.reason) == (5, abr.SelectReason.LEVEL_SHIFT)


def test_hybrid_level_shift_threshold_scales_with_measured_error() -> None:
    """On a link whose samples scatter by 2x around the estimate, a 3x jump is noise."""
    c = abr.HybridController()
    now = 0.0
    for k in range(8):
        c.select(_state(now=now, current=2, buffer_s=20.0, throughput_bps=1e6))
        now += 4.0
        c.on_download(_report(now, 2.0 if k % 2 else 0.5))
    for _ in range(2):
        c.on_download(_report(now, 3.0))
    d = c.select(_state(now=now, current=2, buffer_s=20.0, throughput_bps=1e6))
    assert (d.index, d.reason) == (2, abr.SelectReason.THROUGHPUT)


def test_hybrid_up_switch_goes_straight_to_the_affordable_rung() -> None:
    c = abr.HybridController()
    c.on_download(_report(1.0, 1.0))
    c.select(_state(now=1.0, current=1, buffer_s=20.0, throughput_bps=1e6))  # settle
    d = c.select(_state(now=40.0, current=1, buffer_s=30.0, throughput_bps=50e6))
    assert (d.index, d.reason) == (5, abr.SelectReason.THROUGHPUT)


def _history(c: abr.HybridController, samples_mbit: list[float]) -> float:
    """Decide with a 1 Mbit/s estimate and measure ``samples_mbit``: the prediction errors."""
    now = 0.0
    for mbit in samples_mbit:
        c.select(_state(now=now, current=3, buffer_s=20.0, throughput_bps=1e6))
        now += 4.0
        c.on_download(_report(now, mbit))
    return now


def test_hybrid_after_a_down_switch_up_switches_need_a_margin_of_the_measured_error() -> None:
    """Within ``up_after_down_s`` of a down-switch an up-switch must stay affordable one robust
    standard deviation of the session's prediction errors below the estimate.

    At 12 s of buffer (5 segments of 4 s planned above a 6 s floor: a factor 1.3) 1 Mbit/s no
    longer affords rung 3 at 1.05 (1.37 Mbit/s): down to rung 2. Then 3 Mbit/s affords
    0.85 * 3 * 1.3 = 3.3 Mbit/s (rung 4). A steady link (spread at its 0.1 floor:
    0.85 * e^-0.1 * 3.9 = 3.0 Mbit/s) still affords rung 4 at once; on a link whose samples
    scatter 2x either way (spread 1.03: 1.2 Mbit/s) no rung above its own: it waits, as every
    session did until issue 13.
    """
    steady, scattered = abr.HybridController(), abr.HybridController()
    now = _history(steady, [1.0] * 8)
    _history(scattered, [2.0, 0.5] * 4)
    for c, want in (
        (steady, (4, abr.SelectReason.THROUGHPUT)),
        (scattered, (2, abr.SelectReason.STABILITY)),
    ):
        down = c.select(_state(now=now, current=3, buffer_s=12.0, throughput_bps=1e6))
        assert down.index == 2
        up = c.select(_state(now=now + 4.0, current=2, buffer_s=12.0, throughput_bps=3e6))
        assert (up.index, up.reason) == want
        # after the window, or with the buffer back above the waiver, the usual test applies
        late = c.select(_state(now=now + 40.0, current=2, buffer_s=12.0, throughput_bps=3e6))
        assert late.index == 4
