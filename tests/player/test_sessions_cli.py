"""``python -m player sessions serve``: its flags, its one JSON line, HTTPS, clean exit."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
from heartbeat_support import heartbeat_json

ROOT = Path(__file__).resolve().parents[2]


def serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "player", "sessions", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_serve_prints_its_address_and_serves_https_until_terminated(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    proc = serve(
        "--db", str(db), "--token", "alice=t-a", "--token", "bob=t-b", "--max-streams", "1"
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert sorted(info) == ["base_url", "ca_file"]
        assert info["base_url"].startswith("https://127.0.0.1:")
        ctx = ssl.create_default_context(cafile=info["ca_file"])
        with httpx.Client(base_url=info["base_url"], verify=ctx, timeout=5.0) as client:
            headers = {"Authorization": "Bearer t-a", "Content-Type": "application/json"}
            now = time.time()  # the service runs on the real clock
            for n, device in enumerate(["tv", "phone"]):
                body = heartbeat_json(
                    id=f"{device}:0", session_id=device, device_id=device, ts=now + n
                )
                reply = client.post("/v1/heartbeats", content=json.dumps(body), headers=headers)
                assert reply.json() == {"action": "continue", "reason": None}
            again = heartbeat_json(id="tv:1", session_id="tv", seq=1, ts=now + 2)
            reply = client.post("/v1/heartbeats", content=json.dumps(again), headers=headers)
            # --max-streams 1: the phone ended the tv's session
            assert reply.json() == {"action": "terminate", "reason": "stream_limit"}
            got = client.get("/v1/positions/alice/title-1", headers={"Authorization": "Bearer t-b"})
            assert got.status_code == 403
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close() if proc.stdout else None
        proc.stderr.close() if proc.stderr else None
    assert db.exists()


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    for args in (["--token", "novalue"], ["--max-streams", "0"], ["--port", "70000"]):
        proc = serve("--db", str(tmp_path / "x.db"), *args)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 2, args
        assert "sessions serve" in err
