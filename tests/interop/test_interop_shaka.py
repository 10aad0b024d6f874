"""Shaka Packager's live-profile output (DASH and HLS fMP4), clear and ClearKey ``cenc``.

(On-demand ``SegmentBase`` output, adaptation-set switching and SAMPLE-AES have their own
files; SAMPLE-AES is in ``test_interop_hls_iv.py``.) The packager remultiplexes without
re-encoding, so decoded pictures must be the source's, and encrypted cases must decrypt to
exactly those pictures.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import recipes
from foreign import Clip, Playback, Served, Workshop, compare_pictures, play

Recipe = Callable[[Path, Clip], str]

CASES: dict[str, Recipe] = {
    "shaka-clear": recipes.shaka_clear,
    "shaka-cenc": recipes.shaka_cenc,
    "shaka-cenc-clear-lead": recipes.shaka_cenc_clear_lead,
}
KEYS = {recipes.KID: recipes.KEY}


def _path(workshop: Workshop, name: str, manifest: str) -> str:
    dash = workshop.build(name, CASES[name])
    return str(Path(dash).parent / manifest)


def _check(playback: Playback, clip: Clip) -> None:
    assert playback.state == "ended", playback.error
    assert playback.stats["decode_errors"] == 0
    comparison = compare_pictures(playback, clip)
    assert comparison.is_exact, comparison
    assert comparison.frames == clip.frames
    assert len(playback.audio_pts_s) >= 0.98 * clip.audio_frames


@pytest.mark.parametrize("manifest", ["manifest.mpd", "master.m3u8"])
@pytest.mark.parametrize("name", list(CASES))
def test_shaka_output_plays_bit_exact_from_the_lab(
    name: str, manifest: str, workshop: Workshop, clip: Clip, lab_server: Served
) -> None:
    playback = play(lab_server, _path(workshop, name, manifest), keys=KEYS)
    _check(playback, clip)
    if name != "shaka-clear":
        assert playback.stats["errors_by_code"] == {}


@pytest.mark.parametrize("name", ["shaka-clear", "shaka-cenc-clear-lead"])
def test_shaka_dash_plays_bit_exact_from_caddy_over_http3(
    name: str, workshop: Workshop, clip: Clip, caddy_h3: Served
) -> None:
    playback = play(caddy_h3, _path(workshop, name, "manifest.mpd"), keys=KEYS)
    _check(playback, clip)
    assert set(playback.stats["bytes_by_protocol"]) == {"h3"}


def test_cenc_without_the_key_fails_with_a_typed_drm_error(
    workshop: Workshop, lab_server: Served
) -> None:
    playback = play(lab_server, _path(workshop, "shaka-cenc", "manifest.mpd"))
    assert playback.state == "error"
    assert playback.error_code is not None and playback.error_code.startswith("drm.")
    assert playback.stats["frames_decoded"] == 0
