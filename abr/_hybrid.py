"""The default controller: throughput with hysteresis, buffer thresholds and stability windows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt

from abr._batch import BatchProgress, BatchReport, BatchState
from abr._controller import BatchController
from abr._types import REASON_CODE, SelectReason
from abr.config import AbrConfig

__all__ = ["HybridController"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_R = REASON_CODE


def _push(ring: FloatArray, rows: IntArray, values: FloatArray) -> None:
    """Append one value per listed row to a per-row ring (oldest first, dropped when full)."""
    ring[rows, :-1] = ring[rows, 1:]
    ring[rows, -1] = values


def _highest_rung(bitrates_bps: FloatArray, cap_bps: FloatArray) -> IntArray:
    """Highest rung whose bitrate is at most each row's cap; rung 0 if none is."""
    count = np.searchsorted(bitrates_bps, np.nan_to_num(cap_bps, nan=0.0), side="right")
    return np.asarray(np.maximum(count - 1, 0), dtype=np.int64)


def _row_median(values: FloatArray, count: IntArray) -> FloatArray:
    """Median of each row's non-NaN values (``count`` of them; NaN where a row has none)."""
    ordered = np.sort(values, axis=1)  # NaN sort last
    lo = np.maximum(count - 1, 0) // 2
    hi = np.maximum(count, 1) // 2
    hi = np.minimum(hi, values.shape[1] - 1)
    at = np.arange(len(values))
    med = 0.5 * (ordered[at, lo] + ordered[at, np.where(count > 0, hi, 0)])
    return np.where(count > 0, med, np.nan)


class HybridController(BatchController):
    """Buffer-and-throughput controller that does not flutter (the SDK's default).

    A rung is *affordable* at safety ``s`` if fetching the next ``plan_segments`` segments of
    it at ``s`` × the throughput estimate (plus the latency per request) keeps the buffer above
    ``plan_floor_s``: the buffer above the floor may be spent, the floor is kept. When the
    player's buffer cap is known (``AbrState.max_buffer_s``), horizon and floor are fractions
    of it (``plan_horizon_buffer_fraction``, ``plan_floor_buffer_fraction``).

    The estimate is the session's throughput estimate, unless the link shifted up: when the
    last ``shift_samples`` measured throughputs all exceed it by more than ``shift_sigmas``
    robust standard deviations of the session's own log prediction errors, the lowest of
    them is planned with instead (reason ``level_shift`` when that enables an up-switch).
    Per decision:

    1. First decision, and the first one after a measured download: the highest rung
       affordable at ``up_safety`` (before a measurement the estimate is only the default).
    2. Emergency: below ``emergency_buffer_s`` of buffer, drop at once to the highest rung
       affordable at ``down_safety``, ignoring the stability windows.
    3. Up-switch: only if a higher rung is affordable at ``up_safety``, the buffer holds at least
       ``min_buffer_for_up_s`` and ``min_switch_interval_s`` passed since the last switch;
       straight to the affordable rung, or at most ``max_up_steps`` rungs if that is set.
       Within ``up_after_down_s`` of a down-switch (unless the buffer is back above
       ``up_after_down_waive_buffer_s`` or a level shift up is detected) only to a rung still
       affordable if the link delivers ``up_after_down_sigmas`` robust standard deviations
       of the session's prediction error less than planned.
    4. Down-switch: once the current rung is not affordable at ``down_safety`` (hysteresis:
       ``down_safety`` > ``up_safety``), unless the buffer holds ``hold_buffer_s`` or the last
       switch is younger than ``min_switch_interval_s``.
    5. Otherwise hold the current rung.

    After an abandoned download the next choice is capped at the rung the advice named.
    :meth:`decide_abandon` advises abandoning once a download has used
    ``abandon_after_buffer_fraction`` of the buffer it started with and is projected (at its
    rate so far) to finish more than ``abandon_margin_s`` after the buffer runs out, naming the
    highest lower rung that would arrive in time (or rung 0 if it arrives sooner).

    >>> from abr import AbrConfig, AbrState, Rung
    >>> ladder = [Rung(b * 1e3) for b in (300, 750, 1200, 1850, 2850, 4300)]
    >>> c = HybridController(AbrConfig())
    >>> d = c.select(AbrState(now=0.0, buffer_s=0.0, throughput_bps=4e6, ladder=ladder))
    >>> d.index, d.reason.value
    (3, 'initial')
    """

    name = "hybrid"

    def __init__(self, config: AbrConfig | None = None) -> None:
        """Create the controller.

        Args:
            config: The abr section; its defaults if omitted.
        """
        self.config = config or AbrConfig()
        super().__init__()

    def _reset_state(self, sessions: int) -> None:
        cfg = self.config
        self._last_switch = np.full(sessions, -np.inf)
        self._last_down = np.full(sessions, -np.inf)
        self._cap = np.full(sessions, -1, dtype=np.int64)
        self._settled = np.zeros(sessions, dtype=np.bool_)
        self._recent_bps = np.full((sessions, cfg.shift_samples), np.nan)
        self._errors = np.full((sessions, cfg.shift_error_window), np.nan)
        self._predicted_bps = np.full(sessions, np.nan)

    def _spread(self, rows: IntArray) -> FloatArray:
        """Robust standard deviation of each listed session's log prediction errors.

        1.4826 x the median absolute deviation of the errors before the newest
        ``shift_samples`` (the samples a level-shift test examines); ``shift_prior_sigma``
        until three are known; never below ``shift_min_sigma``.
        """
        cfg = self.config
        errors = self._errors[rows, : -cfg.shift_samples]
        count = np.count_nonzero(~np.isnan(errors), axis=1)
        centre = _row_median(errors, count)
        spread = 1.4826 * _row_median(np.abs(errors - centre[:, None]), count)
        sigma = np.where(count >= 3, spread, cfg.shift_prior_sigma)
        return np.asarray(np.maximum(sigma, cfg.shift_min_sigma), dtype=np.float64)

    def _level_shift(self, state: BatchState) -> tuple[FloatArray, BoolArray]:
        """Throughput to plan with, and which rows detected a level shift up.

        A shift is detected when each of the last ``shift_samples`` measured throughputs
        exceeds the estimate by more than ``shift_sigmas`` robust standard deviations of the
        session's log prediction errors before them; the lowest of those samples is then
        planned with.
        """
        cfg = self.config
        est = state.throughput_bps
        lowest = np.min(self._recent_bps[state.sessions], axis=1)  # NaN until enough samples
        with np.errstate(invalid="ignore", divide="ignore"):
            jump = np.log(lowest / np.maximum(est, 1.0))
        # only rows beyond the smallest possible threshold need their spread measured
        shifted = ~np.isnan(jump) & (jump > cfg.shift_sigmas * cfg.shift_min_sigma)
        pos = np.nonzero(shifted)[0]
        if len(pos):
            sigma = self._spread(state.sessions[pos])
            shifted[pos] = jump[pos] > cfg.shift_sigmas * sigma
        return np.where(shifted, lowest, est), shifted

    def _plan(self, state: BatchState) -> tuple[int, float]:
        """Segments planned and the buffer kept in reserve: relative to the buffer cap if known."""
        cfg = self.config
        if state.max_buffer_s <= 0:
            return cfg.plan_segments, cfg.plan_floor_s
        horizon = cfg.plan_horizon_buffer_fraction * state.max_buffer_s / state.segment_duration_s
        return max(1, round(horizon)), cfg.plan_floor_buffer_fraction * state.max_buffer_s

    def _budget(self, state: BatchState) -> FloatArray:
        """Bitrate the plan affords at safety 1: the estimate scaled by the spendable buffer.

        Fetching the next ``k`` segments (:meth:`_plan`) of bitrate ``R`` at ``s`` x the
        estimate keeps the buffer above the floor if ``R <= s * budget``.
        """
        segments, floor_s = self._plan(state)
        p = state.segment_duration_s
        k = np.full(len(state.sessions), float(segments))
        if state.segments_total > 0:
            left = state.segments_total - state.segment_index
            k = np.clip(left, 1, segments).astype(np.float64)
        spare = state.buffer_s + k * (p - state.latency_s) - floor_s
        return np.asarray(state.throughput_bps * np.maximum(spare, 0.0) / (k * p))

    def _choose(self, state: BatchState) -> tuple[IntArray, IntArray]:
        cfg = self.config
        tput, shifted = self._level_shift(state)
        # the throughput each decision was planned with; its error is measured once the
        # segment arrives (only after a first measurement: before it the estimate is the
        # configured default)
        self._predicted_bps[state.sessions] = np.where(state.current >= 0, tput, np.nan)
        budget = self._budget(replace(state, throughput_bps=tput))
        rates = state.bitrates_bps
        q_up = _highest_rung(rates, cfg.up_safety * budget)
        q_down = _highest_rung(rates, cfg.down_safety * budget)
        out = np.maximum(state.current, 0)
        # inside an up_after_down_s window an up-switch must stay affordable if the link
        # delivers up_after_down_sigmas robust standard deviations (of the session's
        # prediction errors) less than planned; the spread is measured only where it matters
        in_window = self._in_window(state)
        q_window = np.full(len(out), -1, dtype=np.int64)
        pos = np.nonzero((q_up > out) & in_window & ~shifted)[0]
        if len(pos):
            margin = np.exp(-cfg.up_after_down_sigmas * self._spread(state.sessions[pos]))
            q_window[pos] = _highest_rung(rates, cfg.up_safety * margin * budget[pos])
        reason = np.full(len(out), _R[SelectReason.THROUGHPUT], dtype=np.int64)
        self._rule_up(
            state, q_up, out, reason, shifted=shifted, in_window=in_window, q_window=q_window
        )
        self._rule_down(state, q_down, out, reason)
        self._rule_start_and_cap(state, q_up, out, reason)
        return out, reason

    def _in_window(self, state: BatchState) -> BoolArray:
        """Rows within ``up_after_down_s`` of a down-switch, buffer below the waiver."""
        cfg = self.config
        since_down = state.now - self._last_down[state.sessions]
        return np.asarray(
            (since_down < cfg.up_after_down_s) & (state.buffer_s < cfg.up_after_down_waive_buffer_s)
        )

    def _rule_up(
        self,
        state: BatchState,
        q_up: IntArray,
        out: IntArray,
        reason: IntArray,
        *,
        shifted: BoolArray,
        in_window: BoolArray,
        q_window: IntArray,
    ) -> None:
        """Rule 3, in place: up-switch if buffer and stability windows allow.

        ``shifted``: rows that detected a level shift up; ``in_window``: rows within
        ``up_after_down_s`` of a down-switch; ``q_window``: the rung each of those may go up to
        (-1 where none).
        """
        cfg = self.config
        rows, buf, now = state.sessions, state.buffer_s, state.now
        since_switch = now - self._last_switch[rows]
        wants_up = q_up > out
        up_ok = (
            wants_up
            & (buf >= cfg.min_buffer_for_up_s)
            & (since_switch >= cfg.min_switch_interval_s)
            & (~in_window | shifted)
        )
        step = q_up if cfg.max_up_steps == 0 else np.minimum(q_up, out + cfg.max_up_steps)
        window = (
            wants_up
            & ~up_ok
            & (buf >= cfg.min_buffer_for_up_s)
            & (since_switch >= cfg.min_switch_interval_s)
            & (q_window > out)
        )
        if cfg.max_up_steps:
            q_window = np.minimum(q_window, out + cfg.max_up_steps)
        reason[up_ok & shifted] = _R[SelectReason.LEVEL_SHIFT]
        reason[up_ok & (step < q_up)] = _R[SelectReason.STEP_LIMIT]
        reason[wants_up & ~up_ok & (buf < cfg.min_buffer_for_up_s)] = _R[SelectReason.LOW_BUFFER]
        reason[wants_up & ~up_ok & (buf >= cfg.min_buffer_for_up_s)] = _R[SelectReason.STABILITY]
        reason[window] = _R[SelectReason.THROUGHPUT]
        out[up_ok] = step[up_ok]
        out[window] = q_window[window]

    def _rule_down(
        self, state: BatchState, q_down: IntArray, out: IntArray, reason: IntArray
    ) -> None:
        """Rules 2 and 4, in place: down-switch unless held; emergency overrides the holds."""
        cfg = self.config
        buf = state.buffer_s
        since_switch = state.now - self._last_switch[state.sessions]
        wants_down = q_down < np.maximum(state.current, 0)
        hold_high = wants_down & (buf >= cfg.hold_buffer_s)
        hold_window = (
            wants_down
            & ~hold_high
            & (since_switch < cfg.min_switch_interval_s)
            & (buf >= cfg.min_buffer_for_up_s)
        )
        emergency = wants_down & (buf < cfg.emergency_buffer_s)
        down = (wants_down & ~hold_high & ~hold_window) | emergency
        out[down] = q_down[down]
        reason[hold_high] = _R[SelectReason.HOLD_HIGH_BUFFER]
        reason[hold_window] = _R[SelectReason.STABILITY]
        reason[emergency] = _R[SelectReason.EMERGENCY]

    def _rule_start_and_cap(
        self, state: BatchState, q_up: IntArray, out: IntArray, reason: IntArray
    ) -> None:
        """Rule 1 and the after-abandonment cap, in place.

        The first decision after a measured download may go straight to the affordable rung:
        before it, the choice rested on the configured default, not on a measurement.
        """
        rows, cur = state.sessions, state.current
        jump = ((cur >= 0) & ~self._settled[rows] & (q_up > out)) | (cur < 0)
        out[jump] = q_up[jump]
        reason[jump] = _R[SelectReason.INITIAL]
        cap = self._cap[rows]
        capped = (cap >= 0) & (out > cap)
        out[capped] = cap[capped]
        reason[capped] = _R[SelectReason.AFTER_ABANDON]

    def _after_select(self, state: BatchState, index: IntArray) -> None:
        rows = state.sessions
        cur = state.current
        switched = (cur >= 0) & (index != cur)
        self._last_switch[rows[switched]] = state.now[switched]
        went_down = switched & (index < cur)
        self._last_down[rows[went_down]] = state.now[went_down]
        self._cap[rows] = -1
        self._settled[rows] |= cur >= 0

    def decide_abandon_batch(self, progress: BatchProgress) -> IntArray:
        """Advise abandoning downloads that will finish well after the buffer runs out.

        Returns:
            Per row, the highest lower rung whose whole segment, fetched anew at the rate seen
            so far, arrives before the buffer runs out (else rung 0, if it arrives sooner than
            the rest of the current download), or -1 to let the download finish.
        """
        cfg = self.config
        n = len(progress.sessions)
        out = np.full(n, -1, dtype=np.int64)
        dl_s = progress.elapsed_s - progress.ttfb_s
        frac = cfg.abandon_after_buffer_fraction
        # elapsed >= frac * (buffer at request), with buffer at request = buffer now + elapsed
        used = progress.elapsed_s * (1.0 - frac) >= frac * progress.buffer_s
        ok = (
            (progress.elapsed_s >= cfg.abandon_grace_s)
            & used
            & (dl_s > 0)
            & (progress.downloaded_bytes > 0)
            & (progress.index > 0)
        )
        if not np.any(ok):
            return out
        rows = np.nonzero(ok)[0]
        rate = progress.downloaded_bytes[rows] / dl_s[rows]
        left_s = (progress.size_bytes[rows] - progress.downloaded_bytes[rows]) / rate
        buf = progress.buffer_s[rows]
        late = left_s > buf + cfg.abandon_margin_s
        rows, rate, left_s, buf = rows[late], rate[late], left_s[late], buf[late]
        if len(rows) == 0:
            return out
        rates = progress.bitrates_bps
        cur = progress.index[rows]
        fetch_s = progress.latency_s[rows][:, None] + (
            progress.size_bytes[rows][:, None]
            * rates[None, :]
            / rates[cur][:, None]
            / rate[:, None]
        )
        fits = (fetch_s <= buf[:, None]) & (np.arange(len(rates))[None, :] < cur[:, None])
        fits[:, 0] = True
        best = np.asarray(np.cumprod(fits, axis=1).sum(axis=1) - 1, dtype=np.int64)
        sooner = fetch_s[np.arange(len(rows)), best] < left_s
        out[rows[sooner]] = best[sooner]
        return out

    def may_abandon_batch(
        self, download_s: FloatArray, buffer_s: FloatArray
    ) -> npt.NDArray[np.bool_]:
        """Tell which downloads could ever get abandonment advice.

        Those lasting longer than the grace time and ``abandon_after_buffer_fraction`` of the
        buffer at request; the simulator polls only these.
        """
        cfg = self.config
        late = download_s > cfg.abandon_after_buffer_fraction * buffer_s
        return np.asarray((download_s > cfg.abandon_grace_s) & late, dtype=np.bool_)

    def abandon_earliest_s(self, buffer_s: FloatArray) -> FloatArray:
        """Earliest elapsed time at which advice is possible, given the buffer at request."""
        cfg = self.config
        return np.maximum(cfg.abandon_grace_s, cfg.abandon_after_buffer_fraction * buffer_s)

    def on_download_batch(self, report: BatchReport) -> None:
        """Record measured throughputs and prediction errors; handle abandoned downloads.

        A finished download's throughput (bytes over the time after the first byte) joins the
        level-shift window, with its log error against the throughput its decision planned
        with. An abandoned download caps the next choice at the rung the advice named.
        """
        ab = report.is_abandoned & (report.abandon_to >= 0)
        self._cap[report.sessions[ab]] = report.abandon_to[ab]
        transfer_s = report.duration_s - report.ttfb_s
        ok = (
            ~report.is_abandoned
            & (transfer_s > 0)
            & (report.nbytes >= self.config.min_sample_bytes)
        )
        if not np.any(ok):
            return
        rows = report.sessions[ok]
        bps = 8.0 * report.nbytes[ok] / transfer_s[ok]
        _push(self._recent_bps, rows, bps)
        predicted = self._predicted_bps[rows]
        known = ~np.isnan(predicted) & (predicted > 0)
        _push(self._errors, rows[known], np.log(bps[known] / predicted[known]))
