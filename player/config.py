"""Configuration of the player: its own sections, composed with the other packages' sections."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from abr.config import AbrConfig
from drm.config import DrmConfig
from player.errors import PlayerConfigError
from transport.config import TransportConfig

__all__ = [
    "CmcdConfig",
    "HeartbeatConfig",
    "ManifestConfig",
    "OfflineConfig",
    "PlaybackConfig",
    "PlayerConfig",
    "SessionServiceConfig",
    "SteeringConfig",
    "TextConfig",
    "ThumbnailConfig",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class ManifestConfig:
    """Bounds for parsing untrusted manifests."""

    max_manifest_bytes: int = 16 * 1024 * 1024
    """Largest manifest accepted. A 24 h live HLS playlist at 2 s segments is about 5 MB."""

    max_segments: int = 1_000_000
    """Most segments one representation may describe (bounds SegmentTimeline repeats and live
    windows: a live representation keeps its most recent ``max_segments``, a static one with
    more is refused). A DASH ``SegmentTemplate`` index is computed on demand, so this is a
    bound on the timeline, not on memory; ``max_materialized_segments`` bounds memory."""

    max_materialized_segments: int = 1_000_000
    """Most segment entries a whole presentation may hold in memory: one per listed segment
    (HLS media playlists, DASH ``SegmentList``) and one per ``SegmentTimeline`` run (shared by
    the representations that inherit it); a ``SegmentTemplate@duration`` index holds none.
    About 250 bytes each, so at most some 250 MB; a day of 2 s segments in 20 renditions
    (864,000 entries) fits, and no manifest can multiply a list by its representations."""

    max_xml_depth: int = 64
    """Deepest XML element nesting accepted; real MPDs nest fewer than 10 levels."""

    max_representations: int = 10_000
    """Most representations/variants in one presentation."""

    max_locations: int = 16
    """Most alternative locations (DASH ``BaseURL`` combinations) kept per representation;
    each is copied into every segment's URL list, so this bounds memory. Real MPDs use 1-4."""

    max_url_chars: int = 8192
    """Longest segment URL template accepted (it is expanded for every segment); browsers
    and CDNs cap URLs near 8 kB."""

    max_index_bytes: int = 16 * 1024 * 1024
    """Most bytes of DASH ``sidx`` boxes read for one representation (all levels of a
    hierarchical index together). A reference is 12 bytes, so this holds ``max_segments``
    references with room to spare."""

    max_index_boxes: int = 4096
    """Most ``sidx`` boxes one representation's index may consist of (a hierarchical index
    costs one request per box); real files use one, or a few dozen."""

    max_index_depth: int = 8
    """Deepest nesting of a hierarchical ``sidx`` (a ``sidx`` referencing ``sidx`` boxes);
    packagers that write them use two or three levels."""

    max_tiles_per_image: int = 10_000
    """Most thumbnails one image of an image track may hold (DASH ``thumbnail_tile`` ``HxV``,
    HLS ``EXT-X-TILES LAYOUT``). Real sprite sheets hold 10 to 200 (Akamai's 10x20 is among
    the largest seen); a larger grid is refused as malformed."""

    def __post_init__(self) -> None:
        """Validate ranges.

        Raises:
            PlayerConfigError: A bound is not positive.
        """
        for name in (
            "max_manifest_bytes",
            "max_segments",
            "max_materialized_segments",
            "max_xml_depth",
            "max_representations",
            "max_locations",
            "max_url_chars",
            "max_index_bytes",
            "max_index_boxes",
            "max_index_depth",
            "max_tiles_per_image",
        ):
            if getattr(self, name) <= 0:
                raise PlayerConfigError(f"ManifestConfig.{name} must be positive")


@dataclass(frozen=True, kw_only=True, slots=True)
class HeartbeatConfig:
    """Position heartbeats, their durable outbox and resume look-ups (docs/heartbeats.md)."""

    service_url: str | None = None
    """Base URL of the session service (``https://host[:port]``); ``None`` disables reporting.

    Heartbeats go to ``{service_url}/v1/heartbeats``, resume look-ups to
    ``{service_url}/v1/positions/{viewer_id}/{title_id}``.
    """

    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Extra request headers, e.g. ``{"Authorization": "Bearer ..."}``; kept out of ``repr``."""

    outbox_path: str | None = None
    """SQLite file of the durable outbox; ``None`` keeps it in memory (lost on exit)."""

    interval_s: float = 10.0
    """Period of heartbeats while nothing happens; 10 s is what resume UIs round to."""

    max_batch: int = 100
    """Most queued heartbeats sent in one request (one session per request)."""

    outbox_max_heartbeats: int = 10_000
    """Bound of the outbox. 10,000 is 27 h of one session at 10 s; beyond it the oldest
    periodic heartbeat superseded by a later one of its session is coalesced away, else the
    oldest is dropped (both counted in ``OutboxStats``)."""

    retry_base_delay_s: float = 1.0
    """First delay before re-sending after a failed delivery."""

    retry_max_delay_s: float = 60.0
    """Cap of the delivery backoff: an outage costs at most one minute of extra delay."""

    retry_backoff_factor: float = 2.0
    """Growth of the delay per consecutive failed delivery."""

    resume_timeout_s: float = 1.5
    """Longest wait for a resume position before playback starts from the beginning."""

    def __post_init__(self) -> None:
        """Validate values.

        Raises:
            PlayerConfigError: A value is out of range or the URL is not http(s).
        """
        if self.service_url is not None:
            parts = urlsplit(self.service_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise PlayerConfigError("HeartbeatConfig.service_url must be an http(s) URL")
        for name in ("interval_s", "resume_timeout_s", "retry_max_delay_s"):
            if getattr(self, name) <= 0:
                raise PlayerConfigError(f"HeartbeatConfig.{name} must be positive")
        if self.max_batch < 1 or self.outbox_max_heartbeats < 1:
            raise PlayerConfigError("HeartbeatConfig batch and outbox bounds must be >= 1")
        if not 0 <= self.retry_base_delay_s <= self.retry_max_delay_s:
            raise PlayerConfigError("HeartbeatConfig delays must satisfy 0 <= base <= max")
        if self.retry_backoff_factor < 1:
            raise PlayerConfigError("HeartbeatConfig.retry_backoff_factor must be >= 1")


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionServiceConfig:
    """The reference session service (``python -m player sessions serve``)."""

    max_streams: int = 3
    """Concurrent sessions per viewer; a new one beyond it ends the oldest. Common plan size."""

    session_timeout_s: float = 60.0
    """A session the service received nothing of for this long has ended (six missed 10 s beats)."""

    max_body_bytes: int = 256 * 1024
    """Largest request body accepted; a full batch of heartbeats is about 30 kB."""

    max_batch: int = 500
    """Most heartbeats in one request."""

    max_ts_ahead_s: float = 300.0
    """Latest heartbeat ``ts`` accepted, seconds ahead of the service clock (422 beyond).

    A device clock set in the future would make its positions outrank every later one;
    5 minutes tolerates a badly set clock while bounding that. Liveness never uses ``ts``."""

    max_ts_age_s: float = 30 * 86_400.0
    """Oldest heartbeat ``ts`` accepted, seconds behind the service clock (422 beyond).

    An outbox, or a download played offline, delivers heartbeats late; 30 days covers a
    download's licence period, and older positions are not worth resuming from."""

    max_drain_bytes: int = 1024 * 1024
    """Largest refused request body still read (and discarded) before answering.

    Answering before the body is read and then closing makes the client lose the answer or
    reuse a dying connection; reading it keeps the connection usable. Over this (4x the
    body limit) the answer says ``Connection: close`` instead, bounding the work."""

    def __post_init__(self) -> None:
        """Validate ranges.

        Raises:
            PlayerConfigError: A value is not positive (``max_drain_bytes``: negative).
        """
        for name in (
            "max_streams",
            "session_timeout_s",
            "max_body_bytes",
            "max_batch",
            "max_ts_ahead_s",
            "max_ts_age_s",
        ):
            if not getattr(self, name) > 0:
                raise PlayerConfigError(f"SessionServiceConfig.{name} must be positive")
        if self.max_drain_bytes < 0:
            raise PlayerConfigError("SessionServiceConfig.max_drain_bytes must be >= 0")


@dataclass(frozen=True, kw_only=True, slots=True)
class PlaybackConfig:
    """Buffering, track choice and decoding of a playback session."""

    buffering_goal_s: float = 30.0
    """Media buffered ahead before downloads pause. Shaka's default: 30 s absorbs a CDN failover."""

    startup_buffer_s: float = 2.0
    """Media needed before the first frame is shown (Shaka ``rebufferingGoal``: 2 s)."""

    rebuffer_goal_s: float = 2.0
    """Media needed to resume after a stall; as at startup."""

    buffer_behind_s: float = 30.0
    """Media kept behind the playhead before eviction (Shaka ``bufferBehind``: 30 s)."""

    live_refresh_fallback_s: float = 2.0
    """Live refresh period when the manifest gives no timing (rare); about one segment."""

    live_delay_segments: float = 3.0
    """Live start distance from the live edge, in segment durations (RFC 8216: 3 targets)."""

    audio_language: str | None = None
    """Preferred audio language (BCP 47 prefix match); ``None`` takes the default track."""

    text_language: str | None = None
    """Subtitle language (BCP 47, prefix match: ``en`` takes ``en-US``); ``None`` downloads no
    text track, ``"*"`` the default one. No track in that language: no subtitles (never
    another language instead)."""

    max_video_height: int | None = None
    """Cap on video height in pixels (e.g. the screen); ``None`` is uncapped."""

    max_video_bitrate_bps: int | None = None
    """Cap on video bandwidth; ``None`` is uncapped."""

    alternate_origins: tuple[str, ...] = ()
    """Other origins (CDN edges, then origin) serving the same paths as the manifest's host.

    Every request whose URL is on the manifest's origin also lists these, in order, as
    failover locations. Manifest-declared alternatives (DASH ``BaseURL``s) come first.
    """

    decode: bool = True
    """Decode every frame with PyAV (headless QA); ``False`` downloads and decrypts only."""

    hash_frames: bool = False
    """Hash every decoded video frame (frame-exact comparisons in QA)."""

    thumbnails_at_s: tuple[float, ...] = ()
    """Positions (s) at which to save a decoded video frame as PNG (needs Pillow)."""

    thumbnail_dir: str | None = None
    """Folder for thumbnails; ``None`` writes none."""

    keep_media: bool = True
    """Keep decrypted segment bytes in the buffer (needed for decoding later); off saves memory."""

    whole_file_cache_bytes: int = 128 * 1024 * 1024
    """Memory for whole files from servers that ignore ``Range`` (answer ``200`` with the
    entire resource, e.g. ``python -m http.server``): each such file is downloaded once and
    every later range of it is cut from memory. The least recently used file is dropped to
    make room; a file larger than this, or a dropped file needed again (the files played
    together do not fit), fails with ``RangeNotSupported`` instead of downloading whole
    files over and over. 128 MiB holds the video and audio files of about 30 minutes at
    0.5 Mb/s."""

    switch_across_compatible_sets: bool = True
    """DASH: also let ABR switch between video AdaptationSets that declare no
    adaptation-set-switching link but have the same codec family, roles, language and frame
    rate (what Shaka Player does); ``False`` merges only linked sets (dash.js, ExoPlayer)."""

    abandon_check_interval_s: float = 0.25
    """How often an in-flight video download is checked for abandonment."""

    max_event_backlog: int = 10_000
    """Events kept for the async iterator when nobody reads them; older ones are dropped."""

    timeline_interval_s: float = 1.0
    """Session seconds between timeline samples while no event happens (every event adds
    one too), so position and buffer curves never freeze between events; 1 s is finer than
    any segment and costs one wake-up per second."""

    def __post_init__(self) -> None:
        """Validate ranges.

        Raises:
            PlayerConfigError: A value is out of range.
        """
        for name in ("buffering_goal_s", "startup_buffer_s", "rebuffer_goal_s"):
            if getattr(self, name) <= 0:
                raise PlayerConfigError(f"PlaybackConfig.{name} must be positive")
        if self.startup_buffer_s > self.buffering_goal_s:
            raise PlayerConfigError("startup_buffer_s must not exceed buffering_goal_s")
        if self.buffer_behind_s < 0 or self.live_delay_segments < 0:
            raise PlayerConfigError("buffer_behind_s and live_delay_segments must be >= 0")
        if self.whole_file_cache_bytes < 0:
            raise PlayerConfigError("PlaybackConfig.whole_file_cache_bytes must be >= 0")
        if self.abandon_check_interval_s <= 0 or self.max_event_backlog < 1:
            raise PlayerConfigError("abandon_check_interval_s and max_event_backlog must be > 0")
        if not self.timeline_interval_s > 0:
            raise PlayerConfigError("timeline_interval_s must be > 0")


_CMCD_KEYS = frozenset("bl br bs cid d dl mtp nor nrr ot pr rtp sf sid st su tb v".split())
_CMCD_OBJECT_TYPES = frozenset({"m", "i", "v", "a", "av", "c", "tt", "k"})
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")


@dataclass(frozen=True, kw_only=True, slots=True)
class CmcdConfig:
    """Common Media Client Data (CTA-5004 v1, CTA-5004-A/B v2) sent to the CDN (docs/cmcd.md)."""

    mode: Literal["query", "header"] | None = None
    """How CMCD travels with each request: ``"query"`` (a ``CMCD=`` URL argument),
    ``"header"`` (the ``CMCD-Object``/``-Request``/``-Status``/``-Session`` headers) or
    ``None``, off (the default: query mode changes URLs, hence cache keys, and headers
    trigger CORS preflights in browsers, so a service turns it on for CDNs that use it)."""

    version: int = 2
    """CMCD version: 2 (CTA-5004-A/B: per-type inner lists, ``nor`` with ``;r`` ranges,
    ``v=2``) or 1 (CTA-5004: plain integers, ``nrr``, no ``v``) for CDNs that parse only v1."""

    content_id: str | None = None
    """``cid``: the content's id, printable ASCII, at most 128 characters (64 in v1);
    ``None`` sends no ``cid`` (the spec leaves it to the service)."""

    session_id: str | None = None
    """``sid``: the playback session's id, printable ASCII, at most 64 characters; ``None``
    makes a random UUID for each ``Player`` (the spec recommends a UUID)."""

    requested_throughput_factor: float | None = None
    """``rtp``: ask the CDN for at most this multiple of the requested rendition's bitrate
    (the spec's example asks 5x); ``None``, the default, sends no ``rtp``, since a CDN
    that honours it caps the throughput the ABR estimate can see."""

    object_types: frozenset[str] = _CMCD_OBJECT_TYPES
    """Which requests carry CMCD, by object type: ``m`` manifests and playlists, ``i`` init
    and segment-index ranges, ``v``/``a``/``av`` media, ``c``/``tt``
    text, ``k`` keys and licenses. All by default: the spec asks for ``sid`` on every
    request of a session, DRM key requests included (CTA-5004-B section 4.3)."""

    keys: frozenset[str] | None = None
    """Send only these keys (``v`` is always sent in v2); ``None`` sends every key known."""

    def __post_init__(self) -> None:
        """Validate values.

        Raises:
            PlayerConfigError: A value is out of range or an id cannot be sent.
        """
        if self.mode not in (None, "query", "header"):
            raise PlayerConfigError(f"CmcdConfig.mode must be query, header or None: {self.mode!r}")
        if self.version not in (1, 2):
            raise PlayerConfigError(f"CmcdConfig.version must be 1 or 2, got {self.version}")
        longest = {"content_id": 128 if self.version == 2 else 64, "session_id": 64}
        for name, limit in longest.items():
            value = getattr(self, name)
            if value is not None and (not _PRINTABLE_ASCII.fullmatch(value) or len(value) > limit):
                raise PlayerConfigError(
                    f"CmcdConfig.{name} must be 1 to {limit} printable ASCII characters"
                )
        factor = self.requested_throughput_factor
        if factor is not None and factor <= 0:
            raise PlayerConfigError("CmcdConfig.requested_throughput_factor must be positive")
        if not self.object_types <= _CMCD_OBJECT_TYPES:
            unknown = sorted(self.object_types - _CMCD_OBJECT_TYPES)
            raise PlayerConfigError(f"CmcdConfig.object_types: unknown types {unknown}")
        if self.keys is not None and not self.keys <= _CMCD_KEYS:
            raise PlayerConfigError(f"CmcdConfig.keys: unknown {sorted(self.keys - _CMCD_KEYS)}")


@dataclass(frozen=True, kw_only=True, slots=True)
class SteeringConfig:
    """Content steering (HLS ``EXT-X-CONTENT-STEERING``, DASH ``ContentSteering``).

    How long a failed pathway is penalised is the transport's edge exclusion
    (``TransportConfig.retry.exclusion_s``, doubling up to ``max_exclusion_s`` while its
    probes fail): pathways, BaseURLs, redundant variants and alternate origins share one
    health mechanism (docs/steering.md).
    """

    is_enabled: bool = True
    """Ask the steering server a manifest names and follow its pathway priority. Off: the
    manifest's default pathway, then the others in manifest order, with failover."""

    default_ttl_s: float = 300.0
    """Seconds between steering requests before a manifest gave a ``TTL`` (the base draft's
    default, and what hls.js and VHS use)."""

    min_ttl_s: float = 1.0
    """Shortest wait between two steering requests, whatever ``TTL`` says: a server that
    answers ``TTL: 0.01`` must not turn the player into a load generator."""

    max_failure_delay_s: float = 600.0
    """Longest wait before asking a failing steering server again. After a failure the
    player waits the last ``TTL``, doubled per consecutive failure, up to this."""

    max_manifest_bytes: int = 64 * 1024
    """Largest steering manifest accepted; real ones are a few hundred bytes."""

    start_timeout_s: float = 2.0
    """DASH ``queryBeforeStart``: longest wait for the first steering answer before the
    first segment request; past it playback starts on the default service location."""

    throughput_weight: float = 0.3
    """Weight of the newest transfer in each pathway's throughput average, reported to the
    server as ``_HLS_throughput`` / ``_DASH_throughput``."""

    def __post_init__(self) -> None:
        """Validate ranges.

        Raises:
            PlayerConfigError: A value is out of range.
        """
        for name in ("default_ttl_s", "min_ttl_s", "max_failure_delay_s", "start_timeout_s"):
            if getattr(self, name) <= 0:
                raise PlayerConfigError(f"SteeringConfig.{name} must be positive")
        if self.max_manifest_bytes <= 0:
            raise PlayerConfigError("SteeringConfig.max_manifest_bytes must be positive")
        if not 0.0 < self.throughput_weight <= 1.0:
            raise PlayerConfigError("SteeringConfig.throughput_weight must be within (0, 1]")


@dataclass(frozen=True, kw_only=True, slots=True)
class TextConfig:
    """Bounds for parsing untrusted subtitle and caption files (docs/text.md)."""

    max_text_bytes: int = 8 * 1024 * 1024
    """Largest text segment or sidecar file parsed. A feature film's TTML with styling is
    1-2 MB; a segment of segmented WebVTT is a few kB."""

    max_cues_per_file: int = 50_000
    """Most cues (or ``p`` elements, or samples of MP4 text) one file may hold. A two-hour film
    has 1,500-3,000 subtitles; 50,000 bounds parsing work on a hostile file."""

    max_cue_chars: int = 10_000
    """Longest text of one cue, in characters (real cues are two lines of 40)."""

    max_cues_kept: int = 100_000
    """Cues kept per text track for cue events, seeks and reports. Past it the cues furthest
    behind the playhead are dropped (a day of live subtitles is about 30,000)."""

    max_xml_depth: int = 64
    """Deepest TTML element nesting accepted; real documents nest fewer than 10 levels."""

    def __post_init__(self) -> None:
        """Validate ranges.

        Raises:
            PlayerConfigError: A bound is not positive.
        """
        for name in (
            "max_text_bytes",
            "max_cues_per_file",
            "max_cue_chars",
            "max_cues_kept",
            "max_xml_depth",
        ):
            if getattr(self, name) <= 0:
                raise PlayerConfigError(f"TextConfig.{name} must be positive")


@dataclass(frozen=True, kw_only=True, slots=True)
class ThumbnailConfig:
    """Thumbnails from image tracks (``Player.thumbnail_at``, docs/thumbnails.md)."""

    max_cached_images: int = 16
    """Images (sprite sheets) kept in memory for later thumbnails, least recently used
    dropped first. A sheet of 10 to 100 thumbnails covers 1 to 15 minutes, so 16 cover a
    film's worth of scrubbing around the playhead."""

    max_image_bytes: int = 4 * 1024 * 1024
    """Largest image accepted. A 5x2 sheet of 640x360 JPEG thumbnails is about 200 kB;
    Akamai's 10x20 sheet of 102x58 about 150 kB."""

    max_image_pixels: int = 50_000_000
    """Largest image (width x height) accepted, read from its header before any decoding: a
    decoded picture takes 3 bytes a pixel, so this bounds it to 150 MB. A 10x20 sheet of
    320x180 thumbnails is 11.5 million pixels."""

    max_export_count: int = 10_000
    """Most thumbnails ``play --thumbnails-from-track`` writes (about 3 hours at one a
    second); the JSON index says when the span held more."""

    def __post_init__(self) -> None:
        """Validate ranges.

        Raises:
            PlayerConfigError: A bound is not positive.
        """
        for name in (
            "max_cached_images",
            "max_image_bytes",
            "max_image_pixels",
            "max_export_count",
        ):
            if getattr(self, name) <= 0:
                raise PlayerConfigError(f"ThumbnailConfig.{name} must be positive")


@dataclass(frozen=True, kw_only=True, slots=True)
class OfflineConfig:
    """Downloads for offline playback (``player.offline``, docs/offline.md).

    Which renditions are downloaded follows ``PlaybackConfig`` (``max_video_height``,
    ``max_video_bitrate_bps``, ``audio_language``, ``text_language``), as for playback.
    """

    concurrent_requests: int = 4
    """Files fetched at once. Four overlap request latency on a CDN without opening more
    connections than a browser uses per origin (six); one file at a time halves throughput
    on a 50 ms link."""

    space_margin_ratio: float = 0.10
    """Added to the estimate of what is left to download before it is compared with the
    free space (the estimate uses declared peak bitrates, usually above the real sizes; the
    margin covers manifests that under-declare)."""

    min_free_bytes: int = 64 * 1024 * 1024
    """Space the download must leave free on the filesystem, so a download never fills the
    disk the system and the journal still need."""

    init_estimate_bytes: int = 64 * 1024
    """Size assumed for an init segment the manifest gives no size for; real ones are 1 to
    4 kB, 64 kB bounds one with a large ``pssh`` set."""

    unknown_bitrate_bps: int = 320_000
    """Bitrate assumed for a rendition that declares none (HLS audio renditions): the top of
    common AAC and AC-3 stereo bitrates, so the space estimate stays on the safe side."""

    max_bytes: int | None = None
    """Disk budget of one download, bytes (media, manifests, state): ``None`` for none beyond
    the free space. The estimate of the whole download must fit in it before anything is
    fetched, and the download stops once the files on disk pass it (``DownloadTooLarge``;
    complete files are kept, a re-run with a larger budget continues)."""

    verify_hashes: bool = True
    """On a re-run, check the SHA-256 of every file already downloaded (off: sizes only).
    Hashing reads the files once (about 1 GB/s); it catches a file a crash left short or a
    disk corrupted, which sizes alone may miss."""

    def __post_init__(self) -> None:
        """Validate ranges.

        Raises:
            PlayerConfigError: A value is out of range.
        """
        if self.concurrent_requests < 1:
            raise PlayerConfigError("OfflineConfig.concurrent_requests must be at least 1")
        if self.space_margin_ratio < 0:
            raise PlayerConfigError("OfflineConfig.space_margin_ratio must not be negative")
        for name in ("min_free_bytes", "init_estimate_bytes", "unknown_bitrate_bps"):
            if getattr(self, name) < 0:
                raise PlayerConfigError(f"OfflineConfig.{name} must not be negative")
        if self.max_bytes is not None and self.max_bytes < 1:
            raise PlayerConfigError("OfflineConfig.max_bytes must be at least 1 (or None)")


@dataclass(frozen=True, kw_only=True, slots=True)
class PlayerConfig:
    """Everything a ``Player`` needs, one section per package."""

    manifest: ManifestConfig = field(default_factory=ManifestConfig)
    """Manifest parsing bounds."""

    playback: PlaybackConfig = field(default_factory=PlaybackConfig)
    """Buffering, track choice and decoding."""

    abr: AbrConfig = field(default_factory=AbrConfig)
    """ABR settings."""

    transport: TransportConfig = field(default_factory=TransportConfig)
    """HTTP settings."""

    drm: DrmConfig = field(default_factory=DrmConfig)
    """DRM settings."""

    heartbeat: HeartbeatConfig = field(default_factory=HeartbeatConfig)
    """Heartbeat reporting, outbox and resume settings."""

    steering: SteeringConfig = field(default_factory=SteeringConfig)
    """Content steering: steering server requests and pathway choice."""

    cmcd: CmcdConfig = field(default_factory=CmcdConfig)
    """Common Media Client Data sent with requests (off by default)."""

    text: TextConfig = field(default_factory=TextConfig)
    """Subtitle and caption parsing bounds."""

    thumbnails: ThumbnailConfig = field(default_factory=ThumbnailConfig)
    """Thumbnails from image tracks: image cache and size bounds."""

    offline: OfflineConfig = field(default_factory=OfflineConfig)
    """Downloads for offline playback: concurrency, disk-space margin, checks on resume."""
