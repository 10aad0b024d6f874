"""URLs in error messages and log lines never show a query, user info or a ``data:`` payload.

A query may carry a token (signed CDN URLs, key servers), user info a password, and a
``data:`` key URI the key itself. ``transport.redact_url``, ``drm.describe_key_uri`` and
``player.errors.redact_url`` show a URL the same way; errors keep the whole URL in their
``url`` attribute. Every path below gets URLs that carry ``SECRET`` and must not show it,
in messages or in any log record (captured at DEBUG from every logger).
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drm import DrmConfig, LicenseExchange, describe_key_uri
from player import Player, PlayerConfig
from player.cli._report import build_report
from player.config import PlaybackConfig
from player.errors import ManifestError, ManifestParseError, redact_url
from player.events import ManifestLoaded, event_to_json
from player.manifest import parse_manifest
from transport import (
    HttpClient,
    RetryConfig,
    Timeouts,
    TransportConfig,
    TransportError,
    UnsafeUrl,
)
from transport import redact_url as transport_redact_url
from transport.lab import LabCdn, LabCdnThread, MemoryContent, TestCA

ROOT = Path(__file__).resolve().parent.parent
SECRET = "s3cr3t-T0KEN"
KEY_HEX = "00112233445566778899aabbccddeeff"

SHOWN = [
    (
        f"https://viewer:{SECRET}@cdn.example:8443/v/1.m4s?token={SECRET}#{SECRET}",
        "https://<redacted>@cdn.example:8443/v/1.m4s?<redacted>#<redacted>",
    ),
    (f"data:text/plain;base64,{SECRET}", "data:<redacted>"),
    (f"DATA:,{SECRET}", "data:<redacted>"),
    (f"keys/k.bin?sig={SECRET}", "keys/k.bin?<redacted>"),
    (f"ftp://h.example/p?{SECRET}", "ftp://h.example/p?<redacted>"),
    (f"file:///etc/passwd?{SECRET}", "file:///etc/passwd?<redacted>"),
    ("https://plain.example/a/b.m3u8", "https://plain.example/a/b.m3u8"),
    ("https://h.example/x\x1b[2J", "https://h.example/x\\x1b[2J"),
    (f"http://[::1/{SECRET}", "<malformed URL>"),
]


@pytest.mark.parametrize(("url", "shown"), SHOWN)
def test_the_three_packages_show_a_url_the_same_way(url: str, shown: str) -> None:
    assert transport_redact_url(url) == shown
    assert describe_key_uri(url) == shown
    assert redact_url(url) == shown


def test_a_long_url_is_cut() -> None:
    shown = redact_url("https://h.example/" + "a" * 1000)
    assert len(shown) == 300 and shown.endswith("...")


MANIFEST_URL = f"https://cdn.example/live/index.m3u8?token={SECRET}"


@pytest.mark.parametrize(
    ("key_uri", "shown"),
    [
        (f"ftp://keys.example/k?token={SECRET}", "ftp://keys.example/k?<redacted>"),
        (
            f"skd://keys.example/k?token={SECRET}#{SECRET}",
            "skd://keys.example/k?<redacted>#<redacted>",
        ),
    ],
)
def test_a_refused_key_uri_is_named_without_its_secrets(key_uri: str, shown: str) -> None:
    playlist = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n"
        f'#EXT-X-KEY:METHOD=AES-128,URI="{key_uri}"\n#EXTINF:4,\nseg1.ts\n#EXT-X-ENDLIST\n'
    )
    with pytest.raises(ManifestParseError) as info:
        parse_manifest(playlist.encode(), url=MANIFEST_URL, now=0.0)
    message = str(info.value)
    assert f"refusing URL {shown!r}" in message
    assert SECRET not in message
    assert info.value.url == MANIFEST_URL  # the program still gets the whole URL
    assert SECRET not in info.value.detail


def test_a_refused_data_segment_uri_is_named_without_its_payload() -> None:
    playlist = (
        f"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\ndata:video/mp2t;base64,{SECRET}\n"
        "#EXT-X-ENDLIST\n"
    )
    with pytest.raises(ManifestParseError) as info:
        parse_manifest(playlist.encode(), url=MANIFEST_URL, now=0.0)
    assert "refusing URL 'data:<redacted>'" in str(info.value)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    "data",
    [b"", b"not a manifest", b"<MPD><Period><", b'<?xml version="1.0"?><html/>'],
)
def test_manifest_errors_name_the_manifest_without_its_query(data: bytes) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(data, url=MANIFEST_URL, now=0.0)
    assert str(info.value).startswith("https://cdn.example/live/index.m3u8?<redacted>: ")
    assert SECRET not in str(info.value)


def test_dropped_variants_are_logged_without_the_manifest_query(
    caplog: pytest.LogCaptureFixture,
) -> None:
    playlist = (
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=INVALIDBW\nbad.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=800000\ngood.m3u8\n"
    )
    with caplog.at_level(logging.DEBUG):
        parse_manifest(playlist.encode(), url=MANIFEST_URL, now=0.0)
    assert any("dropping a variant" in r.getMessage() for r in caplog.records)
    _no_secret_logged(caplog)


def test_transport_refuses_a_url_without_showing_its_secrets() -> None:
    async def fetch() -> None:
        async with HttpClient(TransportConfig()) as client:
            await client.fetch(f"ftp://viewer:{SECRET}@h.example/p?token={SECRET}")

    with pytest.raises(UnsafeUrl) as info:
        asyncio.run(fetch())
    assert "'ftp://<redacted>@h.example/p?<redacted>'" in str(info.value)
    assert SECRET not in str(info.value)


def test_license_requests_do_not_show_the_license_url_query() -> None:
    url = f"https://lic.example/clearkey?token={SECRET}"
    exchange = LicenseExchange([KEY_HEX], url=url, config=DrmConfig())
    assert SECRET not in repr(exchange) and SECRET not in repr(exchange.build_request())
    assert "https://lic.example/clearkey?<redacted>" in repr(exchange)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCdnThread]:
    bad_key = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n"
        f'#EXT-X-KEY:METHOD=AES-128,URI="ftp://keys.example/k?token={SECRET}"\n'
        "#EXTINF:4,\nseg1.ts\n#EXT-X-ENDLIST\n"
    )
    content = MemoryContent({"/bad-key.m3u8": bad_key.encode()})
    ca = TestCA(tmp_path_factory.mktemp("redaction-ca"))
    handle = LabCdn(content, edges=0, ca=ca).start_in_thread()
    yield handle
    handle.stop()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _no_secret_logged(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        text = record.getMessage() + (str(record.exc_info[1]) if record.exc_info else "")
        assert SECRET not in text, (record.name, text)


def _load(url: str, config: PlayerConfig) -> BaseException:
    async def run() -> BaseException:
        player = Player(config)
        try:
            await player.load(url)
        except (ManifestError, TransportError) as exc:
            return exc
        finally:
            await player.aclose()
        raise AssertionError("load() should have failed")

    return asyncio.run(run())


@pytest.mark.parametrize("path", ["missing.m3u8", "bad-key.m3u8"])
def test_a_failed_load_shows_no_secret_in_its_error_or_logs(
    lab: LabCdnThread, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A 404 (tried on the origin and on a dead alternate origin) and a refused key URI."""
    config = PlayerConfig(
        transport=TransportConfig(
            ca_file=lab.ca_file,
            retry=RetryConfig(max_attempts=2, base_delay_s=0.01, max_delay_s=0.01, jitter=0.0),
            timeouts=Timeouts(connect_s=2.0, ttfb_s=3.0, stall_s=3.0, total_s=10.0),
        ),
        playback=PlaybackConfig(alternate_origins=(f"https://127.0.0.1:{_closed_port()}",)),
    )
    url = f"{lab.origin.base_url}/{path}?token={SECRET}"
    with caplog.at_level(logging.DEBUG):
        error = _load(url, config)
    assert SECRET not in str(error)
    assert "?<redacted>" in str(error)
    _no_secret_logged(caplog)


# -- every error that carries a URL, events and reports ----------------------------------------


def _errors_with_a_url() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for package in ("player", "transport", "drm", "abr"):
        module = importlib.import_module(f"{package}.errors")
        for name in module.__all__:
            cls = getattr(module, name)
            if inspect.isclass(cls) and issubclass(cls, BaseException):
                if "url" in inspect.signature(cls.__init__).parameters and cls not in found:
                    found.append(cls)
    return found


ERRORS_WITH_A_URL = _errors_with_a_url()
_REQUIRED: dict[str, Any] = {
    "status": 416,
    "requested": (0, 1),
    "position_s": 0.0,
    "attempts": (),
}


@pytest.mark.parametrize("cls", ERRORS_WITH_A_URL, ids=lambda c: c.__name__)
def test_an_error_shows_its_own_url_redacted_and_keeps_it_whole(cls: type[Exception]) -> None:
    """What the source scan below relies on: ``X(f"{url}: ...", url=url)`` is safe."""
    url = f"https://cdn.example/a.m3u8?token={SECRET}"
    params = inspect.signature(cls.__init__).parameters
    extra = {k: v for k, v in _REQUIRED.items() if k in params}
    error = cls(f"{url}: failed", url=url, **extra)
    assert str(error) == "https://cdn.example/a.m3u8?<redacted>: failed"
    assert getattr(error, "url") == url  # noqa: B009 - not every class declares it
    assert SECRET not in getattr(error, "detail", "")


def test_the_error_classes_with_a_url_are_found() -> None:
    names = {cls.__name__ for cls in ERRORS_WITH_A_URL}
    assert {"ManifestParseError", "HttpStatusError", "AllEdgesFailed", "TextError"} <= names


def test_events_and_reports_show_urls_redacted() -> None:
    url = f"https://cdn.example/live/index.m3u8?token={SECRET}"
    event = ManifestLoaded(at_s=0.0, url=url, format="hls", is_live=False, duration_s=None)
    assert event.url == url
    assert event_to_json(event)["url"] == "https://cdn.example/live/index.m3u8?<redacted>"
    report = build_report(url=url, final_state="ended", stats={}, events=[], timeline=[])
    assert report["url"] == "https://cdn.example/live/index.m3u8?<redacted>"


# -- source scan: URLs written into messages and log lines -------------------------------------

_HELPERS = {"redact_url", "describe_key_uri", "_shown"}
_LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}


def _names_a_url(node: ast.expr) -> bool:
    while isinstance(node, ast.Subscript):
        node = node.value
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    name = name.lower()
    return ("url" in name or "uri" in name) and name != "base_url"  # an origin: nothing secret


def _through_a_helper(node: ast.expr) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")) in _HELPERS


def _is_log_call(call: ast.Call) -> bool:
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr in _LOG_METHODS
        and isinstance(func.value, ast.Name)
        and "log" in func.value.id.lower()
    )


def unredacted_urls(source: str, filename: str) -> list[str]:
    """URL-like values written raw into an exception raised or a log line.

    An f-string argument of a ``raise X(...)`` or of an ``ArgumentTypeError``/``BadInput``
    may name a URL only through a helper, or when it is the error's own ``url=`` (the error
    redacts that itself); a log call's arguments likewise.
    """
    tree = ast.parse(source, filename=filename)
    raised = {id(n.exc) for n in ast.walk(tree) if isinstance(n, ast.Raise) and n.exc}
    found: list[str] = []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        func_name = getattr(call.func, "id", getattr(call.func, "attr", ""))
        is_log = _is_log_call(call)
        if not (is_log or id(call) in raised or func_name in ("ArgumentTypeError", "BadInput")):
            continue
        own = {ast.unparse(k.value) for k in call.keywords if k.arg == "url"}
        values: list[ast.expr] = []
        for arg in [*call.args, *(k.value for k in call.keywords if k.arg in ("message",))]:
            if isinstance(arg, ast.JoinedStr):
                values += [v.value for v in arg.values if isinstance(v, ast.FormattedValue)]
            elif is_log and arg is not call.args[0]:
                values.append(arg)
        for value in values:
            if _names_a_url(value) and not _through_a_helper(value):
                if ast.unparse(value) not in own:
                    found.append(f"{filename}:{call.lineno}: {ast.unparse(value)}")
    return found


def test_no_message_or_log_line_writes_a_url_raw() -> None:
    found: list[str] = []
    for package in ("player", "drm", "transport", "abr"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            found += unredacted_urls(path.read_text(encoding="utf-8"), rel)
    assert found == []


def test_the_scan_finds_raw_urls() -> None:
    """The scan itself must be able to fail."""
    source = (
        "def f(url, key_uri, log):\n"
        "    log.warning('fetching %s', url)\n"
        "    log.warning('fetching %s', redact_url(url))\n"
        "    raise KeyError(f'no key at {key_uri}')\n"
        "    raise ManifestError(f'{url}: bad', url=url)\n"
        "    raise ManifestError(f'{key_uri}: bad', url=url)\n"
    )
    assert unredacted_urls(source, "m.py") == ["m.py:2: url", "m.py:4: key_uri", "m.py:6: key_uri"]
