"""Backends by name (shared/STYLE.md 10): every one is ``fn(problem, spec, config, mapping) -> SimResult``."""

from __future__ import annotations

from typing import Callable

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


def simulate(problem: Problem, spec: HardwareSpec | None = None, config: SimConfig | None = None,
             backend: str = "twin", mapping: Mapping = Mapping()) -> SimResult:
    """Simulate ``problem`` on ``spec`` with the named backend."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    return BACKENDS[backend](problem, spec or HardwareSpec(), config or SimConfig(), mapping)
