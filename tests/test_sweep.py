"""Sweeps (issue 6): the batched twin against ``thermotwin.simulate`` board by board, identical
tables on any number of workers and on a Dask cluster, resume after SIGKILL, bad input.

Oracles: the batched engine must reproduce ``simulate`` path by path — same realised matrix (same
seed streams), same noise stream — so comparisons are to round-off (rtol 1e-9 on statistics of
paths of a few hundred exact steps, whose per-step transition agrees with scipy's to ~1e-14), not
statistical. The transition itself is checked against scipy's expm and Lyapunov solutions.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg

import thermotwin as tt
from thermotwin import cli
from thermotwin.circuit.boards import draw_boards
from thermotwin.solver import batched as bt
from thermotwin.sweep.plan import MAX_RUNS, load_sweep, run_seeds
from cli_helpers import run, assert_one_line_error

RTOL_PATH = 1e-9


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def table(path: Path, drop=("wall_s",)) -> list[dict]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for k in drop:
            r.pop(k)
    return rows


def sweep(tmp_path, text, out="out", *extra, capsys=None, name="sweep.toml"):
    f = write(tmp_path, text, name)
    code = cli.main(["sweep", str(f), "--out", str(tmp_path / out), *map(str, extra)])
    if capsys is not None:
        capsys.readouterr()
    assert code == 0
    return tmp_path / out


SMALL = """
matrix = "builtin"
t_end = "60tau"
boards = 4
checkpoints = ["5tau", "30tau"]
[spec]
kappa0_v2 = 1e-5
c_tolerance = 0.01
"opamp.gain" = 1e4
"opamp.offset_v" = 1e-3
[grid]
r_tolerance = [0.0, 0.01]
kappa0_v2 = [1e-6, 1e-4]
"""


# ---------------------------------------------------------------------------------------------
# batched engine
# ---------------------------------------------------------------------------------------------
def test_draw_boards_equals_design_board_by_board():
    prob = tt.builtin_example()
    spec = tt.HardwareSpec(r_tolerance=0.03, c_tolerance=0.02, resistor_bits=10, r_min_ohm=50.0, r_max_ohm=1e6,
                           dac_bits=12, opamp=tt.OpAmpSpec(gain=3e3, offset_v=2e-3))
    mapping = tt.Mapping(damping=0.1)
    seeds = [0, 7, 2**62 + 5]
    stack = draw_boards(prob, spec, seeds, mapping)
    assert stack.M.shape == (3, prob.d, prob.d) and list(stack.index) == [0, 1, 2]
    for k, s in enumerate(seeds):
        sk = spec.replace(board_seed=s)
        real = tt.realised_matrix(tt.design(prob, sk, mapping), sk)
        # same formulas on the same deviates; only the summation order of one matvec may differ
        np.testing.assert_allclose(stack.M[k], real.M, rtol=1e-14, atol=1e-14 * np.abs(real.M).max())
        np.testing.assert_allclose(stack.f[k], real.f, rtol=1e-13, atol=1e-14 * np.abs(real.f).max())
        np.testing.assert_allclose(stack.noise_gain[k], real.noise_gain, rtol=1e-15)
        assert stack.tau_s == real.tau_s and stack.b_scale == real.b_scale   # exact: one design, twice


def test_identical_boards_share_one_matrix_and_stochastic_rounding_designs_each():
    prob = tt.builtin_example()
    ideal = draw_boards(prob, tt.HardwareSpec(), [1, 2, 3])
    assert ideal.M.shape[0] == 1 and list(ideal.index) == [0, 0, 0]
    spec = tt.HardwareSpec(resistor_bits=6, r_min_ohm=100.0, r_max_ohm=1e5)
    mapping = tt.Mapping(rounding="stochastic")
    st = draw_boards(prob, spec, [4, 5], mapping)
    for k, s in enumerate([4, 5]):
        sk = spec.replace(board_seed=s)
        # exact: stochastic rounding draws board by board through design + realised_matrix, this same call
        np.testing.assert_array_equal(st.M[k], tt.realised_matrix(tt.design(prob, sk, mapping), sk).M)
    assert not np.array_equal(st.M[0], st.M[1])   # exact: two seeds differ by whole quantisation steps


@pytest.mark.parametrize("dt", [0.05, 1.0, 7.0])
def test_ou_transitions_match_expm_and_lyapunov(dt):
    rng = np.random.default_rng(3)
    d = 6
    X = np.stack([3.0 * np.eye(d) + 0.6 * rng.standard_normal((d, d)) for _ in range(5)])   # non-normal
    assert np.all(np.linalg.eigvals(X).real > 1.0)
    q = rng.uniform(0.5, 2.0, (5, d))
    phi, qd, stable = bt.ou_transitions(X, q, dt)
    assert stable.all()
    for k in range(5):
        ph = scipy.linalg.expm(-X[k] * dt)
        S = scipy.linalg.solve_continuous_lyapunov(X[k], np.diag(q[k]))
        Q = S - ph @ S @ ph.T
        # Taylor remainders ≤ 1e-14 of the scaled step (batched.TAYLOR_*), then s ≤ 8 doublings;
        # the reference itself carries ~1e-15 (expm) and the cancellation in S − ΦSΦᵀ
        np.testing.assert_allclose(phi[k], ph, rtol=0, atol=1e-13 * np.abs(ph).max())
        np.testing.assert_allclose(qd[k], Q, rtol=0, atol=1e-13 * np.abs(Q).max())


def test_unstable_boards_are_found_not_simulated():
    X = np.stack([np.diag([1.0, 0.5]), np.array([[1.0, 0.0], [0.0, -0.01]]), np.array([[0.0, 1.0], [-1.0, 0.0]]),
                  np.diag([1.0, 1e-4])])                 # stable, unstable, marginal, slowly decaying (stable)
    _, _, stable = bt.ou_transitions(X, None, 0.5)
    assert stable.tolist() == [True, False, False, True]


def test_numba_kernel_equals_numpy_reference():
    prob = tt.builtin_example()
    spec = tt.HardwareSpec(kappa0_v2=1e-3, r_tolerance=0.02, adc_bits=10)
    boards = draw_boards(prob, spec, list(range(5)))
    n_out, w0 = 120, 37
    sidx = np.array([0, 5, 37, 38, 90, n_out])
    tols = np.array([1e-1, 1e-2, 1e-3])
    kw = dict(x_exact=prob.x_exact, v0=np.zeros(prob.d), kappa0_v2=spec.kappa0_v2, dt_out_s=0.5 * boards.tau_s,
              n_out=n_out, w0=w0, noise_seeds=[11, 12, 13, 14, 15], sample_idx=sidx, tols=tols,
              adc=(spec.adc_bits, spec.v_range_v))
    a = bt.run_boards(boards, method="numba", **kw)
    b = bt.run_boards(boards, method="numpy", **kw)
    np.testing.assert_allclose(a.err, b.err, rtol=1e-12)
    # exact: integer indices; err agrees to 1e-12 and sits ≥ 2e-3 (relative, measured) from every tol
    np.testing.assert_array_equal(a.last_bad, b.last_bad)
    np.testing.assert_allclose(a.x_mean, b.x_mean, rtol=1e-12)


def test_batched_rows_reproduce_simulate_path_by_path(tmp_path, capsys):
    out = sweep(tmp_path, SMALL, "out", "--workers", "1", "--no-plots", capsys=capsys)
    rows = table(out / "results.csv", drop=())
    assert len(rows) == 16 and all(r["status"] == "ok" for r in rows)
    prob = tt.builtin_example()
    plan = load_sweep(tmp_path / "sweep.toml")
    for r in rows[::3]:
        spec = plan.spec.replace(r_tolerance=float(r["r_tolerance"]), kappa0_v2=float(r["kappa0_v2"]),
                                 board_seed=int(r["board_seed"]))
        cfg = tt.SimConfig(t_end="60tau", dt_out="0.5tau", noise="white", seed=int(r["seed"]))
        res = tt.simulate(prob, spec, cfg)
        assert float(r["rel_error"]) == pytest.approx(res.rel_error, rel=RTOL_PATH)
        # exact: τ is one nominal-design computation, written to the CSV by repr (reads back bit for bit)
        assert float(r["tau_s"]) == res.tau_s and float(r["t_end_s"]) == pytest.approx(res.t_end_s, rel=1e-15)
        floor = tt.circuit.design.error_floor(prob, tt.realised_matrix(tt.design(prob, spec), spec))
        assert float(r["error_floor"]) == pytest.approx(floor, rel=1e-9)
        # the checkpoint at 30τ is index 60: the running average over [settle, 30τ]
        T, e_run = res.running_error()
        k = int(np.argmin(np.abs(res.times - 30 * res.tau_s)))
        w = res.window.start
        assert k > w
        assert float(r["rel_error_at_30tau"]) == pytest.approx(e_run[k - w], rel=RTOL_PATH)
        e_inst = res.instantaneous_error()
        k5 = 10
        assert k5 <= w and float(r["rel_error_at_5tau"]) == pytest.approx(e_inst[k5], rel=RTOL_PATH)
        # time to tolerance: first output time from which the error stays ≤ tol until t_end
        est = np.concatenate([e_inst[:w + 1], e_run[1:]])
        for lab, tol in (("1e-1", 1e-1), ("1e-2", 1e-2)):
            bad = np.flatnonzero(est > tol)
            want = "nan" if bad.size and bad[-1] == len(est) - 1 else (bad[-1] + 1 if bad.size else 0) * res.dt_out_s
            got = r[f"t_to_{lab}"]
            assert got == want if want == "nan" else float(got) == pytest.approx(want, rel=1e-12)


def test_single_board_path_reproduces_simulate(tmp_path, capsys):
    text = (SMALL.replace('t_end = "60tau"', 't_end = "20tau"\nnoise = "pwl"\nbackend = "twin"')
            .replace('"30tau"]', '"15tau"]'))          # a checkpoint after t_end is refused
    out = sweep(tmp_path, text, "out", "--workers", "1", "--no-plots", capsys=capsys)
    rows = table(out / "results.csv", drop=())
    plan = load_sweep(tmp_path / "sweep.toml")
    r = rows[5]
    spec = plan.spec.replace(r_tolerance=float(r["r_tolerance"]), kappa0_v2=float(r["kappa0_v2"]),
                             board_seed=int(r["board_seed"]))
    res = tt.simulate(tt.builtin_example(), spec, tt.SimConfig(t_end="20tau", dt_out="0.5tau", noise="pwl",
                                                               seed=int(r["seed"])))
    # The same run (board, noise, grid); the sweep averages with a cumulative trapezoid
    # (batched.trace_metrics), SimResult.x_mean with a plain sum (since the speed merge), so the two
    # averages of the n ≤ 41 rows differ by rounding only: ‖Δx̄‖ ≲ n·ε·√d·max|y| ≈ 41·2.2e-16·√10·‖x*‖,
    # i.e. ≲ 1e-12 relative to rel_error ≈ 0.03; 1e-10 leaves a 100× margin and still fails for any
    # other board or seed (those move rel_error at the 1e-2 level).
    assert float(r["rel_error"]) == pytest.approx(res.rel_error, rel=1e-10, abs=0)


# ---------------------------------------------------------------------------------------------
# determinism and seeds
# ---------------------------------------------------------------------------------------------
def test_same_table_on_any_number_of_workers(tmp_path, capsys, monkeypatch):
    from thermotwin.sweep import runner

    monkeypatch.setattr(runner, "POOL_MIN_FLOP", 0.0)         # use the pool even for this small sweep
    a = sweep(tmp_path, SMALL, "w1", "--workers", "1", "--no-plots", capsys=capsys)
    code, stdout, err = run(["sweep", tmp_path / "sweep.toml", "--out", tmp_path / "w2", "--workers", "2",
                             "--no-plots", "--json"], capsys)
    s = json.loads(stdout)
    assert code == 0 and s["workers"] == 2 and s["tasks"] == 8       # 4 points × 2 batches of 2 boards
    b = tmp_path / "w2"
    # exact: determinism, the same runs on 1 or 2 worker processes of one machine (both files)
    assert table(a / "results.csv") == table(b / "results.csv")
    assert (a / "error_vs_time.csv").read_text() == (b / "error_vs_time.csv").read_text()


def test_seeds_common_across_points_or_independent():
    assert run_seeds(0, 3) == run_seeds(0, 3) != run_seeds(0, 4)
    assert run_seeds(0, 3, point=1) != run_seeds(0, 3, point=2)
    bs, ns = run_seeds(12345, 0)
    assert 0 <= bs < 2**63 and 0 <= ns < 2**63 and bs != ns


def test_common_seeding_pairs_boards_across_grid_points(tmp_path, capsys):
    out = sweep(tmp_path, SMALL, "out", "--workers", "1", "--no-plots", capsys=capsys)
    rows = table(out / "results.csv")
    by_board = {}
    for r in rows:
        by_board.setdefault(r["board"], set()).add((r["board_seed"], r["seed"]))
    assert all(len(v) == 1 for v in by_board.values())        # same draw at every grid point
    out2 = sweep(tmp_path, SMALL.replace('boards = 4', 'boards = 4\nseeding = "independent"'), "ind",
                 "--workers", "1", "--no-plots", capsys=capsys, name="ind.toml")
    seeds = {(r["board_seed"], r["seed"]) for r in table(out2 / "results.csv")}
    assert len(seeds) == 16


# ---------------------------------------------------------------------------------------------
# resume, crash safety
# ---------------------------------------------------------------------------------------------
KILL_SWEEP = """
matrix = "builtin"
t_end = "1000tau"
boards = 60
[spec]
r_tolerance = 0.01
[grid]
kappa0_v2 = [{kappas}]
""".format(kappas=", ".join(f"{k}e-6" for k in range(1, 41)))


def _journal_lines(p: Path) -> int:
    try:
        return p.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_resume_after_sigkill_loses_nothing_and_duplicates_nothing(tmp_path, capsys):
    from thermotwin.sweep import runner

    f = write(tmp_path, KILL_SWEEP)
    plan = load_sweep(f)
    setups = plan.validate_points()
    n_outs = {st.index: runner._n_out_estimate(st) for st in setups}
    assert not runner.small_batched_sweep(plan, setups, {}, n_outs)   # so it really runs on the pool
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "thermotwin.cli", "sweep", str(f), "--out", str(out),
                             "--workers", "2", "--no-plots", "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    journal = out / "runs.jsonl"
    deadline = time.monotonic() + 90
    try:
        while _journal_lines(journal) < 3 * 60 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, "the sweep finished before it could be killed; make it longer"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        # the pool's workers notice their parent is gone and exit on their own
        gone = time.monotonic() + 20
        while time.monotonic() < gone:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("worker processes outlived the killed sweep")
    finally:
        if proc.poll() is None:
            proc.kill()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.stderr.close()
    n_before = _journal_lines(journal)
    assert 0 < n_before < 40 * 60
    # a torn last line, as a kill in the middle of write() would leave
    with open(journal, "ab") as fh:
        fh.write(b'{"run_id":"p39b59","point":39,"board":59,"rel_er')
    code, stdout, err = run(["sweep", f, "--out", out, "--workers", "2", "--no-plots"], capsys)
    assert code == 0, err
    assert f"{n_before} already done" in stdout
    rows = table(out / "results.csv")
    ids = [r["run_id"] for r in rows]
    assert len(ids) == len(set(ids)) == 40 * 60
    lines = (out / "runs.jsonl").read_bytes().splitlines()
    assert all(json.loads(ln)["run_id"] for ln in lines)      # every journal line is complete JSON
    assert len(lines) == 40 * 60                               # resumed runs only: nothing run twice
    ref = sweep(tmp_path, KILL_SWEEP, "ref", "--workers", "1", "--no-plots", capsys=capsys, name="ref.toml")
    assert table(out / "results.csv") == table(ref / "results.csv")   # exact: determinism on one machine


def test_rerun_skips_and_more_boards_extend(tmp_path, capsys):
    out = sweep(tmp_path, SMALL, "out", "--workers", "1", "--no-plots", capsys=capsys)
    first = table(out / "results.csv")
    code, stdout, _ = run(["sweep", tmp_path / "sweep.toml", "--out", out, "--workers", "1", "--no-plots", "--json"],
                          capsys)
    s = json.loads(stdout)
    assert code == 0 and s["new"] == 0 and s["skipped"] == 16
    write(tmp_path, SMALL.replace("boards = 4", "boards = 6"))
    code, stdout, _ = run(["sweep", tmp_path / "sweep.toml", "--out", out, "--workers", "1", "--no-plots", "--json"],
                          capsys)
    s = json.loads(stdout)
    assert code == 0 and s["new"] == 8 and s["skipped"] == 16
    extended = table(out / "results.csv")
    assert [r for r in extended if int(r["board"]) < 4] == first   # exact: rows kept, not recomputed


# ---------------------------------------------------------------------------------------------
# Dask
# ---------------------------------------------------------------------------------------------
def test_dask_local_cluster_gives_the_same_table(tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    local = sweep(tmp_path, SMALL, "local", "--workers", "1", "--no-plots", capsys=capsys)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0") as cluster:
        code, stdout, err = run(["sweep", tmp_path / "sweep.toml", "--out", tmp_path / "dask", "--scheduler",
                                 cluster.scheduler_address, "--no-plots", "--json"], capsys)
    assert code == 0, err
    s = json.loads(stdout)
    assert s["scheduler"].startswith("tcp://127.0.0.1") and s["new"] == 16
    # exact: determinism, the same runs in Dask worker processes of one machine
    assert table(tmp_path / "dask" / "results.csv") == table(local / "results.csv")


def test_unreachable_scheduler_is_one_line_and_touches_nothing(tmp_path, capsys):
    f = write(tmp_path, SMALL)
    t0 = time.monotonic()
    code, _, err = run(["sweep", f, "--out", tmp_path / "o", "--scheduler", "tcp://127.0.0.1:9"], capsys)
    assert_one_line_error(code, err, "Dask scheduler", "tcp://127.0.0.1:9")
    assert time.monotonic() - t0 < 30 and not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------------------
# failures are rows, not crashes
# ---------------------------------------------------------------------------------------------
def test_failed_unstable_and_timeout_runs_are_recorded(tmp_path, capsys):
    text = """
matrix = "spd"
d = 6
cond = 3000
t_end = "20tau"
boards = 12
[grid]
r_tolerance = [0.0, 0.2]
r_max_ohm = ["none", 1.5e3]
"""
    # r_max_ohm = 1.5 kΩ drops every entry below 1/1.5: rows with no realisable entry → design fails
    out = sweep(tmp_path, text, "out", "--workers", "1", "--no-plots", capsys=capsys)
    rows = table(out / "results.csv")
    status = {(r["r_tolerance"], r["r_max_ohm"]): set() for r in rows}
    for r in rows:
        status[(r["r_tolerance"], r["r_max_ohm"])].add(r["status"])
    assert status[("0.0", "")] == {"ok"}
    assert "unstable" in status[("0.2", "")]       # λ_min = 1/3000 cannot survive 20 % resistor spread
    assert status[("0.0", "1500.0")] == {"failed"}
    bad = [r for r in rows if r["status"] == "unstable"]
    assert all(r["rel_error"] == "nan" and "unstable" in r["message"] for r in bad)
    failed = [r for r in rows if r["status"] == "failed"]
    assert all("r_max_ohm" in r["message"] for r in failed)
    code, out_text, err = run(["sweep", write(tmp_path, SMALL, "t.toml"), "--out", tmp_path / "t", "--workers", "1",
                               "--no-plots", "--timeout", "1e-9"], capsys)
    assert code == 0
    assert {r["status"] for r in table(tmp_path / "t" / "results.csv")} == {"timeout"}
    code, out_text, err = run(["sweep", tmp_path / "t.toml", "--out", tmp_path / "t", "--workers", "1",
                               "--no-plots", "--retry-failed", "--json"], capsys)
    assert code == 0 and json.loads(out_text)["new"] == 16
    rows = table(tmp_path / "t" / "results.csv")
    assert {r["status"] for r in rows} == {"ok"} and len(rows) == 16


# ---------------------------------------------------------------------------------------------
# bad input: one line, non-zero exit, nothing written
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, needles", [
    ('matrix = "builtin"\nbogus = 1\n', ["unknown sweep field 'bogus'"]),
    ('matrix = "builtin"\nkappa0_v2 = 1e-6\n', ["'kappa0_v2'", "[spec]"]),
    ('matrix = "builtin"\n[grid]\nr_tolerence = [0.1]\n', ["unknown grid field 'r_tolerence'"]),
    ('matrix = "builtin"\n[grid]\nopamp.gian = [1e4]\n', ["'opamp.gian'"]),
    ('matrix = "builtin"\n[spec]\nkappa = 1\n', ["unknown spec field 'kappa'"]),
    ('matrix = "builtin"\n[grid]\nr_tolerance = []\n', ["'r_tolerance' is empty"]),
    ('matrix = "builtin"\n[grid]\nr_tolerance = 0.1\n', ["must be a list"]),
    ('matrix = "builtin"\n[grid]\nr_tolerance = [0.1, 0.5]\n', ["r_tolerance", "0.5"]),
    ('matrix = "builtin"\n[grid]\nboard_seed = [1, 2]\n', ["board_seed"]),
    ('matrix = "builtin"\n[grid]\nd = [4, 8]\n', ["generated matrix"]),
    ('matrix = "nope.mtx"\n', ["does not exist"]),
    ('matrix = "spd"\n', ["needs the dimension"]),
    ('matrix = "builtin"\nbackend = "ngspice"\nnoise = "white"\n', ["white"]),
    ('matrix = "builtin"\nboards = 0\n', ["boards"]),
    ('matrix = "builtin"\nboards = 10001\n', ["10001 runs", "--yes"]),
    ('matrix = "builtin"\ncheckpoints = ["soon"]\n', ["checkpoint 'soon'"]),
    ('matrix = "builtin"\nt_end = "10tau"\ndt_out = "20tau"\n', ["grid point 0", "dt_out"]),
    ('matrix = "builtin"\nt_end = "10tau"\ncheckpoints = ["5tau", "1e9tau"]\n',
     ["checkpoint '1e9tau'", "after t_end"]),                  # its column would be empty with status ok
    ('matrix = [1, 2\n', ["not a valid TOML"]),
])
def test_bad_sweep_files(tmp_path, capsys, text, needles):
    f = write(tmp_path, text)
    code, _, err = run(["sweep", f, "--out", tmp_path / "out"], capsys)
    assert_one_line_error(code, err, *needles)
    assert not (tmp_path / "out").exists()


def test_out_dir_with_another_sweep_is_refused_untouched(tmp_path, capsys):
    out = sweep(tmp_path, SMALL, "out", "--workers", "1", "--no-plots", capsys=capsys)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    f2 = write(tmp_path, SMALL.replace("kappa0_v2 = [1e-6, 1e-4]", "kappa0_v2 = [1e-6, 1e-3]"), "other.toml")
    code, _, err = run(["sweep", f2, "--out", out], capsys)
    assert_one_line_error(code, err, "holds a different sweep", "grid")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("mine")
    code, _, err = run(["sweep", f2, "--out", junk], capsys)
    assert_one_line_error(code, err, "not empty")
    assert [p.name for p in junk.iterdir()] == ["notes.txt"]


def test_bad_options(tmp_path, capsys):
    f = write(tmp_path, SMALL)
    for argv, needle in ((["--workers", "0"], "--workers"), (["--scheduler", "localhost:8786"], "tcp://"),
                         (["--timeout", "-1"], "--timeout")):
        code, _, err = run(["sweep", f, "--out", tmp_path / "o", *argv], capsys)
        assert_one_line_error(code, err, needle)
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------------------
# plots, generated matrices, hygiene
# ---------------------------------------------------------------------------------------------
def test_plots_for_d_and_condition_number(tmp_path, capsys):
    text = """
matrix = "spd"
t_end = "400tau"
boards = 3
[spec]
kappa0_v2 = 1e-8
[grid]
d = [2, 4, 8]
cond = [2.0, 20.0]
"""
    out = sweep(tmp_path, text, "out", "--workers", "1", capsys=capsys)
    for name in ("error_vs_d.png", "error_vs_cond.png", "error_vs_time.png", "t_to_tol_vs_d.png",
                 "t_to_tol_vs_cond.png", "results.csv", "error_vs_time.csv"):
        assert (out / name).stat().st_size > 0, name
    rows = table(out / "results.csv")
    assert len(rows) == 18 and {r["status"] for r in rows} == {"ok"}
    # the cond column is κ₂ of the nominal matrix: the requested condition number
    assert all(float(r["cond_A"]) == pytest.approx(float(r["cond"]), rel=1e-9) for r in rows)
    # exact: the grid's input literals printed by repr
    assert {r["cond"] for r in rows} == {"2.0", "20.0"} and {r["d"] for r in rows} == {"2", "4", "8"}


def test_generated_matrix_has_the_requested_spectrum():
    from thermotwin.sweep.matrices import generated_problem

    p = generated_problem("spd", 12, cond=50.0, matrix_seed=3)
    lam = np.linalg.eigvalsh(p.A)
    assert lam.max() == pytest.approx(1.0, rel=1e-12) and lam.min() == pytest.approx(1 / 50, rel=1e-10)
    q = generated_problem("spd", 12, cond=5.0, matrix_seed=3)
    # exact: b is raw generator draws (after G, whose count does not depend on cond), no arithmetic
    np.testing.assert_array_equal(p.b, q.b)                     # only the spectrum changes with cond


def test_sweep_import_is_light():
    code = ("import sys, thermotwin.sweep, thermotwin.sweep.plan, thermotwin.sweep.tasks; "
            "heavy = ('matplotlib', 'dask', 'distributed', 'tqdm', 'numba'); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def _pid(_):
    return os.getpid()


def test_pool_recycles_worker_processes():
    from thermotwin.sweep import execute

    got = []
    execute.run_all(list(range(3 * execute.RECYCLE_TASKS)), _pid, lambda t, r: got.append(r),
                    lambda t, m: pytest.fail(m), workers=2, recycle=True)
    assert len(got) == 3 * execute.RECYCLE_TASKS
    assert len(set(got)) >= 3 and os.getpid() not in got


def _die_on_3(t):
    if t == 3:
        os._exit(1)                # a worker crash (segfault, out of memory) while running task 3
    return t


def test_a_crashing_task_is_recorded_and_the_others_complete():
    from thermotwin.sweep import execute

    done, failed = [], []
    execute.run_all(list(range(8)), _die_on_3, lambda t, r: done.append(r), lambda t, m: failed.append((t, m)),
                    workers=2)
    assert sorted(done) == [0, 1, 2, 4, 5, 6, 7]
    assert [t for t, _ in failed] == [3] and "died" in failed[0][1]


def test_limit_is_stated():
    assert MAX_RUNS == 10_000


@pytest.mark.ngspice
def test_ngspice_sweep_runs_one_process_per_run(tmp_path, capsys):
    text = """
matrix = "builtin"
backend = "ngspice"
t_end = "20tau"
boards = 2
[spec]
kappa0_v2 = 1e-6
[grid]
r_tolerance = [0.0, 0.01]
"""
    out = sweep(tmp_path, text, "out", "--workers", "2", "--no-plots", capsys=capsys)
    rows = table(out / "results.csv")
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}
    assert all(r["backend"] == "ngspice" and float(r["rel_error"]) < 0.5 for r in rows)
