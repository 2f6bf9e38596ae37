"""The factored TNGD problem at paper scale: F = λI + Jᵀ H J, N up to ~10⁵ (issue 8).

The scaled-up TNGD circuit (shared/DESIGN.md 1.3, 4) has three resistor arrays J_f (r×N), H_L (r×r)
and J_fᵀ, with integrators only on the N outputs; its drift is F = λI + Jᵀ H J, the identity plus a
rank-r term (r = b·d_z). In units of τ (DESIGN 1.1):

    dV = −(F V − g) dt' + sqrt(2κ0) dW,    stationary law N(F⁻¹g, κ0 F⁻¹).

This module holds the problem type (:class:`FactoredProblem`, read from an ``.npz`` with arrays
``J``, ``H``, ``damping``, ``g`` by :func:`load_factored`) and the backend :func:`run_factored`,
which returns the same :class:`SimResult` (and so the same JSON keys) as the dense twin.

Paths (``stats['path']``):

* ``factored-exact`` — ideal board or quantised arrays (F stays λI + JᵀHJ, symmetric): exact OU
  steps by products with J and r×r matrices (:class:`~thermotwin.solver.lowrank.SymLowRank`).
  Cost O(N r²) once (the Gram J Jᵀ) plus O(N r) per output step; memory O(N r).
* ``factored-exact-basis`` — per-resistor tolerances make the two J arrays and H differ
  (F = λI + J₂ᵀ H' J₁, non-symmetric, still low rank): exact on an orthonormal basis of the
  ≤ 2r-dimensional span (:class:`~thermotwin.solver.lowrank.BasisLowRank`).
* ``factored-etd2`` — diagonal effects (finite op-amp gain leak, capacitor spread, per-node
  resistor spread) add a non-uniform diagonal: after the change of variables Y = V/noise_gain
  (which makes the noise isotropic) F = λ̄I + ABᵀ + diag(E), and
  :func:`~thermotwin.solver.lowrank.etd2_path` integrates the small diagonal remainder E with a
  second-order exponential integrator around the exact low-rank part. The fixed point is exact;
  the sub-step h keeps the predicted error ETD_ERROR_CONST·h²·max|E| below ``ETD_TOL`` (1e-4 of
  the signal; the constants say how this was measured).

Noise: the factored backend steps the exact white-noise OU transition once per output step
(``noise='white'``). ``pwl`` — the zero-order-hold noise that exists to match SPICE path by path,
within 0.09 % of white by construction (solver/config.py) — is run as ``white`` and the result says
so; SPICE cannot run these sizes. ``trnoise``/``trrandom`` are ngspice's generators: an error.
"""

from __future__ import annotations

import hashlib
import math
import time
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .. import budget as _budget
from ..errors import InputError, UnstableMatrixError
from ..problem import safe_name

#: Relative asymmetry max|H − Hᵀ|/max|H| accepted (H is then symmetrised).
H_SYMMETRY_TOL = 1e-10
#: H is PSD if its smallest eigenvalue ≥ −H_PSD_TOL·max|eig(H)|.
H_PSD_TOL = 1e-10
#: Error model of the diagonal (ETD2) path, measured against the dense expm/Lyapunov solution at
#: N = 200–300 (λ_max·τ from 4 to 400, max|E|·τ from 2e-3 to 8e-2; tests/test_factored.py): the
#: noise-free path and the same-noise path are off by ≤ ETD_ERROR_CONST·h²·max|E| times max|V|
#: (elementwise; measured 0.02–0.06), the stationary covariance by ≈ 0.01·h²·max|E| (relative
#: Frobenius), h the sub-step in units of τ — second order, both.
ETD_ERROR_CONST = 0.1
#: Default accuracy target of the diagonal path: h = min(dt_out, sqrt(ETD_TOL/(ETD_ERROR_CONST·max|E|))).
ETD_TOL = 1e-4
#: Largest N for which :meth:`FactoredProblem.dense` assembles F (tests, small examples).
DENSE_LIMIT = 5000
#: Default cap on output rows when no --dt-out is given (same as the dense twin).
DEFAULT_MAX_OUTPUT_POINTS = 4000
#: OpenBLAS threads used by :func:`run_factored` (None: OpenBLAS's default). One thread: on this
#: shared 2-core machine a whole N = 10⁵, r = 640 exact run took 2.5 s on one thread and 10.5 s on
#: two while other work held the cores (threads spin-wait); set None on a dedicated many-core box.
BLAS_THREADS: int | None = 1
#: Bytes of normals drawn per chunk.
NOISE_CHUNK_BYTES = 128 * 2**20


# -- memory --------------------------------------------------------------------------------------
def check_memory(need_bytes: float, what: str) -> None:
    """Raise InputError (before allocating) if ``need_bytes`` exceeds MEMORY_FRACTION of what the
    process can still allocate (:func:`thermotwin.budget.available_bytes`)."""
    _budget.check_memory(need_bytes, what, "use a smaller problem (N, r) or fewer output rows (--t-end, --dt-out)",
                         default_budget=False)


# -- the problem ---------------------------------------------------------------------------------
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
    """(λI + Jᵀ H J) x = g with J (r×N), H (r×r symmetric PSD), damping λ > 0, g (N,).

    Construction validates shapes, finiteness, symmetry and semi-definiteness of H and λ > 0, and
    raises :class:`InputError` / :class:`UnstableMatrixError` with a one-line message. J is not
    copied when it is already float64 (a read-only view is kept); H is symmetrised.

    Attributes:
        J: (r, N) Jacobian array J_f. H: (r, r) H_L. damping: λ. g: (N,) right-hand side.
        name: label, sanitised to ``[A-Za-z0-9_.+-]``.
    """

    J: np.ndarray
    H: np.ndarray
    damping: float
    g: np.ndarray
    name: str = "factored"
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

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
        g = _as_real(self.g, "g")
        if g.ndim == 2 and 1 in g.shape:
            g = g.reshape(-1)
        if g.shape != (N,):
            raise InputError(f"g has shape {g.shape} but J has {N} columns; g must have {N} entries")
        for name, a in (("J", J), ("H", H), ("g", g)):
            bad = _count_nonfinite(a)
            if bad:
                raise InputError(f"{name} has {bad} non-finite entries (NaN or inf); replace them")
        if not math.isfinite(lam):
            raise InputError(f"damping = {lam!r} is not finite")
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
        object.__setattr__(self, "g", g)
        object.__setattr__(self, "name", safe_name(self.name, "factored"))

    # -- sizes and duck-typed Problem interface (resolve_grid, settling_time, initial_state) ----
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
    def b(self) -> np.ndarray:
        return self.g

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
        """x* = F⁻¹ g by Woodbury: g/λ − Z (λ(λI + ZᵀZ))⁻¹ Zᵀ g with Z = Jᵀ H^{1/2} (no N×N solve)."""
        if "x" not in self._cache:
            x = self.engine.solve(self.g)
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

    def dense(self) -> np.ndarray:
        """F assembled as an N×N array (only for N ≤ DENSE_LIMIT: tests and small examples)."""
        if self.N > DENSE_LIMIT:
            raise InputError(f"N = {self.N} is too large to assemble F densely (limit {DENSE_LIMIT})")
        return self.damping * np.eye(self.N) + self.J.T @ self.H @ self.J

    def digest(self) -> str:
        """SHA-256 (16 hex digits) of J, H, λ and g as float64 (cached)."""
        if "digest" not in self._cache:
            h = hashlib.sha256()
            for a in (self.J, self.H, np.array([self.damping]), self.g):
                h.update(np.ascontiguousarray(a, dtype="<f8"))
            self._cache["digest"] = h.hexdigest()[:16]
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
    if heads["H"][0] != (r, r):
        raise InputError(f"{p}: H has shape {heads['H'][0]} but J has {r} rows; H must be {r}×{r}")
    if int(np.prod(heads["g"][0])) != N:
        raise InputError(f"{p}: g has shape {heads['g'][0]} but J has {N} columns; g must have {N} entries")
    # J as float64 (+ a conversion copy if stored otherwise), the Gram and a working margin.
    conv = 0 if heads["J"][1] == np.float64 else 8 * r * N
    check_memory(8.0 * r * N + conv + 8.0 * (2 * N + 4 * r * r), f"loading {p.name} (J is {r}×{N})")
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


# -- the backend ---------------------------------------------------------------------------------
def factored_grid(problem: FactoredProblem, config, tau_s: float, spec=None):
    """The output grid of a factored run (seconds): like :func:`~thermotwin.solver.config.resolve_grid`,
    but the default output step is τ (the exact step does not need the dense twin's noise step):
    dt_out = max(min(τ, t_end), t_end/4000) unless given, or the ADC period."""
    from ..units import parse_time
    from .config import Grid, initial_state, requested_dt_out, resolve_settle, settling_time

    v0 = initial_state(problem, config)
    t_settle = settling_time(problem, tau_s, v0)
    t_end = max(50 * tau_s, 4 * t_settle) if config.t_end is None else parse_time(config.t_end, tau_s)
    if t_end <= 0:
        raise ValueError("t_end must be > 0; give e.g. 50tau or 50us")
    dt_out = requested_dt_out(config, tau_s, spec)
    if dt_out is None:
        dt_out = max(min(tau_s, t_end), t_end / DEFAULT_MAX_OUTPUT_POINTS)
    if dt_out > t_end * (1 + 1e-12):
        raise ValueError(f"dt_out {dt_out:g} s is longer than t_end {t_end:g} s; make it smaller")
    n_out = max(1, math.ceil(t_end / dt_out * (1 - 1e-9)))
    t_end = n_out * dt_out
    return Grid(t_end_s=t_end, dt_out_s=dt_out, n_out=n_out, noise_step_s=dt_out, steps_per_out=1,
                settle_s=resolve_settle(config, tau_s, t_settle, t_end))


def _noise_chunks(seed: int, n_steps: int, N: int, n_traj: int, traj: int, on: bool):
    """(rows, z) chunks of trajectory ``traj``'s normals, the same numbers as
    :func:`~thermotwin.solver.noise.zoh_normals` (seed, n_steps, N, n_traj)[traj]."""
    from .noise import noise_rng

    rows = max(1, NOISE_CHUNK_BYTES // (8 * N))
    if not on:
        for s in range(0, n_steps, rows):
            yield min(rows, n_steps - s), None
        return
    rng = noise_rng(seed)
    for _ in range(traj):                        # skip the earlier trajectories' draws
        for s in range(0, n_steps, rows):
            rng.standard_normal((min(rows, n_steps - s), N))
    for s in range(0, n_steps, rows):
        k = min(rows, n_steps - s)
        yield k, rng.standard_normal((k, N))


def run_factored(problem: FactoredProblem, spec=None, config=None, *, rounding: str = "nearest",
                 out_of_range: str = "drop", node_tolerance: bool = False, method: str = "auto",
                 etd_tol: float = ETD_TOL, blas_threads: int | None = BLAS_THREADS, y_gain: float | str = 1.0,
                 gbw_model: str = "refuse"):
    """Backend ``twin`` for a factored problem; returns a :class:`SimResult` (states in problem units).

    Args:
        problem: the factored problem.
        spec: :class:`HardwareSpec` (default ideal); see :func:`thermotwin.circuit.factored.realise_factored`
            for the non-idealities modelled and how.
        config: :class:`SimConfig`; ``noise`` white (exact) or none (pwl runs as white, see module doc).
        rounding, out_of_range, node_tolerance, y_gain, gbw_model: passed to ``realise_factored``.
        method: ``auto``; ``basis`` (force the orthonormal-basis engine, a cross-check); ``etd2``
            (force the exponential integrator even without diagonal effects).
        etd_tol: accuracy target of the diagonal path (relative to the signal); the sub-step is
            also capped by ``config.noise_step`` when given.
        blas_threads: OpenBLAS threads for the run (see ``BLAS_THREADS``); None leaves them alone.

    Cost: O(N r²) once, O(N r) per output step (exact paths) or per sub-step (``etd2``); memory
    O(N r) plus the output (n_out + 1)·N. Noise: N standard normals per step from ``config.seed``
    (:func:`thermotwin.solver.noise.zoh_normals` order), drawn in chunks.
    """
    from .lowrank import blas_threads as _limit

    t0 = time.perf_counter()
    with _limit(blas_threads):
        return _run_factored(problem, spec, config, rounding, out_of_range, node_tolerance, method, etd_tol, t0,
                             y_gain, gbw_model)


def run_factored_ensemble(problem: FactoredProblem, spec=None, config=None, k: int = 2, **kw):
    """Error mitigation at paper scale (as :func:`~thermotwin.solver.registry.simulate_ensemble`): K boards,
    board i with ``board_seed + i`` and stochastic rounding, noise ``seed + i``.

    Returns (first member's SimResult, list of the members' time averages, their mean, total wall s).
    Only the first member's trace is kept (memory: one output array at a time).
    """
    from ..circuit.spec import HardwareSpec
    from .config import SimConfig

    if not isinstance(k, int) or k < 1:
        raise ValueError(f"ensemble size {k!r} must be an integer ≥ 1")
    spec = spec or HardwareSpec()
    config = config or SimConfig(noise="white")
    kw.setdefault("rounding", "stochastic")
    first, x_means, wall = None, [], 0.0
    for i in range(k):
        res = run_factored(problem, spec.replace(board_seed=spec.board_seed + i),
                           replace(config, seed=config.seed + i), **kw)
        x_means.append(np.array(res.x_mean))
        wall += res.wall_s
        if first is None:
            first = res
    return first, x_means, np.mean(x_means, axis=0), wall


def _run_factored(problem, spec, config, rounding, out_of_range, node_tolerance, method, etd_tol, t0, y_gain,
                  gbw_model):
    from ..circuit.design import adc_readout
    from ..circuit.factored import realise_factored
    from ..circuit.spec import HardwareSpec
    from .config import SimConfig, initial_state
    from .lowrank import BasisLowRank, SymLowRank, etd2_path, exact_path
    from .result import SimResult

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
    N, r = problem.N, problem.r
    n_traj = config.n_traj
    # Memory plan from the structure alone, checked before the board and the output are allocated.
    pre = replace(config, noise=noise)
    plan = realise_factored(problem, spec, rounding=rounding, out_of_range=out_of_range,
                            node_tolerance=node_tolerance, dry_run=True, y_gain=y_gain, gbw_model=gbw_model)
    grid = factored_grid(problem, pre, plan.tau_s, spec)
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
    board = realise_factored(problem, spec, rounding=rounding, out_of_range=out_of_range,
                             node_tolerance=node_tolerance, y_gain=y_gain, gbw_model=gbw_model)
    stats.update(board.report)
    diag = board.has_diagonal or method == "etd2"
    sym = board.symmetric and method != "basis"
    ng = board.noise_gain
    kappa = board.kappa if noise != "none" else 0.0
    # Y = V / noise_gain makes the noise isotropic: F_Y = diag(d) + diag(row/ng) J2ᵀ H J1 diag(ng).
    lam_bar = 0.5 * (float(board.d.max()) + float(board.d.min()))
    E = board.d - lam_bar
    scal = float(board.row[0])
    psd = sym and float(np.linalg.eigvalsh(board.H).min()) >= -H_PSD_TOL * float(np.abs(board.H).max())
    if sym and psd:                              # uniform row scaling folded into H
        if board.J1 is problem.J and board.H is problem.H and scal == 1.0 and lam_bar == problem.damping:
            engine = problem.engine
        else:
            gram = problem.gram if board.J1 is problem.J else None
            engine = SymLowRank(board.J1, board.H * scal, lam_bar, gram=gram)
        stats["path"] = "factored-exact"
    else:
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
    f_Y = board.f / ng
    v0 = initial_state(problem, config)
    y0 = v0 / ng
    out = np.empty((n_traj, grid.n_out + 1, N))
    if not diag:
        ops = engine.exact_ops(grid.dt_out_s / board.tau_s, kappa)
        y_star = engine.solve(f_Y)
        for t in range(n_traj):
            chunks = _noise_chunks(config.seed, grid.n_out, N, n_traj, t, kappa > 0)
            exact_path(engine, ops, y_star, y0 - y_star, chunks, out[t])
    else:
        e_max = float(np.abs(E).max())
        dt = grid.dt_out_s / board.tau_s
        h_max = math.sqrt(etd_tol / (ETD_ERROR_CONST * e_max)) if e_max > 0 else dt
        if config.noise_step is not None:
            from ..units import parse_time

            h_max = min(h_max, parse_time(config.noise_step, board.tau_s) / board.tau_s)
        m = max(1, math.ceil(dt / h_max * (1 - 1e-12)))
        h = dt / m
        if float(board.d.min()) <= 0:
            raise UnstableMatrixError("the realised board is unstable: a diagonal drift entry is ≤ 0")
        ops = engine.etd_ops(h, kappa)
        for t in range(n_traj):
            chunks = _noise_chunks(config.seed, grid.n_out * m, N, n_traj, t, kappa > 0)
            etd2_path(engine, ops, f_Y, E, y0, m, chunks, out[t])
        grid = replace(grid, noise_step_s=grid.dt_out_s / m, steps_per_out=m)
        stats.update(path="factored-etd2", substeps_per_output=m, substep_tau=h, E_max=e_max,
                     etd_error_bound=ETD_ERROR_CONST * h * h * e_max)
    out *= ng
    if spec.adc_bits is not None:
        out = adc_readout(out * board.b_scale, spec) / board.b_scale
    stats.update(noise_steps=grid.n_out * grid.steps_per_out, output_steps=grid.n_out, N=N, r=r)
    problem_hash = problem.digest()
    wall = time.perf_counter() - t0
    if n_traj > 1:
        stats["states_all"] = out
    return SimResult(
        backend="twin", times=grid.times, states=out[0], x_exact=problem.x_exact, tau_s=board.tau_s,
        settle_s=grid.settle_s, wall_s=wall, seed=config.seed, noise=noise, spec_hash=spec.digest(),
        problem_hash=problem_hash, b_scale=board.b_scale, A=problem.operator, b=problem.g,
        noise_step_s=grid.noise_step_s, stats=stats,
    )

