"""The lab: real local servers for tests, QA and the demo (docs/design.md, "The lab").

``TestCA`` makes a throwaway certificate authority; ``LabServer`` serves any ASGI app
over HTTPS on HTTP/1.1, HTTP/2 and HTTP/3 at one port number; ``LabCdn`` runs CDN edges
and an origin (``CdnApp`` over a ``DirectoryContent`` or ``MemoryContent``) whose faults are
switched at run time (``StatusFault``, ``StallFault``, ``DripFault``, ``ResetFault``,
``TruncateFault``, and ``Edge.kill``), and records every request with the Common Media
Client Data it carried (``RequestRecord.cmcd``, read by ``received_cmcd``).
``NetworkEmulator`` relays UDP and TCP to an edge, shaped to a trace (a
``ThroughputTrace``, or any trace of periods such as an ``abr.NetworkTrace`` read from any
format by ``abr.parse_trace``; ``load_trace`` reads the ``.npz`` archives
``python -m abr traces convert --to npz`` writes) with delay and loss.
``SteeringApp`` is a content steering server whose pathway priority changes at run time.
"""

from __future__ import annotations

from transport.lab._ca import TestCA
from transport.lab._cdn import Edge, LabCdn, LabCdnThread
from transport.lab._cdn_app import CdnApp, ConnectionControl, RequestRecord
from transport.lab._cmcd import (
    ReceivedCmcd,
    SfInnerList,
    SfItem,
    SfToken,
    parse_sf_dictionary,
    received_cmcd,
)
from transport.lab._content import Content, DirectoryContent, MemoryContent, Resource
from transport.lab._emulator import EmulatorStats, EmulatorThread, NetworkEmulator
from transport.lab._faults import (
    ArmedFault,
    DripFault,
    Fault,
    FaultSwitch,
    ResetFault,
    StallFault,
    StatusFault,
    TruncateFault,
)
from transport.lab._relays import Transmission
from transport.lab._server import AsgiApp, LabServer, LabServerThread
from transport.lab._steering import SteeringApp, SteeringRecord
from transport.lab._traces import PeriodTrace, ThroughputTrace, load_trace

__all__ = [
    "ArmedFault",
    "AsgiApp",
    "CdnApp",
    "ConnectionControl",
    "Content",
    "DirectoryContent",
    "DripFault",
    "Edge",
    "EmulatorStats",
    "EmulatorThread",
    "Fault",
    "FaultSwitch",
    "LabCdn",
    "LabCdnThread",
    "LabServer",
    "LabServerThread",
    "MemoryContent",
    "NetworkEmulator",
    "PeriodTrace",
    "ReceivedCmcd",
    "RequestRecord",
    "ResetFault",
    "Resource",
    "SfInnerList",
    "SfItem",
    "SfToken",
    "StallFault",
    "StatusFault",
    "SteeringApp",
    "SteeringRecord",
    "TestCA",
    "ThroughputTrace",
    "Transmission",
    "TruncateFault",
    "load_trace",
    "parse_sf_dictionary",
    "received_cmcd",
]
