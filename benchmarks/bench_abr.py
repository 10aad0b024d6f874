"""Simulator speed: CPU seconds for whole trace sets (medians of several runs).

Targets (issue 5): the FCC-HD set (1000 sessions, Sabre mode, bbb4k.json) with ``hybrid`` in
under 1 s of CPU; robustMPC on the Norway test set (142 sessions, Pensieve mode) under 10 s.
Reference simulators: Sabre ~25 ms CPU per FCC-HD session (~25 s per set), Pensieve's
robustMPC ~1.2 s per Norway session (~170 s per set).

    python benchmarks/bench_abr.py [--runs 5]
    python benchmarks/bench_abr.py --engines [--runs 3]   # local process(es) vs local Ray

``--engines`` times one sweep (hybrid, FCC-SD, 1000 sessions, 4 sweep points = 16 batches of
250) run by the command line's engines: this process, 2 local processes, and a local Ray on 2
CPUs (Ray's start-up timed on its own; the sweep then runs on the started Ray).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import abr

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "abr-data"


def _sabre(folder: str) -> list[abr.NetworkTrace]:
    files = sorted((DATA / "sabre" / folder).iterdir())
    return [abr.parse_sabre_network(p.read_bytes(), name=p.name) for p in files]


def _norway() -> list[abr.NetworkTrace]:
    files = sorted((DATA / "pensieve" / "cooked_test_traces").iterdir())
    return [abr.parse_cooked_trace(p.read_text(), name=p.name) for p in files]


def _pensieve_video() -> abr.Video:
    return abr.parse_pensieve_video(
        [(DATA / "pensieve" / f"video_size_{q}").read_text() for q in range(6)]
    )


def _measure(
    label: str,
    algorithm: str,
    traces: list[abr.NetworkTrace],
    video: abr.Video,
    mode: abr.SimMode,
    runs: int,
    target_s: float | None,
) -> None:
    cpu, wall = [], []
    agg: dict[str, float] = {}
    for _ in range(runs):
        ctrl = abr.make_controller(algorithm, mode)
        est = abr.make_estimator(algorithm)
        c0, w0 = time.process_time(), time.perf_counter()
        result = abr.simulate(ctrl, traces, video, mode=mode, estimator=est)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        agg = result.aggregate()
    med = statistics.median(cpu)
    verdict = (
        ""
        if target_s is None
        else ("  OK" if med < target_s else "  OVER TARGET") + f" (target < {target_s:g} s)"
    )
    spread = f"(min {min(cpu):.3f}, max {max(cpu):.3f})"
    print(
        f"{label:34s} sessions={len(traces):5d}  cpu median {med:7.3f} s {spread}"
        f"  wall {statistics.median(wall):7.3f} s  QoE_lin {agg['mean_qoe_lin']:.2f}{verdict}"
    )


def _engines(runs: int) -> None:
    import logging

    import ray

    from abr._cli import _Job as Job
    from abr._cli import _run_all, _run_batch
    from abr._cli import _Setup as Setup
    from abr._cli_engine import run_ray

    sd, bbb = _sabre("sd_fs"), abr.parse_sabre_movie((DATA / "sabre" / "bbb.json").read_bytes())
    setup = Setup(sd, bbb, abr.SimMode.sabre(), 250, 1)
    jobs = [
        Job(f"hybrid[up_safety={v}]", "hybrid", {"up_safety": v})
        for v in ("0.8", "0.85", "0.9", "0.95")
    ]

    def timed(fn: object) -> list[float]:
        out = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()  # type: ignore[operator]
            out.append(time.perf_counter() - t0)
        return out

    rows = {
        "this process": timed(lambda: _run_all(jobs, setup, workers=1, quiet=True)),
        "2 local processes": timed(lambda: _run_all(jobs, setup, workers=2, quiet=True)),
    }
    inits = []
    for _ in range(runs):
        t0 = time.perf_counter()
        ray.init(
            num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR
        )
        inits.append(time.perf_counter() - t0)
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    rows["local Ray, 2 CPUs (started)"] = timed(
        lambda: run_ray(jobs, setup, _run_batch, address=None, quiet=True)
    )
    ray.shutdown()
    rows["local Ray start-up (ray.init)"] = inits
    for label, walls in rows.items():
        print(
            f"{label:32s} wall median {statistics.median(walls):7.2f} s"
            f"  (min {min(walls):.2f}, max {max(walls):.2f}, {runs} runs)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs per case (median reported)")
    parser.add_argument("--engines", action="store_true", help="time the CLI's engines instead")
    args = parser.parse_args()
    if args.engines:
        _engines(args.runs)
        return
    hd, bbb4k = _sabre("hd_fs"), abr.parse_sabre_movie((DATA / "sabre" / "bbb4k.json").read_bytes())
    sd, bbb = _sabre("sd_fs"), abr.parse_sabre_movie((DATA / "sabre" / "bbb.json").read_bytes())
    norway, video = _norway(), _pensieve_video()
    sabre, pensieve = abr.SimMode.sabre(), abr.SimMode.pensieve()
    _measure("hybrid, FCC-HD, sabre mode", "hybrid", hd, bbb4k, sabre, args.runs, 1.0)
    _measure(
        "robustMPC, Norway, pensieve mode",
        "robustmpc",
        norway,
        video,
        pensieve,
        max(1, args.runs // 2 + 1),
        10.0,
    )
    _measure("hybrid, Norway, pensieve mode", "hybrid", norway, video, pensieve, args.runs, None)
    _measure("BBA, Norway, pensieve mode", "bba", norway, video, pensieve, args.runs, None)
    _measure("BOLA, FCC-SD, sabre mode", "bola", sd, bbb, sabre, max(1, args.runs // 2 + 1), None)
    _measure(
        "throughput, FCC-SD, sabre mode",
        "throughput",
        sd,
        bbb,
        sabre,
        max(1, args.runs // 2 + 1),
        None,
    )


if __name__ == "__main__":
    main()
