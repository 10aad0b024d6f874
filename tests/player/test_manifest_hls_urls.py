"""The fast segment-URI path of UrlResolver agrees with resolve_url (RFC 3986 via urljoin)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from player.errors import ManifestParseError
from player.manifest._hls_urls import UrlResolver
from player.manifest._urls import resolve_url

BASES = [
    "https://cdn.example.com/live/stream/index.m3u8?token=abc#frag",
    "https://cdn.example.com",
    "http://cdn.example.com:8080/a;p=1/b.m3u8",
    "https://cdn.example.com/dir/",
]
REF_CHARS = st.sampled_from(list("ab.-_/?#:;=%@~ 0") + ["..", "./", "//", "\\", "é"])


def _reference(base: str, ref: str) -> str | None:
    try:
        return resolve_url(base, ref, manifest_url=base)
    except ManifestParseError:
        return None


def _fast(base: str, ref: str) -> str | None:
    try:
        return UrlResolver(base, manifest_url=base).resolve(ref)
    except ManifestParseError:
        return None


@settings(max_examples=400, deadline=None)
@given(base=st.sampled_from(BASES), ref=st.lists(REF_CHARS, max_size=8).map("".join))
def test_fast_path_matches_resolve_url(base: str, ref: str) -> None:
    assert _fast(base, ref) == _reference(base, ref)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("seg1.ts", "https://cdn.example.com/live/stream/seg1.ts"),
        ("seg1.ts?x=1", "https://cdn.example.com/live/stream/seg1.ts?x=1"),
        ("../a/seg.ts", "https://cdn.example.com/live/a/seg.ts"),
        ("/root.ts", "https://cdn.example.com/root.ts"),
        ("//other.example.com/x.ts", "https://other.example.com/x.ts"),
    ],
)
def test_known_resolutions(ref: str, expected: str) -> None:
    assert _fast(BASES[0], ref) == expected


@pytest.mark.parametrize("ref", ["file:///etc/passwd", "ftp://x/y.ts", "javascript:alert(1)"])
def test_unsafe_schemes_are_refused(ref: str) -> None:
    with pytest.raises(ManifestParseError, match="only absolute http"):
        UrlResolver(BASES[0], manifest_url=BASES[0]).resolve(ref)
