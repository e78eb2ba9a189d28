"""Flags and risk scores on Spark: the union of every ported analysis's flags, ordered as the embedded scan orders
them, and the per-entity noisy-OR score of ``graphrisk.scan.risk_scores``.

Both are distributed (group-by per entity); only the writer collects, and a large table is written as Parquet.

>>> # doctest: +SKIP
>>> risk_scores(flags, Config()).orderBy("entity_id").show()
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from graphrisk.analysis import FLAG_COLUMNS, SEVERITIES
from graphrisk.config import Config
from graphrisk.errors import InputFileError
from graphrisk.scan import CHANGE_KEY

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["flag_changes", "ordered_flags", "read_previous_flags", "risk_scores", "union_flags"]


def _F():  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    return F


def _severity_order():  # type: ignore[no-untyped-def]
    F = _F()
    order = F.lit(len(SEVERITIES))
    for i, s in reversed(list(enumerate(SEVERITIES))):
        order = F.when(F.col("severity") == s, F.lit(i)).otherwise(order)
    return order


def union_flags(parts: list[tuple[str, DataFrame]]) -> DataFrame | None:
    """``(analysis, flags)`` pairs as one frame with the embedded columns (``FLAG_COLUMNS`` and ``analysis``)."""
    F = _F()
    out: DataFrame | None = None
    for analysis, frame in parts:
        f = frame.select(*[F.col(c).cast("string") for c in FLAG_COLUMNS]).withColumn("analysis", F.lit(analysis))
        out = f if out is None else out.unionByName(f)
    return out


def ordered_flags(flags: DataFrame) -> DataFrame:
    """The embedded scan's order: severity (high first), flag, entity (then analysis and reason, so reruns and
    engines agree row for row). A ``change`` column (``--since``) is kept, last, as the embedded flags.csv has it."""
    F = _F()
    extra = [F.col("change")] if "change" in flags.columns else []
    return (
        flags.withColumn("_o", _severity_order())
        .orderBy("_o", "flag", "entity_id", "analysis", "reason", "evidence")
        .drop("_o")
        .select(*FLAG_COLUMNS, F.col("analysis"), *extra)
    )


def read_previous_flags(spark: SparkSession, since: str | Path) -> DataFrame:
    """A previous scan's flags for ``--since``: its ``--out`` folder (``flags.csv``, or the ``flags.parquet`` folder
    a large Spark run writes) or the flags file itself, on any filesystem the session reads; every column as text.

    Raises :class:`~graphrisk.errors.InputFileError` naming the path and the fix when there are no flags there or
    the file lacks the key columns."""
    from graphrisk.engines.spark.fs import location

    base = location(since, spark)
    found = [base / "flags.csv", base / "flags.parquet"] if base.is_dir() and base.suffix != ".parquet" else [base]
    path = next((f for f in found if f.exists()), None)
    if path is None:
        raise InputFileError(str(base), "--since found no flags.csv", "point --since at a previous scan's --out folder")
    if path.suffix == ".parquet":
        frame = spark.read.parquet(str(path))
        frame = frame.select(*[frame[c].cast("string").alias(c) for c in frame.columns])
    else:
        # The scans write CSV with pandas: UTF-8 with a BOM, "" inside quotes, texts that may span lines.
        frame = (
            spark.read.option("header", True).option("multiLine", True).option("escape", '"')
            .option("encoding", "UTF-8").csv(str(path))
        )  # fmt: skip
        frame = frame.toDF(*[c.lstrip("\ufeff") for c in frame.columns])
    missing = sorted({"entity_id", "flag", "severity"} - set(frame.columns))
    if missing:
        raise InputFileError(
            str(path), f"not a graphrisk flags.csv (missing columns {missing})", "give a scan's flags.csv"
        )
    F = _F()
    for column in (*FLAG_COLUMNS, "analysis"):
        if column not in frame.columns:
            frame = frame.withColumn(column, F.lit(""))
    return frame.select(*FLAG_COLUMNS, "analysis").fillna("")


def flag_changes(current: DataFrame, previous: DataFrame) -> tuple[DataFrame, DataFrame]:
    """The embedded ``compare_flags`` on Spark: each current flag marked ``new`` or ``unchanged`` (``change``)
    against the previous run's (same entity, flag and analysis: ``CHANGE_KEY``), and the previous flags no longer
    raised, marked ``resolved``. Two joins on the key; nothing is collected.

    >>> # doctest: +SKIP
    >>> marked, resolved = flag_changes(flags, read_previous_flags(spark, "/reports/2026-11-26"))
    """
    F = _F()
    key = list(CHANGE_KEY)
    seen = previous.select(*key).distinct().withColumn("_seen", F.lit(True))
    marked = current.join(seen, key, "left").select(
        *current.columns, F.when(F.col("_seen"), F.lit("unchanged")).otherwise(F.lit("new")).alias("change")
    )
    resolved = previous.join(current.select(*key).distinct(), key, "left_anti").withColumn("change", F.lit("resolved"))
    return marked, resolved.select(*FLAG_COLUMNS, "analysis", "change")


def risk_scores(flags: DataFrame, config: Config | None = None, *, reason_chars: int = 120) -> DataFrame:
    """One row per flagged entity, as ``graphrisk.scan.risk_scores``: ``risk_score`` = 1 − Π(1 − w) over its
    distinct (flag, severity) pairs (w = ``risk_weight_<severity>``), the worst severity, the flag count and codes
    (worst first, then by code), and the worst flag's reason cut at ``reason_chars``."""
    F = _F()
    cfg = config or Config()
    weight = F.lit(0.0)
    for s in SEVERITIES:
        weight = F.when(F.col("severity") == s, F.lit(min(cfg.threshold(f"risk_weight_{s}"), 1.0 - 1e-12))).otherwise(
            weight
        )
    f = flags.select("entity_id", "flag", "severity", "reason", "evidence", "analysis")
    # The embedded frame keeps the first row of each (entity, flag, severity) in scan order: reproduce that row.
    from pyspark.sql import Window

    scan_order = Window.partitionBy("entity_id", "flag", "severity").orderBy("analysis", "reason", "evidence")
    f = f.withColumn("_r", F.row_number().over(scan_order)).where("_r = 1").drop("_r")
    f = f.withColumn("_o", _severity_order()).withColumn("_log", F.log1p(-weight))
    per = f.groupBy("entity_id").agg(
        F.sum("_log").alias("_s"),
        F.array_sort(F.collect_list(F.struct("_o", "flag", "reason"))).alias("_items"),
    )
    first = F.col("_items")[0]
    k = F.size("_items")
    reason = first["reason"]
    cut = F.when(F.length(reason) > reason_chars, F.concat(F.substring(reason, 1, reason_chars), F.lit("…"))).otherwise(
        reason
    )
    more = F.when(
        k > 1,
        F.concat(
            F.lit(" (+"),
            (k - 1).cast("string"),
            F.lit(" more flag"),
            F.when(k > 2, "s").otherwise(""),
            F.lit(" in flags.csv)"),
        ),
    ).otherwise(F.lit(""))
    names = F.array(*[F.lit(s) for s in SEVERITIES])
    return per.select(
        "entity_id",
        F.round(1.0 - F.exp("_s"), 6).alias("risk_score"),
        names[first["_o"]].alias("severity"),
        k.cast("long").alias("flag_count"),
        F.concat_ws(";", F.array_distinct(F.transform("_items", lambda x: x["flag"]))).alias("flags"),
        F.concat(first["flag"], F.lit(": "), cut, more).alias("reasons"),
    )
