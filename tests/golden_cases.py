"""Reference netlists committed under ``netlists/`` and their stored ngspice runs under ``tests/data/``.

Each case is a fixed problem, spec and simulation config; ``netlists/<name>.cir`` is the text
:func:`thermotwin.render_netlist` made from it and, for cases with ``stored_run=True``,
``tests/data/<name>.data`` is the ``wrdata`` table ``ngspice -b netlists/<name>.cir`` wrote.

Regenerate after a deliberate change of the netlist writer (and review the diff!):

    THERMOTWIN_REGEN_GOLDEN=1 python -m pytest -q tests/test_netlist.py tests/test_ngspice_oracles.py
    # or, equivalently:
    python tests/golden_cases.py

The stored runs need ngspice to regenerate; the golden netlists do not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import thermotwin as tt

ROOT = Path(__file__).resolve().parent.parent
NETLIST_DIR = ROOT / "netlists"
DATA_DIR = ROOT / "tests" / "data"
REGEN = os.environ.get("THERMOTWIN_REGEN_GOLDEN") == "1"

#: Fixed 3×3 non-symmetric matrix with one negative entry (A[0, 2]); eigenvalues 2.166, 2.071, 1.063.
A_REF = np.array([[2.0, 0.5, -0.3],
                  [0.2, 1.5, 0.4],
                  [0.1, 0.6, 1.8]])
B_REF = np.array([1.0, -0.5, 0.25])


@dataclass(frozen=True)
class GoldenCase:
    name: str
    problem: tt.Problem
    spec: tt.HardwareSpec
    config: tt.SimConfig
    stored_run: bool
    factored: bool = False     # problem is a FactoredProblem; the three-array netlist

    @property
    def output_file(self) -> str:
        return f"{self.name}.data"

    @property
    def netlist_path(self) -> Path:
        return NETLIST_DIR / f"{self.name}.cir"

    @property
    def data_path(self) -> Path:
        return DATA_DIR / f"{self.name}.data"

    @property
    def noise_stem(self) -> str:
        return f"{self.name}_noise"

    def render_files(self):
        """The :class:`thermotwin.circuit.netlist.Netlist` (text and noise files) of this case."""
        from thermotwin.circuit.netlist import render_netlist_files

        return render_netlist_files(self.problem, self.spec, self.config, output_file=self.output_file,
                                    noise_file=self.noise_stem)

    def render(self) -> str:
        return self.render_files().text

    def noise_paths(self) -> list[Path]:
        """The committed noise files beside the netlist (``pwl`` cases)."""
        return [NETLIST_DIR / name for name in self.render_files().files]


def ref_problem() -> tt.Problem:
    return tt.Problem(A_REF, B_REF, name="ref_3x3")


#: Fixed factored problem, N = 4, r = 2: J with mixed signs (and one zero), H with a negative
#: off-diagonal entry (PSD: eigenvalues 0.6 and 1.4), λ = 0.5 — F = λI + JᵀHJ has eigenvalues
#: 0.5 (twice), 1.024, 2.952.
J_REF = np.array([[0.8, -0.5, 0.3, 0.0],
                  [0.2, 0.7, -0.6, 0.9]])
H_REF = np.array([[1.0, -0.4],
                  [-0.4, 1.0]])
G_REF = np.array([0.5, -1.0, 0.25, 0.75])


def ref_factored():
    from thermotwin.solver.factored import FactoredProblem

    return FactoredProblem(J_REF, H_REF, 0.5, G_REF, name="ref_factored_4x2")


CASES = {
    c.name: c
    for c in (
        GoldenCase("ref_3x3_pwl", ref_problem(), tt.HardwareSpec.ideal(),
                   tt.SimConfig(t_end="3tau", seed=7, noise="pwl"), stored_run=True),
        GoldenCase("ref_3x3_trrandom", ref_problem(), tt.HardwareSpec.ideal(),
                   tt.SimConfig(t_end="3tau", seed=7, noise="trrandom"), stored_run=False),
        GoldenCase("ref_factored_4x2_pwl", ref_factored(), tt.HardwareSpec.ideal().replace(kappa0_v2=1e-3),
                   tt.SimConfig(t_end="4tau", seed=11, noise="pwl"), stored_run=True, factored=True),
    )
}


def run_stored(case: GoldenCase, ngspice: str | None = None) -> Path:
    """Run ``ngspice -b`` on the committed netlist in a scratch directory and return the data path
    (inside a fresh temporary directory the caller owns)."""
    exe = ngspice or shutil.which("ngspice")
    wd = Path(tempfile.mkdtemp(prefix="thermotwin-golden-"))
    shutil.copy(case.netlist_path, wd / case.netlist_path.name)
    for p in case.noise_paths():
        shutil.copy(p, wd / p.name)
    subprocess.run([exe, "-b", case.netlist_path.name], cwd=wd, check=True, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=120)
    return wd / case.output_file


def regenerate(with_data: bool = True) -> list[Path]:
    """Rewrite every golden netlist and (with ngspice available) every stored run."""
    written = []
    NETLIST_DIR.mkdir(exist_ok=True)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for case in CASES.values():
        written += case.render_files().write(case.netlist_path)
        if with_data and case.stored_run and shutil.which("ngspice"):
            out = run_stored(case)
            shutil.copy(out, case.data_path)
            shutil.rmtree(out.parent)
            written.append(case.data_path)
    return written


if __name__ == "__main__":  # pragma: no cover
    for p in regenerate():
        print(f"wrote {p}")
