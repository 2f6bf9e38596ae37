"""Oracles for the exact OU twin (backend ``twin``); no ngspice needed.

Every stochastic check compares against a closed form (shared/DESIGN.md 1.1–1.2) with a
tolerance k·σ, k ≥ 5, where σ is the standard error of the statistic for the sample size used;
the derivation is next to each tolerance. Times are in units of τ unless stated otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import thermotwin as tt
from thermotwin.calibration.predict import predict_for
from thermotwin.circuit.design import design, realised_matrix
from thermotwin.solver.config import initial_state, resolve_grid
from thermotwin.solver.ou import simulate_realised

K_SIGMA = 5.0   # tolerance in standard errors (STYLE 13: k ≥ 4)


# ---------------------------------------------------------------------------------------------
# matrices and closed forms
# ---------------------------------------------------------------------------------------------
def nonsymmetric_5x5() -> np.ndarray:
    """A fixed non-symmetric, non-normal, stable 5×5 matrix (some negative entries)."""
    rng = np.random.default_rng(20240501)
    A = 1.5 * np.eye(5) + 0.45 * rng.standard_normal((5, 5))
    assert np.linalg.eigvals(A).real.min() > 0.3
    assert np.abs(A - A.T).max() > 0.3 and (A < 0).any()
    return A


def nonsymmetric_4x4() -> np.ndarray:
    """Non-symmetric stable 4×4 with a complex eigenvalue pair and negative entries."""
    A = np.array([[1.5, -0.4, 0.3, 0.0],
                  [0.6, 2.0, -0.5, 0.2],
                  [-0.2, 0.3, 1.2, -0.6],
                  [0.1, -0.7, 0.4, 1.8]])
    assert np.linalg.eigvals(A).real.min() > 1.0
    return A


def spd(d: int, lam: np.ndarray, seed: int) -> np.ndarray:
    """Q diag(lam) Qᵀ with a seeded random rotation Q."""
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    A = (Q * lam) @ Q.T
    return 0.5 * (A + A.T)


def transient(A: np.ndarray, b: np.ndarray, v0: np.ndarray, t_tau: np.ndarray) -> np.ndarray:
    """E V(t) = x* + expm(−A t/τ)(V0 − x*) (DESIGN 1.2), shape (n_t, d)."""
    x = np.linalg.solve(A, b)
    return np.array([x + scipy.linalg.expm(-A * t) @ (v0 - x) for t in t_tau])


def lyapunov(A: np.ndarray, kappa0: float) -> np.ndarray:
    """Σ with A Σ + Σ Aᵀ = 2κ0 I (τ units; DESIGN 1.1)."""
    S = scipy.linalg.solve_continuous_lyapunov(A, 2.0 * kappa0 * np.eye(A.shape[0]))
    S = 0.5 * (S + S.T)
    np.testing.assert_allclose(A @ S + S @ A.T, 2.0 * kappa0 * np.eye(A.shape[0]), rtol=0,
                               atol=1e-12 * kappa0)
    return S


def average_cov(A: np.ndarray, Sigma: np.ndarray, T: float) -> np.ndarray:
    """Cov of the continuous time average over a stationary window of length T (τ units).

    Cov(x̄_T) = (KΣ + ΣKᵀ)/T², K = ∫₀ᵀ (T − u) e^{−Au} du = A⁻¹[T I − A⁻¹(I − e^{−AT})]; for large T
    this tends to (1/T)(A⁻¹Σ + ΣA⁻ᵀ) = 2κ0 (1/T) A⁻¹A⁻ᵀ.
    """
    d = A.shape[0]
    Ainv = np.linalg.inv(A)
    K = Ainv @ (T * np.eye(d) - Ainv @ (np.eye(d) - scipy.linalg.expm(-A * T)))
    C = (K @ Sigma + Sigma @ K.T) / T ** 2
    return 0.5 * (C + C.T)


def cov_entry_se(S: np.ndarray, n: int) -> np.ndarray:
    """Standard error of every entry of a sample covariance of n Gaussian samples with covariance S.

    Var(Ŝ_ij) = (S_ii S_jj + S_ij²)/n (Wishart; ddof=1 changes it by O(1/n²)).
    """
    d = np.diag(S)
    return np.sqrt((np.outer(d, d) + S ** 2) / n)


def states_all(res: tt.SimResult) -> np.ndarray:
    return res.stats["states_all"]


# ---------------------------------------------------------------------------------------------
# 1. noise-free transient against expm
# ---------------------------------------------------------------------------------------------
def _five_problem(scale_b: float = 1.0) -> tt.Problem:
    b = np.array([1.0, -0.5, 0.3, 2.0, -1.2]) * scale_b
    return tt.Problem(nonsymmetric_5x5(), b, name="ns5")


@pytest.mark.parametrize("which", ["ns5", "ns5_bscaled", "builtin"])
@pytest.mark.parametrize("v0", ["zero", "rhs"])
@pytest.mark.parametrize("how", ["kappa0=0", "noise=none"])
def test_noise_free_transient_matches_expm(which, v0, how):
    """With no noise the twin is the exact linear ODE solution on its output grid."""
    if which == "builtin":
        p = tt.builtin_example()
    else:
        # ns5_bscaled: x* and b far outside ±v_range_v/2, so design() scales b (b_scale < 1)
        p = _five_problem(100.0 if which == "ns5_bscaled" else 1.0)
    spec = tt.HardwareSpec.ideal(kappa0_v2=0.0) if how == "kappa0=0" else tt.HardwareSpec.ideal()
    noise = "pwl" if how == "kappa0=0" else "none"
    t_end = 8.0 / p.lambda_min
    cfg = tt.SimConfig(t_end=f"{t_end}tau", dt_out="0.05tau", noise=noise, v0=v0, seed=3)
    res = tt.simulate(p, spec, cfg)
    if which == "ns5_bscaled":
        assert res.b_scale < 0.5
    V0 = np.zeros(p.d) if v0 == "zero" else p.b
    ref = transient(p.A, p.b, V0, res.times / res.tau_s)
    scale = max(np.ptp(ref), np.abs(ref).max())
    err = np.abs(res.states - ref).max() / scale
    assert err <= 1e-10, f"noise-free twin deviates from expm by {err:.2e} of the range"
    # the run reaches (most of) the way to x*, so the comparison covers the whole transient
    assert np.abs(ref[-1] - p.x_exact).max() <= 1e-3 * np.abs(V0 - p.x_exact).max() + 1e-300


# ---------------------------------------------------------------------------------------------
# 2. stationary covariance from many white-noise trajectories
# ---------------------------------------------------------------------------------------------


def _white_covariance_check(A: np.ndarray, dt_out_tau: float | None, seed: int = 11) -> None:
    d = A.shape[0]
    b = np.linspace(1.0, -1.0, d)
    p = tt.Problem(A, b)
    kappa0 = 1e-4
    spec = tt.HardwareSpec.ideal(kappa0_v2=kappa0)
    n = 20000
    t_end = 30.0 / p.lambda_min          # covariance transient e^{−A t}Σe^{−Aᵀt} ≲ e^{−60}
    x = p.x_exact
    dt_out = dt_out_tau if dt_out_tau is not None else t_end / 3
    cfg = tt.SimConfig(t_end=f"{t_end}tau", dt_out=f"{dt_out}tau", noise="white", seed=seed, n_traj=n,
                       v0=tuple(x))
    res = tt.simulate(p, spec, cfg)
    assert res.b_scale == 1.0
    X = states_all(res)[:, -1, :]
    assert X.shape == (n, d)
    t = res.times[-1] / res.tau_s
    Sigma = lyapunov(A, kappa0)
    E = scipy.linalg.expm(-A * t)
    Sigma_t = Sigma - E @ Sigma @ E.T        # exact covariance at t from a deterministic start
    # mean: E V(t) = x* exactly (V0 = x*); SE of a sample-mean entry = sqrt(Σ_ii/n)
    mean_err = np.abs(X.mean(axis=0) - x)
    assert np.all(mean_err <= K_SIGMA * np.sqrt(np.diag(Sigma_t) / n))
    # covariance: SE of entry (i, j) = sqrt((Σ_ii Σ_jj + Σ_ij²)/n), k = 5 for every entry
    # (≤ 15 entries × two-sided 5σ tail 5.7e-7 ⇒ false-alarm rate < 1e-5)
    S_hat = np.cov(X, rowvar=False)
    se = cov_entry_se(Sigma_t, n)
    dev = np.abs(S_hat - Sigma_t)
    assert np.all(dev <= K_SIGMA * se), f"max deviation {np.max(dev / se):.2f} σ"


def test_white_noise_stationary_covariance_nonsymmetric():
    """Sample covariance at a late time against Σ of A Σ + Σ Aᵀ = 2κ0 I for a non-normal A."""
    A = nonsymmetric_5x5()
    _white_covariance_check(A, dt_out_tau=1.0)
    # The test has power: the symmetric-part shortcut (DESIGN 1.1 warns against it) would fail it.
    Sigma, Sigma_wrong = lyapunov(A, 1e-4), lyapunov(0.5 * (A + A.T), 1e-4)
    assert np.max(np.abs(Sigma_wrong - Sigma) / (K_SIGMA * cov_entry_se(Sigma, 20000))) > 3.0


def test_white_noise_stationary_covariance_spd():
    _white_covariance_check(spd(4, np.array([0.5, 0.9, 1.4, 2.5]), seed=5), dt_out_tau=1.0)


def test_white_noise_stationary_covariance_coarse_output_grid():
    """Same check with dt_out = 20τ (λmax·Δ = 50): the exact OU step must hold for any Δ."""
    _white_covariance_check(spd(4, np.array([0.5, 0.9, 1.4, 2.5]), seed=5), dt_out_tau=20.0)


@pytest.mark.parametrize("lam_dt", [
    0.01, 1.0, 10.0, 20.0,
    50.0,
])
def test_ou_transition_covariance_matches_lyapunov_identity(lam_dt):
    """Deterministic: Qd(Δ) = Σ − Φ Σ Φᵀ with Φ = expm(−MΔ) (DESIGN 1.1), non-normal and SPD drift."""
    from thermotwin.solver.ou import ou_transition

    for A in (nonsymmetric_5x5(), spd(4, np.array([0.5, 0.9, 1.4, 2.5]), seed=5)):
        tau = 1e-6
        M, Q = A / tau, 2e-4 / tau * np.eye(A.shape[0])      # SI units as the twin uses them
        dt = lam_dt / np.abs(np.linalg.eigvals(A)).max() * tau
        phi, qd = ou_transition(M, Q, dt)
        S = scipy.linalg.solve_continuous_lyapunov(M, Q)
        S = 0.5 * (S + S.T)
        np.testing.assert_allclose(phi, scipy.linalg.expm(-M * dt), rtol=0, atol=1e-13)
        ref = S - phi @ S @ phi.T
        # the identity loses ~eps·‖Σ‖/‖Qd‖ ≈ eps/(2λΔ) ≤ 1e-13 to cancellation at λΔ = 0.01
        err = np.abs(qd - ref).max() / np.abs(ref).max()
        assert err <= 1e-9, f"relative error {err:.2e} at λmax·Δ = {lam_dt}"


def _gbw_white_variance_check(dt_out_tau: float) -> None:
    """White noise on a board with a gain–bandwidth op-amp (exact OU on the augmented state).

    Oracle: the stationary covariance of the augmented linear system dx = (F x + g) dt + B dW read
    off circuit_field (F Σ + Σ Fᵀ + q B Bᵀ = 0), mapped to the outputs, Σ_V = C Σ Cᵀ. The pole
    lowers the variance by ~5 % against κ0/a here, 5σ of this test.
    """
    from thermotwin.solver import circuit_field as cf

    a = np.array([1.0, 2.0])
    p = tt.Problem(np.diag(a), np.ones(2))
    spec = tt.HardwareSpec.ideal().replace(**{"opamp.gbw_hz": 1e7})     # ω_t τ = 63
    values = design(p, spec)
    ls = cf.linear_system(cf.field_params(values, spec))
    q = 2 * spec.kappa0_v2 / values.nominal_tau_s
    B = ls.Bn * (spec.r0_ohm * spec.c_farad)
    S = scipy.linalg.solve_continuous_lyapunov(ls.F, -q * B @ B.T)
    SV = ls.Cout @ S @ ls.Cout.T
    n = 20000
    cfg = tt.SimConfig(t_end="16tau", dt_out=f"{dt_out_tau}tau", noise="white", seed=2, n_traj=n,
                       v0=tuple(p.x_exact))
    res = tt.simulate(p, spec, cfg)
    assert res.stats["path"] == "exact-augmented"
    X = states_all(res)[:, -1, :]
    se = cov_entry_se(SV, n)
    dev = np.abs(np.cov(X, rowvar=False) - SV)
    assert np.all(dev <= K_SIGMA * se), f"max deviation {np.max(dev / se):.3g} σ"


def test_white_noise_gbw_opamp_fine_grid():
    _gbw_white_variance_check(0.05)     # ρ(F)·Δ ≈ 3


def test_white_noise_gbw_opamp_output_grid_of_one_tau():
    _gbw_white_variance_check(1.0)      # ρ(F)·Δ ≈ 65


# ---------------------------------------------------------------------------------------------
# 3. zero-order-hold noise: stationary variance per mode
# ---------------------------------------------------------------------------------------------
def test_zoh_noise_stationary_variance_closed_form():
    """pwl noise on diagonal A: Var = (q/(a²h))·tanh(ah/2) at the hold instants (solver/config.py).

    In τ units q = 2κ0; a mode of rate a sampled every hold step h is an AR(1) with
    x⁺ = e^{−ah} x + (1 − e^{−ah})/a · u, Var u = q/h, so Var x = (q/h)(1 − e^{−ah})²/(a²(1 − e^{−2ah}))
    = (q/(a²h)) tanh(ah/2). White noise would give q/(2a).
    """
    a = np.array([0.5, 1.0, 2.0, 4.0])
    h = 0.5                                    # a·h = 0.25 … 2: up to 24 % below white noise
    kappa0 = 1e-4
    q = 2.0 * kappa0
    p = tt.Problem(np.diag(a), np.ones(4))
    n = 20000
    cfg = tt.SimConfig(t_end="40tau", dt_out=f"{4 * h}tau", noise_step=f"{h}tau", noise="pwl", seed=21,
                       n_traj=n, v0=tuple(p.x_exact))
    res = tt.simulate(p, tt.HardwareSpec.ideal(kappa0_v2=kappa0), cfg)
    assert res.noise_step_s == pytest.approx(h * res.tau_s, rel=1e-12)
    X = states_all(res)[:, -1, :]
    t = res.times[-1] / res.tau_s
    var_zoh = q / (a ** 2 * h) * np.tanh(a * h / 2)
    var_t = var_zoh * (1 - np.exp(-2 * a * t))  # from a deterministic start; e^{−40} here
    S = np.diag(var_t)                         # independent noise per node: modes uncorrelated
    S_hat = np.cov(X, rowvar=False)
    # SE of a sample variance = sqrt(2/n)·Var, of a covariance sqrt(Var_i Var_j/n); k = 5
    se = cov_entry_se(S, n)
    dev = np.abs(S_hat - S)
    assert np.all(dev <= K_SIGMA * se), f"max deviation {np.max(dev / se):.2f} σ"
    # power: for a·h = 2 the ZOH variance is 24 % below white noise's q/(2a), ≫ the 5σ ≈ 5 % tolerance
    var_white = q / (2 * a)
    assert abs(var_white[-1] - var_zoh[-1]) > 3 * K_SIGMA * se[-1, -1]


# ---------------------------------------------------------------------------------------------
# 4. time-average error and residual statistic
# ---------------------------------------------------------------------------------------------
def _window_means(res: tt.SimResult) -> np.ndarray:
    """Trapezoidal time average over the result's window for every trajectory, (n_traj, d)."""
    seg = states_all(res)[:, res.window, :]
    xbar = 0.5 * (seg[:, :-1] + seg[:, 1:]).mean(axis=1)
    np.testing.assert_allclose(xbar[0], res.x_mean, rtol=0, atol=1e-15)   # same estimator as SimResult
    return xbar


def _many_averages(p: tt.Problem, spec, settle: float, T: float, dt: float, n_batches: int, per_batch: int):
    """x̄_T for n_batches·per_batch white-noise trajectories started at x* (no settling bias)."""
    out = []
    for k in range(n_batches):
        cfg = tt.SimConfig(t_end=f"{settle + T}tau", dt_out=f"{dt}tau", settle=f"{settle}tau",
                           noise="white", seed=100 + k, n_traj=per_batch, v0=tuple(p.x_exact))
        res = tt.simulate(p, spec, cfg)
        assert res.window.start * dt == pytest.approx(settle, abs=1e-9)
        assert res.t_end_s / res.tau_s == pytest.approx(settle + T, rel=1e-9)
        out.append(_window_means(res))
    return np.concatenate(out), cfg


def test_time_average_error_law():
    """E‖x̄_T − x*‖² = tr Cov(x̄_T) → 2κ0 (τ/T) tr(A⁻²) (DESIGN 1.2), and predict_for agrees."""
    lam = np.array([0.5, 0.8, 1.3, 2.0])
    A = spd(4, lam, seed=9)
    p = tt.Problem(A, np.array([1.0, 0.5, -0.5, 0.25]))
    kappa0 = 1e-4
    spec = tt.HardwareSpec.ideal(kappa0_v2=kappa0)
    settle, T, dt = 20.0, 200.0, 0.05        # start stationary: 1 − e^{−2·0.5·20} = 1 − 2e−9
    xbar, cfg = _many_averages(p, spec, settle, T, dt, n_batches=4, per_batch=1000)
    n = len(xbar)
    err2 = np.sum((xbar - p.x_exact) ** 2, axis=1)
    C = average_cov(A, lyapunov(A, kappa0), T)
    expect = np.trace(C)
    # SE of the mean of ‖x̄ − x*‖² for Gaussian x̄ of covariance C: sqrt(2 tr(C²)/n) (≈ 2 % here).
    se = np.sqrt(2 * np.trace(C @ C) / n)
    # The twin samples the path every δ = dt and averages with the trapezoid rule; for a mode of rate a
    # that multiplies the long-window variance by (aδ/2)coth(aδ/2) ≤ 1 + (λmax δ)²/12 = 1.0008.
    disc = (lam.max() * dt) ** 2 / 12 * expect
    assert abs(err2.mean() - expect) <= K_SIGMA * se + disc, \
        f"E‖x̄−x*‖² = {err2.mean():.4g}, expected {expect:.4g} ± {se:.2g}"
    # predict_for's running noise is the same finite-T formula (independent implementation, eigenbasis)
    pred = predict_for(p, spec, cfg)
    assert pred.window[-1] / (pred.times[1] - pred.times[0]) == pytest.approx(T / dt, rel=1e-9)
    assert (pred.running_noise[-1] * np.linalg.norm(p.x_exact)) ** 2 == pytest.approx(expect, rel=1e-8)
    assert pred.running_bias[-1] <= 1e-12
    # DESIGN's asymptote 2κ0(τ/T)tr(A⁻²): the finite-T correction is −Σ_k (1 − e^{−λ_k T})/(λ_k T) per
    # mode, at most 1/(λmin T) = 1 % here; so the measured value must sit within 5σ + disc + 1 % of it.
    asym = 2 * kappa0 / T * np.trace(np.linalg.inv(A @ A))
    assert abs(expect - asym) <= asym / (lam.min() * T)
    assert abs(err2.mean() - asym) <= K_SIGMA * se + disc + asym / (lam.min() * T)


def test_time_average_residual_covariance_nonsymmetric():
    """Cov(A x̄_T − b) = A Cov(x̄_T) Aᵀ ≈ 2κ0 (τ/T) I whatever A is (DESIGN 1.2), here non-normal A."""
    A = nonsymmetric_4x4()
    b = np.array([1.0, -2.0, 0.5, 1.5])
    p = tt.Problem(A, b)
    kappa0 = 1e-4
    spec = tt.HardwareSpec.ideal(kappa0_v2=kappa0)
    settle, T, dt = 20.0, 200.0, 0.05
    xbar, _ = _many_averages(p, spec, settle, T, dt, n_batches=4, per_batch=1000)
    n = len(xbar)
    r = xbar @ A.T - b
    R_exact = A @ average_cov(A, lyapunov(A, kappa0), T) @ A.T
    R_law = 2 * kappa0 / T * np.eye(4)
    # the law and the exact finite-T covariance differ by O(1/(Re λmin·T)) ≈ 0.8 % here
    assert np.abs(R_exact - R_law).max() <= R_law[0, 0] / (np.linalg.eigvals(A).real.min() * T)
    R_hat = np.cov(r, rowvar=False)
    # entrywise SE sqrt((R_ii R_jj + R_ij²)/n) (≈ 2.2 % of the diagonal for n = 4000), k = 5, plus
    # the trapezoid sampling bias ≤ (ρ(A)δ)²/12 ≈ 0.1 % of the diagonal.
    se = cov_entry_se(R_exact, n)
    disc = (np.abs(np.linalg.eigvals(A)).max() * dt) ** 2 / 12 * R_law[0, 0]
    dev = np.abs(R_hat - R_exact)
    assert np.all(dev <= K_SIGMA * se + disc), f"max deviation {np.max(dev / se):.2f} σ"
    # mean residual is zero (started at x*); SE sqrt(R_ii/n)
    assert np.all(np.abs(r.mean(axis=0)) <= K_SIGMA * np.sqrt(np.diag(R_exact) / n))


# ---------------------------------------------------------------------------------------------
# 5. chunked noise, seeds and the board
# ---------------------------------------------------------------------------------------------
# Bitwise identity holds for the random numbers (ChunkedNormals vs zoh_normals) and for two runs of
# one config; the integrated paths of different chunkings / batch sizes agree to a few ulp only,
# because BLAS blocks the GEMMs z @ mix and prev @ Φᵀ differently for different shapes.
ULP_RTOL = 1e-13


def test_chunked_normals_are_bitwise_the_netlist_stream():
    from thermotwin.solver.noise import ChunkedNormals, zoh_normals

    full = zoh_normals(5, 40, 3, n_traj=4)
    cn = ChunkedNormals(5, 40, 3, n_traj=4)
    parts = [cn.next(k) for k in (1, 7, 13, 19, 5)]
    assert parts[-1].shape == (4, 0, 3)                     # past the end: nothing more
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), full)


@pytest.mark.parametrize("noise", ["pwl", "white", "trrandom"])
def test_chunked_noise_equals_unchunked(noise):
    """simulate_realised gives the same paths whatever the time-chunk size."""
    p = _five_problem()
    spec = tt.HardwareSpec.ideal()
    cfg = tt.SimConfig(t_end="12tau", dt_out="0.3tau", noise=noise, seed=5, n_traj=3)
    values = design(p, spec)
    real = realised_matrix(values, spec)
    grid = resolve_grid(p, cfg, values.nominal_tau_s)
    assert grid.steps_per_out > 1              # several noise steps folded into each output step
    v0 = initial_state(p, cfg) * values.b_scale
    q = 2 * spec.kappa0_v2 / values.nominal_tau_s
    full = simulate_realised(real, q, v0, grid, cfg)
    scale = np.abs(full).max()
    m = grid.steps_per_out if noise != "white" else 1
    for rows in (1, 7):                        # chunk_bytes for 1 and 7 output rows per chunk
        tiny = simulate_realised(real, q, v0, grid, cfg, chunk_bytes=8 * 3 * m * 5 * 2 * rows)
        np.testing.assert_allclose(tiny, full, rtol=0, atol=ULP_RTOL * scale)


@pytest.mark.parametrize("noise", ["pwl", "white"])
def test_same_seed_same_run_and_trajectory_zero_is_the_single_run(noise):
    p = _five_problem()
    spec = tt.HardwareSpec.ideal()
    cfg3 = tt.SimConfig(t_end="10tau", noise=noise, seed=17, n_traj=3)
    r1 = tt.simulate(p, spec, cfg3)
    r2 = tt.simulate(p, spec, cfg3)
    np.testing.assert_array_equal(states_all(r1), states_all(r2))       # bitwise
    # trajectory 0 of a batch is the single-trajectory run with the same seed (the netlist's path)
    single = tt.simulate(p, spec, tt.SimConfig(t_end="10tau", noise=noise, seed=17))
    np.testing.assert_allclose(single.states, states_all(r1)[0], rtol=0,
                               atol=ULP_RTOL * np.abs(single.states).max())
    # and trajectory 1 is a different draw (its own stream), at the scale of the noise sqrt(κ0/λ)
    assert np.abs(states_all(r1)[1] - states_all(r1)[0])[-1].max() > 1e-4


def test_dt_out_does_not_change_the_board():
    """Tolerances come from spec.board_seed only: design() has no SimConfig input, and noise-free runs
    with different output grids agree on the common times with the realised (perturbed) matrix."""
    p = _five_problem()
    spec = tt.HardwareSpec.ideal(kappa0_v2=0.0, r_tolerance=0.02, c_tolerance=0.02, board_seed=4)
    v1, v2 = design(p, spec), design(p, spec)
    for name in ("r_entry", "r_in", "v_in", "r_noise", "r_inv_in", "r_inv_fb", "c"):
        np.testing.assert_array_equal(getattr(v1, name), getattr(v2, name))
    real = realised_matrix(v1, spec)
    assert np.abs(real.A_eff - p.A).max() > 1e-3          # the board really is perturbed
    runs = [tt.simulate(p, spec, tt.SimConfig(t_end="6tau", dt_out=f"{dt}tau", noise="none", v0="rhs"))
            for dt in (0.1, 0.25)]
    t_common = np.arange(0, 6.0 + 1e-9, 0.5)
    picked = []
    for r in runs:
        idx = np.rint(t_common * r.tau_s / r.dt_out_s).astype(int)
        np.testing.assert_allclose(r.times[idx], t_common * r.tau_s, rtol=1e-12)
        picked.append(r.states[idx])
    np.testing.assert_allclose(picked[0], picked[1], rtol=0, atol=1e-12)
    # and both follow the realised board, not the nominal A (oracle: expm of the realised drift)
    M, f = real.M * real.tau_s, real.f * real.tau_s            # τ units, volts
    ref = transient(M, f, p.b * v1.b_scale, t_common) / v1.b_scale
    np.testing.assert_allclose(picked[0], ref, rtol=0, atol=1e-10 * np.abs(ref).max())
    nominal = transient(p.A, p.b, p.b, t_common)
    assert np.abs(nominal - ref).max() > 1e-4
