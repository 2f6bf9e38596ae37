"""Timing model, GGN, devices and ``validate-timing`` (issue 7; docs/timing.md#timing).

The timing-model tests need neither torch nor scikit-learn; everything touching the real model
skips when torch (the optional extra ``timing``) is not installed.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg

from thermotwin import cli
from thermotwin.timing import CONTRACT_KEYS, TimingModel, transfer_seconds
from thermotwin.tngd.device import CurvatureSystem, KrylovTwin, SpectralTwin
from cli_helpers import run


def random_system(m=8, n=12, lam=0.01, seed=0):
    """A GGN-like system: U with decaying singular values, so A = UᵀU + λI spans several decades."""
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((m, n)) * np.geomspace(1.0, 1e-3, n)[None, :]
    return CurvatureSystem(U, rng.standard_normal(n), lam)


# ---------------------------------------------------------------------------------------------
# timing model (no torch)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n, derived_ms", [(10_000, 4.2), (30_000, 12.4), (100_000, 41.2)])
def test_transfer_arithmetic(n, derived_ms):
    """Our arithmetic from App. C's assumptions (16 bit, 50 Gb/s; App. C itself gives no milliseconds):
    the code against the hand-evaluated formula — a test of arithmetic, not of the paper."""
    r = TimingModel().breakdown(n, batch=64, d_z=10, t_analog_tau=50)
    exact = 16 * (2 * n + 640 * (640 + 2 * n)) / 50e9
    assert r["transfer_s"] == pytest.approx(exact, rel=1e-12)
    assert r["transfer_s"] == pytest.approx(derived_ms * 1e-3, rel=0.01)
    assert r["transfer_s"] == pytest.approx(transfer_seconds(n, 640), rel=1e-12)
    assert r["dac_s"] + r["program_s"] + r["adc_s"] == pytest.approx(r["transfer_s"], rel=1e-12)
    assert r["dac_s"] == r["adc_s"] == pytest.approx(16 * n / 50e9)   # exact: one formula, same input
    assert r["program_s"] == pytest.approx(16 * 640 * (640 + 2 * n) / 50e9)
    assert r["analog_s"] == pytest.approx(50e-6)                     # 50 τ, τ = 1 kΩ · 1 nF
    assert r["total_s"] == pytest.approx(r["transfer_s"] + r["analog_s"])
    assert r["program_fraction_of_transfer"] > 0.998


def test_total_includes_measured_digital_part():
    r = TimingModel().breakdown(1000, 64, 10, 5.0, digital_s=0.01)
    assert r["total_s"] == pytest.approx(r["transfer_s"] + 5e-6 + 0.01)


@pytest.mark.parametrize("kw", [dict(bits=0), dict(link_gbps=0.0), dict(r0_ohm=-1.0), dict(c_farad=math.inf)])
def test_timing_model_rejects_bad_assumptions(kw):
    with pytest.raises(ValueError):
        TimingModel(**kw)


def test_timing_cli_json_has_the_contract_keys(capsys):
    code, out, err = run(["timing", "--n-params", 10000, "--batch", 64, "--dz", 10, "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert set(CONTRACT_KEYS) <= set(d)
    assert d["transfer_s"] == pytest.approx(4.2335e-3, rel=1e-4)
    assert d["analog_s"] == pytest.approx(50e-6)


@pytest.mark.parametrize("t_analog, seconds", [("5tau", 5e-6), ("5e-6", 5e-6), ("50us", 50e-6), ("0.2tau", 2e-7),
                                               ("1e-3", 1e-3)])     # a bare number is seconds (issue 16)
def test_timing_cli_analog_time_forms(capsys, t_analog, seconds):
    code, out, err = run(["timing", "--t-analog", t_analog, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["analog_s"] == pytest.approx(seconds)


def test_timing_cli_options_change_the_model(capsys):
    code, out, _ = run(["timing", "--n-params", 100, "--batch", 2, "--dz", 3, "--bits", 8, "--link-gbps", 1,
                        "--r0", "10k", "--c", "1n", "--t-analog", "10tau", "--json"], capsys)
    assert code == 0
    d = json.loads(out)
    assert d["program_s"] == pytest.approx(8 * 6 * (6 + 200) / 1e9)
    assert d["analog_s"] == pytest.approx(10 * 1e4 * 1e-9)


def test_timing_cli_text_output(capsys):
    code, out, _ = run(["timing"], capsys)
    assert code == 0
    # exact: 4.233472 ms from integer products and one IEEE division (the same bits everywhere), far from
    # a 4-digit rounding edge
    assert "resistor programming" in out and "4.233 ms" in out


@pytest.mark.parametrize("argv", [["timing", "--batch", "0"], ["timing", "--t-analog", "abc"],
                                  ["timing", "--r0", "-5"]])
def test_timing_cli_bad_input_is_one_line(capsys, argv):
    code, _, err = run(argv, capsys)
    assert code == cli.EXIT_INPUT
    assert len(err.strip().splitlines()) == 1 and err.startswith("thermotwin: error: ")


def test_import_loads_neither_torch_nor_sklearn():
    code = ("import sys, thermotwin, thermotwin.cli, thermotwin.timing, thermotwin.tngd; "
            "thermotwin.cli.build_parser(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'sklearn', 'matplotlib'}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_without_torch_timing_works_and_validate_timing_says_what_to_install(tmp_path):
    # sys.modules[name] = None makes `import name` raise ModuleNotFoundError, as if not installed.
    prelude = "import sys; sys.modules['torch'] = None; sys.modules['sklearn'] = None; from thermotwin.cli import main; "
    ok = subprocess.run([sys.executable, "-c", prelude + "sys.exit(main(['timing', '--json']))"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert set(CONTRACT_KEYS) <= set(json.loads(ok.stdout))
    bad = subprocess.run([sys.executable, "-c", prelude + f"sys.exit(main(['validate-timing', '--out', r'{tmp_path}', "
                          "'--quick']))"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == cli.EXIT_INPUT
    assert len(bad.stderr.strip().splitlines()) == 1 and "thermotwin[timing]" in bad.stderr


# ---------------------------------------------------------------------------------------------
# curvature system and devices (numpy only)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("m, n", [(8, 12), (12, 8), (10, 10)])
def test_woodbury_equals_dense_solve(m, n):
    s = random_system(m, n)
    A = s.dense()
    x = np.linalg.solve(A, s.grad)
    # cond(A) ≤ (‖U‖² + λ)/λ ~ 1e3 here: 1e-9 relative leaves room for that times round-off.
    assert np.linalg.norm(s.solve() - x) <= 1e-9 * np.linalg.norm(x)
    assert np.allclose(s.eigenvalues(), np.linalg.eigvalsh(A), rtol=0, atol=1e-12 * np.abs(A).max())
    v = np.random.default_rng(1).standard_normal(n)
    assert np.allclose(s.matvec(v), A @ v, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("m, n", [(8, 12), (12, 8)])
@pytest.mark.parametrize("t", [0.0, 0.3, 7.0, 120.0])
def test_spectral_twin_is_the_ou_mean(m, n, t):
    """Noise-free device: V(t) = x* + expm(−A t)(V0 − x*) (docs/model.md#settling), by scipy's expm."""
    s = random_system(m, n)
    x0 = np.random.default_rng(2).standard_normal(n)
    xs = np.linalg.solve(s.dense(), s.grad)
    ref = xs + scipy.linalg.expm(-s.dense() * t) @ (x0 - xs)
    got = SpectralTwin().run(s, x0, t)
    assert np.allclose(got, ref, rtol=0, atol=1e-10 * np.abs(ref).max())
    assert np.allclose(SpectralTwin().trajectory(s, x0, np.array([t]))[0], ref, rtol=0, atol=1e-10 * np.abs(ref).max())


@pytest.mark.parametrize("m, n", [(8, 12), (12, 8), (40, 60)])
@pytest.mark.parametrize("t", [0.0, 0.5, 5.0, 50.0, 3000.0])
def test_krylov_twin_equals_spectral_twin(m, n, t):
    """Lanczos f(A)v against the eigendecomposition: same mean, and with one generator state the
    same noise path (f_n(A)z with the same z)."""
    s = random_system(m, n)
    x0 = np.random.default_rng(3).standard_normal(n)
    ref = SpectralTwin().run(s, x0, t)
    assert np.linalg.norm(KrylovTwin().run(s, x0, t) - ref) <= 1e-9 * np.linalg.norm(ref)
    a = KrylovTwin(kappa0=0.01).run(s, x0, t, np.random.default_rng(7))
    b = SpectralTwin(kappa0=0.01).run(s, x0, t, np.random.default_rng(7))
    assert np.linalg.norm(a - b) <= 1e-9 * np.linalg.norm(b)
    # the training loop's looser noise tolerance: the same path to ~1e-6 of the noise sample
    c = KrylovTwin(kappa0=0.01, noise_tol=1e-6).run(s, x0, t, np.random.default_rng(7))
    noise = b - ref
    assert np.linalg.norm(c - b) <= 1e-5 * max(np.linalg.norm(noise), 1e-300) + 1e-12 * np.linalg.norm(b)


def test_spectral_twin_t0_is_sgd_and_large_t_is_ngd():
    s = random_system()
    # exact: t = 0 returns a copy of x0, no arithmetic
    assert np.array_equal(SpectralTwin().run(s, s.grad, 0.0), s.grad)          # t = 0: the SGD step
    # t = 5000τ: the slowest mode (rate λ = 0.01) has decayed by e^-50.
    assert np.allclose(SpectralTwin().run(s, s.grad, 5000.0), s.solve(), rtol=1e-10, atol=0)


def test_spectral_twin_noise_has_the_ou_covariance():
    """Cov V(t) = κ0 A⁻¹(I − e^{−2At}) for symmetric A; checked on a fixed projection u.

    With n = 4000 draws, the sample variance of uᵀV has relative sd sqrt(2/n) = 2.2 %; the mean has
    sd sqrt(var/n). Tolerances are 5 σ.
    """
    s = random_system(6, 5, lam=0.5, seed=3)
    k0, t = 0.02, 0.7
    A = s.dense()
    x0 = np.zeros(5)
    rng = np.random.default_rng(4)
    dev = SpectralTwin(kappa0=k0)
    draws = np.array([dev.run(s, x0, t, rng) for _ in range(4000)])
    xs = np.linalg.solve(A, s.grad)
    mean = xs + scipy.linalg.expm(-A * t) @ (x0 - xs)
    cov = k0 * np.linalg.solve(A, np.eye(5) - scipy.linalg.expm(-2 * A * t))
    u = np.array([1.0, -2.0, 0.5, 1.0, 3.0])
    var = u @ cov @ u
    n = len(draws)
    assert abs((draws @ u).mean() - u @ mean) <= 5 * math.sqrt(var / n)
    assert abs((draws @ u).var(ddof=1) / var - 1) <= 5 * math.sqrt(2 / n)


def test_spectral_twin_agrees_with_thermotwin_simulate():
    """The closed-form device and the circuit twin (ideal spec, noise off) integrate one SDE."""
    from thermotwin import HardwareSpec
    from thermotwin.tngd.device import CircuitTwin

    s = random_system(8, 12)
    x0 = s.grad
    res = CircuitTwin(spec=HardwareSpec(kappa0_v2=0.0)).simulate(s, x0, 40.0, n_out=40)
    ref = SpectralTwin().trajectory(s, x0, res.times / 1e-6)
    assert np.allclose(res.states, ref, rtol=0, atol=1e-9 * np.abs(ref).max())


def test_ideal_error_curve_closed_form_matches_trajectory():
    from thermotwin.tngd.analysis import ideal_error_curve, time_to_error

    s = random_system(8, 12)
    t = np.linspace(0, 300, 61)
    traj = SpectralTwin().trajectory(s, s.grad, t)
    x = s.solve()
    direct = np.linalg.norm(traj - x, axis=1) / np.linalg.norm(x)
    assert np.allclose(ideal_error_curve(s, t), direct, rtol=1e-9, atol=1e-12)
    assert ideal_error_curve(s, t, kappa0=1e-3)[-1] > direct[-1]
    # exact: the first grid time t[0] = 0.0 (linspace) and the inf sentinel
    assert time_to_error(t, direct, 2.0) == 0.0 and math.isinf(time_to_error(t, direct, 1e-30))


def test_cost_model_fit_recovers_its_coefficients():
    from thermotwin.tngd.costs import extrapolate, fit_cost

    ns = [500, 1000, 2000, 4000]
    ts = [2e-9 * n ** 2 + 3e-12 * n ** 3 for n in ns]
    coef = fit_cost(ns, ts, (2, 3))
    assert coef == pytest.approx([2e-9, 3e-12], rel=1e-8)
    fits = {"dense_s": {"coef": coef, "powers": [2, 3]}}
    assert extrapolate(fits, "dense_s", 1e5) == pytest.approx(2e-9 * 1e10 + 3e-12 * 1e15, rel=1e-8)
    assert fit_cost([100], [1.0], (0, 1)) is None


def test_fixed_count_cg_solves_a_well_conditioned_system():
    from thermotwin.tngd.costs import _cg_fixed

    s = random_system(8, 30, lam=0.5)
    x = s.solve()
    assert np.linalg.norm(_cg_fixed(s, 200) - x) <= 1e-8 * np.linalg.norm(x)


def test_overhead_power_fit_separates_the_constant_from_the_slope():
    """t = 2e-3 + 1e-7·N^1.0 (a fixed per-call overhead dominating small N): the fit recovers
    p = 1 and a, where the free log–log slope over the same points is far below 1."""
    from thermotwin.tngd.costs import fit_overhead_power, power_law

    ns = np.array([300, 1000, 3000, 1e4, 3e4, 1e5])
    ts = 2e-3 + 1e-7 * ns
    f = fit_overhead_power(ns, ts)
    assert f["p"] == pytest.approx(1.0, abs=1e-6) and f["a"] == pytest.approx(2e-3, rel=1e-6)
    assert power_law(ns, ts)[1] < 0.8
    assert fit_overhead_power(ns[:2], ts[:2])["se_p"] != fit_overhead_power(ns[:2], ts[:2])["se_p"]   # nan
    # no overhead at all (t = 3e-7·N^1.1 with ±2 % seeded scatter): the exponent and a finite standard error
    noisy = 3e-7 * ns ** 1.1 * (1 + 0.02 * np.random.default_rng(0).standard_normal(ns.size))
    g = fit_overhead_power(ns, noisy)
    assert abs(g["p"] - 1.1) < 0.05 and 0 < g["se_p"] < 0.05


# ---------------------------------------------------------------------------------------------
# real model (torch)
# ---------------------------------------------------------------------------------------------


def test_cg_by_jacobian_vector_products_solves_the_ngd_system(torch_, digits):
    """NGD-CG through jvp/vjp (never forming J) converges to the Woodbury solution of the same
    (GGN + λI) g = ∇ℓ; λ = 1 keeps the condition number small enough for 200 iterations."""
    from thermotwin.tngd.costs import cg_jvp
    from thermotwin.tngd.device import CurvatureSystem
    from thermotwin.tngd.model import MLP, curvature_batch

    torch = torch_
    model = MLP.init((64, 6, 10), seed=1)
    x, y = _batch(torch, digits, b=8)
    cb = curvature_batch(model, model.theta, x, y)
    ref = CurvatureSystem(cb.factor(), cb.grad, 1.0).solve()
    assert np.linalg.norm(cg_jvp(model, model.theta, x, y, 1.0, iters=200) - ref) <= 1e-8 * np.linalg.norm(ref)
def _batch(torch, digits, b=16, d_z=10):
    x = torch.tensor(digits.x_train[:b])
    y = torch.tensor(digits.y_train[:b] % d_z)
    return x, y


def test_digits_data_is_the_sklearn_set(digits):
    assert digits.x_train.shape[1] == 64 and len(digits.y_train) + len(digits.y_test) == 1797
    assert 0 <= digits.x_train.min() and digits.x_train.max() <= 1


def test_ggn_of_a_linear_model_is_the_loss_hessian(torch_, digits):
    """For logits linear in θ (softmax regression) the GGN *is* the Hessian of the loss, so GGN·v
    must match a central finite difference of ∇ℓ: error O(ε²·‖∇³ℓ‖) ≈ 1e-10 for ε = 1e-5."""
    from thermotwin.tngd.model import MLP, curvature_batch, loss_and_grad

    torch = torch_
    model = MLP.init((64, 10), seed=1)
    x, y = _batch(torch, digits)
    cb = curvature_batch(model, model.theta, x, y, jacobian="autodiff")
    U = cb.factor()
    v = torch.tensor(np.random.default_rng(0).standard_normal(model.n_params))
    eps = 1e-5
    gp = loss_and_grad(model, model.theta + eps * v, x, y)[1].numpy()
    gm = loss_and_grad(model, model.theta - eps * v, x, y)[1].numpy()
    fd = (gp - gm) / (2 * eps)
    ggn_v = U.T @ (U @ v.numpy())
    assert np.linalg.norm(ggn_v - fd) <= 1e-7 * np.linalg.norm(fd)


def test_ggn_matches_autodiff_gauss_newton_product(torch_, digits):
    """MLP: the factored GGN (closed-form H_L = RᵀR) against jvp → autodiff Hessian of CE → vjp."""
    from thermotwin.tngd.model import MLP, curvature_batch, gauss_newton_vector_product

    torch = torch_
    model = MLP.init((64, 5, 4), seed=2)
    x, y = _batch(torch, digits, b=8, d_z=4)
    cb = curvature_batch(model, model.theta, x, y)
    v = torch.tensor(np.random.default_rng(1).standard_normal(model.n_params))
    ref = gauss_newton_vector_product(model, model.theta, x, v).numpy()
    U = cb.factor()
    assert np.allclose(U.T @ (U @ v.numpy()), ref, rtol=1e-10, atol=1e-13)
    assert np.allclose(cb.ggn_dense(), U.T @ U, rtol=1e-12, atol=1e-14)
    # ∇ℓ = (1/b) Σ J_iᵀ(p_i − e_y): the Jacobians and the backprop gradient agree.
    onehot = np.eye(4)[y.numpy()]
    assert np.allclose(np.einsum("bkn,bk->n", cb.J, cb.probs - onehot) / 8, cb.grad, rtol=1e-10, atol=1e-14)


def test_manual_jacobian_equals_torch_func(torch_, digits):
    from thermotwin.tngd.model import MLP, jacobian_autodiff, jacobian_manual

    torch = torch_
    model = MLP.init((64, 7, 10), seed=3)
    model.theta = model.theta + 0.1 * torch.tensor(np.random.default_rng(2).standard_normal(model.n_params))
    x, _ = _batch(torch, digits, b=5)
    assert np.allclose(jacobian_manual(model, model.theta, x), jacobian_autodiff(model, model.theta, x),
                       rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError):
        jacobian_manual(MLP.init((64, 3, 3, 10)), MLP.init((64, 3, 3, 10)).theta, x)


def test_cnn_manual_jacobian_equals_torch_func(torch_, digits):
    """The CNN's closed-form Jacobian (conv, tanh, average pool, linear) against vmap(jacrev)."""
    from thermotwin.tngd.model import CNNArch, curvature_batch, jacobian_autodiff

    torch = torch_
    model = CNNArch(channels=3).init_model(seed=4)
    model.theta = model.theta + 0.2 * torch.tensor(np.random.default_rng(5).standard_normal(model.n_params))
    x, y = _batch(torch, digits, b=5)
    assert model.n_params == 10 * 3 + (9 * 3 + 1) * 10
    assert np.allclose(model.manual_jacobian(model.theta, x), jacobian_autodiff(model, model.theta, x),
                       rtol=1e-12, atol=1e-14)
    cb = curvature_batch(model, model.theta, x, y)
    onehot = np.eye(10)[y.numpy()]
    assert np.allclose(np.einsum("bkn,bk->n", cb.J, cb.probs - onehot) / 5, cb.grad, rtol=1e-10, atol=1e-14)


def test_tngd_with_long_time_takes_the_ngd_step(torch_, digits):
    """Same seed → same init and batches; t = 5000τ leaves e^−50 of the slowest mode, so the
    second batch loss (at θ1 = θ0 − η(GGN + λI)⁻¹∇ℓ) must equal NGD's to round-off."""
    from thermotwin.tngd.train import RunConfig, train

    base = RunConfig(n_iter=3, eval_every=1, seed=5)
    ngd = train(base.with_(method="ngd"), digits, (64, 4, 10))
    tngd = train(base.with_(method="tngd", t_tau=5000.0), digits, (64, 4, 10))
    sgd = train(base.with_(method="tngd", t_tau=0.0), digits, (64, 4, 10))
    assert ngd["loss"][0] == tngd["loss"][0]   # exact: same seed, loss before any step: one computation twice
    assert np.allclose(tngd["loss"], ngd["loss"], rtol=1e-9, atol=0)
    assert tngd["ng_rel_error"][0] < 1e-9
    assert not np.allclose(sgd["loss"][1:], ngd["loss"][1:], rtol=1e-3)
    # modelled wall time = measured digital + transfer + analog (t·τ)
    assert tngd["modelled_s"][0] == pytest.approx(tngd["digital_s"][0] + tngd["transfer_s"] + 5000e-6)


def test_delay_runs_the_previous_system_then_the_new_one(torch_, digits):
    from thermotwin.tngd.train import RunConfig, train

    calls = []
    outs = []

    class Recorder:
        kappa0 = 0.0

        def run(self, system, x0, t_tau, rng=None):
            calls.append((id(system), t_tau, x0.copy()))
            outs.append(SpectralTwin().run(system, x0, t_tau))
            return outs[-1]

    train(RunConfig(n_iter=3, t_tau=5.0, delay_tau=0.2, start="warm", eval_every=10), digits, (64, 3, 10),
          device=Recorder())
    assert [c[1] for c in calls] == [5.0, 0.2, 5.0, 0.2, 5.0]   # exact: the config's literals passed through
    assert calls[1][0] == calls[0][0] and calls[2][0] != calls[0][0]     # t_d on the old system
    # exact: the device's output is handed on as the next x0 (copied, no arithmetic)
    assert np.array_equal(calls[1][2], outs[0]) and np.array_equal(calls[2][2], outs[1])   # never reset
    with pytest.raises(ValueError, match="warm"):
        RunConfig(delay_tau=0.2)


def test_measured_costs_have_every_term(torch_):
    pytest.importorskip("sklearn")
    from thermotwin.tngd.costs import measure_point

    p = measure_point(300, d_z=5, repeats=1, autodiff=True)
    for k in ("adam_s", "grad_s", "jac_s", "jac_autodiff_s", "dense_s", "cg_s", "woodbury_s"):
        assert p[k] > 0
    assert measure_point(300, d_z=5, repeats=1, dense_max=0, iterative_max=0, autodiff=False)["dense_s"] is None


def test_timing_cli_measures_the_digital_part(torch_, capsys):
    pytest.importorskip("sklearn")
    code, out, err = run(["timing", "--n-params", 400, "--measure-digital", "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["digital_s"] > 0 and d["total_s"] == pytest.approx(d["transfer_s"] + d["analog_s"] + d["digital_s"])
    assert d["digital_measured"]["ratio_tngd_over_adam"] > 0


# ---------------------------------------------------------------------------------------------
# validate-timing
# ---------------------------------------------------------------------------------------------
CLAIM_KEYS = {"id", "location", "claim", "paper", "measured", "decided_by", "verdict", "why"}
VERDICTS = {"holds", "does not hold", "cannot tell"}
#: Issue 14's acceptance: the rows cite these locations of the paper.
LOCATIONS = ("App. C", "Table 1", "Fig. 2a", "Fig. 2b", "Fig. 3", "Fig. 4a", "Fig. 4b", "Fig. 5", "Fig. 7")


def _check_output(out):
    claims = json.loads((out / "claims.json").read_text())
    assert isinstance(claims, list) and len(claims) >= 12
    for c in claims:
        assert CLAIM_KEYS <= set(c), c
        assert c["verdict"] in VERDICTS
        assert all(isinstance(c[k], str) and c[k] for k in CLAIM_KEYS)
        assert "derived" in c and "reset" in c
    for loc in LOCATIONS:
        assert any(loc in c["location"] for c in claims), loc
    # the A100 claim cannot be decided on this machine, and says which figure would decide it
    a100 = next(c for c in claims if c["id"] == "sec51_two_x_adam")
    assert a100["verdict"] == "cannot tell" and "A100" in a100["decided_by"]
    # no row compares the code with the App. C arithmetic: its milliseconds sit only in "derived"
    app_c = next(c for c in claims if c["location"] == "App. C")
    assert "derived" in app_c["derived"] and "ms" not in app_c["paper"]
    report = (out / "report.md").read_text()
    assert "| location | claim | paper | derived | measured | decided_by | verdict | reset | why |" in report
    assert "Where the natural gradient sits" in report
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert {"fig2_vs_N.png", "fig2_vs_dz.png", "analog_time.png", "training_t.png", "fig3_runtime.png",
            "fig5_finetune.png"} <= set(pngs)
    for p in out.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return claims


def test_validate_timing_tiny_writes_claims_and_report(torch_, tmp_path, monkeypatch, capsys):
    """The whole pipeline on toy sizes (the --quick settings shrunk) in well under a minute."""
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    from thermotwin.tngd import validate

    tiny = validate.Settings(channels=2, n_iter=6, seeds=2, eval_every=3, cost_sizes=(200, 300, 400, 600),
                             dense_max=400, dz_n=200, dz_list=(5, 10, 20), snap_iters=(0, 5), t_max_tau=60.0,
                             n_traj=2, kappa_study=0.001, gbw_in_noisy=False, repeats=1, readout_samples=2,
                             ft_pre_iters=5, ft_iters=4, ft_seeds=2, ft_lrs=(1e-2,))
    monkeypatch.setattr(validate, "QUICK", tiny)
    code, out, err = run(["validate-timing", "--out", tmp_path, "--quick", "--json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["out"] == str(tmp_path)
    claims = _check_output(tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text())["n_seeds"] == 2
    # the claims and report can be rebuilt from summary.json alone, with the same verdicts
    (tmp_path / "claims.json").unlink()
    again = validate.rebuild(tmp_path)
    assert [(c["id"], c["verdict"]) for c in again["claims"]] == [(c["id"], c["verdict"]) for c in claims]
    _check_output(tmp_path)


@pytest.mark.slow
def test_validate_timing_quick(torch_, tmp_path, capsys):
    """The real --quick run (several minutes on a 2-core CPU)."""
    code, _, err = run(["validate-timing", "--out", tmp_path, "--quick"], capsys)
    assert code == 0, err
    claims = _check_output(tmp_path)
    # one seed of 15 iterations at paper scale cannot separate TNGD 50τ from NGD
    assert next(c for c in claims if c["id"] == "fig4a_near_ngd_paper_scale")["verdict"] == "cannot tell"
