"""Factored TNGD twin (issue 8): F = λI + JᵀHJ at paper scale, checked at small N.

Oracles (docs/conventions.md#oracles): np.linalg.solve for Woodbury; the dense twin's own transition
(thermotwin.solver.ou.ou_transition: expm + Lyapunov) fed the same standard normals through the
symmetric square root of its transition covariance (the factored engines use that square root, so
paths agree to round-off); simulate_linear and scipy expm for noise-free transients; κ F⁻¹ for the
stationary covariance, deterministically and in distribution; the ETD2 scheme written densely for
the diagonal path plus its stated error bound against the exact dense solution.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import scipy.linalg

from thermotwin.circuit.factored import realise_factored
from thermotwin.circuit.spec import HardwareSpec, OpAmpSpec
from thermotwin.cli import main
from thermotwin.errors import InputError, UnstableMatrixError
from thermotwin.solver import factored as fmod
from thermotwin.solver.config import Grid, SimConfig
from thermotwin.solver.factored import (ETD_ERROR_CONST, FactoredProblem, load_factored, run_factored,
                                        synthetic_factored)
from thermotwin.solver.lowrank import (BasisLowRank, SymLowRank, orthonormal_basis, phi1, phi2, small_blas,
                                       symmetric_sqrt)
from thermotwin.solver.noise import zoh_normals
from thermotwin.solver.ou import ou_transition, simulate_linear

ROUND = 1e-11          # "round-off": relative agreement of two exact computations of ~20 steps


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Dense references (expm, Lyapunov at N = 100–2000) run 2–10× faster on one OpenBLAS thread on
    the shared machine (see lowrank.small_blas)."""
    with small_blas():
        yield


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.fixture(scope="module")
def prob():
    return synthetic_factored(300, 40, seed=1, damping=0.05)


def dense_reference(board, n_steps, seed, v0, dt=1.0, noise=True):
    """The dense twin's exact step in Y = V/noise_gain coordinates (isotropic noise), same normals."""
    M = board.dense_drift()
    ng = board.noise_gain
    MY = M * ng[None, :] / ng[:, None]
    y_star = np.linalg.solve(MY, board.f / ng)
    kap = board.kappa if noise else 0.0
    phi, qd = ou_transition(MY, 2 * kap * np.eye(len(ng)), dt)
    L = symmetric_sqrt(qd)
    z = zoh_normals(seed, n_steps, len(ng))[0]
    Y = [v0 / ng]
    for n in range(n_steps):
        Y.append(y_star + phi @ (Y[-1] - y_star) + (L @ z[n] if noise else 0.0))
    return np.array(Y) * ng


# -- problem type, Woodbury --------------------------------------------------------------------
def test_woodbury_matches_dense_solve(prob):
    F = prob.dense()
    assert rel(prob.x_exact, np.linalg.solve(F, prob.g)) < 1e-13
    # r > N (J has full column rank), and H singular (rank 3 of 8)
    rng = np.random.default_rng(5)
    J = rng.standard_normal((8, 5))
    W = rng.standard_normal((8, 3))
    p = FactoredProblem(J, W @ W.T, 0.3, rng.standard_normal(5))
    assert rel(p.x_exact, np.linalg.solve(p.dense(), p.g)) < 1e-13
    ev = np.linalg.eigvalsh(p.dense())
    assert p.lambda_min == pytest.approx(ev[0], rel=1e-12)
    assert p.lambda_max == pytest.approx(ev[-1], rel=1e-12)
    assert prob.lambda_min == prob.damping   # exact: r < N, lambda_min is damping + 0.0


def test_operator_products(prob):
    F = prob.dense()
    x = np.random.default_rng(0).standard_normal((3, prob.N))
    assert rel(prob.operator @ x[0], F @ x[0]) < 1e-13
    assert rel(x @ prob.operator.T, x @ F.T) < 1e-13


@pytest.mark.parametrize("kwargs, match", [
    (dict(J=np.ones(4)), "2-D"),
    (dict(H=np.eye(3)), "H has shape"),
    (dict(b=np.ones(7)), r"b \(array g\) has shape"),
    (dict(H=np.array([[1.0, 0.5], [0.0, 1.0]])), "not symmetric"),
    (dict(H=np.diag([1.0, -0.5])), "not positive semi-definite"),
    (dict(J=np.array([[1.0, np.nan, 0, 0, 0, 0], [0] * 6])), "non-finite"),
    (dict(damping=np.array([0.1, 0.2])), "one number"),
    (dict(H=np.eye(2) * 1j), "complex"),
])
def test_problem_validation(kwargs, match):
    base = dict(J=np.ones((2, 6)), H=np.eye(2), damping=0.1, b=np.ones(6))
    base.update(kwargs)
    with pytest.raises(InputError, match=match):
        FactoredProblem(**base)


def test_damping_must_be_positive():
    with pytest.raises(UnstableMatrixError, match="λ = 0 ≤ 0"):
        FactoredProblem(np.ones((2, 6)), np.eye(2), 0.0, np.ones(6))


# -- exact path against the dense twin ---------------------------------------------------------
def test_exact_path_matches_dense_twin_same_noise(prob):
    spec = HardwareSpec(kappa0_v2=1e-3)
    cfg = SimConfig(t_end="20tau", dt_out="1tau", noise="white", seed=3, v0="rhs")
    res = run_factored(prob, spec, cfg)
    assert res.stats["path"] == "factored-exact" and res.stats["subspace_dim"] == 40
    board = realise_factored(prob, spec)
    V = dense_reference(board, 20, 3, prob.g)
    assert rel(res.states, V) < ROUND
    basis = run_factored(prob, spec, cfg, method="basis")   # second engine, same noise
    assert basis.stats["path"] == "factored-exact-basis"
    assert rel(basis.states, V) < ROUND
    assert res.noise == "white" and res.d == prob.N


def test_noise_free_transient_is_expm(prob):
    cfg = SimConfig(t_end="12tau", dt_out="0.75tau", noise="none", v0="rhs")
    res = run_factored(prob, HardwareSpec(), cfg)
    F = prob.dense()
    x = np.linalg.solve(F, prob.g)
    t = res.times / res.tau_s
    V = np.array([x + scipy.linalg.expm(-F * tk) @ (prob.g - x) for tk in t])
    assert rel(res.states, V) < ROUND
    # and the dense twin itself (simulate_linear, noise none) on the assembled F
    grid = Grid(t_end_s=res.t_end_s, dt_out_s=res.dt_out_s, n_out=len(t) - 1, noise_step_s=res.dt_out_s,
                steps_per_out=1, settle_s=0.0)
    xd = simulate_linear(F / res.tau_s, prob.g / res.tau_s, np.eye(prob.N), 0.0, prob.g, grid,
                         SimConfig(noise="none"))
    assert rel(res.states, xd[0]) < ROUND


@pytest.mark.parametrize("engine_kind", ["sym", "basis"])
def test_transition_covariance_closed_form(engine_kind):
    """L Lᵀ = κ F⁻¹ (I − e^{−2F dt}); for dt ≫ 1/λ this is the stationary κ F⁻¹ (subspace and
    complement alike)."""
    p = synthetic_factored(60, 8, seed=2, damping=0.2)
    F = p.dense()
    kap = 0.7
    if engine_kind == "sym":
        eng = SymLowRank(p.J, p.H, p.damping)
    else:
        eng = BasisLowRank(np.ascontiguousarray(p.J), p.damping, lambda R: (R @ p.H, R))
    w, U = np.linalg.eigh(F)
    for dt in (0.3, 400.0):
        ops = eng.exact_ops(dt, kap)
        eye = np.eye(p.N)
        P = eng.project(eye)
        Rs = ops["Rs"]
        L = ops["s_perp"] * eye + eng.lift(Rs * P if Rs.ndim == 1 else P @ Rs.T)
        Rp = ops["Rphi"]
        Phi = ops["phi_perp"] * eye + eng.lift(Rp * P if Rp.ndim == 1 else P @ Rp.T)
        assert np.abs(L - L.T).max() < 1e-13 * np.abs(L).max()        # the symmetric root
        Qd = (U * (kap * -np.expm1(-2 * w * dt) / w)) @ U.T
        assert rel(L @ L.T, Qd) < 1e-11
        assert rel(Phi, (U * np.exp(-w * dt)) @ U.T) < 1e-11
    assert rel(L @ L.T, kap * np.linalg.inv(F)) < 1e-11


def test_stationary_covariance_in_distribution():
    """200 trajectories, one exact step of 60τ from x* (e^{−2λ·60} = e^{−24}): V − x* ~ N(0, κ F⁻¹).

    Whitened w = F^{1/2}(V − x*)/√κ is N(0, I): the mean of ‖w‖²/N over n trajectories has σ =
    sqrt(2/(N n)); the per-direction variances along the r subspace eigenvectors, divided by
    κ/(λ + ν_i), average to 1 with σ = sqrt(2/(r n)). Tolerances 5σ.
    """
    p = synthetic_factored(60, 8, seed=2, damping=0.2)
    n = 200
    spec = HardwareSpec(kappa0_v2=1e-4)
    res = run_factored(p, spec, SimConfig(t_end="60tau", dt_out="60tau", noise="white", seed=11, n_traj=n,
                                          v0=tuple(p.x_exact)))
    kap = 1e-4 / res.b_scale**2
    D = res.stats["states_all"][:, -1] - p.x_exact
    w, U = np.linalg.eigh(p.dense())
    Wt = (D @ U) * np.sqrt(w / kap)
    assert abs(np.mean(np.sum(Wt**2, axis=1)) / p.N - 1) < 5 * np.sqrt(2 / (p.N * n))
    top = Wt[:, -p.r:]                                   # the r subspace directions (ν > 0)
    assert abs(np.mean(top**2) - 1) < 5 * np.sqrt(2 / (p.r * n))
    assert abs(np.mean(Wt[:, :p.N - p.r] ** 2) - 1) < 5 * np.sqrt(2 / ((p.N - p.r) * n))


def test_noise_stream_matches_zoh_normals():
    from thermotwin.core.noise import noise_chunks

    chunks = list(noise_chunks(7, 30, 11, 3, 2, True))
    z = np.concatenate([c[1] for c in chunks])
    assert np.array_equal(z, zoh_normals(7, 30, 11, 3)[2])   # exact: the same generator draws, chunked


# -- non-ideal boards that keep the factored form ----------------------------------------------
def test_tolerance_board_is_exact_against_dense(prob):
    spec = HardwareSpec(kappa0_v2=1e-3, r_tolerance=0.02, board_seed=4)
    board = realise_factored(prob, spec)
    assert board.J2 is not board.J1 and not board.has_diagonal and not board.symmetric
    # the rule: each entry of J1 is J/(1 + t z) with z from J1's own stream of board_seed
    ss = np.random.SeedSequence(4).spawn(2)[0].spawn(4)[0]
    z = np.random.default_rng(ss).standard_normal(prob.J.shape)
    assert rel(board.J1, prob.J / (1 + 0.02 * z)) < 1e-15
    assert np.abs(board.H - board.H.T).max() > 0
    cfg = SimConfig(t_end="20tau", dt_out="1tau", noise="white", seed=5, v0="rhs")
    res = run_factored(prob, spec, cfg)
    assert res.stats["path"] == "factored-exact-basis" and res.stats["subspace_dim"] == 80
    assert rel(res.states, dense_reference(board, 20, 5, prob.g)) < ROUND


@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_quantised_board(prob, rounding):
    spec = HardwareSpec(kappa0_v2=1e-3, resistor_bits=6, r_min_ohm=1e3, r_max_ohm=1e6)
    board = realise_factored(prob, spec, rounding=rounding)
    gmin, gmax = 1e-6, 1e-3
    step = (gmax - gmin) / 63
    s = board.report["scale"]
    gq = (s / 1e3) * np.abs(board.J1)
    k = (gq[gq > 0] - gmin) / step
    assert np.abs(k - np.rint(k)).max() < 1e-6                        # on the conductance grid
    assert (board.J2 is board.J1) == (rounding == "nearest")
    if rounding == "nearest":
        # exact: elementwise (IEEE, correctly rounded) nearest-level rounding of an exactly symmetric H
        assert np.array_equal(board.H, board.H.T)
        assert rel(np.abs(board.J1), np.abs(prob.J)) <= 0.5 * step / (s / 1e3) / np.abs(prob.J).max() + 1e-15
    res = run_factored(prob, spec, SimConfig(t_end="10tau", dt_out="1tau", noise="white", seed=1, v0="rhs"),
                       rounding=rounding)
    assert rel(res.states, dense_reference(board, 10, 1, prob.g)) < ROUND


def test_realisation_rules_for_diagonal_effects(prob):
    A0 = 500.0
    spec = HardwareSpec(c_tolerance=0.03, opamp=OpAmpSpec(gain=A0), board_seed=9)
    b = realise_factored(prob, spec)
    z_c = np.random.default_rng(np.random.SeedSequence(9).spawn(2)[0].spawn(4)[3]).standard_normal((4, prob.N))[2]
    c = 1 / ((1 + 0.03 * z_c) * (1 + 1 / A0))
    assert rel(b.row, c) < 1e-15 and rel(b.noise_gain, c) < 1e-15
    gam1 = 1 / (1 + (1 + np.abs(prob.J).sum(axis=1)) / A0)
    g_inv = 1 / (1 + 2 / A0)       # inverters feed J1's positive and J2's negative entries
    assert rel(b.J1, np.where(prob.J > 0, g_inv, 1.0) * prob.J * gam1[:, None]) < 1e-15
    assert rel(b.J2, np.where(prob.J < 0, g_inv, 1.0) * prob.J) < 1e-15
    gamH = 1 / (1 + (1 + np.abs(prob.H).sum(axis=1)) / A0)
    assert rel(b.H, np.where(prob.H > 0, g_inv, 1.0) * prob.H * gamH[:, None]) < 1e-15
    leak = (np.abs(prob.J).sum(axis=0) + prob.damping + 1 + 1) / A0
    assert rel(b.d, c * (prob.damping + leak)) < 1e-14
    assert b.has_diagonal and not b.symmetric


def test_mismatch_larger_than_damping_is_reported_unstable():
    """1 % array mismatch on a stiff J (λ_max ≈ 35) with λ = 0.01: the realised λI + J₂ᵀH'J₁ has an
    eigenvalue ≈ −0.007 (dense eigvals agree), so the board would rail out — an error, not numbers."""
    q = synthetic_factored(300, 40, seed=1, damping=0.01, scale=3)
    spec = HardwareSpec(r_tolerance=0.01)
    ev = np.linalg.eigvals(realise_factored(q, spec).dense_drift()).real.min()
    assert ev < 0
    with pytest.raises(UnstableMatrixError, match="would rail out"):
        run_factored(q, spec, SimConfig(t_end="2tau", noise="none"))


def test_unsupported_and_unrealisable(prob):
    with pytest.raises(InputError, match="opamp.gbw_hz"):
        realise_factored(prob, HardwareSpec(opamp=OpAmpSpec(gbw_hz=1e6)))
    with pytest.raises(InputError, match="damping"):
        realise_factored(prob, HardwareSpec(r_min_ohm=1e3, r_max_ohm=2e3, resistor_bits=4))


# -- the diagonal path (ETD2) --------------------------------------------------------------------
def etd2_dense(board, h, m, n_out, seed, v0, noise=True):
    """The ETD2 scheme of lowrank.etd2_path written with dense matrices (a second implementation)."""
    M = board.dense_drift()
    ng = board.noise_gain
    MY = M * ng[None, :] / ng[:, None]
    lam = 0.5 * (board.d.max() + board.d.min())
    E = board.d - lam
    M0 = MY - np.diag(E)
    N = len(ng)
    eye = np.eye(N)
    Phi = scipy.linalg.expm(-M0 * h)
    P1 = np.linalg.solve(h * M0, eye - Phi)
    P2 = np.linalg.solve(h * M0, eye - P1)
    kap = board.kappa if noise else 0.0
    _, qd = ou_transition(M0, 2 * kap * eye, h)
    L = symmetric_sqrt(qd)
    f = board.f / ng
    z = zoh_normals(seed, n_out * m, N)[0]
    Y = v0 / ng
    Np = None
    out = [Y * ng]
    for j in range(n_out * m):
        Nn = f - E * Y
        Np = Nn if Np is None else Np
        Y = Phi @ Y + h * (P1 + P2) @ Nn - h * P2 @ Np + (L @ z[j] if noise else 0.0)
        Np = Nn
        if (j + 1) % m == 0:
            out.append(Y * ng)
    return np.array(out), (Phi, P1, P2, E, qd)


DIAG_SPECS = {
    "gain": HardwareSpec(kappa0_v2=1e-3, opamp=OpAmpSpec(gain=300.0)),
    "cap+node": HardwareSpec(kappa0_v2=1e-3, c_tolerance=0.02, r_tolerance=0.01, board_seed=2),
}


@pytest.mark.parametrize("name", list(DIAG_SPECS))
def test_etd2_path_matches_dense_scheme_and_exact_within_bound(name):
    p = synthetic_factored(200, 30, seed=1, damping=0.05)
    spec = DIAG_SPECS[name]
    node = name == "cap+node"
    board = realise_factored(p, spec, node_tolerance=node)
    cfg = SimConfig(t_end="15tau", dt_out="1tau", noise="white", seed=4, v0="rhs")
    res = run_factored(p, spec, cfg, node_tolerance=node, etd_tol=1.0)      # one sub-step per τ
    assert res.stats["path"] == "factored-etd2" and res.stats["substeps_per_output"] == 1
    V_scheme, _ = etd2_dense(board, 1.0, 1, 15, 4, p.g)
    assert rel(res.states, V_scheme) < ROUND                  # implementation = the scheme
    bound = res.stats["etd_error_bound"]
    assert bound == pytest.approx(ETD_ERROR_CONST * res.stats["E_max"])
    assert rel(res.states, dense_reference(board, 15, 4, p.g)) < bound   # scheme vs exact, same noise
    cfg0 = SimConfig(t_end="15tau", dt_out="1tau", noise="none", v0="rhs")
    res0 = run_factored(p, spec, cfg0, node_tolerance=node, etd_tol=1.0)
    assert rel(res0.states, dense_reference(board, 15, 0, p.g, noise=False)) < bound


def test_etd2_second_order_and_default_step():
    p = synthetic_factored(200, 30, seed=1, damping=0.05, scale=3.0)
    spec = DIAG_SPECS["gain"]
    board = realise_factored(p, spec)
    V = dense_reference(board, 12, 0, p.g, noise=False)
    errs = []
    for ns in ("1tau", "0.5tau", "0.25tau"):
        res = run_factored(p, spec, SimConfig(t_end="12tau", dt_out="1tau", noise="none", v0="rhs", noise_step=ns),
                           etd_tol=1.0)
        errs.append(rel(res.states, V))
        assert errs[-1] < res.stats["etd_error_bound"]
    assert errs[0] / errs[1] > 3 and errs[1] / errs[2] > 3                 # order 2 (ratio → 4)
    res = run_factored(p, spec, SimConfig(t_end="12tau", dt_out="1tau", noise="none", v0="rhs"))
    assert res.stats["etd_error_bound"] <= fmod.ETD_TOL * (1 + 1e-12)
    assert rel(res.states, V) < fmod.ETD_TOL


def test_etd2_stationary_covariance_error_is_second_order():
    """Stationary covariance of the ETD2 recursion (discrete Lyapunov on (Y_n, Y_{n−1})) against the
    exact continuous one: ≈ 0.01·h²·max|E| relative (the constant quoted in factored.py)."""
    p = synthetic_factored(120, 16, seed=1, damping=0.05)
    board = realise_factored(p, DIAG_SPECS["gain"])
    M = board.dense_drift()
    S_ex = scipy.linalg.solve_continuous_lyapunov(M, 2 * np.eye(p.N))
    errs = []
    for h in (1.0, 0.5):
        _, (Phi, P1, P2, E, qd) = etd2_dense(board, h, 1, 1, 0, p.g)
        T = np.block([[Phi - h * (P1 + P2) @ np.diag(E), h * P2 @ np.diag(E)], [np.eye(p.N), np.zeros((p.N, p.N))]])
        Qb = np.zeros((2 * p.N, 2 * p.N))
        Qb[:p.N, :p.N] = qd / board.kappa
        S = scipy.linalg.solve_discrete_lyapunov(T, Qb)[:p.N, :p.N]
        errs.append(np.linalg.norm(S - S_ex) / np.linalg.norm(S_ex))
        assert errs[-1] < 0.02 * h * h * np.abs(E).max()
    assert errs[0] / errs[1] > 3


def test_phi_functions():
    z = np.array([-1e-9, -1e-3, -0.5, -30.0, 0.0])
    with np.errstate(all="ignore"):
        ref1 = np.where(z == 0, 1.0, np.expm1(z) / np.where(z == 0, 1, z))
    assert np.allclose(phi1(z), ref1, rtol=1e-14)
    ref2 = np.array([0.5 - 1e-9 / 6, 0.5 - 1e-3 / 6 + 1e-6 / 24, (np.exp(-0.5) - 0.5) / 0.25,
                     (np.exp(-30) - 1 + 30) / 900, 0.5])
    assert np.allclose(phi2(z), ref2, rtol=1e-12)


def test_orthonormal_basis_rank_deficient_and_ill_conditioned():
    rng = np.random.default_rng(0)
    N, m = 1500, 60
    U, _ = np.linalg.qr(rng.standard_normal((N, m)))
    V, _ = np.linalg.qr(rng.standard_normal((m, m)))
    for sv in (np.logspace(0, -13, m), np.r_[np.ones(40), np.zeros(20)]):
        Xt = np.ascontiguousarray(((U * sv) @ V.T).T)
        Qt, R = orthonormal_basis(Xt)
        assert np.abs(Qt @ Qt.T - np.eye(Qt.shape[0])).max() < 1e-14
        assert np.linalg.norm(Xt - R.T @ Qt) / np.linalg.norm(Xt) < 1e-12


# -- memory, files, CLI ----------------------------------------------------------------------------
def test_memory_check_before_allocating(prob, monkeypatch):
    import thermotwin.core.memory as memory

    monkeypatch.setattr(memory, "mem_available_bytes", lambda: 10**4)
    with pytest.raises(InputError, match="needs about .* only 10 kB is available"):
        run_factored(prob, HardwareSpec(), SimConfig(t_end="5tau", noise="white"))


def _write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _huge_header_npz(path):
    """An .npz whose J and g headers claim 640 × 10¹⁰ and 10¹⁰ float64 (51 TB) but hold no data."""
    import io

    def header(shape):
        buf = io.BytesIO()           # write_array_header_1_0 writes the magic string too
        np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
        return buf.getvalue()

    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("J.npy", header((640, 10**10)))
        zf.writestr("g.npy", header((10**10,)))
        for k, a in (("H", np.eye(640)), ("damping", np.float64(0.1))):
            b = io.BytesIO()
            np.save(b, a)
            zf.writestr(f"{k}.npy", b.getvalue())
    return path


def test_load_factored_roundtrip_and_errors(tmp_path, prob):
    good = _write_npz(tmp_path / "p.npz", J=prob.J, H=prob.H, damping=prob.damping, g=prob.g)
    p = load_factored(good)
    assert p.digest() == prob.digest() and p.name == "p"
    cases = [
        (dict(J=prob.J, H=prob.H, g=prob.g), "missing array 'damping'"),
        (dict(J=prob.J, H=prob.H, damping=0.1, g=prob.g, extra=1), "unknown array 'extra'"),
        (dict(J=prob.J, H=prob.H[:5], damping=0.1, g=prob.g), "H has shape"),
        (dict(J=prob.J, H=prob.H, damping=0.1, g=prob.g[:7]), "g has shape"),
        (dict(J=prob.J.astype(complex), H=prob.H, damping=0.1, g=prob.g), "complex"),
        (dict(J=prob.J, H=prob.H, damping=-1.0, g=prob.g), "λ = -1 ≤ 0"),
    ]
    for i, (arrays, match) in enumerate(cases):
        with pytest.raises(InputError, match=match):
            load_factored(_write_npz(tmp_path / f"bad{i}.npz", **arrays))
    obj = np.empty(2, dtype=object)
    with pytest.raises(InputError, match="pickled object array"):
        load_factored(_write_npz(tmp_path / "obj.npz", J=prob.J, H=prob.H, damping=obj, g=prob.g))
    (tmp_path / "notzip.npz").write_text("hello")
    with pytest.raises(InputError, match="not an .npz archive"):
        load_factored(tmp_path / "notzip.npz")
    with pytest.raises(InputError, match="no such file"):
        load_factored(tmp_path / "missing.npz")
    with pytest.raises(InputError, match="needs about .* [TG]B of memory"):
        load_factored(_huge_header_npz(tmp_path / "huge.npz"))


def test_cli_simulate_npz_same_keys_as_dense(tmp_path, capsys, prob):
    path = _write_npz(tmp_path / "p.npz", J=prob.J, H=prob.H, damping=prob.damping, g=prob.g)
    assert main(["simulate", "--t-end", "20tau", "--kappa0", "1e-4", "--seed", "2", "--json"]) == 0
    dense = json.loads(capsys.readouterr().out)
    assert main(["simulate", str(path), "--backend", "twin", "--t-end", "20tau", "--kappa0", "1e-4",
                 "--seed", "2", "--noise", "white", "--json"]) == 0
    fact = json.loads(capsys.readouterr().out)
    assert set(fact) == set(dense)
    assert fact["d"] == prob.N and fact["seed"] == 2 and fact["backend"] == "twin"
    assert fact["t_end_s"] == pytest.approx(20 * fact["tau_s"])
    assert rel(np.array(fact["x_exact"]), np.linalg.solve(prob.dense(), prob.g)) < 1e-13
    assert len(fact["x_mean"]) == prob.N and fact["stats"]["path"] == "factored-exact"
    # the same run through the library gives the same numbers
    res = run_factored(prob, HardwareSpec(kappa0_v2=1e-4), SimConfig(t_end="20tau", noise="white", seed=2))
    assert fact["x_final"] == res.x_final.tolist()   # exact: one computation run twice in one process
    # default noise (pwl) runs as white and says so
    assert main(["simulate", str(path), "--t-end", "5tau", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["noise"] == "white" and "noise_note" in out["stats"]


@pytest.mark.parametrize("argv_tail, match", [
    (["--backend", "twin-em"], "backend 'twin-em' cannot run a factored"),
    (["--rhs", "b.csv"], "--rhs"),
    (["--noise", "trnoise"], "ngspice's own generator"),
    (["--ensemble", "3", "--backend", "ngspice"], "--ensemble on a factored problem runs the twin"),
    (["--spec", "SPEC"], "opamp.v_sat_v"),
])
def test_cli_bad_inputs_one_line(tmp_path, capsys, prob, argv_tail, match):
    path = _write_npz(tmp_path / "p.npz", J=prob.J, H=prob.H, damping=prob.damping, g=prob.g)
    spec = tmp_path / "spec.json"
    spec.write_text(HardwareSpec(opamp=OpAmpSpec(v_sat_v=5.0)).to_json())
    argv_tail = [str(spec) if a == "SPEC" else a for a in argv_tail]
    assert main(["simulate", str(path), "--t-end", "5tau"] + argv_tail) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("arrays, match", [
    (dict(H=np.diag([1.0, -1.0])), "not positive semi-definite"),
    (dict(H=np.array([[1.0, 2.0], [0.0, 1.0]])), "not symmetric"),
    (dict(damping=0.0), "≤ 0"),
    (dict(g=np.ones(3)), "g has shape"),
])
def test_cli_bad_npz_one_line(tmp_path, capsys, arrays, match):
    base = dict(J=np.ones((2, 6)), H=np.eye(2), damping=0.1, g=np.ones(6))
    base.update(arrays)
    path = _write_npz(tmp_path / "bad.npz", **base)
    assert main(["simulate", str(path)]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_too_large_and_missing(tmp_path, capsys):
    assert main(["simulate", str(_huge_header_npz(tmp_path / "huge.npz"))]) == 2
    err = capsys.readouterr().err
    assert "MemAvailable" in err and len(err.strip().splitlines()) == 1
    assert main(["simulate", str(tmp_path / "nope.npz")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_cli_example_and_bench(tmp_path, capsys):
    out = tmp_path / "ex.npz"
    assert main(["factored-example", "-o", str(out), "--n", "300", "--r", "12", "--seed", "3"]) == 0
    p = load_factored(out)
    assert (p.r, p.N) == (12, 300)
    assert main(["factored-bench", "--n", "400", "--r", "16", "--t-end", "10tau", "--json"]) == 0
    b = json.loads(capsys.readouterr().out)
    assert b["N"] == 400 and b["output_rows"] == 11 and b["path"] == "factored-exact"


def test_adc_readout_quantises(prob):
    spec = HardwareSpec(kappa0_v2=1e-4, adc_bits=10)
    res = run_factored(prob, spec, SimConfig(t_end="5tau", noise="white", seed=0))
    lsb = 2 * spec.v_range_v / 2**10
    k = res.states * res.b_scale / lsb
    assert np.abs(k - np.rint(k)).max() < 1e-6


@pytest.mark.slow
def test_exact_path_matches_dense_twin_n2000():
    """N = 2000, r = 64: same-noise path against the dense exact step built from eigh of the assembled
    F (the Lyapunov route of ou_transition takes minutes at this size), and the noise-free path
    against the dense twin's simulate_linear (scipy expm of the 2000×2000 drift)."""
    p = synthetic_factored(2000, 64, seed=8, damping=0.02)
    kap0 = 1e-4
    res = run_factored(p, HardwareSpec(kappa0_v2=kap0), SimConfig(t_end="6tau", dt_out="1tau", noise="white",
                                                                   seed=1, v0="rhs"))
    F = p.dense()
    w, U = np.linalg.eigh(F)
    kap = kap0 / res.b_scale**2
    Phi = (U * np.exp(-w)) @ U.T
    L = (U * np.sqrt(kap * -np.expm1(-2 * w) / w)) @ U.T
    x = np.linalg.solve(F, p.g)
    z = zoh_normals(1, 6, p.N)[0]
    V = [p.g]
    for n in range(6):
        V.append(x + Phi @ (V[-1] - x) + L @ z[n])
    assert rel(res.states, np.array(V)) < ROUND
    res0 = run_factored(p, HardwareSpec(), SimConfig(t_end="6tau", dt_out="1tau", noise="none", v0="rhs"))
    grid = Grid(t_end_s=res0.t_end_s, dt_out_s=res0.dt_out_s, n_out=6, noise_step_s=res0.dt_out_s,
                steps_per_out=1, settle_s=0.0)
    xd = simulate_linear(F / res0.tau_s, p.g / res0.tau_s, np.eye(p.N), 0.0, p.g, grid, SimConfig(noise="none"))
    assert rel(res0.states, xd[0]) < ROUND


def test_cli_ensemble_averages_boards_and_lowers_the_quantisation_floor(tmp_path, capsys):
    """--ensemble K on an .npz: the mean of K boards (board_seed + i, stochastic rounding, seed + i) —
    the same numbers as K library runs — and, noise off, the quantisation error of the mean is below
    the members' rms (unbiased rounding: E‖mean‖² = rms²/K + O(ε⁴); K = 8 → ratio ≈ 0.35, measured 0.34)."""
    prob = synthetic_factored(300, 40, seed=1, damping=1.0)        # settles well within 30 τ
    path = _write_npz(tmp_path / "p.npz", J=prob.J, H=prob.H, damping=prob.damping, g=prob.g)
    argv = ["simulate", str(path), "--t-end", "30tau", "--kappa0", "0", "--set", "resistor_bits=5",
            "--set", "r_min_ohm=100", "--set", "r_max_ohm=1e6", "--ensemble", "8", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    spec = HardwareSpec(kappa0_v2=0.0, resistor_bits=5, r_min_ohm=100.0, r_max_ohm=1e6)
    xs = [run_factored(prob, spec.replace(board_seed=i), SimConfig(t_end="30tau", seed=i, noise="pwl"),
                       rounding="stochastic").x_mean for i in range(8)]
    np.testing.assert_allclose(out["x_mean"], np.mean(xs, axis=0), rtol=0, atol=1e-12 * np.abs(xs).max())
    members = np.array(out["rel_error_members"])
    assert out["ensemble"] == 8 and len(members) == 8 and members.min() > 1e-3
    assert out["rel_error"] < 0.7 * np.sqrt(np.mean(members ** 2))


def test_cli_realise_npz(tmp_path, capsys, monkeypatch):
    """`realise problem.npz`: the board report with the dense keys; A_eff and the floor from the realised
    drift (ideal: exactly F and 0); null above DENSE_LIMIT rather than an N×N allocation."""
    prob = synthetic_factored(60, 8, seed=2, damping=0.5)
    path = _write_npz(tmp_path / "p.npz", J=prob.J, H=prob.H, damping=prob.damping, g=prob.g)
    assert main(["realise", str(path), "--json"]) == 0
    ideal = json.loads(capsys.readouterr().out)
    assert ideal["N"] == 60 and ideal["r"] == 8 and ideal["programmable_resistors"] == 8 * (8 + 120)
    # exact: the ideal board keeps J, H, λ (J1 is J, row = 1.0), so its drift is F by the same arithmetic
    assert ideal["a_rel_frobenius"] == 0.0 and ideal["error_floor"] < 1e-13
    assert main(["realise", str(path), "--json", "--set", "r_tolerance=0.01", "--set", "board_seed=3"]) == 0
    tol = json.loads(capsys.readouterr().out)
    b = realise_factored(prob, HardwareSpec(r_tolerance=0.01, board_seed=3))
    x_fixed = np.linalg.solve(b.dense_drift(), b.f)
    assert tol["error_floor"] == pytest.approx(np.linalg.norm(x_fixed - prob.x_exact) / np.linalg.norm(prob.x_exact),
                                               rel=1e-12)
    assert 1e-4 < tol["a_rel_frobenius"] < 0.05
    import thermotwin.core.problem as problems

    monkeypatch.setattr(problems, "DENSE_LIMIT", 10)
    assert main(["realise", str(path), "--json"]) == 0
    big = json.loads(capsys.readouterr().out)
    assert big["error_floor"] is None and big["a_rel_frobenius"] is None
    assert main(["report", str(path), "--out", str(tmp_path / "rep")]) == 2
    assert "factored problem" in capsys.readouterr().err
