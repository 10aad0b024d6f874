"""How transport shows a URL in an error message or a log line: without its secrets.

Every error message and log line of ``transport`` shows a URL through :func:`redact_url`
(errors that carry a ``url`` do it for their own URL, ``transport.errors``): a query string
may carry a token (signed CDN URLs), user info a password, a ``data:`` URI a key.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["redact_url"]

_REDACTED = "<redacted>"
_MAX_SHOWN_CHARS = 300


def redact_url(url: str) -> str:
    r"""Return ``url`` as error messages and log lines show it: nothing secret in it.

    The query and fragment become ``?<redacted>`` / ``#<redacted>``, user info
    ``<redacted>@``, a ``data:`` URI's media type and payload ``data:<redacted>``; control
    characters are escaped (no forged log lines) and the result is at most 300 characters.
    player uses this very function (``player.errors.redact_url``); drm, which imports nothing
    of transport, has ``drm.describe_key_uri``, which shows a URL the same way
    (tests/test_url_redaction.py). An error's ``url`` attribute keeps the whole URL for the
    program that handles it.

    Args:
        url: Any URL or reference, well-formed or not.

    Returns:
        The URL without its secrets.

    >>> redact_url("https://u:pw@cdn.example:8443/v/1.m4s?token=abc#t=1")
    'https://<redacted>@cdn.example:8443/v/1.m4s?<redacted>#<redacted>'
    >>> redact_url("data:text/plain;base64,MTIzNDU2Nzg5MDEyMzQ1Ng==")
    'data:<redacted>'
    >>> redact_url("keys/k.bin?t=1")
    'keys/k.bin?<redacted>'
    >>> redact_url("file:///etc/passwd\x1b[2J")
    'file:///etc/passwd\\x1b[2J'
    """
    if url[:5].lower() == "data:":
        return "data:" + _REDACTED
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<malformed URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = _REDACTED + "@" + netloc.rpartition("@")[2]
    shown = f"{parts.scheme}:" if parts.scheme else ""
    if netloc or url[len(shown) :].startswith("//"):
        shown += "//" + netloc
    shown += parts.path
    shown += "?" + _REDACTED if parts.query else ""
    shown += "#" + _REDACTED if parts.fragment else ""
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in shown)
    return shown if len(shown) <= _MAX_SHOWN_CHARS else shown[: _MAX_SHOWN_CHARS - 3] + "..."
