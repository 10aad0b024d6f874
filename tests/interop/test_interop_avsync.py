"""A/V offset (``av_drift_s``) and audio muxed into MPEG-TS, on FFmpeg's output.

``av_drift_s`` compares the audio's and the video's presentation times (decoded timestamps,
edit lists applied), not each track against the manifest's nominal segment times: FFmpeg's
``$Number$`` and ``-single_file`` DASH cut audio segments up to 80 ms away from their
nominal starts, which the old measure reported as drift, while audio that really starts
0.5 s late (``-itsoffset`` in MPEG-TS) must show as a 0.5 s offset and fail the verdict.
Audio muxed into TS variants is decoded and counted like a separate audio track.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import recipes
from foreign import (
    AAC_FRAME_SAMPLES,
    DURATION_S,
    SAMPLE_RATE,
    Clip,
    Served,
    Workshop,
    config_for,
    play,
)

from player.cli._qa import play_to_report
from player.cli._report import Thresholds, evaluate_checks

AAC_FRAME_S = AAC_FRAME_SAMPLES / SAMPLE_RATE
"""One AAC frame: MPEG-TS keeps the encoder's priming frame, 21 ms before the video."""


def _report(served: Served, path: str, **options: Any) -> dict[str, Any]:
    start_at = options.pop("start_at_s", None)
    report: dict[str, Any] = asyncio.run(
        play_to_report(
            served.url(path),
            config_for(served, **options),
            virtual_clock=True,
            start_at_s=start_at,
            timeout_s=60,
        )
    )
    return report


def _checks(report: dict[str, Any]) -> dict[str, Any]:
    return {c.name: c for c in evaluate_checks(report, Thresholds())}


@pytest.mark.parametrize(
    ("name", "start_at_s"),
    [
        ("ffmpeg-dash-number", None),
        ("ffmpeg-dash-number", 2.0),  # playback starts at a segment whose audio starts early
        ("ffmpeg-dash-single-file", None),
    ],
)
def test_no_drift_on_ffmpeg_dash_whose_audio_segments_are_cut_off_nominal(
    name: str, start_at_s: float | None, workshop: Workshop, lab_server: Served
) -> None:
    recipe = {
        "ffmpeg-dash-number": recipes.ffmpeg_dash_number,
        "ffmpeg-dash-single-file": recipes.ffmpeg_dash_single_file,
    }[name]
    report = _report(lab_server, workshop.build(name, recipe), start_at_s=start_at_s)
    assert report["final_state"] == "ended"
    assert report["av_drift_s"] <= 0.001  # the old measure said about 0.08 s
    check = _checks(report)["av_drift"]
    assert check.passed and check.limit == Thresholds().max_av_drift_s


def test_audio_that_starts_late_in_mpeg_ts_is_an_offset_and_fails(
    workshop: Workshop, lab_server: Served
) -> None:
    path = workshop.build("ffmpeg-hls-ts-audio-late", recipes.ffmpeg_hls_ts_audio_late)
    report = _report(lab_server, path)
    assert report["final_state"] == "ended"
    # The audio's first frame is its priming frame, one AAC frame before its 0.5 s.
    assert report["av_drift_s"] == pytest.approx(recipes.AUDIO_OFFSET_S - AAC_FRAME_S, abs=1e-3)
    checks = _checks(report)
    assert not checks["av_drift"].passed
    assert "0.479 s apart" in str(checks["av_drift"].message)
    # The muxed audio misses the first half second of the span: frames_decoded says so.
    assert "audio (muxed)" in str(checks["frames_decoded"].message)


def test_muxed_ts_audio_is_decoded_and_counted(
    workshop: Workshop, clip: Clip, lab_server: Served
) -> None:
    path = workshop.build("ffmpeg-hls-ts", recipes.ffmpeg_hls_ts)
    report = _report(lab_server, path, max_video_height=180)
    assert "audio" not in report["tracks"]  # no separate audio track: it is muxed
    muxed = report["tracks"]["video"]["muxed_audio"]
    assert muxed["sample_rate"] == SAMPLE_RATE
    assert muxed["frames_decoded"] >= clip.audio_frames
    assert muxed["audio_s_in_span"] == pytest.approx(DURATION_S, rel=0.02)
    checks = _checks(report)
    assert all(c.passed for c in checks.values()), checks
    assert checks["frames_decoded"].value["audio"]["decoded_s"] == pytest.approx(
        DURATION_S, rel=0.02
    )
    assert report["av_drift_s"] <= AAC_FRAME_S + 1e-6  # the priming frame, nothing more
    # Frame times of the muxed audio are the player's audio frame times.
    playback = play(lab_server, path, max_video_height=180)
    assert len(playback.audio_pts_s) == muxed["frames_decoded"]


def test_a_muxed_variant_that_declares_audio_but_has_none_fails(
    workshop: Workshop, lab_server: Served
) -> None:
    path = workshop.build("ffmpeg-hls-ts-silent", recipes.ffmpeg_hls_ts_silent)
    report = _report(lab_server, path)
    assert report["final_state"] == "ended"
    assert report["tracks"]["video"]["muxed_audio"]["samples_decoded"] == 0
    failed = {n: c.message for n, c in _checks(report).items() if not c.passed}
    assert set(failed) == {"frames_decoded"}
    assert "audio (muxed): nothing decoded" in str(failed["frames_decoded"])


def test_the_json_report_of_a_failed_run_names_the_failed_checks(
    workshop: Workshop, lab_server: Served, tmp_path: Path
) -> None:
    path = workshop.build("ffmpeg-hls-ts-audio-late", recipes.ffmpeg_hls_ts_audio_late)
    out = tmp_path / "report.json"
    assert lab_server.ca_file is not None
    # fmt: off
    done = subprocess.run(
        [
            sys.executable, "-m", "player", "play", lab_server.url(path),
            "--ca", lab_server.ca_file, "--virtual-clock", "--quiet", "--report", str(out),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )
    # fmt: on
    assert done.returncode == 1, done.stderr
    report = json.loads(out.read_text())
    assert report["verdict"] == "FAIL" and report["passed"] is False
    failed = {c["name"]: c for c in report["checks"] if not c["passed"]}
    assert set(failed) == {"frames_decoded", "av_drift"}
    drift = failed["av_drift"]
    assert drift["value"] == pytest.approx(0.479, abs=1e-3) and drift["limit"] == 0.1
    assert "apart" in drift["message"]
    for check in report["checks"]:
        assert set(check) == {"name", "passed", "value", "limit", "message"}
        assert (check["message"] is None) == check["passed"]
    assert "FAIL av_drift" in done.stdout
