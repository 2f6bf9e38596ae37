"""Matrix ↔ components: :func:`design` and :func:`realised_matrix` (docs/conventions.md#design-pair, docs/circuit.md#cell).

``design`` maps a problem onto the Appendix C integrator array of a given :class:`HardwareSpec`:
it picks the conductance scale s (g = s/R0, τ = C/g), one resistor R_ij = 1/(g|A_ij|) per non-zero
entry (fed from o_j when A_ij > 0, from the inverted output n_j when A_ij < 0), the DAC voltage
V_in,i = −b_i·b_scale through R_in = 1/g, the noise resistor, the inverter pair and the capacitor.
Range limits, quantisation and the board's static tolerance draw perturb only these values;
``realised_matrix`` then says what the hardware computes. For the ideal spec the round trip
``realised_matrix(design(A)) == A`` holds to round-off.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..core.problem import Problem
from .mapping import Mapping
from .programming import (
    adc_readout, board_streams, check_r_min, dac, limit_range, quantise, quantise_conductance, voltage_scale,
)
from .spec import HardwareSpec

__all__ = ["Mapping", "ComponentValues", "Realised", "design", "realised_matrix", "realised_batch", "error_floor",
           "adc_readout"]


@dataclass(frozen=True)
class ComponentValues:
    """Component values of one board (after range, quantisation and tolerance draws).

    Shapes: d unknowns. Resistances in Ω (``inf`` = no resistor), capacitances in F, volts in V.
    """

    scale: float
    g_siemens: float
    b_scale: float
    r_entry: np.ndarray          # (d, d) resistance from o_j or n_j to s_i; inf where A_ij = 0
    sign: np.ndarray             # (d, d) +1 fed from o_j, −1 from n_j, 0 absent
    r_in: np.ndarray             # (d,) DAC input resistor
    v_in: np.ndarray             # (d,) DAC voltage (= −b_i·b_scale, quantised)
    r_noise: np.ndarray          # (d,) noise injection resistor
    r_damp: np.ndarray           # (d,) damping resistor o_i → s_i (inf = none)
    r_inv_in: np.ndarray         # (d,) inverter input resistor
    r_inv_fb: np.ndarray         # (d,) inverter feedback resistor
    c: np.ndarray                # (d,) integrator capacitors
    nominal_tau_s: float         # C_nom / g
    report: dict = field(default_factory=dict)

    @property
    def d(self) -> int:
        return self.r_entry.shape[0]


@dataclass(frozen=True)
class Realised:
    """What a board computes: dV/dt = −M V + f + noise_gain ⊙ u(t) (u: the nominal noise forcing).

    Attributes:
        M: drift matrix in 1/s, (d, d).
        f: constant forcing in V/s, (d,).
        tau_s: nominal time constant C/g (s); A_eff = M·τ and b_eff = f·τ.
        noise_gain: per-node factor on the nominal noise forcing (1 for the ideal board).
        b_scale: volts per unit of the problem's x and b.
    """

    M: np.ndarray
    f: np.ndarray
    tau_s: float
    noise_gain: np.ndarray
    b_scale: float

    @property
    def A_eff(self) -> np.ndarray:
        return self.M * self.tau_s

    @property
    def b_eff(self) -> np.ndarray:
        """Effective right-hand side in problem units (volts divided by b_scale)."""
        return self.f * self.tau_s / self.b_scale

    @property
    def x_fixed_point(self) -> np.ndarray:
        """x the board converges to, in problem units."""
        return np.linalg.solve(self.M, self.f) / self.b_scale


# the shared steps under their old names (one implementation: circuit/programming.py)
_quantise_conductance = quantise_conductance
_dac = dac


def design(problem: Problem, spec: HardwareSpec, mapping: Mapping = Mapping()) -> ComponentValues:
    """Map ``problem`` onto the board described by ``spec``.

    Cost O(d²). The board's tolerance draw comes from ``spec.board_seed`` (its own stream), so the
    noise seed and the time step never reshuffle the board.

    Raises:
        ValueError: the matrix cannot be realised in the resistor range (every entry dropped on a
            row, or damping/input resistors outside the range).

    Warns:
        RuntimeWarning: entries were dropped or clipped; the message gives the count and the error
            floor that results.
    """
    A_total = problem.A + mapping.damping * np.eye(problem.d)   # what the board should compute
    A = problem.A                                               # what the entry resistors carry
    b = problem.b
    d = problem.d
    s = _conductance_scale(A, spec, mapping)
    g = s / spec.r0_ohm
    report: dict = {"scale": s, "dropped": 0, "clipped": 0}

    # Voltage scaling: keep x* and b inside half the converter range (and the rails).
    b_scale = voltage_scale(np.linalg.solve(A_total, b), b, spec, mapping.b_scale)
    report["b_scale"] = b_scale

    # Entry conductances, range and quantisation.
    gc = g * np.abs(A)
    sign = np.sign(A).astype(np.int8)
    present = gc > 0
    check_r_min(gc, spec, f"mapping scale s = {s:g}", "; use a smaller scale or leave it to the automatic choice")
    gc, present, report["dropped"], report["clipped"] = limit_range(gc, present, spec, mapping.out_of_range)
    sign = np.where(present, sign, 0).astype(np.int8)
    tol_ss, round_ss = board_streams(spec)
    round_rng = np.random.default_rng(round_ss) if mapping.rounding == "stochastic" else None
    if spec.resistor_bits is not None:
        gc, report["quantisation_max_rel"] = quantise(gc, present, spec, round_rng)
    if mapping.damping == 0 and np.any(~present.any(axis=1)):
        row = int(np.flatnonzero(~present.any(axis=1))[0])
        raise ValueError(f"row {row} has no realisable entry within r_max_ohm = {spec.r_max_ohm}; "
                         "raise r_max_ohm or rescale the matrix")

    with np.errstate(divide="ignore", over="ignore"):   # a subnormal conductance: inf, an open circuit
        r_entry = np.where(present, 1.0 / np.where(present, gc, 1.0), np.inf)
    r_in = np.full(d, 1.0 / g)
    v_in = dac(-b * b_scale, spec.dac_bits, spec.v_range_v, round_rng)
    r_noise = np.full(d, spec.r0_ohm)
    r_damp = np.full(d, np.inf if mapping.damping == 0 else 1.0 / (g * mapping.damping))
    r_inv_in = np.full(d, spec.r0_ohm)
    r_inv_fb = np.full(d, spec.r0_ohm)
    c = np.full(d, spec.c_farad)

    # Static board draw: fixed order of draws so that each component keeps its deviate.
    r_entry, r_in, r_noise, r_damp, r_inv_in, r_inv_fb, c = _tolerance_draw(
        spec, tol_ss, r_entry, r_in, r_noise, r_damp, r_inv_in, r_inv_fb, c)
    tau = spec.c_farad / g
    report["tau_s"] = tau
    values = ComponentValues(s, g, b_scale, r_entry, sign, r_in, v_in, r_noise, r_damp, r_inv_in, r_inv_fb,
                             c, tau, report)
    if report["dropped"] or report["clipped"]:
        floor = error_floor(problem, realised_matrix(values, spec), damping=mapping.damping)
        report["error_floor"] = floor
        what = "dropped" if report["dropped"] else "clipped to r_max_ohm"
        warnings.warn(f"{report['dropped'] or report['clipped']} matrix entries need more than "
                      f"r_max_ohm = {spec.r_max_ohm:g} Ω and were {what}; resulting error floor "
                      f"{floor:.3g} (relative)", RuntimeWarning, stacklevel=2)
    return values


def _conductance_scale(A: np.ndarray, spec: HardwareSpec, mapping: Mapping) -> float:
    """s (g = s/R0): the mapping's, or the largest whose biggest entry still fits r_min_ohm, or 1."""
    if mapping.scale is not None:
        return mapping.scale
    if spec.r_min_ohm is not None:
        return spec.r0_ohm / (spec.r_min_ohm * float(max(np.abs(A).max(), mapping.damping)))
    return 1.0


def _tolerance_draw(spec: HardwareSpec, tol_ss, r_entry, r_in, r_noise, r_damp, r_inv_in, r_inv_fb, c):
    """Every component times (1 + t·z), z from the board's tolerance stream in a fixed order."""
    if not (spec.r_tolerance or spec.c_tolerance):
        return r_entry, r_in, r_noise, r_damp, r_inv_in, r_inv_fb, c
    d = r_in.shape[0]
    rng = np.random.default_rng(tol_ss)
    z_entry = rng.standard_normal((d, d))
    z_in, z_noise, z_inv_in, z_inv_fb, z_c, z_damp = rng.standard_normal((6, d))
    t = spec.r_tolerance
    return (r_entry * (1 + t * z_entry), r_in * (1 + t * z_in), r_noise * (1 + t * z_noise),
            r_damp * (1 + t * z_damp), r_inv_in * (1 + t * z_inv_in), r_inv_fb * (1 + t * z_inv_fb),
            c * (1 + spec.c_tolerance * z_c))


def realised_matrix(values: ComponentValues, spec: HardwareSpec) -> Realised:
    """What the board computes, including finite op-amp gain A0 and input offset (docs/nonideal.md#gain).

    With finite A0 the summing node sits at v_s = V_os − V_i/A0, so node i obeys
        C_i (1 + 1/A0) dV_i/dt = −Σ_j σ_ij src_j/R_ij − V_in,i/R_in,i − V_n,i/R_n,i
                                 − (V_i/A0 − V_os) g_tot,i,
    with src_j = V_j (σ = +1) or the inverter output k_j V_j + c_j (σ = −1), k_j = −(Rf/Ri)/(1 +
    (1 + Rf/Ri)/A0) and c_j its offset term. Cost O(d²). One board of :func:`realised_batch`.
    """
    v = {k: getattr(values, k)[None] for k in ("r_entry", "r_in", "v_in", "r_noise", "r_damp", "r_inv_in",
                                                "r_inv_fb", "c")}
    v["sign"] = values.sign
    M, f, noise_gain = realised_batch(v, spec)
    return Realised(M=M[0], f=f[0], tau_s=values.nominal_tau_s, noise_gain=noise_gain[0], b_scale=values.b_scale)


def realised_batch(v: dict, spec: HardwareSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What B boards compute (the formulas of :func:`realised_matrix`, over a leading board axis).

    ``v`` holds component arrays with a leading axis of length B: r_entry (B, d, d), r_in, v_in,
    r_noise, r_damp, r_inv_in, r_inv_fb, c (B, d), and ``sign`` (d, d) shared by all boards.
    Returns (M (B, d, d), f (B, d), noise_gain (B, d)).
    """
    A0 = spec.opamp.gain
    inv_a0 = 0.0 if A0 is None else 1.0 / A0
    vos = spec.opamp.offset_v
    r_entry = v["r_entry"]
    with np.errstate(divide="ignore"):
        G = np.where(np.isfinite(r_entry), 1.0 / r_entry, 0.0)
    ratio = v["r_inv_fb"] / v["r_inv_in"]
    k_inv = -ratio / (1.0 + (1.0 + ratio) * inv_a0)
    c_inv = vos * (1.0 + ratio) / (1.0 + (1.0 + ratio) * inv_a0)
    pos = v["sign"] > 0
    neg = v["sign"] < 0
    W = np.where(pos, G, 0.0) + np.where(neg, G * k_inv[:, None, :], 0.0)
    Gneg = np.where(neg, G, 0.0)
    const = np.einsum("bij,bj->bi", Gneg, c_inv) if vos else np.zeros(G.shape[:2])
    g_damp = np.where(np.isfinite(v["r_damp"]), 1.0 / v["r_damp"], 0.0)
    g_tot = G.sum(axis=-1) + 1.0 / v["r_in"] + 1.0 / v["r_noise"] + g_damp
    diag = np.arange(G.shape[-1])
    W[:, diag, diag] += g_damp + g_tot * inv_a0
    cap = v["c"] * (1.0 + inv_a0)
    M = W / cap[:, :, None]
    f = (-v["v_in"] / v["r_in"] - const + vos * g_tot) / cap
    nominal_noise = 1.0 / (spec.r0_ohm * spec.c_farad)
    noise_gain = (1.0 / (v["r_noise"] * cap)) / nominal_noise
    return M, f, noise_gain



def error_floor(problem: Problem, realised: Realised, damping: float = 0.0) -> float:
    """‖A_eff⁻¹b_eff − A⁻¹b‖/‖A⁻¹b‖: the error no averaging removes."""
    A = problem.A + damping * np.eye(problem.d)
    x = np.linalg.solve(A, problem.b)
    nx = float(np.linalg.norm(x))
    if nx == 0:
        return float("nan")         # b = 0: a relative error does not exist
    return float(np.linalg.norm(realised.x_fixed_point - x) / nx)
