"""Adam, exact NGD and TNGD on the digits MLP, with measured digital time and modelled analog time.

One iteration (batch b drawn from the seed's batch stream, the same sequence for every method):

* ``adam``: ∇ℓ by backprop, a torch Adam step (learning rate ``adam_lr``).
* ``ngd``:  ∇ℓ, J_f, H_L, U; the solve (GGN + λI) g̃ = ∇ℓ (``ngd_solver``: dense Cholesky, O(N³),
  or Woodbury, O(N (b·d_z)²) — the only exact NGD that fits at N ~ 10⁴–10⁵); θ ← θ − η g̃.
* ``tngd_adam``: the TNGD estimate g̃ handed to Adam in place of ∇ℓ (learning rate ``adam_lr``;
  our reading of the paper's TNGD-Adam, Sec. 5.2 — paraphrase).
* ``tngd``: ∇ℓ, J_f, H_L on the digital side; g̃ = the device state after t = ``t_tau``·τ0 on
  (GGN + λI, ∇ℓ); θ ← θ − η g̃. Start state (``start``):
  ``"grad"`` — V0 = ∇ℓ (docs/timing.md#update: t = 0 is SGD, t → ∞ is NGD);
  ``"warm"`` — V0 = the device's state when it is reprogrammed (the previous estimate, possibly
  evolved further during the delay; Algorithm 1 warm-starts).

Read-out averaging (``readout_samples`` = n_s > 1; the paper averages read-out samples, Sec. 4 —
paraphrase): g̃ is the mean of n_s device states taken at equal spacing over the second half of the
run, at t/2 … t (our reading); the device continues from its state at t.

Delay t_d (our reading of TNGD Fig. 4b, "delay" between the digital and the analog clocks): the
device is never stopped. While the digital side computes ∇ℓ_k, J_f, H_L at θ_k, the device keeps
running on the *previous* system (GGN_{k−1} + λI, ∇ℓ_{k−1}) for t_d; it is then reprogrammed with
the new system without resetting its state and read out after t more. With t_d = 0 and ``warm``
this is plain warm starting; the delay adds t_d of relaxation towards the previous natural gradient,
a momentum-like carry-over. t_d overlaps the digital work, so it adds no wall time while
t_d ≤ the digital time (it is ≤ 1 µs here, against milliseconds of autodiff).

Wall time per iteration (Fig. 3 style): digital part measured here (time.perf_counter around the
autodiff, and the solve for NGD); for TNGD plus the modelled transfer (DAC + resistor programming
+ ADC, :mod:`thermotwin.timing`) and analog time t·τ0. The simulation of the device itself is not
counted: it stands for the analog hardware.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np

METHODS = ("adam", "ngd", "tngd", "tngd_adam")


@dataclass(frozen=True)
class RunConfig:
    """One training run.

    Attributes:
        method: ``adam``, ``ngd`` or ``tngd``.
        n_iter: iterations. batch: b. lr: η for NGD/TNGD. adam_lr: Adam's step.
        lam: damping λ. t_tau: analog time per iteration in τ0. delay_tau: t_d in τ0.
        kappa0: device noise (problem units²; TNGD Eq. 15). start: ``grad`` or ``warm``.
        readout_samples: states averaged into g̃ (module docstring).
        seed: model init, batch order and device noise (separate SeedSequence streams).
        eval_every: full-train-set loss every this many iterations.
        label: legend text.
        ngd_solver: exact NGD's solve, ``dense`` (Cholesky of the N×N matrix) or ``woodbury``.
    """

    method: str = "tngd"
    n_iter: int = 200
    batch: int = 64
    lr: float = 0.01
    adam_lr: float = 1e-3
    lam: float = 0.01
    t_tau: float = 5.0
    delay_tau: float = 0.0
    kappa0: float = 0.0
    start: str = "grad"
    seed: int = 0
    eval_every: int = 10
    label: str = ""
    ngd_solver: str = "dense"
    readout_samples: int = 1

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method {self.method!r}: use one of {', '.join(METHODS)}")
        if self.ngd_solver not in ("dense", "woodbury"):
            raise ValueError(f"ngd_solver {self.ngd_solver!r}: use 'dense' or 'woodbury'")
        if self.start not in ("grad", "warm"):
            raise ValueError(f"start {self.start!r}: use 'grad' or 'warm'")
        for name in ("lr", "adam_lr", "lam"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")
        for name in ("t_tau", "delay_tau", "kappa0"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be ≥ 0")
        if not (isinstance(self.readout_samples, int) and self.readout_samples >= 1):
            raise ValueError("readout_samples must be an integer ≥ 1")
        if self.delay_tau > 0 and self.start != "warm":
            raise ValueError("a delay keeps the device running across iterations: use start='warm'")

    def with_(self, **kw) -> "RunConfig":
        return dataclasses.replace(self, **kw)


def train(cfg: RunConfig, data, sizes=(64, 8, 10), device=None, timing=None, on_system=None) -> dict:
    """Run one configuration; returns a JSON-ready history.

    Args:
        cfg: the run. data: :class:`.model.Digits`. sizes: MLP layer widths, or an architecture
            with ``init_model(seed)`` (:func:`.model.make_model`).
        device: TNGD device (default :class:`.device.KrylovTwin` with ``cfg.kappa0``: the ideal
            board, exact OU by Lanczos; noise samples to 1e-6 relative).
        timing: :class:`thermotwin.timing.TimingModel` for the modelled terms (default: paper's).
        on_system: optional ``callback(k, CurvatureSystem)`` before NGD/TNGD step k (0-based).

    Returns:
        dict with ``iter`` (n,), ``loss`` (batch loss per iteration), ``eval_iter``,
        ``train_loss`` / ``test_acc`` at those iterations, ``digital_s`` (n,) measured,
        ``modelled_s`` (n,) per-iteration wall time, ``ng_rel_error`` (TNGD: ‖g̃ − g_NGD‖/‖g_NGD‖ at
        the eval iterations), ``n_params``, ``diverged``.
    """
    from ..timing import TimingModel
    from .device import KrylovTwin
    from .model import full_loss, make_model, require_torch

    torch = require_torch()
    timing = timing or TimingModel()
    init_ss, batch_ss, noise_ss = np.random.SeedSequence(cfg.seed).spawn(3)
    model = make_model(sizes, seed=int(init_ss.generate_state(1)[0]))
    batch_rng = np.random.default_rng(batch_ss)
    noise_rng = np.random.default_rng(noise_ss)
    if device is None and cfg.method in ("tngd", "tngd_adam"):
        device = KrylovTwin(kappa0=cfg.kappa0, noise_tol=1e-6)
    xtr, ytr, xte, yte = (torch.tensor(a) for a in (data.x_train, data.y_train, data.x_test, data.y_test))
    theta = model.theta.clone()
    opt = None
    if cfg.method in ("adam", "tngd_adam"):
        theta.requires_grad_(True)
        opt = torch.optim.Adam([theta], lr=cfg.adam_lr)
    transfer = timing.breakdown(model.n_params, cfg.batch, model.d_out, cfg.t_tau)
    hist = _new_history(cfg, model.n_params, transfer)
    loop = {"state": None, "prev_system": None, "device": device, "noise_rng": noise_rng,
            "analog_plus_transfer": transfer["transfer_s"] + transfer["analog_s"], "on_system": on_system}

    def evaluate(k):
        tl, _ = full_loss(model, theta.detach(), xtr, ytr)
        _, acc = full_loss(model, theta.detach(), xte, yte)
        hist["eval_iter"].append(k)
        hist["train_loss"].append(tl)
        hist["test_acc"].append(acc)

    evaluate(0)
    for k in range(cfg.n_iter):
        idx = batch_rng.choice(len(data.y_train), size=cfg.batch, replace=False)
        xb, yb = xtr[idx], ytr[idx]
        if cfg.method == "adam":
            loss, digital = _adam_step(model, theta, opt, xb, yb, torch)
            modelled = digital
        else:
            step, loss, digital, modelled = _second_order_step(k, cfg, model, theta, xb, yb, loop, hist)
            if cfg.method == "tngd_adam":          # g̃ handed to Adam in place of ∇ℓ (in place on theta)
                theta.grad = torch.from_numpy(np.ascontiguousarray(step))
                opt.step()
            else:
                theta = theta - cfg.lr * torch.from_numpy(np.ascontiguousarray(step))
        for key, v in (("iter", k + 1), ("loss", loss), ("digital_s", digital), ("modelled_s", modelled)):
            hist[key].append(v)
        if not math.isfinite(loss) or not torch.all(torch.isfinite(theta)):
            hist["diverged"] = True
            break
        if (k + 1) % cfg.eval_every == 0 or k + 1 == cfg.n_iter:
            evaluate(k + 1)
    hist["final_train_loss"] = hist["train_loss"][-1]
    hist["eval_modelled_s"] = [float(np.sum(hist["modelled_s"][:k])) for k in hist["eval_iter"]]
    hist["final_test_acc"] = hist["test_acc"][-1]
    hist["median_digital_s"] = float(np.median(hist["digital_s"]))
    hist["median_modelled_s"] = float(np.median(hist["modelled_s"]))
    return hist


def _new_history(cfg: RunConfig, n: int, transfer: dict) -> dict:
    return {"label": cfg.label or cfg.method, "config": dataclasses.asdict(cfg), "n_params": n,
            "iter": [], "loss": [], "digital_s": [], "modelled_s": [], "eval_iter": [], "train_loss": [],
            "test_acc": [], "ng_rel_error": [], "diverged": False,
            "transfer_s": transfer["transfer_s"], "analog_s": transfer["analog_s"]}


def _adam_step(model, theta, opt, xb, yb, torch) -> tuple[float, float]:
    """One Adam step in place; (batch loss, measured seconds)."""
    t0 = time.perf_counter()
    opt.zero_grad()
    loss_t = torch.nn.functional.cross_entropy(model.forward(theta, xb), yb)
    loss_t.backward()
    opt.step()
    digital = time.perf_counter() - t0
    return float(loss_t.detach()), digital


def _second_order_step(k: int, cfg: RunConfig, model, theta, xb, yb, loop: dict, hist: dict):
    """NGD or TNGD direction of iteration k: (step, batch loss, measured digital s, modelled s)."""
    from .device import CurvatureSystem
    from .model import curvature_batch

    t0 = time.perf_counter()
    cb = curvature_batch(model, theta, xb, yb)
    digital = time.perf_counter() - t0                 # TNGD's digital part: ∇ℓ, J_f, H_L
    t1 = time.perf_counter()
    U = cb.factor()
    factor_s = time.perf_counter() - t1                # NGD needs U (or JᵀHJ); TNGD's device does not
    system = CurvatureSystem.from_batch(cb, cfg.lam, U=U)   # U, and J_f/H_L for the three-array board
    if loop["on_system"] is not None:
        loop["on_system"](k, system)
    if cfg.method == "ngd":
        step, solve_s = _ngd_direction(system, cb, cfg)
        digital += factor_s + solve_s
        return step, cb.loss, digital, digital
    device, rng = loop["device"], loop["noise_rng"]
    if cfg.delay_tau > 0 and loop["prev_system"] is not None and loop["state"] is not None:
        loop["state"] = device.run(loop["prev_system"], loop["state"], cfg.delay_tau, rng)
    x0 = cb.grad if (cfg.start == "grad" or loop["state"] is None) else loop["state"]
    step, loop["state"] = _read_out(device, system, x0, cfg.t_tau, cfg.readout_samples, rng)
    loop["prev_system"] = system
    if (k + 1) % cfg.eval_every == 0:
        ng = system.solve()
        hist["ng_rel_error"].append(float(np.linalg.norm(step - ng) / np.linalg.norm(ng)))
    return step, cb.loss, digital, digital + loop["analog_plus_transfer"]


def _ngd_direction(system, cb, cfg: RunConfig):
    """The exact natural-gradient step by Woodbury or a dense Cholesky solve; (step, seconds)."""
    import scipy.linalg

    t1 = time.perf_counter()
    if cfg.ngd_solver == "woodbury":
        step = system.solve()
    else:
        A = system.dense()
        step = scipy.linalg.cho_solve(scipy.linalg.cho_factor(A, lower=True, check_finite=False),
                                      cb.grad, check_finite=False)
    return step, time.perf_counter() - t1


def _read_out(device, system, x0, t_tau: float, n_samples: int, rng):
    """(g̃, device state at t): one read-out at t, or the mean of ``n_samples`` states at equal
    spacing over [t/2, t] (module docstring)."""
    if n_samples == 1 or t_tau == 0:
        state = device.run(system, x0, t_tau, rng)
        return state, state
    state = device.run(system, x0, 0.5 * t_tau, rng)
    acc = state.copy()
    dt = 0.5 * t_tau / (n_samples - 1)
    for _ in range(n_samples - 1):
        state = device.run(system, state, dt, rng)
        acc += state
    return acc / n_samples, state
