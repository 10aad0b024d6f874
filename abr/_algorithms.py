"""Algorithms by name, for the command line and experiments: controller and estimator."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from abr._controller import BatchController
from abr._estimators import EwmaEstimator
from abr._hybrid import HybridController
from abr._mpc import RobustMpcController
from abr._reference import BbaController, BolaController, ThroughputController
from abr.config import AbrConfig, BbaConfig, BolaConfig, MpcConfig, SimMode, ThroughputRuleConfig
from abr.errors import AbrConfigError

__all__ = [
    "ALGORITHMS",
    "algorithm_config",
    "make_controller",
    "make_estimator",
    "reference_estimator_config",
]

ALGORITHMS: tuple[str, ...] = ("hybrid", "throughput", "bba", "bola", "robustmpc")
"""Names accepted by :func:`make_controller` (and ``--algorithm``)."""

_CONFIGS: dict[str, type[Any]] = {
    "hybrid": AbrConfig,
    "throughput": ThroughputRuleConfig,
    "bba": BbaConfig,
    "bola": BolaConfig,
    "robustmpc": MpcConfig,
}


def reference_estimator_config() -> AbrConfig:
    """Estimator settings the reference algorithms run with: Sabre's default EWMA.

    Half-lives 3 s and 8 s, every sample counted from the first byte on (Sabre has no
    thresholds); the throughput rule and BOLA read it, BBA ignores it and robustMPC keeps its
    own harmonic-mean predictor.
    """
    return AbrConfig(
        fast_half_life_s=3.0, slow_half_life_s=8.0, min_total_bytes=0, min_sample_bytes=0
    )


def _convert(name: str, key: str, value: Any, default: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        if isinstance(default, bool):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError as exc:
        raise AbrConfigError(f"{name}: {key}={value!r} is not a {type(default).__name__}") from exc
    return value


def algorithm_config(
    name: str, mode: SimMode | None = None, params: Mapping[str, Any] | None = None
) -> Any:
    """Return the configuration section of algorithm ``name`` with ``params`` applied.

    In ``pensieve`` mode robustMPC gets ``size_offset=1``, the reference's one-ahead look-up
    (see :class:`abr.MpcConfig`), unless ``params`` sets it.

    Raises:
        AbrConfigError: Unknown algorithm, unknown parameter, or a bad value.
    """
    if name not in _CONFIGS:
        raise AbrConfigError(f"unknown algorithm {name!r} (choose from {', '.join(ALGORITHMS)})")
    cls = _CONFIGS[name]
    base = cls()
    if name == "robustmpc" and mode is not None and mode.name == "pensieve":
        base = dataclasses.replace(base, size_offset=1)
    known = {f.name: getattr(base, f.name) for f in dataclasses.fields(cls)}
    changes: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if key not in known:
            raise AbrConfigError(
                f"{name} has no parameter {key!r} (known: {', '.join(sorted(known))})"
            )
        changes[key] = _convert(name, key, value, known[key])
    return dataclasses.replace(base, **changes)


def make_controller(
    name: str, mode: SimMode | None = None, params: Mapping[str, Any] | None = None
) -> BatchController:
    """Build the controller called ``name`` with its configuration (see :func:`algorithm_config`).

    >>> make_controller("bba").name
    'bba'
    """
    cfg = algorithm_config(name, mode, params)
    if name == "hybrid":
        return HybridController(cfg)
    if name == "throughput":
        return ThroughputController(cfg)
    if name == "bba":
        return BbaController(cfg)
    if name == "bola":
        return BolaController(cfg)
    return RobustMpcController(cfg)


def make_estimator(name: str, params: Mapping[str, Any] | None = None) -> EwmaEstimator:
    """Build the estimator algorithm ``name`` runs with.

    ``hybrid`` uses :class:`abr.AbrConfig` (with ``params``); the reference algorithms use
    :func:`reference_estimator_config`.
    """
    if name == "hybrid":
        return EwmaEstimator(algorithm_config("hybrid", None, params))
    return EwmaEstimator(reference_estimator_config())
