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

from player._buffer import Playhead
from player._clock import Clock
from player._decode import TrackDecoder
from player._downloads import SegmentDownloader
from player._parts import Refusal, SessionParts
from player._pathways import RequestPlanner
from player._pipeline import DecodeTally
from player._state import PlaybackState, StateMachine
from player._text import TextRuntime
from player._track_runtime import TrackRuntime
from player._tracks import (
    choose_tracks,
    dropped_by_caps,
    select_next_track,
    video_ladder,
    wake_after_s,
)
from player.config import PlayerConfig
from player.errors import KeysNotGranted, PlayerError, UsageError, redact_url
from player.events import (
    BufferingEnded,
    BufferingStarted,
    Ended,
    ErrorOccurred,
    Event,
    LadderFiltered,
    PlaybackStarted,
    RenditionsRestricted,
    Seeked,
    StateChanged,
    SwitchReason,
    VariantSwitched,
)
from player.manifest import Presentation, Representation, StreamFormat, Track, TrackType
from player.steering import PathwaySelector

__all__: list[str] = []

_log = logging.getLogger(__name__)
_END_TOLERANCE_S = 0.05  # timelines round to their timescale; not a tunable


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
        self.selector: PathwaySelector | None = None
        """Content steering pathway choice, when the presentation's locations name pathways."""
        self.planner = RequestPlanner(self)
        self.downloads = SegmentDownloader(self)
        self.text = TextRuntime(self)
        """The text track's cues and cue events (docs/text.md)."""
        self.wall_offset_s = wall_clock_offset(parts.clock)
        self.refused_kids: dict[str, str] = {}
        """KIDs the license server refused (hex -> why): their renditions never play."""
        self.refused_renditions: dict[str, tuple[str, ...]] = {}
        """Rendition id -> the refused KIDs its init segment named (in this period)."""
        self._refresh_interval_s = parts.config.playback.live_refresh_fallback_s

    # -- small helpers -------------------------------------------------------------------

    @property
    def config(self) -> PlayerConfig:
        """Player configuration (the request planner's view)."""
        return self.parts.config

    @property
    def format(self) -> StreamFormat:
        """The presentation's manifest format."""
        return self.presentation.format

    def now(self) -> float:
        """Session clock, monotonic seconds."""
        return self.parts.clock.now()

    @property
    def state(self) -> PlaybackState:
        """Current playback state."""
        return self.machine.state

    @property
    def position_s(self) -> float:
        """Playhead position, seconds."""
        return self.playhead.position_s

    def emit(self, event: Event) -> None:
        if self.parts.emit is not None:
            self.parts.emit(event)
            return
        self.parts.stats.on_event(event)
        self.parts.hub.emit(event)

    def _move(self, new: PlaybackState) -> None:
        old, new = self.machine.move(new)
        if old != new:
            self.emit(StateChanged(at_s=self.parts.clock.now(), old=old.value, new=new.value))

    def live_position_s(self, now: float) -> float:
        """Where the playhead is at ``now``, between loop turns too (the loop may be asleep)."""
        if self.state != PlaybackState.PLAYING:
            return self.position_s
        return self.playhead.position_at(now=now, limit_s=self.limit())

    def settle(self, now: float) -> None:
        """Advance the playhead to ``now`` and account the time played (before stopping)."""
        if self.state == PlaybackState.PLAYING:
            self._tick(now)
            self.playhead.stop(now=now)  # stopped: the position no longer moves

    def ongoing_stall_s(self, now: float) -> float:
        """Seconds of the stall in progress at ``now`` (0 when not rebuffering)."""
        if self.state != PlaybackState.REBUFFERING or self._stall_started is None:
            return 0.0
        return max(0.0, now - self._stall_started)

    def wake(self) -> None:
        """Make the loop re-evaluate now (after play/pause/seek/track changes)."""
        self._wake.set()

    # -- set-up --------------------------------------------------------------------------

    def setup_tracks(self, *, audio_language: str | None = None) -> None:
        """Choose tracks for the current period and build their runtimes."""
        cfg = self.parts.config.playback
        period = self.presentation.periods[self.period_index]
        choice = choose_tracks(
            period, cfg, audio_language=audio_language, merge_compatible=self._merges_sets()
        )
        tracks: list[TrackRuntime] = []
        if choice.video is not None:
            group = choice.audio.group_id if choice.audio is not None else None
            ladder = video_ladder(choice.video, cfg, audio_group=group)
            self._report_filters(choice.video, ladder, audio_group=group)
            tracks.append(TrackRuntime("video", choice.video, ladder))
        for kind, track in (("audio", choice.audio), ("text", choice.text)):
            if track is not None:
                reps = tuple(sorted(track.representations, key=lambda r: r.bandwidth_bps))
                tracks.append(TrackRuntime(kind, track, reps[-1:], current=0))
        if not tracks:
            raise PlayerError(
                f"{redact_url(self.presentation.url)}: no playable track in the first period"
            )
        # a muxed variant (MPEG-TS) carries the audio when no separate track plays it
        video = choice.video
        muxed = choice.audio is None and video is not None and video.type == TrackType.MUXED
        for runtime in tracks:
            if cfg.decode and runtime.kind in ("video", "audio"):
                runtime.decoder = TrackDecoder(
                    runtime.kind,
                    hash_frames=cfg.hash_frames,
                    thumbnails_at_s=cfg.thumbnails_at_s,
                    thumbnail_dir=cfg.thumbnail_dir,
                    muxed_audio=muxed and runtime.kind == "video",
                )
                hashes: list[str] | None = (
                    [] if cfg.hash_frames and runtime.kind == "video" else None
                )
                runtime.tally = DecodeTally(pts_s=[], frame_hashes=hashes)
        self.tracks = tracks

    def _merges_sets(self) -> bool:
        """Whether compatible DASH video sets form one ladder (``switching_groups``)."""
        return (
            self.parts.config.playback.switch_across_compatible_sets
            and self.presentation.format == StreamFormat.DASH
        )

    def _report_filters(
        self, track: Track, ladder: tuple[Representation, ...], *, audio_group: str | None
    ) -> None:
        """Emit ``LadderFiltered`` when a video cap is configured (what it kept and dropped)."""
        cfg = self.parts.config.playback
        if cfg.max_video_height is not None or cfg.max_video_bitrate_bps is not None:
            dropped = dropped_by_caps(track, ladder, cfg, audio_group=audio_group)
            kept = tuple(r.id for r in ladder)
            _log.info("video ladder %s; left out by the caps: %s", kept, dropped or "none")
            now = self.parts.clock.now()
            self.emit(
                LadderFiltered(
                    at_s=now,
                    kept_ids=kept,
                    dropped_ids=dropped,
                    max_height=cfg.max_video_height,
                    max_bitrate_bps=cfg.max_video_bitrate_bps,
                )
            )

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
        self.emit(ErrorOccurred(at_s=now, code=code, message=str(exc), fatal=True, error=exc))
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
            await self.downloads.download(self.tracks[index])
            return
        wait = wake_after_s(needs, position_s=self.position_s, goal_s=goal)
        if self.state == PlaybackState.PLAYING:
            to_limit = self._time_to_limit()
            cue_at = self.text.next_boundary_s()  # wake when a cue starts or ends
            if cue_at is not None:
                to_limit = min(to_limit, max(0.0, cue_at - self.position_s))
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
        text_language = next(
            (t.track.language for t in self.tracks if t.kind == "text"), cfg.text_language
        )
        choice = choose_tracks(
            period,
            cfg,
            audio_language=audio_language,
            text_language=text_language,
            merge_compatible=self._merges_sets(),
        )
        self.refused_renditions.clear()  # ids name other renditions in another period
        for runtime in self.tracks:
            track = {"video": choice.video, "audio": choice.audio, "text": choice.text}[
                runtime.kind
            ]
            if track is None:
                runtime.ladder = ()
                continue
            if runtime.kind == "video":
                ladder = self.playable(video_ladder(track, cfg))
                if not ladder:
                    raise KeysNotGranted(
                        f"period {period.id}: the license server refused the keys of every "
                        "video rendition",
                        track="video",
                        kids=tuple(sorted(self.refused_kids)),
                    )
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
        return max(0.0, self.limit() - self.position_s)

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

    def limit(self) -> float:
        ends = [t.buffer.buffered_end(self.position_s) for t in self.media_tracks]
        limit = min(ends) if ends else self.position_s
        if self._all_exhausted() and self.presentation.duration_s is not None:
            limit = max(limit, min(self.presentation.duration_s, max(ends, default=limit)))
        return limit

    def _all_exhausted(self) -> bool:
        return all(t.need(self.position_s).is_exhausted for t in self.media_tracks)

    def catch_up(self, now: float) -> None:
        """Advance the playhead to ``now`` against the buffers as they are.

        The downloader calls it before it adds a segment: had the buffer run out while the
        segment was downloading, the stall is recorded from the moment it did, instead of
        the playhead running on through media that was not there yet.
        """
        if not self.machine.is_terminal:
            self._tick(now)

    def _tick(self, now: float) -> None:
        before = self.position_s
        if self.state == PlaybackState.PLAYING:
            position, hit_at = self.playhead.advance(now=now, limit_s=self.limit())
            self._account_played(before, position)
            self.text.on_played(before, position, reached_at=now if hit_at is None else hit_at)
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
            self.emit(Ended(at_s=hit_at, position_s=self.position_s))
            return
        self._stall_started = hit_at
        self._move(PlaybackState.REBUFFERING)
        self.emit(BufferingStarted(at_s=hit_at, position_s=self.position_s))

    def _level(self) -> float:
        levels = [t.buffer.level_s(self.position_s) for t in self.media_tracks]
        return min(levels) if levels else 0.0

    def _maybe_start(self, now: float) -> None:
        cfg = self.parts.config.playback
        initial = self.state == PlaybackState.BUFFERING
        goal = cfg.startup_buffer_s if initial else cfg.rebuffer_goal_s
        if self._level() < goal - _END_TOLERANCE_S and not self._all_exhausted():
            return
        if initial and not self.text.is_ready_at(self.position_s):
            return  # start (or resume after a seek) with the subtitles of the first frame
        if self._level() <= 0 and self._all_exhausted():
            self._move(PlaybackState.ENDED)
            self.emit(Ended(at_s=now, position_s=self.position_s))
            return
        if self.is_paused_by_user:
            self._move(PlaybackState.PAUSED)
            return
        self._move(PlaybackState.PLAYING)
        self.playhead.start(now=now)
        if initial:
            self.emit(
                PlaybackStarted(at_s=now, startup_s=now - self._load_at, position_s=self.position_s)
            )
        elif self._stall_started is not None:
            stalled = now - self._stall_started
            self.emit(BufferingEnded(at_s=now, position_s=self.position_s, stalled_s=stalled))
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
            self._tick(now)  # count what was played since the loop last looked
        if self.state == PlaybackState.PLAYING:
            self.playhead.stop(now=now, limit_s=self.limit())
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
        self.playhead.stop(now=now, limit_s=self.limit())
        self._account_played(before, self.position_s)
        self.text.on_played(before, self.position_s, reached_at=now)
        self._move(PlaybackState.SEEKING)
        for track in self.tracks:
            if track.buffer.level_s(target) <= 0:
                track.buffer.clear()
            track.needs_reset = True
        self.playhead.seek(target, now=now)
        self._stall_started = None
        self.emit(Seeked(at_s=now, from_s=before, to_s=target))
        self.text.on_seek(target, now=now)
        self._move(PlaybackState.BUFFERING)
        self._load_at = now if not was_running else self._load_at

    # -- partial licences ----------------------------------------------------------------

    def playable(self, ladder: tuple[Representation, ...]) -> tuple[Representation, ...]:
        """``ladder`` without the renditions whose keys were refused."""
        return tuple(r for r in ladder if not self.refused_kids_of(r))

    def refused_kids_of(self, rep: Representation) -> tuple[str, ...]:
        """The refused KIDs ``rep`` needs: declared by the manifest or named by its init."""
        kids = {k for k in rep.kids if k in self.refused_kids}
        return tuple(sorted(kids.union(self.refused_renditions.get(rep.id, ()))))

    def restrict_keys(self, refusal: Refusal) -> None:
        """Take the renditions whose KIDs were refused out of the ladders (Shaka's way).

        Emits ``RenditionsRestricted`` per track changed (and ``VariantSwitched`` when the
        video rendition in use goes); a track left with nothing fails the session with
        ``KeysNotGranted``.
        """
        self.refused_kids.update(refusal.kids)
        if refusal.rendition is not None:
            self.refused_renditions[refusal.rendition] = tuple(sorted(refusal.kids))
        now = self.parts.clock.now()
        for track in self.media_tracks:
            gone = {r.id: self.refused_kids_of(r) for r in track.ladder}
            gone = {rep_id: kids for rep_id, kids in gone.items() if kids}
            if not gone:
                continue
            kids = tuple(sorted({k for refused in gone.values() for k in refused}))
            before = track.representation().id if track.current is not None else None
            pin = self.pinned_video if track.kind == "video" else None
            pinned = track.ladder[pin].id if pin is not None else None
            track.drop(set(gone))
            reason = "; ".join(sorted({self.refused_kids[k] for k in kids}))
            kept = tuple(r.id for r in track.ladder)
            self.emit(
                RenditionsRestricted(
                    at_s=now, track=track.kind, removed_ids=tuple(sorted(gone)),
                    kept_ids=kept, kids=kids, reason=reason,
                )
            )  # fmt: skip
            if not track.ladder:
                self.fail(KeysNotGranted(
                    f"the license server refused the keys of every {track.kind} rendition "
                    f"({', '.join(sorted(gone))}; KID {kids[0]}: {reason})",
                    track=track.kind, kids=kids,
                ))  # fmt: skip
                break
            if pinned is not None:
                self.pinned_video = kept.index(pinned) if pinned in kept else None
            if before in gone and track.current is not None:
                self.emit(
                    VariantSwitched(
                        at_s=now, from_id=before, to_id=kept[track.current],
                        bitrate_bps=track.representation().bandwidth_bps,
                        reason=SwitchReason.FAILOVER, detail="keys not granted",
                    )
                )  # fmt: skip
        self.wake()

    # -- downloads (player/_downloads.py) -------------------------------------------------

    def locations(self, urls: tuple[str, ...]) -> tuple[str, ...]:
        """Add the configured alternate origins to a resource's locations."""
        return self.downloads.locations(urls)


def wall_clock_offset(clock: Clock) -> float:
    """Return ``time.time() - clock.now()``: add it to session time to get UTC epoch seconds."""
    return time.time() - clock.now()
