"""thermotwin's exact OU twin against thermox 0.0.6 (JAX, exact OU) on thermox's linear-solve setting,
side by side in one process; writes benchmarks/results/bench_thermox.{json,md}.

The setting (thermox's ``linalg.solve`` test case): d = 50, A = G Gᵀ/(2d) with G ∈ R^(d×2d) standard
normal (a Wishart matrix, eigenvalues ≈ 0.09 … 2.9), b ~ N(0, I), diffusion D = I, one sample per τ
(Δt = 1), x0 = 0, estimate = mean of the samples. thermotwin runs the same SDE,
dV = −(A V − b) dt' + sqrt(2κ0) dW with κ0 = 0.5 V² (D = 2κ0 = 1), ideal board, b_scale 1, white
noise, output every τ (``--noise white --dt-out 1tau``); its estimate is the time average over the
window after settling (thermox averages from the first sample: the settling window is ≤ 1 % of the
run here, so both errors are sampling errors of the same size — the script reports them).

Timed: thermox ``linalg.solve`` from arrays already on the device, after a JIT warm-up at every
sample count (its defaults: float32, associative scan); thermotwin from numpy arrays to the estimate
(``Problem`` with its checks + ``simulate``). Both alternate within each repeat; medians over the
repeats, ratios of the medians. thermox is an optional benchmark extra (``pip install
'thermotwin[bench]'``); without it the script says so and exits 0.

Where the twin's time goes (same run): the normals (numpy's PCG64 stream, the one the netlists
carry, drawn by thermotwin's numba kernel; numpy's own draw of the same numbers beside it), the mixing GEMM L z (one BLAS thread) and the numba recursion, each timed alone and set
against this machine's one-thread GEMM rate and memory bandwidth (``bench_sweep.machine_rates``);
then the whole integration with every phase on one thread and with the normals drawn one chunk
ahead on a second thread, which also mixes two chunks in three (the twin's default when a second core
looks idle), against the perfect-overlap bound max(normals + ⅔ GEMM, ⅓ GEMM + recursion).

Usage: python benchmarks/bench_thermox.py [--samples 10000,100000] [--repeats 5] [--d 50]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def wishart_problem(d: int, seed: int):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((d, 2 * d))
    A = G @ G.T / (2 * d)
    b = rng.standard_normal(d)
    return A, b


def machine() -> dict:
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"cpu": model, "cpus": len(os.sched_getaffinity(0)), "load_avg": list(os.getloadavg()),
            "python": platform.python_version(), "numpy": np.__version__}


def twin_solve(A, b, n: int, seed: int):
    import thermotwin as tt
    from thermotwin.circuit.design import Mapping

    p = tt.Problem(A, b, name="wishart")
    res = tt.simulate(p, tt.HardwareSpec.ideal(kappa0_v2=0.5),
                      tt.SimConfig(t_end=f"{n}tau", dt_out="1tau", noise="white", seed=seed),
                      mapping=Mapping(scale=1.0, b_scale=1.0))
    return res.x_mean


def phase_breakdown(A, n: int, seed: int = 0) -> dict:
    """The twin's three phases on the benchmark's sizes, each timed alone (best of 3), with the
    arithmetic each needs and the rate it reached."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_sweep import best, machine_rates

    from thermotwin.core.noise import ChunkedNormals, noise_rng
    from thermotwin.solver.ou import linear_recursion, one_blas_thread, ou_transition, psd_factor

    d = A.shape[0]
    phi, qd = ou_transition(A, np.eye(d), 1.0)
    mix = psd_factor(qd).T
    z = np.empty((1, n, d))
    f = np.empty((n, d))
    out = np.empty((1, n + 1, d))
    phi_T = np.ascontiguousarray(phi.T)
    c = np.zeros(d)

    def normals():
        ChunkedNormals(seed, n, d).fill(z)

    def numpy_normals():
        noise_rng(seed).standard_normal(out=z[0])

    def gemm():
        with one_blas_thread():
            np.matmul(z[0], mix, out=f)

    def rec():
        linear_recursion(phi_T, c, f[None], np.zeros((1, d)), out)

    from thermotwin.core.config import SimConfig, resolve_grid
    from thermotwin.core.problem import Problem
    from thermotwin.solver.ou import simulate_linear, spare_cpu

    cfg = SimConfig(t_end=f"{n}tau", dt_out="1tau", noise="white", seed=seed)
    grid = resolve_grid(Problem(A, np.ones(d), name="wishart"), cfg, 1.0)

    def whole(pipeline):                 # the twin's integration as simulate() runs it, serial or pipelined
        return lambda: simulate_linear(A, np.ones(d), np.eye(d), 1.0, np.zeros(d), grid, cfg, pipeline=pipeline)

    rec()
    rates = machine_rates(n_gemm=1500, mem_mb=256)
    t_n, t_g, t_r, t_np = best(normals), best(gemm), best(rec), best(numpy_normals)
    t_serial, t_pipe = best(whole(False)), best(whole(True))
    fl = 2.0 * n * d * d
    return {"n": n, "d": d, "normals_s": t_n, "ns_per_normal": t_n / (n * d) * 1e9, "numpy_normals_s": t_np,
            "gemm_s": t_g, "gemm_gflops": fl / t_g / 1e9, "recursion_s": t_r,
            "recursion_gflops": (fl + 2.0 * n * d) / t_r / 1e9,
            "recursion_bytes_gbps": (8.0 * n * d * 2) / t_r / 1e9,     # forcing read + states written
            "serial_s": t_serial, "pipelined_s": t_pipe, "spare_cpu": spare_cpu(),
            # perfect overlap on two free cores: the drawer draws every chunk and mixes 2 in 3
            "pipeline_bound_s": max(t_n + 2 * t_g / 3, t_g / 3 + t_r),
            "machine": rates}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", default="10000,100000")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--d", type=int, default=50)
    args = ap.parse_args()
    try:
        import jax
        import jax.numpy as jnp
        import thermox
    except ImportError as e:
        print(f"bench_thermox: skipped, thermox is not installed ({e}); install the benchmark extra: "
              "pip install 'thermotwin[bench]'")
        return 0
    samples = [int(s) for s in args.samples.split(",")]
    A, b = wishart_problem(args.d, 0)
    x_star = np.linalg.solve(A, b)
    Aj, bj = jnp.asarray(A), jnp.asarray(b)
    info = machine()
    print(f"bench_thermox: d = {args.d}, samples {samples}, {args.repeats} repeats; thermox {thermox.__name__} "
          f"(jax {jax.__version__}, {jnp.asarray(1.0).dtype}); {info['cpu']}, {info['cpus']} cpus, "
          f"load {info['load_avg'][0]:.1f}", flush=True)

    def tx(n, rep):
        x = thermox.linalg.solve(Aj, bj, num_samples=n, dt=1.0, key=jax.random.PRNGKey(rep))
        return np.asarray(x.block_until_ready(), dtype=float)

    for n in samples:                                    # JIT warm-up (compiles per sample count)
        t0 = time.perf_counter()
        tx(n, 10_000)
        twin_solve(A, b, n, 10_000)
        print(f"  warm-up n = {n}: {time.perf_counter() - t0:.1f} s", flush=True)
    rows = []
    for n in samples:
        t_tx, t_tw, e_tx, e_tw = [], [], [], []
        for rep in range(args.repeats):
            t0 = time.perf_counter()
            x1 = tx(n, rep)
            t1 = time.perf_counter()
            x2 = twin_solve(A, b, n, rep)
            t2 = time.perf_counter()
            t_tx.append(t1 - t0)
            t_tw.append(t2 - t1)
            e_tx.append(float(np.linalg.norm(x1 - x_star)))
            e_tw.append(float(np.linalg.norm(x2 - x_star)))
        row = {"samples": n, "thermox_s": float(np.median(t_tx)), "thermotwin_s": float(np.median(t_tw)),
               "thermox_s_all": t_tx, "thermotwin_s_all": t_tw,
               "thermox_err_median": float(np.median(e_tx)), "thermotwin_err_median": float(np.median(e_tw)),
               "expected_err": float(np.sqrt(np.trace(np.linalg.inv(A) @ np.linalg.inv(A).T) / n)),
               "per_repeat_ratios": [a / b for a, b in zip(t_tx, t_tw)]}
        row["ratio"] = row["thermox_s"] / row["thermotwin_s"]
        rows.append(row)
        print(f"  n = {n:>7}: thermox {row['thermox_s']:.4f} s, thermotwin {row['thermotwin_s']:.4f} s, "
              f"ratio {row['ratio']:.1f}× (per repeat {min(row['per_repeat_ratios']):.1f}–"
              f"{max(row['per_repeat_ratios']):.1f}); ‖x̄ − x*‖ median thermox {row['thermox_err_median']:.3f}, "
              f"thermotwin {row['thermotwin_err_median']:.3f} (law sqrt(tr A⁻²/T) {row['expected_err']:.3f})",
              flush=True)
    phases = phase_breakdown(A, max(samples))
    m = phases["machine"]
    print(f"  twin phases at n = {phases['n']}: normals {phases['normals_s'] * 1e3:.1f} ms "
          f"({phases['ns_per_normal']:.1f} ns each; numpy's own draw {phases['numpy_normals_s'] * 1e3:.1f} ms), GEMM {phases['gemm_s'] * 1e3:.1f} ms "
          f"({phases['gemm_gflops']:.1f} GFLOP/s; machine 1-thread GEMM {m['gemm_1thread_gflops']:.1f}), "
          f"recursion {phases['recursion_s'] * 1e3:.1f} ms ({phases['recursion_gflops']:.1f} GFLOP/s, "
          f"{phases['recursion_bytes_gbps']:.2f} GB/s of {m['copy_gbps']:.1f} copy bandwidth); whole integration "
          f"serial {phases['serial_s'] * 1e3:.1f} ms, drawn and mostly mixed ahead on a second thread "
          f"{phases['pipelined_s'] * 1e3:.1f} ms (perfect overlap: {phases['pipeline_bound_s'] * 1e3:.1f} ms)",
          flush=True)
    info["load_avg_end"] = list(os.getloadavg())
    res = {"machine": info, "thermox": {"version": "0.0.6", "jax": jax.__version__,
                                         "dtype": str(jnp.asarray(1.0).dtype), "associative_scan": True},
           "d": args.d, "repeats": args.repeats, "rows": rows, "phases": phases}
    from thermotwin.io import atomic_write_text

    RESULTS.mkdir(exist_ok=True)
    atomic_write_text(RESULTS / "bench_thermox.json", json.dumps(res, indent=2) + "\n")
    md = [f"# thermotwin vs thermox 0.0.6 (d = {args.d} Wishart, D = I, one sample per τ)", "",
          f"Machine: {info['cpu']}, {info['cpus']} cpus shared with other jobs (load average "
          f"{info['load_avg'][0]:.1f} at start, {info['load_avg_end'][0]:.1f} at end). Medians of "
          f"{args.repeats} alternating repeats in one process; thermox after JIT warm-up "
          f"(jax {jax.__version__}, {res['thermox']['dtype']}, associative scan).", "",
          "| samples | thermox | thermotwin | ratio | ‖x̄ − x*‖ thermox / thermotwin |", "|---:|---:|---:|---:|---|"]
    for r in rows:
        md.append(f"| {r['samples']:,} | {r['thermox_s']:.3f} s | {r['thermotwin_s'] * 1e3:.1f} ms | "
                  f"{r['ratio']:.1f}× | {r['thermox_err_median']:.3f} / {r['thermotwin_err_median']:.3f} |")
    md += ["", f"Twin phases at n = {phases['n']} (each alone, best of 3): normals "
               f"{phases['normals_s'] * 1e3:.1f} ms ({phases['ns_per_normal']:.1f} ns per normal: numpy's "
               f"PCG64 stream, the netlists', drawn by thermotwin's numba kernel; numpy itself: "
               f"{phases['numpy_normals_s'] * 1e3:.1f} ms), mixing GEMM "
               f"{phases['gemm_s'] * 1e3:.1f} ms ({phases['gemm_gflops']:.1f} GFLOP/s against "
               f"{m['gemm_1thread_gflops']:.1f} for a large one-thread GEMM), recursion "
               f"{phases['recursion_s'] * 1e3:.1f} ms ({phases['recursion_gflops']:.1f} GFLOP/s; it moves "
               f"{phases['recursion_bytes_gbps']:.2f} GB/s against {m['copy_gbps']:.1f} GB/s copy bandwidth: "
               "it is bound by the dependent matvec chain, not memory). The whole integration (simulate_linear, "
               f"best of 3): {phases['serial_s'] * 1e3:.1f} ms with every phase on one thread, "
               f"{phases['pipelined_s'] * 1e3:.1f} ms with the normals drawn (and 2 chunks in 3 mixed) one chunk ahead on a second thread "
               "(the default when a second core looks idle, 1-minute load average < cpus − ½: "
               f"{'so on' if phases['spare_cpu'] else 'not'} at the end of this run; perfect overlap would give "
               "max(normals + ⅔ GEMM, ⅓ GEMM + recursion) = "
               f"{phases['pipeline_bound_s'] * 1e3:.1f} ms; the machine's other jobs decide how much of the "
               "second core the drawer gets)."]
    atomic_write_text(RESULTS / "bench_thermox.md", "\n".join(md) + "\n")
    print(f"wrote {RESULTS / 'bench_thermox.json'} and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
