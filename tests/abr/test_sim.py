"""The simulator: exact network arithmetic on small traces, determinism, records, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from abr_data import norway, pensieve_video, sabre_movie, sabre_set

import abr


def _video(sizes_kbit: list[list[float]], seg_s: float = 1.0) -> abr.Video:
    rates = np.array([1e6, 2e6])
    return abr.Video(
        segment_duration_s=seg_s, bitrates_bps=rates, sizes_bytes=np.array(sizes_kbit) * 125.0
    )


def _flat(mbps: float, *, seconds: float = 10.0, latency_s: float = 0.0) -> abr.NetworkTrace:
    return abr.NetworkTrace(
        "flat", np.array([seconds]), np.array([mbps * 1e6]), np.array([latency_s])
    )


def test_pensieve_mode_download_time_rtt_and_payload() -> None:
    """1000 kbit at 2 Mbit/s * 0.95 payload takes 0.526 s, plus 80 ms RTT."""
    mode = dataclasses.replace(abr.SimMode.pensieve(), first_index=0, unplayed_tail_segments=0)
    res = abr.simulate(abr.BbaController(), [_flat(2.0)], _video([[1000, 2000]] * 3), mode=mode)
    want = 1000e3 / (2e6 * 0.95) + 0.08
    assert res.download_s[0, 0] == pytest.approx(want)
    assert res.startup_s[0] == pytest.approx(want)
    # BBA at buffer 1 s stays at rung 0; buffer after segment k: 1 - (dl) + 1 ...
    assert res.quality[0].tolist() == [0, 0, 0]
    assert res.buffer_s[0, 0] == pytest.approx(1.0)
    assert res.rebuffer_s[0, 1] == pytest.approx(0.0)


def test_sabre_mode_latency_and_stall() -> None:
    mode = abr.SimMode.sabre()
    res = abr.simulate(
        abr.BbaController(), [_flat(0.5, latency_s=0.1)], _video([[1000, 2000]] * 2), mode=mode
    )
    # rung 0 (1000 kbit) at 0.5 Mbit/s: 2 s + 0.1 s latency; the second stalls 1.1 s
    assert res.download_s[0].tolist() == pytest.approx([2.1, 2.1])
    assert res.rebuffer_s[0].tolist() == pytest.approx([0.0, 1.1])
    assert res.metrics["stalls"][0] == 1
    assert res.metrics["rebuffer_s"][0] == pytest.approx(1.1)


def test_trace_loops_when_exhausted() -> None:
    trace = abr.NetworkTrace("two", np.array([1.0, 1.0]), np.array([1e6, 3e6]), np.zeros(2))
    mode = dataclasses.replace(abr.SimMode.sabre(), first_index=0)
    # 5000 kbit: 1 + 3 Mbit in the first loop (2 s), then 1 Mbit in 1 s of the second loop
    res = abr.simulate(abr.BbaController(), [trace], _video([[5000, 9000]]), mode=mode)
    assert res.download_s[0, 0] == pytest.approx(3.0)


def test_pensieve_mode_sleeps_in_quanta_over_the_cap() -> None:
    mode = dataclasses.replace(
        abr.SimMode.pensieve(), first_index=0, max_buffer_s=2.2, unplayed_tail_segments=0
    )
    res = abr.simulate(abr.BbaController(), [_flat(100.0)], _video([[10, 20]] * 4), mode=mode)
    assert np.all(res.buffer_s[0] <= 2.2 + 1e-9)
    assert np.all(res.buffer_s[0, 2:] > 2.2 - 0.5)  # slept whole 0.5 s quanta, no more


def test_same_inputs_same_outputs_bit_for_bit() -> None:
    traces, video, mode = sabre_set("sd_fs")[:40], sabre_movie("bbb.json"), abr.SimMode.sabre()
    runs = [
        abr.simulate(
            abr.make_controller("hybrid"),
            traces,
            video,
            mode=mode,
            estimator=abr.make_estimator("hybrid"),
        )
        for _ in range(2)
    ]
    assert np.array_equal(runs[0].quality, runs[1].quality)
    assert np.array_equal(runs[0].rebuffer_s, runs[1].rebuffer_s)
    assert runs[0].aggregate() == runs[1].aggregate()


def test_batched_equals_one_by_one() -> None:
    """Sessions do not influence each other: batch of 6 == six runs of 1."""
    traces, video, mode = norway()[:6], pensieve_video(), abr.SimMode.pensieve()
    batch = abr.simulate(abr.make_controller("robustmpc", mode), traces, video, mode=mode)
    for i, t in enumerate(traces):
        one = abr.simulate(abr.make_controller("robustmpc", mode), [t], video, mode=mode)
        assert one.quality[0].tolist() == batch.quality[i].tolist()
        assert one.metrics["qoe_lin"][0] == pytest.approx(batch.metrics["qoe_lin"][i])


def test_concat_and_aggregate_keys() -> None:
    traces, video, mode = norway()[:4], pensieve_video(), abr.SimMode.pensieve()
    parts = [abr.simulate(abr.BbaController(), traces[i : i + 2], video, mode=mode) for i in (0, 2)]
    whole = abr.simulate(abr.BbaController(), traces, video, mode=mode)
    joined = abr.SimResult.concat(parts)
    assert joined.trace_names == whole.trace_names
    assert joined.aggregate() == pytest.approx(whole.aggregate())
    agg = whole.aggregate()
    for key in (
        "sessions",
        "mean_qoe_lin",
        "mean_bitrate_kbps",
        "rebuffer_ratio",
        "mean_rebuffer_s",
        "mean_switches",
        "mean_startup_s",
    ):
        assert key in agg
    with pytest.raises(abr.AbrConfigError):
        abr.SimResult.concat([])


def test_simulate_rejects_bad_input() -> None:
    with pytest.raises(abr.AbrConfigError):
        abr.simulate(abr.BbaController(), [], pensieve_video())
    with pytest.raises(abr.AbrConfigError):
        abr.SimMode.named("dash.js")


def test_parsers_reject_garbage() -> None:
    with pytest.raises(abr.TraceFormatError):
        abr.parse_cooked_trace("0.0 1.0\n")
    with pytest.raises(abr.TraceFormatError):
        abr.parse_cooked_trace("0 1\nx y\n")
    with pytest.raises(abr.TraceFormatError):
        abr.parse_sabre_network(b"{}")
    with pytest.raises(abr.TraceFormatError):
        abr.parse_sabre_movie(b"[1, 2]")
    with pytest.raises(abr.TraceFormatError):
        abr.parse_cooked_trace("0 0\n1 0\n")  # carries no data
    with pytest.raises(abr.InvalidLadder):
        abr.Video(
            segment_duration_s=1.0, bitrates_bps=np.array([2.0, 1.0]), sizes_bytes=np.ones((1, 2))
        )


def test_qoe_variants() -> None:
    kbps = np.array([[300.0, 750.0, 1850.0]])
    stall = np.array([[5.0, 1.0, 0.0]])
    lin = abr.qoe(kbps, stall)[0]
    assert lin == pytest.approx(0.75 - 4.3 - 0.45 + 1.85 - 1.1)
    log = abr.qoe(kbps, stall, kind="log")[0]
    assert log == pytest.approx(
        np.log(2.5) - 2.66 - np.log(2.5) + np.log(1850 / 300) - np.log(1850 / 750)
    )
    hd = abr.qoe(kbps, stall, kind="hd", from_segment=0)[0]
    assert hd == pytest.approx(1 - 8 * 5 + 2 - 8 - 1 + 12 - 10)


def test_random_start_is_seeded() -> None:
    traces, video, mode = norway()[:8], pensieve_video(), abr.SimMode.pensieve()

    def run(seed: int | None) -> abr.SimResult:
        rng = None if seed is None else np.random.default_rng(seed)
        return abr.simulate(abr.HybridController(), traces, video, mode=mode, rng=rng)

    a, b, c, plain = run(1), run(1), run(2), run(None)
    assert np.array_equal(a.quality, b.quality) and np.array_equal(a.rebuffer_s, b.rebuffer_s)
    assert not np.array_equal(a.download_s, c.download_s)
    assert not np.array_equal(a.download_s, plain.download_s)


class _Probe(abr.BatchController):
    """Fetches rung 1 after a first rung-0 segment; records every abandonment check point."""

    name = "probe"

    def _reset_state(self, sessions: int) -> None:
        self.points: list[float] = []

    def _choose(self, state: abr.BatchState) -> tuple[np.ndarray, np.ndarray]:
        index = np.where(state.segment_index > 0, 1, 0).astype(np.int64)
        return index, np.zeros(len(index), dtype=np.int64)

    def decide_abandon_batch(self, progress: abr.BatchProgress) -> np.ndarray:
        self.points += progress.elapsed_s.tolist()
        return np.full(len(progress.sessions), -1, dtype=np.int64)


def test_abandonment_checks_follow_sabres_rule_through_a_starved_period() -> None:
    """Checks come every 50 ms while each 50 ms brings 1500 bytes, else every 1500 bytes.

    1 MB/s for 0.5 s, then 12 kB/s for 1 s (1500 bytes take 125 ms), then 1 MB/s again; the
    second segment (600 kB, requested at 1 ms) is checked 0.05 s apart, then 0.125 s apart,
    then 0.05 s apart again, each check at least 50 ms and 1500 bytes after the previous one.
    """
    trace = abr.NetworkTrace(
        "starved", np.array([0.5, 1.0, 10.0]), np.array([8e6, 96e3, 8e6]), np.zeros(3)
    )
    video = abr.Video(
        segment_duration_s=1.0,
        bitrates_bps=np.array([8e3, 4.8e6]),
        sizes_bytes=np.array([[1000.0, 1000.0], [1000.0, 600_000.0]]),
    )
    probe = _Probe()
    abr.simulate(probe, [trace], video, mode=abr.SimMode.sabre())
    start, step, need = 0.001, 0.05, 1500.0

    def bytes_by(t: float) -> float:  # bytes of the second segment by trace time t
        done = min(t, 0.5) * 1e6 + max(0.0, min(t, 1.5) - 0.5) * 12e3 + max(0.0, t - 1.5) * 1e6
        return done - 1000.0

    def time_of(b: float) -> float:  # trace time by which b bytes of it arrived
        b += 1000.0
        if b <= 0.5e6:
            return b / 1e6
        if b <= 0.5e6 + 12e3:
            return 0.5 + (b - 0.5e6) / 12e3
        return 1.5 + (b - 0.512e6) / 1e6

    want, t = [], start
    while True:
        t = max(t + step, time_of(bytes_by(t) + need))
        if t >= time_of(600_000.0):
            break
        want.append(t - start)
    got = probe.points
    assert len(got) == len(want)
    assert got == pytest.approx(want, abs=1e-9)
    gaps = np.diff(got)
    assert gaps.min() == pytest.approx(step) and gaps.max() == pytest.approx(0.125)


def test_abandonment_polling_does_not_depend_on_the_batch() -> None:
    """Check points are computed from a grid's origin, not from the last check of a pass, so a
    session checked alongside many others gives bit for bit what it gives alone."""
    traces, video, mode = sabre_set("sd_fs")[:24], sabre_movie("bbb.json"), abr.SimMode.sabre()
    for name in ("hybrid", "bola"):
        est = abr.make_estimator(name)
        batch = abr.simulate(
            abr.make_controller(name, mode), traces, video, mode=mode, estimator=est
        )
        for i in (0, 7, 23):
            one = abr.simulate(
                abr.make_controller(name, mode), [traces[i]], video, mode=mode, estimator=est
            )
            assert one.quality[0].tolist() == batch.quality[i].tolist(), (name, i)
            assert one.end_time_s[0].tolist() == batch.end_time_s[i].tolist(), (name, i)
