"""The command line, called as ``thermotwin.cli.main([...])`` (docs/conventions.md#cli).

Every bad input must give a non-zero exit, exactly one line on stderr, and no traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
import scipy.sparse

from thermotwin import cli
from cli_helpers import run, assert_one_line_error

SUMMARY_KEYS = {"backend", "d", "tau_s", "t_end_s", "wall_s", "seed", "x_exact", "x_final", "x_mean",
                "rel_error", "average_window_s"}

A2 = np.array([[2.0, 0.5], [0.5, 3.0]])
B2 = np.array([1.0, -1.0])


def write_csv(path, arr):
    np.savetxt(path, np.atleast_2d(arr), delimiter=",")
    return path


# ---------------------------------------------------------------------------------------------
# netlist / simulate happy paths
# ---------------------------------------------------------------------------------------------
def test_netlist_writes_a_file(tmp_path, capsys):
    a = write_csv(tmp_path / "a.csv", A2)
    out = tmp_path / "sub dir" / "x.cir"
    code, stdout, err = run(["netlist", a, "-o", out, "--t-end", "5tau", "--seed", "3"], capsys)
    assert code == 0
    text = out.read_text()
    assert text.startswith("* thermotwin") and text.rstrip().endswith(".end")
    assert "wrdata x.data " in text                   # data file named after the netlist
    assert str(out) in err and stdout == ""


def test_simulate_json_one_object(tmp_path, capsys):
    a = write_csv(tmp_path / "a.csv", A2)
    b = write_csv(tmp_path / "b.csv", B2)
    code, out, err = run(["simulate", a, "--rhs", b, "--json", "--t-end", "20tau", "--seed", "4"], capsys)
    assert code == 0 and err == ""
    lines = out.strip().splitlines()
    assert len(lines) == 1
    s = json.loads(lines[0])
    assert SUMMARY_KEYS <= set(s)
    assert s["backend"] == "twin" and s["d"] == 2 and s["seed"] == 4
    np.testing.assert_allclose(s["x_exact"], np.linalg.solve(A2, B2), rtol=1e-14)
    assert len(s["x_final"]) == len(s["x_mean"]) == 2
    w0, w1 = s["average_window_s"]
    assert 0 <= w0 < w1 == pytest.approx(s["t_end_s"])
    assert s["t_end_s"] == pytest.approx(20 * s["tau_s"], rel=0.01)
    err_check = np.linalg.norm(np.subtract(s["x_mean"], s["x_exact"])) / np.linalg.norm(s["x_exact"])
    assert s["rel_error"] == pytest.approx(err_check, rel=1e-12)


def test_simulate_out_dir(tmp_path, capsys):
    a = write_csv(tmp_path / "a.csv", A2)
    out = tmp_path / "run"
    code, stdout, _ = run(["simulate", a, "--out", out, "--json", "--t-end", "10tau", "--dt-out", "0.5tau"],
                          capsys)
    assert code == 0
    header = (out / "trace.csv").read_text().splitlines()[0].split(",")
    assert header == ["time", "v0", "v1"]
    data = np.loadtxt(out / "trace.csv", delimiter=",", skiprows=1)
    summary = json.loads((out / "summary.json").read_text())
    assert summary == json.loads(stdout)   # exact: one summary dict written twice (JSON floats by repr)
    assert data.shape == (21, 3)
    np.testing.assert_allclose(data[:, 0], np.arange(21) * 0.5 * summary["tau_s"], rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(data[-1, 1:], summary["x_final"], rtol=1e-11)


@pytest.mark.parametrize("t_end, seconds", [("1e-5", 1e-5), ("10us", 1e-5), ("20tau", 2e-5)])
def test_time_forms(tmp_path, capsys, t_end, seconds):
    a = write_csv(tmp_path / "a.csv", A2)
    code, out, _ = run(["simulate", a, "--json", "--t-end", t_end, "--kappa0", "0"], capsys)
    assert code == 0
    s = json.loads(out)
    assert s["tau_s"] == pytest.approx(1e-6)
    # t_end is rounded up to a whole number of output steps
    assert seconds - 1e-12 <= s["t_end_s"] <= seconds + s["dt_out_s"]


@pytest.mark.parametrize("symmetry", ["general", "symmetric"])
def test_matrix_market_inputs(tmp_path, capsys, symmetry):
    A = np.array([[4.0, -1.0, 0.0], [-1.0, 3.0, 0.5], [0.0, 0.5, 2.0]])
    if symmetry == "general":
        A[0, 2] = 0.25                      # non-symmetric, as a 'general' file may be
    path = tmp_path / f"a_{symmetry}.mtx"
    scipy.io.mmwrite(path, scipy.sparse.coo_matrix(A), symmetry=symmetry)
    banner = path.read_text().splitlines()[0].lower()
    assert "coordinate" in banner and symmetry in banner
    b = np.array([1.0, 2.0, -1.0])
    bpath = tmp_path / "b.mtx"
    scipy.io.mmwrite(bpath, b.reshape(-1, 1))
    code, out, _ = run(["simulate", path, "--rhs", bpath, "--json", "--t-end", "5tau"], capsys)
    assert code == 0
    # a symmetric file stores one triangle; reading must give the full matrix
    np.testing.assert_allclose(json.loads(out)["x_exact"], np.linalg.solve(A, b), rtol=1e-13)


@pytest.mark.parametrize("fmt", ["csv", "npy"])
def test_csv_and_npy_inputs(tmp_path, capsys, fmt):
    A = np.array([[3.0, 0.2, -0.4], [0.1, 2.0, 0.3], [-0.2, 0.5, 2.5]])
    b = np.array([0.5, -1.0, 2.0])
    if fmt == "csv":
        pa, pb = write_csv(tmp_path / "a.csv", A), tmp_path / "b.csv"
        pb.write_text("# rhs\n0.5\n-1.0\n2.0\n")
    else:
        pa, pb = tmp_path / "a.npy", tmp_path / "b.npy"
        np.save(pa, A)
        np.save(pb, b)
    code, out, _ = run(["simulate", pa, "--rhs", pb, "--json", "--t-end", "5tau"], capsys)
    assert code == 0
    np.testing.assert_allclose(json.loads(out)["x_exact"], np.linalg.solve(A, b), rtol=1e-13)


# ---------------------------------------------------------------------------------------------
# bad inputs: non-zero exit, one line, no traceback
# ---------------------------------------------------------------------------------------------
def _bad_matrix(tmp_path, kind):
    if kind == "non-square":
        return write_csv(tmp_path / "a.csv", np.ones((2, 3))), None
    if kind == "nan":
        return write_csv(tmp_path / "a.csv", np.array([[1.0, 2.0], [3.0, np.nan]])), None
    if kind == "unstable-diagonal":
        return write_csv(tmp_path / "a.csv", np.diag([1.0, -1.0])), None
    if kind == "unstable-positive-diagonal":
        # positive diagonal, but eigenvalues 4 and −2
        return write_csv(tmp_path / "a.csv", np.array([[1.0, 3.0], [3.0, 1.0]])), None
    if kind == "rhs-length":
        return write_csv(tmp_path / "a.csv", A2), write_csv(tmp_path / "b.csv", np.ones(3))
    if kind == "missing-file":
        return tmp_path / "nope.csv", None
    if kind == "missing-rhs":
        return write_csv(tmp_path / "a.csv", A2), tmp_path / "nope.npy"
    if kind == "garbage-npy":
        p = tmp_path / "a.npy"
        p.write_bytes(b"\x93NUMPX garbage \x00\x01\x02\xff" * 4)
        return p, None
    if kind == "garbage-mtx":
        p = tmp_path / "a.mtx"
        p.write_bytes(b"\x00\xff\xfe not a matrix market file")
        return p, None
    if kind == "directory":
        return tmp_path, None
    if kind == "unknown-suffix":
        p = tmp_path / "a.xlsx"
        p.write_text("1")
        return p, None
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["non-square", "nan", "unstable-diagonal", "unstable-positive-diagonal",
                                  "rhs-length", "missing-file", "missing-rhs", "garbage-npy", "garbage-mtx",
                                  "directory", "unknown-suffix"])
@pytest.mark.parametrize("command", ["simulate", "netlist"])
def test_bad_matrix_inputs(tmp_path, capsys, kind, command):
    a, b = _bad_matrix(tmp_path, kind)
    argv = [command, a] + (["--rhs", b] if b is not None else []) + ["--t-end", "5tau"]
    if command == "netlist":
        argv += ["-o", tmp_path / "x.cir"]
    code, out, err = run(argv, capsys)
    assert_one_line_error(code, err)
    assert out == ""
    assert not (tmp_path / "x.cir").exists()
    if kind.startswith("unstable"):
        assert "unstable" in err
    if kind == "rhs-length":
        assert "3 entries" in err


@pytest.mark.parametrize("suffix", [
    "csv",
    "npy", "mtx",
])
def test_empty_file(tmp_path, capsys, suffix):
    p = tmp_path / f"empty.{suffix}"
    p.write_bytes(b"")
    code, out, err = run(["simulate", p, "--t-end", "5tau"], capsys)
    assert_one_line_error(code, err)


@pytest.mark.parametrize("spec, key", [({"kappa0_v2": 1e-4, "bogus": 1}, "bogus"),
                                       ({"opamp": {"gainz": 1e5}}, "opamp.gainz")])
def test_unknown_spec_key(tmp_path, capsys, spec, key):
    a = write_csv(tmp_path / "a.csv", A2)
    sp = tmp_path / "spec.json"
    sp.write_text(json.dumps(spec))
    code, _, err = run(["simulate", a, "--spec", sp, "--t-end", "5tau"], capsys)
    assert_one_line_error(code, err)
    assert repr(key) in err


@pytest.mark.parametrize("argv_tail", [["--t-end", "20parsecs"], ["--t-end=-5tau"], ["--dt-out", "0"],
                                       ["--kappa0", "-1"], ["--r0", "1kV"]])
def test_bad_option_values(tmp_path, capsys, argv_tail):
    a = write_csv(tmp_path / "a.csv", A2)
    code, _, err = run(["simulate", a] + argv_tail, capsys)
    assert_one_line_error(code, err)


def test_missing_ngspice(tmp_path, capsys, monkeypatch):
    a = write_csv(tmp_path / "a.csv", A2)
    monkeypatch.setenv("THERMOTWIN_NGSPICE", str(tmp_path / "no" / "ngspice"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    code, _, err = run(["simulate", a, "--backend", "ngspice", "--t-end", "5tau"], capsys)
    assert_one_line_error(code, err)
    assert code == cli.EXIT_SIM and "ngspice was not found" in err


@pytest.mark.ngspice
def test_ngspice_timeout(capsys):
    code, _, err = run(["simulate", "--backend", "ngspice", "--noise", "none", "--t-end", "2000tau",
                        "--timeout", "0.001"], capsys)
    assert_one_line_error(code, err)
    assert code == cli.EXIT_SIM and "timed out" in err


@pytest.mark.ngspice
def test_ngspice_error_keeps_the_netlist_it_names():
    from pathlib import Path

    import thermotwin as tt
    from thermotwin.errors import NgspiceError

    cfg = tt.SimConfig(t_end="2000tau", noise="none", timeout_s=0.001)
    with pytest.raises(NgspiceError) as info:
        tt.simulate(tt.builtin_example(), config=cfg, backend="ngspice")
    assert info.value.netlist_path and Path(info.value.netlist_path).exists()


# ---------------------------------------------------------------------------------------------
# import hygiene
# ---------------------------------------------------------------------------------------------
def test_import_loads_no_heavy_dependency():
    code = ("import sys, thermotwin, thermotwin.cli; "
            "heavy = ('matplotlib', 'PySpice', 'dask', 'torch'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
