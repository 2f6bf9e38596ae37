"""Traces as users have them: CSV (``time`` then one column per node), ngspice raw files (ASCII
and binary, as ``ngspice -b -r out.raw`` or ``write`` produce them), and thermotwin's own
``trace.csv``. Non-uniform time steps are resampled onto a uniform grid by linear interpolation
(:func:`uniform`), which is stated in the result; rows that go backwards in time are rejected.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


@dataclass(frozen=True)
class Trace:
    """Node voltages over time. times (n,) s; values (n, d) V; names (d,)."""

    times: np.ndarray
    values: np.ndarray
    names: tuple[str, ...]
    source: str = ""
    resampled: str = ""            # how the grid was made uniform ("" if it already was)

    def __post_init__(self):
        """Shapes agree (a hand-built Trace of the Python API; the readers make consistent ones)."""
        t, v = np.shape(self.times), np.shape(self.values)
        if len(t) != 1 or len(v) != 2 or v[0] != t[0] or v[1] != len(self.names):
            raise InputError(f"Trace{' ' + self.source if self.source else ''}: times {t}, values {v} and "
                             f"{len(self.names)} names do not agree; give times (n,), values (n, d) and d names")

    @property
    def d(self) -> int:
        return self.values.shape[1]

    @property
    def dt(self) -> float:
        return float(self.times[1] - self.times[0])

    def select(self, pattern: str | None) -> "Trace":
        """Keep the columns whose names match a glob (``v(o*)``) or regex (``re:...``) pattern;
        several patterns separated by commas."""
        if not pattern:
            return self
        # patterns in the order given; within one pattern, natural order of the names (v(o2) before
        # v(o10)), because simulators list nodes in their own order (ngspice -r does)
        keep: list[int] = []
        for pat in (p.strip() for p in pattern.split(",") if p.strip()):
            if pat.startswith("re:"):
                try:
                    rx = re.compile(pat[3:], flags=re.IGNORECASE)
                except re.error as exc:
                    raise InputError(f"--nodes {pat!r}: not a regular expression ({exc}); fix it or use a glob "
                                     "such as 'v(o*)'") from None
                hits = [k for k, n in enumerate(self.names) if rx.fullmatch(n)]
            else:
                hits = [k for k, n in enumerate(self.names) if fnmatch.fnmatch(n.lower(), pat.lower())]
            for k in sorted(hits, key=lambda k: _natural_key(self.names[k])):
                if k not in keep:
                    keep.append(k)
        if not keep:
            raise InputError(f"{self.source}: no column matches --nodes {pattern!r}; columns are "
                             f"{', '.join(self.names[:8])}{' …' if len(self.names) > 8 else ''}")
        return Trace(self.times, self.values[:, keep], tuple(self.names[k] for k in keep), self.source,
                     self.resampled)


def _check(times, values, names, source) -> Trace:
    times = np.asarray(times, dtype=float)
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[0] != times.shape[0]:
        raise InputError(f"{source}: time and value columns have different lengths")
    if len(times) < 3:
        raise InputError(f"{source}: only {len(times)} samples; a trace needs many (hundreds of τ)")
    if not np.all(np.isfinite(times)) or not np.all(np.isfinite(values)):
        bad = int(np.sum(~np.isfinite(values))) + int(np.sum(~np.isfinite(times)))
        raise InputError(f"{source}: {bad} non-finite entries (NaN or inf); remove or repair those rows")
    if np.any(np.diff(times) <= 0):
        k = int(np.flatnonzero(np.diff(times) <= 0)[0])
        raise InputError(f"{source}: time does not increase at row {k + 1} ({times[k]:g} → {times[k + 1]:g} s); "
                         "sort the rows or remove duplicates")
    return Trace(times, values, tuple(names), source)


def read_text_file(path: Path, what: str = "file") -> str:
    """UTF-8 text (a leading byte-order mark, as Excel writes, is dropped); InputError naming the
    file when it is not text."""
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    try:
        return blob.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a UTF-8 text {what} (byte {exc.start} is 0x{blob[exc.start]:02x}); "
                         "give a text CSV (time, then one column per node) or an ngspice .raw") from None


def read_csv(path: Path) -> Trace:
    text = read_text_file(path, "trace")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise InputError(f"{path}: empty trace")
    header = [h.strip() for h in lines[0].split(",")]
    if header[0].lower() != "time":
        raise InputError(f"{path}: first column must be 'time' in seconds (got {header[0]!r})")
    if len(header) < 2:
        raise InputError(f"{path}: the trace has a time column but no node-voltage column; give time,v(n1),… columns")
    if len(lines) < 2:
        raise InputError(f"{path}: the trace has a header but no samples; give a trace with data rows")
    try:
        data = np.loadtxt(lines[1:], delimiter=",", ndmin=2)
    except ValueError as exc:
        raise InputError(f"{path}: cannot read the numbers ({str(exc).splitlines()[0]})") from None
    if data.shape[1] != len(header):
        raise InputError(f"{path}: {data.shape[1]} columns but {len(header)} names in the header")
    return _check(data[:, 0], data[:, 1:], header[1:], str(path))


def read_raw(path: Path) -> Trace:
    """ngspice raw file, ASCII (``Values:``) or binary (``Binary:``), real data."""
    blob = path.read_bytes()
    header = {}
    names: list[str] = []
    pos = 0
    kind = None
    while pos < len(blob):
        end = blob.find(b"\n", pos)
        if end < 0:
            break
        line = blob[pos:end].decode("latin-1").rstrip("\r")
        pos = end + 1
        if line.startswith("Binary:"):
            kind = "binary"
            break
        if line.startswith("Values:"):
            kind = "ascii"
            break
        if line.startswith("Variables:"):
            try:
                nvar = int(header.get("no. variables", "0"))
            except ValueError:
                raise InputError(f"{path}: the raw header's 'No. Variables' is {header.get('no. variables')!r}, "
                                 "not a count; the file is damaged") from None
            for _ in range(nvar):
                end = blob.find(b"\n", pos)
                parts = blob[pos:end].decode("latin-1").split()
                pos = end + 1
                if len(parts) < 2:
                    raise InputError(f"{path}: malformed variable list in the raw header")
                names.append(parts[1])
            continue
        if ":" in line:
            k, v = line.split(":", 1)
            header[k.strip().lower()] = v.strip()
    if kind is None or not names:
        raise InputError(f"{path}: not an ngspice raw file (no Variables/Values/Binary section)")
    if "complex" in header.get("flags", "").lower():
        raise InputError(f"{path}: complex (AC) data; give a transient raw file")
    nvar = len(names)
    try:
        npts = int(header.get("no. points", "0"))
    except ValueError:
        raise InputError(f"{path}: the raw header's 'No. Points' is {header.get('no. points')!r}, not a "
                         "count; the file is damaged — re-run the simulation") from None
    if npts < 0:
        raise InputError(f"{path}: the raw header announces {npts} points; the file is damaged")
    if kind == "binary":
        have = (len(blob) - pos) // (nvar * 8)
        if have < npts:
            raise InputError(f"{path}: holds {have} of the {npts} points its header announces (truncated: the "
                             "run was cut short or the copy is incomplete); re-run or copy it again")
        data = np.frombuffer(blob, dtype="<f8", count=npts * nvar, offset=pos).reshape(npts, nvar)
    else:
        tokens = blob[pos:].decode("latin-1").split()
        try:
            nums = []
            k = 0
            while k < len(tokens):
                k += 1                                   # point index
                row = [float(tokens[k + j]) for j in range(nvar)]
                nums.append(row)
                k += nvar
        except (IndexError, ValueError):
            if not nums:
                raise InputError(f"{path}: malformed ASCII values") from None
        if npts and len(nums) < npts:
            raise InputError(f"{path}: holds {len(nums)} of the {npts} points its header announces (truncated: the "
                             "run was cut short or the copy is incomplete); re-run or copy it again")
        data = np.array(nums[:npts] if npts else nums).reshape(-1, nvar)
    if names[0].lower() != "time":
        raise InputError(f"{path}: first raw variable is {names[0]!r}, not time: give a transient analysis")
    return _check(data[:, 0], data[:, 1:], names[1:], str(path))


def read_trace(path, nodes: str | None = None) -> Trace:
    """Read a trace file (``.csv`` or ngspice ``.raw``) and select node columns."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such trace file")
    try:
        with p.open("rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror})") from None
    if head.startswith(b"Title:") or p.suffix.lower() == ".raw":
        tr = read_raw(p)
        if nodes is None and any(n.lower().startswith("v(") for n in tr.names):
            nodes = r"re:v\(.*\)"                 # node voltages only, in natural node order
    else:
        tr = read_csv(p)
    if tr.values.ndim != 2 or tr.values.shape[1] == 0:
        raise InputError(f"{p}: the trace has a time column but no node-voltage column; give time,v(n1),… columns")
    if tr.values.shape[0] == 0:
        raise InputError(f"{p}: the trace has no samples; give a trace with data rows")
    return tr.select(nodes)


def uniform(trace: Trace, dt: float | None = None, rtol: float = 1e-6) -> Trace:
    """The trace on a uniform grid of step ``dt`` (default: the median step).

    Already-uniform traces at that step are returned unchanged; otherwise linear interpolation
    (stated in ``Trace.resampled``). Downsampling picks every k-th sample when dt is a multiple.
    """
    if dt is not None and not (np.isfinite(dt) and dt > 0):
        raise InputError(f"--dt {dt!r}: the sampling interval must be a finite time > 0")
    steps = np.diff(trace.times)
    med = float(np.median(steps))
    uniform_now = np.allclose(steps, med, rtol=rtol, atol=0)
    if dt is None or np.isclose(dt, med, rtol=rtol):
        if uniform_now:
            return trace
        dt = med
    if uniform_now:
        k = dt / med
        if abs(k - round(k)) < 1e-6 and round(k) >= 1:
            k = int(round(k))
            return Trace(trace.times[::k], trace.values[::k], trace.names, trace.source,
                         f"every {k}th sample")
    n_float = np.floor((trace.times[-1] - trace.times[0]) / dt + 1e-9) + 1
    from ..core.memory import Estimate, check

    # the resampled values and, in fit_ou, ~8 arrays of the same size (lags, regressors, residuals)
    check(Estimate(memory=8.0 * n_float * (trace.d + 1) * 10, rows=n_float),
          f"resampling {trace.source} onto a {dt:g} s grid ({n_float:.3g} samples × {trace.d} nodes)",
          "give a larger --dt (seconds, or e.g. 0.1tau) or none (the trace's own step)")
    n = int(n_float)
    if n < 3:
        raise InputError(f"{trace.source}: a step of {dt:g} s leaves fewer than 3 samples")
    t = trace.times[0] + dt * np.arange(n)
    vals = np.column_stack([np.interp(t, trace.times, trace.values[:, k]) for k in range(trace.d)])
    return Trace(t, vals, trace.names, trace.source, f"linear interpolation onto a {dt:g} s grid")
