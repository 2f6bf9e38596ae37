"""``thermotwin sweep``: Monte Carlo over noise, component tolerances and options.

    thermotwin sweep SWEEP.toml --out DIR [--workers N] [--scheduler tcp://host:port]
                     [--backend twin|ngspice] [--timeout S] [--yes] [--retry-failed] [--json]

The sweep file is described in :mod:`thermotwin.sweep.plan`; the columns of ``DIR/results.csv`` in
:mod:`thermotwin.sweep.tasks`; crash safety and resuming in :mod:`thermotwin.sweep.store`; where runs
execute in :mod:`thermotwin.sweep.execute`; the batched twin in :mod:`thermotwin.solver.batched`.
Importing this package loads neither dask, matplotlib nor tqdm.
"""

from __future__ import annotations


from ..io import json_text

__all__ = ["add_parser", "cmd_sweep", "load_sweep", "run_sweep"]


def load_sweep(path, backend=None):
    from .plan import load_sweep as _load

    return _load(path, backend=backend)


def run_sweep(plan, out_dir, **kw):
    from .runner import run_sweep as _run

    return _run(plan, out_dir, **kw)


def cmd_sweep(args) -> int:
    plan = load_sweep(args.sweep_file, backend=args.backend)
    progress = not (args.json or args.no_progress)
    s = run_sweep(plan, args.out, workers=args.workers, scheduler=args.scheduler, yes=args.yes, progress=progress,
                  plots=not args.no_plots, timeout_s=args.timeout, retry_failed=args.retry_failed,
                  sweep_file=str(args.sweep_file))
    if args.json:
        print(json_text(s))
        return 0
    rate = f", {s['runs_per_s']:.1f} runs/s" if s["runs_per_s"] else ""
    where = f"Dask scheduler {s['scheduler']}" if s["scheduler"] else f"{s['workers']} local worker(s)"
    print(f"sweep: {s['grid_points']} grid point(s) × {s['boards']} board(s) = {s['runs']} runs; {s['new']} run now "
          f"on {where} in {s['run_wall_s']:.3g} s{rate}, {s['skipped']} already done\n"
          f"  status: {s['ok']} ok, {s['failed']} failed, {s['unstable']} unstable, {s['timeout']} timeout\n"
          f"  wrote {', '.join(s['files'])}")
    return 0


def add_parser(sub) -> None:
    """Register the ``sweep`` subcommand on an argparse subparsers object."""
    from .plan import BACKENDS, MAX_RUNS

    p = sub.add_parser(
        "sweep", help="Monte Carlo sweep over noise, tolerances and options (many boards; local pool or Dask)",
        description="Run every combination of the sweep file's [grid] values on `boards` independent board draws; "
                    "results.csv (one row per run), error_vs_time.csv and plots go to --out. Rerunning the same "
                    "command resumes: finished runs are skipped.")
    p.add_argument("sweep_file", help="sweep file (TOML): matrix, spec, t_end, boards, checkpoints, [grid]")
    p.add_argument("--out", required=True, help="output directory (created; a rerun resumes it)")
    p.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: the CPUs available); 1 runs in this process, as do "
                        "batched twin sweeps too small to repay starting workers")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="submit the runs to a running Dask cluster, e.g. tcp://host:8786 (workers need thermotwin)")
    p.add_argument("--backend", choices=list(BACKENDS), help="override the sweep file's backend")
    p.add_argument("--timeout", type=float, help="wall-clock limit per run in seconds (default: the file's, or 600)")
    p.add_argument("--yes", action="store_true", help=f"allow sweeps of more than {MAX_RUNS:,} runs")
    p.add_argument("--retry-failed", action="store_true", help="rerun runs recorded as failed, unstable or timeout")
    p.add_argument("--no-plots", action="store_true", help="write results.csv and error_vs_time.csv only")
    p.add_argument("--quiet", "--no-progress", dest="no_progress", action="store_true",
                   help="no progress bar on stderr (it is shown only when stderr is a terminal)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=cmd_sweep)
