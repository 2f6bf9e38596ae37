"""One backend registry: each backend is an object that says which problem forms and noise modes it
supports and runs any problem it supports; :func:`check_supported` refuses the rest, in one place,
with one line naming what is supported.

``simulate(problem, spec, config, backend=...)`` and ``run_ensemble`` / ``simulate_ensemble`` take a
dense or a factored problem and a backend name from :data:`BACKENDS` — or any object with the same
attributes (``name``, ``forms``, ``noise``, ``trajectories``, ``ensemble_forms``, ``gbw_models`` and
``run(problem, spec, config, mapping)``), as ``scipy.integrate.solve_ivp`` takes a user's method.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..circuit.mapping import Mapping
from ..circuit.spec import HardwareSpec
from ..core.config import SimConfig
from ..core.noise import NOISE_KINDS
from ..core.progress import Bar
from ..core.problem import FactoredProblem, Problem, is_factored
from ..errors import InputError
from .result import SimResult

__all__ = ["Backend", "BACKENDS", "backend_names", "get_backend", "check_supported", "check_types", "simulate",
           "simulate_ensemble", "run_ensemble", "EnsembleResult", "simulate_summary"]

_SPICE_NOISE = ("pwl", "trnoise", "trrandom", "none")

#: Why a noise mode is missing, for the one-line refusal.
_NOISE_HINTS = {
    "white": "ngspice has no exact white noise; use trnoise (white, interpolated) or pwl (same path as the twin)",
    "trnoise": "it is ngspice's own generator",
    "trrandom": "it is ngspice's own generator",
}


@dataclass(frozen=True)
class Backend:
    """A backend: what it supports and how it runs.

    Attributes:
        name: registry name.
        forms: problem forms it runs (``"dense"``, ``"factored"``).
        noise: noise modes per form.
        trajectories: runs ``config.n_traj > 1`` in one call.
        ensemble_forms: forms whose ensembles (K boards) it runs.
        gbw_models: ``Mapping.gbw_model`` values it accepts.
        description: one line for help texts.
        external: runs an external simulator (SPICE): a sweep recycles its worker processes.
    """

    name: str
    forms: tuple[str, ...]
    noise: dict
    trajectories: bool
    ensemble_forms: tuple[str, ...]
    gbw_models: tuple[str, ...]
    description: str
    external: bool = False

    def run(self, problem, spec: HardwareSpec, config: SimConfig, mapping: Mapping) -> SimResult:
        raise NotImplementedError


class TwinBackend(Backend):
    """The digital twin: exact OU on the realised board (dense: any size the d×d algebra allows;
    factored: the low-rank engines, N up to ~10⁵). ``twin-em``: the numba exponential-Euler kernel."""

    def run(self, problem, spec, config, mapping):
        if is_factored(problem):
            from .factored import run_factored

            return run_factored(problem, spec, config, mapping=mapping)
        from .ou import run_twin

        return run_twin(problem, spec, config, mapping, method="em" if self.name == "twin-em" else "auto")


class SpiceBackend(Backend):
    """ngspice on the netlist of either layout: a subprocess (``ngspice``) or the shared library in this
    process through PySpice (``pyspice``); the same text, one netlist-in, table-out interface."""

    def run(self, problem, spec, config, mapping):
        if self.name == "pyspice":
            from .pyspice_backend import run_pyspice

            return run_pyspice(problem, spec, config, mapping)
        from .ngspice import run_ngspice

        return run_ngspice(problem, spec, config, mapping)


BACKENDS: dict[str, Backend] = {b.name: b for b in (
    TwinBackend("twin", ("dense", "factored"), {"dense": NOISE_KINDS, "factored": ("pwl", "white", "none")},
                True, ("dense", "factored"), ("refuse", "integrator"),
                "digital twin: exact OU on the realised board (dense or factored)"),
    TwinBackend("twin-em", ("dense",), {"dense": NOISE_KINDS}, True, ("dense",), ("refuse",),
                "digital twin by the exponential-Euler circuit kernel (dense)"),
    SpiceBackend("ngspice", ("dense", "factored"), {"dense": _SPICE_NOISE, "factored": _SPICE_NOISE}, False,
                 ("dense",), ("refuse",), "ngspice -b subprocess on the netlist", external=True),
    SpiceBackend("pyspice", ("dense", "factored"), {"dense": _SPICE_NOISE, "factored": _SPICE_NOISE}, False,
                 ("dense",), ("refuse",), "ngspice shared library through PySpice, on the same netlist",
                 external=True),
)}


def backend_names() -> list[str]:
    """The registered backend names (CLI choices, sweep validation, docs)."""
    return list(BACKENDS)


def get_backend(backend) -> Backend:
    """A backend object from its name (or the object itself)."""
    if isinstance(backend, str):
        if backend not in BACKENDS:
            raise InputError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
        return BACKENDS[backend]
    if not callable(getattr(backend, "run", None)):
        raise InputError(f"backend {backend!r} is neither a name ({', '.join(BACKENDS)}) nor an object with run()")
    return backend


def _form(problem) -> str:
    return "factored" if is_factored(problem) else "dense"


def check_supported(backend, problem, config: SimConfig, mapping: Mapping = Mapping(), ensemble: int = 1) -> Backend:
    """Refuse, in one line naming what is supported, a combination ``backend`` does not run."""
    b = get_backend(backend)
    form = _form(problem)
    if form not in b.forms:
        able = [n for n, o in BACKENDS.items() if form in o.forms]
        raise InputError(f"backend {b.name!r} cannot run a {form} problem; use one of {', '.join(able)}")
    noise = b.noise[form]
    if config.noise not in noise:
        hint = _NOISE_HINTS.get(config.noise, "")
        raise InputError(f"backend {b.name!r} has no noise {config.noise!r} for {form} problems"
                         + (f" ({hint})" if hint else "") + f"; use --noise {' or '.join(noise)}")
    if config.n_traj != 1 and not b.trajectories:
        raise InputError(f"the {b.name} backend runs one trajectory per call; use n_traj=1")
    if ensemble > 1 and form not in b.ensemble_forms:
        able = [n for n, o in BACKENDS.items() if form in o.ensemble_forms]
        raise InputError(f"--ensemble on a {form} problem runs the {' or '.join(able)} backend; "
                         f"use --backend {able[0]}")
    if mapping.gbw_model not in b.gbw_models:
        raise InputError(f"gbw_model {mapping.gbw_model!r} is the factored twin's approximation; backend {b.name!r} "
                         f"takes {', '.join(b.gbw_models)} (SPICE simulates the op-amp poles themselves)")
    if form == "factored" and mapping.dense_only_fields():
        raise InputError(f"mapping {', '.join(mapping.dense_only_fields())}: dense boards only; a factored board "
                         "chooses its scales itself and carries its damping λ in the problem")
    return b


def check_types(problem, spec, config, mapping=None) -> None:
    """TypeError saying what was expected when the API is called with the wrong objects (or order):
    ``simulate(problem, spec, config)`` with a Problem or FactoredProblem, a HardwareSpec (or None), a
    SimConfig (or None)."""
    def name(x):
        return type(x).__name__

    if not isinstance(problem, (Problem, FactoredProblem)):
        hint = " (build one with thermotwin.Problem(A, b))" if isinstance(problem, np.ndarray) else ""
        raise TypeError(f"simulate(problem, spec, config): problem must be a thermotwin.Problem or FactoredProblem, "
                        f"got {name(problem)}{hint}")
    if spec is not None and not isinstance(spec, HardwareSpec):
        raise TypeError(f"simulate(problem, spec, config): spec must be a HardwareSpec or None, got {name(spec)}")
    if config is not None and not isinstance(config, SimConfig):
        raise TypeError(f"simulate(problem, spec, config): config must be a SimConfig or None, got {name(config)}")
    if mapping is not None and not isinstance(mapping, Mapping):
        raise TypeError(f"simulate(..., mapping=): mapping must be a Mapping, got {name(mapping)}")


def simulate(problem, spec: HardwareSpec | None = None, config: SimConfig | None = None,
             backend="twin", mapping: Mapping = Mapping()) -> SimResult:
    """Simulate ``problem`` (dense or factored) on ``spec`` with ``backend`` (a name or a backend object)."""
    check_types(problem, spec, config, mapping)
    config = config or SimConfig()
    b = check_supported(backend, problem, config, mapping)
    return b.run(problem, spec or HardwareSpec(), config, mapping)


@dataclass(frozen=True)
class EnsembleResult:
    """K boards: the first member's result, every member's time average, their mean and the total wall time.

    ``members`` holds every member's :class:`SimResult` when kept (``keep="all"``), else only the first.
    """

    first: SimResult
    x_means: list
    x_mean: np.ndarray
    wall_s: float
    members: list

    def summary(self) -> dict:
        """The first member's summary with the ensemble's keys (ensemble, x_mean, rel_error,
        rel_error_members, wall_s): what ``simulate --ensemble K --json`` prints."""
        out = self.first.summary()
        rel = self.first._rel      # NaN when x* = 0 (b = 0): summary's rel_error_status says so
        out.update(ensemble=len(self.x_means), x_mean=self.x_mean.tolist(),
                   rel_error=float(rel(self.x_mean)),
                   rel_error_members=[float(rel(m)) for m in self.x_means], wall_s=self.wall_s)
        return out


def run_ensemble(problem, spec: HardwareSpec | None, config: SimConfig | None, k: int, backend="twin",
                 mapping: Mapping = Mapping(rounding="stochastic"), keep: str = "first") -> EnsembleResult:
    """Error mitigation (Aifer et al., arXiv 2401.16231): K boards, each with its own board draw
    (``board_seed + i``: tolerances and stochastic rounding) and noise seed (``seed + i``).

    ``keep="first"`` keeps only the first member's trace (memory: one output array at a time at paper
    scale); ``"all"`` keeps every member's result.
    """
    check_types(problem, spec, config, mapping)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"ensemble size {k!r} must be an integer ≥ 1")
    if keep not in ("first", "all"):
        raise ValueError(f"keep {keep!r}: use 'first' or 'all'")
    spec = spec or HardwareSpec()
    config = config or SimConfig()
    b = check_supported(backend, problem, config, mapping, ensemble=k)
    members, x_means, wall = [], [], 0.0
    for i in range(k):
        with Bar(f"board {i + 1}/{k}"):          # stderr progress on a terminal (core.progress)
            res = b.run(problem, spec.replace(board_seed=spec.board_seed + i),
                        dataclasses.replace(config, seed=config.seed + i), mapping)
        if i == 0 and k > 1:       # the members' steps add up: refuse the rest beyond the budget (core.memory)
            from ..core.memory import Estimate, check

            steps = float(res.stats.get("noise_steps") or len(res.times))
            check(Estimate(steps=steps * k), f"an ensemble of {k} boards ({steps:.3g} steps each)",
                  "lower --ensemble or shorten --t-end")
        x_means.append(np.array(res.x_mean))
        wall += res.wall_s
        if keep == "all" or not members:
            members.append(res)
    return EnsembleResult(members[0], x_means, np.mean(x_means, axis=0), float(wall), members)


def simulate_ensemble(problem, spec: HardwareSpec, config: SimConfig, k: int, backend="twin",
                      mapping: Mapping = Mapping(rounding="stochastic")) -> tuple[list[SimResult], np.ndarray]:
    """:func:`run_ensemble` keeping every member: (the members' results, the mean of their time averages)."""
    ens = run_ensemble(problem, spec, config, k, backend, mapping, keep="all")
    return ens.members, ens.x_mean


def simulate_summary(problem, spec: HardwareSpec, config: SimConfig, backend="twin", mapping: Mapping = Mapping(),
                     ensemble: int = 1) -> tuple[SimResult, dict]:
    """(result, summary dict) of one run, or of an ensemble of ``ensemble`` boards (stochastic rounding;
    the result is the first member's): what ``thermotwin simulate --json`` prints."""
    if ensemble > 1:
        ens = run_ensemble(problem, spec, config, ensemble, backend, dataclasses.replace(mapping, rounding="stochastic"))
        return ens.first, ens.summary()
    res = simulate(problem, spec, config, backend, mapping)
    return res, res.summary()


def run_factored_ensemble(problem, spec=None, config=None, k: int = 2, **kw):
    """Error mitigation at paper scale (:func:`run_ensemble` with the twin):
    K boards, board i with ``board_seed + i`` and stochastic rounding, noise ``seed + i``.

    Returns (first member's SimResult, list of the members' time averages, their mean, total wall s).
    Only the first member's trace is kept (memory: one output array at a time). ``kw``: the mapping
    options (rounding default ``stochastic``, out_of_range, node_tolerance, y_gain, gbw_model).
    """
    kw.setdefault("rounding", "stochastic")
    ens = run_ensemble(problem, spec, config or SimConfig(noise="white"), k, "twin", Mapping(**kw))
    return ens.first, ens.x_means, ens.x_mean, ens.wall_s
