"""The relays inside ``NetworkEmulator``: a shaped bottleneck link, delay lines, UDP and TCP.

Private to the lab: ``NetworkEmulator`` owns the parameters and counters these read.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, cast

if TYPE_CHECKING:
    from transport.lab._emulator import NetworkEmulator

__all__ = ["Transmission"]

_TCP_CHUNK_S = 0.01
"""Downlink TCP bytes are read in pieces worth this much link time: smooth at any rate."""

_TCP_CHUNK_MIN_BYTES = 1500
"""Smallest TCP read (one MTU-sized segment) so slow links do not degrade into tiny reads."""

_TCP_CHUNK_MAX_BYTES = 64 * 1024
"""Largest TCP read; bounds what the relay holds per connection."""

CONNECT_TIMEOUT_S = 5.0
"""Bound on the relay's connection to the target (and on the emulator's start/stop)."""

_WRITE_HIGH_BYTES = 256 * 1024
"""Client-side write buffer above which the downlink pump waits for the client to read."""

_TRANSMISSION_LOG_LEN = 100_000
"""Downlink transmissions the link remembers (a 10 s transfer at 2 Mbit/s is ~2,000)."""


class Transmission(NamedTuple):
    """One piece of downlink traffic on the emulated bottleneck, as the link scheduled it."""

    start_s: float
    """Loop time the piece started on the link (after what was queued before it)."""

    end_s: float
    """Loop time its last bit left the link (delivery is ``delay_s`` later)."""

    nbytes: int
    """Its size: a UDP datagram, or a piece of a TCP stream."""


class Link:
    """A FIFO bottleneck: reserves transmission time for each piece of traffic.

    It keeps its own account of what it sent and when (``busy_s``, ``nbytes``,
    ``transmissions``): the schedule the shaping decided, independent of how promptly the
    event loop then carried it out.
    """

    def __init__(self, transmit_end: Callable[[float, int], float]) -> None:
        self._transmit_end = transmit_end
        self.next_free = 0.0
        self.busy_s = 0.0
        self.nbytes = 0
        self.transmissions: collections.deque[Transmission] = collections.deque(
            maxlen=_TRANSMISSION_LOG_LEN
        )

    def backlog_s(self, now: float) -> float:
        """Time the traffic already queued still needs, seconds."""
        return max(0.0, self.next_free - now)

    def reserve(self, nbytes: int, now: float) -> float:
        """Queue ``nbytes`` and return (loop time) when their transmission ends."""
        start = max(now, self.next_free)
        self.next_free = self._transmit_end(start, nbytes)
        self.busy_s += self.next_free - start
        self.nbytes += nbytes
        self.transmissions.append(Transmission(start, self.next_free, nbytes))
        return self.next_free


class DelayLine:
    """Delivers items in order, each at its due loop time (batched per wake-up)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sink: Callable[[Any], None]) -> None:
        self._loop = loop
        self._sink = sink
        self._items: collections.deque[tuple[float, Any]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None

    def push(self, due: float, item: Any) -> None:
        self._items.append((due, item))
        if self._timer is None:
            self._timer = self._loop.call_at(due, self._flush)

    def _flush(self) -> None:
        self._timer = None
        now = self._loop.time()
        while self._items and self._items[0][0] <= now:
            _, item = self._items.popleft()
            try:
                self._sink(item)
            except (OSError, RuntimeError):
                pass  # the peer is gone: drop, as a network would
        if self._items:
            self._timer = self._loop.call_at(self._items[0][0], self._flush)

    @property
    def pending(self) -> bool:
        """Whether items wait for delivery."""
        return bool(self._items)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._items.clear()


class _UdpUpstream(asyncio.DatagramProtocol):
    """The relay's socket towards the target for one client address."""

    def __init__(self, relay: UdpRelay, client: tuple[str, int]) -> None:
        self.relay = relay
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None
        self.up: DelayLine | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.up = DelayLine(self.relay.emulator.loop, self._send_up)

    def _send_up(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data)
            self.relay.emulator.bytes_up += len(data)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.relay.downlink(data, self.client)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP unreachable from a dead target: the datagram is simply lost

    def close(self) -> None:
        if self.up is not None:
            self.up.close()
        if self.transport is not None:
            self.transport.close()


class UdpRelay(asyncio.DatagramProtocol):
    """The client-facing UDP socket: one upstream socket per client address."""

    def __init__(self, emulator: NetworkEmulator) -> None:
        self.emulator = emulator
        self.transport: asyncio.DatagramTransport | None = None
        self.upstreams: dict[tuple[str, int], _UdpUpstream] = {}
        self.pending: dict[tuple[str, int], list[bytes]] = {}
        self.down: DelayLine | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.down = DelayLine(self.emulator.loop, self._send_down)

    def _send_down(self, item: tuple[bytes, tuple[str, int]]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(item[0], item[1])
            self.emulator.bytes_down += len(item[0])

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        emulator = self.emulator
        if emulator.lose():
            return
        client = (str(addr[0]), int(addr[1]))
        upstream = self.upstreams.get(client)
        due = emulator.loop.time() + emulator.delay_s
        if upstream is not None and upstream.up is not None:
            upstream.up.push(due, data)
        elif client in self.pending:
            self.pending[client].append(data)
        else:
            self.pending[client] = [data]
            emulator.spawn(self._open_upstream(client))

    async def _open_upstream(self, client: tuple[str, int]) -> None:
        loop = self.emulator.loop
        try:
            _, upstream = await loop.create_datagram_endpoint(
                lambda: _UdpUpstream(self, client), remote_addr=self.emulator.target
            )
        except OSError:
            self.pending.pop(client, None)  # the datagrams are lost, as on a real network
            return
        if self.transport is None or self.transport.is_closing():
            upstream.close()  # the relay stopped while this socket was being opened
            return
        self.upstreams[client] = upstream
        for data in self.pending.pop(client, []):
            assert upstream.up is not None
            upstream.up.push(loop.time() + self.emulator.delay_s, data)

    def downlink(self, data: bytes, client: tuple[str, int]) -> None:
        emulator = self.emulator
        if emulator.lose():
            return
        now = emulator.loop.time()
        if emulator.link.backlog_s(now) > emulator.max_queue_s:
            emulator.datagrams_queue_dropped += 1
            return
        done = emulator.link.reserve(len(data), now)
        assert self.down is not None
        self.down.push(done + emulator.delay_s, (data, client))

    def close(self) -> None:
        for upstream in self.upstreams.values():
            upstream.close()
        self.upstreams.clear()
        if self.down is not None:
            self.down.close()
        if self.transport is not None:
            self.transport.close()


class TcpPipe:
    """One relayed TCP connection: uplink delayed, downlink shaped and delayed."""

    def __init__(self, emulator: NetworkEmulator, reader: Any, writer: Any) -> None:
        self.emulator = emulator
        self.client_reader: asyncio.StreamReader = reader
        self.client_writer: asyncio.StreamWriter = writer

    async def run(self) -> None:
        emulator = self.emulator
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*emulator.target), CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError):
            self.client_writer.transport.abort()
            return
        loop = emulator.loop
        closed = False
        up_line = DelayLine(loop, lambda d: self._write(up_writer, d, up=True))
        down_line = DelayLine(loop, lambda d: self._write(self.client_writer, d, up=False))
        try:
            await asyncio.gather(
                self._uplink(up_line), self._downlink(up_reader, down_line), return_exceptions=True
            )
            # let the bytes still in flight out, then close both sides normally (bounded)
            deadline = loop.time() + CONNECT_TIMEOUT_S
            while (up_line.pending or down_line.pending) and loop.time() < deadline:
                await asyncio.sleep(_TCP_CHUNK_S)
            up_writer.close()
            self.client_writer.close()
            closed = True
        finally:
            up_line.close()
            down_line.close()
            if not closed:  # cancelled (the emulator stops): drop both sides at once
                up_writer.transport.abort()
                self.client_writer.transport.abort()

    def _write(self, writer: asyncio.StreamWriter, data: bytes | None, *, up: bool) -> None:
        if writer.transport.is_closing():
            return
        if data is None:
            if writer.can_write_eof():
                writer.write_eof()
            return
        writer.write(data)
        if up:
            self.emulator.bytes_up += len(data)
        else:
            self.emulator.bytes_down += len(data)

    async def _uplink(self, line: DelayLine) -> None:
        loop = self.emulator.loop
        while True:
            data = await self.client_reader.read(_TCP_CHUNK_MAX_BYTES)
            line.push(loop.time() + self.emulator.delay_s, data or None)
            if not data:
                return

    async def _downlink(self, reader: asyncio.StreamReader, line: DelayLine) -> None:
        emulator, loop = self.emulator, self.emulator.loop
        while True:
            rate = emulator.current_rate_bps()
            want = _TCP_CHUNK_MAX_BYTES if rate is None else int(rate / 8 * _TCP_CHUNK_S)
            data = await reader.read(max(_TCP_CHUNK_MIN_BYTES, min(_TCP_CHUNK_MAX_BYTES, want)))
            now = loop.time()
            if not data:
                line.push(max(now, emulator.link.next_free) + emulator.delay_s, None)
                return
            done = emulator.link.reserve(len(data), now)
            line.push(done + emulator.delay_s, data)
            # read the next piece while this one is on the wire, so the link never idles
            await asyncio.sleep(max(0.0, done - now - _TCP_CHUNK_S))
            if self.client_writer.transport.get_write_buffer_size() > _WRITE_HIGH_BYTES:
                await self.client_writer.drain()
