"""Hostile input: property-based tests on the box reader, the decryptors and the license parser.

Every malformed input must raise a ``DrmError`` subclass. Besides random bytes, the
strategies edit real segments the way the fuzzer (scripts/fuzz.py) does: a box's size set
to 0 (to the end), to 1 with a 64-bit size, off by a little or a lot, a box renamed or cut
short; and the shapes that once escaped are pinned as explicit cases below.
"""

from __future__ import annotations

import json
import struct

import pytest
from drm_helpers import MEDIA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_license import asgi_post

from drm import (
    Box,
    BoxError,
    CencDecryptor,
    DecryptionError,
    DrmError,
    LicenseError,
    LicenseServerApp,
    clear_init_segment,
    decrypt_mp4,
    decrypt_sample_aes_ts,
    find_pssh,
    iter_boxes,
    iter_fragment_samples,
    parse_clearkey_response,
    parse_init,
    parse_pssh,
)

KID = "31323334353637383930313233343536"
SMALL = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MEDIUM = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LARGE = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INIT = (MEDIA / "shaka-player/multidrm/multidrm-video-init.mp4").read_bytes()
SEGMENT = (MEDIA / "shaka-player/dash-clearkey/video-H264-288-400k_1.m4s").read_bytes()


# Sizes that box readers get wrong: to the end, 64-bit, smaller than a header, huge.
SIZES = (0, 1, 7, 8, 9, 15, 16, 0x7FFFFFFF, 0xFFFFFFFF)


def box(kind: bytes, payload: bytes, size: int | None = None) -> bytes:
    return struct.pack(">I4s", len(payload) + 8 if size is None else size, kind) + payload


boxes = st.recursive(
    st.builds(
        box,
        st.sampled_from([b"free", b"tenc", b"pssh", b"trun", b"senc", b"tfhd"]),
        st.binary(max_size=40),
    ),
    lambda inner: st.builds(
        lambda kind, kids: box(kind, b"".join(kids)),
        st.sampled_from([b"moov", b"trak", b"moof", b"traf", b"sinf", b"schi"]),
        st.lists(inner, max_size=4),
    ),
    max_leaves=12,
)


@LARGE
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_box_errors(data: bytes) -> None:
    try:
        found = list(iter_boxes(data))
    except BoxError as exc:
        assert exc.offset is not None and 0 <= exc.offset <= len(data)
        return
    assert sum(b.size for b in found) == len(data)


@MEDIUM
@given(boxes, st.integers(0, 64), st.sampled_from(SIZES) | st.integers(0, 2**32 - 1))
def test_mutated_trees_raise_only_drm_errors(tree: bytes, where: int, value: int) -> None:
    data = bytearray(tree)
    if len(data) >= 4:
        at = where % (len(data) - 3)
        data[at : at + 4] = value.to_bytes(4, "big")
    for probe in (parse_init, find_pssh, lambda d: decrypt_mp4(d, {KID: bytes(16)}, init=INIT)):
        try:
            result = probe(bytes(data))
        except DrmError as exc:
            assert exc.code.startswith("drm.")
        else:
            assert result is not None


@MEDIUM
@given(
    st.integers(0, len(INIT) - 4),
    st.sampled_from(SIZES) | st.integers(0, 2**32 - 1),
    st.integers(0, len(SEGMENT) - 4),
)
def test_corrupted_real_media_raises_only_drm_errors(at: int, value: int, seg_at: int) -> None:
    init = bytearray(INIT)
    init[at : at + 4] = value.to_bytes(4, "big")
    segment = bytearray(SEGMENT)
    segment[seg_at : seg_at + 4] = value.to_bytes(4, "big")
    for data, init_data in ((bytes(init), None), (bytes(segment), INIT), (SEGMENT, bytes(init))):
        try:
            out = decrypt_mp4(data, {"4060a865887842679cbf91ae5bae1e72": bytes(16)}, init=init_data)
        except DrmError as exc:
            assert exc.code.startswith("drm.")
        else:
            assert len(out) <= len(data)


@LARGE
@given(st.binary(max_size=120))
def test_pssh_parser_raises_only_box_errors(payload: bytes) -> None:
    try:
        parsed = parse_pssh(box(b"pssh", payload))
    except BoxError:
        return
    assert parsed.version in (0, 1)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)
entries = st.fixed_dictionaries(
    {
        "kty": st.sampled_from(["oct", "RSA", 1]),
        "kid": st.sampled_from(["MTIzNDU2Nzg5MDEyMzQ1Ng", "x"]),
        "k": st.text(alphabet="AB_-=+/", min_size=0, max_size=24),
    }
)


@MEDIUM
@given(st.one_of(json_values, st.fixed_dictionaries({"keys": st.lists(entries, max_size=3)})))
def test_license_parser_raises_only_license_errors(doc: object) -> None:
    body = json.dumps(doc).encode()
    try:
        keys = parse_clearkey_response(body, requested=[KID])
    except LicenseError as exc:
        assert "k" not in getattr(exc, "__dict__", {})
        return
    assert set(keys) <= {KID}
    assert all(len(k.key) == 16 for k in keys.values())


@LARGE
@given(st.binary(max_size=200))
def test_license_parser_on_raw_bytes(body: bytes) -> None:
    try:
        parse_clearkey_response(body, requested=[KID])
    except LicenseError as exc:
        assert exc.code == "drm.license"
    else:
        assert body.strip().startswith(b"{")


TS = (MEDIA / "shaka-packager/hls-ts-sample-aes/bear-640x360-audio-2.ts").read_bytes()[: 188 * 40]
TS_VIDEO = (MEDIA / "shaka-packager/hls-ts-sample-aes/bear-640x360-video-2.ts").read_bytes()[
    : 188 * 40
]


@MEDIUM
@given(
    st.sampled_from([TS, TS_VIDEO]),
    st.lists(
        st.tuples(
            st.one_of(st.integers(0, 375), st.integers(0, 188 * 40 - 1)), st.integers(0, 255)
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_corrupted_sample_aes_ts_raises_only_decryption_errors(
    source: bytes, edits: list[tuple[int, int]]
) -> None:
    data = bytearray(source)
    for at, value in edits:
        data[at] = value
    try:
        out = decrypt_sample_aes_ts(bytes(data), bytes(16), bytes(16))
    except DrmError as exc:
        assert exc.code == "drm.decryption"
    else:
        assert len(out) % 188 == 0


@SMALL
@given(st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
async def test_license_server_answers_json_4xx_to_junk(body: bytes) -> None:
    app = LicenseServerApp({KID: "00" * 16}, {"t": {"*"}})
    status, answer = await asgi_post(app, body, {"Authorization": "Bearer t"})
    doc = json.loads(answer)
    assert (status == 200 and "keys" in doc) or (status in (400, 403, 413) and "error" in doc)


# --- box-level edits of a real segment (what found size-0 and renamed-mdat escapes) -------

LIVE = MEDIA / "shaka-packager/live-cenc-segments"
LIVE_INIT = (LIVE / "bear-640x360-audio-init.mp4").read_bytes()
LIVE_SEGMENT = (LIVE / "bear-640x360-audio-2.m4s").read_bytes()
LIVE_KEYS = {KID: bytes.fromhex("32333435363738393021323334353637")}
DECRYPTOR = CencDecryptor(LIVE_INIT, LIVE_KEYS)
EDITS = ("zero", "large", "large-wrong", "rename", "truncate", "resize", "cut-file")


def _all_boxes(data: bytes) -> list[Box]:
    """Top-level boxes and the boxes inside moof and traf."""
    found: list[Box] = []
    for top in iter_boxes(data):
        found.append(top)
        if top.type == "moof":
            for sub in iter_boxes(data, top.payload_start, top.end):
                found.append(sub)
                if sub.type == "traf":
                    found.extend(iter_boxes(data, sub.payload_start, sub.end))
    return found


def _edit(data: bytes, target: Box, edit: str, value: int) -> bytes:
    out = bytearray(data)
    at = target.start
    if edit == "zero":
        out[at : at + 4] = bytes(4)
    elif edit in ("large", "large-wrong"):
        size = target.size + 8 if edit == "large" else value
        out[at : at + 8] = struct.pack(">I4sQ", 1, target.type.encode("latin-1"), size)
    elif edit == "rename":
        out[at + 4 : at + 8] = [b"free", b"mdat", b"moof", b"skip", b"uuid"][value % 5]
    elif edit == "truncate":
        del out[at + 8 + value % max(1, target.size - 8) : target.end]
    elif edit == "resize":
        out[at : at + 4] = (value % 2**32).to_bytes(4, "big")
    else:
        del out[at + value % target.size :]
    return bytes(out)


def _decrypt_every_way(data: bytes) -> list[bytes]:
    return [
        bytes(DECRYPTOR.decrypt_segment(data)),
        bytes(decrypt_mp4(data, LIVE_KEYS, init=LIVE_INIT)),
        bytes(_in_place(data)),
    ]


def _in_place(data: bytes) -> bytearray:
    buffer = bytearray(data)
    DECRYPTOR.decrypt_segment_in_place(buffer)
    return buffer


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_all_boxes(LIVE_SEGMENT)),
    st.sampled_from(EDITS),
    st.sampled_from(SIZES) | st.integers(0, 2**32 - 1),
)
def test_box_header_edits_of_a_real_segment_raise_only_drm_errors(
    target: Box, edit: str, value: int
) -> None:
    data = _edit(LIVE_SEGMENT, target, edit, value)
    try:
        outputs = _decrypt_every_way(data)
    except DrmError as exc:
        assert exc.code.startswith("drm.")
        return
    assert len(outputs[0]) == len(outputs[1]) <= len(data) == len(outputs[2])


def _box(data: bytes, kind: str) -> Box:
    return next(b for b in _all_boxes(data) if b.type == kind)


def _samples_of(clear: bytes) -> list[bytes]:
    info = parse_init(clear_init_segment(LIVE_INIT))
    found = [s for _, items in iter_fragment_samples(clear, info) for s in items]
    return [clear[s.offset : s.offset + s.size] for s in found]


CLEAR_SAMPLES = _samples_of(bytes(DECRYPTOR.decrypt_segment(LIVE_SEGMENT)))


def _moved_trun_offset(data: bytearray, by: int) -> None:
    trun = _box(bytes(data), "trun")
    (offset,) = struct.unpack_from(">i", data, trun.payload_start + 8)
    struct.pack_into(">i", data, trun.payload_start + 8, offset + by)


def _grown(data: bytes, kind: str) -> bytes:
    """``kind`` rewritten with a correct 64-bit size (and the trun offset moved with it)."""
    target = _box(data, kind)
    out = bytearray(data)
    out[target.start : target.start + 8] = struct.pack(">I4sQ", 1, kind.encode(), target.size + 8)
    _moved_trun_offset(out, 8)  # the samples moved 8 bytes away from the moof's start
    return bytes(out)


def test_legal_size_forms_decrypt_to_the_same_samples() -> None:
    """Size 0 on the last box (to the end of the file) and a correct 64-bit size are legal."""
    mdat = _box(LIVE_SEGMENT, "mdat")
    to_end = bytearray(LIVE_SEGMENT)
    to_end[mdat.start : mdat.start + 4] = bytes(4)
    for data in (bytes(to_end), _grown(LIVE_SEGMENT, "moof"), _grown(LIVE_SEGMENT, "mdat")):
        for clear in _decrypt_every_way(data):
            assert _samples_of(clear) == CLEAR_SAMPLES


def _senc_count(data: bytes, count: int) -> bytes:
    senc = _box(data, "senc")
    out = bytearray(data)
    out[senc.payload_start + 4 : senc.payload_start + 8] = count.to_bytes(4, "big")
    return bytes(out)


def _without_aux(data: bytes) -> bytes:
    out = bytearray(data)
    for kind in ("senc", "saiz", "saio"):
        target = _box(data, kind)
        out[target.start + 4 : target.start + 8] = b"free"
    return bytes(out)


def _senc_override(data: bytes, iv_size: int) -> bytes:
    senc = _box(data, "senc")
    out = bytearray(data)
    out[senc.payload_start + 3] |= 1
    override = bytes(3) + bytes([iv_size]) + bytes(16)
    out[senc.payload_start + 4 : senc.payload_start + 4] = override
    for parent in ("senc", "traf", "moof"):
        box_ = _box(data, parent)
        size = int.from_bytes(out[box_.start : box_.start + 4], "big")
        out[box_.start : box_.start + 4] = (size + 20).to_bytes(4, "big")
    _moved_trun_offset(out, 20)
    return bytes(out)


SHAPES = {
    "moof size 0 swallows the mdat": (
        lambda d: _edit(d, _box(d, "moof"), "zero", 0),
        BoxError,
        "not inside an mdat",
    ),
    "mdat renamed": (lambda d: _edit(d, _box(d, "mdat"), "rename", 0), BoxError, "not inside"),
    "64-bit size smaller than the header": (
        lambda d: _edit(d, _box(d, "moof"), "large-wrong", 15),
        BoxError,
        "smaller than its header",
    ),
    "64-bit size past the end": (
        lambda d: _edit(d, _box(d, "mdat"), "large-wrong", 2**40),
        BoxError,
        "overruns",
    ),
    "truncated moof": (lambda d: d[: _box(d, "senc").start + 9], BoxError, "overruns"),
    "truncated mdat": (lambda d: d[:-1], BoxError, "overruns"),
    "truncated box header": (lambda d: d + b"\x00\x00\x00", BoxError, "truncated box header"),
    "senc counts no entries": (lambda d: _senc_count(d, 0), BoxError, "senc has 0 entries"),
    "senc counts 2**31 entries": (lambda d: _senc_count(d, 2**31), BoxError, "senc has"),
    "senc override with a 20-byte IV": (
        lambda d: _senc_override(d, 20),
        BoxError,
        "IV size 20",
    ),
    "no senc, saiz or saio": (
        _without_aux,
        DecryptionError,
        r"fragment 2 \(moof at byte \d+\) of a protected track has no sample auxiliary",
    ),
    "trun counts 2**24 samples": (
        lambda d: _trun_count(d, 2**24),
        BoxError,
        "trun lists",
    ),
}


def _trun_count(data: bytes, count: int) -> bytes:
    trun = _box(data, "trun")
    out = bytearray(data)
    out[trun.payload_start + 4 : trun.payload_start + 8] = count.to_bytes(4, "big")
    return bytes(out)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_malformed_shapes_raise_their_typed_error(shape: str) -> None:
    edit, error, message = SHAPES[shape]
    data = edit(LIVE_SEGMENT)
    for run in (
        DECRYPTOR.decrypt_segment,
        _in_place,
        lambda d: decrypt_mp4(d, LIVE_KEYS, init=LIVE_INIT),
    ):
        with pytest.raises(error, match=message):
            run(data)


def test_subsamples_larger_than_their_sample_and_bad_iv_sizes() -> None:
    init = (MEDIA / "shaka-player/dash-clearkey/video-H264-288-400k_init.mp4").read_bytes()
    segment = (MEDIA / "shaka-player/dash-clearkey/video-H264-288-400k_1.m4s").read_bytes()
    keys = {"4060a865887842679cbf91ae5bae1e72": bytes(16)}
    senc = _box(segment, "senc")
    first = senc.payload_start + 8 + 8  # flags, count, the first 8-byte IV
    data = bytearray(segment)
    data[first + 2 : first + 4] = b"\xff\xff"  # first subsample's clear bytes: 65535
    with pytest.raises(BoxError, match="exceed"):
        decrypt_mp4(bytes(data), keys, init=init)
    bad_init = bytearray(init)
    tenc = bad_init.index(b"tenc") + 4
    for iv_size in (1, 4, 12, 32, 255):
        bad_init[tenc + 7] = iv_size
        with pytest.raises(BoxError, match=f"IV size {iv_size}"):
            decrypt_mp4(segment, keys, init=bytes(bad_init))
