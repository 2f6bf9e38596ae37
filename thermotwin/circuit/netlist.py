"""Netlist text for the Appendix C integrator array (shared/DESIGN.md 1.3, STYLE 7).

:func:`render_netlist` is pure: the same problem, spec, mapping, simulation config and seed give
the same text byte for byte. Writing files and running ngspice live in
:mod:`thermotwin.solver.ngspice`. Every user-supplied name is reduced to ``[A-Za-z0-9_.+-]``
before it reaches the text, so no ``.control`` block can be injected.

Node names (index i = 0 … d−1):
    o{i}  integrator output, the unknown V_i        s{i}  summing node (virtual ground)
    n{i}  inverter output, −V_i                      m{i}  inverter summing node
    din{i} DAC voltage −b_i                          nn{i} noise source node
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import __version__
from ..budget import check_run
from ..problem import Problem, safe_name
from . import opamp, spice_codes
from .opamp import OpAmpParams
from .design import ComponentValues, Mapping, design
from .spec import IDEAL_SPICE_GAIN, HardwareSpec

OUTPUT_FILE = "thermotwin_trace.data"


def fmt(x: float) -> str:
    """Deterministic SPICE number: shortest repr that round-trips float64."""
    x = float(x)
    if x == 0:
        return "0"
    return repr(x).replace("e+", "e")


def _pwl(times: np.ndarray, values: np.ndarray, per_line: int = 6) -> list[str]:
    pairs = [f"{fmt(t)} {fmt(v)}" for t, v in zip(times, values)]
    lines = []
    for k in range(0, len(pairs), per_line):
        lines.append("+ " + " ".join(pairs[k:k + per_line]))
    lines[0] = "+ PWL(" + lines[0][2:]
    lines[-1] += ")"
    return lines


def noise_plan(problem: Problem, spec: HardwareSpec, config, tau_s: float) -> tuple[float, int]:
    """Noise step h (s) and number of steps for a run, shared by twin and netlist."""
    from ..solver.config import resolve_grid

    grid = resolve_grid(problem, config, tau_s, spec)
    return grid.noise_step_s, grid.n_noise_steps


def render_netlist(problem: Problem, spec: HardwareSpec, config, mapping: Mapping = Mapping(),
                   values: ComponentValues | None = None, output_file: str = OUTPUT_FILE,
                   probe: bool = False) -> str:
    """Render the ngspice netlist of ``problem`` on ``spec``.

    Args:
        problem: A (d×d) and b (d,).
        spec: the board.
        config: a :class:`thermotwin.solver.SimConfig` (t_end, output grid, noise kind, seed, v0).
        mapping: scaling choices.
        values: component values (default: ``design(problem, spec, mapping)``).
        output_file: file name ``wrdata`` writes (sanitised to ``[A-Za-z0-9_.+-]``).
        probe: write the drift probe instead of the transient (integrators replaced by sources and
            ammeters, one operating point per column; :func:`probe_control_lines`), which measures
            the matrix and forcing the arrays realise.

    Returns:
        The netlist text, runnable as ``ngspice -b FILE``; it writes a uniform-grid table of time
        and every node voltage v(o{i}) to ``output_file`` in the working directory.

    Cost: O(d² + d·n_noise_steps) text for PWL noise.
    """
    from ..solver.config import resolve_grid, initial_state

    if values is None:
        values = design(problem, spec, mapping)
    d = problem.d
    tau = values.nominal_tau_s
    grid = resolve_grid(problem, config, tau, spec)
    if not probe:
        check_run(grid, d, 1, config.noise, spice=True, what="the netlist")
    v0 = initial_state(problem, config) * values.b_scale
    out_name = safe_name(output_file, OUTPUT_FILE)
    op = OpAmpParams.from_spec(spec)
    # initial state: capacitor voltage v(s) − v(o), pole nodes, inverter outputs (circuit_field)
    from ..solver.circuit_field import field_params, initial_x

    fp = field_params(values, spec)
    if not np.isfinite(op.a0):
        fp = dataclasses.replace(fp, op=np.array([IDEAL_SPICE_GAIN, *fp.op[1:]]))
    x0 = initial_x(fp, v0)
    cap_ic = x0[:d]
    plus = "vos" if op.vos else "0"
    kind = config.noise
    L: list[str] = []
    L.append(f"* thermotwin {__version__}: Appendix C integrator array (TNGD arXiv 2405.13817), d={d}")
    L.append(f"* matrix {problem.name} sha256:{problem.digest()}  spec sha256:{spec.digest()}")
    L.append(f"* tau={fmt(tau)} s  scale s={fmt(values.scale)}  b_scale={fmt(values.b_scale)}  "
             f"kappa0={fmt(spec.kappa0_v2)} V^2  noise={kind}  seed={config.seed}  "
             f"board_seed={spec.board_seed}")
    L.append(f"* t_end={fmt(grid.t_end_s)} s  dt_out={fmt(grid.dt_out_s)} s  "
             f"noise_step={fmt(grid.noise_step_s)} s")
    L.append("* conventions: shared/DESIGN.md 1.3; V_i = v(o{i}); n{i} = -V_i")
    L.append("")
    L.append(f"* op-amp macromodel (circuit/opamp.py): A0={'ideal' if not np.isfinite(op.a0) else fmt(op.a0)}"
             f" GBW={spec.opamp.gbw_hz} Hz rails={spec.opamp.v_sat_v} V slew={spec.opamp.slew_v_per_s} V/s"
             f" offset={fmt(op.vos)} V")
    if op.vos:
        L.append(f"Vos vos 0 DC {fmt(op.vos)}")
    L.append("")
    for i in range(d):
        L.append(f"* --- node {i}")
        L += integrator_lines(i, plus, op, values.c[i], cap_ic[i], probe)
        L += opamp.spice_lines(f"inv{i}", plus, f"m{i}", f"n{i}", f"q{i}", op, fmt)
        L.append(f"Rii{i} o{i} m{i} {fmt(values.r_inv_in[i])}")
        L.append(f"Rif{i} m{i} n{i} {fmt(values.r_inv_fb[i])}")
        L.append(f"Vdac{i} din{i} 0 DC {fmt(values.v_in[i])}")
        L.append(f"Rin{i} din{i} s{i} {fmt(values.r_in[i])}")
        if np.isfinite(values.r_damp[i]):
            L.append(f"Rdamp{i} o{i} s{i} {fmt(values.r_damp[i])}")
        for j in range(d):
            sg = values.sign[i, j]
            if sg == 0:
                continue
            src = f"o{j}" if sg > 0 else f"n{j}"
            L.append(f"R{i}_{j} {src} s{i} {fmt(values.r_entry[i, j])}")
        L.append(f"Rn{i} nn{i} s{i} {fmt(values.r_noise[i])}")
        L += [f"Vn{i} nn{i} 0 DC 0"] if probe else _noise_source(i, spec, grid, tau, kind, config.seed, d)
    L.append("")
    if probe:
        return "\n".join(L + probe_control_lines(d))
    ics = [f"v(o{i})={fmt(v0[i])}" for i in range(d)]
    if op.has_pole:
        ics += [f"v(p{i})={fmt(x0[d + i])}" for i in range(d)]
        ics += [f"v(q{i})={fmt(x0[2 * d + i])}" for i in range(d)]
        ics += [f"v(n{i})={fmt(x0[2 * d + i])}" for i in range(d)]
    for k in range(0, len(ics), 8):
        L.append(".ic " + " ".join(ics[k:k + 8]))
    L += tran_control_lines(grid, kind, config.seed, d, out_name)
    return "\n".join(L)


def tran_control_lines(grid, kind: str, seed: int, d: int, out_name: str) -> list[str]:
    """``.options``, ``.tran … uic`` and the ``.control`` block that writes v(o0…o{d−1}) on the grid."""
    L = [".options " + " ".join(f"{k}={v}" for k, v in spice_codes.TRAN_OPTIONS.items())
         + (f" seed={spice_codes.spice_seed(seed)}" if kind in ("trrandom", "trnoise") else ""),
         f".tran {fmt(grid.dt_out_s)} {fmt(grid.t_end_s)} 0 {fmt(grid.max_step_s)} uic"]
    vecs = " ".join(spice_codes.node_vector(f"o{i}") for i in range(d))
    return L + [
        ".control",
        "set wr_singlescale",
        "set wr_vecnames",
        "option numdgt=15",
        "run",
        f"linearize {vecs}",
        f"wrdata {out_name} {vecs}",
        "quit 0",
        ".endc",
        ".end",
        "",
    ]


#: File the drift-probe netlists write (one row per operating point).
PROBE_FILE = "thermotwin_probe.data"


def integrator_lines(i: int, plus: str, op: OpAmpParams, c: float, cap_ic: float, probe: bool) -> list[str]:
    """Node i's integrator: op-amp int{i} (− input s{i}, output o{i}, pole p{i}) and Cint{i} with its
    initial voltage — or, in a drift probe, the forced source and ammeter of :func:`probe_node`."""
    if probe:
        return probe_node(i)
    return opamp.spice_lines(f"int{i}", plus, f"s{i}", f"o{i}", f"p{i}", op, fmt) + [
        f"Cint{i} s{i} o{i} {fmt(c)} IC={fmt(cap_ic)}"]


def probe_node(i: int) -> list[str]:
    """Node i's integrator in a drift probe: V(o{i}) forced (``Vo{i}``), s{i} held at 0 V through the
    ammeter ``Vs{i}`` (the ideal virtual ground), so i(Vs{i}) is the current the arrays push into s{i}."""
    return [f"Vo{i} o{i} 0 DC 0", f"Vs{i} s{i} 0 DC 0"]


def probe_control_lines(d: int, out_name: str = PROBE_FILE) -> list[str]:
    """``.control`` block: d + 1 operating points, all V(o) = 0 and then V(o_j) = 1 V for each j; each
    appends the row i(Vs0 … Vs{d−1}) to ``out_name``. Column j of the realised g·F is row j+1 − row 0;
    row 0 is the forcing (DAC, offsets). Read with :func:`thermotwin.solver.ngspice.read_probe`."""
    vecs = " ".join(f"i(vs{i})" for i in range(d))
    L = [".control", "set wr_singlescale", "set wr_vecnames", "set appendwrite", "option numdgt=15",
         "op", f"wrdata {out_name} {vecs}"]
    for j in range(d):
        if j:
            L.append(f"alter vo{j - 1} dc = 0")
        L += [f"alter vo{j} dc = 1", "op", f"wrdata {out_name} {vecs}"]
    return L + ["quit 0", ".endc", ".end", ""]


_ZOH_CACHE: dict = {}


def _noise_source(i: int, spec: HardwareSpec, grid, tau: float, kind: str, seed: int, d: int) -> list[str]:
    """Voltage source Vn{i} driving Rn{i}: V_n = −R0·C·u (u: forcing on dV/dt, DESIGN 1.3)."""
    q = 2.0 * spec.kappa0_v2 / tau                 # white-noise intensity on V, V²/s
    volts_per_forcing = spec.r0_ohm * spec.c_farad  # V_n / u
    if kind == "none" or spec.kappa0_v2 == 0:
        return [f"Vn{i} nn{i} 0 DC 0"]
    h = grid.noise_step_s
    if kind == "pwl":
        key = (seed, grid.n_noise_steps, d)
        if key not in _ZOH_CACHE:
            from ..solver.noise import zoh_normals

            _ZOH_CACHE.clear()
            _ZOH_CACHE[key] = zoh_normals(seed, grid.n_noise_steps, d)[0]
        z = _ZOH_CACHE[key][:, i]
        amp = -volts_per_forcing * np.sqrt(q / h) * z
        n = len(amp)
        k = np.arange(n)
        rise = spice_codes.PWL_RISE_FRACTION * h
        # value amp[k] on [k h + rise, (k+1) h]; ramp from amp[k-1] over [k h, k h + rise]
        t = np.empty(2 * n)
        v = np.empty(2 * n)
        t[0::2] = k * h
        t[1::2] = (k + 1) * h
        v[0::2] = amp
        v[1::2] = amp
        t[2::2] += rise
        t[0] = 0.0
        return [f"Vn{i} nn{i} 0"] + _pwl(t, v)
    if kind == "trnoise":
        na = volts_per_forcing * np.sqrt(q / h)   # two-sided PSD NA²·NT = (R0 C)² q
        return [f"Vn{i} nn{i} 0 DC 0 TRNOISE({fmt(na)} {fmt(h)} 0 0)"]
    if kind == "trrandom":
        sigma = volts_per_forcing * np.sqrt(q / h)
        code = spice_codes.TRRANDOM_TYPE["gaussian"]
        # TRRANDOM(TYPE TS TD PARAM1 PARAM2): for Gaussian PARAM1 is σ and PARAM2 the mean
        return [f"Vn{i} nn{i} 0 DC 0 TRRANDOM({code} {fmt(h)} 0 {fmt(sigma)} 0)"]
    raise ValueError(f"noise kind {kind!r} has no SPICE source; use pwl, trnoise, trrandom or none")
