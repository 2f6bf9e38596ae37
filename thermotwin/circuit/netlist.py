"""Netlist text for the Appendix C integrator array (docs/circuit.md#cell, docs/conventions.md#netlists).

:func:`render_netlist` is the one netlist writer, for both problem forms: a dense problem gives the
Appendix C array (this module's layout), a factored one the three-array board
(:mod:`thermotwin.circuit.factored_netlist`); the text both share (header, integrator cell, noise
sources, DAC inputs, ``.ic``, control block) is :mod:`thermotwin.circuit.spice_text`. It is pure: the
same problem, spec, mapping, simulation config and seed give the same text byte for byte. Writing files and running ngspice live in
:mod:`thermotwin.solver.ngspice`. Every user-supplied name is reduced to ``[A-Za-z0-9_.+-]``
before it reaches the text, so no ``.control`` block can be injected.

Node names (index i = 0 … d−1):
    o{i}  integrator output, the unknown V_i        s{i}  summing node (virtual ground)
    n{i}  inverter output, −V_i                      m{i}  inverter summing node
    din{i} DAC voltage −b_i                          nn{i} noise source node
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..core.config import initial_state, resolve_grid
from ..core.io import atomic_write_text
from ..core.memory import check_run
from ..core.problem import Problem, is_factored, safe_name
from . import opamp
from .board import Board, realise
from .design import ComponentValues
from .factored import FactoredBoard
from .factored_netlist import DEFAULT_MAX_RESISTORS, check_size, factored_layout
from .mapping import Mapping
from .opamp import OpAmpParams
from .spec import IDEAL_SPICE_GAIN, HardwareSpec
from .spice_text import (  # noqa: F401 (old names of the shared text)
    NOISE_FILE, OUTPUT_FILE, PROBE_FILE, finish, fmt, header_lines, integrator_cell, integrator_lines, noise_block,
    noise_source, probe_control_lines, probe_node, tran_control_lines,
)
from .field import field_params, initial_x

_noise_source = noise_source

__all__ = ["render_netlist", "render_netlist_files", "render_factored_netlist", "noise_plan", "Netlist",
           "OUTPUT_FILE", "PROBE_FILE", "NOISE_FILE", "fmt"]


def noise_plan(problem: Problem, spec: HardwareSpec, config, tau_s: float) -> tuple[float, int]:
    """Noise step h (s) and number of steps for a run, shared by twin and netlist."""
    grid = resolve_grid(problem, config, tau_s, spec)
    return grid.noise_step_s, grid.n_noise_steps


@dataclasses.dataclass(frozen=True)
class Netlist:
    """A netlist and the files it reads: ``text`` (the ``.cir``) and ``files`` ({name: text}, to be
    written beside it — the noise files of ``--noise pwl``; empty for every other mode)."""
    text: str
    files: dict

    def write(self, path) -> list:
        """Write the netlist to ``path`` and its files beside it, each atomically; returns the paths."""
        path = Path(path)
        written = []
        for name, body in self.files.items():       # the files first: a netlist never names a missing one
            atomic_write_text(path.parent / name, body)
            written.append(path.parent / name)
        atomic_write_text(path, self.text)
        return [path, *written]


def render_netlist(problem, spec: HardwareSpec, config, mapping: Mapping = Mapping(),
                   values: ComponentValues | None = None, output_file: str = OUTPUT_FILE,
                   probe: bool = False, *, board: Board | FactoredBoard | None = None,
                   max_resistors: int = DEFAULT_MAX_RESISTORS, noise_file: str = NOISE_FILE) -> str:
    """The netlist text of :func:`render_netlist_files` (``--noise pwl``: the text names noise files
    that only :func:`render_netlist_files` returns — use it, or :meth:`Netlist.write`, to run it)."""
    return render_netlist_files(problem, spec, config, mapping, values, output_file, probe, board=board,
                                max_resistors=max_resistors, noise_file=noise_file).text


def render_netlist_files(problem, spec: HardwareSpec, config, mapping: Mapping = Mapping(),
                         values: ComponentValues | None = None, output_file: str = OUTPUT_FILE,
                         probe: bool = False, *, board: Board | FactoredBoard | None = None,
                         max_resistors: int = DEFAULT_MAX_RESISTORS, noise_file: str = NOISE_FILE) -> Netlist:
    """Render the ngspice netlist of ``problem`` (dense or factored) on ``spec``, with the files it reads.

    Args:
        problem: a dense :class:`Problem` (the Appendix C array) or a factored problem (the three-array
            board, :mod:`thermotwin.circuit.factored_netlist`).
        spec: the board.
        config: a :class:`thermotwin.core.config.SimConfig` (t_end, output grid, noise kind, seed, v0).
        mapping: every mapping option (:class:`Mapping`).
        values / board: component values already realised (dense: ``ComponentValues``; either form:
            ``realise(problem, spec, mapping, purpose="spice")``); default: realised here.
        output_file: file name ``wrdata`` writes (sanitised to ``[A-Za-z0-9_.+-]``).
        probe: write the drift probe instead of the transient (integrators replaced by sources and
            ammeters, one operating point per column; :func:`probe_control_lines`), which measures
            the matrix and forcing the arrays realise.
        max_resistors: factored form: refuse larger boards (the text grows as r(r + 2N)).
        noise_file: stem of the noise files (``pwl``): ``{stem}0.txt``, ``{stem}1.txt``, … (16 nodes
            each), named in the text relative to the netlist's folder (sanitised like ``output_file``).

    Returns:
        A :class:`Netlist`: the text, runnable as ``ngspice -b FILE`` with ``files`` written beside
        it; it writes a uniform-grid table of time and every node voltage v(o{i}) to
        ``output_file`` in the working directory.

    Cost: O(d²) text (dense), O(r(r + 2N)) (factored), plus O(d·n_noise_steps) in the noise files.
    """
    out_name = safe_name(output_file, OUTPUT_FILE)
    stem = safe_name(noise_file, NOISE_FILE)
    if is_factored(problem):
        text, files = factored_layout(problem, spec, config,
                                      _spice_board(problem, spec, mapping, board, max_resistors), out_name, probe,
                                      stem)
        return Netlist(text, files)
    if values is None:
        values = board.components if isinstance(board, Board) else realise(problem, spec, mapping).components
    return Netlist(*_dense_layout(problem, spec, config, values, out_name, probe, stem))


def _spice_board(problem, spec: HardwareSpec, mapping: Mapping, board, max_resistors: int) -> FactoredBoard:
    check_size(problem, max_resistors)
    if isinstance(board, Board):
        return board.arrays
    return board if board is not None else realise(problem, spec, mapping, purpose="spice").arrays


def _dense_layout(problem: Problem, spec: HardwareSpec, config, values: ComponentValues, out_name: str,
                  probe: bool, stem: str = NOISE_FILE) -> tuple[str, dict[str, str]]:
    """The Appendix C array: one integrator cell per unknown, its row of entry resistors from o_j / n_j."""
    d = problem.d
    tau = values.nominal_tau_s
    grid = resolve_grid(problem, config, tau, spec)
    if not probe:
        check_run(grid, d, 1, config.noise, spice=True, what="the netlist")
    v0 = initial_state(problem, config) * values.b_scale
    op = OpAmpParams.from_spec(spec)
    # initial state: capacitor voltage v(s) − v(o), pole nodes, inverter outputs (circuit_field)
    fp = field_params(values, spec)
    if not np.isfinite(op.a0):
        fp = dataclasses.replace(fp, op=np.array([IDEAL_SPICE_GAIN, *fp.op[1:]]))
    x0 = initial_x(fp, v0)
    plus = "vos" if op.vos else "0"
    kind = config.noise
    L = header_lines(f"Appendix C integrator array (TNGD arXiv 2405.13817), d={d}", "matrix", problem, spec,
                     config, grid, tau, f"scale s={fmt(values.scale)}  b_scale={fmt(values.b_scale)}",
                     "* conventions: docs/circuit.md#cell; V_i = v(o{i}); n{i} = -V_i", op,
                     gbw=spec.opamp.gbw_hz, slew=spec.opamp.slew_v_per_s)
    for i in range(d):
        inverter = opamp.spice_lines(f"inv{i}", plus, f"m{i}", f"n{i}", f"q{i}", op, fmt) + [
            f"Rii{i} o{i} m{i} {fmt(values.r_inv_in[i])}", f"Rif{i} m{i} n{i} {fmt(values.r_inv_fb[i])}"]
        entries = [f"R{i}_{j} {'o' if values.sign[i, j] > 0 else 'n'}{j} s{i} {fmt(values.r_entry[i, j])}"
                   for j in np.flatnonzero(values.sign[i]) if np.isfinite(values.r_entry[i, j])]   # inf: open
        L += integrator_cell(i, plus=plus, op=op, c=values.c[i], cap_ic=x0[i], probe=probe, inverter=inverter,
                             v_in=values.v_in[i], r_in=values.r_in[i], r_damp=values.r_damp[i], entries=entries,
                             r_noise=values.r_noise[i],
                             noise=[] if probe else noise_source(i, spec, grid, tau, kind, config.seed, d))
    block, files = noise_block(spec, grid, tau, kind, config.seed, d, probe, stem)
    L += block
    ics = [f"v(o{i})={fmt(v0[i])}" for i in range(d)]
    if op.has_pole:
        ics += [f"v(p{i})={fmt(x0[d + i])}" for i in range(d)]
        ics += [f"v(q{i})={fmt(x0[2 * d + i])}" for i in range(d)]
        ics += [f"v(n{i})={fmt(x0[2 * d + i])}" for i in range(d)]
    return finish(L, probe, d, grid, kind, config.seed, out_name, ics), files


def render_factored_netlist(problem, spec: HardwareSpec, config, *, board: FactoredBoard | None = None,
                            rounding: str = "nearest", out_of_range: str = "drop", node_tolerance: bool = False,
                            y_gain: float | str = 1.0, output_file: str = OUTPUT_FILE, probe: bool = False,
                            max_resistors: int = DEFAULT_MAX_RESISTORS) -> str:
    """The three-array netlist: :func:`thermotwin.circuit.netlist.render_netlist` of a factored problem
    (the mapping options as keywords, for older callers)."""
    mapping = Mapping(rounding=rounding, out_of_range=out_of_range, node_tolerance=node_tolerance, y_gain=y_gain)
    return render_netlist(problem, spec, config, mapping, output_file=output_file, probe=probe, board=board,
                          max_resistors=max_resistors)
