"""The ISO BMFF ``sidx`` box (segment index) and the segments it gives a ``SegmentBase``.

A DASH ``SegmentBase`` representation names only the byte range of its index
(``Representation.index``). The session fetches those bytes and calls
``apply_segment_index`` to obtain the same representation with its segments.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, replace

from player.config import ManifestConfig
from player.errors import ManifestParseError, UnsupportedManifest
from player.manifest._model import ByteRange, Representation, Segment

__all__ = ["SegmentIndex", "SidxReference", "apply_segment_index", "parse_sidx"]

_HEADER = struct.Struct(">I4s")
_LARGE_SIZE = struct.Struct(">Q")
_FIXED_V0 = struct.Struct(">B3xIIIIHH")
_FIXED_V1 = struct.Struct(">B3xIIQQHH")
_REFERENCE = struct.Struct(">III")
_DEFAULT_CONFIG = ManifestConfig()


@dataclass(frozen=True, slots=True)
class SidxReference:
    """One reference of a ``sidx`` box: a subsegment (or, hierarchically, another ``sidx``).

    Attributes:
        byte_range: Where the subsegment is in the file.
        start_s: Presentation time of its first sample, seconds of media time.
        duration_s: Its duration in seconds.
        is_index: It points at another ``sidx`` box (hierarchical index).
        starts_with_sap: It begins with a stream access point.
    """

    byte_range: ByteRange
    start_s: float
    duration_s: float
    is_index: bool = False
    starts_with_sap: bool = True


@dataclass(frozen=True, slots=True)
class SegmentIndex:
    """A parsed ``sidx`` box.

    Attributes:
        timescale: Ticks per second of the box's times.
        earliest_presentation_time: Of the first subsegment, in ticks.
        references: The subsegments, in order.
    """

    timescale: int
    earliest_presentation_time: int
    references: tuple[SidxReference, ...]


def parse_sidx(data: bytes, *, url: str, offset: int = 0) -> SegmentIndex:
    """Find and parse the first ``sidx`` box in ``data``.

    Args:
        data: Bytes fetched for the ``indexRange`` (boxes before the ``sidx`` are skipped).
        url: The manifest (or media) URL, named in errors.
        offset: Position of ``data[0]`` in the media file (``indexRange.first``); the
            references' byte ranges are absolute file offsets.

    Returns:
        The index.

    Raises:
        ManifestParseError: No ``sidx`` box, or a truncated or inconsistent one.
    """
    pos = 0
    while pos + _HEADER.size <= len(data):
        size, kind = _HEADER.unpack_from(data, pos)
        header = _HEADER.size
        if size == 1:
            if pos + 16 > len(data):
                break
            (size,) = _LARGE_SIZE.unpack_from(data, pos + 8)
            header = 16
        elif size == 0:
            size = len(data) - pos
        if size < header:
            raise _bad(url, offset + pos, f"box size {size} is smaller than its header")
        if kind == b"sidx":
            if pos + size > len(data):
                raise _bad(url, offset + pos, "sidx box is truncated")
            return _parse_box(data[pos + header : pos + size], url=url, end=offset + pos + size)
        pos += size
    raise _bad(url, offset, "no sidx box in the index range")


def _parse_box(body: bytes, *, url: str, end: int) -> SegmentIndex:
    """Parse a ``sidx`` payload; ``end`` is the file offset just after the box."""
    fixed = _FIXED_V0 if body[:1] == b"\x00" else _FIXED_V1
    if len(body) < fixed.size:
        raise _bad(url, end, "sidx box is truncated")
    _version, _ref_id, timescale, ept, first_offset, _reserved, count = fixed.unpack_from(body)
    if timescale == 0:
        raise _bad(url, end, "sidx timescale is 0")
    if len(body) < fixed.size + count * _REFERENCE.size:
        raise _bad(url, end, f"sidx lists {count} references but is too short")
    refs: list[SidxReference] = []
    byte = end + first_offset
    ticks = ept
    for i in range(count):
        word, duration, sap = _REFERENCE.unpack_from(body, fixed.size + i * _REFERENCE.size)
        size = word & 0x7FFFFFFF
        if size == 0:
            raise _bad(url, end, f"sidx reference {i} has size 0")
        refs.append(
            SidxReference(
                ByteRange(byte, byte + size - 1),
                ticks / timescale,
                duration / timescale,
                is_index=bool(word >> 31),
                starts_with_sap=bool(sap >> 31),
            )
        )
        byte += size
        ticks += duration
    return SegmentIndex(timescale, ept, tuple(refs))


def _bad(url: str, offset: int, why: str) -> ManifestParseError:
    return ManifestParseError(
        f"{url}: segment index at byte {offset}: {why}", url=url, detail=f"bad sidx: {why}"
    )


def apply_segment_index(
    rep: Representation, data: bytes, *, url: str, config: ManifestConfig = _DEFAULT_CONFIG
) -> Representation:
    """Give a ``SegmentBase`` representation its segments from the fetched ``sidx`` bytes.

    The caller fetched ``rep.index.byte_range`` of ``rep.index.urls[0]`` (or a fallback
    location) and passes the bytes here; the result replaces ``rep`` in the session.

    Args:
        rep: A representation whose ``index`` is set.
        data: The bytes of the index range.
        url: The manifest URL, named in errors.
        config: ``max_segments`` bounds the result.

    Returns:
        A copy of ``rep`` with ``segments`` set: one per subsegment overlapping the period,
        with byte ranges, numbered from 1 in index order.

    Raises:
        ManifestParseError: ``rep`` has no index, or the bytes are not a usable ``sidx``.
        UnsupportedManifest: The index is hierarchical (references other ``sidx`` boxes).
    """
    ref = rep.index
    if ref is None:
        raise ManifestParseError(
            f"{url}: representation {rep.id!r} has no segment index to apply",
            url=url,
            detail="no segment index",
        )
    index = parse_sidx(data, url=url, offset=ref.byte_range.first)
    if any(r.is_index for r in index.references):
        raise UnsupportedManifest(
            f"{url}: representation {rep.id!r} uses a hierarchical sidx",
            url=url,
            detail="hierarchical sidx",
        )
    if len(index.references) > config.max_segments:
        raise _bad(url, ref.byte_range.first, f"more than {config.max_segments} subsegments")
    end = math.inf if ref.period_end_s is None else ref.period_end_s
    segments: list[Segment] = []
    for i, r in enumerate(index.references):
        start = ref.time_offset_s + r.start_s
        if start >= end or start + r.duration_s <= ref.period_start_s:
            continue  # a subsegment of the file outside this period
        segments.append(
            Segment(
                urls=ref.urls,
                number=i + 1,
                start_s=start,
                duration_s=r.duration_s,
                byte_range=r.byte_range,
                init=ref.init,
                discontinuity_seq=ref.discontinuity_seq,
            )
        )
    return replace(rep, segments=tuple(segments))
