"""``Player.presentation`` shows the segment indexes the session loaded (on-demand DASH).

A ``SegmentBase`` representation has no segments until its ``sidx`` is read; the session
reads it the first time ABR uses the rung, and the public model then carries the loaded
segments. Rungs never used keep ``segments=None``: their index was never fetched.
"""

from __future__ import annotations

import asyncio

import pytest
import recipes
from foreign import DURATION_S, SEGMENT_S, Served, Workshop, config_for

from player import Player, VirtualClock
from player.manifest import Presentation, Representation


def _reps(presentation: Presentation) -> dict[str, Representation]:
    return {rep.id: rep for rep in presentation.periods[0].representations()}


async def _play(url: str, served: Served) -> tuple[Presentation, Presentation]:
    async with Player(config_for(served, max_video_height=180), clock=VirtualClock()) as player:
        loaded = await player.load(url)
        await player.wait(timeout_s=60)
        assert player.presentation is not None
        return loaded, player.presentation


def test_the_public_presentation_carries_each_index_the_session_loaded(
    workshop: Workshop, lab_server: Served
) -> None:
    path = workshop.build("shaka-on-demand", recipes.shaka_on_demand)
    at_load, after = asyncio.run(_play(lab_server.url(path), lab_server))
    before, now = _reps(at_load), _reps(after)
    # the model load() returned is not changed: it still has no segments
    assert all(rep.segments is None and rep.index is not None for rep in before.values())
    # 180p (the only rung under the cap) and the audio played: their indexes are shown
    # with every segment and its byte range; 360p was never used, never indexed.
    heights = {rep_id: rep.height for rep_id, rep in now.items()}
    played = [rep_id for rep_id, h in heights.items() if h in (180, None)]
    (unused,) = [rep_id for rep_id, h in heights.items() if h == 360]
    for rep_id in played:
        segments = now[rep_id].segments
        assert segments is not None and len(segments) == DURATION_S // SEGMENT_S
        assert all(seg.byte_range is not None for seg in segments)
        assert sum(seg.duration_s for seg in segments) == pytest.approx(DURATION_S)
    assert now[unused].segments is None and now[unused].index == before[unused].index
