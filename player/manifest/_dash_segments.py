"""DASH segment descriptions into segment indexes: templates, timelines, lists, live windows.

Everything is computed in the representation's timescale with integers, run by run: a
``SegmentTimeline`` ``<S>`` element (with its repeats) or a ``@duration``-based template is
one *run* of equally long segments. For a live presentation the segments of a run that are
inside the time-shift window at ``now`` are found arithmetically, so a window far from the
first segment (or ``r="-1"``) never loops over segments that are not returned. The kept runs
become a ``RunTable`` and each representation a ``SegmentRuns`` over it (``_segment_runs.py``),
which builds a ``Segment`` only when it is read.

Timing (DASH-IF timing model): a segment whose presentation end time is ``end_s`` becomes
available at ``availabilityStartTime + end_s - availabilityTimeOffset`` and stays available
until ``availabilityStartTime + end_s + timeShiftBufferDepth``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from player.config import ManifestConfig
from player.errors import ManifestParseError
from player.manifest._model import ByteRange, InitSegment
from player.manifest._segment_runs import (
    ListedUrls,
    RunClock,
    RunTable,
    SegmentRuns,
    availability,
)

__all__: list[str] = []

_IDENTIFIER = re.compile(
    r"\$(RepresentationID|Number|Time|Bandwidth|SubNumber)?(%0?(\d*)([dxXo]))?\$"
)
_MAX_WIDTH = 20
"""Widest ``%0Nd`` accepted: the digits of the largest ``xs:unsignedLong``."""
_EDGE_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One ``<S>`` element: start ``t`` (``None``: follows the previous), duration, repeat."""

    t: int | None
    d: int
    r: int


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """A representation's ``SegmentTemplate``/``SegmentList``/``SegmentBase``, inheritance applied.

    Times are in ``timescale`` units per second.
    """

    kind: str
    """``template``, ``list``, ``base`` or ``none`` (a single resource: the BaseURL)."""
    timescale: int = 1
    pto: int = 0
    duration: int | None = None
    start_number: int = 1
    end_number: int | None = None
    media: str | None = None
    initialization: str | None = None
    timeline: tuple[TimelineEntry, ...] | None = None
    init_source: str | None = None
    init_range: ByteRange | None = None
    has_init: bool = False
    segment_urls: tuple[tuple[str | None, ByteRange | None], ...] = ()
    index_range: ByteRange | None = None
    availability_time_offset_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Timing:
    """Where a period sits and, for live presentations, the clock the window is taken at.

    Attributes:
        period_index: Index of the period (the segments' ``discontinuity_seq``).
        period_start_s: Period start on the presentation timeline.
        period_end_s: Period end, if known.
        availability_start: ``availabilityStartTime`` (UTC epoch s); ``None`` for static.
        now: The time the live window is taken at (UTC epoch s); ``None`` for static.
        time_shift_buffer_s: ``timeShiftBufferDepth``; ``None`` means unbounded.
    """

    period_index: int
    period_start_s: float
    period_end_s: float | None
    availability_start: float | None = None
    now: float | None = None
    time_shift_buffer_s: float | None = None

    @property
    def is_live(self) -> bool:
        """Whether a live window applies."""
        return self.availability_start is not None and self.now is not None


@dataclass(frozen=True, slots=True)
class Scope:
    """What expanding a period's segments needs besides their description.

    Attributes:
        timing: Where the period is and the live clock.
        url: Manifest URL, named in errors.
        config: Bounds.
    """

    timing: Timing
    url: str
    config: ManifestConfig


_Run = tuple[int, int, int, int | None]
"""``(number, t0, d, count)``: ``count`` segments of ``d`` ticks from media time ``t0``,
numbered from ``number``; ``count`` is ``None`` for an open-ended run (``r="-1"``)."""
_Window = tuple[int, int, int, int]
"""``(number, t0, d, count)`` of the segments of a run that are kept (``count`` > 0)."""


def template_pattern(template: str, *, rep_id: str, bandwidth: int, url: str) -> str:
    """Turn a ``SegmentTemplate`` string into a ``str.format`` pattern with fields ``n`` and ``t``.

    ``$RepresentationID$`` and ``$Bandwidth$`` are substituted now; ``$Number$`` and ``$Time$``
    become the fields ``n`` and ``t`` (with their ``%0Nd`` width); ``$$`` is a dollar sign.
    The pattern can be resolved against a base URL before it is formatted, since the
    numbers substituted later never change a URL's structure.

    >>> p = template_pattern("v_$RepresentationID$_$Number%05d$_$Time$.m4s",
    ...                      rep_id="hd", bandwidth=1, url="https://a/")
    >>> p.format(n=7, t=1800)
    'v_hd_00007_1800.m4s'

    Args:
        template: The ``media`` or ``initialization`` attribute.
        rep_id: The representation id.
        bandwidth: The representation bandwidth in bits per second.
        url: Manifest URL, for errors.

    Returns:
        The pattern.

    Raises:
        ManifestParseError: A width is too large.
    """
    pieces = compile_template(template, url=url)
    return fill_template(pieces, rep_id=rep_id, bandwidth=bandwidth)


TemplatePieces = tuple[tuple[str, str], ...]
"""A compiled template: ``("text", pattern text)``, ``("id", "")`` or ``("bandwidth", spec)``."""


def compile_template(template: str, *, url: str) -> TemplatePieces:
    """Split a template into pattern text and the places of ``$RepresentationID$``/``$Bandwidth$``.

    Raises:
        ManifestParseError: A width is too large.
    """
    pieces: list[tuple[str, str]] = []
    pos = 0
    for match in _IDENTIFIER.finditer(template):
        pieces.append(("text", _escape(template[pos : match.start()])))
        pos = match.end()
        name, fmt, width, conv = match.groups()
        if name is None:
            pieces.append(("text", "$" if fmt is None else _escape(match.group(0))))
            continue
        spec = ""
        if fmt is not None:
            if width and int(width) > _MAX_WIDTH:
                raise ManifestParseError(
                    f"{url}: template {template[:80]!r}: width {width} is too large",
                    url=url,
                    detail="bad template width",
                )
            spec = f":0{int(width or 0)}{conv}"
        if name == "RepresentationID":
            pieces.append(("id", ""))
        elif name == "Bandwidth":
            pieces.append(("bandwidth", spec[1:]))
        else:
            pieces.append(("text", "{%s%s}" % ("t" if name == "Time" else "n", spec)))
    pieces.append(("text", _escape(template[pos:])))
    return tuple(pieces)


def fill_template(pieces: TemplatePieces, *, rep_id: str, bandwidth: int) -> str:
    """The ``str.format`` pattern of a compiled template for one representation."""
    out = []
    for kind, text in pieces:
        if kind == "text":
            out.append(text)
        elif kind == "id":
            out.append(_escape(rep_id))
        else:
            out.append(_escape(format(bandwidth, text)))
    return "".join(out)


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def timeline_runs(info: SegmentInfo, *, timing: Timing, url: str) -> list[_Run]:
    """Turn a ``SegmentTimeline`` (or a ``@duration``) into runs of equal segments.

    Raises:
        ManifestParseError: Bad ``d``/``r`` values, or an open-ended run in a static MPD.
    """
    period_end = _media_time(timing.period_end_s, info, timing)
    if info.timeline is None:
        if info.duration is None or info.duration <= 0:
            raise _error(url, "segment template has neither SegmentTimeline nor @duration")
        total = None if period_end is None else math.ceil((period_end - info.pto) / info.duration)
        if info.kind == "list":
            total = len(info.segment_urls) if total is None else min(total, len(info.segment_urls))
        return [(info.start_number, info.pto, info.duration, _nonneg(total))]
    runs: list[_Run] = []
    append = runs.append
    number, t = info.start_number, 0
    entries = info.timeline
    for i, entry in enumerate(entries):
        if entry.t is not None:
            t = entry.t
        d = entry.d
        if d <= 0:
            raise _error(url, f"SegmentTimeline S@d={d} must be positive")
        if entry.r >= 0:
            count = entry.r + 1
        else:
            nxt = entries[i + 1].t if i + 1 < len(entries) else None
            limit = nxt if nxt is not None else period_end
            if limit is None:
                append((number, t, d, None))
                break
            count = max(0, math.ceil((limit - t) / d))
        append((number, t, d, count))
        number += count
        t += count * d
    return runs


def _nonneg(count: int | None) -> int | None:
    return None if count is None else max(0, count)


def _media_time(seconds: float | None, info: SegmentInfo, timing: Timing) -> float | None:
    """Presentation time ``seconds`` in the representation's media time, or ``None``."""
    if seconds is None:
        return None
    return (seconds - timing.period_start_s) * info.timescale + info.pto


def _error(url: str, why: str) -> ManifestParseError:
    return ManifestParseError(f"{url}: {why}", url=url, detail=why)


def select_windows(
    runs: list[_Run], info: SegmentInfo, *, timing: Timing, url: str, config: ManifestConfig
) -> list[_Window]:
    """Choose, for each run, the range ``[lo, hi)`` of its segments to return.

    Static: every segment that starts before the period end. Live: those inside the
    time-shift window at ``timing.now``. At most ``config.max_segments`` are kept: the most
    recent ones for a live presentation; a static one with more is an error.

    Returns:
        ``(number, t0, d, count)`` of the kept segments of each run that keeps any.

    Raises:
        ManifestParseError: A static representation has too many segments, or a run is
            open-ended with nothing to bound it.
    """
    period_end = _media_time(timing.period_end_s, info, timing)
    lo_media, hi_media = _live_bounds(info, timing)
    clock = _clock(info, timing)
    end_number = info.end_number
    chosen: list[_Window] = []
    total = 0
    for number, t0, d, count in runs:
        hi: float = math.inf if count is None else count
        if period_end is not None:
            hi = min(hi, math.ceil((period_end - t0) / d - _EDGE_EPSILON))
        if end_number is not None:
            hi = min(hi, end_number - number + 1)
        lo = 0
        if hi_media is not None:  # live: segment end must lie in (lo_media, hi_media]
            live_hi = math.floor((hi_media - t0) / d + _EDGE_EPSILON)
            if lo_media is not None:
                lo = max(0, math.floor((lo_media - t0) / d - 1) + 1)
            if _near(lo_media, t0, d, hi) or _near(hi_media, t0, d, hi):
                lo, live_hi = _exact_edges(clock, t0, d, lo, live_hi, now=timing.now)
            hi = min(hi, live_hi)
        if hi == math.inf:
            raise _error(url, "open-ended segment run without a period end or live window")
        if hi > lo:
            kept = int(hi) - lo
            chosen.append((number + lo, t0 + lo * d, d, kept))
            total += kept
    return _cap(chosen, total, is_live=hi_media is not None, url=url, config=config)


def _exact_edges(
    clock: RunClock, t0: int, d: int, lo: int, hi: int, *, now: float | None
) -> tuple[int, int]:
    """Move a run's window edges to agree with the availability its segments report.

    Segment ``k`` is kept exactly when ``available_from <= now < available_until`` with the
    values its ``Segment`` carries; the arithmetic on media times can differ from those by a
    rounding at an edge.
    """
    if now is None:
        return lo, hi
    for _ in range(2):
        if lo > 0 and _until(clock, t0 + (lo - 1) * d, d) > now:
            lo -= 1
        elif _until(clock, t0 + lo * d, d) <= now:
            lo += 1
        if hi > lo and _from(clock, t0 + (hi - 1) * d, d) > now:
            hi -= 1
        elif _from(clock, t0 + hi * d, d) <= now:
            hi += 1
    return lo, hi


def _near(edge: float | None, t0: int, d: int, count: float) -> bool:
    """Whether a window edge (media time) falls within a segment or two of a run."""
    return edge is not None and t0 - 2 * d <= edge <= t0 + (count + 2) * d


def _from(clock: RunClock, t: int, d: int) -> float:
    available_from = availability(clock, t, d)[0]
    return -math.inf if available_from is None else available_from


def _until(clock: RunClock, t: int, d: int) -> float:
    available_until = availability(clock, t, d)[1]
    return math.inf if available_until is None else available_until


def _live_bounds(info: SegmentInfo, timing: Timing) -> tuple[float | None, float | None]:
    """The live window as media times ``(exclusive lower, inclusive upper)`` of segment ends."""
    if not timing.is_live:
        return None, None
    assert timing.availability_start is not None and timing.now is not None
    elapsed = timing.now - timing.availability_start
    ato = info.availability_time_offset_s if math.isfinite(info.availability_time_offset_s) else 0
    hi = _media_time(elapsed + ato, info, timing)
    tsbd = timing.time_shift_buffer_s
    lo = None if tsbd is None else _media_time(elapsed - tsbd, info, timing)
    return lo, hi


def _cap(
    chosen: list[_Window], total: int, *, is_live: bool, url: str, config: ManifestConfig
) -> list[_Window]:
    excess = total - config.max_segments
    if excess <= 0:
        return chosen
    if not is_live:
        raise ManifestParseError(
            f"{url}: a representation expands to {total} segments, more than the "
            f"{config.max_segments} allowed",
            url=url,
            detail="too many segments",
        )
    trimmed: list[_Window] = []
    for number, t0, d, count in chosen:
        drop = min(excess, count)
        excess -= drop
        if count > drop:
            trimmed.append((number + drop, t0 + drop * d, d, count - drop))
    return trimmed


def _clock(info: SegmentInfo, timing: Timing) -> RunClock:
    return RunClock(
        timescale=info.timescale,
        pto=info.pto,
        period_start_s=timing.period_start_s,
        period_end=_media_time(timing.period_end_s, info, timing),
        availability_start=timing.availability_start if timing.is_live else None,
        availability_offset_s=info.availability_time_offset_s,
        time_shift_buffer_s=timing.time_shift_buffer_s,
        discontinuity_seq=timing.period_index,
    )


def run_table(
    info: SegmentInfo, *, scope: Scope, cache: dict[object, RunTable] | None = None
) -> RunTable:
    """The runs of segments a description gives inside the window, as a shared ``RunTable``.

    Args:
        info: The merged segment information.
        scope: Period placement, live clock, bounds.
        cache: Tables by description, shared by the representations of one parse (those of
            an AdaptationSet usually share one timeline).

    Raises:
        ManifestParseError: The description is inconsistent or too large.
    """
    timing, url = scope.timing, scope.url
    key = (
        id(info.timeline),
        info.timescale,
        info.pto,
        info.duration,
        info.start_number,
        info.end_number,
        info.availability_time_offset_s,
        timing,
    )
    table = None if cache is None else cache.get(key)
    if table is None:
        runs = timeline_runs(info, timing=timing, url=url)
        chosen = select_windows(runs, info, timing=timing, url=url, config=scope.config)
        table = RunTable(chosen, _clock(info, timing))
        if cache is not None:
            cache[key] = table
    return table


def template_segments(
    info: SegmentInfo,
    *,
    media: tuple[str, ...],
    init: InitSegment | None,
    scope: Scope,
    cache: dict[object, RunTable] | None = None,
) -> SegmentRuns:
    """Describe a ``SegmentTemplate``'s segments as a computed index, one URL per location.

    Args:
        info: The merged segment information.
        media: One resolved ``template_pattern`` per location.
        init: The init segment, if any.
        scope: Period placement, live clock, bounds.
        cache: Run tables by description, shared by the representations of one parse.

    Returns:
        The segments, built when they are read.

    Raises:
        ManifestParseError: The description is inconsistent or too large.
    """
    return SegmentRuns(run_table(info, scope=scope, cache=cache), media, init)


def list_segments(
    info: SegmentInfo,
    *,
    resolve: Callable[[int], tuple[str, ...]],
    init: InitSegment | None,
    scope: Scope,
) -> SegmentRuns:
    """Describe a ``SegmentList``'s segments: ``info.segment_urls[i]`` is the i-th ``SegmentURL``.

    Args:
        info: The merged segment information.
        resolve: The URLs (one per location) of the i-th ``SegmentURL``.
        init: The init segment, if any.
        scope: Period placement, live clock, bounds.

    Returns:
        The segments, built when they are read (their URLs resolved then).

    Raises:
        ManifestParseError: The description is inconsistent or too large.
    """
    timing, url = scope.timing, scope.url
    media = info.segment_urls
    if info.timeline is None and info.duration is None:
        if len(media) != 1:
            raise _error(url, "SegmentList of several segments has no @duration or timeline")
        info = _whole_period(info, timing)
    table = run_table(info, scope=scope)
    count = min(len(table), table.count_below(info.start_number + len(media)))
    return SegmentRuns(table, ListedUrls(media, info.start_number, resolve), init, hi=count)


def _whole_period(info: SegmentInfo, timing: Timing) -> SegmentInfo:
    """A one-segment list without duration: the segment spans the whole period."""
    span = 0.0 if timing.period_end_s is None else timing.period_end_s - timing.period_start_s
    return replace(info, duration=max(1, round(span * info.timescale)))
