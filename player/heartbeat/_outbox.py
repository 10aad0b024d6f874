"""The durable heartbeat outbox: an SQLite queue that survives crashes, bounded by a stated rule.

Every heartbeat is written here *before* it is sent and removed only once the service
answered, so a crash or ``SIGKILL`` at any instant loses nothing: what is left is sent at the
next start. A heartbeat sent but not yet removed when the process died is sent again; the
service drops it by its idempotency id.

The methods are synchronous file I/O; :class:`~player.HeartbeatDelivery` calls them through
``asyncio.to_thread``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from player.errors import HeartbeatError
from player.heartbeat._model import Heartbeat

__all__ = ["Outbox", "OutboxEntry", "OutboxStats"]

_log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    is_state_change INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_session ON outbox (session_id, rowid);
CREATE TABLE IF NOT EXISTS outbox_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_COUNTERS = ("coalesced", "dropped", "delivered", "rejected")
_COALESCE = """
SELECT o.rowid FROM outbox AS o
WHERE o.is_state_change = 0
  AND EXISTS (SELECT 1 FROM outbox AS n WHERE n.session_id = o.session_id AND n.rowid > o.rowid)
ORDER BY o.rowid LIMIT 1
"""


@dataclass(frozen=True, kw_only=True, slots=True)
class OutboxEntry:
    """One queued heartbeat."""

    rowid: int
    """Queue position; smaller was queued earlier."""

    session_id: str
    """Session of the heartbeat."""

    body: bytes
    """The heartbeat's JSON encoding, exactly as it will be sent."""


@dataclass(frozen=True, kw_only=True, slots=True)
class OutboxStats:
    """Counters of an outbox; they persist in its file across restarts."""

    pending: int
    """Heartbeats queued and not yet answered by the service."""

    coalesced: int
    """Periodic heartbeats removed unsent because a later heartbeat of their session is queued."""

    dropped: int
    """Heartbeats removed unsent because the outbox was full and nothing could be coalesced."""

    delivered: int
    """Heartbeats the service accepted."""

    rejected: int
    """Heartbeats the service refused for good (a 4xx such as 401, 403 or 422)."""


class Outbox:
    """SQLite (WAL, ``synchronous=FULL``) queue of heartbeats waiting for delivery.

    Bound rule: when ``max_heartbeats`` are queued and one more arrives, the oldest *periodic*
    heartbeat that has a later queued heartbeat of the same session is coalesced away (the later
    one carries a newer position); if there is none, the oldest heartbeat is dropped. State
    changes are thus kept longest. Both removals are counted in :class:`OutboxStats`.

    One process at a time should use a given file.

    Args:
        path: Database file, created if missing; ``None`` keeps the queue in memory only.
        max_heartbeats: Bound of the queue.

    Raises:
        HeartbeatError: The file cannot be opened or is not an outbox database.
    """

    def __init__(self, path: str | None, *, max_heartbeats: int) -> None:
        self._max = max_heartbeats
        self._lock = threading.Lock()
        self._where = path or ":memory:"
        try:
            self._db = sqlite3.connect(self._where, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._db.executemany(
                "INSERT OR IGNORE INTO outbox_counters VALUES (?, 0)", [(c,) for c in _COUNTERS]
            )
            (self._pending,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        except sqlite3.Error as exc:
            raise HeartbeatError(f"cannot open heartbeat outbox {self._where}: {exc}") from exc

    def put(self, heartbeat: Heartbeat, *, is_state_change: bool) -> None:
        """Queue a heartbeat durably, making room by the bound rule first.

        Args:
            heartbeat: The heartbeat.
            is_state_change: ``False`` for periodic heartbeats (they may be coalesced).

        Raises:
            HeartbeatError: The database failed (disk full, file removed, ...).
        """
        with self._lock, self._transaction():
            while self._pending >= self._max:
                self._evict()
            self._db.execute(
                "INSERT INTO outbox (session_id, is_state_change, body) VALUES (?, ?, ?)",
                (heartbeat.session_id, int(is_state_change), heartbeat.encode()),
            )
            self._pending += 1

    def peek_batch(self, limit: int) -> list[OutboxEntry]:
        """Return the oldest queued heartbeats of the session queued first, in order.

        Args:
            limit: Most entries returned.

        Returns:
            Up to ``limit`` entries of one session, oldest first; empty when nothing is queued.

        Raises:
            HeartbeatError: The database failed.
        """
        with self._lock, self._errors():
            first = self._db.execute(
                "SELECT session_id FROM outbox ORDER BY rowid LIMIT 1"
            ).fetchone()
            if first is None:
                return []
            rows = self._db.execute(
                "SELECT rowid, session_id, body FROM outbox WHERE session_id = ?"
                " ORDER BY rowid LIMIT ?",
                (first[0], limit),
            ).fetchall()
        return [OutboxEntry(rowid=r, session_id=s, body=bytes(b)) for r, s, b in rows]

    def remove(
        self, entries: Sequence[OutboxEntry], *, outcome: Literal["delivered", "rejected"]
    ) -> None:
        """Remove answered heartbeats and count them.

        Args:
            entries: Entries returned by :meth:`peek_batch`.
            outcome: Whether the service accepted or refused them.

        Raises:
            HeartbeatError: The database failed.
        """
        with self._lock, self._transaction():
            cursor = self._db.executemany(
                "DELETE FROM outbox WHERE rowid = ?", [(e.rowid,) for e in entries]
            )
            self._pending -= cursor.rowcount
            self._count(outcome, cursor.rowcount)

    def advance(
        self,
        entries: Sequence[OutboxEntry],
        *,
        outcome: Literal["delivered", "rejected"],
        limit: int,
    ) -> list[OutboxEntry]:
        """Remove answered heartbeats, then return the next batch (one trip to a thread).

        Args:
            entries: Entries returned by :meth:`peek_batch`.
            outcome: Whether the service accepted or refused them.
            limit: Most entries returned.

        Returns:
            As :meth:`peek_batch`.

        Raises:
            HeartbeatError: The database failed.
        """
        self.remove(entries, outcome=outcome)
        return self.peek_batch(limit)

    def stats(self) -> OutboxStats:
        """Return the counters.

        Raises:
            HeartbeatError: The database failed.
        """
        with self._lock, self._errors():
            counters = dict(self._db.execute("SELECT name, value FROM outbox_counters"))
        return OutboxStats(pending=self._pending, **{c: counters[c] for c in _COUNTERS})

    def close(self) -> None:
        """Close the database; queued heartbeats stay in the file."""
        with self._lock:
            self._db.close()

    def _evict(self) -> None:
        row = self._db.execute(_COALESCE).fetchone()
        counter = "coalesced"
        if row is None:
            row = self._db.execute("SELECT rowid FROM outbox ORDER BY rowid LIMIT 1").fetchone()
            counter = "dropped"
            _log.warning("heartbeat outbox full (%d): dropping the oldest heartbeat", self._max)
        self._db.execute("DELETE FROM outbox WHERE rowid = ?", row)
        self._pending -= 1
        self._count(counter, 1)

    def _count(self, name: str, n: int) -> None:
        self._db.execute("UPDATE outbox_counters SET value = value + ? WHERE name = ?", (n, name))

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise HeartbeatError(f"heartbeat outbox {self._where} failed: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._errors():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                (self._pending,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
                raise
            self._db.execute("COMMIT")
