"""``graphrisk scan DATA --engine spark``: the distributed steps of milestone 1 and a summary of what ran where.

Large tables are written as Parquet folders (``*.parquet``), small ones as CSV (UTF-8 with BOM, like the
embedded scan); a small table is collected to the driver to be written as one CSV file. ``summary.json`` lists
every step with where it ran, its rows and seconds, and the embedded analyses that are not ported yet.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from graphrisk import __version__
from graphrisk.config import CONFIG_FILE, Config, load_config
from graphrisk.engines.spark import steps as S
from graphrisk.engines.spark.contagion import NOT_PORTED as CT_NOT_PORTED
from graphrisk.engines.spark.fs import Location, location
from graphrisk.engines.spark.session import SparkEngineError, session, spark_settings, submitted
from graphrisk.errors import GraphriskError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["NOT_PORTED", "Neo4jTarget", "run", "run_cli"]

# Embedded analyses and steps with no Spark counterpart yet (issue 9, later milestones).
NOT_PORTED: tuple[str, ...] = (
    *CT_NOT_PORTED,
    "report.html: the pictures of the top clusters (the page has the flags, figures and top rows of each table)",
    "scan --load (load with graphrisk load, then scan with --engine spark --neo4j-uri)",
)


# Tables with more rows than this are written as Parquet folders instead of one CSV file collected on the driver.
CSV_MAX_ROWS = int(os.environ.get("GRAPHRISK_SPARK_CSV_MAX_ROWS", "2000000"))


def _write_csv(pdf: Any, path: Location) -> None:
    """A collected table as CSV (UTF-8 with BOM) into a local folder or onto a Hadoop filesystem."""
    if isinstance(path, Path):
        pdf.to_csv(path, index=False, encoding="utf-8-sig")
    else:
        path.write_bytes(pdf.to_csv(index=False).encode("utf-8-sig"))


def _table(frame: DataFrame, path: Location, *, ordered: bool = False) -> tuple[int, str]:
    """A result table as one CSV file (UTF-8 with BOM, like the embedded scan) when it is small enough to collect,
    else as a Parquet folder of the same name. Unordered tables are sorted on every column so reruns are identical;
    ``ordered`` tables (flags, scores) keep the order of their plan."""
    rows = int(frame.count())
    if rows > CSV_MAX_ROWS:
        target = path.with_suffix(".parquet")
        frame.write.mode("overwrite").parquet(str(target))
        return rows, target.name
    pdf = frame.toPandas()
    if not ordered:
        pdf = pdf.sort_values(list(pdf.columns)).reset_index(drop=True)
    _write_csv(pdf, path)
    return len(pdf), path.name


def _csv_ints(frame: DataFrame, path: Location) -> tuple[int, str]:
    """An ordered table whose integer columns may be null (ranks of non-candidates): written as integers, as the
    embedded ``Int64`` columns are, not as floats."""
    import pandas as pd

    rows = int(frame.count())
    if rows > CSV_MAX_ROWS:
        return _table(frame, path, ordered=True)
    pdf = frame.toPandas()
    for name, kind in frame.dtypes:
        if kind in ("int", "bigint") and pdf[name].dtype.kind == "f":
            pdf[name] = pdf[name].astype(pd.Int64Dtype())
    _write_csv(pdf, path)
    return len(pdf), path.name


def _csv(frame: DataFrame, path: Location) -> tuple[int, str]:
    return _table(frame, path)


def _csv_ordered(frame: DataFrame, path: Location) -> tuple[int, str]:
    return _table(frame, path, ordered=True)


def _parquet(frame: DataFrame, path: Location) -> tuple[int, str]:
    frame.write.mode("overwrite").parquet(str(path))
    return int(frame.sparkSession.read.parquet(str(path)).count()), path.name


def _numbered_groups(groups: DataFrame) -> DataFrame:
    """Embedded group ids ``CG-000001`` …: by total EAD descending, then the smallest member id. The ordering
    runs on the group table (one row per group), which is small next to the members."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    per = groups.groupBy("group_key").agg(F.sum("ead").alias("total"), F.min("member_id").alias("first"))
    order = Window.orderBy(F.col("total").desc(), F.col("first"))
    per = per.withColumn("n", F.row_number().over(order))
    out = groups.join(per, "group_key").select(
        F.format_string("CG-%06d", F.col("n")).alias("group_id"), "member_id", "ead"
    )
    return out


def run(
    data_dir: Path | str,
    out_dir: Path | str,
    *,
    master: str | None = "local[2]",
    as_of: date | None = None,
    config: Config | None = None,
    progress: Any = None,
    neo4j: Neo4jTarget | None = None,
    pseudonym_key: bytes | None = None,
    since: str | Path | None = None,
) -> dict[str, Any]:
    """Run the ported steps on ``data_dir`` and write their tables and ``summary.json`` into ``out_dir``.

    With ``neo4j`` the tables are read from that server through the Neo4j Connector for Apache Spark (``data_dir``
    still gives ``graphrisk.toml``) and the results that have a Spark write-back go back to it with the run id.
    ``since`` (a previous ``--out`` folder or its flags file) marks each flag ``new`` or ``unchanged`` and writes the
    flags no longer raised to ``resolved_flags.csv``, as the embedded ``--since``. Returns the summary.
    ``progress`` (a callable taking one line of text) hears each step as it ends.
    """
    say = progress or (lambda _line: None)
    day = as_of or date.today()
    started = datetime.now(UTC)
    spark = session(master=master)
    # Local folders, or URIs of any filesystem the cluster's Hadoop configuration reaches (hdfs://, s3a://, …).
    source, out = location(data_dir, spark), location(out_dir, spark)
    # A HadoopPath answers the Path methods load_config uses (exists, read_text).
    cfg = config or load_config(cast(Path, source / CONFIG_FILE))
    th = cfg.threshold
    out.mkdir(parents=True, exist_ok=True)
    steps: dict[str, dict[str, Any]] = {}
    previous = None
    if since is not None:  # read first, so that a wrong --since stops the run before any work
        from graphrisk.engines.spark.flags import read_previous_flags

        previous = read_previous_flags(spark, since).cache()

    def step(name: str, where: str, file: str, write: Any, make: Any) -> None:
        # ``make`` builds the frame inside the timing: DebtRank iterates eagerly, the others are lazy plans.
        t0 = time.perf_counter()
        rows, file = write(make(), out / file)
        steps[name] = {"where": where, "file": file, "rows": rows, "seconds": round(time.perf_counter() - t0, 3)}
        say(f"{name}: {rows:,} rows → {file} ({steps[name]['seconds']:.1f} s, {where})")

    parameters = {
        "data_dir": str(data_dir),
        "as_of": day.isoformat(),
        "engine": "spark",
        "source": "neo4j" if neo4j else "files",
        "thresholds": {r["name"]: r["value"] for r in cfg.effective()},
    }
    # The embedded scan's recipe: the same parameters and version give the same run id, so a rerun replaces its data.
    run_id = hashlib.sha256(json.dumps([__version__, parameters], sort_keys=True, default=str).encode()).hexdigest()[
        :12
    ]
    data_quality: dict[str, Any] = {"source": "neo4j: validated by graphrisk load"} if neo4j else {}
    if neo4j is not None:
        from graphrisk.engines.spark.neo4j_io import read_tables_from_neo4j

        tables = read_tables_from_neo4j(spark, neo4j.uri, neo4j.user, neo4j.password, neo4j.database)
    else:
        from graphrisk.engines.spark.validate import validate_tables

        if pseudonym_key is None:
            from graphrisk.cli.data import pseudonym_key as key_of

            pseudonym_key = key_of(cfg)
        # The embedded loader's rules, distributed: rejected rows go to rejects.csv and no later step sees them.
        t0 = time.perf_counter()
        checked = validate_tables(spark, source, pseudonym_key=pseudonym_key, config=cfg, progress=say)
        tables = checked.tables
        # Line counts, header checks and the cached accepted tables run here, before the first step writes.
        steps["validation"] = {"where": "distributed: line counts per file, rules as expressions and joins",
                               "file": "summary.json", "rows": sum(c.rows for c in checked.counts.values()),
                               "seconds": round(time.perf_counter() - t0, 3)}  # fmt: skip
        say(f"validation planned ({time.perf_counter() - t0:.1f} s)")
        step("rejects", "distributed; written from the driver", "rejects.csv", _csv_ordered,
             lambda: checked.rejects.orderBy("table", "line", "column", "reason", "message"))  # fmt: skip
        step("warnings", "distributed; written from the driver", "warnings.csv", _csv_ordered,
             lambda: checked.warnings.orderBy("table", "line", "column", "reason"))  # fmt: skip
        by_reason = checked.rejects.dropDuplicates(["table", "line", "reason"]).groupBy("table", "reason").count()
        data_quality = {
            "tables": {name: stats.as_dict() for name, stats in checked.counts.items()},
            "rejects_by_reason": {f"{r['table']}/{r['reason']}": int(r["count"]) for r in by_reason.collect()},
        }
    # Each ported analysis's flags (entity_id, flag, severity, reason, evidence), by analysis name.
    flag_parts: list[tuple[str, DataFrame]] = []
    from graphrisk.engines.spark.structure import graph_counts, structure_analysis

    structure: dict[str, Any] = {}

    def degrees() -> DataFrame:
        # Degrees, components of the whole relation graph, statistics and hub flags: one pass.
        structure.update(structure_analysis(tables, cfg))
        return structure["degrees"].orderBy("rank", "entity_id").drop("rank")

    where = "distributed: group-bys per relation; connected components by joins"
    step("degrees", where, "degrees.csv", _csv_ordered, degrees)
    step("components", where, "components.csv", _csv_ordered,
         lambda: structure["components"].orderBy("component_id"))  # fmt: skip
    step("degree_stats", where, "degree_stats.csv", _csv_ordered, lambda: structure["degree_stats"])
    flag_parts.append(("structure", structure["flags"]))
    from graphrisk.engines.spark.quality import quality_analysis

    quality: dict[str, Any] = {}

    def completeness() -> DataFrame:
        quality.update(quality_analysis(tables, data_quality))
        return quality["completeness"]

    step("data_quality", "one aggregation; flag texts in a pandas UDF", "data_quality.csv", _csv_ordered,
         completeness)  # fmt: skip
    flag_parts.append(("data_quality", quality["flags"]))
    active = S.active_guarantees(tables, day).cache()
    held: dict[str, DataFrame] = {}  # frames later steps reuse, built inside their step's timing

    def keep(name: str, frame: DataFrame) -> DataFrame:
        held[name] = frame.cache()
        return held[name]

    step("guarantee_components", "distributed", "guarantee_components.parquet", _parquet,
         lambda: keep("components", S.guarantee_components(active)))  # fmt: skip
    components = held["components"]
    from pyspark.sql import functions as F

    # The size of the largest weak component bounds every per-component task (docs/spark-sizing.md).
    largest_row = components.agg(F.max("firms")).first()
    largest_component = int(largest_row[0] or 0) if largest_row is not None else 0
    circles = S.guarantee_circles(components, min_size=3)
    step(
        "guarantee_circles",
        "distributed; written from the driver",
        "guarantee_circle_members.csv",
        _csv,
        lambda: circles,
    )
    cores = S.guarantee_cores(active, components)
    step("guarantee_cores", "one executor task per batch of whole weak components", "guarantee_cores.csv", _csv,
         lambda: cores)  # fmt: skip
    step("mutual_guarantees", "distributed; written from the driver", "mutual_guarantees.csv", _csv,
         lambda: S.mutual_guarantees(active))  # fmt: skip

    from graphrisk.engines.spark import ownership as O

    control_state: list[O.ControlState] = []

    def closure() -> DataFrame:
        # The control rounds run inside the step's timing; the controllers reuse their fixed point.
        control_state.append(O.control(tables, control_share=th("control_share")))
        return O.control_closure(control_state[0])

    step("control", "distributed (chain walks by joins, rounds to a fixed point)", "control.csv", _csv, closure)
    controllers = keep(
        "controllers",
        O.actual_controllers(
            tables,
            control_state[0],
            relative_share=th("relative_control_share"),
            relative_lead=th("relative_control_lead"),
        ),
    )
    step("controllers", "distributed", "controllers.csv", _csv, lambda: controllers)
    step("groups_corporate", "distributed", "groups_corporate.csv", _csv, lambda: O.corporate_groups(controllers))
    step("cross_holdings", "one executor task per cross-holding", "cross_holdings.csv", _csv,
         lambda: keep("cross", O.cross_holdings(tables)))  # fmt: skip
    from graphrisk.engines.spark.beneficial_owners import beneficial_owners

    # The embedded scan's profile (cn-2024); the ultimate holders reuse the cross-holdings just computed.
    def owners() -> DataFrame:
        ultimate = O.ultimate_holders(tables, cross=held["cross"]).localCheckpoint()
        return beneficial_owners(tables, "cn-2024", controllers=controllers, config=cfg, ultimate=ultimate)

    step("beneficial_owners", "distributed (one share propagation over three readings; joins)",
         "beneficial_owners.csv", _csv, owners)  # fmt: skip
    flag_parts.append(
        ("ownership",
         O.ownership_flags(tables, controllers, held["cross"], many_borrowers=int(th("controller_many_borrowers"))))
    )  # fmt: skip

    from graphrisk.engines.spark.guarantees import guarantee_analysis

    guarantee_tables: dict[str, DataFrame] = {}

    def patterns() -> DataFrame:
        # Every table of the guarantee analysis comes from one pass (batches of whole weak components on the
        # executors); the first step builds it inside its timing.
        out = guarantee_analysis(tables, day, cfg, controllers, components=components)
        guarantee_tables.update({name: keep(f"g_{name}", frame) for name, frame in out.items()})
        return guarantee_tables["guarantee_patterns"]

    where = "embedded functions per batch of whole weak components, on the executors"
    step("guarantee_patterns", where, "guarantee_patterns.csv", _csv, patterns)
    step("guarantee_circles_table", where, "guarantee_circles.csv", _csv, lambda: guarantee_tables["guarantee_circles"])
    step("guarantors", where, "guarantors.csv", _csv, lambda: guarantee_tables["guarantors"])
    flag_parts.append(("guarantees", guarantee_tables["flags"]))

    ties = S.group_ties(
        tables,
        day,
        controllers,
        guarantee_net_assets=th("lex_guarantee_net_assets"),
        supply_share=th("lex_supply_share"),
        group_through_state=th("lex_group_through_state") >= 0.5,
    ).cache()
    step("group_ties", "distributed", "group_ties.parquet", _parquet, lambda: ties)
    from graphrisk.engines.spark.groups import groups_analysis

    group_tables: dict[str, DataFrame] = {}

    def groups() -> DataFrame:
        # Members with basis and evidence, exposures against Tier 1, breaches, screening: one pass.
        out = groups_analysis(tables, day, cfg, controllers, ties=ties)
        group_tables.update({name: keep(f"cg_{name}", frame) for name, frame in out.items()})
        return group_tables["groups"]

    where = "distributed; evidence texts by the embedded renderers in pandas UDFs"
    step("counterparty_groups", where, "groups.csv", _csv_ordered, groups)
    for name in ("group_exposures", "limit_breaches", "lex_screening"):
        step(name, where, f"{name}.csv", _csv_ordered, lambda name=name: group_tables[name])
    flag_parts.append(("counterparty_groups", group_tables["flags"]))

    from graphrisk.engines.spark.hidden_links import hidden_links_analysis

    link_tables: dict[str, DataFrame] = {}

    def suspected() -> DataFrame:
        # Signals (normalisers in pandas UDFs, the exclusivity cap before any pair), scores, links, groups,
        # person candidates and related transactions: one pass, with the Spark controllers.
        out = hidden_links_analysis(tables, cfg, controllers)
        link_tables.update({name: keep(f"h_{name}", frame) for name, frame in out.items()})
        return link_tables["suspected_links"]

    where = "distributed: normalisers in pandas UDFs, the exclusivity cap before the self-join"
    step("suspected_links", where, "suspected_links.csv", _csv, suspected)
    for name in ("suspected_groups", "person_candidates", "related_transactions"):
        step(name, where, f"{name}.csv", _csv, lambda name=name: link_tables[name])
    # Every piece of evidence behind the scores (one row per pair, signal and value): the audit trail, large.
    step("hidden_link_signals", "distributed", "hidden_link_signals.parquet", _parquet,
         lambda: link_tables["signals"])  # fmt: skip
    flag_parts.append(("hidden_links", link_tables["flags"]))

    impact = S.impact_edges(
        tables,
        day,
        guarantee_recovery=th("contagion_guarantee_recovery"),
        supply_loss_factor=th("contagion_supply_loss_factor"),
        substitution_cost=th("contagion_substitution_cost"),
    ).cache()
    step("impact_edges", "distributed", "impact_edges.parquet", _parquet, lambda: impact)

    from graphrisk.engines.spark import contagion as CT

    contagion_tables: dict[str, DataFrame] = {}

    def contagion_scores() -> DataFrame:
        # Network PD, systemic importance (batched single-hit scenarios), Monte Carlo, chain losses: one pass.
        out = CT.contagion_analysis(tables, day, cfg, impact, patterns=guarantee_tables.get("guarantee_patterns"))
        contagion_tables.update({name: keep(f"c_{name}", frame) for name, frame in out.items()})
        return contagion_tables["contagion"]

    where = (
        "network PD, systemic importance, Monte Carlo and spectral radius: the embedded kernels per batch of whole "
        "impact components up to the cap, distributed rounds above it"
    )
    step("contagion", where, "contagion.csv", _csv_ints, contagion_scores)
    step("systemic_importance", where, "systemic_importance.csv", _csv_ints,
         lambda: contagion_tables["systemic_importance"])  # fmt: skip
    if "chain_losses" in contagion_tables:
        step("chain_losses", "distributed", "chain_losses.csv", _csv_ordered, lambda: contagion_tables["chain_losses"])
    flag_parts.append(("contagion", contagion_tables["flags"]))

    from graphrisk.engines.spark.clusters import clusters_analysis

    cluster_tables: dict[str, DataFrame] = {}
    cluster_stats: dict[str, Any] = {}

    def clusters() -> DataFrame:
        # The risk graph's components on Spark; Leiden, indicators and reasons per batch of whole components.
        out = clusters_analysis(
            tables, day, cfg, controllers, link_tables["suspected_links"],
            guarantors=guarantee_tables["guarantors"], guarantee_patterns=guarantee_tables["guarantee_patterns"],
            contagion=contagion_tables["contagion"], stats=cluster_stats,
        )  # fmt: skip
        cluster_tables.update({name: keep(f"rc_{name}", frame) for name, frame in out.items()})
        return cluster_tables["clusters"].orderBy("cluster_id")

    where = "components distributed; Leiden and indicators per batch of whole components on the executors"
    step("risk_clusters", where, "clusters.csv", _csv_ordered, clusters)
    step("cluster_members", where, "cluster_members.csv", _csv_ordered,
         lambda: cluster_tables["cluster_members"].orderBy("cluster_id", "member_id"))  # fmt: skip
    flag_parts.append(("risk_clusters", cluster_tables["flags"]))
    losses = CT.losses_document(
        contagion_tables["monte_carlo"].toPandas(), rho=th("contagion_mc_rho"), seed=0, as_of=day
    )
    (out / "losses.json").write_text(json.dumps(losses, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    contagion_summary = CT.contagion_summary(tables, contagion_tables, impact, day, cfg)

    from graphrisk.engines.spark.flags import ordered_flags, risk_scores, union_flags

    flags = union_flags(flag_parts)
    by_severity: dict[str, int] = {}
    changes: dict[str, Any] | None = None
    if flags is not None and previous is not None:
        from graphrisk.engines.spark.flags import flag_changes

        marked, resolved = flag_changes(flags, previous)
        flags = marked
        step("resolved_flags", "two joins on (entity, flag, analysis)", "resolved_flags.csv", _csv_ordered,
             lambda: ordered_flags(resolved))  # fmt: skip
    if flags is not None:
        flags = keep("flags", flags)
        if previous is not None:
            counts = {str(r["change"]): int(r["count"]) for r in flags.groupBy("change").count().collect()}
            changes = {"since": str(since), "new": counts.get("new", 0), "unchanged": counts.get("unchanged", 0),
                       "resolved": int(steps["resolved_flags"]["rows"])}  # fmt: skip
        step("flags", "distributed; sorted and written from the driver", "flags.csv", _csv_ordered,
             lambda: ordered_flags(flags))  # fmt: skip
        step("risk_scores", "distributed (group-by per entity)", "risk_scores.csv", _csv_ordered,
             lambda: risk_scores(flags, cfg).orderBy(F.col("risk_score").desc(), F.col("entity_id")))  # fmt: skip
        by_severity = {str(r["severity"]): int(r["count"]) for r in flags.groupBy("severity").count().collect()}
    written_back: dict[str, int] = {}
    if neo4j is not None:
        from graphrisk.engines.spark.neo4j_io import write_back

        t0 = time.perf_counter()
        # Every result the embedded scan writes back, each with its stale removal (cypher/spark/).
        events = {
            "counterparty_groups": group_tables["groups_writeback"],
            "risk_clusters": cluster_tables["clusters"],
            "hidden_links_suspected": link_tables["suspected_links"],
            "hidden_links_person_candidates": link_tables["person_candidates"],
            "guarantee_patterns": guarantee_tables["guarantee_patterns"],
            "contagion_scores": contagion_tables["contagion"],
            "ownership_controls": controllers,
        }
        if flags is not None:
            events["scan_risk"] = risk_scores(flags, cfg)
        written_back = write_back(events, neo4j.uri, neo4j.user, neo4j.password, run_id, as_of=day,
                                  database=neo4j.database)  # fmt: skip
        say(f"neo4j write-back: {written_back} ({time.perf_counter() - t0:.1f} s, connector tasks on the executors)")
    summary = {
        "engine": "spark",
        "run_id": run_id,
        "parameters": parameters,
        "neo4j_writeback": written_back,
        "data_quality": data_quality,
        "flags_by_severity": by_severity,
        "changes": changes,
        "largest_guarantee_component": largest_component,
        # The largest risk-graph component bounds the one task that runs Leiden on it (docs/spark-sizing.md).
        "largest_risk_cluster_component": cluster_stats.get("largest_component", 0),
        # The embedded analyses whose flags this engine raises in full (the others are in not_ported).
        "analyses": [name for name, _ in flag_parts],
        "version": __version__,
        "spark_version": spark.version,
        "master": spark.sparkContext.master,  # spark-submit's when submitted
        "submitted": submitted(),
        "spark_settings": spark_settings(spark),
        "as_of": day.isoformat(),
        "started_at": started.isoformat(timespec="seconds"),
        "milestone": "issue 9, milestone 1",
        "contagion": contagion_summary,
        "graph_summary": graph_counts(tables),
        "structure": structure["summary"],
        "data_quality_summary": quality["summary"],
        "steps": steps,
        "not_ported": list(NOT_PORTED),
    }
    # The report page from a few hundred collected rows: the most severe flags, the top rows of the main tables
    # and the names of the firms they show.
    import pandas as pd

    from graphrisk.analysis import FLAG_COLUMNS
    from graphrisk.engines.spark.report import collect_listings, firm_names, most_severe_flags, render_spark_report

    t0 = time.perf_counter()
    summary["risk_clusters_by_severity"] = {
        str(r["severity"]): int(r["count"]) for r in cluster_tables["clusters"].groupBy("severity").count().collect()
    }
    frames = {
        name: frame
        for part in (guarantee_tables, group_tables, contagion_tables, link_tables, cluster_tables)
        for name, frame in part.items()
        if name != "flags"
    }
    listings = collect_listings(frames)
    shown = most_severe_flags(flags) if flags is not None else pd.DataFrame(columns=list(FLAG_COLUMNS))
    ids = [*shown["entity_id"]]
    for column in ("counterparty_id", "id", "a_id", "b_id", "top_member"):
        ids += [str(v) for table in listings.values() if column in table for v in table[column].dropna()]
    report_changes = None
    if changes is not None and flags is not None:
        # The page lists the first 30 of each, as the embedded page; the files have all of them.
        new = most_severe_flags(flags.where(F.col("change") == "new"), 30)
        gone = most_severe_flags(resolved, 30)
        counted = {k: changes[k] for k in ("new", "unchanged", "resolved")}
        report_changes = {"since": changes["since"], "counts": counted, "new": new, "resolved": gone}
    html = render_spark_report(
        summary, listings, shown, firm_names(tables["enterprises"], ids), losses=losses, changes=report_changes
    )
    (out / "report.html").write_text(html, encoding="utf-8")
    steps["report"] = {"where": "top rows collected with limits; rendered on the driver", "file": "report.html",
                       "rows": int(sum(len(t) for t in listings.values()) + len(shown)),
                       "seconds": round(time.perf_counter() - t0, 3)}  # fmt: skip
    say(f"report: report.html ({steps['report']['seconds']:.1f} s)")
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return summary


@dataclass(frozen=True)
class Neo4jTarget:
    """Where the Spark engine reads the graph and writes results back (the password is never printed)."""

    uri: str
    user: str
    password: str = field(repr=False)
    database: str | None = None


def run_cli(
    data_dir: Path | str,
    out_dir: Path | str,
    *,
    master: str | None,
    as_of: datetime | date | None,
    neo4j: Neo4jTarget | None = None,
    fail_on: str | None = None,
    strict: bool = False,
    since: str | None = None,
) -> int:
    """The ``--engine spark`` branch of ``graphrisk scan``: progress on stderr; exit 0, 1 (an error, or rejected
    rows with ``strict``) or 3 (flags at the ``fail_on`` severity or worse), as the embedded scan."""
    day = as_of.date() if isinstance(as_of, datetime) else as_of
    try:
        # Under spark-submit the master is the submitter's (None); otherwise local[2] unless --spark-master.
        summary = run(data_dir, out_dir, master=None if submitted() else master or "local[2]", as_of=day, neo4j=neo4j,
                      progress=lambda line: print(line, file=sys.stderr, flush=True), since=since)  # fmt: skip
    except (SparkEngineError, GraphriskError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    message = f"spark engine: wrote {out_dir} (see summary.json for what ran where and what is not ported)"
    if summary.get("changes"):
        c = summary["changes"]
        message += f"; since {since}: {c['new']} new, {c['resolved']} resolved"
    print(message)
    rejected = sum(int(t.get("rejected", 0)) for t in summary["data_quality"].get("tables", {}).values())
    if strict and rejected:
        print(f"--strict: {rejected:,} input row(s) rejected (see rejects.csv)", file=sys.stderr)
        return 1
    if fail_on:
        from graphrisk.scan import severity_at_least

        hits = sum(n for s, n in summary["flags_by_severity"].items() if s in severity_at_least(fail_on))
        if hits:
            print(f"--fail-on {fail_on}: {hits:,} flag(s) at {fail_on} or worse", file=sys.stderr)
            return 3
    return 0
