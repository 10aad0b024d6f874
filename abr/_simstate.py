"""Mutable state of a simulation run and of the downloads in flight (internal)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from abr._media import NetworkTrace
from abr._timeline import Timeline
from abr.config import SimMode

__all__: list[str] = []

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Run:
    """Per-session clocks, buffers and records of one simulation (all sessions)."""

    def __init__(
        self, traces: Sequence[NetworkTrace], segs: int, mode: SimMode, *, rungs: int = 1
    ) -> None:
        n = len(traces)
        self.n = n
        self.segments = segs
        self.tl = Timeline(traces, mode.payload_factor)
        self.trace_t = np.zeros(n)
        self.clock = np.zeros(n)
        self.buf = np.zeros(n)
        self.seg = np.zeros(n, dtype=np.int64)
        self.cur = np.full(n, -1, dtype=np.int64)
        self.quality = np.zeros((n, segs), dtype=np.int64)
        self.rebuf = np.zeros((n, segs))
        self.download = np.zeros((n, segs))
        self.buffer_after = np.zeros((n, segs))
        self.end_time = np.zeros((n, segs))
        self.tput = np.zeros((n, segs))
        self.abandoned = np.zeros(n, dtype=np.int64)
        self.stalls = np.zeros(n, dtype=np.int64)
        self.startup = np.zeros(n)
        self.has_init = np.zeros((n, rungs), dtype=np.bool_)


@dataclass(slots=True)
class Flight:
    """One request per listed session, from request to last byte (or abandonment).

    Attributes:
        rows: Session of each request.
        q: Rung requested.
        size: Segment size, bytes.
        start: Trace time of the request.
        ttfb: Time to first byte (the trace's latency), seconds.
        c0: Link's cumulative bytes at the first byte.
        finish: Trace time the last byte would arrive.
        end: Trace time the request ends (``finish`` unless abandoned).
        abandon_to: Rung named by abandonment advice, -1 if none.
    """

    rows: IntArray
    q: IntArray
    size: FloatArray
    start: FloatArray
    ttfb: FloatArray
    c0: FloatArray
    finish: FloatArray
    end: FloatArray
    abandon_to: IntArray
