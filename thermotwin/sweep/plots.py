"""Figures and aggregated curves written beside results.csv (matplotlib is imported here only).

* ``error_vs_time.csv`` — per grid point and curve time: median and 5–95 % band of the estimate's
  relative error across its boards (status ok).
* ``error_vs_<field>.png`` — for each swept field: median ``rel_error`` (line) and 5–95 % band
  across boards, with the median error floor (dashed); one line per combination of the other swept
  fields (pooled over them when there are more than ``MAX_LINES``).
* ``error_vs_time.png`` — median and band versus t/τ per grid point (at most ``MAX_LINES`` points,
  evenly chosen).
* ``t_to_tol_vs_d.png`` / ``t_to_tol_vs_cond.png`` — when d or cond is swept: median time to reach
  each tolerance (in τ), counting runs that never reached it as infinitely slow (the median is
  drawn only where at least half the boards reached the tolerance).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from ..io import atomic_write_bytes, atomic_write_text
from .plan import TOL_LABELS, SweepPlan
from .tasks import curve_indices

MAX_LINES = 8


def _label(v) -> str:
    if v is None:
        return "ideal"
    return f"{v:g}" if isinstance(v, float) else str(v)


def _ok(rows):
    """Rows with something to plot: status ok and a relative error that exists (b = 0 gives NaN)."""
    return [r for r in rows if r.get("status") == "ok" and isinstance(r.get("rel_error"), (int, float))
            and np.isfinite(r["rel_error"])]


def _by_point(rows) -> dict[int, list]:
    out: dict[int, list] = {}
    for r in rows:
        out.setdefault(int(r["point"]), []).append(r)
    return out


def point_curves(rows) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """point → (times (K,), errors (boards, K)) from the stored curves of ok runs."""
    out = {}
    for p, rs in _by_point(_ok(rows)).items():
        r0 = rs[0]
        n_out = int(round(r0["t_end_s"] / r0["dt_out_s"]))
        idx = curve_indices(n_out)
        E = np.array([r["curve"] for r in rs if len(r.get("curve") or []) == len(idx)], dtype=float)
        if E.size:
            out[p] = (idx * r0["dt_out_s"], E)
    return out


def write_curves(plan: SweepPlan, rows, out: Path) -> Path:
    """error_vs_time.csv (see module docstring)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["point"] + plan.fields + ["t_s", "t_tau", "boards", "median", "p05", "p95"])
    taus = {int(r["point"]): r["tau_s"] for r in _ok(rows)}
    for p, (t, E) in sorted(point_curves(rows).items()):
        vals = plan.point_values(p)
        med, lo, hi = np.percentile(E, [50, 5, 95], axis=0)
        for k in range(len(t)):
            w.writerow([p] + ["" if vals[f] is None else vals[f] for f in plan.fields]
                       + [repr(float(t[k])), repr(float(t[k] / taus[p])), E.shape[0], repr(float(med[k])),
                          repr(float(lo[k])), repr(float(hi[k]))])
    return atomic_write_text(out / "error_vs_time.csv", buf.getvalue())


def _save(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return atomic_write_bytes(path, buf.getvalue())


def _axis(ax, values, which: str = "x"):
    """Positions for grid values and the axis scale: log for positive decades, categorical otherwise."""
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)
    setter = ax.set_xscale if which == "x" else ax.set_yscale
    if not numeric:
        pos = np.arange(len(values), dtype=float)
        ax.set_xticks(pos)
        ax.set_xticklabels([_label(v) for v in values])
        return pos
    pos = np.asarray(values, dtype=float)
    pos_pos = pos[pos > 0]
    if pos_pos.size >= 2 and pos_pos.max() / pos_pos.min() >= 20:
        if (pos <= 0).any():
            setter("symlog", linthresh=float(pos_pos.min()))
        else:
            setter("log")
    return pos


def _quantiles(x):
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.nan, np.nan, np.nan
    return tuple(np.percentile(x, [50, 5, 95]))


def _groups(plan: SweepPlan, rows, field: str):
    """[(label, {value of field: [rows]})], one group per combination of the other swept fields."""
    others = [k for k, v in plan.grid if k != field and len(v) > 1]
    groups: dict[tuple, dict] = {}
    for r in rows:
        key = tuple(r.get(k) for k in others)
        groups.setdefault(key, {}).setdefault(_hashable(r.get(field)), []).append(r)
    if len(groups) > MAX_LINES:
        pooled: dict = {}
        for g in groups.values():
            for v, rs in g.items():
                pooled.setdefault(v, []).extend(rs)
        return [(f"pooled over {', '.join(others)}", pooled)]
    return [(", ".join(f"{k}={_label(v)}" for k, v in zip(others, key)) or None, g) for key, g in groups.items()]


def _hashable(v):
    return tuple(v) if isinstance(v, list) else v


def make_plots(plan: SweepPlan, rows, out: Path) -> list[Path]:
    """Write the figures of the module docstring; returns their paths."""
    ok = _ok(rows)
    if not ok:
        return []
    return _error_vs_field(plan, ok, out) + _error_vs_time(plan, rows, ok, out) + _time_to_tolerance(plan, rows, out)


def _error_vs_field(plan: SweepPlan, ok, out: Path) -> list[Path]:
    """One figure per swept field: error of the time average at t_end, median and band over boards."""
    from matplotlib.figure import Figure

    written: list[Path] = []
    for field, values in plan.grid:
        if len(values) < 2:
            continue
        fig = Figure(figsize=(7.5, 5), constrained_layout=True)
        ax = fig.add_subplot()
        pos = _axis(ax, list(values))
        lowest = np.inf
        for i, (label, g) in enumerate(_groups(plan, ok, field)):
            q = np.array([_quantiles([r["rel_error"] for r in g.get(_hashable(v), [])]) for v in values])
            fl = np.array([_quantiles([r["error_floor"] for r in g.get(_hashable(v), [])])[0] for v in values])
            color = f"C{i % 10}"
            ax.plot(pos, q[:, 0], "o-", color=color, label=label or "median over boards")
            ax.fill_between(pos, q[:, 1], q[:, 2], color=color, alpha=0.2)
            lowest = min(lowest, np.nanmin(q[:, 1], initial=np.inf))
            ax.plot(pos, fl, "--", color=color, lw=1, alpha=0.8)
        ax.set_yscale("log")
        if np.isfinite(lowest) and lowest > 0:
            ax.set_ylim(bottom=0.3 * lowest)      # an ideal board's floor (~1e-16) stays off the axis
        ax.set_xlabel(field)
        ax.set_ylabel("relative error of the time average at t_end")
        ax.set_title(f"error vs {field}: median, 5–95 % band over {plan.boards} boards; dashed: error floor",
                     fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        written.append(_save(fig, out / f"error_vs_{field.replace('.', '_')}.png"))

    return written


def _error_vs_time(plan: SweepPlan, rows, ok, out: Path) -> list[Path]:
    """Error against time for (at most MAX_LINES) grid points."""
    from matplotlib.figure import Figure

    written: list[Path] = []
    curves = point_curves(rows)
    if curves:
        pts = sorted(curves)
        if len(pts) > MAX_LINES:
            pts = [pts[int(round(j))] for j in np.linspace(0, len(pts) - 1, MAX_LINES)]
        taus = {int(r["point"]): r["tau_s"] for r in ok}
        fig = Figure(figsize=(7.5, 5), constrained_layout=True)
        ax = fig.add_subplot()
        for i, p in enumerate(pts):
            t, E = curves[p]
            med, lo, hi = np.percentile(E, [50, 5, 95], axis=0)
            vals = plan.point_values(p)
            swept = [k for k, v in plan.grid if len(v) > 1]
            label = ", ".join(f"{k}={_label(vals[k])}" for k in swept) or f"point {p}"
            ax.plot(t / taus[p], med, color=f"C{i % 10}", label=label)
            ax.fill_between(t / taus[p], lo, hi, color=f"C{i % 10}", alpha=0.15)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("t / τ")
        ax.set_ylabel("relative error of the estimate")
        ax.set_title("error vs time (read-out before the window, running average after): median, 5–95 %",
                     fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        written.append(_save(fig, out / "error_vs_time.png"))

    return written


def _time_to_tolerance(plan: SweepPlan, rows, out: Path) -> list[Path]:
    """Time to each tolerance against d and κ(A), when those are swept."""
    from matplotlib.figure import Figure

    written: list[Path] = []
    for field in ("d", "cond"):
        values = dict(plan.grid).get(field)
        if not values or len(values) < 2:
            continue
        fig = Figure(figsize=(7.5, 5), constrained_layout=True)
        ax = fig.add_subplot()
        by_v: dict = {}
        for r in rows:
            by_v.setdefault(r.get(field), []).append(r)
        xs = np.array(values, dtype=float)
        drawn = False
        for i, lab in enumerate(TOL_LABELS):
            med, lo, hi = [], [], []
            for v in values:
                rs = by_v.get(v, [])
                t = np.array([r[f"t_to_{lab}"] / r["tau_s"] if r.get("status") == "ok" else np.nan for r in rs],
                             dtype=float)
                t = np.where(np.isfinite(t), t, np.inf)
                if t.size and np.median(t) < np.inf:
                    a, b, c = np.percentile(t, [50, 5, 95])
                    med.append(a)
                    lo.append(b)
                    hi.append(c if np.isfinite(c) else np.nan)
                else:
                    med.append(np.nan)
                    lo.append(np.nan)
                    hi.append(np.nan)
            if np.isfinite(med).any():
                drawn = True
                ax.plot(xs, med, "o-", color=f"C{i}", label=f"tolerance {lab}")
                ax.fill_between(xs, lo, hi, color=f"C{i}", alpha=0.15)
        if not drawn:
            continue                                   # no tolerance reached by half the boards anywhere
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("dimension d" if field == "d" else "condition number κ(A)")
        ax.set_ylabel("time to tolerance / τ")
        ax.set_title("time until the estimate stays within tolerance: median, 5–95 % over boards", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        written.append(_save(fig, out / f"t_to_tol_vs_{field}.png"))
    return written
