"""Every corpus manifest (HLS and DASH) gives a Presentation or a ManifestError, nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from player.errors import ManifestError
from player.manifest import Presentation, StreamFormat, parse_manifest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CORPUS = SHARED / "corpus" / "manifests"
FILES = sorted(p for p in CORPUS.glob("*/*") if p.suffix in (".m3u8", ".mpd"))
NOW = 1_700_000_000.0
HLS_REJECTED = {
    # An IPTV channel list (EXTINF:-1 with attributes, no target duration): not playable HLS.
    "m3u8__iptv_playlist_with_custom_tags.m3u8",
    # A stray backslash line before #EXTM3U and Windows paths (C:\...) as segment URIs.
    "m3u8__windows_playlist.m3u8",
}


def _parse(path: Path) -> Presentation | ManifestError:
    url = f"https://cdn.example.com/{path.parent.name}/{path.name}"
    try:
        return parse_manifest(path.read_bytes(), url=url, now=NOW)
    except ManifestError as exc:
        return exc


def test_corpus_is_complete() -> None:
    assert len([p for p in FILES if p.suffix == ".m3u8"]) == 116
    assert len([p for p in FILES if p.suffix == ".mpd"]) == 83


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_corpus_file_gives_presentation_or_manifest_error(path: Path) -> None:
    result = _parse(path)
    if isinstance(result, ManifestError):
        assert result.url.endswith(path.name)
        assert str(result)
        assert path.suffix == ".mpd" or path.name in HLS_REJECTED
        return
    assert path.name not in HLS_REJECTED
    expected = StreamFormat.HLS if path.suffix == ".m3u8" else StreamFormat.DASH
    assert result.format is expected
    data = result.to_json()
    assert json.loads(json.dumps(data))["format"] == expected.value
    assert len(data["representations"]) == sum(1 for _ in result.representations())
    assert result.summary().startswith(expected.value.upper())
    for rep in result.representations():
        urls = list(rep.playlist_urls) + [s.url for s in rep.segments or ()]
        assert all(urlsplit(u).scheme in ("http", "https") for u in urls)
        starts = [s.start_s for s in rep.segments or ()]
        assert starts == sorted(starts)


def test_hls_corpus_counts() -> None:
    results = {p.name: _parse(p) for p in FILES if p.suffix == ".m3u8"}
    errors = {name for name, r in results.items() if isinstance(r, ManifestError)}
    assert errors == HLS_REJECTED
    multivariant = [
        r for r in results.values() if isinstance(r, Presentation) and r.is_multivariant
    ]
    assert len(multivariant) == 34  # MANIFEST.md: "master (34)"
