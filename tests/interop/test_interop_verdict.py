"""The QA verdict on foreign content and foreign servers (``play_to_report`` + checks).

Good content passes every check whatever serves it (a server that ignores ``Range``
included: each whole file is fetched once, so the bytes match the index's sizes), and
``--hash-frames`` digests agree when the same pictures are decoded from different servers;
a wrong key fails the verdict on its decode errors.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import recipes
from foreign import Served, Workshop, config_for

from player.cli._qa import play_to_report
from player.cli._report import Thresholds, check_thresholds


def _report(served: Served, path: str, **playback: Any) -> dict[str, Any]:
    report: dict[str, Any] = asyncio.run(
        play_to_report(served.url(path), config_for(served, **playback), virtual_clock=True)
    )
    return report


def _failures(report: dict[str, Any]) -> dict[str, str]:
    return {n: f for n, f in check_thresholds(report, Thresholds()) if f is not None}


def test_ffmpeg_hls_fmp4_passes_and_its_digest_is_the_same_over_http3(
    workshop: Workshop, lab_server: Served, caddy_h3: Served
) -> None:
    path = workshop.build("ffmpeg-hls-fmp4", recipes.ffmpeg_hls_fmp4)
    lab = _report(lab_server, path, max_video_height=180)
    caddy = _report(caddy_h3, path, max_video_height=180)
    for report in (lab, caddy):
        assert _failures(report) == {}
        assert report["tracks"]["video"]["frame_rate"] == pytest.approx(25.0)
        assert report["tracks"]["video"]["frame_rate_from"] == "decoded"  # no FRAME-RATE
    assert lab["frame_hashes"]["video"]["count"] == 100
    assert lab["frame_hashes"]["video"]["digest"] == caddy["frame_hashes"]["video"]["digest"]


def test_single_file_dash_from_a_server_without_range_support_passes(
    workshop: Workshop, plain_http: Served
) -> None:
    path = workshop.build("ffmpeg-dash-single-file", recipes.ffmpeg_dash_single_file)
    report = _report(plain_http, path)
    assert _failures(report) == {}
    video = report["tracks"]["video"]
    assert video["declared_from"] == "index"
    assert 0.8 <= video["bytes_compared"] / video["declared_bytes"] <= 1.25


def test_a_wrong_key_decodes_garbage_and_fails_on_decode_errors(
    workshop: Workshop, lab_server: Served
) -> None:
    """Shaka Packager ``cenc`` with a wrong ClearKey key: CENC has no key check, the slice
    headers stay clear, so pictures "decode" with errors; the verdict must FAIL on them."""
    path = workshop.build("shaka-cenc", recipes.shaka_cenc)
    report = _report(lab_server, path, keys={recipes.KID: "00" * 16})
    assert report["final_state"] == "ended" and report["frames_decoded"] > 0
    found = _failures(report)
    assert found["decode_errors"] == f"{report['decode_errors']} decode errors > 0"
    assert report["decode_errors"] >= report["frames_decoded"]
    right = _report(lab_server, path, keys={recipes.KID: recipes.KEY})
    assert _failures(right) == {}
