"""Batched twin for sweeps (issue 6): boards per second, and achieved flop and byte rates against this
machine's numpy GEMM rate and memory bandwidth, both measured in the same run.

Target: 10,000 boards of d = 32 (each with its own realised matrix: 1 % resistor tolerance) over
100τ in ≤ 5 s on a 2-core machine; also d up to 1024.

What is timed (one process unless stated):
  draw        — 10,000 tolerance draws and realised matrices (circuit.boards.draw_boards)
  transition  — Φ_k = expm(−A_k Δ), Cholesky of the step covariance, per board (solver.batched)
  noise       — per-board generators (the stream `simulate` uses) + the GEMM L_k z
  recursion   — the sequential exact-OU steps and the read-out statistics (numba kernel; the
                `numpy` method, one np.matmul over the (B, d, d) stack per step, for comparison)
  sweep       — `thermotwin sweep` end to end in a fresh process (imports, worker start-up,
                journal, results.csv), with 1 and 2 local workers.

Flop counts are the algorithm's (2d³ per d×d matmul, 2d² per matvec); bytes are the main-memory
traffic a phase must move at least (each array read or written once), and for the recursion also the
traffic of the per-step `np.matmul` formulation, which re-reads the (B, d, d) stack every step.

Usage: python benchmarks/bench_sweep.py [--boards 10000] [--d 32] [--t-end 100] [--dt 1]
                                        [--big 128:1000,256:200,512:40,1024:6] [--quick]
Writes benchmarks/results/bench_sweep.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from thermotwin.circuit.boards import draw_boards
from thermotwin.circuit.spec import HardwareSpec
from thermotwin.io import atomic_write_text
from thermotwin.solver import batched as bt
from thermotwin.sweep.matrices import generated_problem
from thermotwin.sweep.plan import run_seeds


def best(fn, repeat=3):
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


def machine_rates(n_gemm=3000, mem_mb=512) -> dict:
    """numpy GEMM rate (all BLAS threads) and memory bandwidth (copy: read + write)."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n_gemm, n_gemm))
    B = rng.standard_normal((n_gemm, n_gemm))
    A @ B
    gemm = 2.0 * n_gemm ** 3 / best(lambda: A @ B) / 1e9
    with bt.one_blas_thread():
        gemm1 = 2.0 * n_gemm ** 3 / best(lambda: A @ B) / 1e9
    # small-matrix batched GEMM, the shape the transition uses
    S = rng.standard_normal((256, 32, 32))
    out = np.empty_like(S)
    with bt.one_blas_thread():
        small = 2.0 * 32 ** 3 * 256 / best(lambda: np.matmul(S, S, out=out), 20) / 1e9
    n = mem_mb * 2**20 // 8
    src = np.ones(n)
    dst = np.empty(n)
    np.copyto(dst, src)
    copy = 2.0 * src.nbytes / best(lambda: np.copyto(dst, src), 5) / 1e9
    read = src.nbytes / best(lambda: src.sum(), 5) / 1e9
    return {"gemm_gflops": gemm, "gemm_1thread_gflops": gemm1, "gemm_n": n_gemm, "batched_32_gemm_gflops": small,
            "copy_gbps": copy, "read_gbps": read, "cpus": len(os.sched_getaffinity(0))}


def bench_boards(n_boards: int, d: int, t_end_tau: float, dt_tau: float, method: str = "numba") -> dict:
    prob = generated_problem("wishart", d, matrix_seed=0)
    spec = HardwareSpec(kappa0_v2=1e-4, r_tolerance=0.01)
    seeds = [run_seeds(0, b) for b in range(n_boards)]
    t0 = time.perf_counter()
    boards = draw_boards(prob, spec, [s[0] for s in seeds])
    t_draw = time.perf_counter() - t0
    n_out = int(round(t_end_tau / dt_tau))
    t1 = time.perf_counter()
    out = bt.run_boards(boards, prob.x_exact, np.zeros(d), spec.kappa0_v2, dt_tau * boards.tau_s, n_out,
                        n_out // 4, [s[1] for s in seeds], [n_out], [1e-1, 1e-2, 1e-3], method=method)
    t_run = time.perf_counter() - t1
    st = out.stats
    assert (out.status == "ok").all()
    B, U = n_boards, st.n_unique
    f_tr = bt.transition_flops(U, d, st.squarings)
    f_no = bt.noise_flops(B, n_out, d)
    f_re = bt.recursion_flops(B, n_out, d)
    mat = 8.0 * d * d
    by_tr = U * mat * 4                                  # A_k in, Φ_k, Q_k, L_k out
    by_no = B * n_out * d * 8.0 * 3                      # normals written, read; forcing written
    by_re = B * mat + B * n_out * d * 8.0                                  # Φ_k once + forcing once
    by_re_naive = B * n_out * mat + B * n_out * d * 8.0                    # Φ stack every step
    total = t_draw + t_run
    return {
        "boards": B, "d": d, "t_end_tau": t_end_tau, "dt_tau": dt_tau, "steps": n_out, "method": method,
        "squarings": st.squarings, "t_draw": t_draw, "t_transition": st.t_transition, "t_noise": st.t_noise,
        "t_recursion": st.t_recursion, "t_total": total, "boards_per_s": B / total,
        "gflops_transition": f_tr / st.t_transition / 1e9, "gflops_noise": f_no / st.t_noise / 1e9,
        "gflops_recursion": f_re / st.t_recursion / 1e9, "gflops_total": (f_tr + f_no + f_re) / total / 1e9,
        "gbps_transition": by_tr / st.t_transition / 1e9, "gbps_noise": by_no / st.t_noise / 1e9,
        "gbps_recursion_min": by_re / st.t_recursion / 1e9,
        "gbps_recursion_per_step_equivalent": by_re_naive / st.t_recursion / 1e9,
        "median_rel_error": float(np.median(out.err[:, 0])),
    }


def bench_cli(n_boards: int, d: int, t_end_tau: float, dt_tau: float, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "s.toml"
        f.write_text(f'matrix = "wishart"\nd = {d}\nt_end = "{t_end_tau}tau"\ndt_out = "{dt_tau}tau"\n'
                     f'boards = {n_boards}\n[spec]\nkappa0_v2 = 1e-4\nr_tolerance = 0.01\n')
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "thermotwin.cli", "sweep", str(f), "--out", str(Path(tmp) / "o"),
                               "--workers", str(workers), "--no-plots", "--json", "--yes"],
                              capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
    s = json.loads(proc.stdout)
    return {"boards": n_boards, "d": d, "workers": workers, "wall_s": wall, "run_wall_s": s["run_wall_s"],
            "boards_per_s": n_boards / wall, "ok": s["ok"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boards", type=int, default=10_000)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--t-end", type=float, default=100.0, help="in τ")
    ap.add_argument("--dt", type=float, default=1.0, help="output step in τ (exact OU: any step is exact)")
    ap.add_argument("--big", default="128:1000,256:200,512:40,1024:6", help="d:boards pairs run in one process")
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test of the script)")
    args = ap.parse_args()
    if args.quick:
        args.boards, args.big = 500, "128:20"
    say = lambda s: print(s, flush=True)  # noqa: E731
    bt.run_boards(draw_boards(generated_problem("wishart", 4), HardwareSpec(r_tolerance=0.01), [1, 2]),
                  np.ones(4), np.zeros(4), 1e-4, 1e-6, 4, 1, [1, 2], [4], [0.1])     # load the numba kernel
    m = machine_rates()
    say(f"machine: {m['cpus']} CPUs; numpy GEMM {m['gemm_gflops']:.1f} GFLOP/s (n={m['gemm_n']}; one thread "
        f"{m['gemm_1thread_gflops']:.1f}), batched 32×32 GEMM {m['batched_32_gemm_gflops']:.1f} GFLOP/s (one thread); "
        f"memory copy {m['copy_gbps']:.1f} GB/s (read+write), read {m['read_gbps']:.1f} GB/s")
    res = {"machine": m, "kernel": [], "sweep_cli": [], "big": []}
    for dt in sorted({args.dt, 0.5}):
        for method in ("numba", "numpy"):
            r = bench_boards(args.boards, args.d, args.t_end, dt, method)
            res["kernel"].append(r)
            say(f"{r['boards']} boards d={r['d']} {r['t_end_tau']:g}τ step {dt:g}τ ({method}): {r['t_total']:.2f} s "
                f"= draw {r['t_draw']:.2f} + transition {r['t_transition']:.2f} + noise {r['t_noise']:.2f} + "
                f"recursion {r['t_recursion']:.2f}; {r['boards_per_s']:.0f} boards/s")
            pct = 100 * r["gflops_transition"] / m["gemm_1thread_gflops"]
            say(f"    GFLOP/s: transition {r['gflops_transition']:.1f} ({pct:.0f}% of one-thread GEMM), noise {r['gflops_noise']:.1f}, recursion {r['gflops_recursion']:.1f}, overall "
                f"{r['gflops_total']:.1f} ({100 * r['gflops_total'] / m['gemm_1thread_gflops']:.0f}%; the run uses "
                f"one core)")
            say(f"    GB/s: recursion {r['gbps_recursion_min']:.2f} of compulsory traffic, "
                f"{r['gbps_recursion_per_step_equivalent']:.1f} as per-step stack streaming "
                f"({100 * r['gbps_recursion_per_step_equivalent'] / m['copy_gbps']:.0f}% of copy bandwidth); "
                f"noise {r['gbps_noise']:.1f}")
    for w in (1, 2):
        r = bench_cli(args.boards, args.d, args.t_end, args.dt, w)
        res["sweep_cli"].append(r)
        say(f"thermotwin sweep, {r['boards']} boards d={r['d']}, {w} worker(s): {r['wall_s']:.2f} s end to end "
            f"(runs {r['run_wall_s']:.2f} s), {r['boards_per_s']:.0f} boards/s")
    for pair in filter(None, args.big.split(",")):
        d, n = (int(x) for x in pair.split(":"))
        r = bench_boards(n, d, args.t_end, args.dt)
        c = bench_cli(n, d, args.t_end, args.dt, 2)
        r["sweep_cli_2_workers_s"] = c["wall_s"]
        res["big"].append(r)
        say(f"d={d}: {n} boards {r['t_total']:.2f} s in one process ({r['t_total'] / n * 1e3:.1f} ms/board: transition "
            f"{r['t_transition'] / n * 1e3:.1f}, recursion {r['t_recursion'] / n * 1e3:.1f}); transition "
            f"{r['gflops_transition']:.1f} GFLOP/s ({100 * r['gflops_transition'] / m['gemm_1thread_gflops']:.0f}% of "
            f"one-thread GEMM); `thermotwin sweep` with 2 workers {c['wall_s']:.2f} s end to end")
    out = Path(__file__).parent / "results" / "bench_sweep.json"
    atomic_write_text(out, json.dumps(res, indent=2) + "\n")
    say(f"wrote {out}")


if __name__ == "__main__":
    main()
