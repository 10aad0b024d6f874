"""Decoding with PyAV for headless QA: count and check every frame.

Decoding is CPU work: the session calls ``TrackDecoder.decode`` through
``asyncio.to_thread``. FFmpeg reports many corrupt-stream problems (e.g. H.264 decoded
with the wrong key) only in its log, so the log is captured per thread and counted.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass, field

import av
import av.logging
import numpy as np

from player._edits import track_edits, without_edit_lists
from player.errors import DecodeError

__all__ = ["DecodeResult"]

_log = logging.getLogger(__name__)
_MAX_MESSAGES = 20  # error texts kept per segment for reports (not a tunable)


@dataclass(frozen=True, slots=True)
class DecodeResult:
    """What decoding one segment found.

    Attributes:
        frames: Frames decoded.
        errors: Packets the decoder rejected plus FFmpeg error-level log lines.
        pts_s: Presentation time of each frame, seconds, in decode-output order.
        gap_s: Timestamp gap between the previous segment's end and this one's first
            frame (positive: missing media; negative: overlap), ``None`` for the first.
        frame_hashes: ``frame_digest`` of each video frame when hashing was asked for.
        samples: Audio samples decoded (per channel), 0 for video.
        sample_rate: Audio sample rate, Hz, if audio was decoded.
        messages: The first error messages, for reports.
        muxed_audio: The audio muxed into a video segment (MPEG-TS variants), decoded
            alongside the pictures when the decoder was asked to; ``None`` otherwise or
            when the segment has no audio stream.
    """

    frames: int
    errors: int
    pts_s: tuple[float, ...] = ()
    gap_s: float | None = None
    frame_hashes: tuple[str, ...] = ()
    samples: int = 0
    sample_rate: int | None = None
    messages: tuple[str, ...] = field(default=(), repr=False)
    muxed_audio: DecodeResult | None = None


def frame_digest(frame: av.VideoFrame) -> str:
    """SHA-1 (hex) of a decoded picture: the visible samples of each plane, row by row.

    Planes are taken in order, and each row only up to the picture's width (line padding,
    whose content is undefined, is left out). For 8-bit ``yuv420p`` this is the SHA-1 of
    ``frame.to_ndarray().tobytes()``, so pictures decoded from the same bitstream by any
    FFmpeg build hash the same, and a reference can be computed from the clear source.

    Args:
        frame: A decoded video frame.

    Returns:
        40 hex digits.
    """
    digest = hashlib.sha1(usedforsecurity=False)
    components = frame.format.components
    for index, plane in enumerate(frame.planes):
        own = [c for c in components if c.plane == index] or list(components[:1])
        sample_bytes = max((c.bits + 7) // 8 for c in own)
        row_bytes = min(plane.line_size, plane.width * sample_bytes * len(own))
        rows = np.frombuffer(memoryview(plane), dtype=np.uint8)
        rows = rows[: plane.line_size * plane.height].reshape(plane.height, plane.line_size)
        digest.update(np.ascontiguousarray(rows[:, :row_bytes]).tobytes())
    return digest.hexdigest()


def _enable_error_logs() -> None:
    level = av.logging.get_level()
    if level is None or level < av.logging.ERROR:
        av.logging.set_level(av.logging.ERROR)


_BEFORE_START_S = 1e-6
"""A frame ending at or before this presentation time is outside the edit (not a tunable)."""


def _presentation_s(frame: av.VideoFrame | av.AudioFrame, shift_s: float) -> float | None:
    if frame.pts is None or frame.time_base is None:
        return None
    return float(frame.pts * frame.time_base) - shift_s


def _is_before_start(frame: av.VideoFrame | av.AudioFrame, at_s: float) -> bool:
    """Whether a frame is wholly before presentation time 0 (outside the edit)."""
    if isinstance(frame, av.AudioFrame) and frame.sample_rate:
        return at_s + frame.samples / frame.sample_rate <= _BEFORE_START_S
    return at_s < -_BEFORE_START_S


@dataclass(slots=True)
class _Found:
    """What one segment's decode has found so far."""

    frames: int = 0
    errors: int = 0
    samples: int = 0
    sample_rate: int | None = None
    pts: list[float] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    has_stream: bool = False

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.messages) < _MAX_MESSAGES:
            self.messages.append(message)


@dataclass(slots=True)
class _Continuity:
    """Where the next segment of a stream should start (its timestamp gaps are measured)."""

    next_pts_s: float | None = None


def _result(
    found: _Found, continuity: _Continuity, *, muxed_audio: DecodeResult | None = None
) -> DecodeResult:
    """The segment's ``DecodeResult``; moves ``continuity`` past its last frame."""
    pts = found.pts
    gap = None
    if pts and continuity.next_pts_s is not None:
        gap = min(pts) - continuity.next_pts_s
    if pts:
        ordered = sorted(pts)
        step = (ordered[-1] - ordered[0]) / (len(ordered) - 1) if len(ordered) > 1 else 0.0
        continuity.next_pts_s = ordered[-1] + step
    return DecodeResult(
        frames=found.frames,
        errors=found.errors,
        pts_s=tuple(pts),
        gap_s=gap,
        frame_hashes=tuple(found.hashes),
        samples=found.samples,
        sample_rate=found.sample_rate,
        messages=tuple(found.messages),
        muxed_audio=muxed_audio,
    )


class TrackDecoder:
    """Decodes the segments of one track in presentation order.

    Args:
        kind: ``video`` or ``audio``.
        hash_frames: Also hash every decoded video frame.
        muxed_audio: For ``video``: also decode the audio stream muxed into the same
            segments (``DecodeResult.muxed_audio``), as a player does with a muxed variant.
    """

    def __init__(
        self,
        kind: str,
        *,
        hash_frames: bool = False,
        thumbnails_at_s: tuple[float, ...] = (),
        thumbnail_dir: str | None = None,
        muxed_audio: bool = False,
    ) -> None:
        if kind not in ("video", "audio"):
            raise DecodeError(f"cannot decode track kind {kind!r}")
        self.kind = kind
        self.hash_frames = hash_frames
        self._thumbnails = sorted(thumbnails_at_s) if thumbnail_dir and kind == "video" else []
        self._thumbnail_dir = thumbnail_dir
        self.thumbnails: list[str] = []
        self._continuity = _Continuity()
        self._init: bytes | None = None
        self._prepared = (b"", 0.0, 0.0)
        self._audio = _Continuity() if muxed_audio and kind == "video" else None
        _enable_error_logs()

    def reset(self) -> None:
        """Forget timestamp continuity (after a seek or a discontinuity)."""
        self._continuity.next_pts_s = None
        if self._audio is not None:
            self._audio.next_pts_s = None

    def decode(self, init: bytes, data: bytes) -> DecodeResult:
        """Decode one segment (init segment bytes prepended when given).

        Args:
            init: Init segment bytes (``b""`` for self-initialising segments such as TS).
            data: Media segment bytes, decrypted.

        Returns:
            Frame count, errors and timestamps.

        Raises:
            DecodeError: The container cannot be opened at all.
        """
        clear_init, shift_s, audio_shift_s = self._prepare(init)
        found = _Found()
        audio = _Found() if self._audio is not None else None
        with av.logging.Capture(True) as logs:
            self._decode_all(clear_init + data, (shift_s, audio_shift_s), found, audio)
        for level, _name, message in logs:
            if level <= av.logging.ERROR:
                found.error(message.strip())
        muxed = None
        if audio is not None and self._audio is not None and audio.has_stream:
            muxed = _result(audio, self._audio)
        return _result(found, self._continuity, muxed_audio=muxed)

    def _prepare(self, init: bytes) -> tuple[bytes, float, float]:
        """The init the demuxer sees (edit lists neutralised) and the time shifts to apply.

        See ``player._edits``: composition time minus the first non-empty edit's
        ``media_time`` is the presentation time, applied here once per track rather than
        by FFmpeg at the start of every segment. The second shift is the muxed audio's.
        """
        if init != self._init:
            edits = track_edits(init)
            own = "vide" if self.kind == "video" else "soun"
            shift = next((e.media_time_s for e in edits if e.handler == own), 0.0)
            audio_shift = next((e.media_time_s for e in edits if e.handler == "soun"), 0.0)
            self._init = init
            self._prepared = (without_edit_lists(init) if edits else init, shift, audio_shift)
        return self._prepared

    def _decode_all(
        self, blob: bytes, shifts: tuple[float, float], found: _Found, audio: _Found | None
    ) -> None:
        try:
            container = av.open(io.BytesIO(blob), mode="r")
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            raise DecodeError(f"cannot open {self.kind} segment: {exc}") from exc
        with container:
            streams = container.streams.video if self.kind == "video" else container.streams.audio
            if not streams:
                raise DecodeError(f"segment has no {self.kind} stream")
            wanted = [streams[0]]
            if audio is not None and container.streams.audio:
                audio.has_stream = True
                wanted.append(container.streams.audio[0])
            try:
                packets = list(container.demux(wanted))
            except av.error.FFmpegError as exc:
                found.error(f"demux: {exc}")
                packets = []
            for packet in packets:
                is_own = packet.stream.index == streams[0].index or audio is None
                into = found if is_own else audio
                assert into is not None
                try:
                    decoded = packet.decode()
                except av.error.FFmpegError as exc:
                    into.error(f"decode: {exc}")
                    continue
                for frame in decoded:
                    if isinstance(frame, av.VideoFrame | av.AudioFrame):
                        self._take(frame, shifts[0] if is_own else shifts[1], into)

    def _take(self, frame: av.VideoFrame | av.AudioFrame, shift_s: float, found: _Found) -> None:
        at = _presentation_s(frame, shift_s)
        if at is not None and _is_before_start(frame, at):
            return  # before the edit's first presented time (audio priming)
        found.frames += 1
        if at is not None:
            found.pts.append(at)
        if isinstance(frame, av.AudioFrame):
            found.samples += frame.samples
            found.sample_rate = found.sample_rate or frame.sample_rate or None
            return
        if self._thumbnails and at is not None:
            self._maybe_thumbnail(frame, at)
        if self.hash_frames:
            found.hashes.append(frame_digest(frame))

    def _maybe_thumbnail(self, frame: av.VideoFrame, pts_s: float) -> None:
        """Save the first frame at or after each requested position as a PNG."""
        while self._thumbnails and pts_s >= self._thumbnails[0]:
            wanted = self._thumbnails.pop(0)
            path = f"{self._thumbnail_dir}/thumb-{wanted:09.3f}s.png"
            try:
                frame.to_image().save(path)  # type: ignore[no-untyped-call]
            except (ImportError, OSError, ValueError) as exc:  # Pillow missing or disk error
                _log.warning("thumbnail at %.3f s not written: %s", wanted, exc)
                continue
            self.thumbnails.append(path)
