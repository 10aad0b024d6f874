"""Data that crosses the abr boundary: rungs, controller inputs and decisions."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from abr.errors import InvalidLadder

__all__ = [
    "AbrState",
    "AbandonProgress",
    "Decision",
    "DownloadReport",
    "Rung",
    "SelectReason",
    "ladder_bitrates",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Rung:
    """One rendition of the ladder as the controller sees it.

    Attributes:
        bitrate_bps: Declared bitrate in bits per second.
        width: Picture width in pixels (0 if unknown, e.g. audio or a simulated video).
        height: Picture height in pixels (0 if unknown).
    """

    bitrate_bps: float
    width: int = 0
    height: int = 0


class SelectReason(enum.Enum):
    """Why a controller chose a rung. The value is a stable string for stats and logs."""

    INITIAL = "initial"
    """First segment: no throughput sample yet, the start rule applied."""
    THROUGHPUT = "throughput"
    """Chosen from the throughput estimate (with its safety factor)."""
    BUFFER = "buffer"
    """Chosen from the buffer level (BBA, BOLA)."""
    LOOKAHEAD = "lookahead"
    """Chosen by optimising QoE over a horizon of future segments (MPC)."""
    EMERGENCY = "emergency"
    """The buffer is nearly empty: immediate down-switch, stability windows ignored."""
    HOLD_HIGH_BUFFER = "hold_high_buffer"
    """Throughput dipped but the buffer is high: quality held."""
    STABILITY = "stability"
    """A switch was wanted but a stability window has not elapsed yet."""
    LOW_BUFFER = "low_buffer"
    """An up-switch was wanted but the buffer is below the minimum for up-switching."""
    STEP_LIMIT = "step_limit"
    """An up-switch was limited to ``max_up_steps`` rungs per decision."""
    AFTER_ABANDON = "after_abandon"
    """The previous download was abandoned: capped at the rung the advice named."""
    EXCLUDED = "excluded"
    """The preferred rung is excluded (e.g. it failed to play); nearest allowed rung taken."""
    ABANDON = "abandon"
    """Abandonment advice: the in-flight download will finish after the buffer runs out."""
    LEVEL_SHIFT = "level_shift"
    """Up-switch planned with recent samples: the link measurably shifted up (hybrid)."""


REASONS: tuple[SelectReason, ...] = tuple(SelectReason)
"""Reasons in a fixed order: batch methods return indices into this tuple."""
REASON_CODE: dict[SelectReason, int] = {r: i for i, r in enumerate(REASONS)}


def ladder_bitrates(ladder: Sequence[Rung]) -> FloatArray:
    """Return the ladder's bitrates as an array, after validating it.

    Args:
        ladder: Rungs in ascending bitrate order.

    Returns:
        Bitrates in bits per second, shape ``(len(ladder),)``.

    Raises:
        InvalidLadder: The ladder is empty, unsorted or has a non-positive bitrate.

    >>> ladder_bitrates([Rung(300_000.0), Rung(750_000.0)]).tolist()
    [300000.0, 750000.0]
    """
    if len(ladder) == 0:
        raise InvalidLadder("the ladder is empty")
    rates = np.asarray([r.bitrate_bps for r in ladder], dtype=np.float64)
    if not np.all(np.isfinite(rates)) or np.any(rates <= 0):
        raise InvalidLadder(f"bitrates must be positive and finite, got {rates.tolist()}")
    if np.any(np.diff(rates) <= 0):
        raise InvalidLadder(f"bitrates must be strictly ascending, got {rates.tolist()}")
    return rates


@dataclass(frozen=True, slots=True, kw_only=True)
class AbrState:
    """Everything a controller needs for one decision, as the session sees it.

    Attributes:
        now: Monotonic time in seconds (the session's clock, real or virtual).
        buffer_s: Seconds of media buffered ahead of the playhead.
        throughput_bps: The estimator's current estimate in bits per second.
        ladder: Rungs in ascending bitrate order.
        current: Index of the rung of the previous segment, ``None`` before the first.
        excluded: Indices that must not be chosen (failed renditions, HDCP, ...).
        latency_s: Estimated time to first byte of a request, seconds.
        segment_duration_s: Media duration of one segment, seconds.
        segment_index: Index of the segment about to be requested (``None`` if unknown).
        segments_total: Segments in the presentation (``None`` for live or unknown).
        next_sizes_bytes: Sizes of upcoming segments, shape ``(horizon, len(ladder))``, if the
            manifest declares them; controllers otherwise assume bitrate × duration.
        max_buffer_s: The most the player's buffer holds, seconds, if known: the hybrid plans
            relative to it. A player that requests while under its buffering goal peaks just
            under the goal plus one segment, which is what the SDK's player passes (the
            simulator passes ``SimMode.max_buffer_s``).
    """

    now: float
    buffer_s: float
    throughput_bps: float
    ladder: Sequence[Rung]
    current: int | None = None
    excluded: frozenset[int] = field(default_factory=frozenset)
    latency_s: float = 0.0
    segment_duration_s: float = 4.0
    segment_index: int | None = None
    segments_total: int | None = None
    next_sizes_bytes: Sequence[Sequence[float]] | None = None
    max_buffer_s: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """A controller's choice.

    Attributes:
        index: Index of the chosen rung in the ladder.
        rung: The chosen rung.
        reason: Why it was chosen.
    """

    index: int
    rung: Rung
    reason: SelectReason


@dataclass(frozen=True, slots=True, kw_only=True)
class AbandonProgress:
    """Progress of an in-flight segment download, for abandonment advice.

    Attributes:
        now: Monotonic time in seconds.
        index: Rung index being downloaded.
        ladder: Rungs in ascending bitrate order.
        size_bytes: Total size of the segment being downloaded.
        downloaded_bytes: Bytes received so far.
        elapsed_s: Seconds since the request was sent.
        ttfb_s: Seconds from the request to the first byte.
        buffer_s: Seconds of media buffered now.
        latency_s: Estimated time to first byte of a new request, seconds.
        segment_duration_s: Media duration of one segment, seconds.
    """

    now: float
    index: int
    ladder: Sequence[Rung]
    size_bytes: float
    downloaded_bytes: float
    elapsed_s: float
    ttfb_s: float
    buffer_s: float
    latency_s: float = 0.0
    segment_duration_s: float = 4.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadReport:
    """A finished (or abandoned) segment download, reported to the controller.

    Attributes:
        now: Monotonic time in seconds when the download ended.
        index: Rung index that was downloaded.
        nbytes: Bytes received.
        ttfb_s: Seconds from the request to the first byte.
        duration_s: Seconds from the request to the last byte (includes ``ttfb_s``).
        buffer_s: Seconds buffered after the download was added (or abandoned).
        is_abandoned: The download was abandoned on the controller's advice.
        abandon_to: Rung index the abandonment advice named (``None`` if not abandoned).
    """

    now: float
    index: int
    nbytes: float
    ttfb_s: float
    duration_s: float
    buffer_s: float
    is_abandoned: bool = False
    abandon_to: int | None = None
