"""On-demand layouts (one file per rendition) and servers that ignore ``Range``.

Shaka Packager's on-demand output (DASH ``SegmentBase`` + ``sidx``, HLS ``EXT-X-BYTERANGE``),
clear and ``cenc``; the same files rewritten with a hierarchical ``sidx``; and
``python -m http.server``, which answers every ranged request with the whole file (``200``),
serving Shaka's and FFmpeg's single-file layouts. Each case plays through the SDK with
decoding and frame hashing, and the pictures must be the clear source's, bit for bit.
"""

from __future__ import annotations

import dataclasses
import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import recipes
from foreign import (
    AAC_FRAME_SAMPLES,
    DURATION_S,
    SAMPLE_RATE,
    Clip,
    Playback,
    Served,
    Workshop,
    compare_pictures,
    downloads,
    eager_abr,
    play,
)

from player.config import PlayerConfig
from transport import RetryConfig
from transport.lab import LabCdn, StatusFault, TestCA

Recipe = Callable[[Path, Clip], str]

CASES: dict[str, Recipe] = {
    "shaka-on-demand": recipes.shaka_on_demand,
    "shaka-on-demand-cenc": recipes.shaka_on_demand_cenc,
    "shaka-on-demand-hierarchical": recipes.shaka_on_demand_hierarchical,
    "ffmpeg-dash-single-file": recipes.ffmpeg_dash_single_file,
}
KEYS = {recipes.KID: recipes.KEY}
REP_FILES = {"0": "v360.mp4", "1": "v180.mp4", "2": "audio.mp4"}
"""DASH representation id -> file, in the on-demand recipes (stream order)."""


def path_of(workshop: Workshop, name: str, manifest: str = "manifest.mpd") -> str:
    built = workshop.build(name, CASES[name])
    return str(Path(built).parent / manifest)


def check_exact(playback: Playback, clip: Clip) -> None:
    assert playback.state == "ended", playback.error
    assert playback.stats["decode_errors"] == 0
    comparison = compare_pictures(playback, clip)
    assert comparison.is_exact, comparison
    assert comparison.frames == clip.frames
    expected_audio = DURATION_S * SAMPLE_RATE / AAC_FRAME_SAMPLES
    assert abs(len(playback.audio_pts_s) - expected_audio) <= 0.02 * expected_audio


# -- the lab (honours Range) ----------------------------------------------------------------


@pytest.mark.parametrize("manifest", ["manifest.mpd", "master.m3u8"])
@pytest.mark.parametrize("name", ["shaka-on-demand", "shaka-on-demand-cenc"])
def test_on_demand_plays_bit_exact_from_the_lab(
    name: str, manifest: str, workshop: Workshop, clip: Clip, lab_server: Served
) -> None:
    playback = play(lab_server, path_of(workshop, name, manifest), keys=KEYS)
    check_exact(playback, clip)
    assert playback.stats["errors_by_code"] == {}
    if manifest == "manifest.mpd":
        for track in ("video", "audio"):
            numbers = [e["number"] for e in downloads(playback, track)]
            # init and sidx are adjacent: one range request for both, no index-only request
            assert numbers.count(-1) == len(
                {e["representation_id"] for e in downloads(playback, track)}
            )
            assert -2 not in numbers
            assert sorted(n for n in numbers if n > 0) == [1, 2, 3, 4]


def test_only_the_rungs_abr_uses_fetch_their_index(
    workshop: Workshop, clip: Clip, lab_server: Served
) -> None:
    playback = play(lab_server, path_of(workshop, "shaka-on-demand"), max_video_height=180)
    check_exact(playback, clip)
    assert {e["representation_id"] for e in downloads(playback)} == {"1"}  # never the 360p
    (filtered,) = [e for e in playback.events if e["type"] == "LadderFiltered"]
    assert filtered["kept_ids"] == ["1"] and filtered["dropped_ids"] == ["0"]
    eager = play(lab_server, path_of(workshop, "shaka-on-demand"), adjust=eager_abr)
    check_exact(eager, clip)
    used = [e["representation_id"] for e in downloads(eager) if e["number"] > 0]
    assert used[0] == "1" and used[-1] == "0"  # climbed from 180p to 360p
    inits = [e["representation_id"] for e in downloads(eager) if e["number"] == -1]
    first_360 = used.index("0")
    # the 360p index was fetched when ABR first chose it, after 180p segments played
    assert inits == ["1", "0"] and first_360 >= 1


def test_hierarchical_sidx_plays_bit_exact(
    workshop: Workshop, clip: Clip, lab_server: Served
) -> None:
    # eager ABR plays both video files: 180p has two sidx levels, 360p three
    playback = play(lab_server, path_of(workshop, "shaka-on-demand-hierarchical"), adjust=eager_abr)
    check_exact(playback, clip)
    for track in ("video", "audio"):
        by_rep: dict[str, list[int]] = {}
        for event in downloads(playback, track):
            by_rep.setdefault(event["representation_id"], []).append(event["number"])
        for rep, numbers in by_rep.items():
            assert numbers.count(-1) == 1, (rep, numbers)
            assert numbers.count(-2) >= 1, (rep, numbers)  # referenced sidx boxes were read
    assert {e["representation_id"] for e in downloads(playback)} == {"0", "1"}


# -- a server that ignores Range ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "manifest"),
    [
        ("shaka-on-demand", "manifest.mpd"),
        ("shaka-on-demand", "master.m3u8"),
        ("ffmpeg-dash-single-file", "manifest.mpd"),
    ],
)
def test_server_ignoring_range_plays_the_same_pictures_fetching_each_file_once(
    name: str,
    manifest: str,
    workshop: Workshop,
    clip: Clip,
    lab_server: Served,
    plain_http: Served,
) -> None:
    path = path_of(workshop, name, manifest)
    playback = play(plain_http, path)
    check_exact(playback, clip)
    assert playback.video == play(lab_server, path).video  # same pictures, same times
    ignored = [e for e in playback.events if e["type"] == "RangeIgnored"]
    assert len(ignored) == 1 and ignored[0]["origin"] == plain_http.base_url
    folder = clip.folder / Path(path).parent
    sizes = {f.stat().st_size for f in folder.iterdir() if f.suffix == ".mp4"}
    whole = [
        e["nbytes"] for e in playback.events if e["type"] == "SegmentDownloaded" and e["nbytes"]
    ]
    # every transfer was one whole file, and no file came twice: bytes = file sizes, once
    assert whole and all(n in sizes for n in whole)
    assert len(whole) == len(set(whole))
    assert playback.stats["bytes_downloaded"] == sum(whole) <= sum(sizes)


@pytest.mark.parametrize("room", ["none", "one file"])
def test_whole_files_beyond_the_memory_bound_fail_typed(
    room: str, workshop: Workshop, clip: Clip, plain_http: Served
) -> None:
    path = path_of(workshop, "shaka-on-demand")
    folder = clip.folder / Path(path).parent
    video, audio = ((folder / REP_FILES[r]).stat().st_size for r in ("1", "2"))
    # "one file": the 180p file fits, but not with the audio file beside it
    cache = 10_000 if room == "none" else max(video, audio) + 1000
    playback = play(plain_http, path, whole_file_cache_bytes=cache, max_video_height=180)
    assert playback.state == "error"
    assert playback.error_code == "player.range_not_supported"
    # never a whole file downloaded again and again: at most each file once
    assert playback.stats["bytes_downloaded"] <= video + audio
    assert playback.stats["decode_errors"] == 0


class _ShiftedRangeHandler(http.server.SimpleHTTPRequestHandler):
    """Answers ``Range: bytes=a-b`` with ``206`` for bytes ``a+1..b+1`` (a broken cache)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        wanted = self.headers.get("Range", "")
        path = Path(self.translate_path(self.path))
        if not wanted.startswith("bytes=") or not path.is_file():
            super().do_GET()
            return
        first, last = (int(v) for v in wanted[6:].split("-"))
        data = path.read_bytes()[first + 1 : last + 2]
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {first + 1}-{last + 1}/{path.stat().st_size}")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        del format, args


@pytest.fixture(scope="module")
def shifted_server(clip: Clip) -> Iterator[Served]:
    def handler(*args: Any, **kwargs: Any) -> _ShiftedRangeHandler:
        return _ShiftedRangeHandler(*args, directory=str(clip.folder), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served("shifted", f"http://127.0.0.1:{server.server_port}", None, protocol="h1")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.parametrize("manifest", ["manifest.mpd", "master.m3u8"])
def test_a_206_for_other_bytes_is_a_typed_error_and_never_decoded(
    manifest: str, workshop: Workshop, shifted_server: Served
) -> None:
    playback = play(shifted_server, path_of(workshop, "shaka-on-demand", manifest))
    assert playback.state == "error"
    assert playback.error_code == "player.range_response"
    assert playback.stats["frames_decoded"] == 0 and playback.stats["decode_errors"] == 0


# -- index fetches fail over like segment fetches -------------------------------------------


@pytest.fixture
def two_edges(clip: Clip, interop_ca: TestCA) -> Iterator[Any]:
    handle = LabCdn(clip.folder, edges=2, ca=interop_ca).start_in_thread()
    try:
        yield handle
    finally:
        handle.stop()


def _fast_retries(config: PlayerConfig) -> PlayerConfig:
    retry = RetryConfig(max_attempts=3, base_delay_s=0.01, max_delay_s=0.02)
    return eager_abr(
        dataclasses.replace(config, transport=dataclasses.replace(config.transport, retry=retry))
    )


def test_an_index_fetch_fails_over_to_the_next_edge(
    workshop: Workshop, clip: Clip, two_edges: Any
) -> None:
    path = path_of(workshop, "shaka-on-demand")
    two_edges.edges[0].faults.set(StatusFault(status=503), count=1, path_glob="*/v180.mp4")
    served = Served("lab", two_edges.edges[0].base_url, two_edges.ca_file)
    others = (two_edges.edges[1].base_url, two_edges.origin.base_url)
    playback = play(served, path, alternate_origins=others, adjust=_fast_retries)
    check_exact(playback, clip)
    (applied,) = two_edges.edges[0].faults.history
    assert applied[1].endswith("/v180.mp4")
    first = downloads(playback)[0]  # the init + index request, answered by the next edge
    assert first["number"] == -1 and first["representation_id"] == "1"
    assert first["edge"] == two_edges.edges[1].base_url


def test_a_rung_whose_index_no_edge_serves_is_excluded(
    workshop: Workshop, clip: Clip, two_edges: Any
) -> None:
    path = path_of(workshop, "shaka-on-demand")
    for server in (*two_edges.edges, two_edges.origin):
        server.faults.set(StatusFault(status=503), count=1000, path_glob="*/v360.mp4")
    served = Served("lab", two_edges.edges[0].base_url, two_edges.ca_file)
    others = (two_edges.edges[1].base_url, two_edges.origin.base_url)
    playback = play(served, path, alternate_origins=others, adjust=_fast_retries)
    check_exact(playback, clip)  # 180p throughout
    errors = [e for e in playback.events if e["type"] == "ErrorOccurred"]
    assert [(e["code"], e["fatal"]) for e in errors] == [("transport.all_edges_failed", False)]
    assert {e["representation_id"] for e in downloads(playback)} == {"1"}


def test_an_audio_index_no_edge_serves_ends_the_session_typed(
    workshop: Workshop, two_edges: Any
) -> None:
    path = path_of(workshop, "shaka-on-demand")
    for server in (*two_edges.edges, two_edges.origin):
        server.faults.set(StatusFault(status=503), count=1000, path_glob="*/audio.mp4")
    served = Served("lab", two_edges.edges[0].base_url, two_edges.ca_file)
    others = (two_edges.edges[1].base_url, two_edges.origin.base_url)
    playback = play(served, path, alternate_origins=others, adjust=_fast_retries)
    assert playback.state == "error"
    assert playback.error_code == "transport.all_edges_failed"
    assert not downloads(playback, "audio")
