"""URI replacement: the URLs of a cloned pathway, made from its base pathway's (sans-I/O).

Base draft (draft-pantos-content-steering) section 5 and RFC 8216bis section 7.3: a
per-variant (or per-rendition) URI, when the clone lists one for the stream's stable id,
is used as it is; otherwise ``HOST`` replaces the hostname (the port stays) and each
``PARAMS`` entry sets a query parameter (replacing one of the same name). Values arrive
percent-encoded from the server and are not encoded again. DASH players ignore the
per-variant and per-rendition keys (ETSI TS 103 998 clause 7, step 13) and apply
``PARAMS`` to each segment's final URL.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from player.steering._manifest import UriReplacement

__all__ = ["apply_uri_replacement"]


def apply_uri_replacement(
    url: str,
    replacement: UriReplacement,
    *,
    stable_variant_id: str | None = None,
    stable_rendition_id: str | None = None,
) -> str:
    """Return ``url`` as the clone serves it.

    Args:
        url: An absolute URL of the base pathway.
        replacement: The clone's ``URI-REPLACEMENT``.
        stable_variant_id: HLS ``STABLE-VARIANT-ID`` of the variant ``url`` belongs to.
        stable_rendition_id: HLS ``STABLE-RENDITION-ID`` of the rendition.

    Returns:
        The clone's absolute URL.

    The base draft's example (section 8.2):

    >>> r = UriReplacement(host="backup2.example.com", params=(("token", "dkfs1239414"),))
    >>> apply_uri_replacement("https://example.com/some/path/to/file", r)
    'https://backup2.example.com/some/path/to/file?token=dkfs1239414'
    >>> apply_uri_replacement("https://b.example.com:8443/another/path?token=old&x=1", r)
    'https://backup2.example.com:8443/another/path?token=dkfs1239414&x=1'
    """
    if stable_variant_id is not None and stable_variant_id in replacement.per_variant_uris:
        return replacement.per_variant_uris[stable_variant_id]
    if stable_rendition_id is not None and stable_rendition_id in replacement.per_rendition_uris:
        return replacement.per_rendition_uris[stable_rendition_id]
    parts = urlsplit(url)
    netloc = parts.netloc
    if replacement.host is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        port = _port_suffix(hostport)
        netloc = (userinfo + "@" if userinfo else "") + replacement.host + port
    query = _set_params(parts.query, replacement.params)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _port_suffix(hostport: str) -> str:
    """``:port`` of a ``host[:port]`` (IPv6 literals in brackets), or ``""``."""
    if hostport.startswith("["):
        end = hostport.find("]")
        rest = hostport[end + 1 :] if end != -1 else ""
        return rest if rest.startswith(":") else ""
    _, colon, port = hostport.partition(":")
    return f":{port}" if colon else ""


def _set_params(query: str, params: tuple[tuple[str, str], ...]) -> str:
    if not params:
        return query
    pairs = [p for p in query.split("&") if p] if query else []
    for name, value in params:
        entry = f"{name}={value}"
        at = next((i for i, p in enumerate(pairs) if p.partition("=")[0] == name), None)
        if at is None:
            pairs.append(entry)
        else:
            pairs[at] = entry
            pairs[at + 1 :] = [p for p in pairs[at + 1 :] if p.partition("=")[0] != name]
    return "&".join(pairs)
