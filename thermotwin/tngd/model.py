"""A real model and its curvature: an MLP on scikit-learn's digits and the factored GGN.

Data: the UCI optical digits as shipped inside scikit-learn (``load_digits``: 1797 images of 8×8
pixels, values 0–16, 10 classes; no download). Pixels are scaled to [0, 1].

Model: f(θ, x) = W₂ tanh(W₁ x + c₁) + c₂ ∈ R^{d_z} (one hidden layer of width h, or more), the
loss ℓ(θ) = (1/b) Σ_i CE(softmax f(θ, x_i), y_i).

GGN (Schraudolph 2002; TNGD Sec. 2): G = (1/b) Σ_i J_iᵀ H_i J_i with J_i = ∂f(θ, x_i)/∂θ
(d_z × N, per-sample output Jacobian) and H_i = diag(p_i) − p_i p_iᵀ the Hessian of the softmax
cross-entropy in the logits. H_i = R_iᵀR_i with R_i = diag(√p_i) − √p_i p_iᵀ (exact, because
Σ p = 1), so G = UᵀU with U = [R_i J_i / √b]_i of shape (b·d_z, N): the factored form the
scaled-up Appendix C circuit programs (three arrays J_f, H_L, J_fᵀ).

torch and scikit-learn are imported inside functions (``import thermotwin`` loads neither).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

EXTRA_HINT = "pip install 'thermotwin[timing]' (torch==2.13.0 CPU wheel and scikit-learn)"


def require_torch():
    """Import torch or say how to install it (an :class:`InputError`, one line in the CLI)."""
    try:
        import torch
    except ModuleNotFoundError as exc:      # pragma: no cover - exercised only without torch
        raise InputError(f"this command trains a real model and needs torch: {EXTRA_HINT}") from exc
    return torch


@dataclass(frozen=True)
class Digits:
    """The digits data set, split once by a seeded permutation (float64, pixels in [0, 1])."""

    x_train: np.ndarray   # (n_train, 64)
    y_train: np.ndarray   # (n_train,) int64
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int = 10


def load_digits_data(seed: int = 0, test_fraction: float = 0.2) -> Digits:
    """scikit-learn's digits, shuffled by ``seed`` and split into train/test."""
    try:
        from sklearn.datasets import load_digits
    except ModuleNotFoundError as exc:      # pragma: no cover
        raise InputError(f"the digits data set ships with scikit-learn: {EXTRA_HINT}") from exc
    data = load_digits()
    x = np.asarray(data.data, dtype=float) / 16.0
    y = np.asarray(data.target, dtype=np.int64)
    perm = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    te, tr = perm[:n_test], perm[n_test:]
    return Digits(x[tr], y[tr], x[te], y[te])


def hidden_for_params(n_params: int, d_in: int = 64, d_out: int = 10) -> int:
    """Width h of a one-hidden-layer MLP with about ``n_params`` = h(d_in + 1) + d_out(h + 1)."""
    return max(1, int(round((n_params - d_out) / (d_in + 1 + d_out))))


@dataclass
class MLP:
    """A tanh MLP held as one flat float64 parameter vector (torch tensor) and its layer shapes.

    Attributes:
        sizes: layer widths, e.g. (64, 16, 10).
        theta: flat parameters, torch float64, shape (N,).
    """

    sizes: tuple[int, ...]
    theta: object
    _shapes: list = field(default_factory=list, repr=False)

    @classmethod
    def init(cls, sizes, seed: int = 0) -> "MLP":
        """Glorot-uniform weights, zero biases, from a seeded generator."""
        torch = require_torch()
        rng = np.random.default_rng(seed)
        parts = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            lim = math.sqrt(6.0 / (a + b))
            parts.append(rng.uniform(-lim, lim, size=(b, a)).ravel())
            parts.append(np.zeros(b))
        theta = torch.tensor(np.concatenate(parts), dtype=torch.float64)
        return cls(tuple(int(s) for s in sizes), theta)

    @property
    def n_params(self) -> int:
        return int(self.theta.numel())

    @property
    def d_out(self) -> int:
        return self.sizes[-1]

    def forward(self, theta, x):
        """Logits f(θ, x): x (..., d_in) torch → (..., d_out). Pure in θ (for torch.func)."""
        torch = require_torch()
        h = x
        off = 0
        n_layers = len(self.sizes) - 1
        for k, (a, b) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            W = theta[off:off + a * b].reshape(b, a)
            off += a * b
            c = theta[off:off + b]
            off += b
            h = h @ W.T + c
            if k < n_layers - 1:
                h = torch.tanh(h)
        return h


@dataclass(frozen=True)
class CNNArch:
    """A small CNN on the 8×8 digits (our stand-in for the paper's MNIST CNN, whose layout we do not
    copy): conv 3×3 (valid, ``channels`` maps) → tanh → 2×2 average pool → linear to ``d_out``.
    N = 10·channels + (9·channels + 1)·d_out (810 at 8 channels)."""

    channels: int = 8
    d_out: int = 10

    def init_model(self, seed: int = 0) -> "CNN":
        return CNN.init(self.channels, self.d_out, seed)


@dataclass
class CNN:
    """The :class:`CNNArch` network as one flat float64 parameter vector θ = [K (C×9), c₁ (C),
    W₂ (d_out × 9C), c₂ (d_out)]; features flattened channel-major (torch's NCHW order)."""

    channels: int
    d_out: int
    theta: object

    @classmethod
    def init(cls, channels: int, d_out: int = 10, seed: int = 0) -> "CNN":
        torch = require_torch()
        rng = np.random.default_rng(seed)
        lim_k = math.sqrt(6.0 / (9 + 9 * channels))
        lim_w = math.sqrt(6.0 / (9 * channels + d_out))
        parts = [rng.uniform(-lim_k, lim_k, 9 * channels), np.zeros(channels),
                 rng.uniform(-lim_w, lim_w, d_out * 9 * channels), np.zeros(d_out)]
        return cls(int(channels), int(d_out), torch.tensor(np.concatenate(parts), dtype=torch.float64))

    @property
    def sizes(self) -> tuple:
        return ("cnn", self.channels, self.d_out)

    @property
    def n_params(self) -> int:
        return int(self.theta.numel())

    def _split(self, theta):
        C, d = self.channels, self.d_out
        K = theta[:9 * C].reshape(C, 9)
        c1 = theta[9 * C:10 * C]
        W2 = theta[10 * C:10 * C + d * 9 * C].reshape(d, 9 * C)
        return K, c1, W2, theta[10 * C + d * 9 * C:]

    def features(self, theta, x):
        """Pooled features q (b, 9C) and the conv activations a (b, C, 6, 6)."""
        torch = require_torch()
        K, c1, _, _ = self._split(theta)
        a = torch.tanh(torch.nn.functional.conv2d(x.reshape(-1, 1, 8, 8), K.reshape(-1, 1, 3, 3), c1))
        return torch.nn.functional.avg_pool2d(a, 2).flatten(1), a

    def forward(self, theta, x):
        _, _, W2, c2 = self._split(theta)
        q, _ = self.features(theta, x)
        return q @ W2.T + c2

    def manual_jacobian(self, theta, x) -> np.ndarray:
        """Per-sample output Jacobians in closed form, (b, d_out, N). Cost O(b·d_out·N).

        pre = K·patch + c₁, a = tanh(pre), q = avgpool₂(a), f = W₂q + c₂: ∂f_k/∂K[c, j] =
        Σ_pos W₂[k, c, m(pos)]/4 · (1 − a²)[c, pos] · patch[pos, j], ∂f_k/∂c₁[c] the same without the
        patch, ∂f_k/∂W₂[k', :] = δ_kk' q, ∂f_k/∂c₂[k'] = δ_kk'."""
        torch = require_torch()
        C, d = self.channels, self.d_out
        th = theta.detach()
        with torch.no_grad():
            q, a = self.features(th, x)
            patches = torch.nn.functional.unfold(x.reshape(-1, 1, 8, 8), 3)     # (b, 9, 36)
        q, a, P = q.numpy(), a.numpy().reshape(-1, C, 36), patches.numpy()
        b = q.shape[0]
        W2 = self._split(th)[2].numpy().reshape(d, C, 3, 3)
        W2p = np.repeat(np.repeat(W2, 2, axis=2), 2, axis=3).reshape(d, C, 36) / 4.0
        D = W2p[None] * (1.0 - a * a)[:, None]                                   # (b, d, C, 36)
        J = np.zeros((b, d, self.n_params))
        J[:, :, :9 * C] = np.einsum("bkcp,bjp->bkcj", D, P).reshape(b, d, 9 * C)
        J[:, :, 9 * C:10 * C] = D.sum(axis=3)
        k = np.arange(d)
        off = 10 * C
        Jw = J[:, :, off:off + d * 9 * C].reshape(b, d, d, 9 * C)
        Jw[:, k, k, :] = q[:, None, :]
        J[:, k, off + d * 9 * C + k] = 1.0
        return J


def make_model(arch, seed: int = 0):
    """A model from its architecture: a tuple of layer widths (tanh MLP) or an object with
    ``init_model(seed)`` (:class:`CNNArch`, :class:`thermotwin.tngd.finetune.LoRAArch`)."""
    if hasattr(arch, "init_model"):
        return arch.init_model(seed)
    return MLP.init(arch, seed=seed)


def loss_and_grad(model: MLP, theta, x, y):
    """Mean cross-entropy ℓ and ∇ℓ (torch float64, shape (N,)). Cost: one forward + backward."""
    torch = require_torch()
    th = theta.detach().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(model.forward(th, x), y)
    (g,) = torch.autograd.grad(loss, th)
    return float(loss.detach()), g.detach()


def full_loss(model: MLP, theta, x, y) -> tuple[float, float]:
    """Mean cross-entropy and accuracy on a whole set (no gradient)."""
    torch = require_torch()
    with torch.no_grad():
        logits = model.forward(theta, x)
        loss = float(torch.nn.functional.cross_entropy(logits, y))
        acc = float((logits.argmax(dim=1) == y).double().mean())
    return loss, acc


@dataclass(frozen=True)
class CurvatureBatch:
    """One minibatch's loss, gradient and factored GGN (numpy float64).

    Attributes:
        loss: mean cross-entropy of the batch.
        grad: ∇ℓ, shape (N,).
        J: per-sample output Jacobians, shape (b, d_z, N).
        probs: softmax outputs p_i, shape (b, d_z).
    """

    loss: float
    grad: np.ndarray
    J: np.ndarray
    probs: np.ndarray

    @property
    def b(self) -> int:
        return self.J.shape[0]

    @property
    def d_z(self) -> int:
        return self.J.shape[1]

    @property
    def n_params(self) -> int:
        return self.J.shape[2]

    def H_blocks(self) -> np.ndarray:
        """H_i = diag(p_i) − p_i p_iᵀ, shape (b, d_z, d_z) (without the 1/b)."""
        p = self.probs
        return np.einsum("ij,jk->ijk", p, np.eye(p.shape[1])) - p[:, :, None] * p[:, None, :]

    def circuit_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The three-array board's J = J_f (b·d_z × N, a reshape of ``J``, no copy) and
        H = blockdiag(H_i)/b, so GGN = JᵀHJ. Memory O((b·d_z)²) for H."""
        b, d_z, n = self.J.shape
        H = np.zeros((b * d_z, b * d_z))
        for i, blk in enumerate(self.H_blocks() / b):
            H[i * d_z:(i + 1) * d_z, i * d_z:(i + 1) * d_z] = blk
        return self.J.reshape(b * d_z, n), H

    def factor(self) -> np.ndarray:
        """U (b·d_z, N) with GGN = UᵀU: U_i = R_i J_i / √b, R_i = diag(√p_i) − √p_i p_iᵀ. Cost O(b d_z² N)."""
        p = self.probs
        sp = np.sqrt(p)
        R = np.einsum("ij,jk->ijk", sp, np.eye(p.shape[1])) - sp[:, :, None] * p[:, None, :]
        U = np.matmul(R, self.J)                      # batched GEMM (b × d_z×d_z · d_z×N)
        U /= math.sqrt(self.b)
        return U.reshape(self.b * self.d_z, self.n_params)

    def ggn_dense(self) -> np.ndarray:
        """G = (1/b) Σ J_iᵀ H_i J_i, shape (N, N), as the plain sum (the oracle for :meth:`factor`)."""
        H = self.H_blocks()
        return np.einsum("ijn,ijk,ikm->nm", self.J, H, self.J, optimize=True) / self.b


def jacobian_autodiff(model, theta, x) -> np.ndarray:
    """Per-sample output Jacobians by torch.func ``vmap(jacrev)``: (b, d_z, N). Any depth."""
    require_torch()
    from torch.func import jacrev, vmap

    def f_single(th, xi):
        return model.forward(th, xi[None, :])[0]

    return vmap(jacrev(f_single), in_dims=(None, 0))(theta, x).detach().numpy()


def jacobian_manual(model: MLP, theta, x) -> np.ndarray:
    """Per-sample output Jacobians of a one-hidden-layer tanh MLP in closed form: (b, d_z, N).

    f = W₂a + c₂, a = tanh(W₁x + c₁): ∂f_k/∂W₁[j, i] = W₂[k, j](1 − a_j²)x_i, ∂f_k/∂c₁[j] =
    W₂[k, j](1 − a_j²), ∂f_k/∂W₂[k', j] = δ_kk' a_j, ∂f_k/∂c₂[k'] = δ_kk'. Cost O(b·d_z·N) memory
    writes — what an efficient implementation of TNGD's digital step costs (vmap(jacrev) is ~10×
    slower on this CPU at these sizes).
    """
    if len(model.sizes) != 3:
        raise ValueError("jacobian_manual needs one hidden layer; use jacobian_autodiff")
    d_in, h, d_z = model.sizes
    th = theta.detach().numpy() if hasattr(theta, "detach") else np.asarray(theta)
    xs = x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)
    W1 = th[:d_in * h].reshape(h, d_in)
    c1 = th[d_in * h:d_in * h + h]
    W2 = th[d_in * h + h:d_in * h + h + d_z * h].reshape(d_z, h)
    b = xs.shape[0]
    a = np.tanh(xs @ W1.T + c1)                                   # (b, h)
    D = W2[None, :, :] * (1.0 - a * a)[:, None, :]                # (b, d_z, h)
    J = np.zeros((b, d_z, model.n_params))
    J[:, :, :d_in * h] = (D[:, :, :, None] * xs[:, None, None, :]).reshape(b, d_z, h * d_in)
    J[:, :, d_in * h:d_in * h + h] = D
    k = np.arange(d_z)
    off = d_in * h + h
    Jw2 = J[:, :, off:off + d_z * h].reshape(b, d_z, d_z, h)
    Jw2[:, k, k, :] = a[:, None, :]
    J[:, k, off + d_z * h + k] = 1.0
    return J


def curvature_batch(model: MLP, theta, x, y, jacobian: str = "auto") -> CurvatureBatch:
    """Loss, ∇ℓ, per-sample Jacobians and softmax outputs of a batch.

    ``jacobian``: ``"manual"`` (closed form, one hidden layer), ``"autodiff"`` (torch.func
    vmap(jacrev), any depth) or ``"auto"`` (manual when it applies). Cost: one backward for ∇ℓ
    plus O(b·d_z·N) for J.
    """
    torch = require_torch()
    if jacobian not in ("auto", "manual", "autodiff"):
        raise ValueError(f"jacobian = {jacobian!r}: use auto, manual or autodiff")
    if hasattr(model, "manual_jacobian") and jacobian != "autodiff":
        J = model.manual_jacobian(theta, x)
    elif jacobian == "manual" or (jacobian == "auto" and isinstance(model, MLP) and len(model.sizes) == 3):
        J = jacobian_manual(model, theta, x)
    else:
        J = jacobian_autodiff(model, theta, x)
    with torch.no_grad():
        probs = torch.softmax(model.forward(theta, x), dim=1)
    loss, g = loss_and_grad(model, theta, x, y)
    return CurvatureBatch(loss=loss, grad=g.numpy().astype(float), J=np.asarray(J, dtype=float),
                          probs=probs.numpy().astype(float))


def gauss_newton_vector_product(model: MLP, theta, x, v):
    """GGN·v by autodiff (J v, then the CE Hessian in the logits, then Jᵀ·): the oracle for tests.

    (1/b) Σ J_iᵀ H_i (J_i v) with H_i = ∂²CE/∂f² taken by autograd (double backward), not by the
    closed form. Uses ``torch.autograd.functional`` (reverse mode only: torch.func's forward mode
    loads deprecated torch.jit decompositions and warns).
    """
    torch = require_torch()
    from torch.autograd.functional import hessian, jvp, vjp

    def f_all(th):
        return model.forward(th, x)

    logits, Jv = jvp(f_all, theta, v)
    z = logits.detach()
    tp = torch.softmax(z, dim=1)          # any target distribution gives the same Hessian in z

    def ce_of_logits(zi, pi):
        return -(pi * torch.log_softmax(zi, dim=0)).sum()

    Hs = torch.stack([hessian(lambda zi: ce_of_logits(zi, tp[i]), z[i]) for i in range(x.shape[0])])
    HJv = torch.einsum("ijk,ik->ij", Hs, Jv) / x.shape[0]
    _, out = vjp(f_all, theta, HJv)
    return out
