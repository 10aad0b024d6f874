"""Reference algorithms behind the same interface: throughput rule, BBA and BOLA."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from abr._batch import BatchProgress, BatchReport, BatchState
from abr._controller import BatchController, quality_from_throughput
from abr._types import REASON_CODE, SelectReason
from abr.config import BbaConfig, BolaConfig, ThroughputRuleConfig

__all__ = ["BbaController", "BolaController", "ThroughputController"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


_TIME_EPS_S = 1e-9
"""Tolerance when comparing simulated times: the reference runs on whole milliseconds, where
0.05 s steps add up exactly; in float seconds they may fall a hair short of a threshold."""


def _codes(n: int, reason: SelectReason) -> IntArray:
    return np.full(n, REASON_CODE[reason], dtype=np.int64)


class ThroughputController(BatchController):
    """Sabre's throughput rule, with its insufficient-buffer rule and abandonment.

    From Spiteri, Sitaraman and Sparacio, "From Theory to Practice: Improving Bitrate
    Adaptation in the DASH Reference Player", ACM MMSys 2018.

    Picks the highest rung that, after the latency, downloads within one segment duration at
    ``safety`` × the estimate; the insufficient-buffer rule caps the segment size at a decaying
    fraction of what the buffer can cover. Abandons a download projected to take more than
    ``abandon_multiplier`` segment durations.

    >>> from abr import AbrState, Rung
    >>> c = ThroughputController()
    >>> ladder = [Rung(1e6), Rung(2e6), Rung(4e6)]
    >>> state = AbrState(now=0.0, buffer_s=20.0, throughput_bps=3e6, ladder=ladder, current=0)
    >>> c.select(state).index
    1
    """

    name = "throughput"

    def __init__(self, config: ThroughputRuleConfig | None = None) -> None:
        """Create the controller.

        Args:
            config: Rule parameters; Sabre's defaults if omitted.
        """
        self.config = config or ThroughputRuleConfig()
        super().__init__()

    def _reset_state(self, sessions: int) -> None:
        self._ibr = np.full(sessions, self.config.ibr_safety_start)

    def _choose(self, state: BatchState) -> tuple[IntArray, IntArray]:
        cfg = self.config
        p = state.segment_duration_s
        rates = state.bitrates_bps
        q = quality_from_throughput(rates, state.throughput_bps * cfg.safety, state.latency_s, p)
        reason = _codes(len(q), SelectReason.THROUGHPUT)
        if cfg.use_ibr:
            ibr = self._ibr[state.sessions]
            safe_bits = ibr * (state.buffer_s - state.latency_s) * state.throughput_bps
            cap = np.sum(rates[None, 1:] * p <= safe_bits[:, None], axis=1)
            capped = cap < q
            q = np.where(capped, cap, q)
            reason[capped] = REASON_CODE[SelectReason.BUFFER]
            decayed = np.maximum(ibr * cfg.ibr_safety_start, cfg.ibr_safety_floor)
            self._ibr[state.sessions] = np.where(state.current < 0, ibr, decayed)
        first = state.current < 0  # no download yet: Sabre's get_first_quality() is rung 0
        q = np.where(first, 0, q)
        reason[first] = REASON_CODE[SelectReason.INITIAL]
        return q, reason

    def abandon_earliest_s(self, buffer_s: FloatArray) -> FloatArray:
        """No advice within the grace time (a microsecond early, for float rounding)."""
        return np.full(len(buffer_s), max(self.config.abandon_grace_s - 1e-6, 0.0))

    def decide_abandon_batch(self, progress: BatchProgress) -> IntArray:
        """Abandon when the download is projected to exceed ``abandon_multiplier`` segments.

        Returns:
            Per row, the rung the throughput rule picks at the download's rate so far, if that
            is lower and its segment smaller than what is left; otherwise -1.
        """
        cfg = self.config
        out = np.full(len(progress.sessions), -1, dtype=np.int64)
        dl_s = progress.elapsed_s - progress.ttfb_s
        ok = (
            (progress.elapsed_s >= cfg.abandon_grace_s - _TIME_EPS_S)
            & (dl_s > 0)
            & (progress.downloaded_bytes > 0)
        )
        if not np.any(ok):
            return out
        rows = np.nonzero(ok)[0]
        tput = 8.0 * progress.downloaded_bytes[rows] / dl_s[rows]
        left = progress.size_bytes[rows] - progress.downloaded_bytes[rows]
        late = (
            progress.elapsed_s[rows] + 8.0 * left / tput
            > cfg.abandon_multiplier * progress.segment_duration_s
        )
        rows, tput, left = rows[late], tput[late], left[late]
        if len(rows) == 0:
            return out
        rates = progress.bitrates_bps
        q = quality_from_throughput(
            rates, tput * cfg.safety, progress.latency_s[rows], progress.segment_duration_s
        )
        cur = progress.index[rows]
        est = progress.size_bytes[rows] * rates[q] / rates[cur]
        good = (q < cur) & (est < left)
        out[rows[good]] = q[good]
        return out


class BbaController(BatchController):
    """Buffer-based adaptation (BBA), in the form Pensieve's ``test/bb.py`` runs as baseline.

    From Huang, Johari, McKeown, Trunnell and Watson, "A Buffer-Based Approach to Rate
    Adaptation: Evidence from a Large Video Streaming Service", ACM SIGCOMM 2014.

    The lowest rung below the reservoir, the top rung above reservoir + cushion, and in between
    a rung index rising linearly with the buffer.

    >>> from abr import AbrState, Rung
    >>> ladder = [Rung(b * 1e3) for b in (300, 750, 1200, 1850, 2850, 4300)]
    >>> state = AbrState(now=0.0, buffer_s=11.0, throughput_bps=0.0, ladder=ladder)
    >>> BbaController().select(state).index
    3
    """

    name = "bba"

    def __init__(self, config: BbaConfig | None = None) -> None:
        """Create the controller.

        Args:
            config: Reservoir and cushion; Pensieve's 5 s and 10 s if omitted.
        """
        self.config = config or BbaConfig()
        super().__init__()

    def _reset_state(self, sessions: int) -> None:
        pass

    def _choose(self, state: BatchState) -> tuple[IntArray, IntArray]:
        top = len(state.bitrates_bps) - 1
        frac = (state.buffer_s - self.config.reservoir_s) / self.config.cushion_s
        q = np.floor(np.clip(frac, 0.0, 1.0) * top).astype(np.int64)
        return q, _codes(len(q), SelectReason.BUFFER)


class BolaController(BatchController):
    """BOLA, the Lyapunov buffer-based algorithm, as Sabre's ``bola`` runs it.

    From Spiteri, Urgaonkar and Sitaraman, "BOLA: Near-Optimal Bitrate Adaptation for Online
    Videos", IEEE INFOCOM 2016.

    Each rung ``m`` scores ``(V * (u_m + gamma_p) - Q) / S_m`` with utility
    ``u_m = ln(S_m / S_0)`` and buffer ``Q``; the best score wins. Unless ``is_basic``, the
    planned buffer shrinks near the start and end of the video, an up-switch is limited to one
    rung above what the throughput sustains, and downloads are abandoned when a lower rung scores
    better for the bytes still to come.

    >>> from abr import AbrState, Rung
    >>> ladder = [Rung(b * 1e3) for b in (300, 750, 1200, 1850, 2850, 4300)]
    >>> state = AbrState(now=0.0, buffer_s=0.0, throughput_bps=9e9, ladder=ladder)
    >>> BolaController().select(state).index
    0
    """

    name = "bola"

    def __init__(self, config: BolaConfig | None = None) -> None:
        """Create the controller.

        Args:
            config: BOLA parameters; Sabre's defaults if omitted.
        """
        self.config = config or BolaConfig()
        super().__init__()

    def _reset_state(self, sessions: int) -> None:
        self._last = np.zeros(sessions, dtype=np.int64)
        self._vp = np.zeros(sessions)

    def _vp_for(self, state: BatchState, utilities: FloatArray) -> FloatArray:
        cfg = self.config
        p = state.segment_duration_s
        target = np.full(len(state.sessions), cfg.buffer_target_s)
        if not cfg.is_basic and state.segments_total > 0:
            idx = state.segment_index.astype(np.float64)
            t = np.minimum(idx, state.segments_total - idx)
            t = np.maximum(t / 2.0, 3.0) * p
            target = np.minimum(target, t)
        return np.asarray((target - p) / (utilities[-1] + cfg.gamma_p), dtype=np.float64)

    def _choose(self, state: BatchState) -> tuple[IntArray, IntArray]:
        rates = state.bitrates_bps
        util = np.log(rates / rates[0])
        vp = self._vp_for(state, util)
        self._vp[state.sessions] = vp
        score = (
            vp[:, None] * (util[None, :] + self.config.gamma_p) - state.buffer_s[:, None]
        ) / rates
        q = np.argmax(score, axis=1).astype(np.int64)
        reason = _codes(len(q), SelectReason.BUFFER)
        if not self.config.is_basic:
            last = self._last[state.sessions]
            qt = quality_from_throughput(
                rates, state.throughput_bps, state.latency_s, state.segment_duration_s
            )
            up = q > last
            limited = up & (q > qt)
            q = np.where(limited, np.where(last > qt, last, qt + 1), q)
            reason[limited] = REASON_CODE[SelectReason.THROUGHPUT]
        first = state.current < 0  # no download yet: Sabre's get_first_quality() is rung 0
        q = np.where(first, 0, q)
        reason[first] = REASON_CODE[SelectReason.INITIAL]
        return q, reason

    def _after_select(self, state: BatchState, index: IntArray) -> None:
        self._last[state.sessions] = index

    def decide_abandon_batch(self, progress: BatchProgress) -> IntArray:
        """Abandon when a lower rung scores better for the bytes still to download.

        Returns:
            Per row, the best-scoring lower rung whose whole segment is smaller than what is
            left of the current one, or -1.
        """
        n = len(progress.sessions)
        out = np.full(n, -1, dtype=np.int64)
        if self.config.is_basic:
            return out
        remain = progress.size_bytes - progress.downloaded_bytes
        rates = progress.bitrates_bps
        util = np.log(rates / rates[0])
        vp = self._vp[progress.sessions][:, None]
        gp = self.config.gamma_p
        cur = progress.index
        buf = progress.buffer_s[:, None]
        safe_remain = np.where(remain > 0, remain, 1.0)
        score = (vp[:, 0] * (gp + util[cur]) - progress.buffer_s) / safe_remain
        ok = (progress.downloaded_bytes > 0) & (remain > 0) & (score >= 0)
        other = progress.size_bytes[:, None] * rates[None, :] / rates[cur][:, None]
        other_score = (vp * (gp + util[None, :]) - buf) / other
        lower = np.arange(len(rates))[None, :] < cur[:, None]
        better = ok[:, None] & lower & (other < remain[:, None]) & (other_score > score[:, None])
        # Sabre walks the lower rungs upwards keeping a running best (strict >): the result is
        # the first rung with the highest score among those beating the current one.
        best = np.argmax(np.where(better, other_score, -np.inf), axis=1)
        return np.where(better.any(axis=1), best, out).astype(np.int64)

    def on_download_batch(self, report: BatchReport) -> None:
        """Remember the rung downloaded, or the one an abandonment moved to (as Sabre does)."""
        last = np.where(
            report.is_abandoned & (report.abandon_to >= 0), report.abandon_to, report.index
        )
        self._last[report.sessions] = last
