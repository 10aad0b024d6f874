"""URL checks shared by the clients: only http/https are followed (DESIGN.md invariants)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from transport._redact import redact_url
from transport.errors import UnsafeUrl

__all__ = ["with_alternates"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def check_url(url: str) -> tuple[str, str, int, str]:
    """Validate ``url`` and split it into the parts a client needs.

    Args:
        url: An absolute ``http`` or ``https`` URL.

    Returns:
        ``(scheme, host, port, target)`` where ``target`` is the path plus query.

    Raises:
        UnsafeUrl: The scheme is not http/https, or the URL has no host or a bad port.

    >>> check_url("https://cdn.example:8443/a/b.m4s?x=1")
    ('https', 'cdn.example', 8443, '/a/b.m4s?x=1')
    >>> check_url("file:///etc/passwd")
    Traceback (most recent call last):
    ...
    transport.errors.UnsafeUrl: refused URL scheme 'file' in 'file:///etc/passwd'
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise UnsafeUrl(f"refused URL scheme {scheme!r} in {redact_url(url)!r}", url=url)
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise UnsafeUrl(f"bad port in {redact_url(url)!r}", url=url) from exc
    host = parts.hostname
    if not host:
        raise UnsafeUrl(f"no host in {redact_url(url)!r}", url=url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return scheme, host, port, target


def origin_of(url: str) -> str:
    """Return ``scheme://host:port`` of a checked URL (the edge key).

    Args:
        url: An absolute http/https URL.

    Returns:
        The origin with an explicit port.

    Raises:
        UnsafeUrl: See :func:`check_url`.

    >>> origin_of("https://127.0.0.1/x")
    'https://127.0.0.1:443'
    """
    scheme, host, port, _ = check_url(url)
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def with_alternates(urls: Sequence[str], origins: Sequence[str]) -> tuple[str, ...]:
    """Add the same paths on other origins (CDN edges, the origin) as failover locations.

    Each URL keeps its place; after all of them come, in order, their path and query on each
    alternate origin (the scheme and host of ``origins``; their paths are ignored), without
    duplicates. ``HttpClient.fetch`` then tries them in that order.

    Args:
        urls: The resource's own locations, in preference order.
        origins: Alternate origins serving the same paths, e.g. ``https://edge2:443``.

    Returns:
        The locations to fetch from.

    >>> with_alternates(("https://a/v/1.m4s?t=2",), ("https://b:8443", "https://a"))
    ('https://a/v/1.m4s?t=2', 'https://b:8443/v/1.m4s?t=2')
    """
    out = list(urls)
    for url in urls:
        parts = urlsplit(url)
        for base in origins:
            alt = urlsplit(base)
            candidate = urlunsplit((alt.scheme, alt.netloc, parts.path, parts.query, ""))
            if candidate not in out:
                out.append(candidate)
    return tuple(out)
