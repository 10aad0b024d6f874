"""The session's text track: parse fetched text segments, follow the playhead over cues.

``TextRuntime`` is the adapter around the sans-I/O ``player.text`` core. The downloader
hands it every segment it fetched: text segments are parsed into cues (``CuesLoaded``);
for HLS the first video (else audio) segment of each discontinuity gives the media
timestamp that ``X-TIMESTAMP-MAP`` refers to. The session tells it where the playhead went
(played, seeked, switched track), and it emits ``CueEntered``/``CueExited`` at the session
time each cue boundary was crossed. A text segment that fails to download or parse is a
non-fatal ``ErrorOccurred``: audio and video play on. See docs/text.md.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from player._buffer import BufferedSegment
from player._parts import SessionParts
from player._track_runtime import TrackRuntime
from player.errors import PlayerError, TextError, redact_url
from player.events import Cue, CueEntered, CueExited, CuesLoaded, ErrorOccurred, Event
from player.manifest import Presentation, Representation, Segment, StreamFormat
from player.text import (
    CueChange,
    CueStore,
    CueTracker,
    IntervalSet,
    MediaAnchor,
    TextTiming,
    media_start_ticks,
    parse_text_segment,
)
from transport import TransportError

__all__: list[str] = []

_log = logging.getLogger(__name__)
_MAP_MARK = b"X-TIMESTAMP-MAP"
_THREAD_BYTES = 256 * 1024  # parse larger files in a worker thread (STYLE.md 7; not a tunable)


class TextHost(Protocol):
    """What the text runtime needs of its session (``PlaybackSession`` satisfies it)."""

    parts: SessionParts
    presentation: Presentation
    tracks: list[TrackRuntime]
    period_index: int

    @property
    def position_s(self) -> float:
        """Playhead position, seconds."""
        ...

    def live_position_s(self, now: float) -> float:
        """Where the playhead is at ``now``, between loop turns too."""
        ...

    def emit(self, event: Event) -> None:
        """Deliver one event."""
        ...


@dataclass(frozen=True, slots=True)
class _Pending:
    """A WebVTT segment waiting for its discontinuity's media timestamp."""

    rep: Representation
    segment: Segment
    data: bytes
    url: str


class TextRuntime:
    """Cues of the session's text track, and the playhead's way through them.

    Args:
        host: The session.
    """

    def __init__(self, host: TextHost) -> None:
        self._host = host
        self._config = host.parts.config.text
        self._stores: dict[str, CueStore] = {}
        self._tracker = CueTracker()
        self._anchors: dict[int, MediaAnchor] = {}
        self._disc_starts: dict[tuple[str, int], float] = {}
        self._pending: list[_Pending] = []
        self.played = IntervalSet()
        """Spans of the presentation the playhead moved through while playing."""
        self.covered = IntervalSet()
        """Spans covered by text segments fetched and parsed without error (any language)."""
        self.segments_loaded = 0
        self.segments_failed = 0
        self.was_selected = False
        """A text track was selected at some point of the session."""
        self._shown_language: str | None = None
        self._shown: dict[tuple[float, str], Cue] = {}

    # -- the track and its store -----------------------------------------------------------

    def track(self) -> TrackRuntime | None:
        """The text track's runtime, if one is selected."""
        return next((t for t in self._host.tracks if t.kind == "text" and t.ladder), None)

    @staticmethod
    def _key(track: TrackRuntime) -> str:
        """Cues are kept per language (or track id): periods of one language share them."""
        return track.track.language or track.track.label or track.track.id

    def store(self) -> CueStore | None:
        """The selected track's cues."""
        track = self.track()
        if track is None:
            return None
        self.was_selected = True
        key = self._key(track)
        if key not in self._stores:
            self._stores[key] = CueStore(max_cues=self._config.max_cues_kept)
        return self._stores[key]

    def is_ready_at(self, position_s: float) -> bool:
        """Whether the text at ``position_s`` is in (or known to be missing): playback starts.

        True without a text track, when its segment there was fetched (or failed: the
        failure is reported and playback goes on), or when it has no segment there.
        """
        track = self.track()
        if track is None:
            return True
        need = track.need(position_s)
        return need.is_exhausted or need.buffered_end_s > position_s

    def cues(self) -> tuple[Cue, ...]:
        """Every cue loaded for the selected track, in start order."""
        store = self.store()
        return store.cues if store is not None else ()

    def active(self) -> tuple[Cue, ...]:
        """The cues the playhead is in (as of the last cue event)."""
        return self._tracker.active

    def at(self, position_s: float) -> tuple[Cue, ...]:
        """The selected track's cues loaded that cover ``position_s``."""
        store = self.store()
        return store.at(position_s) if store is not None else ()

    @property
    def cue_count(self) -> int:
        """Distinct cues loaded, every language together."""
        return sum(len(store) for store in self._stores.values())

    def coverage(self) -> float | None:
        """Share of the played span covered by text segments (``None``: no text or no play)."""
        played = self.played.total_s
        if not self.was_selected or played <= 0:
            return None
        return min(1.0, self.covered.overlap_s(self.played) / played)

    # -- segments --------------------------------------------------------------------------

    def reuse(self, track: TrackRuntime, rep: Representation, segment: Segment) -> bool:
        """Whether ``segment``'s cues are already loaded (a seek back): if so, buffer it.

        The caller then skips the download: the cues never left the store.
        """
        store = self.store()
        if track.kind != "text" or store is None or segment.duration_s <= 0:
            return False
        if not store.loaded.contains(segment.start_s, segment.end_s):
            return False
        _buffer(track, rep, segment)
        return True

    def on_failed(
        self, track: TrackRuntime, rep: Representation, segment: Segment, exc: BaseException
    ) -> bool:
        """A text segment could not be fetched: report it, move past it, play on.

        Returns:
            ``False`` when ``track`` is not the text track (the caller re-raises).
        """
        if track.kind != "text" or not isinstance(exc, TransportError | PlayerError):
            return False
        self.segments_failed += 1
        self._error(exc)
        _buffer(track, rep, segment)
        return True

    async def on_segment(
        self,
        track: TrackRuntime,
        rep: Representation,
        segment: Segment,
        *,
        init: bytes,
        data: bytes,
        url: str,
    ) -> None:
        """A segment arrived: text is parsed; HLS video/audio gives its discontinuity's anchor."""
        if track.kind == "text":
            await self._on_text(rep, segment, init=init, data=data, url=url)
        elif self._is_hls and track is self._main_track():
            self._on_media(segment, init=init, data=data)

    @property
    def _is_hls(self) -> bool:
        return self._host.presentation.format == StreamFormat.HLS

    def _main_track(self) -> TrackRuntime | None:
        media = [t for t in self._host.tracks if t.kind in ("video", "audio")]
        return next((t for t in media if t.kind == "video"), media[0] if media else None)

    def _on_media(self, segment: Segment, *, init: bytes, data: bytes) -> None:
        disc = segment.discontinuity_seq
        if disc in self._anchors:
            return
        ticks = media_start_ticks(init, data)
        if ticks is None:
            return
        self._anchors[disc] = MediaAnchor(ticks=ticks, position_s=segment.start_s)
        waiting = [p for p in self._pending if p.segment.discontinuity_seq == disc]
        self._pending = [p for p in self._pending if p.segment.discontinuity_seq != disc]
        for pending in waiting:
            self._load(pending.rep, pending.segment, b"", pending.data, pending.url)

    async def _on_text(
        self, rep: Representation, segment: Segment, *, init: bytes, data: bytes, url: str
    ) -> None:
        disc = segment.discontinuity_seq
        if (
            self._is_hls
            and disc not in self._anchors
            and self._main_track() is not None
            and _MAP_MARK in data[:1024]
        ):
            self._pending.append(_Pending(rep, segment, data, url))
            return
        if len(data) > _THREAD_BYTES:
            timing = self._timing(rep, segment)
            try:
                parsed = await asyncio.to_thread(
                    parse_text_segment,
                    data,
                    init=init,
                    timing=timing,
                    url=url,
                    config=self._config,
                    is_hls=self._is_hls,
                )
            except TextError as exc:
                self._on_parse_error(exc)
                return
            self._accept(rep, segment, parsed.cues)
            return
        self._load(rep, segment, init, data, url)

    def _load(
        self,
        rep: Representation,
        segment: Segment,
        init: bytes,
        data: bytes,
        url: str,
        *,
        sync: bool = True,
    ) -> None:
        try:
            parsed = parse_text_segment(
                data,
                init=init,
                timing=self._timing(rep, segment),
                url=url,
                config=self._config,
                is_hls=self._is_hls,
            )
        except TextError as exc:
            self._on_parse_error(exc)
            return
        self._accept(rep, segment, parsed.cues, sync=sync)

    def _on_parse_error(self, exc: TextError) -> None:
        self.segments_failed += 1
        self._error(exc)

    def _accept(
        self, rep: Representation, segment: Segment, cues: tuple[Cue, ...], *, sync: bool = True
    ) -> None:
        """Keep a segment's cues, report them and (``sync``) show those at the playhead now."""
        store = self.store()
        track = self.track()
        if store is None or track is None:
            return
        store.add(cues, keep_near_s=self._host.position_s)
        store.loaded.add(segment.start_s, segment.end_s)
        self.covered.add(segment.start_s, segment.end_s)
        self.segments_loaded += 1
        now = self._host.parts.clock.now()
        self._host.emit(
            CuesLoaded(
                at_s=now,
                representation_id=rep.id,
                language=track.track.language,
                start_s=segment.start_s,
                end_s=segment.end_s,
                cues=cues,
            )
        )
        if sync:
            # The playhead may have moved on while the segment downloaded: crossings since
            # the last look keep their own times; cues that started earlier enter now.
            position = self._host.live_position_s(now)
            start = self._tracker.position_s
            if start is not None and position > start:
                changes = self._tracker.advance(store, from_s=start, to_s=position, now=now)
            else:
                changes = self._tracker.sync(store, position_s=position, now=now)
            self._emit_changes(changes)
        self._sync_stats()

    def _timing(self, rep: Representation, segment: Segment) -> TextTiming:
        disc = segment.discontinuity_seq
        if self._is_hls:
            return TextTiming(
                segment_start_s=segment.start_s,
                segment_end_s=segment.end_s,
                anchor=self._anchors.get(disc),
                discontinuity_start_s=self._discontinuity_start(rep, disc, segment),
            )
        periods = self._host.presentation.periods
        period = periods[disc] if 0 <= disc < len(periods) else periods[self._host.period_index]
        return TextTiming(
            segment_start_s=segment.start_s,
            segment_end_s=segment.end_s,
            origin_s=period.start_s,
            uses_timestamp_map=False,
        )

    def _discontinuity_start(self, rep: Representation, disc: int, segment: Segment) -> float:
        """Start of the first segment of ``disc`` in the text playlist (cached)."""
        key = (rep.id, disc)
        if key not in self._disc_starts:
            first = next((s for s in rep.segments or () if s.discontinuity_seq == disc), segment)
            self._disc_starts[key] = first.start_s
        return self._disc_starts[key]

    # -- the playhead ----------------------------------------------------------------------

    def on_played(self, from_s: float, to_s: float, *, reached_at: float) -> None:
        """The playhead played ``[from_s, to_s)``, reaching ``to_s`` at ``reached_at``."""
        if to_s <= from_s:
            return
        self.played.add(from_s, to_s)
        start = self._tracker.position_s
        start = from_s if start is None else min(max(start, from_s), to_s)
        self._flush_pending(to_s)  # placed before the crossings: their cues enter on time
        store = self.store()
        if store is not None:
            changes = self._tracker.advance(store, from_s=start, to_s=to_s, now=reached_at)
            self._emit_changes(changes)
        self._sync_stats()

    def on_seek(self, target_s: float, *, now: float) -> None:
        """The playhead jumped to ``target_s``: cues left behind exit, cues there enter."""
        store = self.store()
        if store is not None:
            self._emit_changes(self._tracker.sync(store, position_s=target_s, now=now))
        else:
            self._tracker.position_s = target_s

    def on_track_changed(self, *, now: float) -> None:
        """The text track was switched (or turned off): swap the cues shown."""
        position = self._host.live_position_s(now)
        self._emit_changes(self._tracker.clear(now=now, position_s=position), self._shown_language)
        self._pending = [p for p in self._pending if self._owns(p.rep)]
        store = self.store()
        if store is not None:
            self._emit_changes(self._tracker.sync(store, position_s=position, now=now))

    def _owns(self, rep: Representation) -> bool:
        track = self.track()
        return track is not None and any(r.id == rep.id for r in track.ladder)

    def next_boundary_s(self) -> float | None:
        """The next position the loop must wake at for the text track.

        Where a cue starts, a shown cue ends, or a segment waiting for its media timestamp
        must be placed anyway.
        """
        store = self.store()
        position = self._tracker.position_s
        if store is None or position is None:
            return None
        waiting = [p.segment.start_s for p in self._pending if p.segment.start_s > position]
        found = store.next_boundary_after(position, self._tracker.active)
        candidates = [*waiting, *([] if found is None else [found])]
        return min(candidates) if candidates else None

    def _flush_pending(self, position_s: float) -> None:
        """Parse waiting segments the playhead reached without an anchor (the fallback)."""
        due = [p for p in self._pending if p.segment.start_s <= position_s]
        if not due:
            return
        self._pending = [p for p in self._pending if p.segment.start_s > position_s]
        for pending in due:
            _log.info(
                "no media timestamp for %s: its map is tied to the discontinuity start",
                redact_url(pending.url),
            )
            self._load(pending.rep, pending.segment, b"", pending.data, pending.url, sync=False)

    # -- events and stats ------------------------------------------------------------------

    def _emit_changes(self, changes: list[CueChange], language: str | None = None) -> None:
        """Emit ``CueEntered``/``CueExited``; ``language`` defaults to the selected track's."""
        track = self.track()
        if language is None and track is not None:
            language = track.track.language
        if any(change.is_entered for change in changes):
            self._shown_language = language
        for change in changes:
            self._note_shown(change.cue)
            kind = CueEntered if change.is_entered else CueExited
            event = kind(
                at_s=change.at, cue=change.cue, position_s=change.position_s, language=language
            )
            self._host.emit(event)

    def _note_shown(self, cue: Cue) -> None:
        """Remember a cue shown (its latest end), at most ``max_cues_kept`` of them."""
        key = (round(cue.start_s, 3), cue.text)
        known = self._shown.get(key)
        if known is None or cue.end_s > known.end_s:
            self._shown[key] = cue
        while len(self._shown) > self._config.max_cues_kept:
            del self._shown[next(iter(self._shown))]

    def _error(self, exc: BaseException) -> None:
        code = getattr(exc, "code", "player.text")
        _log.warning("text track: %s", exc)
        self._host.emit(
            ErrorOccurred(
                at_s=self._host.parts.clock.now(),
                code=code,
                message=str(exc),
                fatal=False,
                error=exc,
            )
        )
        self._sync_stats()

    def _sync_stats(self) -> None:
        stats = self._host.parts.stats
        stats.subtitle_cues = self.cue_count
        stats.subtitle_coverage = self.coverage()

    def summary(self) -> dict[str, Any]:
        """The text track for a QA report: cues, spans covered and played, failures."""
        track = self.track()
        return {
            "track": track.track.id if track is not None else None,
            "language": track.track.language if track is not None else None,
            "segments_loaded": self.segments_loaded,
            "segments_failed": self.segments_failed,
            "cues": [c.to_json() for c in self.cues()],
            "shown": [
                {"start_s": c.start_s, "end_s": c.end_s, "text": c.text}
                for c in sorted(self._shown.values(), key=lambda c: c.start_s)
            ],
            "covered": [list(span) for span in self.covered.intervals],
            "played": [list(span) for span in self.played.intervals],
            "coverage": self.coverage(),
        }


def _buffer(track: TrackRuntime, rep: Representation, segment: Segment) -> None:
    """Put ``segment`` in the text buffer without media (the scheduler moves past it)."""
    track.buffer.add(
        BufferedSegment(
            segment.start_s,
            segment.end_s,
            rep.id,
            rep.bandwidth_bps,
            segment.number,
            discontinuity_seq=segment.discontinuity_seq,
        )
    )
