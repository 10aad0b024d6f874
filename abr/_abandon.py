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

_STARVED_POINTS_PER_PASS = 128
"""Points placed where the bytes arrive, per starved download and pass (speed only)."""

_Cursor = tuple[IntArray, FloatArray, FloatArray, FloatArray, FloatArray]
"""Downloads still polled (positions in the flight), time and bytes of their last check, and
the regular grid they are on: its origin and the index of the last check on it. Check times
are computed from the grid's origin (origin + k x interval), never from the previous check,
so they do not depend on how the checks are batched into passes."""


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
        return idx, prev_t, prev_d, start.copy(), np.zeros(len(idx))
    r = fl.rows[idx]
    earliest = start + np.asarray(earliest_fn(run.buf[r]), dtype=np.float64)
    first = np.maximum(run.tl.time_at(r, fl.c0[idx] + need), start + step)
    regular = (run.tl.min_rate[r] * step >= need * (1 + 1e-9)) & (first < earliest)
    k = np.floor((earliest - first) / step)
    k = np.where(first + k * step >= earliest, k - 1, k)
    k = np.maximum(k, 0)
    jump = first + k * step
    ok = regular & (jump < fl.finish[idx])
    prev_t = np.where(ok, jump, prev_t)
    got = run.tl.bytes_at(r, np.maximum(prev_t, start + fl.ttfb[idx])) - fl.c0[idx]
    prev_d = np.where(ok, got, prev_d)
    origin = np.where(ok, first, start)
    on_grid = np.where(ok, k, 0.0)
    keep = ~regular | ok
    return idx[keep], prev_t[keep], prev_d[keep], origin[keep], on_grid[keep]


def _next_points(
    run: Run, fl: Flight, cursor: _Cursor, mode: SimMode
) -> tuple[FloatArray, FloatArray, IntArray, BoolArray, FloatArray, FloatArray]:
    """The next check points of each polled download.

    Returns times and bytes so far (``inf``/NaN where a row has no point), the column of each
    row's last point, which points were placed where the bytes arrive (their byte count is
    the target, not a measurement), and each row's grid for the next batch (origin, index).
    Points are one interval apart while each interval carries enough bytes; from the first
    that does not, points are placed where each further ``abandon_check_bytes`` arrive, as
    long as that takes at least an interval (a starved link); the row's batch ends where the
    link is fast again.
    """
    idx, prev_t, prev_d, origin, on_grid = cursor
    step, need = mode.abandon_check_interval_s, mode.abandon_check_bytes
    # points at or past a download's end are never asked about: evaluate no more per row than
    # the longest remaining download can use (speed only; the points are the same)
    left = float(np.max(fl.finish[idx] - prev_t)) if len(idx) else 0.0
    per_row = int(np.clip(_CHECK_CELLS_PER_PASS // len(idx), 32, 1024))
    ks = np.arange(1, max(1, min(per_row, int(np.ceil(left / step)) + 1)) + 1)
    r, c0 = fl.rows[idx], fl.c0[idx]
    first_byte = fl.start[idx] + fl.ttfb[idx]
    pts = origin[:, None] + step * (on_grid[:, None] + ks[None, :])
    when = np.maximum(pts, first_byte[:, None]).ravel()
    got = run.tl.bytes_at(np.repeat(r, len(ks)), when).reshape(pts.shape) - c0[:, None]
    before = np.concatenate([prev_d[:, None], got[:, :-1]], axis=1)
    by_time = np.cumprod(got - before >= need * (1 - 1e-12), axis=1).astype(np.bool_)
    n_ok = by_time.sum(axis=1)
    pos = np.arange(len(idx))
    last_t = np.where(n_ok > 0, pts[pos, np.maximum(n_ok - 1, 0)], prev_t)
    last_d = np.where(n_ok > 0, got[pos, np.maximum(n_ok - 1, 0)], prev_d)
    pts = np.where(by_time, pts, np.inf)
    got = np.where(by_time, got, np.nan)
    last_col = n_ok - 1
    placed = np.zeros(pts.shape, dtype=np.bool_)
    # the grid each row is on after this batch: the same one further on, or a new one from
    # the last point placed where the bytes arrived
    next_origin, next_k = origin.copy(), on_grid + n_ok
    starved = np.nonzero(n_ok < len(ks))[0]
    if len(starved) == 0:
        return pts, got, last_col, placed, next_origin, next_k
    # a starved row's points: one where each further `need` bytes arrive (the bytes counted
    # one addition at a time, as pass after pass would), while that is at least an interval
    # after the previous point and the interval after it still carries too few bytes
    chain = max(1, min(per_row, _STARVED_POINTS_PER_PASS))
    sr, sc0, sfb = r[starved], c0[starved], first_byte[starved]
    steps_d = np.full((len(starved), chain + 1), need)
    steps_d[:, 0] = last_d[starved]
    target = np.cumsum(steps_d, axis=1)  # last_d, last_d + need, (last_d + need) + need, ...
    # where the next `need` bytes arrive after each point, summed as a pass would sum them
    arrive = run.tl.time_at(np.repeat(sr, chain), (sc0[:, None] + target[:, :-1] + need).ravel())
    arrive = arrive.reshape(len(starved), chain)
    chain_t = arrive.copy()
    chain_t[:, 0] = np.maximum(arrive[:, 0], last_t[starved] + step)
    if chain > 1:
        nxt = chain_t[:, :-1] + step
        fast = (
            run.tl.bytes_at(
                np.repeat(sr, chain - 1), np.maximum(nxt, sfb[:, None]).ravel()
            ).reshape(nxt.shape)
            - sc0[:, None]
        )
        still = (arrive[:, 1:] >= nxt) & ~(fast - target[:, 1:-1] >= need * (1 - 1e-12))
        n_chain = 1 + np.cumprod(still, axis=1).sum(axis=1)
    else:
        n_chain = np.ones(len(starved), dtype=np.int64)
    width = int(np.max(n_ok[starved] + n_chain))
    if width > pts.shape[1]:
        extra_cols = width - pts.shape[1]
        pts = np.concatenate([pts, np.full((len(idx), extra_cols), np.inf)], axis=1)
        got = np.concatenate([got, np.full((len(idx), extra_cols), np.nan)], axis=1)
        placed = np.concatenate([placed, np.zeros((len(idx), extra_cols), np.bool_)], axis=1)
    j = np.arange(chain)[None, :]
    use = j < n_chain[:, None]
    rows_k = np.repeat(starved, chain).reshape(use.shape)[use]
    cols_k = (n_ok[starved][:, None] + j)[use]
    pts[rows_k, cols_k] = chain_t[use]
    got[rows_k, cols_k] = target[:, 1:][use]
    placed[rows_k, cols_k] = True
    last_col[starved] = n_ok[starved] + n_chain - 1
    next_origin[starved] = chain_t[np.arange(len(starved)), n_chain - 1]
    next_k[starved] = 0.0
    return pts, got, last_col, placed, next_origin, next_k


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
    pts, got, last_col, placed, origin, on_grid = _next_points(run, fl, cursor, mode)
    live = pts < fl.finish[idx][:, None]
    rr, kk = np.nonzero(live)
    hit = np.zeros(len(idx), dtype=np.bool_)
    if len(rr):
        sess = fl.rows[idx][rr]
        t = pts[rr, kk]
        elapsed = t - fl.start[idx][rr]
        now = run.clock[sess] + elapsed
        # bytes so far: measured at the grid points already (the same call, element by
        # element), measured anew at the points placed where the bytes arrive
        done = got[rr, kk]
        anew = placed[rr, kk]
        if np.any(anew):
            s_new, i_new = sess[anew], idx[rr[anew]]
            done[anew] = (
                run.tl.bytes_at(s_new, np.maximum(t[anew], fl.start[i_new] + fl.ttfb[i_new]))
                - fl.c0[i_new]
            )
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
    cont = ~hit & live[np.arange(len(idx)), last_col]
    last = last_col[cont]
    return idx[cont], pts[cont, last], got[cont, last], origin[cont], on_grid[cont]
