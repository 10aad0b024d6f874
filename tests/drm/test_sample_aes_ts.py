"""HLS SAMPLE-AES MPEG-TS (shaka-packager corpus set) and the H.264 emulation-prevention path."""

from __future__ import annotations

import io
import os
import re

import av
import av.logging
import pytest
from Crypto.Cipher import AES
from drm_helpers import MEDIA

from drm import DecryptionError, decrypt_sample_aes_ts, hls_iv_from_hex
from drm._ts import _decrypt_h264

FOLDER = MEDIA / "shaka-packager" / "hls-ts-sample-aes"
KEY = bytes.fromhex("32333435363738393021323334353637")


def _playlist_iv() -> bytes:
    text = (FOLDER / "bear-640x360-video.m3u8").read_text()
    match = re.search(r"METHOD=SAMPLE-AES,.*IV=(0x[0-9A-Fa-f]+)", text)
    assert match is not None
    return hls_iv_from_hex(match.group(1))


def _decode(data: bytes, kind: str) -> tuple[int, int]:
    """Return (frames, decoder error lines); a rejected packet counts as one error."""
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture() as logs:
            with av.open(io.BytesIO(data), format="mpegts") as container:
                stream = (
                    container.streams.video[0] if kind == "video" else container.streams.audio[0]
                )
                frames = 0
                try:
                    for _ in container.decode(stream):
                        frames += 1
                except av.error.InvalidDataError:
                    return frames, len(logs) + 1
    finally:
        av.logging.set_level(None)
    return frames, len(logs)


@pytest.mark.parametrize(
    ("name", "kind", "frames"),
    [
        ("video-2", "video", 30),
        ("video-3", "video", 22),
        ("audio-2", "audio", 43),
        ("audio-3", "audio", 34),
    ],
)
def test_corpus_segments_decode_cleanly(name: str, kind: str, frames: int) -> None:
    data = (FOLDER / f"bear-640x360-{name}.ts").read_bytes()
    assert _decode(data, kind)[1] > 0
    clear = decrypt_sample_aes_ts(data, KEY, _playlist_iv())
    assert len(clear) % 188 == 0
    assert _decode(clear, kind) == (frames, 0)
    assert _decode(decrypt_sample_aes_ts(data, bytes(16), _playlist_iv()), kind)[1] > 0


def test_pmt_stream_types_become_clear() -> None:
    data = (FOLDER / "bear-640x360-video-2.ts").read_bytes()
    clear = decrypt_sample_aes_ts(data, KEY, _playlist_iv())
    with av.open(io.BytesIO(clear), format="mpegts") as container:
        assert container.streams.video[0].codec_context.name == "h264"
    assert b"\x1b\xe0\x50" in clear[: 188 * 3] and b"\xdb\xe0\x50" in data[: 188 * 3]


def _encrypt_nal(nal: bytes, key: bytes, iv: bytes) -> bytes:
    """Apple's SAMPLE-AES NAL encryption followed by emulation prevention (test reference)."""
    raw = bytearray(nal)
    offsets = list(range(32, len(raw) - 15, 160))
    cipher = AES.new(key, AES.MODE_CBC, iv=iv)
    for at in offsets:
        raw[at : at + 16] = cipher.encrypt(bytes(raw[at : at + 16]))
    return re.sub(b"\x00\x00(?=[\x00-\x03])", b"\x00\x00\x03", bytes(raw))


def test_emulation_prevention_round_trip() -> None:
    key, iv = os.urandom(16), os.urandom(16)
    body = bytes([0x65]) + os.urandom(300) + bytes(40) + os.urandom(200)
    clear_nal = re.sub(b"\x00\x00(?=[\x00-\x03])", b"\x00\x00\x03", body)
    stream = b"\x00\x00\x00\x01\x09\xf0" + b"\x00\x00\x00\x01" + _encrypt_nal(body, key, iv)
    assert _decrypt_h264(stream, key, iv) == b"\x00\x00\x00\x01\x09\xf0\x00\x00\x00\x01" + clear_nal


def test_not_ts_is_refused() -> None:
    with pytest.raises(DecryptionError, match="MPEG-TS"):
        decrypt_sample_aes_ts(b"\x47" + bytes(100), KEY, bytes(16))
    with pytest.raises(DecryptionError, match="16-byte"):
        decrypt_sample_aes_ts(b"", KEY, bytes(8))
    with pytest.raises(DecryptionError):
        hls_iv_from_hex("0xZZ")
