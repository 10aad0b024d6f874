"""Simulation against real playback: the same ladder, traces and controller, twice.

For each trace, ``abr.simulate`` plays the lab ladder's real segment sizes over the trace, and
a real session (``_fidelity_real``) plays the ladder through the lab's network emulator shaped
by the same trace: real QUIC, real segments, the real clock. Both use the same controller and
configuration; the simulator's mode is derived from the player's buffering settings. The
report lists both sides' figures per trace, their differences, and how many traces agree
within the contract's tolerances (docs/abr.md, "Simulation vs real playback").
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import abr
from player.cli._fidelity_inputs import (
    FidelityPlan,
    Ladder,
    read_trace,
    rotated,
    with_latency,
)
from player.cli._fidelity_real import RealJob, play_real

__all__: list[str] = []

BITRATE_TOLERANCE = 0.05
"""Mean bitrates agree when they differ by at most this fraction of the simulated one."""

REBUFFER_TOLERANCE_S = 0.5
"""Rebuffering agrees when the totals differ by at most this many seconds."""

SWITCH_TOLERANCE = 1
"""Switch counts agree when they differ by at most this many."""

_TIMEOUT_FACTOR = 4.0
"""A real session may take this many times the ladder's length (plus a minute) before it is
abandoned as failed: slow traces stall, but not for three times the video's length."""

Progress = Callable[[str], None]


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

    ``setup_rtts`` round trips (QUIC handshake, manifest) plus the manifest carried at the
    trace's rate from its start.
    """
    nbytes = ladder.manifest_bytes
    t = plan.setup_rtts * (plan.rtt_s + plan.request_overhead_s)
    bits = 8.0 * nbytes / plan.payload_factor
    for duration, rate in zip(
        trace.durations_s.tolist(), trace.bandwidth_bps.tolist(), strict=True
    ):
        if rate > 0 and bits <= rate * duration:
            return float(t + bits / rate)
        bits -= rate * duration
        t += duration
    return t


def simulate(
    plan: FidelityPlan, ladder: Ladder, traces: Sequence[abr.NetworkTrace]
) -> list[dict[str, Any]]:
    """Simulate every trace; per trace the records the comparison reads.

    Each simulated session starts after the modelled setup: its trace is rotated by it, and
    its times are shifted by it, so both sides count from ``load()``.
    """
    setups = [setup_s(plan, ladder, t) for t in traces]
    shifted = [
        rotated(with_latency(t, plan.rtt_s + plan.request_overhead_s), s)
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


def compare(sim: dict[str, Any], real: dict[str, Any], *, is_complete: bool) -> dict[str, Any]:
    """Differences (real − sim) and whether each figure agrees within its tolerance.

    A real session that did not play every segment agrees on nothing.
    """
    base = sim["mean_bitrate_kbps"]
    rel = (real["mean_bitrate_kbps"] - base) / base if base > 0 else float("inf")
    d_rebuf = real["rebuffer_s"] - sim["rebuffer_s"]
    d_switch = real["switches"] - sim["switches"]
    startup = None
    if real["startup_s"] is not None and sim["startup_s"] is not None:
        startup = round(real["startup_s"] - sim["startup_s"], 3)
    agree = {
        "bitrate": is_complete and abs(rel) <= BITRATE_TOLERANCE + 1e-12,
        "rebuffer": is_complete and abs(d_rebuf) <= REBUFFER_TOLERANCE_S + 1e-12,
        "switches": is_complete and abs(d_switch) <= SWITCH_TOLERANCE,
    }
    agree["all"] = agree["bitrate"] and agree["rebuffer"] and agree["switches"]
    return {
        "diff": {
            "mean_bitrate_pct": round(100.0 * rel, 2),
            "rebuffer_s": round(d_rebuf, 3),
            "switches": d_switch,
            "startup_s": startup,
        },
        "agree": agree,
    }


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Counts of traces that agree within each tolerance (the report's ``summary``)."""
    return {
        "traces": len(rows),
        "bitrate_within_5pct": sum(bool(r["agree"]["bitrate"]) for r in rows),
        "rebuffer_within_0_5s": sum(bool(r["agree"]["rebuffer"]) for r in rows),
        "switches_within_1": sum(bool(r["agree"]["switches"]) for r in rows),
        "all_three": sum(bool(r["agree"]["all"]) for r in rows),
    }


def _jobs(plan: FidelityPlan, ladder: Ladder, traces: Sequence[abr.NetworkTrace]) -> list[RealJob]:
    timeout = _TIMEOUT_FACTOR * plan.duration_s + 60.0
    return [
        RealJob(
            name=t.name,
            durations_s=tuple(t.durations_s.tolist()),
            bandwidth_bps=tuple(t.bandwidth_bps.tolist()),
            content_root=str(ladder.root),
            manifest=ladder.manifest,
            ids=ladder.ids,
            plan=plan,
            timeout_s=timeout,
        )
        for t in traces
    ]


def play_all(
    plan: FidelityPlan,
    ladder: Ladder,
    traces: Sequence[abr.NetworkTrace],
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Play every trace for real, ``plan.jobs`` at a time, each in its own process.

    Processes, not threads: each session's QUIC stack, origin and emulator get a core's worth
    of interpreter instead of sharing one GIL, so a busy neighbour does not delay them.
    """
    jobs = _jobs(plan, ladder, traces)
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    context = multiprocessing.get_context("spawn")
    workers = min(plan.jobs, len(jobs))
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = {pool.submit(play_real, job): i for i, job in enumerate(jobs)}
        for future in concurrent.futures.as_completed(futures):
            i = futures[future]
            try:
                results[i] = future.result()
            except Exception as exc:  # a worker that died reports, the run goes on
                results[i] = {"state": "error", "error": repr(exc), "segments": []}
            if progress is not None:
                progress(f"real {sum(r is not None for r in results)}/{len(jobs)}: {jobs[i].name}")
    return [r if r is not None else {"state": "error", "segments": []} for r in results]


def _row(name: str, sim: dict[str, Any], real: dict[str, Any], ladder: Ladder) -> dict[str, Any]:
    sim_m = metrics(sim["rungs"], sim["rebuffer_s"], sim["startup_s"], ladder)
    segments = real.get("segments", [])
    real_m = metrics(
        [s["rung"] for s in segments],
        real.get("rebuffer_s", 0.0),
        real.get("startup_s"),
        ladder,
    )
    complete = real.get("state") == "ended" and len(segments) == len(ladder.sizes_bytes)
    return {
        "name": name,
        "sim": sim_m,
        "real": real_m,
        **compare(sim_m, real_m, is_complete=complete),
        "real_state": real.get("state"),
        "real_error": real.get("error"),
        "detail": {
            "sim": {
                "setup_s": round(sim["setup_s"], 3),
                "abandoned": sim["abandoned"],
                "timeline": _timeline(sim["end_s"], sim["rungs"], sim["buffer_s"], ladder),
            },
            "real": {
                "first_request_s": real.get("first_request_s"),
                "stalls": real.get("stalls"),
                "emulator": real.get("emulator"),
                "wall_s": real.get("wall_s"),
                "timeline": _timeline(
                    [s["end_s"] for s in segments],
                    [s["rung"] for s in segments],
                    [s["buffer_s"] for s in segments],
                    ladder,
                ),
                "ttfb_median_s": _median([s["ttfb_s"] for s in segments]),
                "ttfb_s": [round(s["ttfb_s"], 4) for s in segments],
                "download_s": [round(s["download_s"], 4) for s in segments],
            },
        },
    }


def _median(values: Sequence[float]) -> float | None:
    return round(float(np.median(values)), 4) if len(values) else None


def _timeline(
    end_s: Sequence[float], rungs: Sequence[int], buffer_s: Sequence[float], ladder: Ladder
) -> list[list[float]]:
    """``[time since load (s), bitrate (kbit/s), buffer (s)]`` at each segment's arrival."""
    rates = ladder.bandwidths_bps
    return [
        [round(t, 3), round(rates[q] / 1e3, 1), round(b, 3)]
        for t, q, b in zip(end_s, rungs, buffer_s, strict=True)
    ]


def run_fidelity(
    plan: FidelityPlan,
    ladder: Ladder,
    trace_paths: Sequence[Path],
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Simulate and play every trace; return the report (``traces`` and ``summary``)."""
    started = time.monotonic()
    load_before = os.getloadavg()
    traces = [read_trace(p) for p in trace_paths]
    sims = simulate(plan, ladder, traces)
    if progress is not None:
        progress(f"simulated {len(traces)} traces in {time.monotonic() - started:.1f} s")
    reals = play_all(plan, ladder, traces, progress)
    rows = [_row(t.name, s, r, ladder) for t, s, r in zip(traces, sims, reals, strict=True)]
    return {
        "plan": _plan_json(plan),
        "ladder": {
            "root": str(ladder.root),
            "ids": list(ladder.ids),
            "bandwidths_bps": list(ladder.bandwidths_bps),
            "segments": len(ladder.sizes_bytes),
            "segment_s": ladder.segment_s,
        },
        "trace_files": [str(p) for p in trace_paths],
        "traces": rows,
        "summary": summarize(rows),
        "wall_time_s": round(time.monotonic() - started, 1),
        "host": {
            "cpus": os.cpu_count(),
            "load_avg_1m_before": round(load_before[0], 2),
            "load_avg_1m_after": round(os.getloadavg()[0], 2),
        },
    }


def _plan_json(plan: FidelityPlan) -> dict[str, Any]:
    out = dataclasses.asdict(plan)
    out["sim_mode"] = dataclasses.asdict(player_mode(plan))
    return out
