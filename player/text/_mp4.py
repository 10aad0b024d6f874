"""Reading text tracks out of MP4 (ISO/IEC 14496-12 boxes, 14496-30 sample entries), sans-I/O.

``read_text_init`` finds the text track of an init segment (or of a whole progressive
file): its sample entry (``wvtt`` or ``stpp``), timescale and fragment defaults.
``text_samples`` lists the samples of a media segment (``moof``/``mdat`` fragments) or of
a progressive file (``stbl`` tables): each with its media time, duration and bytes.

Every read is bounds-checked; a malformed box raises ``TextParseError`` naming the byte
offset.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from player.errors import TextParseError, UnsupportedText

__all__: list[str] = []

_HEADER = struct.Struct(">I4s")
_CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"edts", b"moof"})


@dataclass(frozen=True, slots=True)
class Box:
    """One box: its type and where its payload lies in the buffer.

    Attributes:
        kind: Four-character type.
        start: Offset of the box header.
        body: Offset of the payload (after the header).
        end: Offset just past the box.
    """

    kind: bytes
    start: int
    body: int
    end: int


def boxes(data: bytes, start: int, end: int, *, url: str) -> Iterator[Box]:
    """The boxes laid end to end in ``data[start:end]``.

    Raises:
        TextParseError: A box header is cut short or a size points outside the range.
    """
    pos = start
    while pos < end:
        if end - pos < 8:
            raise _error(url, pos, "truncated box header")
        size, kind = _HEADER.unpack_from(data, pos)
        body = pos + 8
        if size == 1:
            if end - pos < 16:
                raise _error(url, pos, "truncated 64-bit box size")
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
            body = pos + 16
        elif size == 0:
            size = end - pos
        if size < body - pos or pos + size > end:
            raise _error(url, pos, f"box {kind!r} of {size} bytes does not fit")
        yield Box(kind, pos, body, pos + size)
        pos += size


def _error(url: str, offset: int, what: str) -> TextParseError:
    return TextParseError(f"{url}: malformed MP4 at byte {offset}: {what}", url=url, detail=what)


def child(data: bytes, box: Box, kind: bytes, *, url: str) -> Box | None:
    """The first child of ``box`` of type ``kind``."""
    return next((b for b in boxes(data, box.body, box.end, url=url) if b.kind == kind), None)


def _uint(data: bytes, pos: int, size: int, *, end: int, url: str) -> int:
    if pos + size > end:
        raise _error(url, pos, "field past the end of its box")
    return int.from_bytes(data[pos : pos + size], "big")


@dataclass(frozen=True, slots=True)
class TextInit:
    """The text track of an init segment.

    Attributes:
        codec: Sample entry type: ``wvtt`` or ``stpp``.
        track_id: ``tkhd`` track id.
        timescale: ``mdhd`` ticks per second.
        default_duration: ``trex`` default sample duration, ticks.
        default_size: ``trex`` default sample size, bytes.
        moov: The ``moov`` box (a progressive file's sample tables live there).
        header: ``wvtt``: the WebVTT file header of the ``vttC`` box (``REGION`` blocks...).
    """

    codec: str
    track_id: int
    timescale: int
    default_duration: int = 0
    default_size: int = 0
    moov: Box | None = None
    header: str = ""


def read_text_init(data: bytes, *, url: str) -> TextInit:
    """The text track of ``data`` (an init segment, or a progressive file's ``moov``).

    Raises:
        TextParseError: No ``moov``, no track, or malformed boxes.
        UnsupportedText: The track's sample entry is neither ``wvtt`` nor ``stpp``.
    """
    moov = next((b for b in boxes(data, 0, len(data), url=url) if b.kind == b"moov"), None)
    if moov is None:
        raise TextParseError(f"{url}: MP4 text without a moov box", url=url, detail="no moov")
    for trak in boxes(data, moov.body, moov.end, url=url):
        if trak.kind != b"trak":
            continue
        entry, track_id, timescale = _track(data, trak, url=url)
        if entry in (b"wvtt", b"stpp"):
            duration, size = _trex(data, moov, track_id, url=url)
            return TextInit(
                codec=entry.decode(),
                track_id=track_id,
                timescale=timescale,
                default_duration=duration,
                default_size=size,
                moov=moov,
                header=_vttc_header(data, trak, url=url) if entry == b"wvtt" else "",
            )
        if entry:
            raise UnsupportedText(
                f"{url}: MP4 text sample entry {entry.decode('latin-1')!r} is not supported "
                "(wvtt and stpp are)",
                url=url,
                detail=f"sample entry {entry.decode('latin-1')}",
            )
    raise TextParseError(f"{url}: MP4 text without a track", url=url, detail="no track")


def _track(data: bytes, trak: Box, *, url: str) -> tuple[bytes, int, int]:
    """``(sample entry type, track id, timescale)`` of one ``trak``."""
    tkhd = child(data, trak, b"tkhd", url=url)
    mdia = child(data, trak, b"mdia", url=url)
    if tkhd is None or mdia is None:
        raise _error(url, trak.start, "trak without tkhd or mdia")
    version = _uint(data, tkhd.body, 1, end=tkhd.end, url=url)
    track_id = _uint(data, tkhd.body + (20 if version == 1 else 12), 4, end=tkhd.end, url=url)
    mdhd = child(data, mdia, b"mdhd", url=url)
    if mdhd is None:
        raise _error(url, mdia.start, "mdia without mdhd")
    version = _uint(data, mdhd.body, 1, end=mdhd.end, url=url)
    timescale = _uint(data, mdhd.body + (20 if version == 1 else 12), 4, end=mdhd.end, url=url)
    if timescale == 0:
        raise _error(url, mdhd.start, "timescale 0")
    entry = b""
    minf = child(data, mdia, b"minf", url=url)
    stbl = child(data, minf, b"stbl", url=url) if minf is not None else None
    stsd = child(data, stbl, b"stsd", url=url) if stbl is not None else None
    if stsd is not None and stsd.end - stsd.body >= 16:
        entry = data[stsd.body + 12 : stsd.body + 16]
    return entry, track_id, timescale


def _vttc_header(data: bytes, trak: Box, *, url: str) -> str:
    """The ``vttC`` text of a ``wvtt`` sample entry (after its 8 bytes of fields)."""
    for box in _descend(data, trak, (b"mdia", b"minf", b"stbl", b"stsd"), url=url):
        entry_start = box.body + 8
        for entry in boxes(data, entry_start, box.end, url=url):
            if entry.kind == b"wvtt":
                for config in boxes(data, entry.body + 8, entry.end, url=url):
                    if config.kind == b"vttC":
                        return data[config.body : config.end].decode("utf-8", errors="replace")
    return ""


def _descend(data: bytes, box: Box, path: tuple[bytes, ...], *, url: str) -> Iterator[Box]:
    """The box at ``path`` below ``box``, if present (zero or one)."""
    current: Box | None = box
    for kind in path:
        current = child(data, current, kind, url=url) if current is not None else None
    if current is not None:
        yield current


def _trex(data: bytes, moov: Box, track_id: int, *, url: str) -> tuple[int, int]:
    mvex = child(data, moov, b"mvex", url=url)
    if mvex is None:
        return 0, 0
    for trex in boxes(data, mvex.body, mvex.end, url=url):
        if trex.kind != b"trex":
            continue
        if _uint(data, trex.body + 4, 4, end=trex.end, url=url) == track_id:
            duration = _uint(data, trex.body + 12, 4, end=trex.end, url=url)
            size = _uint(data, trex.body + 16, 4, end=trex.end, url=url)
            return duration, size
    return 0, 0


@dataclass(frozen=True, slots=True)
class Sample:
    """One text sample.

    Attributes:
        time: Presentation time (decode time plus composition offset), track ticks.
        duration: Ticks.
        data: The sample's bytes.
    """

    time: int
    duration: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Fragmented:
    """The samples of a media segment and where its fragments start.

    Attributes:
        samples: In decode order.
        base_time: ``tfdt`` of the first fragment of the track, ticks (``None`` for a
            progressive file: its timeline starts at 0).
    """

    samples: tuple[Sample, ...]
    base_time: int | None


def text_samples(init: TextInit, data: bytes, *, url: str, max_samples: int) -> Fragmented:
    """The text track's samples in ``data`` (fragments, or a progressive file's tables).

    Raises:
        TextParseError: Malformed boxes, sample data outside the file, or more than
            ``max_samples`` samples.
    """
    top = list(boxes(data, 0, len(data), url=url))
    if any(b.kind == b"moof" for b in top):
        return _fragments(init, data, top, url=url, max_samples=max_samples)
    moov = next((b for b in top if b.kind == b"moov"), None)
    if moov is not None:
        return Fragmented(_progressive(init, data, moov, url=url, max_samples=max_samples), None)
    return Fragmented((), None)


def _fragments(
    init: TextInit, data: bytes, top: list[Box], *, url: str, max_samples: int
) -> Fragmented:
    samples: list[Sample] = []
    base: int | None = None
    for moof in (b for b in top if b.kind == b"moof"):
        for traf in boxes(data, moof.body, moof.end, url=url):
            if traf.kind != b"traf":
                continue
            found = _traf(init, data, moof, traf, url=url)
            if found is None:
                continue
            decode_time, fragment = found
            base = decode_time if base is None else base
            samples.extend(fragment)
            if len(samples) > max_samples:
                raise _error(url, traf.start, f"more than {max_samples} samples")
    return Fragmented(tuple(samples), base)


def _traf(
    init: TextInit, data: bytes, moof: Box, traf: Box, *, url: str
) -> tuple[int, list[Sample]] | None:
    """``(tfdt, samples)`` of one ``traf`` of the text track, ``None`` for another track."""
    tfhd = child(data, traf, b"tfhd", url=url)
    if tfhd is None:
        raise _error(url, traf.start, "traf without tfhd")
    flags = _uint(data, tfhd.body + 1, 3, end=tfhd.end, url=url)
    if _uint(data, tfhd.body + 4, 4, end=tfhd.end, url=url) != init.track_id:
        return None
    pos = tfhd.body + 8
    base_offset = moof.start
    if flags & 0x1:
        base_offset = _uint(data, pos, 8, end=tfhd.end, url=url)
        pos += 8
    if flags & 0x2:
        pos += 4
    default_duration, default_size = init.default_duration, init.default_size
    if flags & 0x8:
        default_duration = _uint(data, pos, 4, end=tfhd.end, url=url)
        pos += 4
    if flags & 0x10:
        default_size = _uint(data, pos, 4, end=tfhd.end, url=url)
    tfdt = child(data, traf, b"tfdt", url=url)
    decode_time = 0
    if tfdt is not None:
        wide = _uint(data, tfdt.body, 1, end=tfdt.end, url=url) == 1
        decode_time = _uint(data, tfdt.body + 4, 8 if wide else 4, end=tfdt.end, url=url)
    samples: list[Sample] = []
    time = decode_time
    for trun in boxes(data, traf.body, traf.end, url=url):
        if trun.kind != b"trun":
            continue
        for duration, size, offset, cto in _trun(data, trun, default_size, url=url):
            duration = default_duration if duration is None else duration
            start = base_offset + offset
            if start < 0 or start + size > len(data):
                raise _error(url, trun.start, f"sample of {size} bytes outside the segment")
            samples.append(Sample(time + cto, duration, data[start : start + size]))
            time += duration
    return decode_time, samples


def _trun(
    data: bytes, trun: Box, default_size: int, *, url: str
) -> Iterator[tuple[int | None, int, int, int]]:
    """``(duration or None, size, data offset, composition offset)`` per sample of a ``trun``."""
    version = _uint(data, trun.body, 1, end=trun.end, url=url)
    flags = _uint(data, trun.body + 1, 3, end=trun.end, url=url)
    count = _uint(data, trun.body + 4, 4, end=trun.end, url=url)
    pos = trun.body + 8
    offset = 0
    if flags & 0x1:
        offset = int.from_bytes(data[pos : pos + 4], "big", signed=True)
        pos += 4
    if flags & 0x4:
        pos += 4
    per_sample = 4 * sum(1 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
    if pos + per_sample * count > trun.end:
        raise _error(url, trun.start, f"trun of {count} samples does not fit its box")
    for _ in range(count):
        duration: int | None = None
        size = default_size
        cto = 0
        if flags & 0x100:
            duration = int.from_bytes(data[pos : pos + 4], "big")
            pos += 4
        if flags & 0x200:
            size = int.from_bytes(data[pos : pos + 4], "big")
            pos += 4
        if flags & 0x400:
            pos += 4
        if flags & 0x800:
            cto = int.from_bytes(data[pos : pos + 4], "big", signed=version == 1)
            pos += 4
        yield duration, size, offset, cto
        offset += size


def _progressive(
    init: TextInit, data: bytes, moov: Box, *, url: str, max_samples: int
) -> tuple[Sample, ...]:
    """The samples of a non-fragmented file from ``stts``, ``stsz``, ``stsc`` and ``stco``."""
    stbl = _text_stbl(init, data, moov, url=url)
    if stbl is None:
        return ()
    table = {b.kind: b for b in boxes(data, stbl.body, stbl.end, url=url)}
    durations = _expand_stts(data, table.get(b"stts"), url=url, limit=max_samples)
    sizes = _stsz(data, table.get(b"stsz"), url=url, limit=max_samples)
    chunks = _stco(data, table.get(b"stco") or table.get(b"co64"), url=url)
    per_chunk = _stsc(data, table.get(b"stsc"), url=url)
    samples: list[Sample] = []
    time = 0
    index = 0
    for chunk_number, chunk_offset in enumerate(chunks, start=1):
        count = next((n for first, n in reversed(per_chunk) if first <= chunk_number), 0)
        pos = chunk_offset
        for _ in range(count):
            if index >= len(sizes) or index >= len(durations):
                break
            size = sizes[index]
            if pos + size > len(data):
                raise _error(url, pos, f"sample of {size} bytes outside the file")
            samples.append(Sample(time, durations[index], data[pos : pos + size]))
            time += durations[index]
            pos += size
            index += 1
    return tuple(samples)


def _text_stbl(init: TextInit, data: bytes, moov: Box, *, url: str) -> Box | None:
    for trak in boxes(data, moov.body, moov.end, url=url):
        if trak.kind == b"trak" and _track(data, trak, url=url)[1] == init.track_id:
            mdia = child(data, trak, b"mdia", url=url)
            minf = child(data, mdia, b"minf", url=url) if mdia else None
            return child(data, minf, b"stbl", url=url) if minf else None
    return None


def _entries(data: bytes, box: Box | None, *, url: str, skip: int, width: int) -> Iterator[int]:
    if box is None:
        return
    count = _uint(data, box.body + skip, 4, end=box.end, url=url)
    pos = box.body + skip + 4
    if pos + count * width > box.end:
        raise _error(url, box.start, f"table of {count} entries does not fit its box")
    for _ in range(count):
        yield int.from_bytes(data[pos : pos + width], "big")
        pos += width


def _expand_stts(data: bytes, box: Box | None, *, url: str, limit: int) -> list[int]:
    values = list(_entries(data, box, url=url, skip=4, width=8))
    out: list[int] = []
    for value in values:
        count, delta = value >> 32, value & 0xFFFFFFFF
        if len(out) + count > limit:
            raise _error(url, box.start if box else 0, f"more than {limit} samples")
        out.extend([delta] * count)
    return out


def _stsz(data: bytes, box: Box | None, *, url: str, limit: int) -> list[int]:
    if box is None:
        return []
    uniform = _uint(data, box.body + 4, 4, end=box.end, url=url)
    count = _uint(data, box.body + 8, 4, end=box.end, url=url)
    if count > limit:
        raise _error(url, box.start, f"more than {limit} samples")
    if uniform:
        return [uniform] * count
    return list(_entries(data, box, url=url, skip=8, width=4))


def _stco(data: bytes, box: Box | None, *, url: str) -> list[int]:
    if box is None:
        return []
    return list(_entries(data, box, url=url, skip=4, width=8 if box.kind == b"co64" else 4))


def _stsc(data: bytes, box: Box | None, *, url: str) -> list[tuple[int, int]]:
    """``(first chunk, samples per chunk)`` runs."""
    rows = list(_entries(data, box, url=url, skip=4, width=12))
    return [(row >> 64, (row >> 32) & 0xFFFFFFFF) for row in rows]
