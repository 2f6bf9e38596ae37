"""``realise(problem, spec, mapping) -> Board``: one realisation and one Board type for every problem form.

A :class:`Board` is what was built: the component values (dense array: every resistor, capacitor and
DAC voltage, :class:`~thermotwin.circuit.design.ComponentValues`; three-array board: the realised
arrays and per-node parts, :class:`~thermotwin.circuit.factored.FactoredBoard`), the nominal τ, the
voltage scale and the mapping's report. The steps both forms share (voltage scale, board streams,
range, quantisation, converters) are :mod:`thermotwin.circuit.programming`.

``purpose="spice"`` gives the component values a netlist needs: for the three-array board the op-amp
is left out of the realisation (SPICE simulates the op-amps themselves) and the parts are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core import problem as _problems
from ..core.problem import is_factored
from .design import ComponentValues, Realised, design, realised_matrix
from .factored import FactoredBoard, realise_factored, stage_time_constants
from .mapping import Mapping
from .spec import HardwareSpec

__all__ = ["Board", "realise", "realisation_report"]

#: Op-amp fields a SPICE netlist simulates itself (left out of the three-array realisation).
_SPICE_OPAMP = {"opamp.gain": None, "opamp.v_sat_v": None, "opamp.offset_v": 0.0, "opamp.gbw_hz": None,
                "opamp.slew_v_per_s": None}


@dataclass(frozen=True)
class Board:
    """One realised board.

    Attributes:
        form: ``"dense"`` or ``"factored"`` (the problem's form).
        problem, spec, mapping: what was realised, on what, how.
        tau_s: nominal time constant C/g (s). b_scale: volts per problem unit.
        components: dense form: every component value. arrays: factored form: the realised arrays.
        report: what the mapping did (scale, dropped, clipped, quantisation, ...).
    """

    form: str
    problem: object
    spec: HardwareSpec
    mapping: Mapping
    tau_s: float
    b_scale: float
    components: ComponentValues | None = None
    arrays: FactoredBoard | None = None
    report: dict = field(default_factory=dict)

    @property
    def d(self) -> int:
        return self.problem.d

    @property
    def scale(self) -> float:
        return self.report["scale"]

    @property
    def unit_conductance(self) -> float:
        """g = s/R0 of the integrators' arrays (S)."""
        return self.scale / self.spec.r0_ohm

    def realised(self) -> Realised:
        """What the board computes, dV/dt = −M V + f + noise (dense form: O(d²); factored: the d×d drift,
        refused above DENSE_LIMIT)."""
        if self.components is not None:
            return realised_matrix(self.components, self.spec)
        a = self.arrays
        if self.problem.d > _problems.DENSE_LIMIT:
            raise ValueError(f"d = {self.problem.d} is too large to assemble the realised drift "
                             f"(limit {_problems.DENSE_LIMIT})")
        return Realised(M=a.dense_drift() / a.tau_s, f=a.f * a.b_scale / a.tau_s, tau_s=a.tau_s,
                        noise_gain=a.noise_gain, b_scale=a.b_scale)

    def error_floor(self) -> float:
        """‖A_eff⁻¹b_eff − x*‖/‖x*‖: the error no averaging removes (x* of the problem plus the mapping's damping)."""
        x = self.problem.x_exact if self.mapping.damping == 0 else np.linalg.solve(
            self.problem.dense() + self.mapping.damping * np.eye(self.d), self.problem.b)
        return float(np.linalg.norm(self.realised().x_fixed_point - x) / np.linalg.norm(x))


def realise(problem, spec: HardwareSpec | None = None, mapping: Mapping = Mapping(), *, purpose: str = "twin",
            dry_run: bool = False) -> Board:
    """Map ``problem`` (dense or factored) onto the board ``spec`` describes, with ``mapping``'s options.

    ``purpose``: ``"twin"`` (what the twin simulates) or ``"spice"`` (component values of the netlist);
    ``dry_run`` (factored form): scales and structure only, for memory planning.
    """
    spec = spec or HardwareSpec()
    if purpose not in ("twin", "spice"):
        raise ValueError(f"purpose {purpose!r}: use 'twin' or 'spice'")
    if not is_factored(problem):
        values = design(problem, spec, mapping)
        return Board("dense", problem, spec, mapping, values.nominal_tau_s, values.b_scale, components=values,
                     report=values.report)
    spice = purpose == "spice"
    arrays = realise_factored(problem, spec.replace(**_SPICE_OPAMP) if spice else spec, mapping=mapping,
                              keep_parts=spice, dry_run=dry_run)
    return Board("factored", problem, spec, mapping, arrays.tau_s, arrays.b_scale, arrays=arrays, report=arrays.report)


def realisation_report(problem, spec: HardwareSpec, mapping: Mapping = Mapping(), ensemble: int = 1) -> dict:
    """The ``realise`` command's report (JSON keys), for either form: d, τ, scales, dropped/clipped,
    quantisation, ‖A_eff − A‖_F/‖A‖_F, error floor, the non-ideal fields; dense: A_eff, b_eff and the
    floor of an ensemble of boards with stochastic rounding; factored: N, r, per-array counts, the
    realised damping and the op-amp stages (a_rel_frobenius and error_floor are null above DENSE_LIMIT)."""
    if is_factored(problem):
        return _factored_report(problem, spec, mapping)
    board = realise(problem, spec, mapping)
    real = board.realised()
    values = board.components
    ensemble_floor = None
    if ensemble > 1:
        xs = [realise(problem, spec.replace(board_seed=spec.board_seed + i),
                      Mapping(rounding="stochastic")).realised().x_fixed_point for i in range(ensemble)]
        x = problem.x_exact
        ensemble_floor = float(np.linalg.norm(np.mean(xs, axis=0) - x) / np.linalg.norm(x))
    A_eff = real.A_eff
    return {
        "d": problem.d, "tau_s": board.tau_s, "tau_eff_s": _tau_eff(board),
        "scale": values.scale, "b_scale": values.b_scale,
        "dropped": values.report.get("dropped", 0), "clipped": values.report.get("clipped", 0),
        "quantisation_max_rel": values.report.get("quantisation_max_rel", 0.0),
        "a_rel_frobenius": float(np.linalg.norm(A_eff - problem.A) / np.linalg.norm(problem.A)),
        "error_floor": board.error_floor(), "nonideal_fields": spec.nonideal_fields(),
        "ensemble": ensemble, "ensemble_error_floor": ensemble_floor,
        "A_eff": A_eff.tolist(), "b_eff": real.b_eff.tolist(),
    }


def _tau_eff(board: Board) -> float:
    a0 = board.spec.opamp.gain
    return board.tau_s * (1 + (1 / a0 if a0 else 0.0))


def _factored_report(problem, spec: HardwareSpec, mapping: Mapping) -> dict:
    # the twin's realisation has no op-amp dynamics; a GBW pole is reported as stage lags instead
    dyn = {"opamp.gbw_hz": None, "opamp.slew_v_per_s": None}
    board = realise(problem, spec.replace(**dyn) if spec.opamp.gbw_hz is not None else spec, mapping)
    rep, arrays = board.report, ("J1", "J2", "H")
    out = {
        "d": problem.N, "N": problem.N, "r": problem.r, "tau_s": board.tau_s,
        "tau_eff_s": board.tau_s * (1 + (1 / spec.opamp.gain if spec.opamp.gain else 0.0)),
        "scale": rep["scale"], "scale_H": rep["scale_H"], "b_scale": board.b_scale,
        "damping_realised": rep["damping_realised"],
        "dropped": sum(rep.get(f"{a}_dropped", 0) for a in arrays),
        "clipped": sum(rep.get(f"{a}_clipped", 0) for a in arrays),
        "quantisation_max_rel": max([rep.get(f"{a}_quantisation_max_rel", 0.0) for a in arrays]),
        "arrays": {k: v for k, v in rep.items() if k.startswith(("J1_", "J2_", "H_"))},
        "programmable_resistors": problem.r * (problem.r + 2 * problem.N),
        "a_rel_frobenius": None, "error_floor": None, "nonideal_fields": spec.nonideal_fields(),
        "y_gain": rep["y_gain"],
    }
    out["stages"] = stage_time_constants(problem.J, problem.H, spec, a_max=problem.lambda_max - problem.damping,
                                         lam=problem.damping, tau=board.tau_s, y_gain=out["y_gain"])
    if problem.N <= _problems.DENSE_LIMIT:
        F = problem.dense()
        M = board.arrays.dense_drift()                 # A_eff as for dense: M·τ
        out["a_rel_frobenius"] = float(np.linalg.norm(M - F) / np.linalg.norm(F))
        x = problem.x_exact
        out["error_floor"] = float(np.linalg.norm(np.linalg.solve(M, board.arrays.f) - x) / np.linalg.norm(x))
    return out
