"""Decrypting fragmented MP4 into a clear init and clear fragments (sans-I/O).

Sample bytes are decrypted in place (same sizes). Protection boxes are then removed
(``sinf``, ``pssh``, ``senc``, ``saiz``, ``saio``, ``seig`` groups), ``encv``/``enca``
become their original format, and every offset that pointed past a shrunk box is
moved: ``trun`` data offsets, ``tfhd`` base offsets and ``sidx`` references.
"""

from __future__ import annotations

import bisect
import itertools
import struct
from collections.abc import Callable

from drm._boxes import Box, BoxNode, iter_boxes, read_box_tree
from drm._cenc import decrypt_samples
from drm._keys import KeySource, key_lookup
from drm._mp4 import FragmentSample, InitInfo, iter_fragment_samples, parse_init
from drm.errors import BoxError, DecryptionError

__all__ = ["CencDecryptor", "clear_init_segment", "decrypt_mp4"]

_PIFF_SENC = bytes.fromhex("a2394f525a9b4f14a2446c427c648df4")
_TRAF_DROP = frozenset({"senc", "saiz", "saio"})


def _is_seig_group(node: BoxNode) -> bool:
    if node.type not in ("sbgp", "sgpd") or len(node.head) < 8:
        return False
    return node.head[4:8] == b"seig"


def _clear_moov(moov: BoxNode) -> None:
    moov.children = [c for c in moov.children or [] if c.type != "pssh"]
    for trak in moov.all("trak"):
        mdia = trak.child("mdia")
        minf = mdia.child("minf") if mdia else None
        stbl = minf.child("stbl") if minf else None
        stsd = stbl.child("stsd") if stbl else None
        for entry in stsd.children or [] if stsd else []:
            if entry.type not in ("encv", "enca") or entry.children is None:
                continue
            sinf = entry.child("sinf")
            frma = sinf.child("frma") if sinf else None
            if frma is None or len(frma.head) < 4:
                raise BoxError(f"{entry.type} without frma", offset=entry.start)
            entry.type = frma.head[:4].decode("latin-1")
            entry.children = [c for c in entry.children if c.type != "sinf"]


def _clear_moof(moof: BoxNode) -> None:
    moof.children = [c for c in moof.children or [] if c.type != "pssh"]
    for traf in moof.all("traf"):
        traf.children = [
            c
            for c in traf.children or []
            if c.type not in _TRAF_DROP
            and not (c.type == "uuid" and c.usertype == _PIFF_SENC)
            and not _is_seig_group(c)
        ]


class _Shifts:
    """Maps old offsets to new ones: ``table`` holds (old end of a top-level box, bytes removed)."""

    def __init__(self, table: list[tuple[int, int]]) -> None:
        self.table = sorted(table)
        self._ends = [end for end, _ in self.table]
        self._removed = list(itertools.accumulate(delta for _, delta in self.table))

    def new_pos(self, old: int) -> int:
        index = bisect.bisect_right(self._ends, old)
        return old - (self._removed[index - 1] if index else 0)


def _patch_traf(traf: BoxNode, moof_start: int, shifts: _Shifts) -> None:
    tfhd = traf.child("tfhd")
    if tfhd is None or len(tfhd.head) < 8:
        raise BoxError("traf without tfhd", offset=traf.start)
    flags = int.from_bytes(tfhd.head[1:4], "big")
    base = moof_start
    if flags & 0x1:
        if len(tfhd.head) < 16:
            raise BoxError("tfhd is truncated", offset=tfhd.start)
        (base,) = struct.unpack_from(">Q", tfhd.head, 8)
        tfhd.head = tfhd.head[:8] + struct.pack(">Q", shifts.new_pos(base)) + tfhd.head[16:]
    for trun in traf.all("trun"):
        if len(trun.head) >= 12 and trun.head[3] & 0x1:
            (offset,) = struct.unpack_from(">i", trun.head, 8)
            moved = shifts.new_pos(base + offset) - shifts.new_pos(base)
            trun.head = trun.head[:8] + struct.pack(">i", moved) + trun.head[12:]


def _patch_sidx(data: bytes, box: Box, shifts: _Shifts) -> bytes:
    raw = bytearray(data[box.start : box.end])
    pos = box.header_size
    version = raw[pos] if pos < len(raw) else 0
    pos += 12
    width = 8 if version else 4
    if pos + 2 * width + 4 > len(raw):
        raise BoxError("sidx is truncated", offset=box.start)
    first = int.from_bytes(raw[pos + width : pos + 2 * width], "big")
    anchor = box.end
    cursor = anchor + first
    new_first = shifts.new_pos(cursor) - shifts.new_pos(anchor)
    raw[pos + width : pos + 2 * width] = new_first.to_bytes(width, "big")
    pos += 2 * width + 2
    (count,) = struct.unpack_from(">H", raw, pos)
    pos += 2
    if pos + 12 * count > len(raw):
        raise BoxError("sidx references run past the box", offset=box.start)
    for i in range(count):
        at = pos + 12 * i
        (word,) = struct.unpack_from(">I", raw, at)
        size = word & 0x7FFFFFFF
        new_size = shifts.new_pos(cursor + size) - shifts.new_pos(cursor)
        struct.pack_into(">I", raw, at, (word & 0x80000000) | new_size)
        cursor += size
    return bytes(raw)


def _rewrite(data: bytes) -> tuple[bytearray, _Shifts]:
    """Copy ``data`` once without protection boxes; return the copy and the offset map."""
    boxes = list(iter_boxes(data))
    trees: dict[int, BoxNode] = {}
    table: list[tuple[int, int]] = []
    for box in boxes:
        if box.type == "pssh":
            table.append((box.end, box.size))
        elif box.type in ("moov", "moof"):
            tree = read_box_tree(data, box)
            (_clear_moov if box.type == "moov" else _clear_moof)(tree)
            trees[box.start] = tree
            table.append((box.end, box.size - len(tree.serialize())))
    shifts = _Shifts([(end, delta) for end, delta in table if delta])
    parts: list[tuple[int, bytes | memoryview]] = []
    view = memoryview(data)
    for box in boxes:
        if box.type == "pssh":
            continue
        if box.start in trees:
            tree = trees[box.start]
            if box.type == "moof":
                for traf in tree.all("traf"):
                    _patch_traf(traf, box.start, shifts)
            parts.append((-1, tree.serialize()))
        elif box.type == "sidx" and shifts.table:
            parts.append((-1, _patch_sidx(data, box, shifts)))
        else:
            parts.append((box.start, view[box.start : box.end]))
    return bytearray().join(part for _, part in parts), shifts


def clear_init_segment(init: bytes) -> bytes:
    """Return a clear copy of an init segment: original sample entries, no ``sinf``/``pssh``.

    Args:
        init: The protected init segment.

    Returns:
        An init segment a decoder accepts without keys.

    Raises:
        BoxError: The init segment is malformed.
    """
    return bytes(_rewrite(bytes(init))[0])


def _decrypt(data: bytes, info: InitInfo, lookup: Callable[[str], bytes]) -> bytearray:
    """Parse, copy once without protection boxes, then decrypt into the copy.

    ``cenc`` samples are read from ``data`` and written into the copy by AES-CTR; block
    schemes are decrypted in place in the copy.
    """
    fragments = [samples for _, samples in iter_fragment_samples(data, info) if samples]
    out, shifts = _rewrite(data)
    for samples in fragments:
        by_shift: dict[int, list[FragmentSample]] = {}
        for sample in samples:
            by_shift.setdefault(sample.offset - shifts.new_pos(sample.offset), []).append(sample)
        for shift, group in by_shift.items():
            decrypt_samples(out, group, lookup, shift=shift, source=data)
    return out


class CencDecryptor:
    """Decrypts the media segments of one protected track set (``cenc``/``cbcs``/``cens``/``cbc1``).

    Thread-safe for concurrent ``decrypt_segment`` calls: it keeps no mutable state.

    >>> CencDecryptor  # doctest: +ELLIPSIS
    <class '...CencDecryptor'>
    """

    def __init__(self, init: bytes, keys: KeySource) -> None:
        """Read the init segment.

        Args:
            init: The init segment (``moov``).
            keys: Keys by KID hex.

        Raises:
            BoxError: The init segment is malformed.
            UnsupportedKeySystem: A track uses an unknown scheme.
        """
        self._init = bytes(init)
        self._info = parse_init(self._init)
        self._lookup = key_lookup(keys)

    def __repr__(self) -> str:
        return f"CencDecryptor(key_ids={list(self.key_ids)!r})"

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The default KIDs of the protected sample entries."""
        return self._info.key_ids()

    def clear_init(self) -> bytes:
        """Return the clear init segment to hand to a decoder."""
        return clear_init_segment(self._init)

    def decrypt_segment(self, segment: bytes) -> bytearray:
        """Decrypt one media segment (``moof`` + ``mdat``; ``styp``/``sidx`` kept).

        Args:
            segment: The encrypted segment.

        Returns:
            The clear segment (a new buffer, built with a single copy).

        Raises:
            KeyNotFound: A needed key is missing (the message names the KID).
            BoxError: The segment is malformed.
            DecryptionError: The encryption info is inconsistent.
        """
        return _decrypt(bytes(segment), self._info, self._lookup)

    def decrypt_segment_in_place(self, buffer: bytearray) -> int:
        """Decrypt a media segment inside the caller's buffer, without copying it.

        Samples are decrypted where they are. Each ``moof`` is rewritten without its
        protection boxes and followed by a ``free`` box filling the bytes it lost, and
        ``pssh`` boxes become ``free`` boxes, so no offset moves and the buffer keeps its
        size. Use :meth:`decrypt_segment` for a compact copy instead.

        Args:
            buffer: The encrypted segment; it holds the clear segment afterwards.

        Returns:
            The number of samples decrypted.

        Raises:
            KeyNotFound: A needed key is missing (nothing has been changed then).
            BoxError: The segment is malformed (nothing has been changed then).
            DecryptionError: The encryption info is inconsistent.
        """
        fragments = [samples for _, samples in iter_fragment_samples(buffer, self._info)]
        for samples in fragments:
            for sample in samples:
                if sample.encryption is not None and sample.encryption.is_protected:
                    self._lookup(sample.encryption.default_kid)
        boxes = [b for b in iter_boxes(buffer) if b.type in ("moof", "pssh")]
        trees = {b.start: read_box_tree(buffer, b) for b in boxes if b.type == "moof"}
        done = sum(decrypt_samples(buffer, samples, self._lookup) for samples in fragments)
        for box in boxes:
            if box.type == "pssh":
                buffer[box.start + 4 : box.start + 8] = b"free"
                continue
            tree = trees[box.start]
            _clear_moof(tree)
            new = tree.serialize()
            gap = box.size - len(new)
            if gap:
                buffer[box.start : box.start + len(new)] = new
                free = struct.pack(">I4s", gap, b"free") + bytes(gap - 8)
                buffer[box.start + len(new) : box.end] = free
        return done


def decrypt_mp4(data: bytes, keys: KeySource, *, init: bytes | None = None) -> bytearray:
    """Decrypt a whole fragmented MP4 file, an init segment, or a media segment.

    Args:
        data: The protected bytes. If they hold a ``moov``, it describes the tracks.
        keys: Keys by KID hex.
        init: The init segment when ``data`` is a media segment only.

    Returns:
        The clear bytes (an init segment comes back clear, no keys needed).

    Raises:
        DecryptionError: Neither ``data`` nor ``init`` holds a ``moov``.
        KeyNotFound: A needed key is missing.
        BoxError: The input is malformed.
    """
    data = bytes(data)
    has_moov = any(b.type == "moov" for b in iter_boxes(data))
    if not has_moov and init is None:
        raise DecryptionError("no moov: pass the init segment for a media segment")
    info = parse_init(data if has_moov else bytes(init or b""))
    return _decrypt(data, info, key_lookup(keys))
