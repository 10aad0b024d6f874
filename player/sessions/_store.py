"""The session service's state on SQLite: received heartbeats, positions, sessions.

Synchronous and clock-free: every method takes ``now`` (the service's wall clock, Unix
seconds). The ASGI app runs it on one worker thread, which also serialises writes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from player.config import SessionServiceConfig
from player.errors import HeartbeatError
from player.heartbeat._model import Heartbeat, HeartbeatAction, HeartbeatReply

__all__ = ["ActiveSession", "SessionStore", "StoredPosition"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS heartbeats (
    received INTEGER PRIMARY KEY AUTOINCREMENT,
    viewer_id TEXT NOT NULL, id TEXT NOT NULL, session_id TEXT NOT NULL, seq INTEGER NOT NULL,
    title_id TEXT NOT NULL, device_id TEXT NOT NULL, position_s REAL NOT NULL,
    state TEXT NOT NULL, bitrate_bps INTEGER NOT NULL, buffer_s REAL NOT NULL, ts REAL NOT NULL,
    UNIQUE (viewer_id, id)
);
CREATE TABLE IF NOT EXISTS positions (
    viewer_id TEXT NOT NULL, title_id TEXT NOT NULL, position_s REAL NOT NULL,
    device_id TEXT NOT NULL, ts REAL NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (viewer_id, title_id)
);
CREATE TABLE IF NOT EXISTS sessions (
    viewer_id TEXT NOT NULL, session_id TEXT NOT NULL, device_id TEXT NOT NULL,
    title_id TEXT NOT NULL, started_at REAL NOT NULL, last_seen REAL NOT NULL,
    status TEXT NOT NULL, reason TEXT,
    PRIMARY KEY (viewer_id, session_id)
);
CREATE INDEX IF NOT EXISTS sessions_active ON sessions (viewer_id, status, started_at);
"""
_UPSERT_POSITION = """
INSERT INTO positions VALUES (:viewer_id, :title_id, :position_s, :device_id, :ts, :seq)
ON CONFLICT (viewer_id, title_id) DO UPDATE SET
    position_s = excluded.position_s, device_id = excluded.device_id,
    ts = excluded.ts, seq = excluded.seq
WHERE (excluded.ts, excluded.seq, excluded.device_id) > (positions.ts, positions.seq,
                                                         positions.device_id)
"""
_FINAL_STATES = ("ended", "error")


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredPosition:
    """The latest position of a viewer in a title."""

    position_s: float
    """Media position, seconds."""

    device_id: str
    """Device that reported it."""

    ts: float
    """Device timestamp of the heartbeat, Unix seconds."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ActiveSession:
    """A session counted against the viewer's stream limit."""

    session_id: str
    """Session id."""

    device_id: str
    """Device playing."""

    title_id: str
    """Title played."""

    started_at: float
    """Service time of its first heartbeat, Unix seconds."""

    last_seen: float
    """Service time of its latest heartbeat, Unix seconds."""


class SessionStore:
    """Heartbeats, positions and sessions in one SQLite file (WAL).

    Rules:

    - A heartbeat id is stored once per viewer; a repeated id changes nothing (de-duplication).
    - The position per (viewer, title) is the one with the greatest ``(ts, seq, device_id)``:
      last writer wins by the device's clock, whatever order heartbeats arrive in.
    - A session is active from its first heartbeat until it reports ``ended``/``error``, is
      terminated, or sends nothing for ``session_timeout_s``. A heartbeat whose ``ts`` is older
      than that (a late delivery from an outbox) updates the position but starts no session.
    - When a new session makes more than ``max_streams`` active, the oldest active sessions are
      terminated (reason ``"stream_limit"``); their next heartbeat is answered ``terminate``.

    Args:
        config: Service settings.
        path: SQLite file (created if missing), or ``":memory:"``.

    Raises:
        HeartbeatError: The database cannot be opened.
    """

    def __init__(self, config: SessionServiceConfig, path: str) -> None:
        self._config = config
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise HeartbeatError(f"cannot open session database {path}: {exc}") from exc

    def record(self, heartbeats: Sequence[Heartbeat], *, now: float) -> HeartbeatReply:
        """Store validated heartbeats of one viewer in one transaction, and answer them.

        Args:
            heartbeats: Heartbeats, already validated and authorised.
            now: Service wall clock, Unix seconds.

        Returns:
            ``terminate`` if one of their sessions was terminated, else ``continue``.
        """
        reason: str | None = None
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for hb in heartbeats:
                    reason = self._record_one(hb, now=now) or reason
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        if reason is not None:
            return HeartbeatReply(action=HeartbeatAction.TERMINATE, reason=reason)
        return HeartbeatReply(action=HeartbeatAction.CONTINUE)

    def position(self, viewer_id: str, title_id: str) -> StoredPosition | None:
        """Return the latest position of ``viewer_id`` in ``title_id``, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT position_s, device_id, ts FROM positions"
                " WHERE viewer_id = ? AND title_id = ?",
                (viewer_id, title_id),
            ).fetchone()
        if row is None:
            return None
        return StoredPosition(position_s=row[0], device_id=row[1], ts=row[2])

    def active_sessions(self, viewer_id: str, *, now: float) -> list[ActiveSession]:
        """Return the viewer's active sessions, oldest first."""
        with self._lock:
            rows = self._active(viewer_id, now=now)
        return [
            ActiveSession(session_id=s, device_id=d, title_id=t, started_at=a, last_seen=b)
            for s, d, t, a, b in rows
        ]

    def received(self, viewer_id: str) -> list[tuple[str, int]]:
        """Return ``(session_id, seq)`` of every stored heartbeat of a viewer, in arrival order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT session_id, seq FROM heartbeats WHERE viewer_id = ? ORDER BY received",
                (viewer_id,),
            ).fetchall()
        return [(s, q) for s, q in rows]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _active(self, viewer_id: str, *, now: float) -> list[tuple[str, str, str, float, float]]:
        rows: list[tuple[str, str, str, float, float]] = self._db.execute(
            "SELECT session_id, device_id, title_id, started_at, last_seen FROM sessions"
            " WHERE viewer_id = ? AND status = 'active' AND last_seen >= ?"
            " ORDER BY started_at, session_id",
            (viewer_id, now - self._config.session_timeout_s),
        ).fetchall()
        return rows

    def _record_one(self, hb: Heartbeat, *, now: float) -> str | None:
        """Store one heartbeat; return the termination reason of its session, if any."""
        values = {
            "viewer_id": hb.viewer_id,
            "title_id": hb.title_id,
            "position_s": hb.position_s,
            "device_id": hb.device_id,
            "ts": hb.ts,
            "seq": hb.seq,
        }
        inserted = self._db.execute(
            "INSERT OR IGNORE INTO heartbeats (viewer_id, id, session_id, seq, title_id,"
            " device_id, position_s, state, bitrate_bps, buffer_s, ts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (hb.viewer_id, hb.id, hb.session_id, hb.seq, hb.title_id, hb.device_id,
             hb.position_s, hb.state, hb.bitrate_bps, hb.buffer_s, hb.ts),
        ).rowcount  # fmt: skip
        key = (hb.viewer_id, hb.session_id)
        row = self._db.execute(
            "SELECT status, reason, last_seen FROM sessions WHERE viewer_id = ? AND session_id = ?",
            key,
        ).fetchone()
        if row is not None and row[0] == "terminated":
            return str(row[1])
        if not inserted:
            return None
        self._db.execute(_UPSERT_POSITION, values)
        self._update_session(hb, row, now=now)
        return None

    def _update_session(
        self, hb: Heartbeat, row: tuple[str, str | None, float] | None, *, now: float
    ) -> None:
        timeout_s = self._config.session_timeout_s
        is_final = hb.state in _FINAL_STATES
        if hb.ts < now - timeout_s:  # a late delivery: history, not a live stream
            if row is None:
                self._insert_session(hb, now=now, status="ended")
            return
        was_active = row is not None and row[0] == "active" and row[2] >= now - timeout_s
        if row is None:
            self._insert_session(hb, now=now, status="ended" if is_final else "active")
        else:
            started_at = now if not was_active else None  # a returning session is new again
            self._db.execute(
                "UPDATE sessions SET last_seen = ?, status = ?,"
                " started_at = coalesce(?, started_at) WHERE viewer_id = ? AND session_id = ?",
                (now, "ended" if is_final else "active", started_at, hb.viewer_id, hb.session_id),
            )
        if not was_active and not is_final:
            self._enforce_limit(hb.viewer_id, now=now)

    def _insert_session(self, hb: Heartbeat, *, now: float, status: str) -> None:
        self._db.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
            (hb.viewer_id, hb.session_id, hb.device_id, hb.title_id, now, now, status),
        )

    def _enforce_limit(self, viewer_id: str, *, now: float) -> None:
        active = self._active(viewer_id, now=now)
        excess = len(active) - self._config.max_streams
        if excess <= 0:
            return
        self._db.executemany(
            "UPDATE sessions SET status = 'terminated', reason = 'stream_limit'"
            " WHERE viewer_id = ? AND session_id = ?",
            [(viewer_id, row[0]) for row in active[:excess]],
        )
