"""Same-noise SPICE runs against ngspice's own noise: wall time and path gap (issue 15, part A).

For each case (d, T) and each SPICE backend (``ngspice`` subprocess, ``pyspice`` shared library),
one run with the default same-noise mode (``--noise pwl``: the twin's normals read from noise files
by XSPICE filesource, docs/noise.md#ngspice) and one with ``--noise trrandom`` (ngspice's own
generator: the cost reference), back to back in one process, plus the twin on the same grid. The
gap is max |V_spice − V_twin| over the signal range (same noise: a pathwise comparison).

Targets: d = 6 for 1000 τ and d = 48 for 300 τ, pwl ≤ 3× trrandom, gap ≤ 1e-3.

Usage: python benchmarks/bench_spice_noise.py [--cases 6:1000,48:300] [--backends ngspice,pyspice]
Writes benchmarks/results/bench_spice_noise.json and .md.
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

from thermotwin.bench import bench_matrix
from thermotwin.circuit.spec import HardwareSpec
from thermotwin.core.config import SimConfig
from thermotwin.core.io import atomic_write_text, json_text
from thermotwin.solver.registry import simulate

SPEC = HardwareSpec(kappa0_v2=1e-4)


def machine() -> str:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_thermox import machine as describe

    m = describe()
    return f"{m['cpu']}, {m['cpus']} cpus (shared)"


def config(t_tau: float, noise: str) -> SimConfig:
    return SimConfig(t_end=f"{t_tau:g}tau", dt_out="0.5tau", noise_step="0.05tau", noise=noise, seed=0,
                     timeout_s=7200)


def timed(p, cfg, backend):
    t0 = time.perf_counter()
    res = simulate(p, SPEC, cfg, backend=backend)
    return res, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="6:1000,48:300")
    ap.add_argument("--backends", default="ngspice,pyspice")
    args = ap.parse_args()
    rows = []
    load0 = os.getloadavg()
    for case in args.cases.split(","):
        d, t = case.split(":")
        d, t = int(d), float(t)
        p = bench_matrix(d)
        twin, t_twin = timed(p, config(t, "pwl"), "twin")
        span = float(np.ptp(twin.states))
        for backend in args.backends.split(","):
            same, t_same = timed(p, config(t, "pwl"), backend)
            _, t_rr = timed(p, config(t, "trrandom"), backend)
            gap = float(np.max(np.abs(same.states - twin.states)) / span)
            row = {"d": d, "t_tau": t, "backend": backend, "pwl_s": t_same, "trrandom_s": t_rr,
                   "pwl_over_trrandom": t_same / t_rr, "gap_of_range": gap, "twin_s": t_twin,
                   "noise_file_bytes": same.stats.get("noise_file_bytes"), "load": os.getloadavg()[0]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    res = {"machine": machine(), "python": platform.python_version(), "load_start": load0,
           "load_end": os.getloadavg(), "rows": rows}
    out = Path(__file__).parent / "results" / "bench_spice_noise"
    atomic_write_text(out.with_suffix(".json"), json_text(res, indent=2) + "\n")
    md = ["# Same-noise SPICE runs (`--noise pwl`) against `--noise trrandom`", "",
          f"Machine: {res['machine']}; load average {load0[0]:.1f} at start, {res['load_end'][0]:.1f} at end. "
          "bench matrix (`thermotwin.bench.bench_matrix`), κ0 = 1e-4 V², noise step 0.05 τ, output every "
          "0.5 τ, seed 0; each pair run back to back in one process (`benchmarks/bench_spice_noise.py`). "
          "gap = max |V_spice − V_twin| / signal range, the twin integrating the same noise exactly.", "",
          "| d | T | backend | pwl (same noise) | trrandom | pwl ÷ trrandom | gap | twin |",
          "|---:|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        md.append(f"| {r['d']} | {r['t_tau']:g} τ | {r['backend']} | {r['pwl_s']:.2f} s | {r['trrandom_s']:.2f} s | "
                  f"{r['pwl_over_trrandom']:.2f}× | {r['gap_of_range']:.1e} | {r['twin_s']:.3f} s |")
    atomic_write_text(out.with_suffix(".md"), "\n".join(md) + "\n")
    print(f"wrote {out}.json and .md")


if __name__ == "__main__":
    main()
