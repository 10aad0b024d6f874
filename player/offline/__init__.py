"""Offline playback: download a VOD presentation, keep its persistent license, play it back.

``Downloader`` (or ``download``) fetches the chosen renditions through the SDK's transport
and writes a local manifest of the source's format; a re-run continues an interrupted
download. ``OfflineDownload`` opens a completed download for playback with its stored
license (docs/offline.md).
"""

from __future__ import annotations

from player.offline._downloader import Downloader, download
from player.offline._license_store import StoredLicense
from player.offline._playback import OfflineDownload, ServedDownload
from player.offline._progress import (
    DownloadCompleted,
    DownloadProgressed,
    DownloadResult,
    DownloadStarted,
    LicenseStored,
)

__all__ = [
    "DownloadCompleted",
    "DownloadProgressed",
    "DownloadResult",
    "DownloadStarted",
    "Downloader",
    "LicenseStored",
    "OfflineDownload",
    "ServedDownload",
    "StoredLicense",
    "download",
]
