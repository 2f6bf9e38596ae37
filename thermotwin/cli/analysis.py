"""Analysis commands: ``report``, ``demo``, ``bench``, ``calibrate``, ``predict``, ``validate``, ``spec``."""

from __future__ import annotations

import io
import math
import sys
import warnings
from pathlib import Path

import numpy as np

from ..circuit.design import design
from ..circuit.spec import HardwareSpec, template_json
from ..core.problem import load_problem
from ..io import atomic_write_json, atomic_write_text, check_output_not_input, json_text
from ..units import check_number, parse_dims, parse_time
from .args import TIME_HELP, add_problem_args, problem_spec_config


def cmd_report(args) -> int:
    from ..calibration.fit import Calibration
    from ..calibration.traces import read_trace
    from ..report import make_calibrated_report, make_report

    if getattr(args, "calib", None):

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

    problem, spec, config = problem_spec_config(args)
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
    from ..bench import run_bench

    dims = parse_dims(args.dims)
    check_number(args.big, "--big", lo=0, integer=True)
    check_number(args.saturating, "--saturating", lo=0, integer=True)
    spec = HardwareSpec.load(args.spec) if args.spec else None
    text = str(args.same_noise_t_end).strip()
    same = None if not text or parse_time(text, tau_s=1.0) == 0 else text   # any zero time skips the row
    result = run_bench(dims=dims, t_end=args.t_end, big=args.big, seed=args.seed, progress=not args.json,
                       saturating=args.saturating, spec=spec, same_noise_t_end=same)
    if args.json:
        print(json_text(result))
    return 0


def cmd_validate(args) -> int:
    from ..validate import run_validate, table_markdown

    dims = parse_dims(args.dims)
    rows = run_validate(dims=dims, t_end=args.t_end, seed=args.seed, progress=not args.json)
    if args.out:
        atomic_write_json(Path(args.out) / "validate.json", rows)
        atomic_write_text(Path(args.out) / "validate.md", table_markdown(rows))
    if args.json:
        print(json_text(rows))
    return 0 if all(r["ok"] for r in rows) else 1


def cmd_calibrate(args) -> int:
    from ..calibration.fit import fit_ou
    from ..calibration.traces import read_trace

    check_output_not_input(args.output, [args.trace, args.matrix, args.rhs, args.spec])
    trace = read_trace(args.trace, args.nodes)
    tau, tau_source, nominal = None, "", None
    if args.matrix or args.spec:

        spec = HardwareSpec.load(args.spec) if args.spec else HardwareSpec()
        if args.matrix:
            problem = load_problem(args.matrix, args.rhs, factored=False)
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
    from ..calibration.fit import Calibration
    from ..calibration.predict import predict_from_calibration, time_to_tolerance

    check_number(args.tol, "--tol", lo=0, lo_open=True)
    check_number(args.prob, "--prob", 0, 1, lo_open=True, hi_open=True)
    if args.out:
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
    if args.check:
        spec = HardwareSpec.load(args.check)
        print(spec.to_json(), end="")
        return 0
    print(template_json(), end="")
    return 0


def add_parsers(sub) -> None:
    """Register this module's subcommands."""
    for name, helptext, func in (("report", "accuracy-versus-time report (twin and ngspice)", cmd_report),
                                 ("demo", "the report on the built-in example", cmd_demo)):
        p = sub.add_parser(name, help=helptext)
        add_problem_args(p)
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
    p.add_argument("--t-end", default="1000tau", help=f"simulated time (default 1000tau) — {TIME_HELP}")
    p.add_argument("--big", type=int, default=1024, help="dimension run on the twin alone (0 = skip)")
    p.add_argument("--saturating", type=int, default=32, help="d of the saturating-circuit bench (0 = skip)")
    p.add_argument("--same-noise-t-end", default="100tau",
                   help="simulated time of the same-noise SPICE row (ngspice fed the twin's noise, against "
                        "TRRANDOM; default 100tau, 0 = skip); bare numbers are seconds")
    p.add_argument("--spec", help="HardwareSpec JSON for the benched board")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("calibrate", help="fit drift, fixed point and noise to a trace (CSV or ngspice raw)")
    p.add_argument("trace", help="trace file: CSV (time, then node columns) or ngspice .raw (ASCII or binary)")
    p.add_argument("--nodes", help="columns to use: glob(s) like 'v(o*)' or 're:regex', comma separated")
    p.add_argument("--matrix", help="nominal matrix, to compare A_eff = M·τ against it")
    p.add_argument("--rhs", help="nominal right-hand side")
    p.add_argument("--spec", help="HardwareSpec JSON (τ, for κ0 and A_eff)")
    p.add_argument("--dt", help=f"sampling interval for the fit (default: the trace's step) — {TIME_HELP}")
    p.add_argument("--skip", help=f"leading time to drop — {TIME_HELP}")
    p.add_argument("-o", "--output", required=True, help="calibration JSON to write")
    p.add_argument("--yes", action="store_true", help="resample beyond the default budget (never beyond the "
                   "machine's available memory)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("predict", help="accuracy versus time from a calibration")
    p.add_argument("--calib", required=True)
    p.add_argument("--t-end", help=f"horizon — {TIME_HELP}")
    p.add_argument("--tol", type=float, default=1e-2, help="relative tolerance (default 0.01)")
    p.add_argument("--prob", type=float, default=0.9, help="probability of reaching it (default 0.9)")
    p.add_argument("--out", help="directory for prediction.csv")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("validate", help="twin against ngspice for every non-ideality, same seeds")
    p.add_argument("--dims", default="4,16,32")
    p.add_argument("--t-end", default="20tau", help=f"simulated time (default 20tau) — {TIME_HELP}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="directory for validate.json and validate.md")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("spec", help="print the default HardwareSpec (--template) or check a spec file")
    p.add_argument("--template", action="store_true", help="print the full default spec with field docs")
    p.add_argument("--check", metavar="FILE", help="validate FILE and print it normalised")
    p.set_defaults(func=cmd_spec)
