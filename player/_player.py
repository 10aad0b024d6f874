"""The public, async ``Player``: load a URL, play, pause, seek, read events and stats."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

from abr import Controller, EwmaEstimator, HybridController, ThroughputEstimator
from player._clock import Clock, RealClock
from player._cmcd_requests import CmcdRequests
from player._hub import EventHub, Listener
from player._parts import Fetcher, Refusal, SessionParts
from player._pathways import build_selector
from player._pipeline import MediaProcessor
from player._protection import DrmProcessor
from player._session import PlaybackSession, wall_clock_offset
from player._state import PlaybackState
from player._stats import PlaybackStats, StatsCollector
from player._steering_runner import SteeringRunner
from player._thumbnails import Thumbnail, ThumbnailRuntime
from player._track_runtime import TrackRuntime
from player._tracks import choose_tracks, segment_at, video_ladder
from player.config import PlayerConfig
from player.errors import KeysNotGranted, UsageError
from player.events import Cue, Event, ManifestLoaded, PlaybackStarted, event_to_json
from player.heartbeat._bridge import HeartbeatBridge
from player.heartbeat._delivery import HttpCall, http_call_via
from player.heartbeat._model import PlaybackSnapshot, heartbeat_state
from player.heartbeat._resume import fetch_resume_position
from player.manifest import (
    Presentation,
    PresentationType,
    Representation,
    StreamFormat,
    TrackType,
    load_media_playlist,
    parse_manifest,
)
from transport import HealthTracker, HttpClient, Response, with_alternates

__all__ = ["Player"]

_log = logging.getLogger(__name__)


class Player:
    """Plays one presentation at a time, headless.

    Args:
        config: Settings for every package.
        clock: Session clock; ``RealClock`` by default, ``VirtualClock`` for fast QA runs.
        controller: Video ABR controller; ``HybridController(config.abr)`` by default.
        estimator: Throughput estimator; ``EwmaEstimator(config.abr)`` by default.
        http: Transport client; an ``HttpClient(config.transport)`` owned by the player
            by default (a given one is not closed by ``aclose``).
        processor: Decryption stage; by default ClearKey/CENC/AES through ``config.drm``
            (clear content passes through).
        viewer_id: Viewer whose position heartbeats report (``config.heartbeat``).
        device_id: This device, for heartbeats; a random id per player by default.

    Example:
        >>> import asyncio
        >>> async def main() -> None:
        ...     async with Player() as player:
        ...         pass
        >>> asyncio.run(main())
    """

    def __init__(
        self,
        config: PlayerConfig | None = None,
        *,
        clock: Clock | None = None,
        controller: Controller | None = None,
        estimator: ThroughputEstimator | None = None,
        http: Fetcher | None = None,
        processor: MediaProcessor | None = None,
        viewer_id: str | None = None,
        device_id: str | None = None,
    ) -> None:
        self.config = config or PlayerConfig()
        self.clock: Clock = clock or RealClock()
        self.controller: Controller = controller or HybridController(self.config.abr)
        self.estimator: ThroughputEstimator = estimator or EwmaEstimator(self.config.abr)
        self._owns_http = http is None
        self.http: Fetcher = (
            http if http is not None else HttpClient(self.config.transport, clock=self.clock.now)
        )
        # Pathway penalties live in the transport's edge health when both tell time alike:
        # the player's own client (built on the session clock), or a given one on real time.
        self._shares_health = isinstance(self.http, HttpClient) and (
            http is None or isinstance(self.clock, RealClock)
        )
        self._health = (
            self.http.policy.health
            if isinstance(self.http, HttpClient) and self._shares_health
            else HealthTracker(self.config.transport.retry)
        )
        self._steering: SteeringRunner | None = None
        self._steering_task: asyncio.Task[None] | None = None
        self._hub = EventHub(max_backlog=self.config.playback.max_event_backlog)
        self._stats = StatsCollector()
        self._cmcd = CmcdRequests(self.config.cmcd)
        self._session: PlaybackSession | None = None
        self.processor: MediaProcessor = processor or DrmProcessor(
            self.config,
            http=self.http,
            clock=self.clock,
            emit=self._emit,
            outgoing=lambda urls: self._cmcd.outgoing_key(urls, self._session),
            on_refused=self._on_keys_refused,
        )
        self._task: asyncio.Task[None] | None = None
        self._audio_language: str | None = None
        self._timeline: list[dict[str, Any]] = []
        self._origin_s = 0.0
        self._sampler: asyncio.Task[None] | None = None
        self.viewer_id = viewer_id
        self.device_id = device_id or f"device-{secrets.token_hex(6)}"
        self._heartbeats: HeartbeatBridge | None = None
        self._thumbnails: ThumbnailRuntime | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Player:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def load(
        self,
        url: str,
        *,
        start_at_s: float | None = None,
        autoplay: bool = True,
        title_id: str | None = None,
        resume: bool = False,
    ) -> Presentation:
        """Fetch and parse the manifest, choose tracks and start buffering.

        Args:
            url: Manifest URL (http or https).
            start_at_s: Start position in seconds (VOD); live starts near the live edge.
            autoplay: Start playing as soon as the startup buffer is full.
            title_id: Title for heartbeats and resume (needs ``config.heartbeat.service_url``
                and the player's ``viewer_id``).
            resume: Start where this viewer last stopped this title, as the session
                service knows it; a late or missing answer starts at ``start_at_s`` after
                at most ``config.heartbeat.resume_timeout_s``.

        Returns:
            The parsed presentation (media playlists loaded for the chosen HLS tracks).

        Raises:
            UsageError: A presentation is already loaded.
            ManifestError: The manifest is malformed or unsupported.
            TransportError: The manifest could not be fetched.
        """
        if self._session is not None:
            raise UsageError("load() was already called; create a new Player or aclose() first")
        load_at = self._origin_s = self.clock.now()
        if resume:
            start_at_s = await self._resume_position(title_id, default=start_at_s)
        presentation = await self._fetch_presentation(url)
        session = PlaybackSession(self._parts(), presentation, load_at=load_at)
        session.is_paused_by_user = not autoplay
        session.machine.move(PlaybackState.LOADING)
        self._session = session
        session.setup_tracks(audio_language=self._audio_language)
        await self._start_steering(session)
        presentation = await self._load_media_playlists(session)
        session.presentation = presentation
        self._refresh_ladders(session)
        session.playhead.seek(self._start_position(session, start_at_s), now=self.clock.now())
        session.refresher = self._refresh
        await self._start_heartbeats(session, title_id)
        self._emit_loaded(session)
        prefetch = getattr(self.processor, "prefetch", None)
        if prefetch is not None:
            prefetch([rep for track in session.tracks for rep in track.ladder])
        self._task = asyncio.create_task(session.run(), name="player-session")
        self._sampler = asyncio.create_task(self._sample_periodically(), name="player-timeline")
        return presentation

    async def _start_steering(self, session: PlaybackSession) -> None:
        """Build the pathway selector and start the steering requests.

        With DASH ``queryBeforeStart``, wait (bounded) for the first answer before any
        segment request.
        """
        selector = build_selector(
            session.presentation, self.config, health=self._health, now=self.clock.now()
        )
        session.selector = selector
        session.downloads.shares_health = self._shares_health
        if selector is None or selector.origin.server_url is None:
            return
        if not self.config.steering.is_enabled:
            return
        runner = SteeringRunner(
            selector,
            http=self.http,
            clock=self.clock,
            config=self.config.steering,
            emit=self._emit,
            outgoing=lambda urls: self._cmcd.outgoing_steering(urls, self._session),
        )
        self._steering = runner
        self._steering_task = asyncio.create_task(runner.run(), name="player-steering")
        if selector.origin.query_before_start and selector.next_request_at() is not None:
            await runner.first_answer(self.config.steering.start_timeout_s)

    @property
    def steering_requests(self) -> list[str]:
        """Every content steering URL requested so far, in order."""
        return list(self._steering.requests) if self._steering is not None else []

    @property
    def pathway(self) -> str | None:
        """The content steering pathway of the latest media request, if any."""
        session = self._session
        selector = session.selector if session is not None else None
        return selector.current if selector is not None else None

    def _emit(self, event: Event) -> None:
        # Parts stamp events with the clock's time; users get seconds since load().
        event = dataclasses.replace(event, at_s=event.at_s - self._origin_s)
        if isinstance(event, PlaybackStarted) and self._steering is not None:
            self._steering.on_playback_started()
        self._stats.on_event(event)
        self._hub.emit(event)
        self._sample(event.at_s)
        if self._heartbeats is not None:
            self._heartbeats.on_event(event)

    def _on_keys_refused(self, refusal: Refusal) -> None:
        """A partial licence: the session takes the refused renditions out of its ladders."""
        if self._session is not None:
            self._session.restrict_keys(refusal)

    def _heartbeat_call(self) -> HttpCall | None:
        if self.config.heartbeat.service_url is None or not isinstance(self.http, HttpClient):
            return None
        return http_call_via(self.http)

    async def _resume_position(
        self, title_id: str | None, *, default: float | None
    ) -> float | None:
        call = self._heartbeat_call()
        if call is None or self.viewer_id is None or title_id is None:
            raise UsageError("resume=True needs heartbeat.service_url, viewer_id and title_id")
        with self.clock.busy():
            found = await fetch_resume_position(
                self.config.heartbeat, call, viewer_id=self.viewer_id, title_id=title_id
            )
        return found.position_s if found is not None else default

    async def _start_heartbeats(self, session: PlaybackSession, title_id: str | None) -> None:
        call = self._heartbeat_call()
        if call is None or self.viewer_id is None or title_id is None:
            return
        bridge = HeartbeatBridge(
            self.config.heartbeat,
            call=call,
            clock=self.clock,
            wall=session.wall_now,
            snapshot=self._snapshot,
            emit=self._emit,
            on_terminate=session.fail,
        )
        await bridge.start(viewer_id=self.viewer_id, title_id=title_id, device_id=self.device_id)
        self._heartbeats = bridge

    def _snapshot(self) -> PlaybackSnapshot:
        session = self._require()
        video = session.video()
        bitrate = video.representation().bandwidth_bps if video and video.current is not None else 0
        return PlaybackSnapshot(
            position_s=session.live_position_s(self.clock.now()),
            state=heartbeat_state(session.state),
            bitrate_bps=bitrate,
            buffer_s=self.buffer_s,
        )

    def _sample(self, at_s: float) -> None:
        session = self._session
        if session is None or len(self._timeline) >= self.config.playback.max_event_backlog:
            return
        video = session.video()
        bitrate = video.representation().bandwidth_bps if video and video.current is not None else 0
        sample: dict[str, Any] = {
            "at_s": at_s,
            "position_s": session.live_position_s(at_s + self._origin_s),
            "buffer_s": self.buffer_s,
            "bitrate_bps": bitrate,
            "estimate_bps": self._stats.estimated_bandwidth_bps,
            "state": session.state.value,
        }
        if session.text.was_selected:
            sample["cues"] = [cue.text for cue in session.text.at(sample["position_s"])]
        self._timeline.append(sample)

    async def _sample_periodically(self) -> None:
        interval = self.config.playback.timeline_interval_s
        task = self._task
        while task is not None and not task.done():
            await self.clock.sleep(interval)
            self._sample(self.clock.now() - self._origin_s)

    def timeline(self) -> list[dict[str, Any]]:
        """Samples of position, buffer, video bitrate and bandwidth estimate.

        One sample at every event and one every ``playback.timeline_interval_s`` of session
        time in between; ``at_s`` is seconds since ``load()``, as in events.
        """
        return list(self._timeline)

    def _parts(self) -> SessionParts:
        return SessionParts(
            config=self.config,
            clock=self.clock,
            http=self.http,
            controller=self.controller,
            estimator=self.estimator,
            processor=self.processor,
            hub=self._hub,
            stats=self._stats,
            emit=self._emit,
            cmcd=self._cmcd,
        )

    async def _fetch_manifest(
        self,
        urls: tuple[str, ...],
        presentation: Presentation | None,
        state: PlaybackState,
        **planned: Any,
    ) -> Response:
        """Fetch a manifest or playlist (with CMCD ``ot=m`` when enabled).

        ``planned`` are the ``RequestPlanner``'s ``edges`` and ``headers``, if it planned it.
        """
        send = self._cmcd.outgoing(urls, self._cmcd.for_manifest(presentation, state=state))
        headers = {**(planned.pop("headers", None) or {}), **(send.headers or {})}
        with self.clock.busy():
            response = await self.http.fetch(send.urls, headers=headers or None, **planned)
        return self._cmcd.restore(response)

    async def _fetch_presentation(self, url: str) -> Presentation:
        # alternate origins serve the manifest too (docs/configuration.md); relative URLs
        # still resolve against the given one, so every later request lists them as well
        locations = with_alternates((url,), self.config.playback.alternate_origins)
        response = await self._fetch_manifest(locations, None, PlaybackState.LOADING)
        now = self.clock.now() + wall_clock_offset(self.clock)
        base = url if response.url in locations else response.url
        return parse_manifest(response.content, url=base, now=now, config=self.config.manifest)

    async def _load_media_playlists(
        self, session: PlaybackSession, *, reload: bool = False
    ) -> Presentation:
        """Fetch the HLS media playlists of the tracks in use and merge them in.

        Args:
            session: The session whose tracks' playlists are wanted.
            reload: Fetch every playlist in use (live refresh), not only those not yet loaded.
        """
        presentation = session.presentation
        if presentation.format != StreamFormat.HLS or not presentation.is_multivariant:
            return presentation
        reps = [
            rep
            for track in session.tracks
            for rep in track.ladder
            if reload or rep.segments is None
        ]

        async def fetch(rep: Representation) -> tuple[bytes, str]:
            request = session.planner.plan(rep, rep.playlist_urls, is_playlist=True)
            response = await self._fetch_manifest(
                request.urls,
                presentation,
                session.state,
                edges=request.edges,
                headers=request.headers,
            )
            return response.content, response.url

        bodies = await asyncio.gather(*(fetch(rep) for rep in reps))
        now = session.wall_now()
        for rep, (body, final_url) in zip(reps, bodies, strict=True):
            presentation = load_media_playlist(
                presentation, rep.id, body, url=final_url, now=now, config=self.config.manifest
            )
        return presentation

    async def _refresh(self, presentation: Presentation) -> Presentation:
        """Reload a live presentation: the MPD, or the HLS media playlists in use."""
        session = self._require()
        if presentation.format == StreamFormat.HLS and presentation.is_multivariant:
            return await self._load_media_playlists(session, reload=True)
        url = presentation.location or presentation.url
        response = await self._fetch_manifest(
            session.locations((url,)), presentation, session.state
        )
        return parse_manifest(
            response.content, url=response.url, now=session.wall_now(), config=self.config.manifest
        )

    def _refresh_ladders(self, session: PlaybackSession) -> None:
        period = session.presentation.periods[session.period_index]
        reps = {rep.id: rep for rep in period.representations()}
        for track in session.tracks:
            track.ladder = tuple(reps.get(rep.id, rep) for rep in track.ladder)

    def _start_position(self, session: PlaybackSession, start_at_s: float | None) -> float:
        presentation = session.presentation
        if presentation.type != PresentationType.DYNAMIC:
            return max(0.0, start_at_s or 0.0)
        video = session.video() or session.tracks[0]
        segments = video.representation().segments or ()
        if not segments:
            return 0.0
        delay = self.config.playback.live_delay_segments * segments[-1].duration_s
        target = max(segments[0].start_s, segments[-1].end_s - delay)
        found = segment_at(segments, target, tolerance_s=0.0)  # O(log n), not a scan
        return (found or segments[-1]).start_s

    def _emit_loaded(self, session: PlaybackSession) -> None:
        presentation = session.presentation
        video = session.video()
        ladder = tuple(r.bandwidth_bps for r in video.ladder) if video else ()
        event = ManifestLoaded(
            at_s=self.clock.now(),
            url=presentation.url,
            format=presentation.format.value,
            is_live=presentation.is_live,
            duration_s=presentation.duration_s,
            video_bitrates_bps=ladder,
        )
        self._emit(event)

    def _require(self) -> PlaybackSession:
        if self._session is None:
            raise UsageError("call load() first")
        return self._session

    def play(self) -> None:
        """Start or resume playback."""
        self._require().play()

    def pause(self) -> None:
        """Pause playback; buffering continues up to the goal."""
        self._require().pause()

    def seek(self, position_s: float) -> None:
        """Seek to ``position_s`` seconds."""
        self._require().seek(position_s)

    def pin_video(self, representation_id: str | None) -> None:
        """Play only this video rendition (``None`` returns to adaptive choice).

        Raises:
            UsageError: No such rendition in the ladder.
        """
        session = self._require()
        video = session.video()
        if representation_id is None or video is None:
            session.pinned_video = None
            return
        ids = [r.id for r in video.ladder]
        if representation_id not in ids:
            raise UsageError(f"no video rendition {representation_id!r}; have {ids}")
        session.pinned_video = ids.index(representation_id)
        session.wake()

    async def select_audio_language(self, language: str) -> None:
        """Switch audio to the track for ``language`` (BCP 47, prefix match)."""
        self._audio_language = language
        session = self._session
        if session is None:
            return
        period = session.presentation.periods[session.period_index]
        choice = choose_tracks(period, self.config.playback, audio_language=language)
        audio = next((t for t in session.tracks if t.kind == "audio"), None)
        if choice.audio is None or audio is None or choice.audio.id == audio.track.id:
            return
        reps = tuple(sorted(choice.audio.representations, key=lambda r: r.bandwidth_bps))[-1:]
        audio.track, audio.ladder, audio.current = choice.audio, reps, 0
        presentation = await self._load_media_playlists(session)
        session.presentation = presentation
        self._refresh_ladders(session)
        audio.buffer.clear()
        audio.needs_reset = True
        session.wake()

    async def select_text_language(self, language: str | None) -> None:
        """Show subtitles in ``language`` (BCP 47, prefix match); ``None`` turns them off.

        Works mid-playback: the cues shown exit (``CueExited``), the new track's segments
        are fetched from the playhead on, and its cues enter as they load. Cues of a
        language selected before are kept (switching back shows them at once).

        Raises:
            UsageError: No text track for ``language`` in the current period.
        """
        session = self._require()
        period = session.presentation.periods[session.period_index]
        choice = None
        if language is not None:
            choice = choose_tracks(period, self.config.playback, text_language=language)
            if choice.text is None:
                have = [t.language or "und" for t in period.tracks_of(TrackType.TEXT)]
                raise UsageError(f"no text track for language {language!r}; have {have}")
        session.tracks = [t for t in session.tracks if t.kind != "text"]
        if choice is not None and choice.text is not None:
            reps = tuple(sorted(choice.text.representations, key=lambda r: r.bandwidth_bps))[-1:]
            session.tracks.append(TrackRuntime("text", choice.text, reps, current=0))
            session.presentation = await self._load_media_playlists(session)
            self._refresh_ladders(session)
        session.text.on_track_changed(now=self.clock.now())
        session.wake()

    def text_languages(self) -> list[str]:
        """Languages of the text tracks of the current period (``und`` when undeclared)."""
        session = self._require()
        period = session.presentation.periods[session.period_index]
        return [t.language or "und" for t in period.tracks_of(TrackType.TEXT)]

    def text_cues(self) -> list[Cue]:
        """Every cue loaded for the selected text track, in start order, each once.

        Cues stay after a seek (seeking back shows them again without a download); at most
        ``TextConfig.max_cues_kept`` are kept.
        """
        session = self._session
        return list(session.text.cues()) if session is not None else []

    def active_cues(self) -> list[Cue]:
        """The cues the playhead is in now (what a renderer shows), in start order."""
        session = self._session
        return list(session.text.active()) if session is not None else []

    def cap_video(
        self, *, max_height: int | None = None, max_bitrate_bps: int | None = None
    ) -> None:
        """Limit the renditions the ABR controller may choose (``None`` lifts a cap).

        Raises:
            RestrictionsNotMet: The caps leave no rendition (nothing changes).
            KeysNotGranted: They leave only renditions whose keys were refused.
        """
        session = self._require()
        video = session.video()
        if video is None:
            return
        playback = dataclasses.replace(
            self.config.playback, max_video_height=max_height, max_video_bitrate_bps=max_bitrate_bps
        )
        old = video.representation() if video.current is not None else None
        capped = video_ladder(video.track, playback)
        ladder = session.playable(capped)
        if not ladder:
            raise KeysNotGranted(
                f"max_height={max_height} and max_bitrate_bps={max_bitrate_bps} leave only "
                f"video renditions whose keys the license server refused "
                f"({', '.join(r.id for r in capped)})",
                track="video",
                kids=tuple(sorted({k for r in capped for k in session.refused_kids_of(r)})),
            )
        loaded = {rep.id: rep for rep in video.ladder}
        video.ladder = tuple(loaded.get(rep.id, rep) for rep in ladder)
        video.excluded.clear()
        if old is not None:
            by_id = [rep.id for rep in video.ladder]
            video.current = by_id.index(old.id) if old.id in by_id else len(by_id) - 1
        session.wake()

    def video_renditions(self) -> list[dict[str, Any]]:
        """The video ladder: id, bandwidth and size of each rendition."""
        session = self._require()
        video = session.video()
        if video is None:
            return []
        return [
            {"id": r.id, "bandwidth_bps": r.bandwidth_bps, "width": r.width, "height": r.height}
            for r in video.ladder
        ]

    # -- thumbnails (image tracks) -------------------------------------------------------

    def _thumbnail_runtime(self) -> ThumbnailRuntime:
        session = self._require()
        if self._thumbnails is None or self._thumbnails.host is not session:
            self._thumbnails = ThumbnailRuntime(
                session,
                config=self.config,
                http=self.http,
                clock=self.clock,
                fetch_playlist=lambda urls, edges, headers: self._fetch_manifest(
                    urls, session.presentation, session.state, edges=edges, headers=headers
                ),
            )
        return self._thumbnails

    async def thumbnail_at(
        self, position_s: float, *, representation_id: str | None = None
    ) -> Thumbnail:
        """The thumbnail for a position, from the presentation's image track.

        Fetches the image that holds it (HLS: the image playlist first, on first use) through
        the transport with the session's failover and content steering, and keeps the last
        ``config.thumbnails.max_cached_images`` images, so neighbouring thumbnails cost no
        request. ``decode_thumbnail(thumbnail)`` gives its pixels. Works during playback and
        after it ended or stopped (until ``aclose``); playback is never affected.

        Args:
            position_s: Presentation time, seconds.
            representation_id: The image representation to use; by default the best one
                (highest bandwidth, then largest thumbnails; see ``thumbnail_renditions``).

        Returns:
            The image, the thumbnail's crop rectangle in it, its MIME type and its time span.

        Raises:
            ThumbnailUnavailable: No image track, or no image covers ``position_s``.
            ThumbnailImageError: The image is not a JPEG or PNG, or is too large.
            ManifestError: The HLS image playlist is malformed.
            TransportError: The image (or its playlist) could not be fetched.
            UsageError: ``load()`` was not called, or no such image representation.
        """
        runtime = self._thumbnail_runtime()
        return await runtime.thumbnail_at(position_s, representation_id)

    async def thumbnail_times(
        self, start_s: float, end_s: float, *, representation_id: str | None = None
    ) -> list[tuple[float, float]]:
        """``(start_s, duration_s)`` of every thumbnail shown between two positions.

        At most ``config.thumbnails.max_export_count``, in time order; gaps are skipped. Loads
        the HLS image playlist if needed, fetches no image.

        Raises:
            ThumbnailUnavailable: No image track.
            ManifestError: The HLS image playlist is malformed.
            TransportError: The HLS image playlist could not be fetched.
            UsageError: ``load()`` was not called, or no such image representation.
        """
        runtime = self._thumbnail_runtime()
        limit = self.config.thumbnails.max_export_count
        slots = await runtime.slots(start_s, end_s, representation_id, limit=limit)
        return [(slot.start_s, slot.duration_s) for slot in slots]

    def thumbnail_renditions(self, position_s: float = 0.0) -> list[dict[str, Any]]:
        """The image representations of the period at ``position_s``, best first.

        Each: ``id``, ``bandwidth_bps``, ``width``/``height`` (as the manifest declares:
        HLS one thumbnail, DASH a whole image), ``mime_type``, ``codecs``, ``grid``
        (``[columns, rows]``, once known and if every image shares it), ``tile_size`` and
        ``image_duration_s``.
        """
        return self._thumbnail_runtime().renditions(position_s)

    def audio_languages(self) -> list[str]:
        """Languages of the audio tracks of the current period."""
        session = self._require()
        period = session.presentation.periods[session.period_index]
        return [t.language or "und" for t in period.tracks_of(TrackType.AUDIO)]

    # -- observation ---------------------------------------------------------------------

    @property
    def state(self) -> PlaybackState:
        """Current playback state (``idle`` before ``load``)."""
        return self._session.state if self._session else PlaybackState.IDLE

    @property
    def position_s(self) -> float:
        """Playhead position in seconds, as of now (also while the session loop sleeps)."""
        return self._session.live_position_s(self.clock.now()) if self._session else 0.0

    @property
    def buffer_s(self) -> float:
        """Seconds buffered ahead (the shortest of video and audio)."""
        session = self._session
        if session is None:
            return 0.0
        position = session.live_position_s(self.clock.now())
        levels = [t.buffer.level_s(position) for t in session.media_tracks]
        return min(levels) if levels else 0.0

    @property
    def presentation(self) -> Presentation | None:
        """The loaded presentation."""
        return self._session.presentation if self._session else None

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(event)`` synchronously for every event."""
        self._hub.add_listener(listener)

    def events(self) -> AsyncIterator[Event]:
        """Iterate over events from now until the session ends: ``async for e in p.events()``."""
        return self._hub.stream()

    def event_log(self) -> list[dict[str, Any]]:
        """Every event so far (bounded), as JSON-ready dicts."""
        return [event_to_json(e) for e in self._hub.log]

    def stats(self) -> PlaybackStats:
        """Figures so far (see ``PlaybackStats``)."""
        session = self._session
        ongoing = session.ongoing_stall_s(self.clock.now()) if session is not None else 0.0
        return self._stats.snapshot(ongoing_stall_s=ongoing, now=self.clock.now() - self._origin_s)

    def frame_times(self, kind: str = "video") -> list[float]:
        """Presentation times of every frame decoded on a track, in decode order.

        ``audio`` gives the audio muxed into the video segments (MPEG-TS variants) when no
        separate audio track plays.
        """
        session = self._require()
        for track in session.tracks:
            if track.kind == kind and track.tally.pts_s is not None:
                return list(track.tally.pts_s)
        video = session.video()
        muxed = video.tally.muxed_audio if video is not None else None
        if kind == "audio" and muxed is not None and muxed.pts_s is not None:
            return list(muxed.pts_s)
        return []

    def frame_hashes(self, kind: str = "video") -> list[str]:
        """Digest of every picture decoded on a track, in the order of ``frame_times``.

        Filled when ``PlaybackConfig.hash_frames`` is on (video only). Each entry is the
        SHA-1 of the picture's visible plane samples (see docs/qa.md, "Frame hashes"), so
        pictures can be compared with a decode of the clear source.

        Args:
            kind: ``video`` (the only kind hashed).

        Returns:
            40-hex-digit digests; empty when hashing was off.
        """
        session = self._require()
        for track in session.tracks:
            if track.kind == kind and track.tally.frame_hashes is not None:
                return list(track.tally.frame_hashes)
        return []

    async def wait(self, *, timeout_s: float | None = None) -> PlaybackState:
        """Wait until playback ends, fails or is stopped; returns the final state.

        Args:
            timeout_s: Real seconds to wait at most; ``None`` waits indefinitely.

        Raises:
            TimeoutError: ``timeout_s`` passed first.
        """
        task = self._task
        if task is None:
            raise UsageError("call load() first")
        await asyncio.wait_for(asyncio.shield(task), timeout=timeout_s)
        return self.state

    async def stop(self) -> None:
        """Stop playback and the session task (the player can then be closed).

        Queued heartbeats are sent within a bounded time; the durable outbox keeps the
        rest for the next start.
        """
        session, task = self._session, self._task
        if self._steering_task is not None:
            self._steering_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._steering_task
            self._steering_task = None
        if session is not None:
            session.settle(self.clock.now())  # time played up to now counts
            session.stop()
        sampler, self._sampler = self._sampler, None
        if sampler is not None:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        if self._heartbeats is not None:
            bridge, self._heartbeats = self._heartbeats, None
            await bridge.close()
        self._hub.close()

    async def aclose(self) -> None:
        """Stop and release connections."""
        await self.stop()
        if self._owns_http:
            closer = getattr(self.http, "aclose", None)
            if closer is not None:
                await closer()

    @property
    def error(self) -> BaseException | None:
        """The fatal error, if playback failed."""
        return self._session.fatal_error if self._session else None
