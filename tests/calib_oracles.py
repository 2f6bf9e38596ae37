"""Independent oracles shared by the calibration tests (not thermotwin code)."""

import numpy as np
import scipy.linalg


def drift_cov_delta(V: np.ndarray, dt: float) -> np.ndarray:
    """Asymptotic covariance of vec(M̂) (row-major) by the delta method, computed independently of
    fit_ou's bootstrap: OLS of V[k+1] on [V[k], 1] gives Cov(Φ̂_ji, Φ̂_lk) = Σ_ε,jl (ZᵀZ)⁻¹_ik; the
    derivative of M = −logm(Φ)/Δt is the inverse of expm's Fréchet derivative at logm(Φ)."""
    N, d = V.shape[0] - 1, V.shape[1]
    Z = np.column_stack([V[:-1], np.ones(N)])
    B, *_ = np.linalg.lstsq(Z, V[1:], rcond=None)
    E = V[1:] - Z @ B
    Se = E.T @ E / (N - d - 1)
    W = np.linalg.inv(Z.T @ Z)[:d, :d]
    L0 = scipy.linalg.logm(B[:d].T).real
    Jexp = np.empty((d * d, d * d))
    for a in range(d * d):
        Eb = np.zeros(d * d)
        Eb[a] = 1.0
        Jexp[:, a] = scipy.linalg.expm_frechet(L0, Eb.reshape(d, d), compute_expm=False).ravel()
    J = -np.linalg.inv(Jexp) / dt
    return J @ np.kron(Se, W) @ J.T
