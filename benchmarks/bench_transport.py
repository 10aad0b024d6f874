"""Transport benchmark: 50 MB over loopback with HTTP/3 (1200- and 1452-byte datagrams) and
HTTP/1.1 over TLS from the same lab server, plus failover time after an edge dies.

Run:  python benchmarks/bench_transport.py [--mb 50] [--runs 5] [--json]

The lab servers run in subprocesses (``python -m transport lab``), so the CPU time measured
(``time.process_time()`` of this process) is the client's alone; the server's CPU per MB
is read from /proc and printed too, since a Python HTTP/3 server is usually the bottleneck.
Each figure is the median of ``--runs`` downloads, each on a fresh client (handshake
included).

The datagram size of a download is the *server's*: aioquic sends up to its own configured
size and neither advertises nor honours ``max_udp_payload_size``. So each case starts the
lab with ``--datagram-size`` and sets the client to the same size.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from transport import HttpClient, Timeouts, TransportConfig

ROOT = Path(__file__).resolve().parents[1]


def start_lab(
    root: Path, edges: int, datagram_size: int = 1200
) -> tuple[subprocess.Popen[str], dict[str, object]]:
    command = ["-m", "transport", "lab", "--root", str(root), "--edges", str(edges)]
    command += ["--datagram-size", str(datagram_size)]
    # the server's log goes to a file: a SIGTERM mid-transfer makes Hypercorn log noise
    log = (root / f"server-{time.monotonic_ns()}.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, *command], stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT
    )
    log.close()
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError("lab did not start")
    return proc, json.loads(line)


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by another process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_download(
    cfg: TransportConfig, url: str, digest: str, server_pid: int
) -> tuple[float, float, float]:
    async with HttpClient(cfg) as client:
        server0 = process_cpu_s(server_pid)
        cpu0, t0 = time.process_time(), time.perf_counter()
        response = await client.fetch(url)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        server = process_cpu_s(server_pid) - server0
    if hashlib.sha256(response.content).hexdigest() != digest:
        raise RuntimeError(f"{url}: body differs")
    return wall, cpu, server


CASES = [
    ("HTTP/3, 1200-byte datagrams", "h3", 1200),
    ("HTTP/3, 1452-byte datagrams", "h3", 1452),
    ("HTTP/1.1 over TLS", "h1", 1200),
]


async def throughput(args: argparse.Namespace, root: Path, digest: str) -> list[dict[str, object]]:
    mb = args.mb * 1024 * 1024 / 1e6
    rows = []
    for name, protocol, size in CASES:
        proc, info = start_lab(root, 0, size)
        try:
            cfg = TransportConfig(
                protocol=protocol,  # type: ignore[arg-type]
                ca_file=str(info["ca_file"]),
                max_datagram_size=size,
                is_http2_enabled=False,
            )
            url = f"{info['origin']}/payload.bin"
            results = [await one_download(cfg, url, digest, proc.pid) for _ in range(args.runs)]
        finally:
            stop(proc)
        walls = [r[0] for r in results]
        row = {
            "case": name,
            "mb_per_s": round(mb / statistics.median(walls), 1),
            "cpu_s_per_mb": round(statistics.median(r[1] for r in results) / mb, 4),
            "server_cpu_s_per_mb": round(statistics.median(r[2] for r in results) / mb, 4),
            "runs_mb_per_s": [round(mb / w, 1) for w in walls],
        }
        rows.append(row)
        print(
            f"{name:30s} {row['mb_per_s']:7.1f} MB/s  client {row['cpu_s_per_mb']:.4f} CPU-s/MB"
            f"  (server {row['server_cpu_s_per_mb']:.4f})  runs {row['runs_mb_per_s']}",
            flush=True,
        )
    return rows


async def failover(root: Path, protocol: str, runs: int) -> float:
    """Median time from SIGKILL of the preferred edge to the first byte from the next one."""
    times = []
    for _ in range(runs):
        dead, info_dead = start_lab(root, 0)
        alive, info_alive = start_lab(root, 0)
        try:
            urls = [f"{info_dead['origin']}/small.bin", f"{info_alive['origin']}/small.bin"]
            cfg = TransportConfig(
                protocol=protocol,  # type: ignore[arg-type]
                ca_file=str(info_dead["ca_file"]),
                timeouts=Timeouts(connect_s=1.0, ttfb_s=2.0, stall_s=1.0, total_s=5.0),
            )
            # both labs have their own CA: trust the first; the second must use the same CA
            cfg_alive_ca = str(info_alive["ca_file"])
            bundle = Path(tempfile.mkdtemp()) / "bundle.pem"
            bundle.write_text(Path(str(cfg.ca_file)).read_text() + Path(cfg_alive_ca).read_text())
            cfg = TransportConfig(protocol=cfg.protocol, ca_file=str(bundle), timeouts=cfg.timeouts)
            async with HttpClient(cfg) as client:
                await client.fetch(urls)  # warm: pooled connection to the first edge
                dead.kill()
                dead.wait()
                died = time.perf_counter()
                async with client.stream(urls) as response:
                    first_byte = time.perf_counter()
                    assert response.edge == info_alive["origin"], response.edge
                    await response.read()
            times.append(first_byte - died)
        finally:
            stop(dead)
            stop(alive)
    return statistics.median(times)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        payload = os.urandom(args.mb * 1024 * 1024)
        (root / "payload.bin").write_bytes(payload)
        (root / "small.bin").write_bytes(os.urandom(10_000))
        digest = hashlib.sha256(payload).hexdigest()
        print(f"{args.mb} MB over loopback, median of {args.runs}")
        rows = await throughput(args, root, digest)
        fail_h3 = await failover(root, "h3", args.runs)
        fail_h1 = await failover(root, "h1", args.runs)
        print(
            f"failover (edge killed -> first byte from next edge): h3 {fail_h3 * 1000:.0f} ms, "
            f"h1/h2 {fail_h1 * 1000:.0f} ms"
        )
        if args.json:
            print(json.dumps({"throughput": rows, "failover_s": {"h3": fail_h3, "h1": fail_h1}}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="also print a JSON summary")
    asyncio.run(main(parser.parse_args()))
