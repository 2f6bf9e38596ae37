"""Noise streams shared by the twin and the SPICE netlists (docs/conventions.md#seeds, docs/backends.md#backends).

The dynamic noise of a run comes from ``np.random.default_rng(SeedSequence(seed))``; component
tolerances come from ``spec.board_seed`` in :mod:`thermotwin.circuit.design`, a separate stream,
so changing the time step never reshuffles the board.

Zero-order-hold (ZOH) noise: over step k of length h the forcing on every node is constant,
u_k = sqrt(q/h)·z_k with z_k ~ N(0, I) and q = 2κ0/τ (V²/s), so ∫u dt over a step has the
variance q·h of white noise of intensity q. The netlist turns the same z_k into PWL voltages.
"""

from __future__ import annotations

import numpy as np

from .fast_normals import fill_standard_normal

NOISE_KINDS = ("pwl", "white", "trnoise", "trrandom", "none")
#: Bytes of normals drawn per chunk by :func:`noise_chunks`.
NOISE_CHUNK_BYTES = 128 * 2**20

__all__ = ["NOISE_KINDS", "noise_rng", "zoh_normals", "ChunkedNormals", "noise_chunks"]


def noise_rng(seed: int) -> np.random.Generator:
    """The dynamic-noise generator of a run."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed {seed!r} must be an integer ≥ 0")
    return np.random.default_rng(np.random.SeedSequence(int(seed)))


def zoh_normals(seed: int, n_steps: int, d: int, n_traj: int = 1) -> np.ndarray:
    """Standard normals z, shape (n_traj, n_steps, d): trajectory 0 is what the netlist uses."""
    return noise_rng(seed).standard_normal((n_traj, n_steps, d))


class ChunkedNormals:
    """Draws the same numbers as :func:`zoh_normals` chunk by chunk along the time axis.

    Generator draws are sequential in C order, so chunks of a (n_steps, d) array per trajectory
    are drawn trajectory-major; to keep memory bounded for many trajectories we draw each
    trajectory's rows in order and keep one generator state per trajectory, jumped ahead by
    the number of values the earlier trajectories used.
    """

    def __init__(self, seed: int, n_steps: int, d: int, n_traj: int = 1):
        self.d, self.n_steps = d, n_steps
        base = noise_rng(seed)
        self.gens = []
        for i in range(n_traj):
            g = np.random.Generator(type(base.bit_generator)())
            g.bit_generator.state = base.bit_generator.state
            self.gens.append(g)
            if i + 1 < n_traj:                    # advance past trajectory i, 2**20 normals at a time
                scratch = np.empty(min(n_steps * d, 2**20))
                for s in range(0, n_steps * d, scratch.size):
                    fill_standard_normal(base, scratch[:min(scratch.size, n_steps * d - s)])
        self.pos = 0

    def fill(self, out: np.ndarray) -> np.ndarray:
        """Draw the next out.shape[1] rows of every trajectory into ``out`` (n_traj, k, d), C-contiguous."""
        k = out.shape[1]
        if out.shape != (len(self.gens), k, self.d) or not out.flags.c_contiguous or self.pos + k > self.n_steps:
            raise ValueError(f"fill: out {out.shape} must be C-contiguous ({len(self.gens)}, k, {self.d}) with "
                             f"k ≤ {self.n_steps - self.pos} rows left")
        self.pos += k
        for g, o in zip(self.gens, out):
            fill_standard_normal(g, o)            # g.standard_normal(out=o), drawn by a numba kernel
        return out

    def next(self, k: int) -> np.ndarray:
        """The next k rows for every trajectory, shape (n_traj, k, d)."""
        k = min(k, self.n_steps - self.pos)
        self.pos += k
        return np.stack([g.standard_normal((k, self.d)) for g in self.gens])


def noise_chunks(seed: int, n_steps: int, N: int, n_traj: int, traj: int, on: bool):
    """(rows, z) chunks of trajectory ``traj``'s normals, the same numbers as
    :func:`zoh_normals` (seed, n_steps, N, n_traj)[traj]."""
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
