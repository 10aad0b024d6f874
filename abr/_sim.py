"""Trace-driven simulator: many sessions at once, the same controller objects as live playback."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from abr._abandon import poll_abandonment
from abr._batch import BatchReport, BatchState
from abr._controller import Controller
from abr._estimators import EwmaEstimator, ThroughputEstimator
from abr._media import NetworkTrace, Video
from abr._qoe import session_metrics
from abr._simstate import Flight, Run
from abr.config import AbrConfig, SimMode
from abr.errors import AbrConfigError

__all__ = ["SimResult", "simulate"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class SimResult:
    """Per-segment records and per-session metrics of one simulated set of sessions.

    Attributes:
        algorithm: The controller's name.
        mode: The simulator mode used.
        trace_names: One name per session.
        video: The simulated video.
        quality: Rung of each segment, shape ``(sessions, segments)``.
        rebuffer_s: Stall while fetching each segment (abandoned attempts included).
        download_s: Time from the first request for each segment until it arrived.
        buffer_s: Buffer right after each segment arrived (and after any cap sleep).
        end_time_s: Session clock when each segment arrived (after any cap sleep).
        throughput_bps: Measured throughput of each segment's final download.
        abandoned: Abandoned downloads per session.
        startup_s: Time until the first segment arrived (playback starts).
        metrics: Per-session metrics (``qoe_lin``, ``mean_bitrate_kbps``, ...), arrays.
    """

    algorithm: str
    mode: SimMode
    trace_names: tuple[str, ...]
    video: Video
    quality: IntArray
    rebuffer_s: FloatArray
    download_s: FloatArray
    buffer_s: FloatArray
    end_time_s: FloatArray
    throughput_bps: FloatArray
    abandoned: IntArray
    startup_s: FloatArray
    metrics: dict[str, FloatArray]

    @property
    def sessions(self) -> int:
        """Number of simulated sessions."""
        return len(self.trace_names)

    @property
    def segments(self) -> int:
        """Segments played per session (the video's, less the mode's unplayed tail)."""
        return int(self.quality.shape[1])

    @classmethod
    def concat(cls, parts: Sequence[SimResult]) -> SimResult:
        """Join results of the same algorithm, mode and video run on different traces.

        Raises:
            AbrConfigError: No parts, or parts of different algorithms or modes.
        """
        if not parts or len({(p.algorithm, p.mode) for p in parts}) != 1:
            raise AbrConfigError("concat needs results of one algorithm and mode")
        first = parts[0]
        cat = np.concatenate
        return cls(
            algorithm=first.algorithm,
            mode=first.mode,
            trace_names=tuple(n for p in parts for n in p.trace_names),
            video=first.video,
            quality=cat([p.quality for p in parts]),
            rebuffer_s=cat([p.rebuffer_s for p in parts]),
            download_s=cat([p.download_s for p in parts]),
            buffer_s=cat([p.buffer_s for p in parts]),
            end_time_s=cat([p.end_time_s for p in parts]),
            throughput_bps=cat([p.throughput_bps for p in parts]),
            abandoned=cat([p.abandoned for p in parts]),
            startup_s=cat([p.startup_s for p in parts]),
            metrics={k: cat([p.metrics[k] for p in parts]) for k in first.metrics},
        )

    def aggregate(self) -> dict[str, float]:
        """Means over sessions: ``mean_qoe_lin``, ``mean_bitrate_kbps``, ``rebuffer_ratio``, ...

        ``rebuffer_ratio`` is total stall time over total stall plus media time of all sessions.
        """
        m = self.metrics
        media = self.segments * self.video.segment_duration_s
        stall = float(np.sum(m["rebuffer_s"]))
        return {
            "sessions": self.sessions,
            "mean_qoe_lin": float(np.mean(m["qoe_lin"])),
            "mean_qoe_log": float(np.mean(m["qoe_log"])),
            "mean_qoe_hd": float(np.mean(m["qoe_hd"])),
            "mean_bitrate_kbps": float(np.mean(m["mean_bitrate_kbps"])),
            "rebuffer_ratio": stall / (stall + media * self.sessions),
            "mean_rebuffer_s": float(np.mean(m["rebuffer_s"])),
            "mean_stalls": float(np.mean(m["stalls"])),
            "mean_switches": float(np.mean(m["switches"])),
            "mean_startup_s": float(np.mean(m["startup_s"])),
            "mean_bitrate_change_kbps": float(np.mean(m["bitrate_change_kbps"])),
            "mean_abandoned": float(np.mean(m["abandoned"])),
        }


def simulate(
    controller: Controller,
    traces: Sequence[NetworkTrace],
    video: Video,
    *,
    mode: SimMode | None = None,
    estimator: ThroughputEstimator | None = None,
    rng: np.random.Generator | None = None,
) -> SimResult:
    """Play ``video`` over each trace (one session per trace) with ``controller``.

    The controller and estimator are reset to ``len(traces)`` sessions and driven through
    their batch methods with a virtual clock. The run is deterministic: the same inputs (and
    the same ``rng`` seed) give the same result, bit for bit.

    Args:
        controller: Any controller (hybrid, reference algorithms or your own).
        traces: Network traces, one session each.
        video: Ladder and segment sizes.
        mode: Network and player convention (default: ``SimMode.pensieve()``).
        estimator: Throughput estimator (default: ``EwmaEstimator(AbrConfig())``).
        rng: If given, each session starts at a random point of its trace (uniform over one
            loop), as Pensieve's training environment does; ``None`` starts every trace at
            its beginning, as both reference test harnesses do. Seed it
            (``np.random.default_rng(seed)``) for a reproducible run.

    Returns:
        Per-segment records and per-session metrics.

    Raises:
        AbrConfigError: No traces, the mode's first rung is outside the ladder, or the video
            has no segment left to play after the mode's unplayed tail.
    """
    mode = mode or SimMode.pensieve()
    if len(traces) == 0:
        raise AbrConfigError("simulate() needs at least one trace")
    segs = video.segments - mode.unplayed_tail_segments
    if segs < 1:
        raise AbrConfigError(
            f"the video has {video.segments} segments: none left to play after the mode's "
            f"{mode.unplayed_tail_segments} unplayed"
        )
    if mode.first_index >= len(video.bitrates_bps):
        raise AbrConfigError(f"first_index {mode.first_index} is outside the ladder")
    est: ThroughputEstimator = estimator or EwmaEstimator(AbrConfig())
    run = Run(traces, segs, mode, rungs=len(video.bitrates_bps))
    if rng is not None:
        run.trace_t = rng.uniform(0.0, 1.0, size=run.n) * run.tl.period
    controller.reset(run.n)
    est.reset(run.n)
    check_abandon = mode.is_abandonment and bool(getattr(controller, "has_abandonment", True))
    while True:
        rows = np.nonzero(run.seg < segs)[0]
        if len(rows) == 0:
            break
        if mode.drain_quantum_s == 0:
            _wait_for_room(run, rows, video, mode)
        q = _decide(controller, est, run, rows, video, mode)
        if video.init_sizes_bytes is not None:
            _fetch_inits(est, run, rows, q, video.init_sizes_bytes, mode)
        _fetch(controller, est, run, rows, q, video, mode, check_abandon=check_abandon)
    metrics = session_metrics(
        run.quality, run.rebuf, video, mode, startup_s=run.startup, stalls=run.stalls
    )
    metrics["abandoned"] = run.abandoned.astype(np.float64)
    return SimResult(
        algorithm=str(getattr(controller, "name", type(controller).__name__)),
        mode=mode,
        trace_names=tuple(t.name for t in traces),
        video=video,
        quality=run.quality,
        rebuffer_s=run.rebuf,
        download_s=run.download,
        buffer_s=run.buffer_after,
        end_time_s=run.end_time,
        throughput_bps=run.tput,
        abandoned=run.abandoned,
        startup_s=run.startup,
        metrics=metrics,
    )


def _wait_for_room(run: Run, rows: IntArray, video: Video, mode: SimMode) -> None:
    """Sabre: before a request, wait (playing) until one more segment fits under the cap."""
    wait = run.buf[rows] + video.segment_duration_s - mode.max_buffer_s
    wait = np.where(run.seg[rows] > 0, np.maximum(wait, 0.0), 0.0)
    run.buf[rows] -= wait
    run.trace_t[rows] += wait
    run.clock[rows] += wait


def _decide(
    controller: Controller,
    est: ThroughputEstimator,
    run: Run,
    rows: IntArray,
    video: Video,
    mode: SimMode,
) -> IntArray:
    """Ask the controller for the next rung; it sees every segment's size, played or not."""
    now = run.clock[rows]
    state = BatchState(
        sessions=rows,
        now=now,
        buffer_s=run.buf[rows],
        throughput_bps=est.estimate_bps_batch(rows, now),
        latency_s=est.estimate_latency_batch(rows, now),
        current=run.cur[rows],
        bitrates_bps=video.bitrates_bps,
        segment_duration_s=video.segment_duration_s,
        segment_index=run.seg[rows],
        segments_total=run.segments,
        sizes_bytes=video.sizes_bytes,
        max_buffer_s=mode.max_buffer_s,
    )
    q, _ = controller.select_batch(state)
    if mode.first_index >= 0:
        q = np.where((run.seg[rows] == 0) & (run.cur[rows] < 0), mode.first_index, q)
    return np.asarray(q, dtype=np.int64)


def _fetch_inits(
    est: ThroughputEstimator,
    run: Run,
    rows: IntArray,
    q: IntArray,
    init_sizes_bytes: FloatArray,
    mode: SimMode,
) -> None:
    """A rung's first use in a session: its init segment first, one request of its own.

    The request pays its latency and bytes as a segment's does, the playhead runs meanwhile
    (a stall counts towards the segment it precedes), and the transfer is a sample for the
    estimator, as the player feeds it (a controller's ``min_sample_bytes`` usually ignores it).
    """
    fresh = ~run.has_init[rows, q]
    if not np.any(fresh):
        return
    r, rung = rows[fresh], q[fresh]
    run.has_init[r, rung] = True
    start = run.trace_t[r]
    ttfb = run.tl.latency_at(r, start) if mode.is_trace_latency else np.zeros(len(r))
    end = run.tl.time_at(r, run.tl.bytes_at(r, start + ttfb) + init_sizes_bytes[rung])
    took = end - start + mode.rtt_s
    run.trace_t[r] = end
    seg, buf = run.seg[r], run.buf[r]
    stall = np.maximum(took - buf, 0.0)
    first = (seg == 0) & (run.cur[r] < 0)
    run.startup[r[first]] += took[first]
    run.rebuf[r[~first], seg[~first]] += stall[~first]
    run.stalls[r] += (~first & (stall > 0) & (buf > 0)).astype(np.int64)
    run.download[r, seg] += took
    run.clock[r] += took
    run.buf[r] = np.maximum(buf - took, 0.0)
    est.on_sample_batch(r, init_sizes_bytes[rung], ttfb + mode.rtt_s, took, run.clock[r])


def _fetch(
    controller: Controller,
    est: ThroughputEstimator,
    run: Run,
    rows: IntArray,
    q: IntArray,
    video: Video,
    mode: SimMode,
    *,
    check_abandon: bool,
) -> None:
    seg = run.seg[rows]
    size = video.sizes_bytes[seg, q]
    start = run.trace_t[rows]
    ttfb = run.tl.latency_at(rows, start) if mode.is_trace_latency else np.zeros(len(rows))
    c0 = run.tl.bytes_at(rows, start + ttfb)
    finish = run.tl.time_at(rows, c0 + size)
    fl = Flight(
        rows,
        q,
        size,
        start,
        ttfb,
        c0,
        finish,
        finish.copy(),
        np.full(len(rows), -1, dtype=np.int64),
    )
    if check_abandon:
        poll_abandonment(controller, est, run, fl, video, mode)
    end, abandon_to = fl.end, fl.abandon_to
    abandoned = abandon_to >= 0
    nbytes = np.where(abandoned, run.tl.bytes_at(rows, end) - c0, size)
    ttfb_total = ttfb + mode.rtt_s
    elapsed = end - start + mode.rtt_s
    run.trace_t[rows] = end
    _account(run, rows, seg, q, elapsed, abandoned, video)
    done = ~abandoned
    sample_rows = rows[done]
    now = run.clock[rows]
    est.on_sample_batch(sample_rows, nbytes[done], ttfb_total[done], elapsed[done], now[done])
    dl_s = np.maximum(elapsed - ttfb_total, 1e-12)
    run.tput[sample_rows, seg[done]] = 8.0 * nbytes[done] / dl_s[done]
    if mode.drain_quantum_s > 0:
        _sleep_over_cap(run, rows, mode)
    run.end_time[sample_rows, seg[done]] = run.clock[sample_rows]
    run.buffer_after[sample_rows, seg[done]] = run.buf[sample_rows]
    controller.on_download_batch(
        BatchReport(
            sessions=rows,
            now=run.clock[rows],
            index=q,
            nbytes=nbytes,
            ttfb_s=ttfb_total,
            duration_s=elapsed,
            buffer_s=run.buf[rows],
            is_abandoned=abandoned,
            abandon_to=abandon_to,
        )
    )
    run.cur[sample_rows] = q[done]
    run.seg[sample_rows] += 1


def _account(
    run: Run,
    rows: IntArray,
    seg: IntArray,
    q: IntArray,
    elapsed: FloatArray,
    abandoned: npt.NDArray[np.bool_],
    video: Video,
) -> None:
    """Drain the buffer by ``elapsed``; count stalls; add finished segments to the buffer."""
    buf = run.buf[rows]
    stall = np.maximum(elapsed - buf, 0.0)
    first = (seg == 0) & (run.cur[rows] < 0)
    run.startup[rows[first]] += elapsed[first]
    later = ~first
    run.rebuf[rows[later], seg[later]] += stall[later]
    run.stalls[rows] += (later & (stall > 0) & (buf > 0)).astype(np.int64)
    run.download[rows, seg] += elapsed
    run.clock[rows] += elapsed
    buf = np.maximum(buf - elapsed, 0.0)
    done = ~abandoned
    run.buf[rows] = np.where(done, buf + video.segment_duration_s, buf)
    run.quality[rows[done], seg[done]] = q[done]
    run.abandoned[rows[abandoned]] += 1


def _sleep_over_cap(run: Run, rows: IntArray, mode: SimMode) -> None:
    """Pensieve: once over the cap, sleep in whole quanta (trace time runs, no download)."""
    over = run.buf[rows] - mode.max_buffer_s
    sleep = np.where(over > 0, np.ceil(over / mode.drain_quantum_s) * mode.drain_quantum_s, 0.0)
    run.buf[rows] -= sleep
    run.trace_t[rows] += sleep
    run.clock[rows] += sleep
