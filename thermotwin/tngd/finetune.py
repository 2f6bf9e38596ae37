"""An offline stand-in for the paper's fine-tuning experiment (Sec. 5.2, Fig. 5: DistilBERT with
LoRA on SQuAD, which needs downloads and a GPU we do not have).

The stand-in, plainly not the paper's task: the small digits CNN (:class:`.model.CNNArch`) is
pre-trained with Adam on the digits 0–4; its weights are then frozen and low-rank adapters
(LoRA, rank r) on its output layer, W₂ → W₂ + B·A with B = 0 at the start, are trained on the
digits 5–9 (same 10-way head). Adam, TNGD and TNGD-Adam (the TNGD estimate g̃ fed to Adam in
place of ∇ℓ) train the adapters from the same init and batches, b = 32, t = 0.1–0.4τ (the
paper's range; warm-started device, Algorithm 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import CNNArch, Digits

BATCH = 32
RANK = 4


def split_classes(data: Digits, classes) -> Digits:
    """The samples of ``data`` whose label is in ``classes`` (labels unchanged)."""
    cls = np.asarray(sorted(classes))
    tr = np.isin(data.y_train, cls)
    te = np.isin(data.y_test, cls)
    return Digits(data.x_train[tr], data.y_train[tr], data.x_test[te], data.y_test[te])


@dataclass(frozen=True, eq=False)
class LoRAArch:
    """Adapters W₂ + B·A on a frozen CNN (``base_theta``, torch float64); θ = [A (r × 9C), B (d × r)]."""

    base_theta: object
    arch: CNNArch = CNNArch()
    rank: int = RANK

    def init_model(self, seed: int = 0) -> "LoRA":
        from .model import CNN, require_torch

        torch = require_torch()
        rng = np.random.default_rng(seed)
        f = 9 * self.arch.channels
        a = rng.uniform(-1.0, 1.0, self.rank * f) / np.sqrt(f)
        theta = torch.tensor(np.concatenate([a, np.zeros(self.arch.d_out * self.rank)]), dtype=torch.float64)
        base = CNN(self.arch.channels, self.arch.d_out, self.base_theta)
        return LoRA(base, self.rank, theta)


@dataclass
class LoRA:
    base: object
    rank: int
    theta: object

    @property
    def sizes(self) -> tuple:
        return ("lora", self.rank, self.d_out)

    @property
    def d_out(self) -> int:
        return self.base.d_out

    @property
    def n_params(self) -> int:
        return int(self.theta.numel())

    def forward(self, theta, x):
        _, _, W2, c2 = self.base._split(self.base.theta)
        q, _ = self.base.features(self.base.theta, x)
        f = q.shape[1]
        A = theta[:self.rank * f].reshape(self.rank, f)
        B = theta[self.rank * f:].reshape(self.d_out, self.rank)
        return q @ (W2 + B @ A).T + c2


def pretrain(data: Digits, n_iter: int, seed: int = 0, lr: float = 1e-2, arch: CNNArch = CNNArch()):
    """Adam on the digits 0–4 (batch 32); returns the trained θ (torch) and its test accuracy on 0–4."""
    from .model import full_loss, require_torch

    torch = require_torch()
    src = split_classes(data, range(5))
    model = arch.init_model(seed)
    theta = model.theta.clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    rng = np.random.default_rng(seed)
    x, y = torch.tensor(src.x_train), torch.tensor(src.y_train)
    for _ in range(n_iter):
        idx = rng.choice(len(y), size=BATCH, replace=False)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model.forward(theta, x[idx]), y[idx]).backward()
        opt.step()
    _, acc = full_loss(model, theta.detach(), torch.tensor(src.x_test), torch.tensor(src.y_test))
    return theta.detach().clone(), acc


def finetune_configs(n_iter: int, seed: int, lrs=(3e-3, 1e-2, 1e-1), t_list=(0.1, 0.4), eta: float = 0.1,
                     eval_every: int = 10) -> list:
    """Adam at each lr, TNGD (η) and TNGD-Adam (each lr) at each t, warm device (labels without a
    suffix) and reset to ∇ℓ each iteration (labels ending in " reset"), one seed."""
    from .train import RunConfig

    base = RunConfig(n_iter=n_iter, batch=BATCH, lr=eta, lam=0.01, seed=seed, eval_every=eval_every)
    runs = [base.with_(method="adam", adam_lr=lr, label=f"Adam {lr:g}") for lr in lrs]
    for t in t_list:
        for start, suffix in (("warm", ""), ("grad", " reset")):
            runs.append(base.with_(method="tngd", t_tau=t, start=start, label=f"TNGD {t:g}τ η={eta:g}{suffix}"))
            runs += [base.with_(method="tngd_adam", t_tau=t, adam_lr=lr, start=start,
                                label=f"TNGD-Adam {t:g}τ {lr:g}{suffix}") for lr in lrs]
    return runs


def run_finetune(data: Digits, pre_iters: int, n_iter: int, seeds: int, progress=None, **kw) -> dict:
    """The Fig. 5 stand-in: pre-train once (seed 0), then every config of :func:`finetune_configs`
    for each seed. Returns a JSON-ready dict with runs (train histories) and the set-up."""
    from .train import train

    say = progress or (lambda msg: None)
    base_theta, pre_acc = pretrain(data, pre_iters)
    tgt = split_classes(data, range(5, 10))
    arch = LoRAArch(base_theta)
    runs = []
    for seed in range(seeds):
        for cfg in finetune_configs(n_iter, seed, **kw):
            runs.append(train(cfg, tgt, arch))
        say(f"fine-tuning stand-in: seed {seed + 1}/{seeds} done")
    return {"pretrain_iters": pre_iters, "pretrain_test_acc": pre_acc, "rank": arch.rank, "batch": BATCH,
            "n_params": runs[0]["n_params"], "n_iter": n_iter, "seeds": seeds, "runs": runs,
            "n_train": int(len(tgt.y_train))}
