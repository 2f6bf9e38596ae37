"""The numba normal kernel (thermotwin.core.fast_normals) draws numpy's numbers: the oracle is numpy's
own ``Generator(PCG64).standard_normal``, compared bit for bit (the kernel must reproduce the stream
the netlists carry, not a stream of the same law)."""

from __future__ import annotations

import numpy as np
import pytest

from thermotwin.core import fast_normals
from thermotwin.core.noise import ChunkedNormals, noise_rng, zoh_normals


def test_kernel_is_in_use_here():
    """On this machine (numba installed, numpy's algorithm unchanged) the fast path is active."""
    assert fast_normals.kernel_available()


@pytest.mark.parametrize("seed", [0, 1, 7, 2**63 + 5])
def test_ten_million_normals_equal_numpys_in_any_split(seed):
    """2.5·10⁶ normals per seed (10⁷ in all): each of the 256 ziggurat layers is drawn ~10⁴ times, the
    wedge test ~1.7·10⁴ times and the tail (layer 0 beyond r) ~600 times per seed."""
    n = 2_500_000
    want = noise_rng(seed).standard_normal(n)
    got = np.empty(n)
    g = noise_rng(seed)
    cuts = [0, 1, 2, 1000, 77_777, 1_000_003, n]
    for a, b in zip(cuts[:-1], cuts[1:]):
        fast_normals.fill_standard_normal(g, got[a:b])
    # exact: the kernel must give numpy's bits (the netlists' PWL noise is these numbers)
    np.testing.assert_array_equal(got, want)
    ref = noise_rng(seed)
    ref.standard_normal(n)
    # the generator continues where numpy's would: the next draws (kernel or numpy) agree too
    assert g.bit_generator.state == ref.bit_generator.state
    # exact: as above
    np.testing.assert_array_equal(g.standard_normal(5), ref.standard_normal(5))


def test_other_bit_generators_and_bad_buffers():
    g1, g2 = np.random.Generator(np.random.Philox(3)), np.random.Generator(np.random.Philox(3))
    out = fast_normals.fill_standard_normal(g1, np.empty(100))
    # exact: not a PCG64, so numpy itself draws (the same call)
    np.testing.assert_array_equal(out, g2.standard_normal(100))
    with pytest.raises(ValueError, match="C-contiguous float64"):
        fast_normals.fill_standard_normal(g1, np.empty((10, 4))[:, 1])
    with pytest.raises(ValueError, match="C-contiguous float64"):
        fast_normals.fill_standard_normal(g1, np.empty(4, dtype=np.float32))


def test_chunked_normals_of_many_trajectories_equal_zoh_normals():
    """ChunkedNormals skips the earlier trajectories' draws with the kernel (in 2**20 pieces)."""
    n_steps, d, n_traj = 90_000, 13, 3                   # 1.17·10⁶ normals per trajectory: two pieces
    full = zoh_normals(5, n_steps, d, n_traj)
    cn = ChunkedNormals(5, n_steps, d, n_traj)
    parts = [cn.fill(np.empty((n_traj, k, d))).copy() for k in (1, 40_000, 49_999)]
    # exact: the same numbers, only split differently
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), full)
