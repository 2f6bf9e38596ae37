"""Issue 16 point 1 ("long runs show progress"): a progress line on stderr for simulate (twin,
ngspice, pyspice), report and sweep — shown on a terminal or with THERMOTWIN_PROGRESS=1, never with
--quiet or off a terminal, and never changing stdout, JSON or a written result."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from cli_helpers import run
from thermotwin.core import progress

A4 = np.array([[4.0, 1, 0, 0], [1, 4, 1, 0], [0, 1, 4, 1], [0, 0, 1, 4]])


@pytest.fixture
def a4(tmp_path):
    p = tmp_path / "A4.npy"
    np.save(p, A4)
    return p


def _no_wall(obj, key=""):
    """The summary without its wall-clock fields (wall_s, the SPICE stats' render_s/spice_s/…): the
    only values two identical runs may differ in."""
    if isinstance(obj, dict):
        return {k: _no_wall(v, k) for k, v in obj.items()
                if "wall" not in k and not (key == "stats" and k.endswith("_s"))}
    if isinstance(obj, list):
        return [_no_wall(v) for v in obj]
    return obj


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_shown_only_on_a_terminal_and_never_when_quiet(monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert not progress.enabled()
    tty = _Tty()
    monkeypatch.setattr("sys.stderr", tty)
    assert progress.enabled()
    with progress.quiet():
        assert not progress.enabled()
    monkeypatch.setenv(progress.ENV, "0")
    assert not progress.enabled()
    monkeypatch.setenv(progress.ENV, "1")
    monkeypatch.setattr(progress, "REDRAW_S", 0.0)            # every update draws
    with progress.Bar("outer", total=4) as outer:
        outer.update(1)
        with progress.Bar("inner", total=10) as inner:
            inner.update(5)
    text = tty.getvalue()
    assert "outer  25%" in text and "outer  25% (0 s) · inner  50%" in text
    assert text.endswith("\r") and text.rstrip("\r").endswith(" ")      # the line is erased at the end


def test_a_short_run_on_a_terminal_prints_nothing(monkeypatch):
    """The delay: a run shorter than DELAY_S leaves the terminal untouched."""
    monkeypatch.delenv(progress.ENV, raising=False)
    tty = _Tty()
    monkeypatch.setattr("sys.stderr", tty)
    with progress.Bar("x", total=3) as bar:
        for i in range(3):
            bar.update(i + 1)
    assert tty.getvalue() == ""


def _both(argv, capsys, monkeypatch):
    """Run argv with progress off and forced on; return ((out, err) off, (out, err) on)."""
    got = []
    for flag in ("0", "1"):
        monkeypatch.setenv(progress.ENV, flag)
        code, out, err = run(argv, capsys)
        assert code == 0, err
        got.append((out, err))
    return got


@pytest.mark.parametrize("backend", ["twin", pytest.param("ngspice", marks=pytest.mark.ngspice),
                                     pytest.param("pyspice", marks=pytest.mark.pyspice)])
def test_simulate_progress_changes_no_output(a4, capsys, monkeypatch, backend):
    argv = ["simulate", a4, "--backend", backend, "--t-end", "10tau", "--json"]
    (out0, err0), (out1, err1) = _both(argv, capsys, monkeypatch)
    assert err0 == ""
    assert ("twin" if backend == "twin" else backend) in err1 and "\r" in err1
    assert "\n" not in err1 and err1.rsplit("\r", 1)[-1] == ""   # one overwritten line, erased at the end
    # exact: the same run twice (same seed, same binary); progress must not change a digit of the JSON
    assert _no_wall(json.loads(out0)) == _no_wall(json.loads(out1))
    monkeypatch.setenv(progress.ENV, "1")
    code, out, err = run([*argv, "--quiet"], capsys)
    assert code == 0 and err == ""
    # exact: as above
    assert _no_wall(json.loads(out)) == _no_wall(json.loads(out0))


@pytest.mark.parametrize("extra", [[], ["--noise-step", "0.05tau"]])     # exact path; ETD2 sub-steps
def test_factored_simulate_progress_changes_no_output(tmp_path, capsys, monkeypatch, extra):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "f.npz", J=rng.standard_normal((3, 40)) / 6, H=np.eye(3), damping=np.array(1.0),
             g=np.ones(40))
    argv = ["simulate", tmp_path / "f.npz", "--t-end", "10tau", "--json", *extra]
    (out0, err0), (out1, err1) = _both(argv, capsys, monkeypatch)
    assert "factored twin" not in err0 and "factored twin" in err1
    # exact: the same run twice; progress must not change a digit
    assert _no_wall(json.loads(out0)) == _no_wall(json.loads(out1))


def test_report_shows_its_backends(tmp_path, a4, capsys, monkeypatch):
    monkeypatch.setenv(progress.ENV, "1")
    code, out, err = run(["report", a4, "--backends", "twin", "--out", tmp_path / "rep", "--t-end", "10tau"], capsys)
    assert code == 0 and "report twin (1/1)" in err and "\n" not in err
    assert "report twin" not in out


@pytest.mark.slow
def test_report_progress_changes_no_file(tmp_path, a4, capsys, monkeypatch):
    outs = []
    for flag in ("0", "1"):
        monkeypatch.setenv(progress.ENV, flag)
        out = tmp_path / f"rep{flag}"
        code, _, err = run(["report", a4, "--backends", "twin", "--out", out, "--t-end", "10tau"], capsys)
        assert code == 0
        assert ("report twin (1/1)" in err) == (flag == "1")
        outs.append(out)
    # exact: identical runs; the traces are the same digits whatever stderr showed
    assert (outs[0] / "trace_twin.csv").read_text() == (outs[1] / "trace_twin.csv").read_text()
    s = [_no_wall(json.loads((o / "summary.json").read_text())) for o in outs]
    assert s[0] == s[1]                                # exact: as above


def test_sweep_progress_changes_no_table(tmp_path, capsys, monkeypatch):
    f = tmp_path / "s.toml"
    f.write_text('matrix = "builtin"\nt_end = "10tau"\nboards = 2\n[grid]\nr_tolerance = [0.0, 0.01]\n')
    tables = []
    for flag in ("0", "1"):
        monkeypatch.setenv(progress.ENV, flag)
        code, _, err = run(["sweep", f, "--out", tmp_path / flag, "--workers", "1", "--no-plots"], capsys)
        assert code == 0
        assert ("sweep" in err and "4/4" in err) == (flag == "1")
        with open(tmp_path / flag / "results.csv", newline="") as fh:
            tables.append([{k: v for k, v in r.items() if k != "wall_s"} for r in csv.DictReader(fh)])
    assert tables[0] == tables[1]                      # exact: identical sweeps, as test_sweep's worker test
    monkeypatch.setenv(progress.ENV, "1")
    code, _, err = run(["sweep", f, "--out", tmp_path / "q", "--workers", "1", "--no-plots", "--quiet"], capsys)
    assert code == 0 and "sweep" not in err
