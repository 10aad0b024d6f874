"""The drm package's fuzz targets (imported by scripts/fuzz.py, which runs them).

Every target may raise only ``drm.DrmError`` subclasses. Seeds are the shared corpus's
encrypted media (``../shared/corpus/media``) and small hand-made inputs.
"""

from __future__ import annotations

import base64
import functools
import json
import random
from pathlib import Path

from fuzz import MEDIA, register

import drm

KID = "31323334353637383930313233343536"
KEY = bytes.fromhex("32333435363738393021323334353637")
CLEARKEY = ("4060a865887842679cbf91ae5bae1e72", bytes.fromhex("fc35340837310cc0fb53de97e22a69e0"))
ANDROIDX = ("cd7eb9ff88f34caeb06185b00024e4c2", bytes.fromhex("63cb5f7184dd4b689a5c5ff11ee6a328"))
KEYS = {KID: KEY, CLEARKEY[0]: CLEARKEY[1], ANDROIDX[0]: ANDROIDX[1]}
ALLOWED = (drm.DrmError,)


def _read(relative: str) -> bytes:
    return (MEDIA / relative).read_bytes()


def _first_fragments(data: bytes, count: int) -> bytes:
    """The boxes before the first ``moof`` and the first ``count`` moof+mdat pairs."""
    kept, moofs = [], 0
    for box in drm.iter_boxes(data):
        if box.type == "moof":
            moofs += 1
            if moofs > count:
                break
        if box.type != "sidx":
            kept.append(data[box.start : box.end])
    return b"".join(kept)


@functools.cache
def _segment_pairs() -> list[tuple[bytes, bytes]]:
    """(init, media segment) pairs with ``cenc`` subsample and whole-sample encryption."""
    live = "shaka-packager/live-cenc-segments/bear-640x360-"
    return [
        (_read(f"{live}audio-init.mp4"), _read(f"{live}audio-2.m4s")),
        (_read(f"{live}audio-init.mp4"), _read(f"{live}audio-3.m4s")),
        (
            _read("shaka-player/dash-clearkey/video-H264-288-400k_init.mp4"),
            _read("shaka-player/dash-clearkey/video-H264-288-400k_1.m4s"),
        ),
    ]


@functools.cache
def _whole_files(schemes: tuple[str, ...]) -> list[bytes]:
    files = []
    for scheme in schemes:
        for kind, count in (("audio", 2), ("video", 1)):
            data = _read(f"shaka-packager/{scheme}/bear-640x360-{kind}.mp4")
            files.append(_first_fragments(data, count))
    return files


def _inits() -> list[bytes]:
    return [init for init, _ in _segment_pairs()] + _whole_files(("cbcs",))


@register("drm.boxes", allowed=ALLOWED, seeds=_inits, is_mp4=True)
def boxes(data: bytes) -> None:
    """The box reader: every top-level box, and the tree of every container."""
    for box in drm.iter_boxes(data):
        if box.type in ("moov", "moof"):
            drm.read_box_tree(data, box).serialize()
    drm.find_box(data, "moov/trak/mdia/minf/stbl/stsd")


@register("drm.init", allowed=ALLOWED, seeds=_inits, is_mp4=True)
def init(data: bytes) -> None:
    """Init segments: tracks, protection, and the clear copy."""
    drm.parse_init(data).key_ids()
    drm.clear_init_segment(data)


def _cenc_seeds() -> list[bytes]:
    return [segment for _, segment in _segment_pairs()]


@functools.cache
def _decryptors() -> dict[int, drm.CencDecryptor]:
    return {len(segment): drm.CencDecryptor(init, KEYS) for init, segment in _segment_pairs()}


@register("drm.cenc", allowed=ALLOWED, seeds=_cenc_seeds, is_mp4=True)
def cenc(data: bytes) -> None:
    """``CencDecryptor.decrypt_segment`` and ``decrypt_segment_in_place`` on media segments."""
    decryptors = list(_decryptors().values())
    decryptor = decryptors[len(data) % len(decryptors)]
    decryptor.decrypt_segment(data)
    decryptor.decrypt_segment_in_place(bytearray(data))


def _mp4_seeds() -> list[bytes]:
    androidx = _read("androidx-media/sample_av1c_fragmented_clearkey.mp4")
    pairs = [init + segment for init, segment in _segment_pairs()]
    return [androidx, *pairs, *_whole_files(("cenc",))]


@register("drm.cenc_mp4", allowed=ALLOWED, seeds=_mp4_seeds, is_mp4=True)
def cenc_mp4(data: bytes) -> None:
    """``decrypt_mp4`` on whole ``cenc`` files (moov and fragments mutated together)."""
    drm.decrypt_mp4(data, KEYS)


@register(
    "drm.cbcs",
    allowed=ALLOWED,
    seeds=lambda: _whole_files(("cbcs", "cens", "cbc1")),
    is_mp4=True,
)
def cbcs(data: bytes) -> None:
    """``decrypt_mp4`` on the block schemes: ``cbcs``, ``cens`` and ``cbc1``."""
    drm.decrypt_mp4(data, KEYS)


@functools.cache
def _ts_seeds() -> list[bytes]:
    folder = "shaka-packager/hls-ts-sample-aes/bear-640x360-"
    return [_read(f"{folder}{name}.ts")[: 188 * 64] for name in ("video-2", "audio-2", "audio-3")]


_TS_IV = drm.hls_iv_from_hex("0x3334353637383930")


@register("drm.sample_aes_ts", allowed=ALLOWED, seeds=_ts_seeds)
def sample_aes_ts(data: bytes) -> None:
    """``decrypt_sample_aes_ts`` (H.264 and AAC) on MPEG-TS segments."""
    drm.decrypt_sample_aes_ts(data, KEY, _TS_IV)


def _license_seeds() -> list[bytes]:
    kid = drm.b64url_encode(bytes.fromhex(KID))
    key = drm.b64url_encode(KEY)
    good = {"keys": [{"kty": "oct", "kid": kid, "k": key}], "type": "temporary"}
    return [
        json.dumps(good).encode(),
        json.dumps({"keys": [{"kty": "oct", "kid": kid, "k": key, "alg": "A128KW"}]}).encode(),
        json.dumps({"keys": [], "type": "persistent-license"}).encode(),
        json.dumps({"keys": [good["keys"][0]] * 3}).encode(),
        b'{"keys": [{"kty": "oct", "kid": "' + kid.encode() + b'", "k": "' + key.encode() + b'"}]}',
    ]


_JSON_ODD: tuple[object, ...] = (None, True, 0, -1, 2**64, 1.5, "", "oct", "x" * 300, [], {})


def _mutate_json(value: object, rng: random.Random, depth: int = 0) -> object:
    """Change one thing somewhere in a decoded JSON document."""
    if isinstance(value, dict) and value and depth < 6:
        key = rng.choice(list(value))
        choice = rng.randrange(4)
        if choice == 0:
            return {k: v for k, v in value.items() if k != key}
        if choice == 1:
            return {**value, key: rng.choice(_JSON_ODD)}
        if choice == 2:
            return {**value, rng.choice(("kid", "k", "kty", "keys", "type", "alg")): value[key]}
        return {**value, key: _mutate_json(value[key], rng, depth + 1)}
    if isinstance(value, list) and value and depth < 6:
        at = rng.randrange(len(value))
        choice = rng.randrange(3)
        if choice == 0:
            return value[:at] + value[at + 1 :]
        if choice == 1:
            return value + [value[at]] * rng.choice((1, 5, 100))
        return value[:at] + [_mutate_json(value[at], rng, depth + 1)] + value[at + 1 :]
    if isinstance(value, str) and value and rng.random() < 0.7:
        at = rng.randrange(len(value))
        return (
            value[:at] + rng.choice(("", "=", "+", "/", "-", "_", "\u00e9", "A")) + value[at + 1 :]
        )
    return rng.choice(_JSON_ODD)


def _license_mutator(data: bytes, rng: random.Random) -> bytes:
    doc = json.loads(data)
    for _ in range(rng.choice((1, 1, 2, 3))):
        doc = _mutate_json(doc, rng)
    return json.dumps(doc).encode()


@register("drm.license", allowed=ALLOWED, seeds=_license_seeds, mutator=_license_mutator)
def license_response(data: bytes) -> None:
    """ClearKey license bodies, parsed directly and through ``LicenseExchange``."""
    drm.parse_clearkey_response(data, requested=[KID])
    exchange = drm.LicenseExchange([KID], url="https://license.example/")
    exchange.receive_response(drm.LicenseResponse(status=200, body=data), now=0.0)


def _pssh_seeds() -> list[bytes]:
    boxes = [
        drm.build_pssh(drm.COMMON_SYSTEM_ID, key_ids=(KID, CLEARKEY[0])),
        drm.build_pssh(drm.CLEARKEY_SYSTEM_ID, key_ids=(KID,), data=b"\x08\x01"),
        drm.build_pssh(drm.WIDEVINE_SYSTEM_ID, data=b"\x12\x10" + bytes.fromhex(KID)),
    ]
    for init, _ in _segment_pairs():
        boxes.extend(
            init[box.start : box.end]
            for top in drm.iter_boxes(init)
            if top.type == "moov"
            for box in drm.iter_boxes(init, top.payload_start, top.end)
            if box.type == "pssh"
        )
    return boxes


@register("drm.pssh", allowed=ALLOWED, seeds=_pssh_seeds, is_mp4=True)
def pssh(data: bytes) -> None:
    """PSSH boxes: one box, a search through a file, and the KIDs a presentation needs."""
    drm.parse_pssh(data)
    drm.find_pssh(data)
    drm.collect_key_ids(default_kids=[KID], pssh=[data])


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _iv_seeds() -> list[bytes]:
    return [b"0x3334353637383930", b"0X" + b"0123456789abcdef" * 2, b"0x1", b"deadbeef" * 4]


@register("drm.hls_iv", allowed=ALLOWED, seeds=_iv_seeds)
def hls_iv(data: bytes) -> None:
    """``EXT-X-KEY`` IVs (text, and padding by digits written) and the media-sequence IV."""
    drm.hls_iv_from_hex(_text(data))
    drm.hls_key_iv(data[:16].rjust(16, b"\0"), hex_digits=len(data) % 40)
    drm.hls_iv(int.from_bytes(data[:20], "big"))


def _key_uri_seeds() -> list[bytes]:
    key = base64.b64encode(KEY)
    return [
        b"data:text/plain;base64," + key,
        b"data:;base64," + base64.urlsafe_b64encode(KEY).rstrip(b"="),
        b"data:application/octet-stream," + b"".join(b"%%%02X" % byte for byte in KEY),
        b"data:text/plain;base64," + base64.b64encode(bytes(32)),
        b"https://keys.example/path/key.bin?token=abc#frag",
    ]


_CONFIG = drm.DrmConfig(keys={KID: KEY.hex()}, hls_keys={"*": KEY.hex()})


@register("drm.hls_key", allowed=ALLOWED, seeds=_key_uri_seeds)
def hls_key(data: bytes) -> None:
    """HLS identity keys: ``data:`` URIs, sizes, out-of-band lookup, safe descriptions."""
    uri = _text(data)
    description = drm.describe_key_uri(uri)
    if uri[:5].lower() == "data:":
        assert "base64," not in description, "a data: URI payload reached a description"
        secret = drm.hls_key_from_data_uri(uri)
        drm.check_hls_key(secret, method="AES-128", uri=uri)
    drm.configured_hls_key(_CONFIG, uri=uri, key_id=None)


def _segment_seeds() -> list[bytes]:
    from Crypto.Cipher import AES

    clear = Path(__file__).read_bytes()[:1000]
    pad = 16 - len(clear) % 16
    return [AES.new(KEY, AES.MODE_CBC, iv=bytes(16)).encrypt(clear + bytes([pad]) * pad)]


@register("drm.whole_segment", allowed=ALLOWED, seeds=_segment_seeds)
def whole_segment(data: bytes) -> None:
    """HLS AES-128 (CBC + PKCS#7) whole segments: lengths and padding."""
    drm.decrypt_hls_segment(data, KEY, iv=bytes(16))
    drm.decrypt_hls_segment(data, KEY + KEY, media_sequence=len(data), method="AES-256-CTR")
