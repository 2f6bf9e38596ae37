"""Generated test matrices for sweeps over the dimension d and the condition number.

``spd``: A = Q diag(λ) Qᵀ with Q Haar-random orthogonal and λ_i = cond^(−i/(d−1)), i = 0…d−1, so
λ_max = 1 (the fastest mode relaxes in τ) and λ_min = 1/cond (settling takes ~cond·τ, docs/model.md#settling);
b ~ N(0, I). Q and b depend only on (matrix_seed, d), so sweeping ``cond`` changes only the spectrum.

``wishart``: A = G Gᵀ/(2d) + 0.2 I with G ∈ R^(d×2d) standard normal (the TLA benchmark family,
as ``thermotwin bench``), b = 1.
"""

from __future__ import annotations

import numpy as np

from ..core.problem import Problem

FAMILIES = ("spd", "wishart")


def generated_problem(family: str, d: int, cond: float | None = None, matrix_seed: int = 0) -> Problem:
    """The problem of ``family`` for dimension d (see module docstring)."""
    if not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1:
        raise ValueError(f"d = {d!r}: the dimension must be an integer ≥ 1")
    if not isinstance(matrix_seed, (int, np.integer)) or isinstance(matrix_seed, bool) or matrix_seed < 0:
        raise ValueError(f"matrix_seed = {matrix_seed!r} must be an integer ≥ 0")
    from ..core.memory import DENSE_WORK_MATRICES, check_memory

    check_memory(8.0 * DENSE_WORK_MATRICES * float(d) ** 2, f"a generated {d}×{d} {family} matrix",
                 "sweep a smaller d (the dense solver holds d×d arrays)")
    rng = np.random.default_rng([int(matrix_seed), int(d)])
    if family == "spd":
        cond = 100.0 if cond is None else cond
        if not isinstance(cond, (int, float)) or isinstance(cond, bool) or not np.isfinite(cond) or cond < 1:
            raise ValueError(f"cond = {cond!r}: the condition number must be a finite number ≥ 1")
        G = rng.standard_normal((d, d))
        Q, R = np.linalg.qr(G)
        Q = Q * np.where(np.diag(R) < 0, -1.0, 1.0)
        lam = float(cond) ** (-np.arange(d) / max(d - 1, 1))
        A = (Q * lam) @ Q.T
        A = 0.5 * (A + A.T)
        b = rng.standard_normal(d)
        return Problem(A, b, name=f"spd-d{d}-cond{cond:g}")
    if family == "wishart":
        if cond is not None:
            raise ValueError("cond applies to matrix = \"spd\" only; the wishart family has no set condition number")
        G = rng.standard_normal((d, 2 * d))
        A = G @ G.T / (2 * d) + 0.2 * np.eye(d)
        return Problem(A, np.ones(d), name=f"wishart-d{d}")
    raise ValueError(f"unknown matrix family {family!r}; use one of {', '.join(FAMILIES)}, \"builtin\" or a file")
