"""Image tracks (thumbnails): tile grids, and which image and tile show a time (sans-I/O).

Two ways manifests describe thumbnails, both read into ``TileGrid``:

- HLS, the Image Media Playlist specification v0.4 (Disney/Warner, implemented by Roku,
  AWS Elemental and Brightcove): ``EXT-X-IMAGE-STREAM-INF`` in the multivariant playlist
  names an image playlist marked ``EXT-X-IMAGES-ONLY``; each image segment may carry
  ``EXT-X-TILES:RESOLUTION=<w>x<h>,LAYOUT=<columns>x<rows>,DURATION=<s>`` (one thumbnail's
  size, the grid, one thumbnail's duration). A segment without it is a single image shown for
  its ``EXTINF``. Tolerance: a segment without the tag keeps the grid of the segment before it
  unless an ``EXT-X-DISCONTINUITY`` separates them (Brightcove writes the tag once, before the
  first segment; the specification's own example repeats it and leaves it off the ad images,
  which follow discontinuities).
- DASH, DASH-IF IOP (4.3 section 6.2.6; "Thumbnail images" in the current IOP): an
  AdaptationSet with ``contentType="image"`` (``image/jpeg`` or ``image/png``) and an
  ``EssentialProperty`` ``http://dashif.org/thumbnail_tile`` (IOP 4.3;
  ``http://dashif.org/guidelines/thumbnail_tile`` in the current text) whose value ``HxV``
  is the grid, on the AdaptationSet or the Representation. The Representation's ``@width``
  and ``@height`` describe a whole image; the thumbnails divide the segment's time span
  evenly, left to right, then top to bottom.

A thumbnail's duration: HLS ``DURATION`` when given; DASH, the nominal duration of one image
(``@duration``, or the longest ``S@d`` of a ``SegmentTimeline``) divided by the grid, so the
last image, cut short by the end of the period or written shorter by the packager, holds fewer
thumbnails, not shorter ones (Shaka Player issues #3517 and #3840 were this bug). Without
either (an HLS segment without ``DURATION``, a ``SegmentList`` without ``@duration``), the
segment's own duration divided by the grid.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from player.config import ManifestConfig
from player.errors import ManifestParseError, redact_url
from player.manifest._model import Representation, Segment, TileGrid

__all__ = ["ThumbnailSlot", "locate_thumbnail", "thumbnail_slots"]

THUMBNAIL_TILE_SCHEMES = (
    "http://dashif.org/thumbnail_tile",  # DASH-IF IOP 4.3 section 6.2.6
    "http://dashif.org/guidelines/thumbnail_tile",  # DASH-IF IOP, "Thumbnail images"
)
_MAX_DIMENSION = 65_535
"""Largest JPEG (and our PNG) width or height: anything larger in a manifest is malformed."""
_EPSILON_S = 1e-6
"""Timestamps round to their timescale; not a tunable."""

_log = logging.getLogger(__name__)


def parse_grid(text: str, *, url: str, config: ManifestConfig, what: str) -> tuple[int, int]:
    """Read ``<columns>x<rows>`` (``5x2``) into two positive numbers within the bounds.

    Args:
        text: The value.
        url: The manifest URL, named in errors.
        config: ``max_tiles_per_image`` bounds ``columns * rows``.
        what: The tag or property, named in errors.

    Returns:
        ``(columns, rows)``.

    Raises:
        ManifestParseError: Not two positive integers, or too many thumbnails.

    >>> parse_grid("5x2", url="https://cdn/t.m3u8", config=ManifestConfig(), what="LAYOUT")
    (5, 2)
    """
    columns, rows = _pair(text)
    if columns is None or rows is None or columns < 1 or rows < 1:
        raise ManifestParseError(
            f"{url}: {what} {text[:40]!r} is not <columns>x<rows> of positive integers",
            url=url,
            detail="bad tile grid",
        )
    if columns * rows > config.max_tiles_per_image:
        raise ManifestParseError(
            f"{url}: {what} {text[:40]!r} holds {columns * rows} thumbnails, more than "
            f"max_tiles_per_image={config.max_tiles_per_image}",
            url=url,
            detail="too many tiles",
        )
    return columns, rows


def _pair(text: str) -> tuple[int | None, int | None]:
    """``"640x360"`` -> ``(640, 360)``; ``None`` where a side is not a number in range."""
    left, sep, right = text.strip().strip('"').lower().partition("x")
    if not sep:
        return None, None
    return _dimension(left), _dimension(right)


def _dimension(text: str) -> int | None:
    text = text.strip()
    if not text.isdigit() or len(text) > 6:
        return None
    value = int(text)
    return value if 0 < value <= _MAX_DIMENSION else None


def hls_tile_grid(attributes: dict[str, str], *, url: str, config: ManifestConfig) -> TileGrid:
    """The grid of one ``EXT-X-TILES`` tag.

    Args:
        attributes: The tag's attributes (``RESOLUTION``, ``LAYOUT``, ``DURATION``).
        url: The image playlist URL, named in errors.
        config: Bounds.

    Returns:
        The grid; ``RESOLUTION`` and ``DURATION`` are optional (the image's size decides the
        crop; the thumbnails then divide the segment's duration).

    Raises:
        ManifestParseError: ``LAYOUT`` is missing or malformed, or ``RESOLUTION`` or
            ``DURATION`` is malformed.
    """
    layout = attributes.get("LAYOUT")
    if layout is None:
        raise ManifestParseError(
            f"{url}: EXT-X-TILES without LAYOUT", url=url, detail="bad EXT-X-TILES"
        )
    columns, rows = parse_grid(layout, url=url, config=config, what="EXT-X-TILES LAYOUT")
    width: int | None = None
    height: int | None = None
    if "RESOLUTION" in attributes:
        width, height = _pair(attributes["RESOLUTION"])
        if width is None or height is None:
            raise ManifestParseError(
                f"{url}: EXT-X-TILES RESOLUTION {attributes['RESOLUTION'][:40]!r} is not "
                "<width>x<height>",
                url=url,
                detail="bad EXT-X-TILES",
            )
    duration: float | None = None
    if "DURATION" in attributes:
        try:
            duration = float(attributes["DURATION"])
        except ValueError:
            duration = math.nan
        if not (math.isfinite(duration) and duration > 0):
            raise ManifestParseError(
                f"{url}: EXT-X-TILES DURATION {attributes['DURATION'][:40]!r} is not a "
                "positive number of seconds",
                url=url,
                detail="bad EXT-X-TILES",
            )
    return TileGrid(columns, rows, width, height, duration)


def assign_hls_tiles(
    segments: list[Segment],
    raw_segments: Sequence[dict[str, Any]],
    *,
    url: str,
    config: ManifestConfig,
) -> list[Segment]:
    """Give each segment of an image playlist its grid (see the module docstring).

    Args:
        segments: The playlist's segments, in order.
        raw_segments: The scanner's segment dictionaries (``tiles``: the ``EXT-X-TILES``
            attributes that preceded the segment's URI), in the same order; entries without
            a URI (LL-HLS trailing parts) are skipped.
        url: The playlist URL, named in errors.
        config: Bounds.

    Returns:
        The segments with ``tiles`` set.

    Raises:
        ManifestParseError: An ``EXT-X-TILES`` tag is malformed.
    """
    listed = [raw for raw in raw_segments if "uri" in raw]
    out: list[Segment] = []
    previous: TileGrid | None = None
    for segment, raw in zip(segments, listed, strict=False):
        attributes = raw.get("tiles")
        if raw.get("discontinuity"):
            previous = None
        if attributes is not None:
            previous = hls_tile_grid(attributes, url=url, config=config)
        out.append(replace(segment, tiles=previous or TileGrid()))
    return out


def thumbnail_tile_value(properties: Sequence[tuple[str | None, str | None]]) -> str | None:
    """The value of the first ``thumbnail_tile`` descriptor among ``(scheme, value)`` pairs."""
    for scheme, value in properties:
        if (scheme or "").strip().lower() in THUMBNAIL_TILE_SCHEMES:
            return value or ""
    return None


def dash_tile_grid(
    value: str | None,
    *,
    width: int | None,
    height: int | None,
    segment_duration_s: float | None,
    url: str,
    config: ManifestConfig,
) -> TileGrid:
    """The grid of a DASH image Representation.

    Args:
        value: The ``thumbnail_tile`` value (``HxV``); ``None``: one thumbnail per image.
        width: The Representation's ``@width`` (a whole image), if any.
        height: Its ``@height``, if any.
        segment_duration_s: The nominal duration of one image (``@duration``, or the
            longest ``S@d``); ``None`` when unknown (each segment's own duration counts).
        url: The MPD URL, named in errors.
        config: Bounds.

    Returns:
        The grid.

    Raises:
        ManifestParseError: ``value`` is malformed or too large.
    """
    columns, rows = (1, 1)
    if value is not None:
        columns, rows = parse_grid(value, url=url, config=config, what="thumbnail_tile")
    duration = None
    if segment_duration_s is not None and segment_duration_s > 0:
        duration = segment_duration_s / (columns * rows)
    return TileGrid(
        columns,
        rows,
        width // columns if width else None,
        height // rows if height else None,
        duration,
    )


@dataclass(frozen=True, slots=True)
class ThumbnailSlot:
    """Where the thumbnail for a time is: its image (a segment) and its place in the grid.

    Attributes:
        segment: The image's segment (its URLs and byte range).
        grid: The image's grid.
        index: The thumbnail's number in the image, 0 at the top left, row by row.
        start_s: When the thumbnail starts, seconds on the presentation timeline.
        duration_s: How long it is shown, seconds.
    """

    segment: Segment
    grid: TileGrid
    index: int
    start_s: float
    duration_s: float

    @property
    def column(self) -> int:
        """The thumbnail's column, from 0 at the left."""
        return self.index % self.grid.columns

    @property
    def row(self) -> int:
        """The thumbnail's row, from 0 at the top."""
        return self.index // self.grid.columns

    @property
    def end_s(self) -> float:
        """When the thumbnail ends, seconds."""
        return self.start_s + self.duration_s

    def crop(self, image_width: int, image_height: int) -> tuple[int, int, int, int]:
        """The thumbnail's rectangle in an image of that size: ``(x, y, width, height)``.

        The image is cut into ``columns`` x ``rows`` cells at whole pixels; when its size is
        not a multiple of the grid, cells differ by at most one pixel.

        >>> slot = ThumbnailSlot(Segment(("https://cdn/1.jpg",), 1, 0.0, 10.0),
        ...                      TileGrid(5, 2), 6, 6.0, 1.0)
        >>> slot.crop(800, 180)
        (160, 90, 160, 90)
        """
        cols, rows = self.grid.columns, self.grid.rows
        x0 = self.column * image_width // cols
        x1 = (self.column + 1) * image_width // cols
        y0 = self.row * image_height // rows
        y1 = (self.row + 1) * image_height // rows
        return x0, y0, x1 - x0, y1 - y0


def _grid_of(rep: Representation, segment: Segment) -> TileGrid:
    return segment.tiles or rep.tiles or TileGrid()


def _slots_in(segment: Segment, grid: TileGrid) -> tuple[float, int]:
    """One thumbnail's duration in ``segment`` and how many thumbnails it holds."""
    if grid.image_duration_s is not None:
        step = grid.image_duration_s
        count = math.ceil(segment.duration_s / step - _EPSILON_S)
        return step, max(1, min(grid.count, count))
    return segment.duration_s / grid.count, grid.count


def _slot(segment: Segment, grid: TileGrid, index: int) -> ThumbnailSlot:
    """Thumbnail ``index`` of ``segment`` (clamped to those it holds)."""
    step, count = _slots_in(segment, grid)
    index = min(max(index, 0), count - 1)
    start = segment.start_s + index * step
    duration = min(step, max(0.0, segment.end_s - start))
    return ThumbnailSlot(segment, grid, index, start, duration)


def slot_in(rep: Representation, segment: Segment, position_s: float) -> ThumbnailSlot:
    """The thumbnail of ``segment`` shown at ``position_s`` (clamped into the segment)."""
    grid = _grid_of(rep, segment)
    step, _ = _slots_in(segment, grid)
    index = int((position_s - segment.start_s) / step + _EPSILON_S) if step > 0 else 0
    return _slot(segment, grid, index)


def _segment_index(segments: Sequence[Segment], position_s: float) -> int | None:
    """Index of the segment whose span holds ``position_s`` (its end counts for the last)."""
    if not segments:
        return None
    i = bisect.bisect_right(segments, position_s + _EPSILON_S, key=_start_of) - 1
    if i < 0:
        return None
    if position_s < segments[i].end_s - _EPSILON_S:
        return i
    if i == len(segments) - 1 and position_s <= segments[i].end_s + _EPSILON_S:
        return i
    return None


def _start_of(segment: Segment) -> float:
    return segment.start_s


def locate_thumbnail(rep: Representation, position_s: float) -> ThumbnailSlot | None:
    r"""The thumbnail an image representation shows at ``position_s``.

    Args:
        rep: An image representation with its segments loaded.
        position_s: Presentation time, seconds.

    Returns:
        The slot; ``None`` when no segment covers ``position_s`` (before the first, after the
        last, segments not loaded) or the segment there is a gap (HLS ``EXT-X-GAP``).

    >>> from player.manifest import parse_hls
    >>> p = parse_hls(b"#EXTM3U\n#EXT-X-IMAGES-ONLY\n#EXTINF:10,\n"
    ...               b"#EXT-X-TILES:RESOLUTION=160x90,LAYOUT=5x2,DURATION=1\nt.jpg\n"
    ...               b"#EXT-X-ENDLIST\n", url="https://cdn/t.m3u8")
    >>> slot = locate_thumbnail(next(p.representations()), 6.5)
    >>> slot.index, slot.start_s, slot.crop(800, 180)
    (6, 6.0, (160, 90, 160, 90))
    """
    segments = rep.segments
    if not segments:
        return None
    index = _segment_index(segments, position_s)
    if index is None:
        return None
    segment = segments[index]
    if segment.is_gap or segment.duration_s <= 0:
        return None
    return slot_in(rep, segment, position_s)


def thumbnail_slots(
    rep: Representation, start_s: float, end_s: float, *, limit: int
) -> Iterator[ThumbnailSlot]:
    """Every thumbnail shown between ``start_s`` and ``end_s``, in time order.

    Gaps and spans without segments are skipped.

    Args:
        rep: An image representation with its segments loaded.
        start_s: Start of the span, seconds.
        end_s: End of the span, seconds (a thumbnail starting exactly there is not included,
            unless the span is empty).
        limit: Most slots yielded.

    Yields:
        The slots, each once.
    """
    segments = rep.segments or ()
    if not segments or limit <= 0:
        return
    first = _segment_index(segments, start_s)
    if first is None:  # start_s is before the first segment or in a hole: the next one
        first = bisect.bisect_right(segments, start_s, key=_start_of)
    given = 0
    for number in range(first, len(segments)):
        segment = segments[number]
        if segment.start_s >= end_s - _EPSILON_S and given:
            return
        if segment.is_gap or segment.duration_s <= 0:
            continue
        grid = _grid_of(rep, segment)
        _, count = _slots_in(segment, grid)
        for index in range(slot_in(rep, segment, max(start_s, segment.start_s)).index, count):
            slot = _slot(segment, grid, index)
            if slot.start_s >= end_s - _EPSILON_S and given:
                return
            yield slot
            given += 1
            if given >= limit:
                return


def log_dropped_image_set(url: str, index: int, exc: ManifestParseError) -> None:
    """Warn that an image AdaptationSet was dropped (thumbnails never stop playback)."""
    _log.warning("%s: dropping image AdaptationSet %d: %s", redact_url(url), index, exc)
