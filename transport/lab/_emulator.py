"""Userspace network emulator: UDP (QUIC) and TCP relays shaped to a throughput trace.

``NetworkEmulator`` listens on one port number for both TCP and UDP and relays to a target
(a lab edge). Traffic towards the client (the downlink) goes through one shared bottleneck
``_Link`` that serialises bytes at the trace's rate; both directions get a fixed one-way
delay; UDP datagrams are dropped at random with probability ``loss`` (seeded) and when the
bottleneck queue holds more than ``max_queue_s`` of traffic (drop-tail). TCP relays carry
byte streams, so loss does not apply to them: their bytes are only shaped and delayed.

The emulator stops by itself after ``duration_s``. ``set_rate``/``throttle`` override the
trace at run time from any thread; ``restart_trace`` starts it over (aligns it with a session).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from transport.errors import TransportConfigError
from transport.lab._loop import AsyncStartStop, ThreadedPart
from transport.lab._relays import CONNECT_TIMEOUT_S, Link, TcpPipe, Transmission, UdpRelay
from transport.lab._server import bind_port_pair
from transport.lab._traces import PeriodTrace, ThroughputTrace

__all__ = ["EmulatorStats", "EmulatorThread", "NetworkEmulator"]


@dataclass(frozen=True, kw_only=True, slots=True)
class EmulatorStats:
    """Counters of a ``NetworkEmulator`` (a snapshot)."""

    bytes_down: int
    """Bytes delivered towards clients (TCP payload and UDP datagrams)."""

    bytes_up: int
    """Bytes delivered towards the target."""

    datagrams_lost: int
    """UDP datagrams dropped by the random loss."""

    datagrams_queue_dropped: int
    """UDP datagrams dropped because the bottleneck queue was full."""

    tcp_connections: int
    """TCP connections relayed so far."""

    link_bytes: int = 0
    """Downlink bytes the bottleneck link scheduled (shaped), datagrams dropped at its queue
    excluded."""

    link_busy_s: float = 0.0
    """Time the bottleneck link spent transmitting them, seconds, by its own schedule: with
    a constant rate, ``link_bytes * 8 / link_busy_s`` is that rate however busy the CPU was
    (an idle link, e.g. a sender starved of CPU, adds no busy time)."""


class NetworkEmulator(AsyncStartStop):
    """TCP and UDP relays in front of a target, shaped to a trace, with delay and loss.

    Clients connect to ``base_url`` (same port number for TCP and UDP) instead of the
    target's. Note that a server's ``Alt-Svc`` names its own port, not the relay's.

    Args:
        target: The target's ``https://host:port`` base URL or ``(host, port)``.
        trace: Downlink rate over time (looping); ``None`` leaves the rate unlimited. Any
            trace of periods is taken as it is, e.g. an ``abr.NetworkTrace`` from
            ``abr.parse_trace`` (every format: see ``transport.lab._traces``).
        delay_s: One-way delay added in each direction, seconds (RTT grows by twice this).
        loss: Probability that a UDP datagram is dropped, per datagram and direction.
        seed: Seed of the loss generator (``numpy.random.default_rng(seed)``).
        duration_s: The emulator stops by itself this many seconds after ``start()``.
        max_queue_s: Bottleneck buffer, in seconds of traffic at the current rate; UDP
            datagrams beyond it are dropped (drop-tail). 0.2 s is a typical access buffer.
        host: Listening address (loopback).
        port: Listening port for TCP and UDP; 0 picks one free on both.
    """

    def __init__(
        self,
        target: str | tuple[str, int],
        *,
        trace: ThroughputTrace | PeriodTrace | None = None,
        delay_s: float = 0.0,
        loss: float = 0.0,
        seed: int = 0,
        duration_s: float = 600.0,
        max_queue_s: float = 0.2,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if isinstance(target, str):
            parts = urlsplit(target)
            if parts.hostname is None or parts.port is None:
                raise TransportConfigError(f"target {target!r} needs a host and a port")
            target = (parts.hostname, parts.port)
        if delay_s < 0 or not 0 <= loss < 1 or duration_s <= 0 or max_queue_s <= 0:
            raise TransportConfigError(
                "need delay_s >= 0, 0 <= loss < 1, duration_s > 0 and max_queue_s > 0"
            )
        self.target = target
        if trace is not None and not isinstance(trace, ThroughputTrace):
            trace = ThroughputTrace.from_periods(trace)  # e.g. an abr.NetworkTrace
        self.trace: ThroughputTrace | None = trace
        self.delay_s = delay_s
        self.loss = loss
        self.duration_s = duration_s
        self.max_queue_s = max_queue_s
        self.host = host
        self.port = port
        self._rng = np.random.default_rng(seed)
        self._override: tuple[float | None, float] | None = None  # (rate, until monotonic)
        self._lock = threading.Lock()
        self.link = Link(self._transmit_end)
        self.bytes_down = self.bytes_up = 0
        self.datagrams_lost = self.datagrams_queue_dropped = self.tcp_connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started_at = 0.0
        self._server: asyncio.base_events.Server | None = None
        self._udp: UdpRelay | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._deadline: asyncio.TimerHandle | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the emulator runs on (once started)."""
        if self._loop is None:
            raise RuntimeError("the emulator is not started")
        return self._loop

    @property
    def base_url(self) -> str:
        """``https://host:port`` of the relay."""
        return f"https://{self.host}:{self.port}"

    @property
    def is_running(self) -> bool:
        """Whether the relays are up."""
        return self._server is not None

    def _override_rate(self) -> float | None:
        with self._lock:
            override = self._override
        if override is not None and (override[1] == 0 or time.monotonic() < override[1]):
            return override[0]
        return None

    def _transmit_end(self, start: float, nbytes: int) -> float:
        """Return the loop time at which ``nbytes`` started at ``start`` are sent."""
        rate = self._override_rate()
        if rate is not None:
            return start + nbytes * 8 / rate
        if self.trace is None:
            return start
        return self._started_at + self.trace.transmit_end(start - self._started_at, nbytes * 8)

    def current_rate_bps(self) -> float | None:
        """The downlink rate now, bit/s (``None``: unlimited)."""
        rate = self._override_rate()
        if rate is not None or self.trace is None:
            return rate
        return self.trace.rate_at(self.loop.time() - self._started_at)

    def set_rate(self, rate_bps: float | None) -> None:
        """Override the trace with a constant rate until called again (thread-safe).

        Args:
            rate_bps: The rate, bit/s; ``None`` returns to the trace.

        Raises:
            TransportConfigError: The rate is not positive.
        """
        if rate_bps is not None and rate_bps <= 0:
            raise TransportConfigError("rate_bps must be positive")
        with self._lock:
            self._override = None if rate_bps is None else (rate_bps, 0.0)

    def throttle(self, rate_bps: float, *, for_s: float) -> None:
        """Override the trace with ``rate_bps`` for ``for_s`` seconds (thread-safe).

        Args:
            rate_bps: The rate, bit/s.
            for_s: How long, seconds; afterwards the trace applies again.

        Raises:
            TransportConfigError: A value is not positive.
        """
        if rate_bps <= 0 or for_s <= 0:
            raise TransportConfigError("rate_bps and for_s must be positive")
        with self._lock:
            self._override = (rate_bps, time.monotonic() + for_s)

    def restart_trace(self) -> None:
        """Start the trace over from its beginning now (thread-safe).

        The trace's clock starts with ``start()``. A client whose session begins later calls
        this just before it, so that second ``t`` of the session meets second ``t`` of the
        trace, as in a simulation of the same trace (``python -m player fidelity``). Traffic
        already queued keeps its schedule.

        Raises:
            RuntimeError: The emulator is not started.
        """
        now = self.loop.time()  # the loop's clock is monotonic: readable from any thread
        with self._lock:
            self._started_at = now

    def lose(self) -> bool:
        """Draw the random loss for one datagram (counts it when lost)."""
        if self.loss > 0 and self._rng.random() < self.loss:
            self.datagrams_lost += 1
            return True
        return False

    def spawn(self, coro: Any) -> None:
        """Run a relay coroutine as a tracked task (cancelled on stop)."""
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def stats(self) -> EmulatorStats:
        """Return the counters so far."""
        return EmulatorStats(
            bytes_down=self.bytes_down,
            bytes_up=self.bytes_up,
            datagrams_lost=self.datagrams_lost,
            datagrams_queue_dropped=self.datagrams_queue_dropped,
            tcp_connections=self.tcp_connections,
            link_bytes=self.link.nbytes,
            link_busy_s=self.link.busy_s,
        )

    def transmissions(self) -> tuple[Transmission, ...]:
        """The downlink pieces the bottleneck link scheduled, oldest first (the last 100,000).

        Each one's ``nbytes * 8 / (end_s - start_s)`` is the rate the shaping applied to it:
        the trace's, or a ``throttle``/``set_rate`` override. Times are loop times.

        Returns:
            The transmissions.
        """
        return tuple(self.link.transmissions)

    async def start(self) -> None:
        """Bind the port (TCP and UDP) and start relaying; the stop timer starts now."""
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        tcp, udp = bind_port_pair(self.host, self.port, with_udp=True)
        assert udp is not None
        self.port = tcp.getsockname()[1]
        self._started_at = loop.time()
        self.link.next_free = self._started_at
        self._stopped = asyncio.Event()
        self._server = await asyncio.start_server(self._on_tcp, sock=tcp)
        _, self._udp = await loop.create_datagram_endpoint(lambda: UdpRelay(self), sock=udp)
        self._deadline = loop.call_later(self.duration_s, lambda: self.spawn(self.stop()))

    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.tcp_connections += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        with contextlib.suppress(asyncio.CancelledError):  # asyncio streams log a cancelled
            await TcpPipe(self, reader, writer).run()  # client_connected_cb task as an error

    async def stop(self) -> None:
        """Stop relaying: close the ports and every relayed connection (bounded)."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        if self._stopped is not None:
            self._stopped.set()

    async def wait_stopped(self) -> None:
        """Wait until the emulator has stopped (by ``stop()`` or at ``duration_s``)."""
        if self._stopped is not None:
            await self._stopped.wait()

    def start_in_thread(self) -> EmulatorThread:
        """Start on an event loop of its own in a daemon thread.

        Returns:
            A synchronous handle with ``stop()``.
        """
        handle = EmulatorThread(self)
        handle.start()
        return handle


class EmulatorThread(ThreadedPart):
    """A ``NetworkEmulator`` on its own event loop in a daemon thread (synchronous API).

    ``set_rate``/``throttle``/``stats`` of ``emulator`` work from any thread.

    Args:
        emulator: The emulator to run.
    """

    def __init__(self, emulator: NetworkEmulator) -> None:
        super().__init__(
            name="lab-emulator",
            start=emulator.start,
            stop=emulator.stop,
            start_timeout_s=CONNECT_TIMEOUT_S,
            stop_timeout_s=CONNECT_TIMEOUT_S,
        )
        self.emulator = emulator

    @property
    def base_url(self) -> str:
        """``https://host:port`` of the relay."""
        return self.emulator.base_url

    def stop(self) -> None:
        """Stop the relays and the loop thread (bounded in time; never raises)."""
        with contextlib.suppress(TimeoutError, RuntimeError):
            super().stop()
