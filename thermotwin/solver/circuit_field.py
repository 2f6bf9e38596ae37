"""The board's full state-space model, linear parts exact and non-linear parts by numba kernel.

State x = [u, p, q]: u_i = v(s_i) − v(o_i) (the integrator capacitor voltage), and, with a
gain–bandwidth pole, p_i / q_i the pole nodes of the integrator / inverter op-amps
(:mod:`thermotwin.circuit.opamp`). The node equation is KCL at the summing node s_i:

    C_i du_i/dt = Σ_j G_ij (src_j − v_s,i) + (V_in,i − v_s,i)/R_in,i + (V_n,i − v_s,i)/R_n,i
                  + g_damp,i (v_o,i − v_s,i),       v_s = u + v_o,

with src_j = v_o,j (A_ij > 0) or the inverter output n_j (A_ij < 0). Without a pole the op-amps are
static: v_o = clip(A0(V_os − u)/(1 + A0)), n = clip(A0(V_os − v_o R_f/(R_i+R_f))/(1 + A0 R_i/(R_i+R_f))).
With a pole: v_o = clip(p), n = clip(q), dp/dt = clip(ω_t(V_os − v_s), ±SR) − ω_p p and likewise q
with the inverter's summing node v_m = (v_o R_f + n R_i)/(R_i + R_f).

Without rails or slew the field is affine, dx/dt = F x + g + B_n V_n: :func:`linear_system` reads
F, g and B_n off the field itself (exact for an affine map), so the exact OU path and the numba
path integrate one model. With rails or slew, :func:`integrate_nonlinear` uses exponential Euler
x⁺ = Φ x + Γ (g + B_n V_n + r(x)), r(x) = field(x) − F x − g the non-linear residual: exact when
nothing clips (it then agrees with the exact path to round-off), first order in the sub-step
while something clips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import scipy.linalg

from ..circuit.field import FieldParams, field_params, initial_x  # noqa: F401 (the model lives in circuit/)


@numba.njit(cache=True)
def _clip(v, lim):
    if v > lim:
        return lim
    if v < -lim:
        return -lim
    return v


@numba.njit(cache=True)
def outputs(x, Wp, Wn, gsum, gin, vin, gn, gd, cap, rfi, rii, op, pole, vo, nv):
    """Fill vo (integrator outputs) and nv (inverter outputs) from the state x."""
    d = vo.shape[0]
    a0, vsat, vos = op[0], op[3], op[5]
    for i in range(d):
        if pole:
            vo[i] = _clip(x[d + i], vsat)
            nv[i] = _clip(x[2 * d + i], vsat)
        else:
            if math.isinf(a0):
                vo[i] = _clip(vos - x[i], vsat)
                nv[i] = _clip((vos - vo[i] * rfi[i]) / rii[i], vsat)
            else:
                vo[i] = _clip(a0 * (vos - x[i]) / (1.0 + a0), vsat)
                nv[i] = _clip(a0 * (vos - vo[i] * rfi[i]) / (1.0 + a0 * rii[i]), vsat)


@numba.njit(cache=True)
def field(x, vn, Wp, Wn, gsum, gin, vin, gn, gd, cap, rfi, rii, op, pole, dx, vo, nv):
    """dx/dt for state x and noise-source voltages vn (d,); fills dx. vo, nv are scratch (d,)."""
    d = vo.shape[0]
    outputs(x, Wp, Wn, gsum, gin, vin, gn, gd, cap, rfi, rii, op, pole, vo, nv)
    wt, wp, slew, vos = op[1], op[2], op[4], op[5]
    for i in range(d):
        vs = x[i] + vo[i]
        cur = gin[i] * vin[i] + gn[i] * vn[i] + gd[i] * vo[i] - gsum[i] * vs
        for j in range(d):
            cur += Wp[i, j] * vo[j] + Wn[i, j] * nv[j]
        dx[i] = cur / cap[i]
        if pole:
            e = vos - vs
            dx[d + i] = _clip(wt * e, slew) - wp * x[d + i]
            vm = vo[i] * rfi[i] + nv[i] * rii[i]
            dx[2 * d + i] = _clip(wt * (vos - vm), slew) - wp * x[2 * d + i]


def _eval(P: FieldParams, x: np.ndarray, vn: np.ndarray) -> np.ndarray:
    d = P.d
    dx = np.zeros(P.n_state)
    field(np.ascontiguousarray(x, dtype=float), np.ascontiguousarray(vn, dtype=float), *P.args(), dx,
          np.zeros(d), np.zeros(d))
    return dx


@dataclass(frozen=True)
class LinearSystem:
    """dx/dt = F x + g + Bn V_n;  V = Cout x + dout (volts)."""

    F: np.ndarray
    g: np.ndarray
    Bn: np.ndarray
    Cout: np.ndarray
    dout: np.ndarray


def linear_system(P: FieldParams) -> LinearSystem:
    """Read F, g, B_n and the output map off the field with rails and slew removed."""
    L = P.linear()
    n, d = L.n_state, L.d
    zero_x, zero_v = np.zeros(n), np.zeros(d)
    g = _eval(L, zero_x, zero_v)
    F = np.empty((n, n))
    for k in range(n):
        e = np.zeros(n)
        e[k] = 1.0
        F[:, k] = _eval(L, e, zero_v) - g
    Bn = np.empty((n, d))
    for k in range(d):
        e = np.zeros(d)
        e[k] = 1.0
        Bn[:, k] = _eval(L, zero_x, e) - g
    vo, nv = np.zeros(d), np.zeros(d)
    outputs(zero_x, *L.args(), vo, nv)
    dout = vo.copy()
    Cout = np.empty((d, n))
    for k in range(n):
        e = np.zeros(n)
        e[k] = 1.0
        outputs(e, *L.args(), vo, nv)
        Cout[:, k] = vo - dout
    return LinearSystem(F=F, g=g, Bn=Bn, Cout=Cout, dout=dout)


@numba.njit(cache=True)
def integrate_kernel(phi, gam, Fm, vn, substeps, steps_per_out, x0,
                     Wp, Wn, gsum, gin, vin, gn, gd, cap, rfi, rii, op, pole, out_v):
    """Exponential-Euler integration of one trajectory (pure; fills out_v).

    x⁺ = Φ x + Γ (field(x, V_n) − F x) per sub-step, Φ = e^{F h_s}, Γ = ∫₀^{h_s} e^{F s} ds: exact
    for the affine part. phi, gam, Fm: (n, n); vn: (n_steps, d) noise-source voltages, constant
    over each noise step; out_v: (n_steps // steps_per_out + 1, d) integrator outputs in volts.
    """
    n = x0.shape[0]
    d = out_v.shape[1]
    x = x0.copy()
    dx = np.empty(n)
    vo = np.empty(d)
    nv = np.empty(d)
    outputs(x, Wp, Wn, gsum, gin, vin, gn, gd, cap, rfi, rii, op, pole, vo, nv)
    out_v[0, :] = vo
    for k in range(vn.shape[0]):
        vk = vn[k]
        for _ in range(substeps):
            field(x, vk, Wp, Wn, gsum, gin, vin, gn, gd, cap, rfi, rii, op, pole, dx, vo, nv)
            x = phi @ x + gam @ (dx - Fm @ x)
        if (k + 1) % steps_per_out == 0:
            outputs(x, Wp, Wn, gsum, gin, vin, gn, gd, cap, rfi, rii, op, pole, vo, nv)
            out_v[(k + 1) // steps_per_out, :] = vo


def exp_euler_propagators(F: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Φ = e^{F h} and Γ = ∫₀^h e^{F s} ds by one block exponential."""
    n = F.shape[0]
    blk = np.zeros((2 * n, 2 * n))
    blk[:n, :n] = F
    blk[:n, n:] = np.eye(n)
    E = scipy.linalg.expm(blk * h)
    return E[:n, :n], E[:n, n:]
