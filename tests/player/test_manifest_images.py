"""Image tracks (thumbnails) in the manifest parsers and the thumbnail lookup (sans-I/O).

Manifests: the corpus's image playlists (globocom/m3u8's copies of the Image Media Playlist
specification's examples), and DASH image AdaptationSets from other projects and specs, each
named with its source below (the corpus has no DASH image track).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from player._thumbnail_images import probe_image
from player.config import ManifestConfig
from player.errors import ManifestParseError
from player.manifest import (
    Representation,
    Segment,
    ThumbnailSlot,
    TileGrid,
    TrackType,
    load_media_playlist,
    locate_thumbnail,
    parse_dash,
    parse_hls,
    thumbnail_slots,
)

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "manifests"
NOW = 1_700_000_000.0

# google/ExoPlayer libraries/test_data/src/test/assets/media/mpd/sample_mpd_images
# @f17e846d3dd224f031b498eb76451c0c801c3efc (Apache-2.0)
EXOPLAYER_IMAGES = b"""<?xml version="1.0" encoding="UTF-8"?>
<MPD type="static" duration="1s" mediaPresentationDuration="PT1000S">
 <Period>
  <AdaptationSet id="3" mimeType="image/jpeg" contentType="image">
    <SegmentTemplate media="$RepresentationID$/tile_$Number$.jpg" duration="100" startNumber="1"/>
    <Representation bandwidth="1234" id="images_320x180" width="320" height="180">
      <EssentialProperty schemeIdUri="http://dashif.org/thumbnail_tile" value="12x16"/>
    </Representation>
    <Representation bandwidth="2345" id="images_640x360" width="640" height="360">
      <EssentialProperty schemeIdUri="http://dashif.org/guidelines/thumbnail_tile" value="2x4"/>
    </Representation>
  </AdaptationSet>
 </Period>
</MPD>
"""

# Dash-Industry-Forum/DASH-IF-IOP 80-Codecs.inc.md, "Thumbnail images" example
# @17ebf1d6f4fd52b37f177c5ab7fe0953527fc7fb, put in an MPD and a Period
IOP_EXAMPLE = b"""<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"
     mediaPresentationDuration="PT600S"><Period>
<AdaptationSet mimeType="image/jpeg">
  <SegmentTemplate media="thumbnails_$Number$.jpg" timescale="1" duration="125" />
  <Representation bandwidth="10000" width="6400" height="180">
    <EssentialProperty schemeIdUri="http://dashif.org/guidelines/thumbnail_tile" value="25x1" />
  </Representation>
</AdaptationSet>
</Period></MPD>
"""

# Akamai's bbb_with_tiled_thumbnails.mpd image set, as quoted in Dash-Industry-Forum/dash.js
# issue #3067 (the rest of the MPD is the video and audio sets, shortened here)
AKAMAI_TILED = b"""<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"
     mediaPresentationDuration="PT10M34.6S"><Period>
  <AdaptationSet id="1" mimeType="video/mp4" codecs="avc1.64001f">
    <SegmentTemplate media="v_$Number$.m4s" initialization="v_init.mp4" duration="4"/>
    <Representation id="v" bandwidth="1000000" width="640" height="360"/>
  </AdaptationSet>
  <AdaptationSet id="3" mimeType="image/jpeg" contentType="image">
    <SegmentTemplate media="$RepresentationID$/tile_$Number$.jpg" duration="100" startNumber="1"/>
    <Representation bandwidth="12288" id="thumbnails_320x180" width="3200" height="180">
      <EssentialProperty schemeIdUri="http://dashif.org/thumbnail_tile" value="10x1"/>
    </Representation>
  </AdaptationSet>
</Period></MPD>
"""

# Brightcove "Roku trick play" example playlists
# (https://general.support.brightcove.com/general/roku-trick-play.html): EXT-X-TILES once,
# before the first segment
BRIGHTCOVE_HLS = b"""#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:10
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-IMAGES-ONLY
#EXT-X-TILES:RESOLUTION=360x150,LAYOUT=5x2,DURATION=1.000
#EXTINF:10.000,
sprite_0.jpg
#EXTINF:10.000,
sprite_1.jpg
#EXTINF:10.000,
sprite_2.jpg
#EXT-X-ENDLIST
"""


def _corpus(name: str) -> bytes:
    return (CORPUS / "hls" / name).read_bytes()


def _only_rep(data: bytes, url: str) -> Representation:
    presentation = parse_hls(data, url=url, now=NOW)
    (rep,) = list(presentation.representations())
    return rep


def _image_playlist(tiles: str, *, extinf: str = "10") -> bytes:
    return (
        f"#EXTM3U\n#EXT-X-IMAGES-ONLY\n#EXTINF:{extinf},\n{tiles}\nt.jpg\n#EXT-X-ENDLIST\n"
    ).encode()


# -- HLS ---------------------------------------------------------------------------------------


def test_corpus_vod_image_playlist_tiles_per_segment() -> None:
    """The specification's example: ad images without tiles, content sheets of 5x2."""
    presentation = parse_hls(
        _corpus("m3u8__vod_image_playlist.m3u8"), url="https://cdn.example/i.m3u8", now=NOW
    )
    (track,) = presentation.periods[0].tracks
    assert track.type == TrackType.IMAGE
    segments = track.representations[0].segments or ()
    assert len(segments) == 14
    single, sheet = TileGrid(), TileGrid(5, 2, 640, 360, 6.006)
    assert [s.tiles for s in segments] == [single] * 3 + [sheet] * 5 + [single] * 3 + [sheet] * 3
    assert presentation.duration_s == pytest.approx(504.504)


def test_corpus_vod_image_playlist_lookup_times() -> None:
    rep = _only_rep(_corpus("m3u8__vod_image_playlist.m3u8"), "https://cdn.example/i.m3u8")
    ad = locate_thumbnail(rep, 7.0)  # second pre-roll image: one picture for its 6.006 s
    assert ad is not None
    assert (ad.segment.url, ad.index, ad.start_s, ad.duration_s) == (
        "https://cdn.example/preroll-ad-2.jpg",
        0,
        pytest.approx(6.006),
        pytest.approx(6.006),
    )
    assert ad.crop(640, 360) == (0, 0, 640, 360)
    content = locate_thumbnail(rep, 15.015 + 6.006 * 7 + 1.0)  # 8th thumbnail of content-0
    assert content is not None and content.segment.url.endswith("content-0.jpg")
    assert (content.index, content.column, content.row) == (7, 2, 1)
    assert content.start_s == pytest.approx(15.015 + 6.006 * 7)
    assert content.crop(3200, 720) == (1280, 360, 640, 360)
    # content-4 lasts 54.054 s: nine thumbnails, the tenth cell is never shown
    last_of_short = locate_thumbnail(rep, 255.255 + 54.0)
    assert last_of_short is not None and last_of_short.segment.url.endswith("content-4.jpg")
    assert last_of_short.index == 8
    assert last_of_short.duration_s == pytest.approx(6.006)
    slots = list(thumbnail_slots(rep, 255.255, 309.309, limit=100))
    assert [s.index for s in slots] == list(range(9))


def test_corpus_live_image_playlist_gaps_have_no_thumbnail() -> None:
    rep = _only_rep(_corpus("m3u8__live_image_playlist.m3u8"), "https://cdn.example/l.m3u8")
    segments = rep.segments or ()
    assert [s.is_gap for s in segments].count(True) == 3
    assert locate_thumbnail(rep, 20.0) is None  # a missing mid-roll (EXT-X-GAP)
    hit = locate_thumbnail(rep, 34.0)
    assert hit is not None and hit.segment.url.endswith("content-128.jpg")
    spans = [(s.segment.number, s.start_s) for s in thumbnail_slots(rep, 0.0, 60.0, limit=50)]
    assert [n for n, _ in spans] == [127228, 127229, 127230, 127234, 127235, 127236, 127237]


def test_corpus_variant_playlist_image_streams_and_loading() -> None:
    url = "https://cdn.example/master.m3u8"
    presentation = parse_hls(
        _corpus("m3u8__variant_playlist_with_image_playlists.m3u8"), url=url, now=NOW
    )
    (images,) = presentation.periods[0].tracks_of(TrackType.IMAGE)
    assert [(r.id, r.width, r.height, r.bandwidth_bps) for r in images.representations] == [
        ("image-180p", 320, 180, 16460),
        ("image-360p", 640, 360, 32920),
    ]
    assert images.representations[0].playlist_urls == (
        "https://cdn.example/5x2_320x180/320x180-5x2.m3u8",
    )
    loaded = load_media_playlist(
        presentation,
        "image-360p",
        _corpus("m3u8__vod_image_playlist.m3u8"),
        url="https://cdn.example/5x2_640x360/640x360-5x2.m3u8",
        now=NOW,
    )
    rep = next(r for r in loaded.representations() if r.id == "image-360p")
    slot = locate_thumbnail(rep, 20.0)
    assert slot is not None and slot.segment.url == "https://cdn.example/5x2_640x360/content-0.jpg"


def test_tiles_tag_once_applies_until_a_discontinuity() -> None:
    """Brightcove writes EXT-X-TILES once; every sprite then has the 5x2 grid."""
    rep = _only_rep(BRIGHTCOVE_HLS, "https://cdn.example/sprites.m3u8")
    grids = [s.tiles for s in rep.segments or ()]
    assert grids == [TileGrid(5, 2, 360, 150, 1.0)] * 3
    slot = locate_thumbnail(rep, 23.5)
    assert slot is not None and slot.segment.url.endswith("sprite_2.jpg")
    assert (slot.index, slot.crop(1800, 300)) == (3, (1080, 0, 360, 150))
    after_break = BRIGHTCOVE_HLS.replace(
        b"#EXTINF:10.000,\nsprite_2", b"#EXT-X-DISCONTINUITY\n#EXTINF:10.000,\nsprite_2"
    )
    rep = _only_rep(after_break, "https://cdn.example/sprites.m3u8")
    assert [s.tiles for s in rep.segments or ()][2] == TileGrid()


def test_tiles_without_duration_divide_the_segment() -> None:
    rep = _only_rep(_image_playlist("#EXT-X-TILES:LAYOUT=4x1"), "https://cdn.example/t.m3u8")
    slot = locate_thumbnail(rep, 7.6)
    assert slot is not None
    assert (slot.index, slot.start_s, slot.duration_s) == (3, 7.5, 2.5)
    assert slot.grid.tile_width is None


@pytest.mark.parametrize(
    ("tag", "detail"),
    [
        ("#EXT-X-TILES:RESOLUTION=160x90,DURATION=1", "bad EXT-X-TILES"),
        ("#EXT-X-TILES:LAYOUT=5by2", "bad tile grid"),
        ("#EXT-X-TILES:LAYOUT=0x2", "bad tile grid"),
        ("#EXT-X-TILES:LAYOUT=-5x2", "bad tile grid"),
        ("#EXT-X-TILES:LAYOUT=200x200", "too many tiles"),
        ("#EXT-X-TILES:LAYOUT=5x2,RESOLUTION=wide", "bad EXT-X-TILES"),
        ("#EXT-X-TILES:LAYOUT=5x2,RESOLUTION=99999999x1", "bad EXT-X-TILES"),
        ("#EXT-X-TILES:LAYOUT=5x2,DURATION=0", "bad EXT-X-TILES"),
        ("#EXT-X-TILES:LAYOUT=5x2,DURATION=nan", "bad EXT-X-TILES"),
        ("#EXT-X-TILES:LAYOUT=5x2,DURATION=soon", "bad EXT-X-TILES"),
    ],
)
def test_malformed_tiles_are_a_parse_error(tag: str, detail: str) -> None:
    with pytest.raises(ManifestParseError) as caught:
        parse_hls(_image_playlist(tag), url="https://cdn.example/t.m3u8", now=NOW)
    assert caught.value.detail == detail
    assert caught.value.url == "https://cdn.example/t.m3u8"


def test_tile_bound_is_configurable() -> None:
    data = _image_playlist("#EXT-X-TILES:LAYOUT=10x10")
    parse_hls(data, url="https://cdn.example/t.m3u8", now=NOW)
    with pytest.raises(ManifestParseError, match="max_tiles_per_image=99"):
        parse_hls(
            data,
            url="https://cdn.example/t.m3u8",
            now=NOW,
            config=ManifestConfig(max_tiles_per_image=99),
        )


def test_media_playlists_keep_no_tiles() -> None:
    data = b"#EXTM3U\n#EXT-X-TILES:LAYOUT=5x2\n#EXTINF:4,\na.ts\n#EXT-X-ENDLIST\n"
    rep = _only_rep(data, "https://cdn.example/v.m3u8")
    assert [s.tiles for s in rep.segments or ()] == [None]


# -- DASH --------------------------------------------------------------------------------------


def test_exoplayer_sample_both_schemes_and_grids() -> None:
    presentation = parse_dash(EXOPLAYER_IMAGES, url="https://cdn.example/m.mpd")
    (track,) = presentation.periods[0].tracks
    assert track.type == TrackType.IMAGE
    small, large = track.representations
    assert small.tiles == TileGrid(12, 16, 26, 11, 100 / 192)
    assert large.tiles == TileGrid(2, 4, 320, 90, 12.5)
    assert len(small.segments or ()) == 10
    slot = locate_thumbnail(large, 130.0)  # second image, 30 s in: thumbnail 2 (0-based)
    assert slot is not None and slot.segment.url == "https://cdn.example/images_640x360/tile_2.jpg"
    assert (slot.index, slot.column, slot.row, slot.start_s) == (2, 0, 1, 125.0)
    assert slot.crop(640, 360) == (0, 90, 320, 90)


def test_iop_example_adaptation_set_without_content_type() -> None:
    presentation = parse_dash(IOP_EXAMPLE, url="https://cdn.example/iop.mpd")
    (track,) = presentation.periods[0].tracks
    assert track.type == TrackType.IMAGE
    rep = track.representations[0]
    assert rep.tiles == TileGrid(25, 1, 256, 180, 5.0)  # "each image being 256x180", 5 s
    slot = locate_thumbnail(rep, 599.0)
    assert slot is not None
    assert (slot.segment.number, slot.index, slot.start_s) == (5, 19, 595.0)


def test_akamai_last_image_holds_fewer_thumbnails() -> None:
    presentation = parse_dash(AKAMAI_TILED, url="https://cdn.example/bbb.mpd")
    video, images = presentation.periods[0].tracks
    assert (video.type, images.type) == (TrackType.VIDEO, TrackType.IMAGE)
    rep = images.representations[0]
    segments = rep.segments or ()
    assert len(segments) == 7  # ceil(634.6 / 100), as dash.js documents for this stream
    last = locate_thumbnail(rep, 634.6)
    assert last is not None
    assert (last.segment.number, last.index, last.start_s) == (7, 3, 630.0)
    assert last.duration_s == pytest.approx(4.6)
    assert len(list(thumbnail_slots(rep, 0.0, 634.6, limit=1000))) == 64
    assert locate_thumbnail(rep, 700.0) is None


def test_timeline_image_duration_comes_from_the_longest_segment() -> None:
    """A last, shorter S holds fewer thumbnails (not three squeezed into it)."""
    mpd = b"""<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"
        mediaPresentationDuration="PT12S"><Period>
      <AdaptationSet contentType="image" mimeType="image/jpeg">
        <EssentialProperty schemeIdUri="http://dashif.org/guidelines/thumbnail_tile" value="2x2"/>
        <SegmentTemplate media="t/$Time$.jpg" timescale="1000">
          <SegmentTimeline><S t="0" d="8000"/><S d="4000"/></SegmentTimeline>
        </SegmentTemplate>
        <Representation id="t" bandwidth="3600" width="320" height="180"/>
      </AdaptationSet></Period></MPD>"""
    rep = parse_dash(mpd, url="https://cdn.example/m.mpd").periods[0].tracks[0].representations[0]
    assert rep.tiles == TileGrid(2, 2, 160, 90, 2.0)
    slots = list(thumbnail_slots(rep, 0.0, 12.0, limit=20))
    base = "https://cdn.example/t/"
    assert [(s.segment.url, s.index, s.start_s) for s in slots] == [
        (base + "0.jpg", 0, 0.0),
        (base + "0.jpg", 1, 2.0),
        (base + "0.jpg", 2, 4.0),
        (base + "0.jpg", 3, 6.0),
        (base + "8000.jpg", 0, 8.0),
        (base + "8000.jpg", 1, 10.0),
    ]


def test_malformed_dash_grid_drops_only_the_image_track(caplog: pytest.LogCaptureFixture) -> None:
    broken = AKAMAI_TILED.replace(b'value="10x1"', b'value="10by1"')
    with caplog.at_level(logging.WARNING, logger="player.manifest._images"):
        presentation = parse_dash(broken, url="https://cdn.example/bbb.mpd")
    assert [t.type for t in presentation.periods[0].tracks] == [TrackType.VIDEO]
    assert "dropping image AdaptationSet 1" in caplog.text and "10by1" in caplog.text
    too_many = AKAMAI_TILED.replace(b'value="10x1"', b'value="1000x1000"')
    assert len(parse_dash(too_many, url="https://cdn.example/b.mpd").periods[0].tracks) == 1


def test_broken_video_set_still_fails_the_manifest() -> None:
    broken = AKAMAI_TILED.replace(b'width="640"', b'width="wide"')
    with pytest.raises(ManifestParseError):
        parse_dash(broken, url="https://cdn.example/bbb.mpd")


def test_image_set_without_grid_is_one_thumbnail_per_image() -> None:
    plain = AKAMAI_TILED.replace(
        b'<EssentialProperty schemeIdUri="http://dashif.org/thumbnail_tile" value="10x1"/>', b""
    )
    rep = parse_dash(plain, url="https://cdn.example/b.mpd").periods[0].tracks[1].representations[0]
    assert rep.tiles == TileGrid(1, 1, 3200, 180, 100.0)
    slot = locate_thumbnail(rep, 150.0)
    assert slot is not None and (slot.index, slot.start_s, slot.duration_s) == (0, 100.0, 100.0)


def test_media_representations_have_no_tiles() -> None:
    presentation = parse_dash(AKAMAI_TILED, url="https://cdn.example/bbb.mpd")
    assert presentation.periods[0].tracks[0].representations[0].tiles is None


# -- the lookup and the crop ------------------------------------------------------------------


def _rep(*segments: Segment, tiles: TileGrid | None = None) -> Representation:
    return Representation(id="i", bandwidth_bps=1, segments=segments, tiles=tiles)


def test_crop_cells_of_a_size_not_divisible_by_the_grid() -> None:
    grid = TileGrid(3, 2)
    segment = Segment(("https://cdn.example/1.jpg",), 1, 0.0, 6.0)
    cells = [ThumbnailSlot(segment, grid, i, float(i), 1.0).crop(100, 51) for i in range(6)]
    assert cells == [
        (0, 0, 33, 25),
        (33, 0, 33, 25),
        (66, 0, 34, 25),
        (0, 25, 33, 26),
        (33, 25, 33, 26),
        (66, 25, 34, 26),
    ]
    assert sum(w for _, _, w, _ in cells[:3]) == 100 and cells[0][3] + cells[3][3] == 51


def test_lookup_edges() -> None:
    first = Segment(("https://cdn.example/1.jpg",), 1, 10.0, 4.0)
    second = Segment(("https://cdn.example/2.jpg",), 2, 14.0, 2.0)
    rep = _rep(first, second, tiles=TileGrid(2, 1, image_duration_s=2.0))
    assert locate_thumbnail(rep, 9.99) is None
    at_start = locate_thumbnail(rep, 10.0)
    assert at_start is not None and (at_start.segment.number, at_start.index) == (1, 0)
    boundary = locate_thumbnail(rep, 14.0)
    assert boundary is not None and (boundary.segment.number, boundary.index) == (2, 0)
    end = locate_thumbnail(rep, 16.0)
    assert end is not None and (end.segment.number, end.index, end.end_s) == (2, 0, 16.0)
    assert locate_thumbnail(rep, 16.01) is None
    assert locate_thumbnail(_rep(), 0.0) is None
    assert list(thumbnail_slots(rep, 0.0, 100.0, limit=2)) == [
        locate_thumbnail(rep, 10.0),
        locate_thumbnail(rep, 12.0),
    ]
    assert [s.start_s for s in thumbnail_slots(rep, 13.0, 13.0, limit=9)] == [12.0]


def test_zero_length_and_gap_segments_have_no_thumbnail() -> None:
    empty = Segment(("https://cdn.example/0.jpg",), 0, 0.0, 0.0)
    gap = Segment(("https://cdn.example/g.jpg",), 1, 0.0, 5.0, is_gap=True)
    assert locate_thumbnail(_rep(empty), 0.0) is None
    assert locate_thumbnail(_rep(gap), 1.0) is None
    assert list(thumbnail_slots(_rep(gap), 0.0, 5.0, limit=5)) == []


# -- image headers -----------------------------------------------------------------------------


def test_probe_image_jpeg_png_and_garbage() -> None:
    sof = b"\xff\xc0\x00\x11\x08\x00\x5a\x01\xe0" + bytes(12)
    app0 = b"\xff\xe0\x00\x10JFIF\x00" + bytes(9)
    jpeg = b"\xff\xd8" + app0 + b"\xff\xff" + sof
    info = probe_image(jpeg)
    assert info is not None and (info.mime_type, info.width, info.height) == (
        "image/jpeg",
        480,
        90,
    )
    assert probe_image(jpeg[:20]) is None  # cut before the frame header
    assert probe_image(b"\xff\xd8\x00\x00garbage") is None
    assert probe_image(b"\xff\xd8\xff\xe0\x00\x01") is None  # a length below 2
    size = (480).to_bytes(4, "big") + (90).to_bytes(4, "big")
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + size
    png_info = probe_image(png)
    assert png_info is not None and (png_info.width, png_info.height) == (480, 90)
    assert probe_image(png[:20]) is None
    assert probe_image(b"RIFF\x00\x00\x00\x00WEBPVP8 ") is None
