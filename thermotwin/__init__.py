"""thermotwin: circuit simulator and digital twin for thermodynamic (Langevin) analog linear solvers.

The notebook API (dense and factored problems alike)::

    import thermotwin as tt
    p = tt.builtin_example()                       # or tt.load_problem("A.mtx"), tt.load_factored("p.npz")
    res = tt.simulate(p, tt.HardwareSpec(), tt.SimConfig(t_end="80tau"), backend="twin")
    res.x_mean, res.rel_error

Layers (each imports only the ones below it; enforced by the import contract in pyproject.toml):
core (problems, time grid, noise) → circuit (HardwareSpec, realise → Board, render_netlist) → solver
(backends, simulate, ensembles) → analysis (calibration, report, validate, bench, sweep) → tngd
(TNGD loop, timing) → cli.
"""

from .core.version import __version__  # noqa: E402

from .errors import (  # noqa: E402
    InputError, NgspiceError, NgspiceNotFoundError, SimulationError, ThermotwinError, UnstableMatrixError,
)
from .core.problem import (  # noqa: E402
    FactoredProblem, LinearProblem, Problem, builtin_example, load_factored, load_problem, synthetic_factored,
)
from .core.config import SimConfig  # noqa: E402
from .circuit.spec import HardwareSpec, OpAmpSpec  # noqa: E402
from .circuit.mapping import Mapping  # noqa: E402
from .circuit.design import ComponentValues, Realised, design, realised_matrix  # noqa: E402
from .circuit.board import Board, realisation_report, realise  # noqa: E402
from .circuit.netlist import render_netlist  # noqa: E402
from .solver.result import SimResult  # noqa: E402
from .solver.registry import BACKENDS, EnsembleResult, run_ensemble, simulate, simulate_ensemble  # noqa: E402

#: The analysis layer is imported on first use (scipy.stats and the sweep machinery cost seconds, and
#: ``import thermotwin`` must stay light): ``tt.fit_ou`` imports ``thermotwin.calibration.fit``.
_LAZY = {
    "Calibration": "calibration.fit", "fit_ou": "calibration.fit", "predict_error": "calibration.predict",
    "predict_for": "calibration.predict", "predict_from_calibration": "calibration.predict",
    "read_trace": "calibration.traces", "make_report": "report", "load_sweep": "sweep", "run_sweep": "sweep",
    "TimingModel": "timing",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'thermotwin' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "__version__",
    # errors
    "ThermotwinError", "InputError", "UnstableMatrixError", "SimulationError", "NgspiceError",
    "NgspiceNotFoundError",
    # problems
    "LinearProblem", "Problem", "FactoredProblem", "load_problem", "load_factored", "builtin_example",
    "synthetic_factored",
    # the board
    "HardwareSpec", "OpAmpSpec", "Mapping", "realise", "Board", "realisation_report", "ComponentValues",
    "Realised", "design", "realised_matrix", "render_netlist",
    # simulation
    "SimConfig", "SimResult", "BACKENDS", "simulate", "run_ensemble", "simulate_ensemble", "EnsembleResult",
    # analysis
    "read_trace", "fit_ou", "Calibration", "predict_for", "predict_error", "predict_from_calibration",
    "make_report", "load_sweep", "run_sweep",
    # TNGD timing
    "TimingModel",
]
