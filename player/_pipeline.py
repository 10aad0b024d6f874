"""What happens to a segment's bytes after download: decryption and decoding.

The session hands every init and media segment to a ``MediaProcessor``. The clear one
passes bytes through; the DRM one (``player._protection``) acquires keys and decrypts.
Decoding runs in a worker thread (STYLE.md section 7: CPU work off the event loop).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from player._decode import DecodeResult, TrackDecoder
from player.manifest import HlsKey, Representation, Segment

__all__: list[str] = []


class MediaProcessor(Protocol):
    """Turns downloaded bytes into clear bytes the decoder can read."""

    async def prepare_init(
        self, rep: Representation, init: bytes, *, key: HlsKey | None = None
    ) -> bytes:
        """Return the clear init segment for ``rep`` (keys are acquired here if needed).

        ``key`` is the HLS key in force for the ``EXT-X-MAP`` (whole-init encryption).
        """
        ...

    async def process_segment(
        self, rep: Representation, segment: Segment, data: bytes, *, init: bytes
    ) -> bytes:
        """Return the clear media segment (``init`` is the downloaded, encrypted init)."""
        ...


class ClearProcessor:
    """Content without encryption: bytes pass through."""

    async def prepare_init(
        self, rep: Representation, init: bytes, *, key: HlsKey | None = None
    ) -> bytes:
        """Return ``init`` unchanged."""
        return init

    async def process_segment(
        self, rep: Representation, segment: Segment, data: bytes, *, init: bytes
    ) -> bytes:
        """Return ``data`` unchanged."""
        return data


@dataclass(slots=True)
class DecodeTally:
    """Running decode figures for one track.

    Attributes:
        frames: Frames decoded.
        errors: Decoder errors.
        gaps: Timestamp discontinuities between consecutive segments.
        dropped_frames: Frames missing at those gaps (estimated from the frame duration).
        pts_s: Every frame time decoded, in order (kept for QA checks when asked).
        frame_hashes: ``frame_digest`` of every video frame decoded, in the order of
            ``pts_s``, when hashing was asked for.
        positions_s: Every frame's place on the presentation timeline, in the order of
            ``pts_s``: its time minus the track's offset from the manifest timeline, taken
            at the first segment after each boundary (start, seek, discontinuity). QA
            counts the frames inside the span played with it.
        samples: Audio samples decoded (per channel).
        sample_rate: Audio sample rate, Hz, once known.
        offset_s: Decoded time minus manifest time since the last boundary.
        muxed_audio: The figures of the audio muxed into a video track's segments
            (MPEG-TS variants), once some was found; its frames are placed with the
            video's offset (one clock for both).
    """

    frames: int = 0
    errors: int = 0
    gaps: int = 0
    dropped_frames: int = 0
    pts_s: list[float] | None = None
    frame_hashes: list[str] | None = None
    positions_s: list[float] = field(default_factory=list)
    samples: int = 0
    sample_rate: int | None = None
    offset_s: float | None = None
    muxed_audio: DecodeTally | None = None


_GAP_TOLERANCE_S = 0.001  # below one frame at any real frame rate (not a tunable)


async def decode_segment(
    decoder: TrackDecoder,
    init: bytes,
    data: bytes,
    tally: DecodeTally,
    *,
    is_boundary: bool,
    start_s: float | None = None,
) -> DecodeResult:
    """Decode one segment in a worker thread and add its figures to ``tally``.

    Args:
        decoder: The track's decoder (keeps timestamp continuity).
        init: Clear init segment bytes.
        data: Clear media segment bytes.
        tally: Figures to update.
        is_boundary: A discontinuity or seek precedes this segment: gaps are expected.
        start_s: The segment's start on the manifest timeline (places frames for QA).

    Returns:
        The decoder's result for the segment.
    """
    if is_boundary:
        decoder.reset()
        tally.offset_s = None
        if tally.muxed_audio is not None:
            tally.muxed_audio.offset_s = None
    result = await asyncio.to_thread(decoder.decode, init, data)
    _add(tally, result, start_s)
    if result.muxed_audio is not None:
        if tally.muxed_audio is None:
            tally.muxed_audio = DecodeTally(pts_s=[] if tally.pts_s is not None else None)
        muxed = tally.muxed_audio
        if muxed.offset_s is None and tally.offset_s is not None:
            muxed.offset_s = tally.offset_s  # one clock for the streams of one segment
        _add(muxed, result.muxed_audio, start_s)
    return result


def _add(tally: DecodeTally, result: DecodeResult, start_s: float | None) -> None:
    """Add one segment's decode figures to ``tally``."""
    _place(tally, result, start_s)
    tally.frames += result.frames
    tally.errors += result.errors
    if tally.pts_s is not None:
        tally.pts_s.extend(result.pts_s)
    if tally.frame_hashes is not None:
        tally.frame_hashes.extend(result.frame_hashes)
    tally.samples += result.samples
    tally.sample_rate = tally.sample_rate or result.sample_rate
    if result.gap_s is not None and abs(result.gap_s) > _GAP_TOLERANCE_S:
        tally.gaps += 1
        if result.gap_s > 0 and len(result.pts_s) > 1:
            step = (max(result.pts_s) - min(result.pts_s)) / (len(result.pts_s) - 1)
            tally.dropped_frames += round(result.gap_s / step) if step > 0 else 0


def _place(tally: DecodeTally, result: DecodeResult, start_s: float | None) -> None:
    """Put the segment's frames on the presentation timeline (``DecodeTally.positions_s``)."""
    if not result.pts_s:
        return
    if tally.offset_s is None:
        tally.offset_s = min(result.pts_s) - start_s if start_s is not None else 0.0
    offset = tally.offset_s
    tally.positions_s.extend(pts - offset for pts in result.pts_s)
