"""``Mapping``: how a problem is mapped onto a board (not what the board is, nor how it is simulated)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

#: ``gbw_model`` values: ``refuse`` (a GBW pole is an error for the factored twin) or ``integrator``.
GBW_MODELS = ("refuse", "integrator")

__all__ = ["Mapping", "GBW_MODELS"]


@dataclass(frozen=True, slots=True)
class Mapping:
    """Every mapping option, for dense and factored problems alike.

    Attributes:
        scale: conductance scale s (g = s/R0). None: 1, or the largest s whose biggest entry still
            fits ``r_min_ohm``. Dense problems only.
        b_scale: factor applied to b (and so to x) in volts. None: 1 unless x* or b would leave
            half of ``v_range_v`` (or of the op-amp rails), then scaled to fit. Dense problems only.
        out_of_range: what to do with entries whose resistance exceeds ``r_max_ohm``:
            ``"drop"`` (open circuit) or ``"clip"`` (use r_max_ohm).
        damping: λ ≥ 0; adds one resistor 1/(g·λ) from o_i to s_i (A → A + λI). Dense problems
            only (a factored problem carries its own λ).
        rounding: resistor (and DAC) quantisation: ``"nearest"`` level, or ``"stochastic"``
            (round up with probability equal to the fractional part, drawn from the board seed),
            which makes the programming error zero-mean so that averaging over boards
            (``--ensemble``) turns an error ε into ~ε² (Aifer et al., arXiv 2401.16231).
        y_gain: factored boards: gain γ of the J_f summing stages (the H stages get 1/γ), a number
            > 0 or ``"balance"`` (:func:`thermotwin.circuit.factored.resolve_y_gain`).
        gbw_model: factored twin with ``opamp.gbw_hz``: ``"refuse"`` or ``"integrator"`` (the
            integrators' slow-down; stage lags left out). SPICE simulates the poles themselves.
        node_tolerance: factored boards: the per-node resistors (damping, input, noise) get the
            resistor tolerance too (dense boards always draw them).
    """

    scale: float | None = None
    b_scale: float | None = None
    out_of_range: str = "drop"
    damping: float = 0.0
    rounding: str = "nearest"
    y_gain: float | str = 1.0
    gbw_model: str = "refuse"
    node_tolerance: bool = False

    def __post_init__(self) -> None:
        if self.rounding not in ("nearest", "stochastic"):
            raise ValueError(f"mapping rounding = {self.rounding!r}: use 'nearest' or 'stochastic'")
        for name in ("scale", "b_scale"):
            v = getattr(self, name)
            if v is not None and not (np.isfinite(v) and v > 0):
                raise ValueError(f"mapping {name} = {v!r} must be a finite number > 0")
        if self.out_of_range not in ("drop", "clip"):
            raise ValueError(f"mapping out_of_range = {self.out_of_range!r}: use 'drop' or 'clip'")
        if not (np.isfinite(self.damping) and self.damping >= 0):
            raise ValueError(f"mapping damping = {self.damping!r} must be ≥ 0")
        if self.gbw_model not in GBW_MODELS:
            raise ValueError(f"gbw_model {self.gbw_model!r}: use one of {', '.join(GBW_MODELS)}")
        if isinstance(self.y_gain, str):
            if self.y_gain != "balance":
                raise InputError(f"y_gain {self.y_gain!r}: give a number > 0 or 'balance'")
        elif not (isinstance(self.y_gain, (int, float)) and self.y_gain > 0 and math.isfinite(self.y_gain)):
            raise InputError(f"y_gain = {self.y_gain!r}: the J_f stages' gain must be a finite number > 0 "
                             "(or 'balance')")

    def dense_only_fields(self) -> list[str]:
        """The options set here that only a dense board has."""
        return [n for n, off in (("scale", self.scale is None), ("b_scale", self.b_scale is None),
                                 ("damping", self.damping == 0)) if not off]
