"""``thermotwin validate``: twin against ngspice, knob by knob, with the same seeds.

For each non-ideality alone and all together, and each d, simulate the same board with the twin
and with ngspice (same PWL noise path) and record the pathwise maximum deviation (as a fraction
of the signal range) and the relative difference of the time-averaged solutions. Targets:
≤ 1 % and ≤ 0.5 %.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from .bench import bench_matrix
from .circuit.design import Mapping
from .circuit.spec import HardwareSpec
from .core.config import SimConfig
from .solver.registry import simulate

PATH_TARGET = 0.01
MEAN_TARGET = 0.005


def knob_specs(peak_v: float) -> dict[str, dict]:
    """Spec overrides per row; rails sit at 0.8 of the largest |x*| so they really clip."""
    rails = round(0.8 * peak_v, 3)
    knobs = {
        "ideal": {},
        "r_tolerance=1%": {"r_tolerance": 0.01, "board_seed": 1},
        "c_tolerance=1%": {"c_tolerance": 0.01, "board_seed": 2},
        "resistor_bits=10": {"resistor_bits": 10, "r_min_ohm": 100.0, "r_max_ohm": 1e5},
        "dac_bits=12": {"dac_bits": 12},
        "adc_bits=12": {"adc_bits": 12},
        "opamp.gain=1e4": {"opamp": {"gain": 1e4}},
        "opamp.gbw_hz=2e7": {"opamp": {"gbw_hz": 2e7}},
        "opamp.offset_v=1mV": {"opamp": {"offset_v": 1e-3}},
        f"opamp.v_sat_v={rails}": {"opamp": {"v_sat_v": rails}},
        "opamp.slew=2e5 (gbw 1e7)": {"opamp": {"gbw_hz": 1e7, "slew_v_per_s": 2e5}},
    }
    knobs["all together"] = {
        "r_tolerance": 0.01, "c_tolerance": 0.01, "resistor_bits": 10, "r_min_ohm": 100.0, "r_max_ohm": 1e5,
        "dac_bits": 12, "adc_bits": 12, "board_seed": 3,
        "opamp": {"gain": 1e4, "gbw_hz": 2e7, "offset_v": 1e-3, "v_sat_v": rails, "slew_v_per_s": 1e6},
    }
    return knobs


def run_validate(dims=(4, 16, 32), t_end="20tau", seed=0, kappa0=1e-5, progress=True) -> list[dict]:
    rows = []
    if progress:
        print(f"{'d':>3} {'knob':<28} {'path dev':>9} {'mean diff':>10} {'twin s':>8} {'ngspice s':>10}  ok",
              flush=True)
    for d in dims:
        prob = bench_matrix(d, seed)
        peak = float(np.abs(prob.x_exact).max())
        for name, over in knob_specs(peak).items():
            spec = HardwareSpec.from_dict({"kappa0_v2": kappa0, **over})
            cfg = SimConfig(t_end=t_end, seed=seed)
            mapping = Mapping(b_scale=1.0)
            tw = simulate(prob, spec, cfg, backend="twin", mapping=mapping)
            t0 = time.perf_counter()
            sp = simulate(prob, spec, cfg, backend="ngspice", mapping=mapping)
            t_sp = time.perf_counter() - t0
            span = float(np.ptp(sp.states))
            path = float(np.abs(tw.states - sp.states).max() / span)
            mean = float(np.linalg.norm(tw.x_mean - sp.x_mean) / np.linalg.norm(sp.x_mean))
            ok = path <= PATH_TARGET and mean <= MEAN_TARGET
            row = {"d": d, "knob": name, "path_dev": path, "mean_diff": mean, "twin_s": tw.wall_s,
                   "ngspice_s": t_sp, "twin_path": tw.stats.get("path"), "ok": ok}
            rows.append(row)
            if progress:
                print(f"{d:>3} {name:<28} {path:>9.2e} {mean:>10.2e} {tw.wall_s:>8.3f} {t_sp:>10.2f}  "
                      f"{'yes' if ok else 'NO'}", flush=True)
    return rows


def table_markdown(rows: list[dict]) -> str:
    lines = ["| d | knob | pathwise max dev / range | time-average diff | twin path | ok |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['d']} | {r['knob']} | {r['path_dev']:.2e} | {r['mean_diff']:.2e} | {r['twin_path']} | "
                     f"{'yes' if r['ok'] else 'NO'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    run_validate()
    sys.exit(0)
