"""Every verdict rule of validate-timing reaches all three outcomes on synthetic inputs (issue 14).

The inputs are made-up per-seed losses, ratios and exponents; each case says which outcome it
must give. No torch needed."""

from __future__ import annotations

import math

import pytest

from thermotwin.tngd import rules as R

H, N, U = R.HOLDS, R.NOT, R.UNSURE

CASES = [
    # as_good_as: within 5 % on every seed / behind on every seed / mixed / one seed
    ("as_good_as", ([1.00, 1.02, 0.99], [1.0, 1.0, 1.0]), H),
    ("as_good_as", ([1.10, 1.20, 1.07], [1.0, 1.0, 1.0]), N),
    ("as_good_as", ([1.00, 1.20, 1.01], [1.0, 1.0, 1.0]), U),
    ("as_good_as", ([1.00], [1.0]), U),
    ("as_good_as", ([math.nan, math.nan], [1.0, 1.0]), N),          # diverged runs are infinitely worse
    # better_than: separated gains / no gain / gains but overlapping ranges / mixed seeds / one seed
    ("better_than", ([0.80, 0.82, 0.81], [1.0, 1.01, 0.99]), H),
    ("better_than", ([1.00, 1.02, 1.01], [1.0, 1.01, 0.99]), N),
    ("better_than", ([0.80, 0.95, 0.70], [0.82, 1.00, 0.97]), U),   # every seed gains, ranges overlap
    ("better_than", ([0.80, 1.05, 0.81], [1.0, 1.0, 1.0]), U),
    ("better_than", ([0.5], [1.0]), U),
    # worse_than (κ0 = 0.1 hurts)
    ("worse_than", ([1.30, 1.32, 1.31], [1.0, 1.01, 0.99]), H),
    ("worse_than", ([1.00, 1.01, 0.99], [1.0, 1.01, 0.99]), N),
    ("worse_than", ([1.30, 1.00, 1.31], [1.0, 1.01, 0.99]), U),
    # ratio_at_least
    ("ratio_at_least", (80.0, 120.0), H),
    ("ratio_at_least", (3.0, 5.0), N),
    ("ratio_at_least", (20.0, 40.0), U),
    ("ratio_at_least", (math.nan, math.nan), U),
    # peaks_inside
    ("peaks_inside", ([5, 10, 20, 40], [2, 9, 5, 1], [3, 10, 6, 2]), H),
    ("peaks_inside", ([5, 10, 20, 40], [9, 5, 3, 1], [10, 6, 4, 2]), N),
    ("peaks_inside", ([5, 10, 20, 40], [4, 4.5, 4, 4], [6, 6, 6, 6]), U),
    # exponent_near
    ("exponent_near", (1.02, 0.03), H),
    ("exponent_near", (2.9, 0.05), N),
    ("exponent_near", (1.15, 0.1), U),
    ("exponent_near", (math.nan, 0.1), U),
    # subdominant (analog time needed, configuration time)
    ("subdominant", (1.3e-4, 4.2e-3), H),
    ("subdominant", (5e-3, 4.2e-3), N),
    ("subdominant", (2e-3, 4.2e-3), U),
    ("subdominant", (4e-4, 4.2e-3, True), U),                       # only a lower bound on the analog time
    # needs_hardware (≈ 2× Adam on an A100)
    ("needs_hardware", (1.8, 3.0, "an A100"), H),
    ("needs_hardware", (7.0, 3.0, "an A100"), N),
    ("needs_hardware", (None, 3.0, "an A100"), U),
    # at_most (device error at 50τ ≤ 10 %)
    ("at_most", ([0.05, 0.08], 0.1), H),
    ("at_most", ([0.3, 0.31], 0.1), N),
    ("at_most", ([0.05, 0.31], 0.1), U),
]


@pytest.mark.parametrize("rule, args, expected", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_outcome(rule, args, expected):
    v = getattr(R, rule)(*args)
    assert v.verdict == expected, v.reason
    assert v.reason


def test_every_rule_reaches_all_three_outcomes():
    """The table above covers holds / does not hold / cannot tell for every simple rule."""
    seen = {}
    for rule, _, expected in CASES:
        seen.setdefault(rule, set()).add(expected)
    assert all(outcomes == {H, N, U} for outcomes in seen.values()), seen


LOSS_T = {
    # Fig. 4a: steady improvement / none / a step backwards on every seed / overlapping seeds
    H: {5: [1.0, 1.02, 0.98], 10: [0.9, 0.92, 0.9], 20: [0.85, 0.86, 0.84], 50: [0.8, 0.81, 0.79]},
    N: {5: [1.0, 1.02, 0.98], 10: [1.0, 1.02, 0.98], 20: [1.0, 1.02, 0.98], 50: [1.0, 1.02, 0.98]},
    U: {5: [1.0, 1.02, 0.98], 10: [0.9, 1.1, 0.8], 20: [0.85, 0.86, 0.84], 50: [0.8, 0.95, 0.79]},
}


@pytest.mark.parametrize("expected", [H, N, U])
def test_improves_with_t(expected):
    v = R.improves_with(LOSS_T[expected])
    assert v.verdict == expected, v.reason


def test_improves_with_t_catches_a_step_backwards():
    d = {5: [1.0, 1.0], 10: [0.7, 0.7], 20: [0.9, 0.9], 50: [0.8, 0.8]}   # 10τ → 20τ worse on every seed
    assert R.improves_with(d).verdict == N


DELAY = [
    # (delay, no delay, NGD) per seed, expected
    (([0.80, 0.81], [1.00, 1.01], [0.90, 0.91]), H),     # delay beats NGD, no delay does not
    (([0.95, 0.96], [1.00, 1.01], [0.90, 0.91]), N),     # delay does not beat NGD
    (([0.80, 0.81], [0.79, 0.80], [0.90, 0.91]), U),     # no delay beats NGD just as well
    (([0.70, 0.71], [0.80, 0.81], [0.90, 0.91]), H),     # both beat NGD, delay also beats no delay
    (([0.80, 0.92], [1.00, 1.01], [0.90, 0.91]), U),     # seeds disagree
]


@pytest.mark.parametrize("args, expected", DELAY)
def test_delay_beats_ngd(args, expected):
    v = R.delay_beats_ngd(*args)
    assert v.verdict == expected, v.reason


@pytest.mark.parametrize("parts, expected", [((H, H), H), ((H, N, U), N), ((H, U), U)])
def test_all_of(parts, expected):
    assert R.all_of([R.Verdict(p, p) for p in parts]).verdict == expected


@pytest.mark.parametrize("parts, expected", [((N, H), H), ((N, N), N), ((N, U), U)])
def test_any_of(parts, expected):
    assert R.any_of([R.Verdict(p, p) for p in parts]).verdict == expected


def test_verdict_rejects_unknown_outcome():
    with pytest.raises(ValueError):
        R.Verdict("maybe", "")
