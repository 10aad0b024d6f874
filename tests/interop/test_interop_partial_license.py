"""Partial licences on Shaka Packager multi-key content (one key per rendition).

A license server that grants only some of the KIDs (an entitlement without HD, say) either
leaves the others out of its answer or refuses any request naming them (403). Like Shaka
Player, the SDK then takes the renditions whose keys are missing out of the ABR ladder
(``RenditionsRestricted`` says which and why), plays on with the rest, and fails with
``KeysNotGranted`` only when a track has nothing left. The QA report records it
(``keys`` section, ``keys_granted`` check).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import recipes
from foreign import FPS, Clip, Playback, Served, Workshop, config_for, downloads, eager_abr, play

from drm import DrmConfig, LicenseServerApp, LicenseServerConfig
from player._player import Player
from player.cli._cmd_license import license_app
from player.cli._main import build_parser, main
from player.cli._qa import play_to_report
from player.cli._report import Thresholds, evaluate_checks
from player.errors import KeysNotGranted, RestrictionsNotMet
from player.events import Event, ManifestLoaded, RenditionsRestricted
from player.manifest import parse_manifest
from transport.lab import LabServer, TestCA

SD_KID, _ = recipes.MULTI_KEYS["SD"]
HD_KID, _ = recipes.MULTI_KEYS["HD"]
AUDIO_KID, _ = recipes.MULTI_KEYS["AUDIO"]
SD, HD, AUDIO = "1", "0", "2"  # representation ids in Shaka Packager's MPD
TOKENS = {
    "sd-only": [SD_KID, AUDIO_KID],
    "audio-only": [AUDIO_KID],
    "video-only": [SD_KID, HD_KID],
    "hd-only": [HD_KID, AUDIO_KID],
}


def _mpd(workshop: Workshop) -> str:
    built = workshop.build("shaka-multi-key-cbcs", recipes.shaka_multi_key_cbcs)
    return str(Path(built).parent / "manifest.mpd")


def _mpd_without_kids(workshop: Workshop, clip: Clip) -> str:
    """Shaka's MPD without ``ContentProtection``: KIDs are learnt from each init's ``tenc``
    (no license is asked for before a rendition's init segment is prepared)."""
    path = _mpd(workshop)
    bare = Path(path).parent / "manifest-no-kids.mpd"
    text = (clip.folder / path).read_text()
    kept = [
        line
        for line in text.splitlines()
        if "ContentProtection" not in line and "cenc:pssh" not in line
    ]
    (clip.folder / bare).write_text("\n".join(kept))
    return str(bare)


class _Licenses:
    """Two lab license servers on the same keys: partial answers, and 403 refusals."""

    def __init__(self, ca: TestCA) -> None:
        keys = dict(recipes.MULTI_KEYS.values())
        self.apps = {
            partial: LicenseServerApp(
                keys, TOKENS, config=LicenseServerConfig(partial_licenses=partial)
            )
            for partial in (True, False)
        }
        self.handles = {
            partial: LabServer(app, ca=ca).start_in_thread()  # type: ignore[arg-type]
            for partial, app in self.apps.items()
        }

    def drm(self, token: str, *, partial: bool) -> DrmConfig:
        return DrmConfig(
            license_url=f"{self.handles[partial].base_url}/license",
            license_headers={"Authorization": f"Bearer {token}"},
        )

    def served(self, partial: bool) -> int:
        return self.apps[partial].requests_served


@pytest.fixture(scope="module")
def licenses(interop_ca: TestCA) -> Iterator[_Licenses]:
    servers = _Licenses(interop_ca)
    try:
        yield servers
    finally:
        for handle in servers.handles.values():
            handle.stop()


def _play(lab: Served, path: str, licenses: _Licenses, token: str, *, partial: bool) -> Playback:
    drm = licenses.drm(token, partial=partial)
    return play(lab, path, adjust=lambda c: dataclasses.replace(eager_abr(c), drm=drm))


def _of_type(playback: Playback, kind: str) -> list[dict[str, Any]]:
    return [e for e in playback.events if e["type"] == kind]


@pytest.mark.parametrize("partial", [True, False], ids=["keys-left-out", "403"])
def test_hd_keys_withheld_hd_leaves_the_ladder_and_sd_plays_every_picture(
    partial: bool, workshop: Workshop, clip: Clip, lab_server: Served, licenses: _Licenses
) -> None:
    path = _mpd(workshop)
    before = licenses.served(partial)
    playback = _play(lab_server, path, licenses, "sd-only", partial=partial)
    assert playback.state == "ended", playback.error
    (restricted,) = _of_type(playback, "RenditionsRestricted")
    assert (restricted["track"], restricted["removed_ids"], restricted["kept_ids"]) == (
        "video",
        [HD],
        [SD],
    )
    assert restricted["kids"] == [HD_KID]
    why = "answer left it out" if partial else "answered HTTP 403"
    assert why in restricted["reason"]
    # eager ABR would climb to 360p after one segment: it never fetches HD media
    assert {e["representation_id"] for e in downloads(playback) if e["number"] >= 0} == {SD}
    assert playback.stats["decode_errors"] == 0
    numbers = sorted(round(pts * FPS) for pts, _ in playback.video)
    assert numbers == list(range(clip.frames))
    assert all(clip.reference[180][round(pts * FPS)] == h for pts, h in playback.video)
    granted = {k for e in _of_type(playback, "LicenseAcquired") for k in e["kids"]}
    assert granted == {SD_KID, AUDIO_KID}
    # one request with every KID; a server that refuses it is asked per rendition (3 sets)
    assert licenses.served(partial) - before == (1 if partial else 4)
    # the stats count what the server saw: the refused exchanges too
    assert playback.stats["license_requests"] == (1 if partial else 4)
    assert playback.stats["license_refusals"] == (0 if partial else 2)
    refusals = _of_type(playback, "LicenseRefused")
    assert [(e["status"], e["kids"]) for e in refusals] == (
        [] if partial else [(403, sorted([SD_KID, HD_KID, AUDIO_KID])), (403, [HD_KID])]
    )


def _pin_hd_on_load(player: Player, event: Event) -> None:
    if isinstance(event, ManifestLoaded):
        player.pin_video(HD)


def test_the_pinned_rendition_whose_key_is_refused_fails_over_down(
    workshop: Workshop, clip: Clip, lab_server: Served, licenses: _Licenses
) -> None:
    """360p is pinned and chosen first; its key is refused when its init segment is
    prepared (the MPD declares no KIDs, so nothing is asked for earlier: the order is
    fixed), before any of its media is decoded: the pin is lifted and the session moves to
    180p, saying why."""
    drm = licenses.drm("sd-only", partial=True)
    playback = play(
        lab_server,
        _mpd_without_kids(workshop, clip),
        adjust=lambda c: dataclasses.replace(c, drm=drm),
        on_event=_pin_hd_on_load,
    )
    assert playback.state == "ended", playback.error
    switches = [
        (e["from_id"], e["to_id"], e["reason"], e["detail"])
        for e in _of_type(playback, "VariantSwitched")
    ]
    assert switches == [(None, HD, "initial", "manual"), (HD, SD, "failover", "keys not granted")]
    assert {e["representation_id"] for e in downloads(playback) if e["number"] >= 0} == {SD}
    assert len(playback.video) == clip.frames and playback.stats["decode_errors"] == 0
    assert all(clip.reference[180][round(pts * FPS)] == h for pts, h in playback.video)


def test_a_cap_that_leaves_only_refused_renditions_is_refused_and_changes_nothing(
    workshop: Workshop, clip: Clip, lab_server: Served, licenses: _Licenses
) -> None:
    """Only the 360p key is granted; ``cap_video(max_height=180)`` would leave 180p alone,
    whose key was refused: it raises ``KeysNotGranted`` and 360p plays on."""
    refused: list[BaseException] = []

    def cap_after_restriction(player: Player, event: Event) -> None:
        if isinstance(event, RenditionsRestricted):
            try:
                player.cap_video(max_height=180)
            except KeysNotGranted as exc:
                refused.append(exc)

    drm = licenses.drm("hd-only", partial=True)
    playback = play(
        lab_server,
        _mpd(workshop),
        adjust=lambda c: dataclasses.replace(c, drm=drm),
        on_event=cap_after_restriction,
    )
    assert playback.state == "ended", playback.error
    (error,) = refused
    assert isinstance(error, KeysNotGranted) and error.kids == (SD_KID,)
    assert "max_height=180" in str(error)
    assert {e["representation_id"] for e in downloads(playback) if e["number"] >= 0} == {HD}
    assert all(clip.reference[360][round(pts * FPS)] == h for pts, h in playback.video)
    assert len(playback.video) == clip.frames


@pytest.mark.parametrize(
    ("token", "track", "kids"),
    [("audio-only", "video", [SD_KID, HD_KID]), ("video-only", "audio", [AUDIO_KID])],
)
def test_a_track_left_without_keys_is_a_typed_error(
    token: str,
    track: str,
    kids: list[str],
    workshop: Workshop,
    lab_server: Served,
    licenses: _Licenses,
) -> None:
    playback = _play(lab_server, _mpd(workshop), licenses, token, partial=True)
    assert playback.state == "error"
    assert playback.error_code == "player.keys_not_granted"
    error = playback.error
    assert isinstance(error, KeysNotGranted) and isinstance(error, RestrictionsNotMet)
    assert error.track == track and list(error.kids) == kids
    assert f"every {track} rendition" in str(error)
    last = _of_type(playback, "RenditionsRestricted")[-1]
    assert (last["track"], last["kept_ids"]) == (track, [])
    assert [e["code"] for e in _of_type(playback, "ErrorOccurred")] == ["player.keys_not_granted"]


def test_kids_named_only_by_the_init_segment_restrict_their_rendition(
    workshop: Workshop, clip: Clip, lab_server: Served, licenses: _Licenses
) -> None:
    """Without ``cenc:default_KID`` in the MPD the KIDs are learnt from each init's ``tenc``:
    the refusal names the rendition whose init asked, and it leaves the ladder all the same."""
    bare = _mpd_without_kids(workshop, clip)
    parsed = parse_manifest((clip.folder / bare).read_bytes(), url="https://x/no-kids.mpd")
    assert all(not rep.kids for rep in parsed.periods[0].representations())
    playback = _play(lab_server, bare, licenses, "sd-only", partial=True)
    assert playback.state == "ended", playback.error
    (restricted,) = _of_type(playback, "RenditionsRestricted")
    assert (restricted["removed_ids"], restricted["kept_ids"], restricted["kids"]) == (
        [HD],
        [SD],
        [HD_KID],
    )
    assert len(playback.video) == clip.frames and playback.stats["decode_errors"] == 0
    assert all(clip.reference[180][round(pts * FPS)] == h for pts, h in playback.video)


def _report(served: Served, path: str, drm: DrmConfig) -> dict[str, Any]:
    config = eager_abr(dataclasses.replace(config_for(served), drm=drm))
    report: dict[str, Any] = asyncio.run(
        play_to_report(served.url(path), config, virtual_clock=True)
    )
    return report


def test_the_qa_report_records_the_restriction_and_judges_it(
    workshop: Workshop, lab_server: Served, licenses: _Licenses
) -> None:
    path = _mpd(workshop)
    report = _report(lab_server, path, licenses.drm("sd-only", partial=True))
    keys = report["keys"]
    assert keys["refused_kids"] == [HD_KID]
    assert keys["tracks"] == {"video": {"removed": [HD], "kept": [SD]}}
    checks = {c.name: c for c in evaluate_checks(report, Thresholds())}
    assert all(c.passed for c in checks.values()), [c for c in checks.values() if not c.passed]
    assert checks["keys_granted"].value == {"video": {"removed": [HD], "kept": [SD]}}
    strict = {c.name: c for c in evaluate_checks(report, Thresholds(require_all_keys=True))}
    message = strict["keys_granted"].message
    assert message is not None and f"video: renditions {HD} refused" in message
    assert HD_KID in message

    failed = _report(lab_server, path, licenses.drm("audio-only", partial=True))
    checks = {c.name: c for c in evaluate_checks(failed, Thresholds())}
    message = checks["keys_granted"].message
    assert message is not None and message.startswith("video: no rendition left")
    assert not checks["no_fatal_error"].passed and not checks["played_span"].passed


def test_license_serve_options_grant_some_kids_and_answer_partially(
    workshop: Workshop, lab_server: Served, interop_ca: TestCA, tmp_path: Path
) -> None:
    """``license serve --grant VIEWER=KID,... --partial`` builds the server that withholds."""
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps({"keys": dict(recipes.MULTI_KEYS.values())}))
    serve = ["license", "serve", "--keys-file", str(keys_file), "--token", "viewer=tok"]
    args = build_parser().parse_args(
        [*serve, "--grant", f"viewer={SD_KID},{AUDIO_KID}", "--partial"]
    )
    app, tokens, _ = license_app(args)
    assert tokens == {"viewer": "tok"}
    handle = LabServer(app, ca=interop_ca).start_in_thread()
    try:
        drm = DrmConfig(
            license_url=f"{handle.base_url}/license",
            license_headers={"Authorization": "Bearer tok"},
        )
        report = _report(lab_server, _mpd(workshop), drm)
    finally:
        handle.stop()
    assert report["final_state"] == "ended"
    assert report["keys"]["tracks"]["video"] == {"removed": [HD], "kept": [SD]}
    assert app.requests_served == 1
    assert main([*serve, "--grant", "viewer=" + "ab" * 16]) == 2
    assert main([*serve, "--grant", f"nobody={SD_KID}"]) == 2
