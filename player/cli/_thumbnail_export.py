"""``play --thumbnails-from-track DIR``: the image track's thumbnails for the span played.

After playback, every thumbnail the image track shows between where playback started and
where it got to is asked of ``Player.thumbnail_at`` (each image is fetched once, through the
session's failover), and written to ``DIR``:

- ``images/NNNN.jpg`` (or ``.png``): each image (sprite sheet) once, as fetched;
- ``thumb-NNNNN-<start>s.png``: each thumbnail cut out of its image (PyAV decode, lossless);
- ``index.json``: the representation and its grid, then per thumbnail its start and duration,
  its image file, the crop rectangle ``[x, y, width, height]``, the MIME type, the image URL
  and its PNG file.

The report's ``thumbnails`` section counts them (``expected``, ``written``, ``images``,
``errors``) and the ``thumbnails_written`` check fails unless every expected thumbnail was
written (and there was at least one). See docs/thumbnails.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np

from player._player import Player
from player._thumbnail_images import crop_pixels, decode_image, encode_png
from player._thumbnails import Thumbnail
from player.cli._args import output_dir
from player.errors import SDK_ERRORS, ThumbnailImageError

__all__: list[str] = []

_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png"}
_ERRORS_KEPT = 10
"""Errors listed in the report (the count says how many there were)."""


def add_thumbnail_arguments(parser: argparse.ArgumentParser) -> None:
    """``--thumbnails-from-track DIR`` and ``--thumbnail-track ID``."""
    group = parser.add_argument_group("thumbnails from the image track (docs/thumbnails.md)")
    group.add_argument(
        "--thumbnails-from-track",
        type=output_dir,
        metavar="DIR",
        help="after playback, write the image track's thumbnails for the span played: each "
        "image once, each thumbnail cut out as PNG, and index.json; fails the run unless "
        "every one was written (decoded-frame PNGs are --thumbnails)",
    )
    group.add_argument(
        "--thumbnail-track",
        metavar="ID",
        help="the image representation to use (default: the highest bandwidth)",
    )


def thumbnail_options(args: argparse.Namespace) -> dict[str, Any]:
    """``play_to_report``'s thumbnail arguments from the command line.

    Raises:
        BadInput: ``--thumbnail-track`` without ``--thumbnails-from-track``.
    """
    from player.cli._args import BadInput

    folder = getattr(args, "thumbnails_from_track", None)
    track = getattr(args, "thumbnail_track", None)
    if track is not None and folder is None:
        raise BadInput("--thumbnail-track needs --thumbnails-from-track")
    return {"thumbnails_dir": folder, "thumbnail_track": track}


class _Writer:
    """Writes images once, and each thumbnail's PNG, decoding each image once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.images: dict[str, str] = {}
        self._decoded: tuple[str, np.ndarray] | None = None

    def image_file(self, thumb: Thumbnail) -> str:
        name = self.images.get(thumb.url)
        if name is None:
            name = f"images/{len(self.images) + 1:04d}{_EXTENSIONS.get(thumb.mime_type, '')}"
            (self.folder / "images").mkdir(exist_ok=True)
            (self.folder / name).write_bytes(thumb.image)
            self.images[thumb.url] = name
        return name

    async def crop_file(self, thumb: Thumbnail, number: int) -> str:
        if self._decoded is None or self._decoded[0] != thumb.url:
            pixels = await asyncio.to_thread(
                decode_image, thumb.image, url=thumb.url, position_s=thumb.start_s
            )
            height, width = pixels.shape[:2]
            if (width, height) != thumb.image_size:
                raise ThumbnailImageError(
                    f"{thumb.url}: image decodes to {width}x{height}, its header says "
                    f"{thumb.image_size[0]}x{thumb.image_size[1]}",
                    position_s=thumb.start_s,
                    url=thumb.url,
                )
            self._decoded = (thumb.url, pixels)
        png = await asyncio.to_thread(encode_png, crop_pixels(self._decoded[1], thumb.crop))
        name = f"thumb-{number:05d}-{thumb.start_s:010.3f}s.png"
        (self.folder / name).write_bytes(png)
        return name


def _entry(thumb: Thumbnail, image: str, crop: str) -> dict[str, Any]:
    return {
        "start_s": round(thumb.start_s, 6),
        "duration_s": round(thumb.duration_s, 6),
        "image": image,
        "crop": list(thumb.crop),
        "index": thumb.index,
        "mime_type": thumb.mime_type,
        "url": thumb.url,
        "file": crop,
    }


async def export_thumbnails(
    player: Player,
    folder: Path,
    *,
    span: dict[str, Any],
    representation_id: str | None = None,
) -> dict[str, Any]:
    """Write the thumbnails of the played span to ``folder``; return the report section.

    Args:
        player: The player, after playback (stopped or ended, not closed).
        folder: Where to write (created if missing).
        span: The report's ``span`` (``start_s``, ``reached_s``).
        representation_id: The image representation; ``None``: the best.

    Returns:
        ``dir``, ``representation_id``, ``grid``, ``span``, ``expected``, ``written``,
        ``images``, ``truncated``, ``error_count`` and the first ``errors`` (``code`` and
        ``message``); ``error`` alone when nothing could be listed (no image track...).
    """
    start, end = span.get("start_s"), span.get("reached_s")
    out: dict[str, Any] = {"dir": str(folder), "expected": 0, "written": 0, "images": 0}
    if start is None or end is None:
        return {**out, "error": {"code": "not_played", "message": "playback never started"}}
    out["span"] = [start, end]
    try:
        renditions = player.thumbnail_renditions(start)
        chosen = representation_id or (renditions[0]["id"] if renditions else None)
        times = await player.thumbnail_times(start, end, representation_id=chosen)
    except SDK_ERRORS as exc:
        return {**out, "error": _error(exc)}
    folder.mkdir(parents=True, exist_ok=True)
    writer = _Writer(folder)
    entries: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for number, (at, duration) in enumerate(times, start=1):
        try:
            thumb = await player.thumbnail_at(at + duration / 2, representation_id=chosen)
            image = writer.image_file(thumb)
            entries.append(_entry(thumb, image, await writer.crop_file(thumb, number)))
        except SDK_ERRORS as exc:
            errors.append({"start_s": f"{at:.3f}", **_error(exc)})
    described = next((r for r in player.thumbnail_renditions(start) if r["id"] == chosen), {})
    index = {"representation": described, "span": [start, end], "thumbnails": entries}
    (folder / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    return {
        **out,
        "representation_id": chosen,
        "grid": described.get("grid"),
        "expected": len(times),
        "written": len(entries),
        "images": len(writer.images),
        "truncated": len(times) >= player.config.thumbnails.max_export_count,
        "error_count": len(errors),
        "errors": errors[:_ERRORS_KEPT],
    }


def _error(exc: BaseException) -> dict[str, str]:
    return {"code": str(getattr(exc, "code", type(exc).__name__)), "message": str(exc)[:300]}


def thumbnail_summary(section: dict[str, Any]) -> str:
    """One line for the summary: ``4 of 4 written from 2 images to DIR``."""
    return (
        f"{section.get('written', 0)} of {section.get('expected', 0)} written from "
        f"{section.get('images', 0)} images to {section.get('dir')}"
    )


def thumbnail_checks(report: dict[str, Any]) -> list[tuple[str, str | None]]:
    """``thumbnails_written`` when the run exported thumbnails: all expected, at least one."""
    section = report.get("thumbnails")
    if not isinstance(section, dict):
        return []
    error = section.get("error")
    if error:
        return [("thumbnails_written", f"no thumbnails: {error.get('message')}")]
    expected, written = int(section.get("expected", 0)), int(section.get("written", 0))
    if expected == 0:
        return [("thumbnails_written", "the image track shows no thumbnail in the span played")]
    if written < expected:
        first = (section.get("errors") or [{}])[0]
        why = f": first error {first.get('code')} {first.get('message')}" if first else ""
        return [("thumbnails_written", f"wrote {written} of {expected} thumbnails{why}")]
    return [("thumbnails_written", None)]
