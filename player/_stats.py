"""Playback statistics, accumulated from events and playhead progress (pure)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from player.events import (
    BufferingEnded,
    BufferingStarted,
    EdgeFailedOver,
    ErrorOccurred,
    Event,
    LicenseAcquired,
    LicenseRefused,
    PathwayChanged,
    PlaybackStarted,
    SegmentDownloaded,
    VariantSwitched,
)

__all__ = ["PlaybackStats"]


@dataclass(frozen=True, kw_only=True, slots=True)
class PlaybackStats:
    """A snapshot of a session's figures. Keys of ``to_json`` are a report contract.

    Attributes:
        startup_s: ``load()`` to first frame, seconds (``None`` before it).
        time_played_s: Media seconds played.
        rebuffer_s: Seconds spent stalled after startup.
        rebuffer_ratio: ``rebuffer_s / (time_played_s + rebuffer_s)``.
        stall_count: Number of stalls after startup.
        switch_count: Adaptive, manual and failover switches (the initial choice excluded).
        switch_history: Every ``VariantSwitched`` as a dict.
        time_at_bitrate_s: Seconds played at each video bandwidth (keys are bps as str).
        mean_bitrate_bps: Play-time weighted mean video bandwidth.
        estimated_bandwidth_bps: The ABR estimator's latest estimate.
        bytes_downloaded: All bytes received.
        bytes_by_protocol: Bytes per HTTP protocol.
        bytes_by_edge: Bytes per CDN location.
        segments_downloaded: Segments received (init segments included).
        license_latency_s: Total license round-trip time, seconds; ``None`` when no license
            was fetched from a server (clear content, or keys given in advance).
        license_requests: License exchanges that went to a server, granted or refused (a
            5xx answer retried is one exchange).
        license_refusals: License exchanges a server answered with an HTTP error
            (``LicenseRefused``).
        failover_count: ``EdgeFailedOver`` events.
        frames_decoded: Frames decoded (0 when decoding is off).
        decode_errors: Frames or packets the decoder rejected.
        dropped_frames: Frames skipped (timestamp gaps or late).
        av_drift_s: How far apart audio and video are presented, seconds: the largest
            difference, over the contiguous runs of playback, between how late each
            track's decoded media begins (timestamps, edit lists applied; docs/qa.md,
            "av_drift_s"). 0 until both were decoded.
        errors_by_code: Error count per stable error code.
        rendition_bitrates_bps: Measured bitrate of each representation downloaded (keys
            are representation ids): bytes of its media segments x 8 / their media seconds.
            HLS declares no bandwidth for audio renditions; this is the figure to use.
        bytes_by_pathway: Bytes per content steering pathway (locations in no pathway are
            not counted here; ``bytes_by_edge`` counts every byte).
        download_s_by_pathway: Transfer seconds per pathway.
        time_by_pathway_s: Session seconds each pathway was the one in use, from its
            ``PathwayChanged`` to the next (the last one up to the snapshot).
        pathway_history: Every ``PathwayChanged`` as a dict (``at_s``, ``from_pathway``,
            ``to_pathway``, ``reason``).
        subtitle_cues: Distinct subtitle/caption cues loaded (a cue that several segments
            repeat or split counts once; every language selected together).
        subtitle_coverage: Share of the played span covered by text segments fetched and
            parsed without error (docs/text.md, "Coverage"); ``None`` when no text track was
            selected or nothing was played.
    """

    startup_s: float | None = None
    time_played_s: float = 0.0
    rebuffer_s: float = 0.0
    rebuffer_ratio: float = 0.0
    stall_count: int = 0
    switch_count: int = 0
    switch_history: tuple[dict[str, Any], ...] = ()
    time_at_bitrate_s: dict[str, float] = field(default_factory=dict)
    mean_bitrate_bps: float = 0.0
    estimated_bandwidth_bps: float = 0.0
    bytes_downloaded: int = 0
    bytes_by_protocol: dict[str, int] = field(default_factory=dict)
    bytes_by_edge: dict[str, int] = field(default_factory=dict)
    segments_downloaded: int = 0
    license_latency_s: float | None = None
    license_requests: int = 0
    license_refusals: int = 0
    failover_count: int = 0
    frames_decoded: int = 0
    decode_errors: int = 0
    dropped_frames: int = 0
    av_drift_s: float = 0.0
    errors_by_code: dict[str, int] = field(default_factory=dict)
    rendition_bitrates_bps: dict[str, int] = field(default_factory=dict)
    bytes_by_pathway: dict[str, int] = field(default_factory=dict)
    download_s_by_pathway: dict[str, float] = field(default_factory=dict)
    time_by_pathway_s: dict[str, float] = field(default_factory=dict)
    pathway_history: tuple[dict[str, Any], ...] = ()
    subtitle_cues: int = 0
    subtitle_coverage: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the stats as plain JSON values."""
        out = asdict(self)
        out["switch_history"] = list(self.switch_history)
        out["pathway_history"] = list(self.pathway_history)
        return out


class StatsCollector:
    """Accumulates stats from events and played time.

    >>> c = StatsCollector()
    >>> c.on_played(bitrate_bps=1_000_000, seconds=3.0)
    >>> c.on_played(bitrate_bps=3_000_000, seconds=1.0)
    >>> c.snapshot().mean_bitrate_bps
    1500000.0
    """

    def __init__(self) -> None:
        self._startup_s: float | None = None
        self._played: dict[int, float] = {}
        self._rebuffer_s = 0.0
        self._stalls = 0
        self._switches: list[dict[str, Any]] = []
        self._bytes_protocol: Counter[str] = Counter()
        self._bytes_edge: Counter[str] = Counter()
        self._segments = 0
        self._license_s = 0.0
        self._license_requests = 0
        self._license_refusals = 0
        self._failovers = 0
        self._errors: Counter[str] = Counter()
        self._media_bytes: Counter[str] = Counter()
        self._media_s: dict[str, float] = {}
        self._bytes_pathway: Counter[str] = Counter()
        self._download_pathway: dict[str, float] = {}
        self._pathways: list[dict[str, Any]] = []
        self._last_at = 0.0
        self.frames_decoded = 0
        self.decode_errors = 0
        self.dropped_frames = 0
        self.estimated_bandwidth_bps = 0.0
        self.av_drift_s = 0.0
        self.subtitle_cues = 0
        self.subtitle_coverage: float | None = None

    @property
    def stall_count(self) -> int:
        """Stalls after startup so far (``BufferingStarted`` events)."""
        return self._stalls

    def on_event(self, event: Event) -> None:
        """Account for one event."""
        self._last_at = max(self._last_at, event.at_s)
        if isinstance(event, SegmentDownloaded):
            self._segments += 1
            self._bytes_protocol[event.protocol] += event.nbytes
            self._bytes_edge[event.edge] += event.nbytes
            if event.duration_s > 0:
                self._media_bytes[event.representation_id] += event.nbytes
                rep_id = event.representation_id
                self._media_s[rep_id] = self._media_s.get(rep_id, 0.0) + event.duration_s
            if event.pathway is not None:
                self._bytes_pathway[event.pathway] += event.nbytes
                spent = self._download_pathway.get(event.pathway, 0.0) + event.download_s
                self._download_pathway[event.pathway] = spent
        elif isinstance(event, PathwayChanged):
            self._pathways.append(
                {
                    "at_s": event.at_s,
                    "from_pathway": event.from_pathway,
                    "to_pathway": event.to_pathway,
                    "reason": event.reason.value,
                }
            )
        elif isinstance(event, PlaybackStarted):
            self._startup_s = event.startup_s
        elif isinstance(event, BufferingStarted):
            self._stalls += 1
        elif isinstance(event, BufferingEnded):
            self._rebuffer_s += event.stalled_s
        elif isinstance(event, VariantSwitched):
            self._switches.append(
                {
                    "at_s": event.at_s,
                    "from_id": event.from_id,
                    "to_id": event.to_id,
                    "bitrate_bps": event.bitrate_bps,
                    "reason": event.reason.value,
                }
            )
        elif isinstance(event, LicenseAcquired):
            self._license_s += event.latency_s
            self._license_requests += event.source == "license-server"
        elif isinstance(event, LicenseRefused):
            self._license_s += event.latency_s
            self._license_requests += 1
            self._license_refusals += 1
        elif isinstance(event, EdgeFailedOver):
            self._failovers += 1
        elif isinstance(event, ErrorOccurred):
            self._errors[event.code] += 1

    def on_played(self, *, bitrate_bps: int, seconds: float) -> None:
        """Account for ``seconds`` of media played at ``bitrate_bps``."""
        if seconds > 0:
            self._played[bitrate_bps] = self._played.get(bitrate_bps, 0.0) + seconds

    def _time_by_pathway(self, now: float | None) -> dict[str, float]:
        end = self._last_at if now is None else max(now, self._last_at)
        out: dict[str, float] = {}
        for index, change in enumerate(self._pathways):
            until = self._pathways[index + 1]["at_s"] if index + 1 < len(self._pathways) else end
            name = change["to_pathway"]
            out[name] = out.get(name, 0.0) + max(0.0, until - change["at_s"])
        return out

    def snapshot(self, *, ongoing_stall_s: float = 0.0, now: float | None = None) -> PlaybackStats:
        """Return the figures so far.

        Args:
            ongoing_stall_s: Seconds of a stall not yet ended, counted as rebuffering.
            now: Session clock now, where the time on the pathway in use ends (the latest
                event's time when ``None``).
        """
        played = sum(self._played.values())
        rebuffer = self._rebuffer_s + ongoing_stall_s
        weighted = sum(bps * s for bps, s in self._played.items())
        return PlaybackStats(
            startup_s=self._startup_s,
            time_played_s=played,
            rebuffer_s=rebuffer,
            rebuffer_ratio=rebuffer / (played + rebuffer) if played + rebuffer > 0 else 0.0,
            stall_count=self._stalls,
            switch_count=sum(1 for s in self._switches if s["reason"] != "initial"),
            switch_history=tuple(self._switches),
            time_at_bitrate_s={str(k): v for k, v in sorted(self._played.items())},
            mean_bitrate_bps=weighted / played if played > 0 else 0.0,
            estimated_bandwidth_bps=self.estimated_bandwidth_bps,
            bytes_downloaded=sum(self._bytes_protocol.values()),
            bytes_by_protocol=dict(self._bytes_protocol),
            bytes_by_edge=dict(self._bytes_edge),
            segments_downloaded=self._segments,
            license_latency_s=self._license_s if self._license_requests else None,
            license_requests=self._license_requests,
            license_refusals=self._license_refusals,
            failover_count=self._failovers,
            frames_decoded=self.frames_decoded,
            decode_errors=self.decode_errors,
            dropped_frames=self.dropped_frames,
            av_drift_s=self.av_drift_s,
            errors_by_code=dict(self._errors),
            rendition_bitrates_bps={
                rep_id: round(self._media_bytes[rep_id] * 8 / seconds)
                for rep_id, seconds in self._media_s.items()
            },
            bytes_by_pathway=dict(self._bytes_pathway),
            download_s_by_pathway=dict(self._download_pathway),
            time_by_pathway_s=self._time_by_pathway(now),
            pathway_history=tuple(self._pathways),
            subtitle_cues=self.subtitle_cues,
            subtitle_coverage=self.subtitle_coverage,
        )
