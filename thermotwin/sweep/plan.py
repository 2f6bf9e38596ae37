"""The sweep file (TOML) → a validated, normalised :class:`SweepPlan`.

A sweep file names the matrix, the base hardware spec, the simulation options, the number of
boards per grid point and a ``[grid]`` table of fields to vary; every combination of the grid
values is a *grid point*, and every (grid point, board) is a *run*::

    matrix = "problem.mtx"      # path relative to this file, "builtin", or a family: "spd", "wishart"
    backend = "twin"            # twin | twin-em | ngspice | pyspice
    t_end = "2000tau"
    boards = 20
    checkpoints = ["100tau", "500tau"]
    spec = "board.json"         # or an inline [spec] table
    [grid]
    r_tolerance = [0.0, 0.001, 0.01, 0.05]
    kappa0_v2 = [1e-6]
    "opamp.gain" = ["ideal", 1e4, 1e5]      # dotted names must be quoted (or use [grid.opamp])

Keys (top level; all but ``matrix`` optional):

* ``matrix``, ``rhs`` (files only), ``d``, ``cond``, ``matrix_seed`` (generated families).
* ``backend`` (default twin), ``boards`` (default 1), ``seed`` (root seed, default 0),
  ``seeding`` (``"common"``, default, or ``"independent"``; see :func:`run_seeds`).
* Simulation: ``t_end``, ``dt_out`` (default 0.5τ, or the ADC period when ``adc_rate_hz`` is set),
  ``noise`` (default ``white`` for the twin — exact OU — and ``trrandom`` for SPICE), ``noise_step``,
  ``v0``, ``settle``; times in seconds or ``"…tau"``.
* ``checkpoints``: times at which ``rel_error`` is also reported. ``timeout``: seconds per run.
* ``spec`` (file or table), ``mapping`` (table: damping, rounding, out_of_range, scale, b_scale).
* ``[grid]``: any spec field (dotted ``opamp.*``), any simulation option above, ``seed``, ``d``,
  ``cond``, ``matrix_seed``, ``mapping.*``. Values are lists; ``"ideal"``/``"none"`` means null
  for spec fields that accept it.

Unknown keys, empty lists, repeated values and invalid values are errors that name the field.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..circuit.mapping import Mapping
from ..circuit.spec import FIELD_DOCS, HardwareSpec
from ..core.fingerprint import json_digest
from ..errors import InputError
from ..core.problem import Problem
from ..core.config import SimConfig
from ..solver.registry import BACKENDS as BACKEND_OBJECTS
from ..solver.registry import backend_names
from ..units import parse_quantity, parse_time
from .matrices import FAMILIES, generated_problem

#: A sweep with more runs (grid points × boards) than this needs ``--yes``.
MAX_RUNS = 10_000
#: Tolerances of the time-to-tolerance columns.
TOLERANCES = (1e-1, 1e-2, 1e-3)
TOL_LABELS = ("1e-1", "1e-2", "1e-3")
#: Format version of sweep.json / the normalised plan (part of the hash).
FORMAT = 1

SIM_FIELDS = ("t_end", "dt_out", "noise", "noise_step", "v0", "settle")
MATRIX_FIELDS = ("d", "cond", "matrix_seed")
#: The dense mapping options a sweep may vary (part of the plan hash: the factored-only options are not).
MAPPING_FIELDS = ("scale", "b_scale", "out_of_range", "damping", "rounding")
SPEC_FIELDS = tuple(k for k in FIELD_DOCS if k != "board_seed")
GRID_FIELDS = SPEC_FIELDS + SIM_FIELDS + ("seed",) + MATRIX_FIELDS + tuple(f"mapping.{k}" for k in MAPPING_FIELDS)
TOP_FIELDS = ("matrix", "rhs", "backend", "boards", "seed", "seeding", "checkpoints", "timeout", "spec",
              "mapping", "grid", "description") + SIM_FIELDS + MATRIX_FIELDS
BACKENDS = tuple(backend_names())
_NONE_WORDS = ("none", "null", "ideal")


def _none_like(v) -> bool:
    return isinstance(v, str) and v.strip().lower() in _NONE_WORDS


def _flatten(table: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _spec_value(name: str, v):
    """TOML value → spec field value: "ideal"/"none" → None, "10k" → 1e4."""
    if _none_like(v):
        return None
    if isinstance(v, str):
        try:
            return parse_quantity(v)
        except ValueError as exc:
            raise ValueError(f"spec field {name!r} = {v!r}: {exc}") from None
    return v


def _json_value(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v


@dataclass(frozen=True)
class PointSetup:
    """Everything one grid point needs: the problem, the hardware, the mapping and the options."""

    index: int
    values: dict
    problem: Problem
    spec: HardwareSpec
    mapping: Mapping
    sim: dict
    backend: str
    root_seed: int


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep. Build it with :func:`load_sweep` or :meth:`from_dict`.

    Attributes:
        matrix: ``"builtin"``, a family name (``spd``, ``wishart``) or an absolute file path.
        rhs: absolute path of b, or None.
        backend, boards, seed, seeding: see the module docstring.
        options: base simulation and matrix options (``SIM_FIELDS`` and ``MATRIX_FIELDS``).
        spec: base :class:`HardwareSpec`; mapping: base :class:`Mapping` keyword arguments.
        checkpoints: labels of the checkpoint times (``"100tau"``, ``"5e-05s"``).
        grid: ((field, values), …) in file order; the grid is their Cartesian product, the last
            field varying fastest.
        timeout_s: wall-clock limit per run (not part of the sweep's identity).
    """

    matrix: str
    rhs: str | None
    backend: str
    boards: int
    seed: int
    seeding: str
    options: dict
    spec: HardwareSpec
    mapping: dict
    checkpoints: tuple
    grid: tuple
    timeout_s: float = 600.0
    description: str = ""
    _problems: dict = field(default_factory=dict, compare=False, repr=False)

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict, base_dir: Path | None = None, backend: str | None = None) -> "SweepPlan":
        """Validate a parsed sweep file. ``backend`` (the CLI's ``--backend``) overrides the file's."""
        base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        if not isinstance(data, dict):
            raise InputError("a sweep file is a TOML table of keys; see `thermotwin sweep --help`")
        unknown = [k for k in data if k not in TOP_FIELDS]
        if unknown:
            k = unknown[0]
            hint = ("; spec fields go in the [spec] table or in [grid]" if k in FIELD_DOCS or k.startswith("opamp")
                    else "")
            raise KeyError(f"unknown sweep field {k!r}{hint}; known fields: {', '.join(TOP_FIELDS)}")
        if "matrix" not in data:
            raise InputError("the sweep file needs `matrix = \"file.mtx\"` (path relative to the sweep file), "
                             "\"builtin\", \"spd\" or \"wishart\"")
        matrix, rhs = cls._matrix(data, base_dir)
        backend = backend or data.get("backend", "twin")
        if backend not in BACKENDS:
            raise InputError(f"backend {backend!r}: use one of {', '.join(BACKENDS)}")
        boards = data.get("boards", 1)
        if not isinstance(boards, int) or isinstance(boards, bool) or boards < 1:
            raise InputError(f"boards = {boards!r}: give the number of boards per grid point, an integer ≥ 1")
        seed = data.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise InputError(f"seed = {seed!r}: the root seed must be an integer ≥ 0")
        seeding = data.get("seeding", "common")
        if seeding not in ("common", "independent"):
            raise InputError(f"seeding = {seeding!r}: use \"common\" (board k is the same draw at every grid "
                             "point) or \"independent\"")
        timeout = data.get("timeout", 600.0)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise InputError(f"timeout = {timeout!r}: give the wall-clock limit per run in seconds (> 0)")
        options = {k: data[k] for k in SIM_FIELDS + MATRIX_FIELDS if k in data}
        if "noise" not in options:
            options["noise"] = "white" if backend == "twin" else ("pwl" if backend == "twin-em" else "trrandom")
        spec = cls._base_spec(data.get("spec"), base_dir)
        mapping = data.get("mapping", {})
        if not isinstance(mapping, dict):
            raise InputError("mapping must be a table: [mapping] with damping, rounding, out_of_range, scale, b_scale")
        bad = [k for k in mapping if k not in MAPPING_FIELDS]
        if bad:
            raise KeyError(f"unknown mapping field {bad[0]!r}; known: {', '.join(MAPPING_FIELDS)}")
        mapping = {k: getattr(Mapping(**mapping), k) for k in MAPPING_FIELDS}
        checkpoints = cls._checkpoints(data.get("checkpoints", []))
        grid = cls._grid(data.get("grid", {}))
        plan = cls(matrix=matrix, rhs=rhs, backend=backend, boards=boards, seed=seed, seeding=seeding,
                   options=options, spec=spec, mapping=mapping, checkpoints=checkpoints, grid=grid,
                   timeout_s=float(timeout), description=str(data.get("description", "")))
        plan._check_fields()
        return plan

    @staticmethod
    def _matrix(data: dict, base_dir: Path) -> tuple[str, str | None]:
        m = data["matrix"]
        if not isinstance(m, str) or not m.strip():
            raise InputError(f"matrix = {m!r}: give a file path, \"builtin\", \"spd\" or \"wishart\"")
        rhs = data.get("rhs")
        if m in ("builtin",) + FAMILIES:
            if rhs is not None and m != "builtin":
                raise InputError(f"rhs applies to matrix files and \"builtin\", not to the generated family {m!r}")
            matrix = m
        else:
            p = (base_dir / m).resolve()
            if not p.is_file():
                raise InputError(f"matrix file {p} does not exist (paths are relative to the sweep file); "
                                 "or use \"builtin\", \"spd\", \"wishart\"")
            matrix = str(p)
        for k in MATRIX_FIELDS:
            if k in data and matrix not in FAMILIES:
                raise InputError(f"{k} applies to generated matrices (matrix = \"spd\" or \"wishart\"), "
                                 f"not to {m!r}")
        if rhs is not None:
            if not isinstance(rhs, str):
                raise InputError(f"rhs = {rhs!r}: give a file path relative to the sweep file")
            rp = (base_dir / rhs).resolve()
            if not rp.is_file():
                raise InputError(f"rhs file {rp} does not exist (paths are relative to the sweep file)")
            rhs = str(rp)
        return matrix, rhs

    @staticmethod
    def _base_spec(spec, base_dir: Path) -> HardwareSpec:
        if spec is None:
            return HardwareSpec()
        if isinstance(spec, str):
            base = HardwareSpec.load(base_dir / spec)
            if base.board_seed != 0:
                raise InputError("the spec file sets board_seed, but a sweep draws every board's seed from "
                                 "`seed`; remove board_seed from the spec or set it to 0")
            return base
        if not isinstance(spec, dict):
            raise InputError("spec must be a JSON file name or a [spec] table")
        flat = _flatten(spec)
        if "board_seed" in flat:
            raise InputError("spec field 'board_seed' cannot be set in a sweep: every board's seed is derived from "
                             "the sweep's `seed`; set `seed` instead")
        unknown = [k for k in flat if k not in SPEC_FIELDS]
        if unknown:
            raise KeyError(f"unknown spec field {unknown[0]!r}; known fields: {', '.join(SPEC_FIELDS)}")
        return HardwareSpec().replace(**{k: _spec_value(k, v) for k, v in flat.items()})

    @staticmethod
    def _checkpoints(cps) -> tuple:
        if not isinstance(cps, list):
            raise InputError("checkpoints must be a list of times, e.g. [\"100tau\", \"1e-4\"]")
        labels = []
        for c in cps:
            if isinstance(c, bool) or not isinstance(c, (str, int, float)):
                raise InputError(f"checkpoint {c!r} is not a time; write e.g. \"100tau\" or 1e-4 (seconds)")
            try:
                v = parse_time(c, 1.0)
            except ValueError as exc:
                raise InputError(f"checkpoint {c!r}: {exc}") from None
            if v <= 0:
                raise InputError(f"checkpoint {c!r} must be after t = 0")
            label = "".join(c.split()).lower() if isinstance(c, str) else f"{float(c):g}s"
            if label in labels:
                raise InputError(f"checkpoint {c!r} is listed twice")
            labels.append(label)
        return tuple(labels)

    @staticmethod
    def _grid(grid) -> tuple:
        if not isinstance(grid, dict):
            raise InputError("grid must be a table: [grid] with field = [values]")
        out = []
        for k, vals in _flatten(grid).items():
            if k in ("board_seed", "boards"):
                raise InputError(f"grid field {k!r} cannot be swept: boards are drawn per grid point from `seed`; "
                                 "set `boards` for more boards or sweep `seed`")
            if k not in GRID_FIELDS:
                raise KeyError(f"unknown grid field {k!r}; spec fields: {', '.join(SPEC_FIELDS)}; simulation: "
                               f"{', '.join(SIM_FIELDS)}, seed; matrix: {', '.join(MATRIX_FIELDS)}; "
                               f"mapping: {', '.join('mapping.' + m for m in MAPPING_FIELDS)}")
            if not isinstance(vals, list):
                raise InputError(f"grid field {k!r} must be a list of values (write {k} = [{vals!r}])")
            if not vals:
                raise InputError(f"grid field {k!r} is empty; give at least one value")
            norm = [None if (k in SPEC_FIELDS and _none_like(v)) else _json_value(v) for v in vals]
            seen = []
            for v in norm:
                if any(v == s and type(v) is type(s) for s in seen):
                    raise InputError(f"grid field {k!r} lists {v!r} twice")
                seen.append(v)
            out.append((k, tuple(norm)))
        return tuple(out)

    def _check_fields(self) -> None:
        names = [k for k, _ in self.grid]
        for k in names:
            if k in MATRIX_FIELDS and self.matrix not in FAMILIES:
                raise InputError(f"grid field {k!r} needs a generated matrix (matrix = \"spd\" or \"wishart\"); "
                                 f"the sweep uses {Path(self.matrix).name if self.matrix != 'builtin' else 'builtin'}")
        if self.matrix in FAMILIES and "d" not in names and "d" not in self.options:
            raise InputError(f"matrix = {self.matrix!r} needs the dimension: set d = … or sweep [grid] d = […]")
        if self.matrix == "wishart" and ("cond" in names or "cond" in self.options):
            raise InputError("cond applies to matrix = \"spd\"; the wishart family has no set condition number")

    # -- grid -------------------------------------------------------------------------------
    @property
    def fields(self) -> list[str]:
        return [k for k, _ in self.grid]

    @property
    def n_points(self) -> int:
        return math.prod(len(v) for _, v in self.grid) if self.grid else 1

    @property
    def n_runs(self) -> int:
        return self.n_points * self.boards

    def point_values(self, i: int) -> dict:
        """Grid values of point i (row-major over the grid fields in file order)."""
        if not 0 <= i < self.n_points:
            raise IndexError(i)
        out = {}
        for k, vals in reversed(self.grid):
            i, r = divmod(i, len(vals))
            out[k] = vals[r]
        return dict(reversed(list(out.items())))

    def iter_points(self):
        names = self.fields
        for combo in itertools.product(*(v for _, v in self.grid)):
            yield dict(zip(names, combo))

    def problem_for(self, values: dict) -> Problem:
        """The (cached) problem of a grid point."""
        if self.matrix in FAMILIES:
            opts = {k: values.get(k, self.options.get(k)) for k in MATRIX_FIELDS}
            key = (self.matrix, opts["d"], opts["cond"], opts["matrix_seed"] or 0)
            if key not in self._problems:
                self._problems[key] = generated_problem(self.matrix, opts["d"], opts["cond"], opts["matrix_seed"] or 0)
            return self._problems[key]
        key = (self.matrix, self.rhs)
        if key not in self._problems:
            from ..core.problem import load_problem

            self._problems[key] = load_problem(None if self.matrix == "builtin" else self.matrix, self.rhs, factored=False)
        return self._problems[key]

    def setup(self, i: int, values: dict | None = None) -> PointSetup:
        """Problem, spec, mapping and options of grid point i; errors name the point and field."""
        values = self.point_values(i) if values is None else values
        try:
            problem = self.problem_for(values)
            spec_changes = {k: _spec_value(k, v) for k, v in values.items() if k in SPEC_FIELDS}
            spec = self.spec.replace(**spec_changes) if spec_changes else self.spec
            mapping = dict(self.mapping)
            mapping.update({k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("mapping.")})
            mapping_obj = Mapping(**mapping)
            sim = {k: values.get(k, self.options.get(k)) for k in SIM_FIELDS}
            if sim["v0"] is None:
                sim["v0"] = "zero"
            if sim["dt_out"] is None and spec.adc_rate_hz is None:
                sim["dt_out"] = "0.5tau"
            SimConfig(**sim)                                      # validates noise / v0
            for k in ("t_end", "dt_out", "noise_step", "settle"):
                if sim[k] is not None:
                    parse_time(sim[k], 1.0)
            if sim["noise"] not in BACKEND_OBJECTS[self.backend].noise["dense"]:
                raise ValueError(f"noise = \"white\" is exact OU noise, which SPICE cannot make; use trrandom, "
                                 f"trnoise or pwl with backend {self.backend}")
            root = values.get("seed", self.seed)
            if not isinstance(root, int) or isinstance(root, bool) or root < 0:
                raise ValueError(f"seed = {root!r} must be an integer ≥ 0")
        except KeyError as exc:
            raise KeyError(f"grid point {i} ({_describe(values)}): {exc.args[0] if exc.args else exc}") from None
        except (TypeError, ValueError) as exc:
            raise InputError(f"grid point {i} ({_describe(values)}): {exc}") from None
        return PointSetup(index=i, values=values, problem=problem, spec=spec, mapping=mapping_obj, sim=sim,
                          backend=self.backend, root_seed=root)

    def validate_points(self) -> list[PointSetup]:
        """Set up every grid point (catches bad values before anything runs)."""
        return [self.setup(i, v) for i, v in enumerate(self.iter_points())]

    def seeds(self, point: int, board: int, root: int) -> tuple[int, int]:
        return run_seeds(root, board, point if self.seeding == "independent" else None)

    # -- identity ---------------------------------------------------------------------------
    def normalised(self) -> dict:
        """Everything that determines the numbers, as canonical JSON-ready data (hashed).

        ``boards`` is left out on purpose: board k's seeds do not depend on how many boards there
        are, so a finished sweep can be extended with more boards into the same directory.
        """
        if self.matrix in FAMILIES:
            mat = {"kind": self.matrix, "generator": 1}
        else:
            prob = self.problem_for({})
            mat = {"kind": "builtin" if self.matrix == "builtin" else "file", "digest": prob.digest(), "d": prob.d}
        opts = {k: self.options.get(k) for k in SIM_FIELDS + MATRIX_FIELDS}
        return {
            "format": FORMAT, "matrix": mat, "backend": self.backend, "seed": self.seed,
            "seeding": self.seeding, "options": opts, "spec": self.spec.to_dict(), "mapping": self.mapping,
            "checkpoints": list(self.checkpoints), "grid": [[k, list(v)] for k, v in self.grid],
            "tolerances": list(TOLERANCES),
        }

    def digest(self) -> str:
        """SHA-256 (16 hex digits) of :meth:`normalised`, floats at 12 significant digits: grids
        built by arithmetic get the same digest on every machine (:mod:`thermotwin.core.fingerprint`)."""
        return json_digest(self.normalised())

    def columns(self) -> list[str]:
        """Column order of results.csv."""
        return (["run_id", "point"] + self.fields
                + ["board", "board_seed", "seed", "backend"] + ([] if "d" in self.fields else ["d"])
                + ["cond_A", "tau_s", "t_end_s", "dt_out_s", "rel_error"]
                + [f"rel_error_at_{c}" for c in self.checkpoints]
                + [f"t_to_{t}" for t in TOL_LABELS]
                + ["error_floor", "wall_s", "status", "message"])


def _describe(values: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items()) or "no grid"


def run_seeds(root: int, board: int, point: int | None = None) -> tuple[int, int]:
    """(board_seed, noise_seed) of a run, derived by SeedSequence from the root seed.

    ``SeedSequence(root, spawn_key=key).generate_state(2, uint64) >> 1`` with key = (board,) for
    ``seeding = "common"`` — board k is then the same physical draw (same component deviates, same
    noise stream) at every grid point, so differences between grid points are paired comparisons
    (common random numbers) — or key = (point, board) for ``"independent"``. Neither depends on
    the number of workers or on the order runs execute in. ``board_seed`` feeds
    :attr:`HardwareSpec.board_seed`, ``noise_seed`` :attr:`SimConfig.seed`: ``thermotwin simulate``
    with those seeds reproduces the run.
    """
    key = (int(board),) if point is None else (int(point), int(board))
    words = np.random.SeedSequence(int(root), spawn_key=key).generate_state(2, np.uint64)
    return int(words[0] >> np.uint64(1)), int(words[1] >> np.uint64(1))


def load_sweep(path, backend: str | None = None) -> SweepPlan:
    """Read and validate a sweep file (TOML)."""
    import tomllib

    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read sweep file {p} ({exc.strerror}); check the path") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: not a valid TOML sweep file ({exc})") from None
    try:
        return SweepPlan.from_dict(data, base_dir=p.resolve().parent, backend=backend)
    except KeyError as exc:
        from ..errors import UnknownKeyError

        raise UnknownKeyError(f"{p}: {exc.args[0] if exc.args else exc}") from None
    except (TypeError, ValueError) as exc:
        raise InputError(f"{p}: {exc}") from None
