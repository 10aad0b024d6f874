"""Content steering (HLS and DASH): the steering manifest, pathway clones, pathway choice.

Sans-I/O, like ``player.manifest``: the session fetches, this room decides. See
docs/steering.md for the specifications followed and how failover and penalties work.
"""

from __future__ import annotations

from player.steering._clones import apply_uri_replacement
from player.steering._manifest import (
    PathwayClone,
    SteeringManifest,
    UriReplacement,
    is_pathway_id,
)
from player.steering._selector import (
    PathwayChange,
    PathwaySelector,
    SteeringOrigin,
    pathway_key,
)

__all__ = [
    "PathwayChange",
    "PathwayClone",
    "PathwaySelector",
    "SteeringManifest",
    "SteeringOrigin",
    "UriReplacement",
    "apply_uri_replacement",
    "is_pathway_id",
    "pathway_key",
]
