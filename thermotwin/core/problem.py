"""The problems the device solves, dense and factored, validated at the boundary.

Every problem satisfies :class:`LinearProblem`: ``d`` unknowns (integrators), right-hand side ``b``,
the exact solution ``x_exact``, spectrum bounds ``lambda_min``/``lambda_max`` (in units of 1/τ), a
matrix-vector product ``matvec``, a ``digest`` for netlist headers and results, a sanitised
``name``, a ``form`` (``"dense"`` or ``"factored"``) and a ``dense()`` view (refused above
:data:`DENSE_LIMIT` for the factored form).

* :class:`Problem`: A x = b with A (d×d).
* :class:`FactoredProblem`: (λI + Jᵀ H J) x = b with J (r×d), H (r×r) symmetric PSD, λ > 0 — the
  scaled-up TNGD board's form (three arrays J_f, H_L, J_fᵀ), d up to ~10⁵.

Loaders: :func:`load_problem` (``.mtx``/``.npy``/``.csv`` matrices, or an ``.npz`` with arrays J, H,
damping, g for the factored form), :func:`load_factored`, :func:`builtin_example` and
:func:`synthetic_factored`.
"""

from __future__ import annotations

import math
import re
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import InputError, UnstableMatrixError
from .fingerprint import array_digest
from .memory import check_memory

#: Relative asymmetry max|H − Hᵀ|/max|H| accepted (H is then symmetrised).
H_SYMMETRY_TOL = 1e-10
#: H is PSD if its smallest eigenvalue ≥ −H_PSD_TOL·max|eig(H)|.
H_PSD_TOL = 1e-10
#: Largest d for which a factored problem's :meth:`~FactoredProblem.dense` assembles the matrix.
DENSE_LIMIT = 5000

__all__ = ["LinearProblem", "Problem", "FactoredProblem", "FactoredOperator", "load_problem", "load_factored",
           "builtin_example", "synthetic_factored", "safe_name", "is_factored", "DENSE_LIMIT",
           "check_magnitude", "MAX_ABS", "MIN_ABS"]

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
    if top == 0 and what == "matrix":
        raise InputError("matrix is all zeros; the solver needs an invertible A (e.g. symmetric positive definite)")
    if not MIN_ABS <= top <= MAX_ABS:
        raise InputError(f"{what} entries reach {top:.3g}, outside [{MIN_ABS:g}, {MAX_ABS:g}] where the arithmetic "
                         "keeps its digits; rescale A and b by the same power of ten (x is unchanged)")


@runtime_checkable
class LinearProblem(Protocol):
    """What every problem form provides (dense :class:`Problem`, :class:`FactoredProblem`)."""

    name: str

    @property
    def form(self) -> str: ...          # "dense" or "factored"

    @property
    def d(self) -> int: ...             # number of unknowns = integrators on the board

    @property
    def b(self) -> np.ndarray: ...      # right-hand side (d,)

    @property
    def x_exact(self) -> np.ndarray: ...

    @property
    def lambda_min(self) -> float: ...

    @property
    def lambda_max(self) -> float: ...

    def matvec(self, x: np.ndarray) -> np.ndarray: ...

    def digest(self) -> str: ...

    def dense(self) -> np.ndarray: ...


def is_factored(problem) -> bool:
    """True for the factored form (λI + JᵀHJ)."""
    return getattr(problem, "form", "dense") == "factored"


@dataclass(frozen=True)
class Problem:
    """A x = b with A (d×d, real, every eigenvalue with positive real part) and b (d,).

    The analog solver's SDE (docs/model.md#sde) is dV = −(1/τ)(A V − b) dt + sqrt(2κ0/τ) dW; its
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

    form = "dense"

    @property
    def d(self) -> int:
        """Number of unknowns (integrators)."""
        return self.A.shape[0]

    def matvec(self, x: np.ndarray) -> np.ndarray:
        """A x (x of shape (d,) or (..., d) along the last axis)."""
        return np.asarray(x, dtype=float) @ self.A.T

    def dense(self) -> np.ndarray:
        """A itself (the dense view every problem form offers)."""
        return self.A

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
        """SHA-256 (first 16 hex digits) of A and b at 40-bit mantissa precision (≈12 significant
        digits; :mod:`thermotwin.core.fingerprint`): the netlist header's matrix hash, the same on
        every machine for the same values."""
        return array_digest(self.A, self.b)


def load_problem(matrix_path=None, rhs_path=None, *, factored: bool = True):
    """Read a problem from files; with no matrix, the built-in example (see :func:`builtin_example`).

    An ``.npz`` matrix file is a factored problem (:func:`load_factored`; its right-hand side is the
    array ``g`` inside it, so ``rhs_path`` must be None); with ``factored=False`` (a caller that
    needs the dense form) it is refused with a one-line :class:`InputError`.
    """
    from .io import read_matrix, read_vector

    if factored and matrix_path is not None and Path(matrix_path).suffix.lower() == ".npz":
        if rhs_path is not None:
            raise InputError("--rhs: a factored .npz carries its right-hand side as array g; drop --rhs")
        return load_factored(matrix_path)

    if matrix_path is None:
        prob = builtin_example()
        if rhs_path is not None:
            prob = Problem(prob.A, read_vector(rhs_path), prob.name)
        return prob
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


# -- the factored form ---------------------------------------------------------------------------
class FactoredOperator:
    """F = λI + Jᵀ H J as an operator (F @ x, X @ F.T), so :class:`SimResult` residuals work unchanged."""

    __array_ufunc__ = None     # let ndarray @ FactoredOperator defer to __rmatmul__

    def __init__(self, J: np.ndarray, H: np.ndarray, lam: float):
        self.J, self.H, self.lam = J, H, float(lam)
        self.shape = (J.shape[1], J.shape[1])

    @property
    def T(self) -> "FactoredOperator":
        return self            # H symmetric: F is symmetric

    def __matmul__(self, x):
        x = np.asarray(x, dtype=float)
        return self.lam * x + self.J.T @ (self.H @ (self.J @ x))

    def __rmatmul__(self, X):
        X = np.asarray(X, dtype=float)
        return self.lam * X + ((X @ self.J.T) @ self.H) @ self.J


@dataclass(frozen=True)
class FactoredProblem:
    """(λI + Jᵀ H J) x = b with J (r×d), H (r×r symmetric PSD), damping λ > 0, b (d,).

    Construction validates shapes, finiteness, symmetry and semi-definiteness of H and λ > 0, and
    raises :class:`InputError` / :class:`UnstableMatrixError` with a one-line message. J is not
    copied when it is already float64 (a read-only view is kept); H is symmetrised.

    Attributes:
        J: (r, d) Jacobian array J_f. H: (r, r) H_L. damping: λ. b: (d,) right-hand side (the
            ``.npz`` file stores it as array ``g``, TNGD's gradient; ``.g`` is an alias).
        name: label, sanitised to ``[A-Za-z0-9_.+-]``.
    """

    J: np.ndarray
    H: np.ndarray
    damping: float
    b: np.ndarray
    name: str = "factored"
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    form = "factored"

    def __post_init__(self) -> None:
        J = _as_real(self.J, "J")
        if J.ndim != 2:
            raise InputError(f"J must be 2-D (r×N), got shape {J.shape}")
        r, N = J.shape
        if r == 0 or N == 0:
            raise InputError(f"J is {r}×{N}; give at least one row and one column")
        H = _as_real(self.H, "H")
        if H.shape != (r, r):
            raise InputError(f"H has shape {H.shape} but J has {r} rows; H must be {r}×{r}")
        lam = np.asarray(_as_real(self.damping, "damping"))
        if lam.size != 1:
            raise InputError(f"damping must be one number, got an array of shape {lam.shape}")
        lam = float(lam.reshape(-1)[0])
        g = _as_real(self.b, "b")
        if g.ndim == 2 and 1 in g.shape:
            g = g.reshape(-1)
        if g.shape != (N,):
            raise InputError(f"b (array g) has shape {g.shape} but J has {N} columns; b must have {N} entries")
        for name, a in (("J", J), ("H", H), ("b", g)):
            bad = _count_nonfinite(a)
            if bad:
                raise InputError(f"{name} has {bad} non-finite entries (NaN or inf); replace them")
        if not math.isfinite(lam):
            raise InputError(f"damping = {lam!r} is not finite")
        for name, a in (("J", J), ("H", H), ("b (array g)", g)):       # zeros are allowed here (F = λI)
            top = float(np.abs(a).max())
            if top and not MIN_ABS <= top <= MAX_ABS:
                raise InputError(f"{name} entries reach {top:.3g}, outside [{MIN_ABS:g}, {MAX_ABS:g}] where the "
                                 "arithmetic keeps its digits; rescale the problem")
        gram = float(np.abs(J).max()) ** 2 * float(np.abs(H).max()) * r
        if lam > 0 and not (MIN_ABS <= lam <= MAX_ABS and gram <= MAX_ABS):
            raise InputError(f"damping λ = {lam:.3g} and JᵀHJ (entries up to ~{gram:.3g}) must lie in "
                             f"[{MIN_ABS:g}, {MAX_ABS:g}] where the arithmetic keeps its digits; rescale J, H or λ")
        if lam <= 0:
            raise UnstableMatrixError(
                f"damping λ = {lam:g} ≤ 0: F = λI + JᵀHJ then has eigenvalue λ on every direction "
                "outside J's row space, so the integrators would rail out; give λ > 0")
        hmax = float(np.abs(H).max())
        asym = float(np.abs(H - H.T).max())
        if asym > H_SYMMETRY_TOL * max(hmax, 1e-300):
            raise InputError(f"H is not symmetric: max|H − Hᵀ| = {asym:.3g} (max|H| = {hmax:.3g}); "
                             "give a symmetric H (e.g. (H + Hᵀ)/2)")
        H = 0.5 * (H + H.T)
        wH = np.linalg.eigvalsh(H)
        if wH.size and wH[0] < -H_PSD_TOL * max(float(np.abs(wH).max()), 1e-300):
            raise InputError(f"H is not positive semi-definite: its smallest eigenvalue is {wH[0]:.3g}; "
                             "the TNGD curvature H_L must be PSD (e.g. a GGN block)")
        if J.flags.writeable:
            J = J.view()
            J.flags.writeable = False
        for a in (H, g):
            a.flags.writeable = False
        object.__setattr__(self, "J", J)
        object.__setattr__(self, "H", H)
        object.__setattr__(self, "damping", lam)
        object.__setattr__(self, "b", g)
        object.__setattr__(self, "name", safe_name(self.name, "factored"))

    # -- sizes and the LinearProblem interface -----------------------------------------------------
    @property
    def N(self) -> int:
        return self.J.shape[1]

    @property
    def d(self) -> int:
        return self.N

    @property
    def r(self) -> int:
        return self.J.shape[0]

    @property
    def g(self) -> np.ndarray:
        """The right-hand side under its TNGD name (∇ℓ; the ``.npz`` array): the same as :attr:`b`."""
        return self.b

    @property
    def gram(self) -> np.ndarray:
        """J Jᵀ (r×r), computed once (N r² flops)."""
        if "gram" not in self._cache:
            self._cache["gram"] = self.J @ self.J.T
        return self._cache["gram"]

    @property
    def abs_max_J(self) -> float:
        """max |J_ij| (cached)."""
        if "jmax" not in self._cache:
            self._cache["jmax"] = max(float(self.J.max()), -float(self.J.min()))
        return self._cache["jmax"]

    @property
    def engine(self):
        """The exact low-rank engine of the nominal F (cached)."""
        if "engine" not in self._cache:
            from .lowrank import SymLowRank

            self._cache["engine"] = SymLowRank(self.J, self.H, self.damping, gram=self.gram)
        return self._cache["engine"]

    @property
    def x_exact(self) -> np.ndarray:
        """x* = F⁻¹ b by Woodbury: b/λ − Z (λ(λI + ZᵀZ))⁻¹ Zᵀ b with Z = Jᵀ H^{1/2} (no N×N solve)."""
        if "x" not in self._cache:
            x = self.engine.solve(self.b)
            x.flags.writeable = False
            self._cache["x"] = x
        return self._cache["x"]

    @property
    def lambda_min(self) -> float:
        """Slowest rate of F: λ unless J has full column rank (N ≤ r)."""
        nu = self.engine.nu
        return self.damping + (float(nu.min()) if self.engine.k >= self.N else 0.0)

    @property
    def lambda_max(self) -> float:
        nu = self.engine.nu
        return self.damping + (float(nu.max()) if nu.size else 0.0)

    @property
    def operator(self) -> FactoredOperator:
        return FactoredOperator(self.J, self.H, self.damping)

    def matvec(self, x: np.ndarray) -> np.ndarray:
        """(λI + JᵀHJ) x without forming the d×d matrix. Cost O(r d)."""
        return self.operator @ x

    def dense(self) -> np.ndarray:
        """F assembled as an N×N array (only for N ≤ DENSE_LIMIT: tests and small examples)."""
        if self.N > DENSE_LIMIT:
            raise InputError(f"N = {self.N} is too large to assemble F densely (limit {DENSE_LIMIT})")
        return self.damping * np.eye(self.N) + self.J.T @ self.H @ self.J

    def digest(self) -> str:
        """SHA-256 (16 hex digits) of J, H, λ and b at 40-bit mantissa precision (cached;
        :mod:`thermotwin.core.fingerprint`)."""
        if "digest" not in self._cache:
            self._cache["digest"] = array_digest(self.J, self.H, np.array([self.damping]), self.b)
        return self._cache["digest"]


def _as_real(a, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if np.iscomplexobj(arr):
        raise InputError(f"{name} has complex entries; the factored problem is real")
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise InputError(f"{name} is not a numeric array (dtype {arr.dtype}); give real numbers")
    return np.asarray(arr, dtype=np.float64)


def _count_nonfinite(a: np.ndarray) -> int:
    rows = max(1, 16 * 2**20 // max(1, a.itemsize * (a.shape[-1] if a.ndim > 1 else 1)))
    if a.ndim < 2:
        return int(np.count_nonzero(~np.isfinite(a)))
    return sum(int(np.count_nonzero(~np.isfinite(a[i:i + rows]))) for i in range(0, a.shape[0], rows))


# -- reading .npz --------------------------------------------------------------------------------
_NPZ_KEYS = ("J", "H", "damping", "g")


def _npz_headers(p: Path) -> dict[str, tuple[tuple, np.dtype]]:
    """Shapes and dtypes of the arrays in an .npz, read from the headers only (nothing allocated)."""
    out = {}
    try:
        with zipfile.ZipFile(p) as zf:
            for info in zf.infolist():
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                    else:
                        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                out[key] = (tuple(shape), dtype)
    except zipfile.BadZipFile as exc:
        raise InputError(f"{p}: not an .npz archive ({exc}); save the problem with numpy.savez") from exc
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{p}: cannot read the array headers ({str(exc).splitlines()[0]}); check the file") from exc
    return out


def load_factored(path) -> FactoredProblem:
    """Read a factored problem from an ``.npz`` with arrays ``J`` (r×N), ``H`` (r×r), ``damping``
    (scalar) and ``g`` (N).

    The shapes are read from the array headers first and the memory the problem needs is checked
    against MemAvailable *before* any array is loaded. Pickled (object) arrays are refused.

    Raises:
        InputError: missing file, not an .npz, missing or unknown arrays, wrong shapes, complex or
            object arrays, non-finite entries, H not symmetric/PSD, too large for memory.
        UnstableMatrixError: damping ≤ 0.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file; give an .npz with arrays J, H, damping, g")
    if p.is_dir():
        raise InputError(f"{p}: is a directory; give an .npz with arrays J, H, damping, g")
    heads = _npz_headers(p)
    missing = [k for k in _NPZ_KEYS if k not in heads]
    if missing:
        raise InputError(f"{p}: missing array {missing[0]!r}; a factored problem needs J (r×N), H (r×r), "
                         "damping (scalar) and g (N)")
    unknown = sorted(k for k in heads if k not in _NPZ_KEYS)
    if unknown:
        raise InputError(f"{p}: unknown array {unknown[0]!r}; the .npz may hold only J, H, damping, g")
    for k, (shape, dtype) in heads.items():
        if dtype.hasobject:
            raise InputError(f"{p}: array {k!r} is a pickled object array, which is not loaded; save numbers")
        if dtype.kind == "c":
            raise InputError(f"{p}: array {k!r} is complex; the factored problem is real")
        if dtype.kind not in "biuf":
            raise InputError(f"{p}: array {k!r} has dtype {dtype}, not numbers")
    jshape = heads["J"][0]
    if len(jshape) != 2:
        raise InputError(f"{p}: J must be 2-D (r×N), got shape {jshape}")
    r, N = jshape
    if r == 0 or N == 0:
        raise InputError(f"{p}: J is {r}×{N}; give at least one row and one column")
    if heads["H"][0] != (r, r):
        raise InputError(f"{p}: H has shape {heads['H'][0]} but J has {r} rows; H must be {r}×{r}")
    if int(np.prod(heads["g"][0])) != N:
        raise InputError(f"{p}: g has shape {heads['g'][0]} but J has {N} columns; g must have {N} entries")
    # J as float64 (+ a conversion copy if stored otherwise), the Gram and a working margin.
    conv = 0 if heads["J"][1] == np.float64 else 8 * r * N
    check_memory(8.0 * r * N + conv + 8.0 * (2 * N + 4 * r * r), f"loading {p.name} (J is {r}×{N})",
                 "use a smaller problem (N, r)", default_budget=False)
    try:
        with np.load(p, allow_pickle=False) as data:
            arrays = {k: data[k] for k in _NPZ_KEYS}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{p}: cannot read it ({first}); check the file") from exc
    return FactoredProblem(arrays["J"], arrays["H"], arrays["damping"], arrays["g"], name=p.stem)


def synthetic_factored(N: int, r: int, seed: int = 0, damping: float = 0.01, scale: float = 1.0,
                       name: str = "synthetic") -> FactoredProblem:
    """A GGN-like test problem: J = scale·G/√N (G standard normal, r×N), H = W Wᵀ/r with W (r×r)
    standard normal (PSD, eigenvalues ~[0, 4]), g standard normal. Deterministic in ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    J = rng.standard_normal((r, N))
    J *= scale / math.sqrt(N)
    W = rng.standard_normal((r, r))
    H = W @ W.T / r
    g = rng.standard_normal(N)
    return FactoredProblem(J, H, damping, g, name=name)
