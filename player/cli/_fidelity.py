"""Simulation against real playback: the same ladder, traces and controller, twice.

For each trace, ``abr.simulate`` plays the lab ladder's real segment sizes over the trace, and
a real session (``_fidelity_real``) plays the ladder through the lab's network emulator shaped
by the same trace: real QUIC, real segments, the real clock. Both use the same controller and
configuration; the simulator's mode is derived from the player's buffering settings. The
report lists both sides' figures per trace, their differences, and how many traces agree
within the contract's tolerances, and how far the simulator disagrees with itself when the
request timing varies as much as the real sessions' (``_fidelity_sim.sim_spread``; docs/abr.md,
"Simulation against real playback").
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
from player.cli._fidelity_inputs import FidelityPlan, Ladder, read_trace
from player.cli._fidelity_real import RealJob, play_real, prepare_worker
from player.cli._fidelity_sim import metrics, player_mode, sim_spread, simulate

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

STAGGER_S = 1.5
"""The first ``jobs`` real sessions start this far apart. Started together, their start-ups
(QUIC handshake, manifest, first segments) competed for the 2 cores: first requests came 0.1-0.3 s
later than alone, and since the sessions last the same time, every later wave started together
again. A session's start-up takes well under a second."""

Progress = Callable[[str], None]


def compare(
    sim: dict[str, Any],
    real: dict[str, Any],
    *,
    is_complete: bool,
    spread: dict[str, list[float]] | None = None,
) -> dict[str, Any]:
    """Differences (real − sim) and whether each figure agrees within its tolerance.

    A real session that did not play every segment agrees on nothing. With the simulator's
    ``spread`` (``sim_spread``), also whether each real figure is within its tolerance of the
    range the simulator itself covers (``within_spread``), and whether that range is wider
    than a tolerance (``sensitive``: the simulator disagrees with itself on the trace).
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
    out: dict[str, Any] = {
        "diff": {
            "mean_bitrate_pct": round(100.0 * rel, 2),
            "rebuffer_s": round(d_rebuf, 3),
            "switches": d_switch,
            "startup_s": startup,
        },
        "agree": agree,
    }
    if spread is not None:
        out.update(_against_spread(real, spread, is_complete=is_complete))
    return out


def _against_spread(
    real: dict[str, Any], spread: dict[str, list[float]], *, is_complete: bool
) -> dict[str, Any]:
    """Real figures against the range the simulator covers (``compare``'s extra keys)."""
    eps = 1e-9
    b_lo, b_hi = spread["mean_bitrate_kbps"]
    r_lo, r_hi = spread["rebuffer_s"]
    s_lo, s_hi = spread["switches"]
    bitrate, rebuffer, switches = real["mean_bitrate_kbps"], real["rebuffer_s"], real["switches"]
    b_tol, r_tol, s_tol = BITRATE_TOLERANCE, REBUFFER_TOLERANCE_S, SWITCH_TOLERANCE
    within = {
        "bitrate": b_lo * (1 - b_tol) - eps <= bitrate <= b_hi * (1 + b_tol) + eps,
        "rebuffer": r_lo - r_tol - eps <= rebuffer <= r_hi + r_tol + eps,
        "switches": s_lo - s_tol <= switches <= s_hi + s_tol,
    }
    within = {k: is_complete and v for k, v in within.items()}
    within["all"] = within["bitrate"] and within["rebuffer"] and within["switches"]
    sensitive = b_hi - b_lo > b_tol * b_lo + eps or r_hi - r_lo > r_tol + eps or s_hi - s_lo > s_tol
    return {"within_spread": within, "sensitive": sensitive}


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Counts of traces that agree within each tolerance (the report's ``summary``).

    With the simulator's spread: ``sensitive`` traces (its own range is wider than a
    tolerance) and ``all_three_within_sim_spread`` (every real figure within its tolerance of
    the simulator's range).
    """
    out = {
        "traces": len(rows),
        "bitrate_within_5pct": sum(bool(r["agree"]["bitrate"]) for r in rows),
        "rebuffer_within_0_5s": sum(bool(r["agree"]["rebuffer"]) for r in rows),
        "switches_within_1": sum(bool(r["agree"]["switches"]) for r in rows),
        "all_three": sum(bool(r["agree"]["all"]) for r in rows),
    }
    if rows and all("within_spread" in r for r in rows):
        out["sensitive"] = sum(bool(r["sensitive"]) for r in rows)
        out["all_three_within_sim_spread"] = sum(bool(r["within_spread"]["all"]) for r in rows)
    return out


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
            start_delay_s=STAGGER_S * i if i < plan.jobs else 0.0,
        )
        for i, t in enumerate(traces)
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
    ready = context.Barrier(workers)
    with concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=context, initializer=prepare_worker, initargs=(ready,)
    ) as pool:
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
    spread = sim.get("spread")
    return {
        "name": name,
        "sim": sim_m,
        "real": real_m,
        **compare(sim_m, real_m, is_complete=complete, spread=spread),
        "sim_spread": spread,
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
                "abandoned": real.get("abandoned"),
                "frames_decoded": real.get("frames_decoded"),
                "decode_errors": real.get("decode_errors"),
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
    for sim, spread in zip(sims, sim_spread(plan, ladder, traces), strict=True):
        sim["spread"] = spread
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
