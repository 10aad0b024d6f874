"""QA reports: the JSON report, the JUnit pass/fail file, and the plot."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from player.cli._text_checks import text_checks
from player.cli._thumbnail_export import thumbnail_checks
from player.cli._verdict import CheckResult, verdict_checks
from player.errors import redact_url

__all__ = [
    "CheckResult",
    "Thresholds",
    "add_verdict",
    "build_report",
    "check_thresholds",
    "evaluate_checks",
    "write_junit",
    "write_plot",
]

Checks = Sequence[CheckResult] | Sequence[tuple[str, str | None]]
"""What the writers take: results, or ``(name, failure message or None)`` pairs."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Thresholds:
    """Pass/fail limits for a QA run; ``None`` skips a check.

    Attributes:
        max_startup_s: Longest acceptable ``load()`` to first frame, seconds.
        max_rebuffer_ratio: Largest acceptable share of time spent stalled.
        max_decode_errors: Most decoder errors allowed (0 by default).
        require_end: Playback must reach the end (VOD) without a fatal error.
        frames_tolerance: ``frames_decoded``: largest share by which frames (or audio
            seconds) decoded in the played span may differ from span x rate; 2 %, about
            one frame in two seconds, well above rounding at segment edges.
        span_tolerance: ``played_span``: largest share of the requested span not played.
        span_slack_s: Seconds of slack added to both (timestamps round to the timescale,
            the run stops on a 0.25 s poll).
        max_bytes_ratio_index: ``bytes_plausible`` where the index declares each segment's
            size: fetched / declared must lie within [1/x, x]; a whole file sent for each
            range, or a segment fetched twice, is 2x or more.
        max_bytes_ratio: Where only bandwidth x duration is known: fetched / declared at
            most this (``BANDWIDTH`` is a peak, so there is no lower bound).
        expected_cues: ``(position_s, text or None)``: a cue (containing that text) must have
            been shown when the playhead was at each position (``cue_at_<S>s`` checks).
        min_subtitle_coverage: Least share of the played span the text segments must cover
            (``subtitle_coverage`` check); ``None`` skips it.
        max_av_drift_s: ``av_drift``: largest audio/video offset accepted (``av_drift_s``,
            docs/qa.md), seconds; ``None`` skips it. 0.1 s is above what the measure's
            granularity adds on good content (one AAC frame, 21 ms, plus rounding) and
            near where viewers notice lip-sync errors (ITU-R BT.1359: about 0.045 s audio
            early, 0.125 s audio late).
        require_all_keys: ``keys_granted``: fail when the license server refused the keys
            of any rendition (a partial licence); by default only when a track has none
            left, as renditions without keys leave the ladder and playback goes on.
    """

    max_startup_s: float | None = None
    max_rebuffer_ratio: float | None = None
    max_decode_errors: int | None = 0
    require_end: bool = True
    frames_tolerance: float = 0.02
    span_tolerance: float = 0.02
    span_slack_s: float = 0.1
    max_bytes_ratio_index: float = 1.25
    max_bytes_ratio: float = 3.0
    expected_cues: tuple[tuple[float, str | None], ...] = ()
    min_subtitle_coverage: float | None = None
    max_av_drift_s: float | None = 0.1
    require_all_keys: bool = False


def build_report(
    *,
    url: str,
    final_state: str,
    stats: dict[str, Any],
    events: list[dict[str, Any]],
    timeline: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the JSON report: every stat at top level, then the logs.

    The stat keys are those of ``Player.stats()`` (``startup_s``, ``rebuffer_ratio``,
    ``stall_count``, ``switch_count``, ``mean_bitrate_bps``, ``frames_decoded``,
    ``decode_errors``, ``license_latency_s``, ``bytes_by_edge``...). The manifest URL is
    shown without its query (``redact_url``): reports are shared, a query may hold a token.
    """
    report: dict[str, Any] = {"url": redact_url(url), "final_state": final_state}
    report.update(stats)
    report["events"] = events
    report["timeline"] = timeline
    if extra:
        report.update(extra)
    return report


def check_thresholds(report: dict[str, Any], limits: Thresholds) -> list[tuple[str, str | None]]:
    """Evaluate each check: a list of ``(name, failure message or None)``.

    The same checks as ``evaluate_checks``, without their figures.
    """
    return [(check.name, check.message) for check in evaluate_checks(report, limits)]


def evaluate_checks(report: dict[str, Any], limits: Thresholds) -> list[CheckResult]:
    """Evaluate each check, with the figure it judged and the bound it used.

    Besides the limits, a report with evidence (``play_to_report``) gets the checks that
    fail whenever the stream did not really play (docs/qa.md, "An honest verdict").

    Args:
        report: A report from ``play_to_report`` (or ``build_report``).
        limits: The thresholds.

    Returns:
        One ``CheckResult`` per check, in a stable order.
    """
    startup = report.get("startup_s")
    ratio = float(report.get("rebuffer_ratio", 0.0))
    errors = int(report.get("decode_errors", 0))
    limited = (
        ("startup_time", startup, limits.max_startup_s, f"startup {startup} s"),
        ("rebuffer_ratio", ratio, limits.max_rebuffer_ratio, f"rebuffer ratio {ratio:.4f}"),
        ("decode_errors", errors, limits.max_decode_errors, f"{errors} decode errors"),
    )
    checks = [
        _at_most(name, value, limit, what=what, unit=" s" if name == "startup_time" else "")
        for name, value, limit, what in limited
        if limit is not None
    ]
    if limits.require_end:
        state = report.get("final_state")
        checks.append(
            CheckResult(
                name="playback_completed",
                message=None if state == "ended" else f"final state {state}",
                value=state,
                limit="ended",
            )
        )
    checks.extend(verdict_checks(report, limits))
    text = text_checks(report, limits.expected_cues, limits.min_subtitle_coverage)
    checks.extend(_with_figures(report, limits, [*text, *thumbnail_checks(report)]))
    fatal = [
        e for e in report.get("events", []) if e.get("type") == "ErrorOccurred" and e.get("fatal")
    ]
    checks.append(
        CheckResult(
            name="no_fatal_error",
            message=None if not fatal else f"{fatal[0].get('code')}: {fatal[0].get('message')}",
            value=len(fatal),
            limit=0,
        )
    )
    return checks


def _at_most(name: str, value: float | None, limit: float, *, what: str, unit: str) -> CheckResult:
    """A check that ``value`` (``None``: never measured) is at most ``limit``."""
    ok = value is not None and value <= limit
    message = None if ok else f"{what} > {limit}{unit}"
    return CheckResult(name=name, message=message, value=value, limit=limit)


def add_verdict(report: dict[str, Any], checks: Checks) -> dict[str, Any]:
    """Put the verdict into ``report`` (in place) and return it.

    Adds ``checks`` (each ``{"name", "passed", "value", "limit", "message"}``), ``passed``
    (every check passed and playback was not interrupted) and ``verdict`` (``"PASS"`` or
    ``"FAIL"``); every other key is left as it was.

    Args:
        report: The run's report.
        checks: Its checks (``evaluate_checks``; ``(name, message)`` pairs carry no figures).
    """
    results = _results(checks)
    passed = bool(results) and all(c.passed for c in results)
    passed = passed and report.get("final_state") != "interrupted"
    report["checks"] = [c.to_json() for c in results]
    report["passed"] = passed
    report["verdict"] = "PASS" if passed else "FAIL"
    return report


def _with_figures(
    report: dict[str, Any], limits: Thresholds, pairs: list[tuple[str, str | None]]
) -> list[CheckResult]:
    """Text and thumbnail checks with the figures their sections carry."""
    thumbs = report.get("thumbnails")
    figures: dict[str, tuple[Any, Any]] = {
        "subtitle_coverage": (report.get("subtitle_coverage"), limits.min_subtitle_coverage),
    }
    if isinstance(thumbs, dict):
        figures["thumbnails_written"] = (thumbs.get("written"), thumbs.get("expected"))
    return [
        CheckResult(
            name=name,
            message=message,
            value=figures.get(name, (None, None))[0],
            limit=figures.get(name, (None, None))[1],
        )
        for name, message in pairs
    ]


def _results(checks: Checks) -> list[CheckResult]:
    return [
        c if isinstance(c, CheckResult) else CheckResult(name=c[0], message=c[1]) for c in checks
    ]


def write_junit(path: Path, report: dict[str, Any], checks: Checks) -> None:
    """Write a JUnit XML file with one test case per check."""
    results = _results(checks)
    failures = sum(1 for c in results if not c.passed)
    suite = ET.Element(
        "testsuite",
        name="playback",
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        time=f"{float(report.get('time_played_s', 0.0)):.3f}",
    )
    ET.SubElement(
        ET.SubElement(suite, "properties"), "property", name="url", value=str(report.get("url"))
    )
    for check in results:
        case = ET.SubElement(suite, "testcase", classname="player.qa", name=check.name)
        if check.message:
            ET.SubElement(case, "failure", message=check.message).text = check.message
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def write_plot(path: Path, report: dict[str, Any]) -> None:
    """Draw video bitrate, buffer and throughput over time since load, with markers (PNG).

    Rendition switches, stalls, edge failovers, a fatal error and the demo's scripted
    network changes are marked and named in the legend; axes carry their units.
    """
    from player.cli._plot import draw_report

    draw_report(path, report)


def dump_json(path: Path, report: dict[str, Any]) -> None:
    """Write the report as indented JSON."""
    path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
