"""Reading the protection and sample layout of fragmented MP4 (sans-I/O)."""

from __future__ import annotations

import bisect
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from drm._boxes import Box, BoxNode, iter_boxes, read_box_tree
from drm.errors import BoxError, DecryptionError, UnsupportedKeySystem

__all__ = [
    "FragmentSample",
    "InitInfo",
    "TrackEncryption",
    "TrackInfo",
    "iter_fragment_samples",
    "parse_init",
]

SCHEMES = ("cenc", "cbcs", "cens", "cbc1")
_PIFF_SENC = bytes.fromhex("a2394f525a9b4f14a2446c427c648df4")
_MAX_SAMPLES = 1 << 20
_MAX_SUBSAMPLES = 1 << 16

Buffer = bytes | bytearray | memoryview


def _u32(data: Buffer, pos: int, end: int) -> int:
    if pos + 4 > end:
        raise BoxError("field runs past the end of its box", offset=pos)
    return int(struct.unpack_from(">I", data, pos)[0])


def _u64(data: Buffer, pos: int, end: int) -> int:
    if pos + 8 > end:
        raise BoxError("field runs past the end of its box", offset=pos)
    return int(struct.unpack_from(">Q", data, pos)[0])


@dataclass(frozen=True, slots=True)
class TrackEncryption:
    """How one protected sample entry is encrypted (``sinf``: ``frma``, ``schm``, ``tenc``).

    Attributes:
        scheme: ``cenc``, ``cbcs``, ``cens`` or ``cbc1``.
        original_format: The clear sample entry type, e.g. ``avc1``.
        default_kid: Default key id, 32 lowercase hex digits.
        is_protected: Whether samples are encrypted by default.
        iv_size: Per-sample IV size in bytes (0, 8 or 16).
        constant_iv: The constant IV (padded to 16 bytes) when ``iv_size`` is 0.
        crypt_byte_block: Encrypted blocks per pattern (0 means no pattern).
        skip_byte_block: Clear blocks per pattern.
    """

    scheme: str
    original_format: str
    default_kid: str
    is_protected: bool
    iv_size: int
    constant_iv: bytes | None
    crypt_byte_block: int
    skip_byte_block: int


@dataclass(frozen=True, slots=True)
class TrackInfo:
    """A track of an init segment.

    Attributes:
        track_id: The ``tkhd`` track id.
        handler: The ``hdlr`` handler type, e.g. ``vide``.
        entries: Protection of each sample entry in ``stsd`` order (``None`` = clear).
        default_sdi: Default sample description index from ``trex`` (1-based).
        default_size: Default sample size from ``trex``.
    """

    track_id: int
    handler: str
    entries: tuple[TrackEncryption | None, ...]
    default_sdi: int = 1
    default_size: int = 0


@dataclass(frozen=True, slots=True)
class InitInfo:
    """The tracks of an init segment.

    Attributes:
        tracks: Tracks by track id.
    """

    tracks: dict[int, TrackInfo]

    def key_ids(self) -> tuple[str, ...]:
        """Return the default key ids of all protected sample entries, sorted."""
        return tuple(
            sorted(
                {e.default_kid for t in self.tracks.values() for e in t.entries if e is not None}
            )
        )


def _parse_tenc(node: BoxNode, offset: int) -> tuple[int, int, bool, int, str, bytes | None]:
    p = node.head
    if len(p) < 24:
        raise BoxError("tenc box is truncated", offset=offset)
    version = p[0]
    crypt, skip = (p[5] >> 4, p[5] & 15) if version >= 1 else (0, 0)
    is_protected, iv_size = p[6] == 1, p[7]
    if iv_size not in (0, 8, 16):
        raise BoxError(f"tenc IV size {iv_size} is not 0, 8 or 16", offset=offset)
    kid = p[8:24].hex()
    constant_iv = None
    if is_protected and iv_size == 0:
        if len(p) < 25 or p[24] not in (8, 16) or len(p) < 25 + p[24]:
            raise BoxError("tenc constant IV is missing or truncated", offset=offset)
        constant_iv = p[25 : 25 + p[24]].ljust(16, b"\0")
    return crypt, skip, is_protected, iv_size, kid, constant_iv


def protection_of(entry: BoxNode) -> TrackEncryption | None:
    """Return the protection of a sample entry, or ``None`` if it is clear.

    Args:
        entry: A sample entry node from ``stsd``.

    Returns:
        The protection parameters.

    Raises:
        BoxError: The ``sinf`` is incomplete.
        UnsupportedKeySystem: The scheme is not one of the four CENC schemes.
    """
    if entry.type not in ("encv", "enca") or entry.children is None:
        return None
    sinf = entry.child("sinf")
    frma = sinf.child("frma") if sinf else None
    schm = sinf.child("schm") if sinf else None
    schi = sinf.child("schi") if sinf else None
    tenc = schi.child("tenc") if schi else None
    if sinf is None or frma is None or schm is None or tenc is None or len(frma.head) < 4:
        raise BoxError(f"{entry.type} without a complete sinf", offset=entry.start)
    if len(schm.head) < 8:
        raise BoxError("schm box is truncated", offset=schm.start)
    scheme = schm.head[4:8].decode("latin-1")
    if scheme not in SCHEMES:
        raise UnsupportedKeySystem(f"protection scheme {scheme!r} is not supported")
    crypt, skip, is_protected, iv_size, kid, constant_iv = _parse_tenc(tenc, tenc.start)
    return TrackEncryption(
        scheme,
        frma.head[:4].decode("latin-1"),
        kid,
        is_protected,
        iv_size,
        constant_iv,
        crypt,
        skip,
    )


def _track_info(trak: BoxNode) -> TrackInfo:
    tkhd = trak.child("tkhd")
    mdia = trak.child("mdia")
    if tkhd is None or mdia is None or len(tkhd.head) < 16:
        raise BoxError("trak without tkhd/mdia", offset=trak.start)
    track_id = struct.unpack_from(">I", tkhd.head, 20 if tkhd.head[0] == 1 else 12)[0]
    hdlr = mdia.child("hdlr")
    handler = hdlr.head[8:12].decode("latin-1") if hdlr and len(hdlr.head) >= 12 else ""
    minf = mdia.child("minf")
    stbl = minf.child("stbl") if minf else None
    stsd = stbl.child("stsd") if stbl else None
    entries = tuple(protection_of(e) for e in (stsd.children or [])) if stsd else ()
    return TrackInfo(track_id, handler, entries)


def parse_init(data: Buffer) -> InitInfo:
    """Read the tracks and their protection from an init segment (or a whole file).

    Args:
        data: Bytes that contain a ``moov`` box.

    Returns:
        The tracks.

    Raises:
        BoxError: There is no ``moov`` or it is malformed.
        UnsupportedKeySystem: A track uses an unknown protection scheme.
    """
    moov_box = next((b for b in iter_boxes(data) if b.type == "moov"), None)
    if moov_box is None:
        raise BoxError("no moov box in the init segment", offset=0)
    moov = read_box_tree(data, moov_box)
    tracks = {t.track_id: t for t in (_track_info(trak) for trak in moov.all("trak"))}
    mvex = moov.child("mvex")
    for trex in mvex.all("trex") if mvex else []:
        if len(trex.head) < 24:
            raise BoxError("trex box is truncated", offset=trex.start)
        track_id, sdi, _, size = struct.unpack_from(">IIII", trex.head, 4)
        if track_id in tracks:
            old = tracks[track_id]
            tracks[track_id] = TrackInfo(old.track_id, old.handler, old.entries, sdi, size)
    return InitInfo(tracks)


@dataclass(frozen=True, slots=True)
class FragmentSample:
    """One sample of a track fragment and its encryption info.

    Attributes:
        track_id: Track of the sample.
        offset: Absolute offset of the sample data in the segment.
        size: Sample size in bytes.
        iv: The per-sample IV padded to 16 bytes, or ``None`` (constant IV or clear).
        subsamples: ``(clear_bytes, protected_bytes)`` pairs, or ``None`` for whole-sample
            protection.
        encryption: The sample entry's protection, or ``None`` if the sample is clear.
    """

    track_id: int
    offset: int
    size: int
    iv: bytes | None
    subsamples: tuple[tuple[int, int], ...] | None
    encryption: TrackEncryption | None


@dataclass(slots=True)
class _Tfhd:
    track_id: int
    base: int
    sdi: int
    default_size: int


def _parse_tfhd(data: Buffer, box: Box, moof_start: int, info: InitInfo) -> _Tfhd:
    pos, end = box.payload_start, box.end
    flags = _u32(data, pos, end) & 0xFFFFFF
    track_id = _u32(data, pos + 4, end)
    track = info.tracks.get(track_id)
    base, sdi = moof_start, track.default_sdi if track else 1
    size = track.default_size if track else 0
    pos += 8
    if flags & 0x1:
        base = _u64(data, pos, end)
        pos += 8
    if flags & 0x2:
        sdi = _u32(data, pos, end)
        pos += 4
    if flags & 0x8:
        pos += 4
    if flags & 0x10:
        size = _u32(data, pos, end)
    return _Tfhd(track_id, base, sdi, size)


def _parse_trun(data: Buffer, box: Box, default_size: int) -> tuple[int | None, list[int]]:
    pos, end = box.payload_start, box.end
    word = _u32(data, pos, end)
    flags = word & 0xFFFFFF
    count = _u32(data, pos + 4, end)
    pos += 8
    data_offset = None
    if flags & 0x1:
        data_offset = struct.unpack(">i", struct.pack(">I", _u32(data, pos, end)))[0]
        pos += 4
    if flags & 0x4:
        pos += 4
    fields = [bit for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit]
    stride = 4 * len(fields)
    if count > _MAX_SAMPLES or pos + stride * count > end:
        raise BoxError(f"trun lists {count} samples but the box is too small", offset=box.start)
    if not flags & 0x200:
        if count * max(default_size, 1) > len(data):
            raise BoxError(
                f"trun lists {count} samples that cannot fit the segment", offset=box.start
            )
        return data_offset, [default_size] * count
    skip = fields.index(0x200) * 4
    sizes = [struct.unpack_from(">I", data, pos + i * stride + skip)[0] for i in range(count)]
    return data_offset, sizes


def _parse_aux(
    data: Buffer, pos: int, end: int, iv_size: int, has_subsamples: bool
) -> tuple[bytes | None, tuple[tuple[int, int], ...] | None, int]:
    iv = None
    if iv_size:
        if pos + iv_size > end:
            raise BoxError("sample auxiliary info is truncated", offset=pos)
        iv = bytes(data[pos : pos + iv_size]).ljust(16, b"\0")
        pos += iv_size
    if not has_subsamples:
        return iv, None, pos
    if pos + 2 > end:
        raise BoxError("subsample count is truncated", offset=pos)
    (count,) = struct.unpack_from(">H", data, pos)
    pos += 2
    if pos + 6 * count > end:
        raise BoxError(f"{count} subsamples run past the end of their box", offset=pos)
    subs = tuple(struct.iter_unpack(">HI", data[pos : pos + 6 * count]))
    return iv, subs, pos + 6 * count


def _senc_entries(
    data: Buffer, box: Box, count: int, iv_size: int
) -> list[tuple[bytes | None, tuple[tuple[int, int], ...] | None]]:
    pos, end = box.payload_start, box.end
    flags = _u32(data, pos, end) & 0xFFFFFF
    pos += 4
    if flags & 0x1:  # PIFF override: AlgorithmID(3) IV_size(1) KID(16)
        if pos + 20 > end:
            raise BoxError("senc override is truncated", offset=box.start)
        iv_size = data[pos + 3]
        if iv_size not in (0, 8, 16):
            raise BoxError(f"senc override IV size {iv_size} is not 0, 8 or 16", offset=box.start)
        pos += 20
    n = _u32(data, pos, end)
    pos += 4
    if n < count or n > _MAX_SAMPLES or n * iv_size > end - pos:
        raise BoxError(f"senc has {n} entries for {count} samples", offset=box.start)
    if iv_size == 0 and not flags & 0x2:
        return [(None, None)] * count  # empty entries: nothing per sample
    entries = []
    for _ in range(n):
        iv, subs, pos = _parse_aux(data, pos, end, iv_size, bool(flags & 0x2))
        entries.append((iv, subs))
    # FFmpeg's fragmented cenc muxer keeps appending audio entries across fragments:
    # the entries of this fragment's samples are the last ``count``.
    return entries[n - count :]


def _saio_entries(
    data: Buffer, boxes: dict[str, Box], base: int, count: int, iv_size: int
) -> list[tuple[bytes | None, tuple[tuple[int, int], ...] | None]]:
    saiz, saio = boxes["saiz"], boxes["saio"]
    pos, end = saiz.payload_start, saiz.end
    flags = _u32(data, pos, end) & 0xFFFFFF
    pos += 4 + (8 if flags & 1 else 0)
    if pos + 5 > end:
        raise BoxError("saiz box is truncated", offset=saiz.start)
    default_size, n = data[pos], _u32(data, pos + 1, end)
    pos += 5
    if n != count or (default_size == 0 and pos + n > end):
        raise BoxError(f"saiz has {n} entries for {count} samples", offset=saiz.start)
    sizes = [default_size] * n if default_size else list(data[pos : pos + n])
    spos, send = saio.payload_start, saio.end
    version = data[spos] if spos < send else 0
    sflags = _u32(data, spos, send) & 0xFFFFFF
    spos += 4 + (8 if sflags & 1 else 0)
    if _u32(data, spos, send) < 1:
        raise BoxError("saio has no offset", offset=saio.start)
    offset = _u64(data, spos + 4, send) if version else _u32(data, spos + 4, send)
    pos = base + offset
    entries = []
    for size in sizes:
        if pos + size > len(data):
            raise BoxError("sample auxiliary info lies outside the segment", offset=pos)
        iv, subs, _ = _parse_aux(data, pos, pos + size, iv_size, size > iv_size)
        entries.append((iv, subs))
        pos += size
    return entries


def _refuse_key_rotation(data: Buffer, box: Box) -> None:
    """Refuse ``seig`` sample groups that map samples to other keys (key rotation)."""
    pos, end = box.payload_start, box.end
    version = data[pos] if pos < end else 0
    if _u32(data, pos + 4, end) != int.from_bytes(b"seig", "big"):
        return
    pos += 8 + (4 if version == 1 else 0)
    count = _u32(data, pos, end)
    if pos + 4 + 8 * count > end:
        raise BoxError("sbgp entries run past the box", offset=box.start)
    indices = struct.unpack_from(f">{2 * count}I", data, pos + 4)[1::2]
    if any(indices):
        raise UnsupportedKeySystem("per-sample-group keys (seig key rotation) are not supported")


@dataclass(frozen=True, slots=True)
class _Fragment:
    """Where a ``moof`` is, for messages: its ``mfhd`` sequence number and byte offset."""

    box: Box
    sequence: int | None

    def describe(self) -> str:
        number = "?" if self.sequence is None else str(self.sequence)
        return f"fragment {number} (moof at byte {self.box.start})"


def _fragment(data: Buffer, moof: Box) -> _Fragment:
    for box in iter_boxes(data, moof.payload_start, moof.end):
        if box.type == "mfhd" and box.end - box.payload_start >= 8:
            return _Fragment(moof, _u32(data, box.payload_start + 4, box.end))
    return _Fragment(moof, None)


def _traf_boxes(data: Buffer, traf: Box) -> tuple[dict[str, Box], list[Box]]:
    boxes: dict[str, Box] = {}
    truns: list[Box] = []
    for box in iter_boxes(data, traf.payload_start, traf.end):
        if box.type == "trun":
            truns.append(box)
        elif box.type == "uuid" and box.usertype == _PIFF_SENC:
            boxes.setdefault("senc", box)
        elif box.type == "sbgp":
            _refuse_key_rotation(data, box)
        else:
            boxes.setdefault(box.type, box)
    if "tfhd" not in boxes:
        raise BoxError("traf without tfhd", offset=traf.start)
    return boxes, truns


def _sample_layout(
    data: Buffer, truns: list[Box], tfhd: _Tfhd, mdats: list[Box]
) -> list[tuple[int, int]]:
    """(offset, size) of each sample; each must lie inside one top-level ``mdat``."""
    layout: list[tuple[int, int]] = []
    starts = [box.payload_start for box in mdats]
    pos = tfhd.base
    for trun in truns:
        data_offset, sizes = _parse_trun(data, trun, tfhd.default_size)
        if data_offset is not None:
            pos = tfhd.base + data_offset
        for size in sizes:
            index = bisect.bisect_right(starts, pos) - 1
            if index < 0 or pos + size > mdats[index].end:
                raise BoxError(
                    f"sample data at byte {pos} ({size} bytes) is not inside an mdat box",
                    offset=trun.start,
                )
            layout.append((pos, size))
            pos += size
    return layout


def _aux_info(
    data: Buffer,
    boxes: dict[str, Box],
    enc: TrackEncryption,
    count: int,
    where: tuple[_Fragment, int],
) -> list[tuple[bytes | None, tuple[tuple[int, int], ...] | None]]:
    """The IV and subsamples of each sample of a protected track fragment."""
    fragment, base = where
    if "senc" in boxes:
        return _senc_entries(data, boxes["senc"], count, enc.iv_size)
    if "saiz" in boxes and "saio" in boxes:
        return _saio_entries(data, boxes, base, count, enc.iv_size)
    if enc.iv_size == 0 and enc.constant_iv is not None:
        return [(None, None)] * count  # constant IV, whole samples: nothing per sample
    raise DecryptionError(
        f"{fragment.describe()} of a protected track has no sample auxiliary information "
        f"(senc, or saiz and saio) for its {count} samples: they cannot be decrypted"
    )


def _traf_samples(
    data: Buffer, traf: Box, fragment: _Fragment, info: InitInfo, mdats: list[Box]
) -> Iterator[FragmentSample]:
    boxes, truns = _traf_boxes(data, traf)
    tfhd = _parse_tfhd(data, boxes["tfhd"], fragment.box.start, info)
    track = info.tracks.get(tfhd.track_id)
    entries = track.entries if track else ()
    enc = entries[tfhd.sdi - 1] if 0 < tfhd.sdi <= len(entries) else None
    layout = _sample_layout(data, truns, tfhd, mdats)
    if enc is None or not enc.is_protected or not layout:
        for offset, size in layout:
            yield FragmentSample(tfhd.track_id, offset, size, None, None, None)
        return
    aux = _aux_info(data, boxes, enc, len(layout), (fragment, tfhd.base))
    for i, (offset, size) in enumerate(layout):
        iv, subs = aux[i]
        if subs is not None and sum(c + p for c, p in subs) > size:
            raise BoxError(f"subsamples of sample {i} exceed its {size} bytes", offset=traf.start)
        yield FragmentSample(tfhd.track_id, offset, size, iv, subs, enc)


def iter_fragment_samples(
    data: Buffer, info: InitInfo
) -> Iterator[tuple[Box, list[FragmentSample]]]:
    """Yield each ``moof`` of a segment with its samples and their encryption info.

    Samples whose sample entry is clear (a clear-lead fragment points at a clear entry with
    ``sample_description_index``) or not protected by default have ``encryption=None``.

    Args:
        data: A media segment or a whole fragmented file.
        info: The tracks, from :func:`parse_init`.

    Yields:
        ``(moof_box, samples)`` in file order.

    Raises:
        BoxError: A box is malformed or sample data lies outside ``data``.
        DecryptionError: A fragment of a protected track has no sample auxiliary
            information (``senc``, or ``saiz`` and ``saio``) and no constant IV.
        UnsupportedKeySystem: Samples are mapped to other keys (``seig`` key rotation).
    """
    top = list(iter_boxes(data))
    mdats = [box for box in top if box.type == "mdat"]
    for box in top:
        if box.type != "moof":
            continue
        fragment = _fragment(data, box)
        samples: list[FragmentSample] = []
        for traf in iter_boxes(data, box.payload_start, box.end):
            if traf.type == "traf":
                samples.extend(_traf_samples(data, traf, fragment, info, mdats))
        yield box, samples
