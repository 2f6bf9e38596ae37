"""thermotwin: circuit simulator and digital twin for thermodynamic (Langevin) analog linear solvers."""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    InputError, NgspiceError, NgspiceNotFoundError, SimulationError, ThermotwinError, UnstableMatrixError,
)
from .core.problem import Problem, builtin_example, load_problem  # noqa: E402
from .circuit.spec import HardwareSpec, OpAmpSpec  # noqa: E402
from .circuit.design import ComponentValues, Mapping, Realised, design, realised_matrix  # noqa: E402
from .circuit.netlist import render_netlist  # noqa: E402
from .core.config import SimConfig  # noqa: E402
from .solver.result import SimResult  # noqa: E402
from .solver.registry import BACKENDS, simulate  # noqa: E402

__all__ = [
    "__version__", "ThermotwinError", "InputError", "UnstableMatrixError", "SimulationError",
    "NgspiceError", "NgspiceNotFoundError", "Problem", "builtin_example", "load_problem",
    "HardwareSpec", "OpAmpSpec", "Mapping", "ComponentValues", "Realised", "design",
    "realised_matrix", "render_netlist", "SimConfig", "SimResult", "BACKENDS", "simulate",
]
