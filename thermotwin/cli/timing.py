"""``thermotwin timing`` and ``thermotwin validate-timing``: thin commands over
:class:`thermotwin.timing.TimingModel` and :func:`thermotwin.tngd.validate.run_validate_timing`."""

from __future__ import annotations

import sys

from ..io import json_text
from ..timing import PAPER_BITS, PAPER_LINK_GBPS, TimingModel

# ----------------------------------------------------------------------------------------------
def _parse_t_analog(text: str, tau_s: float) -> float:
    """``50tau`` (τ multiples), ``50us`` or a bare number of seconds (``5e-5``), as every command
    reads a time (:func:`thermotwin.units.parse_time`) → multiples of τ."""
    from ..units import parse_time

    return parse_time(str(text).strip(), tau_s) / tau_s


def cmd_timing(args) -> int:
    from ..units import format_si, parse_quantity

    model = TimingModel(bits=args.bits, link_gbps=args.link_gbps, r0_ohm=parse_quantity(args.r0, "ohm"),
                        c_farad=parse_quantity(args.c, "F"))
    m = _parse_t_analog(args.t_analog, model.tau_s)
    digital = None
    if args.measure_digital:
        from ..tngd.costs import measure_digital

        digital = measure_digital(args.n_params, batch=args.batch, d_z=args.dz)
    out = model.breakdown(args.n_params, batch=args.batch, d_z=args.dz, t_analog_tau=m,
                          digital_s=None if digital is None else digital["tngd_digital_s"])
    if digital is not None:
        out["digital_measured"] = digital
    if args.json:
        print(json_text(out))
        return 0
    print(f"TNGD per-iteration timing: N = {out['n_params']}, b·d_z = {out['b_dz']} ({out['batch']}×{out['d_z']}), "
          f"{model.bits} bit over {model.link_gbps:g} Gb/s, τ = {format_si(model.tau_s, 's')}")
    rows = [("DAC (N values)", out["dac_s"]),
            (f"resistor programming ({out['n_resistors']:,} values)", out["program_s"]),
            (f"analog ({m:g} τ)", out["analog_s"]), ("ADC (N values)", out["adc_s"]),
            ("transfer = DAC + programming + ADC", out["transfer_s"])]
    if digital is not None:
        rows.append(("digital ∇ℓ, J_f, H_L (measured here)", digital["tngd_digital_s"]))
    rows.append(("total", out["total_s"]))
    for label, v in rows:
        print(f"  {label:<46s} {format_si(v, 's'):>12s}")
    print(f"  programming is {out['program_fraction_of_transfer']:.1%} of the transfer (our arithmetic from the "
          "paper's App. C assumptions; App. C gives no milliseconds)")
    return 0


def cmd_validate_timing(args) -> int:
    from ..tngd.validate import run_validate_timing
    from ..units import check_number

    if args.seeds is not None:
        check_number(args.seeds, "--seeds", lo=1, integer=True)
    for n in args.paper_sizes or ():
        if not PAPER_N_RANGE[0] <= n <= PAPER_N_RANGE[1]:
            raise ValueError(f"--paper-sizes: N = {n:g} is outside {PAPER_N_RANGE[0]}–{PAPER_N_RANGE[1]:.0e} "
                             "parameters "
                             "(J_f alone is 640·N·8 bytes); give e.g. 1e4,1e5")
    summary = run_validate_timing(args.out, quick=args.quick, seeds=args.seeds, progress=not args.json,
                                  paper_sizes=args.paper_sizes)
    if args.json:
        print(json_text(summary))
    else:
        for c in summary["claims"]:
            print(f"  [{c['verdict']:>13s}] {c['claim']}")
        print(f"  report written to {args.out}/ (claims.json, report.md, *.png) in {summary['wall_s']:.0f} s",
              file=sys.stderr)
    return 0


def _count(text: str) -> int:
    """A whole number, also written as 1e4 or 10_000 (its range is checked with the other inputs)."""
    import argparse

    try:
        value = float(str(text).replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"{text!r} must be a whole number")
    return int(value)


#: Range of --paper-sizes (N = 2e5 needs ~1.6 GB per r×N array at r = 640).
PAPER_N_RANGE = (100, 200_000)


def _sizes(text: str) -> tuple:
    """``1e4,1e5`` → (10000, 100000); ``none`` → () (skip the paper-scale step)."""
    if text.strip().lower() in ("none", ""):
        return ()
    return tuple(sorted({_count(part.strip()) for part in text.split(",")}))   # range: cmd_validate_timing


def add_parser(sub) -> None:
    """Register ``timing`` and ``validate-timing`` (called by :func:`thermotwin.cli.build_parser`)."""
    p = sub.add_parser("timing", help="per-iteration TNGD timing model: DAC, resistor programming, analog, ADC")
    p.add_argument("--n-params", type=_count, default=10_000, metavar="N", help="number of parameters N (default 1e4)")
    p.add_argument("--batch", type=_count, default=64, metavar="b", help="batch size b (default 64)")
    p.add_argument("--dz", type=_count, default=10, metavar="d_z", help="model outputs d_z (default 10)")
    p.add_argument("--bits", type=int, default=PAPER_BITS, help="bits per value (default 16)")
    p.add_argument("--link-gbps", type=float, default=PAPER_LINK_GBPS, help="link rate in Gb/s (default 50)")
    p.add_argument("--r0", default="1e3", help="unit resistance R0 in ohm (default 1e3)")
    p.add_argument("--c", default="1e-9", help="integrator capacitance in farad (default 1e-9)")
    p.add_argument("--t-analog", default="50tau", help="analog time: seconds (5e-5, 50us; a bare number is seconds, "
                   "as in every command) or multiples of τ (50tau); default 50tau")
    p.add_argument("--measure-digital", action="store_true",
                   help="also time ∇ℓ, J_f and H_L of a digits MLP with ~N parameters here (needs torch)")
    p.add_argument("--json", action="store_true", help="print the breakdown as one JSON object")
    p.set_defaults(func=cmd_timing)

    p = sub.add_parser("validate-timing", help="check the TNGD paper's timing and training claims (needs torch)")
    p.add_argument("--out", required=True, help="directory for claims.json, report.md and PNG plots")
    p.add_argument("--quick", action="store_true", help="small model, few iterations, 2 seeds (minutes)")
    p.add_argument("--seeds", type=int, default=None, help="training seeds (default 2 quick, 5 full; ≥ 2 for a "
                                                           "verdict other than 'cannot tell' on training claims)")
    p.add_argument("--paper-sizes", type=_sizes, default=None, metavar="N[,N...]",
                   help="paper-scale step with the factored twin: analog-time curves at each N (e.g. 1e4,1e5) and "
                        "TNGD training at the smallest; 'none' skips it (default: 1e4 with --quick, 1e4,1e5 full)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_validate_timing)
