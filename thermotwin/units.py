"""Parsing of times and SI quantities as the CLI accepts them.

Times are seconds with optional SI suffix (``1e-3``, ``10ms``, ``50us``, ``2.5u``) or multiples of
the circuit time constant (``50tau``).
"""

from __future__ import annotations

import math
import re

from .errors import InputError

_SI = {
    "f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "m": 1e-3,
    "": 1.0, "k": 1e3, "meg": 1e6, "g": 1e9,
}
_NUM = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_QTY = re.compile(rf"^\s*({_NUM})\s*(meg|[fpnuµmkg]?)\s*([a-zA-Z]*)\s*$", re.IGNORECASE)
_TAU = re.compile(rf"^\s*({_NUM})\s*\*?\s*tau\s*$", re.IGNORECASE)


def parse_quantity(text: str | float, unit: str = "") -> float:
    """Parse ``"10k"``, ``"1n"``, ``"1e-9F"``, ``"4.7kohm"`` into a float in SI units.

    Args:
        text: the number, with an optional SI prefix and an optional unit name.
        unit: the unit letters that may follow (``"s"``, ``"F"``, ``"ohm"``, ``"V2"``); others are errors.

    Raises:
        InputError (a ValueError): the text is not a finite number with a known prefix.
    """
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = _QTY.match(str(text))
        if not m:
            raise InputError(f"cannot read {text!r} as a number: write e.g. 1e-3, 10m or 10ms")
        num, prefix, rest = m.groups()
        rest_l = rest.lower()
        if unit and rest_l and rest_l != unit.lower():
            # "ms" parses as prefix m + unit s; "m" alone is milli.
            raise InputError(f"unit {rest!r} in {text!r} is not {unit!r}")
        if not unit and rest_l:
            raise InputError(f"unexpected unit {rest!r} in {text!r}")
        value = float(num) * _SI[prefix.lower()]
    if not math.isfinite(value):
        raise InputError(f"{text!r} is not finite")
    return value


def parse_time(text: str | float, tau_s: float | None = None) -> float:
    """Parse a time in seconds (``1e-3``, ``10ms``, ``50us``) or in units of τ (``50tau``).

    Args:
        text: the time.
        tau_s: the circuit time constant in seconds; needed only for ``...tau``.

    Returns:
        The time in seconds (float, finite, ≥ 0).
    """
    if isinstance(text, str):
        m = _TAU.match(text)
        if m:
            if tau_s is None:
                raise InputError(f"{text!r} is in units of tau but no time constant is known here")
            value = float(m.group(1)) * tau_s
        else:
            value = parse_quantity(text, unit="s")
    else:
        value = float(text)
    if not math.isfinite(value) or value < 0:
        raise InputError(f"time {text!r} must be finite and non-negative")
    return value


def format_si(value: float, unit: str = "") -> str:
    """Format ``value`` with an SI prefix, e.g. ``format_si(2.5e-6, 's') == '2.5 µs'``."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}".strip()
    prefixes = [(1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"),
                (1e-9, "n"), (1e-12, "p"), (1e-15, "f")]
    for scale, p in prefixes:
        if abs(value) >= scale * 0.9995:
            return f"{value / scale:.4g} {p}{unit}".strip()
    return f"{value:.3g} {unit}".strip()


def check_number(value, name: str, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                 hi_open: bool = False, integer: bool = False):
    """Return ``value`` if it is a finite (integer) number in the range, else raise ValueError naming
    the option: ``check_number(args.prob, "--prob", 0, 1, lo_open=True, hi_open=True)``.

    Booleans are not numbers. ``lo``/``hi`` None: unbounded on that side."""
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        raise InputError(f"{name} {value!r}: must be {'an integer' if integer else 'a number'}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{name} {value!r}: must be finite")
    lo_bad = lo is not None and (value <= lo if lo_open else value < lo)
    hi_bad = hi is not None and (value >= hi if hi_open else value > hi)
    if lo_bad or hi_bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        rng = (f"in {left}{lo:g}, {hi:g}{right}" if lo is not None and hi is not None
               else f"{'>' if lo_open else '≥'} {lo:g}" if lo is not None else f"{'<' if hi_open else '≤'} {hi:g}")
        shown = f"{value:g}" if isinstance(value, float) or abs(value) < 10**16 else f"{float(value):.3g}" \
            if abs(value) < 10**308 else f"of ~{int(value.bit_length() * 0.30103)} digits"
        raise InputError(f"{name} {shown}: must be {rng}")
    return value


def parse_dims(text: str, option: str = "--dims") -> list[int]:
    """``"4,16,32"`` → [4, 16, 32]: comma-separated whole numbers ≥ 1; an empty list, an empty item
    (``4,,4``) or a non-number is an InputError naming the option."""
    items = [x.strip() for x in str(text).split(",")]
    if not any(items):
        raise InputError(f"{option} {text!r}: give one or more dimensions, e.g. {option} 4,16,32")
    out = []
    for x in items:
        if not x:
            raise InputError(f"{option} {text!r}: an empty item; write the dimensions as 4,16,32")
        try:
            v = float(x.replace("_", ""))
        except ValueError:
            raise InputError(f"{option} {text!r}: {x!r} is not a number; write e.g. 4,16,32") from None
        if not (math.isfinite(v) and v.is_integer() and v >= 1):
            raise InputError(f"{option} {text!r}: {x!r} must be a whole number ≥ 1")
        out.append(int(v))
    return out
