"""``RangeGuard``: answers to ranged requests are checked, whole files cut and kept.

Sans-I/O: statuses, headers and bodies go in as values. The same paths over real sockets
(``python -m http.server`` ignoring ``Range``) are in tests/interop/.
"""

from __future__ import annotations

import pytest

from player._ranges import RangeGuard, WholeFile, check_ranged, from_memory, is_from_memory
from player.errors import RangeNotSupported, RangeResponseError
from player.events import RangeIgnored
from transport import Response, TransferSample

FILE = bytes(range(256)) * 40  # 10,240 bytes, every offset recognisable
URL = "http://127.0.0.1:8000/v.mp4"
ALT = "https://edge.example/v.mp4"


def answer(content: bytes, *, url: str = URL) -> WholeFile:
    return WholeFile(url, content, "h1", "http://127.0.0.1:8000")


def partial(guard: RangeGuard, first: int, last: int, header: str, body: bytes) -> bytes:
    outcome = guard.on_response(
        urls=(URL,),
        answered=answer(body),
        status=206,
        headers={"content-range": header} if header else {},
        byte_range=(first, last),
    )
    return outcome.content


def test_a_matching_206_passes_through() -> None:
    guard = RangeGuard(cache_bytes=1 << 20)
    body = FILE[100:200]
    assert partial(guard, 100, 199, f"bytes 100-199/{len(FILE)}", body) is body
    assert partial(guard, 100, 199, "bytes 100-199/*", body) is body
    assert guard.ignoring_origins == set()


def test_a_206_clamped_at_the_end_of_the_file_is_accepted() -> None:
    guard = RangeGuard(cache_bytes=1 << 20)
    size = len(FILE)
    tail = FILE[size - 40 :]
    assert partial(guard, size - 40, size + 100, f"bytes {size - 40}-{size - 1}/{size}", tail)


@pytest.mark.parametrize(
    ("header", "body", "problem"),
    [
        ("", FILE[100:200], "no usable Content-Range"),
        ("bytes 0-99/10240", FILE[0:100], "names bytes 0-99"),
        ("bytes 100-150/10240", FILE[100:151], "names bytes 100-150"),
        ("bytes 100-199/10240", FILE[100:180], "body of 80 bytes"),
        ("bytes 100-150/*", FILE[100:151], "names bytes 100-150"),  # short, size unknown
        ("items 100-199/10240", FILE[100:200], "no usable Content-Range"),
    ],
)
def test_a_206_that_is_not_the_range_asked_is_a_typed_error(
    header: str, body: bytes, problem: str
) -> None:
    guard = RangeGuard(cache_bytes=1 << 20)
    with pytest.raises(RangeResponseError, match=problem) as info:
        partial(guard, 100, 199, header, body)
    assert info.value.code == "player.range_response"
    assert info.value.requested == (100, 199) and info.value.status == 206
    assert info.value.content_range == header


def test_a_whole_file_is_cut_kept_and_reported_once_per_origin() -> None:
    guard = RangeGuard(cache_bytes=1 << 20)
    first = guard.on_response(
        urls=(URL, ALT), answered=answer(FILE), status=200, headers={}, byte_range=(0, 99)
    )
    assert first.content == FILE[0:100]
    assert first.whole_file_bytes == len(FILE) and first.is_new_origin
    assert guard.ignoring_origins == {"http://127.0.0.1:8000"}
    assert guard.expects_whole_file((URL,)) and guard.expects_whole_file(
        ("http://127.0.0.1:8000/a",)
    )
    assert not guard.expects_whole_file(("https://other.example/v.mp4",))
    kept = guard.lookup(("https://other.example/v.mp4", ALT))  # any location finds it
    assert kept is not None and guard.cut(kept, (5000, 5099)) == FILE[5000:5100]
    other = answer(FILE[:5000], url="http://127.0.0.1:8000/a.mp4")
    again = guard.on_response(
        urls=(other.url,), answered=other, status=200, headers={}, byte_range=(10, 19)
    )
    assert again.content == FILE[10:20] and not again.is_new_origin


def test_a_range_beyond_a_whole_file_is_a_typed_error() -> None:
    guard = RangeGuard(cache_bytes=1 << 20)
    with pytest.raises(RangeResponseError, match="whole file is 10240 bytes"):
        guard.on_response(
            urls=(URL,), answered=answer(FILE), status=200, headers={}, byte_range=(10000, 10300)
        )
    assert guard.lookup((URL,)) is None  # nothing kept from an unusable answer


def test_a_whole_file_over_the_memory_bound_fails_typed() -> None:
    guard = RangeGuard(cache_bytes=len(FILE) - 1)
    with pytest.raises(RangeNotSupported, match="whole_file_cache_bytes") as info:
        guard.on_response(
            urls=(URL,), answered=answer(FILE), status=200, headers={}, byte_range=(0, 9)
        )
    assert info.value.code == "player.range_not_supported"
    assert isinstance(info.value, RangeResponseError)


def test_least_recently_used_files_leave_first_and_are_never_fetched_again() -> None:
    guard = RangeGuard(cache_bytes=2 * len(FILE))
    for name in ("a", "b"):
        url = f"http://127.0.0.1:8000/{name}.mp4"
        guard.on_response(
            urls=(url,), answered=answer(FILE, url=url), status=200, headers={}, byte_range=(0, 0)
        )
    assert guard.lookup(("http://127.0.0.1:8000/a.mp4",)) is not None  # a is now the newest
    url = "http://127.0.0.1:8000/c.mp4"
    guard.on_response(
        urls=(url,), answered=answer(FILE, url=url), status=200, headers={}, byte_range=(0, 0)
    )
    assert guard.lookup(("http://127.0.0.1:8000/a.mp4",)) is not None
    assert guard.lookup((url,)) is not None
    assert guard.lookup(("http://127.0.0.1:8000/never.mp4",)) is None
    # b was dropped for c: needing it again would download whole files over and over
    with pytest.raises(RangeNotSupported, match="needed again") as info:
        guard.lookup(("http://127.0.0.1:8000/b.mp4",))
    assert info.value.url == "http://127.0.0.1:8000/b.mp4"


def _response(status: int, content: bytes, headers: dict[str, str]) -> Response:
    sample = TransferSample(
        nbytes=len(content), ttfb_s=0.01, duration_s=0.02, protocol="h1", edge="http://h:1"
    )
    return Response(
        url=URL,
        status=status,
        headers=headers,
        content=content,
        protocol="h1",
        edge="http://h:1",
        sample=sample,
    )


def test_check_ranged_reports_the_first_whole_file_and_keeps_the_transfer_figures() -> None:
    guard = RangeGuard(cache_bytes=1 << 20)
    response, event = check_ranged(guard, (URL,), _response(200, FILE, {}), (0, 9), now=3.0)
    assert response.content == FILE[:10] and response.sample.nbytes == len(FILE)
    assert isinstance(event, RangeIgnored)
    assert (event.at_s, event.origin, event.file_bytes, event.requested) == (
        3.0,
        "http://h:1",
        len(FILE),
        (0, 9),
    )
    again, event = check_ranged(guard, (URL,), _response(200, FILE, {}), (10, 19), now=4.0)
    assert again.content == FILE[10:20] and event is None
    ok = _response(206, FILE[:10], {"content-range": f"bytes 0-9/{len(FILE)}"})
    assert check_ranged(guard, (URL,), ok, (0, 9), now=5.0) == (ok, None)


def test_a_range_served_from_memory_counts_no_transfer() -> None:
    whole = answer(FILE)
    response = from_memory(whole, FILE[:10])
    assert response.content == FILE[:10] and response.status == 206
    assert response.sample.nbytes == 0 and is_from_memory(response)
    assert not is_from_memory(_response(206, FILE[:10], {}))
