"""The board's state-space parameters and initial state (the model the twin integrates and the
netlist's ``.ic`` lines start from); the integration itself is :mod:`thermotwin.solver.circuit_field`.

State x = [u, p, q]: u_i = v(s_i) − v(o_i) (the integrator capacitor voltage), and, with a
gain–bandwidth pole, p_i / q_i the pole nodes of the integrator / inverter op-amps
(:mod:`thermotwin.circuit.opamp`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .design import ComponentValues
from .opamp import OpAmpParams
from .spec import HardwareSpec

__all__ = ["FieldParams", "field_params", "initial_x"]


@dataclass(frozen=True)
class FieldParams:
    """Arrays of one board for the numba field (all float64)."""

    Wp: np.ndarray      # (d, d) conductance of entries fed from o_j
    Wn: np.ndarray      # (d, d) conductance of entries fed from n_j
    gsum: np.ndarray    # (d,) all conductance at s_i
    gin: np.ndarray     # (d,)
    vin: np.ndarray     # (d,)
    gn: np.ndarray      # (d,)
    gd: np.ndarray      # (d,)
    cap: np.ndarray     # (d,)
    rfi: np.ndarray     # (d,) inverter Rf/(Ri+Rf)
    rii: np.ndarray     # (d,) inverter Ri/(Ri+Rf)
    op: np.ndarray      # (6,) a0, wt, wp, v_sat, slew, vos
    pole: bool

    @property
    def d(self) -> int:
        return self.Wp.shape[0]

    @property
    def n_state(self) -> int:
        return 3 * self.d if self.pole else self.d

    def linear(self) -> "FieldParams":
        """The same board without rails and slew."""
        op = self.op.copy()
        op[3] = math.inf
        op[4] = math.inf
        return FieldParams(self.Wp, self.Wn, self.gsum, self.gin, self.vin, self.gn, self.gd, self.cap,
                           self.rfi, self.rii, op, self.pole)

    def args(self):
        return (self.Wp, self.Wn, self.gsum, self.gin, self.vin, self.gn, self.gd, self.cap, self.rfi,
                self.rii, self.op, self.pole)


def field_params(values: ComponentValues, spec: HardwareSpec) -> FieldParams:
    op = OpAmpParams.from_spec(spec)
    with np.errstate(divide="ignore"):
        G = np.where(np.isfinite(values.r_entry), 1.0 / values.r_entry, 0.0)
    Wp = np.where(values.sign > 0, G, 0.0)
    Wn = np.where(values.sign < 0, G, 0.0)
    gin = 1.0 / values.r_in
    gn = 1.0 / values.r_noise
    gd = np.where(np.isfinite(values.r_damp), 1.0 / values.r_damp, 0.0)
    gsum = G.sum(axis=1) + gin + gn + gd
    tot = values.r_inv_in + values.r_inv_fb
    return FieldParams(Wp=Wp, Wn=Wn, gsum=gsum, gin=gin, vin=values.v_in.astype(float), gn=gn, gd=gd,
                       cap=values.c.astype(float), rfi=values.r_inv_fb / tot, rii=values.r_inv_in / tot,
                       op=np.array([op.a0, op.wt, op.wp, op.v_sat, op.slew, op.vos]), pole=op.has_pole)


def initial_x(P: FieldParams, v0: np.ndarray) -> np.ndarray:
    """The state whose integrator outputs are v0 (volts), op-amps at their quasi-static point."""
    a0, vsat, vos = P.op[0], P.op[3], P.op[5]
    d = P.d
    inv = 0.0 if math.isinf(a0) else 1.0 / a0
    if not P.pole:
        return vos - v0 * (1.0 + inv)
    vs = vos - v0 * inv
    if math.isinf(a0):
        n0 = (vos - v0 * P.rfi) / P.rii
    else:
        n0 = a0 * (vos - v0 * P.rfi) / (1.0 + a0 * P.rii)
    n0 = np.clip(n0, -vsat, vsat)
    x = np.empty(3 * d)
    x[:d] = vs - v0
    x[d:2 * d] = v0
    x[2 * d:] = n0
    return x
