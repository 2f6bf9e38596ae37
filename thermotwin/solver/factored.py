"""The factored TNGD problem at paper scale: F = λI + Jᵀ H J, N up to ~10⁵.

The scaled-up TNGD circuit (docs/circuit.md#factored, docs/timing.md#timing) has three resistor arrays J_f (r×N), H_L (r×r)
and J_fᵀ, with integrators only on the N outputs; its drift is F = λI + Jᵀ H J, the identity plus a
rank-r term (r = b·d_z). In units of τ (docs/model.md#sde):

    dV = −(F V − g) dt' + sqrt(2κ0) dW,    stationary law N(F⁻¹g, κ0 F⁻¹).

This module holds the problem type (:class:`FactoredProblem`, read from an ``.npz`` with arrays
``J``, ``H``, ``damping``, ``g`` by :func:`load_factored`) and the backend :func:`run_factored`,
which returns the same :class:`SimResult` (and so the same JSON keys) as the dense twin.

Paths (``stats['path']``):

* ``factored-exact`` — ideal board or quantised arrays (F stays λI + JᵀHJ, symmetric): exact OU
  steps by products with J and r×r matrices (:class:`~thermotwin.core.lowrank.SymLowRank`).
  Cost O(N r²) once (the Gram J Jᵀ) plus O(N r) per output step; memory O(N r).
* ``factored-exact-basis`` — per-resistor tolerances make the two J arrays and H differ
  (F = λI + J₂ᵀ H' J₁, non-symmetric, still low rank): exact on an orthonormal basis of the
  ≤ 2r-dimensional span (:class:`~thermotwin.core.lowrank.BasisLowRank`).
* ``factored-etd2`` — diagonal effects (finite op-amp gain leak, capacitor spread, per-node
  resistor spread) add a non-uniform diagonal: after the change of variables Y = V/noise_gain
  (which makes the noise isotropic) F = λ̄I + ABᵀ + diag(E), and
  :func:`~thermotwin.core.lowrank.etd2_path` integrates the small diagonal remainder E with a
  second-order exponential integrator around the exact low-rank part. The fixed point is exact;
  the sub-step h keeps the predicted error ETD_ERROR_CONST·h²·max|E| below ``ETD_TOL`` (1e-4 of
  the signal; the constants say how this was measured).

Noise: the factored backend steps the exact white-noise OU transition once per output step
(``noise='white'``). ``pwl`` — the zero-order-hold noise that exists to match SPICE path by path,
within 0.09 % of white by construction (core/config.py) — is run as ``white`` and the result says
so; SPICE cannot run these sizes. ``trnoise``/``trrandom`` are ngspice's generators: an error.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

from ..core import memory as _memory
from ..core.memory import MEMORY_FRACTION, mem_available_bytes  # noqa: F401 (old names)
from ..core.problem import (  # noqa: F401 (the problem type moved to core; old names kept)
    DENSE_LIMIT, H_PSD_TOL, H_SYMMETRY_TOL, FactoredOperator, FactoredProblem, load_factored, synthetic_factored,
)
from ..core.config import resolve_grid
from ..core.noise import NOISE_CHUNK_BYTES, noise_chunks
from ..core.progress import Bar
from ..errors import InputError, UnstableMatrixError

#: Error model of the diagonal (ETD2) path, measured against the dense expm/Lyapunov solution at
#: N = 200–300 (λ_max·τ from 4 to 400, max|E|·τ from 2e-3 to 8e-2; tests/test_factored.py): the
#: noise-free path and the same-noise path are off by ≤ ETD_ERROR_CONST·h²·max|E| times max|V|
#: (elementwise; measured 0.02–0.06), the stationary covariance by ≈ 0.01·h²·max|E| (relative
#: Frobenius), h the sub-step in units of τ — second order, both.
ETD_ERROR_CONST = 0.1
#: Default accuracy target of the diagonal path: h = min(dt_out, sqrt(ETD_TOL/(ETD_ERROR_CONST·max|E|))).
ETD_TOL = 1e-4
#: Default cap on output rows when no --dt-out is given (same as the dense twin).
DEFAULT_MAX_OUTPUT_POINTS = 4000
#: OpenBLAS threads used by :func:`run_factored` (None: OpenBLAS's default). One thread: on a
#: shared machine threads spin-wait while other work holds the cores (timings in
#: benchmarks/results/NOTES.md); set None on a dedicated many-core box.
BLAS_THREADS: int | None = 1


# -- memory --------------------------------------------------------------------------------------
def check_memory(need_bytes: float, what: str) -> None:
    """Raise InputError (before allocating) if ``need_bytes`` exceeds MEMORY_FRACTION of what the
    process can still allocate (:func:`thermotwin.core.memory.available_bytes`); the default budget
    does not apply (paper-scale factored runs are large on purpose)."""
    _memory.check_memory(need_bytes, what, "use a smaller problem (N, r) or fewer output rows (--t-end, --dt-out)",
                         default_budget=False)


# -- the backend ---------------------------------------------------------------------------------
def factored_grid(problem: FactoredProblem, config, tau_s: float, spec=None):
    """The factored twin's grid: :func:`~thermotwin.core.config.resolve_grid` with exact steps."""
    return resolve_grid(problem, config, tau_s, spec, exact_steps=True)


def run_factored(problem: FactoredProblem, spec=None, config=None, *, mapping=None, rounding: str = "nearest",
                 out_of_range: str = "drop", node_tolerance: bool = False, method: str = "auto",
                 etd_tol: float = ETD_TOL, blas_threads: int | None = BLAS_THREADS, y_gain: float | str = 1.0,
                 gbw_model: str = "refuse"):
    """Backend ``twin`` for a factored problem; returns a :class:`SimResult` (states in problem units).

    Args:
        problem: the factored problem.
        spec: :class:`HardwareSpec` (default ideal); see :func:`thermotwin.circuit.factored.realise_factored`
            for the non-idealities modelled and how.
        config: :class:`SimConfig`; ``noise`` white (exact) or none (pwl runs as white, see module doc).
        mapping: :class:`~thermotwin.circuit.mapping.Mapping` (rounding, out_of_range, node_tolerance,
            y_gain, gbw_model); without it, from the keywords of the same names (older callers).
        method: ``auto``; ``basis`` (force the orthonormal-basis engine, a cross-check); ``etd2``
            (force the exponential integrator even without diagonal effects).
        etd_tol: accuracy target of the diagonal path (relative to the signal); the sub-step is
            also capped by ``config.noise_step`` when given.
        blas_threads: OpenBLAS threads for the run (see ``BLAS_THREADS``); None leaves them alone.

    Cost: O(N r²) once, O(N r) per output step (exact paths) or per sub-step (``etd2``); memory
    O(N r) plus the output (n_out + 1)·N. Noise: N standard normals per step from ``config.seed``
    (:func:`thermotwin.core.noise.zoh_normals` order), drawn in chunks.
    """
    from ..circuit.mapping import Mapping
    from ..core.lowrank import blas_threads as _limit

    if mapping is None:
        mapping = Mapping(rounding=rounding, out_of_range=out_of_range, node_tolerance=node_tolerance,
                          y_gain=y_gain, gbw_model=gbw_model)
    t0 = time.perf_counter()
    with _limit(blas_threads):
        return _run_factored(problem, spec, config, mapping, method, etd_tol, t0)


def _run_factored(problem, spec, config, mapping, method, etd_tol, t0):
    from ..circuit.factored import realise_factored
    from ..circuit.spec import HardwareSpec
    from ..core.config import SimConfig, initial_state

    spec = spec or HardwareSpec()
    config = config or SimConfig(noise="white")
    if method not in ("auto", "basis", "etd2"):
        raise ValueError(f"method {method!r}: use auto, basis or etd2")
    noise = config.noise
    stats: dict = {}
    if noise in ("trnoise", "trrandom"):
        raise InputError(f"noise {noise!r} is ngspice's own generator; factored problems run on the twin "
                         "only: use --noise white (or none)")
    if noise == "pwl":
        noise = "white"
        stats["noise_note"] = "pwl (zero-order hold for SPICE) runs as exact white noise at factored scale"
    # Memory plan from the structure alone, checked before the board and the output are allocated.
    plan = realise_factored(problem, spec, mapping=mapping, dry_run=True)
    grid = resolve_grid(problem, replace(config, noise=noise), plan.tau_s, spec, exact_steps=True)
    _check_run_memory(problem, spec, config.n_traj, grid, plan, method)
    board = realise_factored(problem, spec, mapping=mapping)
    stats.update(board.report)
    engine = _engine(problem, board, method, stats)
    kappa = board.kappa if noise != "none" else 0.0
    out = np.empty((config.n_traj, grid.n_out + 1, problem.N))
    y0 = initial_state(problem, config) / board.noise_gain
    if not (board.has_diagonal or method == "etd2"):
        _exact_paths(engine, board, grid, kappa, y0, config, out)
    else:
        grid = _etd2_paths(engine, board, grid, kappa, y0, config, etd_tol, out, stats)
    return _result(problem, spec, config, noise, board, grid, out, stats, t0)


def _check_run_memory(problem, spec, n_traj: int, grid, plan, method: str) -> None:
    N, r = problem.N, problem.r
    diag = plan.has_diagonal or method == "etd2"
    k = r if (plan.symmetric and method != "basis") else 2 * r
    est = 8.0 * n_traj * (grid.n_out + 1) * N * (2 if spec.adc_bits is not None else 1)
    est += 2.0 * min(NOISE_CHUNK_BYTES, 8.0 * N * grid.n_out) + 8.0 * plan.extra_arrays * r * N
    if k > r:
        est += 8.0 * N * (2 * r + 2 * k)
    if diag:
        est += 8.0 * 8 * N
    check_memory(est, f"a factored run (N = {N}, r = {r}, {grid.n_out} output rows, "
                 f"{'diagonal' if diag else 'exact'} path)")


def _engine(problem, board, method: str, stats: dict):
    """The exact low-rank engine of the realised drift, in Y = V/noise_gain (isotropic noise):
    F_Y = diag(d) + diag(row/ng) J2ᵀ H J1 diag(ng)."""
    from ..core.lowrank import BasisLowRank, SymLowRank

    r, N = problem.r, problem.N
    sym = board.symmetric and method != "basis"
    ng = board.noise_gain
    lam_bar = 0.5 * (float(board.d.max()) + float(board.d.min()))
    scal = float(board.row[0])
    psd = sym and float(np.linalg.eigvalsh(board.H).min()) >= -H_PSD_TOL * float(np.abs(board.H).max())
    if sym and psd:                              # uniform row scaling folded into H
        stats["path"] = "factored-exact"
        if board.J1 is problem.J and board.H is problem.H and scal == 1.0 and lam_bar == problem.damping:
            engine = problem.engine
        else:
            engine = SymLowRank(board.J1, board.H * scal, lam_bar, gram=problem.gram if board.J1 is problem.J else None)
        stats["subspace_dim"] = int(engine.k)
        return engine
    # Quantised H' may be indefinite (sym, k = r) or the arrays differ (k ≤ 2r): orthonormal basis.
    a_scale = board.row / ng
    blocks = [(board.J1, ng)] if sym else [(board.J2, a_scale), (board.J1, ng)]
    Xt = np.empty((r * len(blocks), N))
    for b, (Jb, sc) in enumerate(blocks):
        np.multiply(Jb, sc[None, :], out=Xt[b * r:(b + 1) * r])
    H_b = board.H * (scal if sym else 1.0)
    red = (lambda R: (R @ H_b, R)) if sym else (lambda R: (R[:, :r] @ H_b, R[:, r:]))
    engine = BasisLowRank(Xt, lam_bar, red)
    del Xt
    stats["path"] = "factored-exact-basis"
    worst = engine.check_stable()
    if worst <= 0:
        raise UnstableMatrixError(
            f"the realised board is unstable: λI + J₂ᵀH'J₁ has an eigenvalue with real part {worst:.3g} ≤ 0 "
            "(the mismatch between the arrays from tolerance or quantisation exceeds the damping), so the "
            "integrators would rail out; use a smaller r_tolerance, more resistor bits or a larger damping")
    stats["subspace_dim"] = int(engine.k)
    return engine


def _counted(chunks, bar, done: int):
    """The (rows, z) noise chunks unchanged, advancing the progress bar by each chunk's rows."""
    for rows, z in chunks:
        yield rows, z
        done += rows
        bar.update(done)


def _exact_paths(engine, board, grid, kappa: float, y0, config, out) -> None:
    """Exact OU transitions, one per output step, every trajectory (Y units)."""
    from ..core.lowrank import exact_path

    N, n_traj = out.shape[2], out.shape[0]
    ops = engine.exact_ops(grid.dt_out_s / board.tau_s, kappa)
    y_star = engine.solve(board.f / board.noise_gain)
    with Bar("factored twin", total=grid.n_out * n_traj) as bar:      # stderr, on a terminal (core.progress)
        for t in range(n_traj):
            chunks = noise_chunks(config.seed, grid.n_out, N, n_traj, t, kappa > 0)
            exact_path(engine, ops, y_star, y0 - y_star, _counted(chunks, bar, t * grid.n_out), out[t])


def _etd2_paths(engine, board, grid, kappa: float, y0, config, etd_tol: float, out, stats: dict):
    """The diagonal path: ETD2 sub-steps around the exact low-rank part; returns the grid with its sub-steps."""
    from ..core.lowrank import etd2_path
    from ..units import parse_time

    N, n_traj = out.shape[2], out.shape[0]
    E = board.d - 0.5 * (float(board.d.max()) + float(board.d.min()))
    e_max = float(np.abs(E).max())
    dt = grid.dt_out_s / board.tau_s
    h_max = math.sqrt(etd_tol / (ETD_ERROR_CONST * e_max)) if e_max > 0 else dt
    if config.noise_step is not None:
        h_max = min(h_max, parse_time(config.noise_step, board.tau_s) / board.tau_s)
    m = max(1, math.ceil(dt / h_max * (1 - 1e-12)))
    h = dt / m
    if float(board.d.min()) <= 0:
        raise UnstableMatrixError("the realised board is unstable: a diagonal drift entry is ≤ 0")
    ops = engine.etd_ops(h, kappa)
    f_Y = board.f / board.noise_gain
    with Bar("factored twin", total=grid.n_out * m * n_traj) as bar:   # stderr, on a terminal (core.progress)
        for t in range(n_traj):
            chunks = noise_chunks(config.seed, grid.n_out * m, N, n_traj, t, kappa > 0)
            etd2_path(engine, ops, f_Y, E, y0, m, _counted(chunks, bar, t * grid.n_out * m), out[t])
    stats.update(path="factored-etd2", substeps_per_output=m, substep_tau=h, E_max=e_max,
                 etd_error_bound=ETD_ERROR_CONST * h * h * e_max)
    return replace(grid, noise_step_s=grid.dt_out_s / m, steps_per_out=m)


def _result(problem, spec, config, noise: str, board, grid, out, stats: dict, t0: float):
    from ..circuit.programming import adc_readout
    from .result import SimResult

    out *= board.noise_gain
    if spec.adc_bits is not None:
        out = adc_readout(out * board.b_scale, spec) / board.b_scale
    stats.update(noise_steps=grid.n_out * grid.steps_per_out, output_steps=grid.n_out, N=problem.N, r=problem.r)
    if config.n_traj > 1:
        stats["states_all"] = out
    return SimResult(
        backend="twin", times=grid.times, states=out[0], x_exact=problem.x_exact, tau_s=board.tau_s,
        settle_s=grid.settle_s, wall_s=time.perf_counter() - t0, seed=config.seed, noise=noise,
        spec_hash=spec.digest(), problem_hash=problem.digest(), b_scale=board.b_scale, A=problem.operator,
        b=problem.b, noise_step_s=grid.noise_step_s, stats=stats,
    )
