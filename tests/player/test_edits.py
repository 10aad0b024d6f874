"""Edit lists read from init segments (player._edits), on hand-built boxes."""

from __future__ import annotations

import struct

from player._edits import TrackEdit, track_edits, without_edit_lists


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full(kind: bytes, version: int, payload: bytes) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]) + payload)


def mvhd(timescale: int) -> bytes:
    return full(b"mvhd", 0, struct.pack(">III", 0, 0, timescale) + bytes(84))


def mdhd(timescale: int, *, version: int = 0) -> bytes:
    if version == 1:
        return full(b"mdhd", 1, struct.pack(">QQIQ", 0, 0, timescale, 0) + bytes(4))
    return full(b"mdhd", 0, struct.pack(">IIII", 0, 0, timescale, 0) + bytes(4))


def hdlr(handler: bytes) -> bytes:
    return full(b"hdlr", 0, bytes(4) + handler + bytes(12) + b"\0")


def elst(entries: list[tuple[int, int]], *, version: int = 0) -> bytes:
    layout = ">Qqhh" if version == 1 else ">Iihh"
    body = b"".join(struct.pack(layout, d, m, 1, 0) for d, m in entries)
    return full(b"elst", version, struct.pack(">I", len(entries)) + body)


def trak(handler: bytes, scale: int, entries: list[tuple[int, int]] | None, **kw: int) -> bytes:
    edts = box(b"edts", elst(entries, **kw)) if entries is not None else b""
    return box(b"trak", edts + box(b"mdia", mdhd(scale, **kw) + hdlr(handler)))


def init(*traks: bytes) -> bytes:
    return box(b"ftyp", b"iso6\0\0\0\0") + box(b"moov", mvhd(1000) + b"".join(traks))


FFMPEG_HLS_VIDEO = trak(b"vide", 12800, [(80, -1), (0, 1024)])
"""What FFmpeg 5.1's HLS fMP4 muxer writes for H.264 with B-frames at 25 fps."""


def test_first_non_empty_edit_gives_the_shift_and_empty_edits_are_reported() -> None:
    edits = track_edits(init(FFMPEG_HLS_VIDEO, trak(b"soun", 48000, [(58, -1), (0, 0)])))
    assert edits == [TrackEdit("vide", 0.08, 0.08), TrackEdit("soun", 0.0, 0.058)]


def test_version_1_boxes_and_audio_priming() -> None:
    edits = track_edits(init(trak(b"soun", 48000, [(4000, 1024)], version=1)))
    assert edits == [TrackEdit("soun", 1024 / 48000, 0.0)]


def test_tracks_without_an_edit_list_or_with_only_empty_edits_give_nothing() -> None:
    assert track_edits(init(trak(b"vide", 12800, None))) == []
    assert track_edits(init(trak(b"vide", 12800, [(80, -1)]))) == []


def test_edts_becomes_free_and_nothing_else_moves() -> None:
    original = init(FFMPEG_HLS_VIDEO, trak(b"soun", 48000, [(0, 1024)]))
    stripped = without_edit_lists(original)
    assert len(stripped) == len(original)
    assert stripped.count(b"edts") == 0 and stripped.count(b"free") == 2
    assert stripped.replace(b"free", b"edts") == original
    assert track_edits(stripped) == []


def test_malformed_input_is_left_alone() -> None:
    for data in (b"", b"\0\0\0\x10moov", init(FFMPEG_HLS_VIDEO)[:-7], b"\xff" * 64):
        assert track_edits(data) == []
        assert without_edit_lists(data) == data
