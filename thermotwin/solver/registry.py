"""Backends by name (shared/STYLE.md 10): every one is ``fn(problem, spec, config, mapping) -> SimResult``."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..circuit.design import Mapping
from ..circuit.spec import HardwareSpec
from ..problem import Problem
from .config import SimConfig
from .result import SimResult


def _twin(problem, spec, config, mapping):
    from .ou import run_twin

    return run_twin(problem, spec, config, mapping)


def _twin_em(problem, spec, config, mapping):
    from .ou import run_twin

    return run_twin(problem, spec, config, mapping, method="em")


def _ngspice(problem, spec, config, mapping):
    from .ngspice import run_ngspice

    return run_ngspice(problem, spec, config, mapping)


def _pyspice(problem, spec, config, mapping):
    from .pyspice_backend import run_pyspice

    return run_pyspice(problem, spec, config, mapping)


BACKENDS: dict[str, Callable[..., SimResult]] = {
    "twin": _twin,
    "twin-em": _twin_em,
    "ngspice": _ngspice,
    "pyspice": _pyspice,
}


def check_types(problem, spec, config, mapping=None) -> None:
    """TypeError saying what was expected when the API is called with the wrong objects (or order):
    ``simulate(problem, spec, config)`` with a Problem, a HardwareSpec (or None), a SimConfig (or None)."""
    def name(x):
        return type(x).__name__

    if not isinstance(problem, Problem):
        hint = " (build one with thermotwin.Problem(A, b))" if isinstance(problem, np.ndarray) else ""
        raise TypeError(f"simulate(problem, spec, config): problem must be a thermotwin.Problem, got {name(problem)}"
                        f"{hint}")
    if spec is not None and not isinstance(spec, HardwareSpec):
        raise TypeError(f"simulate(problem, spec, config): spec must be a HardwareSpec or None, got {name(spec)}")
    if config is not None and not isinstance(config, SimConfig):
        raise TypeError(f"simulate(problem, spec, config): config must be a SimConfig or None, got {name(config)}")
    if mapping is not None and not isinstance(mapping, Mapping):
        raise TypeError(f"simulate(..., mapping=): mapping must be a Mapping, got {name(mapping)}")


def simulate(problem: Problem, spec: HardwareSpec | None = None, config: SimConfig | None = None,
             backend: str = "twin", mapping: Mapping = Mapping()) -> SimResult:
    """Simulate ``problem`` on ``spec`` with the named backend."""
    check_types(problem, spec, config, mapping)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    return BACKENDS[backend](problem, spec or HardwareSpec(), config or SimConfig(), mapping)


def simulate_ensemble(problem: Problem, spec: HardwareSpec, config: SimConfig, k: int, backend: str = "twin",
                      mapping: Mapping = Mapping(rounding="stochastic")) -> tuple[list[SimResult], np.ndarray]:
    """Error mitigation (Aifer et al., arXiv 2401.16231): K boards, each with its own board draw
    (``board_seed + i``: tolerances and stochastic rounding) and noise seed (``seed + i``).

    Returns the member results and the ensemble average of their time averages (d,).
    """
    import dataclasses

    check_types(problem, spec, config, mapping)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"ensemble size {k!r} must be an integer ≥ 1")
    members = []
    for i in range(k):
        s_i = spec.replace(board_seed=spec.board_seed + i)
        c_i = dataclasses.replace(config, seed=config.seed + i)
        members.append(simulate(problem, s_i, c_i, backend=backend, mapping=mapping))
    return members, np.mean([m.x_mean for m in members], axis=0)
