"""Decrypt throughput of a ~20 MB cenc and cbcs video rendition vs raw pycryptodome AES.

Run: ``python benchmarks/bench_drm.py [--runs 7] [--mb 20]``. The content is generated with
PyAV (H.264, 1280x720, 30 fps), packaged with ``drm.package_mp4`` under a random key and
decrypted with ``drm.CencDecryptor.decrypt_segment`` (parse, one copy with the boxes
rewritten, decrypt) and with ``decrypt_segment_in_place`` (no copy). The baselines run in
the same process over the same number of protected bytes (allocating an output for the
copy path, in place for the in-place path):

* cenc: one raw AES-CTR ``decrypt`` over all bytes the samples protect;
* cbcs: one raw AES-CBC ``decrypt`` over all encrypted 16-byte blocks (1 in 10 blocks).

Each run times the raw baseline then ours back to back; figures are medians over
``--runs`` runs (the ratio is the median of the per-run ratios). Throughput is over the
whole segment size.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
from Crypto.Cipher import AES

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drm import CencDecryptor, iter_fragment_samples, package_mp4, parse_init  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "streamsdk-bench-drm"


def make_video(target_mb: float) -> bytes:
    """A fragmented H.264 rendition of about ``target_mb`` megabytes (2 s fragments)."""
    path = CACHE / f"bench-{target_mb:g}mb.mp4"
    if path.exists():
        return path.read_bytes()
    buf = io.BytesIO()
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    opts = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
    with av.open(buf, "w", format="mp4", options=opts) as container:
        video = container.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 1280, 720, "yuv420p"
        video.options = {"preset": "ultrafast", "g": "60", "crf": "23"}
        i = 0
        while buf.tell() < target_mb * 1e6:
            noise = rng.integers(0, 48, (720, 1280, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(
                np.roll(base, 8 * i, axis=1) // 2 + noise, format="rgb24"
            )
            frame.pts = i
            container.mux(video.encode(frame))
            i += 1
        container.mux(video.encode())
    CACHE.mkdir(exist_ok=True)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def interleaved(
    ours: Callable[[bytearray], object],
    raw: Callable[[bytearray], object],
    inputs: tuple[bytes, bytes],
    runs: int,
) -> tuple[float, float, float]:
    """Alternate the two so both see the same machine load; return medians and median ratio.

    Each callable gets a fresh mutable copy of its input, made outside the timed region.
    """
    ours_s: list[float] = []
    raw_s: list[float] = []
    for _ in range(runs):
        for run, source, times in ((raw, inputs[1], raw_s), (ours, inputs[0], ours_s)):
            buffer = bytearray(source)
            start = time.perf_counter()
            run(buffer)
            times.append(time.perf_counter() - start)
    ratios = [r / o for r, o in zip(raw_s, ours_s, strict=True)]
    return statistics.median(ours_s), statistics.median(raw_s), statistics.median(ratios)


def protected_bytes(data: bytes, init: bytes, scheme: str) -> bytes:
    """What the raw baseline processes: protected bytes (cenc) or encrypted blocks (cbcs)."""
    parts: list[bytes] = []
    for _, samples in iter_fragment_samples(data, parse_init(init)):
        for s in samples:
            pos = s.offset
            for clear, prot in s.subsamples or [(0, s.size)]:
                pos += clear
                if scheme == "cenc":
                    parts.append(data[pos : pos + prot])
                else:
                    full = prot // 16
                    parts.extend(data[pos + 16 * b : pos + 16 * b + 16] for b in range(0, full, 10))
                pos += prot
    return b"".join(parts)


def bench(scheme: str, clear: bytes, runs: int, iv_size: int = 8) -> dict[str, float]:
    kid, key = os.urandom(16).hex(), os.urandom(16)
    protected = package_mp4(clear, key_id=kid, key=key, scheme=scheme, iv_size=iv_size)
    split = protected.find(b"moof") - 4
    init, segment = protected[:split], protected[split:]
    decryptor = CencDecryptor(init, {kid: key})
    assert decryptor.clear_init() + decryptor.decrypt_segment(segment) == clear
    payload = protected_bytes(segment, init, scheme)

    def cipher() -> Any:
        if scheme == "cenc":
            return AES.new(key, AES.MODE_CTR, nonce=b"", initial_value=bytes(16))
        return AES.new(key, AES.MODE_CBC, iv=bytes(16))

    segment_copy, payload_copy = bytes(segment), bytes(payload)
    inputs = (segment, payload)
    ours, raw, ratio = interleaved(
        lambda _: decryptor.decrypt_segment(segment_copy),
        lambda _: cipher().decrypt(payload_copy),
        inputs,
        runs,
    )
    ours_ip, raw_ip, ratio_ip = interleaved(
        decryptor.decrypt_segment_in_place, lambda b: cipher().decrypt(b, output=b), inputs, runs
    )
    samples = sum(len(s) for _, s in iter_fragment_samples(segment, parse_init(init)))
    return {
        "segment_mb": len(segment) / 1e6,
        "samples": samples,
        "protected_mb": len(payload) / 1e6,
        "ours_mb_s": len(segment) / 1e6 / ours,
        "ours_protected_mb_s": len(payload) / 1e6 / ours,
        "raw_mb_s": len(payload) / 1e6 / raw,
        "ratio": ratio,
        "in_place_mb_s": len(segment) / 1e6 / ours_ip,
        "raw_in_place_mb_s": len(payload) / 1e6 / raw_ip,
        "ratio_in_place": ratio_ip,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--mb", type=float, default=20.0)
    args = parser.parse_args()
    clear = make_video(args.mb)
    targets = {"cenc": 0.80, "cbcs": 0.50}
    for label, scheme, iv_size in (
        ("cenc (8-byte IVs)", "cenc", 8),
        ("cenc (16-byte IVs)", "cenc", 16),
        ("cbcs", "cbcs", 16),
    ):
        r = bench(scheme, clear, args.runs, iv_size)
        verdict = "PASS" if r["ratio"] >= targets[scheme] else "MISS"
        print(
            f"{label}: segment {r['segment_mb']:.1f} MB, {r['samples']:.0f} samples, "
            f"protected {r['protected_mb']:.2f} MB | copy path: ours {r['ours_mb_s']:.0f} MB/s "
            f"({r['ours_protected_mb_s']:.0f} MB/s of protected bytes), raw "
            f"{'CTR' if scheme == 'cenc' else 'CBC'} {r['raw_mb_s']:.0f} MB/s, "
            f"ratio {r['ratio']:.2f} (target {targets[scheme]:.2f}) {verdict}"
        )
        verdict = "PASS" if r["ratio_in_place"] >= targets[scheme] else "MISS"
        print(
            f"{label}: in place: ours {r['in_place_mb_s']:.0f} MB/s "
            f"({r['in_place_mb_s'] * r['protected_mb'] / r['segment_mb']:.0f} MB/s of protected"
            f" bytes), raw in place {r['raw_in_place_mb_s']:.0f} MB/s, "
            f"ratio {r['ratio_in_place']:.2f} {verdict}"
        )


if __name__ == "__main__":
    main()
