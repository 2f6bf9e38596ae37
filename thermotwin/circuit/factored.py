"""The scaled-up TNGD board (three arrays J_f, H_L, J_fᵀ; docs/circuit.md#factored) and what it computes.

Topology (docs/circuit.md#factored, "scaled-up TNGD form"): a memoryless inverting summing stage per row of J_f
computes y = J₁ V, a second one per row of H_L computes z = H' y, and the J_fᵀ array feeds z into the
N integrators' summing nodes, next to the damping resistor 1/(gλ), the DAC input resistor and the
noise resistor. b·d_z(b·d_z + 2N) programmable resistors: J₁ and J₂ = J_fᵀ are two physical arrays.

Signs are carried by inverters (one per integrator, n_i = −V_i, and one per stage output,
ny_k = −y_k, nz_m = −z_m). Every stage is inverting, so a positive entry of J₁ or H' is fed from
the inverted signal (n_j, ny_k) and a negative one from the signal itself; the J_fᵀ array feeds
the integrators' summing nodes like the dense array (docs/circuit.md#cell): from z_m for a positive entry,
from nz_m for a negative one. :mod:`thermotwin.circuit.factored_netlist` writes this circuit.

Non-idealities (``HardwareSpec`` fields; 0/None is ideal):

* ``r_tolerance``: every programmable resistor of the three arrays gets R(1 + t·z), z from its own
  stream of ``board_seed`` (J₁, H, J₂ and the per-node parts spawn separate streams), so J₁ ≠ J₂ and
  H' is no longer symmetric — still low rank: F = λI + J₂ᵀH'J₁. The per-node resistors (damping,
  input, noise) are assumed precision parts unless ``node_tolerance=True`` (then λ varies per node:
  a diagonal effect).
* ``resistor_bits`` / ``r_min_ohm`` / ``r_max_ohm``: conductances g·|entry| quantised on the
  spec's grid (``nearest`` keeps J₁ = J₂ and H symmetric; ``stochastic`` rounds each array
  independently), entries needing more than r_max dropped or clipped; the damping resistor is
  rounded to the nearest level. With r_min_ohm the scale s puts the largest entry of each array at
  r_min (the two J arrays and λ share the integrator's scale).
* ``opamp.gain`` A0: each summing stage's gain becomes 1/(1 + (1 + Σ|row|)/A0) (a row scaling of J₁
  and H', keeps the factored form), each inverter's 1/(1 + 2/A0) (on the entries it feeds); at the
  integrators the leak g_tot,i/(g·A0) (docs/nonideal.md#gain) adds a per-node diagonal term and τ scales by
  (1 + 1/A0). All exact for static op-amps.
* ``c_tolerance``: C_i = C(1 + t_c z): row i of the drift and its noise scale by C/C_i.
* ``dac_bits`` on g, ``adc_bits``/``adc_rate_hz`` at read-out (applied by the solver).

* ``opamp.gbw_hz`` with ``gbw_model="integrator"``: each integrator's summing node is no longer a
  virtual ground (v_s = −(dV/dt)/ω_t), which adds G_s,i/ω_t to C_i for modes slow next to ω_t — a
  per-node diagonal effect like ``c_tolerance``. The summing stages' own lags, (1 + Σ|row|)/ω_t,
  are left out (:func:`stage_time_constants` reports them; ``y_gain`` shrinks them). Checked against
  the whole board with every op-amp pole (:mod:`thermotwin.circuit.factored_model`). Without the
  option a GBW is an error.

Not modelled at this scale (an error): rails, slew and input offset (SPICE renders them:
:mod:`thermotwin.circuit.factored_netlist`).

The result, in τ units and problem units (volts / b_scale):

    dV/dt' = −(diag(d) + diag(row) J₂ᵀ H' J₁) V + f + sqrt(2κ) diag(noise_gain) ξ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .mapping import GBW_MODELS, Mapping
from .programming import board_streams, check_r_min, dac, limit_range, quantise, quantise_conductance, voltage_scale
from .spec import HardwareSpec

#: Rows of an r×N array processed per block (bounded temporaries).
_BLOCK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class FactoredBoard:
    """What a factored board computes (see the module docstring for the equation).

    Attributes:
        J1, J2: (r, N) realised arrays (``J2 is J1`` when they are identical). H: (r, r) realised H'.
        d: (N,) diagonal of the drift. row: (N,) row scaling of the low-rank term (C/C_i).
        f: (N,) forcing, problem units. noise_gain: (N,) per-node noise factor.
        kappa: κ0/b_scale² (problem units). tau_s: nominal τ = C/g. b_scale: volts per problem unit.
        symmetric: the drift is λ̄I + c·JᵀHJ with H symmetric (the fast exact path applies).
        has_diagonal: d is not uniform (the diagonal path is needed).
        extra_arrays: r×N arrays the realisation allocates (0, 1 or 2).
        report: what the mapping did (scale, dropped, clipped, quantisation, stage gains, leak).
        parts: the component-level values the netlist writer uses: ``J1``/``H``/``J2`` entries the
            programmable resistors realise (before op-amp gains), ``g_int``/``g_h`` unit
            conductances (S), per-node ``lam``, ``g_in``, ``g_noise`` (relative to g_int), ``cap``
            (relative to C) and ``v_in`` (DAC volts).
    """

    J1: np.ndarray | None
    H: np.ndarray | None
    J2: np.ndarray | None
    d: np.ndarray | None
    row: np.ndarray | None
    f: np.ndarray | None
    noise_gain: np.ndarray | None
    kappa: float
    tau_s: float
    b_scale: float
    symmetric: bool
    has_diagonal: bool
    extra_arrays: int
    report: dict = field(default_factory=dict)
    parts: dict = field(default_factory=dict, repr=False)

    def dense_drift(self) -> np.ndarray:
        """diag(d) + diag(row) J₂ᵀ H' J₁ as an N×N array (tests, small N only)."""
        N = self.J1.shape[1]
        if N > 5000:
            raise InputError(f"N = {N} is too large to assemble the drift densely")
        return np.diag(self.d) + self.row[:, None] * (self.J2.T @ self.H @ self.J1)



def _check_supported(spec: HardwareSpec, gbw_model: str = "refuse") -> None:
    op = spec.opamp
    if gbw_model not in GBW_MODELS:
        raise ValueError(f"gbw_model {gbw_model!r}: use one of {', '.join(GBW_MODELS)}")
    if op.gbw_hz is not None and gbw_model == "refuse":
        raise InputError("spec field 'opamp.gbw_hz' is not modelled exactly for factored problems (a pole per op-amp); "
                         "use gbw_model='integrator' (--gbw-model integrator: the integrators' low-frequency slow-down, "
                         "stage lags left out), the dense twin at small N, or set it to null")
    for name, bad in (("opamp.v_sat_v", op.v_sat_v is not None),
                      ("opamp.slew_v_per_s", op.slew_v_per_s is not None), ("opamp.offset_v", op.offset_v != 0)):
        if bad:
            raise InputError(f"spec field {name!r} is not modelled for factored problems (it needs a state per "
                             "op-amp or shifts every stage); run the dense twin at small N or set it to ideal")


def _realise_array(X: np.ndarray, gscale: float, spec: HardwareSpec, tol_rng, round_rng, out_of_range: str,
                   report: dict, name: str) -> np.ndarray:
    """Entries → conductances gscale·|x| → range, quantisation, tolerance → realised entries (by blocks)."""
    out = np.empty_like(X)
    rows = max(1, _BLOCK_BYTES // (8 * X.shape[1]))
    dropped = clipped = 0
    qmax = 0.0
    t = spec.r_tolerance
    for i in range(0, X.shape[0], rows):
        xc = X[i:i + rows]
        gc = gscale * np.abs(xc)
        check_r_min(gc, spec, f"array {name}")
        gc, present, n_drop, n_clip = limit_range(gc, gc > 0, spec, out_of_range)
        dropped, clipped = dropped + n_drop, clipped + n_clip
        if spec.resistor_bits is not None:
            gc, q = quantise(gc, present, spec, round_rng)
            qmax = max(qmax, q)
        if t:
            gc = gc / (1.0 + t * tol_rng.standard_normal(gc.shape))
        out[i:i + rows] = np.sign(xc) * gc / gscale
    report[f"{name}_dropped"] = dropped
    report[f"{name}_clipped"] = clipped
    if spec.resistor_bits is not None:
        report[f"{name}_quantisation_max_rel"] = qmax
    return out


def _col_abs_sum(X: np.ndarray) -> np.ndarray:
    rows = max(1, _BLOCK_BYTES // (8 * X.shape[1]))
    acc = np.zeros(X.shape[1])
    for i in range(0, X.shape[0], rows):
        acc += np.abs(X[i:i + rows]).sum(axis=0)
    return acc


def realise_factored(problem, spec: HardwareSpec, rounding: str = "nearest", out_of_range: str = "drop",
                     node_tolerance: bool = False, dry_run: bool = False, keep_parts: bool = False,
                     y_gain: float | str = 1.0, gbw_model: str = "refuse", *,
                     mapping: Mapping | None = None) -> FactoredBoard:
    """Map a :class:`~thermotwin.core.problem.FactoredProblem` onto the three-array board.

    The mapping options come from ``mapping`` (:class:`Mapping`) or, for older callers, from the
    keywords (rounding, out_of_range, node_tolerance, y_gain, gbw_model). Cost O(r·N) (one pass per
    perturbed array, bounded temporaries). With ``dry_run`` only τ and the structural flags are
    computed (nothing of size r×N is allocated), for memory planning. ``keep_parts`` fills
    ``FactoredBoard.parts`` (component values for the netlist writer; keeps the un-gained arrays
    alive, so off at scale). ``y_gain`` (:func:`resolve_y_gain`) splits the loop gain between the
    two stage arrays.

    Raises:
        InputError: unsupported op-amp fields; damping not realisable in the resistor range.
    """
    if mapping is None:
        if rounding not in ("nearest", "stochastic"):
            raise ValueError(f"rounding {rounding!r}: use 'nearest' or 'stochastic'")
        if out_of_range not in ("drop", "clip"):
            raise ValueError(f"out_of_range {out_of_range!r}: use 'drop' or 'clip'")
        resolve_y_gain(y_gain, problem.J[:1], problem.H[:1, :1])          # one-line error for a bad value
        mapping = Mapping(rounding=rounding, out_of_range=out_of_range, node_tolerance=node_tolerance,
                          y_gain=y_gain, gbw_model=gbw_model)
    if mapping.dense_only_fields():
        raise InputError(f"mapping {', '.join(mapping.dense_only_fields())}: dense boards only; a factored board "
                         "chooses its scales itself and carries its damping λ in the problem")
    _check_supported(spec, mapping.gbw_model)
    plan = _plan(problem, spec, mapping)
    if dry_run:
        return FactoredBoard(None, None, None, None, None, None, None, 0.0, plan["tau"], 1.0,
                             symmetric=plan["symmetric_planned"], has_diagonal=plan["has_diagonal_planned"],
                             extra_arrays=plan["extra"], report=plan["report"])
    report = plan["report"]
    # Voltage scaling: the rule of every mapping (x* and b inside half the converter range).
    b_scale = voltage_scale(problem.x_exact, problem.b, spec)
    report["b_scale"] = b_scale
    J1, Hr, J2 = _realise_arrays(problem, spec, mapping, plan, report)
    parts = {"J1": J1, "H": Hr, "J2": J2} if keep_parts else {}   # resistor entries (no op-amp gains)
    # all the conductance the J₂ᵀ array puts at each summing node (finite-gain leak, GBW stretch), from
    # the resistors, before any gain folding below
    col_abs_J2 = _col_abs_sum(J2) if (plan["inv_a0"] > 0 or plan["gbw_on"]) else None
    if plan["inv_a0"] > 0:
        J1, Hr, J2 = _fold_finite_gain(J1, Hr, J2, plan, report, in_place=plan["touched"] and not keep_parts)
    lam_r = _damping_resistor(problem.damping, spec, mapping.out_of_range, plan["g_int"])
    report["damping_realised"] = lam_r
    node = _node_parts(problem.N, spec, mapping, plan, lam_r, col_abs_J2, report)
    c, g_in, g_noise, lam_i = node["c"], node["g_in"], node["g_noise"], node["lam_i"]
    d = c * (lam_i + node["leak"])
    v_in = dac(-problem.b * b_scale, spec.dac_bits, spec.v_range_v)
    f = c * (-v_in * g_in) / b_scale
    noise_gain = c * (g_noise * plan["s_int"])           # c_i · R0 / R_noise,i
    has_diag = not _uniform(d)
    symmetric = (J2 is J1) and (Hr is problem.H or np.array_equal(Hr, Hr.T)) and _uniform(c) and _uniform(noise_gain)
    if not has_diag:
        d = np.full(problem.N, float(d[0]))
    if keep_parts:
        yg, g_int, g_h = plan["y_gain"], plan["g_int"], plan["g_h"]
        parts.update(g_int=g_int, g_h=g_h, g_f1=g_int / yg, g_f2=g_h * yg, y_gain=yg, lam=lam_i, g_in=g_in,
                     g_noise=g_noise, cap=node["cap"], v_in=v_in)
    return FactoredBoard(J1=J1, H=Hr, J2=J2, d=d, row=c, f=f, noise_gain=noise_gain,
                         kappa=spec.kappa0_v2 / b_scale**2, tau_s=plan["tau"], b_scale=b_scale, symmetric=symmetric,
                         has_diagonal=has_diag, extra_arrays=plan["extra"], report=report, parts=parts)


def _uniform(a: np.ndarray) -> bool:
    return float(np.ptp(a)) <= 4 * np.finfo(float).eps * float(np.abs(a).max())


def _plan(problem, spec: HardwareSpec, mapping: Mapping) -> dict:
    """Scales, τ and the structural flags of the board (no r×N work): what a dry run returns."""
    J, H, lam = problem.J, problem.H, problem.damping
    yg = resolve_y_gain(mapping.y_gain, J, H)
    jmax, hmax = problem.abs_max_J, float(np.abs(H).max())
    if spec.r_min_ohm is not None:
        s_int = spec.r0_ohm / (spec.r_min_ohm * max(jmax, lam))
        s_h = spec.r0_ohm / (spec.r_min_ohm * hmax) if hmax > 0 else 1.0
    else:
        s_int = s_h = 1.0
    tau = spec.c_farad / (s_int / spec.r0_ohm)
    inv_a0 = 0.0 if spec.opamp.gain is None else 1.0 / spec.opamp.gain
    t = spec.r_tolerance
    gbw_on = spec.opamp.gbw_hz is not None
    quant = spec.resistor_bits is not None
    stochastic = quant and mapping.rounding == "stochastic"
    touched = quant or spec.r_max_ohm is not None or t > 0
    independent = t > 0 or stochastic                      # J1 and J2 realised separately
    node_tol = mapping.node_tolerance and t > 0
    asym = independent or inv_a0 > 0
    ng_uniform = not (spec.c_tolerance > 0 or node_tol or gbw_on)
    return {"y_gain": yg, "s_int": s_int, "s_h": s_h, "g_int": s_int / spec.r0_ohm, "g_h": s_h / spec.r0_ohm,
            "tau": tau, "inv_a0": inv_a0, "gbw_on": gbw_on, "touched": touched, "independent": independent,
            "stochastic": stochastic, "node_tol": node_tol,
            "symmetric_planned": not asym and ng_uniform,
            "has_diagonal_planned": inv_a0 > 0 or spec.c_tolerance > 0 or node_tol or gbw_on,
            "extra": (2 if (independent or (inv_a0 > 0)) else 1) if (touched or inv_a0 > 0) else 0,
            "report": {"scale": s_int, "scale_H": s_h, "tau_s": tau, "y_gain": yg}}


def _realise_arrays(problem, spec: HardwareSpec, mapping: Mapping, plan: dict, report: dict):
    """(J₁, H', J₂): the three programmed arrays, each from its own tolerance and rounding streams."""
    if not plan["touched"]:
        return problem.J, problem.H, problem.J
    tol_ss, round_ss = board_streams(spec)
    ss_j1, ss_h, ss_j2, _ = tol_ss.spawn(4)
    rr_j1, rr_h, rr_j2 = round_ss.spawn(3)
    t = spec.r_tolerance

    def rngs(ss, rr):
        return (np.random.default_rng(ss) if t else None,
                np.random.default_rng(rr) if plan["stochastic"] else None)

    oor, g_int = mapping.out_of_range, plan["g_int"]
    J1 = _realise_array(problem.J, g_int, spec, *rngs(ss_j1, rr_j1), oor, report, "J1")
    J2 = _realise_array(problem.J, g_int, spec, *rngs(ss_j2, rr_j2), oor, report, "J2") if plan["independent"] else J1
    Hr = _realise_array(problem.H, plan["g_h"], spec, *rngs(ss_h, rr_h), oor, report, "H")
    return J1, Hr, J2


def _node_stream(spec: HardwareSpec) -> np.random.SeedSequence:
    """The per-node parts' tolerance stream (the fourth child of the tolerance stream)."""
    return board_streams(spec)[0].spawn(4)[3]


def _fold_finite_gain(J1, Hr, J2, plan: dict, report: dict, in_place: bool):
    """Static op-amps of gain A0 (exact, docs/nonideal.md#gain): a summing stage with feedback conductance g_f and
    inputs g_k gives −(Σ g_k v_k/g_f)/(1 + (1 + Σ g_k/g_f)/A0); a unit inverter −1/(1 + 2/A0). Entries fed
    from an inverter (see Signs above) carry that factor. J₂ is scaled in place when ``in_place`` (the
    realised array is ours and nobody keeps it: memory at N = 1e5)."""
    inv_a0, yg = plan["inv_a0"], plan["y_gain"]
    gam1 = 1.0 / (1.0 + (1.0 + yg * _row_abs_sum(J1)) * inv_a0)       # noise gain 1 + Σ g_j/g_f
    gamH = 1.0 / (1.0 + (1.0 + np.abs(Hr).sum(axis=1) / yg) * inv_a0)
    g_inv = 1.0 / (1.0 + 2.0 * inv_a0)
    J1g = _signed_gain(J1, gam1, pos=g_inv, neg=1.0)
    J2 = _signed_gain(J2, None, pos=1.0, neg=g_inv, out=J2 if in_place else None)
    Hr = _signed_gain(Hr, gamH, pos=g_inv, neg=1.0)
    report.update(stage_gain_min=float(min(gam1.min(), gamH.min())), inverter_gain=g_inv)
    return J1g, Hr, J2


def _damping_resistor(lam: float, spec: HardwareSpec, out_of_range: str, g_int: float) -> float:
    """λ the damping resistor realises: range (an open damping resistor is an error) and quantisation
    (nearest level, one value)."""
    g_lam = g_int * lam
    if spec.r_max_ohm is not None and g_lam < 1.0 / spec.r_max_ohm:
        if out_of_range == "drop":
            raise InputError(f"damping λ = {lam:g} needs a resistor above r_max_ohm = {spec.r_max_ohm:g} Ω; "
                             "raise r_max_ohm or use a larger λ (without it the board is unstable)")
        g_lam = 1.0 / spec.r_max_ohm
    if spec.resistor_bits is not None:
        g_lam = float(quantise_conductance(np.array([g_lam]), spec)[0])
    return g_lam / g_int


def _node_parts(N: int, spec: HardwareSpec, mapping: Mapping, plan: dict, lam_r: float, col_abs_J2, report: dict):
    """Per-node parts (input, noise and damping resistors relative to g, capacitors relative to C), the
    finite-gain leak and the GBW stretch of the integrators."""
    t, s_int, inv_a0, tau = spec.r_tolerance, plan["s_int"], plan["inv_a0"], plan["tau"]
    ones = np.ones(N)
    g_in, g_noise, lam_i, cap = ones.copy(), ones / s_int, lam_r * ones, ones.copy()
    if plan["node_tol"] or spec.c_tolerance:
        z_in, z_noise, z_c, z_damp = np.random.default_rng(_node_stream(spec)).standard_normal((4, N))
        if plan["node_tol"]:
            g_in = 1.0 / (1.0 + t * z_in)
            g_noise = (1.0 / s_int) / (1.0 + t * z_noise)
            lam_i = lam_r / (1.0 + t * z_damp)
        if spec.c_tolerance:
            cap = 1.0 + spec.c_tolerance * z_c
    if plan["gbw_on"]:
        # gbw_model "integrator": the summing node is not a virtual ground, v_s = −(dV/dt)/ω_t, which adds
        # G_s,i/ω_t to C_i for modes slow next to ω_t (stage_time_constants); the stages' lags are left out.
        wt_tau = 2 * math.pi * spec.opamp.gbw_hz * tau
        cap = cap + (col_abs_J2 + lam_i + g_in + g_noise) / wt_tau
        report.update(gbw_model=mapping.gbw_model, integrator_tau_stretch_max=float(cap.max()),
                      integrator_tau_stretch_median=float(np.median(cap)))
    c = 1.0 / (cap * (1.0 + inv_a0))                     # C_nominal / (C_i (1 + 1/A0))
    leak = inv_a0 * (col_abs_J2 + lam_i + g_in + g_noise) if inv_a0 else np.zeros(N)
    if inv_a0:
        report["leak_max"] = float(leak.max())
    return {"c": c, "cap": cap, "leak": leak, "g_in": g_in, "g_noise": g_noise, "lam_i": lam_i}


def resolve_y_gain(y_gain, J: np.ndarray, H: np.ndarray) -> float:
    """The J_f stages' gain γ: y = γ·J₁V, and the H stages' 1/γ (z = H′y/γ), so the loop is unchanged.

    Only the two stages' feedback resistors change (g_f1 = g/γ, g_f2 = g_H·γ); their noise gains become
    1 + γ·Σ|J_row| and 1 + Σ|H_row|/γ, which set the stages' finite-gain error and their lag with a GBW
    pole (:func:`stage_time_constants`). A J_f stage sums N inputs, so at paper scale γ < 1 moves gain
    to the small H stages; the price is a y signal γ times smaller. ``"balance"`` gives the worst rows
    equal noise gains: γ = sqrt(max Σ|H_row| / max Σ|J_row|). Default 1 (both stages unit gain).
    """
    if isinstance(y_gain, str):
        if y_gain != "balance":
            raise InputError(f"y_gain {y_gain!r}: give a number > 0 or 'balance'")
        sj = float(_row_abs_sum(J).max())
        sh = float(np.abs(H).sum(axis=1).max())
        return math.sqrt(sh / sj) if sj > 0 and sh > 0 else 1.0
    g = float(y_gain)
    if not (g > 0 and math.isfinite(g)):
        raise InputError(f"y_gain = {y_gain!r}: the J_f stages' gain must be a finite number > 0 (or 'balance')")
    return g


def _signed_gain(X: np.ndarray, row_gain: np.ndarray | None, pos: float, neg: float,
                 out: np.ndarray | None = None) -> np.ndarray:
    """X with positive entries times ``pos``, negative times ``neg``, row i times row_gain[i]
    (into ``out``, which may be X itself; a new array by default)."""
    out = np.empty_like(X) if out is None else out
    rows = max(1, _BLOCK_BYTES // (8 * X.shape[1]))
    for i in range(0, X.shape[0], rows):
        xc = X[i:i + rows]
        oc = out[i:i + rows]
        np.multiply(xc, np.where(xc > 0, pos, neg), out=oc)
        if row_gain is not None:
            oc *= row_gain[i:i + rows, None]
    return out


def _row_abs_sum(X: np.ndarray) -> np.ndarray:
    rows = max(1, _BLOCK_BYTES // (8 * X.shape[1]))
    return np.concatenate([np.abs(X[i:i + rows]).sum(axis=1) for i in range(0, X.shape[0], rows)])


def lag_loop_rate(a: float, lam: float, tau: float, lags) -> float:
    """Largest real part (1/s) of the roots of (τs + λ)·Π(1 + s·t_i) + a = 0.

    A mode of J₂ᵀH'J₁ with eigenvalue a, fed back to an ideal integrator (τ, damping λ) through
    first-order lags t_i: negative means it decays, positive that the board rings up. The
    integrator's own pole is left out (it is ω_t-fast next to the stages' noise-gain-slowed lags).
    """
    poly = np.poly1d([tau, lam])
    for t in lags:
        poly = poly * np.poly1d([t, 1.0])
    poly = poly + np.poly1d([a])
    return float(np.roots(poly.coeffs).real.max())


def stage_time_constants(J: np.ndarray, H: np.ndarray, spec: HardwareSpec, a_max: float | None = None,
                         lam: float | None = None, tau: float | None = None, y_gain: float = 1.0) -> dict | None:
    """Closed-loop time constants (s) of the board's memoryless stages with one-pole op-amps.

    An inverting stage with feedback conductance g_f and inputs g_j, built on an op-amp with
    dp/dt = ω_t·e − ω_p·p (circuit/opamp.py), is a first-order lag of its static output with rate
    ω_t/(1 + Σ g_j/g_f) + ω_p: the noise gain 1 + Σ|row| divides the bandwidth. The J₁ stages sum
    N inputs, so at paper scale their lag can reach τ. ``loop_lag_max_s`` is the longest path
    integrator → n → y → ny → z → nz → integrator (three inverter lags and the slowest stage of
    each array): the delay the integrators' feedback sees, to compare with τ/λ_max.

    The integrators slow down too: with v_s = −(dV/dt)/ω_t instead of a virtual ground, KCL gives
    node i the time constant τ·(1 + G_s,i/(C·ω_t)) for modes slow next to ω_t, G_s,i/g = Σ_k|J_ki| + λ
    + 2 being all the conductance at its summing node (array column, damping, DAC and noise resistors
    at scale 1) — the GBW analogue of finite gain's τ(1 + 1/A0), per node. So the slowest rate (the
    λ modes, N > r) lies between λ/(τ·max stretch) and λ/(τ·min stretch):
    ``integrator_tau_stretch_max/median/min`` and ``slowest_rate_bounds_per_s``.

    With ``a_max`` (largest eigenvalue of JᵀHJ), ``lam`` and ``tau`` (the integrators' C/g, default
    R0·C), also ``loop_rate_max_per_s`` and
    ``loop_stable`` from :func:`lag_loop_rate` on that worst path (each array's slowest stage: an
    approximation that errs towards instability).

    Returns None without ``opamp.gbw_hz``. Cost O(r·N) (row sums of J).
    """
    op = spec.opamp
    if op.gbw_hz is None:
        return None
    wt = 2 * np.pi * op.gbw_hz
    wp = 0.0 if op.gain is None else wt / op.gain
    ng1 = 1.0 + y_gain * _row_abs_sum(J)        # stage k of J₁: feedback g_int/γ, inputs g_int·|J_kj|
    ng2 = 1.0 + np.abs(H).sum(axis=1) / y_gain  # stage m of H': feedback g_h·γ, inputs g_h·|H_mk|
    tc1 = 1.0 / (wt / ng1 + wp)
    tc2 = 1.0 / (wt / ng2 + wp)
    tc_inv = 1.0 / (wt / 2.0 + wp)
    tau = spec.c_farad * spec.r0_ohm if tau is None else tau
    stretch = 1.0 + (_col_abs_sum(J) + (lam or 0.0) + 2.0) / (wt * tau)
    out = {"tc_J_stage_max_s": float(tc1.max()), "tc_J_stage_median_s": float(np.median(tc1)),
           "tc_H_stage_max_s": float(tc2.max()), "tc_inverter_s": float(tc_inv),
           "noise_gain_J_max": float(ng1.max()),
           "loop_lag_max_s": float(tc1.max() + tc2.max() + 3 * tc_inv),
           "integrator_tau_stretch_max": float(stretch.max()),
           "integrator_tau_stretch_median": float(np.median(stretch)),
           "integrator_tau_stretch_min": float(stretch.min())}
    if lam is not None:
        out["slowest_rate_bounds_per_s"] = [lam / (tau * float(stretch.max())), lam / (tau * float(stretch.min()))]
    if a_max is not None and lam is not None:
        rate = lag_loop_rate(a_max, lam, tau, [tc_inv, float(tc1.max()), tc_inv, float(tc2.max()), tc_inv])
        out.update(loop_rate_max_per_s=rate, loop_stable=bool(rate < 0))
    return out
