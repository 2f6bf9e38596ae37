"""Backend ``pyspice``: same netlist text as ``ngspice``, run in PySpice's shared libngspice."""

import os
import subprocess
import sys

import numpy as np
import pytest

import thermotwin as tt

pytestmark = [pytest.mark.pyspice, pytest.mark.ngspice]

SPD3 = tt.Problem(np.array([[2.0, 0.5, 0.0], [0.5, 2.0, 0.3], [0.0, 0.3, 1.5]]),
                  np.array([1.0, -1.0, 0.5]), name="spd3")


def _max_dev(a, b):
    assert a.states.shape == b.states.shape
    # exact: every backend reports the grid times of resolve_grid, one computation run in one process
    np.testing.assert_array_equal(a.times, b.times)
    return float(np.abs(a.states - b.states).max() / np.ptp(b.states))


def test_pyspice_equals_ngspice_pathwise():
    p = tt.builtin_example()
    cfg = tt.SimConfig(t_end="5tau", seed=3)
    a = tt.simulate(p, config=cfg, backend="pyspice")
    b = tt.simulate(p, config=cfg, backend="ngspice")
    assert a.backend == "pyspice" and b.backend == "ngspice"
    assert _max_dev(a, b) <= 1e-6
    # exact: the same design/grid computation run twice in one process (these two lines)
    assert a.tau_s == b.tau_s and a.settle_s == b.settle_s and a.b_scale == b.b_scale
    assert a.noise_step_s == b.noise_step_s and a.problem_hash == b.problem_hash
    assert a.wall_s > 0 and a.stats["spice_s"] > 0 and a.stats["netlist_bytes"] == b.stats["netlist_bytes"]


def test_two_runs_in_a_row_match_twin():
    cfg = tt.SimConfig(t_end="5tau", seed=3)
    for p in (SPD3, tt.builtin_example()):
        a = tt.simulate(p, config=cfg, backend="pyspice")
        t = tt.simulate(p, config=cfg, backend="twin")
        assert a.d == p.d
        assert _max_dev(a, t) <= 1e-3


def test_import_thermotwin_does_not_load_pyspice():
    code = "import sys, thermotwin; sys.exit(int(any(m.split('.')[0] == 'PySpice' for m in sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_rejects_white_noise_and_many_trajectories():
    p = tt.builtin_example()
    with pytest.raises(ValueError, match="no exact white noise"):
        tt.simulate(p, config=tt.SimConfig(t_end="5tau", noise="white"), backend="pyspice")
    with pytest.raises(ValueError, match="n_traj=1"):
        tt.simulate(p, config=tt.SimConfig(t_end="5tau", n_traj=2), backend="pyspice")


def test_bad_netlist_and_timeout_raise_and_leave_ngspice_usable():
    from thermotwin.solver.pyspice_backend import run_netlist_shared, shared_ngspice

    from thermotwin.circuit.netlist import render_netlist_files

    cfg = tt.SimConfig(t_end="5tau", seed=3)
    net = render_netlist_files(SPD3, tt.HardwareSpec(), cfg)
    text, files = net.text, net.files
    plots = set(shared_ngspice().plot_names)
    with pytest.raises(tt.NgspiceError, match="unknown subckt"):
        run_netlist_shared(text.replace("\n", "\nXbad a b nosuch_subckt\n", 1), files=files)
    with pytest.raises(tt.NgspiceError, match="no such command"):
        run_netlist_shared(text.replace(".control\n", ".control\nnosuch_command\n", 1), files=files)
    with pytest.raises(tt.NgspiceError, match="noise file thermotwin_noise0.txt .* is missing"):
        run_netlist_shared(text)
    with pytest.raises(tt.NgspiceError, match="malformed"):
        run_netlist_shared(text, files={"thermotwin_noise0.txt": "0 1.0 2.0\n"})
    with pytest.raises(tt.NgspiceError, match="timed out"):
        tt.simulate(tt.builtin_example(), config=tt.SimConfig(t_end="40tau", seed=1, timeout_s=0.05),
                    backend="pyspice")
    assert set(shared_ngspice().plot_names) == plots   # nothing left behind
    a = tt.simulate(SPD3, config=cfg, backend="pyspice")
    b = tt.simulate(SPD3, config=cfg, backend="ngspice")
    assert _max_dev(a, b) <= 1e-6


def test_missing_library_is_a_one_line_not_found_error():
    code = (
        "import thermotwin as tt\n"
        "for _ in range(2):\n"
        "    try:\n"
        "        tt.simulate(tt.builtin_example(), config=tt.SimConfig(t_end='5tau'), backend='pyspice')\n"
        "    except tt.NgspiceNotFoundError as e:\n"
        "        print(e)\n"
    )
    env = {**os.environ, "NGSPICE_LIBRARY_PATH": "/nonexistent/libngspice.so"}
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and proc.stderr == ""
    assert all("libngspice0-dev" in ln and "NGSPICE_LIBRARY_PATH" in ln for ln in lines)
    assert "/nonexistent/libngspice.so" in lines[0] and "restart" in lines[1]
