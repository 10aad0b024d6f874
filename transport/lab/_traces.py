"""Throughput traces for the network emulator: periods of constant rate, looping.

The emulator parses no trace file format itself. Every format researchers use (Pensieve cooked,
Sabre JSON, Mahimahi, FCC/Oboe interval logs, CSV) is read by ``abr``'s one set of readers
(``abr.parse_trace``), into a shape of three NumPy arrays: ``durations_s``, ``bandwidth_bps``
and ``latency_s``. That shape is all the emulator needs: ``ThroughputTrace.from_periods`` takes
any object that has those arrays (an ``abr.NetworkTrace`` does; transport imports nothing of
ours), and ``load_trace`` reads the same three arrays from a NumPy archive, which
``python -m abr traces convert FILE... --to npz --out DIR`` writes from any format.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from transport.errors import TransportConfigError

__all__ = ["PeriodTrace", "ThroughputTrace", "load_trace"]

_FloatArray = npt.NDArray[np.float64]


class PeriodTrace(Protocol):
    """Any trace given as periods of constant rate (``abr.NetworkTrace`` is one).

    Attributes:
        durations_s: Length of each period, seconds.
        bandwidth_bps: Rate during each period, bit/s.
        latency_s: Latency of each period, seconds.
    """

    @property
    def durations_s(self) -> _FloatArray:
        """Length of each period, seconds."""

    @property
    def bandwidth_bps(self) -> _FloatArray:
        """Rate during each period, bit/s."""

    @property
    def latency_s(self) -> _FloatArray:
        """Latency of each period, seconds."""


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

    @classmethod
    def from_periods(cls, trace: PeriodTrace) -> ThroughputTrace:
        """Return the emulator's form of a trace read elsewhere (e.g. ``abr.parse_trace``).

        Periods of zero length are dropped (they carry no time).

        Args:
            trace: Any object with ``durations_s``, ``bandwidth_bps`` and ``latency_s`` arrays.

        Returns:
            The trace.

        Raises:
            TransportConfigError: The arrays are invalid (see the class).
        """
        d = np.asarray(trace.durations_s, dtype=np.float64)
        keep = d > 0
        return cls(
            d[keep],
            np.asarray(trace.bandwidth_bps, dtype=np.float64)[keep],
            np.asarray(trace.latency_s, dtype=np.float64)[keep],
        )

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


def load_trace(path: str | Path) -> ThroughputTrace:
    """Load a trace from a NumPy archive of ``durations_s``, ``bandwidth_bps``, ``latency_s``.

    ``python -m abr traces convert FILE... --to npz --out DIR`` writes such archives from every
    trace format (see the module docstring for why the emulator parses no other format).

    Args:
        path: The ``.npz`` file.

    Returns:
        The trace.

    Raises:
        TransportConfigError: The file cannot be read or is not such an archive.
    """
    try:
        with np.load(Path(path), allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in ("durations_s", "bandwidth_bps", "latency_s")}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise TransportConfigError(
            f"{path}: not a trace archive (.npz of durations_s, bandwidth_bps, latency_s); "
            f"convert it with: python -m abr traces convert {path} --to npz --out DIR"
        ) from exc
    return ThroughputTrace.from_periods(_Periods(**arrays))


@dataclass(frozen=True, slots=True)
class _Periods:
    durations_s: _FloatArray
    bandwidth_bps: _FloatArray
    latency_s: _FloatArray
