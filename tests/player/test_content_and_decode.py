"""The lab's generated content, and the PyAV decoder on it (real media, made at test time)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from player._decode import TrackDecoder
from player.errors import DecodeError, PlayerConfigError
from player.lab import ContentSpec, RenditionSpec, generate_content

LADDER = (
    RenditionSpec(id="lo", width=160, height=90, bitrate_bps=150_000),
    RenditionSpec(id="hi", width=320, height=180, bitrate_bps=400_000),
)


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    spec = ContentSpec(duration_s=6, segment_s=2, ladder=LADDER, audio_languages=("en", "de"))
    return generate_content(tmp_path_factory.mktemp("content"), spec)


def test_files_and_timing(content) -> None:  # type: ignore[no-untyped-def]
    root: Path = content.root
    video = [t for t in content.tracks if t.kind == "video"]
    assert [t.id for t in video] == ["lo", "hi"]
    for track in video:
        assert len(track.segments) == 3
        assert all(d == 2 * track.timescale for _, d, _ in track.segments)
        assert [t for t, _, _ in track.segments] == [0, 2 * track.timescale, 4 * track.timescale]
        assert (root / track.folder / "init.mp4").read_bytes()[4:8] == b"ftyp"
        assert (root / track.folder / "seg-3.m4s").read_bytes()[4:8] == b"moof"
        assert track.codecs.startswith("avc1.")
    assert video[1].bandwidth_bps > video[0].bandwidth_bps
    audio = [t for t in content.tracks if t.kind == "audio"]
    assert [t.language for t in audio] == ["en", "de"]
    assert abs(sum(d for _, d, _ in audio[0].segments) / audio[0].timescale - 6.0) < 0.1


def test_manifests_describe_the_files(content) -> None:  # type: ignore[no-untyped-def]
    mpd = (content.root / "manifest.mpd").read_text()
    assert 'mediaPresentationDuration="PT6S"' in mpd
    assert mpd.count("<Representation ") == 4
    assert '<S t="0" d="25600" r="2"/>' in mpd
    master = (content.root / "master.m3u8").read_text()
    assert master.count("#EXT-X-STREAM-INF") == 2
    assert 'LANGUAGE="de"' in master
    media = (content.root / "video/hi/index.m3u8").read_text()
    assert re.findall(r"#EXTINF:([\d.]+),", media) == ["2.000000"] * 3
    assert media.rstrip().endswith("#EXT-X-ENDLIST")


@pytest.mark.parametrize("kind,folder", [("video", "video/hi"), ("audio", "audio/en")])
def test_every_frame_decodes_once_in_order(content, kind: str, folder: str) -> None:  # type: ignore[no-untyped-def]
    decoder = TrackDecoder(kind, hash_frames=kind == "video")
    init = (content.root / folder / "init.mp4").read_bytes()
    all_pts: list[float] = []
    for n in (1, 2, 3):
        result = decoder.decode(init, (content.root / folder / f"seg-{n}.m4s").read_bytes())
        assert result.errors == 0
        if n > 1:
            assert result.gap_s == pytest.approx(0.0, abs=1e-6)
        all_pts.extend(result.pts_s)
    assert all_pts == sorted(all_pts)
    assert len(set(all_pts)) == len(all_pts)
    if kind == "video":
        assert len(all_pts) == content.total_frames == 150


def test_corrupt_segment_counts_errors(content) -> None:  # type: ignore[no-untyped-def]
    init = (content.root / "video/hi/init.mp4").read_bytes()
    data = bytearray((content.root / "video/hi/seg-1.m4s").read_bytes())
    for i in range(400, len(data), 61):
        data[i] ^= 0x5A
    result = TrackDecoder("video").decode(init, bytes(data))
    assert result.errors > 0


def test_unopenable_segment_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        TrackDecoder("video").decode(b"", b"not a media file at all" * 10)


def test_encrypted_spec_needs_a_packager(tmp_path: Path) -> None:
    spec = ContentSpec(duration_s=2, ladder=LADDER[:1], scheme="cenc", kid_hex="00" * 16)
    with pytest.raises(PlayerConfigError, match="encrypt"):
        generate_content(tmp_path, spec)
