"""The player package's error tree, plus the roots of the other three (STYLE.md section 4)."""

from __future__ import annotations

from typing import ClassVar

from abr.errors import AbrError
from drm.errors import DrmError
from transport import redact_url
from transport.errors import TransportError

__all__ = [
    "SDK_ERRORS",
    "AbrError",
    "DecodeError",
    "DiskFull",
    "DownloadStateError",
    "DownloadTooLarge",
    "DrmError",
    "HeartbeatError",
    "InsufficientSpace",
    "KeysNotGranted",
    "ManifestError",
    "ManifestParseError",
    "NotDownloadable",
    "OfflineError",
    "PlayerConfigError",
    "PlayerError",
    "RangeNotSupported",
    "RangeResponseError",
    "RestrictionsNotMet",
    "SteeringError",
    "TextError",
    "TextParseError",
    "ThumbnailError",
    "ThumbnailImageError",
    "ThumbnailUnavailable",
    "TransportError",
    "UnsupportedManifest",
    "UnsupportedText",
    "UsageError",
    "redact_url",
]


class PlayerError(Exception):
    """Root of every error raised by ``player``."""

    code: ClassVar[str] = "player.error"


class PlayerConfigError(PlayerError, ValueError):
    """A ``PlayerConfig`` value is invalid."""

    code: ClassVar[str] = "player.config"


class ManifestError(PlayerError):
    """A manifest could not be turned into a presentation.

    Attributes:
        url: The manifest's URL (or file path given to the CLI).
        detail: What was wrong, in a few words.
    """

    code: ClassVar[str] = "player.manifest"

    def __init__(self, message: str, *, url: str, detail: str = "") -> None:
        message = _without_secrets(message, url)
        super().__init__(message)
        self.url = url
        self.detail = detail or message


class ManifestParseError(ManifestError):
    """The manifest is malformed: bad syntax, bad values, missing parts, too large."""

    code: ClassVar[str] = "player.manifest_parse"


class UnsupportedManifest(ManifestError):
    """The manifest is well formed but uses something this SDK does not support."""

    code: ClassVar[str] = "player.unsupported_manifest"


class DecodeError(PlayerError):
    """Media could not be decoded."""

    code: ClassVar[str] = "player.decode"


class RangeResponseError(PlayerError):
    """A server's answer to a byte-range request cannot be used as the bytes asked for.

    A ``206`` whose ``Content-Range`` is missing or names other bytes, a body whose length
    differs from that range, or a whole body (``200``) too short to contain the range. The
    bytes are never passed on to decryption or decoding.

    Attributes:
        url: The URL that answered.
        status: Its HTTP status.
        requested: The inclusive ``(first, last)`` byte range asked for.
        content_range: The ``Content-Range`` header, ``""`` if absent.
    """

    code: ClassVar[str] = "player.range_response"

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int,
        requested: tuple[int, int],
        content_range: str = "",
    ) -> None:
        super().__init__(_without_secrets(message, url))
        self.url = url
        self.status = status
        self.requested = requested
        self.content_range = content_range


class RangeNotSupported(RangeResponseError):
    """A server ignores ``Range`` and its whole files do not fit in memory.

    Raised when a ``200`` answer to a ranged request carries more than
    ``PlaybackConfig.whole_file_cache_bytes``, or when a whole file dropped to make room for
    another is needed again (docs/player.md, "Byte ranges"): never a download per segment.
    """

    code: ClassVar[str] = "player.range_not_supported"


class RestrictionsNotMet(PlayerError):
    """The video filters (``max_video_height``, ``max_video_bitrate_bps``) leave no rendition.

    Attributes:
        max_height: The height cap in force, pixels (``None``: none).
        max_bitrate_bps: The bitrate cap in force (``None``: none).
        available: ``(id, height, bandwidth_bps)`` of every rendition the filters removed.
    """

    code: ClassVar[str] = "player.restrictions_not_met"

    def __init__(
        self,
        message: str,
        *,
        max_height: int | None,
        max_bitrate_bps: int | None,
        available: tuple[tuple[str, int | None, int], ...],
    ) -> None:
        super().__init__(message)
        self.max_height = max_height
        self.max_bitrate_bps = max_bitrate_bps
        self.available = available


class KeysNotGranted(RestrictionsNotMet):
    """The license server refused the keys of every rendition of a track (nothing to play).

    Renditions whose keys are refused are taken out of the ladder (``RenditionsRestricted``);
    this is raised only when a track has none left.

    Attributes:
        track: ``video`` or ``audio``.
        kids: The KIDs refused (hex).
    """

    code: ClassVar[str] = "player.keys_not_granted"

    def __init__(self, message: str, *, track: str, kids: tuple[str, ...]) -> None:
        super().__init__(message, max_height=None, max_bitrate_bps=None, available=())
        self.track = track
        self.kids = kids


class HeartbeatError(PlayerError):
    """Heartbeat reporting or the session service failed."""

    code: ClassVar[str] = "player.heartbeat"


class SteeringError(PlayerError):
    """A content steering manifest was refused (bad JSON, version, TTL or priority).

    Playback never stops for it: the session keeps the last priority it had and asks the
    steering server again later (docs/steering.md).

    Attributes:
        url: The steering manifest URL.
    """

    code: ClassVar[str] = "player.steering"

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(_without_secrets(message, url))
        self.url = url


class TextError(PlayerError):
    """A subtitle or caption file could not be turned into cues.

    Never fatal during playback: the session reports it as ``ErrorOccurred(fatal=False)``
    on the text track and audio and video play on (docs/text.md).

    Attributes:
        url: The text segment's (or file's) URL.
        detail: What was wrong, in a few words.
    """

    code: ClassVar[str] = "player.text"

    def __init__(self, message: str, *, url: str, detail: str = "") -> None:
        message = _without_secrets(message, url)
        super().__init__(message)
        self.url = url
        self.detail = detail or message


class TextParseError(TextError):
    """A text segment is malformed: not WebVTT/TTML/MP4 text, bad syntax, too large."""

    code: ClassVar[str] = "player.text_parse"


class UnsupportedText(TextError):
    """A text format this SDK does not parse (e.g. ``tx3g``, CEA-608 in a sample entry)."""

    code: ClassVar[str] = "player.unsupported_text"


class OfflineError(PlayerError):
    """A download for offline playback failed (``player.offline``, docs/offline.md).

    What was completely downloaded before the failure is kept: running the download again
    continues from there.
    """

    code: ClassVar[str] = "player.offline"


class InsufficientSpace(OfflineError):
    """The filesystem lacks the space the download is estimated to need (checked first).

    Attributes:
        path: The download folder.
        needed_bytes: Estimate of what is left to download, with the margin and the space
            to leave free (``OfflineConfig``).
        free_bytes: Free space on the folder's filesystem.
    """

    code: ClassVar[str] = "player.insufficient_space"

    def __init__(self, message: str, *, path: str, needed_bytes: int, free_bytes: int) -> None:
        super().__init__(message)
        self.path = path
        self.needed_bytes = needed_bytes
        self.free_bytes = free_bytes


class DiskFull(OfflineError):
    """The disk filled up during a download (``ENOSPC``); files already complete are intact.

    Attributes:
        path: The file being written when the disk filled up.
    """

    code: ClassVar[str] = "player.disk_full"

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class DownloadTooLarge(OfflineError):
    """The download would take more disk than its budget (``OfflineConfig.max_bytes``).

    Raised before anything is fetched when the estimate of the whole download passes the
    budget, or mid-way when the files on disk do (estimates use declared bitrates, so that is
    rare); the files already complete are kept.

    Attributes:
        path: The download folder.
        limit_bytes: The budget.
        needed_bytes: The estimated size of the whole download, or the size reached.
    """

    code: ClassVar[str] = "player.download_too_large"

    def __init__(self, message: str, *, path: str, limit_bytes: int, needed_bytes: int) -> None:
        super().__init__(message)
        self.path = path
        self.limit_bytes = limit_bytes
        self.needed_bytes = needed_bytes


class DownloadStateError(OfflineError):
    """A download folder's state cannot be used: unreadable, or another download's.

    Attributes:
        path: The state file or folder.
    """

    code: ClassVar[str] = "player.download_state"

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class NotDownloadable(OfflineError):
    """The presentation cannot be downloaded: live, or using something downloads do not keep.

    Attributes:
        url: The manifest URL.
    """

    code: ClassVar[str] = "player.not_downloadable"

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(_without_secrets(message, url))
        self.url = url


class ThumbnailError(PlayerError):
    """A thumbnail could not be given (``Player.thumbnail_at``, docs/thumbnails.md).

    Never fatal to playback. A failed image download raises the transport's error instead,
    and an image playlist that cannot be parsed a ``ManifestError``.

    Attributes:
        position_s: The presentation time asked for, seconds.
    """

    code: ClassVar[str] = "player.thumbnail"

    def __init__(self, message: str, *, position_s: float) -> None:
        super().__init__(message)
        self.position_s = position_s


class ThumbnailUnavailable(ThumbnailError):
    """No image track, or none of its images covers the time (outside it, or a gap)."""

    code: ClassVar[str] = "player.thumbnail_unavailable"


class ThumbnailImageError(ThumbnailError):
    """The image fetched is not a JPEG or PNG, is larger than allowed, or cannot be decoded.

    Attributes:
        url: The image's URL.
    """

    code: ClassVar[str] = "player.thumbnail_image"

    def __init__(self, message: str, *, position_s: float, url: str) -> None:
        super().__init__(_without_secrets(message, url), position_s=position_s)
        self.url = url


class UsageError(PlayerError, RuntimeError):
    """The API was used in the wrong order (e.g. ``play()`` before ``load()``)."""

    code: ClassVar[str] = "player.usage"


SDK_ERRORS: tuple[type[Exception], ...] = (PlayerError, TransportError, DrmError, AbrError)
"""Every root of the SDK's four error trees, for ``except SDK_ERRORS:``."""


def _without_secrets(message: str, url: str) -> str:
    """Show the error's own URL in its message through :func:`redact_url`.

    Errors with a ``url`` attribute name it in their message (``"<url>: what failed"``);
    the message shows it without its query or ``data:`` payload, the attribute keeps it
    whole. Other URLs in a message are redacted where the message is written.
    """
    shown = redact_url(url) if url else url
    return message.replace(url, shown) if shown != url else message
