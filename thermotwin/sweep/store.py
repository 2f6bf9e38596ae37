"""The sweep's output directory: identity, crash-safe journal, tidy table.

Layout of ``DIR``:

* ``sweep.json`` — the normalised sweep and its hash, written once when the directory is created.
  A rerun with a different sweep into the same directory is refused before anything is written.
* ``runs.jsonl`` — the journal: one strict-JSON object per finished run (a NaN/±Inf value is
  ``null``, named under ``"nonfinite"``; read back as the float it was), appended by the parent process
  only, a whole task at a time, with ``flush`` + ``fsync``. A kill (even SIGKILL) can leave at most
  one incomplete last line; it is cut off on the next start, and rows are deduplicated by
  ``run_id`` (the last complete row wins), so the journal never yields a corrupt or duplicate row.
  Only runs that were in flight are lost.
* ``results.csv`` — the tidy table built from the journal, replaced atomically (temporary file,
  fsync, rename): readers never see half a file.
* ``.lock`` — ``flock`` held while a sweep runs in the directory (released by the kernel on kill).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

from ..errors import InputError
from ..io import NONFINITE_KEY, atomic_write_json, atomic_write_text, json_text

META = "sweep.json"
JOURNAL = "runs.jsonl"
RESULTS = "results.csv"
LOCK = ".lock"


def _diff(a, b, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON-like values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in list(a) + [k for k in b if k not in a]:
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".") or "(all)"]


class SweepStore:
    """Opens ``DIR`` for one sweep; use as a context manager around a run."""

    def __init__(self, out_dir, normalised: dict, digest: str, meta_extra: dict | None = None):
        self.dir = Path(out_dir)
        self.normalised = normalised
        self.digest = digest
        self.meta_extra = meta_extra or {}
        self._lock_fh = None
        self._journal = None
        self.skipped_lines = 0

    # -- identity ---------------------------------------------------------------------------
    def check(self) -> bool:
        """Raise if ``DIR`` holds something else; True when it holds this sweep (a resume)."""
        d = self.dir
        if d.exists() and not d.is_dir():
            raise InputError(f"--out {d} is a file; give a directory")
        if not d.exists():
            return False
        meta = d / META
        if meta.exists():
            try:
                old = json.loads(meta.read_text())
                old_hash, old_sweep = old["hash"], old.get("sweep", {})
            except (OSError, ValueError, KeyError, TypeError):
                raise InputError(f"{meta} is not a thermotwin sweep record; choose another --out directory") from None
            if old_hash != self.digest:
                where = _diff(old_sweep, self.normalised)[:4]
                raise InputError(f"{d} holds a different sweep (hash {old_hash}, this one {self.digest}; differs "
                                 f"in {', '.join(where) or 'its format'}); nothing was changed — use a new --out "
                                 "directory or rerun the original sweep file")
            return True
        if any(p.name != LOCK for p in d.iterdir()):
            raise InputError(f"{d} is not empty and holds no {META}; choose a new or empty --out directory "
                             "(nothing was changed)")
        return False

    def __enter__(self):
        resume = self.check()
        self.dir.mkdir(parents=True, exist_ok=True)
        import fcntl

        self._lock_fh = open(self.dir / LOCK, "a+")
        try:
            fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_fh.close()
            self._lock_fh = None
            raise InputError(f"another sweep is running in {self.dir} (its lock is held); wait for it or use "
                             "another --out directory") from None
        if not resume:
            atomic_write_json(self.dir / META, {"format": "thermotwin-sweep", "hash": self.digest,
                                                "sweep": self.normalised, **self.meta_extra})
        self._repair_journal()
        self._journal = open(self.dir / JOURNAL, "ab")
        return self

    def __exit__(self, *exc):
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        if self._lock_fh is not None:
            self._lock_fh.close()          # releases the flock
            self._lock_fh = None
        return False

    # -- journal ----------------------------------------------------------------------------
    def _repair_journal(self) -> None:
        """Cut an incomplete last line (a write interrupted by a kill)."""
        p = self.dir / JOURNAL
        if not p.exists():
            return
        data = p.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            with open(p, "r+b") as fh:
                fh.truncate(end)
                fh.flush()
                os.fsync(fh.fileno())

    def load(self) -> dict[str, dict]:
        """Finished runs by run_id (complete lines only; the last row of a run_id wins)."""
        p = self.dir / JOURNAL
        rows: dict[str, dict] = {}
        self.skipped_lines = 0
        if not p.exists():
            return rows
        data = p.read_bytes()
        end = data.rfind(b"\n") + 1
        for line in data[:end].splitlines():
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                self.skipped_lines += 1
                continue
            if isinstance(row, dict) and isinstance(row.get("run_id"), str):
                rows[row["run_id"]] = _restore_nonfinite(row)
            else:
                self.skipped_lines += 1
        return rows

    def append(self, rows: list[dict]) -> None:
        """Append finished runs durably (one write, flush, fsync)."""
        if not rows:
            return
        blob = "".join(json_text(r) + "\n" for r in rows).encode()
        self._journal.write(blob)
        self._journal.flush()
        os.fsync(self._journal.fileno())

    # -- table ------------------------------------------------------------------------------
    def write_results(self, rows: list[dict], columns: list[str]) -> Path:
        """results.csv (atomic), rows sorted by (point, board)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(columns)
        for r in sorted(rows, key=lambda r: (r["point"], r["board"])):
            w.writerow([_cell(r.get(c)) for c in columns])
        return atomic_write_text(self.dir / RESULTS, buf.getvalue())


def _restore_nonfinite(row: dict) -> dict:
    """A journal row as it was appended: the nulls :func:`~thermotwin.core.io.json_text` wrote for
    NaN/±Inf (listed under ``"nonfinite"``) back to floats, so results.csv and the plots see the run
    exactly as the worker reported it (a resumed sweep gives the same table)."""
    found = row.pop(NONFINITE_KEY, None)
    if not isinstance(found, dict):
        return row
    for path, what in found.items():
        if what not in ("nan", "inf", "-inf") or not isinstance(path, str):
            continue
        key, _, rest = path.partition("[")
        if not rest:
            if key in row and row[key] is None:
                row[key] = float(what)
            continue
        try:
            i = int(rest.rstrip("]"))
        except ValueError:
            continue
        seq = row.get(key)
        if isinstance(seq, list) and 0 <= i < len(seq) and seq[i] is None:
            seq[i] = float(what)
    return row


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    return str(v)


def read_results(path) -> list[dict]:
    """results.csv → list of dicts with numbers parsed (empty cells → None)."""
    out = []
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            out.append({k: _parse(v) for k, v in r.items()})
    return out


def _parse(v: str):
    if v == "":
        return None
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return v
