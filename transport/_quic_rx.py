"""The receive fast path: aioquic's connection and HTTP/3 layer, minus the per-packet detours.

A download over HTTP/3 is tens of thousands of 1-RTT packets that each carry one in-order
STREAM frame continuing one HTTP/3 DATA frame. aioquic handles every packet with its general
code (every header form, every frame type, logging hooks, migration, reordering), which costs
about 30 microseconds of Python per packet: the whole CPU budget of a 40 MB/s transfer.

``FastQuicConnection.receive_datagrams`` handles exactly that common packet in a few lines and
hands every other one to aioquic unchanged: long headers, unknown connection IDs, key updates,
reordered or duplicate packet numbers, frames other than STREAM and PADDING, FIN, data out of
order or past a limit. A packet is only taken by the fast path after it was fully checked
(decrypted and every frame parsed) and before anything was changed, so falling back always
starts from the untouched datagram. The state it changes is the state aioquic's own receive
path changes for such a packet, in the same way (packet-number spaces, ACK ranges and timer,
idle deadline, spin bit, stream offsets, connection flow-control credit).

``H3Session.take_body`` does the same one level up: body bytes inside DATA frames go straight
to the response instead of through aioquic's HTTP/3 frame parser.

The fast path uses aioquic internals, so it is switched on only when the installed aioquic has
them (``is_fast_path_supported``); otherwise every packet takes the general path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from aioquic.h3.connection import FrameType, H3Connection, HeadersState
from aioquic.quic.connection import (
    MAX_STREAM_DATA_FRAME_CAPACITY,
    QuicConnection,
    QuicConnectionState,
)
from aioquic.quic.events import QuicEvent, StreamDataReceived
from aioquic.quic.packet import QuicFrameType
from aioquic.quic.recovery import MAX_ACK_RANGES, QuicPacketSpace
from aioquic.tls import Epoch
from cryptography.exceptions import InvalidTag

__all__: list[str] = []

_NONCE_BYTES = 12
_SAMPLE_BYTES = 16
_SAMPLE_OFFSET = 4
"""The header-protection sample starts 4 bytes after the packet number's offset (RFC 9001
section 5.4.2), whatever the packet number's length."""
_SAMPLE_END = _SAMPLE_OFFSET + _SAMPLE_BYTES
_FIXED_BIT_SHORT_HEADER = 0x40
_FORM_AND_FIXED_BITS = 0xC0
_SHORT_HEADER_PROTECTED_BITS = 0x1F
_RESERVED_BITS = 0x18
_KEY_PHASE_BIT = 0x04
_SPIN_BIT = 0x20
_STREAM_FRAME_FIRST = 0x08
_STREAM_FRAME_MASK = 0xF8
_STREAM_OFF_LEN = 0x0E
_STREAM_OFF = 0x0C
_STREAM_HAS_OFFSET = 0x04
_STREAM_HAS_LENGTH = 0x02
_CLIENT_UNI_STREAM = 0x02
_PN_LIMIT = 1 << 62
_DATA_FRAME = int(FrameType.DATA)


Sink = Callable[[int, list[bytes]], bool]
"""Takes in-order stream data (never a stream's end): ``(stream_id, chunks) -> taken``.

The chunks are the data of consecutive fast-path packets of one stream, in order."""


@dataclass
class StreamChunksReceived(QuicEvent):
    """In-order data of one stream from a run of fast-path packets (never the stream's end).

    Queued instead of a call to the sink when events of a general-path packet came before
    it, so that the order is kept.
    """

    stream_id: int
    chunks: list[bytes]


class _Keys(NamedTuple):
    """What receiving a 1-RTT packet needs, read once per run of fast packets."""

    cids: frozenset[bytes]
    pn_offset: int
    mask: Callable[[bytes | memoryview], bytes]
    decrypt: Callable[[bytes, bytes | memoryview, bytes], bytes]
    iv: int
    key_phase_bit: int
    space: QuicPacketSpace


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a QUIC variable-length integer at ``pos``; return it and the next offset.

    A truncated integer either raises ``IndexError`` or returns an offset past the end.

    >>> _varint(bytes([0x40, 0x25]), 0)
    (37, 2)
    >>> _varint(bytes([0x9D, 0x7F, 0x3E, 0x7D]), 0)
    (494878333, 4)
    """
    first = buf[pos]
    kind = first >> 6
    if kind == 0:
        return first, pos + 1
    if kind == 1:
        return ((first & 0x3F) << 8) | buf[pos + 1], pos + 2
    if kind == 2:
        return int.from_bytes(buf[pos : pos + 4], "big") & 0x3FFF_FFFF, pos + 4
    return int.from_bytes(buf[pos : pos + 8], "big") & 0x3FFF_FFFF_FFFF_FFFF, pos + 8


def is_fast_path_supported() -> bool:
    """Whether the installed aioquic has the internals the fast path relies on."""
    probe = QuicConnection.__dict__
    names = (
        "_payload_received",
        "_idle_timeout",
        "_write_stream_limits",
        "_on_max_stream_data_delivery",
    )
    return all(name in probe for name in names) and hasattr(QuicPacketSpace(), "received_packets")


_IS_SUPPORTED = is_fast_path_supported()


class FastQuicConnection(QuicConnection):
    """aioquic's client connection with a batch receive method and a 1-RTT fast path.

    Args:
        sink: Takes stream data from the fast path, ``(stream_id, chunks) -> taken``, once
            per batch and stream (before any datagram of the batch takes the general path);
            data it does not take is queued as ``StreamDataReceived`` events.
        **kwargs: ``QuicConnection``'s arguments.

    Attributes:
        fast_packets: Packets handled by the fast path (for tests and diagnostics).
        slow_packets: Datagrams handed to aioquic's general receive path.
    """

    fast_packets = 0
    slow_packets = 0
    _windowed: frozenset[int] = frozenset()
    _last_cid = b""
    """The connection ID the peer used last (it may use any we issued)."""

    def __init__(self, *, sink: Sink | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sink = sink
        self._pending: list[tuple[int, list[bytes]]] = []
        """Fast-path data for the sink, by runs of one stream, until the batch is flushed."""

    def use_window(self, stream_id: int) -> None:
        """Give a stream a sliding receive window instead of aioquic's doubling one.

        aioquic doubles a stream's limit whenever half of it was received, so a sender may
        run arbitrarily far ahead of a slow reader and overflow the socket buffer. A
        windowed stream's limit only moves when ``on_consumed`` says the reader took data.

        Args:
            stream_id: A stream this side opened (its initial limit stays as configured).
        """
        self._windowed = self._windowed | {stream_id}

    def on_consumed(self, stream_id: int, *, unread: int, window: int) -> bool:
        """Slide a windowed stream's limit after the reader took data.

        The limit becomes "delivered - unread + window" once that grants at least half a
        window more than the current one (so updates are batched).

        Args:
            stream_id: The stream.
            unread: Bytes delivered to the reader and not consumed yet.
            window: The most bytes the peer may send beyond what the reader consumed.

        Returns:
            True if the limit was raised: the caller must transmit (MAX_STREAM_DATA).
        """
        stream = self._streams.get(stream_id)
        if stream is None or stream_id not in self._windowed:
            return False
        target = stream.receiver.starting_offset() - unread + window
        if target - stream.max_stream_data_local < window // 2:
            return False
        stream.max_stream_data_local = target
        return True

    def forget_window(self, stream_id: int) -> None:
        """Stop tracking a finished or cancelled stream.

        Args:
            stream_id: The stream.
        """
        self._windowed = self._windowed - {stream_id}

    def _write_stream_limits(self, builder: Any, space: Any, stream: Any) -> None:
        if stream.stream_id not in self._windowed or self._quic_logger is not None:
            super()._write_stream_limits(builder, space, stream)
            return
        if stream.max_stream_data_local_sent != stream.max_stream_data_local:
            buf = builder.start_frame(
                QuicFrameType.MAX_STREAM_DATA,
                capacity=MAX_STREAM_DATA_FRAME_CAPACITY,
                handler=self._on_max_stream_data_delivery,
                handler_args=(stream,),
            )
            buf.push_uint_var(stream.stream_id)
            buf.push_uint_var(stream.max_stream_data_local)
            stream.max_stream_data_local_sent = stream.max_stream_data_local

    def receive_datagrams(
        self, datagrams: Sequence[bytes] | Sequence[memoryview], addr: Any, now: float
    ) -> None:
        """Handle datagrams received together, as ``receive_datagram`` would one by one.

        Stream data taken by the fast path goes to the sink, one call per stream and run of
        fast packets, while no event is queued before it (so the order of events is kept);
        otherwise it is queued as ``StreamDataReceived`` events. The caller then processes
        events and transmits once, as after ``receive_datagram``.

        Args:
            datagrams: The datagrams, in the order received (views are not kept).
            addr: The peer's address (the socket is connected to it).
            now: Loop time of the reception.
        """
        index, count, taken = 0, len(datagrams), 0
        while index < count:
            keys = self._fast_keys()
            if keys is not None:
                stop = self._receive_run(datagrams, index, keys, now)
                taken, index = taken + stop - index, stop
                if self._pending:
                    self._flush()
                if index == count:
                    break
            self.slow_packets += 1
            self.receive_datagram(bytes(datagrams[index]), addr, now)
            index += 1
        self.fast_packets += taken

    def next_stream_data(self, stream_id: int) -> list[bytes]:
        """Dequeue the next queued non-final ``StreamDataReceived`` events of one stream.

        After a general-path packet the rest of a batch is queued as events; this lets the
        caller take their data together.

        Args:
            stream_id: The stream of the event just taken.

        Returns:
            The data of the events removed, in order (possibly none).
        """
        events = self._events
        chunks: list[bytes] = []
        while events:
            event = events[0]
            if (
                type(event) is not StreamDataReceived
                or event.stream_id != stream_id
                or event.end_stream
            ):
                break
            chunks.append(event.data)
            events.popleft()
        return chunks

    def _flush(self) -> None:
        """Hand the data of the last run of fast packets to the sink, stream by stream."""
        pending, self._pending = self._pending, []
        events, sink = self._events, self._sink
        for stream_id, chunks in pending:
            if events:  # after events of a general-path packet: in order, as an event too
                events.append(StreamChunksReceived(stream_id=stream_id, chunks=chunks))
            elif sink is None or not sink(stream_id, chunks):
                events.extend(
                    StreamDataReceived(data=data, end_stream=False, stream_id=stream_id)
                    for data in chunks
                )

    def _fast_keys(self) -> _Keys | None:
        """Return the fast path's inputs, or ``None`` while it must not be used."""
        if not _IS_SUPPORTED or self._state is not QuicConnectionState.CONNECTED:
            return None
        if self._quic_logger is not None or not self._is_client or self._close_pending:
            return None
        try:
            recv = self._cryptos[Epoch.ONE_RTT].recv
            aead, protection = recv.aead, recv.hp
            space = self._spaces[Epoch.ONE_RTT]
            if aead is None or protection is None or protection._is_chacha20:
                return None
            if space.discarded or not self._handshake_complete:
                return None
            space.received_packets._received.add  # noqa: B018 - probe the internals
            return _Keys(
                cids=frozenset(cid.cid for cid in self._host_cids),
                pn_offset=1 + self._configuration.connection_id_length,
                mask=protection._encryptor.update,
                decrypt=aead._aead.decrypt,
                iv=aead._iv,
                key_phase_bit=_KEY_PHASE_BIT if recv.key_phase else 0,
                space=space,
            )
        except AttributeError:  # an aioquic whose internals differ: general path only
            return None

    def _receive_run(
        self, datagrams: Sequence[bytes] | Sequence[memoryview], index: int, keys: _Keys, now: float
    ) -> int:
        """Receive ``datagrams[index:]`` on the fast path until one needs the general path.

        Each datagram must be a short-header packet for our connection ID in the current key
        phase, newer than any packet received, authentic, and made of STREAM frames that
        ``_accept_frames`` takes; the first one that is not ends the run, unchanged.

        Returns:
            The index of the first datagram not taken (``len(datagrams)`` if all were).
        """
        cids, pn_offset, mask, decrypt, iv, key_phase_bit, space = keys
        cid = self._last_cid if self._last_cid in cids else next(iter(cids))
        cid_int, first_shift = int.from_bytes(cid, "big"), 8 * len(cid)
        sample_at, sample_end = pn_offset + _SAMPLE_OFFSET, pn_offset + _SAMPLE_END
        expected, largest = space.expected_packet_number, space.largest_received_packet
        run_start = run_stop = largest + 1
        spin_first = 0
        accept = self._accept_frames
        stop = len(datagrams)
        while index < stop:
            data = datagrams[index]
            first = data[0]
            if (
                first & _FORM_AND_FIXED_BITS != _FIXED_BIT_SHORT_HEADER
                or len(data) < sample_end  # a short sample would stay buffered in the ECB
            ):
                break
            if data[1:pn_offset] != cid:  # the peer may use any connection ID we issued
                if bytes(data[1:pn_offset]) not in cids:
                    break
                cid = bytes(data[1:pn_offset])
                cid_int = int.from_bytes(cid, "big")
            protection = mask(data[sample_at:sample_end])
            first ^= protection[0] & _SHORT_HEADER_PROTECTED_BITS
            if first & _RESERVED_BITS or first & _KEY_PHASE_BIT != key_phase_bit:
                break  # aioquic closes the connection, or performs the key update
            pn_length = (first & 3) + 1
            pn_end = pn_offset + pn_length
            if pn_length == 2:  # the usual lengths, without slices
                truncated = (data[pn_offset] ^ protection[1]) << 8 | (
                    data[pn_offset + 1] ^ protection[2]
                )
            elif pn_length == 1:
                truncated = data[pn_offset] ^ protection[1]
            else:
                truncated = int.from_bytes(data[pn_offset:pn_end], "big") ^ int.from_bytes(
                    protection[1 : pn_length + 1], "big"
                )
            pn_bits = pn_length * 8
            window = 1 << pn_bits  # RFC 9000 appendix A.3, as decode_packet_number
            number = (expected & ~(window - 1)) | truncated
            if number <= expected - (window >> 1) and number < _PN_LIMIT - window:
                number += window
            elif number > expected + (window >> 1) and number >= window:
                number -= window
            if number <= largest:
                break  # reordered or duplicate: aioquic's window decides
            # the header as sent: first byte, connection ID, truncated packet number
            header = ((first << first_shift | cid_int) << pn_bits | truncated).to_bytes(
                pn_end, "big"
            )
            try:
                payload = decrypt((iv ^ number).to_bytes(12, "big"), data[pn_end:], header)
            except InvalidTag:
                break
            if not accept(payload):
                break
            if number > expected:
                expected = number + 1
            if number != run_stop:
                _add_run(space, run_start, run_stop)
                run_start = number
            run_stop, largest, spin_first = number + 1, number, first
            index += 1
        self._last_cid = cid
        if largest > space.largest_received_packet:
            _add_run(space, run_start, run_stop)
            space.expected_packet_number = expected
            space.largest_received_packet = largest
            space.largest_received_time = now
            space.received_packets.add(largest)  # slides the duplicate window
            if largest > self._spin_highest_pn:
                self._spin_bit = not spin_first & _SPIN_BIT
                self._spin_highest_pn = largest
            if space.ack_at is None:
                space.ack_at = now + self._ack_delay
            self._close_at = now + self._idle_timeout()  # before any later packet's own
            self._ack_eliciting_sent_since_receipt = False
        return index

    def _accept_frames(self, payload: bytes) -> bool:
        """Apply a payload of in-order, non-final STREAM frames (and PADDING).

        The common payload, one STREAM frame with an offset whose data ends the packet, is
        handled here; other shapes go to ``_stream_frames``.

        Returns:
            True if taken; False, with nothing changed, for any other payload.
        """
        try:
            frame_type = payload[0]
            if frame_type != _STREAM_OFF_LEN and frame_type != _STREAM_OFF:
                return self._accept_many(payload)
            pos = 2
            stream_id = payload[1]
            if stream_id >= 0x40:
                stream_id, pos = _varint(payload, 1)
            if payload[pos] >> 6 == 2:
                offset, pos = int.from_bytes(payload[pos : pos + 4], "big") & 0x3FFF_FFFF, pos + 4
            else:
                offset, pos = _varint(payload, pos)
            end = len(payload)
            if frame_type == _STREAM_OFF_LEN:
                if payload[pos] >> 6 == 1:
                    length, pos = ((payload[pos] & 0x3F) << 8) | payload[pos + 1], pos + 2
                else:
                    length, pos = _varint(payload, pos)
                if pos + length != end:
                    return self._accept_many(payload)
        except IndexError:
            return False
        stream = self._streams.get(stream_id)
        if stream is None or pos >= end or stream_id & 3 == _CLIENT_UNI_STREAM:
            return self._accept_many(payload)
        receiver = stream.receiver
        frame_end = offset + end - pos
        if (
            receiver._buffer
            or offset != receiver._buffer_start
            or receiver._final_size is not None
            or receiver.is_finished
            or frame_end > stream.max_stream_data_local
        ):
            return False
        limit = self._local_max_data
        gain = frame_end - receiver.highest_offset
        if gain > 0:
            if limit.used + gain > limit.value:
                return False
            limit.used += gain
            receiver.highest_offset = frame_end
        receiver._buffer_start = frame_end
        pending = self._pending
        if self._sink is None:
            self._deliver(stream_id, payload[pos:])
        elif pending and pending[-1][0] == stream_id:
            pending[-1][1].append(payload[pos:])
        else:
            pending.append((stream_id, [payload[pos:]]))
        return True

    def _accept_many(self, payload: bytes) -> bool:
        """``_accept_frames`` for the other payloads: several frames, PADDING, no offset."""
        frames = self._stream_frames(payload)
        if frames is None:
            return False
        limit = self._local_max_data
        for receiver, stream_id, start, stop, gain in frames:
            receiver._buffer_start += stop - start
            if receiver._buffer_start > receiver.highest_offset:
                receiver.highest_offset = receiver._buffer_start
            limit.used += gain
            self._deliver(stream_id, payload[start:stop])
        return True

    def _deliver(self, stream_id: int, data: bytes) -> None:
        """Queue in-order stream data for the sink (as an event without a sink)."""
        pending = self._pending
        if self._sink is None:
            self._events.append(
                StreamDataReceived(data=data, end_stream=False, stream_id=stream_id)
            )
        elif pending and pending[-1][0] == stream_id:
            pending[-1][1].append(data)
        else:
            pending.append((stream_id, [data]))

    def _stream_frames(self, payload: bytes) -> list[tuple[Any, int, int, int, int]] | None:
        """Parse in-order, non-final STREAM frames (and PADDING), or return ``None``.

        Returns:
            Per frame: the stream's receiver, the stream ID, where its data starts and stops
            in ``payload``, and how many bytes it adds to the connection's received total.
        """
        frames: list[tuple[Any, int, int, int, int]] = []
        pos, end, newly = 0, len(payload), 0
        streams = self._streams
        try:
            while pos < end:
                frame_type = payload[pos]
                if frame_type == 0:
                    pos += 1
                    continue
                if frame_type & _STREAM_FRAME_MASK != _STREAM_FRAME_FIRST or frame_type & 1:
                    return None  # not STREAM, or STREAM with FIN
                stream_id, pos = _varint(payload, pos + 1)
                offset = length = 0
                if frame_type & _STREAM_HAS_OFFSET:
                    offset, pos = _varint(payload, pos)
                if frame_type & _STREAM_HAS_LENGTH:
                    length, pos = _varint(payload, pos)
                else:
                    length = end - pos
                stream = streams.get(stream_id)
                if length <= 0 or pos + length > end or stream is None:
                    return None
                receiver = stream.receiver
                if (
                    stream_id & 3 == _CLIENT_UNI_STREAM
                    or receiver.is_finished
                    or receiver._final_size is not None
                    or receiver._buffer
                    or offset != receiver._buffer_start
                    or offset + length > stream.max_stream_data_local
                ):
                    return None
                gain = max(0, offset + length - receiver.highest_offset)
                newly += gain
                frames.append((receiver, stream_id, pos, pos + length, gain))
                pos += length
        except IndexError:
            return None
        limit = self._local_max_data
        if not frames or limit.used + newly > limit.value:
            return None
        return frames


def _add_run(space: QuicPacketSpace, start: int, stop: int) -> None:
    """Record packets ``start`` to ``stop - 1`` as received: ACK ranges, duplicate window."""
    if stop <= start:
        return
    space.received_packets._received.update(range(start, stop))
    ranges: list[range] = space.ack_queue._RangeSet__ranges  # type: ignore[attr-defined]
    if ranges and ranges[-1].stop == start:
        ranges[-1] = range(ranges[-1].start, stop)
    else:
        space.ack_queue.add(start, stop)
        if len(ranges) > MAX_ACK_RANGES:
            space.ack_queue.shift()


class H3Session(H3Connection):
    """aioquic's H3Connection, plus a DATA fast path and two things it lacks.

    It remembers a GOAWAY (aioquic skips the frame), and it does not hold a response to a
    HEAD request to its ``content-length`` (aioquic would fail the connection: RFC 9110
    section 9.3.2 says a HEAD response announces the length a GET would have).
    """

    is_goaway_received = False

    def __init__(self, quic: QuicConnection) -> None:
        super().__init__(quic)
        self.head_stream_ids: set[int] = set()

    def take_body(self, stream_id: int, chunks: list[bytes]) -> tuple[list[bytes], bytes] | None:
        """Take the body bytes of in-order request stream data, up to the first other frame.

        The bytes may continue a DATA frame, finish it and start more DATA frames (complete
        frame headers only): their payloads are taken and accounted for as aioquic's parser
        would. The first byte that is not that (a HEADERS frame such as trailers, another frame
        type, a frame header cut by the end of the data) stops it: that byte and all after it
        are the rest, for ``handle_event``.

        Args:
            stream_id: The request stream the chunks arrived on (not its end).
            chunks: The stream's next bytes, in order.

        Returns:
            ``(body, rest)``: the caller delivers the body pieces, then gives ``rest`` (if
            any) to ``handle_event``. ``None`` when the stream is in another state (headers not
            received yet, a frame partly buffered, a blocked stream): ``handle_event`` then
            takes all of it.
        """
        stream = self._stream.get(stream_id)
        if (
            stream is None
            or self._is_done
            or self._quic_logger is not None
            or stream.blocked
            or stream.buffer
            or stream.headers_recv_state is not HeadersState.AFTER_HEADERS
            or (stream.frame_type != _DATA_FRAME and stream.frame_type is not None)
        ):
            return None
        remaining = stream.frame_size or 0  # left in the current DATA frame; 0 at a boundary
        body: list[bytes] = []
        taken = 0
        rest = b""
        for index, chunk in enumerate(chunks):
            size = len(chunk)
            if size <= remaining:  # the common case: inside a DATA frame
                body.append(chunk)
                remaining -= size
                taken += size
                continue
            pos = 0
            while pos < size:
                if remaining:
                    piece = min(remaining, size - pos)
                    body.append(chunk[pos : pos + piece] if piece < size else chunk)
                    pos += piece
                    remaining -= piece
                    taken += piece
                    continue
                try:  # at the next frame's header: take it only if it is DATA and complete
                    frame_type, after = _varint(chunk, pos)
                    remaining, after = _varint(chunk, after)
                except IndexError:
                    remaining = 0
                    break
                if after > size or frame_type != _DATA_FRAME:
                    remaining = 0
                    break
                pos = after
            if pos < size:
                rest = b"".join([chunk[pos:], *chunks[index + 1 :]])
                break
        stream.content_length += taken
        if remaining:
            stream.frame_type, stream.frame_size = _DATA_FRAME, remaining
        else:
            stream.frame_type = stream.frame_size = None  # as aioquic leaves a finished frame
        return body, rest

    def _check_control_frame_type(self, frame_type: int) -> None:
        if frame_type == FrameType.GOAWAY:
            self.is_goaway_received = True
        super()._check_control_frame_type(frame_type)

    def _check_content_length(self, stream: Any) -> None:
        if stream.stream_id not in self.head_stream_ids:
            super()._check_content_length(stream)
