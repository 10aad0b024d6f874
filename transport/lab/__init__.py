"""The lab: real local servers for tests, QA and the demo (DESIGN.md, "The lab").

``TestCA`` makes a throwaway certificate authority; ``LabServer`` serves any ASGI app
over HTTPS on HTTP/1.1, HTTP/2 and HTTP/3 at one port number.
"""

from __future__ import annotations

from transport.lab._ca import TestCA
from transport.lab._server import AsgiApp, LabServer, LabServerThread

__all__ = ["AsgiApp", "LabServer", "LabServerThread", "TestCA"]
