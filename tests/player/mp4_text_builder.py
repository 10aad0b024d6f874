"""Minimal MP4 text files built box by box (ISO/IEC 14496-12 and -30), for the parser tests.

Foreign tools' output is tested in ``tests/interop/test_interop_text.py``; these builders
make the shapes those tools do not (hostile sizes, relative TTML times, other defaults).
"""

from __future__ import annotations

import struct


def box(kind: bytes, *payload: bytes) -> bytes:
    """A box with a 32-bit size."""
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    """A full box (version and 24-bit flags first)."""
    return box(kind, struct.pack(">I", (version << 24) | flags), *payload)


def init_segment(entry: bytes, *, timescale: int = 1000, track_id: int = 1) -> bytes:
    """``ftyp`` + ``moov`` with one text track whose sample entry is ``entry``."""
    tkhd = full_box(b"tkhd", 0, 3, bytes(8), struct.pack(">I", track_id), bytes(68))
    mdhd = full_box(b"mdhd", 0, 0, bytes(8), struct.pack(">II", timescale, 0), bytes(4))
    stsd = full_box(b"stsd", 0, 0, struct.pack(">I", 1), entry)
    stbl = box(b"stbl", stsd)
    minf = box(b"minf", full_box(b"nmhd", 0, 0), stbl)
    hdlr = full_box(b"hdlr", 0, 0, bytes(4), b"text", bytes(13))
    trak = box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, minf))
    trex = full_box(b"trex", 0, 0, struct.pack(">IIIII", track_id, 1, 0, 0, 0))
    moov = box(b"moov", full_box(b"mvhd", 0, 0, bytes(96)), trak, box(b"mvex", trex))
    return box(b"ftyp", b"iso6", bytes(4)) + moov


def wvtt_entry(header: str = "WEBVTT") -> bytes:
    """A ``wvtt`` sample entry with its ``vttC`` configuration."""
    return box(b"wvtt", bytes(6), struct.pack(">H", 1), box(b"vttC", header.encode()))


def stpp_entry() -> bytes:
    """An ``stpp`` sample entry (namespace, no schema, no MIME types)."""
    return box(b"stpp", bytes(6), struct.pack(">H", 1), b"http://www.w3.org/ns/ttml\x00\x00\x00")


def vttc(payload: str, *, settings: str = "", cue_id: str = "") -> bytes:
    """One WebVTT cue box."""
    parts = []
    if cue_id:
        parts.append(box(b"iden", cue_id.encode()))
    if settings:
        parts.append(box(b"sttg", settings.encode()))
    parts.append(box(b"payl", payload.encode()))
    return box(b"vttc", *parts)


def vtte() -> bytes:
    """An empty WebVTT sample (no cue shown)."""
    return box(b"vtte")


def fragment(
    samples: list[tuple[int, bytes]],
    *,
    decode_time: int,
    track_id: int = 1,
    wide_tfdt: bool = False,
    data_offset_delta: int = 0,
) -> bytes:
    """``styp`` + ``moof`` + ``mdat``: ``samples`` are ``(duration, bytes)``.

    The ``trun`` gives each sample's duration and size and a data offset from the ``moof``
    (``default-base-is-moof``); ``data_offset_delta`` moves it (a hostile segment).
    """
    count = len(samples)

    def moof(offset: int) -> bytes:
        tfhd = full_box(b"tfhd", 0, 0x020000, struct.pack(">I", track_id))
        tfdt = (
            full_box(b"tfdt", 1, 0, struct.pack(">Q", decode_time))
            if wide_tfdt
            else full_box(b"tfdt", 0, 0, struct.pack(">I", decode_time))
        )
        rows = b"".join(struct.pack(">II", d, len(s)) for d, s in samples)
        trun = full_box(b"trun", 0, 0x000301, struct.pack(">Ii", count, offset), rows)
        return box(
            b"moof", full_box(b"mfhd", 0, 0, struct.pack(">I", 1)), box(b"traf", tfhd, tfdt, trun)
        )

    size = len(moof(0))
    mdat = box(b"mdat", *(s for _, s in samples))
    return box(b"styp", b"msdh", bytes(4)) + moof(size + 8 + data_offset_delta) + mdat


def ttml_document(body: str, *, head: str = "", root_attrs: str = "") -> bytes:
    """A TTML document with the usual namespaces."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<tt xmlns="http://www.w3.org/ns/ttml" xmlns:tts="http://www.w3.org/ns/ttml#styling" '
        'xmlns:ttp="http://www.w3.org/ns/ttml#parameter" '
        f'xml:lang="en" {root_attrs}><head>{head}</head><body>{body}</body></tt>'
    ).encode()
