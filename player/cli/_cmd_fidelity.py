"""``python -m player fidelity``: the simulator against real playback, trace by trace."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from abr import ALGORITHMS, AbrError
from player.cli._report import dump_json
from player.errors import PlayerError, TransportError

_DEFAULT_CACHE = Path.home() / ".cache" / "streamsdk" / "fidelity"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "fidelity",
        help="play traces in the ABR simulator and for real through the lab; compare",
        description=(
            "Play each throughput trace twice, once in the ABR simulator and once for "
            "real through the lab's network emulator, and compare the two timelines "
            "(bitrate, switches, rebuffering, QoE) trace by trace."
        ),
    )
    p.add_argument(
        "--traces",
        type=Path,
        nargs="+",
        required=True,
        metavar="PATH",
        help="trace files or folders (any format abr reads)",
    )
    p.add_argument("--limit", type=int, default=None, metavar="N", help="use N of the traces")
    p.add_argument(
        "--sample-seed",
        type=int,
        default=None,
        metavar="SEED",
        help="with --limit: draw the N traces at random with this seed",
    )
    p.add_argument(
        "--algorithm",
        choices=ALGORITHMS,
        default="hybrid",
        help="the ABR algorithm both sides run (default: hybrid)",
    )
    p.add_argument("--duration-s", type=int, default=60, metavar="S", help="ladder length")
    p.add_argument("--jobs", type=int, default=4, help="real sessions at the same time")
    p.add_argument("--rtt-ms", type=float, default=80.0, help="round-trip time of the path")
    p.add_argument("--loss", type=float, default=0.0, help="datagram loss probability")
    p.add_argument(
        "--queue-s", type=float, default=1.0, help="the emulator's bottleneck buffer (s)"
    )
    p.add_argument("--decode", action="store_true", help="decode frames in real sessions")
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=_DEFAULT_CACHE,
        help="where generated ladders are kept (reused by spec)",
    )
    p.add_argument("--out", type=Path, help="write the JSON report here")
    p.add_argument("--plot", type=Path, help="draw both timelines per trace (PNG)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from player.cli._fidelity import run_fidelity
        from player.cli._fidelity_inputs import (
            FidelityPlan,
            prepare_ladder,
            select_traces,
            trace_files,
        )
    except ImportError as exc:
        print(
            f"error: fidelity needs the lab extra (pip install 'streamsdk[lab]'): {exc}",
            file=sys.stderr,
        )
        return 2
    try:
        plan = FidelityPlan(
            algorithm=args.algorithm,
            duration_s=args.duration_s,
            jobs=args.jobs,
            rtt_s=args.rtt_ms / 1e3,
            loss=args.loss,
            max_queue_s=args.queue_s,
            decode=args.decode,
        )
        if args.limit is not None and args.limit < 1:
            raise PlayerError("--limit must be >= 1")
        paths = select_traces(trace_files(args.traces), limit=args.limit, seed=args.sample_seed)
        ladder, reused = prepare_ladder(plan.content_spec(), args.cache_dir)
        print(
            f"fidelity: {len(paths)} traces, {args.algorithm}, ladder "
            f"{'reused' if reused else 'generated'} at {ladder.root}",
            flush=True,
        )
        report = run_fidelity(plan, ladder, paths, progress=lambda m: print(f"  {m}", flush=True))
    except (PlayerError, AbrError, TransportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report["selection"] = {"limit": args.limit, "sample_seed": args.sample_seed}
    if args.out:
        dump_json(args.out, report)
    if args.plot:
        from player.cli._fidelity_plot import write_fidelity_plot

        write_fidelity_plot(args.plot, report)
    print_table(report)
    return 0


def print_table(report: dict[str, Any]) -> None:
    """Print one line per trace and the summary."""
    print(f"{'trace':<44} {'kbit/s sim/real':>17} {'rebuf sim/real':>15} {'sw':>6} agree")
    for row in report["traces"]:
        sim, real = row["sim"], row["real"]
        flags = "".join(
            k[0] if row["agree"][k] else "-" for k in ("bitrate", "rebuffer", "switches")
        )
        error = "" if row["real_error"] is None else f"  {row['real_error']}"
        print(
            f"{row['name'][:44]:<44} "
            f"{sim['mean_bitrate_kbps']:8.0f}/{real['mean_bitrate_kbps']:<8.0f} "
            f"{sim['rebuffer_s']:7.2f}/{real['rebuffer_s']:<7.2f} "
            f"{sim['switches']:>2}/{real['switches']:<3} {flags}{error}"
        )
    summary = report["summary"]
    print(
        "summary: "
        + ", ".join(f"{k} {v}" for k, v in summary.items())
        + f"; wall time {report['wall_time_s']} s"
    )
