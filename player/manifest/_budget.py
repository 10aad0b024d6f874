"""The presentation-wide bound on the segment entries a parse keeps in memory.

A segment listed in an HLS media playlist is one entry. A DASH ``SegmentRuns`` index holds one
entry per run of its ``RunTable`` and, for a ``SegmentList``, one per ``SegmentURL``; both are
shared by the representations that inherit them and counted once, whatever the number of
segments they describe. ``ManifestConfig.max_materialized_segments`` bounds the sum over a
whole presentation. (The objects compared by identity are kept alive by the indexes that hold
them, so their ids are not reused during a parse.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from player.errors import ManifestParseError
from player.manifest._model import Representation, Segment
from player.manifest._segment_runs import SegmentRuns

__all__: list[str] = []


class SegmentBudget:
    """Counts the segment entries of one presentation against a limit.

    Args:
        limit: ``ManifestConfig.max_materialized_segments``.
        url: Manifest URL, named in the error.
    """

    def __init__(self, *, limit: int, url: str) -> None:
        self.limit = limit
        self.url = url
        self.used = 0
        self._shared: set[int] = set()

    def charge(self, count: int) -> None:
        """Count ``count`` more entries.

        Raises:
            ManifestParseError: The presentation would hold more than the limit.
        """
        self.used += count
        if self.used > self.limit:
            raise ManifestParseError(
                f"{self.url}: the presentation lists more than {self.limit} segments in all "
                "(ManifestConfig.max_materialized_segments)",
                url=self.url,
                detail="too many segments in presentation",
            )

    def charge_index(self, segments: Sequence[Segment] | None) -> None:
        """Count the entries a representation's segment index holds.

        Raises:
            ManifestParseError: The presentation would hold more than the limit.
        """
        if isinstance(segments, SegmentRuns):
            if id(segments.table) not in self._shared:
                self._shared.add(id(segments.table))
                self.charge(segments.table.run_count)
            listed = segments.listed
            if listed is not None and id(listed.entries) not in self._shared:
                self._shared.add(id(listed.entries))
                self.charge(len(listed.entries))
        elif segments is not None:
            self.charge(len(segments))

    def charge_all(self, representations: Iterable[Representation]) -> None:
        """Count the indexes of representations already parsed (e.g. other media playlists).

        Raises:
            ManifestParseError: The presentation would hold more than the limit.
        """
        for rep in representations:
            self.charge_index(rep.segments)
