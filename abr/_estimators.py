"""Throughput estimators: dual EWMA weighted by download time, and a sliding-window percentile.

Both keep their state in arrays with one row per session, so the simulator can feed thousands of
sessions at once; the scalar methods used by a live player work on row 0.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from abr.config import AbrConfig

__all__ = ["EwmaEstimator", "PercentileEstimator", "ThroughputEstimator"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_ROW0: IntArray = np.zeros(1, dtype=np.int64)


@runtime_checkable
class ThroughputEstimator(Protocol):
    """Turns transfer samples into a throughput (and latency) estimate.

    A session feeds every finished segment download with :meth:`on_sample` and reads
    :meth:`estimate_bps` before each decision. The ``*_batch`` forms do the same for many
    sessions at once (one row per session, see :meth:`reset`).
    """

    def reset(self, sessions: int = 1) -> None:
        """Forget all samples and allocate state for ``sessions`` independent sessions."""

    def on_sample(self, nbytes: float, ttfb_s: float, duration_s: float, now: float) -> None:
        """Record one transfer: bytes, time to first byte, and total duration (seconds)."""

    def estimate_bps(self, now: float) -> float:
        """Return the throughput estimate in bits per second."""

    def estimate_latency_s(self, now: float) -> float:
        """Return the estimated time to first byte of a request, seconds."""

    def on_sample_batch(
        self,
        sessions: IntArray,
        nbytes: FloatArray,
        ttfb_s: FloatArray,
        duration_s: FloatArray,
        now: FloatArray,
    ) -> None:
        """Record one transfer for each listed session."""

    def estimate_bps_batch(self, sessions: IntArray, now: FloatArray) -> FloatArray:
        """Return the throughput estimate of each listed session, bits per second."""

    def estimate_latency_batch(self, sessions: IntArray, now: FloatArray) -> FloatArray:
        """Return the latency estimate of each listed session, seconds."""


class _LatencyEwma:
    """Per-sample EWMA of time to first byte, corrected for its zero start (as Sabre does)."""

    def __init__(self, half_life_samples: float, sessions: int) -> None:
        self._alpha = 0.5 ** (1.0 / half_life_samples)
        self._value = np.zeros(sessions)
        self._weight = np.zeros(sessions)

    def push(self, sessions: IntArray, ttfb_s: FloatArray) -> None:
        self._value[sessions] = self._alpha * self._value[sessions] + (1 - self._alpha) * ttfb_s
        self._weight[sessions] += 1.0

    def get(self, sessions: IntArray) -> FloatArray:
        w = self._weight[sessions]
        zero = 1.0 - self._alpha**w
        return np.where(w > 0, self._value[sessions] / np.where(w > 0, zero, 1.0), 0.0)


class _RowEstimator:
    """The live (one-session) methods of a batch estimator, and its latency EWMA.

    Subclasses keep ``_latency`` and implement the batch methods; live playback calls these
    methods, which run the same batch code on row 0.
    """

    _latency: _LatencyEwma

    def on_sample_batch(
        self,
        sessions: IntArray,
        nbytes: FloatArray,
        ttfb_s: FloatArray,
        duration_s: FloatArray,
        now: FloatArray,
    ) -> None:
        """Record one transfer per listed session."""
        raise NotImplementedError

    def estimate_bps_batch(self, sessions: IntArray, now: FloatArray) -> FloatArray:
        """Return the throughput estimate of each listed session, bits per second."""
        raise NotImplementedError

    def on_sample(self, nbytes: float, ttfb_s: float, duration_s: float, now: float) -> None:
        """Record one transfer (see :meth:`on_sample_batch`)."""
        self.on_sample_batch(
            _ROW0, np.array([nbytes]), np.array([ttfb_s]), np.array([duration_s]), np.array([now])
        )

    def estimate_bps(self, now: float) -> float:
        """Return the throughput estimate in bits per second."""
        return float(self.estimate_bps_batch(_ROW0, np.array([now]))[0])

    def estimate_latency_s(self, now: float) -> float:
        """Return the estimated time to first byte, seconds (0 before any sample)."""
        return float(self.estimate_latency_batch(_ROW0, np.array([now]))[0])

    def estimate_latency_batch(self, sessions: IntArray, now: FloatArray) -> FloatArray:
        """Return each listed session's time-to-first-byte estimate, seconds."""
        return self._latency.get(sessions)


class EwmaEstimator(_RowEstimator):
    """Two EWMAs of throughput (fast and slow), each weighted by transfer time.

    Each sample's throughput is ``8 * nbytes / (duration_s - ttfb_s)``: the time to first byte
    is tracked separately as latency, so a controller can charge it once per request. A sample
    of ``w`` seconds moves an average with half-life ``h`` by ``1 - 0.5 ** (w / h)``; the zero
    start is corrected by dividing by ``1 - 0.5 ** (total_w / h)`` (as Shaka and Sabre do). The
    estimate is the lower of the two averages: it falls fast and rises slowly. Transfers smaller
    than ``min_sample_bytes`` are ignored, and ``default_bandwidth_bps`` is returned until
    ``min_total_bytes`` were sampled.

    >>> est = EwmaEstimator(AbrConfig(min_total_bytes=0, min_sample_bytes=0))
    >>> est.on_sample(nbytes=500_000, ttfb_s=0.1, duration_s=1.1, now=1.1)
    >>> round(est.estimate_bps(now=1.1))
    4000000
    """

    def __init__(self, config: AbrConfig, *, sessions: int = 1) -> None:
        """Create the estimator.

        Args:
            config: The abr section (half-lives, thresholds, default bandwidth).
            sessions: Independent sessions to track (1 for live playback).
        """
        self._cfg = config
        self._half_lives = np.array([config.fast_half_life_s, config.slow_half_life_s])
        self.reset(sessions)

    def reset(self, sessions: int = 1) -> None:
        """Forget all samples and allocate state for ``sessions`` sessions."""
        self._avg = np.zeros((sessions, 2))
        self._weight_s = np.zeros(sessions)
        self._bytes = np.zeros(sessions)
        self._latency = _LatencyEwma(self._cfg.latency_half_life_samples, sessions)

    def on_sample_batch(
        self,
        sessions: IntArray,
        nbytes: FloatArray,
        ttfb_s: FloatArray,
        duration_s: FloatArray,
        now: FloatArray,
    ) -> None:
        """Record one transfer per listed session.

        Args:
            sessions: Rows of the sessions the samples belong to.
            nbytes: Bytes transferred.
            ttfb_s: Seconds from request to first byte.
            duration_s: Seconds from request to last byte (includes ``ttfb_s``).
            now: Time of each sample, seconds (unused: the weights are transfer times).
        """
        transfer_s = np.asarray(duration_s, dtype=np.float64) - ttfb_s
        ok = (transfer_s > 0) & (np.asarray(nbytes) >= self._cfg.min_sample_bytes)
        if not np.all(ok):
            sessions, nbytes, ttfb_s, transfer_s = (
                sessions[ok],
                nbytes[ok],
                ttfb_s[ok],
                transfer_s[ok],
            )
        tput = 8.0 * nbytes / transfer_s
        alpha = 0.5 ** (transfer_s[:, None] / self._half_lives[None, :])
        self._avg[sessions] = alpha * self._avg[sessions] + (1.0 - alpha) * tput[:, None]
        self._weight_s[sessions] += transfer_s
        self._bytes[sessions] += nbytes
        self._latency.push(sessions, np.asarray(ttfb_s, dtype=np.float64))

    def estimate_bps_batch(self, sessions: IntArray, now: FloatArray) -> FloatArray:
        """Return each listed session's estimate, bits per second."""
        w = self._weight_s[sessions]
        zero = 1.0 - 0.5 ** (w[:, None] / self._half_lives[None, :])
        safe_zero = np.where(zero > 0, zero, 1.0)
        est = np.min(self._avg[sessions] / safe_zero, axis=1)
        ready = (w > 0) & (self._bytes[sessions] >= self._cfg.min_total_bytes)
        return np.where(ready, est, self._cfg.default_bandwidth_bps)


class PercentileEstimator(_RowEstimator):
    """A low percentile of the last samples' throughput, in a sliding window.

    Keeps the last ``percentile_window_samples`` samples no older than
    ``percentile_max_age_s`` and returns their ``percentile_q``-th percentile: a robust,
    conservative estimate that ignores a single outlier in either direction.

    >>> est = PercentileEstimator(AbrConfig(min_sample_bytes=0, percentile_q=50.0))
    >>> for mbit in (1, 2, 3):
    ...     est.on_sample(nbytes=mbit * 125_000, ttfb_s=0.0, duration_s=1.0, now=float(mbit))
    >>> est.estimate_bps(now=3.0)
    2000000.0
    """

    def __init__(self, config: AbrConfig, *, sessions: int = 1) -> None:
        """Create the estimator.

        Args:
            config: The abr section (window, percentile, maximum age, default bandwidth).
            sessions: Independent sessions to track (1 for live playback).
        """
        self._cfg = config
        self.reset(sessions)

    def reset(self, sessions: int = 1) -> None:
        """Forget all samples and allocate state for ``sessions`` sessions."""
        w = self._cfg.percentile_window_samples
        self._tput = np.full((sessions, w), np.nan)
        self._time = np.full((sessions, w), -np.inf)
        self._next = np.zeros(sessions, dtype=np.int64)
        self._latency = _LatencyEwma(self._cfg.latency_half_life_samples, sessions)

    def on_sample_batch(
        self,
        sessions: IntArray,
        nbytes: FloatArray,
        ttfb_s: FloatArray,
        duration_s: FloatArray,
        now: FloatArray,
    ) -> None:
        """Record one transfer per listed session (arguments as in :class:`EwmaEstimator`)."""
        transfer_s = np.asarray(duration_s, dtype=np.float64) - ttfb_s
        ok = (transfer_s > 0) & (np.asarray(nbytes) >= self._cfg.min_sample_bytes)
        sessions, transfer_s = sessions[ok], transfer_s[ok]
        slot = self._next[sessions]
        self._tput[sessions, slot] = 8.0 * np.asarray(nbytes)[ok] / transfer_s
        self._time[sessions, slot] = np.asarray(now, dtype=np.float64)[ok]
        self._next[sessions] = (slot + 1) % self._tput.shape[1]
        self._latency.push(sessions, np.asarray(ttfb_s, dtype=np.float64)[ok])

    def estimate_bps_batch(self, sessions: IntArray, now: FloatArray) -> FloatArray:
        """Return each listed session's estimate, bits per second."""
        fresh = self._time[sessions] >= (np.asarray(now)[:, None] - self._cfg.percentile_max_age_s)
        values = np.where(fresh, self._tput[sessions], np.nan)
        has = np.any(~np.isnan(values), axis=1)
        out = np.full(len(sessions), self._cfg.default_bandwidth_bps)
        if np.any(has):
            out[has] = np.nanpercentile(values[has], self._cfg.percentile_q, axis=1)
        return out
