"""What the lab CDN serves: a directory on disk or files held in memory.

Both resolve a request path to a ``Resource`` (size, ETag, media type, a reader) and refuse
paths that would leave the root (``..`` segments, backslashes, NUL bytes, symlinks out).
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from transport.errors import UnsafeUrl

__all__ = ["Content", "DirectoryContent", "MemoryContent", "Resource"]

_MEDIA_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".m4a": "audio/mp4",
    ".ts": "video/mp2t",
    ".aac": "audio/aac",
    ".vtt": "text/vtt",
    ".key": "application/octet-stream",
    ".json": "application/json",
}
"""Streaming media types that ``mimetypes`` gets wrong or does not know."""


def media_type(path: str) -> str:
    """Return the media type for a file name (``application/octet-stream`` when unknown)."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix in _MEDIA_TYPES:
        return _MEDIA_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path)
    return guessed or "application/octet-stream"


def safe_parts(path: str) -> tuple[str, ...]:
    """Split a decoded URL path into segments, refusing anything that could escape the root.

    Args:
        path: The ASGI scope's (percent-decoded) ``path``.

    Returns:
        The non-empty segments.

    Raises:
        UnsafeUrl: The path has a ``..`` segment, a backslash or a NUL byte.
    """
    if "\\" in path or "\x00" in path:
        raise UnsafeUrl(f"refused path {path!r}", url=path)
    parts = tuple(p for p in path.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UnsafeUrl(f"refused path {path!r}", url=path)
    return parts


@dataclass(frozen=True, kw_only=True, slots=True)
class Resource:
    """One servable file."""

    size: int
    """Length of the body in bytes."""

    etag: str
    """Strong entity tag, quoted (``"..."``)."""

    media_type: str
    """Value of ``Content-Type``."""

    read: Callable[[int, int], bytes]
    """``read(offset, length)`` returns up to ``length`` bytes from byte ``offset``."""


class Content(Protocol):
    """A source of resources for the CDN app."""

    def lookup(self, path: str) -> Resource | None:
        """Find the resource for a URL path.

        Args:
            path: The decoded URL path, starting with ``/``.

        Returns:
            The resource, or ``None`` when there is none.

        Raises:
            UnsafeUrl: The path tries to leave the content root.
        """
        ...


class DirectoryContent:
    """Serve the regular files under a directory (symlinks leading outside are refused).

    Args:
        root: The directory.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"content root {self.root} is not a directory")

    def lookup(self, path: str) -> Resource | None:
        """Find the file for a URL path (see ``Content.lookup``)."""
        parts = safe_parts(path)
        if not parts:
            return None
        candidate = self.root.joinpath(*parts).resolve()
        if not candidate.is_relative_to(self.root):
            raise UnsafeUrl(f"refused path {path!r}: leaves the root", url=path)
        try:
            stat = candidate.stat()
        except OSError:
            return None
        if not candidate.is_file():
            return None

        def read(offset: int, length: int) -> bytes:
            with candidate.open("rb") as f:
                f.seek(offset)
                return f.read(length)

        return Resource(
            size=stat.st_size,
            etag=f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"',
            media_type=media_type(candidate.name),
            read=read,
        )


class MemoryContent:
    """Serve files held in memory, e.g. generated test payloads.

    Args:
        files: URL path (``/a/b.m4s`` or ``a/b.m4s``) to body bytes.
    """

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self._files: dict[tuple[str, ...], tuple[bytes, str]] = {}
        for path, data in files.items():
            digest = hashlib.sha256(data).hexdigest()[:20]
            self._files[safe_parts("/" + path.lstrip("/"))] = (bytes(data), f'"{digest}"')

    def lookup(self, path: str) -> Resource | None:
        """Find the file for a URL path (see ``Content.lookup``)."""
        entry = self._files.get(safe_parts(path))
        if entry is None:
            return None
        data, etag = entry
        view = memoryview(data)
        return Resource(
            size=len(data),
            etag=etag,
            media_type=media_type(path),
            read=lambda offset, length: bytes(view[offset : offset + length]),
        )
