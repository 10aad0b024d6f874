"""A small CENC packager for the lab and tests: clear fragmented MP4 -> ``cenc`` or ``cbcs``.

Video samples made of length-prefixed NAL units (AVC/HEVC) get subsample encryption:
non-VCL units stay clear and each slice keeps its NAL header and the start of its slice
header clear, so the protected part is a whole number of AES blocks. Other samples
(audio) are encrypted whole. ``cbcs`` uses a constant IV and the 1:9 pattern for video.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from Crypto.Cipher import AES

from drm._boxes import BoxNode, iter_boxes, read_box_tree
from drm._decrypt import _patch_sidx, _patch_traf, _Shifts
from drm._mp4 import FragmentSample, InitInfo, iter_fragment_samples, parse_init
from drm._pssh import CLEARKEY_SYSTEM_ID, COMMON_SYSTEM_ID, build_pssh, normalize_kid
from drm.errors import DecryptionError, UnsupportedKeySystem

__all__ = ["package_mp4"]

_NAL_VIDEO = frozenset({"avc1", "avc3", "hvc1", "hev1"})
_CLEAR_LEAD = 32  # bytes of each slice left clear (NAL header and slice header start)
_MAX_CLEAR = 0xFFFF
_VIDEO_PATTERN = (1, 9)

_AuxEntry = tuple[bytes, list[tuple[int, int]] | None]
_AuxEntries = list[_AuxEntry]


@dataclass(frozen=True, slots=True)
class _Plan:
    scheme: str
    kid: bytes
    key: bytes = field(repr=False)
    iv: bytes  # 8-byte base for cenc (incremented per sample), 16-byte constant for cbcs


def _leaf(box_type: str, payload: bytes) -> BoxNode:
    return BoxNode(box_type, -1, -1, payload, None)


def _sinf(original: str, plan: _Plan, is_video: bool) -> BoxNode:
    schm = _leaf("schm", bytes(4) + plan.scheme.encode() + struct.pack(">I", 0x10000))
    if plan.scheme == "cenc":
        tenc = _leaf("tenc", bytes(4) + b"\0\0\x01" + bytes([len(plan.iv)]) + plan.kid)
    else:
        pattern = (_VIDEO_PATTERN[0] << 4 | _VIDEO_PATTERN[1]) if is_video else 0
        tenc = _leaf(
            "tenc", b"\x01\0\0\0\0" + bytes([pattern]) + b"\x01\x00" + plan.kid + b"\x10" + plan.iv
        )
    schi = BoxNode("schi", -1, -1, b"", [tenc])
    return BoxNode("sinf", -1, -1, b"", [_leaf("frma", original.encode("latin-1")), schm, schi])


def _protect_moov(moov: BoxNode, plan: _Plan) -> None:
    for trak in moov.all("trak"):
        mdia = trak.child("mdia")
        hdlr = mdia.child("hdlr") if mdia else None
        handler = hdlr.head[8:12] if hdlr else b""
        minf = mdia.child("minf") if mdia else None
        stbl = minf.child("stbl") if minf else None
        stsd = stbl.child("stsd") if stbl else None
        if stsd is None or handler not in (b"vide", b"soun"):
            continue
        for entry in stsd.children or []:
            if entry.children is None:
                raise UnsupportedKeySystem(f"cannot protect sample entry {entry.type!r}")
            if entry.type in ("encv", "enca"):
                raise UnsupportedKeySystem("the input is already encrypted")
            original = entry.type
            entry.type = "encv" if handler == b"vide" else "enca"
            entry.children.append(_sinf(original, plan, handler == b"vide"))
    kid = (plan.kid.hex(),)
    pssh = [build_pssh(COMMON_SYSTEM_ID, key_ids=kid), build_pssh(CLEARKEY_SYSTEM_ID, key_ids=kid)]
    moov.children = (moov.children or []) + [_leaf("pssh", p[8:]) for p in pssh]


def _is_slice(header: int, is_hevc: bool) -> bool:
    """Whether a NAL unit header byte starts a coded slice (VCL), AVC or HEVC typing."""
    if is_hevc:
        return (header >> 1) & 0x3F < 32
    return 1 <= header & 0x1F <= 5


def _nal_subsamples(sample: bytes, length_size: int, *, is_hevc: bool) -> list[tuple[int, int]]:
    """Return (clear, protected) pairs covering ``sample``; protected parts are block multiples."""
    pairs: list[tuple[int, int]] = []
    pos, clear = 0, 0
    while pos < len(sample):
        if pos + length_size > len(sample):
            clear += len(sample) - pos
            break
        size = int.from_bytes(sample[pos : pos + length_size], "big")
        is_slice = size > 0 and _is_slice(sample[pos + length_size], is_hevc)
        body = min(size, len(sample) - pos - length_size)
        protected = 0
        if is_slice and body > _CLEAR_LEAD + 16:
            protected = ((body - _CLEAR_LEAD) // 16) * 16
        clear += length_size + body - protected
        if protected:
            while clear > _MAX_CLEAR:
                pairs.append((_MAX_CLEAR, 0))
                clear -= _MAX_CLEAR
            pairs.append((clear, protected))
            clear = 0
        pos += length_size + body
    while clear > 0:
        pairs.append((min(clear, _MAX_CLEAR), 0))
        clear -= min(clear, _MAX_CLEAR)
    return pairs


def _encrypt_pattern(
    out: bytearray, span: tuple[int, int], plan: _Plan, pattern: tuple[int, int]
) -> None:
    """CBC-encrypt ``crypt`` of every ``crypt + skip`` full blocks of one range (IV reset)."""
    view = memoryview(out)
    start, length = span
    crypt, skip = pattern
    full = length // 16
    cipher = AES.new(plan.key, AES.MODE_CBC, iv=plan.iv)
    if skip == 0:
        view[start : start + 16 * full] = cipher.encrypt(bytes(view[start : start + 16 * full]))
        return
    for block in range(0, full, crypt + skip):
        a = start + 16 * block
        b = a + 16 * min(crypt, full - block)
        view[a:b] = cipher.encrypt(bytes(view[a:b]))


def _encrypt_sample(
    out: bytearray, sample: FragmentSample, entry: _AuxEntry, plan: _Plan, is_video: bool
) -> None:
    iv, subs = entry
    ranges: list[tuple[int, int]] = []
    if subs is None:
        ranges = [(sample.offset, sample.size)]
    else:
        pos = sample.offset
        for clear, protected in subs:
            pos += clear
            if protected:
                ranges.append((pos, protected))
            pos += protected
    if plan.scheme == "cenc":
        cipher = AES.new(plan.key, AES.MODE_CTR, nonce=b"", initial_value=iv.ljust(16, b"\0"))
        view = memoryview(out)
        for start, length in ranges:
            view[start : start + length] = cipher.encrypt(bytes(view[start : start + length]))
        return
    for span in ranges:
        _encrypt_pattern(out, span, plan, _VIDEO_PATTERN if is_video else (1, 0))


def _aux_boxes(entries: _AuxEntries) -> tuple[BoxNode, BoxNode, BoxNode]:
    has_subs = any(subs is not None for _, subs in entries)
    records = []
    for iv, subs in entries:
        record = iv
        if has_subs:
            items = subs or []
            record += struct.pack(">H", len(items)) + b"".join(
                struct.pack(">HI", c, p) for c, p in items
            )
        records.append(record)
    senc = _leaf(
        "senc",
        struct.pack(">I", 2 if has_subs else 0)
        + struct.pack(">I", len(records))
        + b"".join(records),
    )
    sizes = {len(r) for r in records}
    if len(sizes) == 1 and max(sizes) < 256:
        saiz_body = bytes(4) + bytes([sizes.pop()]) + struct.pack(">I", len(records))
    else:
        if max(sizes) > 255:
            raise DecryptionError("sample auxiliary info larger than 255 bytes")
        saiz_body = (
            bytes(4) + b"\0" + struct.pack(">I", len(records)) + bytes(len(r) for r in records)
        )
    saiz = _leaf("saiz", saiz_body)
    saio = _leaf("saio", bytes(4) + struct.pack(">II", 1, 0))
    return senc, saiz, saio


def _nal_tracks(data: bytes) -> dict[int, tuple[bool, int]]:
    """Track id -> (is HEVC, NAL length size) for AVC/HEVC tracks."""
    tracks: dict[int, tuple[bool, int]] = {}
    moov = next((b for b in iter_boxes(data) if b.type == "moov"), None)
    for trak in read_box_tree(data, moov).all("trak") if moov else []:
        tkhd = trak.child("tkhd")
        mdia = trak.child("mdia")
        minf = mdia.child("minf") if mdia else None
        stbl = minf.child("stbl") if minf else None
        stsd = stbl.child("stsd") if stbl else None
        if tkhd is None or stsd is None or not stsd.children:
            continue
        entry = stsd.children[0]
        config = entry.child("hvcC") or entry.child("avcC")
        if entry.type not in _NAL_VIDEO or config is None or len(config.head) < 23:
            continue
        is_hevc = config.type == "hvcC"
        length_size = (config.head[21 if is_hevc else 4] & 3) + 1
        track_id = struct.unpack_from(">I", tkhd.head, 20 if tkhd.head[0] == 1 else 12)[0]
        tracks[track_id] = (is_hevc, length_size)
    return tracks


class _IvSource:
    """Per-sample ``cenc`` IVs: 8 bytes, +1 per sample; or 16 bytes continuing the counter.

    With 16-byte IVs each track starts 2**96 blocks apart, and a sample's IV is where the
    previous sample of its track left the counter, so no counter value is ever reused.
    """

    def __init__(self, plan: _Plan) -> None:
        self._plan = plan
        self._counter = int.from_bytes(plan.iv, "big")
        self._tracks: dict[int, int] = {}

    def next(self, sample: FragmentSample, subs: list[tuple[int, int]] | None) -> bytes:
        if self._plan.scheme != "cenc":
            return b""
        if len(self._plan.iv) == 8:
            self._counter += 1
            return ((self._counter - 1) % (1 << 64)).to_bytes(8, "big")
        track = self._tracks.setdefault(sample.track_id, self._counter + (len(self._tracks) << 96))
        protected = sample.size if subs is None else sum(p for _, p in subs)
        self._tracks[sample.track_id] = track + -(-protected // 16)
        return (track % (1 << 128)).to_bytes(16, "big")


def _protect_fragments(
    data: bytes, out: bytearray, info: InitInfo, plan: _Plan
) -> dict[int, dict[int, _AuxEntries]]:
    """Encrypt samples in ``out``; return per moof start the aux entries of each track."""
    video_tracks = {tid for tid, track in info.tracks.items() if track.handler == "vide"}
    nal_tracks = _nal_tracks(data)
    ivs = _IvSource(plan)
    aux: dict[int, dict[int, _AuxEntries]] = {}
    for moof, samples in iter_fragment_samples(data, info):
        per_traf: dict[int, _AuxEntries] = {}
        for sample in samples:
            track = info.tracks.get(sample.track_id)
            if track is None or track.handler not in ("vide", "soun"):
                continue
            is_video = sample.track_id in video_tracks
            subs = None
            if sample.track_id in nal_tracks:
                is_hevc, length_size = nal_tracks[sample.track_id]
                sample_bytes = data[sample.offset : sample.offset + sample.size]
                subs = _nal_subsamples(sample_bytes, length_size, is_hevc=is_hevc)
            iv = ivs.next(sample, subs)
            _encrypt_sample(out, sample, (iv, subs), plan, is_video)
            per_traf.setdefault(sample.track_id, []).append((iv, subs))
        aux[moof.start] = per_traf
    return aux


def _add_aux(moof: BoxNode, entries: dict[int, _AuxEntries]) -> None:
    for traf in moof.all("traf"):
        tfhd = traf.child("tfhd")
        if tfhd is None or len(tfhd.head) < 8:
            raise DecryptionError("traf without tfhd")
        if tfhd.head[3] & 0x1:
            raise UnsupportedKeySystem("the packager needs moof-relative data offsets")
        track_entries = entries.get(struct.unpack_from(">I", tfhd.head, 4)[0])
        if track_entries:
            traf.children = (traf.children or []) + list(_aux_boxes(track_entries))


def _fix_saio(moof: BoxNode) -> None:
    """Point each saio at its senc's first IV (moof-relative), after sizes are final."""
    pos = 8 + len(moof.head)
    for child in moof.children or []:
        if child.type != "traf":
            pos += len(child.serialize())
            continue
        inner = pos + 8 + len(child.head)
        senc_data = None
        for sub in child.children or []:
            if sub.type == "senc":
                senc_data = inner + 8 + 8
            inner += len(sub.serialize())
        for sub in child.children or []:
            if sub.type == "saio" and senc_data is not None:
                sub.head = sub.head[:8] + struct.pack(">I", senc_data)
        pos += len(child.serialize())


def package_mp4(
    data: bytes,
    *,
    key_id: str,
    key: bytes,
    scheme: str = "cenc",
    iv: bytes | None = None,
    iv_size: int = 8,
) -> bytes:
    """Encrypt a clear fragmented MP4 file (``moov`` + ``moof``/``mdat`` pairs).

    Args:
        data: The clear file, e.g. from PyAV's mp4 muxer with
            ``movflags=frag_keyframe+empty_moov+default_base_moof``.
        key_id: The KID written to ``tenc`` and ``pssh`` (hex or UUID form).
        key: The 16-byte content key.
        scheme: ``cenc`` or ``cbcs``.
        iv: ``cenc``: the first IV, ``iv_size`` bytes; ``cbcs``: the 16-byte constant IV.
            Random when ``None``.
        iv_size: ``cenc`` only: 8 (IV + 1 per sample) or 16 (each sample's IV continues
            the previous sample's counter, so a decryptor can keep one cipher running).

    Returns:
        The encrypted file with ``tenc``, ``senc``, ``saiz``, ``saio`` and ``pssh`` boxes.

    Raises:
        UnsupportedKeySystem: Unknown scheme, or input already encrypted.
        BoxError: The input is malformed.
    """
    if scheme not in ("cenc", "cbcs"):
        raise UnsupportedKeySystem(f"the packager writes cenc or cbcs, not {scheme!r}")
    if len(key) != 16:
        raise DecryptionError("content key must be 16 bytes")
    if iv_size not in (8, 16):
        raise DecryptionError("cenc IV size must be 8 or 16 bytes")
    size = iv_size if scheme == "cenc" else 16
    plan = _Plan(scheme, bytes.fromhex(normalize_kid(key_id)), bytes(key), iv or os.urandom(size))
    if len(plan.iv) != size:
        raise DecryptionError(f"{scheme} IV must be {size} bytes")
    data = bytes(data)
    info = parse_init(data)
    out = bytearray(data)
    aux = _protect_fragments(data, out, info, plan)
    return _assemble(data, out, aux, plan)


def _assemble(
    data: bytes, out: bytearray, aux: dict[int, dict[int, _AuxEntries]], plan: _Plan
) -> bytes:
    """Rewrite moov/moof with protection boxes around the encrypted samples in ``out``."""
    boxes = list(iter_boxes(data))
    trees: dict[int, BoxNode] = {}
    table: list[tuple[int, int]] = []
    for box in boxes:
        if box.type not in ("moov", "moof"):
            continue
        tree = read_box_tree(data, box)
        if box.type == "moov":
            _protect_moov(tree, plan)
        else:
            _add_aux(tree, aux.get(box.start, {}))
        trees[box.start] = tree
        table.append((box.end, box.size - len(tree.serialize())))
    shifts = _Shifts([(end, delta) for end, delta in table if delta])
    parts: list[bytes] = []
    for box in boxes:
        if box.start in trees:
            tree = trees[box.start]
            if box.type == "moof":
                for traf in tree.all("traf"):
                    _patch_traf(traf, box.start, shifts)
                _fix_saio(tree)
            parts.append(tree.serialize())
        elif box.type == "sidx":
            parts.append(_patch_sidx(data, box, shifts))
        else:
            parts.append(bytes(out[box.start : box.end]))
    return b"".join(parts)
