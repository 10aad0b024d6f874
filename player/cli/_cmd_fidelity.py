"""``python -m player fidelity``: the simulator against real playback, trace by trace."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from abr import ALGORITHMS, AbrError
from player.cli._args import (
    fail,
    non_negative_float,
    output_dir,
    output_file,
    positive_float,
    positive_int,
    ratio,
)
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
    p.add_argument(
        "--limit", type=positive_int, default=None, metavar="N", help="use N of the traces"
    )
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
    p.add_argument(
        "--duration-s",
        type=positive_int,
        default=60,
        metavar="S",
        help="length of the generated ladder, seconds (default 60)",
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=4,
        metavar="N",
        help="real sessions played at the same time (default 4)",
    )
    p.add_argument(
        "--rtt-ms",
        type=non_negative_float,
        default=80.0,
        metavar="MS",
        help="round-trip time of the emulated path, milliseconds (default 80)",
    )
    p.add_argument(
        "--loss",
        type=ratio,
        default=0.0,
        metavar="P",
        help="datagram loss probability of the emulated path, 0 to 1 (default 0)",
    )
    p.add_argument(
        "--queue-s",
        type=positive_float,
        default=4.0,
        metavar="S",
        help="the emulator's bottleneck buffer, seconds (default 4)",
    )
    p.add_argument("--decode", action="store_true", help="decode frames in real sessions")
    p.add_argument(
        "--cache-dir",
        type=output_dir,
        default=_DEFAULT_CACHE,
        metavar="DIR",
        help="where generated ladders are kept and reused (default ~/.cache/streamsdk/fidelity)",
    )
    p.add_argument(
        "--out", type=output_file, metavar="FILE", help="write the JSON report to this file"
    )
    p.add_argument(
        "--plot",
        type=output_file,
        metavar="FILE",
        help="draw both timelines per trace (PNG; needs the plots extra)",
    )
    p.set_defaults(func=run, prog=p.prog)


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
        need = "fidelity needs the lab extra (pip install 'streamsdk[lab]')"
        return fail(args.prog, f"{need}: {exc}")
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
        paths = select_traces(trace_files(args.traces), limit=args.limit, seed=args.sample_seed)
        ladder, reused = prepare_ladder(plan.content_spec(), args.cache_dir)
        print(
            f"fidelity: {len(paths)} traces, {args.algorithm}, ladder "
            f"{'reused' if reused else 'generated'} at {ladder.root}",
            flush=True,
        )
        report = run_fidelity(plan, ladder, paths, progress=lambda m: print(f"  {m}", flush=True))
    except (PlayerError, AbrError, TransportError) as exc:
        return fail(args.prog, exc)
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
        if row.get("sensitive"):
            flags += " ~"  # the simulator's own spread is wider than a tolerance
        error = "" if row["real_error"] is None else f"  {row['real_error']}"
        print(
            f"{row['name'][:44]:<44} "
            f"{sim['mean_bitrate_kbps']:8.0f}/{real['mean_bitrate_kbps']:<8.0f} "
            f"{sim['rebuffer_s']:7.2f}/{real['rebuffer_s']:<7.2f} "
            f"{sim['switches']:>2}/{real['switches']:<3} {flags}{error}"
        )
    print("flags: b(itrate) r(ebuffer) s(witches) agree; ~ sensitive (sim vs itself)")
    summary = report["summary"]
    print(
        "summary: "
        + ", ".join(f"{k} {v}" for k, v in summary.items())
        + f"; wall time {report['wall_time_s']} s"
    )
