"""Predicted solve accuracy versus time from a (realised or calibrated) OU model (docs/model.md#error-laws).

For dV/dt = −M V + f + noise of diffusion Q, with x_b = M⁻¹f the board's fixed point, x* the true
solution and δ0 = V0 − x_b:

* instantaneous:  E‖V(t) − x*‖² = ‖e^{−Mt}δ0 + (x_b − x*)‖² + tr(Σ − e^{−Mt} Σ e^{−Mᵀt}),
  Σ the stationary covariance (M Σ + Σ Mᵀ = Q);
* running average over [t_s, t_s + T]:
  E x̄ − x_b = (1/T) M⁻¹ (e^{−M t_s} − e^{−M(t_s+T)}) δ0, and, from stationarity after t_s,
  Cov(x̄_T) = (1/T²)(KΣ + ΣKᵀ) with K = ∫₀^T (T−u) e^{−Mu} du = M⁻¹[T − M⁻¹(I − e^{−MT})];
  for large T this is 2κ0 (τ/T) A⁻² (the 1/sqrt(T) law);
* floor: ‖x_b − x*‖, which no averaging removes.

All evaluated in M's eigenbasis (M diagonalisable), O(d³ + n_t d²).
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import numpy as np
import scipy.linalg

from ..errors import InputError


@dataclass(frozen=True)
class ErrorPrediction:
    """Expected relative errors (root-mean-square over the noise), arrays over time in seconds."""

    times: np.ndarray            # (n_t,) instantaneous grid
    instantaneous: np.ndarray    # (n_t,) sqrt(E‖V(t) − x*‖²)/‖x*‖
    window: np.ndarray           # (n_w,) averaging window lengths T
    running: np.ndarray          # (n_w,) sqrt(E‖x̄_T − x*‖²)/‖x*‖
    running_bias: np.ndarray     # (n_w,) ‖E x̄_T − x*‖/‖x*‖ (settling + floor)
    running_noise: np.ndarray    # (n_w,) sqrt(tr Cov x̄_T)/‖x*‖
    asymptote: np.ndarray        # (n_w,) sqrt(2κ0 (τ/T) tr(A⁻²))/‖x*‖ (the 1/sqrt(T) law)
    floor: float                 # ‖x_b − x*‖/‖x*‖
    settle_s: float


def predict_error(M: np.ndarray, f: np.ndarray, Q: np.ndarray, x_exact: np.ndarray, v0: np.ndarray,
                  times: np.ndarray, settle_s: float, scale: float = 1.0) -> ErrorPrediction:
    """Predict error versus time.

    Args:
        M: drift (d, d), 1/s. f: forcing (d,), V/s. Q: diffusion (d, d), V²/s.
        x_exact: (d,) true solution in problem units. v0: (d,) initial state in volts.
        times: (n_t,) output times, s. settle_s: start of the averaging window, s.
        scale: volts per problem unit (b_scale).
    """
    x_b = np.linalg.solve(M, f)
    Sigma = scipy.linalg.solve_continuous_lyapunov(M, Q)
    Sigma = 0.5 * (Sigma + Sigma.T)
    lam, V = np.linalg.eig(M)
    Vinv = np.linalg.inv(V)
    xs = x_exact * scale
    nx = np.linalg.norm(xs)
    delta = Vinv @ (v0 - x_b)                    # modal initial offset
    floor_vec = x_b - xs
    # instantaneous
    E = np.exp(-np.outer(times, lam))            # (n_t, d)
    mean_dev = (E * delta[None, :]) @ V.T + floor_vec[None, :]
    S = Vinv @ Sigma @ Vinv.T
    VtV = V.T @ V
    trans = np.einsum("tk,tl,kl,lk->t", E, E, S, VtV, optimize=True)
    var_t = np.trace(Sigma) - trans.real
    inst = np.sqrt(np.sum(np.abs(mean_dev) ** 2, axis=1) + np.clip(var_t, 0, None)) / nx
    # running average after settle
    sel = times >= settle_s - 1e-12 * max(times[-1], 1e-300)
    T = times[sel] - times[sel][0]
    t_s = times[sel][0]
    Tp = np.where(T > 0, T, 1.0)
    es = np.exp(-lam * t_s)
    eT = np.exp(-np.outer(Tp, lam))
    bias_modal = (es[None, :] * (1 - eT) / (lam[None, :] * Tp[:, None])) * delta[None, :]
    bias = bias_modal @ V.T + floor_vec[None, :]
    first = (V @ (es * delta)).real + floor_vec
    bias = np.where((T > 0)[:, None], bias.real, first[None, :])
    kdiag = (Tp[:, None] - (1 - eT) / lam[None, :]) / lam[None, :]      # (n_w, d)
    SV = Vinv @ Sigma @ V                                               # tr(KΣ) = Σ_k k_k (V⁻¹ΣV)_kk
    tr_cov = 2.0 * (kdiag @ np.diag(SV)).real / Tp ** 2
    tr_cov = np.where(T > 0, tr_cov, np.trace(Sigma))
    running_bias = np.linalg.norm(bias, axis=1) / nx
    running_noise = np.sqrt(np.clip(tr_cov, 0, None)) / nx
    running = np.sqrt(running_bias ** 2 + running_noise ** 2)
    Minv = np.linalg.inv(M)
    asym = np.sqrt(np.trace(Minv @ Q @ Minv.T) / Tp) / nx               # 2κ0(τ/T)tr(A⁻²) for Q = 2κ0/τ I
    return ErrorPrediction(times=times, instantaneous=inst, window=T, running=running,
                           running_bias=running_bias, running_noise=running_noise, asymptote=asym,
                           floor=float(np.linalg.norm(floor_vec) / nx), settle_s=float(t_s))


def predict_for(problem, spec, config, mapping=None) -> ErrorPrediction:
    """Prediction for a problem on a board, on the grid the simulation would use."""
    from ..circuit.design import Mapping, design, realised_matrix
    from ..core.config import initial_state, resolve_grid

    values = design(problem, spec, mapping or Mapping())
    real = realised_matrix(values, spec)
    grid = resolve_grid(problem, config, values.nominal_tau_s, spec)
    q = 2.0 * spec.kappa0_v2 / values.nominal_tau_s
    Q = q * np.diag(real.noise_gain ** 2)
    v0 = initial_state(problem, config) * values.b_scale
    return predict_error(real.M, real.f, Q, problem.x_exact, v0, grid.times, grid.settle_s, values.b_scale)


def running_covariance(M: np.ndarray, Sigma: np.ndarray, T: float) -> np.ndarray:
    """Cov(x̄_T) = (KΣ + ΣKᵀ)/T², K = ∫₀^T (T−u) e^{−Mu} du = M⁻¹[T − M⁻¹(I − e^{−MT})] (stationary start)."""
    d = M.shape[0]
    Minv = np.linalg.inv(M)
    K = Minv @ (T * np.eye(d) - Minv @ (np.eye(d) - scipy.linalg.expm(-M * T)))
    C = (K @ Sigma + Sigma @ K.T) / T ** 2
    return 0.5 * (C + C.T)


#: Longest horizon predict accepts, in units of the slowest time constant 1/λ_min: far beyond any
#: useful average (the error is at its floor or its 1/√T tail long before), and short enough that
#: the output grid still resolves the settling transient.
MAX_HORIZON_RATES = 1e6


def predict_from_calibration(cal, t_end_s: float, n_points: int = 400, settle_s: float | None = None,
                             v0: np.ndarray | None = None) -> tuple[ErrorPrediction, np.ndarray]:
    """Accuracy versus time of a calibrated board: bias from M's spectrum, variance from D and M,
    floor from A_eff against A (when the calibration was made against a nominal matrix).

    Returns the prediction (relative to the true solution when known, else to the fitted x*) and
    that reference solution in volts.
    """
    if not (isinstance(t_end_s, (int, float)) and math.isfinite(t_end_s) and t_end_s > 0):
        raise InputError(f"--t-end {t_end_s!r}: the horizon must be a finite time > 0")
    M, D, x_b = cal.M, cal.D, cal.x_star
    x_ref = cal.x_reference
    v0 = np.zeros(cal.d) if v0 is None else v0
    lmin = cal.lambda_min_per_s
    if t_end_s * lmin > MAX_HORIZON_RATES:
        raise InputError(f"--t-end {t_end_s:g} s is {t_end_s * lmin:.3g}/λ_min (λ_min = {lmin:.3g} 1/s): a {n_points}-point "
                         f"grid that long cannot resolve the settling; give at most {MAX_HORIZON_RATES / lmin:.3g} s "
                         "(bare numbers are seconds; write e.g. 1000tau)")
    if settle_s is None:
        nx = np.linalg.norm(x_b)
        settle_s = min(math.log(max(np.linalg.norm(v0 - x_b), 1e-300) / (1e-3 * nx)) / lmin, 0.5 * t_end_s) \
            if lmin > 0 and nx > 0 else 0.0
        settle_s = max(settle_s, 0.0)
    times = np.linspace(0.0, t_end_s, n_points + 1)
    pred = predict_error(M, M @ x_b, D, x_ref, v0, times, settle_s, scale=1.0)
    return pred, x_ref


def time_to_tolerance(cal, tol: float, prob: float = 0.9, t_max_s: float | None = None, n_grid: int = 200,
                      n_mc: int = 4000, seed: int = 0) -> float:
    """Shortest averaging window T (after settling, s) with P(‖x̄_T − x‖ ≤ tol‖x‖) ≥ prob, by Monte
    Carlo over the Gaussian law of x̄_T; ``inf`` if the floor or t_max forbid it."""
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not (math.isfinite(tol) and tol > 0):
        raise InputError(f"--tol {tol!r}: the relative tolerance must be a finite number > 0")
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 < prob < 1:
        raise InputError(f"--prob {prob!r}: the probability must be in (0, 1)")
    M, D, x_b = cal.M, cal.D, cal.x_star
    x_ref = cal.x_reference
    Sigma = scipy.linalg.solve_continuous_lyapunov(M, D)
    Sigma = 0.5 * (Sigma + Sigma.T)
    floor = x_b - x_ref
    nx = np.linalg.norm(x_ref)
    if np.linalg.norm(floor) >= tol * nx:
        return math.inf
    lmin = cal.lambda_min_per_s
    t_max_s = t_max_s or 1e6 / max(lmin, 1e-300)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n_mc, cal.d))
    for T in np.geomspace(0.01 / lmin, t_max_s, n_grid):
        C = running_covariance(M, Sigma, T)
        w, V = np.linalg.eigh(C)
        samples = floor + (z * np.sqrt(np.clip(w, 0, None))) @ V.T
        if np.mean(np.linalg.norm(samples, axis=1) <= tol * nx) >= prob:
            return float(T)
    return math.inf
