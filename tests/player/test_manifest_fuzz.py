"""Hostile input: mutated corpus manifests raise only ManifestError, and quickly.

Each property runs a bounded number of examples (the suite stays well under a minute); each
parse must finish within ``CASE_BUDGET_S`` of CPU time (process time, so that other processes
loading the machine do not make the check flaky).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from player.config import ManifestConfig
from player.errors import ManifestError
from player.manifest import Presentation, parse_manifest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CORPUS = SHARED / "corpus" / "manifests"
FILES = sorted(p for p in CORPUS.glob("*/*") if p.suffix in (".m3u8", ".mpd"))
SMALL = [p for p in FILES if p.stat().st_size < 20_000]
DATA = {p.name: p.read_bytes() for p in SMALL}
HLS_NAMES = sorted(name for name in DATA if name.endswith(".m3u8"))
DASH_NAMES = sorted(name for name in DATA if name.endswith(".mpd"))
CASE_BUDGET_S = 2.0
NOW = 1_700_000_000.0
CONFIG = ManifestConfig(max_segments=200_000)
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def check(data: bytes) -> None:
    start = time.process_time()
    try:
        result = parse_manifest(
            data, url="https://cdn.example.com/a/manifest", now=NOW, config=CONFIG
        )
    except ManifestError as exc:
        assert exc.url == "https://cdn.example.com/a/manifest"
    else:
        assert isinstance(result, Presentation)
        json.dumps(result.to_json(), allow_nan=False)
        assert result.summary()
    assert time.process_time() - start < CASE_BUDGET_S


@FUZZ
@given(name=st.sampled_from(sorted(DATA)), cut=st.floats(0, 1))
def test_truncation(name: str, cut: float) -> None:
    data = DATA[name]
    check(data[: int(len(data) * cut)])


@FUZZ
@given(
    name=st.sampled_from(sorted(DATA)),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_byte_flips(name: str, flips: list[tuple[float, int]]) -> None:
    data = bytearray(DATA[name])
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    check(bytes(data))


@FUZZ
@given(name=st.sampled_from(HLS_NAMES), line=st.floats(0, 1), times=st.integers(2, 2000))
def test_hls_tag_duplication(name: str, line: float, times: int) -> None:
    lines = DATA[name].split(b"\n")
    index = min(int(line * len(lines)), len(lines) - 1)
    lines[index:index] = [lines[index]] * times
    check(b"\n".join(lines))


HUGE = st.sampled_from(
    [b"9" * 5000, b"1e999", b"-1", b"nan", b"inf", b"18446744073709551617", b"0", b"-0.0"]
)


@FUZZ
@given(name=st.sampled_from(sorted(DATA)), number=HUGE, where=st.floats(0, 1))
def test_huge_numbers(name: str, number: bytes, where: float) -> None:
    data = DATA[name]
    digits = [i for i, byte in enumerate(data) if 48 <= byte <= 57]
    if not digits:
        check(data + number)
        return
    at = digits[min(int(where * len(digits)), len(digits) - 1)]
    check(data[:at] + number + data[at + 1 :])


@FUZZ
@given(depth=st.integers(1, 100_000), name=st.sampled_from(DASH_NAMES))
def test_deep_xml_nesting(depth: int, name: str) -> None:
    data = DATA[name]
    at = data.find(b"<Period")
    if at == -1:
        at = len(data) // 2
    check(data[:at] + b"<a>" * depth + b"</a>" * depth + data[at:])


LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE MPD [
<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
<!ENTITY ext SYSTEM "file:///etc/passwd">
]>
"""


@FUZZ
@given(name=st.sampled_from(DASH_NAMES), entity=st.sampled_from([b"&f;", b"&ext;"]))
def test_billion_laughs_and_external_entities(name: str, entity: bytes) -> None:
    body = DATA[name]
    if body.startswith(b"<?xml"):
        body = body[body.find(b"?>") + 2 :]
    at = body.find(b">", body.find(b"<MPD")) + 1
    check(LAUGHS + body[:at] + entity + body[at:])


def test_hostile_hls_playlists() -> None:
    cases = [
        b"#EXTM3U\n"
        + b"".join(
            b'#EXT-X-KEY:METHOD=AES-128,URI="k%d"\n#EXTINF:1,\na.ts\n' % i for i in range(20000)
        ),
        b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=-5\na.m3u8\n",
        b'#EXTM3U\n#EXT-X-MAP:BYTERANGE="5@0"\n#EXTINF:1,\na.ts\n',
        b"#EXTM3U\n#EXTINF:1,\n#EXT-X-BYTERANGE:0@5\na.ts\n",
        b'#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="k",IV=0xZZ\n#EXTINF:1,\na.ts\n',
        b"#EXTM3U\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1\n",
        b"#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:9999-12-31T23:59:59Z\n#EXTINF:1e300,\na.ts\n"
        b"#EXTINF:1e308,\nb.ts\n#EXTINF:1e308,\nc.ts\n",
        b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n",
        b"#EXTM3U\n" + b'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="x",URI="a.m3u8"\n' * 10001,
        b"\xff\xfe#EXTM3U\n",
    ]
    for data in cases:
        check(data)
