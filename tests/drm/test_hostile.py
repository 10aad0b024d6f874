"""Hostile input: property-based tests on the box reader, the decryptor and the license parser."""

from __future__ import annotations

import json
import struct

from drm_helpers import MEDIA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_license import asgi_post

from drm import (
    BoxError,
    DrmError,
    LicenseError,
    LicenseServerApp,
    decrypt_mp4,
    decrypt_sample_aes_ts,
    find_pssh,
    iter_boxes,
    parse_clearkey_response,
    parse_init,
    parse_pssh,
)

KID = "31323334353637383930313233343536"
SMALL = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INIT = (MEDIA / "shaka-player/multidrm/multidrm-video-init.mp4").read_bytes()
SEGMENT = (MEDIA / "shaka-player/dash-clearkey/video-H264-288-400k_1.m4s").read_bytes()[:6000]


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


@SMALL
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_box_errors(data: bytes) -> None:
    try:
        found = list(iter_boxes(data))
    except BoxError as exc:
        assert exc.offset is not None and 0 <= exc.offset <= len(data)
        return
    assert sum(b.size for b in found) == len(data)


@SMALL
@given(boxes, st.integers(0, 64), st.integers(0, 2**32 - 1))
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


@SMALL
@given(st.integers(0, len(INIT) - 4), st.integers(0, 2**32 - 1), st.integers(0, len(SEGMENT) - 4))
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


@SMALL
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


@SMALL
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


@SMALL
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


@SMALL
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
