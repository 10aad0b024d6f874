"""Trace loaders and the trace arithmetic the emulator's bottleneck uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from transport.errors import TransportConfigError
from transport.lab import ThroughputTrace, load_cooked_trace, load_sabre_trace, load_trace

ABR_DATA = Path(__file__).resolve().parents[3] / "shared" / "abr-data"
SABRE_NETWORK = ABR_DATA / "sabre" / "network.json"
NORWAY_BUS_1 = ABR_DATA / "pensieve" / "cooked_test_traces" / "norway_bus_1"


def test_sabre_network_json() -> None:
    trace = load_sabre_trace(SABRE_NETWORK)
    assert trace.length_s == 120.0
    assert trace.rates_bps.tolist() == [5e6, 3e6, 1.5e6, 3e6]
    assert trace.latencies_s is not None and trace.latencies_s.tolist() == [0.075, 0.15, 0.2, 0.15]
    assert trace.mean_rate_bps == pytest.approx(3.125e6)
    assert trace.rate_at(0.0) == 5e6
    assert trace.rate_at(31.0) == 3e6
    assert trace.rate_at(125.0) == 5e6  # loops
    # 1 s left at 5 Mbit/s, then 3 Mbit/s: 8 Mbit from t=29 ends at t=30 + 1 = 31
    assert trace.transmit_end(29.0, 8e6) == pytest.approx(31.0)


def test_pensieve_cooked_trace() -> None:
    trace = load_cooked_trace(NORWAY_BUS_1)
    lines = [line.split() for line in NORWAY_BUS_1.read_text().splitlines() if line.strip()]
    times = np.array([float(t) for t, _ in lines])
    assert trace.durations_s.size == len(lines) - 1
    assert trace.length_s == pytest.approx(times[-1] - times[0])
    # line i's rate covers (t[i-1], t[i]]: the first period carries line 1's rate
    assert trace.rates_bps[0] == pytest.approx(float(lines[1][1]) * 1e6)
    assert trace.rate_at(float(times[1]) + 1e-6) == pytest.approx(float(lines[2][1]) * 1e6)
    assert load_trace(NORWAY_BUS_1).length_s == trace.length_s
    assert load_trace(SABRE_NETWORK).length_s == 120.0


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
    with pytest.raises(TransportConfigError, match="not a Sabre network trace"):
        load_sabre_trace(bad)
    short = tmp_path / "short.txt"
    short.write_text("0.0 1.0\n")
    with pytest.raises(TransportConfigError, match="at least two lines"):
        load_cooked_trace(short)
