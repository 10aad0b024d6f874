"""Download events and the result of a download.

Events carry ``at_s``: seconds since ``Downloader.download()`` was called. They never carry
key material. ``event_to_json`` (``player.events``) turns any of them into JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from player.events import Event
from player.manifest import StreamFormat
from player.offline._license_store import StoredLicense

__all__ = [
    "DownloadCompleted",
    "DownloadProgressed",
    "DownloadResult",
    "DownloadStarted",
    "LicenseStored",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class DownloadStarted(Event):
    """The plan is made and checked against the free space; fetching starts.

    Attributes:
        url: The manifest URL.
        folder: The download folder.
        files_total: Files the download consists of.
        files_present: Of those, files a previous run completed (verified, kept).
        bytes_present: Their size.
        bytes_estimate: Estimated size of the whole download.
        free_bytes: Free space on the folder's filesystem before starting.
        tracks: ``kind:representation_id`` of every rendition downloaded.
    """

    url: str
    folder: str
    files_total: int
    files_present: int
    bytes_present: int
    bytes_estimate: int
    free_bytes: int
    tracks: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class DownloadProgressed(Event):
    """A file landed: the figures of its rendition and of the whole download.

    Attributes:
        track: ``video``, ``audio`` or ``text``.
        representation_id: The rendition.
        segments_done: Media segments of the rendition on disk.
        segments_total: Media segments of the rendition.
        bytes_done: Bytes of the rendition on disk.
        bytes_total: The rendition's size: exact once all its files are done, an estimate
            from declared sizes and bitrates before.
        files_done: Files of the whole download on disk.
        files_total: Files of the whole download.
        total_bytes_done: Bytes of the whole download on disk.
        total_bytes_estimate: Estimated size of the whole download (exact at the end).
    """

    track: str
    representation_id: str
    segments_done: int
    segments_total: int
    bytes_done: int
    bytes_total: int
    files_done: int
    files_total: int
    total_bytes_done: int
    total_bytes_estimate: int


@dataclass(frozen=True, kw_only=True, slots=True)
class LicenseStored(Event):
    """The download's license was stored (or a stored one was found still valid).

    Attributes:
        kids: KIDs it holds keys for.
        source: ``license-server``, ``keys`` or ``key-uri``.
        expires_at_s: Its expiry, UTC epoch seconds (``None``: none stated).
        is_reused: A license stored by a previous run was still valid and covers the content.
    """

    kids: tuple[str, ...]
    source: str
    expires_at_s: float | None
    is_reused: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class DownloadCompleted(Event):
    """Every file is on disk and the local manifest is written.

    Attributes:
        manifest: Path of the local manifest.
        files: Files of the download.
        bytes_on_disk: Their total size.
        bytes_fetched: Bytes received over the network in this run (manifests, playlists
            and indexes included; license requests not).
        files_kept: Files a previous run had completed.
    """

    manifest: str
    files: int
    bytes_on_disk: int
    bytes_fetched: int
    files_kept: int


@dataclass(frozen=True, kw_only=True, slots=True)
class DownloadResult:
    """What ``Downloader.download`` did.

    Attributes:
        manifest_path: The local manifest; play it with ``python -m player play``.
        format: HLS or DASH, as the source.
        files: Files of the download.
        files_kept: Files a previous run had completed (verified and kept).
        bytes_on_disk: Size of the download's media and manifests.
        bytes_fetched: Bytes received over the network in this run (manifests, playlists and
            indexes included; license requests not).
        elapsed_s: Wall time of this run, seconds.
        license: The stored license, ``None`` for clear content.
    """

    manifest_path: Path
    format: StreamFormat
    files: int
    files_kept: int
    bytes_on_disk: int
    bytes_fetched: int
    elapsed_s: float
    license: StoredLicense | None
