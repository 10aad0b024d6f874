"""Looped piecewise-constant bandwidth traces for many sessions, vectorised.

The cumulative bytes a session's link can carry is piecewise linear in trace time; both it
and its inverse are evaluated for all sessions at once with one ``searchsorted`` over rows laid
end to end (each row shifted past the previous one, so the flat array stays sorted).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from abr._media import NetworkTrace

__all__: list[str] = []

FloatArray = npt.NDArray[np.float64]
AnyFloat = npt.NDArray[np.floating[npt.NBitBase]]
IntArray = npt.NDArray[np.int64]


class Timeline:
    """Cumulative-bytes function of each session's looped trace."""

    def __init__(self, traces: Sequence[NetworkTrace], payload_factor: float) -> None:
        n = len(traces)
        k = max(len(t.durations_s) for t in traces)
        self.lengths = np.array([len(t.durations_s) for t in traces], dtype=np.int64)
        bounds = np.zeros((n, k + 1))
        cum = np.zeros((n, k + 1))
        rate = np.zeros((n, k))
        lat = np.zeros((n, k))
        for i, t in enumerate(traces):
            m = len(t.durations_s)
            r = t.bandwidth_bps * payload_factor / 8.0
            bounds[i, 1 : m + 1] = np.cumsum(t.durations_s)
            bounds[i, m + 1 :] = bounds[i, m]
            cum[i, 1 : m + 1] = np.cumsum(t.durations_s * r)
            cum[i, m + 1 :] = cum[i, m]
            rate[i, :m] = r
            lat[i, :m] = t.latency_s
        self.bounds, self.cum, self.rate, self.latency = bounds, cum, rate, lat
        self.min_rate = np.array([float(np.min(rate[i, :m])) for i, m in enumerate(self.lengths)])
        self.period = bounds[np.arange(n), self.lengths]
        self.total = cum[np.arange(n), self.lengths]
        self._width = k + 1
        self._t_shift: FloatArray = np.arange(n, dtype=np.float64) * np.float64(
            self.period.max() + 1.0
        )
        self._c_shift: FloatArray = np.arange(n, dtype=np.float64) * np.float64(
            self.total.max() + 1.0
        )
        self._t_flat: FloatArray = np.ravel(bounds + self._t_shift[:, None]).astype(np.float64)
        self._c_flat: FloatArray = np.ravel(cum + self._c_shift[:, None]).astype(np.float64)

    def _interval(
        self, flat: FloatArray, shift: FloatArray, rows: IntArray, r: FloatArray
    ) -> IntArray:
        pos = np.searchsorted(flat, r + shift[rows], side="right") - rows * self._width - 1
        return np.asarray(np.clip(pos, 0, self.lengths[rows] - 1), dtype=np.int64)

    def bytes_at(self, rows: IntArray, t: FloatArray) -> FloatArray:
        """Cumulative payload bytes the link carried from time 0 to trace time ``t``."""
        period = self.period[rows]
        loops = np.floor(t / period)
        r = t - loops * period
        i = self._interval(self._t_flat, self._t_shift, rows, r)
        return np.asarray(
            loops * self.total[rows]
            + self.cum[rows, i]
            + self.rate[rows, i] * (r - self.bounds[rows, i]),
            dtype=np.float64,
        )

    def time_at(self, rows: IntArray, c: FloatArray) -> FloatArray:
        """Earliest trace time by which the link carried ``c`` cumulative bytes."""
        total = self.total[rows]
        loops = np.floor(c / total)
        r = c - loops * total
        i = self._interval(self._c_flat, self._c_shift, rows, r)
        rate = self.rate[rows, i]
        frac = np.where(rate > 0, (r - self.cum[rows, i]) / np.where(rate > 0, rate, 1.0), 0.0)
        return np.asarray(loops * self.period[rows] + self.bounds[rows, i] + frac, dtype=np.float64)

    def latency_at(self, rows: IntArray, t: FloatArray) -> FloatArray:
        """Latency of the period containing trace time ``t``, seconds."""
        period = self.period[rows]
        r = t - np.floor(t / period) * period
        i = self._interval(self._t_flat, self._t_shift, rows, r)
        return np.asarray(self.latency[rows, i], dtype=np.float64)
