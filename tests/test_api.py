"""The Python API: one problem model, realise → Board, one netlist writer, one backend registry.

The stored numbers below were printed by the command line *before* the restructuring (issue 13):
``thermotwin factored-example --n 6 --r 2 --seed 3 --damping 0.5`` then
``thermotwin simulate p.npz --backend B --t-end 20tau --seed 5 --json`` (x_mean). The API must give
today's CLI numbers for the same seed; the comparison tolerance 1e-9 (relative) allows for BLAS
summation order on another machine — same-machine runs agree to the last bit — and is far below
any change of the noise path (a different seed or grid moves x_mean by ~1e-2).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import thermotwin as tt
from thermotwin import cli

OLD_X_MEAN = {
    "twin": [0.4887930044796109, -0.5407053158173264, 1.7046232136623725, 0.38330169118640656,
             0.10288429744177316, 2.9870274263109287],
    # SPICE: the filesource noise route (exact zero-order hold). The PWL route before it, whose 1e-4·h
    # ramps shifted each step, gave values 1e-7 away (0.49199915120128385, -0.5384121346724885, …).
    "ngspice": [0.4919991360454817, -0.5384121192848849, 1.7159328957633264, 0.39337604478699373,
                0.10623777231267639, 3.0096421080113336],
    "pyspice": [0.4919991360454817, -0.5384121192848849, 1.7159328957633264, 0.39337604478699373,
                0.10623777231267639, 3.009642108011333],
}
#: ``--ensemble 3`` with the twin (boards board_seed + i, stochastic rounding, seeds 5, 6, 7).
OLD_ENSEMBLE_X_MEAN = [0.4841079907782146, -0.5361224382588584, 1.7015478884523059, 0.38430364083720486,
                       0.09947098275006411, 2.9947410297161325]
#: ``--set r_tolerance=0.01 --set opamp.gain=1e4`` with the twin (the diagonal ETD2 path).
OLD_NONIDEAL_X_MEAN = [0.48046117096746793, -0.5440936732883006, 1.7047865040247583, 0.37252580125017976,
                       0.10155573209186283, 2.9833504290077646]


@pytest.fixture(scope="module")
def fp():
    return tt.synthetic_factored(6, 2, seed=3, damping=0.5)


@pytest.fixture()
def npz(fp, tmp_path):
    path = tmp_path / "p.npz"
    np.savez(path, J=fp.J, H=fp.H, damping=fp.damping, g=fp.b)
    return path


def _cli_x_mean(argv, capsys):
    assert cli.main([str(a) for a in argv]) == 0
    return np.array(json.loads(capsys.readouterr().out)["x_mean"])


CONFIG = tt.SimConfig(t_end="20tau", seed=5)


@pytest.mark.parametrize("backend", [
    "twin", pytest.param("ngspice", marks=pytest.mark.ngspice),
    pytest.param("pyspice", marks=[pytest.mark.ngspice, pytest.mark.pyspice])])
def test_simulate_runs_a_factored_problem_like_the_cli(fp, npz, capsys, backend):
    res = tt.simulate(fp, tt.HardwareSpec(), CONFIG, backend=backend)
    assert res.backend == backend and res.d == 6
    np.testing.assert_allclose(res.x_mean, OLD_X_MEAN[backend], rtol=1e-9, atol=0)
    cli_x = _cli_x_mean(["simulate", npz, "--backend", backend, "--t-end", "20tau", "--seed", "5", "--json"], capsys)
    np.testing.assert_allclose(res.x_mean, cli_x, rtol=1e-12, atol=0)


def test_factored_ensemble_and_nonideal_board_equal_the_cli(fp):
    ens = tt.run_ensemble(fp, tt.HardwareSpec(), CONFIG, 3)
    np.testing.assert_allclose(ens.x_mean, OLD_ENSEMBLE_X_MEAN, rtol=1e-9, atol=0)
    assert ens.summary()["ensemble"] == 3 and len(ens.x_means) == 3
    spec = tt.HardwareSpec(r_tolerance=0.01).replace(**{"opamp.gain": 1e4})
    res = tt.simulate(fp, spec, CONFIG)
    assert res.stats["path"] == "factored-etd2"
    np.testing.assert_allclose(res.x_mean, OLD_NONIDEAL_X_MEAN, rtol=1e-9, atol=0)


def test_both_forms_satisfy_the_problem_protocol(fp):
    dense = tt.Problem(fp.dense(), fp.b, name="dense_of_fp")
    for p in (fp, dense):
        assert isinstance(p, tt.LinearProblem)
        assert p.d == 6 and p.b.shape == (6,)
        x = np.arange(6.0)
        np.testing.assert_allclose(p.matvec(x), fp.dense() @ x, rtol=1e-13)
        np.testing.assert_allclose(p.x_exact, np.linalg.solve(fp.dense(), fp.b), rtol=1e-12)
        assert 0 < p.lambda_min <= p.lambda_max
    assert (fp.form, dense.form) == ("factored", "dense")
    assert fp.g is fp.b                       # the TNGD name of the right-hand side is an alias


def test_realise_gives_one_board_type_for_both_forms(fp):
    spec = tt.HardwareSpec(r_tolerance=0.01, board_seed=4)
    dense = tt.Problem(fp.dense(), fp.b)
    for p, form in ((fp, "factored"), (dense, "dense")):
        board = tt.realise(p, spec)
        assert isinstance(board, tt.Board) and board.form == form and board.d == 6
        real = board.realised()
        # a 1 % tolerance perturbs the realised drift by ~1 %, never by more than 10 %
        rel = np.linalg.norm(real.A_eff - fp.dense()) / np.linalg.norm(fp.dense())
        assert 1e-4 < rel < 0.1
        assert board.error_floor() > 0


def test_one_netlist_writer_for_both_layouts(fp):
    from thermotwin.circuit.netlist import render_factored_netlist

    cfg = tt.SimConfig(t_end="3tau", noise="none")
    text = tt.render_netlist(fp, tt.HardwareSpec(), cfg, tt.Mapping(y_gain=0.5))
    assert text == render_factored_netlist(fp, tt.HardwareSpec(), cfg, y_gain=0.5)
    assert "three arrays" in text.splitlines()[0] and "y_gain=0.5" in text
    dense_text = tt.render_netlist(tt.Problem(fp.dense(), fp.b), tt.HardwareSpec(), cfg)
    assert "integrator array" in dense_text.splitlines()[0]


@pytest.mark.parametrize("backend, config, mapping, match", [
    ("twin-em", CONFIG, tt.Mapping(), "cannot run a factored problem; use one of twin, ngspice, pyspice"),
    ("ngspice", tt.SimConfig(noise="white"), tt.Mapping(), "no exact white noise"),
    ("twin", tt.SimConfig(noise="trnoise"), tt.Mapping(), "use --noise pwl or white or none"),
    ("pyspice", tt.SimConfig(n_traj=2), tt.Mapping(), "n_traj=1"),
    ("ngspice", CONFIG, tt.Mapping(gbw_model="integrator"), "takes refuse"),
    ("twin", CONFIG, tt.Mapping(damping=0.1), "dense boards only"),
    ("spectre", CONFIG, tt.Mapping(), "use one of twin, twin-em, ngspice, pyspice"),
])
def test_unsupported_combinations_are_refused_in_one_place(fp, backend, config, mapping, match):
    with pytest.raises(tt.InputError, match=match):
        tt.simulate(fp, None, config, backend=backend, mapping=mapping)


def test_a_user_backend_object_is_accepted(fp):
    """Any object with the registry's attributes and run() (as solve_ivp accepts a user's method class)."""
    from thermotwin.solver.registry import BACKENDS, Backend

    calls = []

    class Recorder(Backend):
        def run(self, problem, spec, config, mapping):
            calls.append(problem.form)
            return BACKENDS["twin"].run(problem, spec, config, mapping)

    rec = Recorder("recorder", ("factored",), {"factored": ("pwl", "white", "none")}, False, ("factored",),
                   ("refuse",), "records its calls")
    res = tt.simulate(fp, None, CONFIG, backend=rec)
    np.testing.assert_allclose(res.x_mean, OLD_X_MEAN["twin"], rtol=1e-9, atol=0)
    assert calls == ["factored"]
    with pytest.raises(tt.InputError, match="cannot run a dense problem"):
        tt.simulate(tt.builtin_example(), None, CONFIG, backend=rec)


def test_registry_names_feed_the_cli_and_the_sweep():
    from thermotwin.sweep.plan import BACKENDS as SWEEP_BACKENDS

    assert tuple(tt.BACKENDS) == ("twin", "twin-em", "ngspice", "pyspice")
    assert tuple(SWEEP_BACKENDS) == tuple(tt.BACKENDS)
    sim = next(a for a in cli.build_parser()._subparsers._group_actions[0].choices["simulate"]._actions
               if a.dest == "backend")
    assert tuple(sim.choices) == tuple(tt.BACKENDS)
