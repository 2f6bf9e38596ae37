"""Linear-solve devices for the TNGD loop: (GGN + λI) g̃ = ∇ℓ, run for a time t from a state.

A *device* is any object with

    run(system: CurvatureSystem, x0: (N,) array, t_tau: float, rng: np.random.Generator) -> (N,) array

that returns the device state after running for ``t_tau`` units of the paper's τ0 = R0·C on
``system`` from ``x0`` (problem units: volts / b_scale), with its own noise κ0. The TNGD loop
(:mod:`.train`) decides the start state (V0 = ∇ℓ, or warm start from the last read-out) and the
delay (run on the *previous* system while the new gradient is computed).

Devices here:

* :class:`ExactSolve` — t → ∞ without noise: exact NGD, (GGN + λI)⁻¹∇ℓ by Woodbury.
* :class:`SpectralTwin` — the ideal circuit (A = UᵀU + λI symmetric) propagated
  exactly in A's eigenbasis: mean x* + e^{−a t}(x0 − x*), variance κ0/a (1 − e^{−2at}) per mode.
  Cost O(m²N + min(m, N)³) per call (one eigendecomposition); the oracle.
* :class:`KrylovTwin` — the same process by Lanczos (products with A only, O(k·mN)); the default in
  the training loop, equal to :class:`SpectralTwin` to ~1e-11 and, with the same generator, the same
  noise path.
* :class:`CircuitTwin` — the dense circuit through :func:`thermotwin.simulate` (design,
  realised matrix, finite gain, GBW poles, quantisation); O(N³) per call, N up to ~10³.

* :class:`FactoredTwin` — the scaled-up three-array board (J_f, H_L, J_fᵀ) through
  :func:`thermotwin.solver.factored.run_factored`: exact OU steps in O(N·r), N up to ~10⁵, ideal or
  with the non-idealities the factored path models (resistor quantisation/range/tolerance, finite
  op-amp gain, capacitor spread). It programs ``CurvatureSystem.J``/``H`` (J_f and H_L/b from
  :meth:`CurvatureSystem.from_batch`) when the system carries them, else U and I_m.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..core.problem import FactoredProblem


class CurvatureSystem(FactoredProblem):
    """(UᵀU + λI) x = g with U (m × N) the factored GGN (see :meth:`.model.CurvatureBatch.factor`).

    A :class:`~thermotwin.core.problem.FactoredProblem` (F = λI + JᵀHJ, right-hand side b = ∇ℓ),
    so every backend and :func:`thermotwin.simulate` run it as it is. Its (J, H) are the circuit
    form of the same GGN when known, UᵀU = Jᵀ H J with J = J_f (b·d_z × N, the stacked per-sample
    output Jacobians) and H = H_L/b (block diagonal, b blocks of d_z × d_z), set by
    :meth:`from_batch`; otherwise (U, I_m). H_L is PSD by construction (diag(p) − ppᵀ), so the
    O(r³) PSD check of a user-supplied problem is skipped; shapes and λ are checked.

    Attributes:
        U: factor, (m, N), m = b·d_z.
        grad: right-hand side ∇ℓ, (N,) (the same array as ``b``).
        lam: damping λ > 0 (the same as ``damping``).
        J, H: the arrays the board programs (see above).
    """

    __eq__ = object.__eq__          # identity, as the devices' caches expect
    __hash__ = object.__hash__

    def __init__(self, U: np.ndarray, grad: np.ndarray, lam: float, J: np.ndarray | None = None,
                 H: np.ndarray | None = None):
        if U.ndim != 2 or grad.shape != (U.shape[1],):
            raise ValueError(f"U must be (m, N) and grad (N,); got {U.shape} and {grad.shape}")
        if not (lam > 0 and math.isfinite(lam)):
            raise ValueError(f"damping λ = {lam!r} must be > 0 (GGN alone is singular)")
        if (J is None) != (H is None):
            raise ValueError("give both J and H (GGN = JᵀHJ) or neither")
        if J is not None:
            r = J.shape[0]
            if J.ndim != 2 or J.shape[1] != U.shape[1] or H.shape != (r, r):
                raise ValueError(f"J must be (r, N) and H (r, r) with N = {U.shape[1]}; got {J.shape} "
                                 f"and {H.shape}")
        for name, value in (("U", U), ("J", U if J is None else J), ("H", np.eye(U.shape[0]) if H is None else H),
                            ("damping", float(lam)), ("b", grad), ("name", "ggn"), ("_cache", {})):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "has_circuit_arrays", J is not None)

    @property
    def grad(self) -> np.ndarray:
        return self.b

    @property
    def lam(self) -> float:
        return self.damping

    @classmethod
    def from_batch(cls, cb, lam: float, U: np.ndarray | None = None) -> "CurvatureSystem":
        """The system of one minibatch with both forms of its GGN: U (``cb.factor()``, or ``U`` when
        already computed) and the circuit's arrays J = J_f (a reshape of ``cb.J``, no copy) and
        H = blockdiag(H_i)/b. Cost O(b·d_z²·N) for U; J and H add O((b·d_z)²) memory."""
        J, H = cb.circuit_arrays()
        return cls(cb.factor() if U is None else U, cb.grad, lam, J=J, H=H)

    def three_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(J, H) with GGN = JᵀHJ: (J_f, H_L/b) when known, else (U, I_m)."""
        return self.J, self.H

    @property
    def n(self) -> int:
        return self.U.shape[1]

    def dense(self) -> np.ndarray:
        """A = UᵀU + λI, (N, N). Cost O(m N²)."""
        A = self.U.T @ self.U
        A[np.diag_indices_from(A)] += self.lam
        return A

    def matvec(self, v: np.ndarray) -> np.ndarray:
        """A v = Uᵀ(U v) + λ v. Cost O(m N)."""
        return self.U.T @ (self.U @ v) + self.lam * v

    def solve(self, rhs: np.ndarray | None = None) -> np.ndarray:
        """(UᵀU + λI)⁻¹ rhs by Woodbury: (rhs − Uᵀ(λI_m + UUᵀ)⁻¹U rhs)/λ. Cost O(m²N + m³)."""
        r = self.grad if rhs is None else rhs
        K = self.U @ self.U.T
        K[np.diag_indices_from(K)] += self.lam
        c, low = _cho(K)
        return (r - self.U.T @ _cho_solve(c, low, self.U @ r)) / self.lam

    @cached_property
    def modes(self) -> tuple[np.ndarray, np.ndarray]:
        """(a, V): eigenvalues a_k = s_k² + λ (r,) and orthonormal eigenvectors V (N, r) of A on
        the row space of U; on its complement A = λI.

        N ≤ m: eigh of UᵀU (O(mN² + N³)). N > m: Uᵀ = QR, eigh of RRᵀ = WSWᵀ, V = QW — exactly
        orthonormal even for tiny singular values (O(m²N + m³)); faster here than a thin SVD.
        """
        import scipy.linalg

        m, n = self.U.shape
        if n <= m:
            w, V = scipy.linalg.eigh(self.U.T @ self.U, driver="evd", overwrite_a=True, check_finite=False)
        else:
            Q, R = np.linalg.qr(self.U.T)
            w, W = scipy.linalg.eigh(R @ R.T, driver="evd", overwrite_a=True, check_finite=False)
            V = Q @ W
        return np.clip(w, 0.0, None) + self.lam, np.ascontiguousarray(V)

    def eigenvalues(self) -> np.ndarray:
        """All N eigenvalues of A, ascending."""
        a, V = self.modes
        rest = np.full(self.n - a.size, self.lam)
        return np.sort(np.concatenate([a, rest]))

    def natural_gradient(self) -> np.ndarray:
        return self.solve()


def _cho(K):
    import scipy.linalg

    return scipy.linalg.cho_factor(K, lower=True, check_finite=False)


def _cho_solve(c, low, r):
    import scipy.linalg

    return scipy.linalg.cho_solve((c, low), r, check_finite=False)


class ExactSolve:
    """Exact NGD: returns (GGN + λI)⁻¹∇ℓ whatever the time (the t → ∞, κ0 = 0 limit)."""

    name = "exact"
    kappa0 = 0.0

    def run(self, system: CurvatureSystem, x0: np.ndarray, t_tau: float, rng=None) -> np.ndarray:
        return system.solve()


@dataclass
class SpectralTwin:
    """The ideal circuit, exact in closed form.

    dV = −(A V − g) dt' + N(0, 2κ0 dt') in units of τ0 (t' = t/τ0). In A's eigenbasis mode k
    (rate a_k) relaxes as c_k(t) = c*_k + e^{−a_k t}(c_k(0) − c*_k) + sqrt(κ0/a_k (1 − e^{−2 a_k t})) z_k;
    the complement of U's row space relaxes at rate λ. Noise is drawn from ``rng`` only when κ0 > 0.

    Attributes:
        kappa0: noise strength in problem units² (the paper's κ0).
    """

    kappa0: float = 0.0
    name: str = "spectral-twin"

    def run(self, system: CurvatureSystem, x0: np.ndarray, t_tau: float, rng=None) -> np.ndarray:
        if t_tau < 0:
            raise ValueError(f"device time {t_tau!r} must be ≥ 0")
        if t_tau == 0:
            return np.array(x0, dtype=float)          # no time, no change (exactly: t = 0 is SGD)
        a, V = system.modes
        lam = system.lam
        g = system.grad
        gc = V.T @ g
        g_perp = g - V @ gc
        c0 = V.T @ x0
        x_perp0 = x0 - V @ c0
        ea = np.exp(-a * t_tau)
        el = math.exp(-lam * t_tau)
        c = gc / a + ea * (c0 - gc / a)
        x_perp = g_perp / lam + el * (x_perp0 - g_perp / lam)
        if self.kappa0 > 0 and t_tau > 0:
            if rng is None:
                raise ValueError("a noisy device needs an np.random.Generator (rng)")
            z = rng.standard_normal(system.n)
            zc = V.T @ z
            c = c + np.sqrt(self.kappa0 / a * -np.expm1(-2 * a * t_tau)) * zc
            x_perp = x_perp + math.sqrt(self.kappa0 / lam * -math.expm1(-2 * lam * t_tau)) * (z - V @ zc)
        return V @ c + x_perp

    def trajectory(self, system: CurvatureSystem, x0: np.ndarray, t_tau: np.ndarray) -> np.ndarray:
        """Noise-free mean state at every time in ``t_tau`` (n_t,), shape (n_t, N)."""
        a, V = system.modes
        lam = system.lam
        gc = V.T @ system.grad
        g_perp = system.grad - V @ gc
        c0 = V.T @ x0
        x_perp0 = x0 - V @ c0
        t = np.asarray(t_tau, dtype=float)[:, None]
        c = gc / a + np.exp(-a * t) * (c0 - gc / a)
        perp = (g_perp / lam)[None, :] + np.exp(-lam * t) * (x_perp0 - g_perp / lam)[None, :]
        return c @ V.T + perp


def lanczos_apply(matvec, v: np.ndarray, f, tol: float = 1e-11, k_max: int = 400) -> np.ndarray:
    """f(A)·v for symmetric positive definite A given by ``matvec``: Lanczos with full
    reorthogonalisation, f(A)v ≈ ‖v‖ Q_k f(T_k) e₁, grown until successive estimates agree to
    ``tol`` (relative). Cost O(k·matvec + k²N); k grows like sqrt(t·λ_max) for f = e^{−at}-type
    functions, not like N.
    """
    beta0 = float(np.linalg.norm(v))
    n = v.size
    if beta0 == 0.0:
        return np.zeros(n)
    Q = np.empty((min(k_max, n) + 1, n))
    Q[0] = v / beta0
    alphas, betas = [], []
    prev = None
    for j in range(min(k_max, n)):
        w = matvec(Q[j])
        alphas.append(float(Q[j] @ w))
        w -= Q[:j + 1].T @ (Q[:j + 1] @ w)                      # full reorthogonalisation (twice)
        w -= Q[:j + 1].T @ (Q[:j + 1] @ w)
        b = float(np.linalg.norm(w))
        done = b <= 1e-13 * beta0 or j + 1 == min(k_max, n)
        if (j + 1) % 4 == 0 or done:
            theta, S = scipy_eigh_tridiagonal(np.array(alphas), np.array(betas))
            y = Q[:j + 1].T @ (S @ (f(theta) * S[0])) * beta0
            if done or (prev is not None and np.linalg.norm(y - prev) <= tol * np.linalg.norm(y)):
                return y
            prev = y
        betas.append(b)
        Q[j + 1] = w / b
    raise AssertionError("unreachable")                      # pragma: no cover


def scipy_eigh_tridiagonal(d: np.ndarray, e: np.ndarray):
    import scipy.linalg

    return scipy.linalg.eigh_tridiagonal(d, e) if e.size else (d.copy(), np.ones((1, 1)))


@dataclass
class KrylovTwin:
    """The ideal circuit like :class:`SpectralTwin`, by Lanczos instead of an eigendecomposition.

    V(t) = V0 + t·φ₁(−tA)(g − A V0) with φ₁(z) = (e^z − 1)/z, i.e. f(a) = (1 − e^{−at})/a applied to
    the initial residual, plus f_n(A) z with f_n(a) = sqrt(κ0(1 − e^{−2at})/a) for the noise.
    Only products with A = UᵀU + λI (O(mN) each), so it also serves large N. Same results as
    :class:`SpectralTwin` to ``tol`` (tested); several times faster for one call at N ~ 10³.
    """

    kappa0: float = 0.0
    tol: float = 1e-11
    name: str = "krylov-twin"
    #: relative accuracy of the noise sample f_n(A)z (a random vector converges slowly; 1e-6 of a
    #: sample is far below its own spread, the training loop uses that)
    noise_tol: float = 1e-11

    def run(self, system: CurvatureSystem, x0: np.ndarray, t_tau: float, rng=None) -> np.ndarray:
        if t_tau < 0:
            raise ValueError(f"device time {t_tau!r} must be ≥ 0")
        x0 = np.array(x0, dtype=float)
        if t_tau == 0:
            return x0
        r0 = system.grad - system.matvec(x0)
        x = x0 + lanczos_apply(system.matvec, r0, lambda a: -np.expm1(-a * t_tau) / a, self.tol)
        if self.kappa0 > 0:
            if rng is None:
                raise ValueError("a noisy device needs an np.random.Generator (rng)")
            z = rng.standard_normal(system.n)
            k0 = self.kappa0
            x = x + lanczos_apply(system.matvec, z, lambda a: np.sqrt(k0 * -np.expm1(-2 * a * t_tau) / a),
                                  self.noise_tol)
        return x


@dataclass
class CircuitTwin:
    """The dense Appendix C circuit of A = UᵀU + λI through :func:`thermotwin.simulate`.

    Time is in units of the paper's τ0 = R0·C of ``spec``; the board's own τ (C/g after the
    mapping's scale s, times 1 + 1/A0) may differ, which is the point. κ0 is in problem units²
    and is converted to the spec's volts² with the mapping's b_scale (κ0_V = κ0·b_scale²).

    Attributes:
        spec: the board. mapping: how A maps onto it. kappa0: noise (problem units²).
        noise: the twin's noise kind when κ0 > 0 (``white``: exact OU on the output grid).
        n_out: output samples per call.
        last: details of the last call (realised τ, warnings, wall time).
    """

    spec: object = None
    mapping: object = None
    kappa0: float = 0.0
    noise: str = "white"
    n_out: int = 200
    backend: str = "twin"
    name: str = "circuit-twin"
    last: dict = field(default_factory=dict)

    def _problem(self, system: CurvatureSystem):
        from ..core.problem import Problem

        return Problem(system.dense(), system.grad, name="ggn")

    def simulate(self, system: CurvatureSystem, x0: np.ndarray, t_tau: float, seed: int = 0,
                 n_out: int | None = None, n_traj: int = 1):
        """One :func:`thermotwin.simulate` run; returns the SimResult (times in seconds)."""
        from ..circuit.design import Mapping, design
        from ..circuit.spec import HardwareSpec
        from ..core.config import SimConfig
        from ..solver.registry import simulate

        spec = self.spec or HardwareSpec()
        mapping = self.mapping or Mapping()
        problem = self._problem(system)
        tau0 = spec.r0_ohm * spec.c_farad
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            values = design(problem, spec, mapping)
            kappa_v = self.kappa0 * values.b_scale ** 2
            spec_run = spec.replace(kappa0_v2=kappa_v)
            n = n_out or self.n_out
            config = SimConfig(t_end=t_tau * tau0, dt_out=t_tau * tau0 / n, noise=self.noise if kappa_v > 0 else "none",
                               seed=seed, v0=tuple(np.asarray(x0, float).tolist()), n_traj=n_traj)
            res = simulate(problem, spec_run, config, backend=self.backend, mapping=mapping)
        self.last = {"tau_board_s": values.nominal_tau_s, "tau0_s": tau0, "scale": values.scale,
                     "b_scale": values.b_scale, "dropped": values.report.get("dropped", 0),
                     "quantisation_max_rel": values.report.get("quantisation_max_rel", 0.0),
                     "warnings": [str(w.message) for w in caught], "wall_s": res.wall_s,
                     "path": res.stats.get("path")}
        return res

    def run(self, system: CurvatureSystem, x0: np.ndarray, t_tau: float, rng=None) -> np.ndarray:
        if t_tau <= 0:
            return np.array(x0, dtype=float)
        seed = int(rng.integers(2**31)) if rng is not None else 0
        return self.simulate(system, x0, t_tau, seed=seed, n_out=1).states[-1]


@dataclass
class FactoredTwin:
    """The scaled-up Appendix C board (three arrays J_f, H_L, J_fᵀ) by
    :func:`thermotwin.solver.factored.run_factored`.

    The system is programmed as ``FactoredProblem(J, H, λ, ∇ℓ)`` with (J, H) =
    :meth:`CurvatureSystem.three_arrays` (J_f and H_L/b from :meth:`CurvatureSystem.from_batch`, or
    U and I_m), so F = λI + JᵀHJ = GGN + λI. One call is one exact OU transition of length t
    (one output step): cost O(N r²) for the Gram J Jᵀ (once per system, cached) plus O(N r) per call
    on the ideal board; non-ideal specs cost more (``run_factored``'s ``factored-exact-basis`` /
    ``factored-etd2`` paths: up to O(N (2r)²) and one sub-step of ~1τ each).

    Time: ``t_tau`` is in units of the paper's τ0 = R0·C of ``spec`` (as :class:`CircuitTwin`); the
    board's own τ = C/g after the mapping's scale (r_min_ohm) and finite gain may differ, which is
    the point. Noise: κ0 (problem units²) becomes ``spec.kappa0_v2`` = κ0·b_scale², b_scale being
    the factored mapping's voltage scale (x* and ∇ℓ inside half the converter range), so the board's
    noise in problem units is κ0 whatever the scaling; the seed of each noisy call is drawn from
    ``rng`` (one integer), noise-free calls draw nothing.

    Attributes:
        spec: the board (:class:`HardwareSpec`; None = ideal). Rails, slew and offset are not
            modelled at this scale (``run_factored`` raises InputError); a GBW pole needs
            ``gbw_model="integrator"`` (the integrators' slow-down; stage lags left out).
        gbw_model: passed to ``run_factored``.
        kappa0: noise strength in problem units² (the paper's κ0).
        use_circuit_arrays: program J_f/H_L when the system has them (else always U, I_m).
        last: details of the last call (path, board τ, mapping report, wall time).
    """

    spec: object = None
    kappa0: float = 0.0
    use_circuit_arrays: bool = True
    name: str = "factored-twin"
    gbw_model: str = "refuse"
    last: dict = field(default_factory=dict)
    _cache: tuple = field(default=(None, None), repr=False, compare=False)

    def problem(self, system: CurvatureSystem):
        """The :class:`FactoredProblem` of ``system`` (cached for the last system: its Gram and
        Woodbury solve are reused by the delay step and by repeated calls)."""
        if self._cache[0] is system:
            return self._cache[1]
        if self.use_circuit_arrays or not system.has_circuit_arrays:
            p = system                # the system is a FactoredProblem: programmed as it is
        else:
            p = FactoredProblem(system.U, np.eye(system.U.shape[0]), system.lam, system.grad, name="ggn")
        self._cache = (system, p)
        return p

    def b_scale(self, system: CurvatureSystem) -> float:
        """Volts per problem unit the factored mapping uses (the mapping's one voltage-scale rule:
        the larger of max|x*| and max|∇ℓ| at half the converter range, never amplified)."""
        from ..circuit.programming import voltage_scale
        from ..circuit.spec import HardwareSpec

        p = self.problem(system)
        return voltage_scale(p.x_exact, p.b, self.spec or HardwareSpec())

    def simulate(self, system: CurvatureSystem, x0: np.ndarray, t_tau: float, dt_tau: float | None = None,
                 seed: int = 0, n_traj: int = 1):
        """One ``run_factored`` run from ``x0`` for ``t_tau``·τ0 with outputs every ``dt_tau``·τ0
        (default: one step); returns the :class:`SimResult` (times in seconds, states in problem
        units; ``stats['states_all']`` holds all trajectories when n_traj > 1)."""
        from ..circuit.spec import HardwareSpec
        from ..errors import SimulationError
        from ..core.config import SimConfig
        from ..solver.factored import run_factored

        if not t_tau > 0:
            raise ValueError(f"device time {t_tau!r} must be > 0")
        spec = self.spec or HardwareSpec()
        problem = self.problem(system)
        bs = self.b_scale(system)
        spec_run = spec.replace(kappa0_v2=self.kappa0 * bs ** 2)
        tau0 = spec.r0_ohm * spec.c_farad
        x0 = np.asarray(x0, dtype=float)
        v0 = "rhs" if (x0 is system.grad or np.array_equal(x0, system.grad)) else tuple(x0.tolist())
        dt = (dt_tau or t_tau) * tau0
        config = SimConfig(t_end=t_tau * tau0, dt_out=None if spec.adc_rate_hz is not None else dt,
                           noise="white" if self.kappa0 > 0 else "none", seed=int(seed), v0=v0, n_traj=n_traj)
        res = run_factored(problem, spec_run, config, gbw_model=self.gbw_model)
        if not math.isclose(res.b_scale, bs, rel_tol=1e-12):
            raise SimulationError(f"the factored mapping used b_scale = {res.b_scale:g}, not {bs:g}: the κ0 "
                                  "conversion in FactoredTwin is out of date with realise_factored")
        self.last = {"path": res.stats.get("path"), "tau_board_s": res.tau_s, "tau0_s": tau0, "b_scale": bs,
                     "wall_s": res.wall_s, "report": {k: v for k, v in res.stats.items()
                                                      if isinstance(v, (int, float, str))}}
        return res

    def run(self, system: CurvatureSystem, x0: np.ndarray, t_tau: float, rng=None) -> np.ndarray:
        if t_tau < 0:
            raise ValueError(f"device time {t_tau!r} must be ≥ 0")
        if t_tau == 0:
            return np.array(x0, dtype=float)
        seed = 0
        if self.kappa0 > 0:
            if rng is None:
                raise ValueError("a noisy device needs an np.random.Generator (rng)")
            seed = int(rng.integers(2**31))
        return self.simulate(system, x0, t_tau, seed=seed).states[-1]
