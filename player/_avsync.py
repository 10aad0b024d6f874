"""How far apart audio and video are presented: ``PlaybackStats.av_drift_s`` (sans-I/O).

Both tracks are presented by their decoded timestamps (edit lists applied, samples before
time 0 not presented), so what puts them apart is where each track's media begins against
the other's. The decoded clock is mapped to the presentation timeline once per timeline
(a period, or an HLS discontinuity sequence), from the first segment each track decodes
in it. Where both segments open the timeline (nothing comes before them), it is anchored on
the track that starts first; where playback starts inside the timeline (``start_at_s``),
on the video track, whose segments begin at pictures a decoder can start from:

    origin = min over tracks of (first presented time - start of its segment on the
             manifest timeline)          (or the video's own, inside the timeline)

Then, for every contiguous run of segments (the load, each seek, each new timeline), each
track's *lateness* is how much later than the run's start its media begins:

    lateness = max(first presented time - origin, run start) - run start

and the run's A/V offset is ``|lateness(audio) - lateness(video)|``; ``av_drift_s`` is
the largest over the runs. Media that begins before the run's start is cut there, so audio
and video segments cut at different places are not an offset (FFmpeg's ``$Number$`` audio
segments begin up to 80 ms before their nominal time), while audio whose timestamps begin
0.5 s after the video's (``-itsoffset``) is, whether the timestamps or the manifest's
timeline carry it. Inside a run each track's continuity is measured by the decoder (gaps,
dropped frames).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__: list[str] = []


@dataclass(frozen=True, slots=True)
class RunStart:
    """The first segment one track decoded in a run.

    Attributes:
        kind: ``video`` or ``audio``.
        first_s: Presentation time of its first presented sample (decoded timestamp,
            edit list applied), seconds.
        segment_start_s: The segment's start on the manifest timeline, seconds.
        run_start_s: Where the run starts: the playhead's position when it was fetched.
        timeline: The timeline it belongs to (period index, discontinuity sequence).
        opens_timeline: The segment is the timeline's first (its period's start, or the
            first after a discontinuity).
    """

    kind: str
    first_s: float
    segment_start_s: float
    run_start_s: float
    timeline: tuple[int, int]
    opens_timeline: bool = True


@dataclass(slots=True)
class AvOffsets:
    """The A/V offset of every run; ``drift_s`` is the largest (see the module docstring)."""

    drift_s: float = 0.0
    _origins: dict[tuple[int, int], float] = field(default_factory=dict)
    _pending: dict[tuple[int, int], dict[str, RunStart]] = field(default_factory=dict)
    _latest: dict[str, RunStart] = field(default_factory=dict)

    def on_run_start(self, start: RunStart) -> float | None:
        """Take a track's first decoded segment of a run.

        Returns:
            The run's A/V offset, seconds, once both tracks have started it in the same
            timeline (the caller keeps the largest); ``None`` until then.
        """
        self._latest[start.kind] = start
        origin = self._origin(start)
        other = self._latest.get("audio" if start.kind == "video" else "video")
        if origin is None or other is None or other.timeline != start.timeline:
            return None
        offset = abs(_lateness(start, origin) - _lateness(other, origin))
        self.drift_s = max(self.drift_s, offset)
        return offset

    def _origin(self, start: RunStart) -> float | None:
        """The timeline's shared origin, fixed once both tracks have started in it."""
        known = self._origins.get(start.timeline)
        if known is not None:
            return known
        firsts = self._pending.setdefault(start.timeline, {})
        firsts.setdefault(start.kind, start)
        if len(firsts) < 2:
            return None
        offsets = {s.kind: s.first_s - s.segment_start_s for s in firsts.values()}
        opening = all(s.opens_timeline for s in firsts.values())
        origin = min(offsets.values()) if opening else offsets["video"]
        self._origins[start.timeline] = origin
        del self._pending[start.timeline]
        return origin


def _lateness(start: RunStart, origin: float) -> float:
    """How much later than the run's start the track's media begins, seconds."""
    return max(start.first_s - origin, start.run_start_s) - start.run_start_s
