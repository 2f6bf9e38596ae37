"""Netlist text: golden files, structure, the noise it carries, and injection safety (no ngspice).

Golden files: ``netlists/ref_3x3_pwl.cir`` and ``netlists/ref_3x3_trrandom.cir`` are what
:func:`thermotwin.render_netlist` makes from the cases in ``tests/golden_cases.py``. After a
deliberate change of the writer, regenerate them (and the stored ngspice run) and review the diff:

    THERMOTWIN_REGEN_GOLDEN=1 python -m pytest -q tests/test_netlist.py tests/test_ngspice_oracles.py
    # or: python tests/golden_cases.py
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import thermotwin as tt
from thermotwin.circuit.netlist import render_netlist_files
from thermotwin.circuit import spice_codes
from thermotwin.circuit.design import design
from thermotwin.circuit.spec import IDEAL_SPICE_GAIN
from thermotwin.solver.config import resolve_grid
from thermotwin.solver.noise import zoh_normals

from golden_cases import CASES, REGEN
from golden_compare import assert_matches_golden

# ---------------------------------------------------------------------------------------------
# helpers: a tiny netlist parser (independent of the writer)
# ---------------------------------------------------------------------------------------------
def element_lines(text: str) -> list[list[str]]:
    """Element cards (not comments, dot-commands, continuations or .control content), tokenised."""
    out, in_control = [], False
    for ln in text.splitlines():
        s = ln.strip()
        low = s.lower()
        if low.startswith(".control"):
            in_control = True
        if low.startswith(".endc"):
            in_control = False
            continue
        if in_control or not s or s[0] in "*.+":
            continue
        out.append(s.split())
    return out


def parse_components(text: str, d: int) -> dict:
    """Signed entry conductances, input resistors, DAC voltages and the .ic values from the text."""
    G = np.zeros((d, d))
    r_in = np.full(d, np.nan)
    v_dac = np.full(d, np.nan)
    for tok in element_lines(text):
        name = tok[0]
        m = re.fullmatch(r"R(\d+)_(\d+)", name)
        if m:
            i, j = int(m.group(1)), int(m.group(2))
            src, dst, val = tok[1], tok[2], float(tok[3])
            assert dst == f"s{i}"
            assert src in (f"o{j}", f"n{j}")
            G[i, j] = (1.0 if src == f"o{j}" else -1.0) / val
        elif re.fullmatch(r"Rin\d+", name):
            r_in[int(name[3:])] = float(tok[3])
        elif re.fullmatch(r"Vdac\d+", name):
            assert tok[3] == "DC"
            v_dac[int(name[4:])] = float(tok[4])
    ic = {}
    for ln in text.splitlines():
        if ln.lower().startswith(".ic "):
            for item in ln.split()[1:]:
                m = re.fullmatch(r"v\(o(\d+)\)=(\S+)", item)
                assert m, item
                ic[int(m.group(1))] = float(m.group(2))
    return {"G": G, "r_in": r_in, "v_dac": v_dac, "ic": ic}


def mixed_problem(d: int = 12, seed: int = 3) -> tt.Problem:
    """Dense non-symmetric stable d×d, mixed signs, some exact zeros (d ≥ 11: R1_10 vs R11_0)."""
    rng = np.random.default_rng(seed)
    A = 0.3 * rng.standard_normal((d, d))
    A[rng.random((d, d)) < 0.2] = 0.0
    A += 2.5 * np.eye(d)
    b = rng.standard_normal(d)
    return tt.Problem(A, b, name="mixed")


# ---------------------------------------------------------------------------------------------
# golden files
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_netlist_text(name):
    case = CASES[name]
    net = case.render_files()
    if REGEN:
        net.write(case.netlist_path)
    assert case.netlist_path.exists(), f"{case.netlist_path} missing; run with THERMOTWIN_REGEN_GOLDEN=1"
    assert_matches_golden(net.text, case.netlist_path.read_text(), case.netlist_path.name)
    # the noise files travel with the netlist (pwl): same names, same numbers
    assert [p.name for p in case.noise_paths()] == list(net.files)
    assert bool(net.files) == (case.config.noise == "pwl")
    for p, body in zip(case.noise_paths(), net.files.values()):
        assert p.exists(), f"{p} missing; run with THERMOTWIN_REGEN_GOLDEN=1"
        assert_matches_golden(body, p.read_text(), p.name)


def test_golden_cases_are_what_the_brief_says():
    case = CASES["ref_3x3_pwl"]
    A = case.problem.A
    assert A.shape == (3, 3) and not np.allclose(A, A.T) and int((A < 0).sum()) == 1
    assert case.config.seed == 7 and case.config.t_end == "3tau" and case.config.noise == "pwl"
    assert CASES["ref_3x3_trrandom"].config.noise == "trrandom"


# ---------------------------------------------------------------------------------------------
# structure
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("v0", ["zero", "rhs"])
def test_structure_and_realised_matrix_from_text(v0):
    p = mixed_problem()
    d = p.d
    spec = tt.HardwareSpec.ideal()
    cfg = tt.SimConfig(t_end="5tau", seed=2, noise="pwl", v0=v0)
    text = tt.render_netlist(p, spec, cfg)
    els = element_lines(text)
    names = [t[0] for t in els]
    # SPICE instance names are case-insensitive and must be unique
    assert len({n.lower() for n in names}) == len(names)
    # one integrator op-amp and one inverter op-amp per node: for the ideal spec a VCVS
    # "E<name> out 0 in+ in- A0" with + grounded (circuit/opamp.py), − at s_i (m_i), out o_i (n_i)
    gain = f"{IDEAL_SPICE_GAIN!r}"
    for i in range(d):
        assert names.count(f"Eint{i}") == 1 and names.count(f"Einv{i}") == 1
        assert next(t for t in els if t[0] == f"Eint{i}")[1:] == [f"o{i}", "0", "0", f"s{i}", gain]
        assert next(t for t in els if t[0] == f"Einv{i}")[1:] == [f"n{i}", "0", "0", f"m{i}", gain]
        assert next(t for t in els if t[0] == f"Cint{i}")[1:3] == [f"s{i}", f"o{i}"]
    assert sum(1 for n in names if re.fullmatch(r"[EBG]int\d+", n)) == d
    assert sum(1 for n in names if re.fullmatch(r"[EBG]inv\d+", n)) == d
    comp = parse_components(text, d)
    # negative entries fed from n_j, positive from o_j, zeros absent (parse_components checks the nodes)
    np.testing.assert_array_equal(np.sign(comp["G"]), np.sign(p.A))   # exact: sign patterns
    assert (p.A == 0).any() and (p.A < 0).any()
    # docs/circuit.md#cell: A_ij = ±R_in,i / R_ij (R_in = 1/g), b_i = −V_dac,i / b_scale
    values = design(p, spec)
    A_text = comp["G"] * comp["r_in"][:, None]
    np.testing.assert_allclose(A_text, p.A, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(-comp["v_dac"] / values.b_scale, p.b, rtol=1e-15, atol=1e-15)
    # .ic for every node, equal to V0 in volts, and uic on .tran
    assert sorted(comp["ic"]) == list(range(d))
    v0_expect = np.zeros(d) if v0 == "zero" else p.b * values.b_scale
    # exact: the renderer prints this same elementwise product by repr (fmt), which reads back bit for bit
    np.testing.assert_array_equal([comp["ic"][i] for i in range(d)], v0_expect)
    tran = [ln for ln in text.splitlines() if ln.lower().startswith(".tran")]
    assert len(tran) == 1 and tran[0].split()[-1] == "uic"
    assert text.count(".control") == 1 and text.count(".endc") == 1 and text.rstrip().endswith(".end")


def test_trrandom_type_codes_pinned_to_the_manual():
    # ngspice manual (39, "Transient noise source"): 1 uniform, 2 Gaussian, 3 exponential, 4 Poisson
    assert spice_codes.TRRANDOM_TYPE == {"uniform": 1, "gaussian": 2, "exponential": 3, "poisson": 4}
    p = CASES["ref_3x3_trrandom"].problem
    text = tt.render_netlist(p, tt.HardwareSpec.ideal(), tt.SimConfig(t_end="3tau", seed=7, noise="trrandom"))
    srcs = re.findall(r"TRRANDOM\(([^)]*)\)", text)
    assert len(srcs) == p.d
    for s in srcs:
        assert s.split()[0] == "2"
    assert ".options" in text and "seed=7" in text


def test_trrandom_parameters_are_sigma_then_zero_mean():
    """TRRANDOM(2 TS TD σ μ): PARAM1 must be the ZOH noise σ = R0·C·sqrt(q/h), PARAM2 the mean 0.

    (ngspice's order, checked against ngspice itself in test_ngspice_oracles; the renderer had it
    swapped until 2be1192, which made the source a DC offset of σ with no noise.)
    """
    p = CASES["ref_3x3_trrandom"].problem
    spec = tt.HardwareSpec.ideal()
    cfg = tt.SimConfig(t_end="3tau", seed=7, noise="trrandom")
    text = tt.render_netlist(p, spec, cfg)
    values = design(p, spec)
    grid = resolve_grid(p, cfg, values.nominal_tau_s)
    q = 2 * spec.kappa0_v2 / values.nominal_tau_s
    sigma = spec.r0_ohm * spec.c_farad * np.sqrt(q / grid.noise_step_s)
    for s in re.findall(r"TRRANDOM\(([^)]*)\)", text):
        typ, ts, td, p1, p2 = s.split()
        assert float(ts) == pytest.approx(grid.noise_step_s, rel=1e-15)
        assert float(td) == 0.0   # exact: a literal zero
        assert float(p1) == pytest.approx(sigma, rel=1e-15)
        assert float(p2) == 0.0   # exact: a literal zero


def test_pwl_noise_carries_the_twin_stream():
    """PWL noise of node i = −R0·C·sqrt(q/h)·z[:, i], z = zoh_normals(seed)[0] (docs/noise.md#ngspice), held
    for h: the netlist's filesource model scales the standard normals of its noise file."""
    p = CASES["ref_3x3_pwl"].problem
    spec = tt.HardwareSpec.ideal()
    cfg = tt.SimConfig(t_end="3tau", seed=7, noise="pwl")
    net = render_netlist_files(p, spec, cfg)
    values = design(p, spec)
    grid = resolve_grid(p, cfg, values.nominal_tau_s)
    h = grid.noise_step_s
    z = zoh_normals(7, grid.n_noise_steps, p.d)[0]
    scale = -spec.r0_ohm * spec.c_farad * np.sqrt(2 * spec.kappa0_v2 / values.nominal_tau_s / h)
    assert list(net.files) == ["thermotwin_noise0.txt"]
    model = re.search(r"^\.model noise_src0 filesource \((.*)\)$", net.text, flags=re.M).group(1)
    assert 'file="thermotwin_noise0.txt"' in model and "amplstep=true" in model
    assert re.search(r"^a_noise0 %vd \[nn0 0 nn1 0 nn2 0\] noise_src0$", net.text, flags=re.M)
    amplscale = [float(x) for x in re.search(r"amplscale=\[([^\]]*)\]", model).group(1).split()]
    assert amplscale == pytest.approx([scale] * p.d, rel=1e-15)
    assert float(re.search(r"timescale=(\S+)", model).group(1)) == pytest.approx(h, rel=1e-15)
    # the breakpoint clock: zero-amplitude TRRANDOM with period h
    clock = re.search(r"^Vnclk nclk 0 DC 0 TRRANDOM\(2 (\S+) 0 0 0\)$", net.text, flags=re.M)
    assert float(clock.group(1)) == pytest.approx(h, rel=1e-15)
    rows = np.array([ln.split() for ln in net.files["thermotwin_noise0.txt"].splitlines()
                     if not ln.startswith("#")], dtype=float)
    assert rows.shape == (grid.n_noise_steps + 1, p.d + 1)
    np.testing.assert_array_equal(rows[:, 0], np.arange(grid.n_noise_steps + 1))   # exact: integer indices
    # exact: repr (fmt) reads back bit for bit; the last row repeats the last step (closes its interval)
    np.testing.assert_array_equal(rows[:-1, 1:], z)
    np.testing.assert_array_equal(rows[-1, 1:], z[-1])                              # exact: as above


def test_pwl_noise_files_group_sixteen_nodes():
    """filesource reads 512-byte lines: 16 nodes per file, every line shorter than that."""
    d = 35
    p = tt.Problem(np.eye(d) * 2.0, np.ones(d), name="eye35")
    net = render_netlist_files(p, tt.HardwareSpec.ideal(), tt.SimConfig(t_end="1tau", seed=3, noise="pwl"),
                               noise_file="x")
    assert list(net.files) == ["x0.txt", "x1.txt", "x2.txt"]
    widths = [len(ln.split()) for name in net.files for ln in net.files[name].splitlines()[2:3]]
    assert widths == [17, 17, 4]
    assert max(len(ln) for body in net.files.values() for ln in body.splitlines()[2:]) < 512
    assert len(re.findall(r"^a_noise\d+ %vd", net.text, flags=re.M)) == 3

def test_render_is_deterministic_and_independent_of_cache_state():
    p = mixed_problem(6)
    spec = tt.HardwareSpec.ideal()
    cfg_a = tt.SimConfig(t_end="4tau", seed=1, noise="pwl")
    cfg_b = tt.SimConfig(t_end="4tau", seed=2, noise="pwl")
    first = tt.render_netlist(p, spec, cfg_a)
    # exact: determinism, the same rendering run again in one process
    assert tt.render_netlist(p, spec, cfg_a) == first
    tt.render_netlist(p, spec, cfg_b)                       # evicts the module's ZOH cache
    assert tt.render_netlist(p, spec, cfg_a) == first


def test_components_do_not_depend_on_the_time_grid():
    """Board values come from the spec (and its board_seed), never from the SimConfig."""
    p = mixed_problem(5)
    spec = tt.HardwareSpec.ideal(r_tolerance=0.01, c_tolerance=0.01, board_seed=9)
    texts = [tt.render_netlist(p, spec, tt.SimConfig(t_end="4tau", dt_out=dt, noise="none", seed=s))
             for dt, s in (("0.1tau", 0), ("0.25tau", 5))]
    cards = [[" ".join(t) for t in element_lines(x)] for x in texts]
    assert cards[0] == cards[1]   # exact: one board computation (spec, board_seed) done twice in one process
    assert any(" IC=" in c for c in cards[0])


# ---------------------------------------------------------------------------------------------
# injection
# ---------------------------------------------------------------------------------------------
EVIL_NAME = "x\n.control\nshell rm -rf /\n.endc"
EVIL_FILE = "out put\n.control\nshell rm -rf /\n.endc\n.end"


def _control_block(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip().lower().startswith(".control"))
    end = next(i for i, ln in enumerate(lines) if ln.strip().lower().startswith(".endc"))
    return lines[start + 1:end]


@pytest.mark.parametrize("noise", ["pwl", "none", "trrandom"])
def test_no_control_injection_through_names(noise):
    A = CASES["ref_3x3_pwl"].problem.A
    evil = tt.Problem(A, np.ones(3), name=EVIL_NAME)
    plain = tt.Problem(A, np.ones(3), name="plain")
    cfg = tt.SimConfig(t_end="3tau", noise=noise, seed=1)
    text = tt.render_netlist(evil, tt.HardwareSpec.ideal(), cfg, output_file=EVIL_FILE)
    ref = tt.render_netlist(plain, tt.HardwareSpec.ideal(), cfg)
    lines = text.splitlines()
    # the user text adds no line: same line count as an innocuous name and file
    assert len(lines) == len(ref.splitlines())
    # exactly the renderer's one .control / .endc / .end
    assert sum(ln.lstrip().lower().startswith(".control") for ln in lines) == 1
    assert sum(ln.lstrip().lower().startswith(".endc") for ln in lines) == 1
    assert sum(ln.strip().lower() == ".end" for ln in lines) == 1
    # no line is a shell command, and 'shell' appears nowhere outside a comment or the single
    # wrdata file-name token
    assert not any(ln.split() and ln.split()[0].lower() == "shell" for ln in lines)
    ctrl = _control_block(text)
    assert [ln.split()[0] for ln in ctrl] == ["set", "set", "option", "run", "linearize", "wrdata", "quit"]
    wr = ctrl[5].split()
    assert len(wr) == 2 + 3 and re.fullmatch(r"[A-Za-z0-9_.+-]+", wr[1])
    for ln in lines:
        if "shell" in ln.lower():
            assert ln.startswith("*") or ln.split()[0] == "wrdata", ln
    # the header comment still names the (sanitised) problem on a single line
    assert sum(ln.startswith("* matrix ") for ln in lines) == 1
