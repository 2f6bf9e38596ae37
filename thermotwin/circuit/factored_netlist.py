"""Netlist text for the scaled-up TNGD board: three resistor arrays J_f, H_L, J_fᵀ (docs/circuit.md#factored).

The dense Appendix C array needs N² programmable resistors for F = λI + J_fᵀ H_L J_f. The paper's
scaled-up form (its Appendix C, "b·d_z(b·d_z + 2N) resistors") computes the product in stages:

    y = J₁ V      r memoryless inverting summing stages (a{k} → y{k}), inputs from n_j / o_j
    z = H' y      r memoryless inverting summing stages (c{m} → z{m}), inputs from ny_k / y_k
    C dV_i/dt = −g (Σ_m J₂[m, i] z_m + λ V_i − g_i) − I_n,i      N integrators, as in the dense cell

so integrators sit only on the N outputs and the r = b·d_z stage outputs are algebraic. Signs are
carried by inverters (n_i = −V_i, ny_k = −y_k, nz_m = −z_m); which entry is fed from which signal
is stated in :mod:`thermotwin.circuit.factored` (the realisation the twin uses, so the component
values here are exactly the ones the factored twin simulates). The integrator cell — DAC input,
damping resistor, noise resistor and PWL/TRRANDOM/TRNOISE noise source — header, ``.ic`` and control
block are the ones every netlist shares (:mod:`thermotwin.circuit.spice_text`), with the same noise
stream for the same seed, so a factored netlist and the dense netlist of J_fᵀH_LJ_f + λI run the same
noise path. :func:`thermotwin.circuit.netlist.render_netlist` writes either layout.

Node names (i = 0 … N−1 integrators, k, m = 0 … r−1 stages):
    o{i} s{i} n{i} m{i} din{i} nn{i}   integrator cell (as in the dense netlist)
    a{k} y{k}  ay{k} ny{k}             J₁ stage k: summing node, output; its inverter
    c{m} z{m}  az{m} nz{m}             H' stage m: summing node, output; its inverter

Op-amps: 2N + 4r, one macromodel (circuit/opamp.py): finite DC gain, rails, input offset, a
gain–bandwidth pole and slew. With a pole every op-amp gets an internal node (integrator p{i},
inverter q{i}, stages py{k} pny{k} pz{m} pnz{m}) whose ``.ic`` is the static solution at V = v0,
so the run starts without a glitch; the drift probe uses the static part of the same model.
Closed-loop, a stage with a one-pole op-amp is a first-order lag of time constant
(1 + Σ_j g_j/g_f)/(2π·GBW) — :func:`thermotwin.circuit.factored.stage_time_constants`. Programmable
resistors: nnz(J₁) + nnz(H') + nnz(J₂) ≤ r(r + 2N); fixed ones: the stage feedback resistors and
the inverters' 2 R0.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..core.config import initial_state, resolve_grid
from ..core.memory import check_run
from ..errors import InputError
from . import opamp
from .board import realise
from .factored import FactoredBoard
from .mapping import Mapping
from .opamp import OpAmpParams
from .spec import IDEAL_SPICE_GAIN, HardwareSpec
from .spice_text import NOISE_FILE, OUTPUT_FILE, finish, fmt, header_lines, integrator_cell, noise_block, noise_source

#: Largest N·r + r² (programmable resistors / 2) rendered without ``max_resistors``: SPICE is the
#: validation oracle for small boards (docs/noise.md#dense-cost), a netlist of this size is already ~100 MB.
DEFAULT_MAX_RESISTORS = 2_000_000

__all__ = ["factored_layout", "board_for_netlist", "check_size", "static_nodes", "DEFAULT_MAX_RESISTORS"]


def board_for_netlist(problem, spec: HardwareSpec, rounding: str = "nearest", out_of_range: str = "drop",
                      node_tolerance: bool = False, y_gain: float | str = 1.0) -> FactoredBoard:
    """The component values of the board (the realisation the factored twin uses), with the op-amp
    left out: SPICE simulates the op-amps themselves (``realise(..., purpose="spice")``)."""
    mapping = Mapping(rounding=rounding, out_of_range=out_of_range, node_tolerance=node_tolerance, y_gain=y_gain)
    return realise(problem, spec, mapping, purpose="spice").arrays


def check_size(problem, max_resistors: int = DEFAULT_MAX_RESISTORS) -> None:
    """Refuse a board whose netlist would hold more than 2·max_resistors programmable resistors."""
    N, r = problem.N, problem.r
    if r * (r + 2 * N) > 2 * max_resistors:
        raise InputError(f"the factored netlist of N = {N}, r = {r} has up to {r * (r + 2 * N):,} programmable "
                         f"resistors (limit {2 * max_resistors:,}); SPICE is the oracle for small boards — use "
                         "the factored twin (thermotwin simulate problem.npz) at this size")


def factored_layout(problem, spec: HardwareSpec, config, board: FactoredBoard, out_name: str, probe: bool,
                    noise_stem: str = NOISE_FILE) -> tuple[str, dict[str, str]]:
    """The three-array board's netlist: header, the J₁ and H' stages, the N integrator cells fed by the J₂ᵀ
    array, the noise block, ``.ic`` (with the pole nodes' static solution) and the control block.
    Returns (text, {noise file name: text}) — files only for ``pwl`` noise."""
    N, r = problem.N, problem.r
    P = board.parts
    tau = board.tau_s
    grid = resolve_grid(problem, config, tau, spec)
    if not probe:
        check_run(grid, N, 1, config.noise, spice=True, what="the factored netlist", dense=False)
    op = OpAmpParams.from_spec(spec)
    if probe and op.has_pole:   # DC operating points: the static part of the same macromodel
        op = dataclasses.replace(op, wt=math.inf, wp=math.inf, slew=math.inf)
    a0 = op.a0 if math.isfinite(op.a0) else IDEAL_SPICE_GAIN
    v0 = initial_state(problem, config) * board.b_scale
    cap_ic = op.vos - v0 * (1.0 + 1.0 / a0)            # v(s) − v(o) of an integrator at V = v0 (quasi-static)
    plus = "vos" if op.vos else "0"
    yg = P["y_gain"]
    n_prog = int(np.count_nonzero(P["J1"]) + np.count_nonzero(P["H"]) + np.count_nonzero(P["J2"]))
    L = header_lines(
        f"scaled-up TNGD board, three arrays J_f H_L J_f^T (arXiv 2405.13817 App. C), N={N} r={r}", "problem",
        problem, spec, config, grid, tau,
        f"scale s={fmt(board.report['scale'])}  scale_H={fmt(board.report['scale_H'])}  "
        f"b_scale={fmt(board.b_scale)}  damping={fmt(problem.damping)}",
        "* conventions: docs/circuit.md#cell; V_i = v(o{i}); y = J1 V at y{k}; z = H y at z{m}"
        + ("" if yg == 1 else f"; stage gains y_gain={fmt(yg)} and 1/y_gain"), op,
        extra=(f"* op-amps: {2 * N + 4 * r} (N integrators + N inverters + 2r stages + 2r inverters); "
               f"programmable resistors: {n_prog} (r(r + 2N) = {r * (r + 2 * N)})",),
        gbw=spec.opamp.gbw_hz if not probe else None, slew=spec.opamp.slew_v_per_s if not probe else None,
        blank_before_opamp=False)
    L += _stage_lines(P, spec, plus, op)
    L += _integrator_lines(problem, spec, config, P, grid, tau, plus, op, cap_ic, probe)
    block, files = noise_block(spec, grid, tau, config.noise, config.seed, N, probe, noise_stem)
    L += block
    ics = [f"v(o{i})={fmt(v0[i])}" for i in range(N)]
    if op.has_pole:             # internal pole nodes at the static solution (no start-up glitch)
        st = static_nodes(P, v0, op, spec.r0_ohm)
        ics += [f"v(p{i})={fmt(v0[i])}" for i in range(N)]
        ics += [f"v({name}{k})={fmt(val)}" for name in ("pn", "py", "pny", "pz", "pnz")
                for k, val in enumerate(st[name])]
    return finish(L, probe, N, grid, config.noise, config.seed, out_name, ics), files


def _inverter(name: str, inp: str, summing: str, out: str, plus: str, op: OpAmpParams, R0: float) -> list[str]:
    return (opamp.spice_lines(name, plus, summing, out, "p" + out, op, fmt)
            + [f"R{name}i {inp} {summing} {fmt(R0)}", f"R{name}f {summing} {out} {fmt(R0)}"])


def _entries(row: np.ndarray, pos_src: str, neg_src: str, g_unit: float, name: str, node: str) -> list[str]:
    """One resistor per non-zero entry; an entry whose conductance g_unit·|entry| underflows (a subnormal
    entry: the resistance is not a finite number) is an open circuit, as its conductance is 0 V/A."""
    g = g_unit * np.abs(row)
    return [f"{name}_{j} {(pos_src if row[j] > 0 else neg_src).format(j)} {node} {fmt(1.0 / g[j])}"
            for j in np.flatnonzero(row) if g[j] > 0 and np.isfinite(1.0 / g[j])]


def _stage_lines(P: dict, spec: HardwareSpec, plus: str, op: OpAmpParams) -> list[str]:
    """The J₁ stages (y = γ J₁ V) and the H' stages (z = H' y/γ), each with its inverter."""
    yg = P["y_gain"]
    gy, gz = ("", "") if yg == 1 else (f"{fmt(yg)} * ", f" / {fmt(yg)}")
    # (tag, array, unit conductance, feedback conductance, summing node, output, sources of +/− entries)
    stages = (("1", P["J1"], P["g_int"], P["g_f1"], "a", "y", "n{}", "o{}",
               f"J1 stages: y_k = {gy}sum_j J1[k,j] V_j (positive entries from n_j, negative from o_j)"),
              ("2", P["H"], P["g_h"], P["g_f2"], "c", "z", "ny{}", "y{}",
               f"H stages: z_m = sum_k H[m,k] y_k{gz} (positive entries from ny_k, negative from y_k)"))
    L = []
    for tag, X, g_unit, g_f, sn, out, pos, neg, comment in stages:
        L.append(f"* --- {comment}")
        res = "R1" if tag == "1" else "RH"
        for k in range(X.shape[0]):
            L += opamp.spice_lines(f"st{tag}_{k}", plus, f"{sn}{k}", f"{out}{k}", f"p{out}{k}", op, fmt)
            L.append(f"Rf{tag}_{k} {sn}{k} {out}{k} {fmt(1.0 / g_f)}")
            L += _entries(X[k], pos, neg, g_unit, f"{res}_{k}", f"{sn}{k}")
            L += _inverter(f"i{out}{k}", f"{out}{k}", f"a{out}{k}", f"n{out}{k}", plus, op, spec.r0_ohm)
    return L


def _integrator_lines(problem, spec: HardwareSpec, config, P: dict, grid, tau: float, plus: str, op: OpAmpParams,
                      cap_ic: np.ndarray, probe: bool) -> list[str]:
    """The N integrator cells, C dV_i/dt = −g (Σ_m J₂[m,i] z_m + λ V_i − b_i), fed by the J₂ᵀ array."""
    N, g_int = problem.N, P["g_int"]
    L = ["* --- integrators: C dV_i/dt = -g (sum_m J2[m,i] z_m + lambda V_i - g_i) (positive from z_m, "
         "negative from nz_m)"]
    J2t = np.ascontiguousarray(P["J2"].T)
    for i in range(N):
        L += integrator_cell(
            i, plus=plus, op=op, c=spec.c_farad * P["cap"][i], cap_ic=cap_ic[i], probe=probe,
            inverter=_inverter(f"inv{i}", f"o{i}", f"m{i}", f"n{i}", plus, op, spec.r0_ohm),
            v_in=P["v_in"][i], r_in=1.0 / (g_int * P["g_in"][i]), r_damp=1.0 / (g_int * P["lam"][i]),
            entries=_entries(J2t[i], "z{}", "nz{}", g_int, f"R2_{i}", f"s{i}"),
            r_noise=1.0 / (g_int * P["g_noise"][i]),
            noise=[] if probe else noise_source(i, spec, grid, tau, config.noise, config.seed, N))
    return L


def _static_stage(sum_gu: np.ndarray, G: np.ndarray, g_f: float, op: OpAmpParams) -> np.ndarray:
    """Output of an inverting stage at rest: out = A0(V_os·G − Σ g u)/(G + A0 g_f), clipped to the rails
    (A0 → ∞: (V_os·G − Σ g u)/g_f)."""
    if math.isfinite(op.a0):
        out = op.a0 * (op.vos * G - sum_gu) / (G + op.a0 * g_f)
    else:
        out = (op.vos * G - sum_gu) / g_f
    return np.clip(out, -op.v_sat, op.v_sat)


def static_nodes(P: dict, v0: np.ndarray, op: OpAmpParams, R0: float) -> dict:
    """Stage and inverter outputs of the board at rest with the integrators at v0 (volts): keys
    ``pn`` (n_i), ``py``/``pny`` (y_k, −y_k), ``pz``/``pnz`` (z_m, −z_m) — the pole-node ICs."""
    J1, H, g_int, g_h = P["J1"], P["H"], P["g_int"], P["g_h"]
    g0 = 1.0 / R0

    def inv(u):
        return _static_stage(g0 * u, np.full(u.shape, 2 * g0), g0, op)

    def stage(X, g, g_f, u_pos, u_neg):   # positive entries fed from u_pos (inverted), negative from u_neg
        Xp, Xn = np.maximum(X, 0.0), np.maximum(-X, 0.0)
        return _static_stage(g * (Xp @ u_pos + Xn @ u_neg), g * np.abs(X).sum(axis=1) + g_f, g_f, op)

    n = inv(v0)
    y = stage(J1, g_int, P["g_f1"], n, v0)
    ny = inv(y)
    z = stage(H, g_h, P["g_f2"], ny, y)
    return {"pn": n, "py": y, "pny": ny, "pz": z, "pnz": inv(z)}
