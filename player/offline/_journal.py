"""A download's record of itself: a state file written atomically and a journal of files done.

Both live in the download's store folder (``.streamsdk-offline/``, mode 0700):

- ``download.json``: what is downloaded (source URL, format, manifest name, status) and,
  once compacted, every file done with its size and SHA-256. Written to a temporary file,
  flushed to disk and renamed over the old one: a crash leaves the old state or the new one,
  never a mix.
- ``journal.jsonl``: one JSON line per file completed since the last compaction, appended
  as each file lands (after its rename). A line torn by a crash is ignored; the file it
  named is then fetched again.

A file counts as done only when its journal entry and the file on disk agree (size, and
SHA-256 when ``OfflineConfig.verify_hashes``); anything else is fetched again.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from player.errors import DiskFull, DownloadStateError

__all__: list[str] = []

_log = logging.getLogger(__name__)

STATE_FILE = "download.json"
JOURNAL_FILE = "journal.jsonl"
LOCK_FILE = "lock"
STATE_VERSION = 1
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class DoneFile:
    """A file completely downloaded.

    Attributes:
        path: Relative to the download folder.
        size: Bytes.
        sha256: Hex digest of its content.
        source: What it was made from (``PlannedFile.source``).
    """

    path: str
    size: int
    sha256: str
    source: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "source": self.source}

    @classmethod
    def from_json(cls, data: object) -> DoneFile | None:
        """Read one entry; ``None`` when it is malformed (the file is then fetched again)."""
        if not isinstance(data, dict):
            return None
        path, size, digest, source = (data.get(k) for k in ("path", "size", "sha256", "source"))
        if not (
            isinstance(path, str)
            and isinstance(size, int)
            and isinstance(digest, str)
            and isinstance(source, str)
        ):
            return None
        return cls(path, size, digest, source)


def write_atomically(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so a reader sees the old content or the new, never a mix.

    Raises:
        DiskFull: The disk is full (the old file is left as it was).
        OSError: Any other failure to write.
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise disk_full_or(exc, path) from exc


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view[:_CHUNK]) :]


def disk_full_or(exc: OSError, path: Path) -> OSError | DiskFull:
    """``DiskFull`` for an ``ENOSPC`` (or ``EDQUOT``) error, else the error itself."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(f"{path}: no space left on the device", path=str(path))
    return exc


def sha256_file(path: Path) -> str:
    """SHA-256 hex digest of a file's content, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Journal:
    """The state file and journal of one download folder's store (thread-safe appends).

    Args:
        store: The store folder (``.streamsdk-offline``).
    """

    def __init__(self, store: Path) -> None:
        self.store = store
        self.state_path = store / STATE_FILE
        self.journal_path = store / JOURNAL_FILE
        self._lock = threading.Lock()

    def read_state(self) -> dict[str, Any] | None:
        """The state document, ``None`` when there is none yet.

        Raises:
            DownloadStateError: The state file is unreadable or not a state document.
        """
        try:
            raw = self.state_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DownloadStateError(
                f"cannot read {self.state_path}: {exc.strerror or exc}", path=str(self.state_path)
            ) from exc
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            doc = None
        if not isinstance(doc, dict) or doc.get("state_version") != STATE_VERSION:
            raise DownloadStateError(
                f"{self.state_path} is not a download state file (version {STATE_VERSION})",
                path=str(self.state_path),
            )
        return doc

    def write_state(self, doc: Mapping[str, Any]) -> None:
        """Replace the state document atomically."""
        body = json.dumps({**doc, "state_version": STATE_VERSION}, indent=1).encode() + b"\n"
        write_atomically(self.state_path, body, mode=0o600)

    def done_files(self) -> dict[str, DoneFile]:
        """Every file recorded as done: the state's, then the journal's (later wins)."""
        state = self.read_state() or {}
        done: dict[str, DoneFile] = {}
        for item in state.get("files", []):
            entry = DoneFile.from_json(item)
            if entry is not None:
                done[entry.path] = entry
        try:
            lines = self.journal_path.read_bytes().splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            try:
                entry = DoneFile.from_json(json.loads(line))
            except (ValueError, UnicodeDecodeError):
                entry = None  # a line torn by a crash: its file is fetched again
            if entry is not None:
                done[entry.path] = entry
        return done

    def append(self, done: DoneFile) -> None:
        """Record one completed file (called from worker threads).

        Raises:
            DiskFull: The disk is full.
        """
        line = json.dumps(done.to_json(), separators=(",", ":")).encode() + b"\n"
        with self._lock:
            try:
                fd = os.open(self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                try:
                    os.write(fd, line)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise disk_full_or(exc, self.journal_path) from exc

    def compact(self, doc: Mapping[str, Any], done: Mapping[str, DoneFile]) -> None:
        """Write the state with every done file in it, then empty the journal."""
        files = [done[path].to_json() for path in sorted(done)]
        self.write_state({**doc, "files": files})
        self.journal_path.unlink(missing_ok=True)


class FolderLock:
    """An exclusive lock on a download's store, held while one run writes to the folder.

    ``flock`` on ``.streamsdk-offline/lock``: a second download into the same folder (another
    process, or another ``Downloader`` in this one) is refused instead of writing the same
    files at once. The kernel drops the lock when the process dies, so a crash never leaves
    the folder locked.

    Args:
        store: The store folder (``.streamsdk-offline``).
    """

    def __init__(self, store: Path) -> None:
        self.path = store / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock.

        Raises:
            DownloadStateError: Another download holds it, or the lock file cannot be made.
        """
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise DownloadStateError(
                f"cannot create {self.path}: {exc.strerror or exc}", path=str(self.path)
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            folder = self.path.parent.parent
            raise DownloadStateError(
                f"another download is running in {folder}: wait for it to finish (or stop it)",
                path=str(folder),
            ) from None
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def verify(
    folder: Path, recorded: Mapping[str, DoneFile], wanted: Mapping[str, str], *, hashes: bool
) -> dict[str, DoneFile]:
    """The recorded files that are still good: wanted with the same source, size and hash.

    Args:
        folder: The download folder.
        recorded: What the journal says is done.
        wanted: Path -> source of every file the plan needs.
        hashes: Check SHA-256 too (else the size only).

    Returns:
        The files to keep; the others are fetched again.
    """
    good: dict[str, DoneFile] = {}
    for path, source in wanted.items():
        entry = recorded.get(path)
        if entry is None or entry.source != source:
            continue
        target = folder / path
        try:
            size = target.stat().st_size
        except OSError:
            continue
        if size != entry.size or (hashes and sha256_file(target) != entry.sha256):
            _log.warning("%s does not match its journal entry: fetching it again", target)
            continue
        good[path] = entry
    return good


def commit_file(
    folder: Path, relative: str, content: bytes, *, source: str, journal: Journal
) -> DoneFile:
    """Land one downloaded file: write ``<name>.part``, rename it, record it in the journal.

    Runs in a worker thread, start to end, so cancelling the download never separates a
    file from its journal entry.

    Raises:
        DiskFull: The disk filled up (the partial file is removed).
        OSError: Any other failure to write.
    """
    target = folder / relative
    part = target.with_name(target.name + ".part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with part.open("wb") as handle:
            handle.write(content)
        os.replace(part, target)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise disk_full_or(exc, target) from exc
    done = DoneFile(relative, len(content), hashlib.sha256(content).hexdigest(), source)
    journal.append(done)
    return done
