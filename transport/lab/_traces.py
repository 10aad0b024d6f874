"""Throughput traces for the network emulator: Sabre JSON periods and Pensieve cooked traces.

Formats (see ``abr-data/README.md``): a Sabre network file is a JSON list of periods
``{"duration_ms", "bandwidth_kbps", "latency_ms"}`` played in order and looped; a Pensieve
"cooked" trace has one ``time_s throughput_Mbit/s`` line per sample, where line *i*'s rate
applies to ``(t[i-1], t[i]]`` and the first line only anchors ``t = 0``; it loops too.
Both load into the same ``ThroughputTrace`` (periods of constant rate, looping).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from transport.errors import TransportConfigError

__all__ = ["ThroughputTrace", "load_cooked_trace", "load_sabre_trace", "load_trace"]

_FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False, slots=True)
class ThroughputTrace:
    """A looping sequence of constant-rate periods.

    Args:
        durations_s: Length of each period, seconds (positive).
        rates_bps: Rate during each period, bit/s (non-negative; 0 is an outage).
        latencies_s: Per-period latency from the trace (Sabre's ``latency_ms``), seconds, or
            ``None``. Informative: the emulator's delay is set on the emulator.
    """

    durations_s: _FloatArray
    rates_bps: _FloatArray
    latencies_s: _FloatArray | None = None
    _ends: _FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Validate the arrays.

        Raises:
            TransportConfigError: Empty, mismatched, non-finite, or non-positive durations.
        """
        d, r = self.durations_s, self.rates_bps
        if d.ndim != 1 or d.shape != r.shape or d.size == 0:
            raise TransportConfigError("a trace needs one rate per period and at least one period")
        if not (np.all(np.isfinite(d)) and np.all(np.isfinite(r))):
            raise TransportConfigError("trace values must be finite")
        if np.any(d <= 0) or np.any(r < 0):
            raise TransportConfigError("trace durations must be > 0 and rates >= 0")
        if float(np.dot(d, r)) <= 0:
            raise TransportConfigError("a trace must carry some bits (all rates are 0)")
        object.__setattr__(self, "_ends", np.cumsum(d))

    @classmethod
    def constant(cls, rate_bps: float, *, duration_s: float = 1.0) -> ThroughputTrace:
        """Return a trace holding one rate.

        Args:
            rate_bps: The rate, bit/s.
            duration_s: Period length (irrelevant for a constant rate), seconds.

        Returns:
            The trace.
        """
        return cls(np.array([duration_s], dtype=np.float64), np.array([rate_bps], dtype=np.float64))

    @property
    def length_s(self) -> float:
        """Duration of one pass through the trace, seconds."""
        return float(self._ends[-1])

    @property
    def mean_rate_bps(self) -> float:
        """Time-weighted mean rate over one pass, bit/s."""
        return float(np.dot(self.durations_s, self.rates_bps) / self.length_s)

    def _index(self, t: float) -> tuple[int, float]:
        """Return the period index at trace time ``t`` and the time left in that period."""
        position = t % self.length_s
        ends = self._ends
        i = int(np.searchsorted(ends, position, side="right"))
        i = min(i, ends.size - 1)
        return i, float(ends[i]) - position

    def rate_at(self, t: float) -> float:
        """Return the rate at trace time ``t`` (seconds from the start, looping), bit/s."""
        return float(self.rates_bps[self._index(t)[0]])

    def transmit_end(self, t: float, bits: float) -> float:
        """Return when ``bits`` started at trace time ``t`` have been sent through the trace.

        Zero-rate periods (outages) are waited out.

        Args:
            t: Start time, seconds on the trace's clock.
            bits: Amount to send, bits.

        Returns:
            The finish time on the same clock.
        """
        i, left = self._index(t)
        n = self.rates_bps.size
        while True:
            rate = float(self.rates_bps[i])
            if rate > 0 and bits <= rate * left:
                return t + bits / rate
            bits -= rate * left
            t += left
            i = (i + 1) % n
            left = float(self.durations_s[i])


def load_sabre_trace(path: str | Path) -> ThroughputTrace:
    """Load a Sabre network JSON file.

    Args:
        path: The file.

    Returns:
        The trace (``latencies_s`` from ``latency_ms``).

    Raises:
        TransportConfigError: The file is not a list of Sabre periods.
    """
    try:
        periods = json.loads(Path(path).read_text(encoding="utf-8"))
        durations = [float(p["duration_ms"]) / 1000 for p in periods]
        rates = [float(p["bandwidth_kbps"]) * 1000 for p in periods]
        latencies = [float(p.get("latency_ms", 0.0)) / 1000 for p in periods]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise TransportConfigError(f"{path}: not a Sabre network trace: {exc}") from exc
    return ThroughputTrace(
        np.array(durations, dtype=np.float64),
        np.array(rates, dtype=np.float64),
        np.array(latencies, dtype=np.float64),
    )


def load_cooked_trace(path: str | Path) -> ThroughputTrace:
    """Load a Pensieve "cooked" trace (``time_s throughput_Mbit/s`` per line).

    Line *i*'s rate covers ``(t[i-1], t[i]]``; the first line only anchors ``t = 0``.

    Args:
        path: The file.

    Returns:
        The trace.

    Raises:
        TransportConfigError: The file is malformed or has fewer than two samples.
    """
    try:
        rows = [line.split() for line in Path(path).read_text(encoding="utf-8").splitlines()]
        samples = np.array([[float(r[0]), float(r[1])] for r in rows if r], dtype=np.float64)
    except (OSError, ValueError, IndexError) as exc:
        raise TransportConfigError(f"{path}: not a cooked trace: {exc}") from exc
    if samples.shape[0] < 2:
        raise TransportConfigError(f"{path}: a cooked trace needs at least two lines")
    durations = np.diff(samples[:, 0])
    keep = durations > 0  # repeated timestamps carry no time
    if not np.all(np.isfinite(samples)) or math.isclose(float(durations[keep].sum()), 0.0):
        raise TransportConfigError(f"{path}: cooked trace times must increase")
    return ThroughputTrace(durations[keep], samples[1:, 1][keep] * 1e6)


def load_trace(path: str | Path) -> ThroughputTrace:
    """Load a trace, choosing the format by content (JSON list: Sabre; else cooked).

    Args:
        path: The file.

    Returns:
        The trace.

    Raises:
        TransportConfigError: The file is neither format.
    """
    try:
        head = Path(path).read_text(encoding="utf-8").lstrip()[:1]
    except OSError as exc:
        raise TransportConfigError(f"{path}: cannot read trace: {exc}") from exc
    return load_sabre_trace(path) if head == "[" else load_cooked_trace(path)
