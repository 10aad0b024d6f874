"""Round trips: PyAV content -> packager (cenc, cbcs) -> decryptor, plus PyAV's own cenc output."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import av
import pytest
from drm_helpers import decode, make_clear_mp4, samples, shared_clear_mp4

from drm import (
    CencDecryptor,
    UnsupportedKeySystem,
    decrypt_mp4,
    find_pssh,
    iter_fragment_samples,
    package_mp4,
    parse_init,
)
from drm._cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clear_mp4() -> bytes:
    return shared_clear_mp4()


@pytest.mark.parametrize(("scheme", "iv_size"), [("cenc", 8), ("cenc", 16), ("cbcs", 16)])
def test_round_trip_is_byte_exact_and_decodes(clear_mp4: bytes, scheme: str, iv_size: int) -> None:
    kid, key = os.urandom(16).hex(), os.urandom(16)
    protected = package_mp4(clear_mp4, key_id=kid, key=key, scheme=scheme, iv_size=iv_size)
    info = parse_init(protected)
    encs = [e for t in info.tracks.values() for e in t.entries]
    assert {(e.scheme, e.default_kid) for e in encs if e} == {(scheme, kid)}
    assert {e.iv_size for e in encs if e} == {0 if scheme == "cbcs" else iv_size}
    assert {p.key_ids for p in find_pssh(protected)} == {(kid,)}
    before, after = samples(clear_mp4), samples(protected)
    assert len(before) == len(after) == 144
    assert sum(a != b for a, b in zip(before, after, strict=True)) == 144
    clear = decrypt_mp4(protected, {kid: key})
    assert samples(clear) == before
    assert clear == clear_mp4
    assert decode(clear) == (50, [])
    assert decode(clear, "audio")[1] == []
    frames, errors = decode(decrypt_mp4(protected, {kid: os.urandom(16)}))
    assert errors != []


def test_ffmpeg_decrypts_packager_cenc(clear_mp4: bytes) -> None:
    """Independent check: FFmpeg's own CENC decryptor reads what the packager wrote."""
    kid, key = os.urandom(16).hex(), os.urandom(16)
    protected = package_mp4(clear_mp4, key_id=kid, key=key, scheme="cenc")
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture() as logs:
            opts = {"decryption_key": key.hex()}
            with av.open(io.BytesIO(protected), options=opts) as container:
                frames = sum(1 for _ in container.decode(video=0))
    finally:
        av.logging.set_level(None)
    assert (frames, list(logs)) == (50, [])


def _ffmpeg_decrypted_packets(data: bytes, key_hex: str) -> list[list[bytes]]:
    """Packets per stream as FFmpeg's own CENC decryptor (mov demuxer) returns them."""
    with av.open(io.BytesIO(data), options={"decryption_key": key_hex}) as container:
        packets: list[list[bytes]] = [[] for _ in container.streams]
        for packet in container.demux():
            if packet.size:
                packets[packet.stream.index].append(bytes(packet))
    return packets


def test_decrypts_pyav_cenc_output(clear_mp4: bytes) -> None:
    """PyAV's muxer encrypts; we decrypt; FFmpeg's demuxer decrypts independently.

    FFmpeg's fragmented cenc muxer keeps appending audio ``senc`` entries across
    fragments, and its own demuxer then decrypts audio after the first fragment with the
    stale entries; we take the last entries, which gives back the clear encode exactly.
    """
    kid, key = os.urandom(16).hex(), os.urandom(16).hex()
    options = {"encryption_scheme": "cenc-aes-ctr", "encryption_key": key, "encryption_kid": kid}
    protected = make_clear_mp4(options=options)
    video, audio = _ffmpeg_decrypted_packets(protected, key)
    assert samples(protected, track_id=1) != video
    clear = bytes(decrypt_mp4(protected, {kid: bytes.fromhex(key)}))
    # Video is checked against FFmpeg's independent decryption of the same file: two x264
    # encodes of the same input differ in a sample now and then (about 1 in 30 here), so a
    # separate clear encode is no reference for it.
    assert samples(clear, track_id=1) == video
    assert len(video) == len(samples(clear_mp4, track_id=1))
    ours_audio = samples(clear, track_id=2)
    assert ours_audio[:43] == audio[:43]  # first fragment: FFmpeg agrees
    assert ours_audio[43:] != audio[43:]  # later fragments: FFmpeg's demuxer is wrong
    assert ours_audio == samples(clear_mp4, track_id=2)
    assert decode(clear) == (50, [])
    assert decode(clear, "audio")[1] == []


def test_segmented_decryptor_matches_whole_file(clear_mp4: bytes) -> None:
    kid, key = os.urandom(16).hex(), os.urandom(16)
    protected = package_mp4(clear_mp4, key_id=kid, key=key, scheme="cbcs")
    moov_end = protected.find(b"moof") - 4
    decryptor = CencDecryptor(protected[:moov_end], {kid: key})
    assert decryptor.key_ids == (kid,)
    clear = decryptor.clear_init() + decryptor.decrypt_segment(protected[moov_end:])
    assert clear == clear_mp4


def test_sixteen_byte_ivs_continue_the_counter_per_track(clear_mp4: bytes) -> None:
    kid, key = os.urandom(16).hex(), os.urandom(16)
    protected = package_mp4(clear_mp4, key_id=kid, key=key, iv=bytes(16), iv_size=16)
    info = parse_init(protected)
    seen: dict[int, list[tuple[int, int]]] = {}
    for _, items in iter_fragment_samples(protected, info):
        for s in items:
            assert s.iv is not None
            used = sum(p for _, p in s.subsamples) if s.subsamples is not None else s.size
            seen.setdefault(s.track_id, []).append((int.from_bytes(s.iv, "big"), used))
    for ivs in seen.values():
        for (iv, used), (following, _) in zip(ivs, ivs[1:], strict=False):
            assert following == iv + -(-used // 16)
    assert seen[1][0][0] == 0 and seen[2][0][0] == 1 << 96


def test_packager_refuses_encrypted_input_and_bad_scheme(clear_mp4: bytes) -> None:
    kid, key = os.urandom(16).hex(), os.urandom(16)
    protected = package_mp4(clear_mp4, key_id=kid, key=key)
    with pytest.raises(UnsupportedKeySystem):
        package_mp4(protected, key_id=kid, key=key)
    with pytest.raises(UnsupportedKeySystem):
        package_mp4(clear_mp4, key_id=kid, key=key, scheme="cens")


def test_cli_package_then_decrypt(
    clear_mp4: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kid, key = os.urandom(16).hex(), os.urandom(16).hex()
    other = os.urandom(16).hex()
    src, enc, out = tmp_path / "clear.mp4", tmp_path / "enc.mp4", tmp_path / "out.mp4"
    src.write_bytes(clear_mp4)
    assert (
        main(["package", "--scheme", "cbcs", "--key", f"{kid}:{key}", str(src), "-o", str(enc)])
        == 0
    )
    args = ["decrypt", "--key", f"{other}:{key}", "--key", f"{kid}:{key}", str(enc), "-o", str(out)]
    assert main(args) == 0
    assert out.read_bytes() == clear_mp4
    assert main(["decrypt", "--key", f"{other}:{key}", str(enc), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert kid in err and key not in err


def test_cli_segment_with_init(tmp_path: Path, clear_mp4: bytes) -> None:
    kid, key = os.urandom(16).hex(), os.urandom(16).hex()
    protected = package_mp4(clear_mp4, key_id=kid, key=bytes.fromhex(key))
    split = protected.find(b"moof") - 4
    (tmp_path / "init.mp4").write_bytes(protected[:split])
    (tmp_path / "seg.m4s").write_bytes(protected[split:])
    args = ["decrypt", "--key", f"{kid}:{key}", "--init", str(tmp_path / "init.mp4")]
    assert main([*args, str(tmp_path / "seg.m4s"), "-o", str(tmp_path / "out.mp4")]) == 0
    assert (tmp_path / "out.mp4").read_bytes() == clear_mp4


def test_cli_module_entry_point_exit_status(tmp_path: Path, clear_mp4: bytes) -> None:
    kid, key = os.urandom(16).hex(), os.urandom(16).hex()
    src = tmp_path / "clear.mp4"
    src.write_bytes(clear_mp4)
    enc = tmp_path / "enc.mp4"
    package = [
        sys.executable,
        "-m",
        "drm",
        "package",
        "--key",
        f"{kid}:{key}",
        str(src),
        "-o",
        str(enc),
    ]
    assert subprocess.run(package, cwd=ROOT, check=False).returncode == 0
    wrong = f"{'0' * 32}:{key}"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "drm",
            "decrypt",
            "--key",
            wrong,
            str(enc),
            "-o",
            str(tmp_path / "x"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert kid in run.stderr and key not in run.stderr
    bad = [sys.executable, "-m", "drm", "decrypt", "--key", f"{kid}:zz", str(enc), "-o", "x"]
    run = subprocess.run(bad, cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 2 and "zz" not in run.stderr.split("error:")[-1]


@pytest.mark.parametrize("scheme", ["cenc", "cbcs"])
def test_hevc_round_trip_keeps_parameter_sets_clear(scheme: str) -> None:
    clear = make_clear_mp4(1, codec="libx265")
    info = parse_init(clear)
    kid, key = os.urandom(16).hex(), os.urandom(16)
    protected = package_mp4(clear, key_id=kid, key=key, scheme=scheme)
    video = samples(protected, track_id=1)
    assert len(video) == 25
    first, clear_first = video[0], samples(clear, track_id=1)[0]
    assert (first[4] >> 1) & 0x3F < 32  # an HEVC slice (parameter sets live in hvcC)
    assert first[: 4 + 32] == clear_first[: 4 + 32]  # length prefix and clear slice lead
    assert first[4 + 32 :] != clear_first[4 + 32 :]
    decrypted = decrypt_mp4(protected, {kid: key})
    assert decrypted == clear
    assert decode(bytes(decrypted)) == (25, [])
    assert info.tracks[1].handler == "vide"
