"""SPICE syntax codes in one table (docs/conventions.md#spice-codes), pinned by tests against the ngspice manual.

ngspice manual (ngspice 39, section 4.1.8 "Transient noise source"):
    TRNOISE(NA NT NALPHA NAMP RTSAM RTSCAPT RTSEMT): white noise of rms NA sampled every NT,
        two-sided PSD NA²·NT, linearly interpolated between samples.
    TRRANDOM(TYPE TS TD PARAM1 PARAM2): TYPE 1 = uniform, 2 = Gaussian, 3 = exponential,
        4 = Poisson; a new value every TS, zero-order hold; repeatable with ``.options seed=N``.
        For Gaussian, PARAM1 is the standard deviation and PARAM2 the mean (docs/noise.md#trrandom).
"""

#: The seeds ngspice's ``.options seed=N`` accepts: 1 ≤ N ≤ 2³¹ − 1. ngspice 39 skips 0, negatives and
#: anything ≥ 2³¹ with "Warning: Cannot convert 'option seed=…' to seed value, skipped!" and then
#: seeds from the clock (so TRRANDOM differs run to run); 2³² + 7 silently wraps to 7.
SPICE_SEED_MAX = 2**31 - 1


def spice_seed(seed: int) -> int:
    """The ngspice seed (``.options seed=N``) of a thermotwin noise seed — the one map every SPICE
    netlist (dense, factored; run by ngspice or PySpice) uses.

    * 1 ≤ seed ≤ 2³¹ − 1: the seed itself (so the netlists written so far keep their seed line);
    * any other integer ≥ 0 (0, ≥ 2³¹, the sweeps' 63-bit seeds, 2⁶⁴ and beyond):
      ``1 + SeedSequence(seed).generate_state(1, uint64)[0] mod (2³¹ − 1)``.

    Deterministic (no clock, no process state), so the same seed always gives the same TRRANDOM
    samples. Distinct seeds can share a SPICE seed (2⁶⁴ values onto 2³¹ − 1), about one pair in 2³¹.
    What it seeds: TRRANDOM (repeatable, checked in the tests). ngspice 39's TRNOISE draws its samples
    from a generator that neither ``.options seed``, ``set rndseed`` nor ``setseed`` fixes (tried
    before and after the circuit loads): trnoise runs are not repeatable — use trrandom or pwl for a
    repeatable SPICE run. PWL noise is drawn by thermotwin from the full seed and needs no SPICE seed.
    """
    import numpy as np

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed {seed!r} must be an integer ≥ 0")
    seed = int(seed)
    if 1 <= seed <= SPICE_SEED_MAX:
        return seed
    word = np.random.SeedSequence(seed).generate_state(1, np.uint64)[0]
    return 1 + int(word % np.uint64(SPICE_SEED_MAX))


TRRANDOM_TYPE = {"uniform": 1, "gaussian": 2, "exponential": 3, "poisson": 4}

#: Options every thermotwin netlist sets. reltol is tightened from the default 1e-3 so that the
#: pathwise comparison with the twin is limited by the noise representation, not by the
#: integrator's step control; method=gear is not used because trapezoidal is exact for the
#: piecewise-constant noise forcing between breakpoints (docs/noise.md#pwl).
TRAN_OPTIONS = {"reltol": "1e-6", "abstol": "1e-15", "vntol": "1e-9", "chgtol": "1e-18"}

#: Column names ngspice writes for the node voltages.
def node_vector(name: str) -> str:
    return f"v({name})"
