"""How long a trace calibration needs: standard errors of the fit versus trace length and d.

Twin traces (exact, PWL noise) of bench_matrix(d) boards with 1 % resistor tolerance and op-amp
gain 1e4, sampled every 0.5 τ; the fit's own (bootstrap) standard errors are reported, relative
to the fitted values. Usage: python benchmarks/calibration_length.py
"""

import warnings

import numpy as np

import thermotwin as tt
from thermotwin.bench import bench_matrix
from thermotwin.calibration.fit import fit_ou
from thermotwin.calibration.traces import Trace
from thermotwin.circuit.design import design

spec = tt.HardwareSpec.from_dict({"kappa0_v2": 1e-4, "r_tolerance": 0.01, "opamp": {"gain": 1e4}, "board_seed": 7})
print(f"{'d':>3} {'T [tau]':>8} {'lambda_min':>11} {'diag M (median)':>16} {'kappa0':>8}   relative standard errors")
for d in (4, 16, 32):
    p = bench_matrix(d, 0)
    tau = design(p, spec).nominal_tau_s
    for T in (400, 2000, 10000):
        r = tt.simulate(p, spec, tt.SimConfig(t_end=f"{T}tau", dt_out="0.5tau", seed=1))
        tr = Trace(r.times, r.states * r.b_scale, tuple(f"v(o{i})" for i in range(d)), "twin")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                cal = fit_ou(tr, tau_s=tau, n_boot=100)
            except tt.InputError as exc:
                print(f"{d:>3} {T:>8}   too short: {exc}")
                continue
        M, se = cal.M, np.asarray(cal.drift_se_per_s)
        print(f"{d:>3} {T:>8} {cal.lambda_min_se_per_s / cal.lambda_min_per_s:>11.3f} "
              f"{np.median(np.diag(se) / np.abs(np.diag(M))):>16.4f} {cal.kappa0_se_v2 / cal.kappa0_v2:>8.4f}")
