"""Byte-range answers, checked; ranges cut from whole files when a server ignores ``Range``.

Every ranged request of the downloader passes through one ``RangeGuard`` per session (sans-I/O:
it sees statuses, headers and bodies, never sockets). A ``206`` must name exactly the bytes
asked for. A ``200`` carries the whole resource (the server ignored ``Range``, as
``python -m http.server`` does): the guard cuts the requested slice from it and keeps the
body, bounded by ``PlaybackConfig.whole_file_cache_bytes``, so every later range of that file
is served from memory instead of downloading the whole file again for each segment.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from player.errors import RangeNotSupported, RangeResponseError, redact_url
from player.events import RangeIgnored
from transport import Response, TransferSample, WireProtocol

__all__: list[str] = []

_log = logging.getLogger(__name__)

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class WholeFile:
    """A whole body kept because its server ignores ``Range``.

    Attributes:
        url: The URL that answered.
        content: The whole resource.
        protocol: HTTP version it arrived over.
        edge: The origin that served it.
    """

    url: str
    content: bytes
    protocol: WireProtocol
    edge: str


@dataclass(frozen=True, slots=True)
class RangeOutcome:
    """The usable bytes of one ranged answer.

    Attributes:
        content: Exactly the bytes asked for.
        whole_file_bytes: Size of the whole body when the server ignored ``Range``, else 0.
        is_new_origin: The server's origin was first seen ignoring ``Range`` here (report it).
    """

    content: bytes
    whole_file_bytes: int = 0
    is_new_origin: bool = False


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL (how the guard groups servers).

    >>> origin("https://cdn.example:8443/v/a.mp4?x=1")
    'https://cdn.example:8443'
    """
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class RangeGuard:
    """Checks answers to ranged requests and serves ranges of whole files from memory.

    Files are kept while they fit in ``cache_bytes``; the least recently used one is dropped
    to make room (a rung ABR left). Needing a dropped file again fails with
    ``RangeNotSupported`` rather than downloading whole files over and over.

    Args:
        cache_bytes: Most bytes of whole files kept (least recently used dropped first).
    """

    def __init__(self, *, cache_bytes: int) -> None:
        self._limit = cache_bytes
        self._files: OrderedDict[str, WholeFile] = OrderedDict()
        self._aliases: dict[str, str] = {}
        self._dropped: set[str] = set()
        self._total = 0
        self.ignoring_origins: set[str] = set()
        """Origins seen answering a ranged request with the whole resource."""

    def lookup(self, urls: Sequence[str]) -> WholeFile | None:
        """The kept whole file for any of ``urls`` (the same resource at each location).

        Raises:
            RangeNotSupported: The file was kept, then dropped to make room for another: the
                files played together do not fit, and every range would download a whole
                file again (the caller must not fetch it).
        """
        for url in urls:
            key = self._aliases.get(url)
            if key is not None and key in self._files:
                self._files.move_to_end(key)
                return self._files[key]
        for url in urls:
            key = self._aliases.get(url)
            if key is not None and key in self._dropped:
                raise RangeNotSupported(
                    f"{key}: the server ignores Range and the whole files played together "
                    f"do not fit in PlaybackConfig.whole_file_cache_bytes={self._limit}: "
                    "this one was dropped for another and is needed again",
                    url=key,
                    status=200,
                    requested=(0, -1),
                )
        return None

    def expects_whole_file(self, urls: Sequence[str]) -> bool:
        """The resource is kept already, or its server is known to ignore ``Range``."""
        return bool(urls) and (
            self.lookup(urls) is not None or origin(urls[0]) in self.ignoring_origins
        )

    def cut(self, whole: WholeFile, byte_range: tuple[int, int]) -> bytes:
        """The requested bytes of a kept whole file.

        Raises:
            RangeResponseError: The file ends before the range does.
        """
        first, last = byte_range
        if last >= len(whole.content):
            raise RangeResponseError(
                f"{whole.url}: bytes {first}-{last} asked for, but the whole file is "
                f"{len(whole.content)} bytes",
                url=whole.url,
                status=200,
                requested=byte_range,
            )
        return whole.content[first : last + 1]

    def on_response(
        self,
        *,
        urls: Sequence[str],
        answered: WholeFile,
        status: int,
        headers: Mapping[str, str],
        byte_range: tuple[int, int],
    ) -> RangeOutcome:
        """Check one answer to a ranged request and return the bytes asked for.

        Args:
            urls: The locations that were asked (kept whole files are found by these).
            answered: The URL, body, protocol and edge of the answer.
            status: Its HTTP status.
            headers: Its headers, lowercase names.
            byte_range: The inclusive ``(first, last)`` range asked for.

        Returns:
            The bytes, and whether the server ignored ``Range`` (first time for its origin).

        Raises:
            RangeResponseError: A ``206`` that is not the range asked for, or a whole body
                too short to contain it.
            RangeNotSupported: A whole body larger than the memory for whole files.
        """
        if status == 206:
            return RangeOutcome(_checked_partial(answered, headers, byte_range))
        size = len(answered.content)
        if size > self._limit:
            raise RangeNotSupported(
                f"{answered.url}: the server ignores Range and sent the whole file "
                f"({size} bytes), more than PlaybackConfig.whole_file_cache_bytes="
                f"{self._limit}",
                url=answered.url,
                status=status,
                requested=byte_range,
            )
        content = self.cut(answered, byte_range)
        self._keep(urls, answered)
        server = origin(answered.url)
        is_new = server not in self.ignoring_origins
        self.ignoring_origins.add(server)
        return RangeOutcome(content, whole_file_bytes=size, is_new_origin=is_new)

    def _keep(self, urls: Sequence[str], whole: WholeFile) -> None:
        key = whole.url
        if key not in self._files:
            while self._files and self._total + len(whole.content) > self._limit:
                dropped_key, dropped = self._files.popitem(last=False)
                self._total -= len(dropped.content)
                self._dropped.add(dropped_key)
            self._files[key] = whole
            self._total += len(whole.content)
        for url in (*urls, key):
            self._aliases[url] = key


def check_ranged(
    guard: RangeGuard,
    urls: Sequence[str],
    response: Response,
    byte_range: tuple[int, int],
    *,
    now: float,
) -> tuple[Response, RangeIgnored | None]:
    """Check a transport response to a ranged request (``RangeGuard.on_response``).

    Args:
        guard: The session's guard.
        urls: The locations that were asked.
        response: The answer.
        byte_range: The inclusive range asked for.
        now: Session time, for the event.

    Returns:
        The response holding exactly the bytes asked for (its sample still counts what was
        transferred), and a ``RangeIgnored`` event to emit the first time an origin sent a
        whole file (it is also logged).

    Raises:
        RangeResponseError: The answer is not usable as the range (never passed on).
    """
    answered = WholeFile(response.url, response.content, response.protocol, response.edge)
    outcome = guard.on_response(
        urls=urls,
        answered=answered,
        status=response.status,
        headers=response.headers,
        byte_range=byte_range,
    )
    event = None
    if outcome.is_new_origin:
        _log.warning(
            "%s ignores Range: sent all %d bytes of %s for bytes %d-%d; later ranges of it "
            "are cut from memory",
            response.edge,
            outcome.whole_file_bytes,
            redact_url(response.url),
            *byte_range,
        )
        event = RangeIgnored(
            at_s=now,
            origin=response.edge,
            url=response.url,
            file_bytes=outcome.whole_file_bytes,
            requested=byte_range,
        )
    if outcome.content is not response.content:
        response = dataclasses.replace(response, content=outcome.content)
    return response, event


def from_memory(whole: WholeFile, content: bytes) -> Response:
    """A response for a range cut from a kept whole file: nothing crossed the network."""
    sample = TransferSample(
        nbytes=0, ttfb_s=0.0, duration_s=0.0, protocol=whole.protocol, edge=whole.edge
    )
    return Response(
        url=whole.url,
        status=206,
        headers={},
        content=content,
        protocol=whole.protocol,
        edge=whole.edge,
        sample=sample,
    )


def is_from_memory(response: Response) -> bool:
    """Whether ``from_memory`` made the response (no transfer to learn from)."""
    return response.sample.nbytes == 0 and response.sample.duration_s == 0.0


def _checked_partial(
    answered: WholeFile, headers: Mapping[str, str], byte_range: tuple[int, int]
) -> bytes:
    """The body of a ``206`` when its ``Content-Range`` and length are the range asked for."""
    first, last = byte_range
    header = headers.get("content-range", "")
    match = _CONTENT_RANGE.match(header)
    body = answered.content
    problem = ""
    if match is None:
        problem = "no usable Content-Range"
    else:
        start, end, total = int(match[1]), int(match[2]), match[3]
        clamped = end < last and total != "*" and end == int(total) - 1  # range ran past EOF
        if start != first or (end != last and not clamped):
            problem = f"Content-Range names bytes {start}-{end}"
        elif len(body) != end - start + 1:
            problem = f"body of {len(body)} bytes for Content-Range {start}-{end}"
    if problem:
        raise RangeResponseError(
            f"{answered.url}: 206 for bytes {first}-{last} is unusable: {problem} "
            f"({header[:80]!r})",
            url=answered.url,
            status=206,
            requested=byte_range,
            content_range=header[:200],
        )
    return body
