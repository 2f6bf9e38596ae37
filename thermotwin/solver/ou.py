"""The exact Ornstein–Uhlenbeck twin (backend ``twin``; docs/model.md#sde, docs/backends.md#backends).

The board obeys dV/dt = −M V + f + noise, with M = A_eff/τ and f = b_eff/τ from
:func:`thermotwin.circuit.realised_matrix`. Two exact discretisations:

* ``white`` noise of intensity Q = q·diag(gain²), q = 2κ0/τ: over an output step Δ,
  V⁺ = x* + Φ (V − x*) + L z, Φ = expm(−MΔ), L Lᵀ = ∫₀^Δ e^{−Ms} Q e^{−Mᵀs} ds (Van Loan; any
  stable M, not only symmetric — the symmetric-part shortcut is wrong for non-normal M).
* ``pwl`` zero-order-hold noise u_k = sqrt(q/h) gain ⊙ z_k over noise steps of length h (the same
  z_k the netlist's PWL sources carry): V(t+h) = x* + Φ_h (V − x*) + Γ u_k with
  Γ = ∫₀^h e^{−Ms} ds. m noise steps per output step are folded into one GEMM.

Cost: one BLAS GEMM over all noise (n_out·n_traj × m·d × d) plus n_out small matvec steps;
memory is chunked along time. Runs of several chunks draw the normals on a background thread, one
chunk ahead of the GEMM and the recursion (same generator, same order: the same stream), when a
second core looks idle (:func:`spare_cpu`).
"""

from __future__ import annotations

import os
import time

import numpy as np
import scipy.linalg

from ..circuit.board import realise
from ..circuit.design import Mapping, Realised, adc_readout, realised_matrix
from ..circuit.spec import HardwareSpec
from ..core.problem import Problem
from ..core.config import SimConfig, initial_state, resolve_grid
from ..core.lowrank import blas_threads
from ..core.memory import check_run
from ..core import progress
from ..core.noise import ChunkedNormals
from .result import SimResult


#: Bytes of one time chunk of normals plus forcing: small enough to stay in L2 cache between the RNG,
#: the mixing GEMM and the recursion (1 MB per core here), large enough that the GEMM runs at speed.
CHUNK_BYTES = 2**20


def ou_transition(M: np.ndarray, Q: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Φ = expm(−M dt) and the transition covariance ∫₀^dt e^{−Ms} Q e^{−Mᵀs} ds.

    For stable M (every eigenvalue with positive real part) Qd = Σ − Φ Σ Φᵀ with Σ the Lyapunov
    solution (docs/model.md#sde), which stays accurate for any step; otherwise Van Loan's block
    exponential (1978), whose e^{+M dt} block loses precision once ρ(M)·dt exceeds ~20.

    Args:
        M: drift (d, d) in 1/s. Q: diffusion (d, d) in V²/s. dt: step in s.
    Returns:
        (Φ, Qd), both (d, d); Qd symmetrised.
    """
    d = M.shape[0]
    if np.min(np.linalg.eigvals(M).real) > 0:
        phi = scipy.linalg.expm(-M * dt)
        S = stationary_covariance(M, Q)
        qd = S - phi @ S @ phi.T
        return phi, 0.5 * (qd + qd.T)
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

    Shapes: phi_T (d, d) = Φᵀ; c (d,); forcing (n_traj, n, d); x0 (n_traj, d); out (n_traj, n+1, d),
    all float64. The numba kernel :func:`_recursion_kernel` runs the whole recursion (2d² + 2d flop
    a step); it reproduces one ``np.matmul`` per step (the reference in tests/test_ou_kernel.py) to
    the rounding of each matrix–vector sum.
    """
    n_traj, n, d = forcing.shape
    if out.shape != (n_traj, n + 1, d) or phi_T.shape != (d, d) or c.shape != (d,) or x0.shape != (n_traj, d):
        raise ValueError(f"linear_recursion: inconsistent shapes phi_T {phi_T.shape}, c {c.shape}, "
                         f"forcing {forcing.shape}, x0 {x0.shape}, out {out.shape}")
    _recursion_kernel()(np.ascontiguousarray(phi_T, dtype=np.float64), np.ascontiguousarray(c, dtype=np.float64),
                        np.ascontiguousarray(forcing, dtype=np.float64), np.ascontiguousarray(x0, dtype=np.float64),
                        out)


_KERNEL = None


def _recursion_kernel():
    """Compile (once; cached on disk) the step recursion: one call runs every step of every trajectory.

    Φᵀ (d·d·8 bytes: 20 KB at d = 50) stays in L1/L2 cache for all steps; each step is d axpy's of
    length d (row j of Φᵀ scaled by x_j), which LLVM vectorises. No allocation, no RNG.
    """
    global _KERNEL
    if _KERNEL is not None:
        return _KERNEL
    import numba

    @numba.njit(cache=True, nogil=True)
    def ou_recursion(phi_T, c, forcing, x0, out):
        n_traj, n, d = forcing.shape
        d4 = d - d % 4
        acc = np.empty(d)
        for t in range(n_traj):
            for i in range(d):
                out[t, 0, i] = x0[t, i]
            for k in range(n):
                x = out[t, k]
                for i in range(d):
                    acc[i] = 0.0
                for j in range(0, d4, 4):              # four rows of Φᵀ per pass over acc
                    x0_, x1, x2, x3 = x[j], x[j + 1], x[j + 2], x[j + 3]
                    r0, r1, r2, r3 = phi_T[j], phi_T[j + 1], phi_T[j + 2], phi_T[j + 3]
                    for i in range(d):
                        acc[i] += (x0_ * r0[i] + x1 * r1[i]) + (x2 * r2[i] + x3 * r3[i])
                for j in range(d4, d):
                    xj = x[j]
                    r0 = phi_T[j]
                    for i in range(d):
                        acc[i] += xj * r0[i]
                y = out[t, k + 1]
                f = forcing[t, k]
                for i in range(d):
                    y[i] = acc[i] + c[i] + f[i]

    _KERNEL = ou_recursion
    return _KERNEL


def simulate_realised(real: Realised, q: float, v0_volts: np.ndarray, grid, config: SimConfig,
                      chunk_bytes: int = CHUNK_BYTES) -> np.ndarray:
    """Integrate the realised board; returns volts, shape (n_traj, n_out + 1, d).

    Noise is drawn from ``config.seed`` (see :mod:`thermotwin.core.noise`) in time chunks, in
    the same order the netlist's PWL sources use.
    """
    return simulate_linear(real.M, real.f, np.diag(real.noise_gain), q, v0_volts, grid, config, chunk_bytes)


def one_blas_thread():
    """One BLAS thread for the run (:func:`thermotwin.core.lowrank.blas_threads`). Measured on this
    shared 2-core machine: the mixing GEMM (10⁴ × 50 @ 50 × 50) took 2–10 ms on one OpenBLAS thread
    and 19–32 ms on two."""
    return blas_threads(1)


def simulate_linear(M: np.ndarray, f: np.ndarray, B: np.ndarray, q: float, x0: np.ndarray, grid,
                    config: SimConfig, chunk_bytes: int = CHUNK_BYTES, pipeline: bool | None = None) -> np.ndarray:
    """Exact integration of dx/dt = −M x + f + B u(t); returns x, shape (n_traj, n_out + 1, n).

    u is the nominal per-node noise forcing (d channels): white of intensity q (V²/s) for
    ``white``/``trnoise``, zero-order hold sqrt(q/h)·z_k for ``pwl``/``trrandom``.

    Cost per output step and trajectory: the m·d normals (numpy's generator, the same stream as
    the netlist), one GEMM row (2·m·d·n flop) and the recursion's matvec (2n² flop, numba); time is
    chunked so normals and forcing stay in cache (``chunk_bytes``). One BLAS thread.

    ``pipeline``: draw the normals on a background thread while the previous chunk is mixed and
    integrated (``None``: when there are at least :data:`PIPELINE_MIN_CHUNKS` chunks and
    :func:`spare_cpu`).
    Either way the numbers are the same (tests/test_ou_kernel.py).
    """
    with one_blas_thread():
        return _simulate_linear(M, f, B, q, x0, grid, config, chunk_bytes, pipeline)


def _simulate_linear(M, f, B, q, x0, grid, config, chunk_bytes, pipeline):
    n, d = B.shape
    n_traj = config.n_traj
    kind = config.noise if q > 0 else "none"
    if kind == "none":
        x_star = np.linalg.solve(M, f)
        phi = scipy.linalg.expm(-M * grid.dt_out_s)
        out = np.empty((n_traj, grid.n_out + 1, n))
        linear_recursion(np.ascontiguousarray(phi.T), x_star - phi @ x_star, np.zeros((n_traj, grid.n_out, n)),
                         np.broadcast_to(x0, (n_traj, n)).copy(), out)
        return out
    white = kind in ("white", "trnoise")
    m, dz = (1, n) if white else (grid.steps_per_out, d)
    rows = max(1, min(grid.n_out, int(chunk_bytes // (8 * n_traj * m * max(n, dz) * 2))))
    sizes = [min(rows, grid.n_out - s) for s in range(0, grid.n_out, rows)]
    if pipeline is None:
        pipeline = len(sizes) >= PIPELINE_MIN_CHUNKS and spare_cpu()
    normals = ChunkedNormals(config.seed, grid.n_out * m, dz, n_traj)
    # the drawer starts now: the first chunk is drawn while the transition matrices are computed
    chunks = _NormalsAhead(normals, sizes, m * dz) if pipeline else _SerialNormals(normals, sizes, m * dz)
    try:
        x_star = np.linalg.solve(M, f)
        out = np.empty((n_traj, grid.n_out + 1, n))
        if white:
            phi, qd = ou_transition(M, q * (B @ B.T), grid.dt_out_s)
            mix = psd_factor(qd).T          # (n, n): the step covariance has full rank n in general
        else:
            h = grid.noise_step_s
            phi_h, gamma = zoh_transition(M, h)
            Bs = gamma @ B * np.sqrt(q / h)                    # u_k (standard normal) → state, (n, d)
            blocks = []
            P = np.eye(n)
            for _ in range(m):                                 # S = [Φ^{m-1}B, …, ΦB, B]
                blocks.append(P @ Bs)
                P = phi_h @ P
            phi = P                                            # Φ_h^m
            mix = np.concatenate(blocks[::-1], axis=1).T       # (m·d, n): z_flat @ mix
        c = x_star - phi @ x_star
        phi_T = np.ascontiguousarray(phi.T)
        mix = np.ascontiguousarray(mix)
        chunks.set_mix(mix, n_traj)            # pipelined: the drawer thread mixes most chunks as well
        fbuf = np.empty(n_traj * rows * n)
        start = 0
        state = np.broadcast_to(x0, (n_traj, n)).copy()
        with progress.Bar("twin", total=grid.n_out) as bar:   # stderr only, when a terminal (core.progress)
            for k, z, release, mixed in chunks:
                if mixed:
                    forcing = z                                              # mixed on the drawer thread
                else:
                    forcing = fbuf[:n_traj * k * n].reshape(n_traj * k, n)
                    np.matmul(z.reshape(n_traj * k, m * dz), mix, out=forcing)     # one GEMM per chunk
                    release()                                                # z's buffer may be refilled now
                linear_recursion(phi_T, c, forcing.reshape(n_traj, k, n), state, out[:, start:start + k + 1])
                if mixed:
                    release()                                                # forcing's buffer, after use
                state = out[:, start + k].copy()
                start += k
                bar.update(start)
    finally:
        chunks.close()
    return out


#: Below this many time chunks the run draws its normals on the calling thread (a thread's start and
#: hand-overs cost ~0.1 ms; a chunk of normals costs ~10 ms at the default chunk size).
PIPELINE_MIN_CHUNKS = 3
#: Chunk buffers in flight between the drawing thread and the consumer.
PIPELINE_DEPTH = 3


def spare_cpu() -> bool:
    """Whether a second core is likely idle: ≥ 2 cpus for this process and a 1-minute load average
    below cpus − ½ (this run itself counts ~1).

    Measured on this shared 2-core machine (d = 50, 10⁵ steps, white): with a core free the drawer
    thread cut the integration from 128–159 ms to 86–104 ms; with both cores held by other jobs the
    two threads share one core's time slices and the pipeline was slower (156–187 ms against
    130–170 ms serial, three runs). The numbers are the same either way."""
    n = len(os.sched_getaffinity(0))
    return n > 1 and os.getloadavg()[0] < n - 0.5


def _noop() -> None:
    return None


class _SerialNormals:
    """Iterates (k, z, release) per chunk, drawn on the calling thread into one reused buffer."""

    def __init__(self, normals: ChunkedNormals, sizes: list[int], width: int):
        self.normals, self.sizes, self.width = normals, sizes, width
        self.buf = np.empty(len(normals.gens) * max(sizes) * width)

    def __iter__(self):
        n_traj, d = len(self.normals.gens), self.normals.d
        for k in self.sizes:
            z = self.buf[:n_traj * k * self.width].reshape(n_traj, k * self.width // d, d)
            yield k, self.normals.fill(z), _noop, False

    def set_mix(self, mix, n_traj: int) -> None:
        return None

    def close(self) -> None:
        return None


class _NormalsAhead:
    """The same chunks as :class:`_SerialNormals`, drawn ahead by one background thread.

    numpy's ``Generator.standard_normal(out=…)`` releases the GIL while it fills, as do the BLAS
    GEMM and the ``nogil`` recursion kernel, so on two cores the draw of chunk i+1 runs while chunk i
    is mixed and integrated. Once the consumer hands over the mixing matrix (:meth:`set_mix`) the
    drawer also mixes two chunks in three (the same one GEMM call per chunk the consumer makes, so
    the same numbers): drawing alone took ~21 ms of the ~90 ms at d = 50, 10⁵ steps, drawing plus all
    the mixing ~51 ms against the recursion's ~35 ms, so a third of the mixing stays with the
    consumer to balance the two threads (measured: integration 63–66 ms against 72–95 ms serial). The stream is unchanged: one thread draws every chunk, in order, from
    the same generators (drawing k₁ then k₂ normals gives the k₁ + k₂ normals of one draw; tested).
    The consumer calls ``release()`` once it has read z, handing the buffer back to the drawer;
    :meth:`close` (always called) stops and joins the thread.
    """

    def __init__(self, normals: ChunkedNormals, sizes: list[int], width: int):
        import queue
        import threading

        self.sizes = sizes
        self.free: queue.Queue = queue.Queue()
        self.ready: queue.Queue = queue.Queue()
        n_traj, d = len(normals.gens), normals.d
        for _ in range(min(PIPELINE_DEPTH, len(sizes))):
            self.free.put(np.empty(n_traj * max(sizes) * width))
        self.stop = threading.Event()
        self.mix = None                                # set by set_mix: the drawer then mixes too
        self.mix_set = threading.Event()

        def draw() -> None:
            try:
                for i, k in enumerate(sizes):
                    buf = self.free.get()
                    if self.stop.is_set():
                        return
                    z = normals.fill(buf[:n_traj * k * width].reshape(n_traj, k * width // d, d))
                    self.mix_set.wait()
                    if self.stop.is_set():
                        return
                    if self.mix is not None and i % 3 != 2:   # 2 chunks in 3 mixed here, 1 by the consumer
                        fbuf = self.fbufs.get()
                        n = self.mix.shape[1]
                        forcing = fbuf[:n_traj * k * n].reshape(n_traj * k, n)
                        np.matmul(z.reshape(n_traj * k, width), self.mix, out=forcing)
                        self.free.put(buf)
                        self.ready.put((k, forcing, fbuf, True))
                    else:
                        self.ready.put((k, z, buf, False))
            except BaseException as e:              # handed to the consumer, raised there
                self.ready.put(e)

        self.worker = threading.Thread(target=draw, name="thermotwin-normals", daemon=True)
        self.worker.start()

    def set_mix(self, mix: np.ndarray | None, n_traj: int) -> None:
        """Hand the drawer the mixing matrix (z @ mix is then done on its thread too, the same one
        GEMM call per chunk the consumer would make: the same numbers) — or None: the consumer mixes."""
        import queue

        if mix is not None:
            self.fbufs: queue.Queue = queue.Queue()
            for _ in range(min(PIPELINE_DEPTH, len(self.sizes))):
                self.fbufs.put(np.empty(n_traj * max(self.sizes) * mix.shape[1]))
        self.mix = mix
        self.mix_set.set()

    def __iter__(self):
        self.mix_set.set()                           # never wait for a mix the consumer did not give
        for _ in self.sizes:
            item = self.ready.get()
            if isinstance(item, BaseException):
                raise item
            k, z, buf, mixed = item
            back = self.fbufs if mixed else self.free
            yield k, z, (lambda b=buf, q=back: q.put(b)), mixed

    def close(self) -> None:
        self.stop.set()
        self.mix_set.set()                           # wakes a drawer waiting for the mix
        self.free.put(None)                          # wakes a drawer waiting for a buffer
        if self.mix is not None:
            self.fbufs.put(None)
        self.worker.join()


def run_twin(problem: Problem, spec: HardwareSpec, config: SimConfig, mapping: Mapping = Mapping(),
             method: str = "auto") -> SimResult:
    """Backend ``twin`` (and ``twin-em`` with ``method="em"``).

    ``auto``: exact OU on the realised d×d drift for static op-amps; exact OU on the augmented
    state (integrator and inverter pole nodes) with a gain–bandwidth pole; the numba
    exponential-Euler kernel (:mod:`thermotwin.solver.circuit_field`) when rails or slew make the
    circuit non-linear. ``em``: always the numba kernel.

    Returns a :class:`SimResult` of trajectory 0 (all trajectories in ``stats['states_all']``
    when ``config.n_traj > 1``).
    """
    from ..circuit.opamp import OpAmpParams
    from . import circuit_field as cf

    t0 = time.perf_counter()
    values = realise(problem, spec, mapping).components
    grid = resolve_grid(problem, config, values.nominal_tau_s, spec)
    check_run(grid, problem.d, config.n_traj, config.noise, what="simulate")
    v0 = initial_state(problem, config) * values.b_scale
    q = 2.0 * spec.kappa0_v2 / values.nominal_tau_s
    op = OpAmpParams.from_spec(spec)
    nonlinear = np.isfinite(op.v_sat) or np.isfinite(op.slew)
    stats = {"noise_steps": grid.n_noise_steps, "output_steps": grid.n_out}
    noise_volts = spec.r0_ohm * spec.c_farad            # V_n = −R0·C·u (netlist convention)
    if method == "em" or nonlinear:
        P = cf.field_params(values, spec)
        volts, substeps = _run_kernel(P, q, v0, grid, config, noise_volts)
        stats.update(path="numba-exp-euler", substeps=substeps)
    elif op.has_pole:
        P = cf.field_params(values, spec)
        ls = cf.linear_system(P)
        _require_stable(-ls.F, "this board's op-amp poles and components")
        x = simulate_linear(-ls.F, ls.g, ls.Bn * (-noise_volts), q, cf.initial_x(P, v0), grid, config)
        volts = x @ ls.Cout.T + ls.dout
        stats.update(path="exact-augmented", n_state=P.n_state)
    else:
        real = realised_matrix(values, spec)
        _require_stable(real.M, "this board's components")
        volts = simulate_realised(real, q, v0, grid, config)
        stats.update(path="exact")
    states = adc_readout(volts, spec)         # volts itself, or a new array: ours either way
    if values.b_scale != 1.0:
        states /= values.b_scale                # in place: no second n_out·d array
    wall = time.perf_counter() - t0
    if config.n_traj > 1:
        stats["states_all"] = states
    return SimResult(
        backend="twin-em" if method == "em" else "twin", times=grid.times, states=states[0],
        x_exact=problem.x_exact, tau_s=values.nominal_tau_s, settle_s=grid.settle_s, wall_s=wall,
        seed=config.seed, noise=config.noise, spec_hash=spec.digest(), problem_hash=problem.digest(),
        b_scale=values.b_scale, A=np.asarray(problem.A), b=np.asarray(problem.b),
        noise_step_s=grid.noise_step_s, stats=stats,
    )


#: Sub-step of the exponential-Euler kernel while rails or slew are active: h_s·ρ(F) ≤ this. The
#: scheme is first order there; 0.05 kept the pathwise gap to ngspice at ~0.3 % of the signal range
#: for a strongly slew-limited d = 10 board (0.5: 2.3 %, 0.1: 0.58 %, 0.02: 0.12 %).
SUBSTEP_RHO = 0.05


def _require_stable(M: np.ndarray, what: str) -> None:
    """The realised drift can lose stability (tolerances, GBW poles) even when A is stable."""
    worst = float(np.min(np.linalg.eigvals(M).real))
    if worst <= 0:
        from ..errors import UnstableMatrixError

        raise UnstableMatrixError(f"{what} make the circuit unstable (a realised eigenvalue has real part "
                                  f"{worst:.3g} ≤ 0): it would rail out; tighten tolerances, add damping or "
                                  "use faster op-amps")


def _run_kernel(P, q: float, v0: np.ndarray, grid, config: SimConfig, noise_volts: float):
    """Numba exponential-Euler path; noise is zero-order hold at the noise step (``white`` too)."""
    from . import circuit_field as cf

    ls = cf.linear_system(P)
    h = grid.noise_step_s
    rho = float(np.max(np.abs(np.linalg.eigvals(ls.F))))
    nonlinear = np.isfinite(P.op[3]) or np.isfinite(P.op[4])
    substeps = max(1, int(np.ceil(h * rho / SUBSTEP_RHO))) if nonlinear else 1
    phi, gam = (np.ascontiguousarray(a) for a in cf.exp_euler_propagators(ls.F, h / substeps))
    x0 = cf.initial_x(P, v0)
    d = P.d
    out = np.empty((config.n_traj, grid.n_out + 1, d))
    if q > 0 and config.noise != "none":
        normals = ChunkedNormals(config.seed, grid.n_noise_steps, d, config.n_traj)
        z = normals.next(grid.n_noise_steps)
        vn = -noise_volts * np.sqrt(q / h) * z
    else:
        vn = np.zeros((config.n_traj, grid.n_noise_steps, d))
    for t in range(config.n_traj):
        with progress.elapsed(f"twin (non-linear), trajectory {t + 1}/{config.n_traj}"):
            cf.integrate_kernel(phi, gam, ls.F, np.ascontiguousarray(vn[t]), substeps, grid.steps_per_out, x0,
                                *P.args(), out[t])
    return out, substeps


def run_twin_calibrated(cal, config: SimConfig) -> SimResult:
    """Backend ``twin`` on a calibrated model: dV = −M (V − x*) dt + sqrt(D) dW (white noise, exact),
    or zero-order-hold noise of the same intensity for ``pwl``. Volts throughout (b_scale 1)."""
    t0 = time.perf_counter()
    M, D, x_b = cal.M, cal.D, cal.x_star
    tau = cal.tau_s
    A_eff = M * tau
    prob = Problem(A_eff, A_eff @ x_b, name="calibrated")
    grid = resolve_grid(prob, config, tau)
    check_run(grid, prob.d, config.n_traj, config.noise, what="simulate --calib")
    v0 = initial_state(prob, config)
    B = psd_factor(0.5 * (D + D.T))
    x = simulate_linear(M, M @ x_b, B, 1.0, v0, grid, config)
    x_ref = cal.x_reference
    stats = {"path": "calibrated", "noise_steps": grid.n_noise_steps}
    if config.n_traj > 1:
        stats["states_all"] = x
    return SimResult(
        backend="twin", times=grid.times, states=x[0], x_exact=x_ref, tau_s=tau, settle_s=grid.settle_s,
        wall_s=time.perf_counter() - t0, seed=config.seed, noise=config.noise, spec_hash="calibrated",
        problem_hash=prob.digest(), b_scale=1.0, A=A_eff, b=A_eff @ x_ref, noise_step_s=grid.noise_step_s,
        stats=stats,
    )
