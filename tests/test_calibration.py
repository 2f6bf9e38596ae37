"""Calibration: trace readers, the OU fit, accuracy prediction, and the calibrated twin (issue 5).

Oracles (docs/conventions.md#stochastic-tests, docs/conventions.md#oracles):

* the board's drift is known exactly: ``realised_matrix(design(problem, spec), spec)`` is what the
  exact twin integrates, so the fitted M, D, x* are compared with it in units of their standard
  errors;
* the standard errors are checked against an independent delta-method computation (OLS
  covariance Σ_ε ⊗ (ZᵀZ)⁻¹ pushed through the Fréchet derivative of logm), not only by z²;
* ngspice raw files (binary ``-r`` and ASCII ``write``) and thermotwin's own ``trace.csv`` of the
  same deterministic PWL-noise run must give the same numbers;
* predictions are checked against closed forms (Lyapunov by a Kronecker solve) and against
  Monte Carlo of the twin (binomial errors).

Every stochastic test is seeded; every tolerance is k·σ with k ≥ 4 and the σ derived in a comment.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import subprocess
import warnings

import numpy as np
import pytest

import thermotwin as tt
from thermotwin.circuit.netlist import render_netlist_files
from calib_oracles import drift_cov_delta
from thermotwin import cli
from thermotwin.bench import bench_matrix
from thermotwin.calibration.fit import Calibration, fit_ou
from thermotwin.calibration.predict import (
    predict_error, predict_for, predict_from_calibration, time_to_tolerance,
)
from thermotwin.calibration.traces import Trace, read_trace, uniform
from thermotwin.circuit.design import design, error_floor, realised_matrix
from thermotwin.solver.ngspice import find_ngspice
from thermotwin.solver.ou import run_twin_calibrated
from cli_helpers import assert_one_line_error as _one_line_error
from cli_helpers import run


#: The board of the issue: 1 % resistors, op-amp gain 1e4 (the drift gains a diagonal leak and τ
#: a factor 1 + 1/A0; both are in realised_matrix, so the oracle is exact).
SPEC = tt.HardwareSpec.from_dict({"kappa0_v2": 1e-4, "r_tolerance": 0.01, "opamp": {"gain": 1e4},
                                  "board_seed": 3})
#: Bootstrap draws fit_ou uses by default; the relative error of one bootstrap SE is 1/sqrt(2(n−1)).
N_BOOT = 200


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def assert_one_line_error(code, err, *needles):
    """The shared check; this file's needles are matched case-insensitively."""
    _one_line_error(code, err, *needles, ignore_case=True)


def spd_problem(d: int, seed: int) -> tt.Problem:
    """Wishart SPD matrix G Gᵀ/(2d) + 0.3 I and a random right-hand side."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((d, 2 * d))
    return tt.Problem(G @ G.T / (2 * d) + 0.3 * np.eye(d), rng.standard_normal(d), name=f"spd{d}")


def nonsym_problem(d: int, seed: int) -> tt.Problem:
    """I + 0.4 N/sqrt(d): stable, non-symmetric and non-normal (complex eigenvalues)."""
    rng = np.random.default_rng(seed)
    A = np.eye(d) + 0.4 * rng.standard_normal((d, d)) / np.sqrt(d)
    assert np.linalg.norm(A @ A.T - A.T @ A) > 0.1           # really non-normal
    return tt.Problem(A, rng.standard_normal(d), name=f"nonsym{d}")


def board(problem, spec):
    """(values, realised, Q): Q = (2κ0/τ)·diag(noise_gain²), the diffusion the twin integrates."""
    values = design(problem, spec)
    real = realised_matrix(values, spec)
    Q = 2.0 * spec.kappa0_v2 / values.nominal_tau_s * np.diag(real.noise_gain ** 2)
    return values, real, Q


def volts(res: tt.SimResult, source: str = "twin") -> Trace:
    """A SimResult as a trace in volts (states are volts / b_scale)."""
    return Trace(res.times, res.states * res.b_scale, tuple(f"v(o{i})" for i in range(res.d)), source)


def lyapunov_kron(M, D):
    """Σ solving M Σ + Σ Mᵀ = D by the Kronecker form (I⊗M + M⊗I) vec Σ = vec D — independent of
    scipy.linalg.solve_continuous_lyapunov, which thermotwin uses."""
    d = M.shape[0]
    K = np.kron(np.eye(d), M) + np.kron(M, np.eye(d))
    S = np.linalg.solve(K, D.reshape(-1, order="F")).reshape(d, d, order="F")
    return 0.5 * (S + S.T)




def strip_control(netlist: str) -> str:
    """The netlist without its .control block (so ``ngspice -b -r`` writes the raw file)."""
    return re.sub(r"\.control.*?\.endc\n", "", netlist, flags=re.S)


# ---------------------------------------------------------------------------------------------
# 1. trace readers
# ---------------------------------------------------------------------------------------------
A3 = np.array([[2.0, 0.5, 0.0], [0.3, 1.5, -0.4], [0.0, -0.4, 1.2]])
B3 = np.array([1.0, -0.5, 0.7])


def test_csv_reader_reads_simulate_out(tmp_path, capsys):
    np.savetxt(tmp_path / "a.csv", A3, delimiter=",")
    np.savetxt(tmp_path / "b.csv", B3, delimiter=",")
    argv = ["simulate", tmp_path / "a.csv", "--rhs", tmp_path / "b.csv", "--t-end", "30tau",
            "--dt-out", "0.25tau", "--seed", "4", "--out", tmp_path / "run", "--json"]
    code, out, _ = run(argv, capsys)
    assert code == 0
    tr = read_trace(tmp_path / "run" / "trace.csv")
    res = tt.simulate(tt.Problem(A3, B3), tt.HardwareSpec(),
                      tt.SimConfig(t_end="30tau", dt_out="0.25tau", seed=4))
    assert tr.names == ("v0", "v1", "v2") and tr.resampled == ""
    # trace.csv is written with 13 significant digits (%.12e)
    np.testing.assert_allclose(tr.times, res.times, rtol=1e-11, atol=1e-20)
    np.testing.assert_allclose(tr.values, res.states, rtol=1e-11, atol=1e-15)
    assert uniform(tr) is tr                                 # already uniform: untouched


@pytest.fixture(scope="module")
def ngspice_run(tmp_path_factory):
    """One PWL-noise run of a d = 3 board, three ways: binary raw (``ngspice -b -r``, .control removed),
    ASCII raw (``set filetype=ascii`` + ``write``) and `thermotwin simulate --backend ngspice --out`."""
    find_ngspice()
    wd = tmp_path_factory.mktemp("raw")
    problem = tt.Problem(A3, B3)
    spec = tt.HardwareSpec(kappa0_v2=1e-4)
    cfg = tt.SimConfig(t_end="20tau", dt_out="0.1tau", noise="pwl", seed=3)
    net = render_netlist_files(problem, spec, cfg)
    body = strip_control(net.text)
    assert ".control" not in body and body.rstrip().endswith(".end")
    for name, text in net.files.items():          # the noise file the netlist reads, beside it
        (wd / name).write_text(text)
    (wd / "bin.cir").write_text(body)
    (wd / "asc.cir").write_text(body.rstrip()[:-len(".end")]
                                + ".control\nset filetype=ascii\nrun\nwrite asc.raw\nquit 0\n.endc\n.end\n")
    exe = find_ngspice()
    for argv in ([exe, "-b", "-r", "bin.raw", "bin.cir"], [exe, "-b", "asc.cir"]):
        subprocess.run(argv, cwd=wd, check=True, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    np.savetxt(wd / "a.csv", A3, delimiter=",")
    np.savetxt(wd / "b.csv", B3, delimiter=",")
    code = cli.main(["simulate", str(wd / "a.csv"), "--rhs", str(wd / "b.csv"), "--backend", "ngspice",
                     "--noise", "pwl", "--seed", "3", "--t-end", "20tau", "--dt-out", "0.1tau",
                     "--kappa0", "1e-4", "--out", str(wd / "sim")])
    assert code == 0
    return wd


@pytest.mark.ngspice
def test_raw_binary_and_ascii_agree(ngspice_run):
    b = read_trace(ngspice_run / "bin.raw", "v(o*)")
    a = read_trace(ngspice_run / "asc.raw", "v(o*)")
    assert b.names == a.names == ("v(o0)", "v(o1)", "v(o2)")
    assert len(b.times) == len(a.times) > 1000
    # ASCII raw carries 16 significant digits ('%.15e'): agreement to ~1e-15 of the values
    np.testing.assert_allclose(a.times, b.times, rtol=1e-14, atol=0)
    np.testing.assert_allclose(a.values, b.values, rtol=0, atol=1e-14 * np.abs(b.values).max())


@pytest.mark.ngspice
def test_raw_node_selection_glob_regex_default(ngspice_run):
    raw = ngspice_run / "bin.raw"
    everything = read_trace(raw)
    # default: every node voltage, no branch currents i(...)
    assert everything.names and all(n.startswith("v(") for n in everything.names)
    assert {"v(o0)", "v(s0)", "v(n2)"} <= set(everything.names)
    glob = read_trace(raw, "v(o*)")
    rex = read_trace(raw, r"re:v\(o[0-9]+\)")
    assert glob.names == rex.names == ("v(o0)", "v(o1)", "v(o2)")
    np.testing.assert_array_equal(glob.values, rex.values)   # exact: the same columns of one raw file, copied
    assert read_trace(raw, "V(O*)").names == glob.names                  # case-insensitive
    two = read_trace(raw, "v(o0), v(o2)")                                 # several patterns
    assert two.names == ("v(o0)", "v(o2)")
    np.testing.assert_array_equal(two.values, glob.values[:, [0, 2]])   # exact: column selection
    with pytest.raises(tt.InputError, match="no column matches"):
        read_trace(raw, "v(zz*)")


@pytest.mark.ngspice
def test_raw_nonuniform_times_are_linearly_interpolated(ngspice_run):
    tr = read_trace(ngspice_run / "bin.raw", "v(o*)")
    steps = np.diff(tr.times)
    assert steps.max() > 10 * steps.min()                                   # ngspice's own time steps
    dt = 1e-7
    u = uniform(tr, dt)
    assert "linear interpolation" in u.resampled and f"{dt:g}" in u.resampled   # exact: input dt, same format
    np.testing.assert_allclose(np.diff(u.times), dt, rtol=1e-9)
    assert u.times[0] == tr.times[0] and u.times[-1] <= tr.times[-1]   # exact: grid t0 + dt·k, k = 0
    for k in range(tr.d):
        expect = np.interp(u.times, tr.times, tr.values[:, k])
        np.testing.assert_allclose(u.values[:, k], expect, rtol=0, atol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # 20 τ: only the resampling note matters here
        cal = fit_ou(tr, dt=1e-7, tau_s=1e-6, n_boot=20)
    assert "linear interpolation" in cal.resampled                       # the calibration says so too


def test_read_trace_closes_the_file(tmp_path):
    p = _csv(tmp_path / "t.csv", *_good_trace())
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        read_trace(p)
        import gc

        gc.collect()
    assert not [w for w in rec if issubclass(w.category, ResourceWarning)], [str(w.message) for w in rec]


def test_nonuniform_csv_resampling_is_exact_on_linear_data(tmp_path):
    """Linear interpolation reproduces a linear signal exactly: an oracle for the resampler."""
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.2e-7, 1.8e-7, 400))
    vals = np.column_stack([3.0 + 2e6 * t, -1.0 + 5e5 * t])
    p = tmp_path / "nu.csv"
    np.savetxt(p, np.column_stack([t, vals]), delimiter=",", header="time,a,b", comments="", fmt="%.17e")
    tr = read_trace(p)
    assert tr.names == ("a", "b")
    u = uniform(tr, 1e-7)
    assert "linear interpolation" in u.resampled
    np.testing.assert_allclose(u.values[:, 0], 3.0 + 2e6 * u.times, rtol=1e-12)
    np.testing.assert_allclose(u.values[:, 1], -1.0 + 5e5 * u.times, rtol=1e-12)
    # a uniform trace downsampled by an integer factor keeps every k-th sample, no interpolation
    t2 = np.arange(100) * 1e-7
    tr2 = Trace(t2, np.column_stack([np.sin(t2 * 1e6)]), ("x",), "u")
    u2 = uniform(tr2, 3e-7)
    np.testing.assert_array_equal(u2.values, tr2.values[::3])   # exact: a slice, no interpolation
    assert "every 3" in u2.resampled


@pytest.mark.ngspice
def test_csv_and_raw_of_the_same_run_give_the_same_numbers(ngspice_run):
    """trace.csv (ngspice `linearize` + `wrdata`, problem units) and the raw file of the same
    deterministic PWL run: the output grid times are breakpoints of the noise clock (every noise step),
    so they are in the raw file (to ~3e-13 s) and interpolation there is exact. trace.csv keeps 13 significant
    digits; measured agreement ~1e-8 of the signal range (time offsets of the breakpoints times the
    slope). Bound 1e-6 of the range. Row 0 is skipped: ngspice's raw file starts at its first time
    step (3.3e-10 s here), not at t = 0, and np.interp would hold that value."""
    summary = json.loads((ngspice_run / "sim" / "summary.json").read_text())
    csv = read_trace(ngspice_run / "sim" / "trace.csv")
    for raw in ("bin.raw", "asc.raw"):
        tr = read_trace(ngspice_run / raw, "v(o*)")
        for k in range(3):
            y = np.interp(csv.times[1:], tr.times, tr.values[:, k])
            np.testing.assert_allclose(csv.values[1:, k] * summary["b_scale"], y, rtol=0,
                                       atol=1e-6 * np.ptp(y))


# -- bad input: one line, non-zero exit, no traceback ------------------------------------------
@pytest.fixture(scope="module")
def calib_file(tmp_path_factory):
    """A calibration made by `thermotwin calibrate` on a twin trace of a d = 2 board."""
    wd = tmp_path_factory.mktemp("calib")
    A = np.array([[1.5, 0.4], [-0.2, 1.0]])
    np.savetxt(wd / "a.csv", A, delimiter=",")
    res = tt.simulate(tt.Problem(A, np.ones(2)), tt.HardwareSpec(),
                      tt.SimConfig(t_end="1000tau", dt_out="0.5tau", seed=2))
    assert res.b_scale == 1.0   # exact: the literal 1.0 of design's no-scaling branch
    (wd / "trace.csv").write_text(res.trace_csv())
    code = cli.main(["calibrate", str(wd / "trace.csv"), "--matrix", str(wd / "a.csv"),
                     "-o", str(wd / "calib.json")])
    assert code == 0
    return wd


def _csv(path, t, V, names=None):
    names = names or [f"v{i}" for i in range(V.shape[1])]
    np.savetxt(path, np.column_stack([t, V]), delimiter=",", header=",".join(["time", *names]), comments="")
    return path


def _write_text(path, text):
    path.write_text(text)
    return path


def _calib_edit(calib_file, tmp_path, edit):
    data = json.loads((calib_file / "calib.json").read_text())
    edit(data)
    p = tmp_path / "edited.json"
    p.write_text(json.dumps(data))
    return p


def _good_trace(n=400, d=2, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) * 5e-7
    V = np.cumsum(rng.standard_normal((n, d)), axis=0) * 1e-2
    return t, V


def _bad_nan(wd, cf):
    t, V = _good_trace()
    V[17, 1] = np.nan
    return ["calibrate", _csv(wd / "t.csv", t, V), "-o", wd / "c.json"], ("non-finite",)


def _bad_inf(wd, cf):
    t, V = _good_trace()
    V[3, 0] = np.inf
    return ["calibrate", _csv(wd / "t.csv", t, V), "-o", wd / "c.json"], ("non-finite",)


def _bad_two_rows(wd, cf):
    t, V = _good_trace(n=2)
    return ["calibrate", _csv(wd / "t.csv", t, V), "-o", wd / "c.json"], ("only 2 samples",)


def _bad_too_short_for_fit(wd, cf):
    # 60 samples at d = 2: the fit needs 20(d+1) + 1 = 61
    t, V = _good_trace(n=60)
    return ["calibrate", _csv(wd / "t.csv", t, V), "-o", wd / "c.json"], ("60 samples", "61")


def _bad_constant_column(wd, cf):
    t, V = _good_trace()
    V[:, 1] = 0.25
    return ["calibrate", _csv(wd / "t.csv", t, V), "-o", wd / "c.json"], ("constant", "v1")


def _bad_node_count(wd, cf):
    t, V = _good_trace(d=3)
    argv = ["calibrate", _csv(wd / "t.csv", t, V), "--matrix", cf / "a.csv", "-o", wd / "c.json"]
    return argv, ("3 node columns",)


def _bad_time_order(wd, cf):
    t, V = _good_trace()
    t[50] = t[49]
    return ["calibrate", _csv(wd / "t.csv", t, V), "-o", wd / "c.json"], ("does not increase",)


def _bad_header(wd, cf):
    trace = _write_text(wd / "t.csv", "seconds,a,b\n0,1,2\n1,2,3\n2,3,1\n")
    return ["calibrate", trace, "-o", wd / "c.json"], ("'time'",)


def _bad_missing_trace(wd, cf):
    return ["calibrate", wd / "nope.csv", "-o", wd / "c.json"], ("no such trace file",)


def _bad_no_match(wd, cf):
    t, V = _good_trace()
    argv = ["calibrate", _csv(wd / "t.csv", t, V), "--nodes", "v(o*)", "-o", wd / "c.json"]
    return argv, ("no column matches",)


def _bad_version(wd, cf):
    p = _calib_edit(cf, wd, lambda d: d.update(version="0.0.1"))
    return ["predict", "--calib", p], ("0.0.1", "re-run")


def _bad_version_simulate(wd, cf):
    p = _calib_edit(cf, wd, lambda d: d.update(version="9.9"))
    return ["simulate", "--calib", p, "--t-end", "10tau"], ("9.9",)


def _bad_unknown_key(wd, cf):
    p = _calib_edit(cf, wd, lambda d: d.update(drift_typo=[1]))
    return ["predict", "--calib", p], ("unknown key", "drift_typo")


def _bad_garbage_json(wd, cf):
    p = wd / "g.json"
    p.write_text("{\"format\": \"thermotwin-calibration/1\", oops")
    return ["predict", "--calib", p], ("not json",)


def _bad_not_a_calibration(wd, cf):
    p = wd / "s.json"
    p.write_text(json.dumps({"kappa0_v2": 1e-4}))
    return ["predict", "--calib", p], ("not a thermotwin calibration",)


def _bad_missing_calib(wd, cf):
    return ["predict", "--calib", wd / "missing.json"], ("cannot read calibration",)


def _bad_report_without_trace(wd, cf):
    return ["report", "--calib", cf / "calib.json", "--out", wd / "rep"], ("--trace",)


def _bad_report_wrong_d(wd, cf):
    t, V = _good_trace(d=3)
    argv = ["report", "--calib", cf / "calib.json", "--trace", _csv(wd / "h.csv", t, V), "--out", wd / "rep"]
    return argv, ("3 node",)


def _bad_calib_ngspice(wd, cf):
    return ["simulate", "--calib", cf / "calib.json", "--backend", "ngspice"], ("--backend twin",)


BAD = [_bad_nan, _bad_inf, _bad_header, _bad_two_rows, _bad_too_short_for_fit, _bad_constant_column,
       _bad_node_count, _bad_time_order, _bad_missing_trace, _bad_no_match, _bad_version,
       _bad_version_simulate, _bad_unknown_key, _bad_garbage_json, _bad_not_a_calibration, _bad_missing_calib,
       _bad_report_without_trace, _bad_report_wrong_d, _bad_calib_ngspice]


@pytest.mark.parametrize("make", BAD, ids=[f.__name__[5:] for f in BAD])
def test_bad_input_is_one_line(make, calib_file, tmp_path, capsys):
    argv, needles = make(tmp_path, calib_file)
    code, out, err = run(argv, capsys)
    assert_one_line_error(code, err, *needles)
    assert not (tmp_path / "c.json").exists()            # nothing written on failure


def test_calibration_json_round_trip(calib_file):
    cal = Calibration.load(calib_file / "calib.json")
    again = Calibration.from_json(cal.to_json())
    assert again == cal   # exact: JSON writes floats by repr, which reads back to the same double
    assert cal.d == 2 and cal.nodes == ["v0", "v1"] and cal.nominal is not None


# ---------------------------------------------------------------------------------------------
# 2. fit correctness on twin data
# ---------------------------------------------------------------------------------------------
#: Independent runs per case. Pooling K runs makes the mean-z² band informative at d = 4.
K_RUNS = 6
FIT_CASES = [(4, "spd", "pwl"), (4, "nonsym", "white"), (8, "spd", "white"), (8, "nonsym", "pwl")]


@pytest.mark.parametrize("d,kind,noise", FIT_CASES, ids=[f"d{d}-{k}-{n}" for d, k, n in FIT_CASES])
def test_fit_recovers_the_realised_board(d, kind, noise):
    """K runs of 4000 τ sampled every 0.5 τ (a multiple of the ZOH noise step for pwl).

    * M: z = (M̂ − M)/SE over K·d² entries (≤ 384). With calibrated SEs each z is ≈ N(0, 1) (a t with
      N_BOOT − 1 = 199 d.o.f., since the SE is a bootstrap estimate); by Bonferroni
      P(max |z| > 4.5) ≤ K·d²·2Φ(−4.5) = 384 · 6.8e-6 = 2.6e-3 whatever the correlation between
      entries. So max |z| ≤ 4.5.
    * mean z²: E = ν/(ν − 2) ≈ 1 + 2/ν (ν = 199: the bootstrap SE's own noise). The entries of M̂ are
      correlated (correlation R from the delta method), so Var(Σ z²) = 2 tr(R²) per run, not 2d²;
      the band is 4·sqrt(Σ_runs 2 tr(R²)(1 + 4/ν))/(K d²) — e.g. ±0.38 at d = 8, ±0.7 at d = 4. SEs off
      by 25 % either way (z² × 0.64 or × 1.78) leave the d = 8 band.
    * SE magnitude against the delta method: each bootstrap SE has relative error 1/sqrt(2ν) = 5 %;
      the geometric mean over the entries of one run has at most that error, so exp(±4·0.05).
    * κ0 = τ·mean diag D/2 against spec.kappa0_v2·mean(noise_gain²): within 4 SE (and 10 %). ZOH
      noise at h = τ/(10 λ_max) lowers the stationary variance by ≤ (λh)²/12 < 1e-3, ≈ 0.1 SE.
    * x* against realised x_fixed_point·b_scale: every entry within 4 SE (K·d ≤ 48 entries:
      P(any > 4) ≤ 48 · 6.3e-5 = 3e-3).
    Whiteness: PWL noise sampled at a multiple of its step (and white noise) gives white residuals;
    a false alarm has probability 1e-3 per fit by construction (and would fail via -W error).
    """
    problem = (spd_problem if kind == "spd" else nonsym_problem)(d, 10 + d)
    values, real, _ = board(problem, SPEC)
    tau = values.nominal_tau_s
    kappa_true = SPEC.kappa0_v2 * float(np.mean(real.noise_gain ** 2))
    x_true = real.x_fixed_point * values.b_scale
    nu = N_BOOT - 1
    z2_sum, var_sum, zmax = 0.0, 0.0, 0.0
    for k in range(K_RUNS):
        cfg = tt.SimConfig(t_end="4000tau", dt_out="0.5tau", seed=100 + k, noise=noise)
        res = tt.simulate(problem, SPEC, cfg)
        tr = volts(res)
        cal = fit_ou(tr, tau_s=tau, seed=k)          # own bootstrap stream per run: independent SE noise
        assert cal.whiteness["white"] and cal.warnings == []
        se = np.asarray(cal.drift_se_per_s)
        z = (cal.M - real.M) / se
        zmax = max(zmax, float(np.abs(z).max()))
        C = drift_cov_delta(tr.values, tr.dt)
        sd = np.sqrt(np.diag(C))
        R = C / np.outer(sd, sd)
        z2_sum += float(np.sum(z ** 2))
        var_sum += 2.0 * float(np.trace(R @ R)) * (1 + 4 / nu)
        gm = float(np.exp(np.mean(np.log(se.ravel() / sd))))
        assert math.exp(-4 * 0.05) <= gm <= math.exp(4 * 0.05), f"bootstrap/delta SE ratio {gm:.3f}"
        assert abs(cal.kappa0_v2 - kappa_true) <= 4 * cal.kappa0_se_v2, (cal.kappa0_v2, kappa_true)
        assert abs(cal.kappa0_v2 / kappa_true - 1) <= 0.10
        xz = (cal.x_star - x_true) / np.asarray(cal.fixed_point_se_v)
        assert np.abs(xz).max() <= 4.0, xz
    n = K_RUNS * d * d
    mean_z2 = z2_sum / n
    band = 4 * math.sqrt(var_sum) / n
    assert zmax <= 4.5, f"max |z| = {zmax:.2f}"
    assert abs(mean_z2 - nu / (nu - 2)) <= band, f"mean z² = {mean_z2:.3f}, band ±{band:.3f}"


def test_standard_errors_shrink_as_one_over_sqrt_T():
    """The first quarter of a 16000 τ run against the whole run: SE ∝ sqrt(diag Σ_ε ⊗ (ZᵀZ)⁻¹) and
    ZᵀZ grows ∝ N, so every SE halves. Fluctuation of the ratio: the sample second moments of the
    4000 τ piece have relative error ≈ sqrt(2/(λ_min T)) = sqrt(2/(0.37·4000)) ≈ 4 %; the bootstrap
    noise cancels (same bootstrap seed, same normal draws). 20 % is 5σ. The run starts at the
    fixed point so no settling transient inflates the short piece's information."""
    d = 8
    problem = spd_problem(d, 18)
    values, real, _ = board(problem, SPEC)
    res = tt.simulate(problem, SPEC, tt.SimConfig(t_end="16000tau", dt_out="0.5tau", seed=7, noise="white",
                                                  v0=tuple(real.x_fixed_point)))
    full = volts(res)
    q = (len(full.times) - 1) // 4 + 1
    short = Trace(full.times[:q], full.values[:q], full.names, "short")
    cl = fit_ou(full, tau_s=values.nominal_tau_s)
    cs = fit_ou(short, tau_s=values.nominal_tau_s)
    ratio_M = np.asarray(cs.drift_se_per_s) / np.asarray(cl.drift_se_per_s)
    ratio_x = np.asarray(cs.fixed_point_se_v) / np.asarray(cl.fixed_point_se_v)
    for r in (np.median(ratio_M), np.median(ratio_x), cs.kappa0_se_v2 / cl.kappa0_se_v2,
              cs.lambda_min_se_per_s / cl.lambda_min_se_per_s):
        assert 1.6 <= r <= 2.4, r


# ---------------------------------------------------------------------------------------------
# 3. whiteness diagnostic
# ---------------------------------------------------------------------------------------------
def test_pwl_noise_sampled_at_its_step_is_white():
    problem = bench_matrix(4, 0)
    values, real, _ = board(problem, SPEC)
    res = tt.simulate(problem, SPEC, tt.SimConfig(t_end="2000tau", dt_out="0.5tau", seed=1, noise="pwl"))
    m = res.dt_out_s / res.noise_step_s
    assert m > 1 and abs(m - round(m)) < 1e-9                 # output = whole number of noise steps
    cal = fit_ou(volts(res), tau_s=values.nominal_tau_s)
    w = cal.whiteness
    assert w["white"] and cal.warnings == []
    # r_k·sqrt(N) ≈ N(0, 1) for white residuals: 10 lags × 4 channels, Bonferroni 40·6.8e-6 at 4.5
    assert w["max_abs_autocorr_z"] <= 4.5
    assert min(w["ljung_box_p"]) > 1e-3 / 4


def test_filtered_noise_sampled_fast_is_not_white():
    """White noise through a 0.5 τ moving average, sampled every 0.1 τ: consecutive innovations
    share most of the filter window, so lag-1 autocorrelation is O(1) (measured |r|·sqrt(N) ≈ 80
    against ≤ 4.5 for white residuals). The fit must say so with a RuntimeWarning."""
    problem = bench_matrix(4, 0)
    values, _, _ = board(problem, SPEC)
    res = tt.simulate(problem, SPEC, tt.SimConfig(t_end="1000tau", dt_out="0.02tau", seed=1, noise="white"))
    V = res.states * res.b_scale
    k = 25                                                    # 25 · 0.02 τ = 0.5 τ window
    c = np.cumsum(np.vstack([np.zeros((1, 4)), V]), axis=0)
    ma = (c[k:] - c[:-k]) / k
    tr = Trace(res.times[k - 1:][::5], ma[::5], tuple(f"v(o{i})" for i in range(4)), "filtered")
    with pytest.warns(RuntimeWarning, match="not white"):
        cal = fit_ou(tr, tau_s=values.nominal_tau_s)
    assert not cal.whiteness["white"]
    assert cal.whiteness["max_abs_autocorr_z"] > 20
    assert any("not white" in w for w in cal.warnings)


@pytest.mark.ngspice
def test_trnoise_sampled_at_two_noise_steps_is_not_white():
    """docs/calibration.md#sampling: TRNOISE (linearly interpolated, NT = τ/20) sampled every 0.1 τ is not white
    (measured |r|·sqrt(N) ≈ 15, M biased ~25 %); sampled every 0.5 τ the residuals are white.
    TRNOISE is seeded from the process id, so this run is not repeatable — the effect is > 3× the
    4.5 threshold, and the white case fails with probability ~1e-3."""
    problem = bench_matrix(4, 0)
    values, _, _ = board(problem, tt.HardwareSpec(kappa0_v2=1e-4))
    res = tt.simulate(problem, tt.HardwareSpec(kappa0_v2=1e-4),
                      tt.SimConfig(t_end="1000tau", dt_out="0.1tau", noise_step="0.05tau", seed=1,
                                   noise="trnoise"),
                      backend="ngspice")
    tr = volts(res, "trnoise")
    with pytest.warns(RuntimeWarning, match="not white"):
        fast = fit_ou(tr, tau_s=values.nominal_tau_s)
    assert not fast.whiteness["white"] and fast.whiteness["max_abs_autocorr_z"] > 4.5
    slow = fit_ou(tr, dt=0.5 * values.nominal_tau_s, tau_s=values.nominal_tau_s)
    assert slow.whiteness["white"] and slow.resampled == "every 5th sample"


# ---------------------------------------------------------------------------------------------
# 4. identifiability
# ---------------------------------------------------------------------------------------------
A2 = np.array([[1.0, 0.3], [0.3, 2.0]])


def test_short_trace_warns_with_the_length_needed(tmp_path, capsys):
    """61 samples over 3 τ at d = 2 (one more than the 60 that are refused outright), started at
    the fixed point so no settling transient helps: λ_min is not identified."""
    problem = tt.Problem(A2, np.array([1.0, 0.5]))
    spec = tt.HardwareSpec(kappa0_v2=1e-4)
    values, real, _ = board(problem, spec)
    res = tt.simulate(problem, spec, tt.SimConfig(t_end="3tau", dt_out="0.05tau", seed=0, noise="white",
                                                  v0=tuple(problem.x_exact)))
    tr = volts(res)
    assert len(tr.times) == 61
    with pytest.warns(RuntimeWarning, match=r"a trace of about \S+ s would give 10 % on λ_min") as rec:
        cal = fit_ou(tr, tau_s=values.nominal_tau_s)
    msg = next(str(w.message) for w in rec if "λ_min" in str(w.message))
    need = float(re.search(r"a trace of about (\S+) s", msg).group(1))
    T = tr.times[-1] - tr.times[0]
    assert math.isfinite(need) and need > 3 * T          # asks for a (much) longer trace
    assert cal.lambda_min_se_per_s > 0.25 * cal.lambda_min_per_s
    assert any("λ_min" in w for w in cal.warnings)
    # the CLI prints the warning on stderr and still writes the calibration
    (tmp_path / "t.csv").write_text(res.trace_csv())
    code, out, err = run(["calibrate", tmp_path / "t.csv", "-o", tmp_path / "c.json"], capsys)
    assert code == 0 and (tmp_path / "c.json").exists()
    assert any(ln.startswith("thermotwin: warning:") and "10 % on λ_min" in ln for ln in err.splitlines())


# ---------------------------------------------------------------------------------------------
# 5. prediction
# ---------------------------------------------------------------------------------------------
SPEC7 = tt.HardwareSpec.from_dict({"kappa0_v2": 1e-4, "r_tolerance": 0.01, "opamp": {"gain": 1e4},
                                   "board_seed": 7})


@pytest.fixture(scope="module")
def exact_calibration():
    """A Calibration whose M, D, x* are the realised board's (a fit that happened to be exact),
    made against the nominal matrix (so the floor is A_eff against A)."""
    problem = bench_matrix(4, 0)
    values, real, Q = board(problem, SPEC7)
    tau = values.nominal_tau_s
    res = tt.simulate(problem, SPEC7, tt.SimConfig(t_end="400tau", dt_out="0.5tau", seed=1))
    fitted = fit_ou(volts(res), tau_s=tau, nominal=(problem, values, SPEC7))
    lam = float(np.linalg.eigvals(real.M).real.min())
    xb = real.x_fixed_point * values.b_scale
    cal = dataclasses.replace(
        fitted, drift_per_s=real.M.tolist(), diffusion_v2_per_s=Q.tolist(), fixed_point_v=xb.tolist(),
        lambda_min_per_s=lam,
        nominal=dict(fitted.nominal, x_nominal_v=(problem.x_exact * values.b_scale).tolist()))
    return problem, values, real, Q, cal


def test_predict_from_exact_calibration_equals_predict_for_the_board(exact_calibration):
    problem, values, real, Q, cal = exact_calibration
    config = tt.SimConfig(t_end="200tau", dt_out="0.5tau", seed=0)
    ref = predict_for(problem, SPEC7, config)
    from thermotwin.solver.config import resolve_grid

    grid = resolve_grid(problem, config, values.nominal_tau_s, SPEC7)
    pred, x_ref = predict_from_calibration(cal, grid.t_end_s, n_points=grid.n_out, settle_s=grid.settle_s,
                                           v0=np.zeros(4))
    np.testing.assert_allclose(x_ref, problem.x_exact * values.b_scale, rtol=1e-12)
    np.testing.assert_allclose(pred.times, ref.times, rtol=1e-12, atol=1e-20)
    for name in ("instantaneous", "window", "running", "running_bias", "running_noise", "asymptote"):
        np.testing.assert_allclose(getattr(pred, name), getattr(ref, name), rtol=1e-8, atol=1e-14,
                                   err_msg=name)
    assert pred.floor == pytest.approx(ref.floor, rel=1e-9)
    assert pred.floor == pytest.approx(error_floor(problem, real), rel=1e-9)
    # and both are predict_error on the realised model
    direct = predict_error(real.M, real.f, Q, problem.x_exact, np.zeros(4), grid.times, grid.settle_s,
                           values.b_scale)
    np.testing.assert_allclose(pred.running, direct.running, rtol=1e-8)
    # default settling start: docs/model.md#settling, (1/λ_min) ln(‖V0 − x*‖/(1e-3 ‖x*‖)) from V0 = 0
    # (the window starts at the first grid time at or after it)
    t_end = 1000 * values.nominal_tau_s
    p2, _ = predict_from_calibration(cal, t_end, n_points=400)
    expect = math.log(1e3) / cal.lambda_min_per_s
    assert expect - 1e-12 * t_end <= p2.settle_s < expect + t_end / 400


def test_time_to_tolerance_is_monotone_and_infinite_below_the_floor(exact_calibration):
    _, _, _, _, cal = exact_calibration
    pred, _ = predict_from_calibration(cal, 100e-6)
    floor = pred.floor
    assert 1e-3 < floor < 0.02
    # exact: math.inf is the sentinel returned below the floor (10 % and 50 % margins to the decision)
    assert time_to_tolerance(cal, 0.9 * floor) == math.inf
    assert time_to_tolerance(cal, 0.5 * floor) == math.inf
    tols = floor * np.array([1.3, 1.6, 2.0, 3.0, 5.0, 10.0])
    Ts = [time_to_tolerance(cal, t, 0.9) for t in tols]
    assert all(math.isfinite(T) for T in Ts)
    assert all(a >= b for a, b in zip(Ts, Ts[1:])), Ts          # looser tolerance → no longer
    assert Ts[0] > Ts[-1]
    Tp = [time_to_tolerance(cal, 2 * floor, p) for p in (0.5, 0.9, 0.99)]
    assert Tp[0] <= Tp[1] <= Tp[2] and Tp[0] < Tp[2]


def test_time_to_tolerance_against_twin_monte_carlo(exact_calibration):
    """time_to_tolerance(tol, prob) returns the shortest window T (on its grid, steps ≈ 10 %) with
    P(‖x̄_T − x‖ ≤ tol‖x‖) ≥ prob. The twin, started at the board's fixed point and averaged from
    t_s = 10/λ_min (stationary to e^−20) over [t_s, t_s + T], must reach tol in a fraction ≥ prob of
    n trajectories at T and ≤ prob at 0.9 T (below the previous grid point). σ² = p(1 − p)/n (twin,
    binomial) + p(1 − p)/4000 (time_to_tolerance's own Monte Carlo): σ = 0.0082; bound 4σ. The
    average is the trapezoid of the samples every 0.05 τ (error ~ (λ dt)² ≪ σ)."""
    problem, values, real, Q, cal = exact_calibration
    tol, prob, n = 0.01, 0.9, 2000
    T = time_to_tolerance(cal, tol, prob)
    assert math.isfinite(T)
    tau = values.nominal_tau_s
    ts = 10 / cal.lambda_min_per_s
    cfg = tt.SimConfig(t_end=ts + 1.02 * T, dt_out=0.05 * tau, noise="white", seed=5, n_traj=n,
                       v0=tuple(real.x_fixed_point))
    res = tt.simulate(problem, SPEC7, cfg)
    X = res.stats["states_all"] * values.b_scale                 # (n, n_t, d) volts
    t = res.times
    trap = 0.5 * (X[:, 1:] + X[:, :-1]) * np.diff(t)[None, :, None]
    cum = np.concatenate([np.zeros((n, 1, 4)), np.cumsum(trap, axis=1)], axis=1)

    def integral(at):
        k = int(np.searchsorted(t, at))
        w = (at - t[k - 1]) / (t[k] - t[k - 1])
        return (1 - w) * cum[:, k - 1] + w * cum[:, k]

    x_ref = np.asarray(cal.nominal["x_nominal_v"])
    i0 = integral(ts)

    def fraction(window):
        xbar = (integral(ts + window) - i0) / window
        return float(np.mean(np.linalg.norm(xbar - x_ref, axis=1) <= tol * np.linalg.norm(x_ref)))

    sigma = math.sqrt(prob * (1 - prob) / n + prob * (1 - prob) / 4000)
    at_T, before = fraction(T), fraction(0.9 * T)
    assert at_T >= prob - 4 * sigma, (at_T, before, T / tau)
    assert before <= prob + 4 * sigma, (at_T, before, T / tau)


def test_predict_cli_matches_library(calib_file, tmp_path, capsys):
    code, out, err = run(["predict", "--calib", calib_file / "calib.json", "--tol", "0.05", "--json",
                          "--out", tmp_path], capsys)
    assert code == 0
    s = json.loads(out)
    cal = Calibration.load(calib_file / "calib.json")
    assert s["time_to_tol_s"] == pytest.approx(time_to_tolerance(cal, 0.05, 0.9), rel=1e-12)
    pred, _ = predict_from_calibration(cal, s["t_end_s"])
    assert s["settle_s"] == pytest.approx(pred.settle_s) and s["floor"] == pytest.approx(pred.floor)
    assert (tmp_path / "prediction.csv").read_text().startswith("time_s,window_s,rel_error_rms")


# ---------------------------------------------------------------------------------------------
# 6. the twin on a calibrated model
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted_nonsym():
    """A real fit (non-symmetric board, d = 3) — its M, D are what simulate --calib must run."""
    problem = nonsym_problem(3, 5)
    values, _, _ = board(problem, SPEC)
    res = tt.simulate(problem, SPEC, tt.SimConfig(t_end="2000tau", dt_out="0.5tau", seed=9))
    return fit_ou(volts(res), tau_s=values.nominal_tau_s, nominal=(problem, values, SPEC))


@pytest.mark.parametrize("noise", ["white", "pwl"])
def test_run_twin_calibrated_has_the_fitted_stationary_law(fitted_nonsym, noise):
    """n = 2000 trajectories started at x*, read at 8 times spaced 8/λ_min apart after 16/λ_min
    (correlation between slices ≤ e^−8 for the slowest mode): 16000 draws of N(x*, Σ), Σ from the
    Lyapunov equation M Σ + Σ Mᵀ = D (Kronecker solve). Sample covariance entries have
    Var(Ŝ_ij) = (Σ_ii Σ_jj + Σ_ij²)/n_s, the mean Var = Σ_ii/n_s; 4.5σ with Bonferroni over the 6 + 3
    entries (P ≤ 9 · 6.8e-6). PWL: ZOH at τ/(10 λ_max) lowers the variance by ≤ 1e-3, ≈ 0.1σ."""
    cal = fitted_nonsym
    M, D = cal.M, cal.D
    lam = cal.lambda_min_per_s
    gap = 8 / lam
    n = 2000
    res = run_twin_calibrated(cal, tt.SimConfig(t_end=gap * 9, dt_out=gap, noise=noise, seed=4, n_traj=n,
                                                v0=tuple(cal.x_star)))
    X = res.stats["states_all"][:, 2:, :].reshape(-1, cal.d)   # slices at 16/λ … 72/λ
    ns = X.shape[0]
    Sigma = lyapunov_kron(M, D)
    S_hat = np.cov(X, rowvar=False)
    sd = np.sqrt((np.outer(np.diag(Sigma), np.diag(Sigma)) + Sigma ** 2) / ns)
    assert np.max(np.abs(S_hat - Sigma) / sd) <= 4.5
    assert np.max(np.abs(X.mean(axis=0) - cal.x_star) / np.sqrt(np.diag(Sigma) / ns)) <= 4.5
    assert res.b_scale == 1.0 and res.tau_s == cal.tau_s   # exact: literal 1.0 and cal.tau_s passed through
    np.testing.assert_allclose(res.x_exact, cal.nominal["x_nominal_v"])


def test_simulate_calib_cli(fitted_nonsym, tmp_path, capsys):
    p = tmp_path / "calib.json"
    p.write_text(fitted_nonsym.to_json())
    code, out, err = run(["simulate", "--calib", p, "--t-end", "100tau", "--dt-out", "0.5tau", "--json",
                          "--out", tmp_path / "run"], capsys)
    assert code == 0, err
    s = json.loads(out)
    assert s["backend"] == "twin" and s["d"] == 3 and s["calibration"] == str(p)
    assert s["stats"]["path"] == "calibrated"
    assert s["t_end_s"] == pytest.approx(100 * fitted_nonsym.tau_s)
    assert (tmp_path / "run" / "trace.csv").exists()
    for backend in ("ngspice", "pyspice", "twin-em"):
        code, out, err = run(["simulate", "--calib", p, "--backend", backend], capsys)
        assert_one_line_error(code, err, "--backend twin")


# ---------------------------------------------------------------------------------------------
# held-out report on twin traces (the ngspice acceptance of issue 5, fast)
# ---------------------------------------------------------------------------------------------
def heldout_ratio_sigma(real, Q, values, problem, T_train, T_half):
    """Law of measured/predicted − 1 at window length T_half when the floor f = x_b − x dominates.

    To first order ratio − 1 = fᵀ(n − δ)/‖f‖², n the held-out average's noise (Cov ≈ S/T with
    S = M⁻¹QM⁻ᵀ) and δ the fitted x*'s error (the same law at the training length). Returns
    (σ of the fitted floor's relative error, σ of ratio − 1, second-order term tr(S)/(T_half‖f‖²)).
    """
    Mi = np.linalg.inv(real.M)
    S = Mi @ Q @ Mi.T
    f = (real.x_fixed_point - problem.x_exact) * values.b_scale
    nf2 = float(f @ f)
    fSf = float(f @ S @ f)
    return (math.sqrt(fSf / T_train) / nf2, math.sqrt(fSf * (1 / T_train + 1 / T_half)) / nf2,
            float(np.trace(S)) / T_half / nf2)


def test_report_calib_cli_on_twin_heldout(tmp_path, capsys):
    """calibrate (CLI, against the nominal matrix) on one twin run, report --calib on a held-out
    run with another seed. The floor (A_eff against A, ~1.7 %) dominates the error; the ratio's
    first-order σ at the noisiest point of the second half (T/2) is computed from the realised
    board (heldout_ratio_sigma, ≈ 3.4 %). Bound 4σ plus the second-order term tr(C)/‖f‖² (≈ 1 %):
    a Monte Carlo of the sup over [T/2, T] of |a − W(T)/T| with these σ exceeds 4σ with p ≈ 1e-4.
    The fitted floor is within 4σ of error_floor (σ from the 600 τ training run, ≈ 1.5 %)."""
    problem = bench_matrix(16, 0)
    spec = SPEC7
    values, real, Q = board(problem, spec)
    np.savetxt(tmp_path / "a.csv", problem.A, delimiter=",")
    (tmp_path / "spec.json").write_text(spec.to_json())
    for name, seed, t_end in (("train", 11, "600tau"), ("held", 23, "300tau")):
        code, _, err = run(["simulate", tmp_path / "a.csv", "--spec", tmp_path / "spec.json", "--seed", seed,
                            "--t-end", t_end, "--dt-out", "0.5tau", "--out", tmp_path / name], capsys)
        assert code == 0, err
    # exact: the literal 1.0 of design's no-scaling branch, through JSON (repr round trip)
    assert json.loads((tmp_path / "train" / "summary.json").read_text())["b_scale"] == 1.0
    code, _, err = run(["calibrate", tmp_path / "train" / "trace.csv", "--matrix", tmp_path / "a.csv",
                        "--spec", tmp_path / "spec.json", "-o", tmp_path / "c.json"], capsys)
    assert code == 0, err
    code, out, err = run(["report", "--calib", tmp_path / "c.json", "--trace",
                          tmp_path / "held" / "trace.csv", "--out", tmp_path / "rep", "--json"], capsys)
    assert code == 0, err
    s = json.loads(out)
    for f in ("report_calibrated.png", "report_calibrated.csv", "summary_calibrated.json"):
        assert (tmp_path / "rep" / f).stat().st_size > 0
    tau = values.nominal_tau_s
    window = 300 * tau - s["settle_s"]
    sig_floor, sig, second = heldout_ratio_sigma(real, Q, values, problem, 600 * tau, window / 2)
    assert second <= 0.05                                   # floor-dominated: the first-order law applies
    assert s["ratio_max_dev_second_half"] <= 4 * sig + second, (s, sig, second)
    assert abs(s["floor"] / error_floor(problem, real) - 1) <= 4 * sig_floor


# ---------------------------------------------------------------------------------------------
# regressions of bugs found while writing these tests
# ---------------------------------------------------------------------------------------------
def test_calibrate_on_own_trace_csv_when_b_scale_is_not_one(tmp_path, capsys):
    """x* = (5.26, 3.68) V exceeds half the 10 V range, so design scales b by 0.95. The trace of
    2000 τ gives κ0 to ~1.7 % (SE 1.9e-6) and x* to ~1e-3 relative; tolerances 4 SE."""
    A = np.array([[0.5, 0.1], [0.1, 0.4]])
    b = np.array([3.0, 2.0])
    np.savetxt(tmp_path / "a.csv", A, delimiter=",")
    np.savetxt(tmp_path / "b.csv", b, delimiter=",")
    (tmp_path / "spec.json").write_text(json.dumps({"kappa0_v2": 1e-4}))
    code, _, _ = run(["simulate", tmp_path / "a.csv", "--rhs", tmp_path / "b.csv", "--spec",
                      tmp_path / "spec.json", "--t-end", "2000tau", "--dt-out", "0.5tau",
                      "--out", tmp_path / "run"], capsys)
    assert code == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["b_scale"] == pytest.approx(0.95)
    code, _, err = run(["calibrate", tmp_path / "run" / "trace.csv", "--matrix", tmp_path / "a.csv", "--rhs",
                        tmp_path / "b.csv", "--spec", tmp_path / "spec.json", "-o", tmp_path / "c.json"],
                       capsys)
    assert code == 0, err
    cal = Calibration.load(tmp_path / "c.json")
    assert abs(cal.kappa0_v2 - 1e-4) <= 4 * cal.kappa0_se_v2, cal.kappa0_v2
    x_se_rel = np.linalg.norm(cal.fixed_point_se_v) / np.linalg.norm(cal.x_star)
    assert cal.nominal["fixed_point_rel_error"] <= 4 * x_se_rel, cal.nominal["fixed_point_rel_error"]


@pytest.mark.parametrize("gain", [30.0, 1e4])
def test_implied_opamp_gain_from_the_exact_drift(gain):
    """Noise-free oracle: _compare_nominal fed the realised board's own M (SE negligible, so the leak
    is significant). Only first-order terms in 1/A0 are expected to be modelled: 5 % (≈ 1/A0 at 30)."""
    from thermotwin.calibration.fit import _compare_nominal

    problem = bench_matrix(4, 0)
    spec = tt.HardwareSpec.from_dict({"opamp": {"gain": gain}})
    values, real, _ = board(problem, spec)
    se = 1e-9 * np.abs(real.M).max() * np.ones_like(real.M)
    rep = _compare_nominal(real.M, se, real.x_fixed_point * values.b_scale, values.nominal_tau_s,
                           (problem, values, spec))
    g = rep["implied_opamp_gain"]
    assert g is not None and abs(g / gain - 1) <= 0.05, g
