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
from pathlib import Path

import numpy as np

from .io import json_text


def _spec_and_config(args):
    """HardwareSpec and SimConfig from the simulate options (the same rules as dense problems)."""
    from .cli import config_from_args, spec_from_args

    return spec_from_args(args), config_from_args(args)


def simulate_npz(args):
    """``thermotwin simulate problem.npz``: load, run the factored twin (or ngspice on the three-array
    netlist), return ``(SimResult, summary dict)`` — with ``--ensemble K`` the first member's result
    and the ensemble summary (the dense keys: ensemble, x_mean, rel_error, rel_error_members).

    Raises InputError (one line at the CLI) for options that have no meaning at this scale.
    """
    from .errors import InputError
    from .solver.factored import load_factored, run_factored, run_factored_ensemble

    if args.backend not in ("twin", "ngspice", "pyspice"):
        raise InputError(f"backend {args.backend!r} cannot run a factored .npz problem; use --backend twin (any "
                         "size) or ngspice/pyspice (the three-array netlist, small boards)")
    if args.rhs:
        raise InputError("--rhs: a factored .npz carries its right-hand side as array g; drop --rhs")
    k = getattr(args, "ensemble", 1)
    if k > 1 and args.backend != "twin":
        raise InputError("--ensemble on a factored problem runs the twin; use --backend twin")
    spec, config = _spec_and_config(args)
    problem = load_factored(args.matrix)
    from .cli import gbw_model_from_args, y_gain_from_args

    yg = y_gain_from_args(args)
    gm = gbw_model_from_args(args)
    if gm != "refuse" and args.backend != "twin":
        raise InputError("--gbw-model is the factored twin's approximation; SPICE simulates the op-amp poles "
                         "themselves: drop it with --backend ngspice/pyspice")
    if args.backend == "ngspice":
        from .solver.ngspice import run_ngspice_factored

        res = run_ngspice_factored(problem, spec, config, y_gain=yg)
        return res, res.summary()
    if args.backend == "pyspice":
        from .solver.pyspice_backend import run_pyspice_factored

        res = run_pyspice_factored(problem, spec, config, y_gain=yg)
        return res, res.summary()
    if k > 1:
        res, x_means, x_avg, wall = run_factored_ensemble(problem, spec, config, k, y_gain=yg, gbw_model=gm)
        summary = res.summary()
        x = problem.x_exact
        nx = float(np.linalg.norm(x))
        summary.update(ensemble=k, x_mean=x_avg.tolist(), rel_error=float(np.linalg.norm(x_avg - x) / nx),
                       rel_error_members=[float(np.linalg.norm(m - x) / nx) for m in x_means], wall_s=wall)
    else:
        res = run_factored(problem, spec, config, y_gain=yg, gbw_model=gm)
        summary = res.summary()
    if "noise_note" in res.stats and not args.json:
        print(f"thermotwin: note: {res.stats['noise_note']}", file=sys.stderr)
    return res, summary


def realise_npz(args) -> int:
    """``thermotwin realise problem.npz``: what the three-array board computes (realise_factored's report).

    JSON keys as for dense problems where they apply (d, tau_s, tau_eff_s, scale, b_scale, dropped,
    clipped, quantisation_max_rel, a_rel_frobenius, error_floor, nonideal_fields) plus N, r, scale_H,
    damping_realised and per-array counts; a_rel_frobenius and error_floor need the N×N drift, so
    they are null above N = DENSE_LIMIT.
    """
    from .errors import InputError
    from .circuit.factored import realise_factored, stage_time_constants
    from .solver.factored import DENSE_LIMIT, load_factored

    if getattr(args, "ensemble", 1) > 1:
        raise InputError("realise --ensemble is for dense problems; for an .npz use simulate --ensemble K")
    spec = _spec_and_config(args)[0]
    problem = load_factored(args.matrix)
    # the twin's realisation has no op-amp dynamics; a GBW pole is reported as stage lags instead
    dyn = {"opamp.gbw_hz": None, "opamp.slew_v_per_s": None}
    from .cli import y_gain_from_args

    yg = y_gain_from_args(args)
    board = realise_factored(problem, spec.replace(**dyn) if spec.opamp.gbw_hz is not None else spec, y_gain=yg)
    rep = board.report
    a0 = spec.opamp.gain
    out = {
        "d": problem.N, "N": problem.N, "r": problem.r,
        "tau_s": board.tau_s, "tau_eff_s": board.tau_s * (1 + (1 / a0 if a0 else 0.0)),
        "scale": rep["scale"], "scale_H": rep["scale_H"], "b_scale": board.b_scale,
        "damping_realised": rep["damping_realised"],
        "dropped": sum(rep.get(f"{a}_dropped", 0) for a in ("J1", "J2", "H")),
        "clipped": sum(rep.get(f"{a}_clipped", 0) for a in ("J1", "J2", "H")),
        "quantisation_max_rel": max([rep.get(f"{a}_quantisation_max_rel", 0.0) for a in ("J1", "J2", "H")]),
        "arrays": {k: v for k, v in rep.items() if k.startswith(("J1_", "J2_", "H_"))},
        "programmable_resistors": problem.r * (problem.r + 2 * problem.N),
        "a_rel_frobenius": None, "error_floor": None,
        "nonideal_fields": spec.nonideal_fields(),
    }
    out["y_gain"] = board.report["y_gain"]
    out["stages"] = stage_time_constants(problem.J, problem.H, spec, a_max=problem.lambda_max - problem.damping,
                                         lam=problem.damping, tau=board.tau_s, y_gain=out["y_gain"])
    if problem.N <= DENSE_LIMIT:
        F = problem.dense()
        M = board.dense_drift()
        f = board.f
        out["a_rel_frobenius"] = float(np.linalg.norm(M - F) / np.linalg.norm(F))   # A_eff as for dense: M·τ
        x_fixed = np.linalg.solve(M, f)
        x = problem.x_exact
        out["error_floor"] = float(np.linalg.norm(x_fixed - x) / np.linalg.norm(x))
    if args.json:
        print(json_text(out))
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
                  f"{st['loop_lag_max_s']:.3g} s = {st['loop_lag_max_s'] / board.tau_s:.3g} τ; worst-mode loop "
                  f"{'stable' if st['loop_stable'] else 'UNSTABLE'} (rate {st['loop_rate_max_per_s']:.3g} /s); integrators' "
                  f"τ stretched ×{st['integrator_tau_stretch_median']:.3g} (median) to ×{st['integrator_tau_stretch_max']:.3g}")
    return 0


def cmd_factored_example(args) -> int:
    import numpy as np

    from .io import atomic_write_bytes
    from .solver.factored import check_memory, synthetic_factored

    if args.n < 1 or args.r < 1:
        raise ValueError("--n and --r must be ≥ 1")
    if str(args.output) != "-" and Path(args.output).suffix.lower() != ".npz":
        raise ValueError(f"-o {args.output}: the example is an .npz archive; name it with .npz (e.g. fe.npz)")
    check_memory(8.0 * args.r * args.n * 2, f"a synthetic problem with J {args.r}×{args.n}")
    p = synthetic_factored(args.n, args.r, seed=args.seed, damping=args.damping, scale=args.scale)
    import io

    buf = io.BytesIO()
    np.savez(buf, J=p.J, H=p.H, damping=np.float64(p.damping), g=p.g)
    atomic_write_bytes(args.output, buf.getvalue())
    print(f"wrote {args.output} (J {p.r}×{p.N}, λ = {p.damping:g}); run it with: "
          f"thermotwin simulate {args.output} --t-end 50tau", file=sys.stderr)
    return 0


def cmd_factored_bench(args) -> int:
    import resource
    import time

    from .circuit.spec import HardwareSpec
    from .solver.config import SimConfig
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
        print(json_text(out))
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
