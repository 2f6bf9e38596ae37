"""PNG figures of ``validate-timing`` (matplotlib imported here only, Agg backend)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    from ..io import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    _plt().close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _finish_cost_plot(fig, ax, path: Path, xlabel: str, title: str) -> None:
    """Labels, grid and the outside legend of the per-iteration cost plots, then save."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel("seconds per iteration")
    ax.set_title(title)
    _finish(fig, [ax], path, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _finish(fig, axes, path: Path, **legend) -> None:
    """Grid and legend on every axis (legend options default to fontsize 8), then lay out and save."""
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(**({"fontsize": 8} | legend))
    fig.tight_layout()
    _save(fig, path)


def draw_all(m: dict, out: Path) -> dict:
    """Write every figure; returns {file name: caption}."""
    figs = {}
    figs.update(fig_vs_n(m, out))
    figs.update(fig_vs_dz(m, out))
    figs.update(fig_analog(m, out))
    figs.update(fig_training(m, out))
    if m.get("paper_scale") and m["paper_scale"].get("curves"):
        figs.update(fig_paper_scale(m["paper_scale"], out))
    return figs


def fig_paper_scale(ps: dict, out: Path) -> dict:
    """Paper scale: analog-time curves at each N and TNGD training with the factored twin."""
    plt = _plt()
    tr = ps.get("training")
    fig, axes = plt.subplots(1, 2 if tr else 1, figsize=(13 if tr else 7.5, 5.2), squeeze=False)
    ax = axes[0, 0]
    cols = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    k0 = ps["kappa0"]
    for i, c in enumerate(ps["curves"]):
        col = cols[i % len(cols)]
        lab = f"N = {c['n']}, it. {c['snapshot_iter']}"
        t = np.array(c["t_tau"])
        ax.semilogy(t, c["closed_form"], "-", color=col, lw=2.2, alpha=0.5, label=f"{lab}: ideal, closed form")
        ax.semilogy(t[::max(1, len(t) // 40)], np.array(c["ideal_twin"])[::max(1, len(t) // 40)], "o", ms=3,
                    color=col, label=f"{lab}: ideal, factored twin")
        ax.semilogy(t, c["ideal_twin_kappa"], ":", color=col, label=f"{lab}: κ0 = {k0:g}, twin (rms of {c['n_traj']})")
        ax.semilogy(c["real_t_tau"], c["real_twin"], "--", color=col, label=f"{lab}: realistic board, twin")
    top = 2.0 * max(max(max(c["ideal_twin_kappa"]), max(c["closed_form_kappa"])) for c in ps["curves"])
    for x in (5, 50):
        ax.axvline(x, color="k", lw=0.8)
        ax.text(x, 0.6 * top, f" {x}τ", fontsize=8)
    ax.axhline(0.1, color="0.5", lw=0.6)
    ax.set_ylim(1e-3, top)
    ax.set_xlabel("device time t / (R0·C)")
    ax.set_ylabel("‖g̃(t) − g_NGD‖ / ‖g_NGD‖")
    ax.set_title("Is the analog time enough? Paper-scale digits MLP, V0 = ∇ℓ, λ = 0.01", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6, loc="lower left", ncol=1 if len(ps["curves"]) < 3 else 2)
    caption = ("Paper scale (factored three-array twin): relative error of the device state against the natural gradient "
               "(Woodbury) versus t at " + ", ".join(f"N = {n}" for n in ps["sizes_run"]) + " — ideal board (closed form "
               "line, twin markers), with κ0 (rms over trajectories) and on a realistic board (16-bit resistors, A0 = 1e5)")
    if tr:
        ax = axes[0, 1]
        labels = list(dict.fromkeys(r["label"] for r in tr["runs"]))
        for i, lab in enumerate(labels):
            rs = [r for r in tr["runs"] if r["label"] == lab]
            L = min(len(r["eval_iter"]) for r in rs)
            x = np.array(rs[0]["eval_iter"][:L])
            y = np.array([r["train_loss"][:L] for r in rs])
            col = "k" if lab.startswith("NGD") else cols[(i + 3) % len(cols)]
            ax.plot(x, y.mean(axis=0), color=col, lw=1.6, label=lab)
            if y.shape[0] > 1:
                ax.fill_between(x, y.min(axis=0), y.max(axis=0), color=col, alpha=0.15)
        ax.set_yscale("log")
        ax.set_xlabel("iteration")
        ax.set_ylabel("full training loss")
        ax.set_title(f"Training at N = {tr['n_params']} {tuple(tr['sizes'])}, {tr['seeds']} seed(s) (band: min–max)",
                     fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        caption += (f". Right: full training loss against iteration at N = {tr['n_params']}: Adam, NGD (Woodbury) and "
                    "TNGD with the factored twin as the device")
    fig.tight_layout()
    _save(fig, out / "paper_scale.png")
    return {"paper_scale.png": caption + "."}


def fig_vs_n(m: dict, out: Path) -> dict:
    from ..timing import TimingModel
    from .costs import describe_fit, extrapolate

    plt = _plt()
    tm = TimingModel()
    fits = m["scaling"]["fits"]
    pts = m["scaling"]["points"]
    ns = np.geomspace(500, 1e5, 60)
    b = m["scaling"]["batch"]
    rows = [tm.breakdown(int(n), b, 20, 50.0) for n in ns]
    jac = np.array([extrapolate(fits, "jac_s", n) for n in ns])
    fig, ax = plt.subplots(figsize=(12, 6))
    for key, lab, st in (("dac_s", "DAC (N values)", ":"), ("adc_s", "ADC (N values)", ":"),
                         ("program_s", "resistor programming b·d_z(b·d_z+2N)", "-"), ("analog_s", "analog 50τ", "--")):
        ax.loglog(ns, [r[key] for r in rows], st, color="tab:green", lw=1.2 if key != "program_s" else 2, label=f"TNGD {lab}")
    total = jac + np.array([r["transfer_s"] + r["analog_s"] for r in rows])
    ax.loglog(ns, total, "-", color="black", lw=2.2, label="TNGD total (digital fit + transfer + analog)")
    colours = {"dense_s": "tab:red", "cg_s": "tab:orange", "woodbury_s": "tab:purple", "jac_s": "tab:blue",
               "adam_s": "tab:gray"}
    names = {"dense_s": "NGD dense solve", "cg_s": "NGD-CG (c = 200 JVP iterations, incl. ∇ℓ)", "woodbury_s": "NGD-Woodbury",
             "jac_s": "digital ∇ℓ, J_f, H_L", "adam_s": "Adam step"}
    for term in ("dense_s", "cg_s", "woodbury_s"):
        n_m = [p["n_params"] for p in pts if p[term] is not None]
        add = 0.0 if term == "cg_s" else 1.0
        t_m = [p[term] + add * p["jac_s"] for p in pts if p[term] is not None]
        ax.loglog(n_m, t_m, "o", color=colours[term], label=f"{names[term]}" + (" + digital" if add else "")
                  + " (measured)")
        ax.loglog(ns, add * jac + np.array([extrapolate(fits, term, n) for n in ns]), "--", color=colours[term], lw=1,
                  label=f"  fit {describe_fit(fits[term])} (extrapolated past N = {max(n_m)})")
    for term in ("jac_s", "adam_s"):
        ax.loglog([p["n_params"] for p in pts], [p[term] for p in pts], "s", ms=4, color=colours[term],
                  label=f"{names[term]} (measured)")
        ax.loglog(ns, [extrapolate(fits, term, n) for n in ns], "-", color=colours[term], lw=0.8)
    ax.axvspan(1e4, 1e5, color="0.93", zorder=0)
    _finish_cost_plot(fig, ax, out / "fig2_vs_N.png", "number of parameters N",
                      f"Per-iteration cost, d_z = 20, b = {b} (Fig. 2a style; CPU, 1 thread, float64; TNGD "
                      "transfer derived)")
    return {"fig2_vs_N.png": "Per-iteration time against N at d_z = 20: TNGD's modelled terms (green), its total "
                             "with the digital part measured here (black), and NGD / NGD-CG / Woodbury measured "
                             "(markers) and extrapolated with fitted operation-count models (dashed). Shaded: the "
                             "paper's range N = 1e4–1e5."}


def fig_vs_dz(m: dict, out: Path) -> dict:
    from ..timing import TimingModel

    plt = _plt()
    tm = TimingModel()
    pts = m["dz_points"]
    dz = np.array([p["d_z"] for p in pts])
    n = pts[0]["n_params"]
    fig, ax = plt.subplots(figsize=(10, 4.8))
    rows = [tm.breakdown(p["n_params"], p["batch"], p["d_z"], 50.0) for p in pts]
    ax.semilogy(dz, [r["program_s"] for r in rows], "-", color="tab:green", lw=2, label="TNGD resistor programming")
    ax.semilogy(dz, [r["dac_s"] + r["adc_s"] for r in rows], ":", color="tab:green", label="TNGD DAC + ADC")
    ax.semilogy(dz, [r["analog_s"] for r in rows], "--", color="tab:green", label="TNGD analog 50τ")
    ax.semilogy(dz, [p["jac_s"] + r["transfer_s"] + r["analog_s"] for p, r in zip(pts, rows)], "-", color="black",
                lw=2, label="TNGD total (digital measured + transfer + analog)")
    for term, col, lab in (("dense_s", "tab:red", "NGD dense"), ("cg_s", "tab:orange", "NGD-CG (200)"),
                           ("woodbury_s", "tab:purple", "Woodbury")):
        v = [(d, p[term] + (0.0 if term == "cg_s" else p["jac_s"])) for d, p in zip(dz, pts) if p[term] is not None]
        if v:
            ax.semilogy(*zip(*v), "o-", color=col, label=f"{lab} + digital (measured)")
    ax.semilogy(dz, [p["jac_s"] for p in pts], "s-", color="tab:blue", ms=4, label="digital ∇ℓ, J_f, H_L (measured)")
    ax.semilogy(dz, [p["adam_s"] for p in pts], "s-", color="tab:gray", ms=4, label="Adam step (measured)")
    _finish_cost_plot(fig, ax, out / "fig2_vs_dz.png", "model outputs d_z",
                      f"Per-iteration cost against d_z at N ≈ {n} (b = {pts[0]['batch']})")
    return {"fig2_vs_dz.png": f"Per-iteration time against d_z at N ≈ {n}, all digital terms measured here."}


def fig_analog(m: dict, out: Path) -> dict:
    plt = _plt()
    st = m["study"]
    k0 = st["kappa0"]
    systems = st["systems"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    ax = axes[0]
    cols = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (it, row) in enumerate(zip(st["snap_iters"], systems)):
        t = np.array(row["t_tau"])
        c = cols[i % len(cols)]
        ax.semilogy(t, row["ideal"], "-", color=c, lw=2, label=f"iter {it}: ideal, κ0 = 0 (closed form)")
        ax.semilogy(t, row["ideal_kappa"], ":", color=c, label=f"iter {it}: ideal, κ0 = {k0:g} (rms)")
        ax.semilogy(t, row["real"], "--", color=c, label=f"iter {it}: realistic board, κ0 = 0 (twin)")
        ax.semilogy(t, row["real_kappa"], "-.", color=c, lw=0.8, label=f"iter {it}: realistic, κ0 = {k0:g} (twin)")
    for x in (5, 50):
        ax.axvline(x, color="k", lw=0.8)
        ax.text(x, 1.3e-4, f" {x}τ", fontsize=8)
    ax.axhline(0.1, color="0.5", lw=0.6)
    ax.set_ylim(1e-4, 5)
    ax.set_xlabel("device time t / (R0·C)")
    ax.set_ylabel("‖g̃(t) − (GGN+λI)⁻¹∇ℓ‖ / ‖(GGN+λI)⁻¹∇ℓ‖")
    ax.set_title("Is the analog time enough? (V0 = ∇ℓ, λ = 0.01)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6.5)
    ax = axes[1]
    for i, (it, row) in enumerate(zip(st["snap_iters"], systems)):
        ev = np.array(row.get("eigenvalues", []))
        if ev.size:
            ax.loglog(np.arange(1, ev.size + 1), ev[::-1], color=cols[i % len(cols)], label=f"iter {it}")
    ax.axhline(0.01, color="k", lw=0.8, ls="--")
    ax.text(1.2, 0.012, "λ = 0.01: slowest rate λ/τ", fontsize=8)
    ax.set_xlabel("index (descending)")
    ax.set_ylabel("eigenvalue of GGN + λI (rate in 1/τ)")
    ax.set_title("Spectrum of GGN + λI")
    _finish(fig, [ax], out / "analog_time.png")
    return {"analog_time.png": "Left: relative error of the device state against the exact natural gradient versus t, "
                               "ideal board (closed form, checked against thermotwin.simulate) and a realistic board "
                               "(16-bit resistors 1 kΩ–100 MΩ, A0 = 1e5, GBW = 100 MHz), noise-free and with κ0. "
                               "Right: eigenvalues of GGN + λI — most sit at λ."}


def _curves(runs, label, key_x):
    rs = [r for r in runs if r["label"] == label]
    L = min(len(r["eval_iter"]) for r in rs)
    y = np.array([r["train_loss"][:L] for r in rs])
    if key_x == "iter":
        x = np.array(rs[0]["eval_iter"][:L], float)
    else:                                   # cumulative modelled time; iteration 0 (t = 0) left out
        xs = []
        for r in rs:
            cum = np.concatenate([[0.0], np.cumsum(r["modelled_s"])])
            xs.append(cum[np.array(r["eval_iter"][:L])])
        x = np.mean(xs, axis=0)[1:]
        y = y[:, 1:]
    return x, y


def _panel(ax, runs, labels, key_x, title):
    cols = _plt().rcParams["axes.prop_cycle"].by_key()["color"]
    for i, lab in enumerate(labels):
        if not any(r["label"] == lab for r in runs):
            continue
        x, y = _curves(runs, lab, key_x)
        c = "k" if lab.startswith("NGD") else cols[i % len(cols)]
        ax.plot(x, y.mean(axis=0), color=c, lw=1.6, label=lab)
        if y.shape[0] > 1:
            ax.fill_between(x, y.min(axis=0), y.max(axis=0), color=c, alpha=0.15)
    ax.set_yscale("log")
    ax.set_xlabel("iteration" if key_x == "iter" else "modelled wall time (s): digital measured + transfer + analog")
    if key_x != "iter":
        ax.set_xscale("log")
    ax.set_ylabel("full training loss")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def fig_training(m: dict, out: Path) -> dict:
    from .claims_training import best_adam

    plt = _plt()
    runs = m["runs"]
    n_seeds = m["n_seeds"]
    adam = best_adam(runs)
    figs = {}
    ts = (5, 10, 20, 50)
    groups = {
        "training_t.png": ([adam, "NGD (exact)"] + [f"TNGD {t}τ warm" for t in ts] + [f"TNGD {t}τ reset" for t in ts],
                           "Fig. 4a: Adam, NGD and TNGD for t = 5–50τ (warm and reset)"),
        "training_delay.png": (["NGD (exact)", "TNGD 5τ reset", "TNGD 5τ warm", "TNGD 5τ warm t_d=0.2τ",
                                "TNGD 5τ warm t_d=1τ"], "Fig. 4b: TNGD at t = 5τ with delay t_d"),
        "training_kappa.png": (["NGD (exact)"] + [f"TNGD 1τ {w} κ0={k}" for w in ("warm", "reset")
                                                  for k in (0, 0.001, 0.005, 0.1)],
                               "Fig. 7: TNGD at t = τ with device noise κ0, averaged read-outs"),
    }
    for name, (labels, title) in groups.items():
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
        _panel(axes[0], runs, labels, "iter", f"{title} — {n_seeds} seeds (band: min–max)")
        _panel(axes[1], runs, labels, "time", "same runs against modelled runtime")
        fig.tight_layout()
        _save(fig, out / name)
        figs[name] = f"{title}: loss against iteration (left) and modelled runtime (right), mean and min–max over seeds."
    figs.update(fig_runtime(m, out, adam))
    if m.get("finetune"):
        figs.update(fig_finetune(m["finetune"], out))
    return figs


def fig_runtime(m: dict, out: Path, adam: str) -> dict:
    """Fig. 3 style: training loss and test accuracy against modelled runtime."""
    plt = _plt()
    runs = m["runs"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for lab, col in ((adam, "tab:gray"), ("TNGD 5τ warm", "tab:blue"), ("TNGD 5τ reset", "tab:cyan")):
        rs = [r for r in runs if r["label"] == lab]
        for i, r in enumerate(rs):
            kw = {"label": lab} if i == 0 else {}
            axes[0].plot(r["eval_modelled_s"][1:], r["train_loss"][1:], color=col, lw=1.2, **kw)
            axes[1].plot(r["eval_modelled_s"][1:], r["test_acc"][1:], color=col, lw=1.2, **kw)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("full training loss")
    axes[1].set_ylabel("test accuracy")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("modelled runtime (s): digital measured + App. C transfer (derived) + t·τ")
    _finish(fig, axes, out / "fig3_runtime.png")
    return {"fig3_runtime.png": f"Fig. 3 style: training loss (left) and test accuracy (right) against modelled runtime, "
                                f"TNGD at t = 5τ (warm and reset) and {adam} (best of the learning-rate sweep); one line "
                                "per seed."}


def fig_finetune(ft: dict, out: Path) -> dict:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.6))
    cols = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, lab in enumerate(dict.fromkeys(r["label"] for r in ft["runs"])):
        rs = [r for r in ft["runs"] if r["label"] == lab]
        L = min(len(r["eval_iter"]) for r in rs)
        y = np.array([r["train_loss"][:L] for r in rs])
        ax.plot(rs[0]["eval_iter"][:L], y.mean(axis=0), color=cols[i % len(cols)], lw=1.3,
                ls="-" if lab.startswith("TNGD-Adam") else ("--" if lab.startswith("TNGD") else ":"), label=lab)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss (digits 5–9)")
    ax.set_title("Fig. 5 stand-in: LoRA fine-tuning of a digits CNN (not DistilBERT/SQuAD)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    _save(fig, out / "fig5_finetune.png")
    return {"fig5_finetune.png": "Fig. 5 stand-in: training loss of the LoRA adapters (mean over seeds) for Adam, TNGD "
                                 "and TNGD-Adam at each learning rate and t."}
