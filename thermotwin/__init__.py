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
from .calibration.fit import Calibration, fit_ou  # noqa: E402
from .calibration.predict import predict_error, predict_for, predict_from_calibration  # noqa: E402
from .calibration.traces import read_trace  # noqa: E402
from .report import make_report  # noqa: E402
from .sweep import load_sweep, run_sweep  # noqa: E402
from .timing import TimingModel  # noqa: E402

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
