"""Same-noise SPICE runs (``--noise pwl``): the noise travels in files beside the netlist.

The netlist reads the twin's standard normals through XSPICE ``filesource`` models (one file per 16
nodes) with a zero-amplitude TRRANDOM clock that puts a breakpoint on every noise step
(docs/noise.md#ngspice). Checked here: the stand-alone netlist runs with ``ngspice -b`` from any
folder and follows the twin path by path; long runs (1000 τ) still agree; a missing or malformed
noise file is one line naming the file, before ngspice runs; ``-o -`` is refused for a netlist
that needs side files.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

import thermotwin as tt
from thermotwin import cli
from thermotwin.circuit.netlist import render_netlist_files
from thermotwin.errors import NgspiceError
from thermotwin.solver.ngspice import (
    check_noise_files, find_ngspice, noise_file_failure, read_wrdata, run_netlist_text,
)

SPEC = tt.HardwareSpec(kappa0_v2=1e-4)


def _problem(d: int = 4, seed: int = 2) -> tt.Problem:
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((d, d))
    return tt.Problem(G @ G.T / d + np.eye(d), rng.standard_normal(d), name=f"spd{d}")


@pytest.mark.ngspice
def test_cli_netlist_runs_stand_alone_from_another_folder(tmp_path):
    """`thermotwin netlist -o dir/out.cir` writes the noise file beside it; `ngspice -b dir/out.cir`
    run from elsewhere finds it (filesource resolves names beside the netlist) and follows the twin."""
    p = _problem()
    np.save(tmp_path / "A.npy", p.A)
    np.save(tmp_path / "b.npy", p.b)
    out = tmp_path / "dir" / "out.cir"
    out.parent.mkdir()
    args = ["--rhs", str(tmp_path / "b.npy"), "--t-end", "20tau", "--seed", "4", "--kappa0", "1e-4"]
    assert cli.main(["netlist", str(tmp_path / "A.npy"), "-o", str(out), *args]) == 0
    assert sorted(f.name for f in out.parent.iterdir()) == ["out.cir", "out_noise0.txt"]
    text = out.read_text()
    assert 'file="out_noise0.txt"' in text
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run([find_ngspice(), "-b", str(out)], cwd=elsewhere, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and noise_file_failure(proc.stdout + proc.stderr) is None
    t, v, _ = read_wrdata(elsewhere / "out.data")
    twin = tt.simulate(p, SPEC, tt.SimConfig(t_end="20tau", seed=4), backend="twin")
    assert len(t) == len(twin.times)
    dev = np.abs(v / twin.b_scale - twin.states).max() / np.ptp(twin.states)
    assert dev <= 1e-3, dev          # measured ~2e-6


def test_netlist_to_stdout_is_refused_for_pwl_and_allowed_for_trrandom(tmp_path, capsys):
    np.save(tmp_path / "A.npy", _problem().A)
    before = sorted(tmp_path.iterdir())
    assert cli.main(["netlist", str(tmp_path / "A.npy"), "-o", "-", "--t-end", "2tau"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "noise from files" in err[0] and "-o FILE.cir" in err[0]
    assert sorted(tmp_path.iterdir()) == before
    assert cli.main(["netlist", str(tmp_path / "A.npy"), "-o", "-", "--t-end", "2tau", "--noise", "trrandom"]) == 0
    assert "TRRANDOM" in capsys.readouterr().out


def _bundle(tmp_path, d: int = 3):
    net = render_netlist_files(_problem(d), SPEC, tt.SimConfig(t_end="5tau", seed=1))
    name, body = next(iter(net.files.items()))
    return net, name, body


@pytest.mark.parametrize("damage,needle", [
    (lambda body: None, "is missing"),
    (lambda body: body.replace("\n1 ", "\n1 x", 1), "malformed: expected rows"),
    (lambda body: body.replace("\n2 ", "\n7 ", 1), "step indices"),
    (lambda body: "\n".join(body.splitlines()[:20]) + "\n", "ends at"),
    (lambda body: body.replace("\n3 ", "\n3" + " " * 600, 1), "longer than 511"),
    (lambda body: body.replace("\n4 ", "\n4 nan ", 1), "malformed"),
    (lambda body: body.encode("utf-16"), "cannot be read as text"),
])
def test_missing_or_malformed_noise_file_is_one_line_before_ngspice_runs(tmp_path, damage, needle):
    net, name, body = _bundle(tmp_path)
    bad = damage(body)
    if isinstance(bad, bytes):
        (tmp_path / name).write_bytes(bad)
    elif bad is not None:
        (tmp_path / name).write_text(bad)
    with pytest.raises(NgspiceError) as exc:
        check_noise_files(net.text, tmp_path)
    msg = str(exc.value)
    assert needle in msg and name in msg and "\n" not in msg
    assert "Netlist.write" in msg


def test_the_files_written_are_accepted(tmp_path):
    net, name, body = _bundle(tmp_path, d=20)
    assert len(net.files) == 2
    paths = net.write(tmp_path / "c.cir")
    assert [p.name for p in paths] == ["c.cir", *net.files]
    check_noise_files(net.text, tmp_path)


@pytest.mark.ngspice
def test_run_netlist_text_refuses_a_missing_file_and_names_filesource_failures(tmp_path):
    net, name, body = _bundle(tmp_path)
    with pytest.raises(NgspiceError, match=f"noise file {name} named by the netlist is missing"):
        run_netlist_text(net.text, tmp_path / "wd")
    assert not (tmp_path / "wd" / "circuit.cir").exists()       # refused before writing or running
    assert noise_file_failure("Instance: a_noise0   Message: cannot open file x0.txt") == "x0.txt"


@pytest.mark.ngspice
@pytest.mark.parametrize("backend", ["ngspice", pytest.param("pyspice", marks=pytest.mark.pyspice)])
def test_long_same_noise_run_follows_the_twin(backend):
    """1000 τ at d = 6 (20,000 noise steps): the run that took > 8 min with PWL sources takes seconds,
    and the path still follows the twin's (measured 2.1e-6 of the range; bound 1e-3)."""
    p = _problem(6, seed=5)
    cfg = tt.SimConfig(t_end="1000tau", dt_out="0.5tau", seed=0, timeout_s=600)
    twin = tt.simulate(p, SPEC, cfg, backend="twin")
    spice = tt.simulate(p, SPEC, cfg, backend=backend)
    assert spice.stats["noise_file_bytes"] > 1e6
    dev = np.abs(spice.states - twin.states).max() / np.ptp(twin.states)
    assert dev <= 1e-3, dev


def test_subnormal_entries_are_open_circuits_not_inf_resistors(tmp_path, capsys):
    """An entry whose conductance underflows gives no resistor (an open circuit), never 'inf' in a netlist."""
    A = np.array([[2.0, 1e-320], [0.0, 1.5]])
    np.save(tmp_path / "A.npy", A)
    assert cli.main(["netlist", str(tmp_path / "A.npy"), "-o", str(tmp_path / "a.cir"), "--t-end", "2tau"]) == 0
    fp = tt.synthetic_factored(6, 2, seed=3, damping=0.5)
    J = fp.J.copy()
    J[0, 1] = 5e-324
    np.savez(tmp_path / "f.npz", J=J, H=fp.H, damping=fp.damping, g=fp.b)
    assert cli.main(["netlist", str(tmp_path / "f.npz"), "--factored", "-o", str(tmp_path / "f.cir"),
                     "--t-end", "2tau"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("wrote ") for line in err)    # no warnings
    for name in ("a.cir", "f.cir"):
        words = (tmp_path / name).read_text().split()
        assert "inf" not in words and "nan" not in words
    assert "R0_1 " not in (tmp_path / "a.cir").read_text()
