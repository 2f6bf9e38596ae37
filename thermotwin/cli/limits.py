"""The allowed range of every count and number option of every command, checked in one place
(:func:`check_option_ranges`, called by :func:`thermotwin.cli.main` before any command runs): a
value outside it is one error line naming the option and the range (issue 16: ``timing --n-params
1e300`` overflowed, ``validate-timing --seeds 100000`` started a run).

The bounds are generous sanity limits, not budgets: memory and time are checked by the commands
themselves (:mod:`thermotwin.core.memory`) once the sizes are known."""

from __future__ import annotations

from ..units import check_number

__all__ = ["OPTION_RANGES", "check_option_ranges"]

#: args attribute → (option, lo, hi, integer, lo_open). ``--seed`` takes any 64-bit seed (SPICE
#: seeds are mapped, docs/noise.md); the timing model's counts stop where a float product
#: (N·b·d_z resistors) stays exact to well under 1 %.
OPTION_RANGES = {
    "seed": ("--seed", 0, 2**64 - 1, True, False),
    "ensemble": ("--ensemble", 1, 10_000, True, False),
    "timeout": ("--timeout", 0, 1e7, False, True),
    "n_params": ("--n-params", 1, 10**12, True, False),
    "batch": ("--batch", 1, 10**6, True, False),
    "dz": ("--dz", 1, 10**6, True, False),
    "bits": ("--bits", 1, 64, True, False),
    "link_gbps": ("--link-gbps", 0, 1e6, False, True),
    "seeds": ("--seeds", 1, 100, True, False),
    "workers": ("--workers", 1, 1024, True, False),
    "n": ("--n", 1, 10**9, True, False),
    "r": ("--r", 1, 100_000, True, False),
    "big": ("--big", 0, 100_000, True, False),
    "saturating": ("--saturating", 0, 10_000, True, False),
    "scale": ("--scale", 0, 1e6, False, True),
    "damping": ("--damping", 0, 1e6, False, True),
    "y_gain": ("--y-gain", 1e-6, 1e6, False, False),      # or the word 'balance'
}


def check_option_ranges(args) -> None:
    """Raise one InputError line for the first option of ``args`` outside its range (None = not given)."""
    for attr, (option, lo, hi, integer, lo_open) in OPTION_RANGES.items():
        value = getattr(args, attr, None)
        if value is not None and not isinstance(value, str):      # words ('balance') are checked by the command
            check_number(value, option, lo, hi, integer=integer, lo_open=lo_open)
