"""Just enough ISO-BMFF reading to split a fragmented MP4 into segments and time them.

Used by the lab's content generator on media it made itself; media from the network is
read by drm's bounded box reader instead.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from player.errors import PlayerError

__all__: list[str] = []

_CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf", b"mvex"})


@dataclass(frozen=True, slots=True)
class Fragment:
    """One ``moof`` + ``mdat`` pair.

    Attributes:
        data: The fragment's bytes.
        decode_time: ``tfdt`` base media decode time, in the track's timescale.
        duration: Sum of sample durations, in the track's timescale.
    """

    data: bytes
    decode_time: int
    duration: int


def iter_boxes(
    data: bytes, start: int = 0, end: int | None = None
) -> Iterator[tuple[bytes, int, int]]:
    """Yield ``(type, payload_start, box_end)`` for the boxes in ``data[start:end]``."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise PlayerError(f"malformed MP4 box {kind!r} at offset {pos}")
        yield kind, pos + header, pos + size
        pos += size


def find_box(
    data: bytes, path: list[bytes], start: int = 0, end: int | None = None
) -> bytes | None:
    """Return the payload of the first box along ``path`` (e.g. ``[b"moov", b"mvhd"]``)."""
    for kind, body, box_end in iter_boxes(data, start, end):
        if kind == path[0]:
            if len(path) == 1:
                return data[body:box_end]
            if kind in _CONTAINERS:
                return find_box(data, path[1:], body, box_end)
    return None


def track_timescale(init: bytes) -> int:
    """Return the first track's ``mdhd`` timescale."""
    mdhd = find_box(init, [b"moov", b"trak", b"mdia", b"mdhd"])
    if mdhd is None:
        raise PlayerError("init segment has no mdhd")
    offset = 20 if mdhd[0] == 1 else 12
    (timescale,) = struct.unpack_from(">I", mdhd, offset)
    return int(timescale)


def split_fragments(data: bytes) -> tuple[bytes, list[Fragment]]:
    """Split a fragmented MP4 into its init segment and its fragments.

    Returns:
        ``(init, fragments)``: ``ftyp``+``moov`` (and anything before the first ``moof``),
        then one ``Fragment`` per ``moof``+``mdat`` pair. ``mfra`` is dropped.
    """
    boxes = list(iter_boxes(data))
    first_moof = next(i for i, b in enumerate(boxes) if b[0] == b"moof")
    init_end = boxes[first_moof][1] - 8
    init = data[:init_end]
    default_duration = _trex_default_duration(init)
    fragments: list[Fragment] = []
    i = first_moof
    while i < len(boxes):
        kind, body, end = boxes[i]
        if kind != b"moof":
            i += 1
            continue
        start = body - 8
        stop = end
        if i + 1 < len(boxes) and boxes[i + 1][0] == b"mdat":
            stop = boxes[i + 1][2]
            i += 1
        decode_time, duration = _moof_timing(data, body, end, default_duration)
        fragments.append(Fragment(data[start:stop], decode_time, duration))
        i += 1
    return init, fragments


def _trex_default_duration(init: bytes) -> int:
    trex = find_box(init, [b"moov", b"mvex", b"trex"])
    if trex is None:
        return 0
    (duration,) = struct.unpack_from(">I", trex, 12)
    return int(duration)


def _moof_timing(data: bytes, start: int, end: int, default_duration: int) -> tuple[int, int]:
    traf = None
    for kind, body, box_end in iter_boxes(data, start, end):
        if kind == b"traf":
            traf = (body, box_end)
            break
    if traf is None:
        raise PlayerError("moof without traf")
    decode_time = 0
    duration = 0
    for kind, body, _box_end in iter_boxes(data, *traf):
        if kind == b"tfhd":
            flags = int.from_bytes(data[body + 1 : body + 4], "big")
            offset = body + 8 + (8 if flags & 0x01 else 0) + (4 if flags & 0x02 else 0)
            if flags & 0x08:
                (default_duration,) = struct.unpack_from(">I", data, offset)
        elif kind == b"tfdt":
            fmt = ">Q" if data[body] == 1 else ">I"
            (decode_time,) = struct.unpack_from(fmt, data, body + 4)
        elif kind == b"trun":
            duration += _trun_duration(data, body, default_duration)
    return int(decode_time), duration


def _trun_duration(data: bytes, body: int, default_duration: int) -> int:
    flags = int.from_bytes(data[body + 1 : body + 4], "big")
    (count,) = struct.unpack_from(">I", data, body + 4)
    pos = body + 8 + (4 if flags & 0x001 else 0) + (4 if flags & 0x004 else 0)
    if not flags & 0x100:
        return int(count) * default_duration
    fields = sum(4 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
    total = 0
    for _ in range(count):
        (sample_duration,) = struct.unpack_from(">I", data, pos)
        total += sample_duration
        pos += fields
    return total
