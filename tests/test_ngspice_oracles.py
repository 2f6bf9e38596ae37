"""ngspice as an oracle for the twin, and the stored ngspice run as an oracle without ngspice.

Tests marked ``ngspice`` run ``ngspice -b``; ``test_stored_run_matches_twin`` needs only the
committed table ``tests/data/ref_3x3_pwl.data`` (ngspice's ``wrdata`` output of
``netlists/ref_3x3_pwl.cir``). Regenerate both with ``THERMOTWIN_REGEN_GOLDEN=1`` (see
tests/golden_cases.py) after a deliberate change of the netlist writer.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import scipy.linalg

import thermotwin as tt
from thermotwin.solver.ngspice import find_ngspice, read_wrdata, run_netlist_text

from golden_cases import CASES, REGEN, run_stored
from golden_compare import assert_matches_golden

K_SIGMA = 5.0


def nonsymmetric_4x4_negative() -> tuple[np.ndarray, np.ndarray]:
    A = np.array([[1.5, -0.4, 0.3, 0.0],
                  [0.6, 2.0, -0.5, 0.2],
                  [-0.2, 0.3, 1.2, -0.6],
                  [0.1, -0.7, 0.4, 1.8]])
    assert (A < 0).sum() >= 4 and np.linalg.eigvals(A).real.min() > 1.0
    return A, np.array([1.0, -2.0, 0.5, 1.5])


def random_spd(d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Q diag(λ) Qᵀ, λ evenly in [0.5, 2] (so the default noise step is τ/20), seeded."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    A = (Q * np.linspace(0.5, 2.0, d)) @ Q.T
    return 0.5 * (A + A.T), rng.standard_normal(d)


# ---------------------------------------------------------------------------------------------
# noise-free transient
# ---------------------------------------------------------------------------------------------
@pytest.mark.ngspice
@pytest.mark.parametrize("v0", ["zero", "rhs"])
def test_ngspice_noise_free_transient_matches_expm(v0):
    A, b = nonsymmetric_4x4_negative()
    p = tt.Problem(A, b)
    cfg = tt.SimConfig(t_end="10tau", dt_out="0.05tau", noise="none", v0=v0)
    res = tt.simulate(p, tt.HardwareSpec.ideal(), cfg, backend="ngspice")
    x = p.x_exact
    V0 = np.zeros(4) if v0 == "zero" else b
    ref = np.array([x + scipy.linalg.expm(-A * t) @ (V0 - x) for t in res.times / res.tau_s])
    err = np.abs(res.states - ref).max() / np.ptp(ref)
    # measured 1.0e-5 (zero) and 1.7e-5 (rhs) of the range with reltol=1e-6 and A0 = 1e9
    assert err <= 1e-4, f"ngspice transient deviates from expm by {err:.2e} of the range"


# ---------------------------------------------------------------------------------------------
# twin against ngspice, same PWL noise path
# ---------------------------------------------------------------------------------------------
@pytest.mark.ngspice
@pytest.mark.parametrize("case", ["spd4", "spd16", "ns4_nonideal"])
def test_twin_and_ngspice_same_path(case):
    if case == "ns4_nonideal":
        # a perturbed board (tolerances, finite gain, offset): both backends must build the same board
        A, b = nonsymmetric_4x4_negative()
        spec = tt.HardwareSpec.ideal(r_tolerance=0.02, c_tolerance=0.02, board_seed=3).replace(
            **{"opamp.gain": 1e4, "opamp.offset_v": 1e-3})
    else:
        A, b = random_spd(int(case[3:]), seed=100 + int(case[3:]))
        spec = tt.HardwareSpec.ideal()
    p = tt.Problem(A, b)
    cfg = tt.SimConfig(t_end="10tau", seed=11, noise="pwl")
    twin = tt.simulate(p, spec, cfg, backend="twin")
    spice = tt.simulate(p, spec, cfg, backend="ngspice")
    np.testing.assert_allclose(spice.times, twin.times, rtol=0, atol=1e-9 * twin.dt_out_s)
    dev = np.abs(twin.states - spice.states).max() / np.ptp(twin.states)
    # measured 4.7e-6 (spd4), 5.7e-6 (spd16), 1.2e-5 (ns4_nonideal) of the range; the PWL sources before
    # the noise files gave 9.1e-6, 9.3e-6, 2.3e-5
    assert dev <= 1e-3, f"twin and ngspice differ by {dev:.2e} of the signal range"
    # the paths are noisy (the comparison is pathwise, not only of the mean): noise rms sqrt(κ0/λ)
    # ≈ 0.007 V ≫ the tolerance 1e-3·range
    assert np.std(np.diff(twin.states[-50:], axis=0)) > 1e-3 * np.ptp(twin.states)


# ---------------------------------------------------------------------------------------------
# the stored run
# ---------------------------------------------------------------------------------------------
STORED = CASES["ref_3x3_pwl"]


@pytest.mark.ngspice
@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.stored_run))
def test_stored_run_reproduces(tmp_path, name):
    """ngspice -b on each committed netlist gives its committed table (to 1e-6 of the range)."""
    case = CASES[name]
    out = run_stored(case)
    try:
        if REGEN:
            shutil.copy(out, case.data_path)
        t_new, v_new, names_new = read_wrdata(out)
    finally:
        shutil.rmtree(out.parent)
    t_old, v_old, names_old = read_wrdata(case.data_path)
    d = case.problem.d
    assert names_new == names_old == [f"v(o{i})" for i in range(d)]
    np.testing.assert_allclose(t_new, t_old, rtol=1e-12, atol=0)
    # The same ngspice build reproduces the table to ~1e-12 of the range; another build or release
    # may choose other internal time steps within the netlist's reltol = 1e-6, so that is the bound.
    # Still 10x below the twin-vs-ngspice path difference (~1e-5), so any change of the circuit shows.
    np.testing.assert_allclose(v_new, v_old, rtol=0, atol=1e-6 * np.ptp(v_old))


def test_stored_run_matches_twin():
    """The committed ngspice table against the twin, path by path — an oracle without ngspice."""
    assert_matches_golden(STORED.render(), STORED.netlist_path.read_text(), STORED.netlist_path.name)
    t, v, names = read_wrdata(STORED.data_path)
    assert names == ["v(o0)", "v(o1)", "v(o2)"]
    res = tt.simulate(STORED.problem, STORED.spec, STORED.config, backend="twin")
    np.testing.assert_allclose(t, res.times, rtol=0, atol=1e-9 * res.dt_out_s)
    dev = np.abs(v / res.b_scale - res.states).max() / np.ptp(res.states)
    # measured 7.5e-6 of the range (1.1e-5 with the PWL sources before the noise files)
    assert dev <= 1e-3, f"stored ngspice run and twin differ by {dev:.2e} of the signal range"


# ---------------------------------------------------------------------------------------------
# TRRANDOM: ngspice's parameter order, and the noise in distribution
# ---------------------------------------------------------------------------------------------
@pytest.mark.ngspice
def test_ngspice_trrandom_gaussian_is_sigma_then_mean(tmp_path):
    """Pins ngspice's semantics the renderer relies on: TRRANDOM(2 TS TD PARAM1=σ PARAM2=μ)."""
    n = 4000
    text = "\n".join([
        "* trrandom order probe",
        "Va a 0 DC 0 TRRANDOM(2 1u 0 0.5 0)",
        "Ra a 0 1k",
        "Vb b 0 DC 0 TRRANDOM(2 1u 0 0 0.5)",
        "Rb b 0 1k",
        ".options seed=5",
        f".tran 0.5u {n}u 0 0.5u",
        ".control", "set wr_singlescale", "set wr_vecnames", "option numdgt=15", "run",
        "linearize v(a) v(b)", "wrdata probe.data v(a) v(b)", "quit 0", ".endc", ".end", ""])
    out = run_netlist_text(text, tmp_path, timeout_s=60, output_file="probe.data")
    t, v, _ = read_wrdata(out)
    mid = v[1::2]                               # the midpoints of the n holds: one draw each
    assert len(mid) == n
    # Va: Gaussian σ = 0.5, mean 0. SE of the mean σ/sqrt(n), of the sample std σ/sqrt(2n); k = 5
    assert abs(mid[:, 0].mean()) <= K_SIGMA * 0.5 / np.sqrt(n)
    assert abs(mid[:, 0].std(ddof=1) - 0.5) <= K_SIGMA * 0.5 / np.sqrt(2 * n)
    # Vb: σ = 0, mean 0.5: a constant
    np.testing.assert_allclose(v[:, 1], 0.5, rtol=0, atol=1e-12)


@pytest.mark.ngspice
def test_trrandom_noise_stationary_variance_in_distribution():
    """ngspice's own TRRANDOM noise on a diagonal board: per-node variance (q/(a²h))·tanh(ah/2).

    Samples every h (the hold step) form an AR(1) with ρ = e^{−ah}; the variance estimator of N
    such samples has SE ≈ Var·sqrt(2(1 + ρ²)/((1 − ρ²)N)), the mean SE sqrt(Var(1 + ρ)/((1 − ρ)N)).
    """
    a = np.array([1.0, 4.0])
    h = 0.5                                     # a·h = 0.5, 2: ZOH variance 2 %, 24 % below white
    kappa0 = 1e-4
    q = 2 * kappa0
    p = tt.Problem(np.diag(a), np.ones(2))
    cfg = tt.SimConfig(t_end="4000tau", dt_out=f"{h}tau", noise_step=f"{h}tau", noise="trrandom",
                       seed=13, v0=tuple(p.x_exact), timeout_s=300)
    res = tt.simulate(p, tt.HardwareSpec.ideal(kappa0_v2=kappa0), cfg, backend="ngspice")
    keep = res.times / res.tau_s >= 10.0        # variance transient e^{−2·1·10} = 2e−9
    X = res.states[keep]
    N = len(X)
    assert N >= 7900
    var_zoh = q / (a ** 2 * h) * np.tanh(a * h / 2)
    rho = np.exp(-a * h)
    se_var = var_zoh * np.sqrt(2 * (1 + rho ** 2) / ((1 - rho ** 2) * N))
    se_mean = np.sqrt(var_zoh * (1 + rho) / ((1 - rho) * N))
    assert np.all(np.abs(X.mean(axis=0) - p.x_exact) <= K_SIGMA * se_mean)
    dev = np.abs(X.var(axis=0, ddof=1) - var_zoh)
    assert np.all(dev <= K_SIGMA * se_var), f"deviation {dev / se_var} σ"
    # power: for a·h = 2 white noise's q/(2a) is 24 % above the ZOH value, > 3 tolerances
    assert q / (2 * a[1]) - var_zoh[1] > 3 * K_SIGMA * se_var[1]


@pytest.mark.ngspice
def test_find_ngspice_is_the_ngspice_that_runs():
    exe = find_ngspice()
    proc = subprocess.run([exe, "-v"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert "ngspice" in (proc.stdout + proc.stderr).lower()
