"""The session's download pipeline: rung choice, fetch with failover, abandonment, decrypt, decode.

``SegmentDownloader`` belongs to one ``PlaybackSession`` and does the I/O for it: it asks
the ABR controller for a rung, fetches the init and media segment through the transport
(streaming video so the controller can advise abandoning it), feeds the estimator, hands
the bytes to the DRM stage and the decoder, and puts the segment in the track's buffer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol

from abr import AbandonProgress, AbrState, DownloadReport
from drm import DrmError
from player._avsync import AvOffsets, RunStart
from player._buffer import BufferedSegment, Playhead
from player._cmcd_requests import Requested, outgoing_for, restored
from player._decode import DecodeResult
from player._parts import SessionParts
from player._pathways import MediaRequest, RequestPlanner
from player._pipeline import decode_segment
from player._ranges import RangeGuard, check_ranged, from_memory, is_from_memory
from player._segment_index import IndexLoader, with_loaded_index
from player._state import PlaybackState
from player._text import TextRuntime
from player._track_runtime import TrackRuntime
from player.errors import RangeResponseError
from player.events import (
    EdgeFailedOver,
    ErrorOccurred,
    Event,
    PathwayChanged,
    SegmentDownloaded,
    SwitchReason,
    VariantSwitched,
)
from player.manifest import ByteRange, Presentation, Representation, Segment
from player.steering import PathwaySelector
from transport import (
    AllEdgesFailed,
    Response,
    StreamingResponse,
    TransportError,
    with_alternates,
)

__all__: list[str] = []

_EDGE_S = 1e-3
"""Segment starts this close to a period's start open it (timelines round; not a tunable)."""


class DownloadHost(Protocol):
    """What the downloader needs of its session (``PlaybackSession`` satisfies it).

    Passing the session in through this role keeps ``_downloads`` free of an import of
    ``_session`` (the session builds its downloader, not the other way round).
    """

    parts: SessionParts
    presentation: Presentation
    pinned_video: int | None
    playhead: Playhead
    period_index: int
    tracks: list[TrackRuntime]
    planner: RequestPlanner
    selector: PathwaySelector | None
    text: TextRuntime

    @property
    def state(self) -> PlaybackState:
        """The state machine's state."""
        ...

    @property
    def position_s(self) -> float:
        """Playhead position, seconds."""
        ...

    def live_position_s(self, now: float) -> float:
        """Where the playhead is at ``now``, between loop turns too."""
        ...

    def emit(self, event: Event) -> None:
        """Deliver one event to stats, the hub and sampling."""
        ...

    def limit(self) -> float:
        """The buffered end the playhead may advance to, seconds."""
        ...

    def catch_up(self, now: float) -> None:
        """Advance the playhead to ``now`` against the buffers as they are.

        A stall that began while a download was in flight then starts when the buffer ran out.
        """
        ...


class _Abandoned(Exception):
    """A video download was abandoned on the controller's advice (private to the session)."""

    def __init__(self, to_index: int, nbytes: int) -> None:
        super().__init__(f"abandoned for rung {to_index}")
        self.to_index = to_index
        self.nbytes = nbytes


class SegmentDownloader:
    """Fetches, decrypts, decodes and buffers segments for one session."""

    def __init__(self, session: DownloadHost) -> None:
        self.session = session
        self.av_offsets = AvOffsets()
        config = session.parts.config
        self.ranges = RangeGuard(cache_bytes=config.playback.whole_file_cache_bytes)
        self.indexes = IndexLoader(self.fetch_range, config=config.manifest)
        self.shares_health = True
        """The transport records each location's failures in the selector's health tracker
        (it is the player's ``HttpClient``); otherwise the downloader reports them."""
        self._last_pathway: str | None = None

    def _choose_video(self, track: TrackRuntime, segment: Segment, now: float) -> tuple[int, str]:
        """The rung for ``segment`` and why (the controller's reason, or ``manual``)."""
        if (
            self.session.pinned_video is not None
            and self.session.pinned_video not in track.excluded
        ):
            return self.session.pinned_video, "manual"
        est = self.session.parts.estimator
        rep = track.representation()
        segments = rep.segments
        total = (
            len(segments)
            if segments is not None and not self.session.presentation.is_live
            else None
        )
        # the controller counts segments from 0 (how many remain, where look-ahead starts);
        # manifests number them from anywhere (DASH startNumber, HLS media sequence)
        index = segment.number - segments[0].number if segments else None
        state = AbrState(
            now=now,
            buffer_s=track.buffer.level_s(self.session.position_s),
            throughput_bps=est.estimate_bps(now),
            ladder=track.rungs,
            current=track.current,
            excluded=frozenset(track.excluded),
            latency_s=est.estimate_latency_s(now),
            segment_duration_s=segment.duration_s,
            segment_index=index,
            segments_total=total,
            # requests go out while less than the goal is buffered: the level peaks just
            # under goal + one segment, the cap in the simulator's sense (SimMode.max_buffer_s)
            max_buffer_s=self.session.parts.config.playback.buffering_goal_s + segment.duration_s,
        )
        decision = self.session.parts.controller.select(state)
        return decision.index, decision.reason.value

    async def download(self, track: TrackRuntime) -> None:
        """Fetch the next segment of ``track`` (its rung's segment index first, if pending)."""
        if not await self._ensure_index(track, track.index_or_current()):
            return
        now = self.session.parts.clock.now()
        segment = track.next_segment(self.session.position_s)
        if segment is None:
            return
        if track.kind == "video":
            index, detail = self._choose_video(track, segment, now)
            if index != track.current:
                if not await self._ensure_index(track, index):
                    return
                reason = self._switch_reason(track)
                self._switch(track, index, now, reason=reason, detail=detail)
            segment = track.next_segment(self.session.position_s) or segment
        rep = track.representation()
        if self.session.text.reuse(track, rep, segment):
            return  # a text segment whose cues are already loaded (seek back)
        try:
            await self._fetch_segment(track, rep, segment)
        except _Abandoned as abandoned:
            self._on_abandoned(track, abandoned)
        except AllEdgesFailed as exc:
            if track.kind == "video" and self._exclude_and_retry(track, exc, track.current):
                return
            if not self.session.text.on_failed(track, rep, segment, exc):
                raise
        except (TransportError, RangeResponseError) as exc:
            if not self.session.text.on_failed(track, rep, segment, exc):
                raise  # text failures are reported and skipped; media failures end playback
        except DrmError:
            if rep.id in {r.id for r in track.ladder}:
                raise
            # its keys were refused meanwhile: it left the ladder (RenditionsRestricted)

    async def _ensure_index(self, track: TrackRuntime, index: int) -> bool:
        """Load rung ``index``'s segment index if pending; ``False``: it failed, try again.

        A video rung whose index cannot be fetched from any edge is excluded like a rung
        whose segments cannot be (while another rung remains); otherwise the error is raised.
        """
        if not track.ladder or not track.is_index_pending(index):
            return True
        try:
            await self.indexes.ensure(track, index, manifest_url=self.session.presentation.url)
        except AllEdgesFailed as exc:
            if track.kind == "video" and self._exclude_and_retry(track, exc, index):
                return False
            raise
        loaded = track.ladder[index]  # Player.presentation shows the loaded index too
        self.session.presentation = with_loaded_index(self.session.presentation, loaded)
        return True

    def _switch_reason(self, track: TrackRuntime) -> SwitchReason:
        if track.current is None:
            return SwitchReason.INITIAL
        if self.session.pinned_video is not None:
            return SwitchReason.MANUAL
        if track.current in track.excluded:
            return SwitchReason.FAILOVER
        return SwitchReason.ADAPTIVE

    def _switch(
        self, track: TrackRuntime, index: int, now: float, *, reason: SwitchReason, detail: str
    ) -> None:
        old = track.representation().id if track.current is not None else None
        track.current = index
        rep = track.ladder[index]
        self.session.emit(
            VariantSwitched(
                at_s=now,
                from_id=old,
                to_id=rep.id,
                bitrate_bps=rep.bandwidth_bps,
                reason=reason,
                detail=detail,
            )
        )

    def _exclude_and_retry(
        self, track: TrackRuntime, exc: AllEdgesFailed, index: int | None
    ) -> bool:
        if index is None or len(track.excluded) + 1 >= len(track.ladder):
            return False
        track.excluded.add(index)
        now = self.session.parts.clock.now()
        self.session.emit(
            ErrorOccurred(at_s=now, code=exc.code, message=str(exc), fatal=False, error=exc)
        )
        return True

    def locations(self, urls: tuple[str, ...]) -> tuple[str, ...]:
        """Add the configured alternate origins to a resource's locations."""
        return with_alternates(urls, self.session.parts.config.playback.alternate_origins)

    async def fetch_range(
        self,
        track: TrackRuntime,
        rep: Representation,
        urls: tuple[str, ...],
        byte_range: ByteRange,
        *,
        number: int,
    ) -> bytes:
        """Return exactly ``byte_range`` of ``urls``; report it as download ``number``.

        The ``RangeFetch`` role of ``IndexLoader``: ``number`` is ``-1`` (init) or ``-2``
        (segment index) in the ``SegmentDownloaded`` event.
        """
        span = (byte_range.first, byte_range.last)
        response = await self._fetch(track, rep, urls, span, what=Requested(rep))
        self._emit_download(track, rep, number, response, 0.0)
        return response.content

    async def _fetch(
        self,
        track: TrackRuntime,
        rep: Representation | None,
        urls: tuple[str, ...],
        byte_range: tuple[int, int] | None,
        *,
        what: Requested | None = None,
    ) -> Response:
        """Fetch with failover; a ranged answer is checked and cut (``RangeGuard``).

        The locations, their order and keys come from the session's ``RequestPlanner``. A
        range of a whole file kept in memory (its server ignores ``Range``) is answered from
        there: a response whose sample counts 0 bytes, fed to no estimator.
        """
        request = self.session.planner.plan(rep, urls)
        if byte_range is not None:
            whole = self.ranges.lookup(request.urls)
            if whole is not None:
                self._last_pathway = None
                return from_memory(whole, self.ranges.cut(whole, byte_range))
        clock = self.session.parts.clock
        send = outgoing_for(self.session, track, request, what)
        with clock.busy():
            try:
                response = await self.session.parts.http.fetch(
                    send.urls,
                    byte_range=byte_range,
                    edges=request.edges,
                    headers=send.headers,
                )
            except TransportError:
                self._on_request_failed(request)
                raise
        response = restored(self.session, response)
        sample = response.sample
        self._feed_estimator(sample.nbytes, sample.ttfb_s, sample.duration_s)
        self._note_edge(track, response, request)
        return self._checked(request.urls, response, byte_range)

    def _on_request_failed(self, request: MediaRequest) -> None:
        """Every location of ``request`` failed: penalise their pathways if nobody did."""
        selector = self.session.selector
        if selector is None or self.shares_health:
            return
        now = self.session.parts.clock.now()
        for pathway in dict.fromkeys(p for p in request.pathways if p is not None):
            selector.on_failure(pathway, now)

    def _on_served(self, request: MediaRequest, response: Response) -> None:
        """Tell the selector which pathway answered; report a change of pathway."""
        pathway = request.pathway_of(response.url)
        self._last_pathway = pathway
        selector = self.session.selector
        if selector is None or pathway is None:
            return
        now = self.session.parts.clock.now()
        planned = request.planned or pathway
        if planned != pathway and not self.shares_health:
            selector.on_failure(planned, now)
        change = selector.on_served(
            pathway,
            now,
            planned=planned,
            nbytes=response.sample.nbytes,
            duration_s=response.sample.duration_s,
        )
        if change is not None:
            self.session.emit(
                PathwayChanged(
                    at_s=now,
                    from_pathway=change.from_pathway,
                    to_pathway=change.to_pathway,
                    reason=change.reason,
                )
            )

    def _checked(
        self, urls: tuple[str, ...], response: Response, byte_range: tuple[int, int] | None
    ) -> Response:
        """The response with exactly the bytes asked for (see ``RangeGuard.on_response``)."""
        if byte_range is None:
            return response
        checked, ignored = check_ranged(
            self.ranges, urls, response, byte_range, now=self.session.parts.clock.now()
        )
        if ignored is not None:
            self.session.emit(ignored)
        return checked

    def _note_edge(self, track: TrackRuntime, response: Response, request: MediaRequest) -> None:
        self._on_served(request, response)
        clock = self.session.parts.clock
        if track.last_edge is not None and response.edge != track.last_edge:
            self.session.emit(
                EdgeFailedOver(
                    at_s=clock.now(),
                    from_edge=track.last_edge,
                    to_edge=response.edge,
                    error_code=self._last_failure_code(request.edge_of(track.last_edge)),
                    track=track.kind,
                )
            )
        track.last_edge = response.edge

    def _last_failure_code(self, edge: str) -> str:
        codes = getattr(self.session.parts.http, "last_failure_codes", None)
        code = codes.get(edge) if isinstance(codes, dict) else None
        return code if isinstance(code, str) else "transport.error"

    async def _ensure_init(
        self, track: TrackRuntime, rep: Representation, segment: Segment
    ) -> bytes:
        init_ref = segment.init or rep.init
        key = rep.id if init_ref is None else f"{rep.id}|{init_ref.url}|{init_ref.byte_range}"
        if key in track.inits:
            return track.inits[key]
        raw = b""
        prefetched = None if init_ref is None else self.indexes.take_init(init_ref)
        if init_ref is not None and init_ref.data is not None:
            raw = init_ref.data  # carried by the manifest (a data: URI): nothing to fetch
        elif prefetched is not None:
            raw = prefetched
        elif init_ref is not None:
            rng = init_ref.byte_range
            response = await self._fetch(
                track,
                rep,
                init_ref.urls,
                None if rng is None else (rng.first, rng.last),
                what=Requested(rep, next_segment=segment),
            )
            raw = response.content
            self._emit_download(track, rep, -1, response, 0.0)
        init_key = init_ref.key if init_ref is not None else None
        with self.session.parts.clock.busy():
            clear = await self.session.parts.processor.prepare_init(rep, raw, key=init_key)
        track.raw_inits[key] = raw if init_key is None else clear
        track.inits[key] = clear
        return clear

    async def _fetch_segment(
        self, track: TrackRuntime, rep: Representation, segment: Segment
    ) -> None:
        init = await self._ensure_init(track, rep, segment)
        rng = segment.byte_range
        byte_range = None if rng is None else (rng.first, rng.last)
        if (
            track.kind == "video"
            and track.current
            and hasattr(self.session.parts.http, "stream")
            and not self.ranges.expects_whole_file(self.locations(segment.urls))
        ):
            response = await self._stream_video(track, rep, segment, byte_range)
        else:
            what = Requested(rep, segment=segment)
            response = await self._fetch(track, rep, segment.urls, byte_range, what=what)
        clock = self.session.parts.clock
        self._report_download(track, response)
        init_ref = segment.init or rep.init
        key = rep.id if init_ref is None else f"{rep.id}|{init_ref.url}|{init_ref.byte_range}"
        with clock.busy():
            data = await self.session.parts.processor.process_segment(
                rep, segment, response.content, init=track.raw_inits.get(key, b"")
            )
            boundary = track.needs_reset or (
                track.last_discontinuity is not None
                and segment.discontinuity_seq != track.last_discontinuity
            )
            if track.decoder is not None:
                starts_run = boundary or track.tally.offset_s is None
                opens = self._opens_timeline(track, segment)
                result = await decode_segment(
                    track.decoder,
                    init,
                    data,
                    track.tally,
                    is_boundary=boundary,
                    start_s=segment.start_s,
                )
                if starts_run:
                    self._note_run_start(track.kind, segment, result, opens=opens)
                self._sync_decode_stats()
            await self.session.text.on_segment(
                track, rep, segment, init=init, data=data, url=response.url
            )
        track.needs_reset = False
        track.last_discontinuity = segment.discontinuity_seq
        # the buffer may have run dry while this segment was on its way: account for that
        # (a stall from the moment it ran out) before the segment extends it
        self.session.catch_up(clock.now())
        keep = self.session.parts.config.playback.keep_media
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
        self,
        track: TrackRuntime,
        rep: Representation,
        segment: Segment,
        byte_range: tuple[int, int] | None,
    ) -> Response:
        """Download a video segment, asking the controller whether to abandon it."""
        clock = self.session.parts.clock
        interval = self.session.parts.config.playback.abandon_check_interval_s
        chunks: list[bytes] = []
        request = self.session.planner.plan(rep, segment.urls)
        send = outgoing_for(self.session, track, request, Requested(rep, segment=segment))
        started = last_check = clock.now()
        with clock.busy(), self._failing(request):
            async with self.session.parts.http.stream(
                send.urls, byte_range=byte_range, edges=request.edges, headers=send.headers
            ) as body:
                size = (
                    body.expected_bytes
                    or track.representation().bandwidth_bps * segment.duration_s / 8
                )
                is_whole_file = byte_range is not None and body.status != 206
                async for chunk in body:
                    chunks.append(chunk)
                    now = clock.now()
                    if is_whole_file or now - last_check < interval:
                        continue  # a whole file sent for a range is kept, never abandoned
                    last_check = now
                    advice = self._abandon_advice(track, segment, body, size, now - started)
                    if advice is not None:
                        self._feed_estimator(body.nbytes, body.ttfb_s, now - started)
                        raise _Abandoned(advice, body.nbytes)
                response = restored(self.session, body.to_response(b"".join(chunks)))
        self._feed_estimator(
            response.sample.nbytes, response.sample.ttfb_s, response.sample.duration_s
        )
        self._note_edge(track, response, request)
        return self._checked(request.urls, response, byte_range)

    @contextlib.contextmanager
    def _failing(self, request: MediaRequest) -> Iterator[None]:
        """Report ``request``'s pathways as failed when the transport gives up on it."""
        try:
            yield
        except TransportError:
            self._on_request_failed(request)
            raise

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
        now = self.session.parts.clock.now()
        position = self.session.playhead.position_at(now=now, limit_s=self.session.limit())
        progress = AbandonProgress(
            now=now,
            index=track.current,
            ladder=track.rungs,
            size_bytes=float(size),
            downloaded_bytes=float(body.nbytes),
            elapsed_s=elapsed_s,
            ttfb_s=body.ttfb_s,
            buffer_s=max(0.0, track.buffer.buffered_end(self.session.position_s) - position),
            latency_s=self.session.parts.estimator.estimate_latency_s(now),
            segment_duration_s=segment.duration_s,
        )
        decision = self.session.parts.controller.decide_abandon(progress)
        if decision is None or decision.index >= track.current:
            return None
        return decision.index

    def _on_abandoned(self, track: TrackRuntime, abandoned: _Abandoned) -> None:
        now = self.session.parts.clock.now()
        assert track.current is not None
        self.session.parts.controller.on_download(
            DownloadReport(
                now=now,
                index=track.current,
                nbytes=float(abandoned.nbytes),
                ttfb_s=0.0,
                duration_s=0.0,
                buffer_s=track.buffer.level_s(self.session.position_s),
                is_abandoned=True,
                abandon_to=abandoned.to_index,
            )
        )
        self._switch(track, abandoned.to_index, now, reason=SwitchReason.ADAPTIVE, detail="abandon")

    def _feed_estimator(self, nbytes: int, ttfb_s: float, duration_s: float) -> None:
        now = self.session.parts.clock.now()
        self.session.parts.estimator.on_sample(nbytes, ttfb_s, duration_s, now)
        self.session.parts.stats.estimated_bandwidth_bps = (
            self.session.parts.estimator.estimate_bps(now)
        )

    def _report_download(self, track: TrackRuntime, response: Response) -> None:
        if track.kind != "video" or track.current is None or is_from_memory(response):
            return
        now = self.session.parts.clock.now()
        sample = response.sample
        self.session.parts.controller.on_download(
            DownloadReport(
                now=now,
                index=track.current,
                nbytes=float(sample.nbytes),
                ttfb_s=sample.ttfb_s,
                duration_s=sample.duration_s,
                buffer_s=track.buffer.level_s(self.session.position_s),
            )
        )

    def _opens_timeline(self, track: TrackRuntime, segment: Segment) -> bool:
        """Whether ``segment`` is its timeline's first: the period's start or a new sequence."""
        period = self.session.presentation.periods[self.session.period_index]
        if segment.start_s <= period.start_s + _EDGE_S:
            return True
        last = track.last_discontinuity
        return last is not None and segment.discontinuity_seq != last and not track.needs_reset

    def _note_run_start(
        self, kind: str, segment: Segment, result: DecodeResult, *, opens: bool
    ) -> None:
        """Feed the first segment a track decoded in a run to the A/V offset measure."""
        timeline = (self.session.period_index, segment.discontinuity_seq)
        decoded = [(kind, result.pts_s)]
        if result.muxed_audio is not None:
            decoded.append(("audio", result.muxed_audio.pts_s))
        at = self.session.position_s
        for which, pts in decoded:
            if pts:
                start = RunStart(which, min(pts), segment.start_s, at, timeline, opens)
                self.av_offsets.on_run_start(start)
        self.session.parts.stats.av_drift_s = self.av_offsets.drift_s

    def _sync_decode_stats(self) -> None:
        stats = self.session.parts.stats
        stats.frames_decoded = sum(t.tally.frames for t in self.session.tracks if t.kind == "video")
        stats.decode_errors = sum(
            t.tally.errors + (t.tally.muxed_audio.errors if t.tally.muxed_audio else 0)
            for t in self.session.tracks
        )
        stats.dropped_frames = sum(
            t.tally.dropped_frames for t in self.session.tracks if t.kind == "video"
        )

    def _emit_download(
        self,
        track: TrackRuntime,
        rep: Representation,
        number: int,
        response: Response,
        duration_s: float,
    ) -> None:
        sample = response.sample
        self.session.emit(
            SegmentDownloaded(
                at_s=self.session.parts.clock.now(),
                track=track.kind,
                representation_id=rep.id,
                number=number,
                nbytes=sample.nbytes,
                duration_s=duration_s,
                download_s=sample.duration_s,
                ttfb_s=sample.ttfb_s,
                protocol=sample.protocol,
                edge=response.edge,
                pathway=self._last_pathway,
            )
        )
