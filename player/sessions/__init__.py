"""The reference session service: heartbeats, resume positions and stream limits (ASGI, SQLite).

Serve it with ``python -m player sessions serve`` or, in tests, with
``transport.lab.LabServer(SessionService(...), ca=TestCA())``. See docs/heartbeats.md.
"""

from __future__ import annotations

from player.sessions._app import SessionService
from player.sessions._store import ActiveSession, SessionConflict, SessionStore, StoredPosition

__all__ = ["ActiveSession", "SessionConflict", "SessionService", "SessionStore", "StoredPosition"]
