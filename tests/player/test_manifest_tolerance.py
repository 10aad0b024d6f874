"""Tolerance where players are tolerant (issue 10, defect 8), on manifests from other projects.

Each manifest below is a verbatim copy of a file from another project's test suite (named with
its repository, path, commit and licence), kept here because ``../shared/corpus`` has none of
these quirks. What is truly unplayable is still refused with a ``ManifestError`` and a reason.
"""

from __future__ import annotations

import logging

import pytest

from player.errors import ManifestParseError
from player.manifest import TrackType, parse_hls, parse_manifest

NOW = 1_700_000_000.0

# grafov/m3u8 sample-playlists/master-with-i-frame-stream-inf.m3u8
# @e1285117e7c05d290bf572b527e5419458bb36c4 (BSD-3-Clause)
GRAFOV_IFRAME_INVALID_BW = b"""#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=1280000
low/audio-video.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=86000,URI="low/iframe.m3u8",PROGRAM-ID=1,CODECS="c1",RESOLUTION="1x1",VIDEO="1"
#EXT-X-STREAM-INF:BANDWIDTH=2560000
mid/audio-video.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=150000,URI="mid/iframe.m3u8",PROGRAM-ID=1,CODECS="c2",RESOLUTION="2x2",VIDEO="2"
#EXT-X-STREAM-INF:BANDWIDTH=7680000
hi/audio-video.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=550000,URI="hi/iframe.m3u8",PROGRAM-ID=1,CODECS="c2",RESOLUTION="2x2",VIDEO="2"
#EXT-X-STREAM-INF:BANDWIDTH=65000,CODECS="mp4a.40.5"
audio-only.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH="INVALIDBW",URI="hi/iframe.m3u8",PROGRAM-ID=1,CODECS="c2",RESOLUTION="2x2",VIDEO="2"
"""  # noqa: E501

# videojs/videojs-contrib-hls test/data/manifests.js, key 'versionInvalid'
# @148883144e6a8186dc705273572f9cec03463c5e (Apache-2.0)
VIDEOJS_VERSION_INVALID = b"""#EXTM3U
#EXT-X-TARGETDURATION:10
#EXT-X-VERSION:NaN
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXTINF:10,
hls_450k_video.ts
#EXT-X-ENDLIST

"""

# --- HLS ---------------------------------------------------------------------------------------


def test_variant_with_invalid_bandwidth_is_dropped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = "https://cdn.example.com/grafov/master.m3u8"
    with caplog.at_level(logging.WARNING, logger="player.manifest._hls_scan"):
        p = parse_manifest(GRAFOV_IFRAME_INVALID_BW, url=url, now=NOW)
    tracks = {t.id: t for t in p.periods[0].tracks}
    assert [r.bandwidth_bps for r in tracks["main"].representations] == [
        1_280_000,
        2_560_000,
        7_680_000,
        65_000,
    ]
    iframes = tracks["iframe"].representations
    assert [r.bandwidth_bps for r in iframes] == [86_000, 150_000, 550_000]
    assert tracks["iframe"].type is TrackType.VIDEO
    assert [r.message for r in caplog.records] == [
        f'{url}: line 13: dropping a variant stream: BANDWIDTH="INVALIDBW" is not a number'
    ]


@pytest.mark.parametrize(
    "line",
    [
        "#EXT-X-STREAM-INF:BANDWIDTH=-5",
        '#EXT-X-STREAM-INF:BANDWIDTH="INVALIDBW"',
        "#EXT-X-STREAM-INF:BANDWIDTH=1000,AVERAGE-BANDWIDTH=x",
        "#EXT-X-STREAM-INF:BANDWIDTH=1000,FRAME-RATE=fast",
        "#EXT-X-STREAM-INF:BANDWIDTH=inf",
    ],
)
def test_a_playlist_whose_only_variant_is_unusable_is_refused(line: str) -> None:
    data = f"#EXTM3U\n{line}\nv.m3u8\n".encode()
    with pytest.raises(ManifestParseError) as caught:
        parse_hls(data, url="https://cdn.example.com/m.m3u8")
    assert caught.value.detail == "no usable variant"
    good = f"#EXTM3U\n{line}\nv.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=9\nw.m3u8\n".encode()
    reps = list(parse_hls(good, url="https://cdn.example.com/m.m3u8").representations())
    assert [(r.id, r.bandwidth_bps) for r in reps] == [("w.m3u8", 9)]


def test_unreadable_version_tag_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    url = "https://cdn.example.com/videojs/versionInvalid.m3u8"
    with caplog.at_level(logging.WARNING, logger="player.manifest._hls_scan"):
        p = parse_manifest(VIDEOJS_VERSION_INVALID, url=url, now=NOW)
    (rep,) = list(p.representations())
    assert rep.segments is not None and [s.url for s in rep.segments] == [
        "https://cdn.example.com/videojs/hls_450k_video.ts"
    ]
    assert p.duration_s == 10.0
    assert "ignoring EXT-X-VERSION:NaN" in caplog.text
