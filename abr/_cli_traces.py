"""``python -m abr traces convert|stats``: trace files in every format, read and written here.

The file I/O around the sans-I/O readers and writers of :mod:`abr._traces`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from abr._cliargs import output_dir, output_file, positive_float
from abr._media import NetworkTrace
from abr._traces import TRACE_FORMATS, format_trace, parse_trace, trace_suffix
from abr.errors import AbrError

__all__: list[str] = []

_PER_TRACE_ROWS = 20
"""Up to this many traces, ``stats`` prints one row per trace; beyond, only the summary."""

_PLOTTED_TRACES = 5
"""Traces drawn over time in the ``stats`` plot (the CDF uses all of them)."""

PERCENTILES = (5, 25, 50, 75, 95)


def trace_files(paths: Sequence[str | Path]) -> list[Path]:
    """Files named, and every file in named directories (sorted, hidden files skipped)."""
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files.extend(
                sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
            )
        elif p.is_file():
            files.append(p)
        else:
            raise AbrError(f"no such trace file or directory: {p}")
    if not files:
        raise AbrError(f"no traces found in {', '.join(map(str, paths))}")
    return files


def read_traces(paths: Sequence[str | Path], fmt: str | None = None) -> list[NetworkTrace]:
    """Read traces in any format from files or directories (see :func:`trace_files`)."""
    return [parse_trace(f.read_bytes(), name=f.name, fmt=fmt) for f in trace_files(paths)]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "traces",
        help="convert trace files between formats, or describe them",
        description="Convert throughput trace files between formats, or describe them.",
    )
    tsub = p.add_subparsers(dest="traces_command", required=True, metavar="COMMAND")
    conv = tsub.add_parser(
        "convert",
        help="write traces in another format",
        description="Read traces in any format and write each one in another format.",
    )
    conv.set_defaults(prog=conv.prog)
    conv.add_argument("inputs", nargs="+", metavar="IN", help="trace files or directories")
    conv.add_argument("--to", required=True, choices=TRACE_FORMATS, help="output format")
    conv.add_argument(
        "--out",
        required=True,
        type=output_dir,
        metavar="DIR",
        help="output directory (created if missing)",
    )
    conv.add_argument("--from", dest="fmt", choices=TRACE_FORMATS, help="input format")
    stats = tsub.add_parser(
        "stats",
        help="duration, mean and percentiles of traces",
        description="Describe traces: duration, mean and percentiles of windowed bandwidth.",
    )
    stats.set_defaults(prog=stats.prog)
    stats.add_argument("inputs", nargs="+", metavar="PATH", help="trace files or directories")
    stats.add_argument("--from", dest="fmt", choices=TRACE_FORMATS, help="input format")
    stats.add_argument(
        "--plot",
        type=output_file,
        metavar="FILE",
        help="write a small figure here (PNG/SVG/PDF)",
    )
    stats.add_argument(
        "--json",
        dest="json_out",
        type=output_file,
        metavar="FILE",
        help="write the figures as JSON here",
    )
    stats.add_argument(
        "--window-s",
        type=positive_float,
        metavar="S",
        default=1.0,
        help="percentiles are of the mean bandwidth over windows this long (default 1 s)",
    )


def run(args: argparse.Namespace) -> int:
    if args.traces_command == "convert":
        return _convert(args)
    return _stats(args)


def _convert(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = trace_files(args.inputs)
    written = 0
    for f in files:
        trace = parse_trace(f.read_bytes(), name=f.name, fmt=args.fmt)
        target = out / (_stem(f.name) + trace_suffix(args.to))
        target.write_bytes(format_trace(trace, args.to))
        written += 1
    print(f"wrote {written} {args.to} trace(s) to {out}")
    return 0


def _stem(name: str) -> str:
    dot = name.rfind(".")
    return name[:dot] if dot > 0 else name


def window_rates(trace: NetworkTrace, window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean bandwidth of each ``window_s`` window over one loop, and each window's length.

    Percentiles depend on the time scale: a Mahimahi trace is 0 or 12 Mbit/s in every
    millisecond. Averaging over windows of a fixed length gives every format the same scale.
    """
    bounds = np.concatenate([[0.0], np.cumsum(trace.durations_s)])
    cum = np.concatenate([[0.0], np.cumsum(trace.durations_s * trace.bandwidth_bps)])
    edges = np.append(np.arange(0.0, bounds[-1], window_s), bounds[-1])
    lengths = np.diff(edges)
    bits = np.diff(np.interp(edges, bounds, cum))
    keep = lengths > 0
    return bits[keep] / lengths[keep], lengths[keep]


def describe(trace: NetworkTrace, window_s: float = 1.0) -> dict[str, Any]:
    """Figures of one trace: duration, mean, and percentiles of ``window_s`` averages."""
    rates, lengths = window_rates(trace, window_s)
    order = np.argsort(rates, kind="stable")
    cum = np.cumsum(lengths[order])
    total = float(cum[-1])
    out: dict[str, Any] = {
        "name": trace.name,
        "periods": len(trace.durations_s),
        "duration_s": total,
        "mean_mbps": trace.mean_bps / 1e6,
    }
    for q in PERCENTILES:
        k = min(int(np.searchsorted(cum, total * q / 100.0, side="left")), len(cum) - 1)
        out[f"p{q}_mbps"] = float(rates[order][k]) / 1e6
    out["min_mbps"] = float(rates.min()) / 1e6
    out["max_mbps"] = float(rates.max()) / 1e6
    out["outage_fraction"] = float(np.sum(lengths[rates <= 0]) / total)
    d = trace.durations_s
    out["mean_latency_ms"] = float(np.sum(d * trace.latency_s) / np.sum(d)) * 1e3
    return out


def _summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k in rows[0] if k not in ("name", "periods")]
    out: dict[str, Any] = {"name": f"all {len(rows)} (mean)", "periods": 0}
    out["periods"] = int(np.sum([r["periods"] for r in rows]))
    out.update({k: float(np.mean([r[k] for r in rows])) for k in keys})
    return out


def _stats(args: argparse.Namespace) -> int:
    traces = read_traces(args.inputs, args.fmt)
    if not args.window_s > 0:
        raise AbrError("--window-s must be positive")
    rows = [describe(t, args.window_s) for t in traces]
    summary = _summary(rows)
    shown = rows if len(rows) <= _PER_TRACE_ROWS else []
    columns = ["name", "periods", "duration_s", "mean_mbps"]
    columns += [f"p{q}_mbps" for q in PERCENTILES] + ["outage_fraction", "mean_latency_ms"]
    body = [[_cell(r[c]) for c in columns] for r in [*shown, summary]]
    widths = [max(len(str(x)) for x in col) for col in zip(columns, *body, strict=True)]
    for row in [columns, *body]:
        print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"traces": rows, "summary": summary}))
    if args.plot:
        plot_traces(traces, args.plot)
    return 0


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def plot_traces(traces: Sequence[NetworkTrace], path: str | Path) -> None:
    """Save a small figure: a few traces over time, and the CDF of bandwidth over all of them.

    Raises:
        ImportError: matplotlib is not installed (``pip install streamsdk[plots]``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_cdf) = plt.subplots(1, 2, figsize=(10, 3.5))
    for t in traces[:_PLOTTED_TRACES]:
        edges = np.concatenate([[0.0], np.cumsum(t.durations_s)])
        ax_t.step(
            edges,
            np.append(t.bandwidth_bps, t.bandwidth_bps[-1]) / 1e6,
            where="post",
            label=t.name,
            linewidth=0.8,
        )
    ax_t.set_xlabel("time (s)")
    ax_t.set_ylabel("bandwidth (Mbit/s)")
    ax_t.legend(fontsize="x-small")
    d = np.concatenate([t.durations_s for t in traces])
    bw = np.concatenate([t.bandwidth_bps for t in traces])
    order = np.argsort(bw)
    ax_cdf.plot(bw[order] / 1e6, np.cumsum(d[order]) / np.sum(d))
    ax_cdf.set_xlabel("bandwidth (Mbit/s)")
    ax_cdf.set_ylabel(f"fraction of time ({len(traces)} traces)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def fail(exc: BaseException, prog: str = "python -m abr traces") -> int:
    """Print a one-line error (``<prog>: error: ...``) and return exit status 2."""
    print(f"{prog}: error: {' '.join(str(exc).split())}", file=sys.stderr)
    return 2
