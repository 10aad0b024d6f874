"""The simulator's side of a fidelity run: the player's loop as an ``abr.SimMode``.

``simulate`` plays the lab ladder's real segment (and init) sizes over each trace with the
controller the real session uses, hiding segment sizes from it as the player's manifest does;
the session starts after a modelled setup (handshake and manifest) and reads the trace as the
emulator's link carries it. ``sim_spread`` runs it again with the request timing perturbed by
as much as the real sessions' measured jitter: the range a figure takes there is how far the
simulator disagrees with itself, which a real session cannot be expected to beat.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

import abr
from player.cli._fidelity_inputs import FidelityPlan, Ladder, rotated, with_latency

__all__: list[str] = []

SPREAD_OVERHEAD_S = (-0.003, 0.0, 0.011)
"""``sim_spread``: added to the plan's request overhead (at least 0 in all). Per request, the
real sessions took 8.6-9.7 ms beyond the RTT and the link's model at the median (the time
beyond the model plus the gap before the next request), 6 ms at the 10th percentile, and 17-23 ms
on average with a load average of 6-14 (docs/abr.md): from the fastest tenth to the loaded mean.
"""

SPREAD_START_S = (-0.1, 0.0, 0.1)
"""``sim_spread``: added to the modelled setup, seconds. Real first requests came up to 0.1 s
away from the model's (more when start-ups competed for the CPU)."""


class _SizeBlindController:
    """Hides segment sizes from a controller, as the player does: it sees declared bitrates.

    The simulator gives controllers every segment's size (Pensieve's ``video_size`` files,
    Sabre movies); a player reading a ``SegmentTemplate`` MPD knows only the declared
    bandwidths (``AbrState.next_sizes_bytes`` is ``None``). The network still carries the real
    sizes in both. Everything else is the wrapped controller's.
    """

    def __init__(self, inner: abr.BatchController) -> None:
        self._inner = inner

    def select_batch(self, state: abr.BatchState) -> Any:
        return self._inner.select_batch(dataclasses.replace(state, sizes_bytes=None))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def player_mode(plan: FidelityPlan) -> abr.SimMode:
    """The simulator mode of the player's loop under ``plan``.

    The player requests a segment while less than ``buffering_goal_s`` is buffered, so the
    buffer peaks just under goal + one segment: Sabre's rule (wait until one segment fits under
    the cap) with that cap. Latency is paid on the trace clock before each first byte (the
    trace's latency is set to the emulated RTT plus the request overhead); abandonment is
    polled as often as the player polls it; the first segment is the controller's own choice.
    """
    playback = plan.playback
    return abr.SimMode(
        name="player",
        rtt_s=0.0,
        is_trace_latency=True,
        payload_factor=plan.payload_factor,
        max_buffer_s=playback.buffering_goal_s + plan.segment_s,
        drain_quantum_s=0.0,
        first_index=-1,
        qoe_from_segment=0,
        unplayed_tail_segments=0,
        is_abandonment=True,
        abandon_check_bytes=1.0,
        abandon_check_interval_s=playback.abandon_check_interval_s,
    )


def setup_s(plan: FidelityPlan, ladder: Ladder, trace: abr.NetworkTrace) -> float:
    """Modelled time from ``load()`` to the first request the simulator makes (an init).

    ``setup_rtts`` requests in turn (the QUIC handshake, then the manifest), each a round trip
    plus the request overhead; the answer to each crosses the shaped link, the last one with
    the manifest's bytes, so an outage holds them up as it would. Times are the client's; the
    link runs half a round trip earlier (``link_lead_s``).
    """
    if plan.setup_rtts == 0:
        return 0.0
    half = link_lead_s(plan)
    latency = plan.rtt_s + plan.request_overhead_s
    bits = 8.0 * ladder.manifest_bytes / plan.payload_factor
    t = 0.0
    for i in range(plan.setup_rtts):
        last = i == plan.setup_rtts - 1
        t = _carried_by(trace, t + latency - half, bits if last else 0.0) + half
    return t


def link_lead_s(plan: FidelityPlan) -> float:
    """How far the emulated link's clock runs ahead of the client's: half a round trip.

    A byte the client receives at ``t`` left the bottleneck at ``t - rtt/2`` (the emulator
    delays each direction by half the RTT), so the rate that carried it is the trace's at
    ``t - rtt/2``. The simulator has one clock: its trace is delayed by this much.
    """
    return plan.rtt_s / 2


def _carried_by(trace: abr.NetworkTrace, start_s: float, bits: float) -> float:
    """When a link following ``trace`` (not looping) has carried ``bits`` sent from ``start_s``.

    Outages (rate 0) are waited out; past the trace's end its last rate holds.
    """
    t = 0.0
    durations: list[float] = trace.durations_s.tolist()
    rates: list[float] = trace.bandwidth_bps.tolist()
    for duration, rate in zip(durations, rates, strict=True):
        end = t + duration
        if end > start_s:
            begin = max(t, start_s)
            if rate > 0 and bits <= rate * (end - begin):
                return begin + bits / rate
            bits -= rate * (end - begin)
            start_s = end
        t = end
    last = rates[-1] if rates and rates[-1] > 0 else 1.0
    return max(t, start_s) + bits / last


def simulate(
    plan: FidelityPlan,
    ladder: Ladder,
    traces: Sequence[abr.NetworkTrace],
    *,
    start_shift_s: float = 0.0,
) -> list[dict[str, Any]]:
    """Simulate every trace; per trace the records the comparison reads.

    Each simulated session starts after the modelled setup (plus ``start_shift_s``): its trace
    is rotated by it (less the link's lead, ``link_lead_s``), and its times are shifted by it,
    so both sides count from ``load()``.
    """
    setups = [setup_s(plan, ladder, t) + start_shift_s for t in traces]
    lead = link_lead_s(plan)
    shifted = [
        rotated(with_latency(t, plan.rtt_s + plan.request_overhead_s), s - lead)
        for t, s in zip(traces, setups, strict=True)
    ]
    controller = _SizeBlindController(abr.make_controller(plan.algorithm))
    result = abr.simulate(
        controller,
        shifted,
        ladder.video(),
        mode=player_mode(plan),
        estimator=abr.make_estimator(plan.algorithm),
    )
    out = []
    for i, setup in enumerate(setups):
        out.append(
            {
                "rungs": result.quality[i].tolist(),
                "end_s": (result.end_time_s[i] + setup).tolist(),
                "buffer_s": result.buffer_s[i].tolist(),
                "rebuffer_s": float(result.metrics["rebuffer_s"][i]),
                "startup_s": setup + float(result.startup_s[i]),
                "abandoned": int(result.abandoned[i]),
                "setup_s": setup,
            }
        )
    return out


def metrics(
    rungs: Sequence[int], rebuffer_s: float, startup_s: float | None, ladder: Ladder
) -> dict[str, Any]:
    """The contract's four figures from a session's rung per segment."""
    q = np.asarray(rungs, dtype=np.int64)
    kbps = np.asarray(ladder.bandwidths_bps, dtype=np.float64)[q] / 1e3 if len(q) else np.zeros(1)
    return {
        "mean_bitrate_kbps": round(float(np.mean(kbps)), 3),
        "rebuffer_s": round(float(rebuffer_s), 3),
        "switches": int(np.count_nonzero(np.diff(q))) if len(q) > 1 else 0,
        "startup_s": None if startup_s is None else round(float(startup_s), 3),
    }


def sim_spread(
    plan: FidelityPlan, ladder: Ladder, traces: Sequence[abr.NetworkTrace]
) -> list[dict[str, list[float]]]:
    """Each trace's figures as ``[lowest, highest]`` over perturbed request timing.

    The simulator runs once per pair of ``SPREAD_OVERHEAD_S`` and ``SPREAD_START_S`` (nine
    runs, the plan's own among them). A controller decision near a threshold (a rung just
    affordable, a buffer just over a limit) goes one way or the other with a few milliseconds
    more or less, and one segment decided differently can change the rest of the session.
    """
    runs: list[list[dict[str, Any]]] = []
    for extra in SPREAD_OVERHEAD_S:
        varied = dataclasses.replace(
            plan, request_overhead_s=max(0.0, plan.request_overhead_s + extra)
        )
        for shift in SPREAD_START_S:
            sims = simulate(varied, ladder, traces, start_shift_s=shift)
            runs.append([metrics(s["rungs"], s["rebuffer_s"], None, ladder) for s in sims])
    out = []
    for i in range(len(traces)):
        figures = [run[i] for run in runs]
        out.append(
            {
                key: [min(f[key] for f in figures), max(f[key] for f in figures)]
                for key in ("mean_bitrate_kbps", "rebuffer_s", "switches")
            }
        )
    return out
