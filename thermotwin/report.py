"""Accuracy-versus-time report: measured (twin and SPICE), predicted (docs/model.md#error-laws) and the floor.

Writes ``report.png``, ``report.csv``, ``summary.txt`` and ``summary.json`` into a directory.
matplotlib is imported only here, inside the function that draws.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np

from .calibration.predict import ErrorPrediction, predict_for
from .circuit.design import Mapping
from .circuit.spec import HardwareSpec
from .errors import InputError
from .io import atomic_write_bytes, atomic_write_json, atomic_write_text
from .core.problem import Problem
from .core.config import SimConfig
from .core.progress import Bar
from .solver.registry import simulate
from .solver.result import SimResult
from .units import format_si


def _csv(pred: ErrorPrediction, results: dict[str, SimResult], tau: float) -> str:
    cols = {"time_s": pred.times, "time_tau": pred.times / tau, "pred_instantaneous": pred.instantaneous}
    n = len(pred.times)
    for name, r in results.items():
        cols[f"{name}_instantaneous"] = r.instantaneous_error()
    nw = len(pred.window)
    pad = np.full(n - nw, np.nan)
    cols["window_s"] = np.concatenate([pad, pred.window])
    cols["pred_running"] = np.concatenate([pad, pred.running])
    cols["pred_running_bias"] = np.concatenate([pad, pred.running_bias])
    cols["pred_asymptote"] = np.concatenate([pad, pred.asymptote])
    for name, r in results.items():
        _, e = r.running_error()
        cols[f"{name}_running"] = np.concatenate([np.full(n - len(e), np.nan), e])
    header = ",".join(cols)
    body = np.column_stack(list(cols.values()))
    import io

    buf = io.StringIO()
    np.savetxt(buf, body, delimiter=",", header=header, comments="", fmt="%.8e")
    return buf.getvalue()


def _plot(pred: ErrorPrediction, results: dict[str, SimResult], tau: float, title: str) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"twin": "tab:blue", "ngspice": "tab:orange", "pyspice": "tab:green"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.2), constrained_layout=True)
    t = pred.times
    widths = {"twin": 3.0}
    for name, r in results.items():
        ax1.loglog(t[1:], r.instantaneous_error()[1:], lw=widths.get(name, 0.9), color=colors.get(name),
                   alpha=0.45 if name == "twin" else 0.9, label=f"{name}: ‖V(t) − x*‖/‖x*‖")
    ax1.loglog(t[1:], pred.instantaneous[1:], "k--", lw=1.6, label="predicted (rms): settling + stationary noise")
    ax1.axvline(pred.settle_s, color="grey", ls=":", lw=1)
    ax1.text(pred.settle_s, ax1.get_ylim()[0] * 1.5, " averaging starts", color="grey", fontsize=8)
    ax1.set_xlabel("time t [s]")
    ax1.set_ylabel("relative error")
    ax1.set_title("instantaneous state")
    w = pred.window
    for name, r in results.items():
        T, e = r.running_error()
        ax2.loglog(T[1:], e[1:], lw=widths.get(name, 1.0), color=colors.get(name),
                   alpha=0.45 if name == "twin" else 0.9, label=f"{name}: running average x̄_T")
    ax2.loglog(w[1:], pred.running[1:], "k--", lw=1.6, label="predicted rms (bias + noise)")
    ax2.loglog(w[1:], pred.asymptote[1:], color="tab:red", ls=":", lw=1.4,
               label="noise law sqrt(2κ0 τ tr(A⁻²)/T)/‖x*‖")
    if pred.floor > 1e-9:
        ax2.axhline(pred.floor, color="tab:purple", ls="-.", lw=1.2, label=f"component floor {pred.floor:.2g}")
    ax2.set_xlabel("averaging window T [s] (after settling)")
    ax2.set_ylabel("relative error")
    ax2.set_title("time average (the solver's answer)")
    for ax in (ax1, ax2):
        sec = ax.secondary_xaxis("top", functions=(lambda x: x / tau, lambda x: x * tau))
        sec.set_xlabel("[τ]")
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=8, loc="lower left")
    fig.suptitle(title, fontsize=10)
    buf = io.BytesIO()
    with warnings.catch_warnings():      # a 1–2 point run collapses the layout: a plain plot, no stderr noise
        warnings.filterwarnings("ignore", message="constrained_layout not applied")
        fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def remove_stale_traces(out: Path, results) -> list[Path]:
    """Remove ``trace_<backend>.csv`` files an earlier report left in ``out`` for backends this run did
    not use, so a reused --out never shows an old trace beside the new summary. Only those names
    (the files this function's report writes) are touched. Returns what was removed."""
    from .solver.registry import BACKENDS

    gone = []
    for name in BACKENDS:
        p = out / f"trace_{name}.csv"
        if name not in results and p.is_file() and not p.is_symlink():
            p.unlink()
            gone.append(p)
    return gone


def _warm_up(problem: Problem, spec: HardwareSpec, config: SimConfig, backends, mapping: Mapping) -> None:
    """Run each twin backend once on 2τ of the same problem before the timed runs, so the reported wall
    times and ratios are steady-state: the first call of a process loads (or compiles) the twin's numba
    kernels, a one-off ~0.5 s that a 10 ms run would otherwise be charged with."""
    short = dataclasses.replace(config, t_end="2tau", dt_out=None, noise_step=None, settle=None, n_traj=1)
    for name in backends:
        if name in ("twin", "twin-em"):
            simulate(problem, spec, short, backend=name, mapping=mapping)


def make_report(problem: Problem, spec: HardwareSpec, config: SimConfig, out_dir, backends=("twin", "ngspice"),
                mapping: Mapping = Mapping()) -> dict:
    """Simulate with each backend (same seed, same noise path), predict, and write the report files.

    Returns the summary dict written to ``summary.json``.
    """
    if not backends:
        raise InputError("--backends is empty; give one or more of twin, twin-em, ngspice, pyspice (e.g. twin,ngspice)")
    out = Path(out_dir)
    _warm_up(problem, spec, config, backends, mapping)
    results = {}
    with Bar("report", total=len(backends)) as bar:         # stderr progress on a terminal (core.progress)
        for i, name in enumerate(backends):
            bar.update(i, label=f"report {name} ({i + 1}/{len(backends)})")
            results[name] = simulate(problem, spec, config, backend=name, mapping=mapping)
    out.mkdir(parents=True, exist_ok=True)      # only once every run succeeded: a failure leaves no empty folder
    first = next(iter(results.values()))
    tau = first.tau_s
    pred = predict_for(problem, spec, config, mapping)
    if not np.allclose(pred.times, first.times):
        raise RuntimeError("prediction and simulation grids differ")  # pragma: no cover - internal invariant
    title = (f"{problem.name}: d = {problem.d}, τ = {format_si(tau, 's')}, κ0 = {spec.kappa0_v2:g} V², "
             f"noise {config.noise}, seed {config.seed}; λ(A) ∈ [{problem.lambda_min:.3g}, {problem.lambda_max:.3g}]")
    atomic_write_bytes(out / "report.png", _plot(pred, results, tau, title))
    atomic_write_text(out / "report.csv", _csv(pred, results, tau))
    for name, r in results.items():
        atomic_write_text(out / f"trace_{name}.csv", r.trace_csv())
    remove_stale_traces(out, results)
    summary = {
        "problem": problem.name, "d": problem.d, "tau_s": tau, "kappa0_v2": spec.kappa0_v2,
        "lambda_min": problem.lambda_min, "lambda_max": problem.lambda_max,
        "t_end_s": first.t_end_s, "settle_s": first.settle_s, "seed": config.seed, "noise": config.noise,
        "predicted_rel_error": float(pred.running[-1]), "predicted_floor": pred.floor,
        "backends": {name: {k: v for k, v in r.summary().items() if k not in ("x_final", "stats")}
                     for name, r in results.items()},
    }
    if "twin" in results and len(results) > 1:
        ref = results["twin"]
        span = float(np.ptp(ref.states))
        summary["pathwise_max_dev_over_range"] = {
            name: float(np.abs(r.states - ref.states).max() / span) for name, r in results.items() if name != "twin"}
        summary["wall_ratio_vs_twin"] = {name: r.wall_s / ref.wall_s for name, r in results.items() if name != "twin"}
    atomic_write_json(out / "summary.json", summary)
    atomic_write_text(out / "summary.txt", summary_text(summary))
    return summary


def summary_text(s: dict) -> str:
    """One screen of text."""
    tau = s["tau_s"]
    lines = [
        f"thermotwin report — {s['problem']} (d = {s['d']})",
        f"  τ = {format_si(tau, 's')}, κ0 = {s['kappa0_v2']:g} V², λ(A) in [{s['lambda_min']:.4g}, "
        f"{s['lambda_max']:.4g}], condition ≈ {s['lambda_max'] / s['lambda_min']:.3g}",
        f"  simulated {format_si(s['t_end_s'], 's')} = {s['t_end_s'] / tau:.1f} τ; averaging from "
        f"{format_si(s['settle_s'], 's')} = {s['settle_s'] / tau:.1f} τ; noise {s['noise']}, seed {s['seed']}",
        f"  predicted rms relative error of the time average at the end: {s['predicted_rel_error']:.4g}"
        f" (component floor {s['predicted_floor']:.3g})",
        "",
        f"  {'backend':<9} {'rel_error':>10} {'final-state err':>15} {'wall time':>11}",
    ]
    for name, b in s["backends"].items():
        lines.append(f"  {name:<9} {b['rel_error']:>10.4g} {b['rel_error_final']:>15.4g} {format_si(b['wall_s'], 's'):>11}")
    for name, v in s.get("pathwise_max_dev_over_range", {}).items():
        lines.append(f"  pathwise max |{name} − twin| / signal range = {v:.3g}; "
                     f"{name} took {s['wall_ratio_vs_twin'][name]:.0f}× the twin's wall time (twin timed after a warm-up run)")
    lines.append("")
    lines.append("  files: report.png (error vs time), report.csv, trace_<backend>.csv, summary.json")
    return "\n".join(lines) + "\n"


def make_calibrated_report(cal, trace, out_dir) -> dict:
    """Prediction from a calibration overlaid on a held-out trace (``report --calib --trace``).

    The held-out trace's running average (from the predicted settling time) is compared with
    the calibrated model's rms prediction, relative to the nominal solution when the
    calibration knows it (else to the fitted fixed point).
    """
    from .calibration.predict import predict_error
    from .calibration.traces import uniform

    from .calibration.fit import min_samples

    out = Path(out_dir)
    tr = uniform(trace)
    if tr.d != cal.d:
        raise ValueError(f"the held-out trace has {tr.d} node columns, the calibration {cal.d}; select them with --nodes")
    if len(tr.times) < min_samples(tr.d):
        raise InputError(f"{trace.source}: {len(tr.times)} samples; a held-out trace needs at least "
                         f"{min_samples(tr.d)} for d = {tr.d} (as calibrate does) — give a longer trace")
    out.mkdir(parents=True, exist_ok=True)
    M, D, x_b = cal.M, cal.D, cal.x_star
    x_ref = cal.x_reference
    t = tr.times - tr.times[0]
    v0 = tr.values[0]
    lmin = cal.lambda_min_per_s
    nx = np.linalg.norm(x_b)
    settle = max(0.0, min(np.log(max(np.linalg.norm(v0 - x_b), 1e-300) / (1e-3 * nx)) / lmin, 0.5 * t[-1]))
    pred = predict_error(M, M @ x_b, D, x_ref, v0, t, settle, scale=1.0)
    k0 = len(t) - len(pred.window)
    seg = tr.values[k0:]
    trap = np.concatenate([np.zeros((1, cal.d)), np.cumsum(0.5 * (seg[1:] + seg[:-1]), axis=0)])
    avg = np.vstack([seg[:1], trap[1:] / np.arange(1, len(seg))[:, None]])
    measured = np.linalg.norm(avg - x_ref, axis=1) / np.linalg.norm(x_ref)
    inst = np.linalg.norm(tr.values - x_ref, axis=1) / np.linalg.norm(x_ref)
    # agreement over the second half of the window (where one run's fluctuation is smallest)
    half = slice(len(measured) // 2, None)
    ratio = measured[half] / pred.running[half]
    summary = {
        "trace": tr.source, "calibration_source": cal.source, "d": cal.d, "settle_s": float(settle),
        "floor": pred.floor, "final_measured": float(measured[-1]), "final_predicted": float(pred.running[-1]),
        "ratio_median_second_half": float(np.median(ratio)), "ratio_max_dev_second_half": float(np.max(np.abs(ratio - 1))),
    }
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.2), constrained_layout=True)
    ax1.loglog(t[1:], inst[1:], lw=0.8, color="tab:orange", label="held-out trace")
    ax1.loglog(t[1:], pred.instantaneous[1:], "k--", lw=1.5, label="calibrated prediction (rms)")
    ax1.set_xlabel("time [s]")
    ax1.set_ylabel("relative error of V(t)")
    ax2.loglog(pred.window[1:], measured[1:], lw=1.2, color="tab:orange", label="held-out running average")
    ax2.loglog(pred.window[1:], pred.running[1:], "k--", lw=1.5, label="calibrated prediction (rms)")
    if pred.floor > 1e-9:
        ax2.axhline(pred.floor, color="tab:purple", ls="-.", label=f"floor A_eff vs A: {pred.floor:.3g}")
    ax2.set_xlabel("averaging window T [s]")
    ax2.set_ylabel("relative error of the time average")
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=8, loc="lower left")
    fig.suptitle(f"calibrated prediction vs held-out trace (d = {cal.d}, κ0 = {cal.kappa0_v2:.3g} V², "
                 f"λ_min = {lmin:.3g} 1/s)", fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(out / "report_calibrated.png", buf.getvalue())
    cols = np.column_stack([pred.window + t[k0], pred.window, measured, pred.running])
    sbuf = io.StringIO()
    np.savetxt(sbuf, cols, delimiter=",", header="time_s,window_s,measured_running,predicted_running", comments="",
               fmt="%.8e")
    atomic_write_text(out / "report_calibrated.csv", sbuf.getvalue())
    atomic_write_json(out / "summary_calibrated.json", summary)
    return summary
