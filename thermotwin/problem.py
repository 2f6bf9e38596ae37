"""The linear problem A x = b that the device solves, validated at the boundary."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from .errors import InputError, UnstableMatrixError

_NAME_OK = re.compile(r"[^A-Za-z0-9_.+-]")


def safe_name(text: str, default: str = "problem") -> str:
    """Reduce user text to ``[A-Za-z0-9_.+-]`` so it can never reach a netlist as syntax."""
    cleaned = _NAME_OK.sub("_", str(text))[:64].strip("._")
    return cleaned or default


#: Largest and smallest max-abs entry of A (and of a non-zero b) that is accepted: beyond these
#: squares and norms overflow or underflow float64 (1e±154) and every error norm is inf or nan.
MAX_ABS = 1e100
MIN_ABS = 1e-100


def check_magnitude(A: np.ndarray, what: str = "matrix") -> None:
    """Refuse (InputError) a matrix whose largest entry is outside [MIN_ABS, MAX_ABS]."""
    top = float(np.abs(A).max()) if A.size else 0.0
    if not MIN_ABS <= top <= MAX_ABS:
        raise InputError(f"{what} entries reach {top:.3g}, outside [{MIN_ABS:g}, {MAX_ABS:g}] where the arithmetic "
                         "keeps its digits; rescale A and b by the same power of ten (x is unchanged)")


@dataclass(frozen=True)
class Problem:
    """A x = b with A (d×d, real, every eigenvalue with positive real part) and b (d,).

    The analog solver's SDE (shared/DESIGN.md 1.1) is dV = −(1/τ)(A V − b) dt + sqrt(2κ0/τ) dW; its
    fixed point is x* = A⁻¹b. Construction validates shape, finiteness and stability and raises
    :class:`InputError` / :class:`UnstableMatrixError` with a message that says what to change.

    Attributes:
        A: drift matrix, dimensionless, shape (d, d).
        b: right-hand side in volts, shape (d,).
        name: a label, sanitised to ``[A-Za-z0-9_.+-]``.
    """

    A: np.ndarray
    b: np.ndarray
    name: str = "problem"
    _eig: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        A = np.array(self.A, dtype=float, copy=True)
        if A.ndim != 2:
            raise InputError(f"matrix must be 2-D, got shape {A.shape}")
        if A.size == 0:
            raise InputError("matrix is empty; give at least a 1×1 matrix")
        if A.shape[0] != A.shape[1]:
            raise InputError(f"matrix is {A.shape[0]}×{A.shape[1]}, not square; the solver needs d×d")
        if not np.all(np.isfinite(A)):
            bad = int(np.sum(~np.isfinite(A)))
            raise InputError(f"matrix has {bad} non-finite entries (NaN or inf); replace them")
        d = A.shape[0]
        b = np.array(self.b, dtype=float, copy=True).reshape(-1) if self.b is not None else np.ones(d)
        if b.shape != (d,):
            raise InputError(f"right-hand side has {b.size} entries but the matrix is {d}×{d}; give {d}")
        if not np.all(np.isfinite(b)):
            raise InputError("right-hand side has non-finite entries (NaN or inf); replace them")
        check_magnitude(A, "matrix")
        if np.any(b) and not MIN_ABS <= np.abs(b).max() <= MAX_ABS:
            raise InputError(f"right-hand side entries reach {np.abs(b).max():.3g}, outside [{MIN_ABS:g}, {MAX_ABS:g}] "
                             "where the arithmetic keeps its digits; rescale b (x scales with it)")
        try:
            eig = np.linalg.eigvals(A)
        except np.linalg.LinAlgError as exc:
            raise InputError(f"the eigenvalues of the matrix cannot be computed ({exc}); check for "
                             "a badly scaled or near-defective matrix") from None
        worst = float(np.min(eig.real))
        if worst <= 0:
            raise UnstableMatrixError(
                f"matrix is unstable: an eigenvalue has real part {worst:.3g} ≤ 0, so the integrators "
                "would rail out; give a matrix whose eigenvalues all have positive real part "
                "(e.g. symmetric positive definite, or add a damping λI)"
            )
        A.flags.writeable = False
        b.flags.writeable = False
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "name", safe_name(self.name))
        object.__setattr__(self, "_eig", eig)

    @property
    def d(self) -> int:
        """Number of unknowns (integrators)."""
        return self.A.shape[0]

    @property
    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of A (complex, shape (d,))."""
        return self._eig

    @property
    def lambda_min(self) -> float:
        """Smallest real part of A's eigenvalues: the slowest relaxation rate in units of 1/τ."""
        return float(np.min(self._eig.real))

    @property
    def lambda_max(self) -> float:
        """Largest modulus of A's eigenvalues: the fastest rate in units of 1/τ."""
        return float(np.max(np.abs(self._eig)))

    @property
    def is_symmetric(self) -> bool:
        return bool(np.allclose(self.A, self.A.T, rtol=0, atol=1e-12 * max(1.0, np.abs(self.A).max())))

    @property
    def x_exact(self) -> np.ndarray:
        """x* = A⁻¹b by a direct solve (the oracle)."""
        try:
            return np.linalg.solve(self.A, self.b)
        except np.linalg.LinAlgError:
            raise InputError("the matrix is numerically singular (the direct solve failed); check its "
                             "conditioning or add a damping λI") from None

    def digest(self) -> str:
        """SHA-256 (first 16 hex digits) of A and b as float64: the netlist header's matrix hash."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.A, dtype="<f8").tobytes())
        h.update(np.ascontiguousarray(self.b, dtype="<f8").tobytes())
        return h.hexdigest()[:16]


def load_problem(matrix_path=None, rhs_path=None) -> Problem:
    """Read a problem from files; with no matrix, the built-in example (see :func:`builtin_example`)."""
    from .io import read_matrix, read_vector

    if matrix_path is None:
        prob = builtin_example()
        if rhs_path is not None:
            prob = Problem(prob.A, read_vector(rhs_path), prob.name)
        return prob
    from pathlib import Path

    A = read_matrix(matrix_path)
    b = read_vector(rhs_path) if rhs_path is not None else None
    return Problem(A, b, name=Path(matrix_path).stem)


def builtin_example() -> Problem:
    """A small real SPD system: ridge regression normal equations on the diabetes data set.

    A = XᵀX/n + α I with X the n = 442 standardised patients × 10 baseline variables of Efron et
    al., "Least Angle Regression" (Ann. Stat. 2004), as shipped by scikit-learn
    (``load_diabetes``), α = 0.25; b = Xᵀy/n with y the standardised disease progression.
    ``scripts/make_builtin_example.py`` regenerates the stored files; scikit-learn is not needed
    at run time.
    """
    from .io import read_matrix, read_vector

    base = resources.files("thermotwin") / "data"
    with resources.as_file(base / "diabetes_ridge_A.mtx") as pa, resources.as_file(
        base / "diabetes_ridge_b.mtx"
    ) as pb:
        return Problem(read_matrix(pa), read_vector(pb), name="diabetes_ridge")
