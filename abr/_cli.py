"""Command line: ``python -m abr simulate``, ``compare`` and ``traces``.

The one place in abr that reads files, prints, and uses rich, matplotlib and processes: an
adapter around the sans-I/O simulator.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import multiprocessing
import os
import signal
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from abr import _cli_traces
from abr._algorithms import ALGORITHMS, algorithm_config, make_controller, make_estimator
from abr._cli_engine import ENGINES, batches, run_ray
from abr._cli_engine import Interrupted as _Interrupted
from abr._cli_traces import read_traces
from abr._cliargs import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Parser,
    fail,
    internal_error,
    non_negative_int,
    output_file,
    positive_int,
)
from abr._media import NetworkTrace, Video, parse_pensieve_video, parse_sabre_movie
from abr._sim import SimResult, simulate
from abr._traces import TRACE_FORMATS
from abr.config import SimMode
from abr.errors import AbrError

__all__: list[str] = []

BATCH_SESSIONS = 250
SUMMARY_KEYS = (
    "sessions",
    "mean_qoe_lin",
    "mean_bitrate_kbps",
    "rebuffer_ratio",
    "mean_rebuffer_s",
    "mean_switches",
    "mean_startup_s",
)


# -- reading inputs ---------------------------------------------------------------------------


def read_video(path: str | Path) -> Video:
    """Read a Sabre movie JSON, or Pensieve's ``video_size_*`` (a directory or the prefix)."""
    p = Path(path)
    if p.is_file() and p.suffix == ".json":
        try:
            return parse_sabre_movie(p.read_bytes())
        except AbrError as exc:
            raise AbrError(f"{p}: {exc}") from exc
    folder, prefix = (p, "video_size_") if p.is_dir() else (p.parent, p.name)
    sizes = sorted(folder.glob(prefix + "*"), key=lambda f: f.name)
    if not sizes:
        raise AbrError(f"no Sabre movie or Pensieve video_size_* files at {p}")
    try:
        sizes.sort(key=lambda f: int(f.name[len(prefix) :] or 0))
        return parse_pensieve_video([f.read_text() for f in sizes])
    except (ValueError, UnicodeDecodeError) as exc:
        raise AbrError(
            f"{p}: not a Sabre movie JSON or Pensieve video_size_* files ({type(exc).__name__})"
        ) from exc


def _params(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise AbrError(f"--param wants key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _grid(items: Sequence[str]) -> list[dict[str, str]]:
    axes = []
    for item in items:
        key, sep, values = item.partition("=")
        if not sep:
            raise AbrError(f"--sweep wants key=v1,v2,..., got {item!r}")
        axes.append([(key.strip(), v.strip()) for v in values.split(",") if v.strip()])
    return [dict(combo) for combo in itertools.product(*axes)] if axes else [{}]


# -- running ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Job:
    label: str
    algorithm: str
    params: dict[str, str]


@dataclasses.dataclass(frozen=True)
class _Setup:
    traces: Sequence[NetworkTrace]
    video: Video
    mode: SimMode
    batch: int
    seed: int | None


def _run_batch(job: _Job, setup: _Setup, sl: slice) -> SimResult:
    """Simulate sessions ``sl`` of ``job``: the unit of work of every engine (local and Ray).

    It depends only on its job, its traces and its seed (``default_rng([seed, first
    session])``), so every engine returns the same results, whatever order batches finish in.
    """
    ctrl = make_controller(job.algorithm, setup.mode, job.params)
    est = make_estimator(job.algorithm, job.params if job.algorithm == "hybrid" else None)
    rng = None if setup.seed is None else np.random.default_rng([setup.seed, sl.start])
    return simulate(ctrl, setup.traces[sl], setup.video, mode=setup.mode, estimator=est, rng=rng)


def _run_job(job: _Job, setup: _Setup, progress: Any = None, task: Any = None) -> SimResult:
    parts = []
    try:
        for sl in batches(len(setup.traces), setup.batch):
            parts.append(_run_batch(job, setup, sl))
            if progress is not None:
                progress.advance(task, sl.stop - sl.start)
    except KeyboardInterrupt:
        done = [dataclasses.replace(SimResult.concat(parts), algorithm=job.label)] if parts else []
        raise _Interrupted(done) from None
    result = SimResult.concat(parts)
    return dataclasses.replace(result, algorithm=job.label)


def _run_job_plain(args: tuple[_Job, _Setup]) -> SimResult:
    return _run_job(*args)


def _ignore_sigint() -> None:
    """Worker processes leave Ctrl-C to the parent, which stops them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_pool(jobs: Sequence[_Job], setup: _Setup, workers: int) -> list[SimResult]:
    with ProcessPoolExecutor(max_workers=workers, initializer=_ignore_sigint) as pool:
        futures = [pool.submit(_run_job_plain, (j, setup)) for j in jobs]
        try:
            return [f.result() for f in futures]
        except KeyboardInterrupt:
            done = [
                f.result()
                for f in futures
                if f.done() and not f.cancelled() and f.exception() is None
            ]
            for future in futures:
                future.cancel()
            for child in multiprocessing.active_children():
                child.terminate()
            raise _Interrupted(done) from None


def _run_all(jobs: Sequence[_Job], setup: _Setup, *, workers: int, quiet: bool) -> list[SimResult]:
    """Run every job; on Ctrl-C raise ``_Interrupted`` with the results finished so far."""
    if workers > 1 and len(jobs) > 1:
        return _run_pool(jobs, setup, workers)
    progress: Any = None
    if not quiet:
        try:
            from rich.markup import escape
            from rich.progress import Progress

            progress = Progress(transient=False)
        except ImportError:  # rich is an optional extra
            progress = None
    results: list[SimResult] = []
    try:
        if progress is None:
            for j in jobs:
                results.append(_run_job(j, setup))
            return results
        with progress:
            for j in jobs:
                label = escape(f"{j.label} ({setup.mode.name})")
                task = progress.add_task(label, total=len(setup.traces))
                results.append(_run_job(j, setup, progress, task))
        return results
    except _Interrupted as exc:
        raise _Interrupted(results + exc.results) from None


# -- output -----------------------------------------------------------------------------------


def _config_dict(job: _Job, mode: SimMode) -> dict[str, Any]:
    return dataclasses.asdict(algorithm_config(job.algorithm, mode, job.params))


def _session_records(r: SimResult) -> list[dict[str, Any]]:
    rows = []
    kbps = r.video.bitrates_bps[r.quality] / 1e3
    for i, name in enumerate(r.trace_names):
        rec: dict[str, Any] = {"trace": name}
        rec.update({k: float(v[i]) for k, v in r.metrics.items()})
        rec["segments"] = {
            "quality": r.quality[i].tolist(),
            "bitrate_kbps": kbps[i].tolist(),
            "rebuffer_s": np.round(r.rebuffer_s[i], 6).tolist(),
            "buffer_s": np.round(r.buffer_s[i], 6).tolist(),
            "end_time_s": np.round(r.end_time_s[i], 6).tolist(),
        }
        rows.append(rec)
    return rows


def _document(
    results: Sequence[SimResult],
    jobs: Sequence[_Job],
    mode: SimMode,
    video_path: str,
    traces: Sequence[NetworkTrace],
    state: str = "complete",
) -> dict[str, Any]:
    return {
        "state": state,
        "mode": dataclasses.asdict(mode),
        "video": video_path,
        "traces": [t.name for t in traces],
        "algorithms": {
            r.algorithm: {
                "algorithm": j.algorithm,
                "aggregate": r.aggregate(),
                "config": _config_dict(j, mode),
                "sessions": _session_records(r),
            }
            for r, j in zip(results, jobs[: len(results)], strict=True)
        },
    }


def _fmt(key: str, value: float) -> str:
    if key == "sessions":
        return str(int(value))
    if key == "rebuffer_ratio":
        return f"{100 * value:.2f} %"
    return f"{value:.2f}"


def _print_table(results: Sequence[SimResult], *, by_metric: bool) -> None:
    aggs = [(r.algorithm, r.aggregate()) for r in results]
    if by_metric:
        header = ["metric"] + [a for a, _ in aggs]
        body = [[k] + [_fmt(k, g[k]) for _, g in aggs] for k in SUMMARY_KEYS]
    else:
        header = ["algorithm", *SUMMARY_KEYS]
        body = [[a] + [_fmt(k, g[k]) for k in SUMMARY_KEYS] for a, g in aggs]
    try:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table
    except ImportError:
        widths = [max(len(str(row[i])) for row in [header, *body]) for i in range(len(header))]
        for row in [header, *body]:
            print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
        return
    # Escaped: rich would read a sweep label's "[key=value]" as markup and drop it.
    table = Table(*(escape(h) for h in header))
    for row in body:
        table.add_row(*(escape(c) for c in row))
    Console(width=None if sys.stdout.isatty() else 160).print(table)


# -- entry point ------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m abr",
        description=(
            "Simulate adaptive-bitrate algorithms on network throughput traces with the same "
            "controller code the player runs, and convert or describe trace files."
        ),
        epilog="Exit status: 0 done, 2 bad input, 130 interrupted. See docs/abr.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in (
        ("simulate", "simulate algorithms on traces"),
        ("compare", "run several algorithms on the same traces side by side"),
    ):
        p = sub.add_parser(
            name,
            help=help_text,
            description=(
                f"{help_text[0].upper()}{help_text[1:]}: one session per trace, a summary "
                "table (QoE, bitrate, rebuffering, switches, startup), optionally every "
                "session's segments as JSON and a figure. Ctrl-C stops and still writes what "
                "was simulated so far."
            ),
        )
        p.set_defaults(prog=p.prog)
        p.add_argument(
            "--traces",
            nargs="+",
            action="extend",
            required=True,
            help="trace files or directories, in any format (see --trace-format)",
        )
        p.add_argument(
            "--trace-format",
            choices=TRACE_FORMATS,
            help="format of every trace (default: detected per file from its name and content)",
        )
        p.add_argument(
            "--video",
            required=True,
            help="Sabre movie JSON, or a directory / prefix of Pensieve video_size_* files",
        )
        p.add_argument(
            "--algorithm",
            action="append",
            choices=ALGORITHMS,
            help="algorithm to run (repeatable; compare defaults to all)",
        )
        p.add_argument(
            "--mode",
            choices=("pensieve", "sabre"),
            default="pensieve",
            help="simulation rules (buffer size, startup, rebuffer accounting; default pensieve)",
        )
        p.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a configuration field of the algorithm(s)",
        )
        p.add_argument(
            "--sweep",
            action="append",
            default=[],
            metavar="KEY=V1,V2,...",
            help="run every combination of these values (in parallel across cores)",
        )
        p.add_argument(
            "--jobs",
            type=positive_int,
            default=os.cpu_count() or 1,
            metavar="N",
            help="worker processes for sweeps and several algorithms (default: one per core)",
        )
        p.add_argument(
            "--batch",
            type=positive_int,
            default=BATCH_SESSIONS,
            metavar="N",
            help=f"sessions per vectorised batch (default {BATCH_SESSIONS})",
        )
        p.add_argument("--out", type=output_file, metavar="FILE", help="write JSON results here")
        p.add_argument(
            "--plot",
            type=output_file,
            metavar="FILE",
            help="write a figure here (PNG/SVG/PDF; needs the plots extra)",
        )
        p.add_argument(
            "--session",
            type=non_negative_int,
            default=0,
            metavar="N",
            help="session shown in the plot's top row (default 0)",
        )
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument(
            "--seed",
            type=int,
            default=None,
            metavar="N",
            help="start each session at a random point of its trace, seeded (reproducible)",
        )
        p.add_argument(
            "--engine",
            choices=ENGINES,
            default="local",
            help="where batches run: this machine (default) or Ray (the cluster extra)",
        )
        p.add_argument(
            "--address",
            metavar="HOST:PORT",
            help="Ray cluster to join (with --engine ray; default: start a local Ray)",
        )
    _cli_traces.register(sub)
    return parser


def _fields(algorithm: str) -> set[str]:
    return {f.name for f in dataclasses.fields(algorithm_config(algorithm))}


def _own(algorithm: str, params: dict[str, str]) -> dict[str, str]:
    """The parameters meant for ``algorithm``: ``key`` if it has that field, or ``algo.key``."""
    known = _fields(algorithm)
    out = {}
    for key, value in params.items():
        target, dot, field = key.rpartition(".")
        if dot and target == algorithm:
            out[field] = value
        elif not dot and key in known:
            out[key] = value
    return out


def _jobs(args: argparse.Namespace) -> list[_Job]:
    algorithms = args.algorithm or (list(ALGORITHMS) if args.command == "compare" else ["hybrid"])
    params = _params(args.param)
    grid = _grid(args.sweep)
    for key in {*params, *(k for point in grid for k in point)}:
        target, dot, field = key.rpartition(".")
        names = [target] if dot else algorithms
        if not any(n in algorithms and field in _fields(n) for n in names):
            raise AbrError(f"no selected algorithm has parameter {key!r}")
    jobs = []
    for algo in algorithms:
        seen: set[tuple[tuple[str, str], ...]] = set()
        for point in grid:
            own_point = _own(algo, point)
            sig = tuple(sorted(own_point.items()))
            if sig in seen:
                continue
            seen.add(sig)
            label = algo + (
                "[" + ",".join(f"{k}={v}" for k, v in own_point.items()) + "]" if own_point else ""
            )
            jobs.append(_Job(label, algo, {**_own(algo, params), **own_point}))
    return jobs


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    args = _parser().parse_args(argv)
    prog: str = args.prog
    try:
        if args.command == "traces":
            return _cli_traces.run(args)
        return _simulate(args)
    except KeyboardInterrupt:
        return fail(prog, "interrupted", EXIT_INTERRUPTED)
    except (AbrError, OSError, ValueError) as exc:
        return fail(prog, exc, EXIT_USAGE)
    except Exception as exc:  # one line, never a traceback (STREAMSDK_TRACEBACK=1 shows it)
        return internal_error(prog, exc)


def _simulate(args: argparse.Namespace) -> int:
    try:
        mode = SimMode.named(args.mode)
        traces = read_traces(args.traces, args.trace_format)
        video = read_video(args.video)
        jobs = _jobs(args)
        for j in jobs:
            algorithm_config(j.algorithm, mode, j.params)  # fail fast on a bad --param
        workers = max(1, min(args.jobs, len(jobs))) if args.sweep else 1
        setup = _Setup(traces, video, mode, max(1, args.batch), args.seed)
        if args.address and args.engine != "ray":
            raise AbrError("--address needs --engine ray")
        _load_plotting(args)
    except (AbrError, OSError) as exc:
        return fail(args.prog, exc)
    state = "complete"
    try:
        if args.engine == "ray":
            results = run_ray(jobs, setup, _run_batch, address=args.address, quiet=args.quiet)
        else:
            results = _run_all(jobs, setup, workers=workers, quiet=args.quiet)
    except _Interrupted as exc:
        results, state = exc.results, "interrupted"
    except AbrError as exc:
        return fail(args.prog, exc)
    if results:
        _print_table(results, by_metric=args.command == "compare")
    if args.out:
        document = _document(results, jobs, mode, args.video, traces, state)
        Path(args.out).write_text(json.dumps(document))
    if args.plot and results:
        from abr._plots import plot_results

        plot_results(
            results,
            args.plot,
            session=args.session,
            trace=traces[min(args.session, len(traces) - 1)],
        )
    if state == "interrupted":
        done = sum(len(r.trace_names) for r in results)
        return fail(
            args.prog,
            f"interrupted (Ctrl-C) after {done} simulated session(s); partial results written",
            EXIT_INTERRUPTED,
        )
    return 0


def _load_plotting(args: argparse.Namespace) -> None:
    """Check --plot can be drawn before the run (and load matplotlib now, for a quick Ctrl-C)."""
    if not args.plot:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: F401
    except ImportError as exc:
        raise AbrError(f"--plot needs matplotlib (pip install 'streamsdk[plots]'): {exc}") from exc
