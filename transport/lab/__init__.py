"""The lab: real local servers for tests, QA and the demo (DESIGN.md, "The lab").

``TestCA`` makes a throwaway certificate authority; ``LabServer`` serves any ASGI app
over HTTPS on HTTP/1.1, HTTP/2 and HTTP/3 at one port number; ``LabCdn`` runs CDN edges
and an origin (``CdnApp`` over a ``DirectoryContent`` or ``MemoryContent``) whose faults are
switched at run time (``StatusFault``, ``StallFault``, ``DripFault``, ``ResetFault``,
``TruncateFault``, and ``Edge.kill``).
"""

from __future__ import annotations

from transport.lab._ca import TestCA
from transport.lab._cdn import Edge, LabCdn, LabCdnThread
from transport.lab._cdn_app import CdnApp, ConnectionControl, RequestRecord
from transport.lab._content import Content, DirectoryContent, MemoryContent, Resource
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
from transport.lab._server import AsgiApp, LabServer, LabServerThread

__all__ = [
    "ArmedFault",
    "AsgiApp",
    "CdnApp",
    "ConnectionControl",
    "Content",
    "DirectoryContent",
    "DripFault",
    "Edge",
    "Fault",
    "FaultSwitch",
    "LabCdn",
    "LabCdnThread",
    "LabServer",
    "LabServerThread",
    "MemoryContent",
    "RequestRecord",
    "ResetFault",
    "Resource",
    "StallFault",
    "StatusFault",
    "TestCA",
    "TruncateFault",
]
