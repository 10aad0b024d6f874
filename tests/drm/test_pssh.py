"""PSSH boxes, system ids, key ids from init segments and manifests, box reader basics."""

from __future__ import annotations

import struct

import pytest
from drm_helpers import MEDIA

from drm import (
    CLEARKEY_SYSTEM_ID,
    COMMON_SYSTEM_ID,
    WIDEVINE_SYSTEM_ID,
    BoxError,
    ContentKey,
    DrmConfig,
    DrmConfigError,
    DrmError,
    Pssh,
    build_pssh,
    collect_key_ids,
    find_box,
    find_pssh,
    iter_boxes,
    keys_from_hex,
    normalize_kid,
    parse_init,
    parse_pssh,
)

KID = "cd7eb9ff88f34caeb06185b00024e4c2"


def test_androidx_clearkey_pssh_v1() -> None:
    data = (MEDIA / "androidx-media/sample_fragmented_clearkey.mp4").read_bytes()
    found = find_pssh(data)
    assert found == [Pssh(CLEARKEY_SYSTEM_ID, (KID,), b"", 1)]
    assert parse_init(data).key_ids() == (KID,)


def test_multidrm_init_lists_widevine_and_playready() -> None:
    data = (MEDIA / "shaka-player/multidrm/multidrm-video-init.mp4").read_bytes()
    systems = [p.system_id for p in find_pssh(data)]
    assert systems[0] == WIDEVINE_SYSTEM_ID
    assert systems[1] == "9a04f079-9840-4286-ab92-e65be0885f95"
    assert parse_init(data).key_ids() == ("26093af868d35e2cae9f1cd3d59932f1",)


def test_common_pssh_with_two_kids() -> None:
    data = (MEDIA / "shaka-player/hls-sample-aes/video.mp4").read_bytes()
    (pssh,) = find_pssh(data)
    assert pssh.system_id == COMMON_SYSTEM_ID and pssh.version == 1
    assert len(pssh.key_ids) == 2 and "abba271e8bcf552bbd2e86a434a9a5d9" in pssh.key_ids


def test_build_and_parse_round_trip() -> None:
    v0 = build_pssh(CLEARKEY_SYSTEM_ID, data=b"hello")
    assert parse_pssh(v0) == Pssh(CLEARKEY_SYSTEM_ID, (), b"hello", 0)
    uuid_kid = "cd7eb9ff-88f3-4cae-b061-85b00024e4c2"
    v1 = build_pssh(COMMON_SYSTEM_ID.replace("-", ""), key_ids=(uuid_kid, "zX65_4jzTK6wYYWwACTkwg"))
    assert parse_pssh(v1) == Pssh(COMMON_SYSTEM_ID, (KID, KID), b"", 1)
    assert struct.unpack(">I", v1[:4])[0] == len(v1) == 8 + 4 + 16 + 4 + 32 + 4


@pytest.mark.parametrize(
    "raw",
    [
        struct.pack(">I4s", 12, b"pssh") + bytes(4),
        build_pssh(COMMON_SYSTEM_ID, key_ids=(KID,))[:-4] + struct.pack(">I", 9),
        struct.pack(">I4sB3x", 32, b"pssh", 2) + bytes(20),
        struct.pack(">I4sB3x", 36, b"pssh", 1) + bytes(16) + struct.pack(">I", 1000) + bytes(4),
    ],
)
def test_malformed_pssh(raw: bytes) -> None:
    with pytest.raises(BoxError):
        parse_pssh(raw)


def test_normalize_kid_rejects_junk() -> None:
    with pytest.raises(DrmError, match="not a 16-byte key id"):
        normalize_kid("1234")
    assert normalize_kid("CD7EB9FF88F34CAEB06185B00024E4C2") == KID


def test_box_reader_never_trusts_sizes() -> None:
    assert [b.type for b in iter_boxes(struct.pack(">I4sQ", 1, b"free", 16))] == ["free"]
    assert [b.size for b in iter_boxes(struct.pack(">I4s", 0, b"mdat") + bytes(8))] == [16]
    for bad in (
        b"\x00\x00\x00",
        struct.pack(">I4s", 4, b"free"),
        struct.pack(">I4s", 100, b"free"),
    ):
        with pytest.raises(BoxError):
            list(iter_boxes(bad))
    data = (MEDIA / "shaka-packager/cbcs/bear-640x360-video.mp4").read_bytes()
    tenc = find_box(data, "moov/trak/mdia/minf/stbl")
    assert tenc is not None and tenc.type == "stbl"
    assert find_box(data, "moov/nope") is None


def test_cbcs_tenc_pattern_and_constant_iv() -> None:
    data = (MEDIA / "shaka-packager/cbcs/bear-640x360-video.mp4").read_bytes()
    (track,) = parse_init(data).tracks.values()
    enc = track.entries[0]
    assert enc is not None and track.entries[1] is None
    assert (enc.scheme, enc.crypt_byte_block, enc.skip_byte_block, enc.iv_size) == ("cbcs", 1, 9, 0)
    assert enc.constant_iv == bytes.fromhex("33343536373839300000000000000000")


def test_keys_never_in_reprs_or_errors() -> None:
    secret = "63cb5f7184dd4b689a5c5ff11ee6a328"
    keys = keys_from_hex({"cd7eb9ff-88f3-4cae-b061-85b00024e4c2": secret})
    assert secret not in repr(keys) and KID in repr(keys)
    assert secret not in repr(DrmConfig(keys={KID: secret}))
    with pytest.raises(DrmConfigError) as info:
        keys_from_hex({KID: secret[:-1] + "x"})
    assert secret[:-1] not in str(info.value)
    with pytest.raises(DrmError):
        ContentKey(KID, b"short")


def test_collect_key_ids_from_manifest_values_and_pssh() -> None:
    init = (MEDIA / "shaka-player/hls-sample-aes/video.mp4").read_bytes()
    widevine = build_pssh(WIDEVINE_SYSTEM_ID, key_ids=("ff" * 16,))
    kids = collect_key_ids(
        default_kids=["abba271e-8bcf-552b-bd2e-86a434a9a5d9"],
        pssh=[*find_pssh(init), widevine, build_pssh(CLEARKEY_SYSTEM_ID, key_ids=(KID,))],
    )
    # the init's own common-system pssh adds a4631a15...; the Widevine box's KID is ignored
    assert kids == ("a4631a153a443df9eed0593043db7519", "abba271e8bcf552bbd2e86a434a9a5d9", KID)
