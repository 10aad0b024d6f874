"""Common Media Client Data (CTA-5004, CMCD v1, and CTA-5004-A/B, CMCD v2), sans-I/O.

``CmcdData`` is what one request reports; ``cmcd_query`` and ``cmcd_headers`` write it as
the ``CMCD`` query argument or the four ``CMCD-*`` headers, in either version's syntax.
The player fills ``CmcdData`` from its state at request time when ``PlayerConfig.cmcd``
enables it (docs/cmcd.md).
"""

from __future__ import annotations

from player.cmcd._encode import (
    CMCD_HEADERS,
    CMCD_QUERY_PARAM,
    CMCD_VERSIONS,
    cmcd_fields,
    cmcd_header_of,
    cmcd_headers,
    cmcd_payload,
    cmcd_query,
    strip_cmcd_query,
    with_cmcd_query,
)
from player.cmcd._model import (
    CmcdData,
    NextObject,
    ObjectType,
    StreamingFormat,
    StreamType,
    TypedValue,
)
from player.cmcd._paths import relative_reference

__all__ = [
    "CMCD_HEADERS",
    "CMCD_QUERY_PARAM",
    "CMCD_VERSIONS",
    "CmcdData",
    "NextObject",
    "ObjectType",
    "StreamType",
    "StreamingFormat",
    "TypedValue",
    "cmcd_fields",
    "cmcd_header_of",
    "cmcd_headers",
    "cmcd_payload",
    "cmcd_query",
    "relative_reference",
    "strip_cmcd_query",
    "with_cmcd_query",
]
