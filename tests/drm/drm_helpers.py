"""Shared helpers for the drm tests: corpus location, sample hashing, decoding with PyAV."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import av
import av.logging

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
