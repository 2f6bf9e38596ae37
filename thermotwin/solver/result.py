"""``SimResult``: the one result type every backend returns (docs/conventions.md#backend-registry)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

from ..core.version import __version__


#: rel_error_status of a run whose solution is x* = 0 (b = 0): relative errors are null.
REL_ERROR_UNDEFINED = ("undefined: b = 0 so x* = 0 and ‖x̄ − x*‖/‖x*‖ does not exist; abs_error gives ‖x̄ − x*‖ "
                       "in problem units")


def check_finite_summary(summary: dict, keys=("rel_error", "rel_error_final", "abs_error")) -> dict:
    """Raise :class:`SimulationError` when a result that should exist is NaN or ±Inf (a run that
    overflowed must not exit 0); a relative error that does not exist (b = 0) is None with its
    ``rel_error_status`` and passes. Returns ``summary`` with those None-able values normalised."""
    import math

    from ..errors import SimulationError

    undefined = summary.get("rel_error_status", "ok") != "ok"
    for k in keys:
        v = summary.get(k)
        if v is None:
            continue
        if isinstance(v, float) and not math.isfinite(v):
            if undefined and k.startswith("rel_error"):
                summary[k] = None
                continue
            raise SimulationError(f"the run's {k} is {v} (the arithmetic overflowed); bring the spec and the "
                                  "problem's scale back to physical values (see `thermotwin spec --template`)")
    return summary


@dataclass
class SimResult:
    """A simulated trajectory and its statistics.

    Attributes:
        backend: registry name of the backend that made it.
        times: (n_t,) seconds, uniform grid from 0 to ``t_end_s``.
        states: (n_t, d) node voltages in problem units (volts divided by ``b_scale``).
        x_exact: (d,) A⁻¹b of the nominal problem (direct solve).
        tau_s: the circuit's nominal time constant τ = C/g.
        settle_s: start of the averaging window.
        wall_s: wall time of the simulation (problem in, result out).
        seed: dynamic-noise seed.
        noise: noise kind (``pwl``, ``white``, ``trnoise``, ``trrandom``, ``none``).
        spec_hash / problem_hash: provenance.
        b_scale: volts per problem unit.
        A: (d, d) nominal matrix, for the residual ‖A x − b‖/‖b‖.
        b: (d,) nominal right-hand side.
        stats: backend-specific counters (steps, netlist size, …).
        status / message: ``"ok"`` or ``"failed"`` and why.
    """

    backend: str
    times: np.ndarray
    states: np.ndarray
    x_exact: np.ndarray
    tau_s: float
    settle_s: float
    wall_s: float
    seed: int
    noise: str
    spec_hash: str
    problem_hash: str
    b_scale: float
    A: np.ndarray
    b: np.ndarray
    noise_step_s: float = float("nan")
    stats: dict = field(default_factory=dict)
    status: str = "ok"
    message: str = ""
    version: str = __version__

    @property
    def d(self) -> int:
        return self.states.shape[1]

    @property
    def t_end_s(self) -> float:
        return float(self.times[-1])

    @property
    def dt_out_s(self) -> float:
        return float(self.times[1] - self.times[0])

    @property
    def x_final(self) -> np.ndarray:
        return self.states[-1]

    @property
    def window(self) -> slice:
        """Rows inside the averaging window [settle_s, t_end]."""
        start = int(np.searchsorted(self.times, self.settle_s - 1e-12 * self.t_end_s))
        start = min(start, len(self.times) - 2)
        return slice(start, None)

    @property
    def x_mean(self) -> np.ndarray:
        """Time average over the window, trapezoidal on the uniform grid."""
        seg = self.states[self.window]
        # Σ ½(x_i + x_{i+1}) / (n − 1) written as (Σ x_i − ½(x_0 + x_last)) / (n − 1): one pass over
        # the states, no temporary of their size
        return (seg.sum(axis=0) - 0.5 * (seg[0] + seg[-1])) / (len(seg) - 1)

    def _rel(self, x: np.ndarray) -> np.ndarray:
        nx = np.linalg.norm(self.x_exact)
        err = np.linalg.norm(x - self.x_exact, axis=-1)
        if nx == 0:                  # b = 0: x* = 0 and no relative error exists (summary: null + status)
            return np.full(np.shape(err), np.nan)
        return err / nx

    @property
    def rel_error_defined(self) -> bool:
        """False when x* = 0 (b = 0): relative errors do not exist; :meth:`summary` gives abs_error."""
        return bool(np.linalg.norm(self.x_exact) > 0)

    @property
    def rel_error(self) -> float:
        """‖x_mean − x_exact‖/‖x_exact‖."""
        return float(self._rel(self.x_mean))

    def instantaneous_error(self) -> np.ndarray:
        """‖V(t) − x*‖/‖x*‖ at every output time, shape (n_t,)."""
        return self._rel(self.states)

    def running_average(self) -> tuple[np.ndarray, np.ndarray]:
        """Times (after settle) and the running time average from settle_s, shape (n_w,), (n_w, d)."""
        sl = self.window
        t = self.times[sl]
        seg = self.states[sl]
        trap = np.concatenate([np.zeros((1, self.d)), np.cumsum(0.5 * (seg[1:] + seg[:-1]), axis=0)])
        n = np.arange(len(t))
        avg = np.empty_like(seg)
        avg[0] = seg[0]
        avg[1:] = trap[1:] / n[1:, None]
        return t, avg

    def running_error(self) -> tuple[np.ndarray, np.ndarray]:
        """Window length T = t − settle_s and ‖x̄_T − x*‖/‖x*‖."""
        t, avg = self.running_average()
        return t - t[0], self._rel(avg)

    def residual(self) -> np.ndarray:
        """‖A V(t) − b‖/‖b‖ at every output time."""
        return np.linalg.norm(self.states @ self.A.T - self.b, axis=1) / np.linalg.norm(self.b)

    def summary(self) -> dict:
        """JSON-ready summary (the CLI's ``--json`` object and ``summary.json``)."""
        w = self.window
        return {
            "backend": self.backend,
            "status": self.status,
            "message": self.message,
            "d": self.d,
            "tau_s": self.tau_s,
            "t_end_s": self.t_end_s,
            "t_end_tau": self.t_end_s / self.tau_s,
            "dt_out_s": self.dt_out_s,
            "noise_step_s": self.noise_step_s,
            "noise": self.noise,
            "wall_s": self.wall_s,
            "seed": self.seed,
            "x_exact": self.x_exact.tolist(),
            "x_final": self.x_final.tolist(),
            "x_mean": self.x_mean.tolist(),
            "average_window_s": [float(self.times[w][0]), self.t_end_s],
            "rel_error": self.rel_error,
            "rel_error_final": float(self._rel(self.x_final)),
            "residual_mean": (float(np.linalg.norm(self.A @ self.x_mean - self.b) / np.linalg.norm(self.b))
                              if np.any(self.b) else None),
            "abs_error": float(np.linalg.norm(self.x_mean - self.x_exact)),
            "rel_error_status": "ok" if self.rel_error_defined else REL_ERROR_UNDEFINED,
            "b_scale": self.b_scale,
            "spec_hash": self.spec_hash,
            "problem_hash": self.problem_hash,
            "version": self.version,
            "stats": {k: v for k, v in self.stats.items() if isinstance(v, (int, float, str, bool))},
        }

    def trace_csv(self) -> str:
        """CSV text: column ``time`` in seconds, then the node voltages ``v0`` … ``v{d-1}`` in volts
        (what the board's outputs carry: ``states × b_scale``), the form ``calibrate`` reads."""
        buf = io.StringIO()
        header = "time," + ",".join(f"v{i}" for i in range(self.d))
        np.savetxt(buf, np.column_stack([self.times, self.states * self.b_scale]), delimiter=",", header=header,
                   comments="", fmt="%.12e")
        return buf.getvalue()
