"""LabServer: one ASGI app over HTTP/1.1, HTTP/2 and HTTP/3 at the same port, on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from typing import Any

import httpx
import pytest
from conftest import H3Get

from transport.lab import LabServer, TestCA


async def echo_app(scope: Any, receive: Any, send: Any) -> None:
    """Answer with the request's protocol version and path as JSON."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = json.dumps({"http_version": scope["http_version"], "path": scope["path"]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def ssl_context(ca: TestCA) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca.ca_file))


def port_is_free(port: int) -> bool:
    """Whether both TCP and UDP can bind ``port`` on 127.0.0.1 right now."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


async def test_h1_h2_h3_at_one_port(lab_ca: TestCA, h3_get: H3Get) -> None:
    async with LabServer(echo_app, ca=lab_ca) as srv:
        assert srv.port > 0
        assert srv.base_url == f"https://127.0.0.1:{srv.port}"
        assert srv.ca_file == str(lab_ca.ca_file)
        async with httpx.AsyncClient(verify=ssl_context(lab_ca), http2=False) as h1:
            r1 = await h1.get(srv.base_url + "/one")
        async with httpx.AsyncClient(verify=ssl_context(lab_ca), http2=True) as h2:
            r2 = await h2.get(srv.base_url + "/two")
        r3 = await h3_get(srv.base_url + "/three")
    assert (r1.status_code, r1.http_version) == (200, "HTTP/1.1")
    assert r1.json() == {"http_version": "1.1", "path": "/one"}
    assert r1.headers["alt-svc"] == f'h3=":{srv.port}"; ma=3600'
    assert (r2.status_code, r2.http_version) == (200, "HTTP/2")
    assert r2.json() == {"http_version": "2", "path": "/two"}
    assert r3.status == 200 and r3.ended
    assert json.loads(r3.body) == {"http_version": "3", "path": "/three"}


async def test_port_is_held_on_tcp_and_udp_and_freed_on_stop(lab_ca: TestCA) -> None:
    srv = LabServer(echo_app, ca=lab_ca)
    await srv.start()
    port = srv.port
    try:
        assert srv.is_running
        assert not port_is_free(port)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(OSError):
            udp.bind(("127.0.0.1", port))
    finally:
        await srv.stop()
    assert not srv.is_running
    assert port_is_free(port)


async def test_http3_off_serves_tcp_only(lab_ca: TestCA) -> None:
    async with LabServer(echo_app, ca=lab_ca, http3=False) as srv:
        async with httpx.AsyncClient(verify=ssl_context(lab_ca), http2=True) as client:
            r = await client.get(srv.base_url + "/x")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", srv.port))  # UDP port is not taken
    assert r.status_code == 200
    assert "alt-svc" not in r.headers


async def test_certificate_is_refused_without_the_ca(lab_ca: TestCA) -> None:
    async with LabServer(echo_app, ca=lab_ca, http3=False) as srv:
        async with httpx.AsyncClient() as client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get(srv.base_url + "/")


def test_thread_form_stops_and_comes_back_at_the_same_port(lab_ca: TestCA) -> None:
    handle = LabServer(echo_app, ca=lab_ca).start_in_thread()
    port = handle.port
    try:
        with httpx.Client(verify=ssl_context(lab_ca)) as client:
            assert client.get(handle.base_url + "/a").json()["path"] == "/a"
        started = time.monotonic()
        handle.stop()
        assert time.monotonic() - started < 2.0
        assert port_is_free(port)
        with httpx.Client(verify=ssl_context(lab_ca)) as client, pytest.raises(httpx.ConnectError):
            client.get(handle.base_url + "/a")
        handle.start()
        assert handle.port == port
        with httpx.Client(verify=ssl_context(lab_ca)) as client:
            assert client.get(handle.base_url + "/b").json()["path"] == "/b"
    finally:
        handle.stop()
    assert port_is_free(port)


async def test_stop_is_bounded_with_a_request_hanging(lab_ca: TestCA) -> None:
    entered = asyncio.Event()

    async def hanging_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})
        entered.set()
        await asyncio.sleep(3600)

    srv = LabServer(hanging_app, ca=lab_ca, http3=False)
    await srv.start()
    async with httpx.AsyncClient(verify=ssl_context(lab_ca)) as client:

        async def fetch() -> bytes:
            async with client.stream("GET", srv.base_url + "/") as response:
                return b"".join([chunk async for chunk in response.aiter_raw()])

        task = asyncio.create_task(fetch())
        await asyncio.wait_for(entered.wait(), 5.0)
        started = time.monotonic()
        await srv.stop()
        elapsed = time.monotonic() - started
        with pytest.raises(httpx.HTTPError):
            await asyncio.wait_for(task, 5.0)
    assert elapsed < 2.0


async def test_stop_is_bounded_with_an_http3_request_hanging(lab_ca: TestCA, h3_get: H3Get) -> None:
    entered = asyncio.Event()

    async def hanging_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})
        entered.set()
        await asyncio.sleep(3600)

    srv = LabServer(hanging_app, ca=lab_ca)
    await srv.start()
    port = srv.port
    task = asyncio.create_task(h3_get(srv.base_url + "/", timeout_s=1.0))
    await asyncio.wait_for(entered.wait(), 5.0)
    started = time.monotonic()
    await srv.stop()
    elapsed = time.monotonic() - started
    with pytest.raises(TimeoutError):  # the server vanished silently: the client times out
        await task
    assert elapsed < 2.0  # immediate when idle; generous for a loaded CI machine
    assert port_is_free(port)


async def test_lifespan_runs_on_each_start(lab_ca: TestCA) -> None:
    events: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        await echo_app(scope, receive, send)

    srv = LabServer(app, ca=lab_ca, http3=False)
    async with srv:
        pass
    async with srv:
        pass
    assert events == ["lifespan.startup", "lifespan.shutdown"] * 2


@pytest.mark.parametrize("size", [1200, 1452])
async def test_quic_datagram_size_is_the_servers_choice(
    lab_ca: TestCA, h3_get: H3Get, size: int
) -> None:
    async def big_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            body = b"z" * 200_000
            headers = [(b"content-length", b"%d" % len(body))]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})

    async with LabServer(big_app, ca=lab_ca, max_datagram_size=size) as srv:
        result = await h3_get(srv.base_url + "/")
    assert result.status == 200 and len(result.body) == 200_000
    assert result.max_datagram_bytes == size
