"""The content steering core on explicit times: manifests, clones, pathway order, requests.

Examples come from the specifications: the base draft (draft-pantos-content-steering,
section 8.2's clone), RFC 8216bis section 7 (HLS) and ETSI TS 103 998 / DASH-IF Content
Steering (DASH). No I/O: every ``now`` is given.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from player.config import SteeringConfig
from player.errors import SteeringError
from player.events import PathwayChangeReason
from player.steering import (
    PathwaySelector,
    SteeringManifest,
    SteeringOrigin,
    UriReplacement,
    apply_uri_replacement,
    pathway_key,
)
from transport import HealthTracker, RetryConfig

URL = "https://steer.example.com/v1/manifest?video=42"


def parse(text: str) -> SteeringManifest:
    return SteeringManifest.parse(text.encode(), url=URL, max_bytes=65536)


def selector(
    *,
    pathways: tuple[str, ...] = ("A", "B", "C"),
    default: tuple[str, ...] = ("A",),
    is_dash: bool = False,
    query_before_start: bool = False,
    proxy: str | None = None,
    exclusion_s: float = 10.0,
    server: str | None = URL,
) -> PathwaySelector:
    origin = SteeringOrigin(
        server_url=server,
        default_pathways=default,
        is_dash=is_dash,
        query_before_start=query_before_start,
        proxy_url=proxy,
    )
    health = HealthTracker(RetryConfig(exclusion_s=exclusion_s, max_exclusion_s=8 * exclusion_s))
    return PathwaySelector(SteeringConfig(), origin, pathways=pathways, health=health, now=0.0)


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


# --- the steering manifest ---------------------------------------------------------------


def test_manifest_fields_of_the_base_draft_example() -> None:
    m = parse(
        '{"VERSION": 1, "TTL": 300, "RELOAD-URI": "https://steer.example.com/next?session=abc",'
        ' "PATHWAY-PRIORITY": ["CDN-A", "CDN-B", "CDN-A"],'
        ' "PATHWAY-CLONES": [{"BASE-ID": "CDN-A", "ID": "CDN-C",'
        ' "URI-REPLACEMENT": {"HOST": "backup2.example.com", "PARAMS": {"token": "dkfs1239414"}}}]}'
    )
    assert (m.version, m.ttl_s) == (1, 300.0)
    assert m.reload_url == "https://steer.example.com/next?session=abc"
    assert m.priority == ("CDN-A", "CDN-B")  # duplicates dropped
    (clone,) = m.clones
    assert (clone.base_id, clone.id) == ("CDN-A", "CDN-C")
    assert clone.replacement.host == "backup2.example.com"
    assert clone.replacement.params == (("token", "dkfs1239414"),)


def test_relative_reload_uri_and_dash_key() -> None:
    m = parse(
        '{"VERSION": 1, "TTL": 5, "RELOAD-URI": "../v2/m", "SERVICE-LOCATION-PRIORITY": ["b"]}'
    )
    assert m.reload_url == "https://steer.example.com/v2/m"
    assert m.priority == ("b",)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[1]", "not a JSON object"),
        ("{", "not JSON"),
        ('{"VERSION": 2, "TTL": 1, "PATHWAY-PRIORITY": ["A"]}', "VERSION"),
        ('{"VERSION": true, "TTL": 1, "PATHWAY-PRIORITY": ["A"]}', "VERSION"),
        ('{"VERSION": 1, "PATHWAY-PRIORITY": ["A"]}', "TTL"),
        ('{"VERSION": 1, "TTL": 0, "PATHWAY-PRIORITY": ["A"]}', "not positive"),
        ('{"VERSION": 1, "TTL": 1}', "PATHWAY-PRIORITY"),
        ('{"VERSION": 1, "TTL": 1, "PATHWAY-PRIORITY": ["a b", 3]}', "no legal"),
        ('{"VERSION": 1, "TTL": 1, "PATHWAY-PRIORITY": ["A"], "RELOAD-URI": "ftp://x/"}', "http"),
    ],
)
def test_refused_manifests(text: str, reason: str) -> None:
    with pytest.raises(SteeringError, match=reason) as info:
        parse(text)
    assert info.value.code == "player.steering"
    assert info.value.url == URL


def test_oversized_manifest_refused() -> None:
    with pytest.raises(SteeringError, match="over 10 bytes"):
        SteeringManifest.parse(b'{"VERSION": 1}', url=URL, max_bytes=10)


def test_malformed_clones_are_ignored_not_the_manifest() -> None:
    m = parse(
        '{"VERSION": 1, "TTL": 1, "PATHWAY-PRIORITY": ["A"], "PATHWAY-CLONES": ['
        '{"BASE-ID": "A", "ID": "bad id", "URI-REPLACEMENT": {}},'
        '{"BASE-ID": "A", "ID": "P", "URI-REPLACEMENT": {"HOST": "h.example:8080"}},'
        '{"BASE-ID": "A", "ID": "Q", "URI-REPLACEMENT": {"PARAMS": {"k": 1}}},'
        '{"BASE-ID": "A", "ID": "R", "URI-REPLACEMENT": {"PER-VARIANT-URIS": {"v": "file:/x"}}},'
        '{"BASE-ID": "A", "ID": "OK", "URI-REPLACEMENT": {"HOST": "H.Example.com"}},'
        '{"BASE-ID": "A", "ID": "OK", "URI-REPLACEMENT": {"HOST": "dup.example.com"}}]}'
    )
    assert [(c.id, c.replacement.host) for c in m.clones] == [("OK", "h.example.com")]


# --- clones -------------------------------------------------------------------------------


def test_clone_urls_of_the_base_draft_example() -> None:
    """draft-pantos-content-steering section 8.2: HOST and PARAMS replacement."""
    r = UriReplacement(host="backup2.example.com", params=(("token", "dkfs1239414"),))
    assert (
        apply_uri_replacement("https://example.com/some/path/to/file", r)
        == "https://backup2.example.com/some/path/to/file?token=dkfs1239414"
    )
    assert (
        apply_uri_replacement("https://b.example.com/another/path", r)
        == "https://backup2.example.com/another/path?token=dkfs1239414"
    )


def test_clone_keeps_port_and_other_params_and_replaces_same_name() -> None:
    r = UriReplacement(host="c.example.com", params=(("a", "1"), ("tok", "new")))
    got = apply_uri_replacement("https://u@b.example.com:8443/p/x.m4s?tok=old&z=9&tok=2#f", r)
    assert got == "https://u@c.example.com:8443/p/x.m4s?tok=new&z=9&a=1#f"
    ipv6 = apply_uri_replacement("https://[::1]:9000/p", UriReplacement(host="localhost"))
    assert ipv6 == "https://localhost:9000/p"


def test_per_variant_and_per_rendition_uris_win_over_host() -> None:
    """RFC 8216bis section 7.3: a per-stream URI replaces the result of HOST and PARAMS."""
    r = UriReplacement(
        host="cdn-c.example.com",
        params=(("s", "1"),),
        per_variant_uris={"hd-1080": "https://cdn-d.example.com/hd/1080.m3u8"},
        per_rendition_uris={"audio-en": "https://cdn-d.example.com/a/en.m3u8"},
    )
    hd = "https://cdn-a.example.com/hd/1080.m3u8"
    assert apply_uri_replacement(hd, r, stable_variant_id="hd-1080") == (
        "https://cdn-d.example.com/hd/1080.m3u8"
    )
    sd = "https://cdn-a.example.com/sd/540.m3u8"
    assert apply_uri_replacement(sd, r, stable_variant_id="sd-540") == (
        "https://cdn-c.example.com/sd/540.m3u8?s=1"
    )
    en = "https://cdn-a.example.com/a/en.m3u8"
    assert apply_uri_replacement(en, r, stable_rendition_id="audio-en") == (
        "https://cdn-d.example.com/a/en.m3u8"
    )


def test_selector_keeps_clones_of_known_bases_only() -> None:
    sel = selector()
    m = parse(
        '{"VERSION": 1, "TTL": 5, "PATHWAY-PRIORITY": ["D", "E", "A"], "PATHWAY-CLONES": ['
        '{"BASE-ID": "B", "ID": "D", "URI-REPLACEMENT": {"HOST": "d.example.com"}},'
        '{"BASE-ID": "D", "ID": "E", "URI-REPLACEMENT": {"PARAMS": {"e": "1"}}},'
        '{"BASE-ID": "Z", "ID": "F", "URI-REPLACEMENT": {"HOST": "f.example.com"}},'
        '{"BASE-ID": "A", "ID": "B", "URI-REPLACEMENT": {"HOST": "x.example.com"}}]}'
    )
    sel.on_manifest(m, now=1.0)
    assert set(sel.clones) == {"D", "E"}  # F: unknown base; B: already a pathway
    base, chain = sel.clone_base("E")
    assert base == "B" and [c.id for c in chain] == ["D", "E"]
    assert sel.select(1.0) == ("D", "E", "A", "B", "C")
    sel.on_manifest(parse('{"VERSION": 1, "TTL": 5, "PATHWAY-PRIORITY": ["E", "A"]}'), now=6.0)
    assert sel.clones == {} and "E" not in sel.select(6.0)  # only the current manifest's


# --- pathway order, penalties, reasons ------------------------------------------------------


def test_default_pathway_first_until_a_manifest_then_its_priority() -> None:
    sel = selector(default=("B",))
    assert sel.select(0.0) == ("B", "A", "C")
    sel.on_manifest(parse('{"VERSION": 1, "TTL": 5, "PATHWAY-PRIORITY": ["C", "A"]}'), now=0.5)
    assert sel.select(0.5) == ("C", "A", "B")  # B unlisted: a last resort


def test_failed_pathway_is_penalised_then_probed_then_backed_off() -> None:
    sel = selector(exclusion_s=10.0)
    sel.on_failure("A", 1.0)
    assert sel.select(5.0) == ("B", "C", "A")
    assert sel.select(11.5)[0] == "A"  # the penalty ended: the next request probes A
    sel.health.on_attempt(pathway_key("A"), 11.5)
    assert sel.select(11.6)[0] == "B"  # one probe at a time
    sel.on_failure("A", 12.0)  # the probe failed: twice as long
    assert sel.select(31.0)[-1] == "A"
    assert sel.select(32.5)[0] == "A"


def test_change_reasons() -> None:
    sel = selector(exclusion_s=10.0)
    first = sel.on_served("A", 0.0, planned="A", nbytes=1000, duration_s=0.1)
    assert first is not None and first.reason is PathwayChangeReason.INITIAL
    assert sel.on_served("A", 1.0, planned="A", nbytes=1000, duration_s=0.1) is None
    sel.on_failure("A", 2.0)
    failed = sel.on_served("B", 2.0, planned="A", nbytes=1000, duration_s=0.1)
    assert failed is not None and (failed.from_pathway, failed.to_pathway) == ("A", "B")
    assert failed.reason is PathwayChangeReason.FAILURE
    assert sel.select(12.5)[0] == "A"
    back = sel.on_served("A", 12.5, planned="A", nbytes=1000, duration_s=0.1)
    assert back is not None and back.reason is PathwayChangeReason.RECOVERED
    sel.on_manifest(parse('{"VERSION": 1, "TTL": 5, "PATHWAY-PRIORITY": ["C", "A"]}'), now=13.0)
    steered = sel.on_served("C", 13.1, planned=sel.select(13.1)[0], nbytes=10, duration_s=0.1)
    assert steered is not None and steered.reason is PathwayChangeReason.STEERING


# --- steering requests ----------------------------------------------------------------------


def test_hls_request_reports_pathway_and_throughput() -> None:
    """RFC 8216bis section 7.4: ``_HLS_pathway="<id>"`` and ``_HLS_throughput``."""
    sel = selector()
    assert sel.next_request_at() == 0.0
    assert sel.build_request_url(0.0) == URL  # nothing measured yet
    sel.on_served("A", 1.0, planned="A", nbytes=1_000_000, duration_s=1.0)
    sel.on_served("A", 2.0, planned="A", nbytes=2_000_000, duration_s=1.0)
    q = query(sel.build_request_url(2.0))
    assert q == {"video": "42", "_HLS_pathway": '"A"', "_HLS_throughput": "10400000"}


def test_dash_request_lists_pathways_since_last_and_proxy() -> None:
    sel = selector(is_dash=True, query_before_start=True, proxy="https://proxy.example.com/p?x=1")
    first = sel.build_request_url(0.0)
    assert query(first) == {"x": "1", "url": URL}  # queryBeforeStart: no parameters yet
    sel.on_served("A", 1.0, planned="A", nbytes=1_000_000, duration_s=1.0)
    sel.on_failure("A", 1.5)
    sel.on_served("B", 1.5, planned="A", nbytes=500_000, duration_s=1.0)
    inner = query(sel.build_request_url(2.0))["url"]
    q = query(unquote(inner))
    assert q["_DASH_pathway"] == '"A,B"'
    assert q["_DASH_throughput"] == "8000000,4000000"
    again = query(unquote(query(sel.build_request_url(3.0))["url"]))
    assert again["_DASH_pathway"] == '"B"'


def test_dash_without_query_before_start_waits_for_playback() -> None:
    sel = selector(is_dash=True)
    assert sel.next_request_at() is None
    sel.on_playback_started(4.0)
    assert sel.next_request_at() == 4.0


def test_reload_schedule_ttl_failures_gone_and_retry_after() -> None:
    sel = selector()
    sel.build_request_url(0.0)
    text = '{"VERSION": 1, "TTL": 4, "RELOAD-URI": "/r", "PATHWAY-PRIORITY": ["B"]}'
    sel.on_manifest(parse(text), 1.0)
    assert sel.next_request_at() == 5.0
    assert sel.build_request_url(5.0).startswith("https://steer.example.com/r")
    assert sel.on_reload_failure(5.0) == 9.0  # keep the priority, wait the TTL
    assert sel.on_reload_failure(9.0) == 17.0  # then twice as long
    assert sel.select(17.0)[0] == "B"
    assert sel.on_reload_failure(17.0, status=429, retry_after_s=30.0) == 47.0
    assert sel.on_reload_failure(47.0, status=410) is None
    assert sel.next_request_at() is None
    assert sel.select(50.0)[0] == "B"  # the last priority stays


def test_ttl_floor_and_failure_cap() -> None:
    sel = selector()
    sel.on_manifest(parse('{"VERSION": 1, "TTL": 0.001, "PATHWAY-PRIORITY": ["A"]}'), 0.0)
    assert sel.next_request_at() == SteeringConfig().min_ttl_s
    for _ in range(40):
        at = sel.on_reload_failure(100.0)
    assert at == 100.0 + SteeringConfig().max_failure_delay_s


def test_no_server_means_no_requests_but_pathways_still_ordered() -> None:
    sel = selector(server=None, default=())
    assert sel.next_request_at() is None
    assert sel.select(0.0) == ("A", "B", "C")
