"""Plots of simulation results (matplotlib, an optional extra, imported lazily)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from abr._media import NetworkTrace
from abr._sim import SimResult

__all__ = ["plot_results"]


def plot_results(
    results: Sequence[SimResult],
    path: str | Path,
    *,
    session: int = 0,
    trace: NetworkTrace | None = None,
) -> None:
    """Save a figure comparing algorithms on one session and across all sessions.

    Top row: one session's throughput, bitrate and buffer over time. Bottom row: CDFs across
    sessions of QoE_lin, mean bitrate and rebuffer ratio.

    Args:
        results: One result per algorithm, all on the same traces.
        path: Output image file (PNG, SVG, PDF: by extension).
        session: Index of the session shown in the top row.
        trace: That session's trace, drawn as the link's bandwidth (optional).

    Raises:
        ImportError: matplotlib is not installed (``pip install streamsdk[plots]``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    first = results[0]
    session = min(max(session, 0), first.sessions - 1)
    ax_tp, ax_br, ax_buf = axes[0]
    horizon = max(float(np.max(r.end_time_s[session])) for r in results)
    for r in results:
        t = np.concatenate([[0.0], r.end_time_s[session]])
        kbps = r.video.bitrates_bps[r.quality[session]] / 1e3
        ax_br.step(t[:-1], kbps, where="post", label=r.algorithm)
        ax_buf.plot(t[1:], r.buffer_s[session], label=r.algorithm)
        ax_tp.plot(
            t[1:],
            r.throughput_bps[session] / 1e6,
            ".",
            markersize=3,
            label=f"{r.algorithm} samples",
        )
    if trace is not None:
        edges = np.concatenate([[0.0], np.cumsum(trace.durations_s)])
        loops = int(np.ceil(horizon / edges[-1])) if edges[-1] > 0 else 1
        edges_all = np.concatenate(
            [edges[:-1] + k * edges[-1] for k in range(loops)] + [[loops * edges[-1]]]
        )
        bw = np.tile(trace.bandwidth_bps, loops) / 1e6
        ax_tp.step(edges_all[:-1], bw, where="post", color="grey", label="link")
    ax_tp.set_title(f"session {session}: {first.trace_names[session]}")
    ax_tp.set_xlim(0, horizon)
    ax_tp.set_ylabel("throughput (Mbit/s)")
    ax_br.set_ylabel("bitrate (kbit/s)")
    ax_buf.set_ylabel("buffer (s)")
    for ax in axes[0]:
        ax.set_xlabel("time (s)")
        ax.legend(fontsize="small")
    for ax, key, label in zip(
        axes[1],
        ("qoe_lin", "mean_bitrate_kbps", "rebuffer_ratio"),
        ("QoE_lin per session", "mean bitrate (kbit/s)", "rebuffer ratio"),
        strict=True,
    ):
        for r in results:
            values = np.sort(r.metrics[key])
            ax.plot(values, np.arange(1, len(values) + 1) / len(values), label=r.algorithm)
        ax.set_xlabel(label)
        ax.set_ylabel("CDF")
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
