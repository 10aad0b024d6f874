"""Relative references for ``nor``: the next object's URL as seen from the current one."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

__all__ = ["relative_reference"]

_URI_CHARS = "/%:@!$&'()*+,;=-._~?"
"""Characters a URI may hold as they are (RFC 3986 sections 2.2, 2.3); others get %-encoded."""


def relative_reference(base_url: str, target_url: str) -> str | None:
    """``target_url`` as a relative path from ``base_url`` (RFC 3986 section 4.2).

    CMCD's ``nor`` must be "a path relative to the current request" (CTA-5004 Table 1;
    CTA-5004-B Table 1), so the result never names a scheme or host: resolving it against
    ``base_url`` (RFC 3986 section 5.2) gives ``target_url`` back, query included,
    fragment dropped.

    Args:
        base_url: The URL being requested.
        target_url: The URL expected to be requested next.

    Returns:
        The relative reference, or ``None`` when the target is on another origin (no
        relative path reaches it).

    >>> relative_reference("https://cdn/v/1/seg-3.m4s", "https://cdn/v/1/seg-4.m4s")
    'seg-4.m4s'
    >>> relative_reference("https://cdn/v/1/seg-3.m4s", "https://cdn/v/2/seg-4.m4s?t=1")
    '../2/seg-4.m4s?t=1'
    >>> relative_reference("https://cdn/v/1/a.mp4", "https://other/v/1/a.mp4") is None
    True
    """
    base, target = urlsplit(base_url), urlsplit(target_url)
    if (base.scheme, base.netloc) != (target.scheme, target.netloc):
        return None
    base_dirs = (base.path or "/").split("/")[:-1]
    parts = (target.path or "/").split("/")
    target_dirs, name = parts[:-1], parts[-1]
    common = 0
    while (
        common < min(len(base_dirs), len(target_dirs)) and base_dirs[common] == target_dirs[common]
    ):
        common += 1
    up = len(base_dirs) - common
    rel = "/".join([".."] * up + target_dirs[common:] + [name])
    first = rel.split("/", 1)[0]
    if not rel or ":" in first:
        rel = "./" + rel  # an empty path or a colon in the first segment needs "./"
    if target.query:
        rel += "?" + target.query
    return quote(rel, safe=_URI_CHARS)
