"""The text every netlist shares, dense array or three-array board: written once.

Numbers (:func:`fmt`), the header (:func:`header_lines`), the integrator cell with its inverter,
DAC input, damping and noise resistors and noise source (:func:`integrator_cell`), the noise
sources (:func:`noise_source`: the same zero-order-hold stream as the twin for ``pwl``), the
``.ic`` lines (:func:`ic_lines`), and the control blocks (:func:`tran_control_lines`,
:func:`probe_control_lines`). The layouts are :mod:`thermotwin.circuit.netlist` (dense array) and
:mod:`thermotwin.circuit.factored_netlist` (three arrays).
"""

from __future__ import annotations

import numpy as np

from ..core.version import __version__
from ..core.noise import zoh_normals
from . import opamp, spice_codes
from .opamp import OpAmpParams
from .spec import HardwareSpec

OUTPUT_FILE = "thermotwin_trace.data"

def fmt(x: float) -> str:
    """Deterministic SPICE number: shortest repr that round-trips float64."""
    x = float(x)
    if x == 0:
        return "0"
    return repr(x).replace("e+", "e")


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


#: Default stem of the noise files a ``pwl`` netlist reads (files ``{stem}{g}.txt``, g = 0, 1, …).
NOISE_FILE = "thermotwin_noise"

#: Nodes per noise file: XSPICE ``filesource`` reads each line into a 512-byte buffer, and 16 columns
#: of shortest-round-trip floats (≤ 24 characters each) plus the step index stay below it.
NOISE_GROUP = 16


def noise_source(i: int, spec: HardwareSpec, grid, tau: float, kind: str, seed: int, d: int) -> list[str]:
    """Voltage source Vn{i} driving Rn{i}: V_n = −R0·C·u (u: forcing on dV/dt, docs/circuit.md#noise-source).

    ``pwl`` nodes get no line here: their sources are the shared block of :func:`pwl_noise_block`."""
    q = 2.0 * spec.kappa0_v2 / tau                 # white-noise intensity on V, V²/s
    volts_per_forcing = spec.r0_ohm * spec.c_farad  # V_n / u
    if kind == "none" or spec.kappa0_v2 == 0:
        return [f"Vn{i} nn{i} 0 DC 0"]
    h = grid.noise_step_s
    if kind == "pwl":
        return []
    if kind == "trnoise":
        na = volts_per_forcing * np.sqrt(q / h)   # two-sided PSD NA²·NT = (R0 C)² q
        return [f"Vn{i} nn{i} 0 DC 0 TRNOISE({fmt(na)} {fmt(h)} 0 0)"]
    if kind == "trrandom":
        sigma = volts_per_forcing * np.sqrt(q / h)
        code = spice_codes.TRRANDOM_TYPE["gaussian"]
        # TRRANDOM(TYPE TS TD PARAM1 PARAM2): for Gaussian PARAM1 is σ and PARAM2 the mean
        return [f"Vn{i} nn{i} 0 DC 0 TRRANDOM({code} {fmt(h)} 0 {fmt(sigma)} 0)"]
    raise ValueError(f"noise kind {kind!r} has no SPICE source; use pwl, trnoise, trrandom or none")


def noise_file_names(stem: str, d: int) -> list[str]:
    """The files a ``pwl`` netlist of d nodes reads: ``{stem}{g}.txt`` for nodes 16g … 16g + 15."""
    return [f"{stem}{g}.txt" for g in range((d + NOISE_GROUP - 1) // NOISE_GROUP)]


def pwl_noise_block(spec: HardwareSpec, grid, tau: float, seed: int, d: int,
                    stem: str = NOISE_FILE) -> tuple[list[str], dict[str, str]]:
    """The ``pwl`` noise of nodes nn0 … nn{d−1}: the twin's own zero-order-hold stream, read from files.

    Each group of :data:`NOISE_GROUP` nodes is one XSPICE ``filesource`` (``amplstep=true``: the value
    of row k holds on [k·h, (k+1)·h]) reading ``{stem}{g}.txt`` beside the netlist: row k is the step
    index k and the standard normals z[k, nodes] of :func:`thermotwin.core.noise.zoh_normals` (the
    twin's stream, trajectory 0); the model's ``timescale`` = h turns k into k·h and ``amplscale``
    = −R0·C·sqrt(q/h) turns z into volts. One zero-amplitude TRRANDOM source (``Vnclk``, through
    ``Rnclk``, coupled to nothing) puts a breakpoint at every k·h — the same product k·h the file
    times are — so the solver lands on every step and restarts there with a first-order step: the
    forcing is the exact zero-order hold the twin integrates.

    Cost: linear in the number of steps (filesource keeps its place; the old PWL sources were searched
    from their start at every evaluation, O(n²)); docs/noise.md#ngspice.

    Returns:
        (netlist lines, {file name: file text}).
    """
    q = 2.0 * spec.kappa0_v2 / tau
    h = grid.noise_step_s
    scale = -spec.r0_ohm * spec.c_farad * np.sqrt(q / h)
    n = grid.n_noise_steps
    z = zoh_normals(seed, n, d)[0]
    z = np.vstack([z, z[-1:]])                          # row n closes the last step's interval
    lines = [f"* noise: the twin's zero-order-hold stream (seed={seed}), node i = column i of the files below,"
             f" V_n = {fmt(scale)} * z; step h = {fmt(h)} s (docs/noise.md#ngspice)"]
    files = {}
    index = np.arange(n + 1)
    for g, name in enumerate(noise_file_names(stem, d)):
        cols = list(range(g * NOISE_GROUP, min(d, (g + 1) * NOISE_GROUP)))
        k = len(cols)
        nodes = " ".join(f"nn{i} 0" for i in cols)
        lines += [f"a_noise{g} %vd [{nodes}] noise_src{g}",
                  f".model noise_src{g} filesource (file=\"{name}\" amploffset=[{' '.join(['0'] * k)}] "
                  f"amplscale=[{' '.join([fmt(scale)] * k)}] timeoffset=0 timescale={fmt(h)} "
                  f"timerelative=false amplstep=true)"]
        body = "\n".join(f"{j} " + " ".join(fmt(v) for v in row) for j, row in zip(index, z[:, cols].tolist()))
        files[name] = (f"# thermotwin {__version__} noise file for {name.rsplit('.', 1)[0]}: nodes "
                       f"{cols[0]}..{cols[-1]} (one column each), rows = step k, {n} steps of {fmt(h)} s, "
                       f"seed={seed}\n# read by the netlist's filesource model noise_src{g}; values are standard "
                       f"normals, scaled in the netlist\n" + body + "\n")
    lines += ["* breakpoint at every noise step (zero amplitude: a clock, not a source)",
              f"Vnclk nclk 0 DC 0 TRRANDOM({spice_codes.TRRANDOM_TYPE['gaussian']} {fmt(h)} 0 0 0)",
              "Rnclk nclk 0 1"]
    return lines, files


def noise_block(spec: HardwareSpec, grid, tau: float, kind: str, seed: int, d: int, probe: bool,
                stem: str = NOISE_FILE) -> tuple[list[str], dict[str, str]]:
    """Lines and files a layout adds after its cells: the ``pwl`` block, or nothing."""
    if probe or kind != "pwl" or spec.kappa0_v2 == 0:
        return [], {}
    return pwl_noise_block(spec, grid, tau, seed, d, stem)


def header_lines(title: str, what: str, problem, spec: HardwareSpec, config, grid, tau: float, scales: str,
                 conventions: str, op: OpAmpParams, extra: tuple[str, ...] = (), gbw=None, slew=None,
                 blank_before_opamp: bool = True) -> list[str]:
    """The comment header: title, hashes, scales and seeds, the grid, ``extra`` lines, conventions and
    the op-amp macromodel line (then ``Vos`` when the op-amps have an input offset)."""
    L = [f"* thermotwin {__version__}: {title}",
         f"* {what} {problem.name} sha256:{problem.digest()}  spec sha256:{spec.digest()}",
         f"* tau={fmt(tau)} s  {scales}  kappa0={fmt(spec.kappa0_v2)} V^2  noise={config.noise}  "
         f"seed={config.seed}  board_seed={spec.board_seed}",
         f"* t_end={fmt(grid.t_end_s)} s  dt_out={fmt(grid.dt_out_s)} s  noise_step={fmt(grid.noise_step_s)} s",
         *extra, conventions]
    if blank_before_opamp:
        L.append("")
    L.append(f"* op-amp macromodel (circuit/opamp.py): A0={'ideal' if not np.isfinite(op.a0) else fmt(op.a0)}"
             f" GBW={gbw} Hz rails={spec.opamp.v_sat_v} V slew={slew} V/s offset={fmt(op.vos)} V")
    if op.vos:
        L.append(f"Vos vos 0 DC {fmt(op.vos)}")
    L.append("")
    return L


def integrator_cell(i: int, *, plus: str, op: OpAmpParams, c: float, cap_ic: float, probe: bool,
                    inverter: list[str], v_in: float, r_in: float, r_damp: float, entries: list[str],
                    r_noise: float, noise: list[str]) -> list[str]:
    """Node i: integrator (or its drift-probe stand-in), inverter, DAC input, damping resistor (when
    finite), the array's ``entries`` into s{i}, the noise resistor and source."""
    L = [f"* --- node {i}"]
    L += integrator_lines(i, plus, op, c, cap_ic, probe)
    L += inverter
    L.append(f"Vdac{i} din{i} 0 DC {fmt(v_in)}")
    L.append(f"Rin{i} din{i} s{i} {fmt(r_in)}")
    if np.isfinite(r_damp):
        L.append(f"Rdamp{i} o{i} s{i} {fmt(r_damp)}")
    L += entries
    L.append(f"Rn{i} nn{i} s{i} {fmt(r_noise)}")
    return L + ([f"Vn{i} nn{i} 0 DC 0"] if probe else noise)


def ic_lines(ics: list[str]) -> list[str]:
    """``.ic`` lines, eight node voltages each."""
    return [".ic " + " ".join(ics[k:k + 8]) for k in range(0, len(ics), 8)]


def finish(L: list[str], probe: bool, d: int, grid, kind: str, seed: int, out_name: str, ics: list[str]) -> str:
    """Body + (``.ic`` and transient control, or the drift-probe control) → the netlist text."""
    L = L + [""]
    if probe:
        return "\n".join(L + probe_control_lines(d))
    return "\n".join(L + ic_lines(ics) + tran_control_lines(grid, kind, seed, d, out_name))
