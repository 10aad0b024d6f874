"""``SegmentIndexBuilder``: flat and hierarchical ``sidx`` resolved from a synthetic file.

The file is built in memory (boxes with known sizes); ``resolve`` plays the session's part,
cutting each asked range from it, so every request the builder makes is checked too.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import pytest

from player.config import ManifestConfig
from player.errors import ManifestParseError, UnsupportedManifest
from player.manifest import (
    ByteRange,
    Representation,
    SegmentIndexBuilder,
    SegmentIndexRef,
    apply_segment_index,
)

URL = "https://cdn.example.com/a/manifest.mpd"
TIMESCALE = 1000
SAP = 0x90000000  # starts with SAP, type 1


@dataclass
class Leaf:
    """A media subsegment: its bytes and duration (ticks)."""

    size: int
    duration: int


Node = list["Leaf | Node"]


def sidx(refs: list[tuple[bool, int, int]], *, ept: int, version: int = 0) -> bytes:
    """A ``sidx`` box: ``refs`` are ``(is_index, referenced_size, duration)``."""
    if version == 0:
        body = struct.pack(">B3xIIIIHH", 0, 1, TIMESCALE, ept, 0, 0, len(refs))
    else:
        body = struct.pack(">B3xIIQQHH", 1, 1, TIMESCALE, ept, 0, 0, len(refs))
    for is_index, size, duration in refs:
        body += struct.pack(">III", (int(is_index) << 31) | size, duration, SAP)
    return struct.pack(">I4s", 8 + len(body), b"sidx") + body


def duration(node: Leaf | Node) -> int:
    return node.duration if isinstance(node, Leaf) else sum(duration(c) for c in node)


def serialise(node: Node, ept: int = 0) -> bytes:
    """The node's ``sidx`` followed by each child (a nested node, or a leaf's media bytes)."""
    parts: list[bytes] = []
    refs: list[tuple[bool, int, int]] = []
    t = ept
    for child in node:
        if isinstance(child, Leaf):
            data = bytes([len(parts) % 251]) * child.size
            refs.append((False, child.size, child.duration))
        else:
            data = serialise(child, t)
            refs.append((True, len(data), duration(child)))
        parts.append(data)
        t += duration(child)
    return sidx(refs, ept=ept) + b"".join(parts)


def representation(index_range: ByteRange) -> Representation:
    ref = SegmentIndexRef(urls=("https://cdn.example.com/a/v.mp4",), byte_range=index_range)
    return Representation(id="v", bandwidth_bps=1000, index=ref)


def resolve(
    tree: Node, *, prefix: int = 100, config: ManifestConfig | None = None
) -> tuple[Representation, list[ByteRange]]:
    """Build the file ``prefix`` bytes of init + ``tree``; resolve it as the session would."""
    file = b"\0" * prefix + serialise(tree)
    top = struct.unpack_from(">I", file, prefix)[0]
    rep = representation(ByteRange(prefix, prefix + top - 1))
    builder = SegmentIndexBuilder(rep, url=URL, config=config or ManifestConfig())
    asked = [ByteRange(prefix, prefix + top - 1)]
    builder.on_data(prefix, file[prefix : prefix + top])
    while (need := builder.next_fetch()) is not None:
        asked.append(need)
        assert len(asked) < 100
        builder.on_data(need.first, file[need.first : need.last + 1])
    return builder.build(), asked


def leaves_of(node: Node) -> list[Leaf]:
    out: list[Leaf] = []
    for child in node:
        out.extend([child] if isinstance(child, Leaf) else leaves_of(child))
    return out


def check_segments(rep: Representation, tree: Node, *, prefix: int = 100) -> None:
    """Segments are the leaves, in order, with the media bytes and times of the file."""
    file = b"\0" * prefix + serialise(tree)
    assert rep.segments is not None
    leaves = leaves_of(tree)
    assert len(rep.segments) == len(leaves)
    start = 0
    for i, (segment, leaf) in enumerate(zip(rep.segments, leaves, strict=True)):
        assert segment.number == i + 1
        assert segment.byte_range is not None and segment.byte_range.length == leaf.size
        media = file[segment.byte_range.first : segment.byte_range.last + 1]
        assert len(set(media)) == 1  # one leaf's bytes, not a box header
        assert segment.start_s == pytest.approx(start / TIMESCALE)
        assert segment.duration_s == pytest.approx(leaf.duration / TIMESCALE)
        start += leaf.duration


def test_flat_index_needs_one_request() -> None:
    tree: Node = [Leaf(300, 1000), Leaf(200, 1000), Leaf(250, 500)]
    rep, asked = resolve(tree)
    assert len(asked) == 1
    check_segments(rep, tree)


def test_two_level_index_fetches_each_referenced_sidx_once() -> None:
    tree: Node = [[Leaf(300, 1000), Leaf(200, 1000)], [Leaf(250, 1000), Leaf(100, 500)]]
    rep, asked = resolve(tree)
    assert len(asked) == 3  # the top box, then one read per referenced box
    check_segments(rep, tree)


def test_three_levels_and_a_daisy_chain_keep_subsegment_order() -> None:
    tree: Node = [
        Leaf(90, 400),
        [[Leaf(300, 1000)], [Leaf(200, 1000), Leaf(50, 200)]],
        [Leaf(250, 1000), [Leaf(120, 600)]],
    ]
    rep, asked = resolve(tree)
    assert len(asked) == 1 + 2 + 2 + 1
    check_segments(rep, tree)


def test_a_referenced_sidx_larger_than_the_first_read_costs_one_more_request() -> None:
    big = [Leaf(10, 40) for _ in range(500)]  # a 6 kB sidx: more than the 4 kB first read
    tree: Node = [big, [Leaf(100, 100)]]
    rep, asked = resolve(tree)
    assert len(asked) == 4
    assert asked[1].length == 4096 and asked[2].first == asked[1].first
    check_segments(rep, tree)


def test_version_1_boxes_in_a_hierarchy() -> None:
    file = b"\0" * 50
    inner = sidx([(False, 400, 1000)], ept=0, version=1)
    top = sidx([(True, len(inner) + 400, 1000)], ept=0, version=1)
    file += top + inner + b"\1" * 400
    rep = representation(ByteRange(50, 50 + len(top) - 1))
    builder = SegmentIndexBuilder(rep, url=URL)
    builder.on_data(50, top)
    need = builder.next_fetch()
    assert need is not None and need.first == 50 + len(top)
    builder.on_data(need.first, file[need.first : need.last + 1])
    assert builder.next_fetch() is None
    (segment,) = builder.build().segments or ()
    assert segment.byte_range == ByteRange(len(file) - 400, len(file) - 1)


@pytest.mark.parametrize(
    ("config", "detail"),
    [
        (ManifestConfig(max_index_depth=2), "nested deeper"),
        (ManifestConfig(max_index_boxes=3), "sidx boxes"),
        (ManifestConfig(max_index_bytes=200), "index over"),
        (ManifestConfig(max_segments=3), "subsegments"),
    ],
)
def test_hierarchy_bounds(config: ManifestConfig, detail: str) -> None:
    tree: Node = [[[Leaf(10, 10), Leaf(10, 10)]], [[Leaf(10, 10), Leaf(10, 10)]]]
    with pytest.raises(ManifestParseError, match=detail):
        resolve(tree, config=config)


def test_a_type_1_reference_must_point_at_a_sidx() -> None:
    top = sidx([(True, 100, 1000)], ept=0)
    rep = representation(ByteRange(0, len(top) - 1))
    builder = SegmentIndexBuilder(rep, url=URL)
    builder.on_data(0, top)
    need = builder.next_fetch()
    assert need is not None
    with pytest.raises(ManifestParseError, match="not a sidx"):
        builder.on_data(need.first, struct.pack(">I4s", 100, b"moof") + b"\0" * 92)


def test_bytes_for_a_range_never_asked_are_refused() -> None:
    rep = representation(ByteRange(0, 99))
    builder = SegmentIndexBuilder(rep, url=URL)
    with pytest.raises(ManifestParseError, match="not asked"):
        builder.on_data(5, sidx([(False, 10, 10)], ept=0))


def test_build_before_the_index_is_complete_is_an_error() -> None:
    builder = SegmentIndexBuilder(representation(ByteRange(0, 99)), url=URL)
    with pytest.raises(ManifestParseError, match="incomplete"):
        builder.build()


def test_apply_segment_index_points_hierarchical_indexes_to_the_builder() -> None:
    top = sidx([(True, 100, 1000)], ept=0)
    with pytest.raises(UnsupportedManifest, match="SegmentIndexBuilder"):
        apply_segment_index(representation(ByteRange(0, len(top) - 1)), top, url=URL)


def test_a_representation_without_an_index_is_refused() -> None:
    with pytest.raises(ManifestParseError):
        SegmentIndexBuilder(Representation(id="v", bandwidth_bps=1), url=URL)
