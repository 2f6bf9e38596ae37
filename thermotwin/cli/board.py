"""``netlist`` and ``realise``: the board of a dense or factored problem."""

from __future__ import annotations


import sys
from pathlib import Path

from ..circuit.board import realisation_report
from ..circuit.netlist import PROBE_FILE, render_netlist_files
from ..core.problem import Problem, load_problem, safe_name
from ..io import check_output_not_input, json_text, output_target, shell_quote_path
from ..units import check_number
from .args import (
    add_problem_args, add_y_gain, config_from_args, is_npz, mapping_from_args, problem_spec_config,
    refuse_factored_options, spec_from_args,
)


def cmd_netlist(args) -> int:
    out = Path(args.output)
    check_output_not_input(out, [args.matrix, args.rhs, args.spec])
    data_name = PROBE_FILE if args.probe else safe_name(out.stem, "thermotwin") + ".data"
    what = "drift probe" if args.probe else "transient"
    if args.factored and not is_npz(args.matrix):
        raise ValueError("--factored needs a factored problem: an .npz with arrays J (r×N), H (r×r), damping "
                         "and g (N); see `thermotwin factored-example`")
    problem = load_problem(args.matrix, args.rhs)
    spec, config = spec_from_args(args), config_from_args(args)
    if problem.form == "factored" and args.factored:
        desc = f"three-array board: N = {problem.N} integrators, r = {problem.r} stages per inner array"
    else:   # a dense matrix, or the dense Appendix C array of F = λI + JᵀHJ (the factored netlist's reference)
        refuse_factored_options(args)
        if problem.form == "factored":
            problem = Problem(problem.dense(), problem.b, name=problem.name)
            desc = f"dense array of F = λI + JᵀHJ: {problem.d} integrators"
        else:
            desc = f"{problem.d} integrators"
    stem = safe_name(out.stem, "thermotwin") + "_noise"
    net = render_netlist_files(problem, spec, config, mapping_from_args(args), output_file=data_name,
                               probe=args.probe, noise_file=stem)
    if net.files:
        if output_target(out)[0] != "replace":
            raise ValueError("a --noise pwl netlist reads its noise from files written beside it; give "
                             "-o FILE.cir (or use --noise trrandom for a netlist with no side files)")
        check_output_not_input([out.parent / name for name in net.files], [args.matrix, args.rhs, args.spec])
    written = net.write(out)
    shown = shell_quote_path(out)
    extra = f" and its noise file{'s' if len(written) > 2 else ''} {', '.join(p.name for p in written[1:])}" \
        if net.files else ""
    print(f"wrote {shown}{extra} ({what}, {desc}; run it with: ngspice -b {shown})", file=sys.stderr)
    return 0


def cmd_realise(args) -> int:
    check_number(args.ensemble, "--ensemble", lo=1, integer=True)
    if is_npz(args.matrix):
        if args.ensemble > 1:
            raise ValueError("realise --ensemble is for dense problems; for an .npz use simulate --ensemble K")
        problem, spec = load_problem(args.matrix, args.rhs), spec_from_args(args)
    else:
        problem, spec, _ = problem_spec_config(args)
    out = realisation_report(problem, spec, mapping_from_args(args), ensemble=args.ensemble)
    if args.json:
        print(json_text(out))
    elif problem.form == "factored":
        _print_factored(out, spec)
    else:
        _print_dense(out, args.ensemble)
    return 0


def _print_dense(out: dict, ensemble: int) -> None:
    ensemble_floor = out["ensemble_error_floor"]
    print(f"realised d={out['d']} τ={out['tau_s']:g} s (effective {out['tau_eff_s']:g} s) scale s={out['scale']:g} "
          f"b_scale={out['b_scale']:g}\n  ‖A_eff − A‖_F/‖A‖_F = {out['a_rel_frobenius']:.3g}; dropped "
          f"{out['dropped']}, clipped {out['clipped']}; error floor {out['error_floor']:.3g}\n"
          f"  non-ideal fields: {', '.join(out['nonideal_fields']) or 'none'}"
          + (f"\n  ensemble of {ensemble} boards (stochastic rounding): floor {ensemble_floor:.3g}"
             if ensemble_floor is not None else ""))


def _print_factored(out: dict, spec) -> None:
    floor = "n/a (N too large to assemble)" if out["error_floor"] is None else f"{out['error_floor']:.3g}"
    print(f"realised factored board N={out['N']} r={out['r']} ({out['programmable_resistors']:,} programmable "
          f"resistors) τ={out['tau_s']:g} s (effective {out['tau_eff_s']:g} s) scale s={out['scale']:g} "
          f"s_H={out['scale_H']:g} b_scale={out['b_scale']:g} y_gain={out['y_gain']:.4g}\n  damping realised {out['damping_realised']:.6g}; "
          f"dropped {out['dropped']}, clipped {out['clipped']}; error floor {floor}\n"
          f"  non-ideal fields: {', '.join(out['nonideal_fields']) or 'none'}")
    st = out["stages"]
    if st is not None:
        print(f"  op-amp stages (GBW {spec.opamp.gbw_hz:g} Hz): J-stage lag up to {st['tc_J_stage_max_s']:.3g} s "
              f"(noise gain {st['noise_gain_J_max']:.4g}), H-stage {st['tc_H_stage_max_s']:.3g} s, loop lag "
              f"{st['loop_lag_max_s']:.3g} s = {st['loop_lag_max_s'] / out['tau_s']:.3g} τ; worst-mode loop "
              f"{'stable' if st['loop_stable'] else 'UNSTABLE'} (rate {st['loop_rate_max_per_s']:.3g} /s); integrators' "
              f"τ stretched ×{st['integrator_tau_stretch_median']:.3g} (median) to ×{st['integrator_tau_stretch_max']:.3g}")


def add_parsers(sub) -> None:
    """Register this module's subcommands."""
    p = sub.add_parser("netlist", help="write the ngspice netlist of the integrator array")
    add_problem_args(p)
    p.add_argument("-o", "--output", required=True, help="netlist file to write (e.g. out.cir)")
    p.add_argument("--factored", action="store_true",
                   help="for an .npz problem (J, H, damping, g): the scaled-up three-array board (J_f, H_L, J_f^T "
                        "arrays, memoryless summing stages, integrators only on the N outputs); without it an "
                        ".npz gives the dense array of λI + JᵀHJ")
    p.add_argument("--probe", action="store_true",
                   help="write the drift probe instead of the transient: integrators replaced by sources, one "
                        "operating point per column, writing the summing-node currents to thermotwin_probe.data")
    add_y_gain(p)
    p.set_defaults(func=cmd_netlist)

    p = sub.add_parser("realise", help="the matrix the board actually computes, and its error floor")
    add_y_gain(p)
    add_problem_args(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--ensemble", type=int, default=1, metavar="K",
                   help="also report the floor of the average over K boards with stochastic rounding")
    p.set_defaults(func=cmd_realise)

