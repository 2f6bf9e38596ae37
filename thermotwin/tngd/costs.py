"""Per-iteration costs of the digital optimisers, MEASURED on this machine for a real model.

For a tanh MLP on the digits (one hidden layer sized for ~N parameters, d_z outputs) and a batch
of b (the paper's Fig. 2 uses b = 32, d_z = 20, c = 200 CG iterations) we time each term
``repeats`` times and keep the fastest (``*_s``) and the slowest (``*_s_max``) reading:

* ``adam_s``     — ∇ℓ by backprop and a torch Adam step (the first-order baseline);
* ``jac_s``      — ∇ℓ, the per-sample Jacobians J_f (closed form for the one-hidden-layer MLP) and
  H_L: the digital work every GGN method needs, and all that TNGD does digitally (the device is
  programmed with J_f and H_L); ``jac_autodiff_s`` is J_f alone by torch.func vmap(jacrev)
  (generic, slower);
* the solve terms, each including ``factor_s`` (U = [R_i J_i/√b], H_L = RᵀR; O(b d_z² N)):
* ``dense_s``    — NGD's solve: G = UᵀU (O(b d_z N²)), Cholesky of G + λI (O(N³)), two triangular solves;
* ``cg_s``       — NGD-CG: ∇ℓ and c = 200 conjugate-gradient iterations whose GGN products
  G v = Jᵀ H (J v) are Jacobian-vector products (torch.func jvp, then a vjp), never forming J:
  O(c·b·N), as in the paper's NGD-CG (App. E, paraphrase); it does not need J_f;
* ``woodbury_s`` — NGD-Woodbury: UUᵀ + λI (O((b d_z)² N)), its Cholesky, two products with U.

Linear algebra is float64 numpy/LAPACK (OpenBLAS, all cores); autodiff is float64 torch on the CPU.
Sizes beyond those measured are extrapolated with the operation-count model of each term
(:data:`COST_MODEL`, e.g. dense = c₂N² + c₃N³) whose non-negative coefficients are fitted to the
measured points (relative least squares) — an extrapolation, reported as such; the free log–log
slope over the measured sizes is reported next to it.
"""

from __future__ import annotations

import math
import time

import numpy as np

CG_ITERS = 200
PAPER_BATCH = 32


def _cg_fixed(system, iters: int = CG_ITERS) -> np.ndarray:
    """Plain CG on (UᵀU + λI) x = g for exactly ``iters`` iterations (no early stop: c is the cost)."""
    g = system.grad
    x = np.zeros_like(g)
    r = g.copy()
    p = r.copy()
    rr = r @ r
    for _ in range(iters):
        Ap = system.matvec(p)
        alpha = rr / max(p @ Ap, 1e-300)
        x += alpha * p
        r -= alpha * Ap
        rr_new = r @ r
        p = r + (rr_new / max(rr, 1e-300)) * p
        rr = rr_new
    return x


def _dense_solve(system) -> np.ndarray:
    import scipy.linalg

    A = system.dense()
    c = scipy.linalg.cho_factor(A, lower=True, check_finite=False)
    return scipy.linalg.cho_solve(c, system.grad, check_finite=False)


def _setup(n_params: int, batch: int, d_z: int, seed: int = 0):
    from .model import MLP, hidden_for_params, load_digits_data, require_torch

    torch = require_torch()
    data = load_digits_data(seed)
    h = hidden_for_params(n_params, 64, d_z)
    model = MLP.init((64, h, d_z), seed=seed)
    idx = np.random.default_rng(seed).choice(len(data.y_train), size=batch, replace=False)
    x = torch.tensor(data.x_train[idx])
    y = torch.tensor(data.y_train[idx] % d_z)
    return torch, model, x, y


def _times(fn, repeats: int) -> tuple[float, float]:
    """(fastest, slowest) of ``repeats`` timed calls."""
    ts = []
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts), max(ts)


def cg_jvp(model, theta, x, y, lam: float, iters: int = CG_ITERS) -> np.ndarray:
    """NGD-CG as the paper describes it (App. E, paraphrase): ∇ℓ, then exactly ``iters`` CG
    iterations on (GGN + λI) g = ∇ℓ with GGN·v = (1/b) Σ J_iᵀ H_i (J_i v) by a Jacobian-vector
    product (torch.func.jvp) and a vector-Jacobian product; H_i = diag(p_i) − p_i p_iᵀ applied in
    closed form. Cost O(iters·b·N); nothing of size b·d_z × N is formed."""
    import warnings

    from .model import loss_and_grad, require_torch

    torch = require_torch()
    from torch.func import jvp, vjp

    th = theta.detach()

    def f(t):
        return model.forward(t, x)

    _, g = loss_and_grad(model, th, x, y)
    logits, pull = vjp(f, th)
    p = torch.softmax(logits.detach(), dim=1)
    b = x.shape[0]

    def ggn(v):
        with warnings.catch_warnings():
            # torch's forward mode loads its jvp decompositions through the deprecated torch.jit.script
            warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=DeprecationWarning)
            _, u = jvp(f, (th,), (v,))
        hu = (p * u - p * (p * u).sum(dim=1, keepdim=True)) / b
        return pull(hu)[0] + lam * v

    x_ = torch.zeros_like(g)
    r = g.clone()
    d = r.clone()
    rr = r @ r
    for _ in range(iters):
        Ad = ggn(d)
        alpha = rr / torch.clamp(d @ Ad, min=1e-300)
        x_ += alpha * d
        r -= alpha * Ad
        rr_new = r @ r
        d = r + (rr_new / torch.clamp(rr, min=1e-300)) * d
        rr = rr_new
    return x_.numpy()


def measure_point(n_params: int, d_z: int = 20, batch: int = PAPER_BATCH, lam: float = 0.01, repeats: int = 2,
                  dense_max: int = 3000, iterative_max: int = 10 ** 9, seed: int = 0, autodiff: bool = False) -> dict:
    """Measured seconds per iteration of every term at one size (keys in the module doc; each
    ``*_s`` has a ``*_s_max`` beside it). ``dense_s`` is None above ``dense_max`` parameters
    (O(N³) and O(N²) memory), ``cg_s`` and ``woodbury_s`` None above ``iterative_max``."""
    from .device import CurvatureSystem
    from .model import curvature_batch, jacobian_autodiff, loss_and_grad

    torch, model, x, y = _setup(n_params, batch, d_z, seed)
    theta = model.theta.clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=1e-3)

    def adam_step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model.forward(theta, x), y)
        loss.backward()
        opt.step()

    adam_step()                                             # warm-up (allocations, first call)
    out = {"n_params": model.n_params, "d_z": d_z, "batch": batch, "hidden": model.sizes[1]}

    def put(term, fn, reps=repeats):
        out[term], out[term + "_max"] = _times(fn, reps)

    put("adam_s", adam_step, max(repeats, 5))
    th = model.theta
    curvature_batch(model, th, x, y, jacobian="manual")     # warm-up
    holder = {}
    put("jac_s", lambda: holder.__setitem__("cb", curvature_batch(model, th, x, y, jacobian="manual")))
    cb = holder["cb"]
    put("factor_s", cb.factor)
    system = CurvatureSystem(cb.factor(), cb.grad, lam)
    out["jac_autodiff_s"] = out["jac_autodiff_s_max"] = None
    if autodiff:
        jacobian_autodiff(model, th, x)                     # warm-up (vmap tracing)
        put("jac_autodiff_s", lambda: jacobian_autodiff(model, th, x))
    put("grad_s", lambda: loss_and_grad(model, th, x, y), max(repeats, 5))
    n = system.n
    for term in ("dense_s", "cg_s", "woodbury_s"):
        out[term] = out[term + "_max"] = None
    fs, fs_max = out["factor_s"], out["factor_s_max"]
    if n <= dense_max:
        lo, hi = _times(lambda: _dense_solve(system), repeats)
        out["dense_s"], out["dense_s_max"] = fs + lo, fs_max + hi
    if n <= iterative_max:
        cg_jvp(model, th, x, y, lam, iters=2)               # warm-up (forward-mode set-up)
        put("cg_s", lambda: cg_jvp(model, th, x, y, lam))
        lo, hi = _times(system.solve, repeats)
        out["woodbury_s"], out["woodbury_s_max"] = fs + lo, fs_max + hi
    return out


def measure_digital(n_params: int, batch: int = 64, d_z: int = 10, repeats: int = 2) -> dict:
    """TNGD's digital part (∇ℓ, J_f, H_L) and Adam's, measured here at ~N parameters."""
    p = measure_point(n_params, d_z=d_z, batch=batch, repeats=repeats, dense_max=0, iterative_max=0,
                      autodiff=False)
    return {"n_params": p["n_params"], "tngd_digital_s": p["jac_s"], "adam_s": p["adam_s"],
            "ratio_tngd_over_adam": p["jac_s"] / p["adam_s"], "where": "this CPU, float64 torch"}


def power_law(ns, ts) -> tuple[float, float]:
    """(a, p) of t = a·N^p by least squares in log–log over the finite points (the free slope)."""
    ns = np.asarray(ns, float)
    ts = np.asarray([np.nan if t is None else t for t in ts], float)
    ok = np.isfinite(ts) & (ts > 0)
    if ok.sum() < 2:
        return math.nan, math.nan
    p, loga = np.polyfit(np.log(ns[ok]), np.log(ts[ok]), 1)
    return float(math.exp(loga)), float(p)


#: Operation-count model of each term: t(N) = Σ c_k N^{p_k}, c_k ≥ 0 (b and d_z fixed).
#: dense: forming UᵀU is O(b d_z N²), the Cholesky O(N³); CG and Woodbury are O(N) at fixed b·d_z
#: (plus the O((b d_z)³) factorisation in the constant); J_f and the Adam step are O(N) plus call overhead.
COST_MODEL = {"adam_s": (0, 1), "grad_s": (0, 1), "jac_s": (0, 1), "jac_autodiff_s": (0, 1), "factor_s": (0, 1),
              "dense_s": (0, 2, 3), "cg_s": (0, 1), "woodbury_s": (0, 1)}


def fit_cost(ns, ts, powers) -> list[float] | None:
    """Non-negative coefficients c_k of t = Σ c_k N^{p_k}, least squares in *relative* error
    (rows divided by t, so every size counts alike). None with fewer points than terms."""
    import scipy.optimize

    pts = [(float(n), float(t)) for n, t in zip(ns, ts) if t is not None and t > 0]
    if len(pts) < len(powers):
        return None
    X = np.array([[n ** p / t for p in powers] for n, t in pts])
    coef, _ = scipy.optimize.nnls(X, np.ones(len(pts)))
    return [float(c) for c in coef]


def measure_scaling(sizes, d_z: int = 20, batch: int = PAPER_BATCH, dense_max: int = 3000, repeats: int = 3,
                    progress=None) -> dict:
    """Measure every term at each size in ``sizes`` and fit its cost model.

    Returns ``{"points": [...], "fits": {term: {"powers", "coef", "p_free", "a_free"}}}``: ``coef``
    of :data:`COST_MODEL` (used to extrapolate) and, for reference, the free log–log slope.
    """
    points = []
    for n in sizes:
        points.append(measure_point(int(n), d_z=d_z, batch=batch, dense_max=dense_max, repeats=repeats))
        if progress:
            progress(points[-1])
    ns = [p["n_params"] for p in points]
    fits = {}
    for term, powers in COST_MODEL.items():
        ts = [q[term] for q in points]
        a, p = power_law(ns, ts)
        fits[term] = {"powers": list(powers), "coef": fit_cost(ns, ts, powers), "p_free": p, "a_free": a,
                      "coef_max": fit_cost(ns, [q.get(term + "_max") for q in points], powers),
                      "overhead_power": fit_overhead_power(ns, ts)}
    return {"points": points, "fits": fits, "d_z": d_z, "batch": batch}


def extrapolate(fits: dict, term: str, n: float, which: str = "coef") -> float:
    """The fitted cost model of ``term`` at N = n (seconds; ``which`` = "coef_max" for the fit to
    the slowest repeats); nan when it could not be fitted."""
    f = fits[term]
    if f.get(which) is None:
        return math.nan
    return float(sum(c * n ** p for c, p in zip(f[which], f["powers"])))


def fit_overhead_power(ns, ts) -> dict:
    """t = a + c·N^p: the fixed per-call overhead a separated from the growth c·N^p, fitted in
    log t (relative error) by scipy's curve_fit; p's standard error from the fit's covariance
    (with ≤ 3 points it is undetermined: se = inf). Returns {"a", "c", "p", "se_p"}."""
    import scipy.optimize

    pts = [(float(n), float(t)) for n, t in zip(ns, ts) if t is not None and t > 0]
    nan = {"a": math.nan, "c": math.nan, "p": math.nan, "se_p": math.nan}
    if len(pts) < 3:
        return nan
    n = np.array([q[0] for q in pts])
    t = np.array([q[1] for q in pts])
    p0 = max(power_law(n, t)[1], 0.3)
    c0 = t[-1] / n[-1] ** p0

    def model(logn, la, lc, p):
        return np.logaddexp(la, lc + p * logn)

    import warnings

    try:
        with warnings.catch_warnings():
            # an undetermined covariance (as many points as parameters) comes back as inf: se_p = inf
            warnings.simplefilter("ignore", scipy.optimize.OptimizeWarning)
            popt, pcov = scipy.optimize.curve_fit(model, np.log(n), np.log(t),
                                                  p0=(math.log(0.5 * t[0]), math.log(c0), p0), maxfev=20000)
    except (RuntimeError, ValueError):
        return nan
    se = float(np.sqrt(pcov[2, 2])) if len(pts) > 3 and np.all(np.isfinite(pcov)) else math.inf
    a = float(math.exp(popt[0]))
    if not math.isfinite(se) and len(pts) > 3 and a < 1e-3 * t[0]:
        # the overhead fitted to ~0 leaves a flat direction (singular covariance): without it the
        # model is the plain power law, whose exponent's standard error the log–log fit gives
        (p_, _), cov = np.polyfit(np.log(n), np.log(t), 1, cov=True)
        return {"a": 0.0, "c": float(t[-1] / n[-1] ** p_), "p": float(p_), "se_p": float(np.sqrt(cov[0, 0]))}
    return {"a": a, "c": float(math.exp(popt[1])), "p": float(popt[2]), "se_p": se}


def describe_fit(f: dict) -> str:
    """'3.1e-09·N² + 1.2e-12·N³' style text of a fitted cost model."""
    if f["coef"] is None:
        return "not fitted"
    sup = {0: "", 1: "·N", 2: "·N²", 3: "·N³"}
    return " + ".join(f"{c:.3g}{sup[p]}" for c, p in zip(f["coef"], f["powers"]) if c > 0) or "0"
