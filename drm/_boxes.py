"""A bounded, sans-I/O ISO BMFF (MP4) box reader and writer.

Every size field is checked against the bytes that actually exist and against the
parent box; nesting depth is bounded. Malformed input raises :class:`drm.BoxError`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from drm.errors import BoxError

__all__ = ["Box", "BoxNode", "find_box", "iter_boxes", "read_box_tree"]

_MAX_DEPTH = 12
_PURE_CONTAINERS = frozenset(
    {
        "moov",
        "trak",
        "mdia",
        "minf",
        "stbl",
        "mvex",
        "moof",
        "traf",
        "sinf",
        "schi",
        "edts",
        "dinf",
        "mfra",
        "rinf",
    }
)
_VISUAL_ENTRIES = frozenset(
    {"encv", "avc1", "avc3", "hvc1", "hev1", "av01", "vp08", "vp09", "mp4v", "dvh1", "dvhe"}
)
_AUDIO_ENTRIES = frozenset({"enca", "mp4a", "ac-3", "ec-3", "Opus", "fLaC", "alac", "ac-4"})
_VISUAL_PREFIX = 78
_AUDIO_PREFIX = 28


@dataclass(frozen=True, slots=True)
class Box:
    """Where one box sits in a buffer.

    Attributes:
        type: The four-character type, e.g. ``"moof"``.
        start: Absolute byte offset of the box header.
        header_size: Bytes of header (8, 16 with a 64-bit size, +16 for ``uuid``).
        end: Absolute byte offset just past the box.
        usertype: The 16-byte extended type of a ``uuid`` box, else ``None``.
    """

    type: str
    start: int
    header_size: int
    end: int
    usertype: bytes | None = None

    @property
    def payload_start(self) -> int:
        """Absolute offset of the first payload byte."""
        return self.start + self.header_size

    @property
    def size(self) -> int:
        """Total size of the box in bytes."""
        return self.end - self.start


def iter_boxes(
    data: bytes | bytearray | memoryview, start: int = 0, end: int | None = None
) -> Iterator[Box]:
    r"""Iterate over the sibling boxes in ``data[start:end]``.

    Args:
        data: The buffer.
        start: Offset of the first box.
        end: Offset where the parent ends (default: end of ``data``).

    Yields:
        Each box in order.

    Raises:
        BoxError: A header is truncated or a size field is impossible.

    >>> [b.type for b in iter_boxes(b"\x00\x00\x00\x08free\x00\x00\x00\x08skip")]
    ['free', 'skip']
    """
    limit = len(data) if end is None else min(end, len(data))
    pos = start
    while pos < limit:
        if limit - pos < 8:
            raise BoxError("truncated box header", offset=pos)
        size, raw_type = struct.unpack_from(">I4s", data, pos)
        box_type = raw_type.decode("latin-1")
        header = 8
        if size == 1:
            if limit - pos < 16:
                raise BoxError("truncated 64-bit box size", offset=pos)
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = limit - pos
        usertype = None
        if box_type == "uuid":
            if limit - pos < header + 16:
                raise BoxError("truncated uuid box header", offset=pos)
            usertype = bytes(data[pos + header : pos + header + 16])
            header += 16
        if size < header:
            raise BoxError(f"box {box_type!r} size {size} is smaller than its header", offset=pos)
        if pos + size > limit:
            raise BoxError(f"box {box_type!r} of {size} bytes overruns its parent", offset=pos)
        yield Box(box_type, pos, header, pos + size, usertype)
        pos += size


def find_box(
    data: bytes | bytearray | memoryview, path: str, start: int = 0, end: int | None = None
) -> Box | None:
    """Return the first box along a slash-separated path, e.g. ``"moov/mvex/trex"``.

    Args:
        data: The buffer.
        path: Box types separated by ``/``; all but the last must be pure containers.
        start: Offset where the search starts.
        end: Offset where the search stops.

    Returns:
        The box, or ``None`` when the path does not exist.

    Raises:
        BoxError: The boxes on the way are malformed.
    """
    head, _, rest = path.partition("/")
    for box in iter_boxes(data, start, end):
        if box.type == head:
            if not rest:
                return box
            return find_box(data, rest, box.payload_start, box.end)
    return None


def _prefix_size(data: bytes | bytearray | memoryview, box: Box, parent: str) -> int | None:
    """Bytes of non-box payload before the children, or ``None`` for a leaf."""
    if box.type in _PURE_CONTAINERS:
        return 0
    if box.type == "stsd":
        return 8
    if parent != "stsd":
        return None
    if box.type in _VISUAL_ENTRIES:
        return _VISUAL_PREFIX
    if box.type in _AUDIO_ENTRIES:
        if box.size < 8 + _AUDIO_PREFIX:
            raise BoxError(f"audio sample entry {box.type!r} is truncated", offset=box.start)
        (version,) = struct.unpack_from(">H", data, box.payload_start + 8)
        return _AUDIO_PREFIX + {0: 0, 1: 16, 2: 36}.get(version, 0)
    return None


@dataclass(slots=True)
class BoxNode:
    """A box parsed into a tree that can be edited and written back with fixed sizes.

    Attributes:
        type: The four-character type.
        start: Offset of the box in the source buffer (``-1`` for new boxes).
        end: Offset just past the box in the source buffer.
        head: For a leaf, its payload; for a container, the bytes before its children.
        children: Child nodes, or ``None`` for a leaf.
        usertype: Extended type of a ``uuid`` box.
    """

    type: str
    start: int
    end: int
    head: bytes
    children: list[BoxNode] | None = None
    usertype: bytes | None = None

    def serialize(self) -> bytes:
        """Write the box back, recomputing sizes.

        Returns:
            The box bytes.
        """
        body = self.head
        if self.children is not None:
            body = self.head + b"".join(child.serialize() for child in self.children)
        extra = self.usertype or b""
        size = 8 + len(extra) + len(body)
        kind = self.type.encode("latin-1")
        if size <= 0xFFFFFFFF:
            return struct.pack(">I4s", size, kind) + extra + body
        return struct.pack(">I4sQ", 1, kind, size + 8) + extra + body

    def child(self, box_type: str) -> BoxNode | None:
        """Return the first child of a type, or ``None``."""
        for node in self.children or ():
            if node.type == box_type:
                return node
        return None

    def all(self, box_type: str) -> list[BoxNode]:
        """Return all children of a type."""
        return [node for node in self.children or () if node.type == box_type]


def read_box_tree(
    data: bytes | bytearray | memoryview, box: Box, parent: str = "", depth: int = 0
) -> BoxNode:
    """Parse a box and its descendants into an editable :class:`BoxNode` tree.

    Args:
        data: The buffer.
        box: The box to parse.
        parent: Type of the parent box (sample entries are containers only inside ``stsd``).
        depth: Current nesting depth.

    Returns:
        The tree.

    Raises:
        BoxError: The box or a descendant is malformed or nested too deeply.
    """
    if depth > _MAX_DEPTH:
        raise BoxError("boxes nested too deeply", offset=box.start)
    prefix = _prefix_size(data, box, parent)
    if prefix is None:
        return BoxNode(
            box.type,
            box.start,
            box.end,
            bytes(data[box.payload_start : box.end]),
            None,
            box.usertype,
        )
    child_start = box.payload_start + prefix
    if child_start > box.end:
        raise BoxError(f"box {box.type!r} is too small for its fields", offset=box.start)
    children = [
        read_box_tree(data, sub, box.type, depth + 1)
        for sub in iter_boxes(data, child_start, box.end)
    ]
    return BoxNode(
        box.type,
        box.start,
        box.end,
        bytes(data[box.payload_start : child_start]),
        children,
        box.usertype,
    )
