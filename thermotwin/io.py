"""Reading matrices and vectors, writing files atomically.

Formats: MatrixMarket ``.mtx`` (coordinate or array, general or symmetric, as SuiteSparse ships
them), NumPy ``.npy`` (never unpickled) and ``.csv`` (comma or whitespace separated, ``#`` comments).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import InputError

MATRIX_SUFFIXES = (".mtx", ".npy", ".csv", ".txt")


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

            arr = scipy.io.mmread(str(p))
            if hasattr(arr, "toarray"):
                arr = arr.toarray()
        elif suffix == ".npy":
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


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace`` (never half-written)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return p


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomic text write (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj) -> Path:
    """Atomic JSON write, indented, with a trailing newline."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
