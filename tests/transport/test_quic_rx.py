"""The QUIC receive fast path against a real aioquic server, in memory.

Datagrams go between the client (``FastQuicConnection`` + ``H3Session``, as the client uses
them) and an aioquic server with HTTP/3 through Python lists, so a test can reorder,
duplicate or drop them, switch connection IDs or keys mid-transfer, and then check the body
byte for byte, how many packets each path took, and what the server saw of the client's ACKs.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pylsqpack
import pytest
from aioquic.buffer import Buffer
from aioquic.h3.connection import H3_ALPN, FrameType, H3Connection, encode_frame
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import StreamDataReceived
from aioquic.quic.logger import QuicLogger
from aioquic.quic.packet import pull_quic_header
from aioquic.tls import Epoch

from transport._quic_rx import (
    FastQuicConnection,
    H3Session,
    StreamChunksReceived,
    is_fast_path_supported,
)
from transport.lab import TestCA

Mangle = Callable[[list[bytes], random.Random], list[bytes]]


class Headers(list[list[tuple[bytes, bytes]]]):
    """Header blocks received, in order."""


@dataclass
class Transfer:
    body: bytes
    status: bytes | None
    fast: int
    slow: int
    server_lost: int
    client: FastQuicConnection
    windows: list[tuple[int, int]] = field(default_factory=list)
    queued_runs: int = 0
    """Runs of fast-path data queued as events (after a general-path packet's events)."""


class Pair:
    """A client and an aioquic HTTP/3 server exchanging datagrams in memory."""

    ADDR = ("127.0.0.1", 4433)
    CLIENT_ADDR = ("127.0.0.1", 50000)

    def __init__(self, ca: TestCA, body: bytes, *, frame_bytes: int = 16_384) -> None:
        self.body = body
        self.frame_bytes = frame_bytes
        self.now = 1000.0
        client_conf = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN)
        client_conf.load_verify_locations(cafile=str(ca.ca_file))
        client_conf.server_name = "localhost"
        self.client = FastQuicConnection(configuration=client_conf, sink=self._sink)
        self.h3 = H3Session(self.client)
        self.logger = QuicLogger()
        self.server_conf = QuicConfiguration(
            is_client=False, alpn_protocols=H3_ALPN, quic_logger=self.logger
        )
        self.server_conf.load_cert_chain(str(ca.cert_file), str(ca.key_file))
        self.server: QuicConnection | None = None
        self.server_h3: H3Connection | None = None
        self.received = bytearray()
        self.status: bytes | None = None
        self.sent = 0
        self.request_id: int | None = None
        self.response_id: int | None = None
        self.queued_runs = 0

    def _sink(self, stream_id: int, chunks: list[bytes]) -> bool:
        if stream_id != self.request_id:
            return False
        taken = self.h3.take_body(stream_id, chunks)
        body, rest = taken if taken is not None else ([], b"".join(chunks))
        for piece in body:
            self.received += piece
        if rest:
            self._on_h3(self.h3.handle_event(StreamDataReceived(rest, False, stream_id)))
        return True

    def _on_h3(self, events: list[H3Event]) -> None:
        for event in events:
            if isinstance(event, HeadersReceived):
                self.status = dict(event.headers)[b":status"]
            elif isinstance(event, DataReceived):
                self.received += event.data

    def _client_events(self) -> None:
        while (event := self.client.next_event()) is not None:
            if isinstance(event, StreamChunksReceived):
                self.queued_runs += 1
                if not self._sink(event.stream_id, event.chunks):
                    for data in event.chunks:
                        event_ = StreamDataReceived(data, False, event.stream_id)
                        self._on_h3(self.h3.handle_event(event_))
            else:
                self._on_h3(self.h3.handle_event(event))

    def _server_events(self) -> None:
        assert self.server is not None and self.server_h3 is not None
        while (event := self.server.next_event()) is not None:
            for h3_event in self.server_h3.handle_event(event):
                if isinstance(h3_event, HeadersReceived) and self.response_id is None:
                    self.response_id = h3_event.stream_id
                    headers = [(b":status", b"200"), (b"content-length", b"%d" % len(self.body))]
                    self.server_h3.send_headers(self.response_id, headers)

    def _to_server(self) -> None:
        datagrams = [d for d, _ in self.client.datagrams_to_send(now=self.now)]
        if datagrams and self.server is None:
            header = pull_quic_header(Buffer(data=datagrams[0]), host_cid_length=8)
            self.server = QuicConnection(
                configuration=self.server_conf,
                original_destination_connection_id=header.destination_cid,
            )
            self.server_h3 = H3Connection(self.server)
        for datagram in datagrams:
            assert self.server is not None
            self.server.receive_datagram(datagram, self.CLIENT_ADDR, now=self.now)
        if self.server is not None:
            self._server_events()

    def _feed_body(self) -> None:
        assert self.server is not None and self.server_h3 is not None
        if self.response_id is None:
            return
        stream = self.server._streams[self.response_id]
        # keep a bounded backlog queued, as a server writing a file does
        while self.sent < len(self.body) and stream.sender.buffer_is_empty:
            piece = self.body[self.sent : self.sent + self.frame_bytes]
            self.sent += len(piece)
            self.server_h3.send_data(
                self.response_id, piece, end_stream=self.sent == len(self.body)
            )

    def run(
        self,
        *,
        mangle: Mangle | None = None,
        on_round: Callable[[Pair, int], None] | None = None,
        seed: int = 1,
        max_rounds: int = 20_000,
    ) -> Transfer:
        rng = random.Random(seed)
        windows: list[tuple[int, int]] = []
        self.client.connect(self.ADDR, now=self.now)
        for round_ in range(max_rounds):
            self._to_server()
            if self.request_id is None and self.client._handshake_complete:
                self.request_id = self.client.get_next_available_stream_id()
                self.client.use_window(self.request_id)
                request = [
                    (b":method", b"GET"),
                    (b":scheme", b"https"),
                    (b":authority", b"localhost"),
                    (b":path", b"/body"),
                ]
                self.h3.send_headers(self.request_id, request, end_stream=True)
            if self.server is None:
                continue
            self._feed_body()
            if on_round is not None:
                on_round(self, round_)
            datagrams = [d for d, _ in self.server.datagrams_to_send(now=self.now)]
            if mangle is not None:
                datagrams = mangle(datagrams, rng)
            for start in range(0, len(datagrams), 64):
                self.client.receive_datagrams(datagrams[start : start + 64], self.ADDR, self.now)
                self._client_events()
            if self.request_id is not None:
                stream = self.client._streams.get(self.request_id)
                if stream is not None:
                    windows.append((len(self.received), stream.max_stream_data_local))
                    self.client.on_consumed(self.request_id, unread=0, window=256 * 1024)
            if len(self.received) >= len(self.body) and self.sent >= len(self.body):
                break
            if not datagrams:  # idle: let timers (ACK delay, loss detection) fire
                self.now += 0.002
                for connection in (self.client, self.server):
                    timer = connection.get_timer()
                    if timer is not None and timer <= self.now:
                        connection.handle_timer(now=self.now)
                self._client_events()
        lost = sum(
            1
            for trace in self.logger.to_dict()["traces"]
            for event in trace["events"]
            if event["name"] == "recovery:packet_lost"
        )
        return Transfer(
            body=bytes(self.received),
            status=self.status,
            fast=self.client.fast_packets,
            slow=self.client.slow_packets,
            server_lost=lost,
            client=self.client,
            windows=windows,
            queued_runs=self.queued_runs,
        )


@pytest.fixture(scope="module")
def body() -> bytes:
    return random.Random(7).randbytes(3_000_000)


def test_the_installed_aioquic_gets_the_fast_path() -> None:
    # an aioquic upgrade whose internals moved must be noticed here, not as a slow client
    assert is_fast_path_supported()


def test_clean_transfer_takes_the_fast_path_and_acks_everything(
    lab_ca: TestCA, body: bytes
) -> None:
    result = Pair(lab_ca, body).run()
    assert result.status == b"200"
    assert result.body == body
    assert result.fast > 0.95 * (result.fast + result.slow)
    assert result.server_lost == 0  # every packet acknowledged: the ACK ranges are right


def drop_one_percent(datagrams: list[bytes], rng: random.Random) -> list[bytes]:
    return [d for d in datagrams if rng.random() >= 0.01]


def swap_neighbours(datagrams: list[bytes], rng: random.Random) -> list[bytes]:
    out = list(datagrams)
    for i in range(0, len(out) - 1, 7):
        if rng.random() < 0.5:
            out[i], out[i + 1] = out[i + 1], out[i]
    return out


def duplicate_some(datagrams: list[bytes], rng: random.Random) -> list[bytes]:
    out = []
    for d in datagrams:
        out.append(d)
        if rng.random() < 0.03:
            out.append(d)
    return out


@pytest.mark.parametrize("mangle", [drop_one_percent, swap_neighbours, duplicate_some])
def test_loss_reordering_and_duplicates_fall_back_and_recover(
    lab_ca: TestCA, body: bytes, mangle: Mangle
) -> None:
    result = Pair(lab_ca, body).run(mangle=mangle)
    assert result.body == body
    assert result.slow > 0  # the odd packets went the general way
    assert result.fast > result.slow  # and the path came back to the fast one
    assert result.queued_runs > 0  # fast packets after them, queued behind their events


def test_key_update_and_new_connection_id_midway(lab_ca: TestCA, body: bytes) -> None:
    cids: list[bytes] = []

    def switch(pair: Pair, round_: int) -> None:
        assert pair.server is not None
        if pair.sent > len(body) // 3 and not cids:
            cids.append(pair.client._last_cid)
            pair.server.request_key_update()
            pair.server.change_connection_id()

    result = Pair(lab_ca, body).run(on_round=switch)
    assert result.body == body
    assert result.client._cryptos[Epoch.ONE_RTT].recv.key_phase == 1  # followed the update
    assert result.client._last_cid not in (b"", cids[0])  # and the server's new CID
    assert result.fast > 0.9 * (result.fast + result.slow)  # in the new phase, with the new CID


def test_the_stream_window_slides_with_what_the_reader_took(lab_ca: TestCA, body: bytes) -> None:
    result = Pair(lab_ca, body).run()
    assert result.body == body
    initial = result.windows[0][1]
    for consumed, limit in result.windows:
        # aioquic alone doubles the limit whenever half of it arrived (up to 2x received)
        assert limit <= max(initial, consumed + 256 * 1024 + 64 * 1024)
    assert result.windows[-1][1] >= len(body)  # and it did grow to let the whole body in


def _h3_frames(rng: random.Random) -> tuple[bytes, bytes]:
    """A response stream: HEADERS, DATA frames of many sizes (empty too) with unknown frames
    between them, then trailers. Returns the stream's bytes and the body they carry."""
    encoder = pylsqpack.Encoder()
    frames = [encode_frame(FrameType.HEADERS, encoder.encode(0, [(b":status", b"200")])[1])]
    body = bytearray()
    for _ in range(60):
        if rng.random() < 0.8:
            data = rng.randbytes(rng.choice([0, 1, 5, 63, 64, 300, 1400, 20_000]))
            body += data
            frames.append(encode_frame(FrameType.DATA, data))
        else:  # a reserved frame type (RFC 9114 section 7.2.8): skipped by the parser
            frames.append(encode_frame(0x21, rng.randbytes(rng.choice([0, 10, 400]))))
    frames.append(encode_frame(FrameType.HEADERS, encoder.encode(0, [(b"x-trailer", b"1")])[1]))
    return b"".join(frames), bytes(body)


def test_take_body_splits_data_frames_as_aioquic_parses_them() -> None:
    # any cut of a stream into packets and of packets into batches: the same body, headers
    # and trailers as aioquic's own parser, whatever falls where (frame headers cut in two,
    # a frame ending a packet, empty DATA frames, unknown frames, trailers)
    rng = random.Random(3)
    raw, body = _h3_frames(rng)

    def h3_events(h3: H3Connection, data: bytes, out: bytearray, headers: Headers) -> None:
        for event in h3.handle_event(StreamDataReceived(data, False, 0)):
            if isinstance(event, DataReceived):
                out += event.data
            elif isinstance(event, HeadersReceived):
                headers.append(event.headers)

    def new(kind: type[H3Connection]) -> H3Connection:
        config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN)
        return kind(QuicConnection(configuration=config))

    reference, ref_headers = bytearray(), Headers()
    h3_events(new(H3Connection), raw, reference, ref_headers)
    assert bytes(reference) == body and len(ref_headers) == 2
    for _ in range(60):
        h3 = new(H3Session)
        assert isinstance(h3, H3Session)
        cuts = sorted(rng.sample(range(1, len(raw)), rng.randint(1, 300)))
        packets = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        got, headers = bytearray(), Headers()
        while packets:
            size = rng.randint(1, 6)
            batch, packets = packets[:size], packets[size:]
            taken = h3.take_body(0, batch)
            pieces, rest = taken if taken is not None else ([], b"".join(batch))
            for piece in pieces:
                got += piece
            if rest:
                h3_events(h3, rest, got, headers)
        assert bytes(got) == body
        assert headers == ref_headers
        assert h3._stream[0].content_length == len(body)
