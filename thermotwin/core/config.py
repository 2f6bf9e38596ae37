"""``SimConfig``: how we simulate (not what the board is, nor how the matrix maps onto it)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..units import parse_time
from .noise import NOISE_KINDS

#: Default noise step as a fraction of the fastest time constant τ/λ_max (docs/noise.md#noise-step).
NOISE_STEPS_PER_TAU_MIN = 50
#: Zero-order-hold noise (pwl, trrandom) needs far fewer steps: a mode of rate a driven by ZOH
#: noise of step h has stationary variance (q/2a)·(2/(ah))·tanh(ah/2) ≈ (q/2a)(1 − (ah)²/12),
#: so h = τ/(10 λ_max) is within 0.09 % of white noise for every mode.
ZOH_STEPS_PER_TAU_MIN = 10
#: Default cap on the number of output samples when no --dt-out is given.
DEFAULT_MAX_OUTPUT_POINTS = 4000
#: Relative settling tolerance that starts the averaging window by default.
SETTLE_TOL = 1e-3


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Simulation options shared by every backend.

    Attributes:
        t_end: simulated time: seconds (``1e-4``, ``"100us"``) or ``"200tau"``; None = automatic
            (4× the settling time to 1e-3, at least 50τ).
        dt_out: output grid spacing (same forms); None = at most 4000 samples, a multiple of the
            noise step.
        noise_step: noise sample interval; None = τ/(10 λ_max(A)) for ZOH noise (pwl, trrandom),
            τ/(50 λ_max(A)) otherwise, adjusted to divide dt_out.
        noise: ``pwl`` (ZOH noise from the seed; twin and SPICE see the same path), ``white``
            (twin: exact OU), ``trnoise`` / ``trrandom`` (ngspice's own generators), ``none``.
        seed: seed of the dynamic noise stream (integer ≥ 0).
        v0: initial state: ``"zero"``, ``"rhs"`` (V0 = b, TNGD's start at g̃ = ∇ℓ) or a vector.
        n_traj: independent trajectories (twin only).
        settle: start of the averaging window; None = settling time to 1e-3 from the spectrum,
            capped at t_end/2.
        timeout_s: wall-clock limit of a SPICE run.
    """

    t_end: float | str | None = None
    dt_out: float | str | None = None
    noise_step: float | str | None = None
    noise: str = "pwl"
    seed: int = 0
    v0: str | tuple = "zero"
    n_traj: int = 1
    settle: float | str | None = None
    timeout_s: float = 600.0

    def __post_init__(self) -> None:
        if self.noise not in NOISE_KINDS:
            raise ValueError(f"noise {self.noise!r}: use one of {', '.join(NOISE_KINDS)}")
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed {self.seed!r} must be an integer ≥ 0")
        if not isinstance(self.n_traj, int) or self.n_traj < 1:
            raise ValueError(f"n_traj {self.n_traj!r} must be an integer ≥ 1")
        if not (self.timeout_s > 0):
            raise ValueError("timeout_s must be > 0")
        if isinstance(self.v0, str) and self.v0 not in ("zero", "rhs"):
            raise ValueError(f"v0 {self.v0!r}: use 'zero', 'rhs' or a vector")


@dataclass(frozen=True, slots=True)
class Grid:
    """The resolved time grid of a run (all in seconds)."""

    t_end_s: float
    dt_out_s: float
    n_out: int                 # output samples after t = 0 (n_out + 1 rows with t = 0)
    noise_step_s: float
    steps_per_out: int
    settle_s: float

    @property
    def n_noise_steps(self) -> int:
        return self.n_out * self.steps_per_out

    @property
    def max_step_s(self) -> float:
        return self.noise_step_s

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.n_out + 1) * self.dt_out_s


def settling_time(problem, tau_s: float, v0: np.ndarray, tol: float = SETTLE_TOL) -> float:
    """(τ/λ_min) ln(‖V0 − x*‖/(tol‖x*‖)) — docs/model.md#error-laws; 0 if already within tol."""
    x = problem.x_exact
    nx = float(np.linalg.norm(x))
    dist = float(np.linalg.norm(v0 - x))
    if nx == 0 or dist <= tol * nx:
        return 0.0
    return tau_s / problem.lambda_min * math.log(dist / (tol * nx))


def initial_state(problem, config: SimConfig) -> np.ndarray:
    """V0 in problem units, shape (d,)."""
    if isinstance(config.v0, str):
        return np.zeros(problem.d) if config.v0 == "zero" else problem.b.copy()
    v0 = np.asarray(config.v0, dtype=float).reshape(-1)
    if v0.shape != (problem.d,) or not np.all(np.isfinite(v0)):
        raise ValueError(f"v0 must be {problem.d} finite numbers, got shape {v0.shape}")
    return v0


def requested_dt_out(config: SimConfig, tau_s: float, spec=None) -> float | None:
    """The output step the user asked for (``dt_out``) or the ADC sample period of ``spec``;
    None when neither fixes it. A ``dt_out`` that contradicts the ADC rate is an error."""
    adc_period = None if spec is None or spec.adc_rate_hz is None else 1.0 / spec.adc_rate_hz
    if config.dt_out is None:
        return adc_period
    dt_out = parse_time(config.dt_out, tau_s)
    if dt_out <= 0:
        raise ValueError("dt_out must be > 0")
    if adc_period is not None and not math.isclose(dt_out, adc_period, rel_tol=1e-9):
        raise ValueError(f"dt_out {dt_out:g} s differs from the ADC sample period {adc_period:g} s "
                         "(spec adc_rate_hz); drop --dt-out or change adc_rate_hz")
    return dt_out


def resolve_settle(config: SimConfig, tau_s: float, t_settle: float, t_end: float) -> float:
    """Start of the averaging window: ``config.settle``, or the settling time capped at t_end/2."""
    if config.settle is None:
        return min(t_settle, 0.5 * t_end)
    settle = parse_time(config.settle, tau_s)
    if settle >= t_end:
        raise ValueError(f"settle {settle:g} s must be before t_end {t_end:g} s")
    return settle


def resolve_grid(problem, config: SimConfig, tau_s: float, spec=None, exact_steps: bool = False) -> Grid:
    """Turn the config's times (seconds or τ multiples, or automatic) into a consistent grid: the one
    grid rule of every backend and of the netlist writer.

    t_end defaults to max(50τ, 4 × the settling time); t_end is rounded up to a whole number of
    output steps (the result states the value used); with an ADC sample rate in ``spec`` the output
    grid is the ADC's sampling grid. The output step is a whole number of noise steps (``noise_step``,
    default τ/(10 λ_max) for zero-order-hold noise, τ/(50 λ_max) otherwise).

    ``exact_steps`` is declared by a backend that steps the exact OU transition once per output step
    (the factored twin): it needs no noise sub-steps, so the noise step is the output step and the
    default output step is τ (at most 4000 rows) instead of a multiple of the noise step.
    """
    if exact_steps:
        return _exact_step_grid(problem, config, tau_s, spec)
    v0 = initial_state(problem, config)
    t_settle = settling_time(problem, tau_s, v0)
    t_end = _t_end(config, tau_s, t_settle)
    h_target = (parse_time(config.noise_step, tau_s) if config.noise_step is not None
                else tau_s / ((ZOH_STEPS_PER_TAU_MIN if config.noise in ("pwl", "trrandom")
                               else NOISE_STEPS_PER_TAU_MIN) * problem.lambda_max))
    if h_target <= 0:
        raise ValueError("noise_step must be > 0")
    dt_out = requested_dt_out(config, tau_s, spec)
    if dt_out is None:
        dt_out = max(h_target, t_end / DEFAULT_MAX_OUTPUT_POINTS)
        dt_out = math.ceil(dt_out / h_target * (1 - 1e-12)) * h_target
    if dt_out > t_end:
        raise ValueError(f"dt_out {dt_out:g} s is longer than t_end {t_end:g} s; make it smaller")
    m = max(1, math.ceil(dt_out / h_target * (1 - 1e-9)))
    h = dt_out / m
    n_out = max(1, math.ceil(t_end / dt_out * (1 - 1e-9)))
    t_end = n_out * dt_out
    return Grid(t_end_s=t_end, dt_out_s=dt_out, n_out=n_out, noise_step_s=h, steps_per_out=m,
                settle_s=resolve_settle(config, tau_s, t_settle, t_end))


def _t_end(config: SimConfig, tau_s: float, t_settle: float) -> float:
    t_end = max(50 * tau_s, 4 * t_settle) if config.t_end is None else parse_time(config.t_end, tau_s)
    if t_end <= 0:
        raise ValueError("t_end must be > 0; give e.g. 100tau or 100us")
    return t_end


def _exact_step_grid(problem, config: SimConfig, tau_s: float, spec=None) -> Grid:
    """:func:`resolve_grid` for a backend with exact steps: dt_out = max(min(τ, t_end), t_end/4000)
    unless given (or the ADC period); one noise step per output step."""
    v0 = initial_state(problem, config)
    t_settle = settling_time(problem, tau_s, v0)
    t_end = _t_end(config, tau_s, t_settle)
    dt_out = requested_dt_out(config, tau_s, spec)
    if dt_out is None:
        dt_out = max(min(tau_s, t_end), t_end / DEFAULT_MAX_OUTPUT_POINTS)
    if dt_out > t_end * (1 + 1e-12):
        raise ValueError(f"dt_out {dt_out:g} s is longer than t_end {t_end:g} s; make it smaller")
    n_out = max(1, math.ceil(t_end / dt_out * (1 - 1e-9)))
    t_end = n_out * dt_out
    return Grid(t_end_s=t_end, dt_out_s=dt_out, n_out=n_out, noise_step_s=dt_out, steps_per_out=1,
                settle_s=resolve_settle(config, tau_s, t_settle, t_end))
