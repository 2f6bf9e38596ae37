"""The factored twin as the TNGD device and the paper-scale study (issue 8 item 5).

Numpy-only tests run everywhere; tests touching the real model skip without torch (the optional
extra ``timing``), as in tests/test_timing.py.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.linalg

from thermotwin import cli
from thermotwin.circuit.spec import HardwareSpec
from thermotwin.tngd.device import CurvatureSystem, FactoredTwin, SpectralTwin
from thermotwin.tngd.model import CurvatureBatch


def batch_system(b=6, d_z=5, n=300, lam=0.01, seed=0, grad_scale=1.0, j_scale=1.0):
    """A GGN of softmax form from random Jacobians and probabilities (numpy only): U = R J/√b and
    the circuit arrays J_f, H_L/b of the same GGN; Jacobian columns decay so A spans decades."""
    rng = np.random.default_rng(seed)
    J = rng.standard_normal((b, d_z, n)) * np.geomspace(1.0, 1e-2, n) * j_scale
    z = rng.standard_normal((b, d_z))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    cb = CurvatureBatch(loss=0.0, grad=grad_scale * rng.standard_normal(n), J=J, probs=p)
    return CurvatureSystem.from_batch(cb, lam), cb


def closed_form(system, x0, t):
    A = system.dense()
    xs = np.linalg.solve(A, system.grad)
    return xs + scipy.linalg.expm(-A * t) @ (x0 - xs)


# ---------------------------------------------------------------------------------------------
# the system's two forms
# ---------------------------------------------------------------------------------------------
def test_circuit_arrays_are_the_same_ggn():
    s, cb = batch_system()
    J, H = s.three_arrays()
    assert J.shape == (30, 300) and H.shape == (30, 30)
    assert np.shares_memory(J, cb.J)                                   # J_f is a reshape, not a copy
    G = s.U.T @ s.U
    assert np.allclose(J.T @ H @ J, G, rtol=0, atol=1e-13 * np.abs(G).max())
    assert np.allclose(J.T @ H @ J, cb.ggn_dense(), rtol=0, atol=1e-13 * np.abs(G).max())
    assert np.count_nonzero(H[:5, 5:]) == 0                            # block diagonal
    U_only = CurvatureSystem(s.U, s.grad, s.lam)
    J2, H2 = U_only.three_arrays()
    assert J2 is s.U and np.array_equal(H2, np.eye(30))   # exact: H is np.eye itself
    with pytest.raises(ValueError, match="both J and H"):
        CurvatureSystem(s.U, s.grad, s.lam, J=J)
    with pytest.raises(ValueError, match="J must be"):
        CurvatureSystem(s.U, s.grad, s.lam, J=J[:, :10], H=H)


# ---------------------------------------------------------------------------------------------
# FactoredTwin against the closed form
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("arrays", [True, False])
@pytest.mark.parametrize("t", [0.0, 0.3, 5.0, 50.0, 500.0])
def test_factored_twin_is_the_ou_mean(arrays, t):
    """κ0 = 0: V(t) = x* + expm(−A t)(V0 − x*), against scipy's expm and SpectralTwin, both with the
    circuit's arrays (J_f, H_L/b) and with (U, I). cond(A) ~ 1e3: 1e-10 relative is round-off."""
    s, _ = batch_system()
    x0 = np.random.default_rng(5).standard_normal(s.n)
    dev = FactoredTwin(use_circuit_arrays=arrays)
    got = dev.run(s, x0, t)
    ref = closed_form(s, x0, t)
    assert np.linalg.norm(got - ref) <= 1e-10 * np.linalg.norm(ref)
    assert np.linalg.norm(got - SpectralTwin().run(s, x0, t)) <= 1e-10 * np.linalg.norm(ref)
    if t > 0:
        assert dev.last["path"] == "factored-exact"
        assert dev.problem(s).r == 30


def test_factored_twin_starting_at_the_gradient_and_large_t_is_woodbury():
    """t = 5000τ leaves e^(−λt) = e^(−50) of the slowest mode: the state is the Woodbury solve."""
    s, _ = batch_system(b=8, d_z=10, n=400)
    x = FactoredTwin().run(s, s.grad, 5000.0)
    ref = s.solve()
    assert np.linalg.norm(x - ref) <= 1e-10 * np.linalg.norm(ref)
    # exact: t = 0 returns a copy of x0, no arithmetic
    assert np.array_equal(FactoredTwin().run(s, s.grad, 0.0), s.grad)          # t = 0: the SGD step
    with pytest.raises(ValueError):
        FactoredTwin().run(s, s.grad, -1.0)


def test_time_is_in_units_of_r0c_when_the_board_is_scaled():
    """With r_min_ohm the mapping scales conductances by s = R0/(r_min·max|J|), so the board's own
    τ = R0·C/s; a run of t·R0C is the closed form at s·t in the board's units."""
    s, _ = batch_system(j_scale=4.0)
    J, _ = s.three_arrays()
    scale = 1.0 / np.abs(J).max()                                       # r_min = R0
    spec = HardwareSpec(r_min_ohm=1e3)
    dev = FactoredTwin(spec=spec)
    x = dev.run(s, s.grad, 20.0)
    assert dev.last["tau_board_s"] / dev.last["tau0_s"] == pytest.approx(1 / scale, rel=1e-12)
    assert scale < 0.5
    ref = closed_form(s, s.grad, 20.0 * scale)
    assert np.linalg.norm(x - ref) <= 1e-10 * np.linalg.norm(ref)


@pytest.mark.parametrize("grad_scale", [0.1, 100.0])
def test_factored_twin_noise_has_the_ou_law_per_mode(grad_scale):
    """κ0 > 0: in A's eigenbasis coordinate k of V(t) is N(m_k, κ0/a_k (1 − e^{−2 a_k t})) with
    m = the closed-form mean, independent across k. Whitened w_k = (c_k − m_k)/σ_k over n = 1500 runs
    (each seeded from one generator through ``run``) must be N(0, I): sample means within 5/√n,
    variances within 5·sqrt(2/n) per mode, the pooled variance of all n·N values within
    5·sqrt(2/(nN)) (1 % here — a wrong κ0 scaling by b_scale² shows as 100 %), correlations within
    5/√n. grad_scale = 100 puts max|x*| above half the 10 V range, so b_scale < 1 is exercised
    (0.1: b_scale = 1)."""
    s, _ = batch_system(b=3, d_z=4, n=24, lam=0.3, seed=2, grad_scale=grad_scale)
    k0, t = 0.02 * grad_scale ** 2, 0.8
    A = s.dense()
    a, V = np.linalg.eigh(A)
    x0 = np.random.default_rng(1).standard_normal(s.n) * grad_scale
    mean = closed_form(s, x0, t)
    sd = np.sqrt(k0 / a * -np.expm1(-2 * a * t))
    dev = FactoredTwin(kappa0=k0)
    rng = np.random.default_rng(11)
    n = 1500
    draws = np.array([dev.run(s, x0, t, rng) for _ in range(n)])
    # exact: b_scale = 1.0 is the literal of the no-scaling branch
    assert (dev.last["b_scale"] < 0.1) == (grad_scale > 1) and (dev.last["b_scale"] == 1.0) == (grad_scale < 1)
    w = ((draws - mean) @ V) / sd
    assert np.all(np.abs(w.mean(axis=0)) <= 5 / math.sqrt(n))
    assert np.all(np.abs(w.var(axis=0, ddof=1) - 1) <= 5 * math.sqrt(2 / n))
    assert abs(np.mean(w ** 2) - 1) <= 5 * math.sqrt(2 / (n * s.n))
    C = np.corrcoef(w.T)
    assert np.max(np.abs(C - np.diag(np.diag(C)))) <= 5 / math.sqrt(n)
    # the same generator state gives the same read-out; a noisy device needs a generator
    # exact: determinism, one computation with the same generator seed run twice in one process
    assert np.array_equal(dev.run(s, x0, t, np.random.default_rng(3)), dev.run(s, x0, t, np.random.default_rng(3)))
    with pytest.raises(ValueError, match="Generator"):
        dev.run(s, x0, t)


def test_realistic_board_against_a_dense_realisation_and_the_arnoldi_oracle():
    """16-bit resistors over 1 kΩ–100 MΩ and A0 = 1e5: the realised drift F (diagonal + J₂ᵀH'J₁)
    assembled densely (realise_factored's arrays) gives x∞ = F⁻¹f and V(t) by scipy's expm. The
    FactoredTwin (ETD2 path, error bound ~1e-4 of the signal) must match within 1e-3; the
    Woodbury + Arnoldi oracle of the paper-scale study to 1e-8."""
    from thermotwin.circuit.factored import realise_factored
    from thermotwin.tngd.paper_scale import PAPER_SPEC, realised_board_states

    s, _ = batch_system(b=6, d_z=5, n=200, lam=0.05, seed=4)
    spec = HardwareSpec.from_dict({**PAPER_SPEC, "kappa0_v2": 0.0})
    dev = FactoredTwin(spec=spec)
    board = realise_factored(dev.problem(s), spec)
    F = board.dense_drift()
    x_inf = np.linalg.solve(F, board.f)
    ratio = 1e-6 / board.tau_s
    ts = [5.0, 40.0]
    refs = [x_inf + scipy.linalg.expm(-F * t * ratio) @ (s.grad - x_inf) for t in ts]
    for t, ref in zip(ts, refs):
        got = dev.run(s, s.grad, t)
        assert np.linalg.norm(got - ref) <= 1e-3 * np.linalg.norm(ref)
    assert dev.last["path"] == "factored-etd2"
    chk = realised_board_states(dev, s, ts)
    assert np.linalg.norm(chk["x_inf"] - x_inf) <= 1e-9 * np.linalg.norm(x_inf)
    for got, ref in zip(chk["states"], refs):
        assert np.linalg.norm(got - ref) <= 1e-8 * np.linalg.norm(ref)
    # the board is not the ideal one: its fixed point differs from x* by more than the checks above
    assert np.linalg.norm(x_inf - s.solve()) > 1e-3 * np.linalg.norm(s.solve())


def test_error_moments_match_the_dense_covariance():
    """E‖V − x*‖² = ‖m‖² + tr Σ and Var = 2 tr Σ² + 4 mᵀΣm, Σ = κ0 A⁻¹(I − e^{−2At})."""
    from thermotwin.tngd.paper_scale import error_moments

    s, _ = batch_system(b=4, d_z=5, n=60, lam=0.05)
    k0 = 0.003
    A = s.dense()
    xs = np.linalg.solve(A, s.grad)
    ts = np.array([0.0, 0.7, 9.0, 120.0])
    mean, var = error_moments(s, ts, k0)
    for t, e, v in zip(ts, mean, var):
        m = scipy.linalg.expm(-A * t) @ (s.grad - xs)
        S = k0 * np.linalg.solve(A, np.eye(s.n) - scipy.linalg.expm(-2 * A * t))
        assert e == pytest.approx(m @ m + np.trace(S), rel=1e-9)
        assert v == pytest.approx(2 * np.trace(S @ S) + 4 * m @ S @ m, rel=1e-8, abs=1e-30)


def test_arnoldi_expm_matches_scipy_on_a_nonsymmetric_matrix():
    from thermotwin.tngd.paper_scale import arnoldi_expm

    rng = np.random.default_rng(0)
    n = 150
    B = rng.standard_normal((n, n)) / math.sqrt(n)
    F = B @ B.T + 0.05 * np.eye(n) + 0.1 * (B - B.T)                   # positive-definite symmetric part
    v = rng.standard_normal(n)
    ts = [0.5, 10.0, 60.0]
    got = arnoldi_expm(lambda x: F @ x, v, ts)
    for g, t in zip(got, ts):
        ref = scipy.linalg.expm(-F * t) @ v
        assert np.linalg.norm(g - ref) <= 1e-9 * np.linalg.norm(v)


# ---------------------------------------------------------------------------------------------
# real model (torch)
# ---------------------------------------------------------------------------------------------
def test_paper_system_is_the_first_training_system(torch_, digits):
    from thermotwin.tngd.paper_scale import paper_sizes, paper_system
    from thermotwin.tngd.train import RunConfig, train

    seen = {}
    train(RunConfig(method="ngd", n_iter=1, seed=3, ngd_solver="woodbury"), digits, paper_sizes(1500),
          on_system=lambda k, s: seen.setdefault(k, s))
    s, sizes = paper_system(1500, digits, seed=3)
    assert sizes == paper_sizes(1500) and abs(s.n - 1500) < 75
    # exact: determinism, the same seeded computation run twice in one process
    assert np.array_equal(s.grad, seen[0].grad) and np.array_equal(s.U, seen[0].U)
    assert np.array_equal(s.J, seen[0].J) and np.array_equal(s.H, seen[0].H)   # exact: as above


def test_training_with_the_factored_twin_takes_the_ngd_step(torch_, digits):
    """Same seed → same init and batches. The factored twin at t = 5000τ (e^−50 of the slowest mode
    left) must give the Woodbury NGD steps to round-off, and Woodbury NGD the dense-Cholesky ones."""
    from thermotwin.tngd.train import RunConfig, train

    base = RunConfig(n_iter=3, eval_every=1, seed=5)
    sizes = (64, 6, 10)
    dense = train(base.with_(method="ngd"), digits, sizes)
    wood = train(base.with_(method="ngd", ngd_solver="woodbury"), digits, sizes)
    fact = train(base.with_(method="tngd", t_tau=5000.0), digits, sizes, device=FactoredTwin())
    short = train(base.with_(method="tngd", t_tau=5.0), digits, sizes, device=FactoredTwin())
    assert np.allclose(wood["loss"], dense["loss"], rtol=1e-10, atol=0)
    assert np.allclose(fact["loss"], wood["loss"], rtol=1e-9, atol=0)
    assert max(fact["ng_rel_error"]) < 1e-9
    assert min(short["ng_rel_error"]) > 0.05                            # 5τ is not NGD
    with pytest.raises(ValueError, match="ngd_solver"):
        RunConfig(ngd_solver="cg")


def test_analog_curve_has_its_oracles(torch_, digits):
    """The study at a small size: the twin equals the closed form to round-off, the noisy twin's
    mean ‖V − x*‖² is within a few σ of its closed form (|z| < 6 over a correlated grid of 81
    points), the realistic twin equals the Arnoldi oracle within the ETD2 bound."""
    from thermotwin.tngd.paper_scale import PAPER_SPEC, analog_curve, paper_system

    s, _ = paper_system(1500, digits, seed=0)
    row = analog_curve(s, HardwareSpec.from_dict(PAPER_SPEC), kappa0=1e-3, t_max_tau=80.0, dt_tau=1.0,
                       real_dt_tau=2.5, n_traj=3)
    assert row["ideal_max_abs_diff"] <= 1e-9
    assert row["kappa_max_abs_z"] < 6
    assert row["real_vs_arnoldi_max_rel"] <= 1e-3
    assert row["real_fixed_point_residual"] <= 1e-10
    su = row["summary"]
    assert su["closed_form"]["at_5tau"] > su["closed_form"]["at_50tau"] > 0
    assert len(row["t_tau"]) == 81 and row["real_t_tau"][-1] == pytest.approx(80.0)
    assert row["real_board"]["path"] == "factored-etd2"


def test_paper_sizes_option_parses_and_rejects(capsys):
    from thermotwin.cli.timing import _sizes

    assert _sizes("1e4,1e5") == (10_000, 100_000) and _sizes("none") == () and _sizes("3e4, 1e4") == (10_000, 30_000)
    code = cli.main(["validate-timing", "--out", "/tmp/never-written", "--paper-sizes", "1e4,1e7"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_INPUT and len(err.strip().splitlines()) == 1 and "--paper-sizes" in err


def test_validate_timing_tiny_with_paper_scale(torch_, tmp_path, monkeypatch, capsys):
    """The pipeline on toy sizes with the paper-scale step at N ≈ 1500: report sentence, section,
    plot and claims."""
    pytest.importorskip("matplotlib")
    from thermotwin.tngd import validate

    tiny = validate.Settings(channels=2, n_iter=6, seeds=1, eval_every=3, cost_sizes=(200, 400, 600), dense_max=400,
                             dz_n=200, dz_list=(5, 10, 20), snap_iters=(0, 5), t_max_tau=60.0, n_traj=2,
                             kappa_study=0.001, gbw_in_noisy=False, repeats=1, readout_samples=2, ft_pre_iters=3,
                             ft_iters=2, ft_seeds=1, ft_lrs=(1e-2,), paper_iters=4, paper_seeds=2,
                             paper_eval_every=2, paper_snap_end=True, paper_t_max_tau=60.0, paper_n_traj=2)
    monkeypatch.setattr(validate, "QUICK", tiny)
    code = cli.main(["validate-timing", "--out", str(tmp_path), "--quick", "--json", "--paper-sizes", "1500"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = (tmp_path / "report.md").read_text()
    summary = json.loads((tmp_path / "summary.json").read_text())
    ps = summary["paper_scale"]
    n = ps["sizes_run"][0]
    assert f"paper-scale runs: N = {n} (digits MLP sizes (64, 20, 10)" in report
    assert "## Paper scale" in report and "paper_scale.png" in report and "| J-stage noise gain |" in report
    assert len(ps["curves"][0]["stage_lags"]) == 3
    assert (tmp_path / "paper_scale.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [c["snapshot_iter"] for c in ps["curves"]] == [0, 3]            # iteration 0 and NGD's last
    assert len(ps["training"]["runs"]) == 2 * 4                             # Adam, NGD, TNGD 5τ/50τ × 2 seeds
    claims = json.loads((tmp_path / "claims.json").read_text())
    ids = {c["id"] for c in claims}
    assert {"fig4a_device_50tau_paper_scale", "fig4a_near_ngd_paper_scale"} <= ids
    for c in claims:
        assert {"location", "claim", "paper", "measured", "verdict", "why"} <= set(c)
    dev = next(c for c in claims if c["id"] == "fig4a_device_50tau_paper_scale")
    e50 = ps["curves"][0]["summary"]["closed_form"]["at_50tau"]
    assert f"{e50:.2f} at 50τ" in dev["measured"]   # exact: the same stored float in the same format


def test_stage_lags_of_the_paper_board():
    """stage_lags: the J_f stages' noise gain 1 + max_k Σ_j|J_kj| and lag ng/(2π·GBW) (ideal A0), in τ0."""
    from thermotwin.tngd.paper_scale import STAGE_LAG_GBW_HZ, stage_lags

    s, _ = batch_system()
    J, _ = s.three_arrays()
    ng = 1 + np.abs(J).sum(axis=1).max()
    rows = stage_lags(s)
    assert [r["gbw_hz"] for r in rows] == list(STAGE_LAG_GBW_HZ)   # exact: the constants passed through
    for r in rows:
        assert r["noise_gain_J_max"] == pytest.approx(ng, rel=1e-12)
        assert r["J_stage_lag_tau"] == pytest.approx(ng / (2 * np.pi * r["gbw_hz"] * 1e-6), rel=1e-12)
        assert r["loop_lag_tau"] > r["J_stage_lag_tau"] and isinstance(r["loop_stable"], bool)


def test_factored_twin_passes_the_gbw_model():
    """FactoredTwin with a GBW spec: refused by default, and with gbw_model='integrator' the same state as
    run_factored with that model (the twin adds nothing of its own)."""
    from thermotwin.errors import InputError
    from thermotwin.solver.config import SimConfig
    from thermotwin.solver.factored import run_factored

    s, _ = batch_system()
    spec = HardwareSpec().replace(**{"opamp.gbw_hz": 1e7})
    with pytest.raises(InputError, match="gbw_model"):
        FactoredTwin(spec=spec).run(s, s.grad, 5.0)
    dev = FactoredTwin(spec=spec, gbw_model="integrator")
    got = dev.run(s, s.grad, 5.0)
    ref = run_factored(dev.problem(s), spec.replace(kappa0_v2=0.0),
                       SimConfig(t_end=5e-6, dt_out=5e-6, noise="none", v0="rhs"), gbw_model="integrator")
    np.testing.assert_allclose(got, ref.states[-1], rtol=0, atol=1e-13 * np.abs(ref.states).max())
    assert dev.last["report"]["integrator_tau_stretch_max"] > 1.0
