"""Image tracks (thumbnails) for the interoperability suite: FFmpeg tiles, hand-written manifests.

FFmpeg makes the sprite sheets from the clear source's 640x360 stream: one thumbnail a second
(``fps=1:round=up``: the frame *at* each second; plain ``fps=1`` rounds to the nearest output
slot and takes the frame at 0.48 s, 1.48 s...), scaled to 160x90, three to a sheet
(``tile=3x1``). The 4 s clip gives two sheets: ``tile_1.jpg`` (0, 1, 2 s) and ``tile_2.jpg``
(3 s, then two black cells): the last sheet is not full, the case Shaka Player got wrong
(issues #3517, #3840).

The manifests are FFmpeg's (video and audio) with an image track written by hand, modelled on
real ones:

- DASH ``@duration``: Akamai's ``bbb_with_tiled_thumbnails.mpd`` (quoted in dash.js issue
  #3067): ``contentType="image"``, ``mimeType="image/jpeg"``, ``SegmentTemplate`` with
  ``$RepresentationID$/tile_$Number$.jpg``, the ``http://dashif.org/thumbnail_tile``
  property on the Representation, whose ``@width`` is the whole sheet.
- DASH ``SegmentTimeline`` with ``$Time$``: the property on the AdaptationSet with the
  current IOP's ``http://dashif.org/guidelines/thumbnail_tile`` scheme; the last ``S`` is one
  second long (one thumbnail in a 3x1 sheet).
- HLS: ``EXT-X-IMAGE-STREAM-INF`` (Roku's sample master playlist) naming an image playlist
  with ``EXT-X-IMAGES-ONLY`` and ``EXT-X-TILES`` before every segment (the Image Media
  Playlist specification's example, ``m3u8__vod_image_playlist.m3u8`` in the corpus).
"""

from __future__ import annotations

from pathlib import Path

import recipes
from foreign import DURATION_S, Clip, ffmpeg, run

INTERVAL_S = 1
"""Seconds between thumbnails."""
GRID = (3, 1)
"""Columns and rows of a sheet."""
TILE = (160, 90)
"""Pixels of one thumbnail."""
SHEETS = -(-DURATION_S // (INTERVAL_S * GRID[0] * GRID[1]))
"""Sheets FFmpeg writes for the clip (the last one not full)."""
SHEET_S = INTERVAL_S * GRID[0] * GRID[1]
"""Seconds one full sheet covers."""
REP_ID = "thumbnails_160x90"


def make_sheets(folder: Path, clip: Clip) -> list[str]:
    """Write ``<folder>/<REP_ID>/tile_<n>.jpg`` with FFmpeg; return their paths (relative)."""
    out = folder / REP_ID
    out.mkdir(exist_ok=True)
    width, height = TILE
    columns, rows = GRID
    chain = f"fps=fps=1/{INTERVAL_S}:round=up,scale={width}:{height},tile={columns}x{rows}"
    # fmt: off
    run(
        [
            ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(clip.path),
            "-map", "0:v:0", "-vf", chain, "-q:v", "2", "-start_number", "1",
            str(out / "tile_%d.jpg"),
        ],
        folder,
    )
    # fmt: on
    names = sorted(p.name for p in out.glob("tile_*.jpg"))
    assert len(names) == SHEETS, f"FFmpeg wrote {names}, expected {SHEETS} sheets"
    return [f"{REP_ID}/{name}" for name in names]


def _image_set_by_number() -> str:
    width, height = TILE
    columns, rows = GRID
    return f"""
  <AdaptationSet id="9" mimeType="image/jpeg" contentType="image">
    <SegmentTemplate media="$RepresentationID$/tile_$Number$.jpg" duration="{SHEET_S}"
                     startNumber="1"/>
    <Representation bandwidth="12288" id="{REP_ID}" width="{width * columns}"
                    height="{height * rows}">
      <EssentialProperty schemeIdUri="http://dashif.org/thumbnail_tile"
                         value="{columns}x{rows}"/>
    </Representation>
  </AdaptationSet>
"""


def _image_set_by_time() -> str:
    width, height = TILE
    columns, rows = GRID
    last_ms = (DURATION_S - (SHEETS - 1) * SHEET_S) * 1000
    return f"""
  <AdaptationSet id="9" mimeType="image/jpeg" contentType="image">
    <EssentialProperty schemeIdUri="http://dashif.org/guidelines/thumbnail_tile"
                       value="{columns}x{rows}"/>
    <SegmentTemplate media="$RepresentationID$/by_time/$Time$.jpg" timescale="1000">
      <SegmentTimeline>
        <S t="0" d="{SHEET_S * 1000}" r="{SHEETS - 2}"/>
        <S d="{last_ms}"/>
      </SegmentTimeline>
    </SegmentTemplate>
    <Representation bandwidth="12288" id="{REP_ID}" width="{width * columns}"
                    height="{height * rows}"/>
  </AdaptationSet>
"""


def _with_image_set(folder: Path, manifest: str, image_set: str) -> str:
    path = folder / manifest
    text = path.read_text()
    assert text.count("</Period>") == 1, "expected a one-period MPD"
    path.write_text(text.replace("</Period>", image_set + " </Period>"))
    return manifest


def dash_thumbnails_number(folder: Path, clip: Clip) -> str:
    """FFmpeg's DASH (``SegmentTimeline``) plus a ``$Number$`` thumbnail AdaptationSet."""
    manifest = recipes.ffmpeg_dash_timeline(folder, clip)
    make_sheets(folder, clip)
    return _with_image_set(folder, manifest, _image_set_by_number())


def dash_thumbnails_time(folder: Path, clip: Clip) -> str:
    """FFmpeg's DASH plus a ``SegmentTimeline``/``$Time$`` thumbnail AdaptationSet."""
    manifest = recipes.ffmpeg_dash_timeline(folder, clip)
    sheets = make_sheets(folder, clip)
    by_time = folder / REP_ID / "by_time"
    by_time.mkdir(exist_ok=True)
    for number, name in enumerate(sheets):
        (by_time / f"{number * SHEET_S * 1000}.jpg").write_bytes((folder / name).read_bytes())
    return _with_image_set(folder, manifest, _image_set_by_time())


def hls_thumbnails(folder: Path, clip: Clip) -> str:
    """FFmpeg's HLS fMP4 plus ``EXT-X-IMAGE-STREAM-INF`` and an image media playlist."""
    master = recipes.ffmpeg_hls_fmp4(folder, clip)
    sheets = make_sheets(folder, clip)
    width, height = TILE
    columns, rows = GRID
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{SHEET_S}",
        "#EXT-X-MEDIA-SEQUENCE:1",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-IMAGES-ONLY",
    ]
    for number, name in enumerate(sheets):
        span = min(SHEET_S, DURATION_S - number * SHEET_S)
        lines += [
            f"#EXTINF:{span:.3f},",
            f"#EXT-X-TILES:RESOLUTION={width}x{height},LAYOUT={columns}x{rows},"
            f"DURATION={INTERVAL_S:.3f}",
            name.split("/", 1)[1],
        ]
    lines.append("#EXT-X-ENDLIST")
    (folder / REP_ID / "images.m3u8").write_text("\n".join(lines) + "\n")
    with (folder / master).open("a") as out:
        out.write(
            f"#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=12288,RESOLUTION={width}x{height},"
            f'CODECS="jpeg",URI="{REP_ID}/images.m3u8"\n'
        )
    return master


def hls_thumbnails_growing(folder: Path, clip: Clip) -> str:
    """``hls_thumbnails`` whose image playlist is live (``EVENT``): the first sheet, no ENDLIST.

    ``grow_image_playlist`` then appends the second sheet and ``EXT-X-ENDLIST``.
    """
    master = hls_thumbnails(folder, clip)
    playlist = folder / REP_ID / "images.m3u8"
    text = playlist.read_text().replace("PLAYLIST-TYPE:VOD", "PLAYLIST-TYPE:EVENT")
    lines = text.splitlines()
    first_sheet_end = lines.index("tile_1.jpg") + 1
    playlist.write_text("\n".join(lines[:first_sheet_end]) + "\n")
    (folder / REP_ID / "images.m3u8.full").write_text("\n".join(lines) + "\n")
    return master


def grow_image_playlist(folder: Path) -> None:
    """Put the whole image playlist in place (the live one grew)."""
    full = folder / REP_ID / "images.m3u8.full"
    (folder / REP_ID / "images.m3u8").write_text(full.read_text())
