"""The op-amp macromodel, written once (docs/conventions.md#macromodel, docs/nonideal.md#nonideal).

One model feeds both the SPICE primitives (:func:`spice_lines`) and the twin's vector field
(:class:`OpAmpParams`, used by :mod:`thermotwin.solver.circuit_field`):

* no gain–bandwidth (``gbw_hz`` null): static, out = clip(A0·(v₊ − v₋ + V_os), ±v_sat);
  A0 null means ideal (SPICE uses :data:`IDEAL_SPICE_GAIN`).
* single pole (``gbw_hz`` set): an internal pole node p with
  dp/dt = clip(ω_t·e, ±SR) − ω_p·p, e = v₊ − v₋ + V_os, ω_t = 2π·GBW, ω_p = ω_t/A0 (0 for
  ideal A0); out = clip(p, ±v_sat). In SPICE: a transconductance (or a clipped B-source current
  for slew) gm = ω_t·C_p into C_p ∥ R_p = A0/gm, and an output buffer (clipped B-source for rails).
* ``slew_v_per_s`` needs ``gbw_hz`` (a static op-amp has no internal state to slew).

The + input of every op-amp is the node ``vos`` held at V_os (or ground), which is where the
input offset enters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .spec import IDEAL_SPICE_GAIN, HardwareSpec

#: Capacitance of the internal pole node in the SPICE macromodel (its value is arbitrary: only
#: ω_t = gm/C_p and ω_p = 1/(R_p C_p) matter).
POLE_CAP_F = 1e-9


@dataclass(frozen=True, slots=True)
class OpAmpParams:
    """Numbers of the macromodel, in SI units. ``inf`` means ideal."""

    a0: float          # DC gain (inf = ideal)
    wt: float          # unity-gain angular frequency 2π·GBW (inf = no pole)
    wp: float          # pole angular frequency wt/a0 (0 for ideal a0; inf when no pole)
    v_sat: float       # rails ± (inf = none)
    slew: float        # V/s (inf = none)
    vos: float         # input offset (V)

    @property
    def has_pole(self) -> bool:
        return math.isfinite(self.wt)

    @classmethod
    def from_spec(cls, spec: HardwareSpec) -> "OpAmpParams":
        op = spec.opamp
        a0 = math.inf if op.gain is None else float(op.gain)
        wt = math.inf if op.gbw_hz is None else 2 * math.pi * op.gbw_hz
        if op.slew_v_per_s is not None and op.gbw_hz is None:
            raise ValueError("spec field 'opamp.slew_v_per_s' needs 'opamp.gbw_hz' (a static op-amp has no "
                             "internal state to slew); set gbw_hz too")
        wp = (0.0 if math.isinf(a0) else wt / a0) if math.isfinite(wt) else math.inf
        return cls(a0=a0, wt=wt, wp=wp,
                   v_sat=math.inf if op.v_sat_v is None else float(op.v_sat_v),
                   slew=math.inf if op.slew_v_per_s is None else float(op.slew_v_per_s),
                   vos=float(op.offset_v))


def _clip_expr(expr: str, limit: float, fmt) -> str:
    return f"min(max({expr}, {fmt(-limit)}), {fmt(limit)})"


def spice_lines(name: str, inp: str, inn: str, out: str, pole: str, params: OpAmpParams, fmt) -> list[str]:
    """SPICE primitives of one op-amp: + input ``inp``, − input ``inn``, output ``out``.

    ``pole`` names the internal pole node (used only with a gain–bandwidth pole), so that
    ``.ic`` can set it.
    """
    a0 = params.a0 if math.isfinite(params.a0) else IDEAL_SPICE_GAIN
    if not params.has_pole:
        if math.isfinite(params.v_sat):
            return [f"B{name} {out} 0 V = {_clip_expr(f'{fmt(a0)}*(v({inp})-v({inn}))', params.v_sat, fmt)}"]
        return [f"E{name} {out} 0 {inp} {inn} {fmt(a0)}"]
    gm = params.wt * POLE_CAP_F
    lines = []
    if math.isfinite(params.slew):
        imax = params.slew * POLE_CAP_F
        lines.append(f"B{name}g 0 {pole} I = {_clip_expr(f'{fmt(gm)}*(v({inp})-v({inn}))', imax, fmt)}")
    else:
        lines.append(f"G{name}g 0 {pole} {inp} {inn} {fmt(gm)}")
    lines.append(f"C{name}p {pole} 0 {fmt(POLE_CAP_F)}")
    if math.isfinite(params.a0):
        lines.append(f"R{name}p {pole} 0 {fmt(params.a0 / gm)}")
    if math.isfinite(params.v_sat):
        lines.append(f"B{name}o {out} 0 V = {_clip_expr(f'v({pole})', params.v_sat, fmt)}")
    else:
        lines.append(f"E{name}o {out} 0 {pole} 0 1")
    return lines
