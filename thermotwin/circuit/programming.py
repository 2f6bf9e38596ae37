"""The steps every realisation shares, dense array or three-array board, written once.

* :func:`board_streams`: the board's random streams (tolerance draws and stochastic rounding) from
  ``spec.board_seed``, apart from the noise seed, so the time step never reshuffles a board.
* :func:`voltage_scale`: volts per problem unit — x* and b inside half the converter range (and the
  op-amp rails).
* :func:`check_r_min`, :func:`limit_range`: the resistor range (an entry needing more than
  ``r_max_ohm`` is dropped or clipped, one below ``r_min_ohm`` is an error).
* :func:`quantise`: resistor levels (nearest or stochastic), :func:`dac` / :func:`adc_readout`: the
  converters.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .spec import HardwareSpec

__all__ = ["board_streams", "voltage_scale", "check_r_min", "limit_range", "quantise", "quantise_conductance",
           "dac", "adc_readout"]


def board_streams(spec: HardwareSpec) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """(tolerance, rounding) seed sequences of the board ``spec.board_seed`` describes."""
    tol_ss, round_ss = np.random.SeedSequence(spec.board_seed).spawn(2)
    return tol_ss, round_ss


def voltage_scale(x_star: np.ndarray, b: np.ndarray, spec: HardwareSpec, override: float | None = None) -> float:
    """The mapping's b_scale: 1 unless x* or b would leave half of ``v_range_v`` (or of the op-amp
    rails), then scaled to fit; never an amplification. ``override``: the user's choice."""
    if override is not None:
        return override
    peak = max(float(np.abs(x_star).max()), float(np.abs(b).max()), 1e-300)
    limit = 0.5 * spec.v_range_v
    if spec.opamp.v_sat_v is not None:
        limit = min(limit, 0.5 * spec.opamp.v_sat_v)
    return 1.0 if peak <= limit else limit / peak


def check_r_min(gc: np.ndarray, spec: HardwareSpec, what: str, fix: str = "") -> None:
    """InputError when a conductance needs a resistor below ``r_min_ohm``."""
    if spec.r_min_ohm is not None and np.any(gc > 1.0 / spec.r_min_ohm * (1 + 1e-12)):
        raise InputError(f"{what} needs resistors below r_min_ohm = {spec.r_min_ohm:g}{fix}")


def limit_range(gc: np.ndarray, present: np.ndarray, spec: HardwareSpec, out_of_range: str):
    """Entries whose resistance would exceed ``r_max_ohm``: ``drop`` (open circuit) or ``clip``.

    Returns (gc, present, n_dropped, n_clipped) (new arrays when anything changed)."""
    if spec.r_max_ohm is None:
        return gc, present, 0, 0
    small = present & (gc < 1.0 / spec.r_max_ohm)
    n_small = int(small.sum())
    if not n_small:
        return gc, present, 0, 0
    if out_of_range == "drop":
        return np.where(small, 0.0, gc), present & ~small, n_small, 0
    return np.where(small, 1.0 / spec.r_max_ohm, gc), present, 0, n_small


def _round(t: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """Nearest integer, or stochastic rounding (unbiased) when a generator is given."""
    if rng is None:
        return np.rint(t)
    lo = np.floor(t)
    return lo + (rng.random(t.shape) < (t - lo))


def quantise_conductance(gc: np.ndarray, spec: HardwareSpec, rng=None) -> np.ndarray:
    """Conductances on the spec's grid of 2^resistor_bits levels between 1/r_max and 1/r_min."""
    gmin, gmax = 1.0 / spec.r_max_ohm, 1.0 / spec.r_min_ohm
    levels = 2 ** spec.resistor_bits - 1
    step = (gmax - gmin) / levels
    k = np.clip(_round((gc - gmin) / step, rng), 0, levels)
    return gmin + k * step


def quantise(gc: np.ndarray, present: np.ndarray, spec: HardwareSpec, rng=None) -> tuple[np.ndarray, float]:
    """(quantised conductances, largest relative change among present entries); absent stay 0."""
    gq = np.where(present, quantise_conductance(gc, spec, rng), 0.0)
    if not present.any():
        return gq, 0.0
    return gq, float((np.abs(gq - gc)[present] / gc[present]).max())


def dac(v: np.ndarray, bits: int | None, full_scale: float, rng=None) -> np.ndarray:
    """A converter of ``bits`` over ±full_scale (None: exact)."""
    if bits is None:
        return v
    lsb = 2.0 * full_scale / 2 ** bits
    return np.clip(_round(v / lsb, rng) * lsb, -full_scale, full_scale - lsb)


def adc_readout(volts: np.ndarray, spec: HardwareSpec) -> np.ndarray:
    """ADC quantisation of node voltages at read-out (all backends): ``adc_bits`` over ±v_range_v."""
    return dac(volts, spec.adc_bits, spec.v_range_v)
