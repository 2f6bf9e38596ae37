"""Backends that run a realised board in time: the twin (dense and factored), ngspice and PySpice, one
registry (:data:`BACKENDS`) and the entry points :func:`simulate` and :func:`run_ensemble`."""

from .registry import (
    BACKENDS, Backend, EnsembleResult, backend_names, check_supported, get_backend, run_ensemble, simulate,
    simulate_ensemble, simulate_summary,
)
from .result import SimResult

__all__ = ["BACKENDS", "Backend", "backend_names", "get_backend", "check_supported", "simulate", "run_ensemble",
           "simulate_ensemble", "simulate_summary", "EnsembleResult", "SimResult"]
