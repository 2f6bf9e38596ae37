"""Per-iteration timing model of TNGD (arXiv 2405.13817, App. C); its commands are in :mod:`thermotwin.cli.timing`.

App. C of the paper lists four steps per iteration of the scaled-up circuit — the DAC of the
gradient (N values), programming the b·d_z(b·d_z + 2N) resistors of its three arrays, the analog
run for a time t, and the ADC of the N read-out values — and assumes 16 bits per value, a 50 Gb/s
link, R = 1 kΩ and C = 1 nF (τ = 1 µs). It says the digital steps dominate, the RC time being
sub-dominant to "setting the configuration"; it gives no formula and no milliseconds. The model
here is our arithmetic from those assumptions, one ``link_gbps`` link at ``bits`` bits per value
carrying everything:

* DAC:        N values (the right-hand side ∇ℓ)                       → bits·N / rate
* programming: b·d_z(b·d_z + 2N) resistor values (J_f, H_L, J_fᵀ)      → bits·b·d_z(b·d_z + 2N) / rate
* analog:     t = m·τ with τ = R0·C                                   → m·R0·C
* ADC:        N values (the read-out g̃)                               → bits·N / rate

transfer = DAC + programming + ADC = bits·(2N + b·d_z(b·d_z + 2N)) / rate — derived here, not quoted
from the paper: ≈ 4.2 ms at N = 10⁴, b·d_z = 640 (12.4 ms at 3·10⁴, 41.2 ms at 10⁵), ~99.8 % of it
programming. The digital part (∇ℓ, J_f, H_L by autodiff) is measured, not modelled
(:mod:`thermotwin.tngd.costs`).

Cost: O(1); no heavy imports. ``validate-timing`` lives in :mod:`thermotwin.tngd.validate` and
needs the optional extra ``timing`` (torch, scikit-learn).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

#: The assumptions App. C of the paper states.
PAPER_BITS = 16
PAPER_LINK_GBPS = 50.0
PAPER_R0_OHM = 1e3
PAPER_C_FARAD = 1e-9

#: Output keys of :func:`breakdown` that the issue fixes as a contract.
CONTRACT_KEYS = ("dac_s", "program_s", "analog_s", "adc_s", "transfer_s", "total_s")


@dataclass(frozen=True, slots=True)
class TimingModel:
    """Assumptions of the per-iteration timing model.

    Attributes:
        bits: bits per transferred value.
        link_gbps: digital ↔ analog link rate, Gb/s (10⁹ bit/s).
        r0_ohm, c_farad: τ = R0·C (s).
    """

    bits: int = PAPER_BITS
    link_gbps: float = PAPER_LINK_GBPS
    r0_ohm: float = PAPER_R0_OHM
    c_farad: float = PAPER_C_FARAD

    def __post_init__(self) -> None:
        if not isinstance(self.bits, int) or isinstance(self.bits, bool) or not 1 <= self.bits <= 64:
            raise ValueError(f"bits = {self.bits!r}: give an integer from 1 to 64")
        for name in ("link_gbps", "r0_ohm", "c_farad"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} = {v!r}: must be a finite number > 0")

    @property
    def tau_s(self) -> float:
        return self.r0_ohm * self.c_farad

    @property
    def rate_bps(self) -> float:
        return self.link_gbps * 1e9

    def seconds_for(self, n_values: float) -> float:
        """Time to move ``n_values`` values over the link."""
        return self.bits * n_values / self.rate_bps

    def breakdown(self, n_params: int, batch: int = 64, d_z: int = 10, t_analog_tau: float = 50.0,
                  digital_s: float | None = None) -> dict:
        """Per-iteration times in seconds (keys :data:`CONTRACT_KEYS` plus context).

        ``total_s`` = transfer + analog (+ digital when given; ``digital_s`` is then reported).
        """
        n, bdz = _check_sizes(n_params, batch, d_z)
        if not (math.isfinite(t_analog_tau) and t_analog_tau >= 0):
            raise ValueError(f"analog time {t_analog_tau!r} τ must be finite and ≥ 0")
        n_res = bdz * (bdz + 2 * n)
        dac = self.seconds_for(n)
        adc = self.seconds_for(n)
        program = self.seconds_for(n_res)
        analog = t_analog_tau * self.tau_s
        transfer = dac + program + adc
        total = transfer + analog + (digital_s or 0.0)
        return {
            "dac_s": dac, "program_s": program, "analog_s": analog, "adc_s": adc,
            "transfer_s": transfer, "total_s": total, "digital_s": digital_s,
            "n_params": n, "batch": int(batch), "d_z": int(d_z), "b_dz": bdz, "n_resistors": n_res,
            "t_analog_tau": float(t_analog_tau), "tau_s": self.tau_s,
            "program_fraction_of_transfer": program / transfer,
            "assumptions": asdict(self),
        }


def _check_sizes(n_params, batch, d_z) -> tuple[int, int]:
    for name, v in (("n_params", n_params), ("batch", batch), ("d_z", d_z)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} = {v!r}: must be an integer ≥ 1")
    return int(n_params), int(batch) * int(d_z)


def transfer_seconds(n_params: int, b_dz: int, bits: int = PAPER_BITS, link_gbps: float = PAPER_LINK_GBPS) -> float:
    """bits·(2N + b·d_z(b·d_z + 2N)) / rate: DAC + ADC + resistor programming (our arithmetic from
    App. C's assumptions; the paper gives no formula)."""
    return bits * (2 * n_params + b_dz * (b_dz + 2 * n_params)) / (link_gbps * 1e9)
