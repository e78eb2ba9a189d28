"""Data quality: what was rejected and why, how complete the fields the network measures need are.

A credit officer reading a flag must know how much of the data behind it was usable.

>>> import pandas as pd
>>> from graphrisk.tables import Tables
>>> t = Tables.from_frames({"enterprises": pd.DataFrame({"id": ["A"], "name": ["甲"], "pd": [0.02]})})
>>> completeness(EnterpriseGraph(t)).set_index("column").loc["pd", "filled_share"]
np.float64(1.0)
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from graphrisk.analysis import AnalysisContext, AnalysisResult, ReportSection, empty_flags, register
from graphrisk.graph import EnterpriseGraph
from graphrisk.units import format_cny

__all__ = ["KEY_FIELDS", "completeness", "data_quality"]

# Fields the network measures lean on, with what is lost when they are missing.
KEY_FIELDS: dict[str, str] = {
    "pd": "standalone probability of default (network PD, expected loss)",
    "net_assets": "loss-absorbing capacity (guarantee leverage, contagion impact)",
    "total_liabilities": "debt ratio (CSRC 70 % trigger)",
    "revenue": "supply-chain dependence",
    "uscc": "identity check against the registry",
    "region": "regional stress scenarios",
    "industry": "sector stress scenarios",
}


def completeness(graph: EnterpriseGraph) -> pd.DataFrame:
    """Share of enterprises with each key field filled."""
    ent = graph.enterprises
    n = len(ent)
    rows = [
        {
            "column": c,
            "filled": int(ent[c].notna().sum()),
            "filled_share": float(ent[c].notna().mean()) if n else 0.0,
            "used_for": why,
        }
        for c, why in KEY_FIELDS.items()
    ]
    return pd.DataFrame(rows)


@register(
    "data_quality",
    title="Data quality",
    order=20,
    description="Rows rejected by reason, warnings, completeness of key fields, exposures without data.",
)
def data_quality(graph: EnterpriseGraph, context: AnalysisContext) -> AnalysisResult:
    dq = context.data_quality
    per_table = pd.DataFrame([{"table": name, **vals} for name, vals in dq.get("tables", {}).items()])
    by_reason = pd.DataFrame(
        [{"table": t, "reason": r, "rows": n} for (t, r), n in dq.get("rejects_by_reason", {}).items()]
    )
    comp = completeness(graph)

    ent = graph.enterprises
    ead = graph.ead[: graph.n_enterprises]
    missing_cols = ["pd", "net_assets"]
    missing = ent[missing_cols].isna().to_numpy()
    lacking = (ead > 0) & missing.any(axis=1)
    flags = []
    for i in np.flatnonzero(lacking):
        absent = [c for c, m in zip(missing_cols, missing[i], strict=True) if m]
        flags.append(
            {
                "entity_id": ent["id"].iat[int(i)],
                "flag": "incomplete_financials",
                "severity": "low",
                "reason": f"bank exposure {format_cny(ead[i])} but no {', '.join(absent)}; network measures fall "
                "back to defaults for this firm",
                "evidence": json.dumps({"ead": float(ead[i]), "missing": absent}, ensure_ascii=False),
            }
        )
    rejected = int(per_table["rejected"].sum()) if len(per_table) else 0
    rows = int(per_table["rows"].sum()) if len(per_table) else 0
    summary = {
        "rows": rows,
        "rejected": rejected,
        "warnings": int(per_table["warnings"].sum()) if len(per_table) else 0,
        "completeness": {r["column"]: round(r["filled_share"], 6) for r in comp.to_dict("records")},
        "exposures_without_financials": len(flags),
    }
    section = ReportSection(
        title="Data quality",
        paragraphs=(
            f"{rows:,} input rows, {rejected:,} rejected (see rejects.csv: file, line, column, reason).",
            f"{len(flags):,} borrowers with bank exposure lack a PD or net assets.",
        ),
        tables=tuple(
            x
            for x in (
                ("Rows per table", per_table),
                ("Rejected rows by reason", by_reason),
                ("Completeness of key enterprise fields", comp),
            )
            if len(x[1])
        ),
    )
    return AnalysisResult(
        name="data_quality",
        tables={"data_quality": comp},
        flags=pd.DataFrame(flags) if flags else empty_flags(),
        summary=summary,
        section=section,
    )
