"""Issue 16: outputs never damage a file, SPICE seeds repeat, no NaN with exit 0, budgets.

Every refused case asserts a non-zero exit, exactly one stderr line, no traceback, and no file
written or changed (a snapshot of the test directory before and after).
"""

from __future__ import annotations

import os
import stat
import threading

import numpy as np
import pytest

from cli_helpers import assert_one_line_error, run
from thermotwin.errors import InputError
from thermotwin.io import atomic_write_text, check_output_not_input, output_target

A4 = np.array([[4.0, 1, 0, 0], [1, 4, 1, 0], [0, 1, 4, 1], [0, 0, 1, 4]])


def snapshot(root):
    """{relative path: (bytes, mode)} of every file and link under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as fh:
                    out[os.path.relpath(p, root)] = (fh.read(), st.st_mode, st.st_ino)
            elif stat.S_ISLNK(st.st_mode):
                out[os.path.relpath(p, root)] = ("link", os.readlink(p))
            else:
                out[os.path.relpath(p, root)] = ("other", stat.S_IFMT(st.st_mode))
    return out


@pytest.fixture
def a4(tmp_path):
    p = tmp_path / "A4.npy"
    np.save(p, A4)
    return p


def refused(tmp_path, capsys, argv, *needles):
    """Run argv and assert the one-line refusal with nothing written or changed under tmp_path."""
    before = snapshot(tmp_path)
    code, out, err = run(argv, capsys)
    assert_one_line_error(code, err, *needles)
    assert snapshot(tmp_path) == before
    return err


# -- point 2: writing outputs ----------------------------------------------------------------------

def test_new_file_gets_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode) == 0o640


def test_replaced_file_keeps_its_mode(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("old")
    os.chmod(p, 0o604)
    atomic_write_text(p, "new")
    assert p.read_text() == "new" and stat.S_IMODE(os.stat(p).st_mode) == 0o604


def test_symlink_to_a_file_keeps_the_link(tmp_path):
    target = tmp_path / "real.cir"
    target.write_text("old")
    link = tmp_path / "link.cir"
    link.symlink_to(target)
    atomic_write_text(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "new"


def test_symlink_to_a_fifo_is_written_through(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "stdout-like"
    link.symlink_to(fifo)
    got = []

    def read():
        with open(fifo, "rb") as fh:
            got.append(fh.read())

    reader = threading.Thread(target=read)
    reader.start()
    atomic_write_text(link, "through the pipe\n")
    reader.join(10)
    assert got == [b"through the pipe\n"]
    assert link.is_symlink() and stat.S_ISFIFO(os.stat(fifo).st_mode)   # neither replaced


def test_dev_paths_are_streams_never_replaced():
    # only inspected (no write): /dev/stdout is a symlink into /proc, /dev/null a character device
    assert output_target("/dev/stdout")[0] == "stream"
    assert output_target("/dev/null")[0] == "stream"
    assert output_target("-")[0] == "stdout"
    atomic_write_text("/dev/null", "discarded")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_directory_and_dangling_link_are_refused(tmp_path):
    with pytest.raises(InputError, match="directory"):
        atomic_write_text(tmp_path, "x")
    (tmp_path / "dangling").symlink_to(tmp_path / "missing" / "x")
    with pytest.raises(InputError, match="symlink"):
        atomic_write_text(tmp_path / "dangling", "x")


def test_check_output_not_input(tmp_path):
    a = tmp_path / "a.npy"
    a.write_bytes(b"")
    (tmp_path / "alias.npy").symlink_to(a)
    with pytest.raises(InputError, match="also an input"):
        check_output_not_input(tmp_path / "alias.npy", [None, a])
    with pytest.raises(InputError, match="also an input"):
        check_output_not_input([tmp_path / "x", tmp_path / "." / "a.npy"], [a])
    check_output_not_input(tmp_path / "b.npy", [a, None])
    check_output_not_input("-", [a])


def test_netlist_to_stdout(a4, capsys):
    code, out, err = run(["netlist", a4, "-o", "-", "--t-end", "5tau", "--noise", "none"], capsys)
    assert code == 0 and out.startswith("*") and ".end" in out
    assert "standard output" in err


def test_netlist_refuses_to_overwrite_its_input(tmp_path, capsys, a4):
    refused(tmp_path, capsys, ["netlist", a4, "-o", a4], "also an input")


def test_calibrate_refuses_to_overwrite_its_input(tmp_path, capsys):
    t = np.linspace(0, 1e-3, 200)
    p = tmp_path / "x.csv"
    p.write_text("time,v(o0)\n" + "\n".join(f"{a:.6e},{np.sin(a):.6e}" for a in t) + "\n")
    refused(tmp_path, capsys, ["calibrate", p, "-o", p], "also an input")


def test_simulate_out_refuses_its_input(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    np.save(out / "trace.csv.npy", A4)       # not an input name clash
    a = out / "trace.csv"
    a.write_text("\n".join(",".join(str(v) for v in row) for row in A4) + "\n")
    refused(tmp_path, capsys, ["simulate", a, "--out", out, "--t-end", "5tau", "--noise", "none"],
            "also an input")


def test_netlist_hint_quotes_the_path(tmp_path, capsys, a4):
    out = tmp_path / "a b;touch X;.cir"
    code, _, err = run(["netlist", a4, "-o", out, "--t-end", "5tau", "--noise", "none"], capsys)
    assert code == 0 and f"ngspice -b '{out}'" in err
    assert not (tmp_path / "X").exists()


def test_failed_ngspice_names_or_removes_its_folder(tmp_path, monkeypatch):
    """A failure that names the netlist keeps it; any other exit (Ctrl-C, a reader error) removes it."""
    import tempfile

    from thermotwin.errors import NgspiceError
    from thermotwin.solver import ngspice

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(ngspice, "find_ngspice", lambda: "/bin/true")

    def interrupted(text, wd, timeout_s=600.0, output_file=None):
        (wd / "circuit.cir").write_text(text)
        raise KeyboardInterrupt

    monkeypatch.setattr(ngspice, "run_netlist_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ngspice._run_and_read("* x\n.end\n", None, 1.0)
    assert list(tmp_path.iterdir()) == []

    def failed(text, wd, timeout_s=600.0, output_file=None):
        (wd / "circuit.cir").write_text(text)
        raise NgspiceError(f"ngspice failed on {wd / 'circuit.cir'}: x", str(wd / "circuit.cir"))

    monkeypatch.setattr(ngspice, "run_netlist_text", failed)
    with pytest.raises(NgspiceError) as info:
        ngspice._run_and_read("* x\n.end\n", None, 1.0)
    kept = list(tmp_path.iterdir())
    assert len(kept) == 1 and str(kept[0]) in str(info.value)


def test_ngspice_error_line_keeps_its_continuation():
    from thermotwin.solver.ngspice import error_lines

    log = "Circuit: x\nError on line 22 or its substitute:\n  r1 a b foo\nother\n"
    assert error_lines(log) == ["Error on line 22 or its substitute: r1 a b foo"]


# -- point 3: SPICE seeds ------------------------------------------------------------------------

def test_spice_seed_map():
    from thermotwin.circuit.spice_codes import SPICE_SEED_MAX, spice_seed

    assert spice_seed(7) == 7 and spice_seed(SPICE_SEED_MAX) == SPICE_SEED_MAX
    for s in (0, 2**31, 2**32 + 7, 2**63 - 1, 2**64, 2**64 + 1):
        v = spice_seed(s)
        assert 1 <= v <= SPICE_SEED_MAX and v == spice_seed(s)
    assert spice_seed(2**32 + 7) != 7          # ngspice itself would wrap it to 7
    assert len({spice_seed(s) for s in range(2**31, 2**31 + 200)}) == 200
    for bad in (-1, True, 1.5, "3"):
        with pytest.raises(ValueError):
            spice_seed(bad)


@pytest.mark.ngspice
@pytest.mark.parametrize("seed", [0, 2147483648])
def test_trrandom_repeats_for_seeds_ngspice_would_skip(tmp_path, capsys, a4, seed):
    """ngspice skips `.options seed=0` and seeds ≥ 2³¹ and falls back to the clock; mapped, they repeat."""
    argv = ["simulate", a4, "--backend", "ngspice", "--noise", "trrandom", "--seed", seed, "--t-end", "10tau",
            "--kappa0", "1e-3", "--json"]
    import json

    results = []
    for _ in range(2):
        code, out, _ = run(argv, capsys)
        assert code == 0
        results.append(json.loads(out)["rel_error"])
    assert results[0] == results[1]        # same SPICE seed, same TRRANDOM samples, same binary


SEED_SWEEP = """
matrix = "builtin"
backend = "{backend}"
noise = "trrandom"
t_end = "10tau"
boards = 2
[spec]
kappa0_v2 = 1e-3
[grid]
r_tolerance = [0.0, 0.01]
"""


@pytest.mark.parametrize("backend", [pytest.param("ngspice", marks=pytest.mark.ngspice),
                                     pytest.param("pyspice", marks=pytest.mark.pyspice)])
def test_identical_spice_sweeps_give_identical_tables(tmp_path, capsys, backend):
    """Sweep seeds are 63-bit; before the map ngspice clock-seeded them and two runs differed."""
    import csv

    f = tmp_path / "s.toml"
    f.write_text(SEED_SWEEP.format(backend=backend))
    tables = []
    for out in ("a", "b"):
        code, _, err = run(["sweep", f, "--out", tmp_path / out, "--workers", "1", "--no-plots"], capsys)
        assert code == 0, err
        with open(tmp_path / out / "results.csv", newline="") as fh:
            rows = [{k: v for k, v in r.items() if k != "wall_s"} for r in csv.DictReader(fh)]
        tables.append(rows)
    assert len(tables[0]) == 4 and {r["status"] for r in tables[0]} == {"ok"}
    assert max(int(r["seed"]) for r in tables[0]) > 2**31       # the seeds the map exists for
    assert tables[0] == tables[1]
