"""Network trace formats: one reader and one writer per format, all to and from ``NetworkTrace``.

Sans-I/O: readers take the file's bytes, writers return bytes; the command line reads and
writes the files. Every format loads into the same shape, a ``NetworkTrace`` of consecutive
periods (``durations_s``, ``bandwidth_bps``, ``latency_s``: three float64 arrays) that loops
when exhausted. That shape is also what the lab's network emulator takes
(``transport.lab.ThroughputTrace.from_periods``) and the content of the ``npz`` format, so
these readers are the only trace parsers in the SDK.

=========  ==========================================================================
format     layout
=========  ==========================================================================
cooked     Pensieve: ``time_s throughput_Mbit/s`` lines; line *i*'s rate covers
           ``(t[i-1], t[i]]``, the first line only anchors the start
sabre      Sabre JSON: a list of ``{"duration_ms", "bandwidth_kbps", "latency_ms"}``
mahimahi   Mahimahi/Pantheon: one integer millisecond timestamp per line, each a delivery
           opportunity for one 1500-byte packet; the trace loops after its last timestamp
oboe       FCC/Oboe per-interval logs: pairs of lines ``t_start_ms kbps`` /
           ``t_end_ms kbps`` per measured interval; a gap between two intervals gets the
           mean of their rates (the integral of the linear interpolation Oboe suggests)
csv        ``time_s,bandwidth_bps[,latency_s]`` (header optional): row *i*'s rate holds
           from its time to the next row's; the last row's time ends the loop
npz        NumPy archive of the three arrays (``durations_s``, ``bandwidth_bps``,
           ``latency_s``): exact, fast, and what the emulator's ``--trace`` reads
=========  ==========================================================================
"""

from __future__ import annotations

import io
import json
import math
import zipfile

import numpy as np
import numpy.typing as npt

from abr._media import NetworkTrace, parse_cooked_trace, parse_sabre_network
from abr.errors import TraceFormatError, UnknownTraceFormat

__all__ = [
    "MAHIMAHI_PACKET_BYTES",
    "TRACE_FORMATS",
    "format_trace",
    "parse_trace",
    "sniff_trace_format",
    "trace_suffix",
]

FloatArray = npt.NDArray[np.float64]

TRACE_FORMATS: tuple[str, ...] = ("cooked", "sabre", "mahimahi", "oboe", "csv", "npz")
"""Names of the trace formats :func:`parse_trace` reads and :func:`format_trace` writes."""

MAHIMAHI_PACKET_BYTES = 1500
"""Bytes one Mahimahi delivery opportunity carries (an MTU-sized packet, as Mahimahi does)."""

_MAHIMAHI_TICK_S = 1e-3
"""Mahimahi's clock: timestamps are whole milliseconds."""

_SUFFIXES = {
    "cooked": ".cooked",
    "sabre": ".json",
    "mahimahi": ".mahimahi",
    "oboe": ".oboe",
    "csv": ".csv",
    "npz": ".npz",
}
_BY_SUFFIX = {
    **{v: k for k, v in _SUFFIXES.items()},
    ".mahi": "mahimahi",
    ".up": "mahimahi",
    ".down": "mahimahi",
}
_CSV_HEADER = ("time_s", "bandwidth_bps", "latency_s")


def trace_suffix(fmt: str) -> str:
    """File name suffix written for format ``fmt`` (``.json`` for ``sabre``, ...).

    Raises:
        UnknownTraceFormat: ``fmt`` is not one of :data:`TRACE_FORMATS`.
    """
    _check_format(fmt)
    return _SUFFIXES[fmt]


def _check_format(fmt: str) -> None:
    if fmt not in TRACE_FORMATS:
        raise UnknownTraceFormat(
            f"unknown trace format {fmt!r} (choose from {', '.join(TRACE_FORMATS)})"
        )


def _text(data: bytes, name: str) -> str:
    if b"\x00" in data[:4096]:
        raise UnknownTraceFormat(f"{name}: binary data, not a network trace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnknownTraceFormat(
            f"{name}: not text (byte {exc.start} is not UTF-8), not a network trace"
        ) from exc


def _is_number(token: str) -> bool:
    try:
        return math.isfinite(float(token))
    except ValueError:
        return False


def _looks_like_oboe(rows: list[list[str]]) -> bool:
    """Pairs of lines with equal rates, and some neighbouring pairs with different ones."""
    if len(rows) < 4 or len(rows) % 2 or any(len(r) != 2 for r in rows):
        return False
    rates = [r[1] for r in rows]
    paired = all(rates[i] == rates[i + 1] for i in range(0, len(rates), 2))
    return (
        paired
        and len(set(rates)) > 1
        and any(rates[i] != rates[i + 1] for i in range(1, len(rates) - 1, 2))
    )


def sniff_trace_format(data: bytes, *, name: str = "trace") -> str:
    r"""Guess the format of a trace from its name's suffix, else from its content.

    Args:
        data: The file's bytes.
        name: The file's name (its suffix decides when it is one of ours: ``.json``, ``.csv``,
            ``.npz``, ``.mahimahi``/``.up``/``.down``, ``.cooked``, ``.oboe``).

    Returns:
        One of :data:`TRACE_FORMATS`.

    Raises:
        UnknownTraceFormat: Binary data that is no NumPy archive, or text of no known layout.

    >>> sniff_trace_format(b"0.0 1.5\n1.0 2.5\n")
    'cooked'
    >>> sniff_trace_format(b"1\n1\n3\n")
    'mahimahi'
    """
    dot = name.rfind(".")
    if dot > 0 and name[dot:].lower() in _BY_SUFFIX:
        return _BY_SUFFIX[name[dot:].lower()]
    if data.startswith(b"PK\x03\x04"):
        return "npz"
    text = _text(data, name).lstrip("\ufeff")
    head = text.lstrip()[:1]
    if head in ("[", "{"):
        return "sabre"
    rows = [line.replace(",", " ").split() for line in text.splitlines()[:400] if line.strip()]
    if rows and "," in text.split("\n", 1)[0]:
        return "csv"
    numeric = [r for r in rows if all(_is_number(t) for t in r)]
    if rows and len(numeric) == len(rows):
        if all(len(r) == 1 and r[0].isdigit() for r in rows):
            return "mahimahi"
        if all(len(r) >= 2 for r in rows):
            return "oboe" if _looks_like_oboe(rows) else "cooked"
    raise UnknownTraceFormat(
        f"{name}: not a network trace of any known format ({', '.join(TRACE_FORMATS)})"
    )


def parse_trace(data: bytes, *, name: str = "trace", fmt: str | None = None) -> NetworkTrace:
    r"""Read a network trace in any of :data:`TRACE_FORMATS`.

    Args:
        data: The file's bytes.
        name: Its name (kept as the trace's name; its suffix may tell the format).
        fmt: The format, or ``None`` to detect it (:func:`sniff_trace_format`).

    Returns:
        The trace.

    Raises:
        UnknownTraceFormat: ``fmt`` is unknown, or no format could be detected.
        TraceFormatError: The data is not valid in that format (the message names the file
            and what is wrong).

    >>> t = parse_trace(b"time_s,bandwidth_bps\n0,1e6\n2,3e6\n5,1e6\n", name="a.csv")
    >>> t.durations_s.tolist(), t.bandwidth_bps.tolist()
    ([2.0, 3.0], [1000000.0, 3000000.0])
    """
    fmt = fmt or sniff_trace_format(data, name=name)
    _check_format(fmt)
    if fmt == "npz":
        return _parse_npz(data, name)
    if fmt == "sabre":
        return parse_sabre_network(_text(data, name), name=name)
    text = _text(data, name)
    if fmt == "cooked":
        return parse_cooked_trace(text, name=name)
    if fmt == "mahimahi":
        return _parse_mahimahi(text, name)
    if fmt == "oboe":
        return _parse_oboe(text, name)
    return _parse_csv(text, name)


def format_trace(trace: NetworkTrace, fmt: str) -> bytes:
    """Write ``trace`` in format ``fmt`` (the inverse of :func:`parse_trace`).

    ``npz`` and ``csv`` keep every period and latency bit for bit; ``sabre`` keeps them to
    float rounding of its units (ms, kbit/s); ``cooked`` (absolute seconds, Mbit/s) and ``oboe``
    (absolute milliseconds, kbit/s) have no latency column and keep periods to float rounding;
    ``mahimahi`` rounds the loop to whole milliseconds and the bytes to whole packets (at most
    one packet per loop lost), and its loop ends with its last packet (Mahimahi's convention),
    so trailing silence is dropped.

    Raises:
        UnknownTraceFormat: ``fmt`` is unknown.
        TraceFormatError: The trace cannot be written in ``fmt`` (less than one Mahimahi
            packet per loop).
    """
    _check_format(fmt)
    if fmt == "npz":
        buf = io.BytesIO()
        np.savez(
            buf,
            durations_s=trace.durations_s,
            bandwidth_bps=trace.bandwidth_bps,
            latency_s=trace.latency_s,
        )
        return buf.getvalue()
    if fmt == "sabre":
        periods = [
            {
                "duration_ms": d * 1e3,
                "bandwidth_kbps": b / 1e3,
                "latency_ms": lat * 1e3,
            }
            for d, b, lat in zip(
                trace.durations_s.tolist(),
                trace.bandwidth_bps.tolist(),
                trace.latency_s.tolist(),
                strict=True,
            )
        ]
        return json.dumps(periods).encode()
    if fmt == "mahimahi":
        return _format_mahimahi(trace, trace.name)
    return _format_columns(trace, fmt).encode()


def _format_columns(trace: NetworkTrace, fmt: str) -> str:
    ends = np.cumsum(trace.durations_s).tolist()
    starts = [0.0, *ends[:-1]]
    rates = trace.bandwidth_bps.tolist()
    if fmt == "cooked":
        lines = [f"0.0 {rates[0] / 1e6!r}"]
        lines += [f"{t!r} {b / 1e6!r}" for t, b in zip(ends, rates, strict=True)]
    elif fmt == "oboe":
        lines = []
        for s, e, b in zip(starts, ends, rates, strict=True):
            lines += [f"{s * 1e3!r} {b / 1e3!r}", f"{e * 1e3!r} {b / 1e3!r}"]
    else:
        lat = trace.latency_s.tolist()
        lines = [",".join(_CSV_HEADER)]
        lines += [f"{s!r},{b!r},{la!r}" for s, b, la in zip(starts, rates, lat, strict=True)]
        lines.append(f"{ends[-1]!r},{rates[0]!r},{lat[0]!r}")
    return "\n".join(lines) + "\n"


def _numbers(text: str, name: str, columns: tuple[int, ...]) -> FloatArray:
    """Rows of whitespace- or comma-separated numbers with one of ``columns`` counts."""
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.replace(",", " ").split()
        if not tokens:
            continue
        if len(tokens) not in columns:
            raise TraceFormatError(f"{name}: line {number} has {len(tokens)} fields")
        try:
            rows.append([float(t) for t in tokens] + [0.0] * (max(columns) - len(tokens)))
        except ValueError as exc:
            raise TraceFormatError(f"{name}: line {number}: {exc}") from exc
    data = np.array(rows, dtype=np.float64).reshape(-1, max(columns))
    if not np.all(np.isfinite(data)):
        raise TraceFormatError(f"{name}: numbers must be finite")
    return data


def _parse_csv(text: str, name: str) -> NetworkTrace:
    lines = text.lstrip("\ufeff").splitlines()
    first = lines[0].replace(" ", "").lower().split(",") if lines else []
    if first and not _is_number(first[0]):
        if tuple(first) not in (_CSV_HEADER[:2], _CSV_HEADER):
            raise TraceFormatError(f"{name}: CSV header must be time_s,bandwidth_bps[,latency_s]")
        lines = lines[1:]
    data = _numbers("\n".join(lines), name, (2, 3))
    if data.shape[0] < 2:
        raise TraceFormatError(f"{name}: need at least two rows (the last one ends the trace)")
    durations = np.diff(data[:, 0])
    if np.any(durations < 0):
        raise TraceFormatError(f"{name}: times must not decrease")
    return NetworkTrace(name, durations, data[:-1, 1].copy(), data[:-1, 2].copy())


def _parse_oboe(text: str, name: str) -> NetworkTrace:
    data = _numbers(text, name, (2,))
    if data.shape[0] < 2 or data.shape[0] % 2:
        raise TraceFormatError(f"{name}: need pairs of 't_start_ms kbps' / 't_end_ms kbps' lines")
    start_ms, end_ms, kbps = data[0::2, 0], data[1::2, 0], data[0::2, 1]
    if np.any(end_ms < start_ms) or np.any(start_ms[1:] < end_ms[:-1]):
        raise TraceFormatError(f"{name}: intervals must not go back in time or overlap")
    gap_ms = start_ms[1:] - end_ms[:-1]
    gap_kbps = (kbps[1:] + kbps[:-1]) / 2.0
    durations = np.empty(2 * len(kbps) - 1)
    rates = np.empty_like(durations)
    durations[0::2], rates[0::2] = end_ms - start_ms, kbps
    durations[1::2], rates[1::2] = gap_ms, gap_kbps
    keep = durations > 0
    durations, rates = durations[keep] / 1e3, rates[keep] * 1e3
    if len(durations) == 0:
        raise TraceFormatError(f"{name}: every interval is empty")
    return NetworkTrace(name, durations, rates, np.zeros_like(durations))


def _parse_mahimahi(text: str, name: str) -> NetworkTrace:
    try:
        stamps = np.array([int(t) for t in text.split()], dtype=np.int64)
    except ValueError as exc:
        raise TraceFormatError(f"{name}: Mahimahi lines are whole milliseconds ({exc})") from exc
    if len(stamps) == 0 or np.any(stamps < 0) or np.any(np.diff(stamps) < 0):
        raise TraceFormatError(f"{name}: need non-decreasing, non-negative millisecond stamps")
    period_ms = int(stamps[-1])
    if period_ms == 0:
        raise TraceFormatError(f"{name}: the last timestamp (the loop length) must be > 0 ms")
    counts = np.bincount(np.maximum(stamps, 1), minlength=period_ms + 1)[1:]
    # one period per run of equal per-millisecond counts: exact, and short for steady links
    change = np.flatnonzero(np.diff(counts)) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [period_ms]]))
    rate = counts[starts] * (MAHIMAHI_PACKET_BYTES * 8.0 / _MAHIMAHI_TICK_S)
    durations = lengths * _MAHIMAHI_TICK_S
    return NetworkTrace(name, durations, rate.astype(np.float64), np.zeros(len(durations)))


def _format_mahimahi(trace: NetworkTrace, name: str) -> bytes:
    period_ms = max(1, round(float(np.sum(trace.durations_s)) / _MAHIMAHI_TICK_S))
    # cumulative bytes at every millisecond, summed in extended precision: a long trace adds
    # up hundreds of thousands of periods, and a packet must not slip by a rounding error
    wide = np.longdouble
    bounds = np.concatenate([[0.0], np.cumsum(trace.durations_s, dtype=wide)])
    rate = np.asarray(trace.bandwidth_bps, dtype=wide) / 8
    cum = np.concatenate([[0.0], np.cumsum(trace.durations_s * rate, dtype=wide)])
    ticks = np.arange(period_ms + 1, dtype=wide) * wide(_MAHIMAHI_TICK_S)
    i = np.clip(np.searchsorted(bounds, ticks, side="right") - 1, 0, len(rate) - 1)
    carried = np.minimum(cum[i] + rate[i] * (ticks - bounds[i]), cum[-1])
    sent = np.floor(carried / MAHIMAHI_PACKET_BYTES + wide(1e-6))
    per_ms = np.diff(sent).astype(np.int64)
    if per_ms.sum() == 0:
        raise TraceFormatError(
            f"{name}: less than one {MAHIMAHI_PACKET_BYTES}-byte packet per loop"
        )
    # Mahimahi's loop ends at the last packet: trailing milliseconds without one are dropped
    stamps = np.repeat(np.arange(1, period_ms + 1), per_ms)
    return ("\n".join(map(str, stamps.tolist())) + "\n").encode()


def _parse_npz(data: bytes, name: str) -> NetworkTrace:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = [
                np.asarray(archive[k], dtype=np.float64)
                for k in ("durations_s", "bandwidth_bps", "latency_s")
            ]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise TraceFormatError(f"{name}: not a trace archive ({exc})") from exc
    if any(a.ndim != 1 for a in arrays) or not all(np.all(np.isfinite(a)) for a in arrays):
        raise TraceFormatError(f"{name}: arrays must be one-dimensional and finite")
    return NetworkTrace(name, *arrays)
