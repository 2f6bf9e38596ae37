"""Fit the OU model dV = −M (V − x*) dt + sqrt(D) dW to a trace (docs/model.md#error-laws, docs/conventions.md#calibration).

Exact discrete-time maximum likelihood: sampled at Δt the process is the VAR(1)
V_{k+1} = Φ V_k + c + ε_k, Φ = expm(−M Δt), c = (I − Φ) x*, ε ~ N(0, Σ_ε) with
Σ_ε = Σ − Φ Σ Φᵀ (Σ the stationary covariance). Conditional on V_0 the likelihood is that of a
multivariate least-squares regression, so (Φ, c, Σ_ε) are the OLS estimates; then
M = −logm(Φ)/Δt, x* = (I − Φ)⁻¹ c, Σ from the discrete Lyapunov equation Σ = Φ Σ Φᵀ + Σ_ε, and
D = M Σ + Σ Mᵀ. Standard errors come from the asymptotic law of the regression coefficients,
vec(B) ~ N(vec(B̂), Σ_ε ⊗ (ZᵀZ)⁻¹), pushed through these maps by parametric bootstrap.

Caveat (docs/calibration.md#sampling): sampling faster than the noise is white biases M (TRNOISE is linearly
interpolated; PWL/ZOH noise is white only at its own step). Sample at several noise steps (the
``dt`` argument) and read the residual-whiteness diagnostics.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import scipy.linalg
import scipy.stats

from ..core.version import __version__
from ..errors import InputError
from .traces import Trace, uniform

SETTLE_TOLS = (1e-1, 1e-2, 1e-3)
CALIB_FORMAT = "thermotwin-calibration/1"
#: Largest |x*| (V) a calibration may hold: a board's outputs swing volts, a megavolt is an error.
MAX_FIXED_POINT_V = 1e6


@dataclass(frozen=True)
class Calibration:
    """Frozen, JSON-serialisable fit (the ``calib.json`` contract)."""

    format: str
    version: str
    source: str
    resampled: str
    nodes: list[str]
    dt_s: float
    n_samples: int
    d: int
    drift_per_s: list              # M (d×d)
    drift_se_per_s: list           # standard errors of M
    fixed_point_v: list            # x* (d)
    fixed_point_se_v: list
    diffusion_v2_per_s: list       # D (d×d)
    diffusion_se_v2_per_s: list
    tau_s: float                   # τ used to convert D into κ0 and M into A_eff
    tau_source: str
    kappa0_v2: float
    kappa0_se_v2: float
    lambda_min_per_s: float
    lambda_min_se_per_s: float
    t_settle_s: dict               # {"0.1": s, "0.01": s, "0.001": s} from V0 = 0
    whiteness: dict
    warnings: list = field(default_factory=list)
    nominal: dict | None = None    # comparison with the nominal matrix, when given

    # -- arrays -----------------------------------------------------------------------------
    @property
    def M(self) -> np.ndarray:
        return np.asarray(self.drift_per_s, dtype=float)

    @property
    def D(self) -> np.ndarray:
        return np.asarray(self.diffusion_v2_per_s, dtype=float)

    @property
    def x_star(self) -> np.ndarray:
        return np.asarray(self.fixed_point_v, dtype=float)

    @property
    def x_reference(self) -> np.ndarray:
        """The solution errors are measured against: the nominal A⁻¹b (volts) when the fit was
        made against a nominal matrix, else the fitted fixed point."""
        if self.nominal is not None and "x_nominal_v" in self.nominal:
            return np.asarray(self.nominal["x_nominal_v"], dtype=float)
        return self.x_star

    def to_json(self) -> str:
        from ..io import json_text

        return json_text(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "calibration") -> "Calibration":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source}: not JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(data, dict) or data.get("format") != CALIB_FORMAT:
            raise InputError(f"{source}: not a thermotwin calibration file (format {CALIB_FORMAT!r} expected); "
                             "make one with `thermotwin calibrate`")
        if data.get("version") != __version__:
            raise InputError(f"{source}: written by thermotwin {data.get('version')}, this is {__version__}; "
                             "re-run `thermotwin calibrate` on the trace")
        from ..io import NONFINITE_KEY

        data.pop(NONFINITE_KEY, None)      # the status of null standard errors (json_text)
        names = {f for f in cls.__dataclass_fields__}
        extra = set(data) - names
        if extra:
            raise InputError(f"{source}: unknown key {sorted(extra)[0]!r}; re-run `thermotwin calibrate`")
        try:
            cal = cls(**data)
        except TypeError as exc:
            raise InputError(f"{source}: incomplete calibration ({exc}); re-run `thermotwin calibrate`") from None
        return cal.validate(source)

    def validate(self, source: str = "calibration") -> "Calibration":
        """Check what predictions and the calibrated twin rely on; InputError naming the field.

        Types (numbers are not strings or booleans), shapes against d, finiteness, τ > 0, Δt > 0,
        λ_min > 0, a stable drift (every eigenvalue of M with real part > 0), a positive
        semi-definite diffusion D, |x*| within :data:`MAX_FIXED_POINT_V`. Returns self.
        """
        def number(name, positive=False):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or (positive and v <= 0):
                raise InputError(f"{source}: {name} = {v!r} must be a finite number{' > 0' if positive else ''}; "
                                 "re-run `thermotwin calibrate`")

        if isinstance(self.d, bool) or not isinstance(self.d, int) or self.d < 1:
            raise InputError(f"{source}: d = {self.d!r} must be an integer ≥ 1")
        for name in ("dt_s", "tau_s", "lambda_min_per_s"):
            number(name, positive=True)
        number("kappa0_v2")
        arrays = {}
        for name, shape in (("drift_per_s", (self.d, self.d)), ("diffusion_v2_per_s", (self.d, self.d)),
                            ("fixed_point_v", (self.d,))):
            try:
                a = np.asarray(getattr(self, name), dtype=float)
            except (TypeError, ValueError):
                raise InputError(f"{source}: {name} holds non-numbers; re-run `thermotwin calibrate`") from None
            if a.shape != shape:
                raise InputError(f"{source}: array shapes do not match d = {self.d} ({name} is {a.shape})")
            if not np.all(np.isfinite(a)):
                raise InputError(f"{source}: non-finite drift, diffusion or fixed point ({name})")
            arrays[name] = a
        M, D, x = arrays["drift_per_s"], arrays["diffusion_v2_per_s"], arrays["fixed_point_v"]
        try:
            ev = np.linalg.eigvals(M)
        except np.linalg.LinAlgError:
            raise InputError(f"{source}: the drift's eigenvalues cannot be computed; re-run `thermotwin calibrate`") \
                from None
        if np.min(ev.real) <= 0:
            raise InputError(f"{source}: the drift is unstable (an eigenvalue has real part {np.min(ev.real):.3g} "
                             "1/s ≤ 0), so no accuracy can be predicted; re-fit on a longer or cleaner trace")
        Ds = 0.5 * (D + D.T)
        dmin = float(np.linalg.eigvalsh(Ds).min())
        if dmin < -1e-9 * max(float(np.abs(Ds).max()), 1e-300):
            raise InputError(f"{source}: the diffusion has a negative eigenvalue ({dmin:.3g} V²/s); a noise "
                             "covariance cannot be negative — re-run `thermotwin calibrate`")
        if np.abs(x).max() > MAX_FIXED_POINT_V:
            raise InputError(f"{source}: the fixed point reaches {np.abs(x).max():.3g} V, beyond {MAX_FIXED_POINT_V:g} V; "
                             "no board holds that — re-run `thermotwin calibrate`")
        return self

    @classmethod
    def load(cls, path) -> "Calibration":
        from pathlib import Path

        from ..io import read_user_text

        p = Path(path)
        text = read_user_text(p, "calibration", "{p}: cannot read calibration ({why})",
                              "{p}: not a UTF-8 text file, so not a calibration; make one with `thermotwin calibrate`")
        return cls.from_json(text, str(p))


def _real_logm(Phi: np.ndarray) -> np.ndarray | None:
    """Principal real logarithm via the eigendecomposition (Φ is diagonalisable in practice);
    None when an eigenvalue is outside the open unit disc or on the non-positive real axis."""
    ev, V = np.linalg.eig(Phi)
    if np.any(np.abs(ev) >= 1) or np.any((np.abs(ev.imag) < 1e-12) & (ev.real <= 0)):
        return None
    try:
        L = (V * np.log(ev.astype(complex))) @ np.linalg.inv(V)
    except np.linalg.LinAlgError:
        return None
    if np.max(np.abs(L.imag)) > 1e-8 * max(1.0, np.max(np.abs(L.real))):
        return None
    return L.real


def _maps(Phi, c, Se, dt):
    """(M, x*, D) from the VAR(1) parameters; None when Φ has no real logarithm."""
    L = _real_logm(Phi)
    if L is None:
        return None
    M = -L / dt
    d = Phi.shape[0]
    x = np.linalg.solve(np.eye(d) - Phi, c)
    S = scipy.linalg.solve_discrete_lyapunov(Phi, Se)
    S = 0.5 * (S + S.T)
    D = M @ S + S @ M.T
    return M, x, 0.5 * (D + D.T)


def whiteness(E: np.ndarray, lags: int = 10) -> dict:
    """Residual autocorrelation per channel: max |r_k|·sqrt(N) over lags 1..L (≈ N(0,1) if white)
    and the Ljung–Box p-value per channel; ``white`` uses a Bonferroni 1e-3 level."""
    N, d = E.shape
    lags = max(1, min(lags, N // 5))
    Ec = E - E.mean(axis=0)
    den = np.sum(Ec ** 2, axis=0)
    r = np.array([np.sum(Ec[k:] * Ec[:-k], axis=0) / den for k in range(1, lags + 1)])   # (lags, d)
    Q = N * (N + 2) * np.sum(r ** 2 / (N - np.arange(1, lags + 1))[:, None], axis=0)
    p = scipy.stats.chi2.sf(Q, lags)
    return {
        "lags": int(lags),
        "max_abs_autocorr_z": float(np.max(np.abs(r)) * math.sqrt(N)),
        "lag1_autocorr": [float(v) for v in r[0]],
        "ljung_box_p": [float(v) for v in p],
        "white": bool(np.min(p) > 1e-3 / d),
    }


def min_samples(d: int) -> int:
    """Fewest samples a fit (and a held-out comparison) of d nodes accepts: 20 per regressor, plus one."""
    return 20 * (d + 1) + 1


def fit_ou(trace: Trace, dt: float | None = None, tau_s: float | None = None, tau_source: str = "",
           nominal=None, n_boot: int = 200, seed: int = 0, skip_s: float = 0.0) -> Calibration:
    """Fit M, x*, D (and κ0 = τ·mean diag(D)/2) to ``trace``.

    Args:
        trace: node voltages; resampled to a uniform grid of step ``dt`` (default: its own step).
        dt: sampling interval for the fit (s).
        tau_s: time constant used for κ0 and A_eff = M·τ (from the spec / design when known).
        nominal: optional ``(problem, values, spec)`` to compare A_eff with A and explain the gap.
        n_boot: parametric-bootstrap draws for the standard errors.
        skip_s: leading time to drop (e.g. the settling transient is fine to keep; a start-up
            glitch is not).
    """
    tr = uniform(trace, dt)
    keep = tr.times >= tr.times[0] + skip_s
    V = tr.values[keep]
    N, d = V.shape[0] - 1, V.shape[1]
    if N + 1 < min_samples(d):
        raise InputError(f"{trace.source}: {N + 1} samples for d = {d}; the fit needs at least {min_samples(d)} "
                         "(a longer trace, or a smaller --dt)")
    const = np.flatnonzero(np.ptp(V, axis=0) == 0)
    if const.size:
        raise InputError(f"{trace.source}: column {tr.names[const[0]]!r} is constant; drop it with --nodes "
                         "or check the probe")
    if d > 1:                    # a repeated or derived column (two probes of one node): Z is rank-deficient
        C = np.corrcoef(V, rowvar=False)
        i, j = np.unravel_index(np.argmax(np.abs(np.triu(C, 1))), C.shape)
        if abs(C[i, j]) > 1 - 1e-9:
            raise InputError(f"{trace.source}: columns {tr.names[i]!r} and {tr.names[j]!r} move together "
                             f"(correlation {C[i, j]:.10f}): the drift cannot be told apart; keep one with --nodes")
    X, Y = V[:-1], V[1:]
    Z = np.column_stack([X, np.ones(N)])
    B, *_ = np.linalg.lstsq(Z, Y, rcond=None)
    E = Y - Z @ B
    Se = E.T @ E / (N - d - 1)
    Phi, c = B[:d].T, B[d]
    step = float(tr.dt)
    warn: list[str] = []
    out = _maps(Phi, c, Se, step)
    if out is None:
        raise InputError(f"{trace.source}: the fitted transition has no real logarithm (an eigenvalue ≤ 0 or "
                         "≥ 1): the trace does not identify a stable drift; use a longer trace or a larger --dt")
    M, x, D = out
    Ms, xs, Ds = _bootstrap(B, Z, Se, N, d, step, n_boot, seed, warn)
    M_se, x_se, D_se = Ms.std(axis=0, ddof=1), xs.std(axis=0, ddof=1), Ds.std(axis=0, ddof=1)
    lam = np.linalg.eigvals(M).real
    lmin = float(lam.min())
    lmin_se = float(np.std([np.linalg.eigvals(m).real.min() for m in Ms], ddof=1))
    T = float(tr.times[-1] - tr.times[0])
    if lmin <= 0 or lmin_se > 0.25 * abs(lmin):
        rel = lmin_se / abs(lmin) if lmin else math.inf
        need = T * (rel / 0.1) ** 2 if math.isfinite(rel) else math.inf
        warn.append(f"the trace does not identify the slowest rate well (λ_min = {lmin:.3g} ± {lmin_se:.2g} 1/s); "
                    f"a trace of about {need:.3g} s would give 10 % on λ_min")
    if tau_s is None:
        tau_s, tau_source = 1e-6, "default R0·C = 1 kΩ·1 nF (give --spec or --matrix for the design's τ)"
    kappa = float(tau_s * np.mean(np.diag(D)) / 2)
    kappa_draws = tau_s * np.mean(np.diagonal(Ds, axis1=1, axis2=2), axis=1) / 2
    white = whiteness(E)
    if not white["white"]:
        warn.append("residuals are not white (Ljung–Box): the sampling interval is probably shorter than the "
                    "correlation time of the noise; refit with a larger --dt (docs/calibration.md#sampling)")
    nx = float(np.linalg.norm(x))
    settle = {}
    for tol in SETTLE_TOLS:
        # from V0 = 0: ‖e^{−Mt} x*‖ ≤ tol ‖x*‖ first holds (bound by the slowest mode)
        settle[str(tol)] = float(math.log(1 / tol) / lmin) if lmin > 0 and nx > 0 else math.inf
    nominal_report = _compare_nominal(M, M_se, x, tau_s, nominal) if nominal is not None else None
    for w in warn:
        warnings.warn(w, RuntimeWarning, stacklevel=2)
    return Calibration(       # validated here, so calibrate never writes a file predict would refuse
        format=CALIB_FORMAT, version=__version__, source=trace.source, resampled=tr.resampled,
        nodes=list(tr.names), dt_s=step, n_samples=int(N + 1), d=int(d),
        drift_per_s=M.tolist(), drift_se_per_s=M_se.tolist(), fixed_point_v=x.tolist(),
        fixed_point_se_v=x_se.tolist(), diffusion_v2_per_s=D.tolist(), diffusion_se_v2_per_s=D_se.tolist(),
        tau_s=float(tau_s), tau_source=tau_source, kappa0_v2=kappa, kappa0_se_v2=float(np.std(kappa_draws, ddof=1)),
        lambda_min_per_s=lmin, lambda_min_se_per_s=lmin_se, t_settle_s=settle, whiteness=white,
        warnings=warn, nominal=nominal_report,
    ).validate(f"{trace.source}: the fit")


def _bootstrap(B, Z, Se, N: int, d: int, step: float, n_boot: int, seed: int, warn: list):
    """Parametric bootstrap of the fit: (M, x*, D) of ``n_boot`` draws of the regression coefficients and
    the residual covariance (the draws without a stable drift are dropped; a warning when most are)."""
    rng = np.random.default_rng(seed)
    ZtZ_inv = np.linalg.inv(Z.T @ Z)
    Lz = np.linalg.cholesky(0.5 * (ZtZ_inv + ZtZ_inv.T))
    Le = np.linalg.cholesky(Se + 1e-300 * np.eye(d))
    wish = scipy.stats.wishart(df=N - d - 1, scale=Se / (N - d - 1))
    draws = []
    for _ in range(n_boot):
        Bs = B + Lz @ rng.standard_normal((d + 1, d)) @ Le.T
        Ses = np.atleast_2d(wish.rvs(random_state=rng))
        r = _maps(Bs[:d].T, Bs[d], Ses, step)
        if r is not None:
            draws.append(r)
    if len(draws) < n_boot // 2:
        warn.append("most bootstrap draws had no stable drift: standard errors are unreliable; "
                    "use a longer trace")
    Ms = np.array([r[0] for r in draws])
    xs = np.array([r[1] for r in draws])
    Ds = np.array([r[2] for r in draws])
    return Ms, xs, Ds


def _compare_nominal(M, M_se, x, tau_s, nominal) -> dict:
    """A_eff = M·τ against A; the component errors that would explain the difference."""
    problem, values, spec = nominal
    A = problem.A
    A_eff = M * tau_s
    se = M_se * tau_s
    diff = A_eff - A
    z = np.divide(diff, se, out=np.zeros_like(diff), where=se > 0)
    # entries determined to better than 10 %: only those say something about a component
    off = ~np.eye(problem.d, dtype=bool) & (np.abs(A) > 10 * se)
    implied_r = np.where(off, -diff / np.where(A != 0, A, 1.0), 0.0)     # δR/R ≈ −δA/A
    leak = np.diag(diff)
    gtot_over_g = np.abs(A).sum(axis=1) + 2.0                               # entries + R_in + R_n
    leak_se = np.diag(se)
    significant = np.mean(leak) > 4 * np.sqrt(np.sum(leak_se ** 2)) / problem.d
    x_nom = problem.x_exact * values.b_scale
    return {
        "A": A.tolist(),
        "A_eff": A_eff.tolist(),
        "A_eff_se": se.tolist(),
        "rel_frobenius": float(np.linalg.norm(diff) / np.linalg.norm(A)),
        "max_abs_z": float(np.max(np.abs(z))),
        "entries_resolved": int(off.sum()),
        "implied_resistor_rel_error_rms": float(np.sqrt(np.mean(implied_r[off] ** 2))) if off.any() else 0.0,
        "implied_resistor_rel_error_max": float(np.max(np.abs(implied_r[off]))) if off.any() else 0.0,
        "diagonal_leak_mean": float(np.mean(leak)),
        # A_eff,ii = (A_ii + g_tot,i/(g·A0))/(1 + 1/A0) ⇒ A_eff,ii − A_ii ≈ (g_tot,i/g − A_ii)/A0
        "implied_opamp_gain": (float(np.mean(gtot_over_g - np.diag(A)) / np.mean(leak))
                               if significant and np.mean(leak) > 0 else None),
        "fixed_point_rel_error": float(np.linalg.norm(x - x_nom) / np.linalg.norm(x_nom)),
        "x_nominal_v": x_nom.tolist(),
    }
