"""Trace formats: readers, writers, round trips, detection, typed errors, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from abr_data import DATA, norway, sabre_set

import abr
from abr._cli import main

LOSSLESS = ("npz",)
"""Formats that keep every period bit for bit (the others store absolute times or other units,
so a period comes back to float rounding)."""


def _jpeg(path: Path) -> Path:
    """A real JPEG picture, encoded by FFmpeg's MJPEG encoder through PyAV."""
    out = av.open(str(path), mode="w", format="image2")
    stream = out.add_stream("mjpeg", rate=1)
    stream.width, stream.height, stream.pix_fmt = 32, 32, "yuvj420p"
    pixels = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
        out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    assert path.read_bytes()[:2] == b"\xff\xd8"
    return path


def _same(a: abr.NetworkTrace, b: abr.NetworkTrace, *, latency: bool, exact: bool) -> None:
    pairs = [(a.durations_s, b.durations_s), (a.bandwidth_bps, b.bandwidth_bps)]
    if latency:
        pairs.append((a.latency_s, b.latency_s))
    for x, y in pairs:
        if exact:
            assert np.array_equal(x, y)
        else:
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fmt", [f for f in abr.TRACE_FORMATS if f != "mahimahi"])
def test_round_trip_through_every_period_format(fmt: str) -> None:
    traces = [*norway()[:10], *sabre_set("3Glogs")[:5], *sabre_set("sd_fs")[:5]]
    for t in traces:
        data = abr.format_trace(t, fmt)
        assert abr.sniff_trace_format(data) == fmt  # detected from the content alone
        back = abr.parse_trace(data, name="detected-from-content")
        keeps_latency = fmt in ("npz", "csv", "sabre")
        _same(t, back, latency=keeps_latency, exact=fmt in LOSSLESS)
        if not keeps_latency:
            assert not back.latency_s.any()


def test_mahimahi_packets_per_millisecond() -> None:
    """12 Mbit/s is one 1500-byte packet per millisecond; 6 Mbit/s one every other."""
    flat = abr.NetworkTrace("f", np.array([1.0, 1.0]), np.array([12e6, 6e6]), np.zeros(2))
    text = abr.format_trace(flat, "mahimahi").decode()
    stamps = [int(x) for x in text.split()]
    assert len(stamps) == 1000 + 500 and stamps[:3] == [1, 2, 3] and stamps[-1] == 2000
    assert stamps[1000:1003] == [1002, 1004, 1006]
    back = abr.parse_trace(text.encode(), name="f.down")
    assert back.mean_bps == pytest.approx(9e6)
    assert back.durations_s.sum() == pytest.approx(2.0)


def test_mahimahi_round_trips_and_conserves_bytes() -> None:
    for t in [*norway()[:5], *sabre_set("4Glogs")[:3]]:
        once = abr.format_trace(t, "mahimahi")
        read = abr.parse_trace(once, fmt="mahimahi")
        assert abr.format_trace(read, "mahimahi") == once  # mahimahi -> periods -> mahimahi
        packets = len(once.split())
        loop_bytes = float(np.sum(t.durations_s * t.bandwidth_bps)) / 8.0
        assert loop_bytes - abr.MAHIMAHI_PACKET_BYTES < packets * 1500 <= loop_bytes
        assert read.durations_s.sum() <= np.sum(t.durations_s) + 1e-3


def test_oboe_intervals_and_gaps() -> None:
    """Two measured intervals with a gap between them: the gap gets the mean of their rates."""
    text = b"10 1000\n1010 1000\n1510 3000\n2510 3000\n"
    assert abr.sniff_trace_format(text) == "oboe"
    t = abr.parse_trace(text, name="trace_1.txt")
    assert t.durations_s.tolist() == pytest.approx([1.0, 0.5, 1.0])
    assert t.bandwidth_bps.tolist() == pytest.approx([1e6, 2e6, 3e6])
    with pytest.raises(abr.TraceFormatError, match="pairs"):
        abr.parse_trace(b"0 1\n1 1\n2 1\n", fmt="oboe")
    with pytest.raises(abr.TraceFormatError, match="overlap"):
        abr.parse_trace(b"0 1\n10 1\n5 2\n20 2\n", fmt="oboe")


def test_csv_layout() -> None:
    with_header = b"time_s,bandwidth_bps,latency_s\n0,1e6,0.02\n2,3e6,0.04\n5,1e6,0.02\n"
    t = abr.parse_trace(with_header)
    assert t.durations_s.tolist() == [2.0, 3.0]
    assert t.bandwidth_bps.tolist() == [1e6, 3e6] and t.latency_s.tolist() == [0.02, 0.04]
    bare = abr.parse_trace(b"10,1e6\n12,3e6\n15,1e6\n", fmt="csv")
    assert bare.durations_s.tolist() == [2.0, 3.0]
    with pytest.raises(abr.TraceFormatError, match="header"):
        abr.parse_trace(b"when,rate\n0,1\n1,1\n", fmt="csv")
    with pytest.raises(abr.TraceFormatError, match="at least two rows"):
        abr.parse_trace(b"0,1e6\n", fmt="csv")


@pytest.mark.parametrize(
    ("data", "fmt", "message"),
    [
        (b"", None, "not a network trace"),
        (b"hello world\n", None, "not a network trace"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", None, "binary data"),
        (b"PK\x03\x04garbage", None, "not a trace archive"),
        (b"0 1\n1 nan\n", "cooked", "finite"),
        (b"[1, 2]", "sabre", "not a Sabre network trace"),
        (b"3\n2\n", "mahimahi", "non-decreasing"),
        (b"0\n0\n", "mahimahi", "loop length"),
        (b"0,inf\n1,2\n", "csv", "finite"),
        (b"0 1\n1 2\n", "mp4", "unknown trace format"),
    ],
)
def test_bad_input_raises_typed_errors(data: bytes, fmt: str | None, message: str) -> None:
    with pytest.raises(abr.TraceFormatError, match=message) as info:
        abr.parse_trace(data, name="x", fmt=fmt)
    assert isinstance(info.value, abr.AbrError)


def test_a_jpeg_is_a_one_line_error_with_exit_status_2(tmp_path: Path) -> None:
    jpeg = _jpeg(tmp_path / "photo.jpg")
    with pytest.raises(abr.UnknownTraceFormat):
        abr.parse_trace(jpeg.read_bytes(), name=jpeg.name)
    for args in (
        ["traces", "stats", str(jpeg)],
        ["traces", "convert", str(jpeg), "--to", "csv", "--out", str(tmp_path / "o")],
        ["simulate", "--traces", str(jpeg), "--video", str(DATA / "pensieve"), "--quiet"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "abr", *args], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 2, proc.stderr
        prog = "python -m abr " + " ".join(args[:2] if args[0] == "traces" else args[:1])
        assert proc.stderr == f"{prog}: error: photo.jpg: binary data, not a network trace\n"
        assert proc.stdout == ""


def test_cli_convert_every_format_and_stats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = DATA / "sabre" / "network.json"  # 4 periods: 30 s each of 5, 3, 1.5, 3 Mbit/s
    for fmt in abr.TRACE_FORMATS:
        out = tmp_path / fmt
        assert main(["traces", "convert", str(src), "--to", fmt, "--out", str(out)]) == 0
        (written,) = out.iterdir()
        assert written.name == "network" + abr.trace_suffix(fmt)
        report = tmp_path / f"{fmt}.json"
        args = ["traces", "stats", str(written), "--json", str(report)]
        assert main(args) == 0
        (row,) = json.loads(report.read_text())["traces"]
        tol = 1e-2 if fmt == "mahimahi" else 1e-9  # one packet is 12 kbit in a 1 s window
        assert row["duration_s"] == pytest.approx(120.0, abs=1e-3)
        assert row["mean_mbps"] == pytest.approx(3.125, rel=tol)
        assert row["p50_mbps"] == pytest.approx(3.0, rel=tol)
        assert row["p5_mbps"] == pytest.approx(1.5, rel=tol)
        assert row["p95_mbps"] == pytest.approx(5.0, rel=tol)
        assert row["outage_fraction"] == 0.0
    printed = capsys.readouterr().out
    assert "wrote 1 mahimahi trace(s)" in printed and "p95_mbps" in printed


def test_cli_stats_of_a_set_with_a_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = DATA / "pensieve" / "cooked_test_traces"
    plot, report = tmp_path / "stats.png", tmp_path / "stats.json"
    args = ["traces", "stats", str(folder), "--plot", str(plot), "--json", str(report)]
    assert main(args) == 0
    doc = json.loads(report.read_text())
    assert len(doc["traces"]) == 142
    means = [r["mean_mbps"] for r in doc["traces"]]
    assert doc["summary"]["mean_mbps"] == pytest.approx(float(np.mean(means)))
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].lstrip().startswith("all 142 (mean)")


def test_simulator_reads_every_format_from_files(tmp_path: Path) -> None:
    """The CLI's --traces takes a directory of mixed formats, detected per file."""
    sources = norway()[:3]
    for i, fmt in enumerate(("npz", "csv", "oboe")):
        (tmp_path / f"t{i}{abr.trace_suffix(fmt)}").write_bytes(abr.format_trace(sources[i], fmt))
    out = tmp_path / "r.json"
    args = ["simulate", "--traces", str(tmp_path), "--video", str(DATA / "pensieve")]
    assert main([*args, "--quiet", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["traces"] == ["t0.npz", "t1.csv", "t2.oboe"]
    want = abr.simulate(abr.HybridController(), list(sources), _video())
    got = [s["qoe_lin"] for s in doc["algorithms"]["hybrid"]["sessions"]]
    assert got == pytest.approx(want.metrics["qoe_lin"].tolist(), rel=1e-12)


def _video() -> abr.Video:
    return abr.parse_pensieve_video(
        [(DATA / "pensieve" / f"video_size_{q}").read_text() for q in range(6)]
    )
