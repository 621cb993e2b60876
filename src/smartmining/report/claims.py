"""The claims C1-C4 of PAPER.md section 10, each judged by its primary comparison, and the readings of every
family (claims first, exploratory after) with Holm applied per family.

A claim is "supported" when its primary comparison survives Holm in the claimed direction, "contradicted" when
it survives in the opposite one, "equivalent within the margin" when only its equivalence test (TOST) does,
and "inconclusive" otherwise. C4 is judged on the speed (epochs to 95% of the gain over the pretrained
network, adaptive - fixed, margin 1 epoch); its final R@1 difference is a reading of the same family.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from smartmining.report import explore
from smartmining.report.family import Reading, adjust, estimate_text, fmt_p, make_reading, verdict_text
from smartmining.report.inference import A_BETTER, B_BETTER, EQUIVALENT
from smartmining.settings import ReportSettings

SUPPORTED, CONTRADICTED, CLAIM_EQUIVALENT, CLAIM_INCONCLUSIVE = (
    "supported", "contradicted", "equivalent within the margin", "inconclusive")
PRIMARY_ADAPTIVE = explore.PRIMARY_ADAPTIVE


@dataclass(frozen=True)
class Claim:
    key: str
    text: str
    a: str
    b: str
    paper: str


CLAIMS = (
    Claim("C1", "smart mining beats random triplets", "smart+global", "random+global", "CUB +0.4, Cars +2.8"),
    Claim("C2", "the full method beats semi-hard", PRIMARY_ADAPTIVE, "semihard", "+7.2 / +13.1"),
    Claim("C3", "the global loss helps smart mining", "smart+global", "smart", "CUB +3.5, Cars +8.1"),
    Claim("C4", "the adaptive controller converges faster", PRIMARY_ADAPTIVE, "smart+global",
          "epochs ratio about 0.2; final R@1 +0.3 / +0.5"),
)


def report_settings(cfg: dict[str, Any]) -> ReportSettings:
    """The profile's ``report`` section over the defaults of settings.ReportSettings."""
    section = cfg.get("report") or {}
    return ReportSettings(**{k: v for k, v in section.items() if k in ReportSettings.__dataclass_fields__})


def claim_verdict(r: Reading) -> str:
    return {A_BETTER: SUPPORTED, B_BETTER: CONTRADICTED, EQUIVALENT: CLAIM_EQUIVALENT}.get(r.verdict, CLAIM_INCONCLUSIVE)


def primary_readings(finals: pd.DataFrame, curves: pd.DataFrame, dataset: str, metric: str,
                     st: ReportSettings) -> list[Reading]:
    """The five tests of the primary family: C1-C3 (test R@1), C4's speed and C4's final test R@1."""
    margin = st.margin_points / 100
    out = []
    for c in CLAIMS:
        if c.key == "C4":
            out.append(explore.speed_reading(curves, dataset, c.a, metric, st, "primary", f"{dataset}/primary/C4", "C4"))
            rid = f"{dataset}/primary/C4-final"
        else:
            rid = f"{dataset}/primary/{c.key}"
        out.append(make_reading(rid, dataset, "primary", "test R@1", c.a, c.b,
                                explore.seed_values(finals, dataset, c.a), explore.seed_values(finals, dataset, c.b),
                                margin, claim=c.key))
    return out


def all_readings(ctx: dict[str, Any], datasets: list[str], methods: dict[str, list[str]],
                 st: ReportSettings) -> list[Reading]:
    """Every reading of the report, primary family first, Holm applied per dataset and family."""
    out: list[Reading] = []
    for dataset in datasets:
        out += primary_readings(ctx["finals"], ctx["curves"], dataset, ctx["val_metric"], st)
        out += explore.exploratory_readings(ctx, dataset, methods[dataset], st)
    return adjust(out, st.alpha)


def claim_rows(readings: list[Reading], dataset: str) -> pd.DataFrame:
    """The claims table of one dataset: claim, primary comparison, paired difference [95% interval], Holm p-values
    of the difference and equivalence tests, verdict."""
    by = {r.id: r for r in readings if r.dataset == dataset and r.family == "primary"}
    rows = []
    for c in CLAIMS:
        parts = [by[f"{dataset}/primary/{c.key}"]] + ([by[f"{dataset}/primary/C4-final"]] if c.key == "C4" else [])
        for i, r in enumerate(parts):
            rows.append({"Claim": f"{c.key} {c.text}" if i == 0 else f"{c.key} beside the speed: final R@1",
                         "Primary comparison": f"`{r.a}` − `{r.b}`, {r.measure}",
                         "Paired difference [95% CI]": estimate_text(r), "p (Holm)": fmt_p(r.p_holm),
                         f"TOST ±margin p (Holm)": f"±{r.margin * r.scale:g}: {fmt_p(r.tost_holm)}",
                         "Paper": c.paper if i == 0 else "",
                         "Verdict": f"**{claim_verdict(r)}**" if i == 0 else verdict_text(r)})
    return pd.DataFrame(rows)


def claims_json(readings: list[Reading]) -> list[dict[str, Any]]:
    """One entry per claim and dataset for readings.json: id, claim, verdict, the reading it rests on."""
    return [{"id": f"{r.dataset}/claim/{r.claim}", "dataset": r.dataset, "claim": r.claim,
             "text": next(c.text for c in CLAIMS if c.key == r.claim), "verdict": claim_verdict(r), "reading": r.id}
            for r in readings if r.family == "primary" and r.claim and not r.id.endswith("-final")]
