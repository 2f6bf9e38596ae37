"""Exact Ornstein–Uhlenbeck stepping for a drift "scalar + low rank" (the factored TNGD board).

Time is in units of τ throughout (t' = t/τ, docs/model.md#sde):

    dY = −(F Y − f) dt' + sqrt(2κ) dW,      F = λ I + A Bᵀ  (A, B: N×r, r ≪ N).

F leaves span[A, B] and its orthogonal complement invariant; on the complement it is λ·I and the
isotropic noise stays isotropic, so expm(−F t), the transition covariance and its symmetric square
root are "a scalar on the complement plus a k×k matrix on the subspace" (k ≤ 2r). A step costs
O(N·k) time and memory, never O(N²). Two engines implement this:

* :class:`SymLowRank` — F = λI + Jᵀ H J with H symmetric PSD. With H = L Lᵀ and Z = Jᵀ L,
  ZᵀZ = Lᵀ(J Jᵀ)L = P diag(ν) Pᵀ, every function of F is
  f(F) v = f(λ) v + Z P diag((f(λ+ν) − f(λ))/ν) Pᵀ Zᵀ v — products with J and r×r matrices only
  (no basis is formed; the only O(N r²) work is the Gram J Jᵀ). The divided differences are taken
  directly: their round-off is multiplied by ν = ‖Z p‖², so it stays at round-off in the result.
* :class:`BasisLowRank` — any A, B (non-symmetric: independently perturbed arrays, capacitor
  scaling): an orthonormal basis Q of span[A, B] (Gram eigen-decomposition, one re-orthogonalisation
  pass, residual check), K = QᵀFQ (k×k), then Φ_k = expm(−K t), the Lyapunov covariance and its
  symmetric square root on the subspace.

Both give the same step: with e = Y − Y*, e⁺ = Φ e + L z, L the *symmetric* square root of the
transition covariance, so a dense reference that uses the symmetric square root of its own
transition covariance consumes the same z and gives the same path to round-off.

Kernels here are pure functions of arrays (no RNG, no I/O); the caller draws the normals.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import scipy.linalg

#: Gram eigenvalues below RANK_TOL·max are dropped when building a basis (directions whose share of
#: the factor is below √RANK_TOL = 1e-6); the residual check then catches anything lost.
RANK_TOL = 1e-12
#: Relative residual ‖X − Q R‖_F/‖X‖_F above which :func:`orthonormal_basis` adds a deflation pass.
BASIS_RESIDUAL_TOL = 1e-12
#: Largest ‖K t0‖₁ of the first interval of the transition-covariance doubling (3-point
#: Gauss–Legendre there: error ~ (‖K t0‖)⁶/2·10⁶ ≈ 1e-14).
DOUBLING_THETA = 0.05


_BLAS_CONTROLLER = None


@contextmanager
def blas_threads(n: int | None = 1):
    """Limit OpenBLAS to ``n`` threads (None: leave it alone); no-op without threadpoolctl.

    On a shared machine two threads spin-wait while other work holds the cores and run slower
    than one (timings in benchmarks/results/NOTES.md). The threadpoolctl controller is built once
    and cached: a use then costs ~20 µs, where ``threadpool_limits`` rescans the libraries (~4 ms).
    """
    global _BLAS_CONTROLLER
    if n is None:
        yield
        return
    try:
        if _BLAS_CONTROLLER is None:
            from threadpoolctl import ThreadpoolController

            _BLAS_CONTROLLER = ThreadpoolController()
    except ImportError:                      # pragma: no cover - then OPENBLAS_NUM_THREADS decides
        yield
        return
    with _BLAS_CONTROLLER.limit(limits=n, user_api="blas"):
        yield


def small_blas():
    """One BLAS thread for the r×r / k×k dense work (eigen-decompositions, expm, k×k products)."""
    return blas_threads(1)


# -- scalar functions --------------------------------------------------------------------------
def phi1(z: np.ndarray | float) -> np.ndarray:
    """φ1(z) = (e^z − 1)/z, stable at z → 0."""
    z = np.asarray(z, dtype=float)
    out = np.ones_like(z)
    nz = z != 0
    out[nz] = np.expm1(z[nz]) / z[nz]
    return out


def phi2(z: np.ndarray | float) -> np.ndarray:
    """φ2(z) = (e^z − 1 − z)/z², by a 6-term series for |z| < 1e-2 (error < 3e-17) and directly
    otherwise (cancellation costs eps/|z| ≤ 2e-14 relative)."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    small = np.abs(z) < 1e-2
    zs = z[small]
    out[small] = 0.5 + zs * (1 / 6 + zs * (1 / 24 + zs * (1 / 120 + zs * (1 / 720 + zs / 5040))))
    zb = z[~small]
    out[~small] = (np.expm1(zb) - zb) / zb**2
    return out


def ou_scale(x: np.ndarray | float, dt: float, kappa: float) -> np.ndarray:
    """sqrt(κ (1 − e^{−2 x dt}) / x): standard deviation of an OU mode of rate x over dt."""
    x = np.asarray(x, dtype=float)
    return np.sqrt(kappa * 2 * dt * phi1(-2 * x * dt))


def symmetric_sqrt(S: np.ndarray) -> np.ndarray:
    """The symmetric PSD square root of a symmetric PSD matrix (negative round-off clipped)."""
    w, V = np.linalg.eigh(0.5 * (S + S.T))
    return (V * np.sqrt(np.clip(w, 0.0, None))) @ V.T


def _rapply(R: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Apply a reduced operator: a diagonal (1-D R) or a k×k matrix to x (..., k)."""
    if R.ndim == 1:
        return R * x
    return R @ x if x.ndim == 1 else x @ R.T


# -- orthonormal basis ---------------------------------------------------------------------------
def orthonormal_basis(Xt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Qt (k×N, orthonormal rows) and R (k×m) with Xtᵀ = Qtᵀ R to ~1e-15 relative; k ≤ m.

    Works on the transposed factor Xt (m×N, C-contiguous: rows are scaled rows of J) so that every
    O(N) product is a wide GEMM. Gram-based (LAPACK's Householder QR is an order of magnitude
    slower on N×r panels with this OpenBLAS): pivoted Cholesky of Xt Xtᵀ (directions below
    RANK_TOL dropped), one re-orthogonalisation pass (CholeskyQR2), then a sketched residual check
    ‖Xt − Rᵀ Qt‖ that adds a deflation pass if anything was lost. Cost ≈ 2 N m² flops per pass;
    memory two k×N arrays.
    """
    if float(np.linalg.norm(Xt)) == 0:
        raise ValueError("the low-rank factor is identically zero")
    Qt, R = _two_pass(Xt)
    if _residual(Xt, Qt, R) > BASIS_RESIDUAL_TOL * float(np.linalg.norm(Xt)):
        Xr = Xt - R.T @ Qt
        Xr -= (Xr @ Qt.T) @ Qt
        if float(np.linalg.norm(Xr)) > 0:
            Q2, _ = _two_pass(Xr)
            Q2 -= (Q2 @ Qt.T) @ Qt
            Q2, _ = _two_pass(Q2)
            Qt = np.concatenate([Qt, Q2], axis=0)
            R = Qt @ Xt.T
    return Qt, R


def _two_pass(Xt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CholeskyQR2 with a rank-revealing first pass: pivoted Cholesky of the Gram (LAPACK pstrf,
    directions below RANK_TOL dropped), triangular solves, then a plain Cholesky pass."""
    G = Xt @ Xt.T
    with small_blas():
        c, piv, rank, _ = scipy.linalg.lapack.dpstrf(G, tol=RANK_TOL * float(np.max(np.diag(G))), lower=1)
    p = piv[:] - 1
    L = np.tril(c)[:, :rank]                    # G[p][:, p] = L Lᵀ (rank-truncated)
    Q1 = scipy.linalg.solve_triangular(L[:rank], Xt[p[:rank]], lower=True, overwrite_b=True,
                                       check_finite=False)
    R1t = np.empty((Xt.shape[0], rank))
    R1t[p] = L                                  # Xt ≈ R1t Q1
    G2 = Q1 @ Q1.T
    try:
        with small_blas():
            L2 = np.linalg.cholesky(0.5 * (G2 + G2.T))
    except np.linalg.LinAlgError:               # pass 1 lost orthogonality badly: eigen fallback
        with small_blas():
            w2, W2 = np.linalg.eigh(0.5 * (G2 + G2.T))
        keep = w2 > 1e-10 * w2.max()
        Qt = (W2[:, keep] / np.sqrt(w2[keep])).T @ Q1
        return Qt, ((R1t @ W2[:, keep]) * np.sqrt(w2[keep])).T
    Qt = scipy.linalg.solve_triangular(L2, Q1, lower=True, overwrite_b=True, check_finite=False)
    return Qt, (R1t @ L2).T                     # Q1 = L2 Qt


def _residual(Xt: np.ndarray, Qt: np.ndarray, R: np.ndarray) -> float:
    """‖Xt − Rᵀ Qt‖_F estimated from a Gaussian sketch of 8 columns (fixed seed): two memory-bound
    passes instead of a full GEMM; within a factor ~2 of the true value, enough to detect loss."""
    G = np.random.default_rng(0).standard_normal((Xt.shape[1], 8))
    return float(np.linalg.norm(Xt @ G - R.T @ (Qt @ G))) / np.sqrt(8.0)


# -- engines ---------------------------------------------------------------------------------------
class SymLowRank:
    """F = λ I + Jᵀ H J, H symmetric PSD (r×r), J (r×N): functions of F by products with J.

    Coordinates: project(v) = Pᵀ Zᵀ v = Mᵀ J v and lift(c) = Z P c = Jᵀ M c with M = L P (r×k);
    project∘lift = diag(ν). f(F) v = f(λ) v + lift(δf ⊙ project(v)).

    Cost of construction: the Gram J Jᵀ (N r² flops, skipped when given) and r×r eigen-problems.
    """

    def __init__(self, J: np.ndarray, H: np.ndarray, lam: float, gram: np.ndarray | None = None):
        self.J = J
        self.lam = float(lam)
        G = J @ J.T if gram is None else gram
        with small_blas():
            wH, VH = np.linalg.eigh(0.5 * (H + H.T))
            keep = wH > 0
            L = VH[:, keep] * np.sqrt(wH[keep])
            Y = L.T @ G @ L
            nu, P = np.linalg.eigh(0.5 * (Y + Y.T))
        self.nu = np.clip(nu, 0.0, None)
        self.M = L @ P
        self.k = self.M.shape[1]
        self.gram_hat = self.nu

    @property
    def eigenvalues(self) -> np.ndarray:
        """The eigenvalues λ + ν of F on the subspace (the rest are λ)."""
        return self.lam + self.nu

    def project(self, V: np.ndarray) -> np.ndarray:
        return (self.J @ V.T).T @ self.M        # J @ Vᵀ: the fast GEMM layout for wide J

    def lift(self, C: np.ndarray) -> np.ndarray:
        return (C @ self.M.T) @ self.J

    def divided(self, fn) -> tuple[float, np.ndarray]:
        """(f(λ), δf) with δf = (f(λ+ν) − f(λ))/ν (f'(λ) estimate where ν = 0)."""
        f0 = float(fn(np.array([self.lam]))[0])
        nu = self.nu
        pos = nu > 0
        out = np.empty_like(nu)
        out[pos] = (fn(self.lam + nu[pos]) - f0) / nu[pos]
        if not pos.all():
            h = 1e-6 * self.lam
            out[~pos] = (float(fn(np.array([self.lam + h]))[0]) - f0) / h
        return f0, out

    def apply(self, fn, V: np.ndarray) -> np.ndarray:
        f0, d = self.divided(fn)
        return f0 * V + self.lift(d * self.project(V))

    def solve(self, b: np.ndarray) -> np.ndarray:
        """F⁻¹ b by Woodbury: b/λ − Z P diag(1/(λ(λ+ν))) Pᵀ Zᵀ b (never an N×N solve)."""
        lam = self.lam
        return b / lam - self.lift(self.project(b) / (lam * (lam + self.nu)))

    def exact_ops(self, dt: float, kappa: float) -> dict:
        """Reduced operators of one exact step of length dt (τ units)."""
        phi_perp, dphi = self.divided(lambda x: np.exp(-x * dt))
        s_perp, ds = self.divided(lambda x: ou_scale(x, dt, kappa))
        return {"phi_perp": phi_perp, "s_perp": s_perp, "Rphi": dphi, "Rs": ds}

    def etd_ops(self, h: float, kappa: float) -> dict:
        ops = self.exact_ops(h, kappa)
        a1p, Ra1 = self.divided(lambda x: h * (phi1(-h * x) + phi2(-h * x)))
        a2p, Ra2 = self.divided(lambda x: h * phi2(-h * x))
        ops.update(a1_perp=a1p, a2_perp=a2p, Ra1=Ra1, Ra2=Ra2)
        return ops


class BasisLowRank:
    """F = λ I + A Bᵀ on an orthonormal basis Q of a factor X whose span holds span A and span B;
    K = QᵀFQ (k×k, k ≤ 2r). project(v) = Qᵀv, lift(c) = Q c, project∘lift = I.

    Args:
        Xt: (m, N) C-contiguous, the factor's columns as rows (Xtᵀ = X).
        lam: the scalar λ.
        reduced_factors: callable R -> (QᵀA, QᵀB) given R = Qᵀ X (k×m).
    """

    def __init__(self, Xt: np.ndarray, lam: float, reduced_factors):
        self.lam = float(lam)
        self.Qt, R = orthonormal_basis(Xt)
        with small_blas():
            QA, QB = reduced_factors(R)
            self.k = self.Qt.shape[0]
            self.K = self.lam * np.eye(self.k) + QA @ QB.T
        self.gram_hat = np.ones(self.k)

    @property
    def eigenvalues(self) -> np.ndarray:
        return np.linalg.eigvals(self.K)

    def project(self, V: np.ndarray) -> np.ndarray:
        return (self.Qt @ V.T).T

    def lift(self, C: np.ndarray) -> np.ndarray:
        return C @ self.Qt

    def solve(self, b: np.ndarray) -> np.ndarray:
        """F⁻¹ b = b/λ + Q (K⁻¹ − I/λ) Qᵀ b."""
        pb = self.project(b)
        return b / self.lam + self.lift(np.linalg.solve(self.K, pb) - pb / self.lam)

    def check_stable(self) -> float:
        with small_blas():
            return self._check_stable()

    def _check_stable(self) -> float:
        """A positive number if K is stable: 1 when its symmetric part is positive definite (a
        Cholesky test, sufficient), else the smallest real part of its eigenvalues."""
        try:
            np.linalg.cholesky(0.5 * (self.K + self.K.T))
            return 1.0
        except np.linalg.LinAlgError:
            return float(np.min(np.linalg.eigvals(self.K).real))

    def exact_ops(self, dt: float, kappa: float) -> dict:
        with small_blas():
            return self._exact_ops(dt, kappa)

    def _exact_ops(self, dt: float, kappa: float) -> dict:
        """Φ_k = expm(−K dt) and L_k = sqrt_sym(Q_k), Q_k = 2κ∫₀^dt e^{−Ks} e^{−Kᵀs} ds.

        Q_k by doubling, Q(2t) = Q(t) + Φ(t) Q(t) Φ(t)ᵀ, from t0 = dt/2^j with ‖K t0‖₂ ≤
        DOUBLING_THETA where a 3-point Gauss–Legendre rule is exact to ~1e-14: j+1 small expm and
        3j k×k products, no Lyapunov solve (Bartels–Stewart is slower; benchmarks/results/NOTES.md).
        """
        k = self.k
        eye = np.eye(k)
        phi_perp = float(np.exp(-self.lam * dt))
        s_perp = float(ou_scale(self.lam, dt, kappa))
        nrm = _norm2_estimate(self.K) * dt
        j = max(0, int(np.ceil(np.log2(nrm / DOUBLING_THETA)))) if nrm > 0 else 0
        t0 = dt / 2**j
        Phi = scipy.linalg.expm(-self.K * t0)
        if kappa > 0:
            nodes, weights = np.polynomial.legendre.leggauss(3)
            Qk = np.zeros((k, k))
            for x, w in zip(nodes, weights):
                P = scipy.linalg.expm(-self.K * (0.5 * t0 * (x + 1)))
                Qk += (0.5 * t0 * w) * (P @ P.T)
            Qk *= 2 * kappa
        for _ in range(j):
            if kappa > 0:
                Qk = Qk + Phi @ Qk @ Phi.T
            Phi = Phi @ Phi
        Lk = symmetric_sqrt(Qk) if kappa > 0 else np.zeros((k, k))
        return {"phi_perp": phi_perp, "s_perp": s_perp, "Rphi": Phi - phi_perp * eye, "Rs": Lk - s_perp * eye}

    def etd_ops(self, h: float, kappa: float) -> dict:
        with small_blas():
            return self._etd_ops(h, kappa)

    def _etd_ops(self, h: float, kappa: float) -> dict:
        """Adds a1 = h(φ1 + φ2)(−hK), a2 = hφ2(−hK) via solves with hK (stable: Re eig(K) ≥ λ > 0)."""
        ops = self._exact_ops(h, kappa)
        k = self.k
        eye = np.eye(k)
        Phi = ops["Rphi"] + ops["phi_perp"] * eye
        hK = h * self.K
        p1 = np.linalg.solve(hK, eye - Phi)
        p2 = np.linalg.solve(hK, eye - p1)
        z = np.array([-h * self.lam])
        a1p = float(h * (phi1(z) + phi2(z))[0])
        a2p = float(h * phi2(z)[0])
        ops.update(a1_perp=a1p, a2_perp=a2p, Ra1=h * (p1 + p2) - a1p * eye, Ra2=h * p2 - a2p * eye)
        return ops


def _norm2_estimate(K: np.ndarray) -> float:
    """An over-estimate of ‖K‖₂: 1.25× a 30-step power iteration on KᵀK (which converges from below),
    capped by the rigorous bound sqrt(‖K‖₁‖K‖∞)."""
    aK = np.abs(K)
    bound = float(np.sqrt(aK.sum(axis=0).max() * aK.sum(axis=1).max()))
    v = np.random.default_rng(0).standard_normal(K.shape[0])
    est = 0.0
    for _ in range(30):
        w = K.T @ (K @ v)
        nw = float(np.linalg.norm(w))
        if nw == 0:
            return 0.0
        est = np.sqrt(nw / float(np.linalg.norm(v)))
        v = w / nw
    return min(bound, 1.25 * est)


# -- stepping kernels ------------------------------------------------------------------------------
def exact_path(engine, ops: dict, y_star: np.ndarray, e0: np.ndarray, noise, out: np.ndarray) -> None:
    """Fill out[n] = Y_n (n = 0 … n_out), e_{n+1} = Φ e_n + L z_n exactly, batched over time.

    Split e_n = p_n + lift(c_n) with p_{n+1} = φ⊥ p_n + s⊥ z_n (elementwise) and
    c_{n+1} = φ⊥ c_n + Rφ(ω_n + Ĝ c_n) + R_s ζ_n, ω_n = project(p_n), ζ_n = project(z_n): the only
    O(N·k) work is one projection GEMM per chunk of noise rows and one lift GEMM per chunk.

    Args:
        engine: :class:`SymLowRank` or :class:`BasisLowRank`.
        ops: ``engine.exact_ops(dt, kappa)``.
        y_star: fixed point (N,). e0: initial deviation Y_0 − Y* (N,).
        noise: iterable of (rows, z) with z (rows, N) standard normals or None (noise-free); the
            rows must add up to n_out. z is overwritten.
        out: (n_out + 1, N), filled in place.
    """
    phi_p, s_p = ops["phi_perp"], ops["s_perp"]
    Rphi, Rs, Gh = ops["Rphi"], ops["Rs"], engine.gram_hat
    p = e0.copy()
    omega = engine.project(e0)
    c = np.zeros(engine.k)
    out[0] = y_star + e0
    n = 0
    for rows, z in noise:
        zeta = engine.project(z) if z is not None else None
        C = np.empty((rows, engine.k))
        if z is not None:
            z *= s_p
        for i in range(rows):
            c = phi_p * c + _rapply(Rphi, omega + Gh * c)
            omega = phi_p * omega
            p *= phi_p
            if z is not None:
                c += _rapply(Rs, zeta[i])
                omega += s_p * zeta[i]
                p += z[i]
            C[i] = c
            out[n + 1 + i] = p
        blk = out[n + 1:n + 1 + rows]
        blk += engine.lift(C)
        blk += y_star
        n += rows


def etd2_path(engine, ops: dict, f: np.ndarray, E: np.ndarray, y0: np.ndarray, m: int, noise,
              out: np.ndarray) -> None:
    """Exponential integrator for dY = −(F0 + diag(E)) Y dt + f dt + sqrt(2κ) dW (F0 exact).

    Cox–Matthews ETD2 on the remainder N(Y) = f − E⊙Y with F0 = λI + ABᵀ treated exactly
    (Φ, φ1, φ2 of F0 in closed form on the subspace) and the noise of F0 sampled exactly:

        Y⁺ = Φ Y + h(φ1 + φ2)(−hF0) N_n − hφ2(−hF0) N_{n−1} + L z,

    started with N_{−1} = N_0 (exponential Euler). The fixed point (F0 + E)⁻¹ f is kept exactly;
    the error is second order in h (see ``ETD_ERROR_CONST`` in :mod:`thermotwin.solver.factored`).
    The projection of Y is propagated (project∘lift is known), so a sub-step costs one projection
    of E⊙Y and one lift, O(N·k); the noise projections are one GEMM per chunk.

    Args:
        f, E: (N,) forcing and diagonal remainder. y0: (N,). m: sub-steps per output row.
        noise: iterable of (rows, z) as in :func:`exact_path`, in sub-steps (rows add to n_out·m).
        out: (n_out + 1, N).
    """
    phi_p, s_p = ops["phi_perp"], ops["s_perp"]
    a1p, a2p = ops["a1_perp"], ops["a2_perp"]
    Rphi, Rs, Ra1, Ra2 = ops["Rphi"], ops["Rs"], ops["Ra1"], ops["Ra2"]
    Gh = engine.gram_hat
    if Rphi.ndim == 2:                          # one stacked matvec for the four reduced operators
        stack = np.ascontiguousarray(np.concatenate([Rphi, Ra1, -Ra2, Rs], axis=1))

        def reduced(pY, pN, pNp, pz):
            return stack @ np.concatenate([pY, pN, pNp, pz])
    else:
        def reduced(pY, pN, pNp, pz):
            return Rphi * pY + Ra1 * pN - Ra2 * pNp + Rs * pz
    pf = engine.project(f)
    Y = y0.copy()
    pY = engine.project(Y)
    out[0] = Y
    N_prev = pN_prev = None
    j = 0
    for rows, z in noise:
        pz_all = engine.project(z) if z is not None else None
        for i in range(rows):
            EY = E * Y
            N_now = f - EY
            pN = pf - engine.project(EY)
            if N_prev is None:
                N_prev, pN_prev = N_now, pN
            pz = pz_all[i] if pz_all is not None else np.zeros_like(pY)
            red = reduced(pY, pN, pN_prev, pz)
            Y *= phi_p
            Y += a1p * N_now
            Y -= a2p * N_prev
            if z is not None:
                Y += s_p * z[i]
            Y += engine.lift(red)
            pY = phi_p * pY + a1p * pN - a2p * pN_prev + s_p * pz + Gh * red
            N_prev, pN_prev = N_now, pN
            j += 1
            if j % m == 0:
                out[j // m] = Y
