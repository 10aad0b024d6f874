"""Shaka Packager multi-key ``cbcs``: one key per rendition, one AdaptationSet per key.

Shaka Packager puts renditions encrypted with different keys in separate AdaptationSets
linked by ``adaptation-set-switching``. The SDK must make them one ladder: ABR switches
between the sets (and the DRM stage changes keys with them), ``max_video_height`` filters
the merged ladder (reported, or a typed error when nothing is left), and every picture
decodes to the source's picture of the right size.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import recipes
from foreign import (
    FPS,
    SEGMENT_S,
    Clip,
    Playback,
    Served,
    Workshop,
    compare_pictures,
    downloads,
    eager_abr,
    play,
)

from drm import DrmConfig, LicenseServerApp
from player._player import Player
from player.events import Event, SegmentDownloaded
from player.manifest import TrackType, parse_manifest
from transport.lab import LabServer, TestCA

KEYS = {kid: key for kid, key in recipes.MULTI_KEYS.values()}
SD, HD = "1", "0"  # representation ids: stream order 360p, 180p, audio


def _path(workshop: Workshop, manifest: str = "manifest.mpd") -> str:
    built = workshop.build("shaka-multi-key-cbcs", recipes.shaka_multi_key_cbcs)
    return str(Path(built).parent / manifest)


def _heights(clip: Clip, path: str) -> dict[str, int]:
    """Representation id -> picture height, from the manifest itself."""
    data = (clip.folder / path).read_bytes()
    presentation = parse_manifest(data, url=f"https://x/{path}")
    return {
        rep.id: rep.height or 0
        for track in presentation.periods[0].tracks
        if track.type == TrackType.VIDEO
        for rep in track.representations
    }


def _check_each_picture_is_its_renditions(playback: Playback, clip: Clip, path: str) -> None:
    """Every picture equals the source picture of its number at the size of the rendition
    its segment was fetched from (a wrong key or a mixed-up init would not)."""
    heights = _heights(clip, path)
    rep_of_segment = {
        e["number"]: e["representation_id"] for e in downloads(playback) if e["number"] >= 0
    }
    first = min(rep_of_segment)  # DASH numbers subsegments from 1, HLS from 0
    seen = set()
    for pts, digest in playback.video:
        number = round(pts * FPS)
        segment = first + math.floor(pts / SEGMENT_S + 1e-6)
        height = heights[rep_of_segment[segment]]
        assert clip.reference[height][number] == digest, (pts, height)
        seen.add(number)
    assert seen == set(range(clip.frames))


def _back_to_sd_after_one_hd_segment(player: Player, event: Event) -> None:
    """Pin 180p once a 360p segment arrived: the key changes back (HD -> SD) mid-stream."""
    if (
        isinstance(event, SegmentDownloaded)
        and event.track == "video"
        and event.number >= 0
        and event.representation_id in (HD, "360p")
    ):
        player.pin_video(SD if event.representation_id == HD else "180p")


def test_linked_sets_are_one_switchable_ladder(workshop: Workshop, clip: Clip) -> None:
    path = _path(workshop)
    data = (clip.folder / path).read_text()
    assert data.count("urn:mpeg:dash:adaptation-set-switching:2016") == 2
    presentation = parse_manifest(data.encode(), url="https://x/manifest.mpd")
    video = [t for t in presentation.periods[0].tracks if t.type == TrackType.VIDEO]
    assert [len(t.representations) for t in video] == [1, 1]  # one set per key
    kids = {t.representations[0].kids for t in video}
    assert kids == {(recipes.MULTI_KEYS["SD"][0],), (recipes.MULTI_KEYS["HD"][0],)}


@pytest.mark.parametrize("manifest", ["manifest.mpd", "master.m3u8"])
def test_abr_switches_between_sets_and_keys_with_every_picture_exact(
    manifest: str, workshop: Workshop, clip: Clip, lab_server: Served
) -> None:
    path = _path(workshop, manifest)
    playback = play(
        lab_server,
        path,
        keys=KEYS,
        adjust=eager_abr,
        on_event=_back_to_sd_after_one_hd_segment,
    )
    assert playback.state == "ended", playback.error
    assert playback.stats["decode_errors"] == 0
    comparison = compare_pictures(playback, clip)
    assert comparison.is_exact and comparison.frames == clip.frames, comparison
    switches = [
        (e["reason"], e["to_id"]) for e in playback.events if e["type"] == "VariantSwitched"
    ]
    sd, hd = (SD, HD) if manifest == "manifest.mpd" else ("180p", "360p")
    # ABR climbs from the 180p set to the 360p set (other key), then the pin comes back
    assert switches == [("initial", sd), ("adaptive", hd), ("manual", sd)]
    _check_each_picture_is_its_renditions(playback, clip, path)
    licensed = {k for e in playback.events if e["type"] == "LicenseAcquired" for k in e["kids"]}
    assert {kid for kid, _ in recipes.MULTI_KEYS.values()} <= licensed


def test_max_height_filters_the_merged_ladder_and_is_reported(
    workshop: Workshop, clip: Clip, lab_server: Served
) -> None:
    playback = play(lab_server, _path(workshop), keys=KEYS, adjust=eager_abr, max_video_height=180)
    assert playback.state == "ended", playback.error
    comparison = compare_pictures(playback, clip)
    assert comparison.is_exact and comparison.frames == clip.frames, comparison
    assert {e["representation_id"] for e in downloads(playback)} == {SD}
    (filtered,) = [e for e in playback.events if e["type"] == "LadderFiltered"]
    assert (filtered["kept_ids"], filtered["dropped_ids"]) == ([SD], [HD])
    (loaded,) = [e for e in playback.events if e["type"] == "ManifestLoaded"]
    assert len(loaded["video_bitrates_bps"]) == 1


def test_a_filter_that_leaves_nothing_is_a_typed_error(
    workshop: Workshop, lab_server: Served
) -> None:
    playback = play(lab_server, _path(workshop), keys=KEYS, max_video_height=100)
    assert playback.state == "error"
    assert playback.error_code == "player.restrictions_not_met"
    error: Any = playback.error
    assert sorted(h for _, h, _ in error.available) == [180, 360]
    assert playback.stats["frames_decoded"] == 0


def test_without_the_link_merging_of_unlinked_sets_can_be_turned_off(
    workshop: Workshop, clip: Clip, lab_server: Served
) -> None:
    """Linked sets merge whatever ``switch_across_compatible_sets`` says."""
    playback = play(
        lab_server,
        _path(workshop),
        keys=KEYS,
        adjust=eager_abr,
        switch_across_compatible_sets=False,
    )
    assert playback.state == "ended", playback.error
    assert {e["representation_id"] for e in downloads(playback)} == {SD, HD}
    assert compare_pictures(playback, clip).is_exact


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "player", "play", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_max_height_is_honoured_reported_or_refused(
    workshop: Workshop, lab_server: Served, tmp_path: Path
) -> None:
    url = lab_server.url(_path(workshop))
    assert lab_server.ca_file is not None
    keys = [f"--keys={kid}:{key}" for kid, key in KEYS.items()]
    common = ["--ca", lab_server.ca_file, "--virtual-clock", "--quiet", *keys]
    report = tmp_path / "report.json"
    done = _cli(url, *common, "--max-height", "180", "--report", str(report))
    assert done.returncode == 0, done.stderr
    data = json.loads(report.read_text())
    events = data["events"]
    (filtered,) = [e for e in events if e["type"] == "LadderFiltered"]
    assert (filtered["kept_ids"], filtered["max_height"]) == ([SD], 180)
    video = {e["representation_id"] for e in events if e["type"] == "SegmentDownloaded"}
    assert HD not in video and data["frames_decoded"] == 100 and data["decode_errors"] == 0
    refused = _cli(url, *common, "--max-height", "100")
    assert refused.returncode == 1
    assert "RestrictionsNotMet" in refused.stderr and "max_video_height=100" in refused.stderr


@pytest.fixture(scope="module")
def license_server(interop_ca: TestCA) -> Iterator[Any]:
    keys = dict(recipes.MULTI_KEYS.values())
    app = LicenseServerApp(keys, {"viewer-token": list(keys)})
    handle = LabServer(app, ca=interop_ca).start_in_thread()  # type: ignore[arg-type]
    try:
        yield handle
    finally:
        handle.stop()


def test_keys_from_a_license_server_follow_the_switches(
    workshop: Workshop, clip: Clip, lab_server: Served, license_server: Any
) -> None:
    """No key configured: the ClearKey license request must cover both video sets' KIDs."""
    drm = DrmConfig(
        license_url=f"{license_server.base_url}/license",
        license_headers={"Authorization": "Bearer viewer-token"},
    )
    path = _path(workshop)
    playback = play(
        lab_server,
        path,
        adjust=lambda config: dataclasses.replace(eager_abr(config), drm=drm),
        on_event=_back_to_sd_after_one_hd_segment,
    )
    assert playback.state == "ended", playback.error
    assert playback.stats["decode_errors"] == 0
    switches = [e["to_id"] for e in playback.events if e["type"] == "VariantSwitched"]
    assert switches == [SD, HD, SD]
    _check_each_picture_is_its_renditions(playback, clip, path)
    sources = {e["source"] for e in playback.events if e["type"] == "LicenseAcquired"}
    assert "license-server" in sources
