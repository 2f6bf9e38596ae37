"""The options every problem command shares and their conversion to library objects (spec, config, mapping)."""

from __future__ import annotations


import argparse
import json
from pathlib import Path

from ..circuit.mapping import Mapping
from ..circuit.spec import HardwareSpec
from ..core.config import SimConfig
from ..core.noise import NOISE_KINDS
from ..core.problem import load_problem
from ..units import parse_quantity

__all__ = ["add_problem_args", "problem_spec_config", "spec_from_args", "config_from_args", "is_npz",
           "mapping_from_args", "refuse_factored_options", "add_y_gain", "add_gbw_model", "TIME_HELP"]


#: How every time option reads a value (issue 16: one meaning for a time everywhere).
TIME_HELP = "a bare number is seconds (1e-4, 100us), or multiples of τ (200tau)"


def add_problem_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("matrix", nargs="?", help="matrix file (.mtx, .npy, .csv); default: the built-in example")
    p.add_argument("--rhs", help="right-hand side b (.mtx, .npy, .csv); default: all ones")
    p.add_argument("--spec", help="HardwareSpec JSON (see `thermotwin spec --template`)")
    p.add_argument("--r0", help="unit resistance R0 in ohm (e.g. 1k)")
    p.add_argument("--c", help="integrator capacitance in farad (e.g. 1n)")
    p.add_argument("--kappa0", help="noise strength κ0 in V² (0 = noiseless)")
    p.add_argument("--t-end", help=f"simulated time — {TIME_HELP}")
    p.add_argument("--dt-out", help=f"output grid spacing — {TIME_HELP}")
    p.add_argument("--noise-step", help=f"noise sample interval — {TIME_HELP}")
    p.add_argument("--noise", default="pwl", choices=NOISE_KINDS,
                   help="pwl: same zero-order-hold noise path in twin and SPICE (default); white: exact OU "
                        "(twin); trnoise/trrandom: ngspice's own generators")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.add_argument("--v0", default="zero", choices=["zero", "rhs"], help="initial state (default zero)")
    p.add_argument("--settle", help=f"start of the averaging window (default: settling time to 1e-3) — {TIME_HELP}")
    p.add_argument("--timeout", type=float, default=600.0, help="SPICE wall-clock limit in seconds")
    p.add_argument("--yes", action="store_true", help="run beyond the default budget (memory, steps, PWL points, "
                   "rows; see README 'Limits and safety'); the machine's available memory is never exceeded")
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr (it is shown only when stderr "
                   "is a terminal and a run lasts over a second; stdout and results are the same either way)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override one spec field, e.g. --set opamp.gain=1e4 --set resistor_bits=null (repeatable)")


def problem_spec_config(args):
    problem = load_problem(args.matrix, args.rhs, factored=False)
    refuse_factored_options(args)
    return problem, spec_from_args(args), config_from_args(args)


def spec_from_args(args):
    """HardwareSpec from --spec, --r0/--c/--kappa0 and --set FIELD=VALUE (shared by dense and factored)."""

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
    return SimConfig(t_end=args.t_end, dt_out=args.dt_out, noise_step=args.noise_step, noise=args.noise,
                     seed=args.seed, v0=args.v0, settle=args.settle, timeout_s=args.timeout)


def is_npz(path) -> bool:
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


def mapping_from_args(args):
    """The Mapping of the command's options (--y-gain, --gbw-model)."""

    return Mapping(y_gain=y_gain_from_args(args), gbw_model=gbw_model_from_args(args))


def gbw_model_from_args(args) -> str:
    """The --gbw-model value of a factored problem ('refuse' when absent)."""
    value = getattr(args, "gbw_model", None)
    return "refuse" if value is None else value


def add_gbw_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gbw-model", choices=["refuse", "integrator"], default=None,
                   help="factored .npz problems with opamp.gbw_hz: 'integrator' models the integrators' slow-down "
                        "C_i + G_s,i/(2π·GBW) (exact for modes slow next to the GBW; the summing stages' lags are "
                        "left out: see `realise`); default refuse")


def add_y_gain(p: argparse.ArgumentParser) -> None:
    p.add_argument("--y-gain", type=y_gain_arg, default=None, metavar="G|balance",
                   help="factored .npz boards: gain of the J_f summing stages (the H stages get 1/G; the loop, F, is "
                        "unchanged). G < 1 lowers the J_f stages' noise gain 1 + G·Σ|J_row| (their GBW lag and "
                        "finite-gain error); 'balance' equalises the two arrays' worst noise gains. Default 1")
