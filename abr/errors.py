"""The abr package's error tree (STYLE.md section 4)."""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AbrConfigError",
    "AbrError",
    "InvalidLadder",
    "TraceFormatError",
    "UnknownTraceFormat",
]


class AbrError(Exception):
    """Root of every error raised by ``abr``."""

    code: ClassVar[str] = "abr.error"


class AbrConfigError(AbrError, ValueError):
    """An ``AbrConfig`` (or controller parameter) is out of range."""

    code: ClassVar[str] = "abr.config"


class InvalidLadder(AbrError):
    """A bitrate ladder is empty, unsorted, or has non-positive bitrates."""

    code: ClassVar[str] = "abr.invalid_ladder"


class TraceFormatError(AbrError):
    """A network trace or video description could not be parsed."""

    code: ClassVar[str] = "abr.trace_format"


class UnknownTraceFormat(TraceFormatError):
    """A file is in no known trace format (binary data, an image, unknown text layout)."""

    code: ClassVar[str] = "abr.unknown_trace_format"
