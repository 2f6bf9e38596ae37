"""SPICE syntax codes in one table (docs/conventions.md#spice-codes), pinned by tests against the ngspice manual.

ngspice manual (ngspice 39, section 4.1.8 "Transient noise source"):
    TRNOISE(NA NT NALPHA NAMP RTSAM RTSCAPT RTSEMT): white noise of rms NA sampled every NT,
        two-sided PSD NA²·NT, linearly interpolated between samples.
    TRRANDOM(TYPE TS TD PARAM1 PARAM2): TYPE 1 = uniform, 2 = Gaussian, 3 = exponential,
        4 = Poisson; a new value every TS, zero-order hold; repeatable with ``.options seed=N``.
        For Gaussian, PARAM1 is the standard deviation and PARAM2 the mean (docs/noise.md#trrandom).
"""

TRRANDOM_TYPE = {"uniform": 1, "gaussian": 2, "exponential": 3, "poisson": 4}

#: Options every thermotwin netlist sets. reltol is tightened from the default 1e-3 so that the
#: pathwise comparison with the twin is limited by the noise representation, not by the
#: integrator's step control; method=gear is not used because trapezoidal is exact for the
#: piecewise-linear PWL forcing between breakpoints.
TRAN_OPTIONS = {"reltol": "1e-6", "abstol": "1e-15", "vntol": "1e-9", "chgtol": "1e-18"}

#: PWL zero-order hold: each noise sample holds for its step; the switch to the next sample takes
#: this fraction of the step (docs/noise.md#ngspice).
PWL_RISE_FRACTION = 1e-4

#: Column names ngspice writes for the node voltages.
def node_vector(name: str) -> str:
    return f"v({name})"
