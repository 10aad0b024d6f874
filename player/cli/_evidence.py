"""What a QA run's verdict is judged on: per track, what was decoded, delivered and fetched.

``collect_evidence`` reads a finished player (its session's tracks, the segments they
fetched, the decoded frames' places on the timeline) and returns plain JSON for the report:
``span`` (where playback started and got to), ``tracks`` (per selected video/audio track:
frame rate and its source, frames and audio seconds decoded inside the played span, media
seconds delivered, bytes fetched against the bytes the manifest or index declares), with
frame hashing on ``frame_hashes``, ``heartbeat`` (the interval) when heartbeats were
configured, and ``keys`` when a license server refused the keys of some renditions.
``player.cli._verdict`` turns it into checks.
"""

from __future__ import annotations

import hashlib
import statistics
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from player._pipeline import DecodeTally
from player._player import Player
from player._track_runtime import TrackRuntime
from player.manifest import Representation, Segment, SegmentRuns

__all__: list[str] = []

_EDGE_S = 1e-3
"""Frames this close to the span's ends count as inside (timestamps round; not a tunable)."""


def collect_evidence(player: Player, *, stop_after_s: float | None) -> dict[str, Any]:
    """Return ``{"span": ..., "tracks": ..., "frame_hashes"?: ...}`` for a finished run.

    Args:
        player: The player, after playback (stopped or ended).
        stop_after_s: The session time the run was limited to, if any.
    """
    events = player.event_log()
    start = next((e["position_s"] for e in events if e["type"] == "PlaybackStarted"), None)
    presentation = player.presentation
    session = player._session  # noqa: SLF001 - the CLI judges its own player
    span = {
        "start_s": start,
        "reached_s": player.position_s,
        "duration_s": presentation.duration_s if presentation is not None else None,
        "is_live": bool(presentation is not None and presentation.is_live),
        "stop_after_s": stop_after_s,
    }
    out: dict[str, Any] = {"span": span, "tracks": {}}
    if player.config.heartbeat.service_url is not None:
        out["heartbeat"] = {"interval_s": player.config.heartbeat.interval_s}
    restricted = _restrictions(events)
    if restricted is not None:
        out["keys"] = restricted
    if session is None:
        return out
    by_track: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        if event["type"] == "SegmentDownloaded":
            by_track[str(event.get("track"))].append(event)
    reached = player.position_s
    reps = presentation_reps(player)
    for track in session.media_tracks:
        out["tracks"][track.kind] = _track(track, by_track[track.kind], reps, start, reached)
    if session.text.was_selected:
        out["text"] = session.text.summary()
    hashes = player.frame_hashes("video") if session.video() is not None else []
    if hashes:
        times = player.frame_times("video")
        out["frame_hashes"] = frame_hash_report(times, hashes)
    return out


def _restrictions(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``keys``: renditions taken out because the license server refused their keys.

    ``{"refused_kids": [...], "tracks": {kind: {"removed": [...], "kept": [...]}},
    "reasons": [...]}``; ``None`` when nothing was refused.
    """
    found = [e for e in events if e["type"] == "RenditionsRestricted"]
    if not found:
        return None
    tracks: dict[str, dict[str, list[str]]] = {}
    for event in found:
        track = tracks.setdefault(str(event["track"]), {"removed": [], "kept": []})
        track["removed"] = sorted({*track["removed"], *event["removed_ids"]})
        track["kept"] = list(event["kept_ids"])
    return {
        "refused_kids": sorted({k for e in found for k in e["kids"]}),
        "tracks": tracks,
        "reasons": sorted({str(e["reason"]) for e in found}),
    }


def presentation_reps(player: Player) -> dict[str, Representation]:
    """Every representation the run may have used, by id (loaded ladders win)."""
    reps: dict[str, Representation] = {}
    if player.presentation is not None:
        for period in player.presentation.periods:
            for rep in period.representations():
                reps[rep.id] = rep
    session = player._session  # noqa: SLF001
    for track in session.tracks if session is not None else ():
        for rep in track.ladder:
            reps[rep.id] = rep
    return reps


def frame_hash_report(times: list[float], hashes: list[str]) -> dict[str, Any]:
    """``--hash-frames`` in the report: count, one digest over all, each frame's hash.

    The digest is the SHA-1 of the frame hashes joined by newlines in presentation order,
    so two runs (or two streams) decoding the same pictures at the same times match.
    """
    frames = sorted(zip(times, hashes, strict=False))
    digest = hashlib.sha1("\n".join(h for _, h in frames).encode(), usedforsecurity=False)
    return {
        "video": {
            "count": len(frames),
            "digest": digest.hexdigest(),
            "frames": [[round(t, 6), h] for t, h in frames],
        }
    }


def _track(
    track: TrackRuntime,
    downloads: list[dict[str, Any]],
    reps: dict[str, Representation],
    start: float | None,
    reached: float,
) -> dict[str, Any]:
    used = sorted({str(e["representation_id"]) for e in downloads})
    tally = track.tally
    inside = _inside(tally.positions_s, start, reached)
    rate, rate_from = _frame_rate(track, [reps[r] for r in used if r in reps])
    info: dict[str, Any] = {
        "representations": used,
        "decoding": track.decoder is not None,
        "frames_decoded": tally.frames,
        "frames_in_span": inside,
        "delivered_s": sum(float(e["duration_s"]) for e in downloads if e["number"] >= 0),
        **_bytes(downloads, reps),
    }
    if track.kind == "video":
        info.update(frame_rate=rate, frame_rate_from=rate_from)
        muxed = tally.muxed_audio
        if track.decoder is not None and (muxed is not None or _declares_audio(track)):
            info["muxed_audio"] = {
                "decoding": True,
                "muxed": True,
                "frames_decoded": muxed.frames if muxed is not None else 0,
                **_audio(muxed or DecodeTally(), start, reached),
            }
    else:
        info.update(_audio(tally, start, reached))
    return info


def _audio(tally: DecodeTally, start: float | None, reached: float) -> dict[str, Any]:
    """Audio figures: sample rate, samples, one frame's and the span's seconds."""
    inside = _inside(tally.positions_s, start, reached)
    per_frame = tally.samples / tally.frames if tally.frames else 0.0
    rate_hz = tally.sample_rate
    return {
        "sample_rate": rate_hz,
        "samples_decoded": tally.samples,
        "audio_frame_s": per_frame / rate_hz if rate_hz else None,
        "audio_s_in_span": inside * per_frame / rate_hz if rate_hz else 0.0,
    }


_AUDIO_CODECS = ("mp4a", "ac-3", "ec-3", "opus", "flac", "mp3", ".mp3")
"""RFC 6381 codec prefixes of audio (a muxed variant naming one must decode audio)."""


def _declares_audio(track: TrackRuntime) -> bool:
    """Whether the track's renditions declare an audio codec (a muxed variant)."""
    return any(
        part.strip().lower().startswith(_AUDIO_CODECS)
        for rep in track.ladder
        for part in (rep.codecs or track.track.codecs or "").split(",")
    )


def _inside(positions: list[float], start: float | None, reached: float) -> int:
    if start is None:
        return 0
    return sum(1 for p in positions if start - _EDGE_S <= p < reached - _EDGE_S / 10)


def _frame_rate(track: TrackRuntime, used: list[Representation]) -> tuple[float | None, str | None]:
    """The video frame rate and where it came from.

    From the manifest when every rendition used declares the same one, else from the
    decoded pictures' spacing.
    """
    declared = {rep.frame_rate for rep in used}
    if len(declared) == 1 and (rate := declared.pop()) is not None and rate > 0:
        return float(rate), "manifest"
    times = sorted(set(track.tally.positions_s))
    steps = [b - a for a, b in zip(times, times[1:], strict=False) if b - a > 0]
    if not steps:
        return None, None
    return 1.0 / statistics.median(steps), "decoded"


def _bytes(downloads: list[dict[str, Any]], reps: dict[str, Representation]) -> dict[str, Any]:
    """Bytes fetched for a track, against what its manifest or index declares (``ByteTally``)."""
    tally = ByteTally(reps)
    for event in downloads:
        tally.add(event)
    return tally.summary()


class ByteTally:
    """Bytes fetched for a track, against what its manifest or index declares, kept as it goes.

    A media segment with a byte range declares exactly that many bytes (``index``);
    otherwise the rendition's bandwidth x the segment's duration does (``bitrate``). Init
    segments count only when their range is declared. Each segment is declared once, however
    often it was fetched, so fetching one twice shows up as bytes over the declared size.

    ``add`` takes one ``SegmentDownloaded`` event and looks up only the segment it names: in
    O(log n) time in a ``SegmentRuns`` index, O(1) in a list numbered one by one, so a
    session's tally costs O(downloads), whatever the length of the presentation (a list
    numbered otherwise is read once into a table).

    Args:
        reps: Every representation the run may have used, by id.
    """

    def __init__(self, reps: dict[str, Representation]) -> None:
        self._reps = reps
        self._finders: dict[str, _SegmentFinder] = {}
        self._seen: set[tuple[str, int]] = set()
        self._sources: set[str] = set()
        self._total = 0
        self._fetched = 0
        self._declared = 0.0
        self._is_undeclared = False

    def add(self, event: dict[str, Any]) -> None:
        """Count one ``SegmentDownloaded`` event (as JSON)."""
        rep_id = str(event["representation_id"])
        number = int(event["number"])
        nbytes = int(event["nbytes"])
        self._total += nbytes
        if self._is_undeclared:
            return
        size = self._size(rep_id, number, event)
        if size is None:
            # an init without a declared range: neither side counts it; a media segment
            # that declares nothing: the track's bytes cannot be compared
            self._is_undeclared = number >= 0
            return
        self._fetched += nbytes
        self._sources.add(size[1])
        if (rep_id, number) not in self._seen:
            self._seen.add((rep_id, number))
            self._declared += size[0]

    def summary(self) -> dict[str, Any]:
        """``bytes``, ``bytes_compared``, ``declared_bytes`` and ``declared_from`` so far."""
        if self._is_undeclared:
            return {"bytes": self._total, "declared_bytes": None, "declared_from": None}
        sources = self._sources
        source = "bitrate" if "bitrate" in sources else ("index" if sources else None)
        return {
            "bytes": self._total,
            "bytes_compared": self._fetched,
            "declared_bytes": int(self._declared) if sources else None,
            "declared_from": source,
        }

    def _size(self, rep_id: str, number: int, event: dict[str, Any]) -> tuple[float, str] | None:
        rep = self._reps.get(rep_id)
        if rep is None:
            return None
        if number < 0:
            init = rep.init
            return (float(init.byte_range.length), "index") if init and init.byte_range else None
        finder = self._finders.get(rep_id)
        if finder is None:
            finder = self._finders[rep_id] = _SegmentFinder(rep.segments or ())
        segment = finder.find(number)
        if segment is not None and segment.byte_range is not None:
            return float(segment.byte_range.length), "index"
        if rep.bandwidth_bps > 0:
            return rep.bandwidth_bps * float(event["duration_s"]) / 8, "bitrate"
        return None


class _SegmentFinder:
    """A rendition's segment by number, without going through its whole list.

    A ``SegmentRuns`` index finds it from its runs, a list numbered one by one (HLS media
    sequence, DASH ``SegmentList``) by arithmetic, any other list through a table built once.
    """

    def __init__(self, segments: Sequence[Segment]) -> None:
        self._segments = segments
        self._first: int | None = None
        self._table: dict[int, Segment] | None = None

    def find(self, number: int) -> Segment | None:
        segments = self._segments
        if isinstance(segments, SegmentRuns):
            index = segments.index_of_number(number)
            return segments[index] if index is not None else None
        if not segments:
            return None
        if self._first is None:
            self._first = segments[0].number
        guess = number - self._first
        if 0 <= guess < len(segments):
            segment = segments[guess]
            if segment.number == number:
                return segment
        if self._table is None:
            self._table = {seg.number: seg for seg in segments}
        return self._table.get(number)
