"""Command-line pieces of the factored (paper-scale TNGD) twin; the library is
:mod:`thermotwin.solver.factored`.

* ``thermotwin simulate problem.npz --backend twin|ngspice …`` — :func:`simulate_npz`, called by
  ``cli.cmd_simulate`` for an ``.npz`` matrix argument; same options and JSON keys as dense problems
  (ngspice runs the three-array netlist of :mod:`thermotwin.circuit.factored_netlist`).
* ``thermotwin factored-example -o problem.npz --n 100000 --r 640`` — write a synthetic GGN-like
  problem (see :func:`~thermotwin.solver.factored.synthetic_factored`).
* ``thermotwin factored-bench --n 100000 --r 640`` — wall time and peak memory of one run.

Heavy modules are imported inside the functions (shared/STYLE.md 16).
"""

from __future__ import annotations

import json
import sys

import numpy as np


def _spec_and_config(args):
    """HardwareSpec and SimConfig from the simulate options (the same rules as dense problems)."""
    from .cli import config_from_args, spec_from_args

    return spec_from_args(args), config_from_args(args)


def simulate_npz(args):
    """``thermotwin simulate problem.npz``: the registry's simulate (or run_ensemble) on the factored problem;
    returns ``(SimResult, summary dict)``."""
    from .core.problem import load_problem

    problem = load_problem(args.matrix, args.rhs)
    spec, config = _spec_and_config(args)
    from .cli import mapping_from_args

    return run_simulation(problem, spec, config, args.backend, mapping_from_args(args), getattr(args, "ensemble", 1),
                          quiet=args.json)


def run_simulation(problem, spec, config, backend, mapping, ensemble: int = 1, quiet: bool = False):
    """(result, summary) of one run or an ensemble of ``ensemble`` boards (stochastic rounding)."""
    import dataclasses

    from .solver.registry import run_ensemble, simulate

    if ensemble > 1:
        ens = run_ensemble(problem, spec, config, ensemble, backend, dataclasses.replace(mapping, rounding="stochastic"))
        res, summary = ens.first, ens.summary()
    else:
        res = simulate(problem, spec, config, backend, mapping)
        summary = res.summary()
    if "noise_note" in res.stats and not quiet:
        print(f"thermotwin: note: {res.stats['noise_note']}", file=sys.stderr)
    return res, summary


def realise_npz(args) -> int:
    """``thermotwin realise problem.npz``: what the three-array board computes (realise_factored's report).

    JSON keys as for dense problems where they apply (d, tau_s, tau_eff_s, scale, b_scale, dropped,
    clipped, quantisation_max_rel, a_rel_frobenius, error_floor, nonideal_fields) plus N, r, scale_H,
    damping_realised and per-array counts; a_rel_frobenius and error_floor need the N×N drift, so
    they are null above N = DENSE_LIMIT.
    """
    from .circuit.board import realisation_report
    from .circuit.mapping import Mapping
    from .core.problem import load_factored
    from .errors import InputError

    if getattr(args, "ensemble", 1) > 1:
        raise InputError("realise --ensemble is for dense problems; for an .npz use simulate --ensemble K")
    spec = _spec_and_config(args)[0]
    problem = load_factored(args.matrix)
    from .cli import y_gain_from_args

    out = realisation_report(problem, spec, Mapping(y_gain=y_gain_from_args(args)))
    board_tau = out["tau_s"]
    if args.json:
        print(json.dumps(out))
    else:
        floor = "n/a (N too large to assemble)" if out["error_floor"] is None else f"{out['error_floor']:.3g}"
        print(f"realised factored board N={problem.N} r={problem.r} ({out['programmable_resistors']:,} programmable "
              f"resistors) τ={out['tau_s']:g} s (effective {out['tau_eff_s']:g} s) scale s={out['scale']:g} "
              f"s_H={out['scale_H']:g} b_scale={out['b_scale']:g} y_gain={out['y_gain']:.4g}\n  damping realised {out['damping_realised']:.6g}; "
              f"dropped {out['dropped']}, clipped {out['clipped']}; error floor {floor}\n"
              f"  non-ideal fields: {', '.join(out['nonideal_fields']) or 'none'}")
        st = out["stages"]
        if st is not None:
            print(f"  op-amp stages (GBW {spec.opamp.gbw_hz:g} Hz): J-stage lag up to {st['tc_J_stage_max_s']:.3g} s "
                  f"(noise gain {st['noise_gain_J_max']:.4g}), H-stage {st['tc_H_stage_max_s']:.3g} s, loop lag "
                  f"{st['loop_lag_max_s']:.3g} s = {st['loop_lag_max_s'] / board_tau:.3g} τ; worst-mode loop "
                  f"{'stable' if st['loop_stable'] else 'UNSTABLE'} (rate {st['loop_rate_max_per_s']:.3g} /s); integrators' "
                  f"τ stretched ×{st['integrator_tau_stretch_median']:.3g} (median) to ×{st['integrator_tau_stretch_max']:.3g}")
    return 0


def cmd_factored_example(args) -> int:
    import numpy as np

    from .io import atomic_write_bytes
    from .solver.factored import check_memory, synthetic_factored

    if args.n < 1 or args.r < 1:
        raise ValueError("--n and --r must be ≥ 1")
    check_memory(8.0 * args.r * args.n * 2, f"a synthetic problem with J {args.r}×{args.n}")
    p = synthetic_factored(args.n, args.r, seed=args.seed, damping=args.damping, scale=args.scale)
    import io

    buf = io.BytesIO()
    np.savez(buf, J=p.J, H=p.H, damping=np.float64(p.damping), g=p.b)
    atomic_write_bytes(args.output, buf.getvalue())
    print(f"wrote {args.output} (J {p.r}×{p.N}, λ = {p.damping:g}); run it with: "
          f"thermotwin simulate {args.output} --t-end 50tau", file=sys.stderr)
    return 0


def cmd_factored_bench(args) -> int:
    import resource
    import time

    from .circuit.spec import HardwareSpec
    from .core.config import SimConfig
    from .solver.factored import check_memory, run_factored, synthetic_factored

    check_memory(8.0 * args.r * args.n * 2, f"a benchmark problem with J {args.r}×{args.n}")
    t0 = time.perf_counter()
    p = synthetic_factored(args.n, args.r, seed=args.seed, damping=args.damping)
    t_build = time.perf_counter() - t0
    spec = HardwareSpec.load(args.spec) if args.spec else HardwareSpec()
    if args.kappa0 is not None:
        from .units import parse_quantity

        spec = spec.replace(kappa0_v2=parse_quantity(args.kappa0, "V2"))
    cfg = SimConfig(t_end=args.t_end, dt_out=args.dt_out, noise="white", seed=args.seed)
    res = run_factored(p, spec, cfg)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {"N": p.N, "r": p.r, "t_end_tau": res.t_end_s / res.tau_s, "output_rows": len(res.times),
           "wall_s": res.wall_s, "build_s": t_build, "peak_rss_bytes": peak, "path": res.stats.get("path"),
           "rel_error": res.rel_error}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"factored twin N={p.N} r={p.r} {out['t_end_tau']:.0f}τ, {out['output_rows']} rows, "
              f"path {out['path']}: wall {res.wall_s:.3g} s (problem built in {t_build:.3g} s), "
              f"peak RSS {peak / 1e9:.3g} GB")
    return 0


def add_parser(sub) -> None:
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
    p.add_argument("--t-end", default="50tau")
    p.add_argument("--dt-out", default="1tau")
    p.add_argument("--kappa0", help="noise κ0 in V² (default: the spec's)")
    p.add_argument("--spec", help="HardwareSpec JSON (non-ideal boards take the basis or diagonal path)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_factored_bench)
