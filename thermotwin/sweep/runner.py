"""Run a sweep: plan → tasks → workers → journal → results.csv, curves and plots."""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from ..core.progress import enabled as progress_enabled
from ..errors import InputError
from ..solver.registry import BACKENDS
from .plan import MAX_RUNS, SweepPlan
from .store import SweepStore
from .tasks import batched_ok, failed_rows, make_task, run_task

#: Target work per batched task (flop): ~1 s on one core, so progress and the journal move often.
TASK_FLOP = 2e9
#: Largest number of boards in one batched task.
MAX_TASK_BOARDS = 4096
#: Batched sweeps with less total work than this (flop, ~1–2 s on one core) run in this process:
#: starting worker processes would cost more than they save.
POOL_MIN_FLOP = 3e9
#: How often results.csv is rewritten while the sweep runs (s).
RESULTS_EVERY_S = 30.0


def _n_out_estimate(setup, checkpoints=()) -> int | None:
    """Output steps of a grid point from its nominal design (None if the design itself fails).

    A checkpoint after the point's t_end is refused here (InputError): its column would hold no
    value for every run of the point while the status says ok."""
    from ..circuit.design import design
    from ..core.config import SimConfig, resolve_grid

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = design(setup.problem, setup.spec, setup.mapping)
    except (ValueError, ArithmeticError):
        return None                                   # recorded as failed runs by the worker
    try:
        grid = resolve_grid(setup.problem, SimConfig(**setup.sim), values.nominal_tau_s, setup.spec)
    except ValueError as exc:
        raise InputError(f"grid point {setup.index} ({', '.join(f'{k}={v!r}' for k, v in setup.values.items())}"
                         f"): {exc}") from None
    from ..units import parse_time

    for label in checkpoints:
        t = parse_time(label, values.nominal_tau_s)
        if t > grid.t_end_s * (1 + 1e-9):
            where = ", ".join(f"{k}={v!r}" for k, v in setup.values.items()) or "the sweep"
            raise InputError(f"checkpoint {label!r} ({t:.3g} s) is after t_end ({grid.t_end_s:.3g} s) at grid point "
                             f"{setup.index} ({where}); drop the checkpoint or raise t_end")
    return grid.n_out


def _per_board_flop(st, n_out) -> float | None:
    """Rough work of one batched board (None when the point runs board by board)."""
    if not batched_ok(st.backend, st.sim, st.spec):
        return None
    d = st.problem.d
    return 80.0 * d ** 3 + (n_out or 1000) * (4.0 * d * d + 60.0 * d)


def small_batched_sweep(plan: SweepPlan, setups, done: dict, n_outs: dict) -> bool:
    """True when every pending run is batched and all of them together are under POOL_MIN_FLOP:
    starting worker processes would then cost more than it saves."""
    total = 0.0
    for st in setups:
        todo = sum(1 for b in range(plan.boards) if f"p{st.index}b{b}" not in done)
        if not todo:
            continue
        f = _per_board_flop(st, n_outs.get(st.index))
        if f is None:
            return False
        total += todo * f
    return total < POOL_MIN_FLOP


def build_tasks(plan: SweepPlan, setups, done: dict, workers: int, timeout_s: float,
                n_outs: dict | None = None) -> list[dict]:
    """Tasks for every run not in ``done``; the twin batches boards, SPICE runs one per task."""
    tasks = []
    for st in setups:
        todo = [b for b in range(plan.boards) if f"p{st.index}b{b}" not in done]
        if not todo:
            continue
        n_out = n_outs[st.index] if n_outs is not None else _n_out_estimate(st)
        per_board = _per_board_flop(st, n_out)
        if per_board is not None:
            cap = int(min(MAX_TASK_BOARDS, max(1, TASK_FLOP // per_board)))
        elif st.backend.startswith("twin"):
            cap = 8
        else:
            cap = 1                                   # SPICE: one run per task (and per process slot)
        size = max(1, min(cap, math.ceil(len(todo) / max(1, workers))))
        for i in range(0, len(todo), size):
            boards = todo[i:i + size]
            seeds = [plan.seeds(st.index, b, st.root_seed) for b in boards]
            tasks.append(make_task(st, boards, seeds, plan.checkpoints, timeout_s))
    return tasks


def _point_info(plan: SweepPlan, setups) -> dict:
    conds: dict[int, float] = {}
    info = {}
    for st in setups:
        key = id(st.problem)
        if key not in conds:
            prob = st.problem                          # κ₂ from the cached spectrum when A is symmetric
            lam = np.abs(prob.eigenvalues)
            conds[key] = float(lam.max() / lam.min()) if prob.is_symmetric else float(np.linalg.cond(prob.A))
        info[st.index] = {"backend": st.backend, "d": st.problem.d, "cond_A": conds[key],
                          **{k: st.values[k] for k in plan.fields}}
    return info


def _current(plan: SweepPlan, done: dict) -> list[dict]:
    """Journal rows that belong to the plan as it stands (a rerun may have lowered ``boards``)."""
    return [r for r in done.values() if r["board"] < plan.boards and r["point"] < plan.n_points]


def run_sweep(plan: SweepPlan, out_dir, workers: int | None = None, scheduler: str | None = None, yes: bool = False,
              progress: bool = False, plots: bool = True, timeout_s: float | None = None,
              retry_failed: bool = False, sweep_file: str | None = None) -> dict:
    """Run (or resume) ``plan`` into ``out_dir``; returns a JSON-ready summary.

    Raises:
        InputError: too many runs without ``yes``, bad values at a grid point, ``out_dir`` holding
            another sweep, an unreachable scheduler.
    """
    t_start = time.perf_counter()
    workers, timeout_s = _check_limits(plan, workers, timeout_s, yes)
    from ..solver.batched import one_blas_thread

    with one_blas_thread():                            # O(d³) checks; multi-threaded BLAS thrashes on shared cores
        setups = plan.validate_points()
        n_outs = {st.index: _n_out_estimate(st, plan.checkpoints) for st in setups}   # bad times fail here
    slots = workers
    if scheduler:                                      # fail before touching the directory
        from .execute import connect

        client = connect(scheduler)
        try:                                           # batch boards for the cluster's thread count
            slots = max(1, sum(client.nthreads().values()))
        finally:
            client.close()
    from ..core.version import __version__

    store = SweepStore(out_dir, plan.normalised(), plan.digest(),
                       meta_extra={"version": __version__, "sweep_file": sweep_file, "columns": plan.columns()})
    store.check()
    with one_blas_thread():
        info = _point_info(plan, setups)
    with store:
        done = store.load()
        if retry_failed:
            done = {k: r for k, r in done.items() if r.get("status") == "ok"}
        skipped = len(_current(plan, done))
        if not scheduler and workers > 1 and small_batched_sweep(plan, setups, done, n_outs):
            workers = slots = 1
        tasks = build_tasks(plan, setups, done, slots, timeout_s, n_outs)
        n_new = sum(len(t["boards"]) for t in tasks)
        columns = plan.columns()
        run_wall = _execute(plan, store, tasks, info, done, columns, n_new, workers, scheduler, progress)
        rows = _current(plan, done)
        written = [str(Path(out_dir) / "results.csv")]
        from .plots import write_curves

        written.append(str(write_curves(plan, rows, Path(out_dir))))
        if plots:
            from .plots import make_plots

            written += [str(p) for p in make_plots(plan, rows, Path(out_dir))]
    counts = {s: sum(1 for r in rows if r.get("status") == s) for s in ("ok", "failed", "unstable", "timeout")}
    return {
        "out": str(out_dir), "hash": plan.digest(), "grid_points": plan.n_points, "boards": plan.boards,
        "runs": plan.n_runs, "new": n_new, "skipped": skipped, **counts,
        "tasks": len(tasks), "workers": None if scheduler else workers, "scheduler": scheduler,
        "run_wall_s": run_wall, "runs_per_s": n_new / run_wall if run_wall > 0 and n_new else None,
        "wall_s": time.perf_counter() - t_start, "files": written,
    }


def _check_limits(plan: SweepPlan, workers: int | None, timeout_s: float | None, yes: bool) -> tuple[int, float]:
    """(workers, timeout_s) after the run-count confirmation and the option checks."""
    if plan.n_runs > MAX_RUNS and not yes:
        raise InputError(f"the sweep has {plan.n_points} grid points × {plan.boards} boards = {plan.n_runs} runs, "
                         f"more than the {MAX_RUNS} allowed without confirmation; pass --yes to run it")
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if workers < 1:
        raise InputError(f"--workers {workers}: give at least 1")
    timeout_s = float(timeout_s if timeout_s is not None else plan.timeout_s)
    if not timeout_s > 0:
        raise InputError("--timeout must be > 0 seconds")
    return workers, timeout_s


def _execute(plan: SweepPlan, store, tasks, info: dict, done: dict, columns, n_new: int, workers: int,
             scheduler: str | None, progress: bool) -> float:
    """Run the tasks, appending every finished board's row to the store (results.csv refreshed every
    RESULTS_EVERY_S and at the end); returns the wall time of the runs."""
    bar = None
    if progress and n_new and progress_enabled():       # a terminal, or THERMOTWIN_PROGRESS=1 (core.progress)
        from tqdm import tqdm

        bar = tqdm(total=n_new, unit="run", desc="sweep", file=sys.stderr, dynamic_ncols=True, smoothing=0.1)
    state = {"last_write": time.perf_counter()}

    def on_done(task, rows):
        enriched = [{**info[task["point"]], **r} for r in rows]
        store.append(enriched)
        for r in enriched:
            done[r["run_id"]] = r
        if bar is not None:
            bar.update(len(rows))
        if time.perf_counter() - state["last_write"] > RESULTS_EVERY_S:
            store.write_results(_current(plan, done), columns)
            state["last_write"] = time.perf_counter()

    def on_fail(task, message):
        on_done(task, failed_rows(task, "failed", message))

    from .execute import run_all

    t_run = time.perf_counter()
    try:
        run_all(tasks, run_task, on_done, on_fail, workers=workers, scheduler=scheduler,
                recycle=BACKENDS[plan.backend].external)
    finally:
        if bar is not None:
            bar.close()
        store.write_results(_current(plan, done), columns)
    return time.perf_counter() - t_run
