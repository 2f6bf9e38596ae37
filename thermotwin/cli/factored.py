"""``factored-example`` and ``factored-bench``: synthetic factored (paper-scale TNGD) problems."""

from __future__ import annotations

import io
import resource
import sys
import time
from pathlib import Path

import numpy as np

from ..circuit.spec import HardwareSpec
from ..core.config import SimConfig
from ..io import atomic_write_bytes, json_text
from ..solver.factored import check_memory, run_factored, synthetic_factored
from ..units import parse_quantity
from .args import TIME_HELP


def cmd_factored_example(args) -> int:
    if args.n < 1 or args.r < 1:
        raise ValueError("--n and --r must be ≥ 1")
    if str(args.output) != "-" and Path(args.output).suffix.lower() != ".npz":
        raise ValueError(f"-o {args.output}: the example is an .npz archive; name it with .npz (e.g. fe.npz)")
    check_memory(8.0 * args.r * args.n * 2, f"a synthetic problem with J {args.r}×{args.n}")
    p = synthetic_factored(args.n, args.r, seed=args.seed, damping=args.damping, scale=args.scale)

    buf = io.BytesIO()
    np.savez(buf, J=p.J, H=p.H, damping=np.float64(p.damping), g=p.b)
    atomic_write_bytes(args.output, buf.getvalue())
    print(f"wrote {args.output} (J {p.r}×{p.N}, λ = {p.damping:g}); run it with: "
          f"thermotwin simulate {args.output} --t-end 50tau", file=sys.stderr)
    return 0


def cmd_factored_bench(args) -> int:
    check_memory(8.0 * args.r * args.n * 2, f"a benchmark problem with J {args.r}×{args.n}")
    t0 = time.perf_counter()
    p = synthetic_factored(args.n, args.r, seed=args.seed, damping=args.damping)
    t_build = time.perf_counter() - t0
    spec = HardwareSpec.load(args.spec) if args.spec else HardwareSpec()
    if args.kappa0 is not None:

        spec = spec.replace(kappa0_v2=parse_quantity(args.kappa0, "V2"))
    cfg = SimConfig(t_end=args.t_end, dt_out=args.dt_out, noise="white", seed=args.seed)
    res = run_factored(p, spec, cfg)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {"N": p.N, "r": p.r, "t_end_tau": res.t_end_s / res.tau_s, "output_rows": len(res.times),
           "wall_s": res.wall_s, "build_s": t_build, "peak_rss_bytes": peak, "path": res.stats.get("path"),
           "rel_error": res.rel_error}
    if args.json:
        print(json_text(out))
    else:
        print(f"factored twin N={p.N} r={p.r} {out['t_end_tau']:.0f}τ, {out['output_rows']} rows, "
              f"path {out['path']}: wall {res.wall_s:.3g} s (problem built in {t_build:.3g} s), "
              f"peak RSS {peak / 1e9:.3g} GB")
    return 0


def add_parsers(sub) -> None:
    """Register this module's subcommands."""
    p = sub.add_parser("factored-example", help="write a synthetic factored TNGD problem (.npz: J, H, damping, g)")
    p.add_argument("-o", "--output", required=True, help=".npz file to write")
    p.add_argument("--n", type=int, default=10000, help="number of parameters N (default 10000)")
    p.add_argument("--r", type=int, default=640, help="rank r = b·d_z (default 640)")
    p.add_argument("--damping", type=float, default=0.01, help="λ (default 0.01, TNGD Fig. 4a)")
    p.add_argument("--scale", type=float, default=1.0, help="scale of J (eigenvalues of JᵀHJ ∝ scale²)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_factored_example)

    p = sub.add_parser("factored-bench", help="wall time and peak memory of the factored twin on a synthetic problem")
    p.add_argument("--n", type=int, default=100000)
    p.add_argument("--r", type=int, default=640)
    p.add_argument("--damping", type=float, default=0.01)
    p.add_argument("--t-end", default="50tau", help=f"simulated time (default 50tau) — {TIME_HELP}")
    p.add_argument("--dt-out", default="1tau", help=f"output grid spacing (default 1tau) — {TIME_HELP}")
    p.add_argument("--kappa0", help="noise κ0 in V² (default: the spec's)")
    p.add_argument("--spec", help="HardwareSpec JSON (non-ideal boards take the basis or diagonal path)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_factored_bench)
