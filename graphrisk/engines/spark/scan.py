"""``graphrisk scan DATA --engine spark``: the distributed steps of milestone 1 and a summary of what ran where.

Large tables are written as Parquet folders (``*.parquet``), small ones as CSV (UTF-8 with BOM, like the
embedded scan); a small table is collected to the driver to be written as one CSV file. ``summary.json`` lists
every step with where it ran, its rows and seconds, and the embedded analyses that are not ported yet.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphrisk import __version__
from graphrisk.config import CONFIG_FILE, Config, load_config
from graphrisk.engines.spark import steps as S
from graphrisk.engines.spark.io import read_tables
from graphrisk.engines.spark.session import SparkEngineError, session
from graphrisk.errors import GraphriskError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["NOT_PORTED", "run", "run_cli"]

# Embedded analyses and steps with no Spark counterpart yet (issue 9, later milestones).
NOT_PORTED: tuple[str, ...] = (
    "validation rules and rejects.csv (input is read and typed, not validated)",
    "ownership: beneficial owners (the cn-2024 profile)",
    "counterparty groups: large-exposure limits, breaches and screening",
    "guarantees: joint, revolving cycles, chains, stars, circle and firm measures, flags",
    "hidden links: address, domain, officer, shareholder, controller and name signals; scores and groups",
    "contagion: linear DebtRank, cascades, network PD, systemic importance, Monte Carlo, stress scenarios",
    "clusters (community detection), structure, data quality",
    "flags.csv, risk_scores.csv, report.html",
    "Neo4j read and write-back through the Neo4j Connector for Apache Spark",
)


def _csv(frame: DataFrame, path: Path) -> int:
    """Collect a small table to the driver and write it as one CSV file, sorted so reruns are identical."""
    pdf = frame.toPandas()
    pdf = pdf.sort_values(list(pdf.columns)).reset_index(drop=True)
    pdf.to_csv(path, index=False, encoding="utf-8-sig")
    return len(pdf)


def _csv_ordered(frame: DataFrame, path: Path) -> int:
    """Collect a table already in its final order (flags, scores) and write it as one CSV file."""
    pdf = frame.toPandas()
    pdf.to_csv(path, index=False, encoding="utf-8-sig")
    return len(pdf)


def _parquet(frame: DataFrame, path: Path) -> int:
    frame.write.mode("overwrite").parquet(str(path))
    return int(frame.sparkSession.read.parquet(str(path)).count())


def _numbered_groups(groups: DataFrame) -> DataFrame:
    """Embedded group ids ``CG-000001`` …: by total EAD descending, then the smallest member id. The ordering
    runs on the group table (one row per group), which is small next to the members."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    per = groups.groupBy("group_key").agg(F.sum("ead").alias("total"), F.min("member_id").alias("first"))
    order = Window.orderBy(F.col("total").desc(), F.col("first"))
    per = per.withColumn("n", F.row_number().over(order))
    out = groups.join(per, "group_key").select(
        F.concat(F.lit("CG-"), F.lpad(F.col("n").cast("string"), 6, "0")).alias("group_id"), "member_id", "ead"
    )
    return out


def run(
    data_dir: Path,
    out_dir: Path,
    *,
    master: str = "local[2]",
    as_of: date | None = None,
    config: Config | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Run the ported steps on ``data_dir`` and write their tables and ``summary.json`` into ``out_dir``.

    Returns the summary. ``progress`` (a callable taking one line of text) hears each step as it ends.
    """
    say = progress or (lambda _line: None)
    day = as_of or date.today()
    cfg = config or load_config(Path(data_dir) / CONFIG_FILE)
    th = cfg.threshold
    out_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    spark = session(master=master)
    tables = read_tables(spark, Path(data_dir))
    steps: dict[str, dict[str, Any]] = {}

    def step(name: str, where: str, file: str, write: Any, make: Any) -> None:
        # ``make`` builds the frame inside the timing: DebtRank iterates eagerly, the others are lazy plans.
        t0 = time.perf_counter()
        rows = write(make(), out_dir / file)
        steps[name] = {"where": where, "file": file, "rows": rows, "seconds": round(time.perf_counter() - t0, 3)}
        say(f"{name}: {rows:,} rows → {file} ({steps[name]['seconds']:.1f} s, {where})")

    active = S.active_guarantees(tables, day).cache()
    held: dict[str, DataFrame] = {}  # frames later steps reuse, built inside their step's timing
    # Each ported analysis's flags (entity_id, flag, severity, reason, evidence), by analysis name.
    flag_parts: list[tuple[str, DataFrame]] = []

    def keep(name: str, frame: DataFrame) -> DataFrame:
        held[name] = frame.cache()
        return held[name]

    step("guarantee_components", "distributed", "guarantee_components.parquet", _parquet,
         lambda: keep("components", S.guarantee_components(active)))  # fmt: skip
    components = held["components"]
    circles = S.guarantee_circles(components, min_size=3)
    step(
        "guarantee_circles",
        "distributed; written from the driver",
        "guarantee_circle_members.csv",
        _csv,
        lambda: circles,
    )
    cores = S.guarantee_cores(active, components)
    step("guarantee_cores", "one executor task per weak component", "guarantee_cores.csv", _csv, lambda: cores)
    step("mutual_guarantees", "distributed; written from the driver", "mutual_guarantees.csv", _csv,
         lambda: S.mutual_guarantees(active))  # fmt: skip

    from graphrisk.engines.spark import ownership as O

    state = O.control(tables, control_share=th("control_share"))
    controllers = keep(
        "controllers",
        O.actual_controllers(
            tables, state, relative_share=th("relative_control_share"), relative_lead=th("relative_control_lead")
        ),
    )
    step("control", "distributed (chain walks by joins, rounds to a fixed point)", "control.csv", _csv,
         lambda: O.control_closure(state))  # fmt: skip
    step("controllers", "distributed", "controllers.csv", _csv, lambda: controllers)
    step("groups_corporate", "distributed", "groups_corporate.csv", _csv, lambda: O.corporate_groups(controllers))
    step("cross_holdings", "one executor task per cross-holding", "cross_holdings.csv", _csv,
         lambda: keep("cross", O.cross_holdings(tables)))  # fmt: skip
    flag_parts.append(
        ("ownership",
         O.ownership_flags(tables, controllers, held["cross"], many_borrowers=int(th("controller_many_borrowers"))))
    )  # fmt: skip

    ties = S.group_ties(
        tables,
        day,
        controllers,
        guarantee_net_assets=th("lex_guarantee_net_assets"),
        supply_share=th("lex_supply_share"),
        group_through_state=th("lex_group_through_state") >= 0.5,
    ).cache()
    step("group_ties", "distributed", "group_ties.parquet", _parquet, lambda: ties)
    step("counterparty_groups", "distributed; written from the driver", "counterparty_groups.csv", _csv,
         lambda: _numbered_groups(S.counterparty_groups(tables, ties)))  # fmt: skip
    step("contact_pairs", "distributed (pandas UDF on executors)", "contact_pairs.csv", _csv,
         lambda: S.contact_pairs(tables, cfg))  # fmt: skip

    impact = S.impact_edges(
        tables,
        day,
        guarantee_recovery=th("contagion_guarantee_recovery"),
        supply_loss_factor=th("contagion_supply_loss_factor"),
        substitution_cost=th("contagion_substitution_cost"),
    ).cache()
    step("impact_edges", "distributed", "impact_edges.parquet", _parquet, lambda: impact)
    from pyspark.sql import functions as F

    # One scenario for milestone 1: the borrower with the largest EAD defaults (the embedded systemic-importance
    # ranking starts from the same candidates).
    top = (
        tables["exposures"].groupBy("borrower_id").agg(F.sum("ead").alias("ead"))
        .orderBy(F.col("ead").desc(), F.col("borrower_id")).limit(1).collect()
    )  # fmt: skip
    seed = [str(top[0]["borrower_id"])] if top else []
    if seed:
        step("debtrank_single_hit", "distributed, one join per round", "debtrank.csv", _csv,
             lambda: S.debtrank_single_hit(impact, seed))  # fmt: skip
    from graphrisk.engines.spark.flags import ordered_flags, risk_scores, union_flags

    flags = union_flags(flag_parts)
    if flags is not None:
        flags = keep("flags", flags)
        step("flags", "distributed; sorted and written from the driver", "flags.csv", _csv_ordered,
             lambda: ordered_flags(flags))  # fmt: skip
        step("risk_scores", "distributed (group-by per entity)", "risk_scores.csv", _csv_ordered,
             lambda: risk_scores(flags, cfg).orderBy(F.col("risk_score").desc(), F.col("entity_id")))  # fmt: skip
    summary = {
        "engine": "spark",
        "version": __version__,
        "spark_version": spark.version,
        "master": master,
        "as_of": day.isoformat(),
        "started_at": started.isoformat(timespec="seconds"),
        "milestone": "issue 9, milestone 1",
        "debtrank_seed": seed[0] if seed else None,
        "steps": steps,
        "not_ported": list(NOT_PORTED),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return summary


def run_cli(data_dir: Path, out_dir: Path, *, master: str | None, as_of: datetime | date | None) -> int:
    """The ``--engine spark`` branch of ``graphrisk scan``: progress on stderr, exit code 0 or 1."""
    day = as_of.date() if isinstance(as_of, datetime) else as_of
    try:
        run(data_dir, out_dir, master=master or "local[2]", as_of=day,
            progress=lambda line: print(line, file=sys.stderr, flush=True))  # fmt: skip
    except (SparkEngineError, GraphriskError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(f"spark engine: wrote {out_dir} (milestone 1 steps; see summary.json for what is not ported)")
    return 0
