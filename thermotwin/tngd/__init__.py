"""TNGD in the loop: a real model, its GGN, swappable solver devices and training loops.

Thermodynamic natural gradient descent (Donatella et al., arXiv 2405.13817)
solves (GGN + λI) g̃ = ∇ℓ on an analog device each iteration and steps θ ← θ − η g̃. This
subpackage holds what the timing validation (:mod:`thermotwin.timing`) needs around the twin:

* :mod:`.model`   — an MLP and a small CNN on scikit-learn's digits, per-sample output Jacobians and the factored
  GGN (torch.func); torch and scikit-learn are imported inside functions only.
* :mod:`.device`  — the linear-solve "devices" the loop can use: the exact solve (NGD), the ideal
  OU twin in closed form, and the circuit twin through :func:`thermotwin.simulate`.
* :mod:`.train`   — Adam, NGD and TNGD loops with measured digital time and modelled analog time.
* :mod:`.costs`   — NGD / NGD-CG / NGD-Woodbury per-iteration costs measured on this machine.
* :mod:`.paper_scale` — the analog-time curves and TNGD training at N ≈ 10⁴–10⁵ with the factored
  twin (:class:`.device.FactoredTwin`) as the device.
* :mod:`.finetune` — the offline stand-in for the paper's fine-tuning experiment (Fig. 5).
* :mod:`.rules`, :mod:`.claims`, :mod:`.claims_timing`, :mod:`.claims_training`, :mod:`.report` —
  verdict rules, the claims table and report.md.
* :mod:`.validate` — ``thermotwin validate-timing``: claims, verdicts, plots, report.

Nothing here is imported by ``import thermotwin``.
"""

#: The submodules (imported on use: torch and scikit-learn load only inside their functions).
__all__ = ["model", "device", "train", "costs", "analysis", "paper_scale", "validate", "claims", "plots"]
