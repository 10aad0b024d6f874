"""Edit lists of fragmented MP4 init segments, applied by the player itself (sans-I/O).

An init segment's ``elst`` says which composition time is presented first: the first
edit whose ``media_time`` is not -1. FFmpeg's muxers write one whenever the first picture's
composition time is not 0 (B-frame delay: ``media_time`` = 2 frames) or audio carries
encoder priming (``media_time`` = 1024 samples); FFmpeg's HLS muxer also puts an *empty*
edit of the same length in front.

Decoding each segment with its init through FFmpeg's demuxer applies the edit list to
every segment as if each were the start of the track: audio loses its first frame in
every segment (the priming skip repeats), and the empty edit delays every picture (two
frames late on FFmpeg's HLS fMP4). So the decoder sees the init with its ``edts`` boxes
turned into ``free`` boxes (same size, nothing else moves), and the player maps
composition time to presentation time once per track, as browsers' MP4 parsers do:

    presentation time = composition time - media_time of the first non-empty edit

Leading empty edits are not added as a delay: in adaptive streaming the manifest places
each segment on the timeline, and FFmpeg's HLS empty edit only restates its own timestamp
shift. Samples that end before presentation time 0 (audio priming) are not presented.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__: list[str] = []

_EMPTY_EDIT = -1


@dataclass(frozen=True, slots=True)
class TrackEdit:
    """What a track's edit list does to its timestamps.

    Attributes:
        handler: The track's ``hdlr`` type (``vide``, ``soun``...).
        media_time_s: Composition time presented first (first non-empty edit), seconds.
        empty_s: Leading empty edits, seconds (reported; not applied, see module doc).
    """

    handler: str
    media_time_s: float
    empty_s: float


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int, int]]:
    """``(type, box start, payload start, box end)`` of each box in ``data[start:end]``."""
    out = []
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:
            if offset + 16 > end:
                break
            size = struct.unpack_from(">Q", data, offset + 8)[0]
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            break
        out.append((kind, offset, offset + header, offset + size))
        offset += size
    return out


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for found, _, payload, box_end in _boxes(data, start, end):
        if found == kind:
            return payload, box_end
    return None


def _timescale(data: bytes, box: tuple[int, int] | None) -> int | None:
    """Timescale of an ``mvhd`` or ``mdhd`` payload (version 0 or 1)."""
    if box is None or box[1] - box[0] < 24:
        return None
    version = data[box[0]]
    at = box[0] + (20 if version == 1 else 12)
    if at + 4 > box[1]:
        return None
    scale = int(struct.unpack_from(">I", data, at)[0])
    return scale or None


def _handler(data: bytes, mdia: tuple[int, int]) -> str | None:
    hdlr = _child(data, mdia[0], mdia[1], b"hdlr")
    if hdlr is None or hdlr[1] - hdlr[0] < 12:
        return None
    return data[hdlr[0] + 8 : hdlr[0] + 12].decode("latin-1")


def _entries(data: bytes, elst: tuple[int, int]) -> list[tuple[int, int]]:
    """``(segment_duration, media_time)`` of each ``elst`` entry."""
    start, end = elst
    if end - start < 8:
        return []
    version = data[start]
    count = int(struct.unpack_from(">I", data, start + 4)[0])
    width = 20 if version == 1 else 12
    layout = ">Qq" if version == 1 else ">Ii"
    count = min(count, (end - start - 8) // width)
    out = []
    for i in range(count):
        duration, media_time = struct.unpack_from(layout, data, start + 8 + i * width)
        out.append((int(duration), int(media_time)))
    return out


def track_edits(init: bytes) -> list[TrackEdit]:
    """The edit list of every track of an init segment that has one.

    Args:
        init: Init segment bytes (``ftyp`` + ``moov``); anything unparsable gives ``[]``.

    Returns:
        One ``TrackEdit`` per track with an ``elst`` naming a first presented time.
    """
    moov = _child(init, 0, len(init), b"moov")
    if moov is None:
        return []
    movie_scale = _timescale(init, _child(init, *moov, b"mvhd")) or 1
    out = []
    for kind, _, payload, end in _boxes(init, *moov):
        if kind != b"trak":
            continue
        mdia = _child(init, payload, end, b"mdia")
        edts = _child(init, payload, end, b"edts")
        elst = _child(init, *edts, b"elst") if edts is not None else None
        if mdia is None or elst is None:
            continue
        media_scale = _timescale(init, _child(init, *mdia, b"mdhd"))
        handler = _handler(init, mdia)
        if media_scale is None or handler is None:
            continue
        empty = 0
        for duration, media_time in _entries(init, elst):
            if media_time == _EMPTY_EDIT:
                empty += duration
                continue
            out.append(TrackEdit(handler, media_time / media_scale, empty / movie_scale))
            break
    return out


def without_edit_lists(init: bytes) -> bytes:
    """Return ``init`` with every ``trak``'s ``edts`` box renamed ``free`` (same size).

    The demuxer then reports raw composition times and skips no samples; the player
    applies the edit list once per track (``track_edits``).
    """
    moov = _child(init, 0, len(init), b"moov")
    if moov is None:
        return init
    out = bytearray(init)
    for kind, _, payload, end in _boxes(init, *moov):
        if kind != b"trak":
            continue
        for child, start, _, _ in _boxes(init, payload, end):
            if child == b"edts":
                out[start + 4 : start + 8] = b"free"
    return bytes(out)
