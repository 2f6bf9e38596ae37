"""``thermotwin bench``: wall time of the twin against ngspice on the same circuit, one run.

Both backends simulate the same matrix over the same time on the same output grid. ngspice uses
TRNOISE white-noise sources (its fastest noise; PWL sources cost O(n²) in the number of noise
points in ngspice 39), the twin the exact OU discretisation with white noise. The machine is
shared and noisy, so only ratios measured within one run are reported.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from .circuit.spec import HardwareSpec
from .core.problem import Problem
from .core.config import SimConfig
from .solver.registry import simulate


def bench_matrix(d: int, seed: int = 0) -> Problem:
    """Wishart SPD test matrix A = G Gᵀ/(2d) + 0.2 I, G ∈ R^(d×2d), scaled to λ_max ≈ 1 order."""
    rng = np.random.default_rng(seed + 1000 * d)
    G = rng.standard_normal((d, 2 * d))
    A = G @ G.T / (2 * d) + 0.2 * np.eye(d)
    return Problem(A, np.ones(d), name=f"wishart{d}")


def run_bench(dims=(8, 32, 64), t_end="1000tau", big: int = 1024, seed: int = 0, dt_out="0.5tau",
              noise_step="0.05tau", progress: bool = True, saturating: int = 32, spec: HardwareSpec | None = None) -> dict:
    """Time twin and ngspice for each d in ``dims`` (and the twin alone at ``big``); returns a dict."""
    spec = spec or HardwareSpec(kappa0_v2=1e-4)
    rows = []

    def say(msg):
        if progress:
            print(msg, file=sys.stderr if not progress else sys.stdout, flush=True)

    say(f"thermotwin bench: t_end = {t_end}, output every {dt_out}, noise step {noise_step} "
        "(ngspice: TRNOISE sources; twin: exact OU)")
    # warm-up: first-call costs (imports, BLAS threads) are not the twin's per-run cost
    simulate(bench_matrix(4, seed), spec, SimConfig(t_end="10tau", noise="white"), backend="twin")
    say(f"{'d':>6} {'twin [s]':>10} {'ngspice [s]':>12} {'ratio':>9}  rel_error twin / ngspice")
    for d in dims:
        prob = bench_matrix(d, seed)
        cfg_spice = SimConfig(t_end=t_end, dt_out=dt_out, noise_step=noise_step, noise="trnoise", seed=seed,
                              timeout_s=3600)
        cfg_twin = SimConfig(t_end=t_end, dt_out=dt_out, noise_step=noise_step, noise="white", seed=seed)
        t0 = time.perf_counter()
        tw = simulate(prob, spec, cfg_twin, backend="twin")
        t_twin = time.perf_counter() - t0
        t0 = time.perf_counter()
        sp = simulate(prob, spec, cfg_spice, backend="ngspice")
        t_sp = time.perf_counter() - t0
        if not np.array_equal(tw.times, sp.times):
            raise RuntimeError("twin and ngspice output grids differ")  # pragma: no cover
        row = {"d": d, "twin_s": t_twin, "ngspice_s": t_sp, "ratio": t_sp / t_twin,
               "twin_rel_error": tw.rel_error, "ngspice_rel_error": sp.rel_error, "n_out": len(tw.times)}
        rows.append(row)
        say(f"{d:>6} {t_twin:>10.4f} {t_sp:>12.2f} {row['ratio']:>8.0f}×  {tw.rel_error:.3g} / {sp.rel_error:.3g}")
    out = {"t_end": t_end, "dt_out": dt_out, "noise_step": noise_step, "rows": rows}
    if big:
        prob = bench_matrix(big, seed)
        cfg_twin = SimConfig(t_end=t_end, dt_out=dt_out, noise_step=noise_step, noise="white", seed=seed)
        t0 = time.perf_counter()
        tw = simulate(prob, spec, cfg_twin, backend="twin")
        t_big = time.perf_counter() - t0
        out["big"] = {"d": big, "twin_s": t_big, "rel_error": tw.rel_error, "n_out": len(tw.times)}
        say(f"{big:>6} {t_big:>10.4f} {'(not run)':>12} {'':>9}  {tw.rel_error:.3g}")
    if saturating:
        out["saturating"] = bench_saturating(saturating, t_end, dt_out, noise_step, seed, spec, say)
    return out


def bench_saturating(d: int, t_end, dt_out, noise_step, seed: int, spec: HardwareSpec, say) -> dict:
    """Rails at 0.8·max|x*| (they clip): numba kernel (twin-em, ZOH noise) against ngspice (TRRANDOM
    zero-order-hold noise of the same step and variance: the same circuit, in distribution)."""
    from .circuit.design import Mapping

    prob = bench_matrix(d, seed)
    rails = 0.8 * float(np.abs(prob.x_exact).max())
    sspec = spec.replace(opamp={"v_sat_v": rails})
    mapping = Mapping(b_scale=1.0)
    cfg_t = SimConfig(t_end=t_end, dt_out=dt_out, noise_step=noise_step, noise="pwl", seed=seed)
    cfg_s = SimConfig(t_end=t_end, dt_out=dt_out, noise_step=noise_step, noise="trrandom", seed=seed, timeout_s=3600)
    simulate(bench_matrix(4, seed), sspec, SimConfig(t_end="5tau"), backend="twin-em", mapping=mapping)  # JIT warm-up
    t0 = time.perf_counter()
    tw = simulate(prob, sspec, cfg_t, backend="twin-em", mapping=mapping)
    t_tw = time.perf_counter() - t0
    t0 = time.perf_counter()
    sp = simulate(prob, sspec, cfg_s, backend="ngspice", mapping=mapping)
    t_sp = time.perf_counter() - t0
    clipped = float(np.mean(np.abs(tw.states) >= rails * (1 - 1e-9)))
    row = {"d": d, "v_sat_v": rails, "twin_em_s": t_tw, "ngspice_s": t_sp, "ratio": t_sp / t_tw,
           "fraction_clipped": clipped, "twin_x_mean": tw.x_mean.tolist(), "ngspice_x_mean": sp.x_mean.tolist(),
           "x_mean_rel_diff": float(np.linalg.norm(tw.x_mean - sp.x_mean) / np.linalg.norm(sp.x_mean))}
    say(f"saturating d={d} (rails ±{rails:.3g} V, {100 * clipped:.0f}% of samples on a rail): numba "
        f"{t_tw:.3f} s, ngspice {t_sp:.2f} s, ratio {row['ratio']:.0f}×; time averages differ by "
        f"{row['x_mean_rel_diff']:.2e}")
    return row
