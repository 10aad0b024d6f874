"""The emulator's trace shape: built from abr's readers (every format) or a .npz archive, and
the trace arithmetic its bottleneck uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import abr
from transport.errors import TransportConfigError
from transport.lab import ThroughputTrace, load_trace

ABR_DATA = Path(__file__).resolve().parents[3] / "shared" / "abr-data"
SABRE_NETWORK = ABR_DATA / "sabre" / "network.json"
NORWAY_BUS_1 = ABR_DATA / "pensieve" / "cooked_test_traces" / "norway_bus_1"


def test_sabre_network_json() -> None:
    trace = ThroughputTrace.from_periods(abr.parse_trace(SABRE_NETWORK.read_bytes()))
    assert trace.length_s == 120.0
    assert trace.rates_bps.tolist() == [5e6, 3e6, 1.5e6, 3e6]
    assert trace.latencies_s is not None and trace.latencies_s.tolist() == [0.075, 0.15, 0.2, 0.15]
    assert trace.mean_rate_bps == pytest.approx(3.125e6)
    assert trace.rate_at(0.0) == 5e6
    assert trace.rate_at(31.0) == 3e6
    assert trace.rate_at(125.0) == 5e6  # loops
    # 1 s left at 5 Mbit/s, then 3 Mbit/s: 8 Mbit from t=29 ends at t=30 + 1 = 31
    assert trace.transmit_end(29.0, 8e6) == pytest.approx(31.0)


def test_pensieve_cooked_trace_and_npz_archive(tmp_path: Path) -> None:
    read = abr.parse_trace(NORWAY_BUS_1.read_bytes(), name=NORWAY_BUS_1.name)
    trace = ThroughputTrace.from_periods(read)
    lines = [line.split() for line in NORWAY_BUS_1.read_text().splitlines() if line.strip()]
    times = np.array([float(t) for t, _ in lines])
    assert trace.durations_s.size == len(lines) - 1
    assert trace.length_s == pytest.approx(times[-1] - times[0])
    # line i's rate covers (t[i-1], t[i]]: the first period carries line 1's rate
    assert trace.rates_bps[0] == pytest.approx(float(lines[1][1]) * 1e6)
    assert trace.rate_at(float(times[1]) + 1e-6) == pytest.approx(float(lines[2][1]) * 1e6)
    archive = tmp_path / "bus.npz"
    archive.write_bytes(abr.format_trace(read, "npz"))
    loaded = load_trace(archive)
    assert np.array_equal(loaded.rates_bps, trace.rates_bps)
    assert np.array_equal(loaded.durations_s, trace.durations_s)


def test_mahimahi_trace_through_abr() -> None:
    """One 1500-byte packet every millisecond is 12 Mbit/s."""
    text = "".join(f"{ms}\n" for ms in range(1, 1001)).encode()
    trace = ThroughputTrace.from_periods(abr.parse_trace(text, name="12mbit.down"))
    assert trace.length_s == pytest.approx(1.0)
    assert trace.mean_rate_bps == pytest.approx(12e6)


def test_outages_are_waited_out_and_constant_traces() -> None:
    trace = ThroughputTrace(np.array([1.0, 1.0]), np.array([0.0, 8000.0]))
    assert trace.transmit_end(0.0, 8000.0) == pytest.approx(2.0)
    assert trace.transmit_end(1.5, 8000.0) == pytest.approx(3.5)  # 4000 bits, outage, 4000
    flat = ThroughputTrace.constant(2e6)
    assert flat.rate_at(1234.5) == 2e6
    assert flat.transmit_end(10.0, 2e6) == pytest.approx(11.0)


def test_bad_traces_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TransportConfigError):
        ThroughputTrace(np.array([1.0]), np.array([0.0]))
    with pytest.raises(TransportConfigError):
        ThroughputTrace(np.array([0.0]), np.array([1.0]))
    bad = tmp_path / "bad.json"
    bad.write_text('[{"duration_ms": 1000}]')
    with pytest.raises(TransportConfigError, match="not a trace archive"):
        load_trace(bad)
    with pytest.raises(TransportConfigError, match="not a trace archive"):
        load_trace(tmp_path / "missing.npz")
