"""URL resolution and the scheme rule shared by the HLS and DASH parsers."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from player.errors import ManifestParseError

__all__: list[str] = []

_SAFE_SCHEMES = frozenset({"http", "https"})


def resolve_url(base: str, ref: str, *, manifest_url: str, allow_data: bool = False) -> str:
    """Resolve ``ref`` against ``base`` and refuse anything but http(s) (and ``data:`` keys).

    Args:
        base: Absolute base URL (the manifest URL or a DASH ``BaseURL``).
        ref: Reference from the manifest, relative or absolute.
        manifest_url: The manifest's URL, named in errors.
        allow_data: Accept ``data:`` URIs (HLS key URIs only).

    Returns:
        The absolute URL.

    Raises:
        ManifestParseError: The result is not an http(s) URL (or ``data:`` where allowed).
    """
    ref = ref.strip()
    if allow_data and ref[:5].lower() == "data:":
        return ref
    try:
        url = urljoin(base, ref)
        parts = urlsplit(url)
    except ValueError as exc:
        raise ManifestParseError(
            f"{manifest_url}: malformed URL {ref[:200]!r}", url=manifest_url, detail="bad url"
        ) from exc
    if parts.scheme.lower() not in _SAFE_SCHEMES or not parts.netloc:
        raise ManifestParseError(
            f"{manifest_url}: refusing URL {url[:200]!r}: only absolute http(s) URLs are followed",
            url=manifest_url,
            detail="unsafe url scheme",
        )
    return url
