"""Is the analog time enough? g̃(t) against the exact natural gradient on real GGN matrices.

For A = GGN + λI and the device started at V0 = ∇ℓ, the ideal circuit's mean error is
E V(t) − x* = e^{−At/τ}(V0 − x*), mode by mode e^{−a_k t/τ}. GGN is rank ≤ b(d_z − 1),
so most of A's spectrum sits at or just above λ: a mode of eigenvalue a needs ln(1/ε)/a τ to shrink
by ε (at most ln(10)/λ ≈ 230τ for ε = 0.1, λ = 0.01). ∇ℓ = Σ J_iᵀ(p_i − y_i)/b lies in the row
space of U, so it has no weight in the GGN's null space; the natural gradient's mass sits where
(GGN + λI)⁻¹ amplifies most, on the small non-zero eigenvalues. :func:`mass_table` measures, for a
given system, where ∇ℓ and the natural gradient sit and how long each part takes to settle.

With noise κ0 the expected squared error adds tr Σ(t) = κ0 Σ_k (1 − e^{−2 a_k t/τ})/a_k.

The study (:func:`analog_time_study`) evaluates this closed form (ideal board), checks it against
:func:`thermotwin.simulate` on the ideal spec (noise-free: must agree to round-off), and runs the
twin on a realistic spec (16-bit programmable resistors over a range, finite-gain, finite-GBW
op-amps) noise-free and with κ0, where no closed form exists; it reports the board's own τ and
the slowest relaxation rate it really has.
"""

from __future__ import annotations

import math

import numpy as np


def ideal_error_curve(system, t_tau: np.ndarray, x0: np.ndarray | None = None, kappa0: float = 0.0) -> np.ndarray:
    """sqrt(E‖V(t) − x*‖²)/‖x*‖ for the ideal device from V0 = ``x0`` (default ∇ℓ), closed form."""
    a, V = system.modes
    lam = system.lam
    g = system.grad
    x0 = g if x0 is None else x0
    x_star = system.solve()
    d = x0 - x_star
    dc = V.T @ d
    d_perp = d - V @ dc
    t = np.asarray(t_tau, float)[:, None]
    mean_sq = np.sum((np.exp(-a * t) * dc) ** 2, axis=1) + np.exp(-2 * lam * t[:, 0]) * (d_perp @ d_perp)
    var = np.zeros(len(t))
    if kappa0 > 0:
        var = kappa0 * (np.sum(-np.expm1(-2 * a * t) / a, axis=1)
                        + (system.n - a.size) * -np.expm1(-2 * lam * t[:, 0]) / lam)
    return np.sqrt(mean_sq + var) / np.linalg.norm(x_star)


def time_to_error(t_tau: np.ndarray, err: np.ndarray, eps: float) -> float:
    """First time on the grid with err ≤ eps (log-interpolated), inf if never."""
    below = np.flatnonzero(err <= eps)
    if below.size == 0:
        return math.inf
    i = int(below[0])
    if i == 0:
        return float(t_tau[0])
    e0, e1 = math.log(err[i - 1]), math.log(max(err[i], 1e-300))
    f = (math.log(eps) - e0) / (e1 - e0) if e1 != e0 else 1.0
    return float(t_tau[i - 1] + f * (t_tau[i] - t_tau[i - 1]))


def spectrum_summary(system) -> dict:
    """Where A's eigenvalues sit and where the natural gradient lives."""
    a, V = system.modes
    lam = system.lam
    ev = system.eigenvalues()
    x = system.solve()
    coef = V.T @ x
    perp = x - V @ coef
    weight_slow = float(np.sum(coef[a < 10 * lam] ** 2) + perp @ perp) / float(x @ x)
    return {
        "n": system.n, "m": system.U.shape[0], "lam": lam,
        "eig_min": float(ev[0]), "eig_max": float(ev[-1]), "condition": float(ev[-1] / ev[0]),
        "n_below_2lam": int(np.sum(ev < 2 * lam)), "n_below_10lam": int(np.sum(ev < 10 * lam)),
        "ng_weight_below_10lam": weight_slow,
        "slowest_rate_per_tau": float(ev[0]),
        "grad_norm": float(np.linalg.norm(system.grad)), "ng_norm": float(np.linalg.norm(x)),
        "a_max_entry": float(np.abs(system.dense()).max()) if system.n <= 4000 else None,
    }


def slowest_rate_from_trace(t_s: np.ndarray, states: np.ndarray, x_inf: np.ndarray) -> float:
    """Slowest decay rate (1/s) from a log-linear fit of ‖V(t) − x∞‖ over the trace's last half."""
    e = np.linalg.norm(states - x_inf, axis=1)
    half = len(t_s) // 2
    sel = np.arange(half, len(t_s))
    sel = sel[e[sel] > 1e-12 * max(e[0], 1e-300)]
    if sel.size < 3:
        return math.nan
    slope = np.polyfit(t_s[sel], np.log(e[sel]), 1)[0]
    return float(-slope)


def board_rates(system, spec, mapping=None) -> dict:
    """The board's τ (C/g after scaling), and its slowest/fastest relaxation rates (1/s) from the
    realised drift (static op-amps) or the augmented state matrix (GBW poles)."""
    import warnings

    from ..circuit.design import Mapping, design, realised_matrix
    from ..core.problem import Problem
    from ..solver import circuit_field as cf

    problem = Problem(system.dense(), system.grad, name="ggn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)      # dropped entries: counted in the report
        values = design(problem, spec, mapping or Mapping())
    real = realised_matrix(values, spec)
    ev_static = np.linalg.eigvals(real.M)
    out = {"tau_board_s": values.nominal_tau_s, "scale": values.scale, "b_scale": values.b_scale,
           "dropped": int(values.report.get("dropped", 0)),
           "quantisation_max_rel": float(values.report.get("quantisation_max_rel", 0.0)),
           "rate_min_static_per_s": float(ev_static.real.min()),
           "rate_max_static_per_s": float(np.abs(ev_static).max()),
           "x_fixed_point": real.x_fixed_point}
    if spec.opamp.gbw_hz is not None:
        P = cf.field_params(values, spec)
        ls = cf.linear_system(P)
        ev = -np.linalg.eigvals(ls.F)
        out["rate_min_augmented_per_s"] = float(ev.real.min())
        out["rate_max_augmented_per_s"] = float(np.abs(ev).max())
        out["max_imag_over_real"] = float(np.max(np.abs(ev.imag) / np.maximum(ev.real, 1e-300)))
        out["stable"] = bool(ev.real.min() > 0)
    return out


def analog_time_study(systems: list, spec_real, kappa0: float = 0.01, t_max_tau: float = 300.0,
                      n_out: int = 300, n_traj: int = 4, seed: int = 0, check_ideal: bool = True,
                      spec_noisy=None, progress=None) -> dict:
    """Error of g̃(t) against the natural gradient versus t (τ0 = R0·C units) for each system.

    ``spec_noisy`` (default ``spec_real``) is the board of the noisy run: exact white-noise OU on
    the GBW-augmented state costs a 3N×3N Lyapunov solve, so quick runs drop the GBW pole there.

    Returns per-system curves (ideal closed form noise-free / with κ0, ideal simulated, realistic
    simulated noise-free / with κ0) and a summary (errors at 5τ and 50τ, times to 10 % and 1 %,
    spectrum, board τ and rates).
    """
    from ..circuit.spec import HardwareSpec
    from .device import CircuitTwin

    t = np.linspace(0.0, t_max_tau, n_out + 1)
    out = []
    for i, s in enumerate(systems):
        x_star = s.solve()
        nx = np.linalg.norm(x_star)
        row = {"spectrum": spectrum_summary(s), "t_tau": t.tolist(), "eigenvalues": s.eigenvalues().tolist()}
        ideal = ideal_error_curve(s, t)
        ideal_k = ideal_error_curve(s, t, kappa0=kappa0)
        row["ideal"] = ideal.tolist()
        row["ideal_kappa"] = ideal_k.tolist()
        if check_ideal:
            res = CircuitTwin(spec=HardwareSpec(kappa0_v2=0.0)).simulate(s, s.grad, t_max_tau, n_out=n_out)
            sim = np.linalg.norm(res.states - x_star, axis=1) / nx
            row["ideal_sim_max_abs_diff"] = float(np.max(np.abs(sim - ideal)))
        dev = CircuitTwin(spec=spec_real)
        res = dev.simulate(s, s.grad, t_max_tau, n_out=n_out)
        real = np.linalg.norm(res.states - x_star, axis=1) / nx
        row["real"] = real.tolist()
        row["real_warnings"] = sorted(set(dev.last["warnings"]))
        rates = board_rates(s, spec_real)
        x_inf = rates.pop("x_fixed_point")
        rates["rate_trace_fit_per_s"] = slowest_rate_from_trace(res.times, res.states, x_inf)
        rates["floor"] = float(np.linalg.norm(x_inf - x_star) / nx)
        row["board"] = rates
        devk = CircuitTwin(spec=spec_noisy or spec_real, kappa0=kappa0, noise="white")
        resk = devk.simulate(s, s.grad, t_max_tau, n_out=n_out, seed=seed + i, n_traj=n_traj)
        allk = resk.stats.get("states_all", resk.states[None])
        row["real_kappa"] = np.sqrt(np.mean(np.sum((allk - x_star) ** 2, axis=2), axis=0) / nx ** 2).tolist()
        row["summary"] = _summarise(t, {"ideal": ideal, "ideal_kappa": ideal_k, "real": real,
                                        "real_kappa": np.asarray(row["real_kappa"])}, s, rates, spec_real)
        out.append(row)
        if progress:
            progress(i, row)
    return {"kappa0": kappa0, "t_max_tau": t_max_tau, "systems": out, "spec_real": spec_real.to_dict()}


def _summarise(t, curves: dict, system, rates: dict, spec) -> dict:
    tau0 = spec.r0_ohm * spec.c_farad
    s = {}
    for name, c in curves.items():
        s[name] = {"at_5tau": float(np.interp(5.0, t, c)), "at_50tau": float(np.interp(50.0, t, c)),
                   "t_to_10pct_tau": time_to_error(t, c, 0.1), "t_to_1pct_tau": time_to_error(t, c, 0.01),
                   "final": float(c[-1])}
    lam_min = system.eigenvalues()[0]
    s["tau0_s"] = tau0
    s["tau_board_over_tau0"] = rates["tau_board_s"] / tau0
    # τ the ideal matrix would need to relax as slowly as the board does: λ_min(A)/rate_min.
    rmin = rates.get("rate_min_augmented_per_s", rates["rate_min_static_per_s"])
    s["tau_eff_slowest_over_tau0"] = float(lam_min / rmin / tau0)
    s["tau_eff_trace_fit_over_tau0"] = float(lam_min / rates["rate_trace_fit_per_s"] / tau0) \
        if rates["rate_trace_fit_per_s"] and math.isfinite(rates["rate_trace_fit_per_s"]) else math.nan
    return s


#: Bins of the eigenvalues a of GGN + λI in units of λ for :func:`mass_table`: the null space of
#: the GGN (a = λ to 1e-9), then (1, 2], (2, 10], (10, 100] and above 100.
MASS_EDGES = (1.0 + 1e-9, 2.0, 10.0, 100.0, math.inf)
MASS_NAMES = ("null space of GGN (a = λ)", "λ < a ≤ 2λ", "2λ < a ≤ 10λ", "10λ < a ≤ 100λ", "a > 100λ")


def mass_table(system, eps: float = 0.1, t_tau: float = 50.0) -> dict:
    """Where ∇ℓ and the natural gradient g = (GGN + λI)⁻¹∇ℓ sit in the spectrum of A = GGN + λI,
    and how long each part takes to settle, for the ideal device started at V0 = ∇ℓ.

    Per bin of :data:`MASS_EDGES`: number of modes, share of ‖∇ℓ‖² and of ‖g‖², the time its
    slowest mode needs to shrink its error by ``eps`` (ln(1/eps)/a_min, in τ) and its share of the
    squared error left at ``t_tau`` (Σ e^{−2a t}(∇ℓ − g)_k² / ‖g‖²). Computed from the system, so the
    explanation in the claims table is this run's, not a fixed text."""
    a, V = system.modes
    lam = system.lam
    g = system.grad
    x = system.solve()
    gc, xc = V.T @ g, V.T @ x
    perp = max(system.n - a.size, 0)
    g_perp = max(float(g @ g - gc @ gc), 0.0)
    x_perp = max(float(x @ x - xc @ xc), 0.0)
    d_perp = max(float((g - x) @ (g - x) - (gc - xc) @ (gc - xc)), 0.0)
    rel = a / lam
    lo = 0.0
    rows = []
    nx2, ng2 = float(x @ x), float(g @ g)
    for hi, name in zip(MASS_EDGES, MASS_NAMES):
        sel = (rel > lo) & (rel <= hi)
        n_b = int(sel.sum()) + (perp if lo == 0.0 else 0)
        gw = float(np.sum(gc[sel] ** 2)) + (g_perp if lo == 0.0 else 0.0)
        xw = float(np.sum(xc[sel] ** 2)) + (x_perp if lo == 0.0 else 0.0)
        left = float(np.sum(np.exp(-2 * a[sel] * t_tau) * (gc[sel] - xc[sel]) ** 2))
        left += math.exp(-2 * lam * t_tau) * d_perp if lo == 0.0 else 0.0
        a_min = float(a[sel].min()) if sel.any() else (lam if n_b else math.nan)
        rows.append({"bin": name, "n_modes": n_b, "grad_share": gw / ng2, "ng_share": xw / nx2,
                     "settle_tau": math.log(1 / eps) / a_min if n_b else math.nan,
                     "error_share_at_t": left / nx2})
        lo = hi
    return {"rows": rows, "eps": eps, "t_tau": t_tau, "lam": lam, "n": system.n,
            "rel_error_at_t": math.sqrt(sum(r["error_share_at_t"] for r in rows))}
