"""Expanding DASH segment descriptions into ``Segment``s: templates, timelines, lists, live windows.

Everything is computed in the representation's timescale with integers, run by run: a
``SegmentTimeline`` ``<S>`` element (with its repeats) or a ``@duration``-based template is
one *run* of equally long segments. For a live presentation the segments of a run that are
inside the time-shift window at ``now`` are found arithmetically, so a window far from the
first segment (or ``r="-1"``) never loops over segments that are not returned.

Timing (DASH-IF timing model): a segment whose presentation end time is ``end_s`` becomes
available at ``availabilityStartTime + end_s - availabilityTimeOffset`` and stays available
until ``availabilityStartTime + end_s + timeShiftBufferDepth``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from player.config import ManifestConfig
from player.errors import ManifestParseError
from player.manifest._model import ByteRange, InitSegment, Segment

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


@dataclass(frozen=True, slots=True)
class _Run:
    """``count`` segments of duration ``d`` from media time ``t0``, numbered from ``number``."""

    number: int
    t0: int
    d: int
    count: int | None


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
    pieces: list[str] = []
    pos = 0
    for match in _IDENTIFIER.finditer(template):
        pieces.append(_escape(template[pos : match.start()]))
        pos = match.end()
        name, fmt, width, conv = match.groups()
        if name is None:
            pieces.append("$" if fmt is None else _escape(match.group(0)))
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
            pieces.append(_escape(rep_id))
        elif name == "Bandwidth":
            pieces.append(_escape(format(bandwidth, spec[1:])))
        else:
            pieces.append("{%s%s}" % ("t" if name == "Time" else "n", spec))
    pieces.append(_escape(template[pos:]))
    return "".join(pieces)


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
        return [_Run(info.start_number, info.pto, info.duration, _nonneg(total))]
    runs: list[_Run] = []
    number, t = info.start_number, 0
    entries = info.timeline
    for i, entry in enumerate(entries):
        t = entry.t if entry.t is not None else t
        if entry.d <= 0:
            raise _error(url, f"SegmentTimeline S@d={entry.d} must be positive")
        count: int | None = entry.r + 1
        if entry.r < 0:
            nxt = entries[i + 1].t if i + 1 < len(entries) else None
            limit = nxt if nxt is not None else period_end
            count = None if limit is None else max(0, math.ceil((limit - t) / entry.d))
        runs.append(_Run(number, t, entry.d, count))
        if count is None:
            break
        number += count
        t += count * entry.d
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
) -> list[tuple[_Run, int, int]]:
    """Choose, for each run, the range ``[lo, hi)`` of its segments to return.

    Static: every segment that starts before the period end. Live: those inside the
    time-shift window at ``timing.now``. At most ``config.max_segments`` are kept: the most
    recent ones for a live presentation; a static one with more is an error.

    Raises:
        ManifestParseError: A static representation has too many segments, or a run is
            open-ended with nothing to bound it.
    """
    period_end = _media_time(timing.period_end_s, info, timing)
    lo_media, hi_media = _live_bounds(info, timing)
    chosen: list[tuple[_Run, int, int]] = []
    total = 0
    for run in runs:
        hi = math.inf if run.count is None else run.count
        if period_end is not None:
            hi = min(hi, math.ceil((period_end - run.t0) / run.d - _EDGE_EPSILON))
        if info.end_number is not None:
            hi = min(hi, info.end_number - run.number + 1)
        lo = 0
        if hi_media is not None:  # live: segment end must lie in (lo_media, hi_media]
            hi = min(hi, math.floor((hi_media - run.t0) / run.d + _EDGE_EPSILON))
            if lo_media is not None:
                lo = max(0, math.floor((lo_media - run.t0) / run.d - 1) + 1)
        if hi == math.inf:
            raise _error(url, "open-ended segment run without a period end or live window")
        lo, hi = int(lo), int(max(lo, hi))
        if hi > lo:
            chosen.append((run, lo, hi))
            total += hi - lo
    return _cap(chosen, total, is_live=hi_media is not None, url=url, config=config)


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
    chosen: list[tuple[_Run, int, int]],
    total: int,
    *,
    is_live: bool,
    url: str,
    config: ManifestConfig,
) -> list[tuple[_Run, int, int]]:
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
    trimmed: list[tuple[_Run, int, int]] = []
    for run, lo, hi in chosen:
        drop = min(excess, hi - lo)
        excess -= drop
        if hi > lo + drop:
            trimmed.append((run, lo + drop, hi))
    return trimmed


def iter_segment_times(
    chosen: list[tuple[_Run, int, int]], info: SegmentInfo, timing: Timing
) -> Iterator[tuple[int, int, float, float, float | None, float | None]]:
    """Yield ``(number, t, start_s, duration_s, available_from, available_until)``."""
    scale = info.timescale
    pto = info.pto
    period_start = timing.period_start_s
    period_end = _media_time(timing.period_end_s, info, timing)
    ast = timing.availability_start if timing.is_live else None
    ato = info.availability_time_offset_s
    tsbd = timing.time_shift_buffer_s
    for run, lo, hi in chosen:
        for k in range(lo, hi):
            t = run.t0 + k * run.d
            end = t + run.d if period_end is None or t + run.d <= period_end else period_end
            start_s = period_start + (t - pto) / scale
            duration_s = (end - t) / scale
            if ast is None:
                yield run.number + k, t, start_s, duration_s, None, None
                continue
            end_s = period_start + (end - pto) / scale
            frm = None if math.isinf(ato) else ast + end_s - ato
            until = None if tsbd is None else ast + end_s + tsbd
            yield run.number + k, t, start_s, duration_s, frm, until


SegmentTimes = list[tuple[int, int, float, float, float | None, float | None]]
"""``(number, t, start_s, duration_s, available_from, available_until)`` of each segment."""


def template_segments(
    info: SegmentInfo,
    *,
    media: tuple[str, ...],
    init: InitSegment | None,
    scope: Scope,
    cache: dict[object, SegmentTimes] | None = None,
) -> tuple[Segment, ...]:
    """Expand a ``SegmentTemplate`` into segments, one URL per location.

    Args:
        info: The merged segment information.
        media: One resolved ``template_pattern`` per location.
        init: The init segment, if any.
        scope: Period placement, live clock, bounds.
        cache: Segment times by description, shared by the representations of one parse
            (the representations of an AdaptationSet usually share one timeline).

    Returns:
        The segments, in order.

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
    times = None if cache is None else cache.get(key)
    if times is None:
        runs = timeline_runs(info, timing=timing, url=url)
        chosen = select_windows(runs, info, timing=timing, url=url, config=scope.config)
        times = list(iter_segment_times(chosen, info, timing))
        if cache is not None:
            cache[key] = times
    seq = timing.period_index
    out: list[Segment] = []
    append = out.append
    single = media[0] if len(media) == 1 else None
    for number, t, start_s, dur, frm, until in times:
        urls = (
            (single.format(n=number, t=t),)
            if single is not None
            else tuple([p.format(n=number, t=t) for p in media])
        )
        append(Segment(urls, number, start_s, dur, None, init, seq, None, frm, until))
    return tuple(out)


def list_segments(
    info: SegmentInfo,
    *,
    media: tuple[tuple[tuple[str, ...], ByteRange | None], ...],
    init: InitSegment | None,
    scope: Scope,
) -> tuple[Segment, ...]:
    """Expand a ``SegmentList``: ``media[i]`` is the i-th ``SegmentURL`` (URLs, range).

    Raises:
        ManifestParseError: The description is inconsistent or too large.
    """
    timing, url = scope.timing, scope.url
    if info.timeline is None and info.duration is None:
        if len(media) != 1:
            raise _error(url, "SegmentList of several segments has no @duration or timeline")
        info = _whole_period(info, timing)
    runs = timeline_runs(info, timing=timing, url=url)
    chosen = select_windows(runs, info, timing=timing, url=url, config=scope.config)
    out: list[Segment] = []
    for number, _t, start_s, dur, frm, until in iter_segment_times(chosen, info, timing):
        index = number - info.start_number
        if index >= len(media):
            break
        urls, byte_range = media[index]
        out.append(
            Segment(
                urls=urls,
                number=number,
                start_s=start_s,
                duration_s=dur,
                byte_range=byte_range,
                init=init,
                discontinuity_seq=timing.period_index,
                available_from=frm,
                available_until=until,
            )
        )
    return tuple(out)


def _whole_period(info: SegmentInfo, timing: Timing) -> SegmentInfo:
    """A one-segment list without duration: the segment spans the whole period."""
    span = 0.0 if timing.period_end_s is None else timing.period_end_s - timing.period_start_s
    return replace(info, duration=max(1, round(span * info.timescale)))
