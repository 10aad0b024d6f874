"""HLS SAMPLE-AES MPEG-TS against Shaka Packager, byte for byte with the clear packaging.

Shaka Packager packages one FFmpeg-made source twice at test time, clear and SAMPLE-AES
(raw key), and every decrypted PES payload must equal the clear one; decoding both gives the
same pictures and sound with 0 errors. The H.264 source is made so that its slices hit both
shapes that once went wrong (a NAL unit ending with exactly 16 bytes after its last pattern
period, and NAL units with emulation-prevention bytes), and the test checks that they occur.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.logging
import pytest
from Crypto.Cipher import AES
from drm_helpers import MEDIA
from foreign_tools import make_source, packager, run

from drm import DecryptionError, decrypt_sample_aes_ts, hls_iv_from_hex
from drm._sample_aes import ac3_frame_size, decrypt_h264

KID = "00112233445566778899aabbccddeeff"
KEY_HEX = "ffeeddccbbaa99887766554433221100"
KEY = bytes.fromhex(KEY_HEX)
# Slices of many sizes (slice-max-size) in CAVLC at a low QP on noise: long zero runs
# (emulation prevention) and every length modulo 160.
X264 = "-qp 3 -x264-params slice-max-size=500:cabac=0"


@dataclass(frozen=True)
class Packaged:
    clear: Path
    encrypted: Path
    streams: tuple[str, ...]


def _package(src: Path, out: Path, streams: tuple[str, ...], *, iv: str | None) -> None:
    out.mkdir()
    args = [packager()]
    for stream in streams:
        template = f"{stream}_$Number$.ts"
        args.append(
            f"in={src},stream={stream},segment_template={template},playlist_name={stream}.m3u8"
        )
    args += ["--hls_master_playlist_output", "main.m3u8", "--segment_duration", "1"]
    if out.name == "encrypted":
        args += ["--enable_raw_key_encryption", "--keys", f"label=:key_id={KID}:key={KEY_HEX}"]
        args += ["--protection_scheme", "cbcs", "--clear_lead", "0"]
        args += ["--iv", iv] if iv else []
    run(args, out)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Packaged]:
    root = tmp_path_factory.mktemp("sample-aes")
    sets: dict[str, Packaged] = {}
    plans = [
        ("h264-aac", X264, "aac", ("video", "audio"), None),  # a random 16-byte IV
        ("ac3", None, "ac3", ("audio",), "3334353637383930"),  # an 8-byte IV, as in the corpus
        ("eac3", None, "eac3", ("audio",), None),
    ]
    for name, video, audio, streams, iv in plans:
        folder = root / name
        folder.mkdir()
        src = make_source(folder, "source", video=video, audio=audio, seconds=2)
        for kind in ("clear", "encrypted"):
            _package(src, folder / kind, streams, iv=iv)
        sets[name] = Packaged(folder / "clear", folder / "encrypted", streams)
    return sets


def _playlist_iv(folder: Path, stream: str) -> bytes:
    text = (folder / f"{stream}.m3u8").read_text()
    match = re.search(r"METHOD=SAMPLE-AES,.*IV=(0x[0-9A-Fa-f]+)", text)
    assert match is not None
    return hls_iv_from_hex(match.group(1))


def _segments(packaged: Packaged, stream: str) -> Iterator[tuple[bytes, bytes, bytes]]:
    """(encrypted, clear, iv) per segment, in order."""
    names = sorted(p.name for p in packaged.clear.glob(f"{stream}_*.ts"))
    assert len(names) >= 2
    iv = _playlist_iv(packaged.encrypted, stream)
    for name in names:
        yield (packaged.encrypted / name).read_bytes(), (packaged.clear / name).read_bytes(), iv


def pes_payloads(ts: bytes) -> dict[int, list[bytes]]:
    """Elementary stream bytes of each PES packet, per PID (an independent, minimal demuxer)."""
    found: dict[int, list[bytearray]] = {}
    for at in range(0, len(ts), 188):
        packet = ts[at : at + 188]
        pid = ((packet[1] & 0x1F) << 8) | packet[2]
        control = packet[3] >> 4 & 3
        if pid < 0x30 or pid == 0x1FFF or not control & 1:
            continue
        start = 5 + packet[4] if control & 2 else 4
        if packet[1] & 0x40:
            found.setdefault(pid, []).append(bytearray())
        if pid in found:
            found[pid][-1] += packet[start:]
    return {
        pid: [bytes(pes[9 + pes[8] :]) for pes in items if pes[:3] == b"\x00\x00\x01"]
        for pid, items in found.items()
    }


def _slices(es: bytes) -> list[bytes]:
    nals = [nal.rstrip(b"\x00") for nal in re.split(b"\x00\x00\x01", es)[1:]]
    return [nal for nal in nals if len(nal) > 48 and nal[0] & 0x1F in (1, 5)]


def _decode(ts: bytes, kind: str) -> tuple[list[str], int]:
    """Per-frame hashes of the decoded pictures or samples, and decoder error lines."""
    av.logging.set_level(av.logging.ERROR)
    hashes: list[str] = []
    rejected = 0
    try:
        with av.logging.Capture() as logs:
            with av.open(io.BytesIO(ts), format="mpegts") as container:
                streams = container.streams.video if kind == "video" else container.streams.audio
                try:
                    for frame in container.decode(streams[0]):
                        hashes.append(hashlib.sha1(frame.to_ndarray().tobytes()).hexdigest())
                except av.error.FFmpegError:
                    rejected = 1  # a packet the decoder refused outright
    finally:
        av.logging.set_level(None)
    return hashes, rejected + len([line for line in logs if line[0] <= av.logging.ERROR])


@pytest.mark.parametrize(
    ("name", "stream"),
    [("h264-aac", "video"), ("h264-aac", "audio"), ("ac3", "audio"), ("eac3", "audio")],
)
def test_decrypted_elementary_streams_equal_the_clear_packaging(
    made: dict[str, Packaged], name: str, stream: str
) -> None:
    payloads = 0
    for encrypted, clear, iv in _segments(made[name], stream):
        want = pes_payloads(clear)
        got = pes_payloads(decrypt_sample_aes_ts(encrypted, KEY, iv))
        assert got.keys() == want.keys()
        for pid in want:
            assert len(got[pid]) == len(want[pid])
            assert [g == w for g, w in zip(got[pid], want[pid], strict=True)] == [True] * len(
                want[pid]
            )
            payloads += len(want[pid])
        assert pes_payloads(encrypted) != want  # it really was encrypted
    assert payloads >= 40


def test_h264_source_covers_the_nal_shapes_that_went_wrong(made: dict[str, Packaged]) -> None:
    slices = [
        nal
        for _, clear, _ in _segments(made["h264-aac"], "video")
        for payloads in pes_payloads(clear).values()
        for es in payloads
        for nal in _slices(es)
    ]
    assert len(slices) > 1000
    exactly_16_left = [nal for nal in slices if (len(nal) - 32) % 160 == 16]
    with_epb = [nal for nal in slices if b"\x00\x00\x03" in nal]
    assert len(exactly_16_left) >= 5 and len(with_epb) >= 5


@pytest.mark.parametrize(
    ("name", "stream", "kind"),
    [("h264-aac", "video", "video"), ("h264-aac", "audio", "audio"), ("ac3", "audio", "audio")],
)
def test_decoded_frames_match_the_clear_packaging(
    made: dict[str, Packaged], name: str, stream: str, kind: str
) -> None:
    frames = 0
    for encrypted, clear, iv in _segments(made[name], stream):
        want, clear_errors = _decode(clear, kind)
        got, errors = _decode(decrypt_sample_aes_ts(encrypted, KEY, iv), kind)
        assert (errors, clear_errors) == (0, 0)
        assert got == want
        frames += len(got)
        wrong, _ = _decode(decrypt_sample_aes_ts(encrypted, bytes(16), iv), kind)
        assert wrong != want
    # 2 s: 50 pictures, 93 AAC frames of 1024 samples, 62 AC-3 frames of 1536 samples
    assert frames >= {"video": 50, "audio": 90 if name == "h264-aac" else 62}[kind]


def test_pmt_stream_types_become_clear(made: dict[str, Packaged]) -> None:
    for name, stream, encrypted_type, clear_type in [
        ("h264-aac", "video", 0xDB, 0x1B),
        ("h264-aac", "audio", 0xCF, 0x0F),
        ("ac3", "audio", 0xC1, 0x81),
        ("eac3", "audio", 0xC2, 0x87),
    ]:
        encrypted, _, iv = next(_segments(made[name], stream))
        clear = decrypt_sample_aes_ts(encrypted, KEY, iv)
        assert bytes([encrypted_type, 0xE0, 0x50]) in encrypted[: 188 * 2]  # PID 0x50
        assert bytes([clear_type, 0xE0, 0x50]) in clear[: 188 * 2]


# --- the corpus set (Shaka Packager's own test data, 8-byte IV) -------------------------

FOLDER = MEDIA / "shaka-packager" / "hls-ts-sample-aes"
CORPUS_KEY = bytes.fromhex("32333435363738393021323334353637")


@pytest.mark.parametrize(
    ("name", "kind", "frames"),
    [("video-2", "video", 30), ("video-3", "video", 22), ("audio-2", "audio", 43)],
)
def test_corpus_segments_decode_cleanly(name: str, kind: str, frames: int) -> None:
    data = (FOLDER / f"bear-640x360-{name}.ts").read_bytes()
    iv = _playlist_iv(FOLDER, f"bear-640x360-{kind}")
    hashes, errors = _decode(decrypt_sample_aes_ts(data, CORPUS_KEY, iv), kind)
    assert (len(hashes), errors) == (frames, 0)
    left_padded = iv[8:] + iv[:8]  # the RFC 8216 reading of IV=0x3334353637383930
    assert _decode(decrypt_sample_aes_ts(data, CORPUS_KEY, left_padded), kind)[0] != hashes


# --- the rules on hand-made NAL units (a reference encryptor written from the spec) -----


def _escape(raw: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for byte in raw:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _encrypt_nal(stored: bytes, key: bytes, iv: bytes) -> bytes:
    """Apple's NAL encryption of a NAL unit as stored (escaped), then escaped again."""
    raw = bytearray(stored)
    cipher = AES.new(key, AES.MODE_CBC, iv=iv)
    at = 32
    while len(raw) - at > 16:
        raw[at : at + 16] = cipher.encrypt(bytes(raw[at : at + 16]))
        at += 160
    return _escape(bytes(raw))


@pytest.mark.parametrize("length", [49, 64, 65, 192, 208, 209, 352, 368, 369, 1000])
def test_nal_round_trip_at_every_tail_length(length: int) -> None:
    key, iv = os.urandom(16), os.urandom(16)
    body = bytes([0x65]) + os.urandom(length - 1)
    stored = _escape(body)[:length]  # already holds its own emulation prevention
    stored = stored[:-1] + b"\x80"
    encrypted = _encrypt_nal(stored, key, iv)
    stream = b"\x00\x00\x00\x01\x09\xf0\x00\x00\x00\x01" + encrypted
    assert decrypt_h264(stream, key, iv) == b"\x00\x00\x00\x01\x09\xf0\x00\x00\x00\x01" + stored


def test_emulation_prevention_in_the_clear_nal_is_kept_once() -> None:
    key, iv = os.urandom(16), os.urandom(16)
    filler = bytes((i * 7) % 251 + 1 for i in range(200))  # no zero bytes
    stored = bytes([0x41]) + filler[:40] + b"\x00\x00\x03\x01" + filler + b"\x80"
    assert _escape(stored) != stored  # escaping again would double the 0x03
    encrypted = _encrypt_nal(stored, key, iv)
    assert decrypt_h264(b"\x00\x00\x01" + encrypted, key, iv) == b"\x00\x00\x01" + stored


def test_short_and_non_slice_nal_units_stay_untouched() -> None:
    key, iv = os.urandom(16), os.urandom(16)
    sps = bytes([0x67]) + os.urandom(80)
    short = bytes([0x65]) + os.urandom(47)
    stream = b"\x00\x00\x01" + sps + b"\x00\x00\x01" + short
    assert decrypt_h264(stream, key, iv) == stream


def test_ac3_frame_sizes_follow_the_rate_tables() -> None:
    # 48 kHz / 192 kbit/s, 44.1 kHz / 32 kbit/s (odd code: +1 word), 32 kHz / 640 kbit/s
    assert ac3_frame_size(bytes.fromhex("0b77000014") + bytes([0x40]), 0) == 768
    assert ac3_frame_size(bytes.fromhex("0b77000041") + bytes([0x40]), 0) == 140
    assert ac3_frame_size(bytes.fromhex("0b770000a4") + bytes([0x40]), 0) == 3840
    assert ac3_frame_size(bytes.fromhex("0b7701ff00") + bytes([16 << 3]), 0) == 1024  # E-AC-3
    with pytest.raises(DecryptionError, match="reserved"):
        ac3_frame_size(bytes.fromhex("0b770000c0") + bytes([0x40]), 0)


def test_not_ts_is_refused() -> None:
    with pytest.raises(DecryptionError, match="MPEG-TS"):
        decrypt_sample_aes_ts(b"\x47" + bytes(100), KEY, bytes(16))
    with pytest.raises(DecryptionError, match="16-byte"):
        decrypt_sample_aes_ts(b"", KEY, bytes(8))
    with pytest.raises(DecryptionError):
        hls_iv_from_hex("0xZZ")
