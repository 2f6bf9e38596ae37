"""``HardwareSpec``: the single source of truth for what the board is (docs/conventions.md#spec, docs/conventions.md#knobs).

Every non-ideality is its own field; ``0``/``None`` means ideal, so :meth:`HardwareSpec.ideal` is
a test oracle. Specs round-trip through JSON; unknown keys raise ``KeyError`` naming the key.
Units are in the field names.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

from ..core.fingerprint import json_digest

#: Gain used for the SPICE op-amp when the spec says ideal (``opamp.gain = None``). The leak it
#: adds to A_ii, g_tot/(g·A0) (docs/nonideal.md#gain), is ~1e-8 for the matrices we test; the twin
#: treats the ideal op-amp as exact.
IDEAL_SPICE_GAIN = 1e9


#: Physical range of every numeric spec field, (low, high) inclusive; a value outside is refused
#: (the twin and SPICE then have no meaningful answer: τ = R0·C outside ~1e-21…1e15 s, volts beyond
#: a megavolt, gains beyond 1e15 overflow or underflow the arithmetic). Zero, where allowed, means
#: ideal or noiseless and is checked by each field's own rule.
FIELD_RANGES: dict[str, tuple[float, float]] = {
    "r0_ohm": (1e-3, 1e12),
    "c_farad": (1e-18, 1e3),
    "kappa0_v2": (0.0, 1e6),
    "r_min_ohm": (1e-3, 1e15),
    "r_max_ohm": (1e-3, 1e15),
    "v_range_v": (1e-6, 1e6),
    "adc_rate_hz": (1e-6, 1e15),
    "opamp.gain": (1.0, 1e15),
    "opamp.gbw_hz": (1e-6, 1e15),
    "opamp.offset_v": (-1e3, 1e3),
    "opamp.v_sat_v": (1e-6, 1e6),
    "opamp.slew_v_per_s": (1e-6, 1e15),
}


def _check_range(name: str, value) -> None:
    """Refuse a value outside :data:`FIELD_RANGES` (None, meaning ideal, is checked elsewhere)."""
    if value is None or name not in FIELD_RANGES:
        return
    lo, hi = FIELD_RANGES[name]
    if not lo <= value <= hi:
        raise ValueError(f"spec field {name!r} = {value!r} is outside its physical range [{lo:g}, {hi:g}]; "
                         "use a value in that range")


def _is_number(value) -> bool:
    """A real number that is not a boolean (JSON true/false are not volts)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_nonneg(name: str, value, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"spec field {name!r} = {value!r}: must be a finite number ≥ 0")
    _check_range(name, value)


def _check_pos(name: str, value, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"spec field {name!r} = {value!r}: must be a finite number > 0 (or null for ideal)")
    _check_range(name, value)


def _check_bits(name: str, value) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 32:
        raise ValueError(f"spec field {name!r} = {value!r}: bits must be an integer from 1 to 32, or null")


@dataclass(frozen=True, slots=True)
class OpAmpSpec:
    """Op-amp macromodel parameters (docs/nonideal.md#nonideal); ``None`` means ideal.

    Attributes:
        gain: DC open-loop gain A0 (V/V).
        gbw_hz: gain–bandwidth product (Hz), single pole.
        offset_v: input offset voltage (V); 0 is ideal.
        v_sat_v: output saturation, symmetric rails ±v_sat_v (V).
        slew_v_per_s: output slew-rate limit (V/s).
    """

    gain: float | None = None
    gbw_hz: float | None = None
    offset_v: float = 0.0
    v_sat_v: float | None = None
    slew_v_per_s: float | None = None

    def __post_init__(self) -> None:
        _check_pos("opamp.gain", self.gain)
        if self.gain is not None and self.gain < 1:
            raise ValueError(f"spec field 'opamp.gain' = {self.gain!r}: an op-amp gain below 1 cannot integrate")
        _check_pos("opamp.gbw_hz", self.gbw_hz)
        if not _is_number(self.offset_v) or not math.isfinite(self.offset_v):
            raise ValueError(f"spec field 'opamp.offset_v' = {self.offset_v!r}: must be a finite number (volts)")
        _check_range("opamp.offset_v", self.offset_v)
        _check_pos("opamp.v_sat_v", self.v_sat_v)
        _check_pos("opamp.slew_v_per_s", self.slew_v_per_s)
        if self.slew_v_per_s is not None and self.gbw_hz is None:
            raise ValueError("spec field 'opamp.slew_v_per_s' needs 'opamp.gbw_hz' (a static op-amp has no "
                             "internal state to slew); set gbw_hz too")

    @property
    def is_ideal(self) -> bool:
        return (self.gain is None and self.gbw_hz is None and self.offset_v == 0
                and self.v_sat_v is None and self.slew_v_per_s is None)


@dataclass(frozen=True, slots=True)
class HardwareSpec:
    """What the board is. Read by the netlist writer and by the twin; no other module invents values.

    Attributes:
        r0_ohm: unit resistance R0 (Ω); with scale s an entry A_ij becomes R0/(s|A_ij|).
        c_farad: integrator capacitance C (F); τ = R0·C/s.
        kappa0_v2: noise strength κ0 (V²): stationary covariance κ0·A⁻¹. kT/C ≈ 4e-12 V² at 1 nF.
        r_tolerance: relative 1σ Gaussian spread of every resistor (0 = ideal).
        c_tolerance: relative 1σ Gaussian spread of every capacitor (0 = ideal).
        resistor_bits: resolution of the programmable resistors over [r_min_ohm, r_max_ohm]
            (conductance steps uniform in 1/R); None = continuous.
        r_min_ohm: smallest programmable resistance (Ω); None = unlimited.
        r_max_ohm: largest programmable resistance (Ω); entries needing more are dropped.
        dac_bits: DAC resolution on b over ±v_range_v; None = ideal.
        adc_bits: ADC resolution on read-out over ±v_range_v; None = ideal.
        v_range_v: converter full scale (V); also the voltage the mapping scales b into.
        adc_rate_hz: ADC sample rate (Hz); None = read at the simulation output grid.
        opamp: op-amp macromodel.
        board_seed: seed of the static draw of component tolerances (separate from the noise seed).
    """

    r0_ohm: float = 1e3
    c_farad: float = 1e-9
    kappa0_v2: float = 1e-4
    r_tolerance: float = 0.0
    c_tolerance: float = 0.0
    resistor_bits: int | None = None
    r_min_ohm: float | None = None
    r_max_ohm: float | None = None
    dac_bits: int | None = None
    adc_bits: int | None = None
    v_range_v: float = 10.0
    adc_rate_hz: float | None = None
    opamp: OpAmpSpec = field(default_factory=OpAmpSpec)
    board_seed: int = 0

    def __post_init__(self) -> None:
        _check_pos("r0_ohm", self.r0_ohm, allow_none=False)
        _check_pos("c_farad", self.c_farad, allow_none=False)
        _check_nonneg("kappa0_v2", self.kappa0_v2, allow_none=False)
        for name in ("r_tolerance", "c_tolerance"):
            _check_nonneg(name, getattr(self, name), allow_none=False)
            if getattr(self, name) >= 0.3:
                raise ValueError(f"spec field {name!r} = {getattr(self, name)!r}: a relative 1σ of 30% or more "
                                 "makes negative components likely; use a fraction such as 0.01")
        _check_bits("resistor_bits", self.resistor_bits)
        _check_bits("dac_bits", self.dac_bits)
        _check_bits("adc_bits", self.adc_bits)
        _check_pos("r_min_ohm", self.r_min_ohm)
        _check_pos("r_max_ohm", self.r_max_ohm)
        if self.r_min_ohm is not None and self.r_max_ohm is not None and self.r_min_ohm >= self.r_max_ohm:
            raise ValueError(f"spec fields r_min_ohm = {self.r_min_ohm} ≥ r_max_ohm = {self.r_max_ohm}: "
                             "the range must have r_min_ohm < r_max_ohm")
        if self.resistor_bits is not None and (self.r_min_ohm is None or self.r_max_ohm is None):
            raise ValueError("spec field 'resistor_bits' needs r_min_ohm and r_max_ohm (the range it quantises)")
        _check_pos("v_range_v", self.v_range_v, allow_none=False)
        _check_pos("adc_rate_hz", self.adc_rate_hz)
        if not isinstance(self.opamp, OpAmpSpec):
            raise ValueError("spec field 'opamp' must be an object with gain, gbw_hz, offset_v, v_sat_v, slew_v_per_s")
        if not isinstance(self.board_seed, int) or isinstance(self.board_seed, bool) or self.board_seed < 0:
            raise ValueError(f"spec field 'board_seed' = {self.board_seed!r}: must be an integer ≥ 0")

    # -- constructors -------------------------------------------------------------------------
    @classmethod
    def ideal(cls, **overrides: Any) -> "HardwareSpec":
        """The ideal board (TNGD's R0 = 1 kΩ, C = 1 nF); fields can be overridden."""
        return cls(**overrides)

    def replace(self, **changes: Any) -> "HardwareSpec":
        """A copy with fields changed; ``opamp`` accepts a dict of op-amp fields or dotted keys."""
        op_changes = {k.split(".", 1)[1]: changes.pop(k) for k in list(changes) if k.startswith("opamp.")}
        if isinstance(changes.get("opamp"), dict):
            op_changes.update(changes.pop("opamp"))
        bad = [k for k in changes if k not in _FIELD_NAMES]
        if bad:
            raise KeyError(f"unknown spec field {bad[0]!r}; known fields: {', '.join(sorted(_FIELD_NAMES))}")
        bad = [k for k in op_changes if k not in _OPAMP_NAMES]
        if bad:
            raise KeyError(f"unknown spec field 'opamp.{bad[0]}'; known: {', '.join(sorted(_OPAMP_NAMES))}")
        if op_changes:
            changes["opamp"] = dataclasses.replace(self.opamp, **op_changes)
        return dataclasses.replace(self, **changes)

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "opamp"}
        d["opamp"] = {f.name: getattr(self.opamp, f.name) for f in fields(self.opamp)}
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HardwareSpec":
        if not isinstance(data, dict):
            raise ValueError("a spec must be a JSON object of fields; run `thermotwin spec --template`")
        data = dict(data)
        data.pop("$comment", None)
        bad = [k for k in data if k not in _FIELD_NAMES]
        if bad:
            raise KeyError(f"unknown spec field {bad[0]!r}; known fields: {', '.join(sorted(_FIELD_NAMES))}")
        op = data.pop("opamp", {}) or {}
        if not isinstance(op, dict):
            raise ValueError("spec field 'opamp' must be an object")
        bad = [k for k in op if k not in _OPAMP_NAMES]
        if bad:
            raise KeyError(f"unknown spec field 'opamp.{bad[0]}'; known: {', '.join(sorted(_OPAMP_NAMES))}")
        return cls(**data, opamp=OpAmpSpec(**op))

    @classmethod
    def from_json(cls, text: str) -> "HardwareSpec":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"spec is not valid JSON ({exc.msg} at line {exc.lineno}); "
                             "start from `thermotwin spec --template`") from exc
        return cls.from_dict(data)

    @classmethod
    def load(cls, path) -> "HardwareSpec":
        from pathlib import Path

        from ..errors import InputError, UnknownKeyError
        from ..io import read_user_text

        p = Path(path)
        text = read_user_text(p, "spec", "cannot read spec file {p} ({why}); check the path",
                              "{p}: not a UTF-8 text file, so not a spec; start from `thermotwin spec --template`")

        try:
            return cls.from_json(text)
        except KeyError as exc:
            raise UnknownKeyError(f"{p}: {exc.args[0] if exc.args else exc}") from None
        except (TypeError, ValueError) as exc:
            raise InputError(f"{p}: {exc}") from None

    def digest(self) -> str:
        """SHA-256 (16 hex digits) of the canonical JSON, floats at 12 significant digits
        (:mod:`thermotwin.core.fingerprint`): recorded in netlist headers and results."""
        return json_digest(self.to_dict())

    # -- derived ------------------------------------------------------------------------------
    @property
    def is_ideal(self) -> bool:
        return (self.r_tolerance == 0 and self.c_tolerance == 0 and self.resistor_bits is None
                and self.r_min_ohm is None and self.r_max_ohm is None and self.dac_bits is None
                and self.adc_bits is None and self.adc_rate_hz is None and self.opamp.is_ideal)

    def nonideal_fields(self) -> list[str]:
        """Names of the fields that differ from ideal (for messages and ablations)."""
        ideal = HardwareSpec(r0_ohm=self.r0_ohm, c_farad=self.c_farad, kappa0_v2=self.kappa0_v2,
                             v_range_v=self.v_range_v, board_seed=self.board_seed).to_dict()
        mine = self.to_dict()
        out = [k for k in mine if k != "opamp" and mine[k] != ideal[k]]
        out += [f"opamp.{k}" for k in mine["opamp"] if mine["opamp"][k] != ideal["opamp"][k]]
        return out


_FIELD_NAMES = frozenset(f.name for f in fields(HardwareSpec))
_OPAMP_NAMES = frozenset(f.name for f in fields(OpAmpSpec))

FIELD_DOCS: dict[str, str] = {
    "r0_ohm": "unit resistance R0 in ohm; an entry A_ij is R0/(s|A_ij|)",
    "c_farad": "integrator capacitance in farad; tau = R0*C/s",
    "kappa0_v2": "noise strength kappa0 in V^2 (stationary covariance kappa0*A^-1); 0 = noiseless",
    "r_tolerance": "relative 1-sigma Gaussian resistor spread; 0 = ideal",
    "c_tolerance": "relative 1-sigma Gaussian capacitor spread; 0 = ideal",
    "resistor_bits": "programmable-resistor resolution over [r_min_ohm, r_max_ohm]; null = continuous",
    "r_min_ohm": "smallest programmable resistance in ohm; null = unlimited",
    "r_max_ohm": "largest programmable resistance in ohm; larger entries are dropped; null = unlimited",
    "dac_bits": "DAC bits on b over +-v_range_v; null = ideal",
    "adc_bits": "ADC bits on read-out over +-v_range_v; null = ideal",
    "v_range_v": "converter full scale in volt",
    "adc_rate_hz": "ADC sample rate in Hz; null = read at the output grid",
    "opamp.gain": "op-amp DC open-loop gain (V/V); null = ideal",
    "opamp.gbw_hz": "op-amp gain-bandwidth product in Hz; null = ideal",
    "opamp.offset_v": "op-amp input offset in volt; 0 = ideal",
    "opamp.v_sat_v": "op-amp output rails +-v_sat_v in volt; null = ideal",
    "opamp.slew_v_per_s": "op-amp slew-rate limit in V/s; null = ideal",
    "board_seed": "seed of the static draw of tolerances (separate from the noise seed)",
}


def template_json() -> str:
    """The full default spec with a ``$comment`` documenting every field and its unit."""
    d = {"$comment": {k: v for k, v in FIELD_DOCS.items()}}
    d.update(HardwareSpec().to_dict())
    return json.dumps(d, indent=2) + "\n"
