"""HLS ``METHOD=SAMPLE-AES`` for MPEG-TS: H.264 NAL units and AAC ADTS frames (sans-I/O).

Apple's sample encryption keeps a 32-byte clear leader in each H.264 slice NAL unit
longer than 48 bytes and encrypts one 16-byte block in ten (AES-128-CBC, the IV reset
per NAL unit), with emulation prevention applied over the encrypted NAL unit; AAC
frames keep the ADTS header and 16 bytes clear and encrypt the remaining full blocks.
The decrypted stream is repacketised (stuffing, continuity counters) and the PMT's
SAMPLE-AES stream types are mapped back to the clear ones.
"""

from __future__ import annotations

import re

import numpy as np
from Crypto.Cipher import AES

from drm.errors import DecryptionError

__all__ = ["decrypt_sample_aes_ts"]

_PACKET = 188
_H264 = {0xDB: 0x1B, 0x1B: 0x1B}
_AAC = {0xCF: 0x0F, 0x0F: 0x0F}
_START = re.compile(b"\x00\x00\x01")
_EPB = re.compile(b"\x00\x00\x03")
_NEEDS_EPB = re.compile(b"\x00\x00(?=[\x00-\x03])")


def _crc32_mpeg(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _payload_bounds(packet: bytes | bytearray, index: int) -> tuple[int, int]:
    control = (packet[3] >> 4) & 3
    start = 4
    if control & 2:
        start = 5 + packet[4]
    if not control & 1 or start > _PACKET:
        return _PACKET, _PACKET
    if start > _PACKET:
        raise DecryptionError(f"adaptation field overruns TS packet {index}")
    return start, _PACKET


def _cbc_blocks(key: bytes, iv: bytes, data: bytearray, offsets: list[int]) -> None:
    """Decrypt the 16-byte blocks of ``data`` at ``offsets`` as one CBC chain."""
    if not offsets:
        return
    buf = np.frombuffer(data, dtype=np.uint8)
    index = np.asarray(offsets, dtype=np.int64)[:, None] + np.arange(16)
    blocks = buf[index]
    plain = np.frombuffer(AES.new(key, AES.MODE_CBC, iv=iv).decrypt(blocks.tobytes()), np.uint8)
    buf[index] = plain.reshape(-1, 16)


def _decrypt_nal(nal: bytes, key: bytes, iv: bytes) -> bytes:
    if len(nal) <= 48 or (nal[0] & 0x1F) not in (1, 5):
        return nal
    raw = bytearray(_EPB.sub(b"\x00\x00", nal))
    offsets = list(range(32, len(raw) - 15, 160))
    _cbc_blocks(key, iv, raw, offsets)
    return _NEEDS_EPB.sub(b"\x00\x00\x03", bytes(raw))


def _decrypt_h264(es: bytes, key: bytes, iv: bytes) -> bytes:
    starts = [m.end() for m in _START.finditer(es)]
    if not starts:
        return es
    parts = [es[: starts[0]]]
    for i, start in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(es)
        nal = es[start:end]
        trailing = len(nal) - len(nal.rstrip(b"\x00"))  # zero bytes of a 4-byte start code
        body = nal[: len(nal) - trailing] if i + 1 < len(starts) else nal
        parts.append(_decrypt_nal(body, key, iv) + nal[len(body) :])
        if i + 1 < len(starts):
            parts.append(b"\x00\x00\x01")
    return b"".join(parts)


def _decrypt_adts(es: bytes, key: bytes, iv: bytes) -> bytes:
    out = bytearray(es)
    pos = 0
    while pos + 7 <= len(out):
        if out[pos] != 0xFF or out[pos + 1] & 0xF0 != 0xF0:
            raise DecryptionError(f"ADTS sync lost at byte {pos} of a PES payload")
        header = 7 if out[pos + 1] & 1 else 9
        length = ((out[pos + 3] & 3) << 11) | (out[pos + 4] << 3) | (out[pos + 5] >> 5)
        if length < header or pos + length > len(out):
            raise DecryptionError(f"ADTS frame length {length} at byte {pos} is invalid")
        first = pos + header + 16
        _cbc_blocks(key, iv, out, list(range(first, pos + length - 15, 16)))
        pos += length
    return bytes(out)


def _section_start(packet: bytearray) -> int:
    """Offset of the PSI section in a packet that starts one (after the pointer field)."""
    start, _ = _payload_bounds(packet, 0)
    if start >= _PACKET:
        raise DecryptionError("PSI packet without payload")
    sec = start + 1 + packet[start]
    if sec + 12 > _PACKET:
        raise DecryptionError("PSI section is truncated")
    return sec


def _stream_types(packets: list[bytearray]) -> tuple[dict[int, int], int | None]:
    pmt_pid = None
    for packet in packets:
        pid = ((packet[1] & 0x1F) << 8) | packet[2]
        if pid == 0 and packet[1] & 0x40:
            sec = _section_start(packet)
            pmt_pid = ((packet[sec + 10] & 0x1F) << 8) | packet[sec + 11]
            break
    types: dict[int, int] = {}
    for packet in packets:
        pid = ((packet[1] & 0x1F) << 8) | packet[2]
        if pid == pmt_pid and packet[1] & 0x40:
            types = _rewrite_pmt(packet)
            break
    return types, pmt_pid


def _rewrite_pmt(packet: bytearray) -> dict[int, int]:
    """Map SAMPLE-AES stream types to clear ones in place; return ``{pid: stream_type}``."""
    sec = _section_start(packet)
    length = ((packet[sec + 1] & 0x0F) << 8) | packet[sec + 2]
    end = sec + 3 + length - 4
    if end + 4 > _PACKET or end < sec:
        raise DecryptionError("PMT section spans packets or is truncated")
    pos = sec + 12 + (((packet[sec + 10] & 0x0F) << 8) | packet[sec + 11])
    types: dict[int, int] = {}
    while pos + 5 <= end and pos + 5 <= _PACKET:
        kind = packet[pos]
        pid = ((packet[pos + 1] & 0x1F) << 8) | packet[pos + 2]
        types[pid] = kind
        packet[pos] = {**_H264, **_AAC}.get(kind, kind)
        pos += 5 + (((packet[pos + 3] & 0x0F) << 8) | packet[pos + 4])
    packet[end : end + 4] = _crc32_mpeg(bytes(packet[sec:end])).to_bytes(4, "big")
    return types


def _pes_es(pes: bytes) -> tuple[bytes, bytes]:
    if len(pes) < 9 or pes[:3] != b"\x00\x00\x01":
        raise DecryptionError("PES packet without a start code")
    header = 9 + pes[8]
    return pes[:header], pes[header:]


def _packetize(template: list[bytearray], pes: bytes) -> list[bytearray]:
    """Lay ``pes`` over the packets it came from (keeping their adaptation fields)."""
    out: list[bytearray] = []
    pos = 0
    for i, old in enumerate(template + [template[-1]] * (len(pes) // 170 + 1)):
        if pos >= len(pes):
            break
        head = bytearray(old[:4])
        head[1] = (head[1] & ~0x40) | (0x40 if i == 0 else 0)
        af = b""
        if old[3] & 0x20 and i < len(template):
            af = bytes(old[4 : 5 + old[4]])
        room = _PACKET - 4 - len(af)
        chunk = pes[pos : pos + room]
        pos += len(chunk)
        need = room - len(chunk)
        if need and len(af) == 1:  # an empty adaptation field: rebuild it with flags
            af, need = b"", need + 1
        if need:
            if af:
                af = bytes([af[0] + need]) + af[1:] + b"\xff" * need
            else:
                af = b"\x00" if need == 1 else bytes([need - 1, 0]) + b"\xff" * (need - 2)
        head[3] = (head[3] & 0xCF) | (0x30 if af else 0x10)
        out.append(head + af + chunk)
    return out


def _pes_groups(packets: list[bytearray], types: dict[int, int]) -> dict[int, list[list[int]]]:
    """Packet indices of each PES packet, per elementary stream PID."""
    groups: dict[int, list[list[int]]] = {}
    for index, packet in enumerate(packets):
        pid = ((packet[1] & 0x1F) << 8) | packet[2]
        if pid in types and (packet[3] >> 4) & 1:
            if packet[1] & 0x40 or not groups.get(pid):
                groups.setdefault(pid, []).append([])
            groups[pid][-1].append(index)
    return groups


def _decrypt_pes(
    packets: list[bytearray], indices: list[int], kind: int, key: bytes, iv: bytes
) -> list[bytearray]:
    pes = b"".join(bytes(packets[i][slice(*_payload_bounds(packets[i], i))]) for i in indices)
    head, es = _pes_es(pes)
    if kind == 0xDB:
        es = _decrypt_h264(es, key, iv)
    elif kind == 0xCF:
        es = _decrypt_adts(es, key, iv)
    header = bytearray(head)
    if header[4] or header[5]:
        size = len(header) - 6 + len(es)
        header[4:6] = (size if size <= 0xFFFF else 0).to_bytes(2, "big")
    return _packetize([packets[i] for i in indices], bytes(header) + es)


def decrypt_sample_aes_ts(data: bytes, key: bytes, iv: bytes) -> bytes:
    """Decrypt an HLS ``SAMPLE-AES`` MPEG-TS segment.

    Args:
        data: The segment (188-byte packets).
        key: The 16-byte AES key.
        iv: The 16-byte IV (see :func:`drm.hls_iv_from_hex` for the tag's value).

    Returns:
        A clear MPEG-TS segment with clear stream types in the PMT.

    Raises:
        DecryptionError: The segment is not well-formed MPEG-TS or a sample is malformed.
    """
    if len(key) != 16 or len(iv) != 16:
        raise DecryptionError("SAMPLE-AES needs a 16-byte key and a 16-byte IV")
    if len(data) % _PACKET or any(data[i] != 0x47 for i in range(0, len(data), _PACKET)):
        raise DecryptionError("not MPEG-TS: packets are not 188 bytes with sync byte 0x47")
    packets = [bytearray(data[i : i + _PACKET]) for i in range(0, len(data), _PACKET)]
    types, _ = _stream_types(packets)
    groups = _pes_groups(packets, types)
    replaced: dict[int, list[bytearray]] = {}
    for pid, pes_list in groups.items():
        for indices in pes_list:
            replaced[indices[0]] = _decrypt_pes(packets, indices, types[pid], key, iv)
            replaced.update((i, []) for i in indices[1:])
    out: list[bytes] = []
    counters: dict[int, int] = {}
    for index, packet in enumerate(packets):
        for item in replaced.get(index, [packet]):
            pid = ((item[1] & 0x1F) << 8) | item[2]
            if pid in groups and (item[3] >> 4) & 1:
                item[3] = (item[3] & 0xF0) | counters.get(pid, item[3] & 0x0F)
                counters[pid] = ((item[3] & 0x0F) + 1) & 0x0F
            out.append(bytes(item))
    return b"".join(out)
