"""Work units of a sweep and the function workers run on them (plain data in, rows out).

A task is one grid point and a list of boards. The twin runs all boards of a task as one batched
computation (:mod:`thermotwin.solver.batched`) when the model allows it (exact OU noise ``white``
or ``none``, static op-amp); every other case runs board by board through
:func:`thermotwin.simulate`. Both give the same statistics (:func:`trace_metrics`).

Columns a worker fills (the parent adds the grid values, ``backend``, ``d`` and ``cond_A``, the 2-norm
condition number of the nominal matrix):

* ``rel_error`` — ‖x̂(t_end) − x*‖/‖x*‖ with x̂ the trapezoidal time average of the read-out over the
  averaging window [settle, t_end] (``SimResult.rel_error``); x* = A⁻¹b of the nominal matrix.
* ``rel_error_at_<checkpoint>`` — the same error of the estimate x̂(t) at the output time nearest the
  checkpoint: the read-out itself before the window starts, the running average after. A
  checkpoint after t_end is refused when the sweep starts (:mod:`thermotwin.sweep.runner`).
* ``t_to_<tol>`` — the first output time t such that the estimate's error stays ≤ tol at every
  output time from t to t_end (seconds, counted from t = 0, settling included); NaN when the error at
  t_end is above tol. It is a property of the simulated window: a longer run could show a later
  excursion.
* ``error_floor`` — ‖A_eff⁻¹b_eff − (A + λI)⁻¹b‖/‖(A + λI)⁻¹b‖ of the board's realised matrix
  (:func:`thermotwin.circuit.design.error_floor`): what no averaging removes.
* b = 0 (x* = 0): no relative error exists; ``rel_error``, ``rel_error_at_*``, ``t_to_*`` and
  ``error_floor`` are NaN (``nan`` in results.csv, null in runs.jsonl), the status stays ``ok`` and
  ``message`` says so (:data:`UNDEFINED_B0`).
* ``wall_s`` — wall time of the run; for a batched task, the task's wall time divided by its runs.
* ``status`` — ``ok``, ``unstable`` (the realised matrix has an eigenvalue with real part ≤ 0: the
  board rails out, nothing is simulated), ``timeout`` or ``failed``; ``message`` says why, or
  carries warnings (dropped entries, non-physical tolerance draws).
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np

from .plan import TOL_LABELS, TOLERANCES

#: Points of the stored error-versus-time curve of each run (log-spaced output indices).
CURVE_POINTS = 40


def curve_indices(n_out: int) -> np.ndarray:
    """Log-spaced output indices 1 … n_out (at most CURVE_POINTS, unique)."""
    return np.unique(np.rint(np.geomspace(1, max(1, n_out), CURVE_POINTS)).astype(np.int64))


def make_task(setup, boards: list[int], seeds: list[tuple[int, int]], checkpoints, timeout_s: float) -> dict:
    """A picklable task for grid point ``setup`` and the given boards."""
    return {
        "point": setup.index, "A": np.asarray(setup.problem.A), "b": np.asarray(setup.problem.b),
        "name": setup.problem.name, "problem_digest": setup.problem.digest(), "spec": setup.spec.to_dict(), "mapping": dataclasses.asdict(setup.mapping),
        "sim": dict(setup.sim), "backend": setup.backend, "boards": list(boards),
        "board_seeds": [s[0] for s in seeds], "noise_seeds": [s[1] for s in seeds],
        "checkpoints": list(checkpoints), "timeout": float(timeout_s),
    }


def batched_ok(backend: str, sim: dict, spec) -> bool:
    """Whether the batched exact-OU engine applies (else runs go board by board)."""
    op = spec.opamp
    return (backend == "twin" and sim["noise"] in ("white", "none") and op.gbw_hz is None
            and op.v_sat_v is None and op.slew_v_per_s is None)


def _one_line(text: str, limit: int = 400) -> str:
    text = " | ".join(ln.strip() for ln in str(text).splitlines() if ln.strip())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _warn_text(caught) -> str:
    """RuntimeWarnings (what the model warns about: dropped entries, …) become the row's message;
    any other warning (e.g. from a compiler) is shown as usual, so messages stay deterministic."""
    seen = []
    for w in caught:
        if not issubclass(w.category, RuntimeWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        m = _one_line(str(w.message))
        if m not in seen:
            seen.append(m)
    return "; ".join(seen)


class _Layout:
    """Which output indices a run samples, and where each reported quantity sits."""

    def __init__(self, checkpoints, tau_s: float, dt_out_s: float, n_out: int):
        from ..units import parse_time

        self.n_out = n_out
        self.dt = dt_out_s
        self.curve = curve_indices(n_out)
        ck = []
        for label in checkpoints:
            k = int(round(parse_time(label, tau_s) / dt_out_s))
            ck.append(k if k <= n_out else -1)
        self.ck = ck
        idx = sorted(set([n_out] + [k for k in ck if k >= 0] + self.curve.tolist()))
        self.sample_idx = np.array(idx, dtype=np.int64)
        self.pos = {k: i for i, k in enumerate(idx)}

    def fill(self, row: dict, err: np.ndarray, last_bad: np.ndarray, checkpoints) -> None:
        row["rel_error"] = float(err[self.pos[self.n_out]])
        for label, k in zip(checkpoints, self.ck):
            row[f"rel_error_at_{label}"] = float(err[self.pos[k]]) if k >= 0 else float("nan")
        for lab, lb in zip(TOL_LABELS, last_bad):
            row[f"t_to_{lab}"] = float("nan") if lb >= self.n_out else (int(lb) + 1) * self.dt
        row["curve"] = [float(err[self.pos[k]]) for k in self.curve]


def _base_row(task: dict, i: int) -> dict:
    return {"run_id": f"p{task['point']}b{task['boards'][i]}", "point": task["point"], "board": task["boards"][i],
            "board_seed": task["board_seeds"][i], "seed": task["noise_seeds"][i]}


def _empty_metrics(row: dict, checkpoints) -> None:
    nan = float("nan")
    row["rel_error"] = nan
    for label in checkpoints:
        row[f"rel_error_at_{label}"] = nan
    for lab in TOL_LABELS:
        row[f"t_to_{lab}"] = nan
    row["curve"] = []


def failed_rows(task: dict, status: str, message: str) -> list[dict]:
    """Rows for every run of a task that could not run at all."""
    rows = []
    for i in range(len(task["boards"])):
        row = _base_row(task, i)
        row.update(tau_s=float("nan"), t_end_s=float("nan"), dt_out_s=float("nan"), error_floor=float("nan"),
                   wall_s=float("nan"), status=status, message=_one_line(message))
        _empty_metrics(row, task["checkpoints"])
        rows.append(row)
    return rows


#: Problems validated in this process (validation computes eigenvalues: O(d³), seconds at d = 1024).
_PROBLEMS: dict = {}
_PROBLEMS_MAX = 8


def _problem(task: dict):
    from ..core.problem import Problem

    key = task.get("problem_digest")
    if key is not None and key in _PROBLEMS:
        return _PROBLEMS[key]
    prob = Problem(task["A"], task["b"], task["name"])
    if key is not None:
        if len(_PROBLEMS) >= _PROBLEMS_MAX:
            _PROBLEMS.pop(next(iter(_PROBLEMS)))
        _PROBLEMS[key] = prob
    return prob


def run_task(task: dict) -> list[dict]:
    """Run every board of ``task``; never raises for a failing run (it becomes a row).

    BLAS runs on one thread: parallelism is over tasks (see
    :func:`thermotwin.solver.batched.one_blas_thread`).
    """
    from ..core.progress import quiet
    from ..solver.batched import one_blas_thread

    with one_blas_thread(), quiet():         # the sweep's own bar is the progress; no per-run lines
        return _run_task(task)


def _run_task(task: dict) -> list[dict]:
    from ..circuit.design import Mapping
    from ..circuit.spec import HardwareSpec

    t0 = time.monotonic()
    try:
        problem = _problem(task)
        spec = HardwareSpec.from_dict(task["spec"])
        mapping = Mapping(**task["mapping"])
    except Exception as exc:  # noqa: BLE001 - a bad point is recorded, not fatal
        return failed_rows(task, "failed", f"{type(exc).__name__}: {exc}")
    if batched_ok(task["backend"], task["sim"], spec):
        try:
            return _run_batched(task, problem, spec, mapping, t0)
        except Exception as exc:  # noqa: BLE001
            return failed_rows(task, "failed", _error_text(exc))
    return [_run_single(task, i, problem, spec, mapping) for i in range(len(task["boards"]))]


def _error_text(exc: BaseException) -> str:
    from ..errors import ThermotwinError

    if isinstance(exc, (ThermotwinError, ValueError, KeyError)):
        return _one_line(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc)
    return _one_line(f"{type(exc).__name__}: {exc}")


def _run_batched(task, problem, spec, mapping, t0: float) -> list[dict]:
    from ..circuit.boards import draw_boards
    from ..solver.batched import run_boards, window_start
    from ..core.config import SimConfig, initial_state, resolve_grid

    sim = task["sim"]
    n = len(task["boards"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        boards = draw_boards(problem, spec, task["board_seeds"], mapping)
        cfg = SimConfig(**sim, seed=0)
        grid = resolve_grid(problem, cfg, boards.tau_s, spec)
        lay = _Layout(task["checkpoints"], boards.tau_s, grid.dt_out_s, grid.n_out)
        w0 = window_start(grid.times, grid.settle_s)
        damped = (np.linalg.solve(problem.A + mapping.damping * np.eye(problem.d), problem.b)
                  if mapping.damping else None)
        kappa = spec.kappa0_v2 if sim["noise"] != "none" else 0.0
        out = run_boards(boards, problem.x_exact, initial_state(problem, cfg), kappa, grid.dt_out_s, grid.n_out, w0,
                         task["noise_seeds"], lay.sample_idx, TOLERANCES, adc=(spec.adc_bits, spec.v_range_v),
                         damped_x=damped, deadline=t0 + task["timeout"] * n)
    note = _warn_text(caught)
    wall = (time.monotonic() - t0) / n
    rows = []
    for i in range(n):
        row = _base_row(task, i)
        row.update(tau_s=boards.tau_s, t_end_s=grid.t_end_s, dt_out_s=grid.dt_out_s,
                   error_floor=float(out.floor[i]), wall_s=wall, status=str(out.status[i]))
        msgs = [m for m in (note, boards.messages[i]) if m]
        if out.status[i] == "ok":
            lay.fill(row, out.err[i], out.last_bad[i], task["checkpoints"])
            if not np.any(problem.x_exact):
                msgs.insert(0, UNDEFINED_B0)
        else:
            _empty_metrics(row, task["checkpoints"])
            msgs.insert(0, _STATUS_TEXT[out.status[i]].format(limit=task["timeout"]))
        row["message"] = _one_line("; ".join(msgs))
        rows.append(row)
    return rows


#: The message of an ok run whose relative errors do not exist (trace_metrics: NaN, null in runs.jsonl).
UNDEFINED_B0 = "relative error undefined: b = 0 (x* = 0); rel_error, rel_error_at_* and t_to_* are nan"

_STATUS_TEXT = {
    "unstable": ("realised matrix is unstable (an eigenvalue has real part ≤ 0): the integrators rail out; "
                 "not simulated"),
    "timeout": "not run: the batch exceeded its time limit ({limit:g} s per run)",
}


def _run_single(task, i: int, problem, spec, mapping) -> dict:
    from ..circuit.design import design, error_floor, realised_matrix
    from ..errors import NgspiceError
    from ..solver.batched import trace_metrics
    from ..core.config import SimConfig
    from ..solver.registry import simulate

    t0 = time.monotonic()
    row = _base_row(task, i)
    row.update(tau_s=float("nan"), t_end_s=float("nan"), dt_out_s=float("nan"), error_floor=float("nan"))
    status, msgs = "ok", []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            spec_k = spec.replace(board_seed=int(task["board_seeds"][i]))
            values = design(problem, spec_k, mapping)
            real = realised_matrix(values, spec_k)
            row["tau_s"] = values.nominal_tau_s
            row["error_floor"] = error_floor(problem, real, damping=mapping.damping)
            if np.min(np.linalg.eigvals(real.A_eff).real) <= 0:
                status = "unstable"
                msgs.append(_STATUS_TEXT["unstable"])
            else:
                cfg = SimConfig(**task["sim"], seed=int(task["noise_seeds"][i]), timeout_s=task["timeout"])
                res = simulate(problem, spec_k, cfg, backend=task["backend"], mapping=mapping)
                if not np.all(np.isfinite(res.states)):
                    status = "unstable"
                    msgs.append("the simulated state diverged (non-finite values)")
                else:
                    n_out = len(res.times) - 1
                    lay = _Layout(task["checkpoints"], res.tau_s, res.dt_out_s, n_out)
                    e, lb, _ = trace_metrics(res.states, res.x_exact, res.window.start, lay.sample_idx,
                                             np.asarray(TOLERANCES))
                    row.update(t_end_s=res.t_end_s, dt_out_s=res.dt_out_s)
                    lay.fill(row, e, lb, task["checkpoints"])
                    if not np.any(res.x_exact):
                        msgs.append(UNDEFINED_B0)
        except NgspiceError as exc:
            status = "timeout" if "timed out" in str(exc) else "failed"
            msgs.append(_error_text(exc))
        except Exception as exc:  # noqa: BLE001 - recorded, not fatal
            status = "failed"
            msgs.append(_error_text(exc))
    if status != "ok" or "rel_error" not in row:
        _empty_metrics(row, task["checkpoints"])
    note = _warn_text(caught)
    if note:
        msgs.append(note)
    row.update(wall_s=time.monotonic() - t0, status=status, message=_one_line("; ".join(msgs)))
    return row
