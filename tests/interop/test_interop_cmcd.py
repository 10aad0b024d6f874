"""CMCD ranges on foreign on-demand content: ``nor`` with ``;r`` (v2) and ``nrr`` (v1).

Shaka Packager's on-demand output keeps each rendition in one file: DASH ``SegmentBase``
with a ``sidx``, HLS ``EXT-X-BYTERANGE``. Every media request is a byte range, so the next
object a request announces is a range of the same file. Played from the lab with CMCD on,
each announced range must be the range the player asked for next on that track, and what
the lab received must be what the player sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import recipes
from cmcd_support import Call, RecordingClient, next_object
from foreign import Clip, Served, Workshop

from player import PlaybackState, VirtualClock
from player._player import Player
from player.config import CmcdConfig, PlaybackConfig, PlayerConfig
from player.events import Event
from transport import TransportConfig
from transport.lab import LabCdn, LabCdnThread, TestCA


@pytest.fixture(scope="module")
def cmcd_lab(clip: Clip, interop_ca: TestCA) -> Iterator[LabCdnThread]:
    """The lab's origin over the interop root (its request records carry the CMCD)."""
    handle = LabCdn(clip.folder, edges=0, ca=interop_ca).start_in_thread()
    try:
        yield handle
    finally:
        handle.stop()


async def _play(served: Served, path: str, cmcd: CmcdConfig) -> tuple[Player, list[Call]]:
    config = PlayerConfig(
        transport=TransportConfig(ca_file=served.ca_file, protocol="h3"),
        playback=PlaybackConfig(decode=False),
        cmcd=cmcd,
    )
    http = RecordingClient(config.transport)
    player = Player(config, clock=VirtualClock(), http=http)
    http.player = player
    events: list[Event] = []
    http.events = events
    player.add_listener(events.append)
    try:
        await player.load(served.url(path))
        await player.wait(timeout_s=60)
    finally:
        await player.aclose()
        await http.aclose()
    return player, http.calls


@pytest.mark.parametrize(
    ("manifest", "mode", "version"),
    [("manifest.mpd", "query", 2), ("master.m3u8", "header", 2), ("manifest.mpd", "header", 1)],
)
def test_next_range_is_the_next_request(
    workshop: Workshop, cmcd_lab: LabCdnThread, manifest: str, mode: str, version: int
) -> None:
    path = str(Path(workshop.build("shaka-on-demand", recipes.shaka_on_demand)).parent / manifest)
    served = Served("lab", cmcd_lab.origin.base_url, cmcd_lab.ca_file)
    before = len(cmcd_lab.origin.requests)
    cmcd = CmcdConfig(mode=mode, version=version)  # type: ignore[arg-type]
    player, calls = asyncio.run(_play(served, path, cmcd))
    assert player.state is PlaybackState.ENDED, player.error
    records = cmcd_lab.origin.requests[before:]
    sent = [(c.path, c.sent()) for c in calls]
    assert [(r.path, r.cmcd.fields if r.cmcd else None) for r in records] == [
        (p, s.fields if s else None) for p, s in sent
    ]  # the lab received exactly what the player sent, request by request
    media = [c for c in calls if (s := c.sent()) is not None and s.value("ot") in ("v", "a")]
    checked = 0
    for index, call in enumerate(media):
        cmcd_sent = call.sent()
        assert cmcd_sent is not None and call.byte_range is not None
        found = next_object(cmcd_sent)
        track = cmcd_sent.value("ot")
        follower = next(
            (c for c in media[index + 1 :] if (s := c.sent()) and s.value("ot") == track), None
        )
        if found is None or follower is None or follower.byte_range is None:
            continue
        target, rng = found
        if urlsplit(urljoin(call.clean_url, target)).path != follower.path:
            continue  # ABR moved to another rendition's file
        assert rng == "%d-%d" % follower.byte_range, (call.path, call.byte_range, rng)
        checked += 1
    assert checked >= 4, checked
