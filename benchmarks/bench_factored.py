"""Factored TNGD twin at paper scale (issue 8): wall time and peak memory, and how they grow with N, r.

Target: N = 10⁵, r = 640, 50τ with noise, output every τ, in ≤ 10 s and ≤ 3 GB (exact path); the
diagonal (finite-gain leak + capacitor spread) path in ≤ 60 s at the same size.

Every configuration runs in a fresh subprocess so that ``ru_maxrss`` is that run's peak resident
memory (it includes the problem itself: J is 8·r·N bytes). ``wall_s`` is the simulation (problem in,
result out, as ``SimResult.wall_s``: realisation, Gram/basis, noise, stepping, hashing); ``build_s``
is making the synthetic problem. The machine's load average is recorded: other work on the box
inflates the times.

Usage:
    python benchmarks/bench_factored.py                 # target + scaling table (~5 min)
    python benchmarks/bench_factored.py --quick         # target only
    python benchmarks/bench_factored.py --one N R PATH  # one run, prints JSON (used internally)

Writes benchmarks/results/bench_factored.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

SPECS = {
    "exact": {"kappa0_v2": 1e-4},
    # per-resistor tolerance on the three arrays: J1 ≠ J2, H' not symmetric (basis path, k = 2r)
    "tolerance": {"kappa0_v2": 1e-4, "r_tolerance": 0.01},
    # finite op-amp gain (leak + stage gains) and 1 % capacitor spread: the diagonal (ETD2) path
    "diagonal": {"kappa0_v2": 1e-4, "c_tolerance": 0.01, "opamp": {"gain": 1e5}},
}


def one(N: int, r: int, path: str, seed: int = 0) -> dict:
    from thermotwin.circuit.spec import HardwareSpec
    from thermotwin.core.config import SimConfig
    from thermotwin.solver.factored import run_factored, synthetic_factored

    t0 = time.perf_counter()
    p = synthetic_factored(N, r, seed=seed, damping=0.01)
    build = time.perf_counter() - t0
    spec = HardwareSpec.from_dict(SPECS[path])
    cfg = SimConfig(t_end="50tau", dt_out="1tau", noise="white", seed=seed)
    res = run_factored(p, spec, cfg)
    s = res.summary()                       # the CLI's JSON object, x arrays included
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"N": N, "r": r, "path": path, "engine": res.stats["path"], "subspace_dim": res.stats["subspace_dim"],
            "substeps_per_output": res.stats.get("substeps_per_output", 1),
            "etd_error_bound": res.stats.get("etd_error_bound"), "wall_s": res.wall_s, "build_s": build,
            "peak_rss_gb": peak / 1e9, "rows": len(res.times), "rel_error": s["rel_error"]}


def run_sub(N: int, r: int, path: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", str(N), str(r), path], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    lines = ["| path | N | r | k | substeps/τ | wall (s) | peak RSS (GB) | wall / (N·r·1e-8) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for x in rows:
        lines.append(f"| {x['path']} | {x['N']} | {x['r']} | {x['subspace_dim']} | {x['substeps_per_output']} | "
                     f"{x['wall_s']:.2f} | {x['peak_rss_gb']:.2f} | {x['wall_s'] / (x['N'] * x['r'] * 1e-8):.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--one", nargs=3, metavar=("N", "R", "PATH"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="repeats of the target run (median reported)")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(int(args.one[0]), int(args.one[1]), args.one[2])))
        return
    load0 = os.getloadavg()
    target = [run_sub(100_000, 640, "exact") for _ in range(args.repeat)]
    target.sort(key=lambda x: x["wall_s"])
    rows = [target[len(target) // 2]]
    print(table(rows), flush=True)
    if not args.quick:
        for N in (10_000, 30_000, 100_000):
            for r in (160, 320, 640):
                if (N, r) != (100_000, 640):
                    rows.append(run_sub(N, r, "exact"))
                    print(table(rows[-1:]).splitlines()[-1], flush=True)
        for path in ("tolerance", "diagonal"):
            for N in (30_000, 100_000):
                rows.append(run_sub(N, 640, path))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
    result = {"machine": {"nproc": os.cpu_count(), "loadavg_start": load0, "loadavg_end": os.getloadavg()},
              "target_runs_wall_s": [x["wall_s"] for x in target], "rows": rows}
    from thermotwin.io import atomic_write_text

    out = Path(__file__).parent / "results"
    atomic_write_text(out / "bench_factored.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(out / "bench_factored.md", table(rows) + "\n")
    print(table(rows))
    print(f"wrote {out / 'bench_factored.json'} (load average {load0[0]:.1f} → {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
