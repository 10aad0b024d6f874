"""Subtitle checks of a QA run: ``--expect-cue-at S[:TEXT]`` and ``--min-subtitle-coverage R``.

They read the report's ``text`` section (``TextRuntime.summary``: the cues shown, the spans
played and covered) and return ``(name, None)`` or ``(name, what went wrong)``, like the
other checks (docs/qa.md, "Subtitles").
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from player.cli._args import BadInput, ratio

__all__: list[str] = []

_EDGE_S = 1e-3
"""A position this close to a played span's or a cue's end counts as inside (timestamps round)."""
_SPACES = re.compile(r"\s+")


def cue_expectation(text: str) -> tuple[float, str | None]:
    """``S`` or ``S:TEXT`` of ``--expect-cue-at``: seconds (>= 0) and the text to find.

    >>> cue_expectation("12.5"), cue_expectation("3:Hello: world")
    ((12.5, None), (3.0, 'Hello: world'))
    """
    head, sep, tail = text.partition(":")
    try:
        seconds = float(head)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not S[:TEXT] with S a number of seconds of at least 0"
        )
    return seconds, (tail if sep and tail else None)


def check_name(seconds: float) -> str:
    """``cue_at_12.5s`` (a JUnit test case name per expectation)."""
    return f"cue_at_{seconds:g}s"


def _normal(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _inside(position: float, spans: list[list[float]]) -> bool:
    return any(start - _EDGE_S <= position <= end + _EDGE_S for start, end in spans)


def _covers(cue: dict[str, Any], position: float) -> bool:
    return float(cue["start_s"]) - _EDGE_S <= position < float(cue["end_s"]) + _EDGE_S


def _distance(cue: dict[str, Any], position: float) -> float:
    return min(abs(float(cue["start_s"]) - position), abs(float(cue["end_s"]) - position))


def cue_failure(text: dict[str, Any], position: float, wanted: str | None) -> str | None:
    """Why no cue (with ``wanted`` in its text) was shown at ``position``; ``None``: one was."""
    played = text.get("played") or []
    if not _inside(position, played):
        where = ", ".join(f"{a:.2f}-{b:.2f} s" for a, b in played) or "nothing"
        return f"{position:.2f} s was not played (played {where})"
    shown = [c for c in text.get("shown") or [] if _covers(c, position)]
    if not shown:
        cues = text.get("cues") or []
        nearest = min(cues, key=lambda c: _distance(c, position), default=None)
        near = (
            f"; nearest cue: {nearest['text']!r} {float(nearest['start_s']):.2f}-"
            f"{float(nearest['end_s']):.2f} s"
            if nearest is not None
            else f"; no cue loaded at all ({text.get('segments_failed', 0)} segments failed)"
        )
        return f"no cue shown at {position:.2f} s{near}"
    if wanted is None or any(_normal(wanted) in _normal(str(c["text"])) for c in shown):
        return None
    said = " / ".join(repr(str(c["text"])) for c in shown)
    return f"the cue shown at {position:.2f} s says {said}, not {wanted!r}"


def coverage_failure(report: dict[str, Any], minimum: float) -> str | None:
    """Why the subtitle coverage is below ``minimum``; ``None`` when it is not."""
    text = report.get("text")
    coverage = report.get("subtitle_coverage")
    if not isinstance(text, dict) or coverage is None:
        return "no text track was played (no coverage to measure)"
    if float(coverage) + 1e-9 >= minimum:
        return None
    played = sum(b - a for a, b in text.get("played") or [])
    return (
        f"subtitle coverage {float(coverage):.3f} < {minimum:g}: text segments covered "
        f"{float(coverage) * played:.2f} s of the {played:.2f} s played "
        f"({text.get('segments_failed', 0)} text segments failed)"
    )


def text_checks(
    report: dict[str, Any],
    expected: tuple[tuple[float, str | None], ...],
    min_coverage: float | None,
) -> list[tuple[str, str | None]]:
    """One ``cue_at_<S>s`` check per expectation, and ``subtitle_coverage`` if a minimum."""
    checks: list[tuple[str, str | None]] = []
    text = report.get("text")
    for position, wanted in expected:
        if not isinstance(text, dict):
            checks.append((check_name(position), "no text track was played"))
        else:
            checks.append((check_name(position), cue_failure(text, position, wanted)))
    if min_coverage is not None:
        checks.append(("subtitle_coverage", coverage_failure(report, min_coverage)))
    return checks


def add_text_arguments(parser: argparse.ArgumentParser) -> None:
    """``--text-language``, ``--expect-cue-at`` and ``--min-subtitle-coverage``."""
    group = parser.add_argument_group("subtitles and captions (docs/text.md)")
    group.add_argument(
        "--text-language",
        metavar="LANG",
        help="show subtitles in this language, e.g. en or pt-BR ('*' for the default text "
        "track); the report then lists their cues and coverage",
    )
    group.add_argument(
        "--expect-cue-at",
        action="append",
        default=[],
        type=cue_expectation,
        metavar="S[:TEXT]",
        help="fail unless a cue was shown when the playhead was at S seconds (and, with "
        "TEXT, its text contains TEXT); repeatable; needs --text-language",
    )
    group.add_argument(
        "--min-subtitle-coverage",
        type=ratio,
        metavar="R",
        help="fail if subtitle segments covered less than this share of the time played "
        "(0 to 1); needs --text-language",
    )


def text_language(args: argparse.Namespace) -> str | None:
    """The ``--text-language`` asked for; checks without one are bad input.

    Raises:
        BadInput: ``--expect-cue-at`` or ``--min-subtitle-coverage`` without a language.
    """
    language = getattr(args, "text_language", None)
    wants_checks = getattr(args, "expect_cue_at", None) or (
        getattr(args, "min_subtitle_coverage", None) is not None
    )
    if wants_checks and not language:
        raise BadInput(
            "--expect-cue-at and --min-subtitle-coverage need --text-language (the subtitles "
            "to check)"
        )
    return language or None
