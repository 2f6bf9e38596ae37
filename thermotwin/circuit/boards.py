"""Many boards at once: the realised drift of B board draws as one (B, d, d) stack.

:func:`draw_boards` gives, board by board, exactly what ``realised_matrix(design(problem,
spec.replace(board_seed=s), mapping), spec)`` gives (same seed streams, same order of draws, same
formulas), but vectorised: the nominal design is done once and only the static tolerance draw
(docs/nonideal.md#nonideal, docs/conventions.md#seeds) differs between boards. With stochastic rounding the programming
itself differs per board, so the boards are designed one by one and stacked.

Cost: O(B·d²) memory and time plus one SeedSequence and (d² + 6d) normals per board.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..core.problem import Problem
from .design import ComponentValues, Mapping, design, realised_batch, realised_matrix  # noqa: F401 (old name)
from .spec import HardwareSpec


@dataclass(frozen=True)
class BoardStack:
    """Realised boards, dV/dt = −M_k V + f_k + gain_k ⊙ u(t) for board k.

    Attributes:
        M: (U, d, d) drift matrices in 1/s; U = 1 when every board is identical (no tolerance and
            nearest rounding), else U = B.
        f: (U, d) constant forcing in V/s.
        noise_gain: (U, d) per-node factor on the nominal noise forcing.
        index: (B,) which of the U matrices board k uses.
        tau_s: nominal τ = C/g (s), the same for every board.
        b_scale: volts per problem unit (the same for every board).
        nonphysical: (B,) number of components whose Gaussian tolerance draw gave a value ≤ 0.
        messages: (B,) one-line notes (dropped entries, non-physical draws); "" when none.
    """

    M: np.ndarray
    f: np.ndarray
    noise_gain: np.ndarray
    index: np.ndarray
    tau_s: float
    b_scale: float
    nonphysical: np.ndarray
    messages: list

    @property
    def n_boards(self) -> int:
        return int(self.index.shape[0])

    @property
    def d(self) -> int:
        return int(self.M.shape[-1])

    @property
    def A_eff(self) -> np.ndarray:
        """(U, d, d) dimensionless realised matrices M·τ."""
        return self.M * self.tau_s

    def x_fixed_point(self) -> np.ndarray:
        """(U, d) fixed points in problem units, solve(M, f)/b_scale."""
        return np.linalg.solve(self.M, self.f[..., None])[..., 0] / self.b_scale


def tolerance_deviates(board_seed: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """The standard normals :func:`design` draws for one board: (d, d) entries and (6, d) rows
    (input, noise, inverter in, inverter feedback, capacitor, damping), in its order."""
    # SeedSequence(s).spawn(2)[0], as design() uses, without building the second child
    rng = np.random.default_rng(np.random.SeedSequence(board_seed, spawn_key=(0,)))
    z_entry = rng.standard_normal((d, d))
    z_rows = rng.standard_normal((6, d))
    return z_entry, z_rows


#: Elements of one (chunk, d, d) temporary in draw_boards.
_CHUNK_ELEMENTS = 2**16
_ROW_FIELDS = ("r_in", "r_noise", "r_inv_in", "r_inv_fb", "c", "r_damp")   # order of z_rows in design()


def draw_boards(problem: Problem, spec: HardwareSpec, board_seeds, mapping: Mapping = Mapping()) -> BoardStack:
    """Realise ``len(board_seeds)`` boards of ``spec`` (``spec.board_seed`` is replaced by each seed).

    Board k equals ``realised_matrix(design(problem, spec.replace(board_seed=board_seeds[k]),
    mapping), spec)`` to round-off (tested). Warnings from :func:`design` (dropped or clipped
    entries) are returned in ``messages`` instead of being emitted once per board.

    Raises:
        ValueError: the nominal design is not realisable (see :func:`design`).
    """
    seeds = [int(s) for s in board_seeds]
    B = len(seeds)
    if B == 0:
        raise ValueError("draw_boards needs at least one board seed")
    if mapping.rounding == "stochastic":
        return _draw_one_by_one(problem, spec, seeds, mapping)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        nom = design(problem, spec.replace(r_tolerance=0.0, c_tolerance=0.0, board_seed=0), mapping)
    note = "; ".join(str(w.message) for w in caught)
    d = problem.d
    rt, ct = spec.r_tolerance, spec.c_tolerance
    if not (rt or ct):
        real = realised_matrix(nom, spec)
        return BoardStack(M=real.M[None], f=real.f[None], noise_gain=real.noise_gain[None],
                          index=np.zeros(B, dtype=np.int64), tau_s=nom.nominal_tau_s, b_scale=nom.b_scale,
                          nonphysical=np.zeros(B, dtype=np.int64), messages=[note] * B)
    M = np.empty((B, d, d))
    f = np.empty((B, d))
    gain = np.empty((B, d))
    bad = np.zeros(B, dtype=np.int64)
    present = np.isfinite(nom.r_entry)
    damped = bool(np.isfinite(nom.r_damp).any())
    chunk = max(1, _CHUNK_ELEMENTS // (d * d))          # keep the temporaries in cache
    for lo in range(0, B, chunk):
        ks = range(lo, min(B, lo + chunk))
        n = len(ks)
        z_entry = np.empty((n, d, d))
        z_rows = np.empty((6, n, d))
        for r, k in enumerate(ks):
            z_entry[r], z_rows[:, r] = tolerance_deviates(seeds[k], d)
        v = {"sign": nom.sign, "v_in": np.broadcast_to(nom.v_in, (n, d))}
        fac_entry = 1 + rt * z_entry
        v["r_entry"] = nom.r_entry * fac_entry
        bad_c = ((fac_entry <= 0) & present).sum(axis=(1, 2))
        for name, z in zip(_ROW_FIELDS, z_rows):
            fac = 1 + (ct if name == "c" else rt) * z
            v[name] = getattr(nom, name) * fac
            if name != "r_damp" or damped:
                bad_c += (fac <= 0).sum(axis=1)
        M[lo:lo + n], f[lo:lo + n], gain[lo:lo + n] = realised_batch(v, spec)
        bad[lo:lo + n] = bad_c
    messages = []
    for k in range(B):
        parts = [note] if note else []
        if bad[k]:
            parts.append(f"{int(bad[k])} components drawn ≤ 0 by the Gaussian tolerance model")
        messages.append("; ".join(parts))
    return BoardStack(M=M, f=f, noise_gain=gain, index=np.arange(B, dtype=np.int64), tau_s=nom.nominal_tau_s,
                      b_scale=nom.b_scale, nonphysical=np.asarray(bad, dtype=np.int64), messages=messages)


def _draw_one_by_one(problem: Problem, spec: HardwareSpec, seeds: list[int], mapping: Mapping) -> BoardStack:
    Ms, fs, gains, msgs = [], [], [], []
    values: ComponentValues | None = None
    for s in seeds:
        spec_k = spec.replace(board_seed=s)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            values = design(problem, spec_k, mapping)
        real = realised_matrix(values, spec_k)
        Ms.append(real.M)
        fs.append(real.f)
        gains.append(real.noise_gain)
        msgs.append("; ".join(str(w.message) for w in caught))
    B = len(seeds)
    return BoardStack(M=np.stack(Ms), f=np.stack(fs), noise_gain=np.stack(gains), index=np.arange(B, dtype=np.int64),
                      tau_s=values.nominal_tau_s, b_scale=values.b_scale, nonphysical=np.zeros(B, dtype=np.int64),
                      messages=msgs)
