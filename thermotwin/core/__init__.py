"""The bottom layer: problems (dense and factored), the time grid, the noise stream, memory planning.

Nothing here knows about circuits or backends; every other layer may import it.
"""

from .config import Grid, SimConfig, initial_state, resolve_grid, settling_time
from .noise import NOISE_KINDS, noise_rng, zoh_normals
from .problem import (
    DENSE_LIMIT, FactoredOperator, FactoredProblem, LinearProblem, Problem, builtin_example, is_factored,
    load_factored, load_problem, safe_name, synthetic_factored,
)

__all__ = [
    "Problem", "FactoredProblem", "FactoredOperator", "LinearProblem", "is_factored", "load_problem",
    "load_factored", "builtin_example", "synthetic_factored", "safe_name", "DENSE_LIMIT", "SimConfig", "Grid",
    "resolve_grid", "initial_state", "settling_time", "NOISE_KINDS", "noise_rng", "zoh_normals",
]
