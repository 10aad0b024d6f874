"""Edge cases: aux info through saiz/saio only, whole-segment errors, config checks, threads."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path
from typing import Any

import pytest
from Crypto.Cipher import AES
from drm_helpers import MEDIA, corpus_keys, decode, samples, sha1_of, shared_clear_mp4

from drm import (
    BoxError,
    BoxNode,
    CencDecryptor,
    DecryptionError,
    DrmConfig,
    DrmConfigError,
    KeyManager,
    KeyNotFound,
    LicenseError,
    LicenseExchange,
    LicenseRequest,
    LicenseResponse,
    LicenseServerConfig,
    UnsupportedKeySystem,
    clear_init_segment,
    decrypt_hls_segment,
    decrypt_mp4,
    describe_key_uri,
    hls_iv,
    iter_boxes,
    package_mp4,
    pkcs7_unpad,
    read_box_tree,
)
from drm._cli import main as cli_main

ENTRY = next(e for e in corpus_keys()["fmp4_cenc"] if e["set"] == "shaka-player/dash-clearkey")
FOLDER = MEDIA / "shaka-player" / "dash-clearkey"


@pytest.fixture
def clear_mp4() -> bytes:
    return shared_clear_mp4()


def test_aux_info_found_through_saio_when_senc_is_absent() -> None:
    init = (FOLDER / "video-H264-288-400k_init.mp4").read_bytes()
    segment = bytearray((FOLDER / "video-H264-288-400k_3.m4s").read_bytes())
    moof = next(b for b in iter_boxes(segment) if b.type == "moof")
    at = bytes(segment).index(b"senc", moof.start)
    segment[at : at + 4] = b"free"  # same bytes, but only saiz/saio now point at them
    clear = decrypt_mp4(bytes(segment), {ENTRY["kid"]: bytes.fromhex(ENTRY["key"])}, init=init)
    assert sha1_of(samples(clear, clear_init_segment(init))) == ENTRY["decrypted_samples_sha1"]


async def test_decryption_runs_in_worker_threads() -> None:
    init = (FOLDER / "video-H264-288-400k_init.mp4").read_bytes()
    decryptor = CencDecryptor(init, {ENTRY["kid"]: bytes.fromhex(ENTRY["key"])})
    segments = [(FOLDER / f"video-H264-288-400k_{i}.m4s").read_bytes() for i in range(1, 6)]
    threaded = await asyncio.gather(
        *(asyncio.to_thread(decryptor.decrypt_segment, s) for s in segments)
    )
    assert threaded == [decryptor.decrypt_segment(s) for s in segments]
    assert (
        sha1_of(samples(bytes(threaded[2]), decryptor.clear_init()))
        == ENTRY["decrypted_samples_sha1"]
    )


def test_whole_segment_errors() -> None:
    key, iv = bytes(range(16)), bytes(16)
    good = AES.new(key, AES.MODE_CBC, iv=iv).encrypt(b"x" * 10 + bytes([6]) * 6)
    assert decrypt_hls_segment(good, key, iv=iv) == b"x" * 10
    with pytest.raises(DecryptionError, match="padding"):
        decrypt_hls_segment(good, bytes(16), iv=iv)
    with pytest.raises(DecryptionError, match="16-byte key"):
        decrypt_hls_segment(good, bytes(32), iv=iv)
    with pytest.raises(DecryptionError, match="no IV"):
        decrypt_hls_segment(good, key)
    with pytest.raises(DecryptionError, match="method"):
        decrypt_hls_segment(good, key, iv=iv, method="SAMPLE-AES")
    with pytest.raises(DecryptionError, match="multiple of 16"):
        decrypt_hls_segment(good[:-1], key, iv=iv)
    with pytest.raises(DecryptionError, match="IV must be 16"):
        decrypt_hls_segment(good, key, iv=bytes(8))
    with pytest.raises(DecryptionError):
        hls_iv(-1)
    with pytest.raises(DecryptionError):
        pkcs7_unpad(b"")
    ctr = AES.new(bytes(32), AES.MODE_CTR, nonce=b"", initial_value=hls_iv(7)).encrypt(b"abc")
    assert decrypt_hls_segment(ctr, bytes(32), media_sequence=7, method="AES-256-CTR") == b"abc"


def test_media_segment_needs_an_init() -> None:
    init = (FOLDER / "video-H264-288-400k_init.mp4").read_bytes()
    segment = (FOLDER / "video-H264-288-400k_3.m4s").read_bytes()
    keys = {ENTRY["kid"]: bytes.fromhex(ENTRY["key"])}
    with pytest.raises(DecryptionError, match="no moov: pass the init segment"):
        decrypt_mp4(segment, keys)
    clear = decrypt_mp4(segment, keys, init=init)
    assert (
        sha1_of(samples(bytes(clear), clear_init_segment(init))) == ENTRY["decrypted_samples_sha1"]
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"license_url": "ftp://x"},
        {"keys": {"00": "11"}},
        {"max_license_bytes": 0},
        {"license_timeout_s": 0.0},
        {"license_retry_delay_s": -1.0},
        {"license_attempts": 0},
        {"max_license_keys": 0},
        {"license_ttl_s": 0.0},
    ],
)
def test_config_rejects_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(DrmConfigError):
        DrmConfig(**kwargs)  # type: ignore[arg-type]


def test_server_config_rejects_bad_limits() -> None:
    with pytest.raises(DrmConfigError):
        LicenseServerConfig(max_body_bytes=0)
    assert LicenseServerConfig().max_kids == 64


def test_sidx_references_follow_the_shrunk_moof() -> None:
    data = (MEDIA / "shaka-packager/cenc/bear-640x360-video.mp4").read_bytes()
    kid, key = "31323334353637383930313233343536", bytes.fromhex("32333435363738393021323334353637")
    clear = bytes(decrypt_mp4(data, {kid: key}))
    sidx = next(b for b in iter_boxes(clear) if b.type == "sidx")
    version = clear[sidx.payload_start]
    pos = sidx.payload_start + 12 + (16 if version else 8) - (8 if version else 4)
    first = int.from_bytes(clear[pos : pos + (8 if version else 4)], "big")
    pos += 8 if version else 4
    (count,) = struct.unpack_from(">H", clear, pos + 2)
    cursor = sidx.end + first
    moofs = [b for b in iter_boxes(clear) if b.type == "moof"]
    for i in range(count):
        (word,) = struct.unpack_from(">I", clear, pos + 4 + 12 * i)
        assert cursor == moofs[i].start
        cursor += word & 0x7FFFFFFF
    assert cursor == len(clear)


@pytest.mark.parametrize("scheme", ["cenc", "cbcs"])
def test_in_place_decryption_matches_the_copy(clear_mp4: bytes, scheme: str) -> None:
    kid, key = "0123456789abcdef0123456789abcdef", bytes(range(16))
    protected = package_mp4(clear_mp4, key_id=kid, key=key, scheme=scheme)
    split = protected.find(b"moof") - 4
    decryptor = CencDecryptor(protected[:split], {kid: key})
    buffer = bytearray(protected[split:])
    assert decryptor.decrypt_segment_in_place(buffer) == 144
    assert len(buffer) == len(protected) - split
    init = decryptor.clear_init()
    assert samples(bytes(buffer), init) == samples(clear_mp4)
    assert b"senc" not in bytes(buffer).split(b"mdat")[0]
    assert decode(init + bytes(buffer)) == (50, [])


def test_in_place_refuses_missing_key_before_touching_the_buffer() -> None:
    init = (FOLDER / "video-H264-288-400k_init.mp4").read_bytes()
    segment = (FOLDER / "video-H264-288-400k_3.m4s").read_bytes()
    buffer = bytearray(segment)
    with pytest.raises(KeyNotFound):
        CencDecryptor(init, {}).decrypt_segment_in_place(buffer)
    assert buffer == segment


def test_seig_key_rotation_is_refused_not_silently_misdecrypted() -> None:
    init = (FOLDER / "video-H264-288-400k_init.mp4").read_bytes()
    segment = bytearray((FOLDER / "video-H264-288-400k_3.m4s").read_bytes())
    moof = next(b for b in iter_boxes(segment) if b.type == "moof")
    traf = next(b for b in iter_boxes(segment, moof.payload_start, moof.end) if b.type == "traf")
    # An sbgp mapping all 96 samples to the fragment-local seig description 1 (0x10001).
    sbgp = struct.pack(">I4sI4sIII", 28, b"sbgp", 0, b"seig", 1, 96, 0x10001)
    segment[traf.end : traf.end] = sbgp
    for start, kind in ((moof.start, b"moof"), (traf.start, b"traf")):
        assert segment[start + 4 : start + 8] == kind
        grown = int.from_bytes(segment[start : start + 4], "big") + len(sbgp)
        segment[start : start + 4] = grown.to_bytes(4, "big")
    with pytest.raises(UnsupportedKeySystem, match="seig"):
        decrypt_mp4(bytes(segment), {ENTRY["kid"]: bytes.fromhex(ENTRY["key"])}, init=init)


def test_piff_uuid_senc_is_read_like_senc() -> None:
    """PIFF 1.1 content carries the same sample info in a uuid box (a239... usertype)."""
    init = (FOLDER / "video-H264-288-400k_init.mp4").read_bytes()
    segment = (FOLDER / "video-H264-288-400k_3.m4s").read_bytes()
    moof = next(b for b in iter_boxes(segment) if b.type == "moof")
    tree = read_box_tree(segment, moof)
    (traf,) = tree.all("traf")
    assert traf.children is not None
    piff = bytes.fromhex("a2394f525a9b4f14a2446c427c648df4")
    traf.children = [
        BoxNode("uuid", -1, -1, c.head, None, piff) if c.type == "senc" else c
        for c in traf.children
        if c.type not in ("saiz", "saio")
    ]
    new_moof = tree.serialize()
    delta = len(new_moof) - moof.size
    trun = traf.child("trun")
    assert trun is not None and trun.head[3] & 1
    offset = int.from_bytes(trun.head[8:12], "big") + delta
    trun.head = trun.head[:8] + offset.to_bytes(4, "big") + trun.head[12:]
    rebuilt = segment[: moof.start] + tree.serialize() + segment[moof.end :]
    clear = decrypt_mp4(rebuilt, {ENTRY["kid"]: bytes.fromhex(ENTRY["key"])}, init=init)
    assert (
        sha1_of(samples(bytes(clear), clear_init_segment(init))) == ENTRY["decrypted_samples_sha1"]
    )
    assert piff not in bytes(clear)


async def test_network_errors_are_retried_then_reported_without_status() -> None:
    calls: list[int] = []

    async def broken(request: LicenseRequest) -> LicenseResponse:
        calls.append(1)
        raise ConnectionResetError("peer reset")

    async def no_sleep(delay: float) -> None:
        return None

    manager = KeyManager(DrmConfig(license_attempts=2), fetcher=broken, sleep=no_sleep)
    with pytest.raises(LicenseError) as info:
        await manager.acquire(["00" * 16], license_url="https://lic.example/")
    assert (info.value.status, len(calls)) == (None, 2)
    assert "ConnectionResetError" in str(info.value)
    assert "KeyManager(cache=LicenseCache(kids=[]))" == repr(manager)


def test_cli_reports_unreadable_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.mp4"
    key = f"{'1' * 32}:{'2' * 32}"
    with pytest.raises(SystemExit) as exited:  # bad input: argparse's one-line error, exit 2
        cli_main(["decrypt", "--key", key, str(missing), "-o", str(tmp_path / "o")])
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("python -m drm decrypt: error:") and str(missing) in line


def _at(data: bytearray, tag: bytes, offset: int, value: bytes, start: int = 0) -> None:
    """Overwrite bytes at ``offset`` into the payload of the first box of type ``tag``."""
    where = bytes(data).index(tag, start) + 4 + offset
    data[where : where + len(value)] = value


CBCS = (MEDIA / "shaka-packager/cbcs/bear-640x360-video.mp4").read_bytes()
SEG_INIT = (FOLDER / "video-H264-288-400k_init.mp4").read_bytes()
SEG = (FOLDER / "video-H264-288-400k_3.m4s").read_bytes()


@pytest.mark.parametrize(
    ("target", "edit", "error", "fragment"),
    [
        ("init", lambda d: _at(d, b"schm", 4, b"abcd"), UnsupportedKeySystem, "not supported"),
        ("init", lambda d: _at(d, b"tenc", 24, b"\xc8"), BoxError, "constant IV"),
        ("init", lambda d: _at(d, b"tenc", 7, b"\x05"), BoxError, "IV size"),
        ("seg", lambda d: _at(d, b"trun", 4, b"\x00\xff\xff\xff"), BoxError, "trun lists"),
        ("seg", lambda d: _at(d, b"trun", 8, b"\x7f\x00\x00\x00"), BoxError, "not inside an mdat"),
        ("seg", lambda d: _at(d, b"senc", 4, b"\x00\x00\x00\x05"), BoxError, "senc has"),
        ("seg", lambda d: _at(d, b"senc", 16, b"\xff\xff"), BoxError, "subsamples run past"),
        ("seg", lambda d: _at(d, b"senc", 18, b"\xff\xff\x00\x00"), BoxError, "exceed"),
        (
            "seg",
            lambda d: (_at(d, b"senc", -4, b"free"), _at(d, b"saiz", 5, b"\x00\x00\x00\x07")),
            BoxError,
            "saiz has",
        ),
        (
            "seg",
            lambda d: (_at(d, b"senc", -4, b"free"), _at(d, b"saio", 8, b"\x7f\x00\x00\x00")),
            BoxError,
            "outside",
        ),
    ],
)
def test_surgical_corruptions_raise_typed_errors(
    target: str, edit: Any, error: type[Exception], fragment: str
) -> None:
    if target == "init":
        data = bytearray(CBCS)
        edit(data)
        with pytest.raises(error, match=fragment):
            decrypt_mp4(bytes(data), {"31323334353637383930313233343536": bytes(16)})
    else:
        data = bytearray(SEG)
        edit(data)
        with pytest.raises(error, match=fragment):
            decrypt_mp4(bytes(data), {ENTRY["kid"]: bytes(16)}, init=SEG_INIT)


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("data:text/plain;base64,MjM0NTY3ODkwITIzNDU2Nw==", "data:<redacted>"),
        ("DATA:,%32%33%34", "data:<redacted>"),
        (
            "https://keys.example:8443/k/1?token=s3cret#x",
            "https://keys.example:8443/k/1?<redacted>#<redacted>",
        ),
        ("https://[::1]:9/lic?k=s3cret", "https://[::1]:9/lic?<redacted>"),
        ("key.bin?s3cret", "key.bin?<redacted>"),
        ("https://h:99999999/x?s3cret", "https://h:99999999/x?<redacted>"),
        ("https://user:s3cret@keys.example/k", "https://<redacted>@keys.example/k"),
        ("https://keys.example/k\x1b[2Js3cret", "https://keys.example/k\\x1b[2Js3cret"),
        ("http://[::1/s3cret", "<malformed URL>"),
    ],
)
def test_uris_in_messages_never_show_payloads_or_queries(uri: str, shown: str) -> None:
    assert describe_key_uri(uri) == shown


def test_license_errors_do_not_show_the_license_url_query() -> None:
    url = "https://lic.example/clearkey?token=s3cret"
    exchange = LicenseExchange(["31323334353637383930313233343536"], url=url)
    with pytest.raises(LicenseError) as info:
        exchange.receive_response(LicenseResponse(401, b""), now=0.0)
    assert "s3cret" not in str(info.value) and "https://lic.example/clearkey" in str(info.value)
    with pytest.raises(LicenseError) as info:
        exchange.receive_response(LicenseResponse(200, b'{"keys": 1}'), now=0.0)
    assert "s3cret" not in str(info.value)


def test_constant_iv_whole_samples_need_no_senc() -> None:
    """cbcs audio: constant IV in tenc and no subsamples, so senc carries nothing per sample."""
    data = (MEDIA / "shaka-packager/cbcs/bear-640x360-audio.mp4").read_bytes()
    keys = {"31323334353637383930313233343536": bytes.fromhex("32333435363738393021323334353637")}
    without = data.replace(b"senc", b"free")
    assert without.count(b"free") - data.count(b"free") == data.count(b"senc") >= 2
    expected = samples(bytes(decrypt_mp4(data, keys)))
    assert samples(bytes(decrypt_mp4(without, keys))) == expected
    assert sha1_of(expected) == next(
        e["decrypted_samples_sha1"]
        for e in corpus_keys()["fmp4_cenc"]
        if e["file"] == "shaka-packager/cbcs/bear-640x360-audio.mp4"
    )
