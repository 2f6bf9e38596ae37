"""Routes to same-noise SPICE runs at linear cost (issue 15, part A): measurements, not the product.

The default SPICE noise mode (``pwl``) writes each node's zero-order-hold noise as one PWL source;
ngspice 39 searches a PWL source from its start at every evaluation, so a run costs O(n²) in the
number of noise steps. This script rewrites the netlist that ``render_netlist`` makes for ``pwl``
into candidate forms and runs each with ``ngspice -b`` in one process, next to the same circuit with
TRRANDOM sources (ngspice's own zero-order-hold noise: the cost to beat, target ≤ 3×), and measures
the pathwise gap to the twin (max |Δ| / signal range; the twin integrates the same noise exactly).

Routes:
  pwl            today's netlist.
  trrandom       ngspice's generator (not the same path; timing reference only).
  fs-free        XSPICE ``filesource`` per node reading the same (t, v) corners as the PWL (ramp of
                 1e-4 h at each step, linear interpolation), no breakpoints.
  fs-clock       the same plus one PULSE source (through 1 kΩ to ground, no coupling) whose corners
                 fall on every k·h and k·h + rise: PULSE(0 1 0 rise rise rise h). Its breakpoints make
                 the solver land on the ramp ends, as the PWL's own corners do.
  fs-clock-1file one filesource instance for all nodes (one file of d + 1 columns).

Usage: python benchmarks/spice_noise_routes.py [--cases 6:100,6:1000,48:30] [--routes ...]
Writes benchmarks/results/spice_noise_routes.json (the .md beside it is written by hand from it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from thermotwin.bench import bench_matrix
from thermotwin.circuit.netlist import render_netlist
from thermotwin.circuit.spec import HardwareSpec
from thermotwin.io import atomic_write_text
from thermotwin.solver.config import SimConfig
from thermotwin.solver.ngspice import read_wrdata
from thermotwin.solver.registry import simulate

SPEC = HardwareSpec(kappa0_v2=1e-4)
ROUTES = ("pwl", "trrandom", "fs-free", "fs-clock", "fs-clock-1file")


def config(t_tau: float, noise: str) -> SimConfig:
    return SimConfig(t_end=f"{t_tau}tau", dt_out="0.5tau", noise_step="0.05tau", noise=noise, seed=0, timeout_s=7200)


def split_pwl(text: str):
    """Netlist lines without the PWL noise sources, and each source's (t, v) corner array."""
    out, data, cur = [], {}, None
    for ln in text.splitlines():
        m = re.match(r"^Vn(\d+) nn\d+ 0$", ln)
        if m:
            cur = int(m.group(1))
            data[cur] = []
            continue
        if ln.startswith("+") and cur is not None:
            s = ln[1:].strip()
            s = s[4:] if s.startswith("PWL(") else s
            data[cur] += [float(x) for x in s.rstrip(")").split()]
            continue
        cur = None
        out.append(ln)
    return out, [np.array(data[i]).reshape(-1, 2) for i in range(len(data))]


def filesource_netlist(text: str, h: float, workdir: Path, clock: bool, one_file: bool) -> str:
    lines, tv = split_pwl(text)
    d = len(tv)
    rise = 1e-4 * h
    add = []
    common = "timeoffset=0 timescale=1 timerelative=false amplstep=false"
    if one_file:
        np.savetxt(workdir / "noise.txt", np.column_stack([tv[0][:, 0]] + [a[:, 1] for a in tv]), fmt="%.17g")
        nodes = " ".join(f"nn{i} 0" for i in range(d))
        add += [f"a_noise %vd [{nodes}] noise_src",
                f".model noise_src filesource (file=\"noise.txt\" amploffset=[{' '.join(['0'] * d)}] "
                f"amplscale=[{' '.join(['1'] * d)}] {common})"]
    else:
        for i, a in enumerate(tv):
            np.savetxt(workdir / f"noise{i}.txt", a, fmt="%.17g")
            add += [f"a_n{i} %vd [nn{i} 0] noise_src{i}",
                    f".model noise_src{i} filesource (file=\"noise{i}.txt\" amploffset=[0] amplscale=[1] {common})"]
    if clock:
        add += [f"Vclk nclk 0 PULSE(0 1 0 {rise!r} {rise!r} {rise!r} {h!r})", "Rclk nclk 0 1000"]
    k = next(j for j, ln in enumerate(lines) if ln.startswith(".ic"))
    return "\n".join(lines[:k] + add + [""] + lines[k:]) + "\n"


def run(text: str, workdir: Path) -> tuple[float, np.ndarray]:
    (workdir / "circuit.cir").write_text(text)
    t0 = time.perf_counter()
    proc = subprocess.run(["ngspice", "-b", "circuit.cir"], cwd=workdir, capture_output=True, text=True, timeout=7200)
    wall = time.perf_counter() - t0
    log = proc.stdout + proc.stderr
    if proc.returncode or "cannot open" in log or "rror" in log:
        raise RuntimeError(log[-2000:])
    _, volts, _ = read_wrdata(workdir / "thermotwin_trace.data")
    return wall, volts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="6:100,48:30")
    ap.add_argument("--routes", default=",".join(ROUTES))
    args = ap.parse_args()
    routes = args.routes.split(",")
    res = {"machine_load_start": list(os.getloadavg()), "rows": []}
    for case in args.cases.split(","):
        d, t = case.split(":")
        d, t = int(d), float(t)
        p = bench_matrix(d)
        twin = simulate(p, SPEC, config(t, "pwl"))
        v_twin = twin.states * twin.b_scale
        span = float(np.ptp(v_twin))
        text = render_netlist(p, SPEC, config(t, "pwl"))
        h = twin.noise_step_s
        for route in routes:
            with tempfile.TemporaryDirectory() as tmp:
                wd = Path(tmp)
                if route == "pwl":
                    net = text
                elif route == "trrandom":
                    net = render_netlist(p, SPEC, config(t, "trrandom"))
                else:
                    net = filesource_netlist(text, h, wd, clock=route != "fs-free", one_file=route.endswith("1file"))
                try:
                    wall, volts = run(net, wd)
                    gap = float(np.max(np.abs(volts - v_twin)) / span) if route != "trrandom" else None
                    row = {"d": d, "t_tau": t, "route": route, "wall_s": wall, "gap_of_range": gap}
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    row = {"d": d, "t_tau": t, "route": route, "error": str(e)[-300:]}
                    shutil.rmtree(wd, ignore_errors=True)
            res["rows"].append(row)
            print(json.dumps(row), flush=True)
    res["machine_load_end"] = list(os.getloadavg())
    out = Path(__file__).parent / "results" / "spice_noise_routes.json"
    atomic_write_text(out, json.dumps(res, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
