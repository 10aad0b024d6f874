"""QoE metrics: Pensieve's QoE_lin and the MPC paper's QoE_log and QoE_hd, per session."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from abr._media import Video
from abr.config import SimMode

__all__ = ["QOE_PENALTIES", "qoe"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

QoeKind = Literal["lin", "log", "hd"]

QOE_PENALTIES: dict[str, float] = {"lin": 4.3, "log": 2.66, "hd": 8.0}
"""Rebuffer penalty per second for each QoE variant (Pensieve, SIGCOMM 2017, section 5.1)."""

_HD_KBPS = np.array([300.0, 750.0, 1200.0, 1850.0, 2850.0, 4300.0])
_HD_SCORE = np.array([1.0, 2.0, 3.0, 12.0, 15.0, 20.0])


def _utility(kind: QoeKind, kbps: FloatArray, lowest_kbps: float) -> FloatArray:
    if kind == "lin":
        return kbps / 1000.0
    if kind == "log":
        return np.asarray(np.log(kbps / lowest_kbps), dtype=np.float64)
    # Pensieve's HD table (BITRATE_REWARD); other ladders are interpolated in bitrate.
    return np.asarray(np.interp(kbps, _HD_KBPS, _HD_SCORE), dtype=np.float64)


def qoe(
    bitrates_kbps: npt.ArrayLike,
    rebuffer_s: npt.ArrayLike,
    *,
    kind: QoeKind = "lin",
    lowest_kbps: float | None = None,
    from_segment: int = 1,
) -> FloatArray:
    """QoE of sessions: sum over segments of q(R_n) − μ·stall_n − |q(R_n) − q(R_{n−1})|.

    ``lin``: q(R) = R/1000 (R in kbit/s), μ = 4.3 (Pensieve's QoE_lin). ``log``:
    q(R) = ln(R/R_min), μ = 2.66. ``hd``: Pensieve's HD score table (300 → 1, 750 → 2,
    1200 → 3, 1850 → 12, 2850 → 15, 4300 → 20, interpolated for other bitrates), μ = 8.
    As in Pensieve's evaluation, segments before ``from_segment`` are left out (their switch
    into ``from_segment`` is counted).

    Args:
        bitrates_kbps: Bitrate of each segment, shape ``(sessions, segments)`` or ``(segments,)``.
        rebuffer_s: Stall while fetching each segment, same shape.
        kind: ``lin``, ``log`` or ``hd``.
        lowest_kbps: R_min for ``log`` (default: the lowest bitrate seen).
        from_segment: First segment counted (0-based).

    Returns:
        QoE per session (a 0-d array for one session).

    >>> float(qoe([750, 1200, 1200], [3.0, 0.5, 0.0]))
    -0.2
    """
    r = np.asarray(bitrates_kbps, dtype=np.float64)
    stall = np.asarray(rebuffer_s, dtype=np.float64)
    low = float(np.min(r)) if lowest_kbps is None else lowest_kbps
    u = _utility(kind, r, low)
    change = np.zeros_like(u)
    change[..., 1:] = np.abs(np.diff(u, axis=-1))
    per = u - QOE_PENALTIES[kind] * stall - change
    return np.asarray(np.round(per[..., from_segment:].sum(axis=-1), 12), dtype=np.float64)


def session_metrics(
    quality: IntArray,
    rebuffer_s: FloatArray,
    video: Video,
    mode: SimMode,
    *,
    startup_s: FloatArray,
    stalls: IntArray,
) -> dict[str, FloatArray]:
    """Per-session metrics of a simulation (see ``SimResult.metrics``)."""
    kbps = video.bitrates_bps[quality] / 1e3
    p = video.segment_duration_s
    stall_total = rebuffer_s.sum(axis=1)
    media = quality.shape[1] * p
    mean_kbps = kbps.mean(axis=1)  # over segments, as both reference simulators report it
    low = float(video.bitrates_bps[0] / 1e3)
    start = mode.qoe_from_segment
    return {
        "qoe_lin": qoe(kbps, rebuffer_s, kind="lin", from_segment=start),
        "qoe_log": qoe(kbps, rebuffer_s, kind="log", lowest_kbps=low, from_segment=start),
        "qoe_hd": qoe(kbps, rebuffer_s, kind="hd", from_segment=start),
        "mean_bitrate_kbps": np.asarray(mean_kbps, dtype=np.float64),
        "rebuffer_s": stall_total,
        "rebuffer_ratio": stall_total / (stall_total + media),
        "stalls": stalls.astype(np.float64),
        "startup_s": startup_s.copy(),
        "switches": np.count_nonzero(np.diff(quality, axis=1), axis=1).astype(np.float64),
        "bitrate_change_kbps": np.abs(np.diff(kbps, axis=1)).sum(axis=1),
    }
