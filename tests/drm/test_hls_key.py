"""HLS identity keys: data: URIs, keys given out of band (the lookup order), IVs, sizes."""

from __future__ import annotations

import pytest

from drm import (
    DecryptionError,
    DrmConfig,
    DrmConfigError,
    HlsKeyError,
    check_hls_key,
    configured_hls_key,
    hls_iv_from_hex,
    hls_key_from_data_uri,
    hls_key_iv,
)

KEY = bytes.fromhex("32333435363738393021323334353637")
KID = "31323334353637383930313233343536"  # b"1234567890123456"
SHAKA_URI = "data:text/plain;base64,MTIzNDU2Nzg5MDEyMzQ1Ng=="  # the KID, as Shaka writes it


@pytest.mark.parametrize(
    ("uri", "payload"),
    [
        ("data:text/plain;base64,MjM0NTY3ODkwITIzNDU2Nw==", KEY),
        ("data:text/plain;base64,MjM0NTY3ODkwITIzNDU2Nw", KEY),  # padding left out
        ("DATA:;BASE64,MjM0NTY3ODkwITIzNDU2Nw%3D%3D", KEY),  # percent-encoded padding
        ("data:;base64,_-8=", b"\xff\xef"),  # base64url alphabet
        ("data:application/octet-stream,%32%33%34%35", b"2345"),
        ("data:,", b""),
    ],
)
def test_data_uris_decode(uri: str, payload: bytes) -> None:
    assert hls_key_from_data_uri(uri) == payload


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("data:text/plain;base64,MjM0NTY3ODk*ITIzNDU2Nw==", "not valid base64"),
        ("data:text/plain;base64,MjM0NTY3ODkwITIzNDU2Nw===", "not valid base64"),
        ("data:text/plain;base64,MjM0+_Y3ODkwITIzNDU2Nw==", "not valid base64"),
        ("data:text/plain;base64,MjM0NTY3ODkwITIzNDU2N%FF", "not valid base64"),
        ("data:text/plain;base64,MjM0NTY3ODkwITIzNDU2Nwé", "non-ASCII"),
        ("data:text/plain;base64" + "A" * 5000, "comma"),
        ("data:," + "A" * 5000, "too long"),
        ("https://keys.example/k", "not a data: URI"),
    ],
)
def test_bad_data_uris_are_typed_and_never_echo_the_payload(uri: str, message: str) -> None:
    with pytest.raises(HlsKeyError, match=message) as info:
        hls_key_from_data_uri(uri)
    assert info.value.code == "drm.hls_key"
    assert "MjM0" not in str(info.value) and "AAAA" not in str(info.value)


def test_key_sizes_are_checked_per_method_without_showing_the_key() -> None:
    assert check_hls_key(KEY, method="SAMPLE-AES", uri=SHAKA_URI) == KEY
    assert check_hls_key(KEY * 2, method="AES-256", uri=None) == KEY * 2
    with pytest.raises(HlsKeyError) as info:
        check_hls_key(KEY + b"x", method="AES-128", uri="data:;base64,MjM0NTY3ODkwITIzNDU2N3g=")
    assert str(info.value) == "AES-128 key from data:<redacted> is 17 bytes, not 16"
    with pytest.raises(HlsKeyError, match="from the configuration is 16 bytes, not 32"):
        check_hls_key(KEY, method="AES-256-CTR", uri=None)
    with pytest.raises(HlsKeyError, match=r"from https://k\.example/a\?<redacted> is 3 bytes"):
        check_hls_key(b"abc", method="AES-128", uri="https://k.example/a?t=s3cret")


OTHER = "00" * 16


@pytest.mark.parametrize(
    ("config", "uri", "key_id", "expected"),
    [
        # 1. by URI, before anything else
        (DrmConfig(hls_keys={SHAKA_URI: OTHER}, keys={KID: KEY.hex()}), SHAKA_URI, KID, OTHER),
        # 2. by the tag's KEYID
        (DrmConfig(keys={KID: KEY.hex()}, hls_keys={"*": OTHER}), "https://k/1", KID, KEY.hex()),
        # 3. by the KID Shaka Packager writes in its data: URI (what --keys KID:KEY gives)
        (DrmConfig(keys={KID: KEY.hex()}, hls_keys={"*": OTHER}), SHAKA_URI, None, KEY.hex()),
        # 4. one key for every identity key
        (DrmConfig(hls_keys={"*": KEY.hex()}), "https://k/1", None, KEY.hex()),
        (DrmConfig(hls_keys={"*": KEY.hex()}), None, None, KEY.hex()),
        # nothing configured for this key
        (DrmConfig(keys={OTHER: KEY.hex()}), SHAKA_URI, None, None),
        (DrmConfig(keys={KID: KEY.hex()}), "https://k/1", None, None),
        (DrmConfig(keys={KID: KEY.hex()}), "data:;base64,%%%", None, None),
    ],
)
def test_configured_key_lookup_order(
    config: DrmConfig, uri: str | None, key_id: str | None, expected: str | None
) -> None:
    found = configured_hls_key(config, uri=uri, key_id=key_id)
    assert (found.hex() if found is not None else None) == expected


@pytest.mark.parametrize(
    "hls_keys", [{"https://k/1": "xyz"}, {"": KEY.hex()}, {SHAKA_URI: KEY.hex()[:-2]}]
)
def test_config_refuses_bad_hls_keys_without_echoing_them(hls_keys: dict[str, str]) -> None:
    with pytest.raises(DrmConfigError) as info:
        DrmConfig(hls_keys=hls_keys)
    assert "MTIz" not in str(info.value) and KEY.hex()[:8] not in str(info.value)
    assert KEY.hex() not in repr(DrmConfig(hls_keys={"*": KEY.hex()}))


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        # Shaka Packager's 8-byte IV (16 digits): the bytes first, as FFmpeg and hls.js read it.
        ("0x3334353637383930", "33343536373839300000000000000000"),
        # 32 digits are used as written, also when the first 8 bytes are zero (RFC 8216's
        # media-sequence IV written out; Shaka Packager writes a 16-byte --iv so).
        ("0x00000000000000000000000000001E72", "00000000000000000000000000001e72"),
        ("0x00000000000000010000000000000000", "00000000000000010000000000000000"),
        ("0x0102030405060708090a0b0c0d0e0f10", "0102030405060708090a0b0c0d0e0f10"),
        # Other short values are RFC 8216's 128-bit integer: zeros on the left.
        ("0x1E72", "00000000000000000000000000001e72"),
        ("0X1", "00000000000000000000000000000001"),
        ("0x00000000000000000000000000000000", "00000000000000000000000000000000"),
    ],
)
def test_iv_padding_follows_the_digits_written(attribute: str, expected: str) -> None:
    assert hls_iv_from_hex(attribute).hex() == expected
    digits = attribute[2:]
    as_parsed = bytes.fromhex(digits.rjust(32, "0"))  # the playlist parser's RFC reading
    assert hls_key_iv(as_parsed, hex_digits=len(digits)).hex() == expected


def test_iv_from_elsewhere_is_used_as_given() -> None:
    iv = bytes.fromhex("00000000000000003334353637383930")
    assert hls_key_iv(iv, hex_digits=None) == iv  # e.g. DASH SEA CryptoPeriod@IV


@pytest.mark.parametrize("bad", ["0x", "0xZZ", "0x" + "1" * 33])
def test_bad_iv_attributes_are_typed_errors(bad: str) -> None:
    with pytest.raises(DecryptionError):
        hls_iv_from_hex(bad)


@pytest.mark.parametrize(("iv", "digits"), [(bytes(8), 16), (bytes(8), None), (b"\1" * 16, 16)])
def test_an_iv_that_does_not_fit_its_digits_is_a_typed_error(iv: bytes, digits: int | None) -> None:
    with pytest.raises(DecryptionError):
        hls_key_iv(iv, hex_digits=digits)
