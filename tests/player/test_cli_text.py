"""``play --text-language``, ``--expect-cue-at S[:TEXT]`` and ``--min-subtitle-coverage``.

The lab's content with ``text_support``'s subtitles, played from disk by the command line
(its folder served over loopback HTTPS) as a subprocess; the checks' wording on made-up
reports.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from text_support import add_text_tracks, cues_for

from player.cli._report import Thresholds, check_thresholds
from player.lab import ContentInfo, ContentSpec, RenditionSpec, generate_content

DURATION_S = 8


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> ContentInfo:
    spec = ContentSpec(
        duration_s=DURATION_S,
        ladder=(RenditionSpec(id="v1", width=160, height=90, bitrate_bps=150_000),),
    )
    info = generate_content(tmp_path_factory.mktemp("cli-text"), spec)
    languages = {lang: cues_for(lang, DURATION_S) for lang in ("en", "de")}
    add_text_tracks(info, languages, broken={"de": 2})
    return info


def play(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "player", "play", *args, "--virtual-clock", "--quiet"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_cue_checks_pass_and_the_report_lists_the_cues(
    content: ContentInfo, tmp_path: Path
) -> None:
    report, junit = tmp_path / "r.json", tmp_path / "j.xml"
    result = play(
        str(content.root / "master.m3u8"), "--no-decode", "--text-language", "en",
        "--expect-cue-at", "2.0:en cue 2", "--expect-cue-at", "6.5",
        "--min-subtitle-coverage", "0.99", "--report", str(report), "--junit", str(junit),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS cue_at_2s" in result.stdout and "PASS cue_at_6.5s" in result.stdout
    assert "PASS subtitle_coverage" in result.stdout
    assert "subtitle_cues: 5" in result.stdout
    data = json.loads(report.read_text())
    assert data["subtitle_cues"] == 5 and data["subtitle_coverage"] == pytest.approx(1.0)
    text = data["text"]
    assert [c["text"] for c in text["cues"]] == [f"en cue {n}" for n in range(1, 6)]
    assert [c["text"] for c in text["shown"]] == [f"en cue {n}" for n in range(1, 6)]
    assert text["language"] == "en" and text["segments_loaded"] == 4
    assert any(e["type"] == "CueEntered" for e in data["events"])
    cases = [c.get("name") for c in ET.parse(junit).getroot().iter("testcase")]
    assert {"cue_at_2s", "cue_at_6.5s", "subtitle_coverage"} <= set(cases)


def test_cue_checks_fail_with_what_was_shown(content: ContentInfo) -> None:
    result = play(
        str(content.root / "master.m3u8"), "--no-decode", "--text-language", "de",
        "--expect-cue-at", "0.5:de cue 1", "--expect-cue-at", "2.0:the wrong words",
        "--expect-cue-at", "3.5", "--min-subtitle-coverage", "0.9",
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "PASS cue_at_0.5s" in lines
    assert "FAIL cue_at_2s: the cue shown at 2.00 s says 'de cue 2', not 'the wrong words'" in lines
    # segment 2 (2-4 s) is not WebVTT: a quarter of the 8 s played has no subtitles
    assert any(
        line.startswith("FAIL subtitle_coverage: subtitle coverage 0.750 < 0.9") for line in lines
    )
    assert "PASS no_fatal_error" in lines


def test_expecting_cues_needs_a_text_language(content: ContentInfo) -> None:
    result = play(str(content.root / "master.m3u8"), "--expect-cue-at", "1")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("need --text-language (the subtitles to check)")
    assert len(result.stderr.strip().splitlines()) == 1
    bad = play(str(content.root / "master.m3u8"), "--expect-cue-at", "soon")
    assert bad.returncode == 2 and "--expect-cue-at" in bad.stderr and "S[:TEXT]" in bad.stderr


def _report(**text: Any) -> dict[str, Any]:
    base = {
        "played": [[0.0, 10.0]],
        "cues": [{"start_s": 1.0, "end_s": 2.0, "text": "Hello\nthere"}],
        "shown": [{"start_s": 1.0, "end_s": 2.0, "text": "Hello\nthere"}],
        "segments_failed": 0,
    }
    return {"final_state": "ended", "subtitle_coverage": 0.5, "text": {**base, **text}}


@pytest.mark.parametrize(
    ("position", "wanted", "failure"),
    [
        (1.5, "Hello there", None),
        (1.0, None, None),
        (2.5, None, "no cue shown at 2.50 s; nearest cue: 'Hello\\nthere' 1.00-2.00 s"),
        (12.0, None, "12.00 s was not played (played 0.00-10.00 s)"),
        (1.5, "bye", "the cue shown at 1.50 s says 'Hello\\nthere', not 'bye'"),
    ],
)
def test_cue_check_wording(position: float, wanted: str | None, failure: str | None) -> None:
    limits = Thresholds(require_end=False, expected_cues=((position, wanted),))
    checks = dict(check_thresholds(_report(), limits))
    assert checks[f"cue_at_{position:g}s"] == failure


def test_coverage_check_wording() -> None:
    checks = dict(check_thresholds(_report(), Thresholds(min_subtitle_coverage=0.9)))
    assert checks["subtitle_coverage"] == (
        "subtitle coverage 0.500 < 0.9: text segments covered 5.00 s of the 10.00 s played "
        "(0 text segments failed)"
    )
    no_text = {"final_state": "ended", "subtitle_coverage": None}
    checks = dict(check_thresholds(no_text, Thresholds(min_subtitle_coverage=0.9)))
    assert checks["subtitle_coverage"] == "no text track was played (no coverage to measure)"
