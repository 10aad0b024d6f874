"""Checks that fail whenever a stream did not really play (docs/qa.md, "An honest verdict").

Each check reads the report (``player.cli._evidence`` adds ``span`` and ``tracks``) and
returns a ``CheckResult``: its name, the figure it judged (``value``), the bound it was
judged against (``limit``) and, when it failed, a message saying what is wrong:

- ``frames_decoded``: video frames decoded inside the played span against span x frame
  rate (from the manifest, else from the decoded pictures), audio seconds likewise (audio
  muxed into the video segments too); never 0.
- ``played_span``: the position reached and the media time played against the span asked
  for (the whole VOD, or ``--stop-after`` minus startup), every selected track delivering
  media for it.
- ``bytes_plausible``: bytes fetched per track against the segment sizes the index
  declares, or bandwidth x duration where sizes are unknown.
- ``av_drift``: the audio/video offset (``av_drift_s``, docs/qa.md) within a bound, when
  both audio and video were decoded.
- ``heartbeats_delivered`` (when heartbeats are configured): playback reported as running,
  at least one heartbeat per interval played, and the final ``ended``/``error`` one.
- ``keys_granted`` (when a license server refused some keys): every selected track kept a
  rendition it may decrypt (all of them with ``require_all_keys``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["CheckResult"]


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckResult:
    """One check of a QA verdict, as the JSON report and the JUnit file carry it.

    Attributes:
        name: Stable check name (``frames_decoded``, ``played_span``...; docs/qa.md).
        message: What failed, ``None`` when the check passed.
        value: The figure judged (a number, a state, or per track a dict of numbers).
        limit: The bound it was judged against (same shape; docs/qa.md says which side).
    """

    name: str
    message: str | None = None
    value: Any = None
    limit: Any = None

    @property
    def passed(self) -> bool:
        """Whether the check passed."""
        return self.message is None

    def to_json(self) -> dict[str, Any]:
        """``{"name", "passed", "value", "limit", "message"}`` for the JSON report."""
        return {
            "name": self.name,
            "passed": self.passed,
            "value": self.value,
            "limit": self.limit,
            "message": self.message,
        }


class Thresholds(Protocol):
    """The limits the checks read (``player.cli._report.Thresholds`` has them)."""

    @property
    def max_rebuffer_ratio(self) -> float | None:
        """Share of stalling the user accepts (shortens a ``--stop-after`` span)."""

    @property
    def frames_tolerance(self) -> float:
        """Share by which frames or audio seconds in the span may differ from expected."""

    @property
    def span_tolerance(self) -> float:
        """Share of the requested span that may be missing."""

    @property
    def span_slack_s(self) -> float:
        """Seconds of slack added to both."""

    @property
    def max_bytes_ratio_index(self) -> float:
        """Fetched / declared bound where the index declares segment sizes."""

    @property
    def max_bytes_ratio(self) -> float:
        """Fetched / declared bound where only bandwidth x duration is known."""

    @property
    def max_av_drift_s(self) -> float | None:
        """Largest audio/video offset accepted, seconds (``None``: not checked)."""

    @property
    def require_all_keys(self) -> bool:
        """``keys_granted`` fails when any rendition's keys were refused."""


_RUNNING = frozenset({"playing", "paused", "buffering", "rebuffering", "seeking"})
_FINAL = frozenset({"ended", "error"})


def verdict_checks(report: dict[str, Any], limits: Thresholds) -> list[CheckResult]:
    """``frames_decoded``, ``played_span``, ``bytes_plausible``, ``av_drift``, heartbeats.

    Reports without ``span``/``tracks`` (built by hand) get none of them; heartbeats are
    checked when the report says they were configured (``heartbeat``).
    """
    span, tracks = report.get("span"), report.get("tracks")
    if not isinstance(span, dict) or not isinstance(tracks, dict):
        return []
    requested = requested_span_s(report, limits)
    checks: list[CheckResult] = []
    frames = _frames_check(report, limits)
    if frames is not None:
        checks.append(frames)
    checks.append(_span_check(report, requested, limits))
    bytes_check = _bytes_check(tracks, limits)
    if bytes_check is not None:
        checks.append(bytes_check)
    drift = _drift_check(report, limits)
    if drift is not None:
        checks.append(drift)
    heartbeat = report.get("heartbeat")
    if isinstance(heartbeat, dict):
        checks.append(heartbeats_result(report, interval_s=float(heartbeat["interval_s"])))
    keys = report.get("keys")
    if isinstance(keys, dict):
        checks.append(_keys_check(keys, require_all=limits.require_all_keys))
    return checks


def _keys_check(keys: dict[str, Any], *, require_all: bool) -> CheckResult:
    """``keys_granted``: what a partial licence left playable, per track.

    Renditions whose keys were refused leave the ladder and playback goes on (Shaka
    Player's rule); the check fails when a track kept none, or with ``require_all`` when
    any was refused.
    """
    tracks: dict[str, Any] = keys["tracks"]
    value = {kind: {"removed": t["removed"], "kept": t["kept"]} for kind, t in tracks.items()}
    why = "; ".join(keys.get("reasons") or ())
    kids = ", ".join(keys.get("refused_kids") or ())
    found = [
        f"{kind}: no rendition left (refused: {', '.join(t['removed'])})"
        for kind, t in tracks.items()
        if not t["kept"]
    ]
    if not found and require_all:
        found = [
            f"{kind}: renditions {', '.join(t['removed'])} refused"
            for kind, t in tracks.items()
            if t["removed"]
        ]
    message = f"{'; '.join(found)} (KIDs {kids}: {why})" if found else None
    limit = "every rendition" if require_all else "one rendition per track"
    return CheckResult(name="keys_granted", message=message, value=value, limit=limit)


def requested_span_s(report: dict[str, Any], limits: Thresholds) -> float | None:
    """Media seconds the run should have played.

    The rest of a VOD from the start position, or ``--stop-after`` minus startup (less the
    rebuffering share allowed, if a limit was given); ``None`` for live without
    ``--stop-after``.
    """
    span = report["span"]
    start = span.get("start_s") or 0.0
    duration = span.get("duration_s")
    available = None
    if not span.get("is_live") and duration is not None:
        available = max(0.0, float(duration) - float(start))
    stop_after = span.get("stop_after_s")
    if stop_after is None:
        return available
    running = max(0.0, float(stop_after) - float(report.get("startup_s") or 0.0))
    if limits.max_rebuffer_ratio is not None:
        running *= 1.0 - limits.max_rebuffer_ratio
    return running if available is None else min(running, available)


def _played(report: dict[str, Any]) -> float:
    span = report["span"]
    if span.get("start_s") is None:
        return 0.0
    return max(0.0, float(span["reached_s"]) - float(span["start_s"]))


def _slack(expected: float, limits: Thresholds) -> float:
    return expected * limits.span_tolerance + limits.span_slack_s


def _span_check(report: dict[str, Any], requested: float | None, limits: Thresholds) -> CheckResult:
    played = _played(report)
    value = {
        "played_s": round(played, 3),
        "time_played_s": round(float(report.get("time_played_s") or 0.0), 3),
        "delivered_s": {
            kind: round(float(track.get("delivered_s") or 0.0), 3)
            for kind, track in report["tracks"].items()
        },
    }
    least = None if requested is None else max(0.0, requested - _slack(requested, limits))
    limit = {
        "requested_s": None if requested is None else round(requested, 3),
        "min_played_s": None if least is None else round(least, 3),
    }
    message = _span_failure(report, requested, limits)
    return CheckResult(name="played_span", message=message, value=value, limit=limit)


def _span_failure(
    report: dict[str, Any], requested: float | None, limits: Thresholds
) -> str | None:
    span = report["span"]
    if span.get("start_s") is None:
        return f"playback never started (final state {report.get('final_state')})"
    played = _played(report)
    if played <= 0:
        return f"played nothing: position stayed at {span['reached_s']:.2f} s"
    if requested is not None and played < requested - _slack(requested, limits):
        stalls = float(report.get("rebuffer_s") or 0.0)
        return (
            f"played {played:.2f} s of the {requested:.2f} s requested "
            f"(position {span['start_s']:.2f} -> {span['reached_s']:.2f} s, stalled {stalls:.2f} s)"
        )
    media = float(report.get("time_played_s") or 0.0)
    if "video" in report["tracks"] and media < played - _slack(played, limits):
        return f"media time played {media:.2f} s < {played:.2f} s of position advanced"
    for kind, track in report["tracks"].items():
        delivered = float(track.get("delivered_s") or 0.0)
        if delivered < played - _slack(played, limits):
            return f"{kind} delivered {delivered:.2f} s of media for {played:.2f} s played"
    return None


def _frames_check(report: dict[str, Any], limits: Thresholds) -> CheckResult | None:
    """``frames_decoded`` when decoding was on, ``None`` otherwise (``--no-decode``).

    Audio is judged on the audio track, or on the audio muxed into the video track's
    segments (MPEG-TS) when there is no separate one.
    """
    tracks = report["tracks"]
    decoded = {k: t for k, t in tracks.items() if t.get("decoding")}
    if not decoded:
        return None
    played = _played(report)
    problems: list[str | None] = []
    value: dict[str, Any] = {}
    if "video" in decoded:
        problems.append(_video_frames(decoded["video"], played, limits))
        value["video"] = _video_value(decoded["video"], played)
    audio = decoded.get("audio")
    if audio is None and "video" in decoded and decoded["video"].get("muxed_audio"):
        audio = decoded["video"]["muxed_audio"]
    if audio is not None:
        problems.append(_audio_seconds(audio, played, limits))
        value["audio"] = {
            "decoded_s": round(float(audio.get("audio_s_in_span") or 0.0), 3),
            "expected_s": round(played, 3),
        }
    found = [p for p in problems if p is not None]
    return CheckResult(
        name="frames_decoded",
        message="; ".join(found) if found else None,
        value=value,
        limit={"tolerance": limits.frames_tolerance},
    )


def _video_value(track: dict[str, Any], played: float) -> dict[str, Any]:
    rate = track.get("frame_rate")
    expected = played * float(rate) if rate else None
    return {
        "frames": int(track["frames_in_span"]),
        "expected": None if expected is None else round(expected, 1),
    }


def _video_frames(track: dict[str, Any], played: float, limits: Thresholds) -> str | None:
    inside, total = int(track["frames_in_span"]), int(track["frames_decoded"])
    if inside == 0:
        return f"video: no frame decoded in the {played:.2f} s played ({total} decoded in all)"
    rate = track.get("frame_rate")
    if not rate:
        return f"video: frame rate unknown ({inside} frames in the {played:.2f} s played)"
    expected = played * float(rate)
    if abs(inside - expected) > expected * limits.frames_tolerance + 1:
        return (
            f"video: {inside} frames decoded in the {played:.2f} s played, expected "
            f"{expected:.0f} at {float(rate):g} fps ({track.get('frame_rate_from')}), "
            f"{inside / expected if expected else float('inf'):.2f}x"
        )
    return None


def _audio_seconds(track: dict[str, Any], played: float, limits: Thresholds) -> str | None:
    seconds = float(track.get("audio_s_in_span") or 0.0)
    where = "audio" if "muxed" not in track else "audio (muxed)"
    if seconds <= 0:
        return f"{where}: nothing decoded in the {played:.2f} s played"
    frame_s = float(track.get("audio_frame_s") or 0.0)
    if abs(seconds - played) > played * limits.frames_tolerance + frame_s:
        return (
            f"{where}: {seconds:.2f} s decoded in the {played:.2f} s played "
            f"({track.get('samples_decoded')} samples at {track.get('sample_rate')} Hz)"
        )
    return None


def _bytes_check(tracks: dict[str, Any], limits: Thresholds) -> CheckResult | None:
    """``bytes_plausible`` for the tracks whose sizes or bitrates are declared."""
    found: list[str] = []
    value: dict[str, float] = {}
    bounds: dict[str, list[float]] = {}
    for kind, track in tracks.items():
        declared = track.get("declared_bytes")
        if not declared:
            continue
        ratio = float(track["bytes_compared"]) / float(declared)
        source = track.get("declared_from")
        limit = limits.max_bytes_ratio_index if source == "index" else limits.max_bytes_ratio
        low = 1.0 / limit if source == "index" else 0.0
        value[kind] = round(ratio, 4)
        bounds[kind] = [round(low, 4), limit]
        if not low <= ratio <= limit:
            what = "the index's segment sizes" if source == "index" else "bandwidth x duration"
            found.append(
                f"{kind}: fetched {int(track['bytes_compared'])} bytes for "
                f"{int(declared)} declared by {what} ({ratio:.2f}x, allowed "
                f"{low:.2f}-{limit:.2f}x)"
            )
    if not value:
        return None
    return CheckResult(
        name="bytes_plausible",
        message="; ".join(found) if found else None,
        value=value,
        limit=bounds,
    )


def _drift_check(report: dict[str, Any], limits: Thresholds) -> CheckResult | None:
    """``av_drift`` when audio and video were both decoded (separate or muxed)."""
    bound = limits.max_av_drift_s
    measured = report.get("av_drift_s")
    if bound is None or measured is None or not _decodes_audio_and_video(report["tracks"]):
        return None
    drift = float(measured)
    message = None
    if drift > bound:
        message = (
            f"audio and video presentation times are {drift:.3f} s apart "
            f"(allowed {bound:g} s; docs/qa.md, av_drift_s)"
        )
    return CheckResult(name="av_drift", message=message, value=round(drift, 6), limit=bound)


def _decodes_audio_and_video(tracks: dict[str, Any]) -> bool:
    video = tracks.get("video") or {}
    audio = tracks.get("audio") or video.get("muxed_audio") or {}
    return bool(video.get("decoding")) and bool(audio.get("decoding", video.get("decoding")))


def heartbeats_result(report: dict[str, Any], *, interval_s: float) -> CheckResult:
    """``heartbeats_delivered`` with its figures (see ``heartbeats_check``)."""
    beats = [e for e in report.get("events", []) if e.get("type") == "HeartbeatSent"]
    played = float(report.get("time_played_s") or 0.0)
    wanted = 1 + int(played // interval_s) if interval_s > 0 else 1
    name, message = heartbeats_check(report, interval_s=interval_s)
    limit = wanted if report.get("clock") != "virtual" else 1
    return CheckResult(name=name, message=message, value=len(beats), limit=limit)


def heartbeats_check(report: dict[str, Any], *, interval_s: float) -> tuple[str, str | None]:
    """``heartbeats_delivered``: the service heard the whole run, not just its first beat.

    Passes when a heartbeat reported playback running, at least ``1 + played / interval``
    were delivered (on the real clock), and, for a run that ended or failed, its final
    heartbeat (``ended`` or ``error``) was delivered.

    Args:
        report: The run's report (its ``HeartbeatSent`` events).
        interval_s: The periodic heartbeat interval the run used.

    Returns:
        ``("heartbeats_delivered", failure message or None)``.
    """
    beats = [e for e in report.get("events", []) if e.get("type") == "HeartbeatSent"]
    states = [str(e.get("state")) for e in beats]
    summary = f"{len(beats)} delivered ({', '.join(states) or 'none'})"
    if not any(state in _RUNNING for state in states):
        return ("heartbeats_delivered", f"playback never reported as running: {summary}")
    played = float(report.get("time_played_s") or 0.0)
    wanted = 1 + int(played // interval_s) if interval_s > 0 else 1
    # On the virtual clock session time can jump past a periodic beat while another is in
    # flight (they coalesce), so the count is only required on the real clock.
    if report.get("clock") != "virtual" and len(beats) < wanted:
        return (
            "heartbeats_delivered",
            f"{summary} for {played:.1f} s played at one per {interval_s:g} s "
            f"(expected >= {wanted})",
        )
    final = report.get("final_state")
    if final in _FINAL and final not in states:
        return (
            "heartbeats_delivered",
            f"the final {final!r} heartbeat was not delivered: {summary}",
        )
    return ("heartbeats_delivered", None)
