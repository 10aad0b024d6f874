"""The ISO BMFF ``sidx`` box (segment index) and the segments it gives a ``SegmentBase``.

A DASH ``SegmentBase`` representation names only the byte range of its index
(``Representation.index``). The session drives a ``SegmentIndexBuilder``: it fetches the
index range, hands the bytes over, fetches whatever further ``sidx`` boxes a hierarchical
index references (``next_fetch``), and finally takes the representation with its segments
(``build``). ``apply_segment_index`` is the one-step form for a flat index.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, replace

from player.config import ManifestConfig
from player.errors import ManifestParseError, UnsupportedManifest
from player.manifest._model import ByteRange, Representation, Segment, SegmentIndexRef

__all__ = [
    "SegmentIndex",
    "SegmentIndexBuilder",
    "SidxReference",
    "apply_segment_index",
    "parse_sidx",
]

_HEADER = struct.Struct(">I4s")
_LARGE_SIZE = struct.Struct(">Q")
_FIXED_V0 = struct.Struct(">B3xIIIIHH")
_FIXED_V1 = struct.Struct(">B3xIIQQHH")
_REFERENCE = struct.Struct(">III")
_DEFAULT_CONFIG = ManifestConfig()
_PROBE_BYTES = 4096
"""First read of a referenced ``sidx`` box whose size is not known yet: a box of up to 338
references arrives in one request, a larger one costs a second request for the rest (its
header gives its size). Never affects results, only the request count: not a tunable."""


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


class SegmentIndexBuilder:
    """Resolves a ``SegmentBase`` representation's index, flat or hierarchical (sans-I/O).

    A hierarchical index is a ``sidx`` whose references point at further ``sidx`` boxes
    (``reference_type`` 1), to any depth; its subsegments are the leaves, in order. The
    caller fetches what ``next_fetch`` names and hands each answer to ``on_data``. Size,
    box count, depth and subsegment count are bounded by ``ManifestConfig``.

    >>> from player.manifest import ByteRange, Representation, SegmentIndexRef
    >>> import struct
    >>> box = struct.pack(">I4sB3xIIIIHHIII", 44, b"sidx", 0, 1, 10, 0, 0, 0, 1, 500, 20, 0)
    >>> rep = Representation(id="v", bandwidth_bps=1, index=SegmentIndexRef(
    ...     urls=("https://a/v.mp4",), byte_range=ByteRange(100, 143)))
    >>> builder = SegmentIndexBuilder(rep, url="https://a/m.mpd")
    >>> builder.on_data(100, box)
    >>> builder.next_fetch() is None
    True
    >>> [(s.byte_range, s.duration_s) for s in builder.build().segments]
    [(ByteRange(first=144, last=643), 2.0)]

    Args:
        rep: A representation whose ``index`` is set.
        url: The manifest URL, named in errors.
        config: Bounds (``max_index_bytes``, ``max_index_boxes``, ``max_index_depth``,
            ``max_segments``).

    Raises:
        ManifestParseError: ``rep`` has no index.
    """

    def __init__(
        self, rep: Representation, *, url: str, config: ManifestConfig = _DEFAULT_CONFIG
    ) -> None:
        if rep.index is None:
            raise ManifestParseError(
                f"{url}: representation {rep.id!r} has no segment index to apply",
                url=url,
                detail="no segment index",
            )
        self._rep = rep
        self._ref = rep.index
        self._url = url
        self._config = config
        self._children: dict[int, list[SidxReference | int]] = {}
        self._pending: dict[int, tuple[ByteRange, int]] = {0: (rep.index.byte_range, 0)}
        self._asked: dict[int, ByteRange] = {0: rep.index.byte_range}
        self._next_key = 1
        self._bytes = 0
        self._boxes = 0
        self._leaves = 0

    def next_fetch(self) -> ByteRange | None:
        """The byte range of the media resource to fetch next, or ``None`` when complete.

        The caller fetches it from ``rep.index.urls`` and passes the bytes to ``on_data``.
        """
        for key in self._pending:
            return self._asked[key]
        return None

    def on_data(self, first: int, data: bytes) -> None:
        """Take the bytes fetched for the range that starts at ``first``.

        Args:
            first: File offset of ``data[0]`` (the ``first`` of the range that was asked).
            data: The bytes.

        Raises:
            ManifestParseError: The bytes are not a usable ``sidx``, or a bound is exceeded.
        """
        key = next((k for k, r in self._asked.items() if r.first == first), None)
        if key is None or key not in self._pending:
            raise _bad(self._url, first, "bytes arrived for a range that was not asked for")
        self._bytes += len(data)
        if self._bytes > self._config.max_index_bytes:
            raise _bad(self._url, first, f"index over {self._config.max_index_bytes} bytes")
        referenced, depth = self._pending[key]
        if key == 0:
            index = parse_sidx(data, url=self._url, offset=first)
        else:
            size = _leading_sidx_size(data, url=self._url, offset=first)
            if size > len(data):
                if size > referenced.length:
                    raise _bad(self._url, first, "sidx box larger than its reference")
                self._asked[key] = ByteRange(first, first + size - 1)
                return
            index = _parse_box(data[_box_header(data) : size], url=self._url, end=first + size)
        del self._pending[key]
        self._add(key, index, depth, first)

    def _add(self, key: int, index: SegmentIndex, depth: int, first: int) -> None:
        self._boxes += 1
        if self._boxes > self._config.max_index_boxes:
            raise _bad(self._url, first, f"more than {self._config.max_index_boxes} sidx boxes")
        children: list[SidxReference | int] = []
        for ref in index.references:
            if not ref.is_index:
                self._leaves += 1
                if self._leaves > self._config.max_segments:
                    raise _bad(
                        self._url, first, f"more than {self._config.max_segments} subsegments"
                    )
                children.append(ref)
                continue
            if depth + 1 >= self._config.max_index_depth:
                raise _bad(
                    self._url, first, f"sidx nested deeper than {self._config.max_index_depth}"
                )
            child = self._next_key
            self._next_key += 1
            self._pending[child] = (ref.byte_range, depth + 1)
            last = min(ref.byte_range.last, ref.byte_range.first + _PROBE_BYTES - 1)
            self._asked[child] = ByteRange(ref.byte_range.first, last)
            children.append(child)
        self._children[key] = children

    def build(self) -> Representation:
        """Return the representation with its segments (once ``next_fetch`` is ``None``).

        Returns:
            A copy of the representation with ``segments`` set: one per subsegment overlapping
            the period, with byte ranges, numbered from 1 in index order.

        Raises:
            ManifestParseError: Index bytes are still missing.
        """
        if self._pending:
            raise _bad(self._url, self._ref.byte_range.first, "index incomplete")
        return _with_segments(self._rep, self._ref, self._leaves_in_order())

    def _leaves_in_order(self) -> list[SidxReference]:
        out: list[SidxReference] = []
        stack: list[SidxReference | int] = [0]
        while stack:
            item = stack.pop()
            if isinstance(item, SidxReference):
                out.append(item)
            else:
                stack.extend(reversed(self._children[item]))
        return out


def _box_header(data: bytes) -> int:
    """Header length of the box at ``data[0]`` (8, or 16 with a 64-bit size)."""
    return 16 if _HEADER.unpack_from(data)[0] == 1 else _HEADER.size


def _leading_sidx_size(data: bytes, *, url: str, offset: int) -> int:
    """Size of the ``sidx`` box that must start at ``data[0]`` (a referenced index)."""
    if len(data) < _HEADER.size:
        raise _bad(url, offset, "referenced sidx is truncated")
    size, kind = _HEADER.unpack_from(data)
    if kind != b"sidx":
        raise _bad(url, offset, f"reference of type 1 points at a {kind!r} box, not a sidx")
    if size == 1:
        if len(data) < 16:
            raise _bad(url, offset, "referenced sidx is truncated")
        (size,) = _LARGE_SIZE.unpack_from(data, 8)
    if size < _box_header(data):
        raise _bad(url, offset, f"box size {size} is smaller than its header")
    return int(size)


def apply_segment_index(
    rep: Representation, data: bytes, *, url: str, config: ManifestConfig = _DEFAULT_CONFIG
) -> Representation:
    """Give a ``SegmentBase`` representation its segments from the fetched ``sidx`` bytes.

    The caller fetched ``rep.index.byte_range`` of ``rep.index.urls[0]`` (or a fallback
    location) and passes the bytes here; the result replaces ``rep`` in the session. A
    hierarchical index needs further fetches: use ``SegmentIndexBuilder``.

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
    builder = SegmentIndexBuilder(rep, url=url, config=config)
    assert rep.index is not None  # the builder refuses a representation without one
    builder.on_data(rep.index.byte_range.first, data)
    if builder.next_fetch() is not None:
        raise UnsupportedManifest(
            f"{url}: representation {rep.id!r} uses a hierarchical sidx "
            "(resolve it with SegmentIndexBuilder)",
            url=url,
            detail="hierarchical sidx",
        )
    return builder.build()


def _with_segments(
    rep: Representation, ref: SegmentIndexRef, refs: list[SidxReference]
) -> Representation:
    end = math.inf if ref.period_end_s is None else ref.period_end_s
    segments: list[Segment] = []
    for i, r in enumerate(refs):
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
