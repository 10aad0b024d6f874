"""The default controller: throughput with hysteresis, buffer thresholds and stability windows."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from abr._batch import BatchProgress, BatchReport, BatchState
from abr._controller import BatchController
from abr._types import REASON_CODE, SelectReason
from abr.config import AbrConfig

__all__ = ["HybridController"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_R = REASON_CODE


class HybridController(BatchController):
    """Buffer-and-throughput controller that does not flutter (the SDK's default).

    A rung is *affordable* at safety ``s`` if fetching the next ``plan_segments`` segments of
    it at ``s`` × the throughput estimate (plus the latency per request) keeps the buffer above
    ``plan_floor_s``: the buffer above the floor may be spent, the floor is kept. When the
    player's buffer cap is known (``AbrState.max_buffer_s``), horizon and floor are fractions
    of it (``plan_horizon_buffer_fraction``, ``plan_floor_buffer_fraction``). Per decision:

    1. First decision, and the first one after a measured download: the highest rung
       affordable at ``up_safety`` (before a measurement the estimate is only the default).
    2. Emergency: below ``emergency_buffer_s`` of buffer, drop at once to the highest rung
       affordable at ``down_safety``, ignoring the stability windows.
    3. Up-switch: only if a higher rung is affordable at ``up_safety``, the buffer holds at least
       ``min_buffer_for_up_s``, ``min_switch_interval_s`` passed since the last switch and
       ``up_after_down_s`` since the last down-switch (waived once the buffer is back above
       ``up_after_down_waive_buffer_s``); at most ``max_up_steps`` rungs.
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
        self._last_switch = np.full(sessions, -np.inf)
        self._last_down = np.full(sessions, -np.inf)
        self._cap = np.full(sessions, -1, dtype=np.int64)
        self._settled = np.zeros(sessions, dtype=np.bool_)

    def _plan(self, state: BatchState) -> tuple[int, float]:
        """Segments planned and the buffer kept in reserve: relative to the buffer cap if known."""
        cfg = self.config
        if state.max_buffer_s <= 0:
            return cfg.plan_segments, cfg.plan_floor_s
        horizon = cfg.plan_horizon_buffer_fraction * state.max_buffer_s / state.segment_duration_s
        return max(1, round(horizon)), cfg.plan_floor_buffer_fraction * state.max_buffer_s

    def _affordable(self, state: BatchState, safety: float) -> IntArray:
        """Highest rung whose next segments (:meth:`_plan`) keep the buffer above the floor."""
        segments, floor_s = self._plan(state)
        p = state.segment_duration_s
        k = np.full(len(state.sessions), float(segments))
        if state.segments_total > 0:
            left = state.segments_total - state.segment_index
            k = np.clip(left, 1, segments).astype(np.float64)
        spare = state.buffer_s + k * (p - state.latency_s) - floor_s
        cap_bps = state.throughput_bps * safety * np.maximum(spare, 0.0) / (k * p)
        fits = state.bitrates_bps[None, :] <= cap_bps[:, None]
        fits[:, 0] = True
        return np.asarray(np.cumprod(fits, axis=1).sum(axis=1) - 1, dtype=np.int64)

    def _choose(self, state: BatchState) -> tuple[IntArray, IntArray]:
        cfg = self.config
        q_up = self._affordable(state, cfg.up_safety)
        q_down = self._affordable(state, cfg.down_safety)
        out = np.maximum(state.current, 0)
        reason = np.full(len(out), _R[SelectReason.THROUGHPUT], dtype=np.int64)
        self._rule_up(state, q_up, out, reason)
        self._rule_down(state, q_down, out, reason)
        self._rule_start_and_cap(state, q_up, out, reason)
        return out, reason

    def _rule_up(self, state: BatchState, q_up: IntArray, out: IntArray, reason: IntArray) -> None:
        """Rule 3, in place: up-switch one rung if buffer and stability windows allow."""
        cfg = self.config
        rows, buf, now = state.sessions, state.buffer_s, state.now
        since_switch = now - self._last_switch[rows]
        since_down = now - self._last_down[rows]
        wants_up = q_up > out
        up_ok = (
            wants_up
            & (buf >= cfg.min_buffer_for_up_s)
            & (since_switch >= cfg.min_switch_interval_s)
            & ((since_down >= cfg.up_after_down_s) | (buf >= cfg.up_after_down_waive_buffer_s))
        )
        step = np.minimum(q_up, out + cfg.max_up_steps)
        reason[up_ok & (step < q_up)] = _R[SelectReason.STEP_LIMIT]
        reason[wants_up & ~up_ok & (buf < cfg.min_buffer_for_up_s)] = _R[SelectReason.LOW_BUFFER]
        reason[wants_up & ~up_ok & (buf >= cfg.min_buffer_for_up_s)] = _R[SelectReason.STABILITY]
        out[up_ok] = step[up_ok]

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
        """After an abandoned download, cap the next choice at the rung the advice named."""
        ab = report.is_abandoned & (report.abandon_to >= 0)
        self._cap[report.sessions[ab]] = report.abandon_to[ab]
