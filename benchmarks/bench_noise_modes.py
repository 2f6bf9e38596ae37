"""The twin's two noise modes side by side (issue 15): PWL (the zero-order-hold noise the netlists carry)
against white (exact OU) on the bench matrix, same output grid, one process, alternating repeats, medians.

Default case: d = 48, 300τ, noise every τ/20 (``--noise-step 0.05tau``), the automatic output grid
(0.1τ: two noise steps per output step). Also the bench's grid (output 0.5τ: ten noise steps per
output), where PWL draws ten times the normals of white. Writes benchmarks/results/bench_noise_modes.json.

Usage: python benchmarks/bench_noise_modes.py [--dims 48,64] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from thermotwin.bench import bench_matrix
from thermotwin.circuit.spec import HardwareSpec
from thermotwin.io import atomic_write_text
from thermotwin.solver.config import SimConfig
from thermotwin.solver.registry import simulate

CASES = {"300tau, output auto (0.1tau)": dict(t_end="300tau", noise_step="0.05tau"),
         "1000tau, output 0.5tau (bench grid)": dict(t_end="1000tau", dt_out="0.5tau", noise_step="0.05tau")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dims", default="48,64")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    spec = HardwareSpec(kappa0_v2=1e-4)
    for noise in ("white", "pwl"):                        # warm-up: the numba kernel's cache, BLAS
        simulate(bench_matrix(4), spec, SimConfig(t_end="10tau", noise=noise))
    rows = []
    for d in (int(x) for x in args.dims.split(",")):
        p = bench_matrix(d)
        for name, kw in CASES.items():
            ts = {"white": [], "pwl": []}
            for _ in range(args.repeats):
                for noise in ("white", "pwl"):
                    t0 = time.perf_counter()
                    r = simulate(p, spec, SimConfig(noise=noise, seed=0, **kw))
                    ts[noise].append(time.perf_counter() - t0)
            row = {"d": d, "case": name, "n_out": len(r.times) - 1,
                   "noise_steps_per_output": int(round(r.dt_out_s / r.noise_step_s)),
                   "white_s": float(np.median(ts["white"])), "pwl_s": float(np.median(ts["pwl"]))}
            row["pwl_over_white"] = row["pwl_s"] / row["white_s"]
            rows.append(row)
            print(f"d = {d:>3} {name:<38} white {row['white_s'] * 1e3:7.1f} ms  pwl {row['pwl_s'] * 1e3:7.1f} ms  "
                  f"pwl/white {row['pwl_over_white']:.2f} ({row['noise_steps_per_output']} noise steps per output)",
                  flush=True)
    out = Path(__file__).parent / "results" / "bench_noise_modes.json"
    atomic_write_text(out, json.dumps({"repeats": args.repeats, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
