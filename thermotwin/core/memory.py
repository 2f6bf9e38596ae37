"""Memory planning and resource budgets: estimate what a command is about to allocate and do, refuse before allocating.

Every command that can grow with its options (simulate, netlist, report, calibrate, reading a matrix)
estimates its memory, integration steps, PWL points and output rows from the resolved grid and
sizes, and calls :func:`check` before the first large allocation. Two limits:

* **the machine**: ``MEMORY_FRACTION`` of what this process can still get — the smaller of
  ``MemAvailable`` (/proc/meminfo) and the address-space limit (``ulimit -v`` / ``prlimit --as``)
  minus what the process already maps. Never lifted: the run would fail or swap the machine.
* **the default budget** (:data:`DEFAULT_BUDGET`): memory, integration steps, PWL points, output
  rows — far above what a normal run needs, low enough that a typo (``--t-end 20`` meaning 20 s
  = 2·10⁷ τ) is caught. ``--yes`` on the command line (:func:`lifted`) lifts it; the environment
  variable ``THERMOTWIN_BUDGET_GB`` changes its memory part.

A refusal is one :class:`InputError` line giving the estimate, the limit, and the option that
changes it. Cost: O(1); no heavy imports.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from dataclasses import dataclass

from ..errors import InputError

__all__ = ["MEMORY_FRACTION", "DEFAULT_BUDGET", "mem_available_bytes", "address_space_left", "available_bytes",
           "check_memory", "check", "check_run", "run_estimate", "Estimate", "lifted", "set_lifted", "budget",
           "fmt_bytes", "DENSE_WORK_MATRICES", "TWIN_NOISE_CHUNK_BYTES", "PWL_POINT_BYTES"]

#: Fraction of the available memory a run may plan to allocate.
MEMORY_FRACTION = 0.8

#: The default budget (lifted by --yes). Memory in bytes; steps are integration / noise steps
#: summed over trajectories; pwl_points are the values a same-noise (``pwl``) SPICE run writes to its
#: noise files, one per node per noise step (each ≈ 25 bytes of text); rows are output rows summed over
#: trajectories.
DEFAULT_BUDGET = {
    "memory": 4 * 2**30,
    "steps": 10**8,
    "pwl_points": 4 * 10**6,
    "rows": 10**7,
}

#: What each budget item is, for messages.
_WHAT = {"memory": "memory", "steps": "integration steps", "pwl_points": "noise-file values",
         "rows": "output rows"}

_lifted: contextvars.ContextVar[bool] = contextvars.ContextVar("thermotwin_budget_lifted", default=False)


def set_lifted(value: bool) -> None:
    """Lift (True) or restore (False) the default budget for this context (the CLI's ``--yes``)."""
    _lifted.set(bool(value))


@contextlib.contextmanager
def lifted(value: bool = True):
    """``with lifted(): ...`` runs beyond the default budget (never beyond the machine)."""
    token = _lifted.set(bool(value))
    try:
        yield
    finally:
        _lifted.reset(token)


def budget() -> dict:
    """The default budget in force (``THERMOTWIN_BUDGET_GB`` overrides its memory part)."""
    b = dict(DEFAULT_BUDGET)
    env = os.environ.get("THERMOTWIN_BUDGET_GB")
    if env:
        try:
            gb = float(env)
        except ValueError:
            raise InputError(f"THERMOTWIN_BUDGET_GB={env!r}: give a number of gigabytes, e.g. 8") from None
        if not gb > 0:
            raise InputError(f"THERMOTWIN_BUDGET_GB={env!r}: must be > 0")
        b["memory"] = gb * 2**30
    return b


# -- what the machine has ----------------------------------------------------------------------------
def mem_available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo in bytes (None when the file does not exist)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def address_space_left() -> int | None:
    """Bytes the address-space limit (RLIMIT_AS) still allows this process (None: unlimited)."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        return None
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    used = 0
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    used = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    return max(0, soft - used)


def available_bytes() -> int | None:
    """What this process can still allocate: min(MemAvailable, RLIMIT_AS − VmSize); None if unknown."""
    vals = [v for v in (mem_available_bytes(), address_space_left()) if v is not None]
    return min(vals) if vals else None


def fmt_bytes(n: float) -> str:
    """``1.5 GB`` / ``340 MB`` / ``5.68 PB``: decimal units, 3 significant digits."""
    for unit, scale in (("EB", 1e18), ("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


# -- estimates and the check -------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """What a run is about to need: ``memory`` in bytes, and counts (0 = not applicable)."""

    memory: float = 0.0
    steps: float = 0.0
    pwl_points: float = 0.0
    rows: float = 0.0


def check(est: Estimate, what: str, reduce: str = "", yes: bool | None = None) -> Estimate:
    """Refuse (:class:`InputError`, one line) a run beyond the machine or the default budget.

    Args:
        est: the estimate.
        what: the run, e.g. ``"simulate (d = 4, 2.0e+07 τ)"``.
        reduce: what makes it smaller, as an instruction: ``"shorten --t-end"``.
        yes: lift the default budget (None: the context's :func:`lifted` state).
    """
    avail = available_bytes()
    if avail is not None and est.memory > MEMORY_FRACTION * avail:
        raise InputError(f"{what} needs about {fmt_bytes(est.memory)} of memory but only {fmt_bytes(avail)} is "
                         f"available (MemAvailable / ulimit -v); {reduce or 'use a smaller problem'}")
    if yes is None:
        yes = _lifted.get()
    if yes:
        return est
    b = budget()
    for key in ("memory", "steps", "pwl_points", "rows"):
        v = getattr(est, key)
        if v > b[key]:
            shown = fmt_bytes(v) if key == "memory" else f"{v:.3g}"
            limit = fmt_bytes(b[key]) if key == "memory" else f"{b[key]:.3g}"
            lift = "pass --yes to run it anyway" + (" (or set THERMOTWIN_BUDGET_GB)" if key == "memory" else "")
            raise InputError(f"{what} needs about {shown} {_WHAT[key]}, over the default budget of {limit}; "
                             f"{lift}{', or ' + reduce if reduce else ''}")
    return est


def check_memory(need_bytes: float, what: str, reduce: str = "", default_budget: bool = True) -> None:
    """Memory-only check: :func:`check` with ``Estimate(memory=…)``; ``default_budget=False`` checks
    the machine only (the factored solver, whose paper-scale runs are large on purpose)."""
    check(Estimate(memory=float(need_bytes)), what, reduce, yes=None if default_budget else True)


# -- estimates of the common runs --------------------------------------------------------------------
#: d×d float64 matrices a dense run holds at its peak (design, realised drift, eigenvectors, expm,
#: Lyapunov, the exact step's transition and covariance factors): measured, `simulate` on the
#: d = 5000 identity peaked at 6 GB ≈ 30·8·d² bytes.
DENSE_WORK_MATRICES = 30
#: The twin draws its noise in time chunks of at most this many bytes (two buffers of
#: :func:`thermotwin.solver.ou.simulate_linear`'s 256 MiB chunk).
TWIN_NOISE_CHUNK_BYTES = 2 * 256 * 2**20
#: Bytes of noise-file text per value (a shortest-round-trip float and its separator).
PWL_POINT_BYTES = 25


def run_estimate(grid, d: int, n_traj: int = 1, noise: str = "pwl", spice: bool = False,
                 dense: bool = True) -> Estimate:
    """A dense run on ``grid`` (a :class:`~thermotwin.core.config.Grid`) with ``d`` integrators.

    Memory: the output rows (times × d, a few copies: volts, states, ADC read-out) per trajectory,
    the PWL normals (n_noise_steps × d, drawn at once for the netlist) and the dense d×d work of the
    exact OU path (:data:`DENSE_WORK_MATRICES` d×d matrices). Same-noise SPICE runs add the noise
    files' text (one value per node per noise step), its lines and ngspice's own copy of the values.
    """
    rows = (grid.n_out + 1) * n_traj
    zoh = noise in ("pwl", "trrandom")
    # the twin's exact OU steps once per output row for white/none noise, once per noise step for ZOH
    steps = float(grid.n_noise_steps if (zoh or spice) else grid.n_out) * n_traj
    mem = 8.0 * rows * d * 4 + (8.0 * DENSE_WORK_MATRICES * d * d if dense else 0.0)
    points = 0.0
    if spice and noise == "pwl":
        points = 1.0 * grid.n_noise_steps * d
        mem += 2 * 8.0 * grid.n_noise_steps * d + 3.0 * PWL_POINT_BYTES * points
    elif not spice and noise != "none":
        mem += min(8.0 * grid.n_noise_steps * d * n_traj, TWIN_NOISE_CHUNK_BYTES)
        if zoh:      # the exact ZOH step's (steps_per_out·d × d) mixing matrix and its blocks
            mem += 8.0 * 3 * grid.steps_per_out * d * d
    return Estimate(memory=mem, steps=steps, pwl_points=points, rows=rows)


def check_run(grid, d: int, n_traj: int = 1, noise: str = "pwl", spice: bool = False, what: str = "the run",
              dense: bool = True) -> Estimate:
    """:func:`run_estimate` then :func:`check`, naming the run's size and the options that shrink it."""
    est = run_estimate(grid, d, n_traj, noise, spice, dense)
    t = f"{grid.t_end_s:.3g} s" if grid.t_end_s < 1e6 else f"{grid.t_end_s:.3g} s (over 11 days)"
    return check(est, f"{what} (d = {d}, t_end = {t}, {grid.n_noise_steps:.3g} noise steps of {grid.noise_step_s:.3g} s)",
                 "shorten --t-end (bare numbers are seconds: write e.g. 200tau) or coarsen --noise-step / --dt-out")
