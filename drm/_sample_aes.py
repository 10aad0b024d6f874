"""Apple HLS ``SAMPLE-AES`` on elementary streams: H.264 NAL units, AAC ADTS, AC-3 and E-AC-3.

The rules of Apple's "MPEG-2 Stream Encryption Format for HTTP Live Streaming", all AES-128-CBC
with the IV reset at the start of every NAL unit or audio frame:

- H.264: only slice NAL units (types 1 and 5) longer than 48 bytes are encrypted. The first
  32 bytes stay clear; then one 16-byte block is encrypted while more than 16 bytes remain,
  followed by up to 144 clear bytes (one block in ten), so the last 16 bytes or fewer are
  always clear. Encryption applies to the NAL unit as it is stored (emulation prevention
  included), and emulation prevention is applied again over the encrypted NAL unit. So the
  decryptor removes one level of emulation prevention, decrypts, and keeps the result as it
  is: it already holds the original emulation-prevention bytes.
- AAC (ADTS): the 7- or 9-byte header and the next 16 bytes stay clear; every further full
  16-byte block is encrypted (a block is encrypted when exactly 16 bytes remain); a partial
  tail stays clear.
- AC-3 and E-AC-3: the same as AAC with no header: the first 16 bytes of each syncframe
  stay clear, then every full block is encrypted.

Everything here is sans-I/O and works on one PES payload at a time.
"""

from __future__ import annotations

import re

import numpy as np
from Crypto.Cipher import AES

from drm.errors import DecryptionError

__all__: list[str] = []

_BLOCK = 16
_NAL_LEADER = 32
_NAL_MIN_ENCRYPTED = 49
_NAL_PERIOD = 160
_AUDIO_LEADER = 16
_START = re.compile(b"\x00\x00\x01")
_EPB = re.compile(b"\x00\x00\x03")
_AC3_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 576, 640)


def cbc_blocks(key: bytes, iv: bytes, data: bytearray, offsets: list[int]) -> None:
    """Decrypt, in place, the 16-byte blocks of ``data`` at ``offsets`` as one CBC chain."""
    if not offsets:
        return
    buf = np.frombuffer(data, dtype=np.uint8)
    index = np.asarray(offsets, dtype=np.int64)[:, None] + np.arange(_BLOCK)
    plain = AES.new(key, AES.MODE_CBC, iv=iv).decrypt(buf[index].tobytes())
    buf[index] = np.frombuffer(plain, np.uint8).reshape(-1, _BLOCK)


def decrypt_nal(nal: bytes, key: bytes, iv: bytes) -> bytes:
    """Return one H.264 NAL unit (header byte first, no start code) decrypted.

    Args:
        nal: The NAL unit as carried in the stream.
        key: The 16-byte key.
        iv: The 16-byte IV.

    Returns:
        The clear NAL unit; NAL units that are never encrypted come back unchanged.
    """
    if len(nal) < _NAL_MIN_ENCRYPTED or (nal[0] & 0x1F) not in (1, 5):
        return nal
    raw = bytearray(_EPB.sub(b"\x00\x00", nal))
    cbc_blocks(key, iv, raw, list(range(_NAL_LEADER, len(raw) - _BLOCK, _NAL_PERIOD)))
    return bytes(raw)


def decrypt_h264(es: bytes, key: bytes, iv: bytes) -> bytes:
    """Decrypt an Annex B H.264 elementary stream (one PES payload).

    Args:
        es: Start-code delimited NAL units.
        key: The 16-byte key.
        iv: The 16-byte IV.

    Returns:
        The clear elementary stream (it may be shorter: emulation prevention is undone once).
    """
    starts = [m.end() for m in _START.finditer(es)]
    if not starts:
        return es
    parts = [es[: starts[0]]]
    for i, start in enumerate(starts):
        is_last = i + 1 == len(starts)
        end = len(es) if is_last else starts[i + 1] - 3
        nal = es[start:end]
        # Zero bytes before the next start code belong to it (a 4-byte start code) or are
        # trailing_zero_8bits: never part of the NAL unit.
        body = nal if is_last else nal.rstrip(b"\x00")
        parts.append(decrypt_nal(body, key, iv) + nal[len(body) :])
        if not is_last:
            parts.append(b"\x00\x00\x01")
    return b"".join(parts)


def _audio_frame(out: bytearray, pos: int, start: int, end: int, key: bytes, iv: bytes) -> None:
    """Decrypt one audio frame ``out[pos:end]`` whose clear leader starts at ``start``."""
    first = start + _AUDIO_LEADER
    cbc_blocks(key, iv, out, list(range(first, end - _BLOCK + 1, _BLOCK)))


def decrypt_adts(es: bytes, key: bytes, iv: bytes) -> bytes:
    """Decrypt the AAC ADTS frames of one PES payload.

    Args:
        es: Back-to-back ADTS frames.
        key: The 16-byte key.
        iv: The 16-byte IV.

    Returns:
        The clear frames (same length).

    Raises:
        DecryptionError: A frame header is not ADTS or its length overruns the payload.
    """
    out = bytearray(es)
    pos = 0
    while pos + 7 <= len(out):  # fewer bytes cannot be a frame: left as they are
        if out[pos] != 0xFF or out[pos + 1] & 0xF6 != 0xF0:
            raise DecryptionError(f"ADTS sync lost at byte {pos} of a PES payload")
        header = 7 if out[pos + 1] & 1 else 9
        length = ((out[pos + 3] & 3) << 11) | (out[pos + 4] << 3) | (out[pos + 5] >> 5)
        if length < header or pos + length > len(out):
            raise DecryptionError(f"ADTS frame length {length} at byte {pos} is invalid")
        _audio_frame(out, pos, pos + header, pos + length, key, iv)
        pos += length
    return bytes(out)


def ac3_frame_size(data: bytes | bytearray, pos: int) -> int:
    """Return the size in bytes of the AC-3 or E-AC-3 syncframe at ``pos``.

    Args:
        data: The elementary stream.
        pos: Offset of the syncword ``0x0B77``.

    Returns:
        The frame size.

    Raises:
        DecryptionError: No syncword there, or a reserved rate code.

    >>> ac3_frame_size(bytes.fromhex("0b77000014") + bytes([8 << 3]), 0)  # 192 kbit/s at 48 kHz
    768
    """
    if pos + 6 > len(data) or data[pos] != 0x0B or data[pos + 1] != 0x77:
        raise DecryptionError(f"AC-3 sync lost at byte {pos} of a PES payload")
    if data[pos + 5] >> 3 > 10:  # E-AC-3: frmsiz counts 16-bit words minus one
        return ((((data[pos + 2] & 7) << 8) | data[pos + 3]) + 1) * 2
    fscod, code = data[pos + 4] >> 6, data[pos + 4] & 0x3F
    if fscod == 3 or code >> 1 >= len(_AC3_KBPS):
        raise DecryptionError(f"AC-3 frame at byte {pos} has a reserved rate code")
    kbps = _AC3_KBPS[code >> 1]
    words = (2 * kbps, kbps * 320 // 147 + (code & 1), 3 * kbps)[fscod]
    return 2 * words


def decrypt_ac3(es: bytes, key: bytes, iv: bytes) -> bytes:
    """Decrypt the AC-3 or E-AC-3 syncframes of one PES payload.

    Args:
        es: Back-to-back syncframes.
        key: The 16-byte key.
        iv: The 16-byte IV.

    Returns:
        The clear frames (same length).

    Raises:
        DecryptionError: A frame does not start with a syncword or overruns the payload.
    """
    out = bytearray(es)
    pos = 0
    while pos < len(out):
        size = ac3_frame_size(out, pos)
        if size < 6 or pos + size > len(out):
            raise DecryptionError(f"AC-3 frame of {size} bytes at byte {pos} is invalid")
        _audio_frame(out, pos, pos, pos + size, key, iv)
        pos += size
    return bytes(out)
