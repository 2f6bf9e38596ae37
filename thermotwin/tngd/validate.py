"""``thermotwin validate-timing``: the TNGD paper's timing and training claims against the twin.

Steps (each writes its raw numbers into DIR/summary.json):

1. timing model (:mod:`thermotwin.timing`; our arithmetic from App. C's assumptions) at N = 10⁴–10⁵;
2. digital costs measured here (:mod:`.costs`): Adam, TNGD's digital part, NGD, NGD-CG (c = 200,
   Jacobian-vector products), NGD-Woodbury against N (d_z = 20, b = 32, N over two decades or more)
   and against d_z, with fitted operation-count models (fixed overhead + growth) to N = 10⁴–10⁵;
3. is the analog time enough (:mod:`.analysis`) on GGN matrices of the digits CNN during NGD
   training, and where the natural gradient's mass sits in the spectrum of GGN + λI;
4. training (:mod:`.train`) of a small CNN on the 8×8 digits (b = 64, λ = η = 0.01): Adam (lr sweep),
   NGD, TNGD for t ∈ {5, 10, 20, 50}τ (warm start, Algorithm 1, and reset to ∇ℓ beside it),
   t_d ∈ {0.2, 1}τ at 5τ (warm), κ0 ∈ {0, 0.001, 0.005, 0.1} at τ with read-outs averaged (warm and
   reset), several seeds;
4c. the Fig. 5 stand-in (:mod:`.finetune`): LoRA fine-tuning with Adam, TNGD and TNGD-Adam;
4b. paper scale (:mod:`.paper_scale`): the digits MLP widened to N ≈ 10⁴ (and 10⁵ in full
   mode, ``--paper-sizes``) with the factored twin as the device: the analog-time curves (ideal,
   κ0, realistic board) and a TNGD training run against NGD (Woodbury) and Adam;
5. verdicts (:mod:`.claims`), plots (:mod:`.plots`), DIR/claims.json and DIR/report.md.

All measurements run single-threaded (one BLAS and one torch thread): multi-threaded timings of
these small kernels vary widely between runs on a shared machine (benchmarks/results/NOTES.md).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Realistic board for the analog-time study: 16-bit programmable resistors over 1 kΩ–100 MΩ
#: (entries needing more than 100 MΩ are dropped), op-amps with A0 = 1e5 and GBW = 100 MHz.
REALISTIC_SPEC = {"resistor_bits": 16, "r_min_ohm": 1e3, "r_max_ohm": 1e8,
                  "opamp": {"gain": 1e5, "gbw_hz": 1e8}}


@dataclass(frozen=True)
class Settings:
    channels: int
    n_iter: int
    seeds: int
    eval_every: int
    cost_sizes: tuple
    dense_max: int
    dz_n: int
    dz_list: tuple
    snap_iters: tuple
    t_max_tau: float
    n_traj: int
    kappa_study: float
    gbw_in_noisy: bool
    repeats: int
    readout_samples: int = 4
    # Fig. 5 stand-in (finetune.py): pre-training iterations, fine-tuning iterations, seeds, lr sweep
    ft_pre_iters: int = 150
    ft_iters: int = 100
    ft_seeds: int = 2
    ft_lrs: tuple = (3e-3, 1e-2, 1e-1)
    # paper scale: curve sizes (N targets), training at the smallest of them
    paper_sizes: tuple = ()
    paper_iters: int = 0
    paper_seeds: int = 1
    paper_train_t: tuple = (5.0, 50.0)
    paper_eval_every: int = 10
    paper_snap_end: bool = False
    paper_t_max_tau: float = 400.0
    paper_n_traj: int = 4


QUICK = Settings(channels=4, n_iter=100, seeds=2, eval_every=10, cost_sizes=(300, 700, 1500, 3000, 10_000, 30_000),
                 dense_max=3000, dz_n=1000, dz_list=(5, 10, 20, 40), snap_iters=(0, 99), t_max_tau=300.0, n_traj=4,
                 kappa_study=0.001, gbw_in_noisy=False, repeats=2, readout_samples=3,
                 ft_pre_iters=150, ft_iters=80, ft_seeds=2, ft_lrs=(3e-3, 1e-2, 1e-1),
                 paper_sizes=(10_000,), paper_iters=15, paper_seeds=1, paper_train_t=(50.0,), paper_eval_every=5)
FULL = Settings(channels=6, n_iter=300, seeds=4, eval_every=10,
                cost_sizes=(300, 1000, 2000, 4000, 10_000, 30_000, 100_000), dense_max=4100, dz_n=4000,
                dz_list=(5, 10, 20, 40), snap_iters=(0, 149, 299), t_max_tau=400.0, n_traj=8, kappa_study=0.001,
                gbw_in_noisy=False, repeats=3, readout_samples=4, ft_pre_iters=300, ft_iters=150, ft_seeds=4,
                ft_lrs=(3e-3, 1e-2, 3e-2, 1e-1),
                paper_sizes=(10_000, 100_000), paper_iters=100, paper_seeds=3, paper_train_t=(5.0, 50.0),
                paper_eval_every=10, paper_snap_end=True)

LAM = 0.01
ETA = 0.01
BATCH = 64          # Fig. 4a / Fig. 7 (MNIST CNN): b = 64
ADAM_LRS = (1e-3, 3e-3, 1e-2, 3e-2)
T_LIST = (5, 10, 20, 50)
DELAYS = (0.2, 1)
KAPPAS = (0, 0.001, 0.005, 0.1)     # the paper's "κ0 < 0.01" is tested at 0.001 and 0.005


def training_configs(settings: Settings, seed: int) -> list:
    """The runs of step 4 for one seed (same init and batch order for all of them). Labels:
    ``Adam <lr>``, ``NGD (exact)``, ``TNGD <t>τ warm|reset``, ``TNGD 5τ warm t_d=<t_d>τ``,
    ``TNGD 1τ warm|reset κ0=<κ0>`` (read-outs averaged)."""
    from .train import RunConfig

    base = RunConfig(n_iter=settings.n_iter, batch=BATCH, lr=ETA, lam=LAM, seed=seed, eval_every=settings.eval_every)
    runs = [base.with_(method="adam", adam_lr=lr, label=f"Adam {lr:g}") for lr in ADAM_LRS]
    runs.append(base.with_(method="ngd", label="NGD (exact)"))
    for start, word in (("warm", "warm"), ("grad", "reset")):
        runs += [base.with_(t_tau=float(t), start=start, label=f"TNGD {t}τ {word}") for t in T_LIST]
    runs += [base.with_(t_tau=5.0, start="warm", delay_tau=float(td), label=f"TNGD 5τ warm t_d={td}τ")
             for td in DELAYS]
    for start, word in (("warm", "warm"), ("grad", "reset")):
        runs += [base.with_(t_tau=1.0, start=start, kappa0=float(k), readout_samples=settings.readout_samples,
                            label=f"TNGD 1τ {word} κ0={k}") for k in KAPPAS]
    return runs


class _Progress:
    def __init__(self, on: bool):
        self.on = on
        self.t0 = time.perf_counter()

    def __call__(self, msg: str) -> None:
        if self.on:
            print(f"[{time.perf_counter() - self.t0:6.0f} s] {msg}", file=sys.stderr, flush=True)


def run_validate_timing(out_dir, quick: bool = False, seeds: int | None = None, progress: bool = True,
                        paper_sizes: tuple | None = None) -> dict:
    """Run every step and write DIR/claims.json, DIR/report.md, DIR/summary.json and PNG plots.

    ``paper_sizes``: parameter counts N of the paper-scale step (curves at each, training at the
    smallest); None = the mode's default (quick: 1e4; full: 1e4 and 1e5), () = skip it."""
    from .model import load_digits_data, require_torch

    torch = require_torch()
    load_digits_data(0)                        # fails early, in one line, without scikit-learn
    from threadpoolctl import threadpool_limits     # a scikit-learn dependency

    settings = QUICK if quick else FULL
    if paper_sizes is not None:
        import dataclasses

        settings = dataclasses.replace(settings, paper_sizes=tuple(int(n) for n in paper_sizes))
    n_seeds = seeds or settings.seeds
    if n_seeds < 1:
        raise ValueError("--seeds must be ≥ 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = _Progress(progress)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            summary = _run(settings, n_seeds, out, say, quick)
    finally:
        torch.set_num_threads(old_threads)
    return summary


def _run(settings: Settings, n_seeds: int, out: Path, say, quick: bool) -> dict:
    from ..io import atomic_write_json, atomic_write_text
    from ..timing import TimingModel
    from . import claims as claims_mod
    from . import plots
    from .costs import measure_point, measure_scaling
    from .finetune import run_finetune
    from .model import CNNArch, load_digits_data
    from .train import train

    t_start = time.perf_counter()
    tm = TimingModel()
    sizes = CNNArch(channels=settings.channels)
    data = load_digits_data(0)

    # 1. timing model (derived from App. C's assumptions) at N = 1e4–1e5
    timing_rows = [tm.breakdown(n, b, dz, 50.0) for b, dz in ((64, 10), (32, 20)) for n in (10_000, 30_000, 100_000)]
    say("timing model done")

    # 2. digital costs measured here (Fig. 2: b = 32, d_z = 20)
    scaling = measure_scaling(settings.cost_sizes, d_z=20, batch=32, dense_max=settings.dense_max,
                              repeats=settings.repeats,
                              progress=lambda p: say(f"costs N={p['n_params']} d_z=20: jac {p['jac_s']:.3g} s"))
    dz_points = [measure_point(settings.dz_n, d_z=dz, batch=32, dense_max=settings.dense_max,
                               repeats=settings.repeats) for dz in settings.dz_list]
    say("d_z sweep done")

    # 3. analog time and the mass table on GGN snapshots along an NGD run (seed 0)
    study = _analog_study(settings, data, sizes, say)

    # 4. training sweeps
    runs = []
    for seed in range(n_seeds):
        runs += [train(cfg, data, sizes) for cfg in training_configs(settings, seed)]
        say(f"training seed {seed + 1}/{n_seeds} done ({len(runs)} runs)")

    # 4b. paper scale: the factored twin as the device at N ≈ 1e4 (1e5)
    paper = _paper_scale(settings, data, say)

    # 4c. the Fig. 5 stand-in: LoRA fine-tuning of the CNN pre-trained on other digits
    finetune = run_finetune(data, settings.ft_pre_iters, settings.ft_iters, min(settings.ft_seeds, n_seeds),
                            progress=say, lrs=settings.ft_lrs)

    # 5. claims, plots, report
    measured = {"paper_scale": paper, "finetune": finetune, "timing": tm,
                "timing_rows": timing_rows, "scaling": scaling, "dz_points": dz_points,
                "study": study, "runs": runs, "settings": settings.__dict__, "n_seeds": n_seeds, "quick": quick,
                "sizes": sizes, "n_params": runs[0]["n_params"], "realistic_spec": REALISTIC_SPEC}
    claims = claims_mod.evaluate(measured)
    figures = plots.draw_all(measured, out)
    say("plots written")
    wall = time.perf_counter() - t_start
    measured["wall_s"] = wall
    atomic_write_json(out / "claims.json", claims)
    atomic_write_text(out / "report.md", claims_mod.report_markdown(measured, claims, figures))
    measured.pop("timing")
    measured["sizes"] = {"arch": "cnn", "channels": settings.channels}
    atomic_write_json(out / "summary.json", _jsonable(measured))
    return {"claims": claims, "figures": figures, "wall_s": wall, "out": str(out)}


def _analog_study(settings: Settings, data, sizes, say) -> dict:
    """Step 3: GGN snapshots of an NGD run, the analog-time study and the mass table on each."""
    from ..circuit.spec import HardwareSpec
    from .analysis import analog_time_study, mass_table
    from .train import RunConfig, train

    snaps = {}
    want = set(settings.snap_iters)
    train(RunConfig(method="ngd", n_iter=max(want) + 1, batch=BATCH, lr=ETA, lam=LAM, seed=0,
                    eval_every=settings.eval_every), data, sizes,
          on_system=lambda k, s: snaps.__setitem__(k, s) if k in want else None)
    systems = [snaps[k] for k in sorted(snaps)]
    spec_real = HardwareSpec.from_dict(REALISTIC_SPEC)
    spec_noisy = spec_real if settings.gbw_in_noisy else spec_real.replace(**{"opamp.gbw_hz": None})
    study = analog_time_study(systems, spec_real, kappa0=settings.kappa_study, t_max_tau=settings.t_max_tau,
                              n_traj=settings.n_traj, spec_noisy=spec_noisy,
                              progress=lambda i, r: say(f"analog-time study: snapshot {i + 1}/{len(systems)}"))
    study["snap_iters"] = sorted(snaps)
    study["spec_noisy"] = spec_noisy.to_dict()
    study["mass"] = [mass_table(s) for s in systems]
    return study


def _paper_scale(settings: Settings, data, say) -> dict | None:
    """Step 4b: the factored twin as the device at N ≈ 1e4 (1e5); None when skipped."""
    if not settings.paper_sizes:
        return None
    from .paper_scale import run_paper_scale

    paper = run_paper_scale(data, settings.paper_sizes, train_iters=settings.paper_iters,
                            train_seeds=settings.paper_seeds, train_t=settings.paper_train_t,
                            eval_every=settings.paper_eval_every, snap_end=settings.paper_snap_end,
                            kappa0=settings.kappa_study, t_max_tau=settings.paper_t_max_tau,
                            n_traj=settings.paper_n_traj, progress=say)
    say(f"paper scale done in {paper['wall_s']:.0f} s (N = {', '.join(str(n) for n in paper['sizes_run'])})")
    return paper


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if np.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _restore(obj, key: str = ""):
    """Inverse of :func:`_jsonable` where it lost information: times-to-error that were never
    reached (inf) and undetermined fit values (nan) were written as null."""
    if isinstance(obj, dict):
        return {k: _restore(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_restore(v, key) for v in obj]
    if obj is None and key.startswith("t_to_"):
        return float("inf")
    if obj is None and key in _NAN_KEYS:
        return float("nan")
    return obj


#: Numeric fields that may be nan (or an undetermined inf standard error) and so were written as null.
_NAN_KEYS = {"p_free", "a_free", "a", "c", "p", "se_p", "tau_eff_trace_fit_over_tau0", "rate_trace_fit_per_s",
             "ideal_sim_max_abs_diff"}


def rebuild(out_dir) -> dict:
    """Recompute claims.json, report.md and the plots of a finished run from its summary.json (the
    measurements are not repeated): for a run made before a change to the verdict rules or the
    report. Returns the same summary as :func:`run_validate_timing`."""
    import json

    from ..io import atomic_write_json, atomic_write_text
    from ..timing import TimingModel
    from . import claims as claims_mod
    from . import plots

    out = Path(out_dir)
    m = _restore(json.loads((out / "summary.json").read_text()))
    m["timing"] = TimingModel()
    claims = claims_mod.evaluate(m)
    figures = plots.draw_all(m, out)
    atomic_write_json(out / "claims.json", claims)
    atomic_write_text(out / "report.md", claims_mod.report_markdown(m, claims, figures))
    return {"claims": claims, "figures": figures, "wall_s": m["wall_s"], "out": str(out)}
