"""Playing a download: its manifest, its stored license, and a loopback server for its folder.

``OfflineDownload.open(path)`` finds a completed download from its folder or manifest.
``player_config`` adds the stored license's keys to a ``PlayerConfig`` after checking its
expiry (``LicenseExpired`` once past it). ``serve`` serves the folder over loopback HTTPS
with the lab's static-file server, as ``python -m player play <file>`` serves any local
manifest, except that the store (state, journal, license) is never served: the keys stay
in the file only the user can read.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from player.config import PlayerConfig
from player.errors import DownloadStateError
from player.manifest import StreamFormat
from player.offline._journal import STATE_FILE
from player.offline._license_store import LICENSE_FILE, StoredLicense, read_license
from player.offline._plan import STORE_DIR

__all__ = ["OfflineDownload", "ServedDownload"]


@dataclass(frozen=True, slots=True)
class ServedDownload:
    """A download's folder served on loopback.

    Attributes:
        url: The local manifest's URL.
        ca_file: The test CA the player must trust (``TransportConfig.ca_file``).
    """

    url: str
    ca_file: str


@dataclass(frozen=True, slots=True)
class OfflineDownload:
    """A completed download, ready to play without the network.

    Attributes:
        folder: The download folder.
        manifest_path: The local manifest.
        format: HLS or DASH.
        source_url: The manifest it was downloaded from.
        license: The stored license, ``None`` for clear content.
    """

    folder: Path
    manifest_path: Path
    format: StreamFormat
    source_url: str
    license: StoredLicense | None

    @classmethod
    def find(cls, manifest: Path, *, license_file: Path | None = None) -> OfflineDownload | None:
        """The download a local manifest belongs to, ``None`` for any other file.

        Args:
            manifest: A manifest file on disk.
            license_file: A stored license to use instead of the one next to the manifest.

        Raises:
            DownloadStateError: The download's state or license is unreadable, or it is not
                complete.
        """
        if not (manifest.parent / STORE_DIR / STATE_FILE).is_file():
            return None
        return cls.open(manifest, license_file=license_file)

    @classmethod
    def open(cls, path: str | Path, *, license_file: Path | None = None) -> OfflineDownload:
        """Open a completed download from its folder or its manifest.

        Args:
            path: The download folder, or the manifest in it.
            license_file: A stored license to use instead of the one in the folder.

        Raises:
            DownloadStateError: Not a download folder, not complete, or unreadable.
        """
        given = Path(path).expanduser()
        folder = given if given.is_dir() else given.parent
        state_path = folder / STORE_DIR / STATE_FILE
        try:
            state = json.loads(state_path.read_bytes())
        except (OSError, ValueError, UnicodeDecodeError):
            raise DownloadStateError(
                f"{folder} is not a download folder (no readable {STORE_DIR}/{STATE_FILE})",
                path=str(folder),
            ) from None
        if not isinstance(state, dict) or state.get("status") != "complete":
            raise DownloadStateError(
                f"the download in {folder} is not complete: run the download again to finish it",
                path=str(folder),
            )
        manifest = folder / str(state.get("manifest", ""))
        own = folder / STORE_DIR / LICENSE_FILE
        license_path = license_file if license_file is not None else own
        stored = (
            read_license(license_path)
            if license_file is not None or license_path.exists()
            else None
        )
        return cls(
            folder=folder,
            manifest_path=manifest,
            format=StreamFormat(state.get("format", "dash")),
            source_url=str(state.get("source_url", "")),
            license=stored,
        )

    def player_config(self, config: PlayerConfig | None = None, *, now: float) -> PlayerConfig:
        """``config`` with the stored license's keys, after checking its expiry.

        Args:
            config: The configuration to extend (defaults otherwise).
            now: Wall-clock time, UTC epoch seconds.

        Returns:
            The configuration: ``drm.keys`` and ``drm.hls_keys`` hold the stored keys (keys
            given in ``config`` win), so playback sends no license or key request.

        Raises:
            LicenseExpired: The stored license is past the expiry its server stated.
        """
        config = config or PlayerConfig()
        stored = self.license
        if stored is None:
            return config
        stored.check(now=now)
        drm = dataclasses.replace(
            config.drm,
            keys={**stored.keys, **config.drm.keys},
            hls_keys={**stored.hls_keys, **config.drm.hls_keys},
        )
        return dataclasses.replace(config, drm=drm)

    @contextmanager
    def serve(self) -> Iterator[ServedDownload]:
        """Serve the folder over loopback HTTPS (a thread), the store hidden.

        Yields:
            The manifest's URL and the CA to trust.

        Raises:
            ImportError: The lab extra (hypercorn) is not installed.
        """
        from transport.lab import DirectoryContent, LabCdn, Resource, TestCA

        inner = DirectoryContent(self.folder)

        class _WithoutStore:
            def lookup(self, path: str) -> Resource | None:
                parts = [p for p in path.split("/") if p not in ("", ".")]
                if parts and parts[0] == STORE_DIR:
                    return None
                return inner.lookup(path)

        with tempfile.TemporaryDirectory(prefix="streamsdk-offline-") as tmp:
            ca = TestCA(Path(tmp) / "ca")
            cdn = LabCdn(_WithoutStore(), edges=0, ca=ca).start_in_thread()
            try:
                name = quote(self.manifest_path.relative_to(self.folder).as_posix())
                yield ServedDownload(f"{cdn.origin.base_url}/{name}", cdn.ca_file)
            finally:
                cdn.stop()
