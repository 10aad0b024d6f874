"""Which origins to try over HTTP/3: ``Alt-Svc`` advertisements and handshake failures."""

from __future__ import annotations

import re

from transport._urls import origin_of
from transport.config import TransportConfig

__all__: list[str] = []

_H3_ENTRY = re.compile(r'(?:^|,)\s*h3="([^"]*)"\s*((?:;\s*[a-z]+=[^,;]*)*)', re.IGNORECASE)
_MAX_AGE = re.compile(r"ma=(\d+)")
_DEFAULT_MAX_AGE_S = 86400.0
"""RFC 7838: an alternative without ``ma`` is fresh for 24 hours."""


def parse_alt_svc_h3(value: str) -> tuple[int, float] | None | bool:
    """Find the ``h3`` alternative in an ``Alt-Svc`` value.

    Args:
        value: The header value.

    Returns:
        ``(port, max_age_s)`` of a same-host h3 alternative, ``False`` for ``clear``, or
        ``None`` when there is no usable h3 entry.

    >>> parse_alt_svc_h3('h3=":8443"; ma=3600, h2=":443"')
    (8443, 3600.0)
    >>> parse_alt_svc_h3("clear")
    False
    >>> parse_alt_svc_h3('h3="other.example:443"') is None
    True
    """
    if value.strip().lower() == "clear":
        return False
    match = _H3_ENTRY.search(value)
    if match is None:
        return None
    authority, params = match.group(1), match.group(2) or ""
    host, _, port = authority.rpartition(":")
    if host or not port.isdigit():
        return None  # a different host would need its own certificate check: not followed
    age = _MAX_AGE.search(params)
    return int(port), float(age.group(1)) if age else _DEFAULT_MAX_AGE_S


class ProtocolMemory:
    """Per-origin memory for ``protocol="auto"``: broken HTTP/3 and advertised h3 ports.

    Args:
        config: Transport settings (``h3_broken_s``).
    """

    def __init__(self, config: TransportConfig) -> None:
        self._broken_s = config.h3_broken_s
        self._broken_until: dict[str, float] = {}
        self._alt_ports: dict[str, tuple[int, float]] = {}
        self._cleared: set[str] = set()

    def wants_h3(self, url: str, now: float) -> bool:
        """Whether the next request to ``url``'s origin should try HTTP/3 first.

        Args:
            url: The request URL.
            now: Monotonic seconds.

        Returns:
            False while the origin is marked broken or sent ``Alt-Svc: clear``.
        """
        origin = origin_of(url)
        if origin in self._cleared:
            return False
        return now >= self._broken_until.get(origin, float("-inf"))

    def h3_port(self, url: str, now: float) -> int | None:
        """The UDP port advertised for ``url``'s origin, if a fresh ``Alt-Svc`` named one.

        Args:
            url: The request URL.
            now: Monotonic seconds.

        Returns:
            The port, or ``None`` to use the URL's own port.
        """
        entry = self._alt_ports.get(origin_of(url))
        return entry[0] if entry is not None and now < entry[1] else None

    def on_h3_failed(self, url: str, now: float) -> None:
        """Remember that HTTP/3 to this origin failed while HTTP/1.1-2 worked.

        Args:
            url: The request URL.
            now: Monotonic seconds.
        """
        self._broken_until[origin_of(url)] = now + self._broken_s

    def on_alt_svc(self, url: str, value: str | None, *, now: float) -> None:
        """Record the ``Alt-Svc`` header of a response from ``url``.

        Args:
            url: The request URL.
            value: The header value, or ``None`` when absent.
            now: Monotonic seconds.
        """
        if value is None:
            return
        origin = origin_of(url)
        parsed = parse_alt_svc_h3(value)
        if parsed is False:
            self._cleared.add(origin)
            self._alt_ports.pop(origin, None)
        elif isinstance(parsed, tuple):
            self._cleared.discard(origin)
            self._alt_ports[origin] = (parsed[0], now + parsed[1])
