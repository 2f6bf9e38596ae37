"""The exact Ornstein–Uhlenbeck twin (backend ``twin``; shared/DESIGN.md 1.1, 2).

The board obeys dV/dt = −M V + f + noise, with M = A_eff/τ and f = b_eff/τ from
:func:`thermotwin.circuit.realised_matrix`. Two exact discretisations:

* ``white`` noise of intensity Q = q·diag(gain²), q = 2κ0/τ: over an output step Δ,
  V⁺ = x* + Φ (V − x*) + L z, Φ = expm(−MΔ), L Lᵀ = ∫₀^Δ e^{−Ms} Q e^{−Mᵀs} ds (Van Loan; any
  stable M, not only symmetric — the symmetric-part shortcut is wrong for non-normal M).
* ``pwl`` zero-order-hold noise u_k = sqrt(q/h) gain ⊙ z_k over noise steps of length h (the same
  z_k the netlist's PWL sources carry): V(t+h) = x* + Φ_h (V − x*) + Γ u_k with
  Γ = ∫₀^h e^{−Ms} ds. m noise steps per output step are folded into one GEMM.

Cost: one BLAS GEMM over all noise (n_out·n_traj × m·d × d) plus n_out small matvec steps;
memory is chunked along time.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.linalg

from ..circuit.design import Mapping, Realised, adc_readout, design, realised_matrix
from ..circuit.spec import HardwareSpec
from ..problem import Problem
from .config import SimConfig, initial_state, resolve_grid
from .noise import ChunkedNormals
from .result import SimResult


def ou_transition(M: np.ndarray, Q: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Φ = expm(−M dt) and the transition covariance ∫₀^dt e^{−Ms} Q e^{−Mᵀs} ds (Van Loan 1978).

    Args:
        M: drift (d, d) in 1/s. Q: diffusion (d, d) in V²/s. dt: step in s.
    Returns:
        (Φ, Qd), both (d, d); Qd symmetrised.
    """
    d = M.shape[0]
    blk = np.zeros((2 * d, 2 * d))
    blk[:d, :d] = M
    blk[:d, d:] = Q
    blk[d:, d:] = -M.T
    E = scipy.linalg.expm(blk * dt)
    phi = E[d:, d:].T
    qd = phi @ E[:d, d:]
    return phi, 0.5 * (qd + qd.T)


def zoh_transition(M: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Φ_h = expm(−M h) and Γ = ∫₀^h expm(−M s) ds, via one block exponential."""
    d = M.shape[0]
    blk = np.zeros((2 * d, 2 * d))
    blk[:d, :d] = -M
    blk[:d, d:] = np.eye(d)
    E = scipy.linalg.expm(blk * h)
    return E[:d, :d], E[:d, d:]


def psd_factor(S: np.ndarray) -> np.ndarray:
    """L with L Lᵀ = S for a symmetric PSD S (Cholesky, eigen fallback for semi-definite S)."""
    try:
        return np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        w, V = np.linalg.eigh(S)
        return V * np.sqrt(np.clip(w, 0.0, None))


def stationary_covariance(M: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """Σ solving M Σ + Σ Mᵀ = Q (continuous Lyapunov); for Q = 2κ0/τ I and M = A/τ, A Σ + Σ Aᵀ = 2κ0 I."""
    S = scipy.linalg.solve_continuous_lyapunov(M, Q)
    return 0.5 * (S + S.T)


def linear_recursion(phi_T: np.ndarray, c: np.ndarray, forcing: np.ndarray, x0: np.ndarray,
                     out: np.ndarray) -> None:
    """Fill out[:, n+1] = c + out[:, n] Φᵀ + forcing[:, n]; out[:, 0] = x0. Pure, in place.

    Shapes: phi_T (d, d) = Φᵀ; c (d,); forcing (n_traj, n, d); x0 (n_traj, d); out (n_traj, n+1, d).
    """
    out[:, 0] = x0
    prev = out[:, 0]
    for n in range(forcing.shape[1]):
        nxt = out[:, n + 1]
        np.matmul(prev, phi_T, out=nxt)
        nxt += c
        nxt += forcing[:, n]
        prev = nxt


def simulate_realised(real: Realised, q: float, v0_volts: np.ndarray, grid, config: SimConfig,
                      chunk_bytes: int = 256 * 2**20) -> np.ndarray:
    """Integrate the realised board; returns volts, shape (n_traj, n_out + 1, d).

    Noise is drawn from ``config.seed`` (see :mod:`thermotwin.solver.noise`) in time chunks, in
    the same order the netlist's PWL sources use.
    """
    M, f = real.M, real.f
    d = M.shape[0]
    n_traj = config.n_traj
    x_star = np.linalg.solve(M, f)
    out = np.empty((n_traj, grid.n_out + 1, d))
    x0 = np.broadcast_to(v0_volts, (n_traj, d)).copy()
    kind = config.noise if q > 0 else "none"
    if kind in ("white", "trnoise"):
        Q = q * np.diag(real.noise_gain ** 2)
        phi, qd = ou_transition(M, Q, grid.dt_out_s)
        mix = psd_factor(qd).T                 # row vectors: z @ Lᵀ
        m = 1
    elif kind in ("pwl", "trrandom"):
        h = grid.noise_step_s
        m = grid.steps_per_out
        phi_h, gamma = zoh_transition(M, h)
        B = gamma * (np.sqrt(q / h) * real.noise_gain)[None, :]      # u_k → state, (d, d)
        blocks = []
        P = np.eye(d)
        for _ in range(m):                       # S = [Φ^{m-1}B, …, ΦB, B]
            blocks.append(P @ B)
            P = phi_h @ P
        phi = P                                  # Φ_h^m
        mix = np.concatenate(blocks[::-1], axis=1).T   # (m·d, d): z_flat @ mix
    else:
        phi = scipy.linalg.expm(-M * grid.dt_out_s)
        mix = None
        m = 1
    c = x_star - phi @ x_star
    phi_T = np.ascontiguousarray(phi.T)
    if mix is None:
        linear_recursion(phi_T, c, np.zeros((n_traj, grid.n_out, d)), x0, out)
        return out
    normals = ChunkedNormals(config.seed, grid.n_out * m, d, n_traj)
    rows = max(1, int(chunk_bytes // (8 * n_traj * m * d * 2)))
    start = 0
    state = x0
    while start < grid.n_out:
        k = min(rows, grid.n_out - start)
        z = normals.next(k * m).reshape(n_traj, k, m * d)
        forcing = z @ mix                                        # one GEMM per chunk
        linear_recursion(phi_T, c, forcing, state, out[:, start:start + k + 1])
        state = out[:, start + k].copy()
        start += k
    return out


def run_twin(problem: Problem, spec: HardwareSpec, config: SimConfig, mapping: Mapping = Mapping()) -> SimResult:
    """Backend ``twin``: exact OU (or exact ZOH) simulation of the realised board.

    Returns a :class:`SimResult` of trajectory 0 (all trajectories in ``stats['states_all']``
    when ``config.n_traj > 1``).
    """
    t0 = time.perf_counter()
    values = design(problem, spec, mapping)
    real = realised_matrix(values, spec)
    grid = resolve_grid(problem, config, values.nominal_tau_s)
    v0 = initial_state(problem, config) * values.b_scale
    q = 2.0 * spec.kappa0_v2 / values.nominal_tau_s
    volts = simulate_realised(real, q, v0, grid, config)
    states = adc_readout(volts, spec) / values.b_scale
    wall = time.perf_counter() - t0
    stats = {"noise_steps": grid.n_noise_steps, "output_steps": grid.n_out}
    if config.n_traj > 1:
        stats["states_all"] = states
    return SimResult(
        backend="twin", times=grid.times, states=states[0], x_exact=problem.x_exact,
        tau_s=values.nominal_tau_s, settle_s=grid.settle_s, wall_s=wall, seed=config.seed,
        noise=config.noise, spec_hash=spec.digest(), problem_hash=problem.digest(),
        b_scale=values.b_scale, A=np.asarray(problem.A), b=np.asarray(problem.b),
        noise_step_s=grid.noise_step_s, stats=stats,
    )
