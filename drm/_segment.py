"""Whole-segment decryption: HLS ``AES-128``/``AES-256``/``AES-256-CTR`` and DASH SEA (sans-I/O)."""

from __future__ import annotations

from Crypto.Cipher import AES

from drm.errors import DecryptionError

__all__ = ["decrypt_hls_segment", "hls_iv", "hls_iv_from_hex", "hls_key_iv", "pkcs7_unpad"]

_BLOCK = 16
_HALF = 8
_SHORT_IV_DIGITS = 16  # Shaka Packager's 8-byte IVs
_METHODS = ("AES-128", "AES-256", "AES-256-CTR")


def hls_iv(media_sequence: int) -> bytes:
    """Return the default HLS IV: the media sequence number as a 128-bit big-endian integer.

    Args:
        media_sequence: The segment's media sequence number (RFC 8216 section 5.2).

    Returns:
        16 bytes.

    Raises:
        DecryptionError: The number is negative or too large.

    >>> hls_iv(2).hex()
    '00000000000000000000000000000002'
    """
    if not 0 <= media_sequence < 1 << 128:
        raise DecryptionError(f"media sequence number {media_sequence} out of range")
    return media_sequence.to_bytes(_BLOCK, "big")


def hls_key_iv(iv: bytes, *, hex_digits: int | None) -> bytes:
    """Return the IV to decrypt with, given an ``EXT-X-KEY`` ``IV`` and how it was written.

    RFC 8216 calls the attribute a 128-bit integer, so a short value has zeros on the left,
    and a playlist parser reads it so (``iv`` as the player's manifest model holds it). But
    Shaka Packager writes an 8-byte IV as exactly 16 hex digits meaning those 8 bytes first
    and zeros on the right, and FFmpeg (and hls.js) read every short IV that way. The
    padding is decided from the number of digits written, for every method:

    - 32 digits (or ``hex_digits`` ``None``: an IV that did not come from a tag, e.g. DASH
      SEA's ``CryptoPeriod@IV``): used as written;
    - exactly 16 digits (an 8-byte IV): the 8 bytes, then 8 zero bytes;
    - any other length: RFC 8216's integer reading, as given.

    Args:
        iv: 16 bytes, the integer the attribute spells (zeros on the left).
        hex_digits: How many hex digits the attribute had, without ``0x``.

    Returns:
        16 bytes.

    Raises:
        DecryptionError: ``iv`` is not 16 bytes, or is wider than ``hex_digits`` allow.

    >>> hls_key_iv(bytes.fromhex("00000000000000003334353637383930"), hex_digits=16).hex()
    '33343536373839300000000000000000'
    >>> hls_key_iv(bytes.fromhex("00000000000000000000000000001e72"), hex_digits=32).hex()
    '00000000000000000000000000001e72'
    >>> hls_key_iv(bytes.fromhex("00000000000000000000000000001e72"), hex_digits=4).hex()
    '00000000000000000000000000001e72'
    """
    if len(iv) != _BLOCK:
        raise DecryptionError(f"IV has {len(iv)} bytes, expected {_BLOCK}")
    if hex_digits != _SHORT_IV_DIGITS:
        return iv
    if any(iv[:_HALF]):
        raise DecryptionError(f"IV is wider than the {hex_digits} hex digits it was written with")
    return iv[_HALF:] + bytes(_HALF)


def hls_iv_from_hex(text: str) -> bytes:
    """Return the 16-byte IV of an ``EXT-X-KEY`` ``IV=0x...`` attribute.

    The padding of a short value is decided as :func:`hls_key_iv` says: 16 hex digits are
    Shaka Packager's 8-byte IV (zeros on the right), other short values RFC 8216's integer
    (zeros on the left).

    Args:
        text: The attribute value, with or without ``0x``.

    Returns:
        16 bytes.

    Raises:
        DecryptionError: Not hexadecimal, empty, or longer than 32 digits.

    >>> hls_iv_from_hex("0x3334353637383930").hex()
    '33343536373839300000000000000000'
    >>> hls_iv_from_hex("0x1e72").hex()
    '00000000000000000000000000001e72'
    """
    digits = (text[2:] if text[:2].lower() == "0x" else text).strip()
    if not 0 < len(digits) <= 2 * _BLOCK:
        raise DecryptionError(f"IV attribute has {len(digits)} hex digits, expected 1 to 32")
    try:
        iv = bytes.fromhex(digits.rjust(2 * _BLOCK, "0"))
    except ValueError:
        raise DecryptionError("IV attribute is not hexadecimal") from None
    return hls_key_iv(iv, hex_digits=len(digits))


def pkcs7_unpad(data: bytes) -> bytes:
    """Strip PKCS#7 padding.

    Args:
        data: Decrypted bytes, a multiple of 16 long.

    Returns:
        The unpadded bytes.

    Raises:
        DecryptionError: The padding is invalid (usually a wrong key or IV).

    >>> pkcs7_unpad(b"abc" + bytes([13]) * 13)
    b'abc'
    """
    if not data or len(data) % _BLOCK:
        raise DecryptionError(f"padded data length {len(data)} is not a positive multiple of 16")
    pad = data[-1]
    if not 1 <= pad <= _BLOCK or data[-pad:] != bytes([pad]) * pad:
        raise DecryptionError("invalid PKCS#7 padding (wrong key or IV?)")
    return data[:-pad]


def decrypt_hls_segment(
    data: bytes | bytearray | memoryview,
    key: bytes,
    *,
    iv: bytes | None = None,
    media_sequence: int | None = None,
    method: str = "AES-128",
) -> bytes:
    """Decrypt a whole HLS segment (or a DASH SEA ``aes128-cbc`` segment).

    ``AES-128`` and ``AES-256`` are CBC with PKCS#7 padding; ``AES-256-CTR`` is CTR
    without padding. The IV comes from the ``EXT-X-KEY`` tag when it has one, else
    from the media sequence number.

    Args:
        data: The encrypted segment.
        key: 16 bytes for ``AES-128``, 32 bytes for the AES-256 methods.
        iv: The 16-byte IV from the tag (or the SEA ``CryptoPeriod@IV``).
        media_sequence: Used for the IV when ``iv`` is ``None``.
        method: ``AES-128``, ``AES-256`` or ``AES-256-CTR``.

    Returns:
        The clear segment.

    Raises:
        DecryptionError: Bad key or IV size, bad padding, or no IV source.
    """
    if method not in _METHODS:
        raise DecryptionError(f"unsupported HLS key method {method!r}")
    if len(key) != (16 if method == "AES-128" else 32):
        raise DecryptionError(f"{method} needs a {16 if method == 'AES-128' else 32}-byte key")
    if iv is None:
        if media_sequence is None:
            raise DecryptionError("no IV: give the tag's IV or the media sequence number")
        iv = hls_iv(media_sequence)
    if len(iv) != _BLOCK:
        raise DecryptionError(f"IV must be 16 bytes, got {len(iv)}")
    if method == "AES-256-CTR":
        return bytes(AES.new(key, AES.MODE_CTR, nonce=b"", initial_value=iv).decrypt(data))
    if len(data) % _BLOCK:
        raise DecryptionError(f"segment length {len(data)} is not a multiple of 16")
    return pkcs7_unpad(AES.new(key, AES.MODE_CBC, iv=iv).decrypt(data))
