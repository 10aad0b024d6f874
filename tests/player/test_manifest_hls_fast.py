"""The fast path for plain media playlists gives exactly what ``m3u8.parse`` gives.

Each case is parsed twice, with the fast path and with ``m3u8.parse`` alone, and the built
media playlists (segments, keys, init segments, timing) or the errors must be equal.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from player.config import ManifestConfig
from player.errors import ManifestError
from player.manifest._hls_media import MediaPlaylist, build_media_playlist
from player.manifest._hls_scan import TagHook, _fast_parse, scan_playlist
from player.manifest._hls_urls import UrlResolver

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
HLS = SHARED / "corpus" / "manifests" / "hls"
URL = "https://cdn.example.com/live/media.m3u8"
NOW = 1_700_000_000.0
CONFIG = ManifestConfig()


def outcome(data: bytes, *, fast: bool) -> MediaPlaylist | tuple[str, str] | str:
    try:
        parsed = scan_playlist(data, url=URL, config=CONFIG, fast=fast)
        if parsed["playlists"] or parsed["iframe_playlists"] or parsed["media"]:
            return "multivariant"
        resolver = UrlResolver(URL, manifest_url=URL)
        return build_media_playlist(parsed, resolver=resolver, now=NOW, config=CONFIG)
    except ManifestError as exc:
        return (type(exc).__name__, str(exc))


def same(data: bytes) -> None:
    assert outcome(data, fast=True) == outcome(data, fast=False)


@pytest.mark.parametrize("path", sorted(HLS.glob("*.m3u8")), ids=lambda p: p.name)
def test_corpus_playlists_agree(path: Path) -> None:
    same(path.read_bytes())


def test_fast_path_is_taken_for_plain_playlists_only() -> None:
    plain = (HLS / "shaka__hls-sample-aes__index.m3u8").read_text()
    assert _fast_parse(plain, TagHook(URL)) is not None
    for name in ("m3u8__low_latency_part_playlist.m3u8", "m3u8__variant_playlist.m3u8"):
        assert _fast_parse((HLS / name).read_text(), TagHook(URL)) is None


TAGS = st.sampled_from(
    [
        "#EXTINF:4,",
        "#EXTINF:2.5,title",
        "#EXTINF:4",
        "#EXTINF:x,",
        "#EXTINF:-1,",
        "#EXT-X-BYTERANGE:100@0",
        "#EXT-X-BYTERANGE:100",
        "#EXT-X-BYTERANGE",
        "#EXT-X-DISCONTINUITY",
        "#EXT-X-DISCONTINUITY-SEQUENCE:3",
        "#EXT-X-MEDIA-SEQUENCE:7",
        "#EXT-X-MEDIA-SEQUENCE:x",
        "#EXT-X-TARGETDURATION:4",
        "#EXT-X-ENDLIST",
        "#EXT-X-PLAYLIST-TYPE:EVENT",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-GAP",
        "#EXT-X-VERSION:7",
        "#EXT-X-I-FRAMES-ONLY",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        '#EXT-X-KEY:METHOD=AES-128,URI="k1",IV=0x01',
        '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="data:,k",KEYFORMAT="a"',
        "#EXT-X-KEY:METHOD=NONE",
        '#EXT-X-MAP:URI="init.mp4",BYTERANGE="10@0"',
        '#EXT-X-MAP:URI="init2.mp4"',
        "#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00Z",
        "#EXT-X-PROGRAM-DATE-TIME:bad",
        "#EXT-X-DATERANGE:ID=x",
        "#EXT-X-CUE-OUT:30",
        "#EXT-X-BITRATE:100",
        "## a comment",
        "",
        "a.ts",
        "b.ts?x=1",
        "../c.ts",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(TAGS, max_size=30))
def test_generated_playlists_agree(lines: list[str]) -> None:
    same(("#EXTM3U\n" + "\n".join(lines) + "\n").encode())


def test_benchmark_style_playlist_agrees() -> None:
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:2", "#EXT-X-MEDIA-SEQUENCE:5", '#EXT-X-MAP:URI="i"']
    for i in range(300):
        if i % 100 == 0:
            lines.append(f'#EXT-X-KEY:METHOD=AES-128,URI="k{i}",IV=0x{i:032x}')
        lines += [f"#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:{i // 60:02d}:{i % 60:02d}Z"]
        lines += ["#EXTINF:2.000,", f"s{i}.m4s"]
    data = ("\n".join(lines) + "\n").encode()
    fast = outcome(data, fast=True)
    assert isinstance(fast, MediaPlaylist) and len(fast.segments) == 300
    assert fast == outcome(data, fast=False)
