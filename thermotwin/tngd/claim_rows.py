"""The claims table's row helpers, shared by :mod:`.claims_timing` and :mod:`.claims_training`
(kept apart from :mod:`.claims`, which imports both, so the modules form no cycle)."""

from __future__ import annotations

import math

import numpy as np


def row(cid: str, location: str, claim: str, paper: str, verdict, measured: str, decided_by: str,
        derived: str = "", why: str = "", reset=None, reset_measured: str = "") -> dict:
    """One claims-table row (module docstring); ``verdict`` and ``reset`` are :class:`.rules.Verdict`."""
    return {"id": cid, "location": location, "claim": claim, "paper": paper, "derived": derived,
            "measured": measured, "decided_by": decided_by, "verdict": verdict.verdict,
            "why": verdict.reason + (f". {why}" if why else ""),
            "reset": "" if reset is None else f"{reset.verdict}: {reset.reason}"
            + (f" ({reset_measured})" if reset_measured else "")}


def finals(runs: list, label: str, key: str = "final_train_loss") -> np.ndarray:
    """Per-seed values of ``key`` for ``label``, sorted by seed (a diverged run's loss is inf)."""
    rows = sorted((r["config"]["seed"], math.inf if (r["diverged"] and key == "final_train_loss") else r[key])
                  for r in runs if r["label"] == label)
    return np.array([v for _, v in rows], float)


def fmt(v: np.ndarray, digits: int = 3) -> str:
    if v.size == 0:
        return "—"
    if v.size == 1:
        return f"{v[0]:.{digits}f}"
    return f"{v.mean():.{digits}f} (seeds {v.min():.{digits}f}–{v.max():.{digits}f})"
