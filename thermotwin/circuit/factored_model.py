"""The three-array board with one-pole op-amps as a linear state-space model (small N; an oracle).

The factored twin has no gain–bandwidth pole (circuit/factored.py); ngspice has, but only for a few
dozen nodes. This module writes the whole board of :mod:`thermotwin.circuit.factored_netlist` — N
integrators (op-amp pole p_i and capacitor voltage w_i = v(s_i) − v(o_i)), N inverters, r J₁ stages,
r H' stages and their 2r inverters — from KCL and the op-amp model of circuit/opamp.py
(dp/dt = ω_t(V_os − v₋) − ω_p·p, out = p; rails and slew are not linear and are left out):

    x' = A x + c,   x = [o (N), w (N), n (N), y (r), ny (r), z (r), nz (r)]   (volts, seconds)

with A assembled by blocks from the board's component values (``FactoredBoard.parts``). Dense:
(3N + 4r)² entries, so N up to a few thousand. Uses: ``benchmarks/gbw_small_model.py`` (the
analog-time curve with GBW on a real GGN) and, as a second implementation next to the column-by-column
evaluation in tests/test_factored_netlist.py, the check of the netlist against ngspice.
Noise is not modelled here (noise-free transients and spectra).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .opamp import OpAmpParams
from .spec import IDEAL_SPICE_GAIN, HardwareSpec

#: Largest 3N + 4r assembled densely.
MAX_STATES = 12_000


@dataclass(frozen=True)
class PoleModel:
    """x' = A x + c; ``slices`` name the state blocks (o, w, n, y, ny, z, nz)."""

    A: np.ndarray
    c: np.ndarray
    slices: dict

    def fixed_point(self) -> np.ndarray:
        return np.linalg.solve(self.A, -self.c)

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """The integrator outputs V = o (volts) of a state or a stack of states."""
        return x[..., self.slices["o"]]


def pole_model(board, spec: HardwareSpec) -> PoleModel:
    """Assemble A and c of the board (``board`` from ``board_for_netlist``: parts with the resistor
    entries, unit and feedback conductances, per-node values) with the op-amps of ``spec``
    (GBW required; an ideal A0 gives ω_p = 0)."""
    op = OpAmpParams.from_spec(spec)
    if not op.has_pole:
        raise InputError("the state-space model needs op-amp poles: set opamp.gbw_hz")
    P = board.parts
    J1, H, J2 = P["J1"], P["H"], P["J2"]
    r, N = J1.shape
    n_x = 3 * N + 4 * r
    if n_x > MAX_STATES:
        raise InputError(f"the dense state-space model of N = {N}, r = {r} has {n_x} states (limit {MAX_STATES}); "
                         "use a smaller board")
    gi, gh, gf1, gf2 = P["g_int"], P["g_h"], P["g_f1"], P["g_f2"]
    wt, wp, vos = op.wt, op.wp, op.vos
    C = spec.c_farad * P["cap"]
    edges = np.cumsum([0, N, N, N, r, r, r, r])
    names = ("o", "w", "n", "y", "ny", "z", "nz")
    sl = {k: slice(int(edges[i]), int(edges[i + 1])) for i, k in enumerate(names)}
    A = np.zeros((n_x, n_x))
    c = np.zeros(n_x)

    def blk(a, b):
        return A[sl[a], sl[b]]

    pos = np.maximum
    diag = np.fill_diagonal
    # integrator op-amp: do/dt = ω_t(V_os − v_s) − ω_p o, v_s = w + o
    diag(blk("o", "w"), -wt)
    diag(blk("o", "o"), -(wt + wp))
    # capacitor: C dw/dt = Σ g(u − v_s) over the J₂ᵀ array, damping (from o), DAC, noise resistor
    Gs = gi * (np.abs(J2).sum(axis=0) + P["lam"] + P["g_in"] + P["g_noise"])
    blk("w", "z")[:] = (gi * pos(J2, 0.0)).T / C[:, None]
    blk("w", "nz")[:] = (gi * pos(-J2, 0.0)).T / C[:, None]
    diag(blk("w", "w"), -Gs / C)
    diag(blk("w", "o"), (gi * P["lam"] - Gs) / C)
    c[sl["w"]] = gi * P["g_in"] * P["v_in"] / C
    # unit inverters: dp/dt = ω_t(V_os − (u + p)/2) − ω_p p
    for inv, src in (("n", "o"), ("ny", "y"), ("nz", "z")):
        diag(blk(inv, src), -wt / 2)
        diag(blk(inv, inv), -(wt / 2 + wp))
    # summing stages: v₋ = (g Σ|X| u + g_f p)/(g Σ|X| + g_f); positive entries from the inverted signal
    for st, X, g, gf, inverted, plain in (("y", J1, gi, gf1, "n", "o"), ("z", H, gh, gf2, "ny", "y")):
        G = g * np.abs(X).sum(axis=1) + gf
        blk(st, inverted)[:] = -wt * (g / G)[:, None] * pos(X, 0.0)
        blk(st, plain)[:] = -wt * (g / G)[:, None] * pos(-X, 0.0)
        diag(blk(st, st), -(wt * gf / G + wp))
    for k in ("o", "n", "y", "ny", "z", "nz"):
        c[sl[k]] += wt * vos
    return PoleModel(A=A, c=c, slices=sl)


def initial_state(model: PoleModel, board, spec: HardwareSpec, v0_volts: np.ndarray) -> np.ndarray:
    """The state whose integrator outputs are v0 with every other op-amp at its static point (as the
    netlist's ``.ic``)."""
    from .factored_netlist import static_nodes

    op = OpAmpParams.from_spec(spec)
    st = static_nodes(board.parts, v0_volts, op, spec.r0_ohm)
    a0 = op.a0 if math.isfinite(op.a0) else IDEAL_SPICE_GAIN
    x0 = np.empty(model.A.shape[0])
    for k, v in (("o", v0_volts), ("w", op.vos - v0_volts * (1 + 1 / a0)), ("n", st["pn"]), ("y", st["py"]),
                 ("ny", st["pny"]), ("z", st["pz"]), ("nz", st["pnz"])):
        x0[model.slices[k]] = v
    return x0
