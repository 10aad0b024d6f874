"""Media generated with PyAV at test time for the drm tests."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

FRAG = "frag_keyframe+empty_moov+default_base_moof"


def make_clear_mp4(seconds: int = 2, *, options: dict[str, str] | None = None) -> bytes:
    """A small fragmented MP4: 160x90 H.264 at 25 fps (1 s GOP) and mono AAC at 48 kHz."""
    buf = io.BytesIO()
    opts = {"movflags": FRAG, **(options or {})}
    with av.open(buf, "w", format="mp4", options=opts) as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 160, 90, "yuv420p"
        video.options = {"g": "25"}
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


@pytest.fixture(scope="session")
def clear_mp4() -> bytes:
    return make_clear_mp4()
