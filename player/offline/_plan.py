"""What a download keeps: the renditions chosen, and every file with its place in the folder.

Sans-I/O. ``choose_renditions`` picks, per period, the video rendition(s), the audio and the
text rendition the way a playback session would (``PlaybackConfig`` caps and languages);
``build_plan`` lays each chosen rendition's init and media segments out as files under the
download folder and estimates their sizes from what the manifest declares.

Folder layout (relative to the download folder)::

    manifest.mpd | manifest.m3u8          the local manifest (written last)
    media/p<period>/<kind>/<rendition>/   init.mp4, seg-00001.m4s, ... (and index.m3u8 for HLS)
    .streamsdk-offline/                    state, journal and stored license (never served)
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

from player._tracks import choose_tracks, video_ladder
from player.config import OfflineConfig, PlaybackConfig
from player.errors import NotDownloadable
from player.manifest import (
    ByteRange,
    InitSegment,
    Presentation,
    Representation,
    Segment,
    StreamFormat,
    Track,
)

__all__: list[str] = []

STORE_DIR = ".streamsdk-offline"
"""The folder of a download's own files (state, journal, license); never served, never media."""

_MEDIA_SUFFIXES = frozenset(
    {".m4s", ".ts", ".aac", ".ac3", ".ec3", ".m4a", ".vtt", ".webvtt", ".ttml", ".xml", ".dfxp"}
)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class FileKind(StrEnum):
    """What a downloaded file is."""

    INIT = "init"
    MEDIA = "media"


@dataclass(frozen=True, slots=True)
class Chosen:
    """One rendition to download.

    Attributes:
        period_index: Index of its period in the presentation.
        kind: ``video`` (video or muxed), ``audio`` or ``text``.
        track: Its track.
        representation: The rendition (segments still to load for HLS and ``SegmentBase``).
    """

    period_index: int
    kind: str
    track: Track
    representation: Representation


@dataclass(frozen=True, slots=True)
class PlannedFile:
    """One file of the download.

    Attributes:
        path: Where it goes, relative to the download folder (POSIX).
        kind: Init or media segment.
        track: ``video``, ``audio`` or ``text``.
        representation_id: The rendition it belongs to.
        urls: The resource at each location (empty when ``data`` carries it).
        byte_range: The range of the resource, if any.
        size_bytes: Its exact size when the manifest gives it (a byte range, inline data).
        estimate_bytes: Its size as estimated for the space check.
        data: Bytes the manifest (or the segment index request) already carried.
        representation: The rendition (its locations name pathways for the request).
        start_s: Presentation time where the segment starts (0 for an init): media files
            are fetched in time order across renditions, so an interrupted download has
            every rendition up to about the same time.
    """

    path: str
    kind: FileKind
    track: str
    representation_id: str
    urls: tuple[str, ...]
    byte_range: ByteRange | None
    size_bytes: int | None
    estimate_bytes: int
    data: bytes | None = field(default=None, repr=False)
    representation: Representation | None = field(default=None, repr=False, compare=False)
    start_s: float = 0.0

    @property
    def source(self) -> str:
        """What the file was made from: URL and range (a changed source is fetched again)."""
        where = self.urls[0] if self.urls else "data:"
        if self.data is not None and not self.urls:
            where = "data:" + hashlib.sha256(self.data).hexdigest()[:16]
        span = "" if self.byte_range is None else f"#{self.byte_range.first}-{self.byte_range.last}"
        return where + span


@dataclass(frozen=True, slots=True)
class LocalSegment:
    """A segment of a downloaded rendition and the files it plays from.

    Attributes:
        segment: The segment as the source manifest describes it.
        path: Its media file.
        init_path: Its init segment's file, if it has one.
    """

    segment: Segment
    path: str
    init_path: str | None


@dataclass(frozen=True, slots=True)
class LocalRendition:
    """A downloaded rendition: what the local manifest describes.

    Attributes:
        chosen: The rendition, with its segments loaded.
        folder: Its folder, relative to the download folder.
        segments: Its segments with their local files, in order.
    """

    chosen: Chosen
    folder: str
    segments: tuple[LocalSegment, ...]


@dataclass(frozen=True, slots=True)
class DownloadPlan:
    """Every rendition and file of one download.

    Attributes:
        presentation: The source presentation (segments loaded for the chosen renditions).
        renditions: The chosen renditions, in period then manifest order.
        files: Every file, inits of a rendition before its media segments.
    """

    presentation: Presentation
    renditions: tuple[LocalRendition, ...]
    files: tuple[PlannedFile, ...]

    @property
    def estimate_bytes(self) -> int:
        """Estimated size of the whole download."""
        return sum(f.estimate_bytes for f in self.files)


def check_downloadable(presentation: Presentation) -> None:
    """Refuse what a download cannot keep.

    Raises:
        NotDownloadable: A live (dynamic) presentation, or DASH whole-segment (SEA)
            encryption.
    """
    url = presentation.url
    if presentation.is_live:
        raise NotDownloadable(
            f"{url}: a live presentation cannot be downloaded (only VOD)", url=url
        )
    for rep in presentation.representations():
        if any(p.system_id is None and p.scheme == "AES-128" for p in rep.protections):
            raise NotDownloadable(
                f"{url}: DASH segment encryption (SEA) is not kept by downloads", url=url
            )


def choose_renditions(
    presentation: Presentation, playback: PlaybackConfig, *, all_video: bool = False
) -> tuple[Chosen, ...]:
    """The renditions to download from every period, as a session would choose its tracks.

    Video: the highest rendition within ``max_video_height``/``max_video_bitrate_bps``
    (every one within them with ``all_video``); audio and text: the track for the configured
    language (else the default), its highest-bitrate rendition.

    Raises:
        RestrictionsNotMet: The caps leave no video rendition.
        NotDownloadable: A period has no playable track.
    """
    merge = presentation.format == StreamFormat.DASH and playback.switch_across_compatible_sets
    out: list[Chosen] = []
    for index, period in enumerate(presentation.periods):
        choice = choose_tracks(period, playback, merge_compatible=merge)
        if choice.video is not None:
            group = choice.audio.group_id if choice.audio is not None else None
            ladder = video_ladder(choice.video, playback, audio_group=group)
            for rep in ladder if all_video else ladder[-1:]:
                out.append(Chosen(index, "video", choice.video, rep))
        for kind, track in (("audio", choice.audio), ("text", choice.text)):
            if track is not None:
                best = max(track.representations, key=lambda r: r.bandwidth_bps)
                out.append(Chosen(index, kind, track, best))
        if not any(c.period_index == index for c in out):
            raise NotDownloadable(
                f"{presentation.url}: period {period.id!r} has no playable track",
                url=presentation.url,
            )
    return tuple(out)


def build_plan(
    presentation: Presentation,
    chosen: Sequence[Chosen],
    config: OfflineConfig,
    *,
    prefetched: dict[tuple[str, ByteRange | None], bytes] | None = None,
) -> DownloadPlan:
    """Lay out the files of the chosen renditions (their segments must be loaded).

    Args:
        presentation: The source presentation.
        chosen: The renditions, each with its segments.
        config: Estimates for sizes the manifest does not give.
        prefetched: Init bytes already fetched (with a segment index), by URL and range.

    Returns:
        The plan: every init file, then the media files in presentation-time order (the
        renditions interleaved).

    Raises:
        NotDownloadable: A chosen rendition has no segments.
    """
    folders = _folders(chosen)
    renditions: list[LocalRendition] = []
    files: list[PlannedFile] = []
    for item, folder in zip(chosen, folders, strict=True):
        segments = item.representation.segments
        if not segments:
            raise NotDownloadable(
                f"{presentation.url}: rendition {item.representation.id!r} lists no segments",
                url=presentation.url,
            )
        rendition, own = _layout(item, folder, segments, config, prefetched or {})
        renditions.append(rendition)
        files.extend(own)
    inits = [f for f in files if f.kind is FileKind.INIT]
    media = sorted((f for f in files if f.kind is FileKind.MEDIA), key=lambda f: f.start_s)
    return DownloadPlan(presentation, tuple(renditions), tuple(inits + media))


def _layout(
    item: Chosen,
    folder: str,
    segments: Sequence[Segment],
    config: OfflineConfig,
    prefetched: dict[tuple[str, ByteRange | None], bytes],
) -> tuple[LocalRendition, list[PlannedFile]]:
    rep = item.representation
    inits: dict[tuple[object, ...], str] = {}
    init_files: list[PlannedFile] = []
    media: list[PlannedFile] = []
    local: list[LocalSegment] = []
    bitrate = rep.bandwidth_bps or config.unknown_bitrate_bps
    for number, segment in enumerate(segments, start=1):
        init = segment.init or rep.init
        init_path = None
        if init is not None:
            key = (init.urls, init.byte_range, init.data)
            if key not in inits:
                name = "init.mp4" if not inits else f"init-{len(inits) + 1}.mp4"
                inits[key] = f"{folder}/{name}"
                init_files.append(_init_file(item, inits[key], init, config, prefetched))
            init_path = inits[key]
        path = f"{folder}/seg-{number:05d}{_suffix(segment.url)}"
        local.append(LocalSegment(segment, path, init_path))
        if segment.is_gap:
            continue
        size = segment.byte_range.length if segment.byte_range is not None else None
        estimate = size if size is not None else math.ceil(bitrate * segment.duration_s / 8)
        media.append(
            PlannedFile(
                path=path,
                kind=FileKind.MEDIA,
                track=item.kind,
                representation_id=rep.id,
                urls=segment.urls,
                byte_range=segment.byte_range,
                size_bytes=size,
                estimate_bytes=estimate,
                representation=rep,
                start_s=segment.start_s,
            )
        )
    return LocalRendition(item, folder, tuple(local)), init_files + media


def _init_file(
    item: Chosen,
    path: str,
    init: InitSegment,
    config: OfflineConfig,
    prefetched: dict[tuple[str, ByteRange | None], bytes],
) -> PlannedFile:
    data = init.data
    urls = init.urls
    if data is None:
        data = prefetched.get((init.url, init.byte_range))
    else:
        urls = ()  # a data: URI: nothing to fetch
    size = len(data) if data is not None else None
    if size is None and init.byte_range is not None:
        size = init.byte_range.length
    return PlannedFile(
        path=path,
        kind=FileKind.INIT,
        track=item.kind,
        representation_id=item.representation.id,
        urls=urls,
        byte_range=init.byte_range,
        size_bytes=size,
        estimate_bytes=size if size is not None else config.init_estimate_bytes,
        data=data,
        representation=item.representation,
    )


def _suffix(url: str) -> str:
    """The media file suffix to keep (``.m4s`` for fragments cut from an ``.mp4``)."""
    path = urlsplit(url).path
    dot = path.rfind(".")
    suffix = path[dot:].lower() if dot > path.rfind("/") else ""
    return suffix if suffix in _MEDIA_SUFFIXES else ".m4s"


def safe_name(text: str) -> str:
    """A file-name-safe form of a rendition id (no separators, no leading dot).

    >>> safe_name("video/1080p"), safe_name(".."), safe_name("a b")
    ('video_1080p', 'r', 'a_b')
    """
    name = _SAFE.sub("_", text).strip("_").lstrip(".")[:64]
    return name or "r"


def _folders(chosen: Sequence[Chosen]) -> list[str]:
    """One distinct folder per chosen rendition."""
    used: set[str] = set()
    out: list[str] = []
    for item in chosen:
        base = f"media/p{item.period_index}/{item.kind}/{safe_name(item.representation.id)}"
        folder = base
        if folder in used:
            digest = hashlib.sha1(item.representation.id.encode(), usedforsecurity=False)
            folder = f"{base}-{digest.hexdigest()[:8]}"
        while folder in used:
            folder += "_"
        used.add(folder)
        out.append(folder)
    return out
