"""The fidelity run's plot: simulated and real timelines of every trace (matplotlib, lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__: list[str] = []

_ROW_HEIGHT_IN = 1.9
"""Height of one trace's row of panels, inches."""


def write_fidelity_plot(path: Path, report: dict[str, Any]) -> None:
    """Draw, per trace, bitrate and buffer over time since ``load()``: simulated and real (PNG).

    Needs matplotlib (the ``plots`` extra).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["traces"]
    fig, axes = plt.subplots(
        len(rows), 2, figsize=(11, max(2.5, _ROW_HEIGHT_IN * len(rows))), squeeze=False
    )
    for ax_rate, ax_buf, row in zip(axes[:, 0], axes[:, 1], rows, strict=True):
        for side, style in (("sim", "tab:blue"), ("real", "tab:orange")):
            points = row["detail"][side]["timeline"]
            t = [p[0] for p in points]
            ax_rate.step(t, [p[1] for p in points], where="pre", color=style, label=side)
            ax_buf.plot(t, [p[2] for p in points], color=style, label=side)
        mark = "agree" if row["agree"]["all"] else "DIFFER"
        ax_rate.set_title(
            f"{row['name']} ({mark}): {row['sim']['mean_bitrate_kbps']:.0f} vs "
            f"{row['real']['mean_bitrate_kbps']:.0f} kbit/s",
            fontsize=8,
        )
        ax_rate.set_ylabel("kbit/s", fontsize=8)
        ax_buf.set_ylabel("buffer (s)", fontsize=8)
        ax_buf.set_title(
            f"rebuffer {row['sim']['rebuffer_s']:.2f} vs {row['real']['rebuffer_s']:.2f} s, "
            f"switches {row['sim']['switches']} vs {row['real']['switches']}",
            fontsize=8,
        )
        for ax in (ax_rate, ax_buf):
            ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    axes[-1, 0].set_xlabel("time since load (s)", fontsize=8)
    axes[-1, 1].set_xlabel("time since load (s)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
