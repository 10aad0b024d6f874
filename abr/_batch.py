"""Batch (vectorised) forms of the controller inputs: one row per simulated session.

The scalar types in :mod:`abr._types` are what a live player passes; the simulator passes these.
Every controller implements its logic once, on batches; the scalar methods call the batch
methods with one row, so live playback and simulation run the very same code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["BatchProgress", "BatchReport", "BatchState"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchState:
    """Decision inputs for ``n`` sessions at once (see :class:`abr.AbrState`).

    Attributes:
        sessions: Row of each entry in the controller's per-session state, shape ``(n,)``.
        now: Monotonic time per session, seconds.
        buffer_s: Buffered media per session, seconds.
        throughput_bps: Throughput estimate per session, bits per second.
        latency_s: Estimated time to first byte per session, seconds.
        current: Rung index of the previous segment, ``-1`` before the first.
        bitrates_bps: The ladder's bitrates, shape ``(L,)``, ascending.
        segment_duration_s: Media duration of one segment, seconds.
        segment_index: Index of the segment about to be requested, ``-1`` if unknown.
        segments_total: Segments in the presentation, ``0`` if unknown (live).
        sizes_bytes: Segment sizes ``(segments_total, L)`` if known, else ``None``.
        excluded: Mask of rungs that must not be chosen, shape ``(n, L)``, or ``None``.
        max_buffer_s: The player's buffer cap, seconds, ``0`` if unknown.
    """

    sessions: IntArray
    now: FloatArray
    buffer_s: FloatArray
    throughput_bps: FloatArray
    latency_s: FloatArray
    current: IntArray
    bitrates_bps: FloatArray
    segment_duration_s: float
    segment_index: IntArray
    segments_total: int = 0
    sizes_bytes: FloatArray | None = None
    excluded: BoolArray | None = None
    max_buffer_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchProgress:
    """In-flight downloads of ``n`` sessions (see :class:`abr.AbandonProgress`).

    Attributes:
        sessions: Row of each entry in the controller's per-session state.
        now: Monotonic time per session, seconds.
        index: Rung index being downloaded.
        size_bytes: Total size of each in-flight segment.
        downloaded_bytes: Bytes received so far.
        elapsed_s: Seconds since each request was sent.
        ttfb_s: Seconds from each request to its first byte.
        buffer_s: Seconds of media buffered now.
        latency_s: Estimated time to first byte of a new request, seconds.
        bitrates_bps: The ladder's bitrates, shape ``(L,)``.
        segment_duration_s: Media duration of one segment, seconds.
    """

    sessions: IntArray
    now: FloatArray
    index: IntArray
    size_bytes: FloatArray
    downloaded_bytes: FloatArray
    elapsed_s: FloatArray
    ttfb_s: FloatArray
    buffer_s: FloatArray
    latency_s: FloatArray
    bitrates_bps: FloatArray
    segment_duration_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchReport:
    """Finished or abandoned downloads of ``n`` sessions (see :class:`abr.DownloadReport`).

    Attributes:
        sessions: Row of each entry in the controller's per-session state.
        now: Time each download ended, seconds.
        index: Rung index downloaded.
        nbytes: Bytes received.
        ttfb_s: Seconds from the request to the first byte.
        duration_s: Seconds from the request to the last byte (includes ``ttfb_s``).
        buffer_s: Seconds buffered afterwards.
        is_abandoned: Whether each download was abandoned.
        abandon_to: Rung the abandonment advice named, ``-1`` if not abandoned.
    """

    sessions: IntArray
    now: FloatArray
    index: IntArray
    nbytes: FloatArray
    ttfb_s: FloatArray
    duration_s: FloatArray
    buffer_s: FloatArray
    is_abandoned: BoolArray
    abandon_to: IntArray
