"""Reading matrices and vectors, writing files atomically.

Formats: MatrixMarket ``.mtx`` (coordinate or array, general or symmetric, as SuiteSparse ships
them), NumPy ``.npy`` (never unpickled) and ``.csv`` (comma or whitespace separated, ``#`` comments).
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InputError

MATRIX_SUFFIXES = (".mtx", ".npy", ".csv", ".txt")



def read_user_text(path: str | os.PathLike, kind: str, cannot_read: str, not_text: str) -> str:
    """The UTF-8 text of a user's file (an Excel BOM is dropped), or one :class:`InputError` line.

    ``cannot_read`` and ``not_text`` are the messages for an unreadable file and for bytes that are
    not UTF-8; ``{p}`` and ``{why}`` in them are filled with the path and the system's reason.
    """
    p = Path(path)
    try:
        return p.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError(cannot_read.format(p=p, why=exc.strerror or exc)) from None
    except UnicodeDecodeError:
        raise InputError(not_text.format(p=p, kind=kind)) from None

def _npy_shape(p: Path) -> tuple:
    """The shape an .npy header announces (read without loading the data)."""
    with open(p, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, _ = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, _ = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    return tuple(int(n) for n in shape)


def _check_read_size(p: Path, rows: int, cols: int, entries: int = 0) -> None:
    """Refuse (budget) a matrix whose dense form — and the d×d work every command does on it — is
    beyond the machine or the default budget, before reading it."""
    from .memory import DENSE_WORK_MATRICES, Estimate, check, fmt_bytes

    dense = 8.0 * float(rows) * float(cols)
    check(Estimate(memory=dense * (DENSE_WORK_MATRICES if rows == cols else 3) + 24.0 * entries),
          f"reading {p} ({rows}×{cols}, {fmt_bytes(dense)} dense)", "give a smaller matrix (the dense solver holds N×N "
          "arrays; a factored .npz problem does not)")


def _read_array(path: str | os.PathLike) -> np.ndarray:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file; give the path of a .mtx, .npy or .csv file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory; give the path of a .mtx, .npy or .csv file")
    suffix = p.suffix.lower()
    try:
        if suffix == ".mtx":
            import scipy.io

            rows, cols, entries = scipy.io.mminfo(str(p))[:3]
            if rows == 0 or cols == 0:      # scipy's reader dies of SIGFPE on a 0-row array file
                raise InputError(f"{p}: the matrix is {rows}×{cols} (empty); give at least one entry")
            _check_read_size(p, rows, cols, entries)
            arr = scipy.io.mmread(str(p))
            if hasattr(arr, "toarray"):
                arr = arr.toarray()
        elif suffix == ".npy":
            shape = _npy_shape(p)
            _check_read_size(p, shape[0] if shape else 1, int(np.prod(shape[1:])) if len(shape) > 1 else 1)
            arr = np.load(p, allow_pickle=False)
        elif suffix in (".csv", ".txt"):
            text = p.read_text()
            if not any(ln.strip() and not ln.lstrip().startswith("#") for ln in text.splitlines()):
                raise InputError(f"{p}: the file is empty; give a matrix with at least one entry")
            delimiter = "," if "," in text else None
            arr = np.loadtxt(p, delimiter=delimiter, comments="#", ndmin=1, dtype=float)
        elif suffix == ".npz":
            raise InputError(f"{p}: an .npz is a factored problem (J, H, damping, g), which simulate, netlist and "
                             "realise take; this command needs a dense matrix (.mtx, .npy or .csv)")
        else:
            raise InputError(f"{p}: unknown file type {suffix!r}; use .mtx, .npy or .csv")
    except InputError:
        raise
    except (ValueError, OSError, UnicodeDecodeError, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{p}: cannot read it as {suffix or 'a matrix'} ({first}); check the file") from exc
    arr = np.asarray(arr)
    if np.iscomplexobj(arr):
        raise InputError(f"{p}: complex entries are not supported; give a real matrix")
    try:
        return np.asarray(arr, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{p}: entries are not numbers; give a numeric matrix") from exc


def read_matrix(path: str | os.PathLike) -> np.ndarray:
    """Read a 2-D real matrix from ``.mtx``, ``.npy`` or ``.csv``.

    Shape and finiteness are checked later by :class:`thermotwin.Problem`; a 1-row CSV is read as
    a 1×n matrix so that the square check can name the problem.
    """
    arr = _read_array(path)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1) if arr.size else arr.reshape(0, 0)
    if arr.ndim != 2:
        raise InputError(f"{path}: expected a 2-D matrix, got an array of shape {arr.shape}")
    return arr


def read_vector(path: str | os.PathLike) -> np.ndarray:
    """Read a right-hand side vector (a row, a column, or a d×1 MatrixMarket array)."""
    arr = _read_array(path)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise InputError(f"{path}: expected a vector, got an array of shape {arr.shape}")
    return arr


#: The output path that means standard output (``-o -``).
STDOUT_PATH = "-"

#: Where write-through targets live: paths that resolve here are streams (``/dev/stdout`` →
#: ``/proc/self/fd/1``), never replaced by a regular file even when the stream is one.
_STREAM_ROOTS = ("/dev/", "/proc/")


def _umask() -> int:
    """The process umask (read without changing it where /proc allows; else set and restore)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _through_stream_root(p: Path) -> bool:
    """Whether ``p`` or any hop of its symlink chain lies under /dev or /proc (``/dev/stdout`` →
    ``/proc/self/fd/1`` → whatever fd 1 is: that last hop may be a regular file the shell opened,
    which must be written through, not replaced)."""
    cur = Path(os.path.abspath(p))
    for _ in range(40):
        if str(cur).startswith(_STREAM_ROOTS):
            return True
        try:
            target = os.readlink(cur)
        except OSError:
            return False
        cur = Path(os.path.abspath(os.path.join(os.path.dirname(cur), target)))
    return False


def _is_stdout(p: Path) -> bool:
    try:
        return os.path.samestat(os.stat(p), os.fstat(sys.stdout.fileno()))
    except (OSError, AttributeError, ValueError):
        return False


def output_target(path: str | os.PathLike) -> tuple[str, Path]:
    """How an output path is written: ``("stdout", -)``, ``("stream", p)`` or ``("replace", target)``.

    * ``-`` is standard output.
    * A new path or a regular file is replaced atomically (``"replace"``); a symlink to a regular
      file replaces its target, so the link itself is kept.
    * A character device, FIFO or socket — or any path that resolves under ``/dev`` or ``/proc``,
      such as ``/dev/stdout`` — is written through (``"stream"``): opened and written in place.
    * A directory, a block device or a dangling symlink is refused (:class:`InputError`).
    """
    if str(path) == STDOUT_PATH:
        return "stdout", Path(STDOUT_PATH)
    p = Path(path)
    try:
        lst = os.lstat(p)
    except FileNotFoundError:
        if _through_stream_root(p):
            raise InputError(f"{p}: no such device; give a regular file path for the output") from None
        return "replace", p
    except OSError as exc:
        raise InputError(f"{p}: cannot write there ({exc.strerror}); choose another output path") from None
    if _through_stream_root(p):
        return "stream", p
    if stat.S_ISLNK(lst.st_mode):
        real = Path(os.path.realpath(p))
        try:
            st = os.stat(p)
        except OSError:
            raise InputError(f"{p}: is a symlink to a missing or unreachable file ({real}); give a regular "
                             "file path") from None
        if stat.S_ISREG(st.st_mode):
            return "replace", real
        mode = st.st_mode
    else:
        mode = lst.st_mode
    if stat.S_ISREG(mode):
        return "replace", p
    if stat.S_ISDIR(mode):
        raise InputError(f"{p}: is a directory; give a file path for the output")
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return "stream", p
    raise InputError(f"{p}: is a block device or special file; thermotwin writes only regular files, "
                     "pipes and terminals — choose another output path")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` without ever leaving it half-written or replacing a non-file.

    A regular file (or a new path) is written to a temporary file beside it and moved over it with
    ``os.replace``; the new file gets the old file's permissions, or the umask's (0666 & ~umask) when
    it is new. ``-``, ``/dev/stdout``, a FIFO or a terminal are written through
    (:func:`output_target`); directories and block devices are refused.
    """
    kind, p = output_target(path)
    if kind == "stdout":
        sys.stdout.flush()
        out = getattr(sys.stdout, "buffer", None)
        if out is None:
            sys.stdout.write(data.decode("utf-8", errors="replace"))
        else:
            out.write(data)
            out.flush()
        return p
    if kind == "stream":
        if _is_stdout(p):
            return atomic_write_bytes(STDOUT_PATH, data)
        # no O_CREAT, no O_TRUNC: a stream is written to, never created or emptied
        fd = os.open(p, os.O_WRONLY | os.O_APPEND)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return Path(path)
    try:
        old_mode = stat.S_IMODE(os.stat(p).st_mode)
    except FileNotFoundError:
        old_mode = 0o666 & ~_umask()
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), old_mode)
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return Path(path)


def _same_path(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def check_output_not_input(out, inputs) -> None:
    """Refuse (:class:`InputError`) an output path that is also one of the inputs.

    Args:
        out: an output path, or a list of them (e.g. ``dir/trace.csv`` and ``dir/summary.json``);
            ``None`` and ``-`` are skipped.
        inputs: input paths; ``None`` entries (options not given) are skipped.
    """
    outs = [out] if isinstance(out, (str, os.PathLike)) or out is None else list(out)
    for o in outs:
        if o is None or str(o) == STDOUT_PATH:
            continue
        for i in inputs:
            if i is None or str(i) == STDOUT_PATH:
                continue
            if _same_path(Path(o), Path(i)):
                raise InputError(f"output {o} is also an input ({i}); thermotwin never overwrites its input — "
                                 "write the output to another path")


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomic text write (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj) -> Path:
    """Atomic JSON write (:func:`json_text`: NaN/Inf become null + status), indented, trailing newline."""
    return atomic_write_text(path, json_text(obj, indent=2) + "\n")


def shell_quote_path(path) -> str:
    """A path as a POSIX shell needs it quoted (``-`` reads "standard output")."""
    import shlex

    return "standard output" if str(path) == STDOUT_PATH else shlex.quote(str(path))


# -- JSON that is always JSON ------------------------------------------------------------------------

#: Key added to a JSON object whose values held NaN or ±Inf: {dotted path: "nan" | "inf" | "-inf"}.
NONFINITE_KEY = "nonfinite"


def json_safe(obj, path: str = "", found: dict | None = None):
    """A copy of ``obj`` in which every NaN/±Inf float (numpy scalars and arrays included) is None.

    ``found`` (if given) collects ``{dotted path: "nan" | "inf" | "-inf"}`` of what was replaced.
    numpy arrays become lists, numpy scalars Python numbers, tuples lists.
    """
    import math

    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    elif isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        if found is not None:
            found[path or "."] = "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v, f"{path}.{k}" if path else str(k), found) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v, f"{path}[{i}]", found) for i, v in enumerate(obj)]
    return obj


def json_text(obj, indent: int | None = None) -> str:
    """JSON text of a result that is always valid JSON (``allow_nan=False``).

    A value that does not exist as a number (NaN, ±Inf) is written as ``null``; when ``obj`` is an
    object, the key :data:`NONFINITE_KEY` then says which fields and what they were (the status of
    each null), e.g. ``"nonfinite": {"time_to_tol_s": "inf"}``. The one JSON writer of every
    ``--json`` print and every ``*.json`` result file.
    """
    found: dict = {}
    safe = json_safe(obj, "", found)
    if found and isinstance(safe, dict):
        safe[NONFINITE_KEY] = {**(safe.get(NONFINITE_KEY) or {}), **found}
    return json.dumps(safe, indent=indent, allow_nan=False)
