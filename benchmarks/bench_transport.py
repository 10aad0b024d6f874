"""Transport benchmark: HTTP/3 client cost beside other HTTP/3 clients against Caddy, the
lab server's own figures, and failover time after an edge dies.

Run:  python benchmarks/bench_transport.py [--mb 50] [--runs 7] [--only caddy|lab|failover]

1. **Clients against Caddy** (the issue 14 comparison). Caddy (Debian package ``caddy``, Go,
   quic-go) serves a random file over HTTPS with HTTP/3 on loopback, with a certificate from
   the lab's test CA. It is not the bottleneck: it sends faster than any Python client can
   receive (its own CPU per MB is printed). Each client runs in a fresh subprocess and
   downloads the file once over HTTP/3 (no fallback allowed); the subprocess measures
   wall-clock and ``time.process_time()`` from just before the request to the complete body,
   so interpreter start-up and imports are excluded and the handshake is included. The SDK
   (``HttpClient``, protocol ``h3``, aioquic) runs beside both peers: niquests on qh3, and
   libcurl with ngtcp2 and nghttp3 (the build inside the PyPI package ``curl_cffi``; the
   Debian curl has no HTTP/3). The runs are interleaved (client order rotated each round),
   every body is checked against the file's SHA-256, and the table gives medians with the
   ratio of each client to niquests measured in the same rounds.
2. **Lab server**: 50 MB over HTTP/3 (1200- and 1452-byte datagrams) and HTTP/1.1 over TLS
   from the lab's Hypercorn server (``python -m transport lab``) in a subprocess. That server
   is the bottleneck over HTTP/3; its CPU per MB is printed.
3. **Failover**: from SIGKILL of the preferred edge to the first byte from the next one.

The peers are benchmark-only tools: ``pip install niquests curl_cffi`` (a missing one is
reported and skipped).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transport import HttpClient, Timeouts, TransportConfig
from transport.lab import TestCA

ROOT = Path(__file__).resolve().parents[1]
MB = 1e6


# -- client subprocesses (python bench_transport.py --client KIND URL CA) ------------------


def _client_sdk(url: str, ca: str) -> tuple[bytes, float, float, str]:
    bodies: list[bytes] = []

    async def run() -> tuple[float, float, str]:
        config = TransportConfig(protocol="h3", ca_file=ca)
        async with HttpClient(config) as client:
            t0, c0 = time.perf_counter(), time.process_time()
            response = await client.fetch(url)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        bodies.append(response.content)
        return wall, cpu, response.protocol

    # the body is not the coroutine's result: Python 3.11's asyncio.run formats the main
    # task, result included, when it restores the SIGINT handler (seconds for 50 MB)
    wall, cpu, protocol = asyncio.run(run())
    return bodies[0], wall, cpu, protocol


def _client_niquests(url: str, ca: str) -> tuple[bytes, float, float, str]:
    import niquests

    with niquests.Session(disable_http1=True, disable_http2=True) as session:
        t0, c0 = time.perf_counter(), time.process_time()
        response = session.get(url, verify=ca)
        body = response.content or b""
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return body, wall, cpu, f"HTTP/{response.http_version / 10:g}"


def _client_curl(url: str, ca: str) -> tuple[bytes, float, float, str]:
    from io import BytesIO

    from curl_cffi import Curl, CurlHttpVersion, CurlInfo, CurlOpt

    curl, sink = Curl(), BytesIO()
    curl.setopt(CurlOpt.URL, url.encode())
    curl.setopt(CurlOpt.CAINFO, ca.encode())
    curl.setopt(CurlOpt.HTTP_VERSION, CurlHttpVersion.V3ONLY)
    curl.setopt(CurlOpt.WRITEDATA, sink)
    t0, c0 = time.perf_counter(), time.process_time()
    curl.perform()
    body = sink.getvalue()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    version = curl.getinfo(CurlInfo.HTTP_VERSION)
    curl.close()
    return body, wall, cpu, "HTTP/3" if version == CurlHttpVersion.V3 else f"version {version}"


CLIENTS: dict[str, Callable[[str, str], tuple[bytes, float, float, str]]] = {
    "sdk (aioquic)": _client_sdk,
    "niquests 3 / qh3": _client_niquests,
    "libcurl / ngtcp2": _client_curl,
}
PEER = "niquests 3 / qh3"


def client_main(kind: str, url: str, ca: str) -> int:
    body, wall, cpu, protocol = CLIENTS[kind](url, ca)
    record = {
        "bytes": len(body),
        "wall_s": wall,
        "cpu_s": cpu,
        "protocol": protocol,
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    print(json.dumps(record))
    return 0


def client_available(kind: str) -> str | None:
    module = {"niquests 3 / qh3": "niquests", "libcurl / ngtcp2": "curl_cffi"}.get(kind)
    if module is None:
        return None
    probe = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
    )
    return None if probe.returncode == 0 else f"{module} is not installed"


# -- Caddy ----------------------------------------------------------------------------------


def free_port() -> int:
    """A port free on loopback for both TCP and UDP (Caddy serves HTTP/3 at the same one)."""
    for _ in range(50):
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free port")


def caddyfile(root: Path, ca: TestCA, port: int) -> str:
    # default_sni: clients send no SNI for an IP address (RFC 6066 section 3)
    return f"""{{
	admin off
	auto_https disable_redirects
	default_sni 127.0.0.1
	servers {{
		protocols h1 h2 h3
	}}
	log {{
		output discard
	}}
}}
https://127.0.0.1:{port} {{
	tls {ca.cert_file} {ca.key_file}
	root * {root}
	file_server
	log {{
		output discard
	}}
}}
"""


def start_caddy(root: Path, ca: TestCA, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = workdir / "Caddyfile"
    config.write_text(caddyfile(root, ca, port))
    env = {**os.environ, "HOME": str(workdir), "XDG_DATA_HOME": str(workdir)}
    log = (workdir / "caddy.log").open("wb")
    proc = subprocess.Popen(
        ["caddy", "run", "--config", str(config), "--adapter", "caddyfile"],
        stdout=log,
        stderr=log,
        env=env,
    )
    log.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"caddy exited: {(workdir / 'caddy.log').read_text()[-2000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                time.sleep(0.3)  # the UDP listener starts with the TCP one
                return proc, port
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("caddy did not start within 15 s")


def run_client(kind: str, url: str, ca: str, digest: str, server_pid: int) -> dict[str, Any]:
    server0 = process_cpu_s(server_pid)
    done = subprocess.run(
        [sys.executable, __file__, "--client", kind, url, ca],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    server = process_cpu_s(server_pid) - server0
    if done.returncode != 0:
        raise RuntimeError(f"{kind} failed: {done.stderr[-2000:]}")
    record: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    if record["sha256"] != digest:
        raise RuntimeError(f"{kind}: body differs ({record['bytes']} bytes)")
    if record["protocol"] not in ("h3", "HTTP/3"):
        raise RuntimeError(f"{kind} did not use HTTP/3: {record['protocol']}")
    record["server_cpu_s"] = server
    return record


def caddy_section(args: argparse.Namespace, root: Path, digest: str) -> list[dict[str, Any]]:
    size_mb = (root / "payload.bin").stat().st_size / MB
    kinds = []
    for kind in CLIENTS:
        missing = client_available(kind)
        if missing:
            print(f"skipped {kind}: {missing}")
        else:
            kinds.append(kind)
    with TestCA() as ca, tempfile.TemporaryDirectory() as work:
        proc, port = start_caddy(root, ca, Path(work))
        try:
            url = f"https://127.0.0.1:{port}/payload.bin"
            results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
            for round_ in range(args.runs):
                order = kinds[round_ % len(kinds) :] + kinds[: round_ % len(kinds)]
                for kind in order:
                    results[kind].append(run_client(kind, url, str(ca.ca_file), digest, proc.pid))
        finally:
            stop(proc)
    return caddy_table(results, size_mb, args.runs)


def caddy_table(
    results: dict[str, list[dict[str, Any]]], size_mb: float, runs: int
) -> list[dict[str, Any]]:
    rows = []
    peer = results.get(PEER)
    for kind, records in results.items():
        rates = [size_mb / r["wall_s"] for r in records]
        costs = [r["cpu_s"] / size_mb for r in records]
        row: dict[str, Any] = {
            "client": kind,
            "mb_per_s": statistics.median(rates),
            "cpu_s_per_mb": statistics.median(costs),
            "server_cpu_s_per_mb": statistics.median(r["server_cpu_s"] / size_mb for r in records),
            "runs_mb_per_s": [round(x, 1) for x in rates],
            "runs_cpu_s_per_mb": [round(x, 4) for x in costs],
        }
        if peer is not None:
            # ratios round by round (same moment, same machine load), then the median
            row["speed_vs_peer"] = statistics.median(
                p["wall_s"] / r["wall_s"] for r, p in zip(records, peer, strict=True)
            )
            row["cpu_vs_peer"] = statistics.median(
                r["cpu_s"] / p["cpu_s"] for r, p in zip(records, peer, strict=True)
            )
        rows.append(row)
    print(f"\nHTTP/3 from Caddy over loopback, {size_mb:.1f} MB, median of {runs} interleaved runs")
    print(f"(ratios: per round against {PEER}, then the median)")
    print(
        f"{'client':20s} {'MB/s':>7s} {'CPU-s/MB':>9s} {'speed vs peer':>14s} "
        f"{'CPU vs peer':>12s} {'Caddy CPU-s/MB':>15s}"
    )
    for row in rows:
        print(
            f"{row['client']:20s} {row['mb_per_s']:7.1f} {row['cpu_s_per_mb']:9.4f} "
            f"{row.get('speed_vs_peer', float('nan')):13.2f}x "
            f"{row.get('cpu_vs_peer', float('nan')):11.2f}x {row['server_cpu_s_per_mb']:15.4f}"
        )
    for row in rows:
        print(
            f"  {row['client']}: MB/s {row['runs_mb_per_s']}, CPU-s/MB {row['runs_cpu_s_per_mb']}"
        )
    return rows


# -- the lab server ------------------------------------------------------------------------


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


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


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


LAB_CASES = [
    ("HTTP/3, 1200-byte datagrams", "h3", 1200),
    ("HTTP/3, 1452-byte datagrams", "h3", 1452),
    ("HTTP/1.1 over TLS", "h1", 1200),
]


async def lab_section(args: argparse.Namespace, root: Path, digest: str) -> list[dict[str, Any]]:
    size_mb = (root / "payload.bin").stat().st_size / MB
    print(f"\nthe lab server (Hypercorn), {size_mb:.1f} MB, median of {args.runs}")
    rows = []
    for name, protocol, size in LAB_CASES:
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
            "mb_per_s": round(size_mb / statistics.median(walls), 1),
            "cpu_s_per_mb": round(statistics.median(r[1] for r in results) / size_mb, 4),
            "server_cpu_s_per_mb": round(statistics.median(r[2] for r in results) / size_mb, 4),
            "runs_mb_per_s": [round(size_mb / w, 1) for w in walls],
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
            # each lab has its own CA: trust both
            bundle = Path(tempfile.mkdtemp()) / "bundle.pem"
            bundle.write_text(
                Path(str(info_dead["ca_file"])).read_text()
                + Path(str(info_alive["ca_file"])).read_text()
            )
            cfg = TransportConfig(
                protocol=protocol,  # type: ignore[arg-type]
                ca_file=str(bundle),
                timeouts=Timeouts(connect_s=1.0, ttfb_s=2.0, stall_s=1.0, total_s=5.0),
            )
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
        payload = os.urandom(args.mb * 1_000_000)
        (root / "payload.bin").write_bytes(payload)
        (root / "small.bin").write_bytes(os.urandom(10_000))
        digest = hashlib.sha256(payload).hexdigest()
        del payload
        summary: dict[str, Any] = {"cpus": os.cpu_count(), "load_average": os.getloadavg()}
        print(f"load average at start: {summary['load_average']}")
        if args.only in (None, "caddy"):
            summary["caddy"] = caddy_section(args, root, digest)
        if args.only in (None, "lab"):
            summary["lab"] = await lab_section(args, root, digest)
        if args.only in (None, "failover"):
            fail_h3 = await failover(root, "h3", args.runs)
            fail_h1 = await failover(root, "h1", args.runs)
            summary["failover_s"] = {"h3": fail_h3, "h1": fail_h1}
            print(
                f"\nfailover (edge killed -> first byte from next edge): h3 {fail_h3 * 1000:.0f}"
                f" ms, h1/h2 {fail_h1 * 1000:.0f} ms"
            )
        summary["load_average_end"] = os.getloadavg()
        print(f"load average at end: {summary['load_average_end']}")
        if args.json:
            print(json.dumps(summary))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--client":
        sys.exit(client_main(sys.argv[2], sys.argv[3], sys.argv[4]))
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mb", type=int, default=50, help="size of the download (MB)")
    parser.add_argument("--runs", type=int, default=7, help="runs per client (interleaved)")
    parser.add_argument("--only", choices=("caddy", "lab", "failover"), help="one section only")
    parser.add_argument("--json", action="store_true", help="also print a JSON summary")
    asyncio.run(main(parser.parse_args()))
