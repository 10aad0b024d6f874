"""``LabServer``: any ASGI app over HTTPS on HTTP/1.1, HTTP/2 and HTTP/3 at one port number.

Built on Hypercorn's connection handlers (``TCPServer``, ``UDPServer``) with our own socket
set-up and shutdown, so that port 0 picks a port free on both TCP and UDP, a stop is bounded
in time and releases the ports, and a stopped server can start again at the same port.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import struct
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, cast

from hypercorn.asyncio.lifespan import Lifespan
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.asyncio.udp_server import UDPServer
from hypercorn.asyncio.worker_context import WorkerContext
from hypercorn.config import Config
from hypercorn.utils import wrap_app

from transport.errors import TransportConfigError
from transport.lab._ca import TestCA
from transport.lab._loop import AsyncStartStop, ThreadedPart

__all__ = ["AsgiApp", "LabServer", "LabServerThread"]

_log = logging.getLogger(__name__)

AsgiApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]
"""An ASGI 3 application: ``await app(scope, receive, send)``."""

_GRACEFUL_S = 0.5
"""Time given to in-flight requests when a server stops; longer would make "die" slow."""

_STOP_TIMEOUT_S = 3.0
"""Upper bound of a whole stop: tasks still running after it are abandoned (cancelled)."""

_START_TIMEOUT_S = 10.0
"""Upper bound of a start, including the app's lifespan start-up."""

_FLUSH_TIMEOUT_S = 0.5
"""Longest wait for written bytes to leave before a connection is reset by a fault."""

_UDP_QUEUE_DATAGRAMS = 4096
"""Datagrams Hypercorn may hold between the socket and QUIC processing. Its default of 10
drops the client's ACKs under load, which stalls HTTP/3 transfers on loss recovery."""

_PORT_ATTEMPTS = 64
"""Tries to find a port number free on both TCP and UDP before giving up."""

_SO_LINGER_RESET = struct.pack("ii", 1, 0)
"""``SO_LINGER`` on with a zero timeout: closing the socket sends a TCP RST."""


def bind_port_pair(
    host: str, port: int, *, with_udp: bool
) -> tuple[socket.socket, socket.socket | None]:
    """Bind a TCP socket (and a UDP socket at the same port number when ``with_udp``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(_PORT_ATTEMPTS if port == 0 else 1):
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tcp.bind((host, port))
        except OSError:
            tcp.close()
            if port != 0:
                raise
            continue
        if not with_udp:
            return tcp, None
        udp = socket.socket(family, socket.SOCK_DGRAM)  # no SO_REUSEADDR: the port is ours alone
        try:
            udp.bind((host, tcp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            if port != 0:
                raise
            continue
        return tcp, udp
    raise OSError(f"no port free on both TCP and UDP on {host} after {_PORT_ATTEMPTS} tries")


class _QuicTimers:
    """Send a QUIC handler's datagrams straight to the socket; run its timers as loop callbacks.

    Hypercorn restarts a timer task after every datagram it handles, and waits for the old
    task to finish cancelling, which costs each received datagram an extra loop iteration;
    on an ACK-clocked transfer that latency caps the throughput. Timers here are plain loop
    callbacks, replaced without waiting.
    """

    def __init__(self, handler: Any, transport: asyncio.DatagramTransport) -> None:
        self._handler = handler
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._timers: dict[int, tuple[Any, asyncio.TimerHandle]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        handler.send_all = self.send_all  # replaces Hypercorn's method on this instance

    async def send_all(self, connection: Any) -> None:
        """Send what the connection has to send and re-arm its timer."""
        quic = connection.quic
        if self._transport.is_closing():
            return  # the server stopped: nothing reaches the network any more
        for data, address in quic.datagrams_to_send(now=self._loop.time()):
            self._transport.sendto(data, address)
        key = id(quic)
        previous = self._timers.pop(key, None)
        if previous is not None:
            previous[1].cancel()
        timer = quic.get_timer()
        if timer is not None:
            self._timers[key] = (quic, self._loop.call_at(timer, self._fire, connection))

    def _fire(self, connection: Any) -> None:
        self._timers.pop(id(connection.quic), None)
        connection.quic.handle_timer(now=self._loop.time())
        task = self._loop.create_task(self._handler._handle_events(connection, None))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        """Cancel every timer and timer task."""
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()


class _LabUdpServer(UDPServer):
    """Hypercorn's UDP server with a deeper queue, a chosen datagram size and ``_QuicTimers``."""

    max_datagram_size = 1200
    timers: _QuicTimers | None = None

    @property
    def protocol(self) -> Any:
        """The QUIC protocol handler Hypercorn creates in ``run()``."""
        return self._lab_protocol

    @protocol.setter
    def protocol(self, value: Any) -> None:
        value.quic_config.max_datagram_size = self.max_datagram_size
        assert self.transport is not None
        self.timers = _QuicTimers(value, self.transport)
        self._lab_protocol = value


@dataclass(kw_only=True, slots=True)
class _Run:
    """What one start of a server shares between its TCP and UDP listeners."""

    app: Any
    config: Config
    context: WorkerContext
    loop: asyncio.AbstractEventLoop
    state: dict[str, Any] = field(default_factory=dict)


class LabServer(AsyncStartStop):
    """Serve an ASGI app over HTTPS: HTTP/1.1 and HTTP/2 on TCP, HTTP/3 on UDP, same port.

    Responses advertise ``Alt-Svc: h3=":<port>"`` when HTTP/3 is on. Use it as an async
    context manager on the running loop, or ``start_in_thread()`` for a synchronous handle
    whose server runs on its own loop in a daemon thread.

    Args:
        app: The ASGI application.
        ca: The test CA whose server certificate is presented.
        host: Address to listen on (loopback by default).
        port: Port number for both TCP and UDP; 0 picks one free on both. After the first
            start the chosen port is kept, so ``stop()`` then ``start()`` comes back there.
        http3: Also serve HTTP/3 over QUIC on the UDP port.
        max_datagram_size: Largest QUIC datagram the server sends, bytes (1200, the QUIC
            minimum and aioquic's default, up to 1452 for a 1500-byte MTU). In a download the
            server's datagrams carry the data, so this is the size that counts.

    Example:
        ``async with LabServer(app, ca=TestCA()) as srv: ... srv.base_url ... srv.ca_file``
    """

    def __init__(
        self,
        app: AsgiApp,
        *,
        ca: TestCA,
        host: str = "127.0.0.1",
        port: int = 0,
        http3: bool = True,
        max_datagram_size: int = 1200,
    ) -> None:
        if not 0 <= port <= 65535:
            raise TransportConfigError(f"port {port} out of range")
        if not 1200 <= max_datagram_size <= 65527:
            raise TransportConfigError(f"max_datagram_size {max_datagram_size} out of range")
        self.max_datagram_size = max_datagram_size
        self.app = app
        self.ca = ca
        self.host = host
        self.port = port
        self.http3 = http3
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False
        self._servers: list[asyncio.base_events.Server] = []
        self._udp_transport: asyncio.DatagramTransport | None = None
        self._udp_protocol: UDPServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._tcp: dict[tuple[str, int], asyncio.WriteTransport] = {}
        self._context: WorkerContext | None = None
        self._lifespan: Lifespan | None = None
        self._lifespan_task: asyncio.Task[Any] | None = None
        self._revive_handle: asyncio.TimerHandle | None = None
        self._udp_task: asyncio.Task[Any] | None = None
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    @property
    def ca_file(self) -> str:
        """Path of the CA certificate (PEM) that clients must trust."""
        return str(self.ca.ca_file)

    @property
    def base_url(self) -> str:
        """``https://host:port`` of the server (valid once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def is_running(self) -> bool:
        """Whether the server is listening."""
        return self._running

    def _config(self) -> Config:
        config = Config()
        config.certfile = str(self.ca.cert_file)
        config.keyfile = str(self.ca.key_file)
        config.errorlog = logging.getLogger(__name__ + ".hypercorn")
        config.accesslog = None
        config.graceful_timeout = _GRACEFUL_S
        config.alt_svc_headers = [f'h3=":{self.port}"; ma=3600'] if self.http3 else []
        return config

    def _lock(self) -> asyncio.Lock:
        """Return the lock serialising start and stop on the running loop.

        One per loop: the thread form runs each start on a new loop.
        """
        loop = asyncio.get_running_loop()
        self._locks = {k: v for k, v in self._locks.items() if k is loop or not k.is_closed()}
        return self._locks.setdefault(loop, asyncio.Lock())

    async def start(self) -> None:
        """Bind the ports and start serving on the running loop.

        Raises:
            OSError: The port is taken (or no port is free on both TCP and UDP).
        """
        async with self._lock():
            await self._start()

    async def _start(self) -> None:
        if self._revive_handle is not None:
            self._revive_handle.cancel()
            self._revive_handle = None
        if self._running:
            return
        tcp, udp = bind_port_pair(self.host, self.port, with_udp=self.http3)
        self.port = tcp.getsockname()[1]
        self._loop = asyncio.get_running_loop()
        config = self._config()
        run = _Run(
            app=wrap_app(cast(Any, self.app), config.wsgi_max_body_size, "asgi"),
            config=config,
            context=WorkerContext(None),
            loop=self._loop,
        )
        self._context = run.context
        try:
            self._lifespan = Lifespan(run.app, config, run.loop, run.state)
            self._lifespan_task = run.loop.create_task(self._lifespan.handle_lifespan())
            await asyncio.wait_for(self._lifespan.wait_for_startup(), _START_TIMEOUT_S)
            await self._serve_tcp(run, tcp)
            if udp is not None:
                await self._serve_udp(run, udp)
        except BaseException:
            tcp.close()
            if udp is not None:
                udp.close()
            await self._shutdown()
            raise
        self._running = True
        _log.debug("lab server on %s (http3=%s)", self.base_url, self.http3)

    async def _serve_tcp(self, run: _Run, sock: socket.socket) -> None:
        async def on_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = writer.get_extra_info("peername")
            key = (str(peer[0]), int(peer[1]))
            self._track(asyncio.current_task())
            self._tcp[key] = writer.transport
            try:
                await TCPServer(
                    run.app, run.loop, run.config, run.context, run.state, reader, writer
                )
            except asyncio.CancelledError:
                pass  # stopping; asyncio streams would log a cancelled callback task
            finally:
                self._tcp.pop(key, None)

        ssl_context = run.config.create_ssl_context()
        server = await asyncio.start_server(
            on_tcp, sock=sock, ssl=ssl_context, backlog=run.config.backlog
        )
        self._servers = [server]

    async def _serve_udp(self, run: _Run, sock: socket.socket) -> None:
        def make_udp() -> UDPServer:
            server = _LabUdpServer(run.app, run.loop, run.config, run.context, run.state)
            server.protocol_queue = asyncio.Queue(_UDP_QUEUE_DATAGRAMS)
            server.max_datagram_size = self.max_datagram_size
            return server

        transport, protocol = await run.loop.create_datagram_endpoint(make_udp, sock=sock)
        self._udp_transport = transport
        self._udp_protocol = protocol
        self._udp_task = run.loop.create_task(protocol.run())
        self._track(self._udp_task)

    def _track(self, task: asyncio.Task[Any] | None) -> None:
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Stop serving: close the ports, drop every connection, run the app's shutdown.

        Bounded in time; afterwards both ports are free and ``start()`` may be called again.
        """
        async with self._lock():
            await self._stop()

    async def _stop(self) -> None:
        if self._revive_handle is not None:
            self._revive_handle.cancel()
            self._revive_handle = None
        if not self._running:
            return
        self._running = False
        await self._shutdown()
        _log.debug("lab server on %s stopped", self.base_url)

    async def _shutdown(self) -> None:
        if self._context is not None:
            await self._context.terminated.set()
        for server in self._servers:
            server.close()
        self._servers = []
        for transport in list(self._tcp.values()):
            transport.abort()
        self._tcp.clear()
        timers = getattr(self._udp_protocol, "timers", None)
        if timers is not None:
            timers.close()
        if self._udp_transport is not None:
            self._udp_transport.close()
            self._udp_transport = None
            self._udp_protocol = None
        if self._udp_task is not None:
            # the QUIC socket is closed: nothing more can be sent, so no grace for HTTP/3
            self._udp_task.cancel()
            self._udp_task = None
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=_GRACEFUL_S)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=_STOP_TIMEOUT_S)
        await self._stop_lifespan()

    async def _stop_lifespan(self) -> None:
        lifespan, task = self._lifespan, self._lifespan_task
        self._lifespan = self._lifespan_task = None
        if lifespan is None or task is None:
            return
        try:
            if not task.done():
                await asyncio.wait_for(lifespan.wait_for_shutdown(), _STOP_TIMEOUT_S)
        except (TimeoutError, asyncio.TimeoutError):
            _log.warning("lab app did not finish its lifespan shutdown in time")
        finally:
            task.cancel()
            await asyncio.wait([task], timeout=_STOP_TIMEOUT_S)

    def kill(self, *, revive_after_s: float | None = None) -> concurrent.futures.Future[None]:
        """Stop serving from any thread, optionally coming back later ("die and come back").

        Args:
            revive_after_s: Start again at the same port after this many seconds;
                ``None`` stays down until ``revive()``.

        Returns:
            A future that completes once the server has stopped (``fut.result(timeout)`` from
            a thread, ``await asyncio.wrap_future(fut)`` from a loop).
        """
        return self._submit(self._kill(revive_after_s))

    async def _kill(self, revive_after_s: float | None) -> None:
        await self.stop()
        if revive_after_s is not None:
            loop = asyncio.get_running_loop()
            self._revive_handle = loop.call_later(
                revive_after_s, lambda: self._track(loop.create_task(self._revive()))
            )

    async def _revive(self) -> None:
        self._revive_handle = None
        await self.start()

    def revive(self) -> concurrent.futures.Future[None]:
        """Start serving again at the same port, from any thread.

        Returns:
            A future that completes once the server listens again.
        """
        return self._submit(self._revive())

    def _submit(self, coro: Awaitable[None]) -> concurrent.futures.Future[None]:
        loop = self._loop
        if loop is None or loop.is_closed():
            raise RuntimeError("the lab server was never started")

        async def wrapper() -> None:
            await coro

        return asyncio.run_coroutine_threadsafe(wrapper(), loop)

    async def abort_connection(
        self, client: tuple[str, int], *, http_version: str, graceful: bool = False
    ) -> bool:
        """Reset (or close) the connection a request came in on (reset and truncate faults).

        What was already written is flushed first (bounded wait), so the peer sees the bytes
        sent before the fault. TCP connections (HTTP/1.1, HTTP/2) get a TCP RST, or a normal
        close when ``graceful``; a QUIC connection (HTTP/3) is closed at once with an
        application error. Must run on the server's loop (as the ASGI app does).

        Args:
            client: The ASGI scope's ``client`` (address and port of the peer).
            http_version: The ASGI scope's ``http_version`` (``"1.1"``, ``"2"`` or ``"3"``).
            graceful: Close TCP normally (FIN) instead of resetting it.

        Returns:
            Whether a connection was found and acted on.
        """
        key = (str(client[0]), int(client[1]))
        if http_version == "3":
            return await self._abort_quic(key)
        transport = self._tcp.get(key)
        if transport is None:
            return False
        deadline = time.monotonic() + _FLUSH_TIMEOUT_S
        while transport.get_write_buffer_size() > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        if graceful:
            transport.close()
            return True
        await asyncio.sleep(_FLUSH_TIMEOUT_S / 10)  # let the kernel hand the bytes to the peer
        self._tcp.pop(key, None)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _SO_LINGER_RESET)
        transport.abort()
        return True

    async def _abort_quic(self, key: tuple[str, int]) -> bool:
        protocol = getattr(self._udp_protocol, "protocol", None)
        connections = getattr(protocol, "connections", {})
        for connection in list(connections.values()):
            h3 = connection.h3
            if h3 is not None and h3.client is not None and tuple(h3.client[:2]) == key:
                connection.quic.close(error_code=0x101, reason_phrase="lab fault: reset")
                await protocol.send_all(connection)  # type: ignore[union-attr]
                return True
        return False

    def start_in_thread(self) -> LabServerThread:
        """Start the server on its own event loop in a daemon thread.

        Returns:
            A synchronous handle: ``stop()``, ``start()``, ``base_url``, ``ca_file``.
        """
        handle = LabServerThread(self)
        handle.start()
        return handle


class LabServerThread(ThreadedPart):
    """A ``LabServer`` running on its own event loop in a daemon thread (synchronous API).

    Usable from pytest fixtures and command lines. ``stop()`` is bounded in time and frees
    the ports; ``start()`` again serves at the same port.

    Args:
        server: The server to run; it must not be running on another loop.
    """

    def __init__(self, server: LabServer) -> None:
        super().__init__(
            name="lab-server",
            start=server.start,
            stop=server.stop,
            start_timeout_s=_START_TIMEOUT_S,
            stop_timeout_s=_STOP_TIMEOUT_S + 2 * _GRACEFUL_S + 1.0,
        )
        self.server = server

    @property
    def base_url(self) -> str:
        """``https://host:port`` of the server."""
        return self.server.base_url

    @property
    def ca_file(self) -> str:
        """Path of the CA certificate (PEM) that clients must trust."""
        return self.server.ca_file

    @property
    def port(self) -> int:
        """The port number, the same for TCP and UDP."""
        return self.server.port
