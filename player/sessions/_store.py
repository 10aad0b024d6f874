"""The session service's state on SQLite: received heartbeats, positions, sessions.

Synchronous and clock-free: every method takes ``now`` (the service's wall clock, Unix
seconds). The ASGI app runs it on one worker thread, which also serialises writes.

What a client sends is trusted only as far as it cannot change what the service decides
for other sessions: liveness and the stream limit are judged on ``now``, the time the
service received a heartbeat, never on the heartbeat's ``ts``; ``ts`` only orders positions.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from player.config import SessionServiceConfig
from player.errors import HeartbeatError
from player.heartbeat._model import Heartbeat, HeartbeatAction, HeartbeatReply

__all__ = ["ActiveSession", "SessionConflict", "SessionStore", "StoredPosition"]

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
_SAME_HEARTBEAT = """
SELECT session_id, seq, title_id, device_id, position_s, state, bitrate_bps, buffer_s, ts
FROM heartbeats WHERE viewer_id = ? AND id = ?
"""


class SessionConflict(Exception):
    """A heartbeat contradicts what the service stored; the request is refused (409).

    Args:
        error: Stable error code for the answer: ``"id_conflict"`` or ``"session_conflict"``.
        detail: What conflicts, for the answer's ``detail``.
    """

    def __init__(self, error: str, detail: str) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail


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

    - A heartbeat id is stored once per viewer; a repeat of the same heartbeat changes no
      stored data (de-duplication). An id re-used for a different heartbeat is a
      :class:`SessionConflict`, and so is a session id re-used by another device or title.
    - The position per (viewer, title) is the one with the greatest ``(ts, seq, device_id)``:
      last writer wins by the device's clock, whatever order heartbeats arrive in.
    - A session is active from a heartbeat the service receives until it reports
      ``ended``/``error``, is terminated, or the service receives nothing of it for
      ``session_timeout_s``. Every heartbeat received (a repeat too) counts as a sign of life
      at ``now``, whatever its ``ts``: the service cannot tell a late delivery from a live
      stream without trusting the device's clock.
    - When, at the end of a request, sessions that became active in it make more than
      ``max_streams`` active, the oldest active sessions are terminated (reason
      ``"stream_limit"``); their next heartbeat is answered ``terminate``. A session that
      starts and ends within one request (a whole offline session delivered late) never
      counts.

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
            now: Service wall clock when they were received, Unix seconds.

        Returns:
            ``terminate`` if one of their sessions is terminated, else ``continue``.

        Raises:
            SessionConflict: A heartbeat re-uses an id or a session id for something else; nothing
                of the request is stored.
        """
        sessions: dict[tuple[str, str], None] = {}  # in order of first appearance
        started: set[str] = set()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for hb in heartbeats:
                    sessions[(hb.viewer_id, hb.session_id)] = None
                    if self._record_one(hb, now=now):
                        started.add(hb.viewer_id)
                for viewer_id in sorted(started):
                    self._enforce_limit(viewer_id, now=now)
                reason = self._termination_reason(list(sessions))
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

    def _record_one(self, hb: Heartbeat, *, now: float) -> bool:
        """Store one heartbeat; return whether its session became active (new or revived)."""
        row = self._db.execute(
            "SELECT device_id, title_id, status, last_seen FROM sessions"
            " WHERE viewer_id = ? AND session_id = ?",
            (hb.viewer_id, hb.session_id),
        ).fetchone()
        if row is not None and (row[0], row[1]) != (hb.device_id, hb.title_id):
            raise SessionConflict(
                "session_conflict",
                f"session {hb.session_id!r} belongs to another device or title",
            )
        inserted = self._db.execute(
            "INSERT OR IGNORE INTO heartbeats (viewer_id, id, session_id, seq, title_id,"
            " device_id, position_s, state, bitrate_bps, buffer_s, ts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (hb.viewer_id, hb.id, hb.session_id, *_content(hb)),
        ).rowcount
        if not inserted:
            self._check_repeat(hb)
        if row is not None and row[2] == "terminated":
            return False
        if inserted:
            self._db.execute(_UPSERT_POSITION, {
                "viewer_id": hb.viewer_id, "title_id": hb.title_id, "position_s": hb.position_s,
                "device_id": hb.device_id, "ts": hb.ts, "seq": hb.seq,
            })  # fmt: skip
        return self._update_session(hb, row, is_repeat=not inserted, now=now)

    def _check_repeat(self, hb: Heartbeat) -> None:
        stored = self._db.execute(_SAME_HEARTBEAT, (hb.viewer_id, hb.id)).fetchone()
        if tuple(stored) != (hb.session_id, *_content(hb)):
            raise SessionConflict(
                "id_conflict", f"heartbeat id {hb.id!r} was already used for another heartbeat"
            )

    def _update_session(
        self,
        hb: Heartbeat,
        row: tuple[str, str, str, float] | None,
        *,
        is_repeat: bool,
        now: float,
    ) -> bool:
        """Apply a received heartbeat to its session (not terminated); return if it started."""
        is_final = hb.state in _FINAL_STATES
        if row is None:
            self._db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (hb.viewer_id, hb.session_id, hb.device_id, hb.title_id, now, now,
                 "ended" if is_final else "active"),
            )  # fmt: skip
            return not is_final
        was_live = row[2] == "active" and row[3] >= now - self._config.session_timeout_s
        if is_repeat and (row[2] != "active" or is_final):
            return False  # a repeat is a sign of life, never a change of state
        status = "ended" if is_final else "active"
        is_start = status == "active" and not was_live  # a returning session is new again
        self._db.execute(
            "UPDATE sessions SET last_seen = ?, status = ?, started_at = coalesce(?, started_at)"
            " WHERE viewer_id = ? AND session_id = ?",
            (now, status, now if is_start else None, hb.viewer_id, hb.session_id),
        )
        return is_start

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

    def _termination_reason(self, sessions: list[tuple[str, str]]) -> str | None:
        """Return why the first terminated session of ``sessions`` was terminated, if any."""
        for key in sessions:
            row = self._db.execute(
                "SELECT reason FROM sessions"
                " WHERE viewer_id = ? AND session_id = ? AND status = 'terminated'",
                key,
            ).fetchone()
            if row is not None:
                return str(row[0])
        return None


def _content(hb: Heartbeat) -> tuple[object, ...]:
    """The stored fields of a heartbeat after its ids, in the table's column order."""
    return (hb.seq, hb.title_id, hb.device_id, hb.position_s, hb.state, hb.bitrate_bps,
            hb.buffer_s, hb.ts)  # fmt: skip
