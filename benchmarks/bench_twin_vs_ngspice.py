"""Twin against ngspice on the same circuit and output grid; writes benchmarks/results/bench.json.

Same as `thermotwin bench --json`; kept here so results can be regenerated and compared over time.
Usage: python benchmarks/bench_twin_vs_ngspice.py [--dims 8,32,64] [--t-end 1000tau] [--big 1024]
"""

import argparse
import json
from pathlib import Path

from thermotwin.bench import run_bench
from thermotwin.io import atomic_write_text

ap = argparse.ArgumentParser()
ap.add_argument("--dims", default="8,32,64")
ap.add_argument("--t-end", default="1000tau")
ap.add_argument("--big", type=int, default=1024)
args = ap.parse_args()
res = run_bench(dims=[int(x) for x in args.dims.split(",")], t_end=args.t_end, big=args.big)
out = Path(__file__).parent / "results" / "bench.json"
atomic_write_text(out, json.dumps(res, indent=2) + "\n")
print(f"wrote {out}")
