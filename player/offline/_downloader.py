"""``Downloader``: a VOD presentation to a folder that plays without the network.

One run: fetch the manifest (and the chosen HLS media playlists or DASH segment indexes),
choose the renditions, lay out the files (``_plan``), keep what a previous run completed
and still verifies (``_journal``), check the free space, fetch the init segments, store
the license (``_keys``), fetch the media segments, then write the local manifest. Ctrl-C or
an error at any point leaves complete files and their journal entries: the next run
continues from there.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from player.config import PlayerConfig
from player.errors import DownloadStateError, DownloadTooLarge, InsufficientSpace, redact_url
from player.events import Event
from player.manifest import StreamFormat
from player.offline._fetch import Fetching, fetch_presentation
from player.offline._journal import DoneFile, FolderLock, Journal, commit_file, verify
from player.offline._keys import acquire, needed_kids
from player.offline._license_store import LICENSE_FILE, StoredLicense, read_license, write_license
from player.offline._local import MANIFEST_NAMES, remove_others, write_local_manifests
from player.offline._plan import (
    STORE_DIR,
    DownloadPlan,
    FileKind,
    PlannedFile,
    build_plan,
    check_downloadable,
    choose_renditions,
)
from player.offline._progress import (
    DownloadCompleted,
    DownloadProgressed,
    DownloadResult,
    DownloadStarted,
    LicenseStored,
)
from transport import HttpClient

__all__ = ["Downloader", "download"]

_log = logging.getLogger(__name__)

DownloadListener = Callable[[Event], None]


class Downloader:
    """Downloads VOD presentations for offline playback (resumable, bounded in disk use).

    Renditions are chosen as for playback (``config.playback``: ``max_video_height``,
    ``max_video_bitrate_bps``, ``audio_language``, ``text_language``); encrypted content gets
    a ClearKey ``persistent-license`` from the license server (``config.drm``: license URL
    and headers) or uses ``config.drm.keys``.

    Args:
        config: Settings for every package (``offline`` for the download itself).
        http: Transport client; one owned by the downloader by default (a given one is not
            closed by ``aclose``).
        wall: UTC epoch seconds, for license expiry (injectable for tests).

    Example:
        >>> import asyncio
        >>> async def main() -> None:
        ...     async with Downloader() as downloader:
        ...         downloader.add_listener(print)
        >>> asyncio.run(main())
    """

    def __init__(
        self,
        config: PlayerConfig | None = None,
        *,
        http: HttpClient | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or PlayerConfig()
        self._owns_http = http is None
        self.http = http if http is not None else HttpClient(self.config.transport)
        self._wall = wall
        self._listeners: list[DownloadListener] = []

    async def __aenter__(self) -> Downloader:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release connections (of an owned transport client)."""
        if self._owns_http:
            await self.http.aclose()

    def add_listener(self, listener: DownloadListener) -> None:
        """Call ``listener(event)`` synchronously for every download event."""
        self._listeners.append(listener)

    async def download(
        self, url: str, folder: str | Path, *, all_video_renditions: bool = False
    ) -> DownloadResult:
        """Download ``url`` into ``folder``, continuing what a previous run left there.

        Args:
            url: Manifest URL (http or https), HLS or DASH, VOD.
            folder: The download folder (created, mode 0700); the local manifest is
                ``manifest.mpd`` or ``manifest.m3u8`` in it.
            all_video_renditions: Keep every video rendition within the caps (the local
                manifest then offers the same ladder); by default only the highest.

        Returns:
            What was done: the local manifest, files, bytes, the stored license.

        Raises:
            InsufficientSpace: The filesystem lacks the estimated space (nothing fetched).
            DownloadTooLarge: Over ``OfflineConfig.max_bytes`` (estimated: nothing fetched;
                reached mid-way: complete files kept).
            DiskFull: The disk filled up mid-way (complete files are kept).
            DownloadStateError: The folder holds another download, or unreadable state.
            NotDownloadable: A live presentation, or a layout downloads cannot keep.
            RestrictionsNotMet: The caps leave no video rendition.
            LicenseError: The license server refused a persistent license or failed.
            ManifestError: The manifest is malformed or unsupported.
            TransportError: A resource could not be fetched from any location.
        """
        run = _Run(self, url, Path(folder).expanduser(), all_video=all_video_renditions)
        return await run.execute()

    def _emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            listener(event)


async def download(
    url: str,
    folder: str | Path,
    *,
    config: PlayerConfig | None = None,
    listener: DownloadListener | None = None,
    all_video_renditions: bool = False,
) -> DownloadResult:
    """Download ``url`` into ``folder`` with a ``Downloader`` of its own (see its docs).

    Args:
        url: Manifest URL.
        folder: The download folder.
        config: Settings; defaults otherwise.
        listener: Called with every download event.
        all_video_renditions: Keep every video rendition within the caps.

    Returns:
        What was done.
    """
    async with Downloader(config) as downloader:
        if listener is not None:
            downloader.add_listener(listener)
        return await downloader.download(url, folder, all_video_renditions=all_video_renditions)


@dataclasses.dataclass
class _Tally:
    """Per-rendition and overall figures for progress events."""

    segments_total: int = 0
    segments_done: int = 0
    bytes_estimate: int = 0
    bytes_done: int = 0
    files_total: int = 0
    files_done: int = 0


class _Run:
    """One call of ``Downloader.download``."""

    def __init__(self, owner: Downloader, url: str, folder: Path, *, all_video: bool) -> None:
        self.owner = owner
        self.config = owner.config
        self.url = url
        self.folder = folder
        self.all_video = all_video
        self.store = folder / STORE_DIR
        self.journal = Journal(self.store)
        self.lock = FolderLock(self.store)
        self.started = time.monotonic()
        self.done: dict[str, DoneFile] = {}
        self.tallies: dict[tuple[str, str], _Tally] = {}
        self.total = _Tally()
        self.fetching: Fetching | None = None
        self.kept_before: set[str] = set()

    def emit_now(self) -> float:
        return time.monotonic() - self.started

    async def execute(self) -> DownloadResult:
        # in the loop, not a thread: a cancellation must never leave the lock taken
        state = self._open_folder()
        try:
            return await self._locked(state)
        finally:
            self.lock.release()

    async def _locked(self, state: dict[str, Any] | None) -> DownloadResult:
        wall = self.owner._wall
        presentation, nbytes = await fetch_presentation(
            self.owner.http, self.url, self.config, wall=wall
        )
        check_downloadable(presentation)
        chosen = choose_renditions(presentation, self.config.playback, all_video=self.all_video)
        self.fetching = Fetching(self.owner.http, self.config, presentation)
        self.fetching.bytes_fetched += nbytes
        presentation, chosen, prefetched = await self.fetching.load_segments(
            presentation, chosen, now=wall()
        )
        check_downloadable(presentation)
        plan = build_plan(presentation, chosen, self.config.offline, prefetched=prefetched)
        wanted = {f.path: f.source for f in plan.files}
        recorded = await asyncio.to_thread(self.journal.done_files)
        self.done = await asyncio.to_thread(
            verify, self.folder, recorded, wanted, hashes=self.config.offline.verify_hashes
        )
        self.kept_before = set(self.done)
        free = await asyncio.to_thread(self._check_space, plan)
        doc = self._state(presentation.format, state)
        await asyncio.to_thread(self.journal.write_state, {**doc, "status": "downloading"})
        self._start_tallies(plan, free)
        await self._fetch_all([f for f in plan.files if f.kind is FileKind.INIT])
        stored = await self._license(plan)
        await self._fetch_all([f for f in plan.files if f.kind is FileKind.MEDIA])
        manifest = await asyncio.to_thread(self._finish, plan, doc)
        return self._result(plan, manifest, stored)

    # -- the folder ------------------------------------------------------------------------

    def _open_folder(self) -> dict[str, Any] | None:
        """Create the folder and its store (0700), lock it; the state of a previous run."""
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.store.mkdir(mode=0o700, exist_ok=True)
            os.chmod(self.store, 0o700)
        except OSError as exc:
            raise DownloadStateError(
                f"cannot create the download folder {self.folder}: {exc.strerror or exc}",
                path=str(self.folder),
            ) from exc
        self.lock.acquire()
        try:
            return self._previous_state()
        except BaseException:
            self.lock.release()
            raise

    def _previous_state(self) -> dict[str, Any] | None:
        state = self.journal.read_state()
        if state is not None and state.get("source_url") != self.url:
            raise DownloadStateError(
                f"{self.folder} holds the download of "
                f"{redact_url(str(state.get('source_url')))}, not of {redact_url(self.url)}: "
                "choose another folder",
                path=str(self.folder),
            )
        return state

    def _state(self, fmt: StreamFormat, previous: dict[str, Any] | None) -> dict[str, Any]:
        now = self.owner._wall()
        return {
            "source_url": self.url,
            "format": fmt.value,
            "manifest": MANIFEST_NAMES[fmt],
            "created_at_s": (previous or {}).get("created_at_s", now),
            "updated_at_s": now,
            "all_video_renditions": self.all_video,
            "files": (previous or {}).get("files", []),
        }

    def _check_space(self, plan: DownloadPlan) -> int:
        """Free bytes, after checking the budget and the free space against the estimate.

        Raises:
            DownloadTooLarge: The whole download is estimated above ``max_bytes``.
            InsufficientSpace: What is left does not fit in the free space.
        """
        cfg = self.config.offline
        left = sum(f.estimate_bytes for f in plan.files if f.path not in self.done)
        whole = left + sum(d.size for d in self.done.values())
        if cfg.max_bytes is not None and whole > cfg.max_bytes:
            raise DownloadTooLarge(
                f"{self.folder}: the download is estimated at {_mb(whole)}, over its budget of "
                f"{_mb(cfg.max_bytes)} (--max-size, OfflineConfig.max_bytes): choose a lower "
                "rendition (--max-height) or a larger budget",
                path=str(self.folder),
                limit_bytes=cfg.max_bytes,
                needed_bytes=whole,
            )
        needed = math.ceil(left * (1.0 + cfg.space_margin_ratio)) + cfg.min_free_bytes
        free = shutil.disk_usage(self.folder).free
        if left and free < needed:
            raise InsufficientSpace(
                f"{self.folder}: the download needs about {_mb(needed)} (what is left, "
                f"{_mb(left)}, plus {cfg.space_margin_ratio:.0%} and "
                f"{_mb(cfg.min_free_bytes)} kept free) but the filesystem has {_mb(free)} free",
                path=str(self.folder),
                needed_bytes=needed,
                free_bytes=free,
            )
        return free

    # -- fetching --------------------------------------------------------------------------

    def _start_tallies(self, plan: DownloadPlan, free: int) -> None:
        for f in plan.files:
            tally = self.tallies.setdefault((f.track, f.representation_id), _Tally())
            done = self.done.get(f.path)
            size = done.size if done is not None else f.estimate_bytes
            for t in (tally, self.total):
                t.files_total += 1
                t.bytes_estimate += size
                if f.kind is FileKind.MEDIA:
                    t.segments_total += 1
                if done is not None:
                    t.files_done += 1
                    t.bytes_done += done.size
                    t.segments_done += f.kind is FileKind.MEDIA
        self.owner._emit(
            DownloadStarted(
                at_s=self.emit_now(),
                url=self.url,
                folder=str(self.folder),
                files_total=self.total.files_total,
                files_present=self.total.files_done,
                bytes_present=self.total.bytes_done,
                bytes_estimate=self.total.bytes_estimate,
                free_bytes=free,
                tracks=tuple(f"{kind}:{rep}" for kind, rep in self.tallies),
            )
        )

    async def _fetch_all(self, files: Sequence[PlannedFile]) -> None:
        """Fetch the files not done yet, ``concurrent_requests`` at a time."""
        queue = iter([f for f in files if f.path not in self.done])

        async def worker() -> None:
            for planned in queue:
                await self._fetch_one(planned)

        workers = [
            asyncio.create_task(worker(), name="download-worker")
            for _ in range(self.config.offline.concurrent_requests)
        ]
        try:
            done, pending = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error

    async def _fetch_one(self, planned: PlannedFile) -> None:
        assert self.fetching is not None
        if planned.data is not None:
            content = planned.data
        else:
            content = await self.fetching.fetch(
                planned.representation, planned.urls, planned.byte_range
            )
        done = await asyncio.to_thread(
            commit_file,
            self.folder,
            planned.path,
            content,
            source=planned.source,
            journal=self.journal,
        )
        self.done[planned.path] = done
        self._progress(planned, done)

    def _progress(self, planned: PlannedFile, done: DoneFile) -> None:
        tally = self.tallies[(planned.track, planned.representation_id)]
        for t in (tally, self.total):
            t.files_done += 1
            t.bytes_done += done.size
            t.bytes_estimate += done.size - planned.estimate_bytes
            t.segments_done += planned.kind is FileKind.MEDIA
        limit = self.config.offline.max_bytes
        if limit is not None and self.total.bytes_done > limit:
            raise DownloadTooLarge(
                f"{self.folder}: the files downloaded reached {_mb(self.total.bytes_done)}, "
                f"over the budget of {_mb(limit)} (--max-size, OfflineConfig.max_bytes); "
                "the complete files are kept: run again with a larger budget to continue",
                path=str(self.folder),
                limit_bytes=limit,
                needed_bytes=self.total.bytes_done,
            )
        self.owner._emit(
            DownloadProgressed(
                at_s=self.emit_now(),
                track=planned.track,
                representation_id=planned.representation_id,
                segments_done=tally.segments_done,
                segments_total=tally.segments_total,
                bytes_done=tally.bytes_done,
                bytes_total=tally.bytes_estimate,
                files_done=self.total.files_done,
                files_total=self.total.files_total,
                total_bytes_done=self.total.bytes_done,
                total_bytes_estimate=self.total.bytes_estimate,
            )
        )

    # -- license ---------------------------------------------------------------------------

    async def _license(self, plan: DownloadPlan) -> StoredLicense | None:
        kids = await asyncio.to_thread(needed_kids, plan, self.folder)
        path = self.store / LICENSE_FILE
        existing = None
        if path.exists():
            try:
                existing = await asyncio.to_thread(read_license, path)
            except DownloadStateError as exc:
                _log.warning("%s; asking for a new license", exc)
        stored, reused = await acquire(
            plan,
            kids=kids,
            existing=existing,
            config=self.config,
            http=self.owner.http,
            wall=self.owner._wall,
        )
        if stored is None:
            return None
        if not reused:
            await asyncio.to_thread(write_license, path, stored)
        self.owner._emit(
            LicenseStored(
                at_s=self.emit_now(),
                kids=stored.kids,
                source=stored.source,
                expires_at_s=stored.expires_at_s,
                is_reused=reused,
            )
        )
        return stored

    # -- the end ---------------------------------------------------------------------------

    def _finish(self, plan: DownloadPlan, doc: dict[str, Any]) -> Path:
        """Write the local manifest (atomically), then the state with every file in it."""
        manifest, written = write_local_manifests(self.folder, plan)
        wanted = {f.path for f in plan.files}
        remove_others(self.folder, wanted | written)
        self.journal.compact(
            {**doc, "status": "complete", "updated_at_s": self.owner._wall()},
            {p: d for p, d in self.done.items() if p in wanted},
        )
        return manifest

    def _result(
        self, plan: DownloadPlan, manifest: Path, stored: StoredLicense | None
    ) -> DownloadResult:
        assert self.fetching is not None
        on_disk = sum(self.done[f.path].size for f in plan.files if f.path in self.done)
        on_disk += sum(
            p.stat().st_size for p in (manifest, *self.folder.glob("media/**/index.m3u8"))
        )
        kept = sum(1 for f in plan.files if f.path in self.kept_before)
        self.owner._emit(
            DownloadCompleted(
                at_s=self.emit_now(),
                manifest=str(manifest),
                files=len(plan.files),
                bytes_on_disk=on_disk,
                bytes_fetched=self.fetching.bytes_fetched,
                files_kept=kept,
            )
        )
        return DownloadResult(
            manifest_path=manifest,
            format=plan.presentation.format,
            files=len(plan.files),
            files_kept=kept,
            bytes_on_disk=on_disk,
            bytes_fetched=self.fetching.bytes_fetched,
            elapsed_s=time.monotonic() - self.started,
            license=stored,
        )


def _mb(nbytes: int) -> str:
    """Bytes as a readable size.

    >>> _mb(1_500_000), _mb(64 * 1024 * 1024)
    ('1.5 MB', '67.1 MB')
    """
    return f"{nbytes / 1e6:.1f} MB"
