"""Verdicts on the TNGD paper's claims (arXiv 2405.13817) for ``validate-timing``.

Each claim is a row ``{"id", "location", "claim", "paper", "derived", "measured", "decided_by",
"verdict", "reset", "why"}``:

* ``location`` — where the paper makes the claim (App. C, Table 1, Fig. 2a …);
* ``paper`` — the claim as the paper states it, paraphrased and marked so unless in quotation marks;
* ``derived`` — our own arithmetic (e.g. the App. C transfer in milliseconds), labelled *derived*;
  never what a verdict compares the code against;
* ``measured`` — the measured figure that decided the verdict; ``decided_by`` — the table or plot
  of report.md that shows it;
* ``verdict`` — from a rule of :mod:`.rules` (pure function of measured inputs; each can say
  holds, does not hold or cannot tell); ``why`` starts with the rule's reason;
* ``reset`` — for training claims, the same rule on runs whose device is reset to ∇ℓ every
  iteration (the primary reading warm-starts, as Algorithm 1 does).

The rows are built in :mod:`.claims_timing` (App. C, Table 1, Fig. 2a/2b, Sec. 5.1) and
:mod:`.claims_training` (Fig. 3, 4a, 4b, 5, 7 and the paper-scale runs); the report is
:mod:`.report`.
"""

from __future__ import annotations

from .claim_rows import finals, fmt, row  # noqa: F401  (the row helpers, re-exported)


def evaluate(m: dict) -> list[dict]:
    """All claims with verdicts from the measurements of :func:`.validate._run`."""
    from . import claims_timing as ct
    from . import claims_training as cr

    out = [ct.app_c(m), ct.table1(m), *ct.fig2a(m), ct.fig2b(m), ct.two_x_adam(m)]
    out += [cr.fig4a_steady(m), cr.fig4a_near_ngd(m), cr.fig4a_device(m), cr.fig4b(m), cr.fig7_small(m),
            cr.fig7_large(m), *cr.fig3(m)]
    if m.get("finetune"):
        out.append(cr.fig5(m["finetune"]))
    if m.get("paper_scale") and m["paper_scale"].get("curves"):
        out += cr.paper_scale_rows(m["paper_scale"])
    return out


def report_markdown(m: dict, claims: list, figures: dict) -> str:
    """DIR/report.md (kept here for callers; the text is built in :mod:`.report`)."""
    from .report import report_markdown as build

    return build(m, claims, figures)
