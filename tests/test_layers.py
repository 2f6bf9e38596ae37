"""The import contracts of pyproject.toml (issue 13): layers that only point down, no sibling cycles.

``lint-imports`` reads every import statement of the package (function-level ones too), so a
deferred import cannot hide an upward dependency. The second test shows the same configuration
fails on a package that breaks it, so the first one can fail.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import importlinter.api  # noqa: F401 (import-linter is in the test extra; this configures it as its CLI does)
from importlinter.application.use_cases import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def test_thermotwin_keeps_its_import_contracts(capsys):
    ok = lint_imports(config_filename=str(ROOT / "pyproject.toml"), cache_dir=None, no_logo=True)
    out = capsys.readouterr().out
    assert ok, out
    assert "layers: core -> circuit -> solver -> analysis -> tngd -> cli KEPT" in out
    assert "no import cycles between siblings KEPT" in out


def test_an_upward_import_and_a_cycle_break_the_contracts(tmp_path, monkeypatch, capsys):
    pkg = tmp_path / "layered_demo"
    for name, body in {"__init__.py": "", "core.py": "from . import circuit\n", "circuit.py": "X = 1\n",
                       "solver.py": "from . import circuit\n"}.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(body)
    cfg = tmp_path / "contracts.toml"
    cfg.write_text(textwrap.dedent("""
        [tool.importlinter]
        root_package = "layered_demo"
        [[tool.importlinter.contracts]]
        name = "layers"
        type = "layers"
        containers = ["layered_demo"]
        layers = ["solver", "circuit", "core"]
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "layered_demo", raising=False)
    assert not lint_imports(config_filename=str(cfg), cache_dir=None, no_logo=True)
    assert "layered_demo.core is not allowed to import layered_demo.circuit" in capsys.readouterr().out
