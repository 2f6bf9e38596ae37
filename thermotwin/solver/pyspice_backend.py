"""Backend ``pyspice``: the same netlist text, run in-process by PySpice's shared libngspice (docs/backends.md#backends, docs/noise.md#install).

The circuit lines that :func:`~thermotwin.circuit.netlist.render_netlist` produces go to ngspice
unchanged (``NgSpiceShared.load_circuit``); the ``.control`` block is interpreted command by
command, because in shared mode ``run`` must go to a background thread (so ``config.timeout_s``
can be enforced with ``bg_halt``), ``quit`` must not be sent (it would end the host process's
ngspice), and ``wrdata`` is replaced by reading the same vectors straight from ngspice's memory
(full double precision instead of 15 printed digits; no files are written).

The shared ngspice is one per process. Every call holds a module lock, removes the circuit it
loaded and destroys the plots it created, so repeated calls work and a PySpice user's own
circuits and plots are left alone. While a call runs, ngspice's output is captured (it ends up in
:class:`~thermotwin.errors.NgspiceError`) and PySpice's echo of it through the logger
``PySpice.Spice.NgSpice.Shared.NgSpiceShared`` is muted.

PySpice is imported only inside the functions here: ``import thermotwin`` does not load it.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..circuit.mapping import Mapping
from ..circuit.spec import HardwareSpec
from ..core.config import SimConfig
from ..core.progress import Bar
from ..errors import NgspiceError, NgspiceNotFoundError
from ..core.io import atomic_write_text
from .ngspice import check_noise_files, noise_file_failure, noise_files_at, noise_files_named, run_spice
from .result import SimResult

LIBRARY_HINT = ("install it with `sudo apt-get install -y libngspice0 libngspice0-dev` (Debian/Ubuntu; "
                "the -dev package provides the libngspice.so PySpice loads) or set NGSPICE_LIBRARY_PATH "
                "to the library, e.g. /usr/lib/x86_64-linux-gnu/libngspice.so.0")

#: The message PySpice 1.5 emits for ngspice ≥ 35 (harmless, docs/noise.md#install).
_VERSION_MESSAGE = "Unsupported Ngspice version"
#: PySpice's logger that echoes every ngspice stderr line (and the version message).
_PYSPICE_LOGGER = "PySpice.Spice.NgSpice.Shared.NgSpiceShared"
#: ngspice's command buffer is 1024 bytes including the terminator.
_MAX_COMMAND = 1023

_LOCK = threading.RLock()
#: Message of a failed first attempt to load libngspice (PySpice cannot retry, see shared_ngspice).
_LOAD_FAILURE: str | None = None
_NOT_STARTED = object()


def _error_lines(lines: list[str]) -> list[str]:
    """Output lines that mean failure: the ``ngspice`` backend's log rule plus unknown commands."""
    return [ln for ln in lines
            if ln.strip().lower().startswith(("error", "fatal"))
            or any(m in ln.lower() for m in ("simulation(s) aborted", "no such command"))]


def _first_error(lines: list[str]) -> str:
    """One line naming the failure; for ``simulation(s) aborted`` the reason printed before it."""
    errs = _error_lines(lines)
    if not errs:
        return ""
    first = errs[0].strip()
    k = lines.index(errs[0])
    if "simulation(s) aborted" in first.lower():
        if k > 0 and lines[k - 1].strip():
            return f"{lines[k - 1].strip()} (simulation aborted)"
    elif first.endswith(":"):
        # "Error on line 14 or its substitute:" — the offending line and the reason follow
        detail = [ln.strip() for ln in lines[k + 1:k + 3] if ln.strip()]
        return " ".join([first] + detail)
    return first


class _DropAll(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 - logging API
        return False


class _DropVersionMessage(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 - logging API
        return _VERSION_MESSAGE not in record.getMessage()


@contextmanager
def _logger_filter(flt: logging.Filter):
    logger = logging.getLogger(_PYSPICE_LOGGER)
    logger.addFilter(flt)
    try:
        yield
    finally:
        logger.removeFilter(flt)


@contextmanager
def _quiet_bg_thread_callback():
    """Swallow one known PySpice 1.5 defect while the background thread starts and stops.

    ``NgSpiceShared._background_thread_running`` returns None where cffi needs an int, so every
    ``bg_run`` reports two "Exception ignored from cffi callback" events (printed to stderr, and
    turned into warnings by pytest). Only those events are dropped; others reach the previous hook.
    """
    previous = sys.unraisablehook

    def hook(unraisable):
        msg = unraisable.err_msg or ""
        if (unraisable.exc_type is not None and issubclass(unraisable.exc_type, TypeError)
                and "cffi callback" in msg and "_background_thread_running" in msg):
            return
        previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        if sys.unraisablehook is hook:
            sys.unraisablehook = previous


def shared_ngspice():
    """The process's PySpice ``NgSpiceShared`` instance (id 0), created on first use.

    Raises:
        NgspiceNotFoundError: PySpice is not installed or libngspice cannot be loaded.
    """
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_VERSION_MESSAGE)
            from PySpice.Spice.NgSpice.Shared import NgSpiceShared
    except ImportError as exc:
        raise NgspiceNotFoundError(f"the pyspice backend needs PySpice (`pip install PySpice`): {exc}") from None
    global _LOAD_FAILURE
    if _LOAD_FAILURE is not None:
        # PySpice declares its C API on a module-level cffi object before dlopen, so a second
        # attempt fails with "duplicate declaration"; report the first failure instead.
        raise NgspiceNotFoundError(f"{_LOAD_FAILURE} (PySpice cannot retry in the same process; restart it)")
    if 0 not in NgSpiceShared._instances:
        # pick up NGSPICE_LIBRARY_PATH set after PySpice was imported
        NgSpiceShared.setup_platform()
    try:
        with warnings.catch_warnings(), _logger_filter(_DropVersionMessage()):
            warnings.filterwarnings("ignore", message=_VERSION_MESSAGE)
            return NgSpiceShared.new_instance()
    except Exception as exc:  # cffi raises OSError; a half-initialised cdef can raise others
        text = str(exc).strip()
        detail = text.splitlines()[0].split("  Additionally,")[0].strip() if text else type(exc).__name__
        _LOAD_FAILURE = (f"PySpice could not load the shared ngspice library "
                         f"{NgSpiceShared.LIBRARY_PATH} ({detail}); {LIBRARY_HINT}")
        raise NgspiceNotFoundError(_LOAD_FAILURE) from None


def split_control(text: str) -> tuple[str, list[str]]:
    """Split netlist text into the circuit (``.control`` block removed) and the block's commands.

    The circuit lines are returned unchanged; comment and blank lines of the block are dropped.
    """
    body: list[str] = []
    commands: list[str] = []
    inside = False
    for line in text.splitlines():
        key = line.strip().lower()
        if key == ".control":
            inside = True
        elif key == ".endc":
            inside = False
        elif inside:
            if key and not key.startswith("*"):
                commands.append(line.strip())
        else:
            body.append(line)
    return "\n".join(body) + "\n", commands


class _Session:
    """One run on the shared ngspice: output capture, command execution, cleanup."""

    def __init__(self, ng, netlist_name: str):
        self.ng = ng
        self.lib = ng._ngspice_shared
        self.name = netlist_name
        self.lines: list[str] = []
        self.own_circuit = False
        self.plots_before: set[str] = set()

    # --- output capture (PySpice calls ng.send_char for every line ngspice prints)
    def _collect(self, message, ngspice_id):
        stream, _, content = str(message).partition(" ")
        self.lines.append(content if stream in ("stdout", "stderr") else str(message))
        return 0

    def __enter__(self):
        self._had_send_char = "send_char" in vars(self.ng)
        self._old_send_char = vars(self.ng).get("send_char")
        self.ng.send_char = self._collect
        self.plots_before = set(self.plot_names())
        return self

    def __exit__(self, *exc):
        try:
            self.cleanup()
        finally:
            if self._had_send_char:
                self.ng.send_char = self._old_send_char
            else:
                del self.ng.send_char
        return False

    def fail(self, what: str, lines: list[str]) -> NgspiceError:
        first = _first_error(lines) or (lines[-1].strip() if lines else "no output")
        return NgspiceError(f"pyspice (shared ngspice) failed {what}: {first}", None,
                            "\n".join([ln for ln in lines if ln.strip()][-12:]))

    def command(self, cmd: str, check: bool = True) -> list[str]:
        if len(cmd) > _MAX_COMMAND:
            raise NgspiceError(f"pyspice: ngspice command longer than {_MAX_COMMAND} characters: "
                               f"{cmd[:60]}…", None, "")
        start = len(self.lines)
        rc = self.lib.ngSpice_Command(cmd.encode("ascii"))
        out = self.lines[start:]
        if check and (rc != 0 or _error_lines(out)):
            raise self.fail(f"on `{cmd.split()[0] if cmd.split() else cmd}`", out or [f"return code {rc}"])
        return out

    def plot_names(self) -> list[str]:
        ffi = self._ffi()
        arr = self.lib.ngSpice_AllPlots()
        names, i = [], 0
        while arr != ffi.NULL and arr[i] != ffi.NULL:
            names.append(ffi.string(arr[i]).decode())
            i += 1
        return names

    def n_circuits(self) -> int:
        out = self.command("setcirc", check=False)
        return sum(1 for ln in out if ln.strip() and not ln.lower().startswith(("list of circuits", "error")))

    @staticmethod
    def _ffi():
        from PySpice.Spice.NgSpice.Shared import ffi

        return ffi

    def load(self, body: str) -> None:
        before = self.n_circuits()
        start = len(self.lines)
        try:
            self.ng.load_circuit(body)
        except NameError:      # NgSpiceCircuitError (error echoed on stdout) or a non-zero return
            pass
        out = self.lines[start:]
        self.own_circuit = self.n_circuits() > before
        if _error_lines(out) or not self.own_circuit:
            raise self.fail(f"to load the netlist {self.name}", out or ["no circuit was loaded"])

    def run(self, timeout_s: float) -> float:
        """``bg_run``, poll until the thread ends, ``bg_halt`` after ``timeout_s``; return seconds."""
        t0 = time.perf_counter()
        start = len(self.lines)
        with _quiet_bg_thread_callback():
            # PySpice's callback overwrites _is_running when the thread starts and again when it
            # ends; the marker tells "not started yet" from "already finished".
            self.ng._is_running = _NOT_STARTED
            self.command("bg_run", check=False)   # errors are read once the thread has ended
            deadline = t0 + timeout_s
            pause = 2e-4
            timed_out = False
            with Bar("pyspice", limit_s=timeout_s) as bar:   # stderr progress on a terminal (core.progress)
                while self.lib.ngSpice_running() or self.ng._is_running is _NOT_STARTED:
                    if time.perf_counter() > deadline:
                        timed_out = True
                        break
                    time.sleep(pause)
                    pause = min(2 * pause, 0.02)
                    bar.update(0)
            # join the background thread (its last callback runs before we restore the hook)
            halt = self.command("bg_halt", check=False)
        elapsed = time.perf_counter() - t0
        if timed_out:
            still = any("couldn't stop" in ln.lower() for ln in halt)
            raise NgspiceError(f"pyspice (shared ngspice) timed out after {timeout_s:g} s on {self.name}"
                               + ("; ngspice did not stop and stays busy" if still else "")
                               + "; raise --timeout or shorten t_end / coarsen the noise step", None,
                               "\n".join(self.lines[start:][-8:]))
        out = self.lines[start:]
        if _error_lines(out):
            raise self.fail(f"in the transient run of {self.name}", out)
        return elapsed

    def read(self, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors ``time`` and ``names`` of the current plot, copied out of ngspice."""
        ffi = self._ffi()
        plot = ffi.string(self.lib.ngSpice_CurPlot()).decode()
        cols = []
        for nm in ["time"] + names:
            start = len(self.lines)
            info = self.lib.ngGet_Vec_Info(f"{plot}.{nm}".encode("ascii"))
            if info == ffi.NULL or info.v_realdata == ffi.NULL:
                raise self.fail(f"to read vector {nm} of plot {plot}",
                                self.lines[start:] or [f"vector {nm} is missing or complex"])
            n = int(info.v_length)
            cols.append(np.frombuffer(ffi.buffer(info.v_realdata, 8 * n), dtype=np.float64).copy())
        if len({len(c) for c in cols}) != 1:
            raise NgspiceError(f"pyspice: vectors of plot {plot} differ in length", None, "")
        return cols[0], np.column_stack(cols[1:]) if names else np.empty((len(cols[0]), 0))

    def cleanup(self) -> None:
        """Remove our circuit and destroy the plots this run created."""
        if self.lib.ngSpice_running():     # interrupted while polling (e.g. KeyboardInterrupt)
            with _quiet_bg_thread_callback():
                self.command("bg_halt", check=False)
        if self.own_circuit:
            self.command("remcirc", check=False)
            self.own_circuit = False
        for plot in self.plot_names():
            if plot not in self.plots_before and plot != "const":
                self.command(f"destroy {plot}", check=False)


def run_netlist_shared(text: str, timeout_s: float = 600.0, netlist_name: str = "<netlist>",
                       files: dict | None = None) -> tuple[np.ndarray, np.ndarray, list[str], dict]:
    """Run netlist text in the shared ngspice and return its ``wrdata`` table from memory.

    ``files`` ({name: text}, the noise files of a ``pwl`` netlist) are written to a private folder,
    removed afterwards; the names the netlist gives them are made absolute paths there (the shared
    library resolves relative names against this process's working directory, not a netlist's).

    The circuit part is loaded as is. The ``.control`` commands run in order with three
    substitutions: ``run`` becomes ``bg_run`` polled against ``timeout_s``; ``wrdata FILE v…``
    reads those vectors (with ``time``) from the current plot instead of writing FILE; ``quit``
    and ``exit`` end the block. A ``linearize`` longer than ngspice's command buffer is sent
    without arguments (every vector of the plot is interpolated the same way).

    Returns:
        (times (n,), values (n, k), vector names, stats {"load_s", "run_s", "read_s"}).

    Raises:
        NgspiceNotFoundError: no PySpice or no libngspice.
        NgspiceError: ngspice reported an error, timed out, or wrote no table.
    """
    if files or noise_files_named(text):
        folder = Path(tempfile.mkdtemp(prefix="thermotwin-pyspice-"))
        try:
            for name, content in (files or {}).items():
                atomic_write_text(folder / name, content)
            check_noise_files(text, folder)
            return _run_shared(noise_files_at(text, folder), timeout_s, netlist_name)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return _run_shared(text, timeout_s, netlist_name)


def _run_shared(text: str, timeout_s: float, netlist_name: str):
    body, commands = split_control(text)
    if not any(c.split()[0].lower() == "wrdata" for c in commands if c.split()):
        raise NgspiceError("pyspice: the netlist's .control block has no wrdata command; nothing to read",
                           None, "")
    ng = shared_ngspice()
    stats: dict = {}
    table = None
    with _LOCK, _logger_filter(_DropAll()), _Session(ng, netlist_name) as s:
        t = time.perf_counter()
        s.load(body)
        stats["load_s"] = time.perf_counter() - t
        for cmd in commands:
            words = cmd.split()
            verb = words[0].lower()
            if verb in ("quit", "exit"):
                break
            if verb == "run" and len(words) == 1:
                stats["run_s"] = s.run(timeout_s)
                missing = noise_file_failure("\n".join(s.lines))
                if missing:
                    raise NgspiceError(f"pyspice (shared ngspice): filesource could not open the noise file "
                                       f"{missing}", None, "")
            elif verb == "wrdata":
                t = time.perf_counter()
                names = words[2:]
                times, values = s.read(names)
                table = (times, values, names)
                stats["read_s"] = time.perf_counter() - t
            elif verb == "linearize" and len(cmd) > _MAX_COMMAND:
                s.command("linearize")
            else:
                s.command(cmd)
    if table is None:
        raise NgspiceError("pyspice: the .control block ended before its wrdata command", None, "")
    return table[0], table[1], table[2], stats


class SharedNgspice:
    """The shared-library runner (PySpice's libngspice in this process): netlist text in, table out."""

    def check(self) -> None:
        shared_ngspice()   # fail fast, before rendering, when the library is missing

    def table(self, text: str, label: str, timeout_s: float, files: dict | None = None):
        t1 = time.perf_counter()
        times, volts, names, run_stats = run_netlist_shared(text, timeout_s=timeout_s, netlist_name=label,
                                                            files=files)
        return times, volts, names, {"spice_s": time.perf_counter() - t1, **run_stats}


def run_pyspice(problem, spec: HardwareSpec, config: SimConfig, mapping: Mapping = Mapping()) -> SimResult:
    """Backend ``pyspice`` (either form): render the netlist, run it in PySpice's shared ngspice, wrap the table.

    Same netlist text and the same :class:`SimResult` as the ``ngspice`` backend; with the same
    seed and ``noise="pwl"`` both give the same path (to rounding). ``config.timeout_s`` is enforced
    on the transient run (background thread, ``bg_halt`` on expiry); parsing the netlist
    (``load_circuit``, synchronous in ngspice's API) is not covered. Calls are serialised by a lock (one ngspice per process).
    """
    return run_spice(problem, spec, config, mapping, "pyspice", SharedNgspice())


def run_pyspice_factored(problem, spec: HardwareSpec, config: SimConfig, **mapping_kw) -> SimResult:
    """:func:`run_pyspice` of a factored problem with the mapping options as keywords (older callers)."""
    return run_pyspice(problem, spec, config, Mapping(**mapping_kw))
