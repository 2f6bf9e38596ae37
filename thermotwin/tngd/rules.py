"""Verdict rules of ``validate-timing``: pure functions of measured numbers.

Every rule takes measured inputs only (per-seed final losses, measured ratios with their spread,
fitted exponents with their standard error, measured settling times) and returns a
:class:`Verdict` — ``holds``, ``does not hold`` or ``cannot tell`` — with a one-line reason built
from those inputs. Each rule can reach all three outcomes (tests/test_tngd_rules.py drives each
one there with synthetic inputs). The thresholds are fixed here, before any run:

* seeds: a comparison of training runs needs ≥ :data:`MIN_SEEDS` seeds; with fewer the spread is
  unknown and the rule says ``cannot tell``. Runs of the same seed share init and batches, so
  comparisons are per seed (paired).
* :data:`SAME_TOL` = 5 %: "as good as" allows a final loss up to 5 % above the reference.
* :data:`GAIN_TOL` = 1 %: "better" needs a gain of at least 1 % on every seed *and* the two seed
  ranges must not overlap.
* speed ratios: a ratio is known as a range (fastest baseline repeat against slowest TNGD repeat
  and the reverse); "≈ 100×" holds when the whole range is ≥ :data:`APPROX_100_FLOOR` = 30 (within
  about half a decade of 100), does not hold when the whole range is below it.
* exponents: "linear in N" holds when the fitted exponent's 2σ interval lies inside 1 ± 0.2, does
  not hold when it lies outside.
* "sub-dominant": the configuration time is at least :data:`SUBDOMINANT_FACTOR` = 3× the analog
  time needed → holds; at most equal → does not hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HOLDS = "holds"
NOT = "does not hold"
UNSURE = "cannot tell"
VERDICTS = (HOLDS, NOT, UNSURE)

MIN_SEEDS = 2
SAME_TOL = 0.05
GAIN_TOL = 0.01
APPROX_100_FLOOR = 30.0
LINEAR_BAND = 0.2
SUBDOMINANT_FACTOR = 3.0


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reason: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")


def _arr(x) -> np.ndarray:
    a = np.asarray(x, float).ravel()
    return np.where(np.isnan(a), np.inf, a)         # a diverged run counts as an infinite loss


def _pct(v: np.ndarray) -> str:
    return ", ".join(f"{x:+.1%}" if math.isfinite(x) else "diverged" for x in v)


def as_good_as(a, ref, tol: float = SAME_TOL) -> Verdict:
    """Final losses ``a`` at most ``tol`` above ``ref`` on every seed (paired; lower is better)."""
    a, ref = _arr(a), _arr(ref)
    if a.size < MIN_SEEDS:
        return Verdict(UNSURE, f"{a.size} seed(s): the seed spread is unknown (need ≥ {MIN_SEEDS})")
    rel = (a - ref) / np.abs(ref)
    if np.all(rel <= tol):
        return Verdict(HOLDS, f"every seed within {tol:.0%} of the reference (per seed {_pct(rel)})")
    if np.all(rel > tol):
        return Verdict(NOT, f"every seed more than {tol:.0%} behind the reference (per seed {_pct(rel)})")
    return Verdict(UNSURE, f"the seeds disagree about a > {tol:.0%} gap (per seed {_pct(rel)})")


def better_than(a, ref, tol: float = GAIN_TOL) -> Verdict:
    """``a`` lower than ``ref`` (losses or error rates): every seed's gain (ref − a)/|ref| ≥ ``tol``
    and the seed ranges do not overlap → holds; no seed reaches the gain → does not hold."""
    a, ref = _arr(a), _arr(ref)
    if a.size < MIN_SEEDS:
        return Verdict(UNSURE, f"{a.size} seed(s): the seed spread is unknown (need ≥ {MIN_SEEDS})")
    gain = (ref - a) / np.abs(ref)
    txt = f"gain per seed {_pct(gain)}"
    if np.all(gain >= tol):
        if a.max() < ref.min():
            return Verdict(HOLDS, f"every seed better by ≥ {tol:.0%} and the seed ranges do not overlap ({txt})")
        return Verdict(UNSURE, f"every seed better by ≥ {tol:.0%} but the seed ranges overlap ({txt})")
    if np.all(gain < tol):
        return Verdict(NOT, f"no seed better by {tol:.0%} ({txt})")
    return Verdict(UNSURE, f"the seeds disagree ({txt})")


def worse_than(a, ref, tol: float = SAME_TOL) -> Verdict:
    """``a`` hurts: higher than ``ref`` by more than ``tol`` on every seed, ranges apart."""
    v = better_than(ref, a, tol)
    return Verdict(v.verdict, v.reason.replace("better", "worse").replace("gain", "loss increase"))


def improves_with(losses_by_t: dict, tol: float = SAME_TOL) -> Verdict:
    """Fig. 4a "improves steadily with t": ``losses_by_t`` maps t (ascending) to per-seed final losses.

    Holds when the longest t is better than the shortest (:func:`better_than`, ``GAIN_TOL``) and no
    step to a longer t is worse by more than ``tol`` on any seed; does not hold when the longest t
    is not better or some step is worse by more than ``tol`` on every seed; else cannot tell."""
    ts = sorted(losses_by_t)
    if len(ts) < 2:
        return Verdict(UNSURE, "fewer than two analog times")
    first = better_than(losses_by_t[ts[-1]], losses_by_t[ts[0]])
    steps = [(_arr(losses_by_t[b]) - _arr(losses_by_t[a])) / np.abs(_arr(losses_by_t[a]))
             for a, b in zip(ts[:-1], ts[1:])]
    worse_all = [f"{a:g}τ→{b:g}τ" for (a, b), s in zip(zip(ts[:-1], ts[1:]), steps) if np.all(s > tol)]
    worse_any = [f"{a:g}τ→{b:g}τ" for (a, b), s in zip(zip(ts[:-1], ts[1:]), steps) if np.any(s > tol)]
    head = f"{ts[-1]:g}τ against {ts[0]:g}τ: {first.reason}"
    enough = _arr(losses_by_t[ts[0]]).size >= MIN_SEEDS
    if first.verdict == NOT or (worse_all and enough):
        return Verdict(NOT, head + (f"; worse on every seed at {', '.join(worse_all)}" if worse_all else ""))
    if first.verdict == HOLDS and not worse_any:
        return Verdict(HOLDS, head + "; no step to a longer t is worse by more than "
                       f"{tol:.0%} on any seed")
    return Verdict(UNSURE, head + (f"; a seed gets worse at {', '.join(worse_any)}" if worse_any else ""))


def delay_beats_ngd(delay, no_delay, ngd, tol: float = GAIN_TOL) -> Verdict:
    """Fig. 4b "a delay can even beat exact NGD", credited to the delay only where the run without
    delay does not already beat NGD: holds when the delayed run beats NGD (:func:`better_than`) and
    the undelayed run does not (or the delayed run also beats the undelayed one); does not hold when
    the delayed run does not beat NGD; cannot tell otherwise."""
    vs_ngd = better_than(delay, ngd, tol)
    if vs_ngd.verdict == NOT:
        return Verdict(NOT, f"with delay against NGD: {vs_ngd.reason}")
    if vs_ngd.verdict == UNSURE:
        return Verdict(UNSURE, f"with delay against NGD: {vs_ngd.reason}")
    base = better_than(no_delay, ngd, tol)
    if base.verdict == NOT:
        return Verdict(HOLDS, f"with delay against NGD: {vs_ngd.reason}; without delay it does not ({base.reason})")
    over = better_than(delay, no_delay, tol)
    if over.verdict == HOLDS:
        return Verdict(HOLDS, f"with delay against NGD: {vs_ngd.reason}; and against no delay: {over.reason}")
    return Verdict(UNSURE, f"the delayed run beats NGD ({vs_ngd.reason}) but so may the run without delay "
                   f"({base.reason}), and the delay's own gain is not established ({over.reason})")


def ratio_at_least(lo: float, hi: float, floor: float = APPROX_100_FLOOR) -> Verdict:
    """A measured speed ratio known to lie in [``lo``, ``hi``] (e.g. fastest against slowest
    repeat) is at least ``floor``: lo ≥ floor → holds; hi < floor → does not hold; else cannot tell."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi < lo:
        return Verdict(UNSURE, f"ratio not measured (range {lo:.3g}–{hi:.3g})")
    if lo >= floor:
        return Verdict(HOLDS, f"ratio {lo:.3g}–{hi:.3g} ≥ {floor:g}")
    if hi < floor:
        return Verdict(NOT, f"ratio {lo:.3g}–{hi:.3g} < {floor:g}")
    return Verdict(UNSURE, f"ratio {lo:.3g}–{hi:.3g} straddles {floor:g}")


def all_of(verdicts: list[Verdict]) -> Verdict:
    """Every part must hold: any 'does not hold' decides, then any 'cannot tell'."""
    for kind in (NOT, UNSURE):
        bad = [v.reason for v in verdicts if v.verdict == kind]
        if bad:
            return Verdict(kind, "; ".join(bad))
    return Verdict(HOLDS, "; ".join(v.reason for v in verdicts))


def peaks_inside(xs, lo, hi) -> Verdict:
    """Fig. 2b "most competitive at intermediate d_z": ``lo``/``hi`` bound TNGD's advantage at each
    x (ascending). Holds when an interior x's lower bound beats both ends' upper bounds; does not
    hold when an end's lower bound beats every interior upper bound (the advantage peaks at an
    end); cannot tell when the ranges overlap."""
    xs, lo, hi = np.asarray(xs, float), np.asarray(lo, float), np.asarray(hi, float)
    if xs.size < 3:
        return Verdict(UNSURE, "fewer than three sizes")
    ends = [0, xs.size - 1]
    inner = range(1, xs.size - 1)
    best_in = max(inner, key=lambda i: lo[i])
    if lo[best_in] > max(hi[e] for e in ends):
        return Verdict(HOLDS, f"advantage at {xs[best_in]:g} ({lo[best_in]:.3g}–{hi[best_in]:.3g}) above both ends "
                       f"({lo[0]:.3g}–{hi[0]:.3g} at {xs[0]:g}, {lo[-1]:.3g}–{hi[-1]:.3g} at {xs[-1]:g})")
    for e in ends:
        if lo[e] > max(hi[i] for i in inner):
            return Verdict(NOT, f"the advantage is largest at the end {xs[e]:g} ({lo[e]:.3g}–{hi[e]:.3g}), above every "
                           "intermediate size")
    return Verdict(UNSURE, "the ranges of the advantage overlap between the ends and the middle: "
                   + ", ".join(f"{x:g}: {a:.3g}–{b:.3g}" for x, a, b in zip(xs, lo, hi)))


def exponent_near(p: float, se: float, target: float = 1.0, band: float = LINEAR_BAND) -> Verdict:
    """A fitted exponent p ± se (1σ) is ``target`` within ``band``: the 2σ interval inside
    target ± band → holds; outside it → does not hold; overlapping its edge → cannot tell."""
    if not (math.isfinite(p) and math.isfinite(se)) or se < 0:
        return Verdict(UNSURE, "exponent not fitted")
    lo, hi = p - 2 * se, p + 2 * se
    txt = f"fitted exponent {p:.2f} ± {se:.2f} (1σ)"
    if target - band <= lo and hi <= target + band:
        return Verdict(HOLDS, f"{txt}: 2σ interval inside {target - band:g}–{target + band:g}")
    if hi < target - band or lo > target + band:
        return Verdict(NOT, f"{txt}: 2σ interval outside {target - band:g}–{target + band:g}")
    return Verdict(UNSURE, f"{txt}: 2σ interval crosses the edge of {target - band:g}–{target + band:g}")


def subdominant(small_s: float, large_s: float, small_is_lower_bound: bool = False,
                factor: float = SUBDOMINANT_FACTOR) -> Verdict:
    """``small_s`` (e.g. the analog time a solve needs, measured) is sub-dominant to ``large_s``
    (e.g. the configuration time): large ≥ factor·small → holds; large ≤ small → does not hold.
    With ``small_is_lower_bound`` (the needed time was not reached within the run) only the
    'does not hold' outcome can be established; otherwise cannot tell."""
    if not (small_s > 0 and large_s > 0 and math.isfinite(large_s) and math.isfinite(small_s)):
        return Verdict(UNSURE, "times not measured")
    r = large_s / small_s
    txt = f"ratio {'≤ ' if small_is_lower_bound else ''}{r:.3g}"
    if r <= 1:
        return Verdict(NOT, f"{txt}: the analog time is not smaller")
    if small_is_lower_bound:
        return Verdict(UNSURE, f"{txt}: the analog time needed is only bounded below")
    if r >= factor:
        return Verdict(HOLDS, f"{txt} ≥ {factor:g}")
    return Verdict(UNSURE, f"{txt}: between 1 and {factor:g}")


def needs_hardware(measured: float | None, claimed_max: float, what: str) -> Verdict:
    """A ratio that only hardware we lack can give (``measured`` None → cannot tell, naming it):
    ≤ ``claimed_max`` → holds, above → does not hold."""
    if measured is None or not math.isfinite(measured):
        return Verdict(UNSURE, f"needs {what}, not measured here")
    if measured <= claimed_max:
        return Verdict(HOLDS, f"measured {measured:.3g} ≤ {claimed_max:g}")
    return Verdict(NOT, f"measured {measured:.3g} > {claimed_max:g}")


def at_most(values, limit: float) -> Verdict:
    """Every measured value ≤ ``limit`` → holds; every one above → does not hold; else cannot tell."""
    v = np.asarray(values, float)
    if v.size == 0 or not np.all(np.isfinite(v)):
        return Verdict(UNSURE, "not measured")
    txt = ", ".join(f"{x:.3g}" for x in v)
    if np.all(v <= limit):
        return Verdict(HOLDS, f"{txt} all ≤ {limit:g}")
    if np.all(v > limit):
        return Verdict(NOT, f"{txt} all > {limit:g}")
    return Verdict(UNSURE, f"{txt}: some above, some below {limit:g}")


def any_of(verdicts: list[Verdict]) -> Verdict:
    """The claim says "can": one part holding is enough; all parts failing decides against it."""
    held = [v.reason for v in verdicts if v.verdict == HOLDS]
    if held:
        return Verdict(HOLDS, "; ".join(held))
    if verdicts and all(v.verdict == NOT for v in verdicts):
        return Verdict(NOT, "; ".join(v.reason for v in verdicts))
    return Verdict(UNSURE, "; ".join(v.reason for v in verdicts))
