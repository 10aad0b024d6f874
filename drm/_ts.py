"""HLS ``METHOD=SAMPLE-AES`` for MPEG-TS: the transport-stream layer (sans-I/O).

Each PES packet of a SAMPLE-AES stream (H.264, AAC ADTS, AC-3, E-AC-3) is reassembled,
its payload decrypted by ``drm._sample_aes``, and laid back over the packets it came from
(stuffing, continuity counters); the PMT's SAMPLE-AES stream types are mapped back to the
clear ones.
"""

from __future__ import annotations

from drm._sample_aes import decrypt_ac3, decrypt_adts, decrypt_h264
from drm.errors import DecryptionError

__all__ = ["decrypt_sample_aes_ts"]

_PACKET = 188
# SAMPLE-AES stream type -> clear stream type (clear types map to themselves).
_CLEAR_TYPES = {0xDB: 0x1B, 0xCF: 0x0F, 0xC1: 0x81, 0xC2: 0x87}
_CLEAR_TYPES.update({clear: clear for clear in list(_CLEAR_TYPES.values())})
_DECRYPTERS = {0xDB: decrypt_h264, 0xCF: decrypt_adts, 0xC1: decrypt_ac3, 0xC2: decrypt_ac3}


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
    if start > _PACKET:
        raise DecryptionError(f"adaptation field overruns TS packet {index}")
    if not control & 1:
        return _PACKET, _PACKET
    return start, _PACKET


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
        packet[pos] = _CLEAR_TYPES.get(kind, kind)
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
    decrypt = _DECRYPTERS.get(kind)
    if decrypt is not None:
        es = decrypt(es, key, iv)
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
