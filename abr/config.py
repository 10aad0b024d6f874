"""Configuration of the abr package: every tunable number, written once, with its reason."""

from __future__ import annotations

from dataclasses import dataclass, fields

from abr.errors import AbrConfigError

__all__ = ["AbrConfig", "BbaConfig", "BolaConfig", "MpcConfig", "SimMode", "ThroughputRuleConfig"]


@dataclass(frozen=True, kw_only=True, slots=True)
class AbrConfig:
    """Throughput estimation and rendition-choice settings (the default ``hybrid`` controller).

    The hybrid defaults were tuned on public research traces (Sabre's and Pensieve's:
    docs/abr.md, "The research data sets") in both simulator modes; docs/abr.md gives the
    tables. Starting points were Shaka (2 s / 5 s half-lives, 0.85 up / 0.95 down, 8 s between
    switches), Media3 (up-switch only with 10 s buffered, no down-switch with 25 s buffered)
    and hls.js.
    """

    # -- throughput estimation ---------------------------------------------------------------
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

    latency_half_life_samples: float = 3.0
    """Half-life, in samples, of the time-to-first-byte EWMA: a few requests, so one slow
    handshake does not dominate but a CDN change shows within a segment or two."""

    percentile_window_samples: int = 20
    """Samples kept by the sliding-window percentile estimator (about a minute of segments)."""

    percentile_q: float = 30.0
    """Percentile (0–100) the window estimator returns: below the median, so it is
    conservative, but above the minimum, so one stalled transfer does not collapse it."""

    percentile_max_age_s: float = 60.0
    """Samples older than this leave the percentile window: older network state is stale."""

    # -- hybrid controller: throughput safety (hysteresis) -----------------------------------
    up_safety: float = 0.85
    """Up-switch only to rungs affordable at this fraction of the estimate (Shaka's upgrade
    target, kept by tuning). Lower than ``down_safety``: the gap is the hysteresis band."""

    down_safety: float = 1.05
    """Down-switch once the current rung is no longer affordable at this fraction of the estimate.
    Shaka uses 0.95; with the buffer-spending plan below, 1.05 (hold until the estimate is
    clearly short) gave fewer switches at equal rebuffering on every research data set."""

    plan_segments: int = 5
    """The buffer above ``plan_floor_s`` may be spent over this many segments: a rung is
    affordable if fetching that many segments of it at the (safety-scaled) estimate keeps the
    buffer above the floor. Few segments spend the buffer fast; many approach the plain
    throughput rule. Near the end of a video the remaining segments are used instead."""

    plan_floor_s: float = 6.0
    """Buffer the plan keeps in reserve against throughput drops the estimate has not seen:
    about two segments. 10 s cost 2–5 % QoE on the FCC sets; 4 s doubled Norway stalls. Used
    when the player's buffer cap is unknown; otherwise ``plan_floor_buffer_fraction`` of it."""

    plan_floor_buffer_fraction: float = 0.24
    """When the player's buffer cap is known (``AbrState.max_buffer_s``), the plan's reserve is
    this fraction of it, and ``plan_segments`` gives way to ``plan_horizon_buffer_fraction``:
    a player that holds more buffer plans further ahead and keeps a larger reserve. 0.24 of
    Sabre's 25 s cap is the 6 s tuned there (Sabre results unchanged); on the Norway set (60 s
    cap: 14.4 s) it cut switches from 9.2 to 6.8 and stalls by a third at +1.7 % QoE_lin, on
    the tuning and the held-out half alike (docs/abr.md)."""

    plan_horizon_buffer_fraction: float = 0.6
    """With a known buffer cap, the plan spends the buffer above the reserve over this fraction
    of the cap, in segments (rounded, at least 1): 5 segments of 3 s under Sabre's 25 s cap, as
    ``plan_segments``; 9 segments of 4 s under Pensieve's 60 s."""

    # -- hybrid controller: buffer thresholds ------------------------------------------------
    min_buffer_for_up_s: float = 5.0
    """No up-switch below this buffer, so a wrong up-switch cannot stall at once. Media3 uses
    10 s; with 25 s buffer caps (Sabre) that delays the ramp-up by several segments, and 5 s
    lost nothing against 0 s on the research traces."""

    hold_buffer_s: float = 15.0
    """While this much is buffered, a throughput dip does not force a down-switch: the buffer
    absorbs it. Media3 uses 25 s, which never binds under Sabre's 25 s cap; 15 s removed
    down/up cycles on the Norway traces (fewer switches) without stalls."""

    emergency_buffer_s: float = 5.0
    """Below this buffer the controller down-switches at once to a rung it can afford, ignoring
    stability windows and the high-buffer hold: a stall costs far more than a switch."""

    # -- hybrid controller: stability windows ------------------------------------------------
    min_switch_interval_s: float = 0.0
    """Minimum time between two switches. Shaka uses 8 s; on the research traces every value
    above one segment cost QoE (FCC-SD: 714 → 657 at 3 s, 528 at 8 s) because it delays
    down-switches as well as up-switches, so the default leaves the stability work to
    ``up_after_down_s`` and the hysteresis band; raise it for very short segments."""

    up_after_down_s: float = 28.0
    """Window after a down-switch during which an up-switch must pass a stricter test
    (``up_after_down_sigmas``): the dip that caused it is often not over, and down-up-down
    costs two switches for little gain. With the waiver below, 28 s brought Norway switches
    below robustMPC's; 16 s gave more switches, and without the waiver any value long enough
    for that cost 2–5 % QoE elsewhere."""

    up_after_down_waive_buffer_s: float = 22.0
    """The ``up_after_down_s`` window ends early once the buffer is back above this (the dip is
    over), or once a level shift up is detected (``shift_sigmas``). Just under Sabre's 25 s
    cap; it lifted 4G QoE above the throughput rule's and cut FCC recovery times, while on
    the Norway traces (60 s cap) it mostly waives windows that would have ended anyway."""

    up_after_down_sigmas: float = 1.0
    """Within the ``up_after_down_s`` window an up-switch is allowed to the rungs that stay
    affordable if the link delivers exp(-this x spread) of the planned throughput, the spread
    being the robust standard deviation of the session's own log prediction errors (see
    ``shift_error_window``): one standard deviation. A session whose recent predictions were
    steady recovers from a dip at once, one whose predictions scattered waits as before
    (median spreads over all decisions: FCC 0.10, Norway 0.19, 3G 0.22, 4G 0.26; quartiles
    0.12-0.29 on Norway, 0.13-0.35 on 3G). Until issue 13 the window forbade every
    up-switch (a very large value here): Norway QoE_lin 44.82 then, 45.43 now, FCC-SD
    +1.1 %, the other sets within 0.4 %; 0.5 gave Norway 45.63 but cost 3G 1.7 %, 2 gave
    Norway 44.88 (docs/abr.md)."""

    max_up_steps: int = 0
    """Rungs an up-switch may climb per decision; 0: no limit, straight to the affordable rung.
    QoE_lin charges a switch by the bitrate difference, so climbing in single steps costs the
    same smoothness penalty as one jump while fetching lower rungs on the way and counting
    more switches. Against 1 (issue 13): FCC-SD QoE_lin +6.2 % with 19.4 switches instead of
    32.5, FCC-HD +3.4 %, 4G and 3G slightly better, Norway within 0.3 %. Set 1 for a player
    that must rise gradually."""

    # -- hybrid controller: level shifts ------------------------------------------------------
    shift_samples: int = 2
    """Consecutive segment throughputs that must all lie above the estimate by more than
    ``shift_sigmas`` spreads of the session's own prediction errors before the controller
    treats the link as having shifted up and plans with the lowest of them. The time-weighted
    EWMA barely moves on the short transfers of low rungs (a 0.15 s transfer moves a 2 s
    half-life average by 5 %), so after an outage it lagged a tenfold recovery by 6-8
    segments; two samples, so one lucky transfer is not enough. Against no detection (issue
    13): FCC-SD QoE_lin +5.4 %, FCC-HD +8.3 %, Norway and 4G within 0.3 %, 3G -0.9 %."""

    shift_sigmas: float = 3.0
    """How far above the estimate, in robust standard deviations of the log prediction error
    (1.4826 x the median absolute deviation of the last ``shift_error_window`` errors), a
    sample must lie to count towards a level shift: the usual three-sigma test, so a
    volatile link (3G: errors spread widely) needs a larger jump than a steady one. Not
    tuned: 2 gave results within 0.8 % of 3 on every research set's tuning half."""

    shift_error_window: int = 10
    """Prediction errors (log of measured over planned throughput) kept per session; the
    spread ``shift_sigmas`` is measured in is that of all but the newest ``shift_samples`` of
    them (the samples under test): about half a minute of segments."""

    shift_min_sigma: float = 0.1
    """Floor of that spread: a link measured to be perfectly steady still counts a jump only
    once it exceeds exp(3 x 0.1) = 1.35 x the estimate."""

    shift_prior_sigma: float = 0.5
    """Spread assumed until three prediction errors were measured: a jump must then exceed
    exp(3 x 0.5) = 4.5 x the estimate."""

    # -- hybrid controller: abandonment advice -----------------------------------------------
    abandon_grace_s: float = 0.5
    """No abandonment advice before this much of a download elapsed: its rate is still noise
    (Sabre's throughput rule waits 0.5 s too)."""

    abandon_after_buffer_fraction: float = 0.5
    """Abandonment is considered only once a download has used this fraction of the buffer it
    started with: one that finishes well within the buffer is never worth restarting (and the
    simulator need not poll it, which keeps simulation fast)."""

    abandon_margin_s: float = 0.0
    """Abandon once the download is projected to finish this long after the buffer runs out.
    0 s: any projected stall is worth cutting when a lower rung arrives sooner (it halved
    stalls on FCC-SD/HD compared with 1 s, at equal bitrate)."""

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
        if self.latency_half_life_samples <= 0:
            raise AbrConfigError("latency_half_life_samples must be positive")
        if self.percentile_window_samples < 1:
            raise AbrConfigError("percentile_window_samples must be >= 1")
        if not 0.0 <= self.percentile_q <= 100.0:
            raise AbrConfigError("percentile_q must be in [0, 100]")
        if not 0.0 < self.up_safety <= self.down_safety <= 1.5:
            raise AbrConfigError("need 0 < up_safety <= down_safety <= 1.5")
        if not 0.0 <= self.abandon_after_buffer_fraction <= 1.0:
            raise AbrConfigError("abandon_after_buffer_fraction must be in [0, 1]")
        if self.plan_segments < 1:
            raise AbrConfigError("plan_segments must be >= 1")
        if not 0.0 <= self.plan_floor_buffer_fraction < 1.0:
            raise AbrConfigError("plan_floor_buffer_fraction must be in [0, 1)")
        if not 0.0 < self.plan_horizon_buffer_fraction <= 1.0:
            raise AbrConfigError("plan_horizon_buffer_fraction must be in (0, 1]")
        if self.max_up_steps < 0:
            raise AbrConfigError("max_up_steps must be >= 0 (0: no limit)")
        if self.shift_samples < 1 or self.shift_error_window < self.shift_samples + 3:
            raise AbrConfigError("need shift_samples >= 1 and shift_error_window >= it + 3")
        if self.shift_sigmas <= 0 or self.shift_min_sigma <= 0 or self.shift_prior_sigma <= 0:
            raise AbrConfigError("shift_sigmas, shift_min_sigma and shift_prior_sigma must be > 0")
        if self.up_after_down_sigmas < 0:
            raise AbrConfigError("up_after_down_sigmas must be >= 0")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_s") and value < 0:
                raise AbrConfigError(f"{f.name} must be >= 0 seconds, got {value}")


@dataclass(frozen=True, kw_only=True, slots=True)
class ThroughputRuleConfig:
    """Sabre's throughput rule (Spiteri et al., MMSys 2018, ``ThroughputRule``)."""

    safety: float = 0.9
    """Fraction of the estimate a rung's bitrate may use (Sabre's ``safety_factor``)."""

    ibr_safety_start: float = 0.9
    """Initial factor of the insufficient-buffer rule; multiplied by itself each decision."""

    ibr_safety_floor: float = 0.5
    """Floor the insufficient-buffer factor decays to (Sabre's ``low_buffer_safety_factor``)."""

    use_ibr: bool = True
    """Apply the insufficient-buffer rule (Sabre's default; ``-noibr`` disables it)."""

    abandon_multiplier: float = 1.8
    """Abandon if a download is projected to take more than this many segment durations."""

    abandon_grace_s: float = 0.5
    """No abandonment before this much of the download elapsed (Sabre: 500 ms)."""

    def __post_init__(self) -> None:
        """Validate ranges.

        Raises:
            AbrConfigError: A value is out of range.
        """
        if not 0 < self.safety <= 1.5 or not 0 < self.ibr_safety_floor <= self.ibr_safety_start:
            raise AbrConfigError("safety factors must be positive, floor <= start")
        if self.abandon_multiplier <= 0 or self.abandon_grace_s < 0:
            raise AbrConfigError("abandon_multiplier must be > 0 and abandon_grace_s >= 0")


@dataclass(frozen=True, kw_only=True, slots=True)
class BbaConfig:
    """Buffer-based adaptation (Huang et al., SIGCOMM 2014) as Pensieve's ``bb.py`` runs it."""

    reservoir_s: float = 5.0
    """Below this buffer the lowest rung is chosen (Pensieve's ``RESEVOIR``)."""

    cushion_s: float = 10.0
    """Buffer span over which the rung rises linearly to the top (Pensieve's ``CUSHION``)."""

    def __post_init__(self) -> None:
        """Validate ranges.

        Raises:
            AbrConfigError: A value is out of range.
        """
        if self.reservoir_s < 0 or self.cushion_s <= 0:
            raise AbrConfigError("reservoir_s must be >= 0 and cushion_s > 0")


@dataclass(frozen=True, kw_only=True, slots=True)
class BolaConfig:
    """BOLA (Spiteri et al., INFOCOM 2016) as Sabre's ``bola`` runs it."""

    gamma_p: float = 5.0
    """The (gamma p) product, in utility units (Sabre's ``-gp`` default)."""

    buffer_target_s: float = 25.0
    """Buffer size BOLA plans for (Sabre's ``-b`` default, 25 s)."""

    is_basic: bool = False
    """BOLA-BASIC: fixed V and no abandonment. Sabre's default is the full variant, which
    shrinks the planned buffer near the start and end of the video and abandons downloads."""

    def __post_init__(self) -> None:
        """Validate ranges.

        Raises:
            AbrConfigError: A value is out of range.
        """
        if self.gamma_p <= 0 or self.buffer_target_s <= 0:
            raise AbrConfigError("gamma_p and buffer_target_s must be positive")


@dataclass(frozen=True, kw_only=True, slots=True)
class MpcConfig:
    """RobustMPC (Yin et al., SIGCOMM 2015) as Pensieve's ``mpc.py`` runs it."""

    horizon: int = 5
    """Future segments optimised over (Pensieve's ``MPC_FUTURE_CHUNK_COUNT``)."""

    past_samples: int = 5
    """Throughput samples in the harmonic-mean prediction."""

    error_window: int = 5
    """Past relative prediction errors whose maximum discounts the prediction (robust)."""

    is_robust: bool = True
    """Divide the prediction by ``1 + max error`` (robustMPC); ``False`` gives fastMPC's rule."""

    rebuffer_penalty: float = 4.3
    """QoE penalty per second of stall, in Mbit/s-equivalents (Pensieve's ``REBUF_PENALTY``)."""

    smooth_penalty: float = 1.0
    """QoE penalty per Mbit/s of bitrate change (Pensieve's ``SMOOTH_PENALTY``)."""

    size_offset: int = 0
    """Plan with the sizes of the segments this many places after the ones to be fetched.
    0 is correct; Pensieve's ``mpc.py`` looks one segment ahead (``index = last_index +
    position + 1``), and its published QoE (39.59 per session) needs 1. A look-up past the
    last segment of the video reads the last segment: a segment that will be fetched is never
    priced at 0 bytes (the reference never reads past its 49th chunk)."""

    def __post_init__(self) -> None:
        """Validate ranges.

        Raises:
            AbrConfigError: A value is out of range.
        """
        if not 1 <= self.horizon <= 8:
            raise AbrConfigError("horizon must be 1..8 (the search is exhaustive)")
        if self.past_samples < 1 or self.error_window < 1:
            raise AbrConfigError("past_samples and error_window must be >= 1")
        if self.rebuffer_penalty < 0 or self.smooth_penalty < 0:
            raise AbrConfigError("penalties must be >= 0")
        if self.size_offset < 0:
            raise AbrConfigError("size_offset must be >= 0")


@dataclass(frozen=True, kw_only=True, slots=True)
class SimMode:
    """How the simulator models the network and the player: one published convention.

    The field defaults are Pensieve's ``sim/fixed_env.py``; :meth:`sabre` gives Sabre's
    network model and player (``src/sabre.py``, default options).
    """

    name: str = "pensieve"
    """Name used on the command line and in reports."""

    rtt_s: float = 0.08
    """Fixed delay added to each download without consuming trace time (Pensieve:
    ``LINK_RTT`` 80 ms). Sabre instead pays each period's latency on the trace clock."""

    is_trace_latency: bool = False
    """Pay the trace's per-period latency as time to first byte (Sabre's model)."""

    payload_factor: float = 0.95
    """Fraction of the trace's bandwidth that carries payload (Pensieve:
    ``PACKET_PAYLOAD_PORTION``; Sabre: 1)."""

    max_buffer_s: float = 60.0
    """Buffer cap, seconds (Pensieve: ``BUFFER_THRESH`` 60 s; Sabre: ``--max-buffer`` 25 s)."""

    drain_quantum_s: float = 0.5
    """Pensieve sleeps in multiples of this once the buffer exceeds the cap, after the download;
    0 means Sabre's rule: wait exactly until one segment fits, before the next request."""

    first_index: int = 1
    """Rung of the first segment for every algorithm (Pensieve's harness: ``DEFAULT_QUALITY``
    1). -1 lets each controller choose, as Sabre does (``Abr.get_first_quality``; its own
    algorithms start at rung 0, and so do ours when they have no estimate yet)."""

    qoe_from_segment: int = 1
    """First segment (0-based) counted in QoE: Pensieve leaves out the first chunk."""

    unplayed_tail_segments: int = 1
    """Segments at the end of the video that are not played but visible to look-ahead
    controllers. Pensieve's ``fixed_env.py`` plays 48 chunks (``TOTAL_VIDEO_CHUNCK``) of its
    49-chunk video and its ``mpc.py`` reads the 49th; Sabre plays every segment (0). A
    property of the mode, not of the file the video came from."""

    is_abandonment: bool = False
    """Check in-flight downloads for abandonment (Pensieve: never; Sabre: yes)."""

    abandon_check_bytes: float = 1500.0
    """Bytes between abandonment checks (Sabre's ``min_progress_size``, 12000 bits)."""

    abandon_check_interval_s: float = 0.05
    """Minimum time between abandonment checks (Sabre's ``min_progress_time``, 50 ms)."""

    @classmethod
    def pensieve(cls) -> SimMode:
        """Pensieve's ``sim/fixed_env.py`` (Mao et al., SIGCOMM 2017)."""
        return cls()

    @classmethod
    def sabre(cls) -> SimMode:
        """Sabre's network model and player loop (Spiteri et al., MMSys 2018), defaults."""
        return cls(
            name="sabre",
            rtt_s=0.0,
            is_trace_latency=True,
            payload_factor=1.0,
            max_buffer_s=25.0,
            drain_quantum_s=0.0,
            first_index=-1,
            is_abandonment=True,
            unplayed_tail_segments=0,
        )

    @classmethod
    def named(cls, name: str) -> SimMode:
        """Return the mode called ``name`` (``pensieve`` or ``sabre``).

        Raises:
            AbrConfigError: Unknown name.
        """
        if name == "pensieve":
            return cls.pensieve()
        if name == "sabre":
            return cls.sabre()
        raise AbrConfigError(f"unknown simulator mode {name!r} (pensieve, sabre)")

    def __post_init__(self) -> None:
        """Validate ranges.

        Raises:
            AbrConfigError: A value is out of range.
        """
        if not 0 < self.payload_factor <= 1 or self.max_buffer_s <= 0:
            raise AbrConfigError("payload_factor must be in (0, 1] and max_buffer_s > 0")
        if self.rtt_s < 0 or self.drain_quantum_s < 0 or self.qoe_from_segment < 0:
            raise AbrConfigError("rtt_s, drain_quantum_s and qoe_from_segment must be >= 0")
        if self.unplayed_tail_segments < 0:
            raise AbrConfigError("unplayed_tail_segments must be >= 0")
        if self.abandon_check_bytes <= 0 or self.abandon_check_interval_s < 0:
            raise AbrConfigError("abandonment check spacing must be positive")
