"""Backend ``ngspice``: run the netlist text in an ``ngspice -b`` subprocess (docs/backends.md#backends, docs/noise.md#ngspice).

Both SPICE backends (this one and the shared-library one, :mod:`thermotwin.solver.pyspice_backend`)
go through :func:`run_spice`: realise, render (either layout), hand the text to a runner with one
netlist-in, table-out interface (``check()``, ``table(text, label, timeout_s)``), wrap the table.

A subprocess isolates ngspice crashes and lets runs go in parallel. The netlist is written
atomically into a private working directory; ngspice's ``wrdata`` writes a uniform-grid table
(``linearize``) that :func:`read_wrdata` parses.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from ..circuit.board import Board, realise
from ..circuit.mapping import Mapping
from ..circuit.netlist import OUTPUT_FILE, PROBE_FILE, render_netlist, render_netlist_files
from ..circuit.programming import adc_readout
from ..circuit.spec import HardwareSpec
from ..core.config import SimConfig, resolve_grid
from ..core.progress import elapsed
from ..core.problem import Problem, is_factored
from ..errors import NgspiceError, NgspiceNotFoundError
from ..io import atomic_write_text
from .result import SimResult

INSTALL_HINT = ("install it with `sudo apt-get install -y ngspice libngspice0 libngspice0-dev` "
                "(Debian/Ubuntu) or set THERMOTWIN_NGSPICE to the ngspice executable")


def find_ngspice() -> str:
    """Path of the ngspice executable (``$THERMOTWIN_NGSPICE`` or ``PATH``)."""
    exe = os.environ.get("THERMOTWIN_NGSPICE") or shutil.which("ngspice")
    if not exe or not Path(exe).exists():
        raise NgspiceNotFoundError(f"ngspice was not found; {INSTALL_HINT}")
    return exe


def _tail(text: str, n: int = 8) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines[-n:])


def error_lines(log: str) -> list[str]:
    """ngspice's error lines, each with its continuation: ngspice writes "Error on line 22 or its
    substitute:" and the offending line on the next line, so a line ending in ':' is joined with
    the next non-empty one."""
    lines = log.splitlines()
    out = []
    for k, ln in enumerate(lines):
        low = ln.lower().lstrip()
        if not (low.startswith(("error", "fatal")) or "simulation(s) aborted" in low):
            continue
        text = ln.strip()
        if text.endswith(":"):
            nxt = next((m.strip() for m in lines[k + 1:k + 3] if m.strip()), "")
            text = f"{text} {nxt}".strip()
        out.append(text)
    return out


#: A noise model line of a ``pwl`` netlist (:func:`thermotwin.circuit.spice_text.pwl_noise_block`).
_FILESOURCE = re.compile(r'^\.model\s+\S+\s+filesource\s*\((?P<args>.*)\)\s*$', re.I | re.M)
#: filesource reads each line of its file into a 512-byte buffer (a longer line is read as two rows).
FILESOURCE_LINE_MAX = 511


def noise_files_named(text: str) -> list[tuple[str, int, float]]:
    """The files a netlist's ``filesource`` models read: (name, columns, time scale) each."""
    out = []
    for m in _FILESOURCE.finditer(text):
        args = m.group("args")
        name = re.search(r'file\s*=\s*"([^"]*)"', args)
        scale = re.search(r"amplscale\s*=\s*\[([^\]]*)\]", args)
        ts = re.search(r"timescale\s*=\s*(\S+)", args)
        if name:
            out.append((name.group(1), len(scale.group(1).split()) if scale else 1,
                        float(ts.group(1)) if ts else 1.0))
    return out


def noise_files_at(text: str, folder: str | os.PathLike) -> str:
    """The netlist with every filesource file name made the absolute path of that name in ``folder``."""
    return re.sub(r'(filesource\s*\(file\s*=\s*")([^"]*)"',
                  lambda m: f'{m.group(1)}{(Path(folder) / m.group(2)).as_posix()}"', text)


def _tran_end(text: str) -> float | None:
    m = re.search(r"^\.tran\s+\S+\s+(\S+)", text, re.I | re.M)
    try:
        return float(m.group(1)) if m else None
    except ValueError:
        return None


def check_noise_files(text: str, folder: str | os.PathLike) -> None:
    """Every noise file the netlist names exists in ``folder`` and is a table filesource reads as
    meant: rows of a step index and one finite number per column, indices 0, 1, 2, … up to the end
    of the ``.tran``, no line longer than filesource's buffer.

    Raises:
        NgspiceError: one line naming the file and what is wrong (missing, malformed, short).
    """
    t_end = _tran_end(text)
    for name, cols, timescale in noise_files_named(text):
        path = Path(folder) / name
        fix = "write the netlist with its noise files (thermotwin netlist -o FILE.cir, or Netlist.write)"
        if not path.is_file():
            raise NgspiceError(f"noise file {name} named by the netlist is missing from {folder}; {fix}",
                               None, "")
        try:
            raw = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise NgspiceError(f"noise file {path} cannot be read as text ({type(exc).__name__}); {fix}",
                               None, "") from None
        rows = [ln for ln in raw.splitlines() if ln.strip() and ln.lstrip()[0] not in "#*;"]
        long = next((k for k, ln in enumerate(rows) if len(ln) > FILESOURCE_LINE_MAX), None)
        if long is not None:
            raise NgspiceError(f"noise file {path}: data row {long + 1} is longer than {FILESOURCE_LINE_MAX} "
                               f"characters, which ngspice's filesource cannot read; {fix}", None, "")
        try:
            table = np.array([[float(x) for x in ln.split()] for ln in rows], dtype=float) if rows else None
        except ValueError:
            table = None
        if table is None or table.ndim != 2 or table.shape[1] != cols + 1 or not np.isfinite(table).all():
            raise NgspiceError(f"noise file {path} is malformed: expected rows of a step index and {cols} "
                               f"finite numbers; {fix}", None, "")
        if not np.array_equal(table[:, 0], np.arange(len(table))):   # exact: integer step indices
            raise NgspiceError(f"noise file {path} is malformed: its step indices are not 0, 1, 2, …; {fix}",
                               None, "")
        if t_end is not None and (len(table) - 1) * timescale < t_end * (1 - 1e-9):
            raise NgspiceError(f"noise file {path} ends at {(len(table) - 1) * timescale:.6g} s, before the "
                               f"run's end {t_end:.6g} s; {fix}", None, "")


def noise_file_failure(log: str) -> str | None:
    """filesource's own message for a file it could not open (it then outputs 0 V and the run goes on)."""
    m = re.search(r"cannot open file (\S+)", log)
    return m.group(1) if m else None


def run_netlist_text(text: str, workdir: str | os.PathLike, timeout_s: float = 600.0,
                     output_file: str = OUTPUT_FILE, files: dict | None = None) -> Path:
    """Write ``text`` to ``workdir/circuit.cir`` (and ``files``, {name: text}, beside it), run
    ``ngspice -b`` there, return the data path.

    Raises:
        NgspiceNotFoundError: no ngspice.
        NgspiceError: a noise file the netlist names is missing or malformed (before running);
            non-zero exit, errors in the log, no output, or timeout (the netlist is kept in
            ``workdir`` and named in the error).
    """
    exe = find_ngspice()
    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    cir = wd / "circuit.cir"
    for name, body in (files or {}).items():
        atomic_write_text(wd / name, body)
    check_noise_files(text, wd)
    atomic_write_text(cir, text)
    out = wd / output_file
    if out.exists():
        out.unlink()
    try:
        with elapsed("ngspice", limit_s=timeout_s):            # stderr progress on a terminal (core.progress)
            proc = subprocess.run([exe, "-b", cir.name], cwd=wd, capture_output=True, text=True,
                                  timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise NgspiceError(f"ngspice timed out after {timeout_s:g} s on {cir}; raise --timeout or "
                           "shorten t_end / coarsen the noise step", str(cir),
                           _tail((exc.stderr or b"").decode(errors="replace")
                                 if isinstance(exc.stderr, bytes) else (exc.stderr or ""))) from None
    log = (proc.stdout or "") + "\n" + (proc.stderr or "")
    (wd / "ngspice.log").write_text(log)
    errors = error_lines(log)
    missing = noise_file_failure(log)
    if missing:
        errors = [f"filesource could not open the noise file {missing}"] + errors
    if proc.returncode != 0 or errors or not out.exists():
        first = errors[0] if errors else (_tail(log, 1) or f"exit code {proc.returncode}")
        raise NgspiceError(f"ngspice failed on {cir}: {first}", str(cir), _tail(log))
    return out


def read_wrdata(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Parse a ``wrdata`` table written with ``wr_singlescale`` and ``wr_vecnames``.

    Returns:
        (times (n,), values (n, k), vector names).
    """
    p = Path(path)
    with p.open() as fh:
        header = fh.readline().split()
        data = np.loadtxt(fh, ndmin=2)
    if not header or header[0] != "time":
        raise NgspiceError(f"{p}: not a wrdata table with a time column", None, header and " ".join(header))
    if data.shape[1] != len(header):
        raise NgspiceError(f"{p}: {data.shape[1]} columns for {len(header)} names", None, "")
    return data[:, 0], data[:, 1:], header[1:]


def check_spice_config(config: SimConfig, backend: str) -> None:
    """What every SPICE backend refuses: more than one trajectory per call, and exact white noise."""
    if config.n_traj != 1:
        raise ValueError(f"the {backend} backend runs one trajectory per call; use n_traj=1")
    if config.noise == "white":
        raise ValueError("ngspice has no exact white noise; use --noise trnoise (white, interpolated) "
                         "or pwl (same path as the twin)")


def run_spice(problem, spec: HardwareSpec, config: SimConfig, mapping: Mapping, backend: str, runner) -> SimResult:
    """One SPICE run of a dense or factored problem: realise the board (``purpose="spice"``), render the
    netlist, ``runner.table(text, label, timeout_s) -> (times, volts, names, stats)``, check and wrap
    the table as a :class:`SimResult`. ``runner.check()`` fails fast (before rendering) when the
    simulator is missing."""
    t0 = time.perf_counter()
    runner.check()
    check_spice_config(config, backend)
    board = realise(problem, spec, mapping, purpose="spice")
    grid = resolve_grid(problem, config, board.tau_s, spec)   # the grid the netlist uses (ADC rate)
    net = render_netlist_files(problem, spec, config, mapping, board=board)
    t_render = time.perf_counter() - t0
    label = f"{'factored' if is_factored(problem) else 'matrix'} {problem.name}"
    times, volts, names, run_stats = runner.table(net.text, label, config.timeout_s, net.files)
    stats = {"render_s": t_render, "netlist_bytes": len(net.text),
             "noise_file_bytes": sum(len(v) for v in net.files.values()), **run_stats}
    if is_factored(problem):
        stats.update(circuit="factored", N=problem.N, r=problem.r)
    return result_from_table(problem, spec, config, board, grid, times, volts, names, backend,
                             wall=time.perf_counter() - t0, stats=stats)


class SubprocessNgspice:
    """The ``ngspice -b`` runner: netlist text in, table out. ``keep_dir`` keeps netlist, log and data."""

    def __init__(self, keep_dir: str | os.PathLike | None = None):
        self.keep_dir = keep_dir

    def check(self) -> None:
        find_ngspice()

    def table(self, text: str, label: str, timeout_s: float, files: dict | None = None):
        times, volts, names, t_spice = _run_and_read(text, self.keep_dir, timeout_s, files)
        return times, volts, names, {"spice_s": t_spice}


def run_ngspice(problem, spec: HardwareSpec, config: SimConfig, mapping: Mapping = Mapping(),
                keep_dir: str | os.PathLike | None = None) -> SimResult:
    """Backend ``ngspice`` (either form): render, run, parse. ``keep_dir`` keeps netlist, log and data there."""
    return run_spice(problem, spec, config, mapping, "ngspice", SubprocessNgspice(keep_dir))


def _run_and_read(text: str, keep_dir, timeout_s: float, files: dict | None = None):
    """Run a transient netlist in ``keep_dir`` (or a scratch directory, removed after reading; kept on
    failure so that the netlist the error names can be inspected); returns (times, volts, names, spice s)."""
    wd = Path(keep_dir) if keep_dir is not None else Path(tempfile.mkdtemp(prefix="thermotwin-ngspice-"))
    t1 = time.perf_counter()
    with scratch_dir(wd, keep=keep_dir is not None):
        data = run_netlist_text(text, wd, timeout_s=timeout_s, files=files)
        t_spice = time.perf_counter() - t1
        times, volts, names = read_wrdata(data)
    return times, volts, names, t_spice


@contextlib.contextmanager
def scratch_dir(wd: Path, keep: bool = False):
    """Remove the scratch directory ``wd`` when the block ends — on success, on Ctrl-C, on any error —
    except when an :class:`NgspiceError` names the netlist inside it (kept for inspection; the
    message gives its path). ``keep``: the caller's own directory, never removed."""
    try:
        yield wd
    except NgspiceError as exc:
        if not keep and not (exc.netlist_path and Path(exc.netlist_path).parent == wd):
            shutil.rmtree(wd, ignore_errors=True)
        raise
    except BaseException:
        if not keep:
            shutil.rmtree(wd, ignore_errors=True)
        raise
    else:
        if not keep:
            shutil.rmtree(wd, ignore_errors=True)


def result_from_table(problem, spec, config, board: Board, grid, times, volts, names, backend, wall, stats):
    """Check a SPICE table against the expected grid and wrap it as a :class:`SimResult` (``board``: its
    ``tau_s`` and ``b_scale``)."""
    d = problem.d
    want = [f"v(o{i})" for i in range(d)]
    idx = {n.lower(): k for k, n in enumerate(names)}
    missing = [n for n in want if n not in idx]
    if missing:
        raise NgspiceError(f"{backend} output lacks {missing[0]}; the netlist and reader disagree", None, "")
    volts = volts[:, [idx[n] for n in want]]
    expect = grid.times
    if len(times) < len(expect) or not np.allclose(times[:len(expect)], expect, rtol=0,
                                                   atol=1e-6 * grid.dt_out_s):
        # linearize should give exactly the .tran grid; resample if ngspice added a point
        volts = np.column_stack([np.interp(expect, times, volts[:, k]) for k in range(d)])
    else:
        volts = volts[:len(expect)]
    return SimResult(
        backend=backend, times=expect, states=adc_readout(volts, spec) / board.b_scale, x_exact=problem.x_exact,
        tau_s=board.tau_s, settle_s=grid.settle_s, wall_s=wall, seed=config.seed,
        noise=config.noise, spec_hash=spec.digest(), problem_hash=problem.digest(),
        b_scale=board.b_scale, b=np.asarray(problem.b),
        A=problem.operator if hasattr(problem, "operator") else np.asarray(problem.A),   # factored: no N×N
        noise_step_s=grid.noise_step_s, stats=stats,
    )


def run_ngspice_factored(problem, spec: HardwareSpec, config: SimConfig, keep_dir: str | os.PathLike | None = None,
                         **mapping_kw) -> SimResult:
    """:func:`run_ngspice` of a factored problem with the mapping options as keywords (older callers)."""
    return run_ngspice(problem, spec, config, Mapping(**mapping_kw), keep_dir)


def read_probe(path: str | os.PathLike, d: int) -> np.ndarray:
    """Rows of a drift-probe table (:func:`thermotwin.circuit.netlist.probe_control_lines`): (d + 1, d)
    currents i(Vs0 … Vs{d−1}) in A, row 0 with every V(o) = 0, row j + 1 with V(o_j) = 1 V."""
    rows = []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if not parts or not (parts[0][0].isdigit() or parts[0][0] in "+-."):
            continue                                   # a header (appendwrite repeats it)
        vals = [float(x) for x in parts]
        if len(vals) < d:
            raise NgspiceError(f"{path}: a probe row has {len(vals)} numbers, expected {d}", None, line)
        rows.append(vals[-d:])                         # after the scale column(s)
    if len(rows) != d + 1:
        raise NgspiceError(f"{path}: {len(rows)} operating points, expected {d + 1}", None, "")
    return np.array(rows)


def measure_drift(text: str, d: int, g_unit: float, b_scale: float, workdir: str | os.PathLike | None = None,
                  timeout_s: float = 600.0) -> tuple[np.ndarray, np.ndarray]:
    """Run a drift-probe netlist and return what its arrays realise, in τ units and problem units.

    With the integrators replaced by sources (V(o) forced, summing nodes held at 0 V), KCL gives the
    current the arrays push into s_i as g·(F V − f)_i. So column j of F is (I(e_j) − I(0))/g and
    f = −I(0)/(g·b_scale). This is the ideal-integrator part of the drift: an integrator's own
    finite-gain leak and capacitor spread are not in it (docs/nonideal.md#nonideal adds them per node).

    Args:
        text: from ``render_netlist(..., probe=True)`` or ``render_factored_netlist(..., probe=True)``.
        g_unit: the integrators' unit conductance g = s/R0 (S).
    """
    wd = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="thermotwin-probe-"))
    with scratch_dir(wd, keep=workdir is not None):
        I = read_probe(run_netlist_text(text, wd, timeout_s=timeout_s, output_file=PROBE_FILE), d)
    F = (I[1:] - I[0]).T / g_unit
    f = -I[0] / (g_unit * b_scale)
    return F, f


def probe_dense(problem: Problem, spec: HardwareSpec, mapping: Mapping = Mapping(), **kw):
    """(F, f) the dense netlist's arrays realise, measured by ngspice (see :func:`measure_drift`)."""
    return probe(problem, spec, mapping, **kw)


def probe_factored(problem, spec: HardwareSpec, y_gain: float | str = 1.0, **kw):
    """(F, f) the three-array netlist's stages and arrays realise, measured by ngspice."""
    return probe(problem, spec, Mapping(y_gain=y_gain), **kw)


def probe(problem, spec: HardwareSpec, mapping: Mapping = Mapping(), **kw):
    """(F, f) the netlist of either form realises, measured by ngspice's drift probe."""
    board = realise(problem, spec, mapping, purpose="spice")
    text = render_netlist(problem, spec, SimConfig(noise="none", t_end="1tau"), mapping, board=board, probe=True)
    g_unit = board.arrays.parts["g_int"] if is_factored(problem) else board.unit_conductance
    return measure_drift(text, problem.d, g_unit, board.b_scale, **kw)
