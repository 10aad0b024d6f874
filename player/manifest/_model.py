"""The format-agnostic presentation model shared by the HLS and DASH parsers.

Everything after parsing sees only these types (DESIGN.md: one model for HLS and DASH).
Times on the media timeline are float seconds from the presentation's start. Wall-clock
times (``available_from``, ``availability_start``...) are float UTC seconds since the epoch,
the same unit as the ``now`` given to the parsers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "ByteRange",
    "ContentProtection",
    "HlsKey",
    "InitSegment",
    "LiveTiming",
    "Location",
    "Presentation",
    "Part",
    "Period",
    "PresentationType",
    "Representation",
    "Segment",
    "SegmentIndexRef",
    "SteeringInfo",
    "StreamFormat",
    "TileGrid",
    "Track",
    "TrackType",
    "UtcTiming",
]


class StreamFormat(StrEnum):
    """Which manifest format a presentation was parsed from."""

    HLS = "hls"
    DASH = "dash"


class PresentationType(StrEnum):
    """``static`` (VOD) or ``dynamic`` (live, the manifest is refreshed)."""

    STATIC = "static"
    DYNAMIC = "dynamic"


class TrackType(StrEnum):
    """Kind of media a track carries."""

    VIDEO = "video"
    AUDIO = "audio"
    TEXT = "text"
    IMAGE = "image"
    MUXED = "muxed"
    """Audio and video in one stream (e.g. HLS MPEG-TS variants without separate audio)."""


@dataclass(frozen=True, slots=True)
class ByteRange:
    """An inclusive byte range, as in an HTTP ``Range`` header.

    Attributes:
        first: Offset of the first byte.
        last: Offset of the last byte (inclusive).
    """

    first: int
    last: int

    @property
    def length(self) -> int:
        """Number of bytes in the range."""
        return self.last - self.first + 1

    def header(self) -> str:
        """Return the ``Range`` header value, e.g. ``bytes=0-99``."""
        return f"bytes={self.first}-{self.last}"


@dataclass(frozen=True, slots=True)
class Location:
    """One place a resource can be fetched from: a CDN edge or the origin.

    Attributes:
        url: Absolute http(s) URL (a base URL for DASH, a media playlist URL for HLS).
        service_location: DASH ``serviceLocation`` / HLS ``PATHWAY-ID``; identifies the CDN.
        priority: Lower is preferred (DASH ``dvb:priority``; otherwise the manifest order).
        weight: Relative weight among equal priorities (DASH ``dvb:weight``).
    """

    url: str
    service_location: str | None = None
    priority: int = 0
    weight: int = 1


@dataclass(frozen=True, slots=True)
class SteeringInfo:
    """Content steering (HLS ``EXT-X-CONTENT-STEERING``, DASH ``ContentSteering``).

    Attributes:
        server_url: URL of the steering server (absolute http(s)).
        default_pathway: Pathway / service location to use before steering answers.
        query_before_start: DASH ``queryBeforeStart``: ask the server before the first request.
        proxy_server_url: DASH ``proxyServerURL``, if any.
    """

    server_url: str
    default_pathway: str | None = None
    query_before_start: bool = False
    proxy_server_url: str | None = None


@dataclass(frozen=True, slots=True)
class UtcTiming:
    """A DASH ``UTCTiming`` element: how to synchronise the wall clock.

    Attributes:
        scheme: The ``schemeIdUri``, e.g. ``urn:mpeg:dash:utc:http-iso:2014``.
        value: The scheme's value, usually a time-server URL.
    """

    scheme: str
    value: str


@dataclass(frozen=True, slots=True)
class HlsKey:
    """An HLS ``EXT-X-KEY`` / ``EXT-X-SESSION-KEY``.

    Attributes:
        method: ``NONE``, ``AES-128``, ``AES-256``, ``AES-256-CTR``, ``SAMPLE-AES``,
            ``SAMPLE-AES-CTR``.
        uri: Key URI (absolute http(s), or a ``data:`` URI), ``None`` for ``NONE``.
        iv: 16-byte IV from the tag read as RFC 8216's 128-bit integer (a short value has
            zeros on the left), or ``None`` (then the media sequence number is the IV).
        keyformat: ``KEYFORMAT`` (default ``identity``).
        keyformat_versions: ``KEYFORMATVERSIONS``.
        key_id: KID as 32 lowercase hex digits when the key format carries one.
        iv_hex_digits: How many hex digits the tag's ``IV`` had (``None`` without one, or
            for an IV that did not come from a tag). Tools disagree on short IVs, so the
            consumer decides the padding from it (``drm.hls_key_iv``).
    """

    method: str
    uri: str | None = None
    iv: bytes | None = None
    keyformat: str = "identity"
    keyformat_versions: str | None = None
    key_id: str | None = None
    iv_hex_digits: int | None = None


@dataclass(frozen=True, slots=True)
class ContentProtection:
    """Encryption of a representation (DASH ``ContentProtection`` or an HLS key).

    Attributes:
        system_id: DRM system id as a lowercase UUID with dashes, ``None`` for the
            ``mp4protection`` element that only declares the scheme.
        scheme: Protection scheme: ``cenc``, ``cbcs``, ``cens``, ``cbc1``, or an HLS method.
        default_kids: KIDs as 32 lowercase hex digits.
        pssh: Raw ``pssh`` box bytes from the manifest, if given.
        license_url: ``dashif:Laurl`` / ``clearkey:Laurl`` / ``ms:laurl``, if given; for
            DASH SEA whole-segment encryption, the key URI.
        iv: DASH SEA ``CryptoPeriod@IV`` (16 bytes), if given.
    """

    system_id: str | None
    scheme: str | None = None
    default_kids: tuple[str, ...] = ()
    pssh: bytes | None = None
    license_url: str | None = None
    iv: bytes | None = None


@dataclass(frozen=True, slots=True)
class InitSegment:
    """An initialisation segment (DASH ``Initialization``, HLS ``EXT-X-MAP``).

    Attributes:
        urls: The same resource at each location, preferred first.
        byte_range: Range within the resource, if any.
        key: HLS key the init segment is encrypted with (the ``EXT-X-KEY`` in force at the
            ``EXT-X-MAP``), if any.
        data: The init segment's bytes when the manifest carries them in a ``data:`` URI
            (RFC 2397; then ``urls`` holds that URI): use them, fetch nothing. Decoded, and
            cut to ``byte_range`` if one was given, when the manifest is parsed.
    """

    urls: tuple[str, ...]
    byte_range: ByteRange | None = None
    key: HlsKey | None = None
    data: bytes | None = None

    @property
    def url(self) -> str:
        """The preferred URL."""
        return self.urls[0]


@dataclass(frozen=True, slots=True)
class Part:
    """An LL-HLS partial segment (``EXT-X-PART``) or preload hint.

    Attributes:
        url: Absolute URL.
        duration_s: Duration (0 for a preload hint of unknown duration).
        byte_range: Range, if any.
        is_independent: ``INDEPENDENT=YES``.
        is_preload_hint: Came from ``EXT-X-PRELOAD-HINT``.
        is_gap: ``GAP=YES``: the part is not available (skip it, or play another rendition).
    """

    url: str
    duration_s: float
    byte_range: ByteRange | None = None
    is_independent: bool = False
    is_preload_hint: bool = False
    is_gap: bool = False


@dataclass(frozen=True, slots=True)
class TileGrid:
    """How the thumbnails of an image track are laid out in each image (a sprite sheet).

    The thumbnails of one image are shown one after the other, left to right, then top to
    bottom (DASH-IF IOP, "Thumbnail images"; the HLS Image Media Playlist specification's
    ``EXT-X-TILES``). A segment without tiles is one thumbnail: ``TileGrid()``.

    Attributes:
        columns: Thumbnails across (DASH ``thumbnail_tile`` ``H``, HLS ``LAYOUT`` first number).
        rows: Thumbnails down.
        tile_width: Pixels of one thumbnail across, as the manifest declares it (DASH: the
            Representation's ``@width`` / ``columns``; HLS: ``RESOLUTION``); ``None`` when
            not declared. The image's real size decides the crop (``Thumbnail.crop``).
        tile_height: Pixels of one thumbnail down, likewise.
        image_duration_s: Seconds each thumbnail is shown (HLS ``DURATION``; DASH: one
            image's nominal duration, ``@duration`` or a timeline's longest ``S@d``, divided
            by ``count``). ``None``: the thumbnails divide their segment's duration evenly.
    """

    columns: int = 1
    rows: int = 1
    tile_width: int | None = None
    tile_height: int | None = None
    image_duration_s: float | None = None

    @property
    def count(self) -> int:
        """Thumbnails per image (``columns * rows``)."""
        return self.columns * self.rows


@dataclass(frozen=True, slots=True)
class Segment:
    """One media segment.

    Attributes:
        urls: The same resource at each location, preferred first.
        number: ``$Number$`` (DASH) or media sequence number (HLS).
        start_s: Presentation time of the first sample, seconds from presentation start.
        duration_s: Duration in seconds.
        byte_range: Range within the resource, if any.
        init: Init segment that must precede this one, if any.
        discontinuity_seq: HLS discontinuity sequence (DASH: period index); changes
            where the decoder must be reset.
        key: HLS key in force for this segment, if any.
        available_from: Wall-clock (UTC epoch s) time it becomes available; ``None`` = now.
        available_until: Wall-clock time it leaves the live window; ``None`` = never.
        program_date_time: ``EXT-X-PROGRAM-DATE-TIME`` as UTC epoch seconds.
        parts: LL-HLS parts of this segment.
        is_gap: ``EXT-X-GAP``: no media here.
        tiles: HLS image segment: its ``EXT-X-TILES`` grid (``TileGrid()`` for a single
            image); ``None`` for media segments and DASH (see ``Representation.tiles``).
        bitrate_bps: HLS ``EXT-X-BITRATE``: the approximate bit rate of this segment (the
            tag's kbit/s times 1000), a hint a server may give instead of byte ranges;
            ``None`` without one (and for segments with a byte range, which it never covers).
    """

    urls: tuple[str, ...]
    number: int
    start_s: float
    duration_s: float
    byte_range: ByteRange | None = None
    init: InitSegment | None = None
    discontinuity_seq: int = 0
    key: HlsKey | None = None
    available_from: float | None = None
    available_until: float | None = None
    program_date_time: float | None = None
    parts: tuple[Part, ...] = ()
    is_gap: bool = False
    tiles: TileGrid | None = None
    bitrate_bps: int | None = None

    @property
    def url(self) -> str:
        """The preferred URL."""
        return self.urls[0]

    @property
    def end_s(self) -> float:
        """Presentation time where the segment ends."""
        return self.start_s + self.duration_s


@dataclass(frozen=True, slots=True)
class SegmentIndexRef:
    """A DASH ``SegmentBase`` index still to be fetched: the ``sidx`` box's location.

    Attributes:
        urls: The media resource at each location.
        byte_range: ``indexRange``.
        init: The init segment (``Initialization`` range), if any.
        time_offset_s: Added to a ``sidx`` presentation time (in seconds) to place it on the
            presentation timeline: period start minus ``presentationTimeOffset``.
        discontinuity_seq: The period index, given to the segments made from the index.
        period_end_s: End of the period on the presentation timeline, if known.
        period_start_s: Start of the period; subsegments outside the period are dropped.
    """

    urls: tuple[str, ...]
    byte_range: ByteRange
    init: InitSegment | None = None
    time_offset_s: float = 0.0
    discontinuity_seq: int = 0
    period_end_s: float | None = None
    period_start_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Representation:
    """One encoding of a track: a DASH ``Representation`` or an HLS variant/rendition.

    Attributes:
        id: Stable id (DASH ``id``; HLS: derived from the URI).
        bandwidth_bps: Peak bandwidth in bits per second.
        codecs: RFC 6381 codecs string, if known.
        mime_type: MIME type, if known.
        width: Pixels, if video.
        height: Pixels, if video.
        frame_rate: Frames per second, if known.
        audio_sampling_rate: Hz, if audio.
        audio_channels: Channel count, if known.
        segments: The segments known now, in order, as a ``Sequence`` (a tuple, or for a
            DASH ``SegmentTemplate`` a ``SegmentRuns`` that builds each segment when it is
            read); ``None`` until loaded (an HLS media playlist not yet fetched, or a DASH
            ``SegmentBase`` whose ``sidx`` is pending).
        init: Init segment common to all segments, if any.
        locations: Alternative locations (DASH ``BaseURL``s; HLS redundant media playlists).
        playlist_urls: HLS media playlist URL at each location, preferred first.
        index: DASH ``SegmentBase`` index to fetch before segments are known.
        protections: Encryption information.
        hls_keys: HLS keys known at this level (session keys), if any.
        audio_group: HLS ``AUDIO`` group id this variant plays with.
        subtitle_group: HLS ``SUBTITLES`` group id.
        average_bandwidth_bps: HLS ``AVERAGE-BANDWIDTH``, if given.
        is_iframe_only: An I-frame-only (trick play) representation.
        pending_parts: LL-HLS parts (and preload hints) of the segment still being produced,
            after the last complete segment.
        tiles: Image representations: the tile grid of every image (DASH, from the
            ``thumbnail_tile`` property; ``TileGrid()`` without one). ``None`` for media, and
            for HLS image playlists, whose grid is per segment (``Segment.tiles``).
    """

    id: str
    bandwidth_bps: int
    codecs: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    audio_sampling_rate: int | None = None
    audio_channels: int | None = None
    segments: Sequence[Segment] | None = None
    init: InitSegment | None = None
    locations: tuple[Location, ...] = ()
    playlist_urls: tuple[str, ...] = ()
    index: SegmentIndexRef | None = None
    protections: tuple[ContentProtection, ...] = ()
    hls_keys: tuple[HlsKey, ...] = ()
    audio_group: str | None = None
    subtitle_group: str | None = None
    average_bandwidth_bps: int | None = None
    is_iframe_only: bool = False
    pending_parts: tuple[Part, ...] = ()
    tiles: TileGrid | None = None

    @property
    def kids(self) -> tuple[str, ...]:
        """Every KID this representation needs (32 lowercase hex digits), sorted, unique."""
        found = {kid for p in self.protections for kid in p.default_kids}
        found.update(k.key_id for k in self.hls_keys if k.key_id)
        if isinstance(self.segments, tuple):  # only listed segments carry keys (HLS)
            for seg in self.segments:
                if seg.key is not None and seg.key.key_id:
                    found.add(seg.key.key_id)
        return tuple(sorted(found))


@dataclass(frozen=True, slots=True)
class Track:
    """A set of interchangeable representations: a DASH ``AdaptationSet`` or an HLS group.

    Attributes:
        id: Stable id.
        type: Kind of media.
        representations: Encodings, in manifest order.
        language: BCP 47 language tag, if any.
        label: Human-readable name, if any.
        roles: DASH ``Role`` values / HLS ``CHARACTERISTICS`` and ``DEFAULT``.
        codecs: Codecs shared by the representations, if declared at this level.
        is_default: HLS ``DEFAULT=YES`` or DASH role ``main``.
        group_id: HLS ``GROUP-ID``, if any.
        switching_ids: DASH: ids of the AdaptationSets a player may switch to from this one
            (``urn:mpeg:dash:adaptation-set-switching:2016``), in manifest order.
    """

    id: str
    type: TrackType
    representations: tuple[Representation, ...]
    language: str | None = None
    label: str | None = None
    roles: tuple[str, ...] = ()
    codecs: str | None = None
    is_default: bool = False
    group_id: str | None = None
    switching_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Period:
    """A period: a span of the presentation with one set of tracks.

    Attributes:
        id: Period id (HLS: ``"0"``).
        start_s: Start, seconds from presentation start.
        duration_s: Duration, if known.
        tracks: The tracks, in manifest order.
    """

    id: str
    start_s: float
    duration_s: float | None
    tracks: tuple[Track, ...]

    def tracks_of(self, kind: TrackType) -> tuple[Track, ...]:
        """Return the tracks of one kind, in manifest order."""
        return tuple(t for t in self.tracks if t.type == kind)

    def representations(self) -> Iterator[Representation]:
        """Yield every representation of every track."""
        for track in self.tracks:
            yield from track.representations


@dataclass(frozen=True, slots=True)
class LiveTiming:
    """Timing of a dynamic presentation (all ``None`` for static ones).

    Attributes:
        availability_start: DASH ``availabilityStartTime`` (UTC epoch s).
        published_at: DASH ``publishTime`` (UTC epoch s).
        time_shift_buffer_depth_s: DASH ``timeShiftBufferDepth`` / HLS window length.
        minimum_update_period_s: DASH ``minimumUpdatePeriod``; HLS: target duration.
        suggested_presentation_delay_s: DASH ``suggestedPresentationDelay`` / HLS ``HOLD-BACK``.
        target_duration_s: HLS ``EXT-X-TARGETDURATION``.
        part_target_s: LL-HLS ``EXT-X-PART-INF PART-TARGET``.
        media_sequence: HLS ``EXT-X-MEDIA-SEQUENCE``.
        can_block_reload: LL-HLS ``CAN-BLOCK-RELOAD=YES``.
        part_hold_back_s: LL-HLS ``PART-HOLD-BACK``: distance from the live edge when playing
            parts.
        can_skip_until_s: LL-HLS ``CAN-SKIP-UNTIL``: delta updates (``_HLS_skip``) are allowed.
    """

    availability_start: float | None = None
    published_at: float | None = None
    time_shift_buffer_depth_s: float | None = None
    minimum_update_period_s: float | None = None
    suggested_presentation_delay_s: float | None = None
    target_duration_s: float | None = None
    part_target_s: float | None = None
    media_sequence: int | None = None
    can_block_reload: bool = False
    part_hold_back_s: float | None = None
    can_skip_until_s: float | None = None


@dataclass(frozen=True, slots=True)
class Presentation:
    """A whole presentation, parsed from an HLS or DASH manifest.

    Attributes:
        format: The manifest format.
        type: ``static`` (VOD) or ``dynamic`` (live).
        url: The manifest URL (after redirects), against which relative URLs were resolved.
        periods: Periods in order (HLS always has one).
        duration_s: Total duration, if known (``None`` for open-ended live).
        live: Live timing; defaults for static presentations.
        min_buffer_s: DASH ``minBufferTime`` / a derived HLS value.
        utc_timing: Clock-synchronisation sources (DASH ``UTCTiming``).
        location: DASH ``Location``: where to refresh the manifest from, if not ``url``.
        steering: Content steering, if the manifest declares it.
        session_keys: HLS ``EXT-X-SESSION-KEY``s.
        is_multivariant: HLS multivariant playlist whose media playlists are still to load.
        fetched_at: The ``now`` the manifest was parsed at (UTC epoch s), if given.
        variables: HLS ``EXT-X-DEFINE`` variables of the playlist parsed, ``(name, value)`` in
            definition order; a multivariant playlist's are what its media playlists
            ``IMPORT`` (``load_media_playlist`` uses them). They may hold tokens: they are not
            part of ``to_json``.
        start_offset_s: HLS ``EXT-X-START TIME-OFFSET``: where playback should start, seconds
            from the start (negative: from the end, i.e. the live edge), if given.
    """

    format: StreamFormat
    type: PresentationType
    url: str
    periods: tuple[Period, ...]
    duration_s: float | None = None
    live: LiveTiming = LiveTiming()
    min_buffer_s: float | None = None
    utc_timing: tuple[UtcTiming, ...] = ()
    location: str | None = None
    steering: SteeringInfo | None = None
    session_keys: tuple[HlsKey, ...] = ()
    is_multivariant: bool = False
    fetched_at: float | None = None
    start_offset_s: float | None = None
    variables: tuple[tuple[str, str], ...] = ()

    @property
    def is_live(self) -> bool:
        """Whether the presentation is dynamic."""
        return self.type == PresentationType.DYNAMIC

    def next_refresh_at(self, now: float) -> float | None:
        """When the session should refresh the manifest or re-derive its segment list.

        The earliest of: the manifest's next update (``fetched_at``, else ``published_at``,
        else ``now``, plus a positive ``minimum_update_period_s``), and the moment a segment
        after the last one listed becomes available (its ``available_from`` plus its
        duration). Never earlier than ``now``: a stale manifest is refreshed at once.

        Args:
            now: Wall-clock time, UTC epoch seconds.

        Returns:
            UTC epoch seconds; ``None`` for a static presentation, or a dynamic one that
            gives no timing at all (the caller then uses its own interval).
        """
        if not self.is_live:
            return None
        candidates: list[float] = []
        period = self.live.minimum_update_period_s
        if period is not None and period > 0:
            base = self.fetched_at if self.fetched_at is not None else self.live.published_at
            candidates.append((now if base is None else base) + period)
        for rep in self.representations():
            last = rep.segments[-1] if rep.segments else None
            if last is not None and last.available_from is not None:
                candidates.append(last.available_from + last.duration_s)
        return max(now, min(candidates)) if candidates else None

    def representations(self) -> Iterator[Representation]:
        """Yield every representation of every period."""
        for period in self.periods:
            yield from period.representations()

    @property
    def kids(self) -> tuple[str, ...]:
        """Every KID the presentation needs, sorted, unique."""
        found = {kid for rep in self.representations() for kid in rep.kids}
        found.update(k.key_id for k in self.session_keys if k.key_id)
        return tuple(sorted(found))

    def summary(self) -> str:
        """Return a readable multi-line description: timing, tracks, representations, KIDs."""
        from player.manifest._json import presentation_summary

        return presentation_summary(self)

    def to_json(self) -> dict[str, Any]:
        """Return the presentation as JSON-compatible data.

        Returns:
            A dict with ``format`` (``hls``/``dash``), ``type`` (``static``/``dynamic``),
            ``duration_s``, ``live`` timing, ``tracks`` and a flat ``representations`` list, each
            with ``bandwidth_bps``, ``codecs``, ``width``, ``height``, ``segment_count`` (``None``
            until loaded), ``kids`` and its ``locations``. Key material is never included.
        """
        from player.manifest._json import presentation_to_json

        return presentation_to_json(self)
