"""Command line: a thin shell over the library (shared/STYLE.md 19).

``main(argv) -> int``; every error the library raises on purpose becomes one line on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from .io import json_text

#: Modules that add subcommands (see build_parser).
EXTRA_COMMAND_MODULES = (".sweep", ".timing", ".factored")

EXIT_INPUT = 2
EXIT_SIM = 3


def _add_problem_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("matrix", nargs="?", help="matrix file (.mtx, .npy, .csv); default: the built-in example")
    p.add_argument("--rhs", help="right-hand side b (.mtx, .npy, .csv); default: all ones")
    p.add_argument("--spec", help="HardwareSpec JSON (see `thermotwin spec --template`)")
    p.add_argument("--r0", help="unit resistance R0 in ohm (e.g. 1k)")
    p.add_argument("--c", help="integrator capacitance in farad (e.g. 1n)")
    p.add_argument("--kappa0", help="noise strength κ0 in V² (0 = noiseless)")
    p.add_argument("--t-end", help="simulated time: seconds (1e-4, 100us) or multiples of τ (200tau)")
    p.add_argument("--dt-out", help="output grid spacing (seconds or τ multiples)")
    p.add_argument("--noise-step", help="noise sample interval (seconds or τ multiples)")
    p.add_argument("--noise", default="pwl", choices=["pwl", "white", "trnoise", "trrandom", "none"],
                   help="pwl: same zero-order-hold noise path in twin and SPICE (default); white: exact OU "
                        "(twin); trnoise/trrandom: ngspice's own generators")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.add_argument("--v0", default="zero", choices=["zero", "rhs"], help="initial state (default zero)")
    p.add_argument("--settle", help="start of the averaging window (default: settling time to 1e-3)")
    p.add_argument("--timeout", type=float, default=600.0, help="SPICE wall-clock limit in seconds")
    p.add_argument("--yes", action="store_true", help="run beyond the default budget (memory, steps, PWL points, "
                   "rows; see README 'Limits and safety'); the machine's available memory is never exceeded")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override one spec field, e.g. --set opamp.gain=1e4 --set resistor_bits=null (repeatable)")


def _problem_spec_config(args):
    from .problem import load_problem

    problem = load_problem(args.matrix, args.rhs)
    refuse_factored_options(args)
    return problem, spec_from_args(args), config_from_args(args)


def spec_from_args(args):
    """HardwareSpec from --spec, --r0/--c/--kappa0 and --set FIELD=VALUE (shared by dense and factored)."""
    from .circuit.spec import HardwareSpec
    from .units import parse_quantity

    spec = HardwareSpec.load(args.spec) if getattr(args, "spec", None) else HardwareSpec()
    changes = {}
    if getattr(args, "r0", None) is not None:
        changes["r0_ohm"] = parse_quantity(args.r0, "ohm")
    if getattr(args, "c", None) is not None:
        changes["c_farad"] = parse_quantity(args.c, "F")
    if getattr(args, "kappa0", None) is not None:
        changes["kappa0_v2"] = parse_quantity(args.kappa0, "V2")
    for item in getattr(args, "set", []) or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {item!r}: write FIELD=VALUE, e.g. --set opamp.gain=1e4")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError(f"--set {item!r}: the value must be a number, true/false or null") from None
        changes[key.strip()] = value
    if changes:
        spec = spec.replace(**changes)
    return spec


def config_from_args(args):
    from .solver.config import SimConfig

    return SimConfig(t_end=args.t_end, dt_out=args.dt_out, noise_step=args.noise_step, noise=args.noise,
                     seed=args.seed, v0=args.v0, settle=args.settle, timeout_s=args.timeout)


def _is_npz(path) -> bool:
    return bool(path) and Path(path).suffix.lower() == ".npz"


def y_gain_arg(text: str):
    """--y-gain: a number or 'balance' (checked by circuit.factored.resolve_y_gain)."""
    try:
        return float(text)
    except ValueError:
        return text.strip()


#: Options only a factored (.npz) board has, and what to tell a user who gives them for a dense matrix.
FACTORED_ONLY_OPTIONS = (
    ("y_gain", "--y-gain sets the gain split between the J_f and H stages of a factored (.npz) board; "
               "drop it for a dense matrix"),
    ("gbw_model", "--gbw-model applies to factored (.npz) problems; the dense twin models the op-amp poles "
                  "exactly — drop it"),
)


def refuse_factored_options(args) -> None:
    """One-line error for a factored-only option given with a dense problem."""
    for attr, message in FACTORED_ONLY_OPTIONS:
        if getattr(args, attr, None) is not None:
            raise ValueError(message)


def y_gain_from_args(args):
    """The --y-gain value of a factored problem (1.0 when absent)."""
    value = getattr(args, "y_gain", None)
    return 1.0 if value is None else value


def gbw_model_from_args(args) -> str:
    """The --gbw-model value of a factored problem ('refuse' when absent)."""
    value = getattr(args, "gbw_model", None)
    return "refuse" if value is None else value


def _add_gbw_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gbw-model", choices=["refuse", "integrator"], default=None,
                   help="factored .npz problems with opamp.gbw_hz: 'integrator' models the integrators' slow-down "
                        "C_i + G_s,i/(2π·GBW) (exact for modes slow next to the GBW; the summing stages' lags are "
                        "left out: see `realise`); default refuse")


def _add_y_gain(p: argparse.ArgumentParser) -> None:
    p.add_argument("--y-gain", type=y_gain_arg, default=None, metavar="G|balance",
                   help="factored .npz boards: gain of the J_f summing stages (the H stages get 1/G; the loop, F, is "
                        "unchanged). G < 1 lowers the J_f stages' noise gain 1 + G·Σ|J_row| (their GBW lag and "
                        "finite-gain error); 'balance' equalises the two arrays' worst noise gains. Default 1")


def cmd_netlist(args) -> int:
    from .circuit.netlist import PROBE_FILE, render_netlist
    from .io import atomic_write_text, check_output_not_input, shell_quote_path
    from .problem import safe_name

    out = Path(args.output)
    check_output_not_input(out, [args.matrix, args.rhs, args.spec])
    data_name = PROBE_FILE if args.probe else safe_name(out.stem, "thermotwin") + ".data"
    what = "drift probe" if args.probe else "transient"
    if args.factored or _is_npz(args.matrix):
        from .problem import Problem
        from .solver.factored import load_factored

        if not _is_npz(args.matrix):
            raise ValueError("--factored needs a factored problem: an .npz with arrays J (r×N), H (r×r), damping "
                             "and g (N); see `thermotwin factored-example`")
        if args.rhs:
            raise ValueError("--rhs: a factored .npz carries its right-hand side as array g; drop --rhs")
        fp = load_factored(args.matrix)
        spec, config = spec_from_args(args), config_from_args(args)
        if args.factored:
            from .circuit.factored_netlist import render_factored_netlist

            text = render_factored_netlist(fp, spec, config, output_file=data_name, probe=args.probe,
                                           y_gain=y_gain_from_args(args))
            desc = f"three-array board: N = {fp.N} integrators, r = {fp.r} stages per inner array"
        else:   # the dense Appendix C array of F = λI + JᵀHJ (the factored netlist's reference)
            refuse_factored_options(args)
            text = render_netlist(Problem(fp.dense(), fp.g, name=fp.name), spec, config, output_file=data_name,
                                  probe=args.probe)
            desc = f"dense array of F = λI + JᵀHJ: {fp.N} integrators"
    else:
        problem, spec, config = _problem_spec_config(args)
        text = render_netlist(problem, spec, config, output_file=data_name, probe=args.probe)
        desc = f"{problem.d} integrators"
    atomic_write_text(out, text)
    shown = shell_quote_path(out)
    print(f"wrote {shown} ({what}, {desc}; run it with: ngspice -b {shown})", file=sys.stderr)
    return 0


def cmd_simulate(args) -> int:
    from .io import atomic_write_json, atomic_write_text
    from .solver.registry import simulate
    from .units import check_number

    check_number(args.ensemble, "--ensemble", lo=1, integer=True)
    if args.calib:
        if args.backend != "twin":
            raise ValueError("--calib runs the fitted model, which only the twin backend can do; use --backend twin")
        given = [o for o, v in (("a matrix", args.matrix), ("--rhs", args.rhs), ("--spec", args.spec),
                                ("--set", args.set), ("--r0", args.r0), ("--c", args.c), ("--kappa0", args.kappa0)) if v]
        if given:
            raise ValueError(f"--calib runs the fitted model, which fixes the matrix and the board; drop {given[0]}")
        from .calibration.fit import Calibration
        from .solver.config import SimConfig
        from .solver.ou import run_twin_calibrated

        cal = Calibration.load(args.calib)
        config = SimConfig(t_end=args.t_end, dt_out=args.dt_out, noise_step=args.noise_step, noise=args.noise,
                           seed=args.seed, v0=args.v0, settle=args.settle, timeout_s=args.timeout)
        res = run_twin_calibrated(cal, config)
        summary = res.summary()
        summary["calibration"] = args.calib
        return _emit_simulation(args, res, summary)
    if args.matrix and Path(args.matrix).suffix.lower() == ".npz":   # factored problem (J, H, damping, g)
        from .factored import simulate_npz

        res, summary = simulate_npz(args)
        return _emit_simulation(args, res, summary)
    problem, spec, config = _problem_spec_config(args)
    if args.ensemble > 1:
        from .solver.registry import simulate_ensemble

        members, x_avg = simulate_ensemble(problem, spec, config, args.ensemble, backend=args.backend)
        res = members[0]
        summary = res.summary()
        summary.update(
            ensemble=args.ensemble,
            x_mean=x_avg.tolist(),
            rel_error=float(res._rel(x_avg)),
            rel_error_members=[m.rel_error for m in members],
            wall_s=float(sum(m.wall_s for m in members)),
        )
    else:
        res = simulate(problem, spec, config, backend=args.backend)
        summary = res.summary()
    return _emit_simulation(args, res, summary)


def _emit_simulation(args, res, summary) -> int:
    from .io import atomic_write_json, atomic_write_text, check_output_not_input
    from .solver.result import check_finite_summary

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
              + (f"{summary['rel_error']:.4g}" if summary['rel_error'] is not None
                 else f"undefined (b = 0); absolute error {summary['abs_error']:.4g}")
              + (f" (ensemble of {args.ensemble} boards)" if summary.get("ensemble") else ""))
    return 0


def cmd_report(args) -> int:
    from .report import make_report

    if getattr(args, "calib", None):
        from .calibration.fit import Calibration
        from .calibration.traces import read_trace
        from .report import make_calibrated_report

        if not args.trace:
            raise ValueError("report --calib needs --trace HELDOUT (a run the calibration did not see)")
        s = make_calibrated_report(Calibration.load(args.calib), read_trace(args.trace, args.nodes), args.out)
        if args.json:
            print(json_text(s))
        else:
            print(f"held-out running error at the end: measured {s['final_measured']:.4g}, predicted "
                  f"{s['final_predicted']:.4g} (floor {s['floor']:.3g}); measured/predicted over the second half of "
                  f"the window: median {s['ratio_median_second_half']:.3f}, worst {s['ratio_max_dev_second_half']:.1%} off"
                  f"\n  report written to {args.out}/")
        return 0

    problem, spec, config = _problem_spec_config(args)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    summary = make_report(problem, spec, config, args.out, backends=backends)
    if args.json:
        print(json_text(summary))
    else:
        print((Path(args.out) / "summary.txt").read_text(), end="")
        print(f"  report written to {args.out}/")
    return 0


def cmd_demo(args) -> int:
    args.matrix = None
    args.rhs = None
    return cmd_report(args)


def cmd_bench(args) -> int:
    from .bench import run_bench
    from .units import check_number, parse_dims

    dims = parse_dims(args.dims)
    check_number(args.big, "--big", lo=0, integer=True)
    check_number(args.saturating, "--saturating", lo=0, integer=True)
    from .circuit.spec import HardwareSpec

    spec = HardwareSpec.load(args.spec) if args.spec else None
    result = run_bench(dims=dims, t_end=args.t_end, big=args.big, seed=args.seed, progress=not args.json,
                       saturating=args.saturating, spec=spec)
    if args.json:
        print(json_text(result))
    return 0


def cmd_realise(args) -> int:
    import numpy as np

    from .circuit.design import design, error_floor, realised_matrix

    if _is_npz(args.matrix):
        from .factored import realise_npz

        return realise_npz(args)
    from .units import check_number

    check_number(args.ensemble, "--ensemble", lo=1, integer=True)
    problem, spec, _ = _problem_spec_config(args)
    values = design(problem, spec)
    real = realised_matrix(values, spec)
    ensemble_floor = None
    if args.ensemble > 1:
        from .circuit.design import Mapping

        xs = []
        for i in range(args.ensemble):
            s_i = spec.replace(board_seed=spec.board_seed + i)
            xs.append(realised_matrix(design(problem, s_i, Mapping(rounding="stochastic")), s_i).x_fixed_point)
        x = problem.x_exact
        ensemble_floor = float(np.linalg.norm(np.mean(xs, axis=0) - x) / np.linalg.norm(x))
    A_eff = real.A_eff
    out = {
        "d": problem.d,
        "tau_s": values.nominal_tau_s,
        "tau_eff_s": values.nominal_tau_s * (1 + (1 / spec.opamp.gain if spec.opamp.gain else 0.0)),
        "scale": values.scale,
        "b_scale": values.b_scale,
        "dropped": values.report.get("dropped", 0),
        "clipped": values.report.get("clipped", 0),
        "quantisation_max_rel": values.report.get("quantisation_max_rel", 0.0),
        "a_rel_frobenius": float(np.linalg.norm(A_eff - problem.A) / np.linalg.norm(problem.A)),
        "error_floor": error_floor(problem, real),
        "nonideal_fields": spec.nonideal_fields(),
        "ensemble": args.ensemble,
        "ensemble_error_floor": ensemble_floor,
        "A_eff": A_eff.tolist(),
        "b_eff": real.b_eff.tolist(),
    }
    if args.json:
        print(json_text(out))
    else:
        print(f"realised d={out['d']} τ={out['tau_s']:g} s (effective {out['tau_eff_s']:g} s) scale s={out['scale']:g} "
              f"b_scale={out['b_scale']:g}\n  ‖A_eff − A‖_F/‖A‖_F = {out['a_rel_frobenius']:.3g}; dropped "
              f"{out['dropped']}, clipped {out['clipped']}; error floor {out['error_floor']:.3g}\n"
              f"  non-ideal fields: {', '.join(out['nonideal_fields']) or 'none'}"
              + (f"\n  ensemble of {args.ensemble} boards (stochastic rounding): floor {ensemble_floor:.3g}"
                 if ensemble_floor is not None else ""))
    return 0


def cmd_validate(args) -> int:
    from .io import atomic_write_json, atomic_write_text
    from .units import parse_dims
    from .validate import run_validate, table_markdown

    dims = parse_dims(args.dims)
    rows = run_validate(dims=dims, t_end=args.t_end, seed=args.seed, progress=not args.json)
    if args.out:
        atomic_write_json(Path(args.out) / "validate.json", rows)
        atomic_write_text(Path(args.out) / "validate.md", table_markdown(rows))
    if args.json:
        print(json_text(rows))
    return 0 if all(r["ok"] for r in rows) else 1


def cmd_calibrate(args) -> int:
    import warnings

    from .calibration.fit import fit_ou
    from .calibration.traces import read_trace
    from .io import atomic_write_text, check_output_not_input
    from .units import parse_time

    check_output_not_input(args.output, [args.trace, args.matrix, args.rhs, args.spec])
    trace = read_trace(args.trace, args.nodes)
    tau, tau_source, nominal = None, "", None
    if args.matrix or args.spec:
        from .circuit.design import design
        from .circuit.spec import HardwareSpec
        from .problem import load_problem

        spec = HardwareSpec.load(args.spec) if args.spec else HardwareSpec()
        if args.matrix:
            problem = load_problem(args.matrix, args.rhs)
            if problem.d != trace.d:
                raise ValueError(f"the trace has {trace.d} node columns but the matrix is {problem.d}×{problem.d}; "
                                 "select the integrator outputs with --nodes")
            values = design(problem, spec)
            tau, tau_source = values.nominal_tau_s, "design of the nominal matrix on the spec"
            nominal = (problem, values, spec)
        else:
            tau, tau_source = spec.r0_ohm * spec.c_farad, "spec R0·C"
    dt = parse_time(args.dt, tau) if args.dt else None
    skip = parse_time(args.skip, tau) if args.skip else 0.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        cal = fit_ou(trace, dt=dt, tau_s=tau, tau_source=tau_source, nominal=nominal, skip_s=skip)
    for w in caught:
        print(f"thermotwin: warning: {w.message}", file=sys.stderr)
    atomic_write_text(args.output, cal.to_json())
    if args.json:
        print(cal.to_json().replace("\n", " "))
    else:
        M_se = max(max(r) for r in cal.drift_se_per_s)
        print(f"calibrated {cal.d} nodes from {cal.n_samples} samples every {cal.dt_s:g} s ({cal.resampled or 'uniform'})\n"
              f"  λ_min = {cal.lambda_min_per_s:.4g} ± {cal.lambda_min_se_per_s:.2g} 1/s; κ0 = {cal.kappa0_v2:.4g} ± "
              f"{cal.kappa0_se_v2:.2g} V² (τ = {cal.tau_s:g} s: {cal.tau_source})\n"
              f"  settling from 0 to 1e-1/1e-2/1e-3: " + " / ".join(f"{v:.3g} s" for v in cal.t_settle_s.values()) +
              f"\n  residuals white: {cal.whiteness['white']} (max |autocorr|·√N = {cal.whiteness['max_abs_autocorr_z']:.2f})"
              + (f"\n  against the nominal matrix: ‖A_eff − A‖_F/‖A‖_F = {cal.nominal['rel_frobenius']:.3g}, "
                 f"max |z| = {cal.nominal['max_abs_z']:.2f}, fixed point off by {cal.nominal['fixed_point_rel_error']:.3g}"
                 if cal.nominal else "")
              + f"\n  wrote {args.output}")
    return 0


def cmd_predict(args) -> int:
    import numpy as np

    from .calibration.fit import Calibration
    from .calibration.predict import predict_from_calibration, time_to_tolerance
    from .io import atomic_write_text
    from .units import check_number, parse_time

    check_number(args.tol, "--tol", lo=0, lo_open=True)
    check_number(args.prob, "--prob", 0, 1, lo_open=True, hi_open=True)
    if args.out:
        from .io import check_output_not_input

        check_output_not_input(Path(args.out) / "prediction.csv", [args.calib])
    cal = Calibration.load(args.calib)
    t_end = parse_time(args.t_end, cal.tau_s) if args.t_end else 20 * math.log(1e3) / cal.lambda_min_per_s
    pred, _ = predict_from_calibration(cal, t_end)
    t_tol = time_to_tolerance(cal, args.tol, args.prob)
    out = {
        "t_end_s": t_end, "settle_s": pred.settle_s, "floor": pred.floor,
        "tol": args.tol, "prob": args.prob, "time_to_tol_s": t_tol,
        "time_to_tol_total_s": t_tol + pred.settle_s if math.isfinite(t_tol) else math.inf,
        "window_s": pred.window.tolist()[:: max(1, len(pred.window) // 50)],
        "rel_error": pred.running.tolist()[:: max(1, len(pred.window) // 50)],
    }
    if args.out:
        import io

        buf = io.StringIO()
        np.savetxt(buf, np.column_stack([pred.window + pred.settle_s, pred.window, pred.running, pred.running_bias,
                                         pred.running_noise]), delimiter=",", comments="",
                   header="time_s,window_s,rel_error_rms,bias,noise", fmt="%.8e")
        atomic_write_text(Path(args.out) / "prediction.csv", buf.getvalue())
    if args.json:
        print(json_text(out))
    else:
        print(f"predicted rms relative error of the running average (after settling {pred.settle_s:.3g} s):")
        for frac in (0.01, 0.1, 0.3, 1.0):
            k = min(len(pred.window) - 1, max(1, int(frac * (len(pred.window) - 1))))
            print(f"  T = {pred.window[k]:.3g} s: {pred.running[k]:.3g}")
        print(f"  floor (A_eff against A): {pred.floor:.3g}")
        print(f"  time to reach {args.tol:g} with probability {args.prob:g}: "
              + (f"{t_tol:.3g} s of averaging ({out['time_to_tol_total_s']:.3g} s in all)" if math.isfinite(t_tol)
                 else "never (the floor or the time limit forbids it)"))
    return 0


def cmd_spec(args) -> int:
    from .circuit.spec import HardwareSpec, template_json

    if args.check:
        spec = HardwareSpec.load(args.check)
        print(spec.to_json(), end="")
        return 0
    print(template_json(), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    ap = argparse.ArgumentParser(prog="thermotwin", description="Circuit simulator and digital twin of thermodynamic "
                                 "(Langevin) analog linear solvers: netlists, ngspice/PySpice runs, an exact OU twin, "
                                 "non-ideal hardware, calibration and accuracy reports.")
    ap.add_argument("--version", action="version", version=f"thermotwin {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("netlist", help="write the ngspice netlist of the integrator array")
    _add_problem_args(p)
    p.add_argument("-o", "--output", required=True, help="netlist file to write (e.g. out.cir)")
    p.add_argument("--factored", action="store_true",
                   help="for an .npz problem (J, H, damping, g): the scaled-up three-array board (J_f, H_L, J_f^T "
                        "arrays, memoryless summing stages, integrators only on the N outputs); without it an "
                        ".npz gives the dense array of λI + JᵀHJ")
    p.add_argument("--probe", action="store_true",
                   help="write the drift probe instead of the transient: integrators replaced by sources, one "
                        "operating point per column, writing the summing-node currents to thermotwin_probe.data")
    _add_y_gain(p)
    p.set_defaults(func=cmd_netlist)

    p = sub.add_parser("simulate", help="simulate with the twin, ngspice or PySpice")
    _add_y_gain(p)
    _add_gbw_model(p)
    _add_problem_args(p)
    p.add_argument("--backend", default="twin", choices=["twin", "twin-em", "ngspice", "pyspice"])
    p.add_argument("--out", help="directory for trace.csv and summary.json")
    p.add_argument("--ensemble", type=int, default=1, metavar="K",
                   help="average over K boards (board_seed+i, stochastic rounding, seed+i): error mitigation")
    p.add_argument("--calib", help="run the twin on a fitted model (calib.json from `thermotwin calibrate`)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=cmd_simulate)

    for name, helptext, func in (("report", "accuracy-versus-time report (twin and ngspice)", cmd_report),
                                 ("demo", "the report on the built-in example", cmd_demo)):
        p = sub.add_parser(name, help=helptext)
        _add_problem_args(p)
        if name == "demo":
            p.set_defaults(t_end="80tau", kappa0="1e-6")
        p.add_argument("--out", default="report", help="output directory (default ./report)")
        p.add_argument("--backends", default="twin,ngspice", help="comma-separated backends (default twin,ngspice)")
        p.add_argument("--json", action="store_true", help="print the summary as JSON")
        if name == "report":
            p.add_argument("--calib", help="calibration JSON: overlay its prediction on a held-out --trace")
            p.add_argument("--trace", help="held-out trace (CSV or ngspice raw) for --calib")
            p.add_argument("--nodes", help="trace columns to use (glob or re:regex)")
        p.set_defaults(func=func)

    p = sub.add_parser("bench", help="wall time of the twin against ngspice on the same circuit")
    p.add_argument("--dims", default="8,32,64", help="dimensions run on both (default 8,32,64)")
    p.add_argument("--t-end", default="1000tau", help="simulated time (default 1000tau)")
    p.add_argument("--big", type=int, default=1024, help="dimension run on the twin alone (0 = skip)")
    p.add_argument("--saturating", type=int, default=32, help="d of the saturating-circuit bench (0 = skip)")
    p.add_argument("--spec", help="HardwareSpec JSON for the benched board")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("realise", help="the matrix the board actually computes, and its error floor")
    _add_y_gain(p)
    _add_problem_args(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--ensemble", type=int, default=1, metavar="K",
                   help="also report the floor of the average over K boards with stochastic rounding")
    p.set_defaults(func=cmd_realise)

    p = sub.add_parser("calibrate", help="fit drift, fixed point and noise to a trace (CSV or ngspice raw)")
    p.add_argument("trace", help="trace file: CSV (time, then node columns) or ngspice .raw (ASCII or binary)")
    p.add_argument("--nodes", help="columns to use: glob(s) like 'v(o*)' or 're:regex', comma separated")
    p.add_argument("--matrix", help="nominal matrix, to compare A_eff = M·τ against it")
    p.add_argument("--rhs", help="nominal right-hand side")
    p.add_argument("--spec", help="HardwareSpec JSON (τ, for κ0 and A_eff)")
    p.add_argument("--dt", help="sampling interval for the fit (default: the trace's step); seconds or τ")
    p.add_argument("--skip", help="leading time to drop")
    p.add_argument("-o", "--output", required=True, help="calibration JSON to write")
    p.add_argument("--yes", action="store_true", help="resample beyond the default budget (never beyond the "
                   "machine's available memory)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("predict", help="accuracy versus time from a calibration")
    p.add_argument("--calib", required=True)
    p.add_argument("--t-end", help="horizon (seconds or τ multiples)")
    p.add_argument("--tol", type=float, default=1e-2, help="relative tolerance (default 0.01)")
    p.add_argument("--prob", type=float, default=0.9, help="probability of reaching it (default 0.9)")
    p.add_argument("--out", help="directory for prediction.csv")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("validate", help="twin against ngspice for every non-ideality, same seeds")
    p.add_argument("--dims", default="4,16,32")
    p.add_argument("--t-end", default="20tau")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="directory for validate.json and validate.md")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)

    # Commands that live in their own modules: each exposes add_parser(subparsers), which sets
    # func; the module must import its heavy dependencies lazily.
    import importlib

    for modname in EXTRA_COMMAND_MODULES:
        try:
            mod = importlib.import_module(modname, __package__)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(__package__ + "."):
                continue            # not written yet
            raise
        mod.add_parser(sub)

    p = sub.add_parser("spec", help="print the default HardwareSpec (--template) or check a spec file")
    p.add_argument("--template", action="store_true", help="print the full default spec with field docs")
    p.add_argument("--check", metavar="FILE", help="validate FILE and print it normalised")
    p.set_defaults(func=cmd_spec)
    return ap


def main(argv: list[str] | None = None) -> int:
    from .budget import lifted
    from .errors import SimulationError, ThermotwinError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with lifted(getattr(args, "yes", False)):      # --yes: beyond the default budget, for this call
            return args.func(args)
    except SimulationError as exc:
        print(f"thermotwin: error: {exc}", file=sys.stderr)
        return EXIT_SIM
    except (ThermotwinError, ValueError, OSError) as exc:
        print(f"thermotwin: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyError as exc:
        print(f"thermotwin: error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("thermotwin: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
