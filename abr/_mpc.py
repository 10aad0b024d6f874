"""RobustMPC: model-predictive control over a horizon of future segments."""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from abr._batch import BatchReport, BatchState
from abr._controller import BatchController
from abr._types import REASON_CODE, SelectReason
from abr.config import MpcConfig

__all__ = ["RobustMpcController"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_BLOCK_CELLS = 2_000_000
"""Rows × plans evaluated per NumPy block: bounds memory to a few tens of MB."""


@lru_cache(maxsize=32)
def _plans(levels: int, horizon: int) -> IntArray:
    """All rung sequences of length ``horizon``, in lexicographic order, shape (levels**h, h)."""
    return np.array(list(itertools.product(range(levels), repeat=horizon)), dtype=np.int64)


def _push(ring: FloatArray, rows: IntArray, values: FloatArray) -> None:
    ring[rows, :-1] = ring[rows, 1:]
    ring[rows, -1] = values


class RobustMpcController(BatchController):
    """RobustMPC with a 5-segment horizon, as Pensieve's ``test/mpc.py`` runs it.

    From Yin, Jindal, Sekar and Sinopoli, "A Control-Theoretic Approach for Dynamic Adaptive
    Video Streaming over HTTP", ACM SIGCOMM 2015; the reference implementation is that of Mao,
    Netravali and Alizadeh, "Neural Adaptive Video Streaming with Pensieve", SIGCOMM 2017.

    Throughput is predicted as the harmonic mean of the last ``past_samples`` segment
    throughputs (bytes over the whole request time), divided by ``1 +`` the largest relative
    prediction error of the last ``error_window`` predictions. Every rung sequence over the next
    ``horizon`` segments is simulated against that prediction; the first rung of the plan with
    the best QoE (bitrate − rebuffer penalty − smoothness penalty, in Mbit/s) is chosen. Ties go
    to the plan that comes last in lexicographic order, as in the reference code. The error
    history is per session (the reference keeps it in module state across traces).

    >>> from abr import AbrState, Rung
    >>> ladder = [Rung(b * 1e3) for b in (300, 750, 1200, 1850, 2850, 4300)]
    >>> c = RobustMpcController()
    >>> state = AbrState(now=0.0, buffer_s=30.0, throughput_bps=20e6, ladder=ladder, current=5)
    >>> c.select(state).index
    5
    """

    name = "robustmpc"

    def __init__(self, config: MpcConfig | None = None) -> None:
        """Create the controller.

        Args:
            config: Horizon, windows and QoE weights; Pensieve's robustMPC if omitted.
        """
        self.config = config or MpcConfig()
        super().__init__()

    def _reset_state(self, sessions: int) -> None:
        cfg = self.config
        self._samples = np.full((sessions, cfg.past_samples), np.nan)
        self._errors = np.full((sessions, cfg.error_window), np.nan)
        self._last_pred = np.full(sessions, np.nan)

    def on_download_batch(self, report: BatchReport) -> None:
        """Record each finished download's throughput and the last prediction's error."""
        done = ~report.is_abandoned & (report.duration_s > 0)
        rows = report.sessions[done]
        sample = report.nbytes[done] / report.duration_s[done]
        pred = self._last_pred[rows]
        err = np.where(np.isnan(pred), 0.0, np.abs(pred - sample) / sample)
        _push(self._errors, rows, err)
        _push(self._samples, rows, sample)

    def _predict(self, state: BatchState) -> FloatArray:
        rows = state.sessions
        samples = self._samples[rows]
        has = np.any(~np.isnan(samples), axis=1)
        inv = np.where(np.isnan(samples), 0.0, 1.0 / np.where(np.isnan(samples), 1.0, samples))
        count = np.sum(~np.isnan(samples), axis=1)
        harmonic = np.where(
            has, count / np.where(has, inv.sum(axis=1), 1.0), state.throughput_bps / 8.0
        )
        self._last_pred[rows] = np.where(has, harmonic, np.nan)
        if not self.config.is_robust:
            return np.asarray(harmonic, dtype=np.float64)
        errs = self._errors[rows]
        max_err = np.where(
            np.all(np.isnan(errs), axis=1),
            0.0,
            np.nanmax(np.where(np.isnan(errs), -1.0, errs), axis=1),
        )
        return np.asarray(harmonic / (1.0 + np.maximum(max_err, 0.0)), dtype=np.float64)

    def _sizes(self, state: BatchState, rows: IntArray, horizon: int) -> FloatArray:
        """Segment sizes in bytes for the next ``horizon`` segments, shape (rows, h, L).

        Known sizes come from ``state.sizes_bytes``; unknown ones are bitrate × duration. With
        ``size_offset`` a look-up may run past the last segment of the video: it then reads
        the last segment (the horizon itself never passes the end), so a segment that will be
        fetched is never priced at 0 bytes.
        """
        rates = state.bitrates_bps
        nominal = rates * state.segment_duration_s / 8.0
        idx = state.segment_index[rows][:, None] + self.config.size_offset + np.arange(horizon)
        known_rows = 0 if state.sizes_bytes is None else state.sizes_bytes.shape[0]
        if state.segments_total > 0:
            idx = np.minimum(idx, max(state.segments_total, known_rows) - 1)
        out = np.broadcast_to(nominal, (len(rows), horizon, len(rates))).copy()
        if state.sizes_bytes is not None:
            known = idx < known_rows
            table = state.sizes_bytes[np.clip(idx, 0, known_rows - 1)]
            out = np.where(known[:, :, None], table, out)
        return np.asarray(out, dtype=np.float64)

    def _choose(self, state: BatchState) -> tuple[IntArray, IntArray]:
        cfg = self.config
        n = len(state.sessions)
        predicted = self._predict(state)
        horizon = np.full(n, cfg.horizon, dtype=np.int64)
        if state.segments_total > 0:
            left = state.segments_total - state.segment_index
            horizon = np.clip(np.minimum(horizon, left), 1, cfg.horizon)
        out = np.zeros(n, dtype=np.int64)
        for h in np.unique(horizon):
            rows = np.nonzero(horizon == h)[0]
            plans = _plans(len(state.bitrates_bps), int(h))
            block = max(1, _BLOCK_CELLS // len(plans))
            for start in range(0, len(rows), block):
                part = rows[start : start + block]
                out[part] = self._best_first(state, part, plans, predicted[part])
        return out, np.full(n, REASON_CODE[SelectReason.LOOKAHEAD], dtype=np.int64)

    def _best_first(
        self, state: BatchState, rows: IntArray, plans: IntArray, predicted: FloatArray
    ) -> IntArray:
        """First rung of the best plan, growing all plans as a tree one segment at a time.

        Node ``i`` at depth ``j`` has children ``i * L + q``, so the leaves come out in the
        lexicographic order of ``plans`` and the buffer of a shared prefix is simulated once.
        Work is in kbit/s and MB like the reference, so equal plans tie exactly (integer sums)
        and the tie-break (last plan wins) picks the same plan.
        """
        cfg = self.config
        h, levels = plans.shape[1], len(state.bitrates_bps)
        kbps = state.bitrates_bps / 1e3
        sizes_mb = self._sizes(state, rows, h) / 1e6
        bw_mbyte = np.maximum(predicted, 1e-9)[:, None] / 1e6
        cur = state.current[rows]
        first = np.abs(kbps[None, :] - kbps[np.maximum(cur, 0)][:, None])
        first = np.where((cur >= 0)[:, None], first, 0.0)
        buf = state.buffer_s[rows][:, None]
        rebuf = np.zeros_like(buf)
        rate_sum = np.zeros(1)
        smooth = np.zeros(1)
        node_q = np.zeros(1, dtype=np.int64)
        for j in range(h):
            nodes = buf.shape[1]
            dl = np.tile(sizes_mb[:, j, :] / bw_mbyte, (1, nodes))
            parent_buf = np.repeat(buf, levels, axis=1)
            rebuf = np.repeat(rebuf, levels, axis=1) + np.maximum(dl - parent_buf, 0.0)
            buf = np.maximum(parent_buf - dl, 0.0) + state.segment_duration_s
            child_q = np.tile(np.arange(levels), nodes)
            rate_sum = np.repeat(rate_sum, levels) + kbps[child_q]
            if j > 0:
                smooth = np.repeat(smooth, levels) + np.abs(
                    kbps[child_q] - kbps[np.repeat(node_q, levels)]
                )
            else:
                smooth = np.zeros(levels)
            node_q = child_q
        leaves_per_first = levels ** (h - 1)
        smooth_all = smooth[None, :] + np.repeat(first, leaves_per_first, axis=1)
        reward = rate_sum[None, :] / 1e3 - cfg.rebuffer_penalty * rebuf
        reward -= cfg.smooth_penalty * smooth_all / 1e3
        best = reward.shape[1] - 1 - np.argmax(reward[:, ::-1], axis=1)
        return np.asarray(plans[best, 0], dtype=np.int64)
