"""The player's CMCD: what each request reports, read from the session's state at request time.

The adapter around the sans-I/O encoder (``player.cmcd``): it fills a ``CmcdData`` for each
manifest, init, segment-index, media or key request from the session's real state at that
moment (the requested rendition, the track's buffer, the estimator, the state machine) and
sends it as ``PlayerConfig.cmcd.mode`` says, on every location the request may fail over
to. Which keys each kind of request gets, and why, is in docs/cmcd.md.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from abr import ThroughputEstimator
from player._clock import Clock
from player._state import PlaybackState
from player._stats import StatsCollector
from player._track_runtime import TrackRuntime
from player._tracks import segment_at
from player.cmcd import (
    CmcdData,
    NextObject,
    ObjectType,
    StreamingFormat,
    StreamType,
    TypedValue,
    cmcd_headers,
    cmcd_query,
    relative_reference,
    strip_cmcd_query,
    with_cmcd_query,
)
from player.config import CmcdConfig, PlayerConfig
from player.manifest import (
    ByteRange,
    Presentation,
    Representation,
    Segment,
    StreamFormat,
    TrackType,
)
from transport import Response

__all__: list[str] = []

_URGENT = frozenset(
    {
        PlaybackState.IDLE,
        PlaybackState.LOADING,
        PlaybackState.BUFFERING,
        PlaybackState.REBUFFERING,
        PlaybackState.SEEKING,
    }
)
"""States in which the buffer has not reached its target yet: requests are ``su``."""
_STARVABLE = frozenset({ObjectType.AUDIO, ObjectType.VIDEO, ObjectType.MUXED})


class CmcdParts(Protocol):
    """What the CMCD builder reads of a session's parts (``SessionParts`` satisfies it)."""

    config: PlayerConfig
    clock: Clock
    estimator: ThroughputEstimator
    stats: StatsCollector
    cmcd: CmcdRequests | None


class CmcdHost(Protocol):
    """What the CMCD builder reads of a session (``PlaybackSession`` satisfies it)."""

    @property
    def parts(self) -> CmcdParts:
        """The session's collaborators."""
        ...

    presentation: Presentation
    tracks: list[TrackRuntime]

    @property
    def state(self) -> PlaybackState:
        """The state machine's state."""
        ...

    @property
    def position_s(self) -> float:
        """Playhead position at the last loop turn, seconds."""
        ...

    def live_position_s(self, now: float) -> float:
        """Where the playhead is at ``now`` (between loop turns too), seconds."""
        ...


class SessionView(Protocol):
    """The session as a key request sees it (``PlaybackSession`` satisfies it)."""

    presentation: Presentation

    @property
    def state(self) -> PlaybackState:
        """The state machine's state."""
        ...


@dataclass(frozen=True, slots=True)
class Outgoing:
    """How one request goes out: its locations and extra headers.

    Attributes:
        urls: The locations in failover order (with the ``CMCD`` argument in query mode).
        headers: Extra request headers (the ``CMCD-*`` headers in header mode), ``None``
            when there are none.
    """

    urls: tuple[str, ...]
    headers: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class Requested:
    """What a downloader request fetches, as far as CMCD cares.

    Attributes:
        rep: The representation it belongs to.
        segment: The media segment fetched, ``None`` for an init or index range.
        next_segment: For an init range, the media segment fetched right after it.
    """

    rep: Representation
    segment: Segment | None = None
    next_segment: Segment | None = None


def media_type(track: TrackRuntime) -> ObjectType:
    """The ``ot`` of a track's media segments (``av`` muxed, ``tt`` ISO BMFF text)."""
    kind = track.track.type
    if kind == TrackType.MUXED:
        return ObjectType.MUXED
    if kind == TrackType.AUDIO or track.kind == "audio":
        return ObjectType.AUDIO
    if kind == TrackType.TEXT or track.kind == "text":
        mime = track.representation().mime_type or ""
        return ObjectType.TIMED_TEXT if mime.endswith("/mp4") else ObjectType.CAPTION
    return ObjectType.VIDEO


def _next_object(current: str, segment: Segment | None) -> tuple[NextObject, ...]:
    """``nor`` for ``segment`` as seen from the URL ``current`` (none on another origin)."""
    if segment is None or not segment.urls:
        return ()
    path = relative_reference(current, segment.urls[0])
    if path is None:
        return ()
    rng: ByteRange | None = segment.byte_range
    if rng is None:
        return (NextObject(path),)
    return (NextObject(path, rng.first, rng.last),)


class CmcdRequests:
    """Builds and attaches the CMCD of every request of one player.

    Args:
        config: The ``cmcd`` section.
    """

    def __init__(self, config: CmcdConfig) -> None:
        self.config = config
        self.session_id = config.session_id or str(uuid.uuid4())
        """``sid``: the configured id, else a random UUID for this player's session."""
        self._stalls_seen: dict[str, int] = {}

    @property
    def is_enabled(self) -> bool:
        """Whether CMCD is sent at all."""
        return self.config.mode is not None

    # -- sending -------------------------------------------------------------------------

    def outgoing(self, urls: tuple[str, ...], data: CmcdData | None) -> Outgoing:
        """The locations and headers a request goes out with.

        Args:
            urls: The request's locations (failover order), without CMCD.
            data: What the request reports; ``None`` sends none.

        Returns:
            ``urls`` with the ``CMCD`` argument (query mode), or the ``CMCD-*`` headers
            (header mode), or both unchanged when CMCD is off or not for this object type.
        """
        cfg = self.config
        if data is None or cfg.mode is None:
            return Outgoing(urls, None)
        if data.object_type is not None and data.object_type.value not in cfg.object_types:
            return Outgoing(urls, None)
        if cfg.mode == "header":
            headers = cmcd_headers(data, version=cfg.version, keys=cfg.keys)
            return Outgoing(urls, headers or None)
        argument = cmcd_query(data, version=cfg.version, keys=cfg.keys)
        return Outgoing(tuple(with_cmcd_query(url, argument) for url in urls), None)

    def restore(self, response: Response) -> Response:
        """``response`` with the ``CMCD`` argument taken out of its URL (query mode).

        Relative URLs in a manifest, live refreshes and range caches use the response's
        URL; none of them must see this request's CMCD.
        """
        if self.config.mode != "query":
            return response
        clean = strip_cmcd_query(response.url)
        return response if clean == response.url else dataclasses.replace(response, url=clean)

    # -- what each kind of request reports -----------------------------------------------

    def _common(self, presentation: Presentation | None, state: PlaybackState) -> CmcdData:
        """The keys every request carries: ``cid``, ``sid``, ``sf``, ``st``, ``su``, ``pr``."""
        fmt: StreamingFormat | None = None
        kind: StreamType | None = None
        if presentation is not None:
            is_hls = presentation.format == StreamFormat.HLS
            fmt = StreamingFormat.HLS if is_hls else StreamingFormat.DASH
            kind = _stream_type(presentation, version=self.config.version)
        return CmcdData(
            content_id=self.config.content_id,
            session_id=self.session_id,
            streaming_format=fmt,
            stream_type=kind,
            is_startup=state in _URGENT,
            playback_rate=1.0 if state == PlaybackState.PLAYING else 0.0,
        )

    def for_manifest(self, presentation: Presentation | None, *, state: PlaybackState) -> CmcdData:
        """A manifest, playlist or steering manifest request (``ot=m``).

        Args:
            presentation: What is known so far (``None`` for the first manifest: format
                and stream type are unknown then, and are not sent).
            state: The session's state (``LOADING`` before there is a session).
        """
        base = self._common(presentation, state)
        return dataclasses.replace(base, object_type=ObjectType.MANIFEST)

    def outgoing_key(self, urls: tuple[str, ...], session: SessionView | None) -> Outgoing:
        """How a license or HLS key request goes out (``ot=k``, session keys only).

        Args:
            urls: The request's locations.
            session: The playing session, ``None`` while loading (keys are prefetched
                as soon as the manifest is parsed).
        """
        return self._outgoing_session(urls, session, ObjectType.KEY)

    def outgoing_steering(self, urls: tuple[str, ...], session: SessionView | None) -> Outgoing:
        """How a content steering request goes out (``ot=m``, session keys only).

        Args:
            urls: The steering URL (with the pathway and throughput parameters).
            session: The playing session, ``None`` while loading (DASH
                ``queryBeforeStart`` asks before the session plays).
        """
        return self._outgoing_session(urls, session, ObjectType.MANIFEST)

    def _outgoing_session(
        self, urls: tuple[str, ...], session: SessionView | None, ot: ObjectType
    ) -> Outgoing:
        if not self.is_enabled:
            return Outgoing(urls, None)
        presentation = None if session is None else session.presentation
        state = PlaybackState.LOADING if session is None else session.state
        data = dataclasses.replace(self._common(presentation, state), object_type=ot)
        return self.outgoing(urls, data)

    def for_object(
        self, host: CmcdHost, track: TrackRuntime, what: Requested, *, url: str
    ) -> CmcdData:
        """An init, segment-index or media request of ``track``, from the state right now.

        Args:
            host: The session.
            track: The track the object belongs to.
            what: The object.
            url: The URL requested first (``nor`` is relative to it).

        Returns:
            The report: ``br``/``tb`` of the rendition and its type, ``bl`` of the track,
            ``dl`` (playing only), ``mtp`` (once measured), ``nor``, ``d``, ``bs``, ``rtp``.
        """
        state = host.state
        token = media_type(track)
        is_media = what.segment is not None
        ot = token if is_media else ObjectType.INIT
        now = host.parts.clock.now()
        buffered_end = track.buffer.buffered_end(host.position_s)
        level_s = max(0.0, buffered_end - host.live_position_s(now))
        follower = _follower(what) if is_media else what.next_segment
        bitrate = float(what.rep.bandwidth_bps)
        factor = self.config.requested_throughput_factor
        base = self._common(host.presentation, state)
        return dataclasses.replace(
            base,
            object_type=ot,
            buffer_length_s=(TypedValue(level_s, token),),
            deadline_s=level_s if state == PlaybackState.PLAYING else None,
            encoded_bitrate_bps=(TypedValue(bitrate, token),) if bitrate > 0 else (),
            top_bitrate_bps=self._top_bitrate(track, token),
            measured_throughput_bps=_measured(host),
            object_duration_s=what.segment.duration_s if what.segment is not None else None,
            next_objects=_next_object(url, follower),
            is_buffer_starved=ot in _STARVABLE and self._is_starved(host, track, state),
            requested_throughput_bps=bitrate * factor if factor and bitrate > 0 else None,
        )

    def _top_bitrate(self, track: TrackRuntime, token: ObjectType) -> tuple[TypedValue, ...]:
        """``tb`` of the track.

        v1: the highest rendition the player may play (caps and failed rungs left out);
        v2: the highest of the track in the manifest (CTA-5004-B Table 1).
        """
        if self.config.version == 1:
            reps = [r for i, r in enumerate(track.ladder) if i not in track.excluded]
        else:
            reps = [*track.ladder, *track.track.representations]
        top = max((r.bandwidth_bps for r in reps), default=0)
        return (TypedValue(float(top), token),) if top > 0 else ()

    def _is_starved(self, host: CmcdHost, track: TrackRuntime, state: PlaybackState) -> bool:
        """``bs``: the buffer is dry now, or ran dry since this track's previous request."""
        stalls = host.parts.stats.stall_count
        seen = self._stalls_seen.get(track.kind, 0)
        self._stalls_seen[track.kind] = stalls
        return state == PlaybackState.REBUFFERING or stalls > seen


class Planned(Protocol):
    """A request as the session's ``RequestPlanner`` built it (``MediaRequest``)."""

    @property
    def urls(self) -> tuple[str, ...]:
        """Locations in failover order."""
        ...

    @property
    def headers(self) -> Mapping[str, str] | None:
        """Extra request headers, if any."""
        ...


def outgoing_for(
    host: CmcdHost, track: TrackRuntime, request: Planned, what: Requested | None
) -> Outgoing:
    """How a downloader request goes out: the planned request, with CMCD when enabled.

    Args:
        host: The session (its ``parts.cmcd`` decides; ``None`` or off sends no CMCD).
        track: The track requesting.
        request: The planned request (locations, pathways and headers, without CMCD).
        what: What is requested, its CMCD read from the session's state now; ``None``
            sends none.

    Returns:
        The locations (with the ``CMCD`` argument in query mode, one per planned
        location, in the same order) and the headers (the planned ones, plus the
        ``CMCD-*`` headers in header mode), ``None`` when there are none.
    """
    cmcd = host.parts.cmcd
    planned = dict(request.headers or {})
    if cmcd is None or not cmcd.is_enabled or what is None or not request.urls:
        return Outgoing(request.urls, planned or None)
    data = cmcd.for_object(host, track, what, url=request.urls[0])
    send = cmcd.outgoing(request.urls, data)
    return Outgoing(send.urls, {**planned, **(send.headers or {})} or None)


def restored(host: CmcdHost, response: Response) -> Response:
    """``response`` as if sent without CMCD (see ``CmcdRequests.restore``)."""
    cmcd = host.parts.cmcd
    return response if cmcd is None else cmcd.restore(response)


def _stream_type(presentation: Presentation, *, version: int) -> StreamType | None:
    """``st``, once known (an HLS multivariant playlist alone does not say)."""
    if presentation.is_multivariant and all(
        rep.segments is None for rep in presentation.representations()
    ):
        return None
    if not presentation.is_live:
        return StreamType.VOD
    is_low_latency = presentation.live.part_target_s is not None
    return StreamType.LOW_LATENCY_LIVE if is_low_latency and version >= 2 else StreamType.LIVE


def _measured(host: CmcdHost) -> tuple[TypedValue, ...]:
    """``mtp``: the estimate ABR decides with, once it rests on measured transfers.

    Until then the estimator answers ``AbrConfig.default_bandwidth_bps``, a configured
    guess: it is not a measured throughput, so no ``mtp`` is sent (CTA-5004-B section 3:
    unknown values are omitted).
    """
    parts = host.parts
    estimate = parts.estimator.estimate_bps(parts.clock.now())
    if estimate <= 0 or estimate == parts.config.abr.default_bandwidth_bps:
        return ()
    return (TypedValue(estimate),)


def _follower(what: Requested) -> Segment | None:
    """The segment the scheduler fetches after ``what.segment`` on this rendition."""
    segments = what.rep.segments
    if segments is None or what.segment is None:
        return None
    return segment_at(segments, what.segment.end_s)
