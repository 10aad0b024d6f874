"""Configuration of the abr package: every tunable number, written once, with its reason."""

from __future__ import annotations

from dataclasses import dataclass

from abr.errors import AbrConfigError

__all__ = ["AbrConfig"]


@dataclass(frozen=True, kw_only=True, slots=True)
class AbrConfig:
    """Throughput estimation and rendition-choice settings."""

    fast_half_life_s: float = 2.0
    """Half-life of the fast throughput EWMA; the estimate is min(fast, slow). Shaka's default."""

    slow_half_life_s: float = 5.0
    """Half-life of the slow throughput EWMA. Shaka's default."""

    default_bandwidth_bps: float = 1_000_000.0
    """Estimate used until enough bytes were seen: a safe 1 Mbit/s start, as most players do."""

    min_total_bytes: int = 128_000
    """Bytes that must be sampled before the EWMA replaces the default (Shaka: 128 kB)."""

    min_sample_bytes: int = 16_000
    """Transfers smaller than this are ignored: latency dominates their timing (Shaka: 16 kB)."""

    def __post_init__(self) -> None:
        """Validate ranges.

        Raises:
            AbrConfigError: A value is out of range.
        """
        if self.fast_half_life_s <= 0 or self.slow_half_life_s <= 0:
            raise AbrConfigError("half-lives must be positive seconds")
        if self.default_bandwidth_bps <= 0:
            raise AbrConfigError("default_bandwidth_bps must be positive")
        if self.min_total_bytes < 0 or self.min_sample_bytes < 0:
            raise AbrConfigError("byte thresholds must be >= 0")
