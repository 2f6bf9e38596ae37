"""The README's Python example runs as written (issue 13): every ```python block, in order, in a scratch
directory, with the Agg backend."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_a_python_example_before_the_cli_tour():
    text = README.read_text()
    assert python_blocks(), "the README has no ```python block"
    assert text.index("```python") < text.index("## A tour")


@pytest.mark.ngspice
def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    try:
        for block in python_blocks():
            exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    finally:
        plt.close("all")
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["twin", "ngspice"]
    # the example runs 30τ on the built-in d = 10 problem: its time average is ~0.5 % from A⁻¹b (κ0 = 1e-6 V²)
    for line in out:
        assert float(line.rsplit(" ", 1)[1]) < 0.05
    assert (tmp_path / "error.png").stat().st_size > 10_000
