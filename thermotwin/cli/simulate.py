"""``simulate``: one run or an ensemble of boards, any backend, dense or factored."""

from __future__ import annotations


import sys
from pathlib import Path

from ..core.problem import load_problem
from ..io import atomic_write_json, atomic_write_text, check_output_not_input, json_text
from ..solver.ou import run_twin_calibrated
from ..solver.registry import BACKENDS, backend_names, simulate_summary
from ..solver.result import check_finite_summary
from ..units import check_number
from .args import (
    add_gbw_model, add_problem_args, add_y_gain, config_from_args, is_npz, mapping_from_args,
    problem_spec_config, spec_from_args,
)


def cmd_simulate(args) -> int:
    check_number(args.ensemble, "--ensemble", lo=1, integer=True)
    if args.calib:
        if args.backend != "twin":
            raise ValueError("--calib runs the fitted model, which only the twin backend can do; use --backend twin")
        given = [o for o, v in (("a matrix", args.matrix), ("--rhs", args.rhs), ("--spec", args.spec),
                                ("--set", args.set), ("--r0", args.r0), ("--c", args.c), ("--kappa0", args.kappa0),
                                ("--y-gain", args.y_gain), ("--gbw-model", args.gbw_model),
                                ("--ensemble", args.ensemble > 1)) if v]
        if given:
            raise ValueError(f"--calib runs the fitted model, which fixes the matrix and the board; drop {given[0]}")

        from ..calibration.fit import Calibration

        res = run_twin_calibrated(Calibration.load(args.calib), config_from_args(args))
        summary = res.summary()
        summary["calibration"] = args.calib
        return _emit_simulation(args, res, summary)

    if is_npz(args.matrix):
        problem = load_problem(args.matrix, args.rhs)
        spec, config = spec_from_args(args), config_from_args(args)
    else:
        problem, spec, config = problem_spec_config(args)
    res, summary = simulate_summary(problem, spec, config, args.backend, mapping_from_args(args), args.ensemble)
    if "noise_note" in res.stats and not args.json:
        print(f"thermotwin: note: {res.stats['noise_note']}", file=sys.stderr)
    return _emit_simulation(args, res, summary)


def _emit_simulation(args, res, summary) -> int:
    check_finite_summary(summary)
    if args.out:
        out = Path(args.out)
        check_output_not_input([out / "trace.csv", out / "summary.json"],
                               [args.matrix, args.rhs, args.spec, args.calib])
        atomic_write_text(out / "trace.csv", res.trace_csv())
        atomic_write_json(out / "summary.json", summary)
    if args.json:
        print(json_text(summary))
    else:
        w = summary["average_window_s"]
        print(f"{res.backend}: d={res.d} τ={res.tau_s:g} s t_end={res.t_end_s:g} s ({res.t_end_s / res.tau_s:.1f} τ) "
              f"wall={res.wall_s:.3g} s\n  rel_error of the time average over [{w[0]:.3g}, {w[1]:.3g}] s: "
              + (f"{summary['rel_error']:.4g}" if summary["rel_error"] is not None
                 else f"undefined (b = 0); absolute error {summary['abs_error']:.4g}")
              + (f" (ensemble of {args.ensemble} boards)" if summary.get("ensemble") else ""))
    return 0


def add_parsers(sub) -> None:
    """Register this module's subcommands."""

    p = sub.add_parser("simulate", help="simulate with the twin, ngspice or PySpice")
    add_y_gain(p)
    add_gbw_model(p)
    add_problem_args(p)
    p.add_argument("--backend", default="twin", choices=backend_names(),
                   help="; ".join(f"{b.name}: {b.description}" for b in BACKENDS.values()))
    p.add_argument("--out", help="directory for trace.csv and summary.json")
    p.add_argument("--ensemble", type=int, default=1, metavar="K",
                   help="average over K boards (board_seed+i, stochastic rounding, seed+i): error mitigation")
    p.add_argument("--calib", help="run the twin on a fitted model (calib.json from `thermotwin calibrate`)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=cmd_simulate)

