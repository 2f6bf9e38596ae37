"""TNGD at N ≈ 10⁴–10⁵ with the factored twin as the device.

N = 10⁴–10⁵ is the range of the paper's Fig. 2a; the paper does not state the size of its MNIST
model.

A one-hidden-layer tanh MLP on scikit-learn's digits widened to ~N parameters
(:func:`.model.hidden_for_params`: N = 9 985 at h = 133, 30 010 at h = 400, 99 985 at h = 1 333),
b = 64, d_z = 10, so r = b·d_z = 640 rows in J_f. Nothing N×N is formed: the device is
:class:`.device.FactoredTwin` (three arrays J_f, H_L/b, J_fᵀ; exact OU in O(N·r)), exact NGD is the
Woodbury solve (O(N r²)), the closed form uses A's eigenpairs on U's row space (QR of Uᵀ, O(N r²)).
Memory at N = 10⁵: J_f and U are 512 MB each (float64), the closed form's basis another 512 MB.

Two studies:

* :func:`analog_curve` — "is the analog time enough?": ‖g̃(t) − g_NGD‖/‖g_NGD‖ against t (in
  τ0 = R0·C) from V0 = ∇ℓ, on the ideal board noise-free (oracle: closed form), with noise κ0
  (oracle: the closed-form mean and variance of ‖V(t) − x*‖², reported as z-scores) and on a
  realistic board (16-bit resistors over 1 kΩ–100 MΩ, op-amp gain A0 = 1e5; no GBW pole — not
  modelled at this scale), whose oracle is a second implementation on the same realised arrays:
  its fixed point by Woodbury and Arnoldi expm(−F t) at 5τ and 50τ (:func:`realised_board_states`).
* :func:`paper_training` — Adam, exact NGD (Woodbury) and TNGD (t = 5τ, 50τ; FactoredTwin, V0 = ∇ℓ)
  on the same seeds and batches (:func:`.train.train`).
"""

from __future__ import annotations

import time

import numpy as np

#: The realistic board the factored path supports: validate.REALISTIC_SPEC without the GBW pole.
PAPER_SPEC = {"resistor_bits": 16, "r_min_ohm": 1e3, "r_max_ohm": 1e8, "opamp": {"gain": 1e5}}
LAM = 0.01
ETA = 0.01
BATCH = 64


def paper_sizes(n_params: int) -> tuple[int, int, int]:
    """Layer widths (64, h, 10) of the digits MLP with about ``n_params`` parameters."""
    from .model import hidden_for_params

    return (64, hidden_for_params(int(n_params)), 10)


def paper_system(n_params: int, data, seed: int = 0, lam: float = LAM, batch: int = BATCH):
    """The (GGN + λI, ∇ℓ) system of the first iteration of :func:`.train.train` with ``seed``
    (same model init and first batch), with U and the circuit arrays J_f, H_L/b.

    Returns (CurvatureSystem, sizes). Cost: one batch Jacobian O(b·d_z·N) and U O(b·d_z²·N).
    """
    from .device import CurvatureSystem
    from .model import MLP, curvature_batch, require_torch

    torch = require_torch()
    sizes = paper_sizes(n_params)
    init_ss, batch_ss, _ = np.random.SeedSequence(seed).spawn(3)
    model = MLP.init(sizes, seed=int(init_ss.generate_state(1)[0]))
    idx = np.random.default_rng(batch_ss).choice(len(data.y_train), size=batch, replace=False)
    cb = curvature_batch(model, model.theta, torch.tensor(data.x_train[idx]), torch.tensor(data.y_train[idx]))
    return CurvatureSystem.from_batch(cb, lam), sizes


# -- closed forms --------------------------------------------------------------------------------
def error_moments(system, t_tau: np.ndarray, kappa0: float, x0: np.ndarray | None = None):
    """Mean and variance of ‖V(t) − x*‖² for the ideal device from V0 = ``x0`` (default ∇ℓ).

    In A's eigenbasis V(t) − x* has independent Gaussian coordinates with mean m_k = e^{−a_k t}(V0 − x*)_k
    and variance σ_k² = κ0/a_k (1 − e^{−2a_k t}) (rate λ on the N − r complement), so
    E = Σ(m_k² + σ_k²) and Var = Σ(2σ_k⁴ + 4σ_k² m_k²). Returns (E, Var), each (n_t,).
    """
    a, V = system.modes
    lam = system.lam
    x_star = system.solve()
    d = (system.grad if x0 is None else x0) - x_star
    dc = V.T @ d
    perp2 = max(float(d @ d - dc @ dc), 0.0)
    t = np.asarray(t_tau, float)[:, None]
    m2 = (np.exp(-a * t) * dc) ** 2                              # (n_t, r)
    m2p = np.exp(-2 * lam * t[:, 0]) * perp2
    s2 = kappa0 / a * -np.expm1(-2 * a * t)
    s2p = kappa0 / lam * -np.expm1(-2 * lam * t[:, 0])
    n_perp = system.n - a.size
    mean = m2.sum(axis=1) + m2p + s2.sum(axis=1) + n_perp * s2p
    var = 2 * (np.sum(s2 ** 2, axis=1) + n_perp * s2p ** 2) + 4 * (np.sum(s2 * m2, axis=1) + s2p * m2p)
    return mean, var


def arnoldi_expm(matvec, v: np.ndarray, ts, tol: float = 1e-10, k_max: int = 400) -> np.ndarray:
    """expm(−t F)·v for every t in ``ts`` by Arnoldi (F given by ``matvec``; meant for F whose
    field of values lies in the right half-plane). ‖v‖ Q_k expm(−t H_k) e₁ with full (twice)
    Gram–Schmidt, grown until successive estimates agree to ``tol`` (relative, every 5 steps).
    Returns (len(ts), N). Cost O(k·matvec + k²N); k ~ sqrt(t·‖F‖) for near-normal F."""
    import scipy.linalg

    ts = np.atleast_1d(np.asarray(ts, float))
    beta = float(np.linalg.norm(v))
    if beta == 0.0:
        return np.zeros((ts.size, v.size))
    Q = np.empty((min(32, k_max + 1), v.size))
    Q[0] = v / beta
    Hh = np.zeros((k_max + 1, k_max))
    prev = None
    for j in range(k_max):
        w = matvec(Q[j])
        Qj = Q[:j + 1]
        for _ in range(2):
            h = Qj @ w
            w -= Qj.T @ h
            Hh[:j + 1, j] += h
        b = float(np.linalg.norm(w))
        Hh[j + 1, j] = b
        breakdown = b <= 1e-13 * beta
        if (j + 1) % 5 == 0 or breakdown:
            Hk = Hh[:j + 1, :j + 1]
            Y = np.stack([scipy.linalg.expm(-t * Hk)[:, 0] for t in ts])          # (n_t, k)
            est = beta * (Y @ Qj)
            if breakdown or (prev is not None and
                             np.all(np.linalg.norm(est - prev, axis=1) <= tol * np.linalg.norm(est, axis=1))):
                return est
            prev = est
        if j + 1 == Q.shape[0]:
            Q = np.concatenate([Q, np.empty((min(Q.shape[0], k_max + 1 - Q.shape[0]), v.size))])
        Q[j + 1] = w / b
    raise RuntimeError(f"Arnoldi expm did not converge in {k_max} steps; raise k_max")


def realised_board_states(device, system, ts_tau, x0: np.ndarray | None = None) -> dict:
    """A second implementation of the realistic board, noise-free, on the same realised arrays.

    The board of ``device.spec`` (``realise_factored``: F = diag(d) + diag(row) J₂ᵀH'J₁, forcing f,
    in the board's τ) is solved here independently of ``run_factored``'s engines: fixed point
    x∞ = F⁻¹f by Woodbury, F = D + P H' J₁ with P = diag(row)J₂ᵀ,
    x∞ = D⁻¹f − D⁻¹P (I + H'J₁D⁻¹P)⁻¹ H'J₁D⁻¹f, and V(t) = x∞ + expm(−F t')(V0 − x∞) by Arnoldi,
    t' = t·τ0/τ_board. Cost O(N r²) + O(k·N·r). Returns states (n_t, N), x_inf, residual, τ ratio.
    """
    from ..circuit.factored import realise_factored
    from ..circuit.spec import HardwareSpec

    spec = (device.spec or HardwareSpec()).replace(kappa0_v2=0.0)
    problem = device.problem(system)
    board = realise_factored(problem, spec)
    J1, J2, Hr, d, row, f = board.J1, board.J2, board.H, board.d, board.row, board.f

    def matvec(v):
        return d * v + row * (J2.T @ (Hr @ (J1 @ v)))

    r = J1.shape[0]
    core = np.eye(r) + Hr @ (J1 @ ((row / d)[:, None] * J2.T))
    y = np.linalg.solve(core, Hr @ (J1 @ (f / d)))
    x_inf = f / d - (row / d) * (J2.T @ y)
    resid = float(np.linalg.norm(matvec(x_inf) - f) / np.linalg.norm(f))
    ratio = (spec.r0_ohm * spec.c_farad) / board.tau_s
    v0 = system.grad if x0 is None else x0
    states = x_inf + arnoldi_expm(matvec, v0 - x_inf, np.asarray(ts_tau, float) * ratio)
    return {"states": states, "x_inf": x_inf, "residual": resid, "t_board_per_tau0": ratio, "report": board.report}


# -- the studies ---------------------------------------------------------------------------------
def _rel(states: np.ndarray, x_star: np.ndarray) -> np.ndarray:
    return np.linalg.norm(states - x_star, axis=-1) / np.linalg.norm(x_star)


def _at(t: np.ndarray, c: np.ndarray) -> dict:
    from .analysis import time_to_error

    return {"at_5tau": float(np.interp(5.0, t, c)), "at_50tau": float(np.interp(50.0, t, c)),
            "t_to_10pct_tau": time_to_error(t, c, 0.1), "t_to_1pct_tau": time_to_error(t, c, 0.01),
            "final": float(c[-1])}


def analog_curve(system, spec_real, kappa0: float = 1e-3, t_max_tau: float = 400.0, dt_tau: float = 1.0,
                 real_dt_tau: float = 2.5, n_traj: int = 4, seed: int = 0, progress=None) -> dict:
    """Relative error of the device state against g_NGD = (GGN + λI)⁻¹∇ℓ (Woodbury) versus t (τ0),
    V0 = ∇ℓ, at paper scale; every simulated curve next to its oracle (module docstring).

    Returns a JSON-ready dict: ``t_tau``, curves ``closed_form`` (ideal, κ0 = 0), ``ideal_twin``,
    ``closed_form_kappa`` / ``ideal_twin_kappa`` (rms over ``n_traj``), ``real_t_tau`` /
    ``real_twin``; checks ``ideal_max_abs_diff``, ``kappa_max_abs_z``, ``real_vs_arnoldi_max_rel``,
    ``real_floor``; ``summary`` (5τ, 50τ, times to 10 % / 1 %), ``spectrum``, ``wall_s`` per part.
    """
    from .analysis import ideal_error_curve, spectrum_summary
    from .device import FactoredTwin

    say = progress or (lambda msg: None)
    wall = {}
    t = np.arange(0.0, t_max_tau + 0.5 * dt_tau, dt_tau)
    t0 = time.perf_counter()
    x_star = system.solve()
    wall["woodbury_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    spec_sum = spectrum_summary(system)
    closed = ideal_error_curve(system, t)
    mean_sq, var_sq = error_moments(system, t, kappa0)
    wall["closed_form_s"] = time.perf_counter() - t0
    nx = float(np.linalg.norm(x_star))

    t0 = time.perf_counter()
    ideal = FactoredTwin()
    res = ideal.simulate(system, system.grad, t[-1], dt_tau=dt_tau)
    twin = _rel(res.states, x_star)
    wall["ideal_twin_s"] = time.perf_counter() - t0
    path_ideal = ideal.last["path"]
    del res
    say(f"paper scale N={system.n}: ideal twin {wall['ideal_twin_s']:.1f} s")

    t0 = time.perf_counter()
    sq, z = _noisy_twin_moments(system, x_star, t[-1], dt_tau, kappa0, seed, n_traj, mean_sq, var_sq)
    wall["noisy_twin_s"] = time.perf_counter() - t0
    say(f"paper scale N={system.n}: noisy twin ({n_traj} trajectories) {wall['noisy_twin_s']:.1f} s")

    t0 = time.perf_counter()
    real = FactoredTwin(spec=spec_real)
    t_real = np.arange(0.0, t_max_tau + 0.5 * real_dt_tau, real_dt_tau)
    res = real.simulate(system, system.grad, t_real[-1], dt_tau=real_dt_tau)
    real_c = _rel(res.states, x_star)
    i5, i50 = int(round(5.0 / real_dt_tau)), int(round(50.0 / real_dt_tau))
    real_states = res.states[[i5, i50]].copy()
    real_last = dict(real.last)
    wall["real_twin_s"] = time.perf_counter() - t0
    del res
    say(f"paper scale N={system.n}: realistic twin ({real_last['path']}) {wall['real_twin_s']:.1f} s")
    t0 = time.perf_counter()
    chk = realised_board_states(real, system, [t_real[i5], t_real[i50]])
    wall["real_oracle_s"] = time.perf_counter() - t0
    real_vs = float(np.max(np.linalg.norm(real_states - chk["states"], axis=1)) / nx)
    say(f"paper scale N={system.n}: realistic oracle (Woodbury + Arnoldi) {wall['real_oracle_s']:.1f} s")

    curves = {"closed_form": closed, "ideal_twin": twin, "closed_form_kappa": np.sqrt(mean_sq) / nx,
              "ideal_twin_kappa": np.sqrt(sq) / nx}
    summary = {k: _at(t, v) for k, v in curves.items()}
    summary["real_twin"] = _at(t_real, real_c)
    return {
        "n": system.n, "r": int(system.three_arrays()[0].shape[0]), "lam": system.lam, "kappa0": kappa0,
        "n_traj": n_traj, "seed": seed, "t_tau": t.tolist(), "real_t_tau": t_real.tolist(),
        **{k: v.tolist() for k, v in curves.items()}, "real_twin": real_c.tolist(),
        "ideal_max_abs_diff": float(np.max(np.abs(twin - closed))), "ideal_path": path_ideal,
        "kappa_z": z.tolist(), "kappa_max_abs_z": float(np.max(np.abs(z))),
        "real_vs_arnoldi_max_rel": real_vs, "real_checked_at_tau": [float(t_real[i5]), float(t_real[i50])],
        "real_floor": float(np.linalg.norm(chk["x_inf"] - x_star) / nx), "real_fixed_point_residual": chk["residual"],
        "real_board": {"path": real_last["path"], "tau_board_over_tau0": real_last["tau_board_s"] / real_last["tau0_s"],
                       **{k: v for k, v in real_last["report"].items()
                          if k in ("scale", "J1_dropped", "H_dropped", "J1_quantisation_max_rel", "stage_gain_min",
                                   "leak_max", "damping_realised", "substeps_per_output", "etd_error_bound")}},
        "summary": summary, "spectrum": spec_sum, "wall_s": wall,
    }


def _noisy_twin_moments(system, x_star, t_end_tau: float, dt_tau: float, kappa0: float, seed: int, n_traj: int,
                        mean_sq, var_sq):
    """The noisy twin's mean over trajectories of ‖V − x*‖² and its z-score against the closed form."""
    from .device import FactoredTwin

    res = FactoredTwin(kappa0=kappa0).simulate(system, system.grad, t_end_tau, dt_tau=dt_tau, seed=seed,
                                               n_traj=n_traj)
    allk = res.stats.get("states_all", res.states[None])
    sq = np.mean(np.sum((allk - x_star) ** 2, axis=2), axis=0)          # mean over trajectories
    # z-score of the sample mean of ‖V − x*‖² over the trajectories (sd sqrt(Var/n_traj)); at t = 0
    # there is no noise (Var = 0, both sides are ‖∇ℓ − x*‖²), z is set to 0 there.
    sd = np.sqrt(var_sq / allk.shape[0])
    return sq, np.divide(sq - mean_sq, sd, out=np.zeros_like(sq), where=sd > 0)


def training_configs(n_iter: int, seed: int, t_list=(5.0, 50.0), eval_every: int = 10) -> list:
    """Adam (1e-3), exact NGD (Woodbury) and TNGD at each t in ``t_list`` (V0 = ∇ℓ), one seed."""
    from .train import RunConfig

    base = RunConfig(n_iter=n_iter, batch=BATCH, lr=ETA, lam=LAM, seed=seed, eval_every=eval_every,
                     ngd_solver="woodbury")
    runs = [base.with_(method="adam", adam_lr=1e-3, label="Adam 1e-3"),
            base.with_(method="ngd", label="NGD (exact, Woodbury)")]
    runs += [base.with_(method="tngd", t_tau=float(t), label=f"TNGD {t:g}τ (factored twin)") for t in t_list]
    return runs


def paper_training(n_params: int, data, n_iter: int, seeds: int, t_list=(5.0, 50.0), eval_every: int = 10,
                   keep_last_system: bool = False, progress=None) -> dict:
    """Train the ~``n_params`` digits MLP with Adam, NGD (Woodbury) and TNGD on the ideal
    :class:`.device.FactoredTwin` for ``seeds`` seeds. Returns runs (train histories with wall
    time), sizes and, with ``keep_last_system``, the GGN system of NGD's last iteration (seed 0)."""
    from .device import FactoredTwin
    from .train import train

    say = progress or (lambda msg: None)
    sizes = paper_sizes(n_params)
    runs = []
    last = {}
    for seed in range(seeds):
        for cfg in training_configs(n_iter, seed, t_list, eval_every):
            hook = None
            if keep_last_system and seed == 0 and cfg.method == "ngd":
                def hook(k, s):
                    if k == n_iter - 1:
                        last["system"] = s
            t0 = time.perf_counter()
            h = train(cfg, data, sizes, device=FactoredTwin() if cfg.method == "tngd" else None, on_system=hook)
            h["wall_s"] = time.perf_counter() - t0
            runs.append(h)
            say(f"paper-scale training N={h['n_params']} seed {seed}: {cfg.label} {h['wall_s']:.0f} s, "
                f"final loss {h['final_train_loss']:.3f}")
    return {"sizes": sizes, "n_params": runs[0]["n_params"], "n_iter": n_iter, "seeds": seeds, "runs": runs,
            "last_system": last.get("system")}


def run_paper_scale(data, sizes=(10_000,), train_iters: int = 0, train_seeds: int = 1, train_t=(5.0, 50.0),
                    eval_every: int = 10, snap_end: bool = False, kappa0: float = 1e-3, t_max_tau: float = 400.0,
                    n_traj: int = 4, spec_real=None, progress=None) -> dict:
    """The paper-scale section of ``validate-timing``: training at the smallest size (when
    ``train_iters`` > 0), then the analog-time curves at every size (iteration 0 of seed 0, plus
    NGD's last iteration at the trained size with ``snap_end``). Returns a JSON-ready dict."""
    from ..circuit.spec import HardwareSpec

    say = progress or (lambda msg: None)
    spec_real = spec_real or HardwareSpec.from_dict(PAPER_SPEC)
    t_all = time.perf_counter()
    out = {"requested_sizes": [int(n) for n in sizes], "lam": LAM, "eta": ETA, "batch": BATCH, "kappa0": kappa0,
           "spec_real": spec_real.to_dict(), "curves": [], "training": None}
    sizes = sorted(int(n) for n in sizes)
    last_system = None
    if train_iters > 0 and sizes:
        t0 = time.perf_counter()
        tr = paper_training(sizes[0], data, train_iters, train_seeds, train_t, eval_every,
                            keep_last_system=snap_end, progress=say)
        last_system = tr.pop("last_system")
        tr["wall_s"] = time.perf_counter() - t0
        out["training"] = tr
    for n in sizes:
        t0 = time.perf_counter()
        system, layer = paper_system(n, data, seed=0)
        build = time.perf_counter() - t0
        snaps = [(0, system)]
        if n == sizes[0] and last_system is not None:
            snaps.append((train_iters - 1, last_system))
        for it, s in snaps:
            dt = 1.0 if s.n <= 40_000 else 2.5
            row = analog_curve(s, spec_real, kappa0=kappa0, t_max_tau=t_max_tau, dt_tau=dt, n_traj=n_traj,
                               progress=say)
            row.update(sizes=list(layer), snapshot_iter=it, build_s=build if it == 0 else 0.0,
                       stage_lags=stage_lags(s))
            row["wall_s"]["total_s"] = sum(row["wall_s"].values()) + row["build_s"]
            out["curves"].append(row)
            say(f"paper-scale curve N={s.n} (iteration {it}) done in {row['wall_s']['total_s']:.0f} s")
        del system, snaps, s
    out["sizes_run"] = sorted({c["n"] for c in out["curves"]})
    out["layer_sizes"] = {str(c["n"]): c["sizes"] for c in out["curves"]}
    out["wall_s"] = time.perf_counter() - t_all
    return out


#: Op-amp gain–bandwidths at which the three-array board's stage lags are reported.
STAGE_LAG_GBW_HZ = (1e7, 1e8, 1e9)


def stage_lags(system) -> list[dict]:
    """Closed-form op-amp stage lags of this system's three-array board (the factored twin has no GBW
    pole): :func:`thermotwin.circuit.factored.stage_time_constants` for each GBW in STAGE_LAG_GBW_HZ, in
    units of τ0 = R0·C (checked against ngspice and a state-space model at small N,
    tests/test_factored_netlist.py), with unit stage gains and with the balanced split
    (``y_gain="balance"``, :func:`thermotwin.circuit.factored.resolve_y_gain`). Cost O(r·N)."""
    from ..circuit.factored import resolve_y_gain, stage_time_constants
    from ..circuit.spec import HardwareSpec

    J, H = system.three_arrays()
    balanced = resolve_y_gain("balance", J, H)
    a_max = float(system.modes[0].max()) - system.lam          # cached by the closed-form curve
    base = HardwareSpec()
    tau = base.r0_ohm * base.c_farad
    rows = []
    for gbw in STAGE_LAG_GBW_HZ:
        spec = base.replace(**{"opamp.gbw_hz": gbw})
        st = stage_time_constants(J, H, spec, a_max=a_max, lam=system.lam, tau=tau)
        sb = stage_time_constants(J, H, spec, a_max=a_max, lam=system.lam, tau=tau, y_gain=balanced)
        rows.append({"gbw_hz": gbw, "noise_gain_J_max": st["noise_gain_J_max"], "y_gain_balanced": balanced,
                     "noise_gain_J_balanced": sb["noise_gain_J_max"], "loop_lag_balanced_tau": sb["loop_lag_max_s"] / tau,
                     "loop_stable_balanced": sb.get("loop_stable"),
                     "integrator_stretch_median": st["integrator_tau_stretch_median"],
                     "integrator_stretch_max": st["integrator_tau_stretch_max"],
                     "J_stage_lag_tau": st["tc_J_stage_max_s"] / tau, "loop_lag_tau": st["loop_lag_max_s"] / tau,
                     "loop_stable": st.get("loop_stable"),
                     "worst_mode_rate_per_tau": (st["loop_rate_max_per_s"] * tau) if "loop_rate_max_per_s" in st
                     else None})
    return rows


def sizes_sentence(ps: dict) -> str:
    """The report's explicit statement of what ran, e.g. "paper-scale runs: N = 9985, 99985 …"."""
    if not ps or not ps.get("curves"):
        return "paper-scale runs: none (run without --paper-sizes or with --paper-sizes none)"
    ns = ps["sizes_run"]
    layers = ", ".join(f"({', '.join(str(v) for v in ps['layer_sizes'][str(n)])})" for n in ns)
    s = f"paper-scale runs: N = {', '.join(str(n) for n in ns)} (digits MLP sizes {layers}; b = {ps['batch']}, " \
        f"d_z = 10, r = b·d_z = 640)"
    tr = ps.get("training")
    if tr:
        s += (f"; TNGD training at N = {tr['n_params']} for {tr['n_iter']} iterations × {tr['seeds']} seed(s) with "
              f"the factored twin as the device")
    return s
