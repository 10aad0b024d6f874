"""Playback events: frozen, past-tense dataclasses (docs/design.md).

Every event carries ``at_s``: when it happened, in session seconds since ``Player.load()``
was called, on the real clock and on the virtual one alike (so 0 is the load, and a QA
report's events, timeline and stats share one time axis). Events never carry key material.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from enum import StrEnum
from typing import Any

from player.errors import redact_url

__all__ = [
    "BufferingEnded",
    "BufferingStarted",
    "Cue",
    "CueEntered",
    "CueExited",
    "CuesLoaded",
    "EdgeFailedOver",
    "Ended",
    "ErrorOccurred",
    "Event",
    "HeartbeatSent",
    "LadderFiltered",
    "LicenseAcquired",
    "LicenseRefused",
    "ManifestLoaded",
    "PathwayChangeReason",
    "PathwayChanged",
    "PlaybackStarted",
    "RangeIgnored",
    "RenditionsRestricted",
    "Seeked",
    "SegmentDownloaded",
    "StateChanged",
    "SwitchReason",
    "VariantSwitched",
    "event_to_json",
]


class PathwayChangeReason(StrEnum):
    """Why media requests moved to another content steering pathway."""

    INITIAL = "initial"
    """The first media request's pathway."""
    STEERING = "steering"
    """The steering server's ``PATHWAY-PRIORITY`` changed."""
    FAILURE = "failure"
    """The pathway in use failed and is penalised; requests failed over."""
    RECOVERED = "recovered"
    """A preferred pathway's penalty ended and its probe request succeeded."""


class SwitchReason(StrEnum):
    """Why the video rendition changed."""

    INITIAL = "initial"
    ADAPTIVE = "adaptive"
    MANUAL = "manual"
    FAILOVER = "failover"


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    """Base of every event.

    Attributes:
        at_s: When it happened: session seconds since ``Player.load()`` was called.
    """

    at_s: float


@dataclass(frozen=True, kw_only=True, slots=True)
class StateChanged(Event):
    """The playback state machine moved.

    Attributes:
        old: Previous state name.
        new: New state name.
    """

    old: str
    new: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ManifestLoaded(Event):
    """The manifest was fetched and parsed.

    Attributes:
        url: Manifest URL.
        format: ``hls`` or ``dash``.
        is_live: Whether the presentation is dynamic.
        duration_s: Duration, if known.
        video_bitrates_bps: The video ladder, ascending.
    """

    url: str
    format: str
    is_live: bool
    duration_s: float | None
    video_bitrates_bps: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class SegmentDownloaded(Event):
    """A segment (or init segment) arrived and entered the buffer.

    Attributes:
        track: ``video``, ``audio`` or ``text``.
        representation_id: The representation's id.
        number: Segment number (``-1`` for an init segment, also when it was fetched in one
            request with a DASH segment index; ``-2`` for segment index bytes alone).
        nbytes: Bytes received.
        duration_s: Media duration of the segment, seconds.
        download_s: Transfer time, seconds.
        ttfb_s: Time to first byte, seconds.
        protocol: ``h3``, ``h2`` or ``h1``.
        edge: Location (base URL) it came from.
        pathway: Content steering pathway (HLS ``PATHWAY-ID``, DASH ``serviceLocation``)
            it came from, ``None`` for a location that belongs to none.
    """

    track: str
    representation_id: str
    number: int
    nbytes: int
    duration_s: float
    download_s: float
    ttfb_s: float
    protocol: str
    edge: str
    pathway: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class VariantSwitched(Event):
    """The video rendition changed.

    Attributes:
        from_id: Previous representation id (``None`` for the first choice).
        to_id: New representation id.
        bitrate_bps: New rendition's bandwidth.
        reason: Why.
        detail: The controller's reason text, if any.
    """

    from_id: str | None
    to_id: str
    bitrate_bps: int
    reason: SwitchReason
    detail: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class PlaybackStarted(Event):
    """The first frame was presented (startup completed).

    Attributes:
        startup_s: Time from ``load()`` to this moment, seconds.
        position_s: Start position, seconds.
    """

    startup_s: float
    position_s: float


@dataclass(frozen=True, kw_only=True, slots=True)
class BufferingStarted(Event):
    """Playback stalled because the buffer ran dry.

    Attributes:
        position_s: Playhead position, seconds.
    """

    position_s: float


@dataclass(frozen=True, kw_only=True, slots=True)
class BufferingEnded(Event):
    """Playback resumed after a stall.

    Attributes:
        position_s: Playhead position, seconds.
        stalled_s: How long the stall lasted, seconds.
    """

    position_s: float
    stalled_s: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Seeked(Event):
    """A seek completed.

    Attributes:
        from_s: Position before the seek, seconds.
        to_s: Position after the seek, seconds.
    """

    from_s: float
    to_s: float


@dataclass(frozen=True, kw_only=True, slots=True)
class LicenseAcquired(Event):
    """Keys were obtained for a set of KIDs.

    Attributes:
        kids: KIDs (32 lowercase hex digits), never keys; empty for HLS identity keys,
            which have none.
        latency_s: License or key round-trip time, seconds (0 for keys from config or
            cache, or read from a ``data:`` key URI).
        source: Where the keys came from: ``license-server`` (a license exchange),
            ``config`` (``DrmConfig.keys`` or ``DrmConfig.hls_keys``), ``cache`` (the
            license cache), or ``key-uri`` (an HLS identity key fetched from its key URI or
            read from a ``data:`` key URI).
    """

    kids: tuple[str, ...]
    latency_s: float
    source: str


@dataclass(frozen=True, kw_only=True, slots=True)
class LicenseRefused(Event):
    """A license exchange with a server ended in an HTTP error answer (after any retries).

    Emitted for a refusal the session copes with (the renditions it refused leave the
    ladder: ``RenditionsRestricted``) as for one that ends playback (``ErrorOccurred``).

    Attributes:
        kids: KIDs asked for (32 lowercase hex digits), never keys.
        status: The answer's HTTP status, e.g. 403.
        latency_s: Time from the request to the final answer, seconds.
    """

    kids: tuple[str, ...]
    status: int
    latency_s: float


@dataclass(frozen=True, kw_only=True, slots=True)
class EdgeFailedOver(Event):
    """Requests moved from one CDN location to another.

    Attributes:
        from_edge: Location that failed.
        to_edge: Location now in use.
        error_code: Stable code of the error that caused the move.
        track: Which track's requests moved: ``video``, ``audio`` or ``text`` (each track
            reports its own move).
    """

    from_edge: str
    to_edge: str
    error_code: str
    track: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class PathwayChanged(Event):
    """Media requests moved to another content steering pathway (at a segment boundary).

    Attributes:
        from_pathway: The pathway used until now (``None`` for the first media request).
        to_pathway: The pathway now in use.
        reason: Why (``initial``, ``steering``, ``failure``, ``recovered``).
    """

    from_pathway: str | None
    to_pathway: str
    reason: PathwayChangeReason


@dataclass(frozen=True, kw_only=True, slots=True)
class RangeIgnored(Event):
    """A server answered a byte-range request with the whole resource (``200``), once per origin.

    The requested bytes were cut from the whole body, and the body is kept (bounded by
    ``PlaybackConfig.whole_file_cache_bytes``) so every later range of the same resource is
    served from memory instead of downloading the file again.

    Attributes:
        origin: The server's origin (``scheme://host:port``).
        url: The resource it sent whole.
        file_bytes: Size of the whole body.
        requested: The inclusive ``(first, last)`` range that was asked for.
    """

    origin: str
    url: str
    file_bytes: int
    requested: tuple[int, int]


@dataclass(frozen=True, kw_only=True, slots=True)
class LadderFiltered(Event):
    """Video renditions were left out by ``max_video_height`` / ``max_video_bitrate_bps``.

    Emitted when the video ladder is set up with a filter in force (also when the filter
    removed nothing), so a report shows what the caps did.

    Attributes:
        kept_ids: Representation ids the ABR controller may choose, ascending bandwidth.
        dropped_ids: Representation ids the filters removed.
        max_height: The height cap, pixels (``None``: none).
        max_bitrate_bps: The bitrate cap (``None``: none).
    """

    kept_ids: tuple[str, ...]
    dropped_ids: tuple[str, ...]
    max_height: int | None
    max_bitrate_bps: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class RenditionsRestricted(Event):
    """Renditions were taken out of a track's ladder: the license server refused their keys.

    Like Shaka Player's key-status restrictions: a partial licence (an entitlement without
    HD, say) removes the renditions whose KIDs were not granted, ABR goes on with the rest,
    and playback fails (``KeysNotGranted``) only when a track has none left.

    Attributes:
        track: ``video`` or ``audio``.
        removed_ids: Representation ids taken out.
        kept_ids: Representation ids left, ascending bandwidth.
        kids: The KIDs refused (hex; never key material).
        reason: The license server's answer (error code and message).
    """

    track: str
    removed_ids: tuple[str, ...]
    kept_ids: tuple[str, ...]
    kids: tuple[str, ...]
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class HeartbeatSent(Event):
    """A position heartbeat was delivered to the session service.

    Attributes:
        seq: Heartbeat sequence number.
        state: Playback state reported.
        position_s: Position reported, seconds.
    """

    seq: int
    state: str
    position_s: float


@dataclass(frozen=True, kw_only=True, slots=True)
class ErrorOccurred(Event):
    """An error happened.

    Attributes:
        code: The error's stable ``code``.
        message: The error's message (never contains key material).
        fatal: Whether playback stopped because of it.
        error: The exception object itself (not serialised).
    """

    code: str
    message: str
    fatal: bool
    error: BaseException | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class Ended(Event):
    """Playback reached the end of the presentation.

    Attributes:
        position_s: Final position, seconds.
    """

    position_s: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Cue:
    """One subtitle or caption cue, on the presentation timeline (docs/text.md).

    Layout and styling are kept as data (name/value pairs as the file wrote them) for the
    app to render; nothing here is interpreted beyond timing and text.

    Attributes:
        start_s: When the cue appears, seconds on the presentation timeline.
        end_s: When it disappears (exclusive), seconds.
        text: Plain text: markup removed, entities decoded, one line per line of the cue.
        format: ``webvtt`` (also WebVTT in MP4, ``wvtt``) or ``ttml`` (also ``stpp``).
        id: The cue identifier (WebVTT cue id or ``iden`` box, TTML ``xml:id``), if any.
        markup: WebVTT: the cue payload as written (``<i>``, ``<v Name>``... kept);
            ``""`` for TTML.
        settings: WebVTT cue settings (``line``, ``position``, ``size``, ``align``,
            ``vertical``, ``region``) as ``(name, value)`` pairs.
        region: Region id (WebVTT ``region:`` setting, TTML ``region``), if any.
        region_settings: The region's definition: WebVTT ``REGION`` settings, or the TTML
            region's ``tts:`` attributes (``origin``, ``extent``, ``displayAlign``...).
        style: TTML computed style of the paragraph: ``tts:`` attributes from referenced
            styles, the region and ancestors, then inline, by local name (``color``,
            ``textAlign``...). Empty for WebVTT (its ``STYLE`` blocks are CSS).
    """

    start_s: float
    end_s: float
    text: str
    format: str
    id: str = ""
    markup: str = ""
    settings: tuple[tuple[str, str], ...] = ()
    region: str | None = None
    region_settings: tuple[tuple[str, str], ...] = ()
    style: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Return the cue as JSON values (pairs become objects).

        >>> Cue(start_s=1.0, end_s=2.5, text="Hi", format="webvtt").to_json()["text"]
        'Hi'
        """
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            out[item.name] = dict(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class CuesLoaded(Event):
    """A text segment (or sidecar file) was fetched and parsed: its cues, in start order.

    Attributes:
        representation_id: The text representation.
        language: The text track's language, if declared.
        start_s: Start of the span the segment covers, seconds (presentation timeline).
        end_s: End of that span, seconds.
        cues: Every cue the segment holds (a cue repeated in several segments appears in
            each; ``Player.text_cues()`` holds each once).
    """

    representation_id: str
    language: str | None
    start_s: float
    end_s: float
    cues: tuple[Cue, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class CueEntered(Event):
    """The playhead entered a cue: show it.

    ``at_s`` is the session time the playhead reached ``cue.start_s`` (or the time of the
    seek, track switch or download that made the cue current).

    Attributes:
        cue: The cue.
        position_s: Playhead position, seconds.
        language: The text track's language, if declared.
    """

    cue: Cue
    position_s: float
    language: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CueExited(Event):
    """The playhead left a cue (its end, a seek away, a track switch): hide it.

    Attributes:
        cue: The cue.
        position_s: Playhead position, seconds.
        language: The text track's language, if declared.
    """

    cue: Cue
    position_s: float
    language: str | None = None


def event_to_json(event: Event) -> dict[str, Any]:
    """Return a JSON-ready dict of an event: ``{"type": <class name>, ...fields}``.

    Args:
        event: Any event.

    Returns:
        A dict of plain JSON values; exception objects are left out, and URLs (fields named
        ``url`` or ``*_url``) are shown through ``player.errors.redact_url``: no query
        string, user info or ``data:`` payload (the event object keeps the whole URL).

    >>> event_to_json(Ended(at_s=1.5, position_s=60.0))
    {'type': 'Ended', 'at_s': 1.5, 'position_s': 60.0}
    >>> url = "https://cdn.example/v.mp4?token=t"
    >>> ev = RangeIgnored(at_s=0.0, origin="https://cdn.example", url=url, file_bytes=9,
    ...                   requested=(0, 3))
    >>> event_to_json(ev)["url"]
    'https://cdn.example/v.mp4?<redacted>'
    """
    out: dict[str, Any] = {"type": type(event).__name__}
    for name in _field_names(type(event)):
        value = getattr(event, name)
        if isinstance(value, BaseException):
            continue
        if isinstance(value, str) and (name == "url" or name.endswith("_url")):
            value = redact_url(value)
        out[name] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    """A JSON value: enums by value, tuples as lists, cues (dataclasses) by ``to_json``."""
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if is_dataclass(value) and not isinstance(value, type) and hasattr(value, "to_json"):
        return value.to_json()
    return value


def _field_names(cls: type[Event]) -> tuple[str, ...]:
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        for name in getattr(klass, "__dataclass_fields__", {}):
            if name not in names:
                names.append(name)
    return tuple(names)
