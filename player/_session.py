"""The playback session: the loop that joins manifest, transport, ABR, DRM and decoding.

One task runs ``PlaybackSession.run``. Each turn it advances the playhead on the
session clock, then either fetches the segment the scheduler picks or sleeps until a
buffer drops below its goal. Time comes only from the injected clock, so the same
session runs on wall time and on a virtual clock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from abr import AbandonProgress, AbrState, Controller, DownloadReport, ThroughputEstimator
from player._buffer import BufferedSegment, Playhead
from player._clock import Clock
from player._decode import TrackDecoder
from player._hub import EventHub
from player._pipeline import DecodeTally, MediaProcessor, decode_segment
from player._state import PlaybackState, StateMachine
from player._stats import StatsCollector
from player._track_runtime import TrackRuntime
from player._tracks import choose_tracks, select_next_track, video_ladder, wake_after_s
from player.config import PlayerConfig
from player.errors import PlayerError, UsageError
from player.events import (
    BufferingEnded,
    BufferingStarted,
    EdgeFailedOver,
    Ended,
    ErrorOccurred,
    Event,
    PlaybackStarted,
    Seeked,
    SegmentDownloaded,
    StateChanged,
    SwitchReason,
    VariantSwitched,
)
from player.manifest import Presentation, Representation, Segment
from transport import AllEdgesFailed, Response, StreamingResponse

__all__: list[str] = []

_log = logging.getLogger(__name__)
_END_TOLERANCE_S = 0.05  # timelines round to their timescale; not a tunable


class Fetcher(Protocol):
    """What the session needs of the transport (``transport.HttpClient`` satisfies it)."""

    async def fetch(
        self, urls: str | tuple[str, ...], *, byte_range: tuple[int, int] | None = None
    ) -> Response:
        """Fetch one resource with failover across ``urls``."""
        ...

    def stream(
        self, urls: str | tuple[str, ...], *, byte_range: tuple[int, int] | None = None
    ) -> AbstractAsyncContextManager[StreamingResponse]:
        """Open one resource for streaming, with failover across ``urls``."""
        ...


class _Abandoned(Exception):
    """A video download was abandoned on the controller's advice (private to the session)."""

    def __init__(self, to_index: int, nbytes: int) -> None:
        super().__init__(f"abandoned for rung {to_index}")
        self.to_index = to_index
        self.nbytes = nbytes


@dataclass(slots=True)
class SessionParts:
    """The collaborators a session is built from (all injected).

    Attributes:
        config: Player configuration.
        clock: Session clock.
        http: Transport client.
        controller: ABR controller for video.
        estimator: Throughput estimator fed with every transfer.
        processor: Decryption (or pass-through).
        hub: Event delivery.
        stats: Figures.
        emit: Where events go (stats, hub and sampling); ``None`` uses stats and hub.
    """

    config: PlayerConfig
    clock: Clock
    http: Fetcher
    controller: Controller
    estimator: ThroughputEstimator
    processor: MediaProcessor
    hub: EventHub
    stats: StatsCollector
    emit: Callable[[Event], None] | None = None


class PlaybackSession:
    """Plays one presentation; driven by ``run`` in a task, steered by the public ``Player``."""

    def __init__(self, parts: SessionParts, presentation: Presentation, *, load_at: float) -> None:
        self.parts = parts
        self.presentation = presentation
        self.machine = StateMachine()
        self.playhead = Playhead()
        self.tracks: list[TrackRuntime] = []
        self.period_index = 0
        self.is_paused_by_user = False
        self.pinned_video: int | None = None
        self._load_at = load_at
        self._stall_started: float | None = None
        self._wake = asyncio.Event()
        self._stopped = False
        self._pending_seek: float | None = None
        self.fatal_error: BaseException | None = None
        self.refresher: Callable[[Presentation], Awaitable[Presentation]] | None = None
        self._offsets: dict[str, float] = {}
        self._base_skew: float | None = None
        self.wall_offset_s = wall_clock_offset(parts.clock)
        self._refresh_interval_s = parts.config.playback.live_refresh_fallback_s

    # -- small helpers -------------------------------------------------------------------

    @property
    def state(self) -> PlaybackState:
        """Current playback state."""
        return self.machine.state

    @property
    def position_s(self) -> float:
        """Playhead position, seconds."""
        return self.playhead.position_s

    def _emit(self, event: Event) -> None:
        if self.parts.emit is not None:
            self.parts.emit(event)
            return
        self.parts.stats.on_event(event)
        self.parts.hub.emit(event)

    def _move(self, new: PlaybackState) -> None:
        old, new = self.machine.move(new)
        if old != new:
            self._emit(StateChanged(at_s=self.parts.clock.now(), old=old.value, new=new.value))

    def wake(self) -> None:
        """Make the loop re-evaluate now (after play/pause/seek/track changes)."""
        self._wake.set()

    # -- set-up --------------------------------------------------------------------------

    def setup_tracks(self, *, audio_language: str | None = None) -> None:
        """Choose tracks for the current period and build their runtimes."""
        cfg = self.parts.config.playback
        period = self.presentation.periods[self.period_index]
        choice = choose_tracks(period, cfg, audio_language=audio_language)
        tracks: list[TrackRuntime] = []
        if choice.video is not None:
            group = choice.audio.group_id if choice.audio is not None else None
            ladder = video_ladder(choice.video, cfg, audio_group=group)
            tracks.append(TrackRuntime("video", choice.video, ladder))
        for kind, track in (("audio", choice.audio), ("text", choice.text)):
            if track is not None:
                reps = tuple(sorted(track.representations, key=lambda r: r.bandwidth_bps))
                tracks.append(TrackRuntime(kind, track, reps[-1:], current=0))
        if not tracks:
            raise PlayerError(f"{self.presentation.url}: no playable track in the first period")
        for runtime in tracks:
            if cfg.decode and runtime.kind in ("video", "audio"):
                runtime.decoder = TrackDecoder(
                    runtime.kind,
                    hash_frames=cfg.hash_frames,
                    thumbnails_at_s=cfg.thumbnails_at_s,
                    thumbnail_dir=cfg.thumbnail_dir,
                )
                runtime.tally = DecodeTally(pts_s=[])
        self.tracks = tracks

    @property
    def media_tracks(self) -> list[TrackRuntime]:
        """Video and audio runtimes (text never stalls playback)."""
        return [t for t in self.tracks if t.kind != "text"]

    def video(self) -> TrackRuntime | None:
        """The video runtime, if any."""
        return next((t for t in self.tracks if t.kind == "video"), None)

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        """Play until ended, stopped or failed. Errors end in the ERROR state, not a raise."""
        try:
            if self.state == PlaybackState.LOADING:
                self._move(PlaybackState.BUFFERING)
            while not self._stopped and not self.machine.is_terminal:
                await self._turn()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure ends in ErrorOccurred + ERROR, never a raise
            self.fail(exc)
        if self.machine.is_terminal:
            self.parts.hub.close()

    def fail(self, exc: BaseException) -> None:
        """Report a fatal error and move to the ERROR state."""
        self.fatal_error = exc
        code = getattr(exc, "code", "player.internal")
        now = self.parts.clock.now()
        self._emit(ErrorOccurred(at_s=now, code=code, message=str(exc), fatal=True, error=exc))
        if self.machine.can_move(PlaybackState.ERROR):
            self._move(PlaybackState.ERROR)

    def stop(self) -> None:
        """Ask the loop to finish after its current step."""
        self._stopped = True
        self.wake()

    async def _turn(self) -> None:
        now = self.parts.clock.now()
        if self._pending_seek is not None:
            self._apply_seek(now)
        self._tick(now)
        if self.machine.is_terminal:
            return
        if self.presentation.is_live and self._refresh_due() <= 0:
            await self._refresh()
            return
        if self._maybe_next_period():
            return
        goal = self.parts.config.playback.buffering_goal_s
        needs = [t.need(self.position_s) for t in self.tracks]
        index = select_next_track(needs, position_s=self.position_s, goal_s=goal)
        if index is not None:
            await self._download(self.tracks[index])
            return
        wait = wake_after_s(needs, position_s=self.position_s, goal_s=goal)
        if self.state == PlaybackState.PLAYING:
            to_limit = self._time_to_limit()
            wait = to_limit if wait is None else min(wait, to_limit)
        else:
            wait = None  # nothing moves until a user action or a download
        if self.presentation.is_live:
            due = self._refresh_due()
            wait = due if wait is None else min(wait, due)
        await self._sleep(wait)

    # -- live ----------------------------------------------------------------------------

    def wall_now(self) -> float:
        """Session time as UTC epoch seconds (what manifests' live timing is in)."""
        return self.parts.clock.now() + self.wall_offset_s

    def _refresh_due(self) -> float:
        """Seconds until the live presentation must be refreshed (<= 0: now)."""
        wall = self.wall_now()
        at = self.presentation.next_refresh_at(wall)
        fetched = self.presentation.fetched_at or wall
        if at is None:
            at = fetched + self._refresh_interval_s
        return at - wall

    async def _refresh(self) -> None:
        """Reload the live manifest (or media playlists) and swap in the new segment lists."""
        if self.refresher is None:
            self._refresh_interval_s = float("inf")
            return
        presentation = await self.refresher(self.presentation)
        if presentation.fetched_at == self.presentation.fetched_at:
            presentation = dataclasses.replace(presentation, fetched_at=self.wall_now())
        self.presentation = presentation
        period = presentation.periods[min(self.period_index, len(presentation.periods) - 1)]
        reps = tuple(period.representations())
        for track in self.tracks:
            track.replace_ladder(reps)

    def _maybe_next_period(self) -> bool:
        """Move every track to the next period once all have fetched the current one."""
        periods = self.presentation.periods
        if self.period_index + 1 >= len(periods) or not self._all_exhausted():
            return False
        self.period_index += 1
        cfg = self.parts.config.playback
        period = periods[self.period_index]
        audio_language = next(
            (t.track.language for t in self.tracks if t.kind == "audio"), cfg.audio_language
        )
        choice = choose_tracks(period, cfg, audio_language=audio_language)
        for runtime in self.tracks:
            track = {"video": choice.video, "audio": choice.audio, "text": choice.text}[
                runtime.kind
            ]
            if track is None:
                runtime.ladder = ()
                continue
            if runtime.kind == "video":
                ladder = video_ladder(track, cfg)
                old = runtime.representation().bandwidth_bps if runtime.ladder else 0
                closest = min(range(len(ladder)), key=lambda i: abs(ladder[i].bandwidth_bps - old))
                runtime.current = closest if runtime.current is not None else None
            else:
                ladder = tuple(sorted(track.representations, key=lambda r: r.bandwidth_bps))[-1:]
                runtime.current = 0
            runtime.track, runtime.ladder = track, ladder
            runtime.excluded.clear()
            runtime.needs_reset = True
        self.tracks = [t for t in self.tracks if t.ladder]
        return True

    def _time_to_limit(self) -> float:
        return max(0.0, self._limit() - self.position_s)

    async def _sleep(self, wait: float | None) -> None:
        self._wake.clear()
        waiter = asyncio.ensure_future(self._wake.wait())
        tasks: set[asyncio.Future[object]] = {waiter}  # type: ignore[arg-type]
        if wait is not None:
            tasks.add(asyncio.ensure_future(self.parts.clock.sleep(wait)))
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        del done

    # -- playhead, stalls, end -----------------------------------------------------------

    def _limit(self) -> float:
        ends = [t.buffer.buffered_end(self.position_s) for t in self.media_tracks]
        limit = min(ends) if ends else self.position_s
        if self._all_exhausted() and self.presentation.duration_s is not None:
            limit = max(limit, min(self.presentation.duration_s, max(ends, default=limit)))
        return limit

    def _all_exhausted(self) -> bool:
        return all(t.need(self.position_s).is_exhausted for t in self.media_tracks)

    def _tick(self, now: float) -> None:
        before = self.position_s
        if self.state == PlaybackState.PLAYING:
            position, hit_at = self.playhead.advance(now=now, limit_s=self._limit())
            self._account_played(before, position)
            if hit_at is not None:
                self._on_limit(hit_at)
        elif self.state in (PlaybackState.BUFFERING, PlaybackState.REBUFFERING):
            self._maybe_start(now)
        self._evict()

    def _account_played(self, start: float, end: float) -> None:
        video = self.video()
        if video is None or end <= start:
            return
        for seg in video.buffer.covering(start, end):
            overlap = min(end, seg.end_s) - max(start, seg.start_s)
            self.parts.stats.on_played(bitrate_bps=seg.bitrate_bps, seconds=overlap)

    def _on_limit(self, hit_at: float) -> None:
        self.playhead.stop(now=hit_at)
        if self._all_exhausted() and not self.presentation.is_live:
            self._move(PlaybackState.ENDED)
            self._emit(Ended(at_s=hit_at, position_s=self.position_s))
            return
        self._stall_started = hit_at
        self._move(PlaybackState.REBUFFERING)
        self._emit(BufferingStarted(at_s=hit_at, position_s=self.position_s))

    def _level(self) -> float:
        levels = [t.buffer.level_s(self.position_s) for t in self.media_tracks]
        return min(levels) if levels else 0.0

    def _maybe_start(self, now: float) -> None:
        cfg = self.parts.config.playback
        initial = self.state == PlaybackState.BUFFERING
        goal = cfg.startup_buffer_s if initial else cfg.rebuffer_goal_s
        if self._level() < goal - _END_TOLERANCE_S and not self._all_exhausted():
            return
        if self._level() <= 0 and self._all_exhausted():
            self._move(PlaybackState.ENDED)
            self._emit(Ended(at_s=now, position_s=self.position_s))
            return
        if self.is_paused_by_user:
            self._move(PlaybackState.PAUSED)
            return
        self._move(PlaybackState.PLAYING)
        self.playhead.start(now=now)
        if initial:
            self._emit(
                PlaybackStarted(at_s=now, startup_s=now - self._load_at, position_s=self.position_s)
            )
        elif self._stall_started is not None:
            stalled = now - self._stall_started
            self._emit(BufferingEnded(at_s=now, position_s=self.position_s, stalled_s=stalled))
            self._stall_started = None

    def _evict(self) -> None:
        keep_from = self.position_s - self.parts.config.playback.buffer_behind_s
        for track in self.tracks:
            track.buffer.evict_before(keep_from)

    # -- user actions (called by Player; they take effect on the next turn) ---------------

    def pause(self) -> None:
        """Pause playback (downloads continue up to the buffering goal)."""
        self.is_paused_by_user = True
        now = self.parts.clock.now()
        if self.state == PlaybackState.PLAYING:
            self.playhead.stop(now=now, limit_s=self._limit())
            self._move(PlaybackState.PAUSED)
        self.wake()

    def play(self) -> None:
        """Resume (or start) playback."""
        self.is_paused_by_user = False
        if self.state == PlaybackState.PAUSED:
            if self._level() <= 0:
                self._move(PlaybackState.BUFFERING)
            else:
                self._move(PlaybackState.PLAYING)
                self.playhead.start(now=self.parts.clock.now())
        self.wake()

    def seek(self, position_s: float) -> None:
        """Jump to ``position_s`` (clamped to the presentation)."""
        if self.machine.state in (PlaybackState.ERROR, PlaybackState.IDLE):
            raise UsageError("seek() needs a loaded, playing session")
        self._pending_seek = max(0.0, position_s)
        self.wake()

    def _apply_seek(self, now: float) -> None:
        target = self._pending_seek or 0.0
        self._pending_seek = None
        duration = self.presentation.duration_s
        if duration is not None:
            target = min(target, max(0.0, duration - _END_TOLERANCE_S))
        before = self.position_s
        was_running = self.playhead.is_running
        self.playhead.stop(now=now, limit_s=self._limit())
        self._account_played(before, self.position_s)
        self._move(PlaybackState.SEEKING)
        for track in self.tracks:
            if track.buffer.level_s(target) <= 0:
                track.buffer.clear()
            track.needs_reset = True
        self.playhead.seek(target, now=now)
        self._stall_started = None
        self._emit(Seeked(at_s=now, from_s=before, to_s=target))
        self._move(PlaybackState.BUFFERING)
        self._load_at = now if not was_running else self._load_at

    # -- downloads ------------------------------------------------------------------------

    def _choose_video(self, track: TrackRuntime, segment: Segment, now: float) -> int:
        if self.pinned_video is not None and self.pinned_video not in track.excluded:
            return self.pinned_video
        est = self.parts.estimator
        rep = track.representation()
        total = (
            len(rep.segments)
            if rep.segments is not None and not self.presentation.is_live
            else None
        )
        state = AbrState(
            now=now,
            buffer_s=track.buffer.level_s(self.position_s),
            throughput_bps=est.estimate_bps(now),
            ladder=track.rungs,
            current=track.current,
            excluded=frozenset(track.excluded),
            latency_s=est.estimate_latency_s(now),
            segment_duration_s=segment.duration_s,
            segment_index=segment.number,
            segments_total=total,
        )
        decision = self.parts.controller.select(state)
        self._last_reason = decision.reason.value
        return decision.index

    async def _download(self, track: TrackRuntime) -> None:
        now = self.parts.clock.now()
        segment = track.next_segment(self.position_s)
        if segment is None:
            return
        if track.kind == "video":
            index = self._choose_video(track, segment, now)
            if index != track.current:
                self._switch(track, index, now, reason=self._switch_reason(track))
            segment = track.next_segment(self.position_s) or segment
        rep = track.representation()
        try:
            await self._fetch_segment(track, rep, segment)
        except _Abandoned as abandoned:
            self._on_abandoned(track, abandoned)
        except AllEdgesFailed as exc:
            if track.kind == "video" and self._exclude_and_retry(track, exc):
                return
            raise

    def _switch_reason(self, track: TrackRuntime) -> SwitchReason:
        if track.current is None:
            return SwitchReason.INITIAL
        if self.pinned_video is not None:
            return SwitchReason.MANUAL
        if track.current in track.excluded:
            return SwitchReason.FAILOVER
        return SwitchReason.ADAPTIVE

    def _switch(self, track: TrackRuntime, index: int, now: float, *, reason: SwitchReason) -> None:
        old = track.representation().id if track.current is not None else None
        track.current = index
        rep = track.ladder[index]
        detail = getattr(self, "_last_reason", "")
        self._emit(
            VariantSwitched(
                at_s=now,
                from_id=old,
                to_id=rep.id,
                bitrate_bps=rep.bandwidth_bps,
                reason=reason,
                detail=detail,
            )
        )

    def _exclude_and_retry(self, track: TrackRuntime, exc: AllEdgesFailed) -> bool:
        if track.current is None or len(track.excluded) + 1 >= len(track.ladder):
            return False
        track.excluded.add(track.current)
        now = self.parts.clock.now()
        self._emit(ErrorOccurred(at_s=now, code=exc.code, message=str(exc), fatal=False, error=exc))
        return True

    def locations(self, urls: tuple[str, ...]) -> tuple[str, ...]:
        """Add the configured alternate origins to a resource's locations."""
        alternates = self.parts.config.playback.alternate_origins
        if not alternates:
            return urls
        out = list(urls)
        for url in urls:
            parts = urlsplit(url)
            for base in alternates:
                alt = urlsplit(base)
                candidate = urlunsplit((alt.scheme, alt.netloc, parts.path, parts.query, ""))
                if candidate not in out:
                    out.append(candidate)
        return tuple(out)

    async def _fetch(
        self, track: TrackRuntime, urls: tuple[str, ...], byte_range: tuple[int, int] | None
    ) -> Response:
        urls = self.locations(urls)
        clock = self.parts.clock
        with clock.busy():
            response = await self.parts.http.fetch(urls, byte_range=byte_range)
        sample = response.sample
        self._feed_estimator(sample.nbytes, sample.ttfb_s, sample.duration_s)
        self._note_edge(track, response)
        return response

    def _note_edge(self, track: TrackRuntime, response: Response) -> None:
        clock = self.parts.clock
        if track.last_edge is not None and response.edge != track.last_edge:
            self._emit(
                EdgeFailedOver(
                    at_s=clock.now(),
                    from_edge=track.last_edge,
                    to_edge=response.edge,
                    error_code=self._last_failure_code(),
                )
            )
        track.last_edge = response.edge

    def _last_failure_code(self) -> str:
        code = getattr(self.parts.http, "last_failure_code", None)
        return code if isinstance(code, str) else "transport.error"

    async def _ensure_init(
        self, track: TrackRuntime, rep: Representation, segment: Segment
    ) -> bytes:
        init_ref = segment.init or rep.init
        key = rep.id if init_ref is None else f"{rep.id}|{init_ref.url}|{init_ref.byte_range}"
        if key in track.inits:
            return track.inits[key]
        raw = b""
        if init_ref is not None:
            rng = init_ref.byte_range
            response = await self._fetch(
                track, init_ref.urls, None if rng is None else (rng.first, rng.last)
            )
            raw = response.content
            self._emit_download(track, rep, -1, response, 0.0)
        init_key = init_ref.key if init_ref is not None else None
        with self.parts.clock.busy():
            clear = await self.parts.processor.prepare_init(rep, raw, key=init_key)
        track.raw_inits[key] = raw if init_key is None else clear
        track.inits[key] = clear
        return clear

    async def _fetch_segment(
        self, track: TrackRuntime, rep: Representation, segment: Segment
    ) -> None:
        init = await self._ensure_init(track, rep, segment)
        rng = segment.byte_range
        byte_range = None if rng is None else (rng.first, rng.last)
        if track.kind == "video" and track.current and hasattr(self.parts.http, "stream"):
            response = await self._stream_video(track, segment, byte_range)
        else:
            response = await self._fetch(track, segment.urls, byte_range)
        clock = self.parts.clock
        self._report_download(track, response)
        init_ref = segment.init or rep.init
        key = rep.id if init_ref is None else f"{rep.id}|{init_ref.url}|{init_ref.byte_range}"
        with clock.busy():
            data = await self.parts.processor.process_segment(
                rep, segment, response.content, init=track.raw_inits.get(key, b"")
            )
            boundary = track.needs_reset or (
                track.last_discontinuity is not None
                and segment.discontinuity_seq != track.last_discontinuity
            )
            if track.decoder is not None:
                result = await decode_segment(
                    track.decoder, init, data, track.tally, is_boundary=boundary
                )
                if result.pts_s:
                    self._note_offset(track.kind, segment, min(result.pts_s))
                self._sync_decode_stats()
        track.needs_reset = False
        track.last_discontinuity = segment.discontinuity_seq
        keep = self.parts.config.playback.keep_media
        track.buffer.add(
            BufferedSegment(
                segment.start_s,
                segment.end_s,
                rep.id,
                rep.bandwidth_bps,
                segment.number,
                data if keep else b"",
                init if keep else b"",
                segment.discontinuity_seq,
            )
        )
        self._emit_download(track, rep, segment.number, response, segment.duration_s)

    async def _stream_video(
        self, track: TrackRuntime, segment: Segment, byte_range: tuple[int, int] | None
    ) -> Response:
        """Download a video segment, asking the controller whether to abandon it."""
        clock = self.parts.clock
        interval = self.parts.config.playback.abandon_check_interval_s
        started = last_check = clock.now()
        chunks: list[bytes] = []
        with clock.busy():
            async with self.parts.http.stream(
                self.locations(segment.urls), byte_range=byte_range
            ) as body:
                size = (
                    body.expected_bytes
                    or track.representation().bandwidth_bps * segment.duration_s / 8
                )
                async for chunk in body:
                    chunks.append(chunk)
                    now = clock.now()
                    if now - last_check < interval:
                        continue
                    last_check = now
                    advice = self._abandon_advice(track, segment, body, size, now - started)
                    if advice is not None:
                        self._feed_estimator(body.nbytes, body.ttfb_s, now - started)
                        raise _Abandoned(advice, body.nbytes)
                response = body.to_response(b"".join(chunks))
        self._feed_estimator(
            response.sample.nbytes, response.sample.ttfb_s, response.sample.duration_s
        )
        self._note_edge(track, response)
        return response

    def _abandon_advice(
        self,
        track: TrackRuntime,
        segment: Segment,
        body: StreamingResponse,
        size: float,
        elapsed_s: float,
    ) -> int | None:
        if track.current is None or track.current == 0:
            return None
        now = self.parts.clock.now()
        position = self.playhead.position_at(now=now, limit_s=self._limit())
        progress = AbandonProgress(
            now=now,
            index=track.current,
            ladder=track.rungs,
            size_bytes=float(size),
            downloaded_bytes=float(body.nbytes),
            elapsed_s=elapsed_s,
            ttfb_s=body.ttfb_s,
            buffer_s=max(0.0, track.buffer.buffered_end(self.position_s) - position),
            latency_s=self.parts.estimator.estimate_latency_s(now),
            segment_duration_s=segment.duration_s,
        )
        decision = self.parts.controller.decide_abandon(progress)
        if decision is None or decision.index >= track.current:
            return None
        return decision.index

    def _on_abandoned(self, track: TrackRuntime, abandoned: _Abandoned) -> None:
        now = self.parts.clock.now()
        assert track.current is not None
        self.parts.controller.on_download(
            DownloadReport(
                now=now,
                index=track.current,
                nbytes=float(abandoned.nbytes),
                ttfb_s=0.0,
                duration_s=0.0,
                buffer_s=track.buffer.level_s(self.position_s),
                is_abandoned=True,
                abandon_to=abandoned.to_index,
            )
        )
        self._last_reason = "abandon"
        self._switch(track, abandoned.to_index, now, reason=SwitchReason.ADAPTIVE)

    def _feed_estimator(self, nbytes: int, ttfb_s: float, duration_s: float) -> None:
        now = self.parts.clock.now()
        self.parts.estimator.on_sample(nbytes, ttfb_s, duration_s, now)
        self.parts.stats.estimated_bandwidth_bps = self.parts.estimator.estimate_bps(now)

    def _report_download(self, track: TrackRuntime, response: Response) -> None:
        if track.kind != "video" or track.current is None:
            return
        now = self.parts.clock.now()
        sample = response.sample
        self.parts.controller.on_download(
            DownloadReport(
                now=now,
                index=track.current,
                nbytes=float(sample.nbytes),
                ttfb_s=sample.ttfb_s,
                duration_s=sample.duration_s,
                buffer_s=track.buffer.level_s(self.position_s),
            )
        )

    def _note_offset(self, kind: str, segment: Segment, first_pts_s: float) -> None:
        """Track how far decoded timestamps sit from the manifest's timeline, per track.

        Audio/video drift is the largest change of the difference between the two tracks'
        offsets since the first pair: constant offsets (edit lists, presentationTimeOffset)
        cancel out.
        """
        offset = first_pts_s - segment.start_s
        self._offsets[kind] = offset
        if "video" in self._offsets and "audio" in self._offsets:
            skew = self._offsets["video"] - self._offsets["audio"]
            if self._base_skew is None:
                self._base_skew = skew
            drift = abs(skew - self._base_skew)
            self.parts.stats.av_drift_s = max(self.parts.stats.av_drift_s, drift)

    def _sync_decode_stats(self) -> None:
        stats = self.parts.stats
        stats.frames_decoded = sum(t.tally.frames for t in self.tracks if t.kind == "video")
        stats.decode_errors = sum(t.tally.errors for t in self.tracks)
        stats.dropped_frames = sum(t.tally.dropped_frames for t in self.tracks if t.kind == "video")

    def _emit_download(
        self,
        track: TrackRuntime,
        rep: Representation,
        number: int,
        response: Response,
        duration_s: float,
    ) -> None:
        sample = response.sample
        self._emit(
            SegmentDownloaded(
                at_s=self.parts.clock.now(),
                track=track.kind,
                representation_id=rep.id,
                number=number,
                nbytes=sample.nbytes,
                duration_s=duration_s,
                download_s=sample.duration_s,
                ttfb_s=sample.ttfb_s,
                protocol=sample.protocol,
                edge=response.edge,
            )
        )


def wall_clock_offset(clock: Clock) -> float:
    """Return ``time.time() - clock.now()``: add it to session time to get UTC epoch seconds."""
    return time.time() - clock.now()
