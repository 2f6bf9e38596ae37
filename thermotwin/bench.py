"""``thermotwin bench``: wall time of the twin against ngspice on the same circuit, one run.

Both backends simulate the same matrix over the same time on the same output grid. ngspice uses
TRNOISE white-noise sources (its fastest noise), the twin the exact OU discretisation with white
noise and with the zero-order-hold (PWL) noise the netlists carry. The same-noise SPICE mode (PWL
sources from the twin's stream) is timed over a shorter run against TRRANDOM, with the pathwise gap
to the twin. The machine is shared and noisy, so only ratios measured within one run are reported.
"""

from __future__ import annotations

import time

import numpy as np

from .circuit.spec import HardwareSpec
from .core.problem import Problem
from .core.config import SimConfig
from .solver.registry import simulate


#: Twin runs per measurement (median reported); SPICE runs are seconds and run once.
TWIN_REPEATS = 5


def bench_matrix(d: int, seed: int = 0) -> Problem:
    """Wishart SPD test matrix A = G Gᵀ/(2d) + 0.2 I, G ∈ R^(d×2d), scaled to λ_max ≈ 1 order."""
    from .core.memory import DENSE_WORK_MATRICES, check_memory

    # G (d×2d), G Gᵀ and the dense d×d work of the runs on it: refused before allocating (issue 16)
    check_memory(8.0 * (2 * d * d + DENSE_WORK_MATRICES * d * d), f"a d = {d} benchmark matrix",
                 "give smaller --dims / --big", default_budget=False)
    rng = np.random.default_rng(seed + 1000 * d)
    G = rng.standard_normal((d, 2 * d))
    A = G @ G.T / (2 * d) + 0.2 * np.eye(d)
    return Problem(A, np.ones(d), name=f"wishart{d}")


def run_bench(dims=(8, 32, 64), t_end="1000tau", big: int = 1024, seed: int = 0, dt_out="0.5tau",
              noise_step="0.05tau", progress: bool = True, saturating: int = 32, spec: HardwareSpec | None = None,
              same_noise_t_end: str | None = "100tau") -> dict:
    """Time twin and ngspice for each d in ``dims`` (and the twin alone at ``big``); returns a dict.

    Per d: the twin in both noise modes (``white``: exact OU; ``pwl``: the zero-order-hold noise the
    netlists carry) against ngspice with TRNOISE (its fastest noise), all over ``t_end``; then the
    same-noise SPICE mode (``pwl``: ngspice reads the twin's own normals from noise files) over
    ``same_noise_t_end`` against ngspice with TRRANDOM over the same time, with the pathwise gap to the
    twin (None skips it).
    """
    spec = spec or HardwareSpec(kappa0_v2=1e-4)
    rows = []

    def say(msg):
        if progress:
            print(msg, flush=True)

    say(f"thermotwin bench: t_end = {t_end}, output every {dt_out}, noise step {noise_step} "
        "(ngspice: TRNOISE sources; twin: exact OU, white and PWL noise)")
    # warm-up: first-call costs (imports, BLAS threads, the numba kernel's cache) are not per-run costs
    for noise in ("white", "pwl"):
        simulate(bench_matrix(4, seed), spec, SimConfig(t_end="10tau", noise=noise), backend="twin")
    say(f"{'d':>6} {'twin white':>11} {'twin pwl':>10} {'ngspice':>10} {'ratio white':>12} {'ratio pwl':>10}"
        "  rel_error twin / ngspice")

    def timed(prob, cfg, backend, repeat=1):
        """Median wall time of ``repeat`` runs: the twin's runs are milliseconds, where one preemption on
        a shared machine (a 10 ms time slice) would decide a single measurement."""
        ts = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            res = simulate(prob, spec, cfg, backend=backend)
            ts.append(time.perf_counter() - t0)
        return res, float(np.median(ts))

    for d in dims:
        prob = bench_matrix(d, seed)
        grid = dict(t_end=t_end, dt_out=dt_out, noise_step=noise_step, seed=seed)
        tw, t_white = timed(prob, SimConfig(noise="white", **grid), "twin", TWIN_REPEATS)
        twp, t_pwl = timed(prob, SimConfig(noise="pwl", **grid), "twin", TWIN_REPEATS)
        sp, t_sp = timed(prob, SimConfig(noise="trnoise", timeout_s=3600, **grid), "ngspice")
        if not np.array_equal(tw.times, sp.times):
            raise RuntimeError("twin and ngspice output grids differ")  # pragma: no cover
        row = {"d": d, "twin_s": t_white, "twin_pwl_s": t_pwl, "ngspice_s": t_sp, "ratio": t_sp / t_white,
               "ratio_pwl": t_sp / t_pwl, "twin_rel_error": tw.rel_error, "twin_pwl_rel_error": twp.rel_error,
               "ngspice_rel_error": sp.rel_error, "n_out": len(tw.times)}
        say(f"{d:>6} {t_white:>10.4f}s {t_pwl:>9.4f}s {t_sp:>9.2f}s {row['ratio']:>11.0f}× {row['ratio_pwl']:>9.0f}×"
            f"  {tw.rel_error:.3g} ({twp.rel_error:.3g}) / {sp.rel_error:.3g}")
        if same_noise_t_end:
            row["same_noise"] = bench_same_noise(prob, spec, same_noise_t_end, dt_out, noise_step, seed, say)
        rows.append(row)
    out = {"t_end": t_end, "dt_out": dt_out, "noise_step": noise_step, "same_noise_t_end": same_noise_t_end,
           "rows": rows}
    if big:
        prob = bench_matrix(big, seed)
        tw, t_big = timed(prob, SimConfig(t_end=t_end, dt_out=dt_out, noise_step=noise_step, noise="white",
                                          seed=seed), "twin", TWIN_REPEATS)
        twp, t_bigp = timed(prob, SimConfig(t_end=t_end, dt_out=dt_out, noise_step=noise_step, noise="pwl",
                                            seed=seed), "twin", TWIN_REPEATS)
        out["big"] = {"d": big, "twin_s": t_big, "twin_pwl_s": t_bigp, "rel_error": tw.rel_error,
                      "n_out": len(tw.times)}
        say(f"{big:>6} {t_big:>10.4f}s {t_bigp:>9.4f}s {'(not run)':>10}  {tw.rel_error:.3g}")
    if saturating:
        out["saturating"] = bench_saturating(saturating, t_end, dt_out, noise_step, seed, spec, say)
    return out


def bench_same_noise(prob: Problem, spec: HardwareSpec, t_end, dt_out, noise_step, seed: int, say) -> dict:
    """ngspice fed the twin's own noise (``pwl``, the default SPICE mode) against ngspice with TRRANDOM
    (the same zero-order-hold statistics from its own generator) over ``t_end``; pathwise gap to the twin
    as max |Δ| over the signal range."""
    grid = dict(t_end=t_end, dt_out=dt_out, noise_step=noise_step, seed=seed, timeout_s=3600)
    t0 = time.perf_counter()
    sp = simulate(prob, spec, SimConfig(noise="pwl", **grid), backend="ngspice")
    t_pwl = time.perf_counter() - t0
    t0 = time.perf_counter()
    simulate(prob, spec, SimConfig(noise="trrandom", **grid), backend="ngspice")
    t_rr = time.perf_counter() - t0
    t_tw = []
    for _ in range(TWIN_REPEATS):
        t0 = time.perf_counter()
        tw = simulate(prob, spec, SimConfig(noise="pwl", **grid), backend="twin")
        t_tw.append(time.perf_counter() - t0)
    t_tw = float(np.median(t_tw))
    span = float(np.ptp(tw.states))
    gap = float(np.max(np.abs(sp.states - tw.states)) / span) if span > 0 else 0.0
    row = {"t_end": t_end, "ngspice_pwl_s": t_pwl, "ngspice_trrandom_s": t_rr, "twin_pwl_s": t_tw,
           "pwl_over_trrandom": t_pwl / t_rr, "ratio_pwl": t_pwl / t_tw, "path_gap_of_range": gap}
    say(f"{'':>6} same noise over {t_end}: ngspice pwl {t_pwl:.2f} s (trrandom {t_rr:.2f} s: "
        f"{row['pwl_over_trrandom']:.1f}×), twin pwl {t_tw * 1e3:.1f} ms, path gap {gap:.2g} of the range")
    return row


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
