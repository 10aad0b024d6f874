"""Thumbnails from image tracks on FFmpeg-made sprite sheets, served by the lab (issue 15 §2).

Content (``thumbnail_recipes``): FFmpeg tiles the clear source's 640x360 stream into 160x90
thumbnails, one a second, three to a JPEG sheet; hand-written HLS and DASH image tracks
(modelled on Akamai's, the DASH-IF IOP's and the Image Media Playlist specification's
examples) point at the sheets. For every second of the clip ``Player.thumbnail_at`` must give
the sheet and the cell of that second, and the cell, decoded, must be the source frame at that
second scaled to 160x90: mean absolute difference per RGB sample below ``MAD_BOUND``, while
the frames one second either side differ by more (the comparison can fail).

JPEG is lossy and FFmpeg's scaler (bicubic) differs from PyAV's reformat, so pictures are not
bit-exact: measured MAD 3.0 to 4.4 against the right frame, 11 or more against its
neighbours (``MAD_BOUND`` sits between).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import recipes
import thumbnail_recipes
from foreign import DURATION_S, PLAY_TIMEOUT_S, Clip, Served, Workshop, config_for
from thumbnail_recipes import GRID, INTERVAL_S, REP_ID, SHEETS, TILE

from player import (
    Thumbnail,
    ThumbnailUnavailable,
    VirtualClock,
    decode_thumbnail,
)
from player._player import Player
from transport.lab import LabCdn, StatusFault, TestCA

MAD_BOUND = 7.0
"""Largest mean absolute difference (0-255 per RGB sample) of a thumbnail from its frame."""

Recipe = Callable[[Path, Clip], str]
CASES: dict[str, tuple[Recipe, str]] = {
    # name: (recipe, the image representation's id: DASH's own, HLS's made from RESOLUTION)
    "dash-number": (thumbnail_recipes.dash_thumbnails_number, REP_ID),
    "dash-time": (thumbnail_recipes.dash_thumbnails_time, REP_ID),
    "hls": (thumbnail_recipes.hls_thumbnails, "image-90p"),
}


@pytest.fixture(scope="module")
def frames(clip: Clip) -> dict[int, np.ndarray]:
    """The source's 640x360 frame at each whole second, scaled to 160x90 RGB with PyAV."""
    width, height = TILE
    wanted = {second: None for second in range(DURATION_S)}
    found: dict[int, np.ndarray] = {}
    with av.open(str(clip.path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            at = float(frame.pts * frame.time_base)
            second = round(at)
            if abs(at - second) < 1e-3 and second in wanted:
                scaled = frame.reformat(width=width, height=height, format="rgb24")
                found[second] = scaled.to_ndarray()
    assert sorted(found) == list(range(DURATION_S))
    return found


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


async def _thumbnails(
    served: Served, path: str, positions: list[float], **playback: Any
) -> tuple[list[Thumbnail | BaseException], list[dict[str, Any]], int]:
    """Load (no autoplay), ask for each position; return thumbnails or errors, renditions,
    and the number of images fetched."""
    player = Player(config_for(served, **playback), clock=VirtualClock())
    try:
        await player.load(served.url(path), autoplay=False)
        out: list[Thumbnail | BaseException] = []
        for position in positions:
            try:
                out.append(await player.thumbnail_at(position))
            except Exception as exc:  # noqa: BLE001 - an error is a result to assert on
                out.append(exc)
        renditions = player.thumbnail_renditions()
        fetched = player._thumbnails.images_fetched if player._thumbnails else 0  # noqa: SLF001
        return out, renditions, fetched
    finally:
        await player.aclose()


@pytest.mark.parametrize("name", sorted(CASES))
def test_thumbnail_at_gives_the_frame_of_each_second(
    name: str, workshop: Workshop, lab_server: Served, frames: dict[int, np.ndarray]
) -> None:
    recipe, rep_id = CASES[name]
    path = workshop.build(f"thumbs-{name}", recipe)
    seconds = list(range(DURATION_S))
    positions = [s + 0.5 for s in seconds] + [float(DURATION_S), DURATION_S + 0.5, -1.0]
    got, renditions, fetched = asyncio.run(_thumbnails(lab_server, path, positions))
    columns, rows = GRID
    width, height = TILE
    assert [r["id"] for r in renditions] == [rep_id]
    assert renditions[0]["grid"] == [columns, rows]
    assert renditions[0]["tile_size"] == [width, height]
    for second, thumb in zip(seconds, got, strict=False):
        assert isinstance(thumb, Thumbnail), thumb
        sheet, cell = divmod(second // INTERVAL_S, columns * rows)
        assert thumb.start_s == pytest.approx(second, abs=1e-6)
        assert thumb.duration_s == pytest.approx(INTERVAL_S, abs=1e-6)
        assert thumb.index == cell
        assert thumb.crop == (cell % columns * width, cell // columns * height, width, height)
        assert thumb.image_size == (width * columns, height * rows)
        assert thumb.mime_type == "image/jpeg"
        pixels = decode_thumbnail(thumb)
        assert pixels.shape == (height, width, 3)
        mad = _mad(pixels, frames[second])
        assert mad < MAD_BOUND, f"{name}: thumbnail at {second} s differs by {mad:.2f}"
        for other in (second - 1, second + 1):
            if other in frames:
                assert _mad(pixels, frames[other]) > MAD_BOUND, f"{second} s vs {other} s"
    end, past, before = got[DURATION_S:]
    assert isinstance(end, Thumbnail) and end.start_s == pytest.approx(DURATION_S - INTERVAL_S)
    assert isinstance(past, ThumbnailUnavailable) and past.position_s == DURATION_S + 0.5
    assert isinstance(before, ThumbnailUnavailable)
    assert fetched == SHEETS  # each sheet once: the cache answers its other thumbnails


@pytest.fixture(scope="module")
def lab_with_edge(clip: Clip, interop_ca: TestCA) -> Iterator[Any]:
    handle = LabCdn(clip.folder, edges=1, ca=interop_ca).start_in_thread()
    try:
        yield handle
    finally:
        handle.stop()


@pytest.mark.parametrize("name", ["dash-number", "hls"])
def test_images_fail_over_to_the_next_location(
    name: str, workshop: Workshop, lab_with_edge: Any, frames: dict[int, np.ndarray]
) -> None:
    """Every sheet request to the edge fails (503): the image comes from the origin."""
    path = workshop.build(f"thumbs-{name}", CASES[name][0])
    edge, origin = lab_with_edge.edges[0], lab_with_edge.cdn.origin
    served = Served("lab-edge", edge.base_url, lab_with_edge.cdn.ca_file)
    armed = edge.faults.set(
        StatusFault(status=503), count=None, for_s=PLAY_TIMEOUT_S, path_glob="*.jpg"
    )
    try:
        got, _, _ = asyncio.run(
            _thumbnails(served, path, [1.5], alternate_origins=(origin.base_url,))
        )
    finally:
        edge.faults.clear()
    (thumb,) = got
    assert isinstance(thumb, Thumbnail), thumb
    assert thumb.url.startswith(origin.base_url + "/")
    assert armed.applied >= 1
    assert _mad(decode_thumbnail(thumb), frames[1]) < MAD_BOUND


def test_images_follow_the_pathways_of_dash_base_urls(
    workshop: Workshop, lab_with_edge: Any, clip: Clip, frames: dict[int, np.ndarray]
) -> None:
    """Two ``BaseURL``s with ``serviceLocation``s (pathways, in steering order): every sheet
    request on the first pathway fails (503), the sheet comes from the second."""
    path = workshop.build("thumbs-dash-number", CASES["dash-number"][0])
    edge, origin = lab_with_edge.edges[0], lab_with_edge.cdn.origin
    folder = path.rsplit("/", 1)[0]
    text = (clip.folder / path).read_text()
    bases = (
        f'<BaseURL serviceLocation="edge">{edge.base_url}/{folder}/</BaseURL>'
        f'<BaseURL serviceLocation="origin">{origin.base_url}/{folder}/</BaseURL>'
    )
    with_bases = text.replace("<Period", bases + "<Period", 1)
    (clip.folder / folder / "pathways.mpd").write_text(with_bases)
    served = Served("lab-edge", edge.base_url, lab_with_edge.cdn.ca_file)
    armed = edge.faults.set(
        StatusFault(status=503), count=None, for_s=PLAY_TIMEOUT_S, path_glob="*.jpg"
    )
    try:
        got, _, _ = asyncio.run(_thumbnails(served, f"{folder}/pathways.mpd", [2.5]))
    finally:
        edge.faults.clear()
    (thumb,) = got
    assert isinstance(thumb, Thumbnail), thumb
    assert thumb.url == f"{origin.base_url}/{folder}/{REP_ID}/tile_1.jpg"
    assert armed.applied >= 1
    assert _mad(decode_thumbnail(thumb), frames[2]) < MAD_BOUND


def test_a_live_image_playlist_is_reloaded_once_per_target_duration(
    workshop: Workshop, lab_server: Served, clip: Clip
) -> None:
    """Past the end of a live image playlist: no reload before a target duration (3 s) has
    passed since the last load; after it, one reload finds the new sheet."""
    path = workshop.build("thumbs-hls-live", thumbnail_recipes.hls_thumbnails_growing)
    folder = clip.folder / "thumbs-hls-live"

    async def scenario() -> list[Thumbnail | BaseException]:
        player = Player(config_for(lab_server), clock=VirtualClock())
        out: list[Thumbnail | BaseException] = []
        try:
            await player.load(lab_server.url(path), autoplay=False)
            for position, grow, wait_s in ((0.5, False, 0.0), (3.5, True, 0.0), (3.5, False, 3.0)):
                if grow:
                    thumbnail_recipes.grow_image_playlist(folder)
                await player.clock.sleep(wait_s)
                try:
                    out.append(await player.thumbnail_at(position))
                except ThumbnailUnavailable as exc:
                    out.append(exc)
        finally:
            await player.aclose()
        return out

    first, too_soon, reloaded = asyncio.run(scenario())
    assert isinstance(first, Thumbnail) and first.url.endswith("tile_1.jpg")
    assert isinstance(too_soon, ThumbnailUnavailable)
    assert isinstance(reloaded, Thumbnail), reloaded
    assert reloaded.url.endswith("tile_2.jpg") and reloaded.start_s == pytest.approx(3.0)


def _play_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "player", "play", *args],
        capture_output=True,
        text=True,
        timeout=PLAY_TIMEOUT_S * 3,
        check=False,
    )


@pytest.mark.parametrize("name", ["dash-number", "hls"])
def test_play_writes_the_thumbnails_of_the_played_span(
    name: str,
    workshop: Workshop,
    lab_server: Served,
    frames: dict[int, np.ndarray],
    tmp_path: Path,
) -> None:
    """``play --thumbnails-from-track``: sheets once, crops as PNG, index.json, report counts."""
    path = workshop.build(f"thumbs-{name}", CASES[name][0])
    out, report_file = tmp_path / "thumbs", tmp_path / "report.json"
    assert lab_server.ca_file is not None
    done = _play_cli(
        lab_server.url(path),
        "--ca", lab_server.ca_file, "--virtual-clock", "--quiet", "--no-decode",
        "--thumbnails-from-track", str(out), "--report", str(report_file),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS thumbnails_written" in done.stdout
    assert f"thumbnails: 4 of 4 written from {SHEETS} images to {out}" in done.stdout
    section = json.loads(report_file.read_text())["thumbnails"]
    assert (section["expected"], section["written"], section["images"]) == (4, 4, SHEETS)
    assert section["grid"] == list(GRID) and section["error_count"] == 0
    index = json.loads((out / "index.json").read_text())
    entries = index["thumbnails"]
    assert [e["start_s"] for e in entries] == [0.0, 1.0, 2.0, 3.0]
    assert [e["image"] for e in entries] == ["images/0001.jpg"] * 3 + ["images/0002.jpg"]
    width, height = TILE
    for second, entry in enumerate(entries):
        assert entry["crop"] == [second % GRID[0] * width, 0, width, height]
        with av.open(str(out / entry["file"])) as container:
            (png,) = list(container.decode(video=0))
        pixels = png.to_ndarray(format="rgb24")
        assert pixels.shape == (height, width, 3)
        assert _mad(pixels, frames[second]) < MAD_BOUND
    assert (out / "images" / "0001.jpg").read_bytes()[:2] == b"\xff\xd8"


def test_play_fails_the_check_without_an_image_track(
    workshop: Workshop, lab_server: Served, tmp_path: Path
) -> None:
    path = workshop.build("ffmpeg-dash-timeline", recipes.ffmpeg_dash_timeline)
    assert lab_server.ca_file is not None
    done = _play_cli(
        lab_server.url(path),
        "--ca", lab_server.ca_file, "--virtual-clock", "--quiet", "--no-decode",
        "--thumbnails-from-track", str(tmp_path / "none"),
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL thumbnails_written: no thumbnails: no image track" in done.stdout


def test_thumbnail_track_needs_the_folder(lab_server: Served) -> None:
    done = _play_cli(lab_server.url("x.mpd"), "--thumbnail-track", "thumbs")
    assert done.returncode == 2
    assert "--thumbnail-track needs --thumbnails-from-track" in done.stderr
