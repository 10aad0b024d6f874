"""Network traces and videos for the simulator, and parsers for the published formats.

Parsers take bytes or text (the caller reads files): abr stays sans-I/O.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from abr.errors import InvalidLadder, TraceFormatError

__all__ = [
    "PENSIEVE_BITRATES_KBPS",
    "NetworkTrace",
    "Video",
    "format_pensieve_video",
    "format_sabre_movie",
    "parse_cooked_trace",
    "parse_pensieve_video",
    "parse_sabre_movie",
    "parse_sabre_network",
]

FloatArray = npt.NDArray[np.float64]

PENSIEVE_BITRATES_KBPS: tuple[float, ...] = (300.0, 750.0, 1200.0, 1850.0, 2850.0, 4300.0)
"""Bitrates of Pensieve's ``video_size_0..5`` ladder (``VIDEO_BIT_RATE`` in its code), kbit/s."""


@dataclass(frozen=True, slots=True, eq=False)
class NetworkTrace:
    """A throughput trace: consecutive periods of constant bandwidth, looped when exhausted.

    Attributes:
        name: Where the trace came from (file name).
        durations_s: Length of each period, seconds.
        bandwidth_bps: Bandwidth during each period, bits per second.
        latency_s: Time to first byte of a request started in each period, seconds.
    """

    name: str
    durations_s: FloatArray
    bandwidth_bps: FloatArray
    latency_s: FloatArray

    def __post_init__(self) -> None:
        """Validate shapes and values.

        Raises:
            TraceFormatError: The arrays disagree in length, are empty, or the trace
                carries no bytes at all.
        """
        n = len(self.durations_s)
        if n == 0 or len(self.bandwidth_bps) != n or len(self.latency_s) != n:
            raise TraceFormatError(f"{self.name}: periods, bandwidths and latencies must match")
        arrays = (self.durations_s, self.bandwidth_bps, self.latency_s)
        if not all(np.all(np.isfinite(a)) for a in arrays):
            raise TraceFormatError(
                f"{self.name}: durations, bandwidths and latencies must be finite"
            )
        if (
            np.any(self.durations_s < 0)
            or np.any(self.bandwidth_bps < 0)
            or np.any(self.latency_s < 0)
        ):
            raise TraceFormatError(f"{self.name}: negative duration, bandwidth or latency")
        if float(np.sum(self.durations_s * self.bandwidth_bps)) <= 0:
            raise TraceFormatError(f"{self.name}: the trace carries no data")

    @property
    def mean_bps(self) -> float:
        """Time-averaged bandwidth over one loop of the trace, bits per second."""
        return float(np.sum(self.durations_s * self.bandwidth_bps) / np.sum(self.durations_s))


@dataclass(frozen=True, slots=True, eq=False)
class Video:
    """A video as the simulator sees it: the ladder and every segment's size.

    A video is its content: every segment of it, whatever file it was read from. Which of
    them a simulation plays is the simulator mode's convention (``SimMode``'s
    ``unplayed_tail_segments``: Pensieve plays 48 chunks of its 49-chunk video and its MPC reads
    the 49th), never the file format's.

    Attributes:
        segment_duration_s: Media duration of each segment, seconds.
        bitrates_bps: Declared bitrate of each rung, ascending, bits per second.
        sizes_bytes: Size of segment ``k`` at rung ``q``, shape ``(segments, rungs)``.
        init_sizes_bytes: Size of each rung's initialization segment, shape ``(rungs,)``, or
            ``None``. When given, a simulated session fetches a rung's init segment the first
            time it uses the rung, as a player does: one more request (latency and bytes)
            before that segment's. The published formats carry none (``None``).
    """

    segment_duration_s: float
    bitrates_bps: FloatArray
    sizes_bytes: FloatArray
    init_sizes_bytes: FloatArray | None = None

    def __post_init__(self) -> None:
        """Validate the ladder and the size table.

        Raises:
            InvalidLadder: Bitrates are not positive and strictly ascending.
            TraceFormatError: The size table does not match the ladder.
        """
        rates = self.bitrates_bps
        if len(rates) == 0 or np.any(rates <= 0) or np.any(np.diff(rates) <= 0):
            raise InvalidLadder(f"bitrates must be positive and ascending: {rates.tolist()}")
        if self.sizes_bytes.ndim != 2 or self.sizes_bytes.shape[1] != len(rates):
            raise TraceFormatError("sizes_bytes must have shape (segments, rungs)")
        if self.sizes_bytes.shape[0] < 1 or np.any(self.sizes_bytes <= 0):
            raise TraceFormatError("every segment needs a positive size at every rung")
        if self.segment_duration_s <= 0:
            raise TraceFormatError("segment_duration_s must be positive")
        inits = self.init_sizes_bytes
        if inits is not None and (inits.shape != rates.shape or np.any(inits < 0)):
            raise TraceFormatError("init_sizes_bytes needs one size (>= 0) per rung")

    @property
    def segments(self) -> int:
        """Number of segments."""
        return int(self.sizes_bytes.shape[0])


def parse_cooked_trace(text: str, *, name: str = "trace") -> NetworkTrace:
    r"""Parse a Pensieve "cooked" trace: lines of ``time_s throughput_Mbit/s``.

    Line *i*'s throughput applies to the interval between the times of lines *i-1* and *i*
    (Pensieve's ``fixed_env.py``); the first line only anchors the start. Times are shifted so
    the trace starts at 0. Latency is 0: the ``pensieve`` mode adds its fixed RTT.

    Raises:
        TraceFormatError: Fewer than two lines, unparsable numbers, or decreasing times.

    >>> t = parse_cooked_trace("0.0 1.0\n1.0 2.0\n3.0 4.0\n")
    >>> t.durations_s.tolist(), t.bandwidth_bps.tolist()
    ([1.0, 2.0], [2000000.0, 4000000.0])
    """
    try:
        rows = [
            tuple(float(x) for x in line.split()[:2]) for line in text.splitlines() if line.strip()
        ]
        data = np.array(rows, dtype=np.float64)
    except ValueError as exc:
        raise TraceFormatError(f"{name}: not a cooked trace ({exc})") from exc
    if data.ndim != 2 or data.shape[0] < 2 or data.shape[1] != 2:
        raise TraceFormatError(f"{name}: need at least two 'time throughput' lines")
    durations = np.diff(data[:, 0])
    if np.any(durations < 0):
        raise TraceFormatError(f"{name}: times must not decrease")
    bw = data[1:, 1] * 1e6
    return NetworkTrace(name, durations, bw, np.zeros_like(durations))


def parse_sabre_network(data: bytes | str, *, name: str = "network") -> NetworkTrace:
    """Parse a Sabre network JSON: a list of ``{duration_ms, bandwidth_kbps, latency_ms}``.

    Raises:
        TraceFormatError: Not JSON, not a list of periods, or a field is missing.
    """
    try:
        periods = json.loads(data)
        arr = np.array(
            [[p["duration_ms"], p["bandwidth_kbps"], p["latency_ms"]] for p in periods],
            dtype=np.float64,
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise TraceFormatError(f"{name}: not a Sabre network trace ({exc!r})") from exc
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise TraceFormatError(f"{name}: no periods")
    return NetworkTrace(name, arr[:, 0] / 1e3, arr[:, 1] * 1e3, arr[:, 2] / 1e3)


def parse_sabre_movie(data: bytes | str) -> Video:
    """Parse a Sabre movie JSON (``segment_duration_ms``, ``bitrates_kbps``, sizes in bits).

    Raises:
        TraceFormatError: Not JSON or a field is missing.
        InvalidLadder: The bitrates are not ascending.
    """
    try:
        movie = json.loads(data)
        sizes = np.array(movie["segment_sizes_bits"], dtype=np.float64) / 8.0
        rates = np.array(movie["bitrates_kbps"], dtype=np.float64) * 1e3
        seg = float(movie["segment_duration_ms"]) / 1e3
    except (ValueError, TypeError, KeyError) as exc:
        raise TraceFormatError(f"not a Sabre movie ({exc!r})") from exc
    return Video(segment_duration_s=seg, bitrates_bps=rates, sizes_bytes=sizes)


def parse_pensieve_video(
    size_texts: Sequence[str],
    *,
    bitrates_kbps: Sequence[float] = PENSIEVE_BITRATES_KBPS,
    segment_duration_s: float = 4.0,
) -> Video:
    """Build a video from Pensieve's ``video_size_<q>`` files (bytes per chunk, one per line).

    Every chunk is kept (49 for Pensieve's EnvivioDash3 video); ``SimMode.pensieve()`` plays all
    but the last, as Pensieve's simulator does.

    Args:
        size_texts: The text of ``video_size_0``, ``video_size_1``, ... in rung order.
        bitrates_kbps: Declared bitrate of each rung.
        segment_duration_s: Chunk duration (Pensieve: 4 s).

    Raises:
        TraceFormatError: The files disagree in length or hold non-numbers.
    """
    try:
        cols = [
            [float(line.split()[0]) for line in t.splitlines() if line.strip()] for t in size_texts
        ]
    except (ValueError, IndexError) as exc:
        raise TraceFormatError(f"not a video_size file ({exc})") from exc
    if not cols or len({len(c) for c in cols}) != 1 or len(cols) != len(bitrates_kbps):
        raise TraceFormatError("need one equally long video_size file per bitrate")
    return Video(
        segment_duration_s=segment_duration_s,
        bitrates_bps=np.array(bitrates_kbps, dtype=np.float64) * 1e3,
        sizes_bytes=np.array(cols, dtype=np.float64).T,
    )


def _integral(values: FloatArray) -> list[int] | list[float]:
    """Values as ints when they all are whole numbers (so files stay exact and short)."""
    if np.all(values == np.round(values)):
        return [int(v) for v in values.tolist()]
    return [float(v) for v in values.tolist()]


def format_sabre_movie(video: Video) -> bytes:
    """Write ``video`` as a Sabre movie JSON (the inverse of :func:`parse_sabre_movie`).

    >>> v = Video(segment_duration_s=3.0, bitrates_bps=np.array([1e5]), sizes_bytes=np.ones((2, 1)))
    >>> format_sabre_movie(v)
    b'{"segment_duration_ms": 3000, "bitrates_kbps": [100], "segment_sizes_bits": [[8], [8]]}'
    """
    seg_ms = video.segment_duration_s * 1e3
    movie = {
        "segment_duration_ms": int(seg_ms) if seg_ms == round(seg_ms) else seg_ms,
        "bitrates_kbps": _integral(video.bitrates_bps / 1e3),
        "segment_sizes_bits": [_integral(row) for row in video.sizes_bytes * 8.0],
    }
    return json.dumps(movie).encode()


def format_pensieve_video(video: Video) -> list[str]:
    """Write ``video`` as the texts of Pensieve's ``video_size_0``, ``video_size_1``, ... files.

    The ladder and segment duration are not part of that format (Pensieve's code holds them).
    """
    return ["".join(f"{v}\n" for v in _integral(col)) for col in video.sizes_bytes.T]
