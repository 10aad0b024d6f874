"""Sample decryption for the four ISO/IEC 23001-7 schemes (sans-I/O, CPU only).

``cenc`` runs AES-CTR straight into the output buffer, one cipher object per run of
samples whose IVs continue the counter (a new one per sample with 8-byte IVs).
The block schemes (``cbcs``, ``cens``, ``cbc1``) gather every encrypted 16-byte block of
a whole run of samples with numpy, run a single AES-ECB call over all of them and
finish CBC chaining or CTR keystreams with vectorised XORs, so the Python work is per
sample, never per block or per byte.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from Crypto.Cipher import AES
from numpy.lib.stride_tricks import as_strided

from drm._mp4 import FragmentSample, TrackEncryption
from drm.errors import DecryptionError

__all__: list[str] = []

KeyLookup = Callable[[str], bytes]
_BLOCK = 16


def _ranges(sample: FragmentSample, shift: int) -> list[tuple[int, int]]:
    if sample.subsamples is None:
        return [(sample.offset - shift, sample.size)]
    out, pos = [], sample.offset - shift
    for clear, protected in sample.subsamples:
        pos += clear
        if protected:
            out.append((pos, protected))
        pos += protected
    return out


def _decrypt_ctr_samples(
    src: memoryview,
    dst: memoryview,
    samples: Sequence[FragmentSample],
    key: bytes,
    shifts: tuple[int, int],
) -> None:
    """Decrypt ``cenc`` samples, one AES-CTR object per run of samples.

    When a sample's IV is exactly where the previous sample's counter stopped (16-byte
    IVs that packagers continue across samples), the same cipher object carries on;
    otherwise (e.g. 8-byte IVs, incremented per sample) a new one starts.
    """
    read_shift, write_shift = shifts
    cipher: Any = None
    expected = -1
    for sample in samples:
        if sample.iv is None:
            raise DecryptionError("cenc sample without an IV")
        counter = int.from_bytes(sample.iv, "big")
        if counter != expected:
            cipher = AES.new(key, AES.MODE_CTR, nonce=b"", initial_value=sample.iv)
        used = 0
        for start, length in _ranges(sample, 0):
            at, to = start - read_shift, start - write_shift
            cipher.decrypt(src[at : at + length], output=dst[to : to + length])
            used += length
        if used % _BLOCK:
            cipher.decrypt(bytes(_BLOCK - used % _BLOCK))  # the next sample starts a block
        expected = (counter + -(-used // _BLOCK)) % (1 << 128)


def _block_layout(
    samples: Sequence[FragmentSample], enc: TrackEncryption, shift: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return per range: start offset, encrypted block count, sample index; and IVs."""
    starts: list[int] = []
    counts: list[int] = []
    owners: list[int] = []
    ivs: list[bytes] = []
    crypt, skip = (enc.crypt_byte_block, enc.skip_byte_block) if enc.crypt_byte_block else (1, 0)
    period = crypt + skip
    for index, sample in enumerate(samples):
        iv = sample.iv or enc.constant_iv
        if iv is None:
            raise DecryptionError(f"{enc.scheme} sample without an IV")
        ivs.append(iv)
        for start, length in _ranges(sample, shift):
            full = length // _BLOCK
            starts.append(start)
            counts.append((full // period) * crypt + min(full % period, crypt))
            owners.append(index)
    return (
        np.asarray(starts, dtype=np.int64),
        np.asarray(counts, dtype=np.int64),
        np.asarray(owners, dtype=np.int64),
        np.frombuffer(b"".join(ivs), dtype=np.uint8).reshape(-1, _BLOCK),
    )


def _decrypt_block_samples(
    out: bytearray, samples: Sequence[FragmentSample], enc: TrackEncryption, key: bytes, shift: int
) -> None:
    starts, counts, owners, ivs = _block_layout(samples, enc, shift)
    total = int(counts.sum())
    if total == 0:
        return
    crypt, skip = (enc.crypt_byte_block, enc.skip_byte_block) if enc.crypt_byte_block else (1, 0)
    range_of_block = np.repeat(np.arange(len(starts)), counts)
    first = np.cumsum(counts) - counts
    j = np.arange(total, dtype=np.int64) - first[range_of_block]
    offsets = starts[range_of_block] + _BLOCK * ((j // crypt) * (crypt + skip) + j % crypt)
    buf = np.frombuffer(out, dtype=np.uint8)
    if len(buf) < _BLOCK:
        raise DecryptionError("segment too small to hold an encrypted block")
    windows = as_strided(buf, shape=(len(buf) - _BLOCK + 1, _BLOCK), strides=(1, 1), writeable=True)
    blocks = windows[offsets]
    sample_of_block = owners[range_of_block]
    ecb = AES.new(key, AES.MODE_ECB)
    if enc.scheme in ("cbcs", "cbc1"):
        chain = range_of_block if enc.scheme == "cbcs" else sample_of_block
        previous = np.empty_like(blocks)
        previous[1:] = blocks[:-1]
        is_start = np.ones(total, dtype=bool)
        is_start[1:] = chain[1:] != chain[:-1]
        previous[is_start] = ivs[sample_of_block[is_start]]
        plain = np.frombuffer(ecb.decrypt(blocks.tobytes()), dtype=np.uint8).reshape(-1, _BLOCK)
        windows[offsets] = plain ^ previous
        return
    # cens: CTR over the encrypted blocks of each sample, counter = IV + block index.
    sample_first = np.zeros(len(samples), dtype=np.int64)
    per_sample = np.bincount(sample_of_block, minlength=len(samples))
    sample_first[1:] = np.cumsum(per_sample)[:-1]
    k = (np.arange(total, dtype=np.int64) - sample_first[sample_of_block]).astype(np.uint64)
    iv_words = ivs.view(">u8").astype(np.uint64)
    hi, lo = iv_words[sample_of_block, 0], iv_words[sample_of_block, 1]
    new_lo = lo + k
    new_hi = hi + (new_lo < lo).astype(np.uint64)
    counters = np.stack([new_hi, new_lo], axis=1).astype(">u8").tobytes()
    stream = np.frombuffer(ecb.encrypt(counters), dtype=np.uint8).reshape(-1, _BLOCK)
    windows[offsets] = blocks ^ stream


def decrypt_samples(
    buf: bytearray,
    samples: Sequence[FragmentSample],
    keys: KeyLookup,
    *,
    shift: int = 0,
    source: bytes | None = None,
) -> int:
    """Decrypt protected samples into ``buf``.

    Args:
        buf: Receives the clear bytes; block schemes are decrypted in place in it.
        samples: Samples from :func:`drm.iter_fragment_samples`.
        keys: Returns the 16-byte key for a key id; raises ``KeyNotFound``.
        shift: Subtracted from every sample offset to address ``buf`` (the bytes removed
            before the samples when ``buf`` is a rewritten copy of the parsed segment).
        source: Where ``cenc`` ciphertext is read (at the unshifted offsets); ``buf`` when
            ``None``.

    Returns:
        The number of samples that were decrypted.

    Raises:
        KeyNotFound: A needed key is missing.
        DecryptionError: The encryption info is inconsistent.
    """
    groups: dict[int, list[FragmentSample]] = {}
    encs: dict[int, TrackEncryption] = {}
    for sample in samples:
        enc = sample.encryption
        if enc is None or not enc.is_protected:
            continue
        groups.setdefault(id(enc), []).append(sample)
        encs[id(enc)] = enc
    view = memoryview(buf)
    src = view if source is None else memoryview(source)
    ctr_shifts = (shift if source is None else 0, shift)
    done = 0
    for group, members in groups.items():
        enc = encs[group]
        key = keys(enc.default_kid)
        if enc.scheme == "cenc":
            _decrypt_ctr_samples(src, view, members, key, ctr_shifts)
        else:
            _decrypt_block_samples(buf, members, enc, key, shift)
        done += len(members)
    return done
