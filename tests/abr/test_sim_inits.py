"""Init segments in the simulator: one request the first time a session uses a rung.

A player fetches a rung's initialization segment before its first media segment (and never
again); the simulator does the same when ``Video.init_sizes_bytes`` is given, so a simulated
session pays the extra round trip a real one pays (``python -m player fidelity`` measured it).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import abr


def _video(inits_kbit: list[float] | None, segments: int = 3) -> abr.Video:
    return abr.Video(
        segment_duration_s=1.0,
        bitrates_bps=np.array([1e6, 2e6]),
        sizes_bytes=np.array([[1000.0, 2000.0]] * segments) * 125.0,
        init_sizes_bytes=None if inits_kbit is None else np.array(inits_kbit) * 125.0,
    )


def _flat(mbps: float, latency_s: float) -> abr.NetworkTrace:
    return abr.NetworkTrace("flat", np.array([10.0]), np.array([mbps * 1e6]), np.array([latency_s]))


def test_first_use_of_a_rung_pays_one_more_request() -> None:
    """Rung 0 throughout: its init (10 kbit) once, before the first segment only."""
    mode = abr.SimMode.sabre()
    res = abr.simulate(abr.BbaController(), [_flat(0.5, 0.1)], _video([10.0, 20.0]), mode=mode)
    init_s = 0.1 + 10e3 / 0.5e6
    assert res.quality[0].tolist() == [0, 0, 0]
    assert res.download_s[0].tolist() == pytest.approx([init_s + 2.1, 2.1, 2.1])
    assert res.startup_s[0] == pytest.approx(init_s + 2.1)
    assert res.rebuffer_s[0].tolist() == pytest.approx([0.0, 1.1, 1.1])
    plain = abr.simulate(abr.BbaController(), [_flat(0.5, 0.1)], _video(None), mode=mode)
    assert plain.download_s[0].tolist() == pytest.approx([2.1, 2.1, 2.1])


def test_a_switch_fetches_the_new_rungs_init_and_its_wait_can_stall() -> None:
    """Forced to rung 1 first, BBA drops to rung 0 at once: each rung's init on first use."""
    mode = dataclasses.replace(abr.SimMode.sabre(), first_index=1)
    res = abr.simulate(abr.BbaController(), [_flat(1.0, 0.05)], _video([40.0, 80.0]), mode=mode)
    assert res.quality[0].tolist() == [1, 0, 0]
    first = 0.05 + 80e3 / 1e6 + 0.05 + 2000e3 / 1e6
    second = 0.05 + 40e3 / 1e6 + 0.05 + 1000e3 / 1e6
    assert res.download_s[0].tolist() == pytest.approx([first, second, 1.05])
    # 1 s buffered after the first segment: the init and the segment take 1.14 s
    assert res.rebuffer_s[0].tolist() == pytest.approx([0.0, second - 1.0, 0.05])
    assert res.metrics["stalls"][0] == 2


def test_pensieve_mode_adds_its_rtt_to_the_init_request_too() -> None:
    mode = dataclasses.replace(abr.SimMode.pensieve(), first_index=0, unplayed_tail_segments=0)
    res = abr.simulate(abr.BbaController(), [_flat(2.0, 0.0)], _video([19.0, 38.0]), mode=mode)
    init_s = 19e3 / (2e6 * 0.95) + 0.08
    seg_s = 1000e3 / (2e6 * 0.95) + 0.08
    assert res.download_s[0, 0] == pytest.approx(init_s + seg_s)


def test_batch_rows_pay_their_own_inits() -> None:
    """Sessions are independent: a row's first use does not mark another row's rung."""
    traces = [_flat(0.5, 0.1), _flat(4.0, 0.1)]
    mode = abr.SimMode.sabre()
    both = abr.simulate(abr.BbaController(), traces, _video([10.0, 20.0]), mode=mode)
    for i, trace in enumerate(traces):
        one = abr.simulate(abr.BbaController(), [trace], _video([10.0, 20.0]), mode=mode)
        assert both.download_s[i].tolist() == one.download_s[0].tolist()


def test_video_checks_the_init_sizes() -> None:
    with pytest.raises(abr.TraceFormatError):
        _video([10.0])
    with pytest.raises(abr.TraceFormatError):
        _video([10.0, -1.0])
