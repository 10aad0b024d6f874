"""FFmpeg's DASH and HLS layouts played through the lab and through Caddy over HTTP/3.

Each case: FFmpeg packages the clear source (no re-encode), a server serves it, the SDK
plays it to the end with decoding and frame hashing, and every decoded picture must be
the source's picture with the same frame number, with no decode error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import recipes
from foreign import (
    AAC_FRAME_SAMPLES,
    DURATION_S,
    FPS,
    SAMPLE_RATE,
    Clip,
    Playback,
    Served,
    Workshop,
    compare_pictures,
    play,
)

Recipe = Callable[[Path, Clip], str]

CASES: dict[str, tuple[Recipe, str]] = {
    # name: (recipe, how frame numbers are anchored: MPEG-TS timestamps start anywhere)
    "ffmpeg-dash-timeline": (recipes.ffmpeg_dash_timeline, "absolute"),
    "ffmpeg-dash-number": (recipes.ffmpeg_dash_number, "absolute"),
    "ffmpeg-dash-single-file": (recipes.ffmpeg_dash_single_file, "absolute"),
    "ffmpeg-hls-fmp4": (recipes.ffmpeg_hls_fmp4, "absolute"),
    "ffmpeg-hls-ts": (recipes.ffmpeg_hls_ts, "first"),
    "ffmpeg-hls-aes128": (recipes.ffmpeg_hls_aes128, "first"),
}
OVER_H3 = (
    "ffmpeg-dash-timeline",
    "ffmpeg-dash-single-file",
    "ffmpeg-hls-fmp4",
    "ffmpeg-hls-aes128",
)
"""The representative subset also played from Caddy over HTTP/3."""


def _check(playback: Playback, clip: Clip, name: str) -> None:
    assert playback.state == "ended", playback.error
    assert playback.stats["decode_errors"] == 0
    comparison = compare_pictures(playback, clip, anchor=CASES[name][1])
    assert comparison.is_exact, comparison
    assert comparison.frames == clip.frames
    # The audio plays alongside, as its own track or muxed into the TS segments (decoded
    # from the same segments): AAC frames of the 4 s presentation within 2 % (FFmpeg's
    # SegmentList ends audio at 4 s nominal, a little before the media).
    expected = DURATION_S * SAMPLE_RATE / AAC_FRAME_SAMPLES
    assert abs(len(playback.audio_pts_s) - expected) <= 0.02 * expected


@pytest.mark.parametrize("name", list(CASES))
def test_ffmpeg_layout_plays_bit_exact_from_the_lab(
    name: str, workshop: Workshop, clip: Clip, lab_server: Served
) -> None:
    path = workshop.build(name, CASES[name][0])
    _check(play(lab_server, path), clip, name)


@pytest.mark.parametrize("name", OVER_H3)
def test_ffmpeg_layout_plays_bit_exact_from_caddy_over_http3(
    name: str, workshop: Workshop, clip: Clip, caddy_h3: Served
) -> None:
    path = workshop.build(name, CASES[name][0])
    playback = play(caddy_h3, path)
    _check(playback, clip, name)
    assert set(playback.stats["bytes_by_protocol"]) == {"h3"}


def test_hls_fmp4_edit_list_puts_frame_n_at_its_source_time(
    workshop: Workshop, clip: Clip, lab_server: Served
) -> None:
    """Defect 5: FFmpeg's HLS fMP4 init has an empty edit then ``media_time`` = 2 frames.

    Frame N must be presented at N / fps (the source's time) within one 12800 Hz tick,
    not two frames late, and audio must not drift against video.
    """
    path = workshop.build("ffmpeg-hls-fmp4", recipes.ffmpeg_hls_fmp4)
    playback = play(lab_server, path)
    assert playback.state == "ended", playback.error
    times = sorted(pts for pts, _ in playback.video)
    assert len(times) == clip.frames
    worst = max(abs(pts - n / FPS) for n, pts in enumerate(times))
    assert worst <= 1 / 12800
    assert playback.stats["av_drift_s"] < 0.001
    assert playback.audio_pts_s and min(playback.audio_pts_s) < 0.025


@pytest.mark.parametrize("name", ["ffmpeg-dash-timeline", "ffmpeg-hls-fmp4"])
def test_audio_priming_is_skipped_once_not_per_segment(
    name: str, workshop: Workshop, clip: Clip, lab_server: Served
) -> None:
    """The AAC edit list (priming) applies at the track's start only.

    Decoded segment by segment through FFmpeg's demuxer, every segment lost its first AAC
    frame (a 21 ms hole at each boundary). Now every frame is there, back to back.
    """
    playback = play(lab_server, workshop.build(name, CASES[name][0]))
    assert playback.state == "ended", playback.error
    times = sorted(playback.audio_pts_s)
    step = AAC_FRAME_SAMPLES / SAMPLE_RATE
    holes = [round(b - a, 6) for a, b in zip(times, times[1:], strict=False) if b - a > 1.5 * step]
    assert holes == []
    assert times[0] == pytest.approx(0.0, abs=1 / SAMPLE_RATE)
    assert len(times) >= clip.audio_frames


def test_ffmpeg_dash_cenc_without_senc_fails_with_a_typed_decryption_error(
    workshop: Workshop, lab_server: Served
) -> None:
    """Broken content: FFmpeg 5.1's DASH CENC has ``tenc`` but no ``senc``/``saiz``/``saio``.

    Playing it must end in a typed DRM error naming the fragment, not in pictures decoded
    from ciphertext.
    """
    path = workshop.build("ffmpeg-dash-cenc", recipes.ffmpeg_dash_cenc)
    playback = play(lab_server, path, keys={recipes.KID: recipes.KEY})
    assert playback.state == "error"
    assert playback.error_code == "drm.decryption"
    assert "senc" in str(playback.error)
    assert playback.stats["frames_decoded"] == 0
