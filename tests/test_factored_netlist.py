"""The scaled-up three-array netlist (``thermotwin netlist --factored``; issue 7 item 2, docs/circuit.md#factored).

Oracles:
* a small modified-nodal-analysis solver written here (R, VCVS and DC sources only) that reads the
  drift-probe netlist — the wiring checked without ngspice;
* ngspice's drift probe of the factored and of the dense netlist, against each other, against
  F = λI + JᵀHJ and against the factored twin's realisation (tolerances, quantisation, finite gain);
* ngspice transients of the factored and dense netlists fed the same PWL noise, path by path, and
  against the dense twin / the realised board's exact OU solution;
* the committed run ``tests/data/ref_factored_4x2_pwl.data`` against the dense twin (no ngspice).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import thermotwin as tt
from thermotwin.circuit.factored import realise_factored, stage_time_constants
from thermotwin.circuit.spec import IDEAL_SPICE_GAIN
from thermotwin.circuit.factored_netlist import board_for_netlist
from thermotwin.circuit.netlist import render_factored_netlist
from thermotwin.cli import main
from thermotwin.errors import InputError
from thermotwin.solver.config import SimConfig, initial_state, resolve_grid
from thermotwin.solver.factored import FactoredProblem
from thermotwin.solver.ngspice import probe_dense, probe_factored, read_wrdata, run_ngspice, run_ngspice_factored
from thermotwin.solver.ou import simulate_linear

from golden_cases import CASES, ref_factored
from golden_compare import assert_matches_golden

STORED = CASES["ref_factored_4x2_pwl"]


def random_factored(N: int = 7, r: int = 3, seed: int = 3, lam: float = 0.3) -> FactoredProblem:
    rng = np.random.default_rng(seed)
    J = 0.5 * rng.standard_normal((r, N))
    J[0, 1] = 0.0                                       # a missing resistor
    X = rng.standard_normal((r, r))
    H = X @ X.T / r
    H[0, 1] = H[1, 0] = -abs(H[0, 1]) - 0.1              # a negative entry (still PSD after the shift below)
    H += (abs(min(np.linalg.eigvalsh(H).min(), 0.0)) + 0.05) * np.eye(r)
    return FactoredProblem(J, H, lam, rng.standard_normal(N), name="rand")


def dense_of(fp: FactoredProblem) -> tt.Problem:
    return tt.Problem(fp.dense(), fp.g, name=fp.name)


def rel(a, b) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


# ---------------------------------------------------------------------------------------------
# an independent reading of the netlist: modified nodal analysis of R, E and V elements
# ---------------------------------------------------------------------------------------------
def mna_probe(text: str, d: int) -> np.ndarray:
    """Currents i(Vs0…Vs{d−1}) for V(o) = 0 and then V(o_j) = 1 V, as the probe's .control block does."""
    elems = []
    for line in text.splitlines():
        if not line or line[0] in "*.+" or line.lower().startswith((".", "alter", "op", "wrdata", "set", "quit")):
            continue
        tok = line.split()
        kind = tok[0][0].upper()
        if kind == "R":
            elems.append(("R", tok[0].lower(), tok[1], tok[2], float(tok[3])))
        elif kind == "E":
            elems.append(("E", tok[0].lower(), tok[1], tok[2], tok[3], tok[4], float(tok[5])))
        elif kind == "V":
            assert tok[3].upper() == "DC", line
            elems.append(("V", tok[0].lower(), tok[1], tok[2], float(tok[4])))
        else:
            raise AssertionError(f"unexpected element in a static probe netlist: {line}")
    nodes = sorted({n for e in elems for n in (e[2:4] if e[0] != "E" else e[2:6])} - {"0"})
    idx = {n: k for k, n in enumerate(nodes)}
    branches = [e for e in elems if e[0] in "VE"]
    bidx = {e[1]: len(nodes) + k for k, e in enumerate(branches)}
    n = len(nodes) + len(branches)
    G = np.zeros((n, n))

    def stamp(a, b, val):
        if a != "0" and b != "0":
            G[idx[a], idx[b]] += val

    for e in elems:
        if e[0] == "R":
            _, _, a, b, R = e
            g = 1.0 / R
            stamp(a, a, g), stamp(b, b, g), stamp(a, b, -g), stamp(b, a, -g)
    for e in branches:
        k = bidx[e[1]]
        p, m = e[2], e[3]
        for node, s in ((p, 1.0), (m, -1.0)):
            if node != "0":
                G[idx[node], k] += s
                G[k, idx[node]] += s
        if e[0] == "E":
            for node, s in ((e[4], -e[6]), (e[5], e[6])):
                if node != "0":
                    G[k, idx[node]] += s
    rows = []
    for j in range(-1, d):
        rhs = np.zeros(n)
        for e in branches:
            if e[0] == "V":
                val = e[4]
                if e[1].startswith("vo"):
                    val = 1.0 if e[1] == f"vo{j}" else 0.0
                rhs[bidx[e[1]]] = val
        x = np.linalg.solve(G, rhs)
        rows.append([x[bidx[f"vs{i}"]] for i in range(d)])   # SPICE: current from + through the source
    return np.array(rows)


def test_wiring_by_nodal_analysis_gives_the_factored_product():
    """The probe netlist solved by the MNA above: F = λI + JᵀHJ to the 1e-9 SPICE-ideal op-amp gain, and
    exactly the realisation with that gain (stage gains, inverter gains; circuit/factored.py)."""
    fp = random_factored()
    spec = tt.HardwareSpec.ideal()
    board = board_for_netlist(fp, spec)
    text = render_factored_netlist(fp, spec, SimConfig(noise="none", t_end="1tau"), board=board, probe=True)
    I = mna_probe(text, fp.N)
    g = board.parts["g_int"]
    F = (I[1:] - I[0]).T / g
    f = -I[0] / (g * board.b_scale)
    assert rel(F, fp.dense()) < 1e-7                           # ideal gain 1e9 in SPICE
    ref = realise_factored(fp, spec.replace(**{"opamp.gain": 1e9}))
    assert rel(F, ref.J2.T @ ref.H @ ref.J1 + fp.damping * np.eye(fp.N)) < 1e-12
    np.testing.assert_allclose(f, fp.g, rtol=1e-12, atol=1e-15)


def test_resistor_count_signs_and_op_amps():
    fp = random_factored()
    text = render_factored_netlist(fp, tt.HardwareSpec.ideal(), SimConfig(t_end="2tau"))
    lines = text.splitlines()
    N, r = fp.N, fp.r
    prog = [ln.split() for ln in lines if ln.startswith(("R1_", "RH_", "R2_"))]
    nnz = 2 * np.count_nonzero(fp.J) + np.count_nonzero(fp.H)
    assert len(prog) == nnz and nnz <= r * (r + 2 * N) and nnz == r * (r + 2 * N) - 2   # J[0, 1] = 0 twice
    assert sum(ln.startswith("E") for ln in lines) == 2 * N + 4 * r       # static op-amps, one VCVS each
    for name, src, _, val in prog:
        a, b, c = name.split("_")
        if a == "R1":
            x, want = fp.J[int(b), int(c)], (f"n{c}" if fp.J[int(b), int(c)] > 0 else f"o{c}")
        elif a == "RH":
            x, want = fp.H[int(b), int(c)], (f"ny{c}" if fp.H[int(b), int(c)] > 0 else f"y{c}")
        else:
            x, want = fp.J[int(c), int(b)], (f"z{c}" if fp.J[int(c), int(b)] > 0 else f"nz{c}")
        assert src == want and float(val) == pytest.approx(spec_r0() / abs(x), rel=1e-15)
    assert sum(ln.strip().lower() == ".control" for ln in lines) == 1
    assert any(ln.startswith(".ic v(o0)=") for ln in lines) and ".end" in lines


def spec_r0() -> float:
    return tt.HardwareSpec.ideal().r0_ohm


def test_refusals():
    fp = random_factored()
    with pytest.raises(InputError, match="programmable resistors.*factored twin"):
        render_factored_netlist(fp, tt.HardwareSpec(), SimConfig(), max_resistors=10)


def test_cli_netlist_factored_and_errors(tmp_path, capsys):
    fp = random_factored()
    npz = tmp_path / "bad name;.control.npz"
    np.savez(npz, J=fp.J, H=fp.H, damping=fp.damping, g=fp.g)
    out = tmp_path / "f.cir"
    assert main(["netlist", str(npz), "--factored", "-o", str(out), "--t-end", "3tau", "--set", "r_tolerance=0.01"]) == 0
    text = out.read_text()
    assert "three arrays" in text and sum(ln.lower().strip() == ".control" for ln in text.splitlines()) == 1
    assert "problem bad_name_.control" in text or "problem bad_name" in text     # sanitised label
    # with --set r_tolerance the values are the tolerance draw, not the nominal ones
    board = board_for_netlist(load(npz), tt.HardwareSpec(r_tolerance=0.01))
    r = [ln.split() for ln in text.splitlines() if ln.startswith("R1_0_0 ")][0]
    assert float(r[3]) == pytest.approx(1 / (board.parts["g_int"] * abs(board.parts["J1"][0, 0])), rel=1e-15)
    dense = tmp_path / "d.cir"
    assert main(["netlist", str(npz), "-o", str(dense)]) == 0
    assert "Appendix C integrator array" in dense.read_text()
    capsys.readouterr()
    mtx = tmp_path / "a.csv"
    np.savetxt(mtx, np.eye(3), delimiter=",")
    assert main(["netlist", str(mtx), "--factored", "-o", str(tmp_path / "x.cir")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--factored needs a factored problem" in err[0]
    assert not (tmp_path / "x.cir").exists()
    assert main(["netlist", str(npz), "--factored", "--set", "opamp.bogus=1", "-o", str(tmp_path / "y.cir")]) == 2
    assert "bogus" in capsys.readouterr().err and not (tmp_path / "y.cir").exists()


def load(path):
    from thermotwin.solver.factored import load_factored

    return load_factored(path)


# ---------------------------------------------------------------------------------------------
# golden netlist and its stored ngspice run (oracle without ngspice)
# ---------------------------------------------------------------------------------------------
def test_stored_factored_run_matches_dense_twin():
    """The committed ngspice table of the three-array netlist against the dense twin of
    F = λI + JᵀHJ with the same seed: the same PWL noise, path by path."""
    assert_matches_golden(STORED.render(), STORED.netlist_path.read_text(), STORED.netlist_path.name)
    t, v, names = read_wrdata(STORED.data_path)
    assert names == [f"v(o{i})" for i in range(4)]
    res = tt.simulate(dense_of(STORED.problem), STORED.spec, STORED.config, backend="twin")
    np.testing.assert_allclose(t, res.times, rtol=0, atol=1e-9 * res.dt_out_s)
    dev = np.abs(v / res.b_scale - res.states).max() / np.ptp(res.states)
    assert dev <= 1e-4, f"stored factored ngspice run and dense twin differ by {dev:.2e} of the range"


# ---------------------------------------------------------------------------------------------
# ngspice: realised matrix and solution, factored against dense
# ---------------------------------------------------------------------------------------------
@pytest.mark.ngspice
def test_probe_factored_equals_dense_and_the_product(tmp_path):
    fp = random_factored()
    spec = tt.HardwareSpec.ideal()
    Ff, ff = probe_factored(fp, spec)
    Fd, fd = probe_dense(dense_of(fp), spec)
    F = fp.dense()
    # measured: factored 3.7e-8 (four 1e9-gain stages in a chain), dense 5e-9 of max|F|
    assert rel(Ff, F) < 1e-6 and rel(Fd, F) < 1e-6 and rel(Ff, Fd) < 1e-6
    np.testing.assert_allclose(ff, fp.g, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fd, fp.g, rtol=1e-12, atol=1e-14)


@pytest.mark.ngspice
@pytest.mark.parametrize("changes", [
    {"opamp.gain": 1e9},
    {"r_tolerance": 0.01, "board_seed": 4, "opamp.gain": 1e4},
    {"resistor_bits": 8, "r_min_ohm": 100.0, "r_max_ohm": 1e5, "opamp.gain": 300.0},
    {"resistor_bits": 6, "r_min_ohm": 200.0, "r_max_ohm": 2e4, "r_tolerance": 0.02, "board_seed": 8},
])
def test_probe_matches_the_factored_twins_realisation(changes):
    """What SPICE measures on the netlist is what the factored twin simulates: J₂ᵀH'J₁ + λ_real I with
    the same tolerance draw and quantisation and the exact static stage/inverter gains (measured 2e-16 –
    5e-16 of max|F|)."""
    fp = random_factored(N=6, r=3, seed=5)
    spec = tt.HardwareSpec.ideal().replace(**changes)
    Fp, fpv = probe_factored(fp, spec)
    # SPICE's "ideal" op-amp has gain IDEAL_SPICE_GAIN; the realisation is exact for any static gain
    b = realise_factored(fp, spec if spec.opamp.gain else spec.replace(**{"opamp.gain": IDEAL_SPICE_GAIN}))
    Fb = b.J2.T @ b.H @ b.J1 + b.report["damping_realised"] * np.eye(fp.N)
    err = rel(Fp, Fb)
    assert err < 1e-10
    np.testing.assert_allclose(fpv, b.f / b.row, rtol=1e-10, atol=1e-12)
    assert rel(Fp, fp.dense()) > 1e4 * max(err, 1e-16)     # the model explains what the nominal F does not


@pytest.mark.ngspice
def test_same_noise_factored_and_dense_netlists_agree_path_by_path():
    """Ideal board, PWL noise from one seed: the three-array and the dense netlist give the same path
    (measured 2.3e-8 of the range) and the same time average; both match the dense twin (4.7e-7)."""
    fp = random_factored(N=6, r=3, seed=3)
    spec = tt.HardwareSpec.ideal().replace(kappa0_v2=1e-3)
    cfg = SimConfig(t_end="12tau", noise="pwl", seed=2, dt_out="0.1tau")
    a = run_ngspice_factored(fp, spec, cfg)
    b = run_ngspice(dense_of(fp), spec, cfg)
    c = tt.simulate(dense_of(fp), spec, cfg, backend="twin")
    span = np.ptp(c.states)
    np.testing.assert_allclose(a.times, b.times, rtol=0, atol=1e-12)
    assert np.abs(a.states - b.states).max() / span < 1e-6
    assert np.abs(a.states - c.states).max() / span < 1e-4
    np.testing.assert_allclose(a.x_mean, b.x_mean, rtol=0, atol=1e-6 * np.abs(fp.x_exact).max())
    np.testing.assert_allclose(a.x_exact, fp.x_exact, rtol=1e-12)
    assert a.stats["circuit"] == "factored" and a.backend == "ngspice"


@pytest.mark.ngspice
def test_nonideal_factored_netlist_against_the_realised_board():
    """Finite gain, resistor and capacitor tolerance: the ngspice path equals the exact ZOH solution of
    the factored twin's realised drift diag(d) + diag(c) J₂ᵀH'J₁ (leak, τ(1+1/A0), C spread) fed the
    same noise (measured 2.0e-6 of the range; the ideal F's path is 6.1e-3 away)."""
    fp = random_factored(N=5, r=2, seed=9, lam=0.5)
    spec = tt.HardwareSpec.ideal().replace(**{"opamp.gain": 2e3, "r_tolerance": 0.02, "c_tolerance": 0.03,
                                              "board_seed": 3, "kappa0_v2": 1e-3})
    cfg = SimConfig(t_end="10tau", noise="pwl", seed=4, dt_out="0.1tau", v0="rhs")
    a = run_ngspice_factored(fp, spec, cfg)
    board = realise_factored(fp, spec)
    tau = board.tau_s
    grid = resolve_grid(fp, cfg, tau, spec)
    x0 = initial_state(fp, cfg) * board.b_scale
    q = 2 * spec.kappa0_v2 / tau
    x = simulate_linear(board.dense_drift() / tau, board.f * board.b_scale / tau, np.diag(board.noise_gain), q,
                        x0, grid, cfg)[0] / board.b_scale
    span = np.ptp(x)
    dev = np.abs(a.states - x).max() / span
    assert dev < 1e-4, dev
    ideal = simulate_linear(fp.dense() / tau, fp.g / tau, np.eye(fp.N), q, x0, grid, cfg)[0]
    assert np.abs(ideal - x).max() / span > 1e-3            # the non-idealities are visible


@pytest.mark.ngspice
def test_cli_simulate_npz_on_ngspice_has_the_dense_keys(tmp_path, capsys):
    fp = ref_factored()
    npz = tmp_path / "p.npz"
    np.savez(npz, J=fp.J, H=fp.H, damping=fp.damping, g=fp.g)
    assert main(["simulate", str(npz), "--backend", "ngspice", "--t-end", "5tau", "--kappa0", "1e-3",
                 "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    np.savetxt(tmp_path / "F.csv", fp.dense(), delimiter=",")
    np.savetxt(tmp_path / "g.csv", fp.g, delimiter=",")
    assert main(["simulate", str(tmp_path / "F.csv"), "--rhs", str(tmp_path / "g.csv"), "--backend", "ngspice",
                 "--t-end", "5tau", "--kappa0", "1e-3", "--json"]) == 0
    dense = json.loads(capsys.readouterr().out)
    assert set(dense) <= set(got)
    np.testing.assert_allclose(got["x_exact"], dense["x_exact"], rtol=1e-12)
    np.testing.assert_allclose(got["x_final"], dense["x_final"], rtol=0, atol=1e-6)


@pytest.mark.pyspice
@pytest.mark.ngspice
def test_pyspice_runs_the_same_factored_netlist():
    from thermotwin.solver.pyspice_backend import run_pyspice_factored

    fp = ref_factored()
    spec = tt.HardwareSpec.ideal().replace(kappa0_v2=1e-3)
    cfg = SimConfig(t_end="4tau", noise="pwl", seed=3)
    a = run_ngspice_factored(fp, spec, cfg)
    b = run_pyspice_factored(fp, spec, cfg)
    assert b.backend == "pyspice" and b.stats["circuit"] == "factored"
    assert np.abs(a.states - b.states).max() <= 1e-9 * np.ptp(a.states)


# ---------------------------------------------------------------------------------------------
# gain–bandwidth: the factored netlist against an independent state-space model of the circuit
# ---------------------------------------------------------------------------------------------
def pole_board_model(fp, spec, v0, y_gain=1.0):
    """The three-array board with one-pole op-amps (dp/dt = ω_t(V_os − v₋) − ω_p p, out = p) written
    from KCL, independently of the netlist writer: states [p_int, w (= v_s − v_o), p_n, p_y, p_ny,
    p_z, p_nz]; returns (A, c, x0) of x' = A x + c (volts, seconds), noise off."""
    from thermotwin.circuit.factored_netlist import static_nodes
    from thermotwin.circuit.opamp import OpAmpParams

    b = board_for_netlist(fp, spec, y_gain=y_gain)
    P = b.parts
    gf1, gf2 = P["g_int"] / b.report["y_gain"], P["g_h"] * b.report["y_gain"]   # stage feedback conductances
    op = OpAmpParams.from_spec(spec)
    N, r = fp.N, fp.r
    J1, H, J2 = P["J1"], P["H"], P["J2"]
    gi, gh, g0 = P["g_int"], P["g_h"], 1.0 / spec.r0_ohm
    C = spec.c_farad * P["cap"]
    sl = np.cumsum([0, N, N, N, r, r, r, r])

    def rhs(x):
        o, w, n, y, ny, z, nz = (x[sl[k]:sl[k + 1]] for k in range(7))
        vs = w + o
        amp = lambda vminus, p: op.wt * (op.vos - vminus) - op.wp * p  # noqa: E731
        pos = lambda X: np.maximum(X, 0.0)                              # noqa: E731
        neg = lambda X: np.maximum(-X, 0.0)                             # noqa: E731
        vm_y = (gi * (pos(J1) @ n + neg(J1) @ o) + gf1 * y) / (gi * np.abs(J1).sum(1) + gf1)
        vm_z = (gh * (pos(H) @ ny + neg(H) @ y) + gf2 * z) / (gh * np.abs(H).sum(1) + gf2)
        i_s = (gi * (pos(J2).T @ z + neg(J2).T @ nz - np.abs(J2).sum(0) * vs)
               + gi * P["lam"] * (o - vs) + gi * P["g_in"] * (P["v_in"] - vs) + gi * P["g_noise"] * (0.0 - vs))
        return np.concatenate([amp(vs, o), i_s / C, amp((o + n) / 2, n), amp(vm_y, y), amp((y + ny) / 2, ny),
                               amp(vm_z, z), amp((z + nz) / 2, nz)])

    n_x = sl[-1]
    c = rhs(np.zeros(n_x))
    A = np.column_stack([rhs(e) - c for e in np.eye(n_x)])
    st = static_nodes(P, v0, op, spec.r0_ohm)
    a0 = op.a0 if np.isfinite(op.a0) else IDEAL_SPICE_GAIN
    x0 = np.concatenate([v0, op.vos - v0 * (1 + 1 / a0), st["pn"], st["py"], st["pny"], st["pz"], st["pnz"]])
    return A, c, x0


@pytest.mark.ngspice
def test_gbw_factored_netlist_against_the_state_space_model():
    """GBW = 3 MHz (ω_t·τ ≈ 19) and A0 = 1e4: stage lags (1 + Σ|row|)/ω_t of 0.1–0.2 τ visibly change
    the path from the static board's; ngspice's noise-free run equals the exact solution of the
    circuit's linear state-space model (expm) — and the pole-node ICs start it without a glitch."""
    import scipy.linalg

    fp = random_factored(N=5, r=2, seed=9, lam=0.5)
    spec = tt.HardwareSpec.ideal().replace(**{"opamp.gbw_hz": 3e6, "opamp.gain": 1e4, "kappa0_v2": 0.0})
    cfg = SimConfig(t_end="6tau", noise="none", dt_out="0.05tau", noise_step="0.01tau", v0="rhs")
    a = run_ngspice_factored(fp, spec, cfg)
    v0 = initial_state(fp, cfg)
    A, c, x0 = pole_board_model(fp, spec, v0)
    x_star = np.linalg.solve(A, -c)
    model = np.array([(x_star + scipy.linalg.expm(A * t) @ (x0 - x_star))[:fp.N] for t in a.times])
    span = np.ptp(model)
    assert np.abs(a.states - model).max() / span < 1e-3
    assert np.abs(model[1] - x0[:fp.N]).max() / span < 0.05                  # no start-up jump
    static = run_ngspice_factored(fp, spec.replace(**{"opamp.gbw_hz": None}), cfg)
    assert np.abs(static.states - model).max() / span > 1e-2                  # the poles matter here
    tcs = stage_time_constants(fp.J, fp.H, spec)
    assert 0.05 * a.tau_s < tcs["tc_J_stage_max_s"] < a.tau_s


def test_lag_loop_predictor_agrees_with_the_circuit_on_stability():
    """stage_time_constants' worst-path lag loop says unstable exactly where the full state-space
    model of the GBW board has an eigenvalue in the right half-plane (this board: GBW ≤ 3 MHz)."""
    fp = random_factored(N=5, r=2, seed=9, lam=0.5)
    a_max = fp.lambda_max - fp.damping
    for gbw, unstable in ((1e6, True), (3e6, True), (1e7, False), (1e8, False)):
        spec = tt.HardwareSpec.ideal().replace(**{"opamp.gbw_hz": gbw, "opamp.gain": 1e4})
        A, _, _ = pole_board_model(fp, spec, np.zeros(fp.N))
        st = stage_time_constants(fp.J, fp.H, spec, a_max=a_max, lam=fp.damping)
        assert bool(np.linalg.eigvals(A).real.max() > 0) is unstable
        assert st["loop_stable"] is (not unstable)
        # the lag of a stage is (1 + Σ|row|)/ω_t + (A0 term): the J stages' noise gain sets it
        ng = 1 + np.abs(fp.J).sum(axis=1).max()
        assert st["tc_J_stage_max_s"] == pytest.approx(1 / (2 * np.pi * gbw / ng + 2 * np.pi * gbw / 1e4), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# y_gain: moving loop gain from the J_f stages to the H stages
# ---------------------------------------------------------------------------------------------
def wide_factored(N: int = 12, r: int = 2, seed: int = 4, lam: float = 0.5) -> FactoredProblem:
    """J rows summing many inputs (noise gain ~7) and a small H: the paper's imbalance in miniature."""
    rng = np.random.default_rng(seed)
    J = rng.uniform(0.3, 0.8, (r, N)) * rng.choice([-1.0, 1.0], (r, N))
    H = np.array([[0.30, -0.05], [-0.05, 0.20]])
    return FactoredProblem(J, H, lam, rng.standard_normal(N), name="wide")


def test_y_gain_resolution_and_noise_gains():
    from thermotwin.circuit.factored import resolve_y_gain

    fp = wide_factored()
    sj, sh = np.abs(fp.J).sum(1).max(), np.abs(fp.H).sum(1).max()
    g = resolve_y_gain("balance", fp.J, fp.H)
    assert g == pytest.approx(np.sqrt(sh / sj), rel=1e-15) and 1 + g * sj == pytest.approx(1 + sh / g, rel=1e-12)
    for bad in (0.0, -1.0, float("nan"), "half"):
        with pytest.raises(InputError, match="y_gain"):
            resolve_y_gain(bad, fp.J, fp.H)
    spec = tt.HardwareSpec().replace(**{"opamp.gbw_hz": 1e7})
    one = stage_time_constants(fp.J, fp.H, spec)
    bal = stage_time_constants(fp.J, fp.H, spec, y_gain=g)
    assert one["noise_gain_J_max"] == pytest.approx(1 + sj) and bal["noise_gain_J_max"] == pytest.approx(1 + g * sj)
    assert bal["tc_J_stage_max_s"] < 0.5 * one["tc_J_stage_max_s"] and bal["loop_lag_max_s"] < one["loop_lag_max_s"]
    # the ideal board is the same F whatever γ: only the stage gains move
    b = realise_factored(fp, tt.HardwareSpec(), y_gain=g)
    # exact: a numeric y_gain is passed through resolve_y_gain untouched
    assert rel(b.dense_drift(), fp.dense()) < 1e-15 and b.report["y_gain"] == g


@pytest.mark.ngspice
@pytest.mark.parametrize("y_gain", [0.25, "balance"])
def test_y_gain_netlist_realises_the_same_drift(y_gain):
    """Probe with γ ≠ 1: F unchanged (ideal), and with A0 = 500 exactly the realisation's stage errors
    1/(1 + (1 + γΣ|J_row|)/A0), 1/(1 + (1 + Σ|H_row|/γ)/A0)."""
    fp = wide_factored()
    Fi, _ = probe_factored(fp, tt.HardwareSpec.ideal(), y_gain=y_gain)
    assert rel(Fi, fp.dense()) < 1e-6
    spec = tt.HardwareSpec.ideal().replace(**{"opamp.gain": 500.0})
    Fp, _ = probe_factored(fp, spec, y_gain=y_gain)
    b = realise_factored(fp, spec, y_gain=y_gain)
    Fb = b.J2.T @ b.H @ b.J1 + b.report["damping_realised"] * np.eye(fp.N)
    assert rel(Fp, Fb) < 1e-10
    b1 = realise_factored(fp, spec)
    assert rel(Fp, b1.J2.T @ b1.H @ b1.J1 + b1.report["damping_realised"] * np.eye(fp.N)) > 1e-4


@pytest.mark.ngspice
def test_balanced_stage_gains_tame_the_gbw_lags():
    """GBW 2 MHz on the wide board: with γ = 1 the J stages (noise gain ~7) lag and the path departs from
    the static board's by 6.8 % of the range; with balanced γ (both noise gains 2.5) by 5.1 % — the three
    inverters and the integrators' own poles keep the rest. ngspice is the state-space model's path
    either way."""
    import scipy.linalg

    fp = wide_factored()
    spec = tt.HardwareSpec.ideal().replace(**{"opamp.gbw_hz": 2e6, "opamp.gain": 1e4, "kappa0_v2": 0.0})
    cfg = SimConfig(t_end="6tau", noise="none", dt_out="0.05tau", noise_step="0.01tau", v0="rhs")
    static = run_ngspice_factored(fp, spec.replace(**{"opamp.gbw_hz": None}), cfg)
    v0 = initial_state(fp, cfg)
    dev = {}
    for yg in (1.0, "balance"):
        a = run_ngspice_factored(fp, spec, cfg, y_gain=yg)
        A, c, x0 = pole_board_model(fp, spec, v0, y_gain=yg)
        x_star = np.linalg.solve(A, -c)
        model = np.array([(x_star + scipy.linalg.expm(A * t) @ (x0 - x_star))[:fp.N] for t in a.times])
        span = np.ptp(model)
        assert np.abs(a.states - model).max() / span < 1e-3
        dev[yg] = np.abs(static.states - a.states).max() / span
    assert dev["balance"] < 0.85 * dev[1.0], dev


def test_cli_y_gain(tmp_path, capsys):
    fp = wide_factored()
    npz = tmp_path / "w.npz"
    np.savez(npz, J=fp.J, H=fp.H, damping=fp.damping, g=fp.g)
    assert main(["netlist", str(npz), "--factored", "--y-gain", "0.25", "-o", str(tmp_path / "w.cir")]) == 0
    rf = {ln.split()[0]: float(ln.split()[3]) for ln in (tmp_path / "w.cir").read_text().splitlines()
          if ln.startswith(("Rf1_0 ", "Rf2_0 "))}
    r0 = tt.HardwareSpec().r0_ohm
    assert rf["Rf1_0"] == pytest.approx(0.25 * r0) and rf["Rf2_0"] == pytest.approx(r0 / 0.25)
    capsys.readouterr()
    assert main(["realise", str(npz), "--json", "--y-gain", "balance", "--set", "opamp.gbw_hz=1e7"]) == 0
    out = json.loads(capsys.readouterr().out)
    sj, sh = np.abs(fp.J).sum(1).max(), np.abs(fp.H).sum(1).max()
    assert out["y_gain"] == pytest.approx(np.sqrt(sh / sj)) and out["stages"]["noise_gain_J_max"] < 1 + sj
    assert main(["simulate", str(npz), "--y-gain", "0.5", "--t-end", "3tau", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stats"]["y_gain"] == 0.5   # exact: "0.5" passed through
    mtx = tmp_path / "a.csv"
    np.savetxt(mtx, np.eye(2) * 2, delimiter=",")
    for argv in (["simulate", str(mtx), "--y-gain", "2"], ["realise", str(mtx), "--y-gain", "2"],
                 ["netlist", str(npz), "--y-gain", "2", "-o", str(tmp_path / "d.cir")],
                 ["netlist", str(npz), "--factored", "--y-gain", "-1", "-o", str(tmp_path / "n.cir")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "y_gain" in err[0].replace("-", "_")
    assert not (tmp_path / "d.cir").exists() and not (tmp_path / "n.cir").exists()


@pytest.mark.parametrize("y_gain", [1.0, 0.3])
def test_block_assembled_pole_model_equals_the_kcl_columns(y_gain):
    """circuit.factored_model.pole_model (blocks) against pole_board_model above (KCL evaluated column by
    column): the same A, c and initial state — two writings of the same circuit."""
    from thermotwin.circuit.factored_model import initial_state as pm_x0
    from thermotwin.circuit.factored_model import pole_model

    fp = random_factored(N=6, r=3, seed=2)
    spec = tt.HardwareSpec.ideal().replace(**{"opamp.gbw_hz": 5e6, "opamp.gain": 3e3, "opamp.offset_v": 1e-3,
                                              "r_tolerance": 0.01, "c_tolerance": 0.02, "board_seed": 1})
    v0 = np.linspace(-0.3, 0.4, fp.N)
    A, c, x0 = pole_board_model(fp, spec, v0, y_gain=y_gain)
    board = board_for_netlist(fp, spec, y_gain=y_gain)
    m = pole_model(board, spec)
    scale = np.abs(A).max()
    assert np.abs(m.A - A).max() <= 1e-12 * scale
    np.testing.assert_allclose(m.c, c, rtol=1e-12, atol=1e-12 * np.abs(c).max())
    np.testing.assert_allclose(pm_x0(m, board, spec, v0), x0, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("gbw", [3e6, 3e7])
def test_integrator_stretch_bounds_the_slowest_mode(gbw):
    """With GBW the integrators' τ stretches by 1 + G_s,i/(C ω_t) per node; the full board's slowest
    non-oscillating modes (the λ modes, N > r) lie between λ/(τ·max stretch) and λ/(τ·min stretch) (to
    the O(rate/ω_t) term the closed form drops). Measured at 3 MHz: −0.0421/τ in [0.0420, 0.0433]."""
    from thermotwin.circuit.factored_model import pole_model

    fp = wide_factored(N=30, r=2, lam=0.05)
    spec = tt.HardwareSpec.ideal().replace(**{"opamp.gbw_hz": gbw})
    m = pole_model(board_for_netlist(fp, spec), spec)
    ev = np.linalg.eigvals(m.A)
    real = ev[np.abs(ev.imag) <= 1e-9 * np.abs(ev).max()]      # the λ modes; at 3 MHz the lag loop adds a
    rate = -float(real.real.max())                            # slower ringing pair (−0.008 ± 1.74i per τ)
    st = stage_time_constants(fp.J, fp.H, spec, lam=fp.damping)
    lo, hi = st["slowest_rate_bounds_per_s"]
    assert st["integrator_tau_stretch_max"] > (1.1 if gbw == 3e6 else 1.01)
    assert lo * (1 - 1e-3) <= rate <= hi * (1 + 1e-3), (lo, rate, hi)


@pytest.mark.parametrize("gbw", [1e7, 1e8])
def test_factored_twin_integrator_gbw_model_against_the_whole_board(gbw):
    """run_factored(gbw_model='integrator') — the integrators' C_i + G_s,i/ω_t, stage lags left out —
    against the exact state-space model of the whole board with every op-amp pole, noise-free from
    V0 = g: the paths agree to 1.8e-3 of the range at 10 MHz (9.9e-5 at 100 MHz), against 1.1e-2 (1.1e-3)
    for the static board (no GBW)."""
    import scipy.linalg

    from thermotwin.circuit.factored_model import initial_state as pm_x0
    from thermotwin.circuit.factored_model import pole_model
    from thermotwin.solver.factored import run_factored

    fp = wide_factored(N=40, r=2, lam=0.05)
    spec = tt.HardwareSpec().replace(**{"opamp.gain": 1e5, "opamp.gbw_hz": gbw, "kappa0_v2": 0.0})
    cfg = SimConfig(t_end="60tau", dt_out="1tau", noise="none", v0="rhs")
    twin = run_factored(fp, spec, cfg, gbw_model="integrator")
    board = board_for_netlist(fp, spec)
    m = pole_model(board, spec)
    xs = m.fixed_point()
    e = pm_x0(m, board, spec, fp.g * board.b_scale) - xs
    Phi = scipy.linalg.expm(m.A * twin.dt_out_s)
    full = []
    for _ in twin.times:
        full.append(m.outputs(xs + e) / board.b_scale)
        e = Phi @ e
    full = np.array(full)
    span = np.ptp(full)
    static = run_factored(fp, spec.replace(**{"opamp.gbw_hz": None}), cfg)
    dev = np.abs(twin.states - full).max() / span
    assert dev < (5e-3 if gbw == 1e7 else 5e-4), dev
    assert np.abs(static.states - full).max() / span > 5 * dev
    with pytest.raises(InputError, match="gbw_model='integrator'"):
        run_factored(fp, spec, cfg)
