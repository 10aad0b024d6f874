"""``player._avsync``: the A/V offset from each run's first decoded samples (sans-I/O).

The figures are those FFmpeg's output shows (``tests/interop/test_interop_avsync.py``
plays the real files): ``$Number$`` audio segments that begin 80 ms before their nominal
start, MPEG-TS whose clock starts at 1.4 s, audio shifted 0.5 s by ``-itsoffset``.
"""

from __future__ import annotations

import pytest

from player._avsync import AvOffsets, RunStart

TIMELINE = (0, 0)


def start(kind: str, first: float, segment: float, run: float, *, opens: bool = True) -> RunStart:
    return RunStart(kind, first, segment, run, TIMELINE, opens)


def test_audio_segments_cut_before_their_nominal_start_are_no_offset() -> None:
    offsets = AvOffsets()
    assert offsets.on_run_start(start("video", 0.0, 0.0, 0.0)) is None  # waits for audio
    assert offsets.on_run_start(start("audio", 0.0, 0.0, 0.0)) == 0.0
    # A seek to 2.0: the audio segment numbered for 2.0 s begins at 1.92 s.
    assert offsets.on_run_start(start("video", 2.0, 2.0, 2.0, opens=False)) == 0.0
    assert offsets.on_run_start(start("audio", 1.92, 2.0, 2.0, opens=False)) == 0.0
    assert offsets.drift_s == 0.0


def test_playback_started_inside_the_timeline_anchors_on_the_video() -> None:
    offsets = AvOffsets()
    offsets.on_run_start(start("video", 2.0, 2.0, 2.0, opens=False))
    assert offsets.on_run_start(start("audio", 1.92, 2.0, 2.0, opens=False)) == 0.0


def test_late_audio_in_mpeg_ts_is_the_offset_whatever_the_clock_origin() -> None:
    offsets = AvOffsets()
    offsets.on_run_start(start("video", 1.48, 0.0, 0.0))
    assert offsets.on_run_start(start("audio", 1.9587, 0.0, 0.0)) == pytest.approx(0.4787)
    assert offsets.drift_s == pytest.approx(0.4787)


def test_late_video_counts_as_much_as_late_audio() -> None:
    offsets = AvOffsets()
    offsets.on_run_start(start("audio", 10.0, 0.0, 0.0))
    assert offsets.on_run_start(start("video", 10.3, 0.0, 0.0)) == pytest.approx(0.3)


def test_an_offset_carried_by_the_manifest_timeline_counts() -> None:
    """Segments placed at 1.48 s (video) and 1.958 s (audio) on the manifest's timeline."""
    offsets = AvOffsets()
    offsets.on_run_start(start("video", 1.48, 1.48, 0.0))
    assert offsets.on_run_start(start("audio", 1.958, 1.958, 0.0)) == pytest.approx(0.478)


def test_each_timeline_has_its_own_origin() -> None:
    offsets = AvOffsets()
    offsets.on_run_start(start("video", 0.0, 0.0, 0.0))
    offsets.on_run_start(start("audio", 0.0, 0.0, 0.0))
    # After a discontinuity the clock restarts at 50 s for both (the playhead is at 3 s).
    later = (0, 1)
    offsets.on_run_start(RunStart("video", 50.0, 8.0, 3.0, later, True))
    assert offsets.on_run_start(RunStart("audio", 50.0, 8.0, 3.0, later, True)) == 0.0
    assert offsets.drift_s == 0.0
