"""HLS ``EXT-X-DEFINE`` (issue 10, defect 7): NAME/VALUE, QUERYPARAM, IMPORT, substitution.

The playlists named after a project are verbatim copies from its test suite (repository, path,
commit and licence given); the others are written here for one rule of RFC 8216bis each
(section 4.3 variable substitution, 4.4.2.3 ``EXT-X-DEFINE``).
"""

from __future__ import annotations

import time

import pytest

from player.config import ManifestConfig
from player.errors import ManifestParseError
from player.manifest import Presentation, load_media_playlist, parse_hls, parse_manifest

BASE = "https://cdn.example.com/v/"

# carlanton/m3u8-parser src/test/resources/multivariant/multivariant-variables.m3u8
# @510ae998f6ba123d129360d337997ef72220d411 (MIT)
CARLANTON_MULTIVARIANT = b"""#EXTM3U

#EXT-X-DEFINE:NAME="auth",VALUE="?auth_token=/aazv/54334:pp2"

#EXT-X-STREAM-INF:BANDWIDTH=1156000,RESOLUTION=640x480,CODECS="avc1.4d001e,mp4a.40.2"
bipbop_gear1/prog_index.m3u8{$auth}
"""

# carlanton/m3u8-parser src/test/resources/media/media-variables.m3u8
# @cbfe0246b3f54b50cd04f3761d260afcbf476ec6 (MIT)
CARLANTON_MEDIA = b"""#EXTM3U
#EXT-X-VERSION:8

#EXT-X-DEFINE:IMPORT="auth"

#EXT-X-TARGETDURATION:7
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="init.mp4{$auth}"
#EXTINF:6.0,
segment_1.m4s{$auth}
"""

# videojs/m3u8-parser test/fixtures/integration/define.m3u8, define_one.m3u8, define_two.m3u8
# @ca8e9d038de689b3a21254d45e04a2e7c1ed0d44 (Apache-2.0)
VIDEOJS_DEFINE = b"""#EXTM3U
#EXT-X-VERSION:11

#EXT-X-DEFINE:QUERYPARAM="token"
#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=640x360
define_one.m3u8?{$token}

#EXT-X-STREAM-INF:BANDWIDTH=1000000,RESOLUTION=960x540
define_two.m3u8?{$blah}"""
VIDEOJS_DEFINE_ONE = b"""#EXTM3U
#EXT-X-TARGETDURATION:10
#EXT-X-VERSION:4
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-DEFINE:IMPORT="token"
#EXT-X-DEFINE:NAME="foo",VALUE="bar"
#EXTINF:10,\t
#EXT-X-BYTERANGE:522828@0
hls_450k_video.ts?t={$token}
#EXTINF:10,\t
#EXT-X-BYTERANGE:587500@522828
hls_450k_video.ts?t={$foo}
#EXTINF:10,\t
#EXT-X-BYTERANGE:713084@1110328
hls_450k_video.ts
#EXTINF:10,\t
#EXT-X-BYTERANGE:476580@1823412
hls_450k_video.ts"""
VIDEOJS_DEFINE_TWO = b"""#EXTM3U
#EXT-X-TARGETDURATION:10
#EXT-X-VERSION:4
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-DEFINE:IMPORT="badtoken"
#EXTINF:10,\t
#EXT-X-BYTERANGE:522828@0
hls_450k_video.ts
#EXTINF:10,\t
#EXT-X-BYTERANGE:587500@522828
hls_450k_video.ts
#EXTINF:10,\t
#EXT-X-BYTERANGE:713084@1110328
hls_450k_video.ts
#EXTINF:10,\t
#EXT-X-BYTERANGE:476580@1823412
hls_450k_video.ts"""


def refused(data: bytes, *, url: str = BASE + "p.m3u8", **kwargs: object) -> ManifestParseError:
    with pytest.raises(ManifestParseError) as caught:
        parse_hls(data, url=url, **kwargs)  # type: ignore[arg-type]
    return caught.value


def urls(p: Presentation) -> list[str]:
    (rep,) = list(p.representations())
    assert rep.segments is not None
    return [s.url for s in rep.segments]


# --- real playlists ----------------------------------------------------------------------------


def test_name_value_in_the_multivariant_and_import_in_the_media_playlist() -> None:
    p = parse_hls(CARLANTON_MULTIVARIANT, url=BASE + "master.m3u8")
    (rep,) = list(p.representations())
    token = "?auth_token=/aazv/54334:pp2"
    assert rep.playlist_urls == (f"{BASE}bipbop_gear1/prog_index.m3u8{token}",)
    assert p.variables == (("auth", token),)
    assert "variables" not in p.to_json()
    loaded = load_media_playlist(p, rep.id, CARLANTON_MEDIA, url=rep.playlist_urls[0])
    (media,) = list(loaded.representations())
    assert media.init is not None and media.init.url == f"{BASE}bipbop_gear1/init.mp4{token}"
    assert urls(loaded) == [f"{BASE}bipbop_gear1/segment_1.m4s{token}"]
    # The same media playlist through parse_hls / parse_manifest, definitions passed in.
    alone = parse_manifest(
        CARLANTON_MEDIA, url=rep.playlist_urls[0], imports={"auth": "?a=1"}, now=None
    )
    assert urls(alone) == [f"{BASE}bipbop_gear1/segment_1.m4s?a=1"]
    error = refused(CARLANTON_MEDIA)  # no multivariant definitions: IMPORT cannot resolve
    assert error.detail == "undefined variable" and "line 4" in str(error)


def test_queryparam_from_the_playlist_url_and_an_undefined_reference() -> None:
    error = refused(VIDEOJS_DEFINE, url=BASE + "define.m3u8?token=abc")
    assert error.detail == "undefined variable"
    assert "'blah'" in str(error) and "line 9" in str(error)
    first_variant_only = VIDEOJS_DEFINE.rsplit(b"\n\n", 1)[0]
    p = parse_hls(first_variant_only, url=BASE + "define.m3u8?token=a%2Fb&x=1")
    (rep,) = list(p.representations())
    assert rep.playlist_urls == (BASE + "define_one.m3u8?a/b",)
    assert refused(first_variant_only, url=BASE + "define.m3u8").detail == "undefined variable"
    loaded = load_media_playlist(p, rep.id, VIDEOJS_DEFINE_ONE, url=rep.playlist_urls[0])
    assert urls(loaded) == [
        BASE + "hls_450k_video.ts?t=a/b",
        BASE + "hls_450k_video.ts?t=bar",
        BASE + "hls_450k_video.ts",
        BASE + "hls_450k_video.ts",
    ]
    with pytest.raises(ManifestParseError, match="'badtoken'"):
        load_media_playlist(p, rep.id, VIDEOJS_DEFINE_TWO, url=rep.playlist_urls[0])


# --- the rules, one at a time ------------------------------------------------------------------

MEDIA_HEAD = b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n"


@pytest.mark.parametrize(
    "defines",
    [
        b'#EXT-X-DEFINE:NAME="a",VALUE="1"\n#EXT-X-DEFINE:NAME="a",VALUE="2"\n',
        b'#EXT-X-DEFINE:NAME="a",VALUE="1"\n#EXT-X-DEFINE:QUERYPARAM="a"\n',
        b'#EXT-X-DEFINE:QUERYPARAM="a"\n#EXT-X-DEFINE:IMPORT="a"\n',
    ],
)
def test_a_variable_defined_twice_is_refused(defines: bytes) -> None:
    error = refused(MEDIA_HEAD + defines, url=BASE + "p.m3u8?a=9", imports={"a": "x"})
    assert error.detail == "duplicate variable"


@pytest.mark.parametrize(
    "define",
    [
        b'#EXT-X-DEFINE:NAME="a"',  # no VALUE
        b'#EXT-X-DEFINE:VALUE="1"',  # no NAME
        b'#EXT-X-DEFINE:NAME="a",VALUE="1",IMPORT="b"',  # two kinds
        b"#EXT-X-DEFINE:NAME=a,VALUE=1",  # not quoted strings
        b'#EXT-X-DEFINE:NAME="a b",VALUE="1"',  # not a variable name
    ],
)
def test_a_malformed_definition_is_refused(define: bytes) -> None:
    assert refused(MEDIA_HEAD + define + b"\n").detail == "bad define"


def test_a_reference_before_its_definition_is_undefined() -> None:
    data = MEDIA_HEAD + b'#EXTINF:4,\n{$a}.ts\n#EXT-X-DEFINE:NAME="a",VALUE="s"\n'
    assert refused(data).detail == "undefined variable"


def test_substitution_in_uris_quoted_strings_and_hex_values_only() -> None:
    data = (
        MEDIA_HEAD + b'#EXT-X-DEFINE:NAME="k",VALUE="keys/1"\n'
        b'#EXT-X-DEFINE:NAME="iv",VALUE="000102030405060708090a0b0c0d0e0f"\n'
        b'#EXT-X-DEFINE:NAME="n",VALUE="7"\n'
        b'#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example.com/{$k}",IV=0x{$iv}\n'
        b'#EXT-X-MAP:URI="init-{$n}.mp4"\n'
        b"#EXTINF:4,title {$n}\nseg-{$n}.ts\n"
        b'#EXT-X-PART:DURATION=1,URI="part-{$n}.mp4"\n'
        b'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="hint-{$n}.mp4"\n'
    )
    p = parse_hls(data, url=BASE + "p.m3u8", now=1_700_000_000.0)
    (rep,) = list(p.representations())
    assert rep.segments is not None
    (seg,) = rep.segments
    assert seg.url == BASE + "seg-7.ts"
    assert seg.key is not None and seg.key.uri == "https://keys.example.com/keys/1"
    assert seg.key.iv == bytes(range(16))
    assert seg.init is not None and seg.init.url == BASE + "init-7.mp4"
    assert [part.url for part in rep.pending_parts] == [BASE + "part-7.mp4", BASE + "hint-7.mp4"]


def test_values_are_not_expanded_again() -> None:
    data = MEDIA_HEAD + (
        b'#EXT-X-DEFINE:NAME="a",VALUE="x"\n#EXT-X-DEFINE:NAME="b",VALUE="{$a}"\n'
        b"#EXTINF:4,\nseg{$b}.ts\n"
    )
    assert urls(parse_hls(data, url=BASE + "p.m3u8")) == [
        BASE + "seg%7B$a%7D.ts".replace("%7B", "{").replace("%7D", "}")
    ]


def test_import_is_refused_in_a_multivariant_playlist() -> None:
    data = b'#EXTM3U\n#EXT-X-DEFINE:IMPORT="a"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n'
    assert refused(data).detail == "undefined variable"


@pytest.mark.parametrize("value", ["%22", "%0A", "a%0Db"])
def test_a_query_value_that_would_break_the_playlist_is_refused(value: str) -> None:
    data = MEDIA_HEAD + b'#EXT-X-DEFINE:QUERYPARAM="q"\n#EXTINF:4,\ns{$q}.ts\n'
    assert refused(data, url=BASE + f"p.m3u8?q={value}").detail == "bad define"


def test_substituted_size_is_bounded() -> None:
    value = "v" * 100_000
    data = (
        MEDIA_HEAD
        + f'#EXT-X-DEFINE:NAME="big",VALUE="{value}"\n'.encode()
        + b"#EXTINF:4,\n{$big}{$big}{$big}{$big}{$big}{$big}{$big}{$big}{$big}{$big}\n" * 12
    )
    config = ManifestConfig(max_manifest_bytes=2_000_000)
    started = time.process_time()
    assert refused(data, config=config).detail == "substitution too large"
    assert time.process_time() - started < 1.0
    assert len(urls(parse_hls(data, url=BASE + "p.m3u8"))) == 12  # 12 MB fits the default


def test_playlists_without_definitions_are_untouched() -> None:
    data = MEDIA_HEAD + b"#EXTINF:4,\nseg{1}.ts\n"
    assert urls(parse_hls(data, url=BASE + "p.m3u8")) == [BASE + "seg{1}.ts"]
