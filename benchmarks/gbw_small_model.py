"""Is the analog time enough once the op-amps have a finite gain–bandwidth? (issue 7 item 3, three-array board)

The factored twin has no GBW pole, and ngspice reaches a few dozen nodes; the linear state-space model
of the whole board (circuit/factored_model.py: every integrator, inverter and summing stage with its
one-pole op-amp; checked against ngspice and a second writing of the KCL equations in
tests/test_factored_netlist.py) reaches N ≈ 10³. This script takes the real GGN of the digits MLP
(64, 13, 10), N = 985, one minibatch of b = 16 (r = b·d_z = 160), λ = 0.01, starts the device at
∇ℓ as TNGD does and measures ‖V(t) − g_NGD‖/‖g_NGD‖ against t (τ0 = R0·C = 1 µs) for:

* the static board (A0 = 1e5, no pole: the factored twin's model), exact by expm of its drift;
* GBW = 10 MHz and 100 MHz with unit stage gains, and 10 MHz with the balanced split (--y-gain balance).

Noise-free, ideal resistors; x(t) by one expm(A·τ0) and repeated products (exact). Also the spectrum:
the slowest decay rate and whether any mode grows, against the closed-form lag-loop check.

Usage:  python benchmarks/gbw_small_model.py   (needs the `timing` extra; ~3 min)
Writes benchmarks/results/gbw_small_model.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg

T_MAX_TAU = 400


def problem(seed: int = 0, batch: int = 16):
    import torch

    from thermotwin.solver.factored import FactoredProblem
    from thermotwin.tngd.model import MLP, curvature_batch, load_digits_data

    data = load_digits_data(seed)
    model = MLP.init((64, 13, 10), seed=seed)
    x, y = torch.as_tensor(data.x_train[:batch]), torch.as_tensor(data.y_train[:batch])
    cb = curvature_batch(model, model.theta, x, y)
    J, H = cb.circuit_arrays()
    return FactoredProblem(J, H, 0.01, cb.grad, name="digits-985")


def curve(step, x0, x_star, out, g_ngd, b_scale, n=T_MAX_TAU):
    """‖V(kτ0)/b_scale − g_NGD‖/‖g_NGD‖ for k = 0…n with x_{k+1} = x* + Φ(x_k − x*)."""
    e = x0 - x_star
    errs = []
    nrm = np.linalg.norm(g_ngd)
    for _ in range(n + 1):
        errs.append(np.linalg.norm(out(x_star + e) / b_scale - g_ngd) / nrm)
        e = step @ e
    return np.array(errs)


def t_to(errs, eps) -> str:
    hit = np.flatnonzero(errs <= eps)
    return f"{hit[0]}τ" if hit.size else f"> {len(errs) - 1}τ"


def main() -> int:
    from thermotwin.circuit.factored import realise_factored, resolve_y_gain, stage_time_constants
    from thermotwin.circuit.factored_model import initial_state, pole_model
    from thermotwin.circuit.factored_netlist import board_for_netlist
    from thermotwin.circuit.spec import HardwareSpec

    fp = problem()
    g_ngd = fp.x_exact
    base = HardwareSpec().replace(**{"opamp.gain": 1e5})
    tau0 = base.r0_ohm * base.c_farad
    rows = []
    # static board: the factored twin's drift (finite gain exact), in units of τ0
    st_board = realise_factored(fp, base)
    M = st_board.dense_drift() * (tau0 / st_board.tau_s)
    f = st_board.f * (tau0 / st_board.tau_s)
    x_star = np.linalg.solve(M, f)
    errs = curve(scipy.linalg.expm(-M), fp.g, x_star, lambda x: x, g_ngd, 1.0)
    ev = np.linalg.eigvals(-M) / tau0
    rows.append(("static (A0 = 1e5, no pole)", "—", "—", errs, float(ev.real.max()), float(ev.real.max()), None))
    print(f"static done: {errs[5]:.3f} at 5τ, {errs[50]:.3f} at 50τ", file=sys.stderr)
    bal = resolve_y_gain("balance", fp.J, fp.H)
    a_max = fp.lambda_max - fp.damping
    twin_rows = []
    for gbw, yg, label in ((1e7, 1.0, "1"), (1e7, bal, f"balance ({bal:.3g})"), (1e8, 1.0, "1")):
        t0 = time.perf_counter()
        spec = base.replace(**{"opamp.gbw_hz": gbw})
        board = board_for_netlist(fp, spec, y_gain=yg)
        model = pole_model(board, spec)
        xs = model.fixed_point()
        x0 = initial_state(model, board, spec, fp.g * board.b_scale)
        Phi = scipy.linalg.expm(model.A * tau0)
        errs = curve(Phi, x0, xs, model.outputs, g_ngd, board.b_scale)
        ev = np.linalg.eigvals(model.A)
        rate = float(ev.real.max())
        rate_real = float(ev[np.abs(ev.imag) <= 1e-9 * np.abs(ev).max()].real.max())
        st = stage_time_constants(fp.J, fp.H, spec, a_max=a_max, lam=fp.damping, tau=tau0, y_gain=yg)
        rows.append((f"GBW {gbw:.0e} Hz", label, f"{st['noise_gain_J_max']:.3g}", errs, rate, rate_real, st))
        if yg == 1.0:   # the factored twin's low-frequency GBW model on the same board
            from thermotwin.core.config import SimConfig
            from thermotwin.solver.factored import run_factored

            tw = run_factored(fp, spec, SimConfig(t_end=f"{T_MAX_TAU}tau", dt_out="1tau", noise="none", v0="rhs"),
                              gbw_model="integrator")
            tw_err = np.linalg.norm(tw.states - g_ngd, axis=1) / np.linalg.norm(g_ngd)
            twin_rows.append((gbw, tw_err, float(np.abs(tw_err - errs).max())))
        print(f"GBW {gbw:g} y_gain {label}: {errs[5]:.3f} at 5τ, {errs[50]:.3f} at 50τ, slowest rate {rate * tau0:.4g}/τ"
              f" ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    lines = ["# Analog time with finite-GBW op-amps on the three-array board (digits GGN, N = 985, r = 160)", "",
             "Generated by `python benchmarks/gbw_small_model.py`: the whole board as a linear state-space model "
             f"(3N + 4r = {3 * fp.N + 4 * fp.r} states, circuit/factored_model.py), exact in time; V0 = ∇ℓ, "
             "λ = 0.01, noise-free, ideal resistors, A0 = 1e5. Error ‖V(t) − g_NGD‖/‖g_NGD‖, t in τ0 = R0·C = 1 µs.",
             "", "| board | y_gain | J-stage noise gain | 5τ | 50τ | 10 % at | 1 % at | slowest mode (1/τ) | "
             "slowest non-oscillating mode | closed-form bounds −λ/(τ·stretch) | lag-loop check |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, yg, ng, errs, rate, rate_real, st in rows:
        chk = "—" if st is None else ("decays" if st["loop_stable"] else "rings up")
        bounds = "—" if st is None else " … ".join(f"{-b * tau0:.4g}" for b in st["slowest_rate_bounds_per_s"])
        lines.append(f"| {name} | {yg} | {ng} | {errs[5]:.4f} | {errs[50]:.4f} | {t_to(errs, 0.1)} | "
                     f"{t_to(errs, 0.01)} | {rate * tau0:.4g} | {rate_real * tau0:.4g} | {bounds} | {chk} |")
    lines += ["", "The factored twin with `gbw_model='integrator'` (integrators' C_i + G_s,i/ω_t, stage lags left "
              "out) on the same board, against the whole-board curve above:", "",
              "| GBW | 5τ | 50τ | 10 % at | max abs difference of the error curve over 0–400τ |", "|---|---|---|---|---|"]
    for gbw, tw_err, diff in twin_rows:
        lines.append(f"| {gbw:.0e} Hz | {tw_err[5]:.4f} | {tw_err[50]:.4f} | {t_to(tw_err, 0.1)} | {diff:.2g} |")
    lines += ["", f"a_max (largest eigenvalue of JᵀHJ) = {a_max:.3g}. The integrators' stretch "
              "1 + G_s,i/(C·2π·GBW) (circuit/factored.py `stage_time_constants`) bounds the λ modes; the lag-loop "
              "check is `lag_loop_rate` on the worst path."]
    out = Path(__file__).resolve().parent / "results" / "gbw_small_model.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
