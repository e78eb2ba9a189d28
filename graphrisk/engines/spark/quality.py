"""The embedded ``data_quality`` analysis on Spark: completeness of the key enterprise fields (``data_quality.csv``),
``incomplete_financials`` flags for borrowers with bank exposure but no PD or net assets, and the summary.

Completeness is one aggregation (seven counts reach the driver); the flags are a join of the enterprises with their
EAD, and their texts come from the embedded wording in a pandas UDF on the executors (amounts as
:func:`~graphrisk.units.format_cny` writes them, evidence as ``json.dumps``), so they are the embedded ones word
for word.

>>> out = quality_analysis(tables, data_quality)  # doctest: +SKIP
>>> out["completeness"].toPandas()  # doctest: +SKIP
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pandas as pd

from graphrisk.analysis.quality import KEY_FIELDS
from graphrisk.units import format_cny

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["quality_analysis"]

_MISSING = ("pd", "net_assets")  # the fields whose absence makes network measures fall back to defaults


def _texts(ead: pd.Series, no_pd: pd.Series, no_net_assets: pd.Series) -> pd.DataFrame:
    """Reason and evidence of ``incomplete_financials``, as the embedded analysis words them."""
    reasons, evidence = [], []
    for e, a, b in zip(ead.to_numpy(dtype=float), no_pd, no_net_assets, strict=True):
        absent = [c for c, m in zip(_MISSING, (a, b), strict=True) if m]
        reasons.append(
            f"bank exposure {format_cny(e)} but no {', '.join(absent)}; network measures fall back to defaults for "
            "this firm"
        )
        evidence.append(json.dumps({"ead": float(e), "missing": absent}, ensure_ascii=False))
    # object dtype: pandas 3 infers Arrow-backed strings, which pyspark 3.5's Arrow serializer cannot take.
    return pd.DataFrame({"reason": pd.Series(reasons, dtype=object), "evidence": pd.Series(evidence, dtype=object)})


def quality_analysis(tables: dict[str, DataFrame], data_quality: dict[str, Any]) -> dict[str, Any]:
    """``completeness`` (the embedded ``data_quality`` table) and ``flags`` as DataFrames, ``summary`` as the
    embedded dict; ``data_quality`` is the validation's ``{"tables": {name: counts}}`` (the scan's summary)."""
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    ent = tables["enterprises"]
    n = ent.count()
    counts = ent.agg(*[F.count(F.col(c)).alias(c) for c in KEY_FIELDS]).first()
    rows = [
        (c, int(counts[c]) if counts else 0, float(int(counts[c]) / n) if counts and n else 0.0, why)
        for c, why in KEY_FIELDS.items()
    ]
    spark = ent.sparkSession
    completeness = spark.createDataFrame(rows, "column string, filled long, filled_share double, used_for string")

    ead = tables["exposures"].groupBy(F.col("borrower_id").alias("id")).agg(F.sum("ead").alias("ead"))
    lacking = (
        ent.select("id", F.col("pd").isNull().alias("no_pd"), F.col("net_assets").isNull().alias("no_net_assets"))
        .join(ead, "id")
        .where((F.col("ead") > 0) & (F.col("no_pd") | F.col("no_net_assets")))
    )

    @pandas_udf("reason string, evidence string")  # type: ignore[call-overload]
    def texts(e: pd.Series, a: pd.Series, b: pd.Series) -> pd.DataFrame:
        return _texts(e, a, b)

    flags = lacking.select(
        F.col("id").alias("entity_id"),
        F.lit("incomplete_financials").alias("flag"),
        F.lit("low").alias("severity"),
        texts("ead", "no_pd", "no_net_assets").alias("t"),
    ).select("entity_id", "flag", "severity", "t.reason", "t.evidence")
    flags = flags.cache()

    per_table = data_quality.get("tables", {})
    summary = {
        "rows": sum(int(t.get("rows", 0)) for t in per_table.values()),
        "rejected": sum(int(t.get("rejected", 0)) for t in per_table.values()),
        "warnings": sum(int(t.get("warnings", 0)) for t in per_table.values()),
        "completeness": {c: round(share, 6) for c, _, share, _ in rows},
        "exposures_without_financials": int(flags.count()),
    }
    return {"completeness": completeness, "flags": flags, "summary": summary}
