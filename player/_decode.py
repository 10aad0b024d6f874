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
        frame_hashes: SHA-1 of each frame's planes when hashing was asked for.
        messages: The first error messages, for reports.
    """

    frames: int
    errors: int
    pts_s: tuple[float, ...] = ()
    gap_s: float | None = None
    frame_hashes: tuple[str, ...] = ()
    messages: tuple[str, ...] = field(default=(), repr=False)


def _enable_error_logs() -> None:
    level = av.logging.get_level()
    if level is None or level < av.logging.ERROR:
        av.logging.set_level(av.logging.ERROR)


class TrackDecoder:
    """Decodes the segments of one track in presentation order.

    Args:
        kind: ``video`` or ``audio``.
        hash_frames: Also hash every decoded video frame.
    """

    def __init__(
        self,
        kind: str,
        *,
        hash_frames: bool = False,
        thumbnails_at_s: tuple[float, ...] = (),
        thumbnail_dir: str | None = None,
    ) -> None:
        if kind not in ("video", "audio"):
            raise DecodeError(f"cannot decode track kind {kind!r}")
        self.kind = kind
        self.hash_frames = hash_frames
        self._thumbnails = sorted(thumbnails_at_s) if thumbnail_dir and kind == "video" else []
        self._thumbnail_dir = thumbnail_dir
        self.thumbnails: list[str] = []
        self._next_pts_s: float | None = None
        _enable_error_logs()

    def reset(self) -> None:
        """Forget timestamp continuity (after a seek or a discontinuity)."""
        self._next_pts_s = None

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
        with av.logging.Capture(True) as logs:
            frames, errors, pts, hashes, messages = self._decode_all(init + data)
        for level, _name, message in logs:
            if level <= av.logging.ERROR:
                errors += 1
                if len(messages) < _MAX_MESSAGES:
                    messages.append(message.strip())
        gap = None
        if pts and self._next_pts_s is not None:
            gap = min(pts) - self._next_pts_s
        if pts:
            self._next_pts_s = max(pts) + self._frame_duration(pts)
        return DecodeResult(
            frames=frames,
            errors=errors,
            pts_s=tuple(pts),
            gap_s=gap,
            frame_hashes=tuple(hashes),
            messages=tuple(messages),
        )

    def _decode_all(self, blob: bytes) -> tuple[int, int, list[float], list[str], list[str]]:
        frames = errors = 0
        pts: list[float] = []
        hashes: list[str] = []
        messages: list[str] = []
        try:
            container = av.open(io.BytesIO(blob), mode="r")
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            raise DecodeError(f"cannot open {self.kind} segment: {exc}") from exc
        with container:
            streams = container.streams.video if self.kind == "video" else container.streams.audio
            if not streams:
                raise DecodeError(f"segment has no {self.kind} stream")
            stream = streams[0]
            try:
                packets = list(container.demux(stream))
            except av.error.FFmpegError as exc:
                errors += 1
                messages.append(f"demux: {exc}")
                packets = []
            for packet in packets:
                try:
                    decoded = packet.decode()
                except av.error.FFmpegError as exc:
                    errors += 1
                    if len(messages) < _MAX_MESSAGES:
                        messages.append(f"decode: {exc}")
                    continue
                for frame in decoded:
                    if not isinstance(frame, av.VideoFrame | av.AudioFrame):
                        continue
                    frames += 1
                    if frame.pts is not None and frame.time_base is not None:
                        pts.append(float(frame.pts * frame.time_base))
                    if self._thumbnails and isinstance(frame, av.VideoFrame) and pts:
                        self._maybe_thumbnail(frame, pts[-1])
                    if self.hash_frames and isinstance(frame, av.VideoFrame):
                        digest = hashlib.sha1(usedforsecurity=False)
                        for plane in frame.planes:
                            digest.update(bytes(plane))
                        hashes.append(digest.hexdigest())
        return frames, errors, pts, hashes, messages

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

    @staticmethod
    def _frame_duration(pts: list[float]) -> float:
        ordered = sorted(pts)
        if len(ordered) < 2:
            return 0.0
        return (ordered[-1] - ordered[0]) / (len(ordered) - 1)
