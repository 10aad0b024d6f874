"""The ``Controller`` protocol and the base class that gives every controller a live form.

Controllers keep per-session state in arrays (one row per session) and implement their logic
once on batches. A live player calls :meth:`BatchController.select` with an
:class:`abr.AbrState`; that builds a one-row batch and runs the same batch code the simulator
runs for thousands of sessions.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from abr._batch import BatchProgress, BatchReport, BatchState
from abr._types import (
    REASON_CODE,
    REASONS,
    AbandonProgress,
    AbrState,
    Decision,
    DownloadReport,
    Rung,
    SelectReason,
    ladder_bitrates,
)

__all__ = ["BatchController", "Controller"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_ROW0: IntArray = np.zeros(1, dtype=np.int64)


@runtime_checkable
class Controller(Protocol):
    """Chooses a rung for each segment; advises abandoning a download that will stall.

    Live use, per segment: ``decision = controller.select(state)``, fetch
    ``decision.rung``; while it downloads, call ``decide_abandon(progress)`` periodically and
    cancel the request if it returns a decision; then report the outcome with
    ``on_download(report)``. The ``*_batch`` methods are the simulator's form of the same calls.
    """

    name: str

    def reset(self, sessions: int = 1) -> None:
        """Forget all history and allocate state for ``sessions`` independent sessions."""

    def select(self, state: AbrState) -> Decision:
        """Return the rung to fetch next (the caller then fetches it)."""

    def decide_abandon(self, progress: AbandonProgress) -> Decision | None:
        """Return a lower rung to refetch at, or ``None`` to let the download finish."""

    def on_download(self, report: DownloadReport) -> None:
        """Notify the controller that a download finished or was abandoned."""

    def select_batch(self, state: BatchState) -> tuple[IntArray, IntArray]:
        """Return the chosen rung and reason code (index into ``SelectReason``) per row."""

    def decide_abandon_batch(self, progress: BatchProgress) -> IntArray:
        """Return per row the rung to abandon to, or -1 to continue."""

    def on_download_batch(self, report: BatchReport) -> None:
        """Notify the controller of finished or abandoned downloads, one per row."""


def _scalar_state(state: AbrState, bitrates: FloatArray) -> BatchState:
    excluded = None
    if state.excluded:
        excluded = np.zeros((1, len(bitrates)), dtype=np.bool_)
        idx = [i for i in state.excluded if 0 <= i < len(bitrates)]
        excluded[0, idx] = True
    sizes = None
    seg_index = -1 if state.segment_index is None else state.segment_index
    total = 0 if state.segments_total is None else state.segments_total
    if state.next_sizes_bytes is not None:
        upcoming = np.asarray(state.next_sizes_bytes, dtype=np.float64).reshape(-1, len(bitrates))
        seg_index = max(seg_index, 0)
        # rows before seg_index are never read: controllers look ahead from seg_index
        sizes = np.zeros((seg_index + len(upcoming), len(bitrates)))
        sizes[seg_index:] = upcoming
    return BatchState(
        sessions=_ROW0,
        now=np.array([state.now]),
        buffer_s=np.array([state.buffer_s]),
        throughput_bps=np.array([state.throughput_bps]),
        latency_s=np.array([state.latency_s]),
        current=np.array([-1 if state.current is None else state.current], dtype=np.int64),
        bitrates_bps=bitrates,
        segment_duration_s=state.segment_duration_s,
        segment_index=np.array([seg_index], dtype=np.int64),
        segments_total=total,
        sizes_bytes=sizes,
        excluded=excluded,
        max_buffer_s=0.0 if state.max_buffer_s is None else state.max_buffer_s,
    )


def apply_exclusion(
    index: IntArray, reason: IntArray, excluded: npt.NDArray[np.bool_] | None
) -> None:
    """Move each excluded choice to the highest allowed rung below it (else the lowest allowed).

    Works in place on ``index`` and ``reason``. Rows where every rung is excluded keep their
    choice: the session, not the controller, must handle an unplayable ladder.
    """
    if excluded is None:
        return
    rows = np.nonzero(excluded[np.arange(len(index)), index])[0]
    for r in rows:
        allowed = np.nonzero(~excluded[r])[0]
        if len(allowed) == 0:
            continue
        below = allowed[allowed <= index[r]]
        index[r] = below[-1] if len(below) else allowed[0]
        reason[r] = REASON_CODE[SelectReason.EXCLUDED]


class BatchController(abc.ABC):
    """Base of all controllers: per-session state arrays plus the live (one-row) wrappers."""

    name: str = "controller"

    def __init__(self) -> None:
        """Allocate state for one session (live playback); the simulator calls :meth:`reset`."""
        self.reset(1)

    def reset(self, sessions: int = 1) -> None:
        """Forget all history and allocate state for ``sessions`` independent sessions."""
        self._sessions = sessions
        self._reset_state(sessions)

    @abc.abstractmethod
    def _reset_state(self, sessions: int) -> None:
        """Allocate the per-session state arrays."""

    @abc.abstractmethod
    def _choose(self, state: BatchState) -> tuple[IntArray, IntArray]:
        """Return (rung index, reason code) per row, ignoring exclusions."""

    def select_batch(self, state: BatchState) -> tuple[IntArray, IntArray]:
        """Return the chosen rung and reason code per row (exclusions applied).

        Args:
            state: Inputs for the listed sessions.

        Returns:
            ``(index, reason)``: rung indices and indices into ``SelectReason``.
        """
        index, reason = self._choose(state)
        index = np.asarray(index, dtype=np.int64).copy()
        reason = np.asarray(reason, dtype=np.int64).copy()
        apply_exclusion(index, reason, state.excluded)
        self._after_select(state, index)
        return index, reason

    def _after_select(self, state: BatchState, index: IntArray) -> None:
        """Record the final choice (after exclusions) in per-session state, if needed."""
        del state, index

    def decide_abandon_batch(self, progress: BatchProgress) -> IntArray:
        """Return per row the rung to abandon to, or -1 to let the download finish."""
        return np.full(len(progress.sessions), -1, dtype=np.int64)

    def on_download_batch(self, report: BatchReport) -> None:
        """Notify the controller of finished or abandoned downloads (default: ignored)."""
        del report

    def may_abandon_batch(
        self, download_s: FloatArray, buffer_s: FloatArray
    ) -> npt.NDArray[np.bool_]:
        """Tell the simulator which downloads it must poll for abandonment.

        Args:
            download_s: Each download's full duration if not abandoned, seconds.
            buffer_s: Buffer when each download was requested, seconds.

        Returns:
            A mask; ``False`` promises :meth:`decide_abandon_batch` would never advise
            abandoning that download, so polling it can be skipped (default: poll all if the
            controller abandons at all).
        """
        return np.full(len(download_s), self.has_abandonment, dtype=np.bool_)

    def abandon_earliest_s(self, buffer_s: FloatArray) -> FloatArray:
        """Earliest elapsed time at which advice is possible, per download (default 0).

        Args:
            buffer_s: Buffer when each download was requested, seconds.
        """
        return np.zeros(len(buffer_s))

    @property
    def has_abandonment(self) -> bool:
        """Whether :meth:`decide_abandon_batch` can ever advise abandoning."""
        return type(self).decide_abandon_batch is not BatchController.decide_abandon_batch

    def select(self, state: AbrState) -> Decision:
        """Return the rung to fetch next for a live session (row 0).

        Args:
            state: The session's current inputs.

        Returns:
            The decision; the caller fetches ``decision.rung`` next.

        Raises:
            InvalidLadder: ``state.ladder`` is empty, unsorted or has non-positive bitrates.
        """
        bitrates = ladder_bitrates(state.ladder)
        index, reason = self.select_batch(_scalar_state(state, bitrates))
        i = int(index[0])
        return Decision(index=i, rung=state.ladder[i], reason=REASONS[int(reason[0])])

    def decide_abandon(self, progress: AbandonProgress) -> Decision | None:
        """Advise on an in-flight download of a live session.

        Args:
            progress: The download's progress and the buffer level now.

        Returns:
            A decision naming the lower rung to refetch the segment at (the caller cancels
            the request and fetches that rung), or ``None`` to let the download finish.
        """
        bitrates = ladder_bitrates(progress.ladder)
        batch = BatchProgress(
            sessions=_ROW0,
            now=np.array([progress.now]),
            index=np.array([progress.index], dtype=np.int64),
            size_bytes=np.array([progress.size_bytes]),
            downloaded_bytes=np.array([progress.downloaded_bytes]),
            elapsed_s=np.array([progress.elapsed_s]),
            ttfb_s=np.array([progress.ttfb_s]),
            buffer_s=np.array([progress.buffer_s]),
            latency_s=np.array([progress.latency_s]),
            bitrates_bps=bitrates,
            segment_duration_s=progress.segment_duration_s,
        )
        to = int(self.decide_abandon_batch(batch)[0])
        if to < 0:
            return None
        return Decision(index=to, rung=progress.ladder[to], reason=SelectReason.ABANDON)

    def on_download(self, report: DownloadReport) -> None:
        """Notify the controller that a live download finished or was abandoned."""
        self.on_download_batch(
            BatchReport(
                sessions=_ROW0,
                now=np.array([report.now]),
                index=np.array([report.index], dtype=np.int64),
                nbytes=np.array([report.nbytes]),
                ttfb_s=np.array([report.ttfb_s]),
                duration_s=np.array([report.duration_s]),
                buffer_s=np.array([report.buffer_s]),
                is_abandoned=np.array([report.is_abandoned]),
                abandon_to=np.array(
                    [-1 if report.abandon_to is None else report.abandon_to], dtype=np.int64
                ),
            )
        )


def quality_from_throughput(
    bitrates: FloatArray, tput_bps: FloatArray, latency_s: FloatArray, segment_s: float
) -> IntArray:
    """Highest rung whose segment, requested now, arrives within one segment duration.

    Rung ``q`` fits if ``latency + segment_s * bitrate[q] / tput <= segment_s`` (Sabre's rule);
    rung 0 is always allowed.
    """
    need = latency_s[:, None] + segment_s * bitrates[None, :] / np.maximum(tput_bps, 1e-9)[:, None]
    fits = need <= segment_s
    fits[:, 0] = True
    # rungs are ascending, so the fitting set is a prefix: count it
    return np.asarray(np.cumprod(fits, axis=1).sum(axis=1) - 1, dtype=np.int64)


def rung_list(bitrates_bps: Sequence[float]) -> list[Rung]:
    """Build rungs (without picture size) from bitrates, for simulations and tests."""
    return [Rung(float(b)) for b in bitrates_bps]
