"""Shared helpers for the drm tests: corpus location, sample hashing, decoding with PyAV."""

from __future__ import annotations

import functools
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import av
import av.logging
import numpy as np

from drm import iter_fragment_samples, parse_init

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
MEDIA = SHARED / "corpus" / "media"


def corpus_keys() -> dict[str, Any]:
    return json.loads((MEDIA / "keys.json").read_text(encoding="utf-8"))


def samples(data: bytes, init: bytes | None = None, track_id: int | None = None) -> list[bytes]:
    info = parse_init(init if init is not None else data)
    out: list[bytes] = []
    for _, items in iter_fragment_samples(data, info):
        out.extend(
            data[s.offset : s.offset + s.size]
            for s in items
            if track_id is None or s.track_id == track_id
        )
    return out


def sha1_of(parts: list[bytes]) -> str:
    h = hashlib.sha1()
    for part in parts:
        h.update(part)
    return h.hexdigest()


def decode(data: bytes, kind: str = "video") -> tuple[int, list[str]]:
    """Decode every frame of ``kind``; return (frames, decoder error messages)."""
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture() as logs:
            with av.open(io.BytesIO(data)) as container:
                stream = (
                    container.streams.video[0] if kind == "video" else container.streams.audio[0]
                )
                frames = sum(1 for _ in container.decode(stream))
    finally:
        av.logging.set_level(None)
    return frames, [msg for level, _, msg in logs if level <= av.logging.ERROR]


FRAG = "frag_keyframe+empty_moov+default_base_moof"


def make_clear_mp4(
    seconds: int = 2, *, options: dict[str, str] | None = None, codec: str = "libx264"
) -> bytes:
    """A small fragmented MP4: 160x90 H.264 at 25 fps (1 s GOP) and mono AAC at 48 kHz."""
    buf = io.BytesIO()
    opts = {"movflags": FRAG, **(options or {})}
    with av.open(buf, "w", format="mp4", options=opts) as container:
        video = container.add_stream(codec, rate=25)
        video.width, video.height, video.pix_fmt = 160, 90, "yuv420p"
        video.options = {"g": "25", "threads": "1"}  # single-threaded: repeatable output
        audio = container.add_stream("aac", rate=48000)
        rng = np.random.default_rng(7)
        for i in range(seconds * 25):
            pixels = rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode())
        for i in range(seconds * 48000 // 1024):
            t = np.arange(1024) + i * 1024
            tone = (0.3 * np.sin(2 * np.pi * 440 * t / 48000)).astype(np.float32).reshape(1, -1)
            chunk = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 48000, i * 1024
            container.mux(audio.encode(chunk))
        container.mux(audio.encode())
    return buf.getvalue()


@functools.cache
def shared_clear_mp4() -> bytes:
    """The default clear test file, generated once per test session."""
    return make_clear_mp4()
