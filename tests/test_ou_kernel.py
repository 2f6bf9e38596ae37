"""The exact OU twin's step recursion (numba kernel) reproduces the pre-kernel twin.

Two oracles (docs/conventions.md#oracles):

* stored runs: ``tests/data/ou_reference.npz`` holds the trajectories (every trajectory) that the
  numpy-per-step implementation of commit a4db896 produced for the cases below, before the
  recursion moved into a numba kernel; ``python tests/test_ou_kernel.py --write`` regenerates it
  (only do that for a deliberate change of the numbers).
* a second implementation fed the same noise: :func:`numpy_recursion_reference` is that old
  recursion (one ``np.matmul`` per step), run here on the forcing the kernel sees.

Tolerance: both paths apply the same exact transition; they differ only in the order of the
floating-point sums of each matrix–vector product (BLAS blocking against the kernel's loop), an
O(d·ε) relative change per step that the contracting Φ does not amplify. 1e-12 of the path's
largest value leaves a factor ~100 of margin over the ~1e-14 observed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg

import thermotwin as tt
from thermotwin.solver import ou
from thermotwin.solver.config import SimConfig

DATA = Path(__file__).parent / "data" / "ou_reference.npz"
RTOL = 1e-12


def _nonsymmetric(d: int, seed: int) -> np.ndarray:
    """Stable, non-normal: 1.5 I + 0.45 G, checked."""
    A = 1.5 * np.eye(d) + 0.45 * np.random.default_rng(seed).standard_normal((d, d))
    assert np.linalg.eigvals(A).real.min() > 0.2
    return A


def _spd(d: int, seed: int) -> np.ndarray:
    G = np.random.default_rng(seed).standard_normal((d, 2 * d))
    return G @ G.T / (2 * d) + 0.2 * np.eye(d)


def cases() -> dict:
    """name → (problem, spec, config). Every path of run_twin that uses the exact recursion."""
    ns5 = tt.Problem(_nonsymmetric(5, 20240501), np.array([1.0, -0.5, 0.3, 2.0, -1.2]), name="ns5")
    ns4 = tt.Problem(_nonsymmetric(4, 7), np.array([0.5, 1.0, -1.0, 0.2]), name="ns4")
    s6 = tt.Problem(_spd(6, 3), np.linspace(-1, 1, 6), name="s6")
    ideal = tt.HardwareSpec.ideal(kappa0_v2=1e-2)
    gbw = ideal.replace(**{"opamp.gbw_hz": 2e7})
    return {
        "white_ns5": (ns5, ideal, SimConfig(t_end="40tau", dt_out="0.25tau", noise="white", seed=3, n_traj=3)),
        "pwl_ns4": (ns4, ideal, SimConfig(t_end="30tau", dt_out="0.5tau", noise_step="0.05tau", noise="pwl",
                                          seed=4, n_traj=2)),
        "trrandom_ns5": (ns5, ideal, SimConfig(t_end="20tau", noise="trrandom", seed=5)),
        "pwl_s6_rhs": (s6, ideal, SimConfig(t_end="25tau", noise="pwl", seed=6, v0="rhs")),
        "none_ns4": (ns4, ideal, SimConfig(t_end="15tau", dt_out="0.1tau", noise="none")),
        "pwl_gbw_s6": (s6, gbw, SimConfig(t_end="10tau", dt_out="0.1tau", noise="pwl", seed=8, n_traj=2)),
        "white_gbw_ns4": (ns4, gbw, SimConfig(t_end="10tau", dt_out="0.2tau", noise="white", seed=9)),
    }


def _states(res: tt.SimResult) -> np.ndarray:
    return res.stats["states_all"] if "states_all" in res.stats else res.states[None]


def numpy_recursion_reference(phi_T, c, forcing, x0, out) -> None:
    """The pre-kernel recursion: out[:, n+1] = c + out[:, n] Φᵀ + forcing[:, n], one np.matmul per step."""
    out[:, 0] = x0
    prev = out[:, 0]
    for n in range(forcing.shape[1]):
        nxt = out[:, n + 1]
        np.matmul(prev, phi_T, out=nxt)
        nxt += c
        nxt += forcing[:, n]
        prev = nxt


@pytest.fixture(scope="module")
def stored():
    with np.load(DATA, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("name", list(cases()))
def test_twin_reproduces_the_stored_numpy_runs(name, stored):
    p, spec, cfg = cases()[name]
    res = tt.simulate(p, spec, cfg)
    got = _states(res)
    want = stored[f"{name}/states"]
    assert got.shape == want.shape
    scale = np.abs(want).max()
    np.testing.assert_allclose(got, want, rtol=0, atol=RTOL * scale)
    np.testing.assert_allclose(res.x_mean, stored[f"{name}/x_mean"], rtol=0, atol=RTOL * scale)
    if cfg.n_traj > 1:                          # the batch: trajectory 0 is the single run
        single = tt.simulate(p, spec, SimConfig(**{**_cfg_dict(cfg), "n_traj": 1}))
        np.testing.assert_allclose(single.states, want[0], rtol=0, atol=RTOL * scale)


def _cfg_dict(cfg: SimConfig) -> dict:
    return {f: getattr(cfg, f) for f in cfg.__slots__}


@pytest.mark.parametrize("n_traj", [1, 3])
@pytest.mark.parametrize("d", [1, 5, 17])
def test_kernel_equals_numpy_recursion_on_the_same_forcing(d, n_traj):
    """Non-normal Φ (not even a contraction in the 2-norm), random forcing, chunked state hand-over."""
    rng = np.random.default_rng(100 + d)
    # eigenvalues 0.5 … 2 on the diagonal, a large strictly upper part: stable and far from normal
    A = np.diag(np.linspace(0.5, 2.0, d)) + 3.0 * np.triu(rng.standard_normal((d, d)), 1)
    phi_T = np.ascontiguousarray(scipy.linalg.expm(-0.3 * A).T)
    if d > 1:
        assert np.linalg.norm(phi_T, 2) > 1.0
    c = rng.standard_normal(d)
    forcing = rng.standard_normal((n_traj, 250, d))
    x0 = rng.standard_normal((n_traj, d))
    want = np.empty((n_traj, 251, d))
    numpy_recursion_reference(phi_T, c, forcing, x0, want)
    got = np.empty_like(want)
    ou.linear_recursion(phi_T, c, forcing, x0, got)
    np.testing.assert_allclose(got, want, rtol=0, atol=RTOL * np.abs(want).max())


def test_fill_draws_the_netlist_stream_chunk_by_chunk():
    """ChunkedNormals.fill (the kernel wrapper's draw) gives bitwise the numbers zoh_normals gives."""
    from thermotwin.solver.noise import ChunkedNormals, zoh_normals

    full = zoh_normals(11, 37, 4, n_traj=3)
    cn = ChunkedNormals(11, 37, 4, n_traj=3)
    parts = [cn.fill(np.empty((3, k, 4))).copy() for k in (5, 1, 20, 11)]
    # exact: the same generator draws the same values; chunking only splits them (no arithmetic)
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), full)
    with pytest.raises(ValueError, match="rows left"):
        cn.fill(np.empty((3, 1, 4)))


def _linear_case(kind: str, n_traj: int):
    """A non-normal stable drift, a non-diagonal noise input, many output steps."""
    from thermotwin.core.config import resolve_grid

    d = 5
    M = _nonsymmetric(d, 31)
    B = np.eye(d) + 0.3 * np.tril(np.random.default_rng(32).standard_normal((d, d)), -1)
    p = tt.Problem(M, np.linspace(-1.0, 1.0, d), name="lin")
    extra = {"noise_step": "0.1tau"} if kind == "pwl" else {}
    cfg = SimConfig(t_end="300tau", dt_out="0.5tau", noise=kind, seed=21, n_traj=n_traj, **extra)
    grid = resolve_grid(p, cfg, 1.0)
    x0 = np.random.default_rng(33).standard_normal(d)
    return (lambda **kw: ou.simulate_linear(M, p.b, B, 0.3, x0, grid, cfg, **kw)), grid


@pytest.mark.parametrize("kind,n_traj", [("white", 1), ("white", 3), ("pwl", 2)])
def test_pipelined_and_chunked_runs_equal_the_one_chunk_run(kind, n_traj):
    """The background drawer (chunks of normals drawn ahead on a second thread) and any chunk size give
    the run of one chunk on one thread. Tolerance as above: the paths differ at most in how BLAS blocks
    the rows of the mixing GEMM, an O(d·ε) change per step that the contracting Φ does not amplify."""
    run, grid = _linear_case(kind, n_traj)
    whole = run(chunk_bytes=1 << 40, pipeline=False)             # one chunk: no hand-over at all
    chunk = 8 * n_traj * 64 * 2 * (5 * grid.steps_per_out if kind == "pwl" else 5)
    n_chunks = -(-grid.n_out // max(1, chunk // (8 * n_traj * grid.steps_per_out * 5 * 2)))
    assert n_chunks >= 8                                          # the pipeline really hands over chunks
    scale = np.abs(whole).max()
    for pipeline in (False, True):
        got = run(chunk_bytes=chunk, pipeline=pipeline)
        np.testing.assert_allclose(got, whole, rtol=0, atol=RTOL * scale)
    auto = run(chunk_bytes=chunk)                                 # the default picks one of the two
    np.testing.assert_allclose(auto, whole, rtol=0, atol=RTOL * scale)


def _drawers() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name == "thermotwin-normals"]


def test_pipeline_passes_a_drawing_error_on_and_stops_its_thread(monkeypatch):
    from thermotwin.core.noise import ChunkedNormals

    run, _ = _linear_case("white", 1)
    calls = {"n": 0}
    real_fill = ChunkedNormals.fill

    def failing_fill(self, out):
        calls["n"] += 1
        if calls["n"] == 4:
            raise MemoryError("drawer failed")
        return real_fill(self, out)

    monkeypatch.setattr(ChunkedNormals, "fill", failing_fill)
    with pytest.raises(MemoryError, match="drawer failed"):
        run(chunk_bytes=8 * 64 * 2 * 5, pipeline=True)
    assert not _drawers()


def test_pipeline_stops_its_thread_when_the_consumer_fails(monkeypatch):
    run, _ = _linear_case("white", 1)
    calls = {"n": 0}
    real = ou.linear_recursion

    def failing_recursion(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(ou, "linear_recursion", failing_recursion)
    with pytest.raises(KeyboardInterrupt):
        run(chunk_bytes=8 * 64 * 2 * 5, pipeline=True)
    assert not _drawers()


def _write() -> None:  # pragma: no cover - regeneration helper
    arrays = {}
    for name, (p, spec, cfg) in cases().items():
        res = tt.simulate(p, spec, cfg)
        arrays[f"{name}/states"] = _states(res)
        arrays[f"{name}/x_mean"] = res.x_mean
    from io import BytesIO

    from thermotwin.io import atomic_write_bytes

    buf = BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(DATA, buf.getvalue())
    print(f"wrote {DATA}")


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] == ["--write"]:
        _write()
