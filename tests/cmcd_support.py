"""Checking the CMCD the lab's edges received against the player's real state.

``RecordingClient`` is the real ``HttpClient`` with one addition: when a request starts it
notes the player's state, position and throughput estimate (all public), how many events
the player had emitted by then, and what the request carried. The CMCD a player builds for
a request is computed from its state in the same step, with no await in between, so the
snapshot is the state the keys describe. Only the playhead moves on meanwhile (while
playing, on the clock, and a loaded machine may pause the process between the two steps):
``bl`` is checked to lie between the buffer at the loop turn's start and at the snapshot.
``check_requests`` then walks every request the edges answered and compares each key with
what the player's state, the presentation and the events say it must be.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from player import PlaybackState
from player._player import Player
from player.events import Event, SegmentDownloaded, StateChanged
from player.manifest import Presentation, Representation, Segment, TrackType
from transport import HttpClient, StreamingResponse
from transport.lab import ReceivedCmcd, RequestRecord, SfInnerList, SfItem, received_cmcd

URGENT = {
    PlaybackState.IDLE,
    PlaybackState.LOADING,
    PlaybackState.BUFFERING,
    PlaybackState.REBUFFERING,
    PlaybackState.SEEKING,
}


@dataclass
class Call:
    """One request as the player made it, with its state at that moment."""

    urls: tuple[str, ...]
    headers: dict[str, str]
    byte_range: tuple[int, int] | None
    seen: int
    """Events the player had emitted when the request started."""
    state: PlaybackState
    position_s: float
    """The playhead when the request started (``Player.position_s``)."""
    turn_position_s: float
    """The playhead at the start of the loop turn making the request (a lower bound of
    where it was when the request's CMCD was built; the session's own figure)."""
    estimate_bps: float

    @property
    def clean_url(self) -> str:
        parts = urlsplit(self.urls[0])
        query = "&".join(p for p in parts.query.split("&") if p and not p.startswith("CMCD="))
        return parts._replace(query=query).geturl()

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.urls[0]).path)

    def sent(self) -> ReceivedCmcd | None:
        """What the request carried, read by the lab's parser."""
        return received_cmcd(urlsplit(self.urls[0]).query, list(self.headers.items()))


class RecordingClient(HttpClient):
    """``HttpClient`` noting each request and the player's state when it starts."""

    player: Player | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[Call] = []
        self.events: list[Event] = []
        """The list the player's listener appends to (set by the test)."""

    @contextlib.asynccontextmanager
    async def stream(  # type: ignore[override]
        self, urls: str | Sequence[str], **kwargs: Any
    ) -> AsyncIterator[StreamingResponse]:
        player = self.player
        assert player is not None
        now = player.clock.now()
        session = player._session  # noqa: SLF001 - see Call.turn_position_s
        self.calls.append(
            Call(
                urls=(urls,) if isinstance(urls, str) else tuple(urls),
                headers=dict(kwargs.get("headers") or {}),
                byte_range=kwargs.get("byte_range"),
                seen=len(self.events),
                state=player.state,
                position_s=player.position_s,
                # the session's position at its last turn: private, read for the lower bound
                turn_position_s=session.position_s if session is not None else 0.0,
                estimate_bps=player.estimator.estimate_bps(now),
            )
        )
        async with super().stream(urls, **kwargs) as response:
            yield response


@dataclass
class Obj:
    """What a URL path is in the presentation."""

    kind: str  # "manifest", "init" or "media"
    track: str = ""  # "video" or "audio"
    rep: Representation | None = None
    segment: Segment | None = None
    top_bps: int = 0
    """The highest bandwidth of the track's renditions in the manifest."""


@dataclass
class Expectations:
    """What the run was configured with."""

    version: int
    mode: str
    content_id: str
    fmt: str  # "d" or "h"
    default_bps: float
    manifest_paths: set[str] = field(default_factory=set)
    rtp_factor: float | None = None


def objects_of(presentation: Presentation) -> dict[str, Obj]:
    """Every init and media path of the presentation's video and audio renditions."""
    out: dict[str, Obj] = {}
    for track in presentation.periods[0].tracks:
        kind = {TrackType.VIDEO: "video", TrackType.AUDIO: "audio"}.get(track.type)
        if kind is None:
            continue
        top = max(rep.bandwidth_bps for rep in track.representations)
        for rep in track.representations:
            if rep.init is not None:
                out[_path(rep.init.urls[0])] = Obj("init", kind, rep, top_bps=top)
            for segment in rep.segments or ():
                media = Obj("media", kind, rep, segment, top_bps=top)
                out.setdefault(_path(segment.urls[0]), media)
    return out


def _path(url: str) -> str:
    return unquote(urlsplit(url).path)


def round_to(value: float, step: int) -> int:
    return int(math.floor(value / step + 0.5)) * step


def number(cmcd: ReceivedCmcd, key: str, *, token: str | None = None) -> int | None:
    """An integer key: v1 plain, v2 an inner list of one item tagged with ``token``."""
    member = cmcd.fields.get(key)
    if member is None:
        return None
    if cmcd.version == 1:
        assert isinstance(member, SfItem) and type(member.value) is int, (key, member)
        return member.value
    assert isinstance(member, SfInnerList) and len(member.items) == 1, (key, member)
    item = member.items[0]
    assert type(item.value) is int
    assert item.params == ({token: True} if token else {}), (key, member)
    return item.value


def next_object(cmcd: ReceivedCmcd) -> tuple[str, str | None] | None:
    """``nor`` and its range: v1 ``nor`` (URL-encoded) and ``nrr``, v2 the list's item."""
    member = cmcd.fields.get("nor")
    if member is None:
        assert "nrr" not in cmcd.fields
        return None
    if cmcd.version == 1:
        assert isinstance(member, SfItem) and isinstance(member.value, str)
        nrr = cmcd.fields.get("nrr")
        rng = nrr.value if isinstance(nrr, SfItem) else None
        return unquote(member.value), rng if isinstance(rng, str) else None
    assert isinstance(member, SfInnerList) and len(member.items) == 1
    item = member.items[0]
    assert isinstance(item.value, str)
    rng = item.params.get("r")
    return item.value, rng if isinstance(rng, str) else None


@dataclass
class Tally:
    """How many requests exercised each case (a check that never ran proves nothing)."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1


def match_calls(records: Sequence[RequestRecord], calls: Sequence[Call]) -> list[Call]:
    """The player's call behind each record: same path, same CMCD on the wire."""
    matched: list[Call] = []
    unused = list(calls)
    for record in records:
        assert record.cmcd is not None, f"{record.path} arrived without CMCD"
        assert record.cmcd.error is None, record.cmcd
        found = next(
            (
                c
                for c in unused
                if c.path == record.path
                and (sent := c.sent()) is not None
                and sent.fields == record.cmcd.fields
            ),
            None,
        )
        assert found is not None, f"no player request sent {record.path} {record.cmcd.raw}"
        unused.remove(found)
        matched.append(found)
    return matched


def check_requests(
    records: Sequence[RequestRecord],
    calls: Sequence[Call],
    presentation: Presentation,
    events: Sequence[Event],
    expect: Expectations,
) -> Tally:
    """Check every key of every request the edges answered; return what was exercised."""
    objects = objects_of(presentation)
    matched = match_calls(records, calls)
    sids = {record.cmcd.value("sid") for record in records if record.cmcd is not None}
    assert len(sids) == 1 and all(isinstance(s, str) and s for s in sids), sids
    tally = Tally()
    previous: dict[str, Call] = {}
    for index, (record, call) in enumerate(zip(records, matched, strict=True)):
        cmcd = record.cmcd
        assert cmcd is not None
        assert record.query.count("CMCD=") == (1 if expect.mode == "query" else 0)
        assert cmcd.source == expect.mode
        obj = objects.get(record.path)
        if obj is None:
            assert record.path in expect.manifest_paths, record.path
            obj = Obj("manifest")
        _check_session_keys(cmcd, call, obj, expect, tally, first=index == 0)
        if obj.kind == "manifest":
            assert not {"br", "bl", "d", "nor", "tb", "bs", "dl"} & set(cmcd.fields)
            continue
        later = [c for c in matched[index + 1 :] if _track_of(objects, c) == obj.track]
        _check_object_keys(cmcd, call, obj, later, events, expect, tally)
        _check_starvation(cmcd, call, obj, previous.get(obj.track), events, tally)
        previous[obj.track] = call
    return tally


def _track_of(objects: dict[str, Obj], call: Call) -> str | None:
    obj = objects.get(call.path)
    return None if obj is None else obj.track


def _check_session_keys(
    cmcd: ReceivedCmcd, call: Call, obj: Obj, expect: Expectations, tally: Tally, *, first: bool
) -> None:
    assert cmcd.value("cid") == expect.content_id
    assert cmcd.version == expect.version
    assert ("v" in cmcd.fields) == (expect.version == 2)
    ot = {"manifest": "m", "init": "i"}.get(obj.kind) or {"video": "v", "audio": "a"}[obj.track]
    assert cmcd.value("ot") == ot
    if first:  # the first manifest: its format and stream type are not known yet
        assert "sf" not in cmcd.fields and "st" not in cmcd.fields
    else:
        assert cmcd.value("sf") == expect.fmt
    if "st" in cmcd.fields:
        assert cmcd.value("st") == "v"
    elif obj.kind != "manifest":
        raise AssertionError(f"{call.path}: no st")
    is_urgent = call.state in URGENT
    assert (cmcd.value("su") is True) == is_urgent, (call.path, call.state)
    tally.add("su" if is_urgent else "no-su")
    tally.add(f"state:{call.state.value}")
    if call.state == PlaybackState.PLAYING:
        assert "pr" not in cmcd.fields  # 1.0 is not sent
    else:
        assert cmcd.value("pr") == 0.0


def _check_object_keys(
    cmcd: ReceivedCmcd,
    call: Call,
    obj: Obj,
    later: list[Call],
    events: Sequence[Event],
    expect: Expectations,
    tally: Tally,
) -> None:
    assert obj.rep is not None
    token = "v" if obj.track == "video" else "a"
    tag = token if expect.version == 2 else None
    if obj.rep.bandwidth_bps > 0:
        assert number(cmcd, "br", token=tag) == round_to(obj.rep.bandwidth_bps / 1000, 1)
        tally.add("br")
    else:
        assert "br" not in cmcd.fields  # unknown (an HLS rendition without BANDWIDTH)
    if obj.top_bps > 0:  # no caps in these runs: the manifest's top is the playable top
        assert number(cmcd, "tb", token=tag) == round_to(obj.top_bps / 1000, 1)
    else:
        assert "tb" not in cmcd.fields
    if expect.rtp_factor is not None and obj.rep.bandwidth_bps > 0:
        wanted = expect.rtp_factor * obj.rep.bandwidth_bps
        assert cmcd.value("rtp") == round_to(wanted / 1000, 100)
        tally.add("rtp")
    else:
        assert "rtp" not in cmcd.fields
    if obj.kind == "media":
        assert obj.segment is not None
        assert cmcd.value("d") == round_to(obj.segment.duration_s * 1000, 1)
    else:
        assert "d" not in cmcd.fields
    end = _buffered_end(obj, call, events)
    lowest = round_to(max(0.0, end - call.position_s) * 1000, 100)
    highest = round_to(max(0.0, end - call.turn_position_s) * 1000, 100)
    level_ms = number(cmcd, "bl", token=tag)
    assert level_ms is not None and lowest <= level_ms <= highest, (
        call.path,
        level_ms,
        end,
        call.turn_position_s,
        call.position_s,
    )
    if call.state != PlaybackState.PLAYING:
        assert lowest == highest  # the playhead stands still: the check is exact
    tally.add(f"bl>0:{level_ms > 0}")
    if call.state == PlaybackState.PLAYING:
        assert cmcd.value("dl") == level_ms
        tally.add("dl")
    else:
        assert "dl" not in cmcd.fields
    if call.estimate_bps == expect.default_bps:
        assert "mtp" not in cmcd.fields
    else:
        assert number(cmcd, "mtp") == round_to(call.estimate_bps / 1000, 100)
        tally.add("mtp")
    _check_next_object(cmcd, call, obj, later, tally)


def _buffered_end(obj: Obj, call: Call, events: Sequence[Event]) -> float:
    """The end of the media of this track downloaded before the call (from the events)."""
    end = call.position_s
    for event in events[: call.seen]:
        if isinstance(event, SegmentDownloaded) and event.track == obj.track and event.number >= 0:
            end = max(end, event_segment_end(obj, event))
    return end


def event_segment_end(obj: Obj, event: SegmentDownloaded) -> float:
    """End time of the segment a ``SegmentDownloaded`` names (same number, any rung)."""
    assert obj.rep is not None
    for segment in obj.rep.segments or ():
        if segment.number == event.number:
            return segment.end_s
    raise AssertionError(f"segment {event.number} not in {obj.rep.id}")


def _check_next_object(
    cmcd: ReceivedCmcd, call: Call, obj: Obj, later: list[Call], tally: Tally
) -> None:
    found = next_object(cmcd)
    follower = later[0] if later else None
    if found is None:
        # the last segment of the rendition has no next object
        assert obj.kind == "media" and obj.segment is not None and obj.rep is not None
        assert obj.segment.number == (obj.rep.segments or ())[-1].number, call.path
        tally.add("no nor: last segment")
        return
    path, rng = found
    target = urljoin(call.clean_url, path)
    assert urlsplit(target).netloc == urlsplit(call.clean_url).netloc
    if follower is not None and urlsplit(target).path == follower.path:
        expected = None if follower.byte_range is None else "%d-%d" % follower.byte_range
        assert rng == expected, (call.path, rng, follower.byte_range)
        tally.add("nor=next request")
    else:
        tally.add("nor=other rendition")  # ABR switched (or nothing followed)


def _check_starvation(
    cmcd: ReceivedCmcd,
    call: Call,
    obj: Obj,
    previous: Call | None,
    events: Sequence[Event],
    tally: Tally,
) -> None:
    if obj.kind != "media":
        assert "bs" not in cmcd.fields
        return
    since = 0 if previous is None else previous.seen
    # a stall counts from when the player noticed it (the state change), which is what a
    # request made after it can know; BufferingStarted is dated back to when the buffer ran dry
    stalled = any(
        isinstance(e, StateChanged) and e.new == "rebuffering" for e in events[since : call.seen]
    )
    expected = call.state == PlaybackState.REBUFFERING or stalled
    assert (cmcd.value("bs") is True) == expected, (call.path, call.state, stalled)
    if expected:
        tally.add("bs")
