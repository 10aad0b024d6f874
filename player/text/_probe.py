"""Where a media segment starts on its own clock, in 90 kHz ticks (HLS WebVTT alignment).

An HLS WebVTT segment's ``X-TIMESTAMP-MAP`` ties its cue times to the *media's* timestamps
(RFC 8216 section 3.5), not to the playlist's timeline. To place cues, the session needs
the media timestamp at a known point of the playlist's timeline: ``media_start_ticks``
reads the earliest presentation timestamp of a video (or audio) segment without decoding
it: the smallest PES ``PTS`` of an MPEG-2 TS segment's first video (else audio) stream, the
ID3 ``com.apple.streaming.transportStreamTimestamp`` of packed audio, or ``tfdt`` plus the
smallest composition time of an fMP4 fragment. It never raises: ``None`` means "not known".
"""

from __future__ import annotations

from player.errors import TextError
from player.text._mp4 import Box, boxes, child
from player.text._timing import MPEGTS_HZ, MPEGTS_WRAP, wrapped_ticks

__all__: list[str] = []

_TS_PACKET = 188
_MAX_TS_PACKETS = 200_000  # about 37 MB of TS: past any real segment (not a tunable)
_ID3_TIMESTAMP = b"com.apple.streaming.transportStreamTimestamp\x00"


def media_start_ticks(init: bytes, data: bytes) -> int | None:
    """Earliest presentation timestamp of a media segment, 90 kHz ticks.

    Args:
        init: The clear init segment (fMP4), or ``b""``.
        data: The clear media segment.

    Returns:
        MPEG-2 TS and packed audio: the 33-bit PES timestamp as written. fMP4: the
        fragment's earliest composition time converted to 90 kHz (not wrapped).
        ``None`` when the format is not recognised or carries no timestamp.
    """
    if data[:1] == b"\x47":
        return _ts_start(data)
    if data[:3] == b"ID3":
        return _id3_timestamp(data)
    try:
        return _fmp4_start(init, data)
    except TextError:
        return None


def _ts_start(data: bytes) -> int | None:
    """Smallest PTS of the first video stream (else the first audio stream) of a TS."""
    first: dict[str, int] = {}
    least: dict[str, int] = {}
    for pos in range(0, min(len(data), _TS_PACKET * _MAX_TS_PACKETS), _TS_PACKET):
        packet = data[pos : pos + _TS_PACKET]
        if len(packet) < _TS_PACKET or packet[0] != 0x47 or not packet[1] & 0x40:
            continue
        found = _pes_pts(packet)
        if found is None:
            continue
        kind, pts = found
        if kind not in first:
            first[kind], least[kind] = pts, 0
        least[kind] = min(least[kind], wrapped_ticks(pts - first[kind]))
    for kind in ("video", "audio"):
        if kind in first:
            return (first[kind] + least[kind]) % MPEGTS_WRAP
    return None


def _pes_pts(packet: bytes) -> tuple[str, int] | None:
    """``(video|audio, PTS)`` of a PES header starting in this packet, if any."""
    control = (packet[3] >> 4) & 0x3
    offset = 4
    if control in (2, 3):
        offset += 1 + packet[4]
    if control == 2 or offset + 14 > len(packet):
        return None
    pes = packet[offset:]
    if pes[:3] != b"\x00\x00\x01":
        return None
    stream_id = pes[3]
    if 0xE0 <= stream_id <= 0xEF:
        kind = "video"
    elif 0xC0 <= stream_id <= 0xDF or stream_id == 0xBD:
        kind = "audio"
    else:
        return None
    if not pes[7] & 0x80:
        return None
    return kind, _timestamp(pes[9:14])


def _timestamp(field: bytes) -> int:
    """The 33-bit value of a 5-byte PES timestamp field."""
    return (
        ((field[0] >> 1) & 0x07) << 30
        | field[1] << 22
        | (field[2] >> 1) << 15
        | field[3] << 7
        | field[4] >> 1
    )


def _id3_timestamp(data: bytes) -> int | None:
    """The PRIV ``transportStreamTimestamp`` of an ID3 tag (HLS packed audio)."""
    at = data.find(_ID3_TIMESTAMP, 0, 4096)
    if at < 0 or at + len(_ID3_TIMESTAMP) + 8 > len(data):
        return None
    start = at + len(_ID3_TIMESTAMP)
    return int.from_bytes(data[start : start + 8], "big") & (MPEGTS_WRAP - 1)


def _fmp4_start(init: bytes, data: bytes) -> int | None:
    url = "media segment"
    timescales = _timescales(init, url=url)
    for moof in boxes(data, 0, len(data), url=url):
        if moof.kind != b"moof":
            continue
        for traf in boxes(data, moof.body, moof.end, url=url):
            if traf.kind == b"traf":
                return _traf_start(data, traf, timescales, url=url)
    return None


def _timescales(init: bytes, *, url: str) -> dict[int, tuple[int, int]]:
    """Track id -> ``(mdhd timescale, trex default duration)``."""
    out: dict[int, tuple[int, int]] = {}
    defaults: dict[int, int] = {}
    for moov in boxes(init, 0, len(init), url=url):
        if moov.kind != b"moov":
            continue
        for box in boxes(init, moov.body, moov.end, url=url):
            if box.kind == b"trak":
                track_id, timescale = _track_timescale(init, box, url=url)
                out[track_id] = (timescale, 0)
            elif box.kind == b"mvex":
                for trex in boxes(init, box.body, box.end, url=url):
                    if trex.kind == b"trex" and trex.end - trex.body >= 16:
                        track = int.from_bytes(init[trex.body + 4 : trex.body + 8], "big")
                        duration = init[trex.body + 12 : trex.body + 16]
                        defaults[track] = int.from_bytes(duration, "big")
    return {k: (scale, defaults.get(k, 0)) for k, (scale, _) in out.items()}


def _track_timescale(init: bytes, trak: Box, *, url: str) -> tuple[int, int]:
    tkhd = child(init, trak, b"tkhd", url=url)
    mdia = child(init, trak, b"mdia", url=url)
    mdhd = child(init, mdia, b"mdhd", url=url) if mdia is not None else None
    if tkhd is None or mdhd is None:
        return 0, 0
    wide = init[tkhd.body] == 1
    track_id = int.from_bytes(init[tkhd.body + (20 if wide else 12) :][:4], "big")
    wide = init[mdhd.body] == 1
    timescale = int.from_bytes(init[mdhd.body + (20 if wide else 12) :][:4], "big")
    return track_id, timescale


def _traf_start(
    data: bytes, traf: Box, timescales: dict[int, tuple[int, int]], *, url: str
) -> int | None:
    tfhd = child(data, traf, b"tfhd", url=url)
    tfdt = child(data, traf, b"tfdt", url=url)
    if tfhd is None or tfdt is None or tfhd.end - tfhd.body < 8:
        return None
    track_id = int.from_bytes(data[tfhd.body + 4 : tfhd.body + 8], "big")
    timescale, default_duration = timescales.get(track_id, (0, 0))
    if timescale <= 0:
        return None
    flags = int.from_bytes(data[tfhd.body + 1 : tfhd.body + 4], "big")
    pos = tfhd.body + 8 + (8 if flags & 0x1 else 0) + (4 if flags & 0x2 else 0)
    if flags & 0x8:
        default_duration = int.from_bytes(data[pos : pos + 4], "big")
    wide = data[tfdt.body] == 1
    decode = int.from_bytes(data[tfdt.body + 4 : tfdt.body + (12 if wide else 8)], "big")
    earliest = _earliest_offset(data, traf, default_duration, url=url)
    return (decode + earliest) * MPEGTS_HZ // timescale


def _earliest_offset(data: bytes, traf: Box, default_duration: int, *, url: str) -> int:
    """Smallest (decode offset + composition offset) of the first ``trun``'s samples."""
    trun = child(data, traf, b"trun", url=url)
    if trun is None or trun.end - trun.body < 8:
        return 0
    version = data[trun.body]
    flags = int.from_bytes(data[trun.body + 1 : trun.body + 4], "big")
    count = int.from_bytes(data[trun.body + 4 : trun.body + 8], "big")
    pos = trun.body + 8 + (4 if flags & 0x1 else 0) + (4 if flags & 0x4 else 0)
    width = 4 * sum(1 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
    if not flags & 0x800 or pos + width * count > trun.end:
        return 0
    best: int | None = None
    time = 0
    for _ in range(count):
        duration = default_duration
        field = pos
        if flags & 0x100:
            duration = int.from_bytes(data[field : field + 4], "big")
            field += 4
        field += 4 if flags & 0x200 else 0
        field += 4 if flags & 0x400 else 0
        cto = int.from_bytes(data[field : field + 4], "big", signed=version == 1)
        best = time + cto if best is None else min(best, time + cto)
        time += duration
        pos += width
    return best or 0
