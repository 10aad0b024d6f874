"""Adaptive bitrate: throughput estimation, rendition choice, QoE, trace-driven simulator."""

from __future__ import annotations

from abr._algorithms import (
    ALGORITHMS,
    algorithm_config,
    make_controller,
    make_estimator,
    reference_estimator_config,
)
from abr._batch import BatchProgress, BatchReport, BatchState
from abr._controller import BatchController, Controller
from abr._estimators import EwmaEstimator, PercentileEstimator, ThroughputEstimator
from abr._hybrid import HybridController
from abr._media import (
    PENSIEVE_BITRATES_KBPS,
    NetworkTrace,
    Video,
    format_pensieve_video,
    format_sabre_movie,
    parse_cooked_trace,
    parse_pensieve_video,
    parse_sabre_movie,
    parse_sabre_network,
)
from abr._mpc import RobustMpcController
from abr._plots import plot_results
from abr._qoe import QOE_PENALTIES, qoe
from abr._reference import BbaController, BolaController, ThroughputController
from abr._sim import SimResult, simulate
from abr._traces import (
    MAHIMAHI_PACKET_BYTES,
    TRACE_FORMATS,
    format_trace,
    parse_trace,
    sniff_trace_format,
    trace_suffix,
)
from abr._types import (
    AbandonProgress,
    AbrState,
    Decision,
    DownloadReport,
    Rung,
    SelectReason,
    ladder_bitrates,
)
from abr.config import (
    AbrConfig,
    BbaConfig,
    BolaConfig,
    MpcConfig,
    SimMode,
    ThroughputRuleConfig,
)
from abr.errors import (
    AbrConfigError,
    AbrError,
    InvalidLadder,
    TraceFormatError,
    UnknownTraceFormat,
)

__all__ = [
    "ALGORITHMS",
    "AbandonProgress",
    "AbrConfig",
    "AbrConfigError",
    "AbrError",
    "AbrState",
    "BatchController",
    "BatchProgress",
    "BatchReport",
    "BatchState",
    "BbaConfig",
    "BbaController",
    "BolaConfig",
    "BolaController",
    "Controller",
    "Decision",
    "DownloadReport",
    "EwmaEstimator",
    "HybridController",
    "InvalidLadder",
    "MAHIMAHI_PACKET_BYTES",
    "MpcConfig",
    "NetworkTrace",
    "PENSIEVE_BITRATES_KBPS",
    "PercentileEstimator",
    "QOE_PENALTIES",
    "RobustMpcController",
    "Rung",
    "SelectReason",
    "SimMode",
    "SimResult",
    "TRACE_FORMATS",
    "ThroughputController",
    "ThroughputEstimator",
    "ThroughputRuleConfig",
    "TraceFormatError",
    "UnknownTraceFormat",
    "Video",
    "algorithm_config",
    "format_pensieve_video",
    "format_sabre_movie",
    "format_trace",
    "ladder_bitrates",
    "make_controller",
    "make_estimator",
    "parse_cooked_trace",
    "parse_pensieve_video",
    "parse_sabre_movie",
    "parse_sabre_network",
    "parse_trace",
    "plot_results",
    "qoe",
    "reference_estimator_config",
    "simulate",
    "sniff_trace_format",
    "trace_suffix",
]
