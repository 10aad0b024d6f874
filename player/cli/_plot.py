"""The QA plot of ``play --plot`` and ``demo --plot``: what happened, on one time axis.

Three panels over seconds since ``load()`` (the time axis of events and the timeline):
the video bitrate played with a marker at each rendition switch; the buffer level with
stalls shaded; the throughput, as the ABR estimate and one dot per segment download. The
throughput axis is logarithmic, so the start-up burst (transfers over loopback at tens of
Mbit/s) does not flatten a 1 Mbit/s throttle. Vertical lines mark
edge failovers, the demo's scripted network changes and a fatal error; every marker is in
the legend, every axis has its unit. matplotlib is imported here only (the plots extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__: list[str] = []

_ACTION_STYLES = {
    "throttle": ("tab:orange", ":", "throttle to {rate}"),
    "unthrottle": ("tab:olive", ":", "throttle lifted"),
    "kill_primary_edge": ("tab:purple", "-.", "primary edge killed"),
}


def draw_report(path: Path, report: dict[str, Any]) -> None:
    """Draw the report's timeline and events into ``path`` (PNG, or any matplotlib format)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = report.get("timeline", [])
    events = report.get("events", [])
    fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    _bitrate_panel(axes[0], samples, events)
    _buffer_panel(axes[1], samples, events)
    _throughput_panel(axes[2], samples, events)
    for ax in axes:
        _markers(ax, report)
        ax.grid(True, alpha=0.3)
    axes[0].set_title(f"{report.get('url', '')}  ({report.get('final_state', '?')})", fontsize=9)
    axes[2].set_xlabel("time since load (s)")
    handles: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(
        list(handles.values()),
        list(handles.keys()),
        loc="lower center",
        ncol=min(4, max(1, len(handles))),
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _times(samples: list[dict[str, Any]]) -> list[float]:
    return [float(s["at_s"]) for s in samples]


def _bitrate_panel(ax: Any, samples: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    ax.step(
        _times(samples),
        [s["bitrate_bps"] / 1e6 for s in samples],
        where="post",
        color="tab:blue",
        label="video bitrate",
    )
    switches = [e for e in events if e.get("type") == "VariantSwitched"]
    if switches:
        ax.scatter(
            [e["at_s"] for e in switches],
            [e["bitrate_bps"] / 1e6 for e in switches],
            marker="v",
            color="tab:blue",
            zorder=3,
            label="rendition switch",
        )
    ax.set_ylabel("video bitrate (Mbit/s)")
    ax.set_ylim(bottom=0)


def _buffer_panel(ax: Any, samples: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    ax.plot(_times(samples), [s["buffer_s"] for s in samples], color="tab:green", label="buffer")
    started: float | None = None
    labelled = False
    for event in events:
        if event.get("type") == "BufferingStarted":
            started = float(event["at_s"])
        elif event.get("type") == "BufferingEnded" and started is not None:
            ax.axvspan(
                started,
                event["at_s"],
                color="tab:red",
                alpha=0.2,
                label=None if labelled else "stall",
            )
            started, labelled = None, True
    if started is not None and samples:
        ax.axvspan(started, samples[-1]["at_s"], color="tab:red", alpha=0.2, label="stall")
    ax.set_ylabel("buffer ahead (s)")
    ax.set_ylim(bottom=0)


def _throughput_panel(ax: Any, samples: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    estimate = [s["estimate_bps"] / 1e6 for s in samples]
    ax.plot(_times(samples), estimate, color="tab:orange", label="bandwidth estimate")
    downloads = [
        e
        for e in events
        if e.get("type") == "SegmentDownloaded" and e.get("download_s", 0) > 0 and e.get("nbytes")
    ]
    measured = [e["nbytes"] * 8 / e["download_s"] / 1e6 for e in downloads]
    if downloads:
        ax.scatter(
            [e["at_s"] for e in downloads],
            measured,
            s=8,
            color="tab:gray",
            alpha=0.6,
            label="segment download throughput",
        )
    values = [v for v in estimate + measured if v > 0]
    if values:
        # Log scale: loopback start-up transfers (tens of Mbit/s) and a 1 Mbit/s throttle
        # both stay readable.
        ax.set_yscale("log")
        ax.set_ylim(min(values) / 1.5, max(values) * 1.5)
    ax.set_ylabel("throughput (Mbit/s, log)")


def _markers(ax: Any, report: dict[str, Any]) -> None:
    for event in report.get("events", []):
        kind = event.get("type")
        if kind == "EdgeFailedOver":
            track = event.get("track") or "a"
            ax.axvline(
                event["at_s"],
                color="tab:red",
                ls="--",
                lw=1,
                label=f"edge failover ({track} track)",
            )
        elif kind == "ErrorOccurred" and event.get("fatal"):
            ax.axvline(event["at_s"], color="black", lw=1.5, label="fatal error")
    for action in report.get("demo", {}).get("actions", []):
        color, style, text = _ACTION_STYLES.get(
            action.get("action", ""), ("tab:brown", ":", action.get("action", "action"))
        )
        rate = f"{action.get('rate_bps', 0) / 1e6:.1f} Mbit/s"
        ax.axvline(action["at_s"], color=color, ls=style, lw=1.5, label=text.format(rate=rate))
