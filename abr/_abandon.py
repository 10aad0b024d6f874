"""Abandonment polling in the simulator: Sabre's progress points, vectorised (internal)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from abr._batch import BatchProgress
from abr._controller import Controller
from abr._estimators import ThroughputEstimator
from abr._media import Video
from abr._simstate import Flight, Run
from abr.config import SimMode

__all__: list[str] = []

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_CHECK_CELLS_PER_PASS = 4096
"""Downloads × check points evaluated per pass of the vectorised loop: fewer downloads polled
means more points per pass (speed only; the result does not change)."""

_Cursor = tuple[IntArray, FloatArray, FloatArray]
"""Downloads still polled (positions in the flight), time and bytes of their last check."""


def controller_may_abandon(
    controller: Controller, download_s: FloatArray, buffer_s: FloatArray
) -> BoolArray:
    """Which downloads the simulator must poll for abandonment (a controller may narrow it)."""
    narrow = getattr(controller, "may_abandon_batch", None)
    if narrow is None:
        return np.ones(len(download_s), dtype=np.bool_)
    return np.asarray(narrow(download_s, buffer_s), dtype=np.bool_)


def poll_abandonment(
    controller: Controller,
    est: ThroughputEstimator,
    run: Run,
    fl: Flight,
    video: Video,
    mode: SimMode,
) -> None:
    """Check in-flight downloads at Sabre's progress points; cut abandoned ones short.

    A check happens once ``abandon_check_bytes`` more arrived and ``abandon_check_interval_s``
    passed since the previous check (the first: since the request), before the download ends.
    The first segment is never checked (Sabre downloads it without a check). Many points are
    evaluated in one call, which is why ``decide_abandon_batch`` must not change controller
    state; the first advice wins. Sets ``fl.end`` and ``fl.abandon_to`` of abandoned requests.
    """
    idx = np.nonzero(run.seg[fl.rows] > 0)[0]
    idx = idx[
        controller_may_abandon(controller, fl.finish[idx] - fl.start[idx], run.buf[fl.rows[idx]])
    ]
    cursor = _skip_quiet_checks(controller, run, fl, idx, mode)
    while len(cursor[0]):
        cursor = _check_pass(controller, est, run, fl, cursor, (video, mode))


def _skip_quiet_checks(
    controller: Controller, run: Run, fl: Flight, idx: IntArray, mode: SimMode
) -> _Cursor:
    """Jump over check points before the controller's earliest possible advice.

    Exact (up to float rounding) where it applies: on a trace whose every period carries at
    least ``abandon_check_bytes`` per ``abandon_check_interval_s``, all check points after the
    first are spaced exactly one interval apart, so the ones before the controller's
    ``abandon_earliest_s`` (when it cannot advise anything) can be skipped in one step.
    """
    earliest_fn = getattr(controller, "abandon_earliest_s", None)
    step, need = mode.abandon_check_interval_s, mode.abandon_check_bytes
    start = fl.start[idx]
    prev_t, prev_d = start.copy(), np.zeros(len(idx))
    if earliest_fn is None or len(idx) == 0:
        return idx, prev_t, prev_d
    r = fl.rows[idx]
    earliest = start + np.asarray(earliest_fn(run.buf[r]), dtype=np.float64)
    first = np.maximum(run.tl.time_at(r, fl.c0[idx] + need), start + step)
    regular = (run.tl.min_rate[r] * step >= need * (1 + 1e-9)) & (first < earliest)
    k = np.floor((earliest - first) / step)
    k = np.where(first + k * step >= earliest, k - 1, k)
    jump = first + np.maximum(k, 0) * step
    ok = regular & (jump < fl.finish[idx])
    prev_t = np.where(ok, jump, prev_t)
    got = run.tl.bytes_at(r, np.maximum(prev_t, start + fl.ttfb[idx])) - fl.c0[idx]
    prev_d = np.where(ok, got, prev_d)
    keep = ~regular | ok
    return idx[keep], prev_t[keep], prev_d[keep]


def _next_points(
    run: Run, fl: Flight, cursor: _Cursor, mode: SimMode
) -> tuple[FloatArray, FloatArray, IntArray]:
    """The next check points of each polled download: (times, bytes so far, count per row).

    Points are one interval apart while each interval carries enough bytes; the first point
    that does not is placed where the bytes arrive, and ends the row's batch of points.
    """
    idx, prev_t, prev_d = cursor
    step, need = mode.abandon_check_interval_s, mode.abandon_check_bytes
    ks = np.arange(1, int(np.clip(_CHECK_CELLS_PER_PASS // len(idx), 32, 1024)) + 1)
    r, c0 = fl.rows[idx], fl.c0[idx]
    first_byte = fl.start[idx] + fl.ttfb[idx]
    pts = prev_t[:, None] + step * ks[None, :]
    when = np.maximum(pts, first_byte[:, None]).ravel()
    got = run.tl.bytes_at(np.repeat(r, len(ks)), when).reshape(pts.shape) - c0[:, None]
    before = np.concatenate([prev_d[:, None], got[:, :-1]], axis=1)
    by_time = np.cumprod(got - before >= need * (1 - 1e-12), axis=1).astype(np.bool_)
    n_ok = by_time.sum(axis=1)
    pos = np.arange(len(idx))
    last_t = np.where(n_ok > 0, pts[pos, np.maximum(n_ok - 1, 0)], prev_t)
    last_d = np.where(n_ok > 0, got[pos, np.maximum(n_ok - 1, 0)], prev_d)
    extra = n_ok < len(ks)
    pts = np.where(by_time, pts, np.inf)
    got = np.where(by_time, got, np.nan)
    pts[extra, n_ok[extra]] = np.maximum(run.tl.time_at(r, c0 + last_d + need), last_t + step)[
        extra
    ]
    got[extra, n_ok[extra]] = (last_d + need)[extra]
    return pts, got, np.where(extra, n_ok + 1, n_ok)


def _check_pass(
    controller: Controller,
    est: ThroughputEstimator,
    run: Run,
    fl: Flight,
    cursor: _Cursor,
    ctx: tuple[Video, SimMode],
) -> _Cursor:
    """Ask the controller at a batch of check points; record the first advice per download."""
    video, mode = ctx
    idx = cursor[0]
    pts, got, n_pts = _next_points(run, fl, cursor, mode)
    live = pts < fl.finish[idx][:, None]
    rr, kk = np.nonzero(live)
    hit = np.zeros(len(idx), dtype=np.bool_)
    if len(rr):
        sess = fl.rows[idx][rr]
        t = pts[rr, kk]
        elapsed = t - fl.start[idx][rr]
        now = run.clock[sess] + elapsed
        done = run.tl.bytes_at(sess, np.maximum(t, (fl.start + fl.ttfb)[idx][rr])) - fl.c0[idx][rr]
        advice = controller.decide_abandon_batch(
            BatchProgress(
                sessions=sess,
                now=now,
                index=fl.q[idx][rr],
                size_bytes=fl.size[idx][rr],
                downloaded_bytes=done,
                elapsed_s=elapsed,
                ttfb_s=fl.ttfb[idx][rr],
                buffer_s=np.maximum(run.buf[sess] - elapsed, 0.0),
                latency_s=est.estimate_latency_batch(sess, now),
                bitrates_bps=video.bitrates_bps,
                segment_duration_s=video.segment_duration_s,
            )
        )
        first_k = np.full(len(idx), pts.shape[1] + 1)
        hits = advice >= 0
        np.minimum.at(first_k, rr[hits], kk[hits])
        sel = hits & (kk == first_k[rr])
        hit[rr[sel]] = True
        fl.end[idx[rr[sel]]] = t[sel]
        fl.abandon_to[idx[rr[sel]]] = advice[sel]
    cont = ~hit & live[np.arange(len(idx)), n_pts - 1]
    last = n_pts[cont] - 1
    return idx[cont], pts[cont, last], got[cont, last]
