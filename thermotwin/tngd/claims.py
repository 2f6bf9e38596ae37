"""Verdicts on the TNGD paper's claims (docs/timing.md#claims) and the Markdown report.

Each claim is ``{"id", "claim", "paper", "ours", "verdict", "why"}`` with verdict one of
``holds`` / ``does not hold`` / ``cannot tell``. The rules are fixed here, before looking at numbers:

* "same quality" (50τ vs NGD; κ0 ≤ 0.01 vs κ0 = 0): the final full-training-set loss of every seed
  at most ``SAME_TOL`` = 5 % above the reference run of the same seed (same init, same batches; a
  lower loss counts as holding) → holds; every seed worse by more than 5 % → does not hold;
  otherwise cannot tell.
* "helps" (delay): every seed's final loss lower than t_d = 0 and the mean gain ≥ ``HELP_TOL`` = 1 %
  → holds; mean gain ≤ 0 → does not hold; otherwise cannot tell.
* "hurts" (κ0 = 0.1): every seed worse than κ0 = 0 by more than 5 % → holds; mean within ±5 % or
  better → does not hold; otherwise cannot tell.
* speed ratios: ≈ 100× holds when every ratio is ≥ 50 (within 2× of the claim); ≈ 2× holds when the
  modelled ratio is ≤ 3.
"""

from __future__ import annotations

import math

import numpy as np

SAME_TOL = 0.05
HELP_TOL = 0.01


def _finals(runs: list, label: str) -> np.ndarray:
    rows = sorted((r["config"]["seed"], r["final_train_loss"] if not r["diverged"] else math.inf)
                  for r in runs if r["label"] == label)
    return np.array([v for _, v in rows], float)


def _fmt_losses(v: np.ndarray) -> str:
    if v.size == 1:
        return f"{v[0]:.3f}"
    return f"{v.mean():.3f} (seeds {v.min():.3f}–{v.max():.3f})"


def _same(a: np.ndarray, ref: np.ndarray) -> tuple[str, np.ndarray]:
    """"At least as good as the reference": one-sided, a better final loss also holds."""
    rel = (a - ref) / ref
    if np.all(rel <= SAME_TOL):
        return "holds", rel
    if np.all(rel > SAME_TOL):
        return "does not hold", rel
    return "cannot tell", rel


def _ms(x: float) -> str:
    return f"{x * 1e3:.3g} ms"


def evaluate(m: dict) -> list[dict]:
    """All claims with verdicts from the measurements of :func:`.validate._run`."""
    from ..timing import TimingModel
    from .costs import describe_fit, extrapolate

    tm = TimingModel()
    runs = m["runs"]
    out = []
    n_seeds = m["n_seeds"]
    iters = m["settings"]["n_iter"]

    # 1. transfer term
    rows10 = [r for r in m["timing_rows"] if r["d_z"] == 10]
    rows20 = [r for r in m["timing_rows"] if r["d_z"] == 20]
    paper = [4.2e-3, 12.4e-3, 41.2e-3]
    ok = all(abs(r["transfer_s"] - p) / p < 0.01 for r, p in zip(rows10, paper))
    out.append({
        "id": "transfer_term",
        "claim": "Transfer per iteration = 16·(2N + b·d_z(b·d_z + 2N))/50e9 s ≈ 4.2 / 12.4 / 41.2 ms at "
                 "N = 1e4 / 3e4 / 1e5, b·d_z = 640",
        "paper": "16 bit, 50 Gb/s, DAC and ADC of N values; the b·d_z(b·d_z + 2N) resistor programming is not "
                 "stated separately (docs/timing.md#derived derives 4.2 / 12.4 / 41.2 ms)",
        "ours": " / ".join(_ms(r["transfer_s"]) for r in rows10)
                + f"; resistor programming is {rows10[0]['program_fraction_of_transfer']:.2%} of it "
                f"(DAC + ADC alone {rows10[0]['dac_s'] * 2e6:.3g} µs at N = 1e4); at d_z = 20 (b·d_z = 1280): "
                + " / ".join(_ms(r["transfer_s"]) for r in rows20),
        "verdict": "holds" if ok else "does not hold",
        "why": "the formula reproduces the numbers to < 1 %; almost all of it is programming the "
               "b·d_z(b·d_z + 2N) resistors of the three arrays, a term that grows like N·b·d_z and that "
               "the paper's DAC/ADC accounting leaves out",
    })

    # 2. transfer against the digital work
    d4 = m["digital_1e4"]
    prog = rows10[0]["program_s"]
    verdict = "does not hold" if prog > d4["jac_s"] else "cannot tell"
    out.append({
        "id": "transfer_vs_digital",
        "claim": "The digital autodiff (∇ℓ, J_f, H_L) dominates TNGD's per-iteration time; transfer and analog "
                 "time are small",
        "paper": "Sec. 4.1 timing model: digital part dominant, analog t·τ = 50 µs at 50τ",
        "ours": f"N = 1e4, d_z = 10, b = 64 on this CPU (1 thread, float64): TNGD digital part {_ms(d4['jac_s'])}, "
                f"Adam step {_ms(d4['adam_s'])}; programming {_ms(prog)} = {prog / d4['jac_s']:.2g}× the TNGD "
                f"digital part and {prog / d4['adam_s']:.3g}× an Adam step; analog 50τ = 0.05 ms",
        "verdict": verdict,
        "why": ("even on this CPU programming the resistors takes longer than the whole digital step"
                if verdict == "does not hold" else
                "on this CPU the digital part is larger than the transfer, but a GPU shrinks the digital part "
                "and not the 50 Gb/s link; the programming term alone is already many Adam steps, so on the "
                "paper's A100 it is unlikely to be small — not measurable here"),
    })

    # 3. 50τ at the device level
    st = m["study"]["systems"]
    e50 = [s["summary"]["ideal"]["at_50tau"] for s in st]
    e5 = [s["summary"]["ideal"]["at_5tau"] for s in st]
    t10 = [s["summary"]["ideal"]["t_to_10pct_tau"] for s in st]
    r50 = [s["summary"]["real"]["at_50tau"] for s in st]
    k50 = [s["summary"]["ideal_kappa"]["at_50tau"] for s in st]
    slow = [s["spectrum"]["n_below_10lam"] / s["spectrum"]["n"] for s in st]
    wslow = [s["spectrum"]["ng_weight_below_10lam"] for s in st]
    tb = [s["summary"]["tau_board_over_tau0"] for s in st]
    verdict = "holds" if max(e50) <= 0.1 else ("does not hold" if min(e50) > 0.1 else "cannot tell")
    k0 = m["study"]["kappa0"]
    out.append({
        "id": "fifty_tau_device",
        "claim": "After t ≈ 50τ the device state g̃ (started at ∇ℓ) is close to the natural gradient (GGN + λI)⁻¹∇ℓ",
        "paper": "t ≈ 50τ reaches exact-NGD quality (Fig. 4a, λ = 0.01)",
        "ours": f"ideal board, τ = R0·C, relative error of g̃ at 5τ: {', '.join(f'{v:.2f}' for v in e5)}; at 50τ: "
                f"{', '.join(f'{v:.2f}' for v in e50)}; 10 % reached at {', '.join(_tau(v, m['study']) for v in t10)} "
                f"(GGN snapshots at NGD iterations {m['study']['snap_iters']}); {', '.join(f'{v:.0%}' for v in slow)} of "
                f"the eigenvalues of GGN + λI lie below 10λ and carry {', '.join(f'{v:.0%}' for v in wslow)} of "
                f"‖natural gradient‖²; with κ0 = {k0:g} the rms error at 50τ is {', '.join(f'{v:.2f}' for v in k50)}; "
                f"realistic board (16-bit resistors 1 kΩ–100 MΩ, A0 = 1e5, GBW = 100 MHz) at 50·R0C: "
                f"{', '.join(f'{v:.3f}' for v in r50)} because its own τ is {', '.join(f'{v:.2f}' for v in tb)}·R0C",
        "verdict": verdict,
        "why": "GGN has rank ≤ b(d_z − 1), so most eigenvalues of GGN + λI sit near λ = 0.01 and relax at rate "
               "λ/τ: e^(−0.5) ≈ 0.6 of those components is left at 50τ, and the natural gradient lives mostly "
               "there (λ⁻¹ amplifies them). Time to relative error ε is ≈ ln(1/ε)/λ τ ≈ 230τ for 10 %. "
               "The realistic board is faster only because the mapping scales conductances up until the largest "
               "entry hits r_min (τ_board = R0·C/s); in units of its own τ it is as slow. A single noisy "
               "read-out is dominated by the stationary spread κ0·tr(A⁻¹) ≈ κ0·N/λ",
    })

    # 4. 50τ in training: device reset to ∇ℓ every iteration, and warm (continuous) device
    ngd = _finals(runs, "NGD (exact)")
    for mode, lab50, lab5 in (("reset", "TNGD 50τ", "TNGD 5τ"), ("warm", "TNGD 50τ warm", "TNGD 5τ warm t_d=0τ")):
        t50 = _finals(runs, lab50)
        t5 = _finals(runs, lab5)
        verdict, rel = _same(t50, ngd)
        _, rel5 = _same(t5, ngd)
        start = ("V0 = ∇ℓ at every iteration (docs/timing.md#update)" if mode == "reset" else
                 "warm start: the device is never reset, each iteration starts from the last state")
        out.append({
            "id": f"fifty_tau_training_{mode}",
            "claim": f"TNGD with t = 50τ trains as well as exact NGD (λ = 0.01, η = 0.01, b = 64); {start}",
            "paper": "Fig. 4a (MNIST): t ≈ 50τ reaches exact-NGD quality",
            "ours": f"digits MLP {tuple(m['sizes'])}, {iters} iterations, {n_seeds} seeds, final full-train loss: NGD "
                    f"{_fmt_losses(ngd)}; TNGD 50τ {_fmt_losses(t50)} ({', '.join(f'{v:+.1%}' for v in rel)} vs NGD "
                    f"per seed); TNGD 5τ {_fmt_losses(t5)} ({', '.join(f'{v:+.1%}' for v in rel5)})",
            "verdict": verdict,
            "why": ("no seed more than 5 % behind NGD" if verdict == "holds" else
                    "more than 5 % behind NGD on every seed" if verdict == "does not hold" else
                    "the seeds disagree about a > 5 % gap")
                   + ("; from ∇ℓ the device is still far from the natural gradient at 50τ (device-level claim), "
                      "so each step is a blend of SGD and NGD" if mode == "reset" else
                      "; without reset the slow modes keep relaxing across iterations (the GGN changes slowly), "
                      "so even 5τ per iteration accumulates to NGD-like steps"),
        })

    # 5. delay (warm device; t_d = 0 is plain warm start)
    d0 = _finals(runs, "TNGD 5τ warm t_d=0τ")
    r5 = _finals(runs, "TNGD 5τ")
    gains = {}
    per = []
    for td in ("0.2", "1"):
        dv = _finals(runs, f"TNGD 5τ warm t_d={td}τ")
        g = (d0 - dv) / d0
        gains[td] = g
        if np.all(g > 0) and g.mean() >= HELP_TOL:
            per.append("holds")
        elif g.mean() <= 0:
            per.append("does not hold")
        else:
            per.append("cannot tell")
    verdict = per[0] if per[0] == per[1] else "cannot tell"
    out.append({
        "id": "delay_helps",
        "claim": "A delay t_d of 0.2τ–τ at t = 5τ improves training",
        "paper": "Fig. 4b",
        "ours": f"final loss at t = 5τ, warm device: t_d = 0: {_fmt_losses(d0)}; "
                + "; ".join(f"t_d = {td}τ: {_fmt_losses(_finals(runs, f'TNGD 5τ warm t_d={td}τ'))} "
                            f"(gain {', '.join(f'{v:+.2%}' for v in g)})" for td, g in gains.items())
                + f"; for reference the device reset to ∇ℓ every iteration: {_fmt_losses(r5)}",
        "verdict": verdict,
        "why": "our delay: the device keeps running on the previous (GGN, ∇ℓ) for t_d while the new ones are "
               "computed, then is reprogrammed without reset and read after t; against t_d = 0 with the same "
               f"warm device. Rule: every seed better and mean gain ≥ {HELP_TOL:.0%} → holds. "
               + ("Both delays help." if verdict == "holds" else
                  "The extra 0.2–1τ is small next to the ~1/λ = 100τ the slow modes need, so its direct effect is "
                  "small; the large gain is from not resetting the device at all (warm against reset), which any "
                  "non-zero delay implies if t_d = 0 is read as a reset"),
    })

    # 6./7. κ0 on the warm (continuous) device; reset runs reported alongside
    k_0 = _finals(runs, "TNGD 1τ warm κ0=0")
    res_small = []
    txt = []
    for k in ("0.001", "0.01"):
        v, rel = _same(_finals(runs, f"TNGD 1τ warm κ0={k}"), k_0)
        res_small.append(v)
        txt.append(f"κ0 = {k}: {_fmt_losses(_finals(runs, f'TNGD 1τ warm κ0={k}'))} "
                   f"({', '.join(f'{x:+.1%}' for x in rel)})")
    verdict = "holds" if all(v == "holds" for v in res_small) else (
        "does not hold" if any(v == "does not hold" for v in res_small) else "cannot tell")
    out.append({
        "id": "kappa_small_harmless",
        "claim": "Device noise κ0 ≤ 0.01 leaves training unchanged (t = τ)",
        "paper": "Fig. 7",
        "ours": f"final loss at t = τ, warm device: κ0 = 0: {_fmt_losses(k_0)}; " + "; ".join(txt),
        "verdict": verdict,
        "why": "κ0 in the units of ∇ℓ (TNGD Eq. 15), one read-out at t, no averaging; rule: no seed more than 5 % "
               "worse than κ0 = 0. On a device that is never reset the slow modes carry stationary noise of variance up to "
               "κ0/λ, i.e. a step noise of η·sqrt(κ0/λ) per parameter",
    })
    k1 = _finals(runs, "TNGD 1τ warm κ0=0.1")
    rel = (k1 - k_0) / k_0
    rr0 = _finals(runs, "TNGD 1τ κ0=0")
    rr1 = _finals(runs, "TNGD 1τ κ0=0.1")
    rel_r = (rr1 - rr0) / rr0
    if np.all(rel > SAME_TOL):
        verdict = "holds"
    elif rel.mean() <= SAME_TOL:
        verdict = "does not hold"
    else:
        verdict = "cannot tell"
    out.append({
        "id": "kappa_large_hurts",
        "claim": "Device noise κ0 = 0.1 hurts training (t = τ)",
        "paper": "Fig. 7",
        "ours": f"final loss at t = τ, warm device: κ0 = 0: {_fmt_losses(k_0)}; κ0 = 0.1: {_fmt_losses(k1)} "
                f"({', '.join(f'{x:+.1%}' for x in rel)}); device reset to ∇ℓ: κ0 = 0: {_fmt_losses(rr0)}, "
                f"κ0 = 0.1: {_fmt_losses(rr1)} ({', '.join(f'{x:+.1%}' for x in rel_r)})",
        "verdict": verdict,
        "why": "rule: every seed worse by more than 5 % → holds. "
               + ("The noise is as large as the signal in the slow modes and the loss suffers."
                  if verdict == "holds" else
                  "Zero-mean read-out noise of this size does not slow training of this small model over this many "
                  "iterations; with the device reset, t = τ is close to SGD with step η·t and the noise "
                  "(variance ≈ 2κ0·t per slow mode) is small."
                  if verdict == "does not hold" else "the seeds disagree"),
    })

    # 8. ≈2× Adam
    adam_in = np.median([np.median(r["digital_s"]) for r in runs if r["label"] == "Adam 1e-3"])
    tngd_in = np.median([np.median(r["digital_s"]) for r in runs if r["label"] == "TNGD 5τ"])
    tr_small = [r for r in runs if r["label"] == "TNGD 5τ"][0]
    mod_ratio_small = (tngd_in + tr_small["transfer_s"] + tr_small["analog_s"]) / adam_in
    r1e4 = tm.breakdown(10_000, 64, 10, 50.0)
    mod_1e4 = (d4["jac_s"] + r1e4["transfer_s"] + r1e4["analog_s"]) / d4["adam_s"]
    floor = r1e4["transfer_s"] / d4["adam_s"]
    verdict = "holds" if mod_1e4 <= 3 else ("does not hold" if floor > 2 else "cannot tell")
    out.append({
        "id": "two_x_adam",
        "claim": "A TNGD iteration costs ≈ 2× an Adam iteration",
        "paper": "Fig. 3, A100 GPU, timing model of Sec. 4.1",
        "ours": f"measured digital ratio TNGD/Adam: {tngd_in / adam_in:.3g}× in the training loop (N = "
                f"{tr_small['n_params']}), {d4['jac_s'] / d4['adam_s']:.3g}× at N = 1e4 (d_z = 10); modelled "
                f"per-iteration ratio with transfer + 5τ/50τ analog: {mod_ratio_small:.3g}× (N = {tr_small['n_params']}), "
                f"{mod_1e4:.3g}× at N = 1e4; the transfer alone is {floor:.3g} Adam steps at N = 1e4",
        "verdict": verdict,
        "why": "the TNGD digital step needs the b·d_z × N Jacobian (b·d_z = 640 rows) besides ∇ℓ, and the "
               "link must then carry b·d_z(b·d_z + 2N) values: at N = 1e4 that is 4.2 ms whatever the digital "
               "platform, so ≈ 2× would need an Adam step ≥ 4 ms on a 1e4-parameter model. We measured a CPU, not "
               "an A100; the verdict assumes an A100 Adam step is not slower than this CPU's",
    })

    # 9. ≈100× faster than NGD / CG / Woodbury
    fits = m["scaling"]["fits"]
    lines = []
    ratios = []
    for n in (1e4, 1e5):
        tb_ = tm.breakdown(int(n), 64, 20, 50.0)
        jac = extrapolate(fits, "jac_s", n)
        tngd = jac + tb_["transfer_s"] + tb_["analog_s"]
        parts = []
        for term, name in (("dense_s", "NGD"), ("cg_s", "NGD-CG"), ("woodbury_s", "Woodbury")):
            other = jac + extrapolate(fits, term, n)
            ratios.append(other / tngd)
            parts.append(f"{name} {other / tngd:.3g}× ({other:.3g} s)")
        lines.append(f"N = {n:.0e}: TNGD {tngd * 1e3:.3g} ms (digital {jac * 1e3:.3g} + transfer "
                     f"{tb_['transfer_s'] * 1e3:.3g} + analog 0.05) vs " + ", ".join(parts))
    ratios = np.array(ratios)
    verdict = "holds" if np.all(ratios >= 50) else "does not hold"
    pts = m["scaling"]["points"]
    out.append({
        "id": "hundred_x",
        "claim": "TNGD is ≈ 100× faster per iteration than NGD, NGD-CG (c = 200) and NGD-Woodbury for "
                 "N = 1e4–1e5, d_z = 20",
        "paper": "Fig. 2 (runtime per iteration against N and d_z)",
        "ours": "; ".join(lines) + f". Measured up to N = {max(p['n_params'] for p in pts)} (dense up to "
                f"{max(p['n_params'] for p in pts if p['dense_s'] is not None)}), extrapolated with fitted operation-count "
                "models: " + "; ".join(f"{k.replace('_s', '')} = {describe_fit(v)} s (free slope N^{v['p_free']:.2f})"
                                      for k, v in fits.items() if k in ('jac_s', 'dense_s', 'cg_s', 'woodbury_s')),
        "verdict": verdict,
        "why": ("every ratio is ≥ 50 on this CPU" if verdict == "holds" else
                "Woodbury costs O((b·d_z)²N) and CG O(c·b·d_z·N), the same order in N as the resistor "
                "programming b·d_z(b·d_z + 2N); with the programming term counted the advantage over them is a "
                "constant factor, not 100×, and only dense NGD (O(N³)) falls far behind")
               + ". The baselines are timed on a CPU: a faster digital platform shrinks the baselines and "
                 "TNGD's digital part alike but not the link, so it can only lower these ratios",
    })
    if m.get("paper_scale") and m["paper_scale"].get("curves"):
        out += paper_scale_claims(m["paper_scale"])
    return out


def _curve_text(c: dict) -> str:
    su = c["summary"]
    t_max = c["t_tau"][-1]
    tt = lambda v: f"{v:.0f}τ" if math.isfinite(v) else f"> {t_max:.0f}τ"  # noqa: E731
    return (f"N = {c['n']} (iteration {c['snapshot_iter']}): ideal error {su['closed_form']['at_5tau']:.2f} at 5τ, "
            f"{su['closed_form']['at_50tau']:.2f} at 50τ, 10 % at {tt(su['closed_form']['t_to_10pct_tau'])}, 1 % at "
            f"{tt(su['closed_form']['t_to_1pct_tau'])}; realistic board {su['real_twin']['at_50tau']:.3f} at 50τ "
            f"(floor {c['real_floor']:.3f}); κ0 = {c['kappa0']:g}: rms {su['ideal_twin_kappa']['at_50tau']:.2f} at 50τ")


def paper_scale_claims(ps: dict) -> list[dict]:
    """Claims re-checked at the paper's model size with the factored twin."""
    out = []
    curves = ps["curves"]
    e50 = [c["summary"]["closed_form"]["at_50tau"] for c in curves]
    verdict = "holds" if max(e50) <= 0.1 else ("does not hold" if min(e50) > 0.1 else "cannot tell")
    checks = (f"oracles: factored twin against the closed form max |Δ| ≤ {max(c['ideal_max_abs_diff'] for c in curves):.1g}; "
              f"noisy twin against the closed-form mean of ‖V − x*‖² max |z| = "
              f"{max(c['kappa_max_abs_z'] for c in curves):.2g} ({curves[0]['n_traj']} trajectories); realistic twin against "
              f"Woodbury + Arnoldi on the same realised arrays ≤ {max(c['real_vs_arnoldi_max_rel'] for c in curves):.1g}")
    out.append({
        "id": "fifty_tau_device_paper_scale",
        "claim": "At the paper's model size (N ≈ 1e4–1e5, real data set) the device state after t ≈ 50τ from ∇ℓ is "
                 "close to the natural gradient (GGN + λI)⁻¹∇ℓ",
        "paper": "t ≈ 50τ reaches exact-NGD quality (Fig. 4a, MNIST MLP, λ = 0.01, b = 64)",
        "ours": "digits MLP, b = 64, d_z = 10 (r = 640), factored three-array twin, g_NGD by Woodbury: "
                + "; ".join(_curve_text(c) for c in curves) + ". " + checks,
        "verdict": verdict,
        "why": "the same spectrum as at small N, only more so: "
               + ", ".join(f"{c['spectrum']['n_below_10lam'] / c['n']:.1%} of the eigenvalues below 10λ carrying "
                           f"{c['spectrum']['ng_weight_below_10lam']:.0%} of ‖g_NGD‖² (N = {c['n']}, iteration "
                           f"{c['snapshot_iter']})" for c in curves)
               + "; GGN has rank ≤ b(d_z − 1) = 576 whatever N, so almost every mode relaxes at rate ≈ λ/τ "
                 "(e^(−0.5) ≈ 0.6 left at 50τ) and the time to 10 % does not shrink with N. The realistic board "
                 "(16-bit resistors 1 kΩ–100 MΩ, A0 = 1e5) follows the ideal curve at 5τ and 50τ and levels off at "
                 "its floor (quantisation, entries dropped above r_max and the finite-gain leak move its fixed point)",
    })
    tr = ps.get("training")
    if tr:
        runs = tr["runs"]
        ngd = _finals(runs, "NGD (exact, Woodbury)")
        labels = [r["label"] for r in runs if r["config"]["seed"] == 0 and r["config"]["method"] == "tngd"]
        lab50 = next((lab for lab in labels if lab.startswith("TNGD 50τ")), None)
        if lab50 is not None and ngd.size:
            t50 = _finals(runs, lab50)
            verdict, rel = _same(t50, ngd)
            extra = []
            for lab in labels + ["Adam 1e-3"]:
                if lab != lab50:
                    v = _finals(runs, lab)
                    extra.append(f"{lab} {_fmt_losses(v)} ({', '.join(f'{x:+.1%}' for x in (v - ngd) / ngd)})")
            out.append({
                "id": "fifty_tau_training_paper_scale",
                "claim": "At the paper's model size TNGD with t = 50τ (device reset to ∇ℓ) trains as well as exact NGD "
                         "(λ = 0.01, η = 0.01, b = 64)",
                "paper": "Fig. 4a (MNIST): t ≈ 50τ reaches exact-NGD quality",
                "ours": f"digits MLP {tuple(tr['sizes'])} (N = {tr['n_params']}), factored twin as the device, "
                        f"{tr['n_iter']} iterations, {tr['seeds']} seed(s), final full-train loss: NGD (Woodbury) "
                        f"{_fmt_losses(ngd)}; {lab50} {_fmt_losses(t50)} ({', '.join(f'{v:+.1%}' for v in rel)} vs NGD "
                        f"per seed); " + "; ".join(extra),
                "verdict": verdict,
                "why": ("no seed more than 5 % behind NGD" if verdict == "holds" else
                        "more than 5 % behind NGD on every seed" if verdict == "does not hold" else
                        "the seeds disagree about a > 5 % gap")
                       + f"; a short run ({tr['n_iter']} iterations, the loss still falling): it compares the first "
                         "stretch of training, where a TNGD step is a blend of SGD and NGD (device-level claim)",
            })
    return out


def _tau(t: float, study: dict) -> str:
    return f"{t:.0f}τ" if math.isfinite(t) else f"> {study['t_max_tau']:.0f}τ (not reached)"


def report_markdown(m: dict, claims: list, figures: dict) -> str:
    """DIR/report.md: settings, the claims table, figures and notes."""
    s = m["settings"]
    lines = [
        "# TNGD timing and training claims against the thermotwin twin",
        "",
        f"Mode: {'quick' if m['quick'] else 'full'}; wall time {m['wall_s']:.0f} s on this machine "
        f"(single-threaded BLAS and torch, float64). Model: tanh MLP {tuple(m['sizes'])} on scikit-learn's digits "
        f"(1797 images of 8×8 pixels, 80/20 train/test split), b = 64, λ = 0.01, η = 0.01, {s['n_iter']} iterations, {m['n_seeds']} seeds. "
        "Paper: Donatella et al., arXiv 2405.13817 (docs/timing.md#timing).",
        "",
        _paper_sentence(m) + ".",
        "",
        "## Claims",
        "",
        "| claim | paper | ours | verdict | why |",
        "| --- | --- | --- | --- | --- |",
    ]
    for c in claims:
        cells = [c[k].replace("|", "\\|").replace("\n", " ") for k in ("claim", "paper", "ours", "verdict", "why")]
        cells[3] = f"**{cells[3]}**"
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Figures", ""]
    for name, caption in figures.items():
        lines += [f"![{caption}]({name})", "", f"*{caption}*", ""]
    rows = [r for r in m["timing_rows"]]
    lines += ["## Timing model (16 bit, 50 Gb/s, τ = 1 µs, t = 50τ)", "",
              "| N | b·d_z | DAC | programming | analog | ADC | transfer | programming share |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['n_params']:.0e} | {r['b_dz']} | {r['dac_s'] * 1e6:.3g} µs | {r['program_s'] * 1e3:.4g} ms | "
                     f"{r['analog_s'] * 1e6:.3g} µs | {r['adc_s'] * 1e6:.3g} µs | {r['transfer_s'] * 1e3:.4g} ms | "
                     f"{r['program_fraction_of_transfer']:.2%} |")
    lines += ["", "## Measured digital costs (seconds per iteration, d_z = 20, b = 64)", "",
              "| N | Adam | TNGD digital (∇ℓ, J_f, H_L) | J_f by vmap(jacrev) | factor U | NGD dense solve | "
              "NGD-CG (200 it.) | Woodbury |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]

    def f(v):
        return "—" if v is None else f"{v:.3g}"

    for p in m["scaling"]["points"]:
        lines.append(f"| {p['n_params']} | {f(p['adam_s'])} | {f(p['jac_s'])} | {f(p['jac_autodiff_s'])} | "
                     f"{f(p.get('factor_s'))} | {f(p['dense_s'])} | {f(p['cg_s'])} | {f(p['woodbury_s'])} |")
    from .costs import describe_fit

    lines += ["", "Solve columns include forming U but not the shared digital part (add the TNGD-digital column "
              "for a full NGD iteration). Fitted operation-count models used for extrapolation (free log–log slope in "
              "brackets): " + "; ".join(f"{k} = {describe_fit(v)} (N^{v['p_free']:.2f})"
                                         for k, v in m["scaling"]["fits"].items()) + ".", ""]
    lines += ["## Is the analog time enough?", ""]
    st = m["study"]
    for it, row in zip(st["snap_iters"], st["systems"]):
        sp, su, b = row["spectrum"], row["summary"], row["board"]
        lines.append(
            f"- GGN at NGD iteration {it}: N = {sp['n']}, eigenvalues of GGN + λI in [{sp['eig_min']:.3g}, "
            f"{sp['eig_max']:.3g}] (condition {sp['condition']:.3g}); {sp['n_below_10lam']} of {sp['n']} below 10λ, "
            f"carrying {sp['ng_weight_below_10lam']:.0%} of ‖natural gradient‖². Ideal: error {su['ideal']['at_5tau']:.3f} "
            f"at 5τ, {su['ideal']['at_50tau']:.3f} at 50τ, 10 % at {_tau(su['ideal']['t_to_10pct_tau'], st)}, 1 % at "
            f"{_tau(su['ideal']['t_to_1pct_tau'], st)}; twin (`simulate`, ideal spec) against the closed form: max |Δ| = "
            f"{row.get('ideal_sim_max_abs_diff', float('nan')):.2g}. Realistic board: τ_board = "
            f"{su['tau_board_over_tau0']:.3f}·R0C (mapping scale s = {b['scale']:.3g}), slowest rate gives "
            f"τ_eff = {su['tau_eff_slowest_over_tau0']:.3f}·R0C (trace fit {su['tau_eff_trace_fit_over_tau0']:.3f}); "
            f"{b['dropped']} entries dropped (> r_max), floor {b['floor']:.2g}; error {su['real']['at_5tau']:.3f} at "
            f"5·R0C, {su['real']['at_50tau']:.4f} at 50·R0C; with κ0 = {st['kappa0']:g}"
            + (" (noisy run without the GBW pole: exact white-noise OU on the 3N-state augmented system needs a "
               "3N×3N Lyapunov solve)" if st.get("spec_noisy", {}).get("opamp", {}).get("gbw_hz") is None else "")
            + f": {su['real_kappa']['at_50tau']:.3f} at 50·R0C (ideal closed form {su['ideal_kappa']['at_50tau']:.3f})."
            + (f" Augmented (GBW) system stable: {b.get('stable')}, max |Im/Re| of its modes {b.get('max_imag_over_real', 0):.2g}."
               if "stable" in b else ""))
    lines += ["", "## Training (final full-train loss, mean and range over seeds)", "",
              "| run | final train loss | test accuracy | median digital s/it | modelled s/it |",
              "| --- | --- | --- | --- | --- |"]
    labels = list(dict.fromkeys(r["label"] for r in m["runs"]))
    for lab in labels:
        rs = [r for r in m["runs"] if r["label"] == lab]
        fl = np.array([r["final_train_loss"] for r in rs])
        acc = np.array([r["final_test_acc"] for r in rs])
        lines.append(f"| {lab} | {fl.mean():.3f} ({fl.min():.3f}–{fl.max():.3f}) | {acc.mean():.3f} | "
                     f"{np.median([r['median_digital_s'] for r in rs]):.3g} | "
                     f"{np.median([r['median_modelled_s'] for r in rs]):.3g} |")
    lines += paper_scale_markdown(m.get("paper_scale"))
    lines += ["", "## Definitions and caveats", "",
              "- Device start: V0 = ∇ℓ (reset) unless marked *warm* (V0 = the device's state when reprogrammed).",
              "- Delay t_d: the device keeps running on the previous (GGN, ∇ℓ) for t_d while the digital side computes "
              "the new ones, then is reprogrammed without reset and read after t. It overlaps the digital work and "
              "adds no wall time.",
              "- κ0 is in the units of ∇ℓ (TNGD Eq. 15: dV = −(AV − b)dt' + N(0, 2κ0 dt')); the read-out is one sample "
              "at t, no time averaging.",
              "- Wall time per iteration (Fig. 3 style) = digital part measured here + modelled transfer "
              "(DAC + programming + ADC) + t·τ with τ = R0·C = 1 µs. The device simulation is not counted.",
              "- All timings are single-threaded on a shared 2-core CPU, float64; the paper used an A100. "
              "Extrapolations beyond the measured sizes use fitted power laws and are marked as such.",
              "- TNGD in the loop of the small model uses the ideal board by Lanczos (`KrylovTwin`, exact OU, equal to "
              "the closed form in the eigenbasis of GGN + λI); the realistic circuit (`CircuitTwin`, "
              "`thermotwin.simulate`) is used on GGN snapshots. At paper scale the device is the factored three-array "
              "twin (`FactoredTwin`, issue 8) with the same `run(system, x0, t_tau, rng)` signature "
              "(thermotwin/tngd/device.py).",
              ""]
    return "\n".join(lines)


def _paper_sentence(m: dict) -> str:
    from .paper_scale import sizes_sentence

    return sizes_sentence(m.get("paper_scale"))


def paper_scale_markdown(ps: dict | None) -> list[str]:
    """The report's paper-scale section."""
    from .paper_scale import sizes_sentence

    lines = ["", "## Paper scale: the factored twin as the device (issue 8)", "", sizes_sentence(ps) + ".", ""]
    if not ps or not ps.get("curves"):
        return lines
    spec = ps["spec_real"]
    lines += [f"Realistic board: {spec.get('resistor_bits')}-bit resistors over {spec.get('r_min_ohm'):.0e}–"
              f"{spec.get('r_max_ohm'):.0e} Ω, op-amp gain A0 = {spec['opamp'].get('gain'):.0e} (no GBW pole: "
              "not modelled "
              "at this scale). Errors are ‖g̃(t) − g_NGD‖/‖g_NGD‖ from V0 = ∇ℓ, t in τ0 = R0·C, g_NGD by Woodbury.", "",
              "| N | layers | iteration | 5τ | 50τ | 10 % at | 1 % at | realistic 5τ / 50τ | realistic floor | "
              f"κ0 = {ps['kappa0']:g} rms at 50τ (twin / closed form) | twin vs closed form max abs diff | "
              "noisy max abs z | "
              "realistic vs Arnoldi | wall s |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]

    def tt(v, c):
        return f"{v:.0f}τ" if v is not None and math.isfinite(v) else f"> {c['t_tau'][-1]:.0f}τ"

    for c in ps["curves"]:
        su = c["summary"]
        lines.append(
            f"| {c['n']} | {tuple(c['sizes'])} | {c['snapshot_iter']} | {su['closed_form']['at_5tau']:.3f} | "
            f"{su['closed_form']['at_50tau']:.3f} | {tt(su['closed_form']['t_to_10pct_tau'], c)} | "
            f"{tt(su['closed_form']['t_to_1pct_tau'], c)} | {su['real_twin']['at_5tau']:.3f} / "
            f"{su['real_twin']['at_50tau']:.3f} | {c['real_floor']:.3g} | {su['ideal_twin_kappa']['at_50tau']:.3f} / "
            f"{su['closed_form_kappa']['at_50tau']:.3f} | {c['ideal_max_abs_diff']:.2g} | {c['kappa_max_abs_z']:.2g} | "
            f"{c['real_vs_arnoldi_max_rel']:.2g} | {c['wall_s']['total_s']:.0f} |")
    lines += ["", "Wall time per curve (seconds): " + "; ".join(
        f"N = {c['n']} it. {c['snapshot_iter']}: " + ", ".join(f"{k[:-2]} {v:.1f}" for k, v in c['wall_s'].items())
        for c in ps["curves"]) + f". Realistic board path: {ps['curves'][0]['real_board']['path']}.", ""]
    lags = [(c["n"], r) for c in ps["curves"] if c["snapshot_iter"] == 0 for r in c.get("stage_lags", [])]
    if lags:
        lines += ["Op-amp stage lags of the same three-array board (closed form, circuit/factored.py "
                  "`stage_time_constants`; not in the twin, which has no GBW pole): a J_f summing stage has noise "
                  "gain 1 + Σ_j|J_kj| over N inputs, so its lag is that over 2π·GBW; the loop is the worst path "
                  "through the arrays and inverters (approximate, errs towards instability). The integrators slow down too: "
                  "without a virtual ground node i's τ stretches by 1 + G_s,i/(C·2π·GBW), G_s,i all the conductance at "
                  "its summing node (benchmarks/results/gbw_small_model.md checks this on the whole board at N = 985). "
                  "The factored twin carries that slow-down with `--gbw-model integrator`; "
                  "`python benchmarks/gbw_paper_scale.py` gives the analog-time curves with 10 MHz and 100 MHz op-amps "
                  "at these sizes.", "",
                  "| N | GBW | J-stage noise gain | J-stage lag | loop lag | worst-mode rate | loop | balanced "
                  "split (`--y-gain balance`): γ, noise gains, loop lag, loop | integrators' τ stretch median / max "
                  "(λ modes slow by up to the max) |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]

        def loop(ok):
            return "" if ok is None else ("decays" if ok else "rings up")

        for n, r in lags:
            rate = "" if r["worst_mode_rate_per_tau"] is None else f"{r['worst_mode_rate_per_tau']:.3g}/τ"
            bal = (f"γ = {r['y_gain_balanced']:.3g}, {r['noise_gain_J_balanced']:.3g}, {r['loop_lag_balanced_tau']:.3g}τ, "
                   f"{loop(r['loop_stable_balanced'])}")
            lines.append(f"| {n} | {r['gbw_hz']:.0e} Hz | {r['noise_gain_J_max']:.4g} | {r['J_stage_lag_tau']:.3g}τ | "
                         f"{r['loop_lag_tau']:.3g}τ | {rate} | {loop(r['loop_stable'])} | {bal} | "
                         f"{r['integrator_stretch_median']:.3g} / {r['integrator_stretch_max']:.3g} |")
        lines.append("")
    tr = ps.get("training")
    if tr:
        lines += [f"TNGD training at N = {tr['n_params']} {tuple(tr['sizes'])}: {tr['n_iter']} iterations, "
                  f"{tr['seeds']} "
                  f"seed(s), {tr['wall_s']:.0f} s in all (final full-train loss: mean (min–max over seeds)).", "",
                  "| run | final train loss | test accuracy | wall s per run | median digital s/it | modelled s/it |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for lab in dict.fromkeys(r["label"] for r in tr["runs"]):
            rs = [r for r in tr["runs"] if r["label"] == lab]
            fl = np.array([r["final_train_loss"] for r in rs])
            acc = np.array([r["final_test_acc"] for r in rs])
            lines.append(f"| {lab} | {fl.mean():.3f} ({fl.min():.3f}–{fl.max():.3f}) | {acc.mean():.3f} | "
                         f"{np.mean([r['wall_s'] for r in rs]):.0f} | "
                         f"{np.median([r['median_digital_s'] for r in rs]):.3g} | "
                         f"{np.median([r['median_modelled_s'] for r in rs]):.3g} |")
        lines.append("")
    return lines
