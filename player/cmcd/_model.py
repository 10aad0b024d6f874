"""What one CMCD report says: the data model of the encoder (sans-I/O).

Keys and units follow CTA-5004 (CMCD v1, 2020) and CTA-5004-B (CMCD v2), section 4.3,
Table 1. Fields hold SDK units (seconds, bits per second); the encoder converts them to
the wire's milliseconds and kilobits per second and rounds them as the spec says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from player.errors import PlayerConfigError

__all__ = [
    "CmcdData",
    "NextObject",
    "ObjectType",
    "StreamType",
    "StreamingFormat",
    "TypedValue",
]

_PRINTABLE = re.compile(r"[\x20-\x7e]*")
"""What a Structured Field String may hold (RFC 8941 section 3.3.3): printable ASCII."""


class ObjectType(StrEnum):
    """``ot``: the media type of the object requested (CTA-5004-B Table 1)."""

    MANIFEST = "m"
    """A text file such as a manifest or playlist."""
    AUDIO = "a"
    """Audio only."""
    VIDEO = "v"
    """Video only."""
    MUXED = "av"
    """Muxed audio and video."""
    INIT = "i"
    """An init segment."""
    CAPTION = "c"
    """Caption or subtitle."""
    TIMED_TEXT = "tt"
    """An ISO BMFF timed text track."""
    KEY = "k"
    """A cryptographic key, license or certificate."""
    OTHER = "o"
    """Anything else."""


class StreamingFormat(StrEnum):
    """``sf``: the streaming format of the session."""

    DASH = "d"
    """MPEG-DASH."""
    HLS = "h"
    """HTTP Live Streaming."""
    HESP = "e"
    """HESP (v2 only)."""
    SMOOTH = "s"
    """Smooth Streaming."""
    OTHER = "o"
    """Anything else."""


class StreamType(StrEnum):
    """``st``: whether all segments are available."""

    VOD = "v"
    """All segments are available (VOD)."""
    LIVE = "l"
    """Segments become available over time (live)."""
    LOW_LATENCY_LIVE = "ll"
    """Low-latency live (v2 only)."""


@dataclass(frozen=True, slots=True)
class TypedValue:
    """One entry of a per-object-type value (v2 inner list, CTA-5004-B section 4.1 item 14).

    Attributes:
        value: The value in SDK units (seconds or bits per second, as the field says).
        object_type: The object type it applies to (a token parameter on the wire), or
            ``None`` for no parameter.
    """

    value: float
    object_type: ObjectType | None = None


@dataclass(frozen=True, slots=True)
class NextObject:
    """``nor`` (and v1 ``nrr``): an object the player expects to request next.

    Attributes:
        path: Its URL relative to the current request's (RFC 3986 relative reference,
            percent-encoded as in the URL).
        first: First byte of the range that will be requested, ``None`` for a suffix range
            or no range.
        last: Last byte (inclusive); ``None`` for an open range (``"first-"``), or the
            suffix length when ``first`` is ``None`` (``"-last"``).
    """

    path: str
    first: int | None = None
    last: int | None = None

    @property
    def range_text(self) -> str | None:
        """The range as CMCD writes it (``"0-499"``, ``"500-"``, ``"-200"``), if any.

        >>> NextObject("a.mp4", 0, 499).range_text, NextObject("a.mp4").range_text
        ('0-499', None)
        """
        if self.first is None and self.last is None:
            return None
        first = "" if self.first is None else str(self.first)
        last = "" if self.last is None else str(self.last)
        return f"{first}-{last}"


@dataclass(frozen=True, kw_only=True, slots=True)
class CmcdData:
    """The keys of one request's CMCD report. Absent keys are ``None``, ``()`` or ``False``.

    The player builds one per request from its state; the encoder writes it in either
    version's syntax. Per-object-type keys (``bl``, ``br``, ``mtp``, ``tb``) are inner lists
    in v2; v1 sends the first entry's value alone.

    Attributes:
        buffer_length_s: ``bl``: buffer ahead of the playhead of the requested object's
            track, seconds (sent as ms rounded to the nearest 100 ms).
        encoded_bitrate_bps: ``br``: encoded (peak) bitrate of the requested rendition,
            bits per second (sent as kbps).
        is_buffer_starved: ``bs``: the buffer ran dry since this track's previous request
            (or is dry now).
        content_id: ``cid``: the content's id.
        object_duration_s: ``d``: playback duration of the object, seconds (sent as ms).
        deadline_s: ``dl``: time until the object's first sample is needed, seconds (ms
            rounded to the nearest 100 ms).
        measured_throughput_bps: ``mtp``: the throughput estimate ABR uses, bits per second
            (kbps rounded to the nearest 100 kbps).
        next_objects: ``nor``/``nrr``: what the player expects to request next.
        object_type: ``ot``: the type of the object requested.
        playback_rate: ``pr``: 1 real time, 0 not playing (sent only when not 1).
        requested_throughput_bps: ``rtp``: most throughput the player asks for, bits per
            second (kbps rounded to the nearest 100 kbps).
        streaming_format: ``sf``.
        session_id: ``sid``: this playback session's id.
        stream_type: ``st``.
        is_startup: ``su``: the object is needed urgently (startup, seek, rebuffering).
        top_bitrate_bps: ``tb``: the highest bitrate of the requested object's type, bits
            per second (kbps).
    """

    buffer_length_s: tuple[TypedValue, ...] = ()
    encoded_bitrate_bps: tuple[TypedValue, ...] = ()
    is_buffer_starved: bool = False
    content_id: str | None = None
    object_duration_s: float | None = None
    deadline_s: float | None = None
    measured_throughput_bps: tuple[TypedValue, ...] = ()
    next_objects: tuple[NextObject, ...] = ()
    object_type: ObjectType | None = None
    playback_rate: float | None = None
    requested_throughput_bps: float | None = None
    streaming_format: StreamingFormat | None = None
    session_id: str | None = None
    stream_type: StreamType | None = None
    is_startup: bool = False
    top_bitrate_bps: tuple[TypedValue, ...] = ()

    def __post_init__(self) -> None:
        """Check that strings can be carried by a Structured Field.

        Raises:
            PlayerConfigError: An id or path holds characters other than printable ASCII.
        """
        strings = [self.content_id, self.session_id, *(n.path for n in self.next_objects)]
        for text in strings:
            if text is not None and not _PRINTABLE.fullmatch(text):
                raise PlayerConfigError(f"CMCD string {text!r} is not printable ASCII")
