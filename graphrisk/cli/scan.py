"""`graphrisk scan`: validate, build the graph (embedded or from Neo4j), run every analysis, write the report."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click
import pandas as pd

from graphrisk import __version__
from graphrisk.analysis import AnalysisContext, AnalysisResult
from graphrisk.cli.data import read_validated, stats_payload, write_frame
from graphrisk.cli.neo4j_options import explicit_neo4j_options
from graphrisk.errors import GraphriskError, InputFileError
from graphrisk.graph import EnterpriseGraph
from graphrisk.privacy import mask_personal
from graphrisk.report.html import render_report
from graphrisk.scan import (
    compare_flags,
    flag_rows_for_neo4j,
    peak_rss_gb,
    risk_scores,
    run_scan,
    severity_at_least,
)
from graphrisk.tables import Tables

__all__ = ["COMMANDS", "EXIT_FLAGS"]

EXIT_FLAGS = 3  # --fail-on: flags at that severity exist (distinct from 1, an error, and 2, a usage error)
TOP_CLUSTER_PICTURES = 5


class _Log:
    """Progress on stderr, as text lines or, for log collectors, one JSON object per line."""

    def __init__(self, fmt: str) -> None:
        self.json = fmt == "json"

    def __call__(self, message: str, **fields: Any) -> None:
        if self.json:
            record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "level": "info",
                      "message": message, **fields}  # fmt: skip
            click.echo(json.dumps(record, ensure_ascii=False, default=str), err=True)
        else:
            click.echo(message, err=True)
        sys.stderr.flush()

    def error(self, message: str) -> None:
        if self.json:
            record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "level": "error",
                      "message": message}  # fmt: skip
            click.echo(json.dumps(record, ensure_ascii=False), err=True)
        else:
            click.echo(f"Error: {message}", err=True)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _data_quality(tables: Tables) -> dict[str, Any]:
    by_reason: dict[tuple[str, str], int] = {}
    if len(tables.rejects):
        rows = tables.rejects.drop_duplicates(["table", "line", "reason"])
        counts = rows.groupby(["table", "reason"]).size()
        for key, n in counts.items():
            parts: tuple[object, ...] = tuple(key)  # type: ignore[arg-type]
            by_reason[(str(parts[0]), str(parts[1]))] = int(n)
    return {
        "tables": stats_payload(tables),
        "rejects_by_reason": by_reason,
    }


def _write_back(
    uri: str, user: str, database: str | None, results: tuple[AnalysisResult, ...], run_id: str
) -> dict[str, int]:
    """Run every analysis's write-back statements on the server; rows written per statement."""
    from graphrisk.cli.neo4j_options import open_store

    counts: dict[str, int] = {}
    with open_store(uri, user, database) as store:
        for r in results:
            for statement, rows in r.writeback:
                counts[statement] = store.write(statement, rows, params={"run_id": run_id, "algorithm": r.name})
    return counts


@click.command("scan")
# Kept as text: with --engine spark both may be URIs of a Hadoop filesystem (hdfs://, s3a://, file://).
@click.argument("data_dir", type=click.Path(file_okay=False))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Report folder to write (created if needed; with --engine spark also hdfs://…, s3a://…).",
)
@explicit_neo4j_options
@click.option("--load", "load_first", is_flag=True, help="With --neo4j-uri: load DATA_DIR into Neo4j first.")
@click.option("--strict", is_flag=True, help="Exit 1 when any input row was rejected.")
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Date the analyses look at (active guarantees …); default today.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["high", "medium", "low"]),
    default=None,
    help=f"Exit {EXIT_FLAGS} when flags at this severity or above exist (after writing everything).",
)
@click.option(
    "--since",
    "since",
    type=click.Path(),  # text: with --engine spark it may be a URI (hdfs://…); a missing path is reported below
    default=None,
    help="A previous report folder (or its flags.csv): mark flags new or unchanged and list the resolved ones.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    help="Progress on stderr as text or as one JSON object per line.",
)
@click.option(
    "--engine",
    type=click.Choice(["embedded", "spark"]),
    default="embedded",
    help="spark: the distributed steps on Apache Spark (pip install '.[spark]'; issue 9, milestone 1).",
)
@click.option("--spark-master", default=None, help="With --engine spark: the Spark master URL (default local[2]).")
def scan(
    data_dir: str,
    out_dir: str,
    neo4j_uri: str | None,
    neo4j_user: str,
    database: str | None,
    load_first: bool,
    strict: bool,
    as_of: datetime | None,
    fail_on: str | None,
    since: str | None,
    log_format: str,
    engine: str,
    spark_master: str | None,
) -> None:
    """Scan the portfolio in DATA_DIR and write flags, tables, summary.json and report.html to --out.

    Exit codes: 0 done; 1 an error in the data or the run (or, with --strict, rejected rows); 2 a usage error;
    3 flags at the --fail-on severity.
    """
    if engine != "spark" and any("://" in str(x) for x in (data_dir, out_dir)):
        raise click.UsageError("filesystem URIs (hdfs://, s3a://, file://) are read by --engine spark only.")
    if engine == "spark":  # imported here: the embedded scan must not need pyspark
        from graphrisk.engines.spark.scan import Neo4jTarget, run_cli

        if load_first:
            raise click.UsageError("--load is not available with --engine spark yet: run graphrisk load first.")
        target = None
        if neo4j_uri is not None:
            from graphrisk.cli.neo4j_options import _password

            target = Neo4jTarget(neo4j_uri, neo4j_user or "neo4j", _password(neo4j_uri), database or None)
        code = run_cli(
            data_dir,
            out_dir,
            master=spark_master,
            as_of=as_of,
            neo4j=target,
            fail_on=fail_on,
            strict=strict,
            since=since,
        )
        sys.exit(code)
    log = _Log(log_format)
    try:
        code = _scan(
            Path(data_dir),
            Path(out_dir),
            neo4j_uri,
            neo4j_user,
            database,
            load_first,
            strict,
            as_of,
            fail_on,
            Path(since) if since is not None else None,
            log,
        )
    except GraphriskError as exc:
        if not log.json:
            raise
        log.error(str(exc))
        sys.exit(1)
    if code:
        sys.exit(code)


def _previous_flags(since: Path) -> pd.DataFrame:
    path = since / "flags.csv" if since.is_dir() else since
    if not path.exists():
        raise InputFileError(str(path), "--since found no flags.csv", "point --since at a previous scan's --out folder")
    frame = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    missing = {"entity_id", "flag", "severity"} - set(frame.columns)
    if missing:
        raise InputFileError(
            str(path), f"not a graphrisk flags.csv (missing columns {sorted(missing)})", "give a scan's flags.csv"
        )
    return frame


def _cluster_pictures(graph: EnterpriseGraph, results: tuple[AnalysisResult, ...], flags: pd.DataFrame) -> list[Any]:
    """The top clusters drawn with their shared people, for the report."""
    from graphrisk.report.viz import cluster_view

    clusters = next((r for r in results if r.name == "risk_clusters"), None)
    table = clusters.tables.get("clusters") if clusters is not None else None
    if table is None or not len(table) or "members" not in table:
        return []
    top = table[table["severity"].isin(["high", "medium"])] if "severity" in table else table
    views = []
    for row in top.head(TOP_CLUSTER_PICTURES).to_dict("records"):
        members = str(row["members"]).split(";")
        title = f"{row.get('cluster_id', '')} · {len(members)} firms · score {float(row.get('score', 0.0)):.2f}"
        views.append(cluster_view(graph, members, title=title, flags=flags, notes=[str(row.get("reasons", ""))]))
    return views


def _report_names(graph: EnterpriseGraph, flags: pd.DataFrame, results: tuple[AnalysisResult, ...]) -> dict[str, str]:
    """Names of the entities the report shows beside their ids (the first flags, the limit breaches); persons
    masked. Only those: a portfolio scan flags a million entities, and the report lists a few dozen."""
    shown = set(flags["entity_id"].head(200).astype(str))
    for r in results:
        breaches = r.tables.get("limit_breaches")
        if breaches is not None and "counterparty_id" in breaches:
            shown |= set(breaches["counterparty_id"].head(200).astype(str))
    pos = graph.positions(sorted(shown))
    nodes = [int(p) for p in pos if p >= 0]
    return {
        str(graph.node_ids[v]): (str(graph.nodes["name"].iat[v]) if v < graph.n_enterprises
                                 else mask_personal(str(graph.nodes["name"].iat[v])))
        for v in nodes
    }  # fmt: skip


def _scan(
    data_dir: Path,
    out_dir: Path,
    neo4j_uri: str | None,
    neo4j_user: str,
    database: str | None,
    load_first: bool,
    strict: bool,
    as_of: datetime | None,
    fail_on: str | None,
    since: Path | None,
    log: _Log,
) -> int:
    started = datetime.now(UTC)
    previous = _previous_flags(since) if since is not None else None
    timings: list[tuple[str, float, float]] = []
    if load_first and not neo4j_uri:
        raise click.UsageError("--load needs --neo4j-uri.")

    if neo4j_uri is None or load_first:
        tables, config, secs = read_validated(data_dir, progress=log)
        timings.append(("validate", secs, peak_rss_gb()))
    if neo4j_uri is not None:
        from graphrisk.cli.neo4j_options import open_store
        from graphrisk.config import CONFIG_FILE, load_config

        if not load_first:
            config = load_config(data_dir / CONFIG_FILE)
        with open_store(neo4j_uri, neo4j_user, database) as store:
            if load_first:
                t0 = time.perf_counter()
                store.ensure_schema()
                store.load(tables, progress=log)
                timings.append(("neo4j_load", time.perf_counter() - t0, peak_rss_gb()))
            t0 = time.perf_counter()
            stored = store.read_tables(progress=log)
            timings.append(("neo4j_read", time.perf_counter() - t0, peak_rss_gb()))
        if load_first:
            stored.rejects, stored.warnings, stored.stats = tables.rejects, tables.warnings, tables.stats
        tables = stored

    t0 = time.perf_counter()
    log("building the graph")
    graph = EnterpriseGraph(tables)
    timings.append(("build_graph", time.perf_counter() - t0, peak_rss_gb()))

    day = as_of.date() if as_of else date.today()
    context = AnalysisContext(config=config, as_of=day, data_quality=_data_quality(tables))
    result = run_scan(graph, context, progress=log)
    timings.extend(result.timings)

    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = [
        {"table": k, "file": s.file, "sha256": _sha256(s.file), "rows": s.rows}
        for k, s in tables.stats.items()
        if s.file is not None and Path(s.file).exists()
    ]
    parameters = {
        "data_dir": str(data_dir),
        "as_of": day.isoformat(),
        "strict": strict,
        "source": "neo4j" if neo4j_uri else "embedded",
        "load": load_first,
        "config_file": config.path,
        "thresholds": {r["name"]: r["value"] for r in config.effective()},
    }
    run_id = hashlib.sha256(
        json.dumps([__version__, parameters, inputs], sort_keys=True, default=str).encode()
    ).hexdigest()[:12]
    scores = risk_scores(result.flags, config)
    flags = result.flags
    changes: dict[str, Any] | None = None
    if previous is not None:
        flags, resolved = compare_flags(result.flags, previous)
        counts = flags["change"].value_counts()
        changes = {
            "since": str(since),
            "counts": {"new": int(counts.get("new", 0)), "unchanged": int(counts.get("unchanged", 0)),
                       "resolved": len(resolved)},
            "new": flags[flags["change"] == "new"],
            "resolved": resolved,
        }  # fmt: skip
    if neo4j_uri is not None:
        t_wb = time.perf_counter()
        scan_rows = (
            ("writeback/scan_risk.cypher", flag_rows_for_neo4j(scores)),
            ("writeback/scan_risk_stale.cypher", [{"run": True}]),
        )
        scan_result = AnalysisResult(name="scan", writeback=scan_rows)
        written_back = _write_back(neo4j_uri, neo4j_user, database, (*result.results, scan_result), run_id)
        timings.append(("neo4j_writeback", time.perf_counter() - t_wb, peak_rss_gb()))
        log("wrote back to Neo4j", rows=written_back)
    write_frame(tables.rejects, out_dir / "rejects.csv")
    write_frame(tables.warnings, out_dir / "warnings.csv")
    write_frame(flags, out_dir / "flags.csv")
    write_frame(scores, out_dir / "risk_scores.csv")
    written = ["rejects.csv", "warnings.csv", "flags.csv", "risk_scores.csv"]
    if changes is not None:
        write_frame(changes["resolved"], out_dir / "resolved_flags.csv")
        written.append("resolved_flags.csv")
    for r in result.results:
        for name, frame in r.tables.items():
            write_frame(frame, out_dir / f"{name}.csv")
            written.append(f"{name}.csv")
        for name, document in r.documents.items():
            (out_dir / f"{name}.json").write_text(
                json.dumps(document, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
            )
            written.append(f"{name}.json")
    timings.append(("write", time.perf_counter() - t0, peak_rss_gb()))

    t0 = time.perf_counter()
    headline = {"rejected rows": f"{tables.rejected_rows:,}", "enterprises": f"{graph.n_enterprises:,}"}
    names = _report_names(graph, flags, result.results)
    pictures = _cluster_pictures(graph, result.results, result.flags)
    timings.append(("report_pictures", time.perf_counter() - t0, peak_rss_gb()))
    timing_rows = [{"stage": s, "seconds": round(v, 4), "peak_rss_gb": round(m, 2)} for s, v, m in timings]
    summary = {
        "graphrisk_version": __version__,
        "run_id": run_id,
        "started_at": started.isoformat(timespec="seconds"),
        "parameters": parameters,
        "inputs": inputs,
        "data_quality": {
            **context.data_quality,
            "rejects_by_reason": {f"{t}/{r}": n for (t, r), n in context.data_quality["rejects_by_reason"].items()},
        },
        "graph": graph.summary(),
        "analyses": {r.name: r.summary for r in result.results},
        "flags": result.flag_counts(),
        "flags_by_kind": {
            f"{a}/{f}": int(n)
            for a, f, n in result.flags.groupby(["analysis", "flag"]).size().reset_index().itertuples(index=False)
        },
        "changes": None if changes is None else {"since": changes["since"], **changes["counts"]},
        "fail_on": fail_on,
        "timings": timing_rows,
        "files": sorted([*written, "summary.json", "report.html"]),
    }
    (out_dir / "summary.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
    )
    html = render_report(
        {
            "run_id": run_id,
            "version": __version__,
            "data_dir": str(data_dir),
            "source": parameters["source"],
            "as_of": day.isoformat(),
            "headline": headline,
            "timings": timing_rows,
        },
        result.results,
        flags,
        names,
        pictures=pictures,
        changes=changes,
    )
    (out_dir / "report.html").write_text(html, encoding="utf-8")

    width = max(len(s) for s, _, _ in timings)
    log("stage timings (seconds, peak RSS so far):")
    for s, v, m in timings:
        log(f"  {s:<{width}}  {v:8.3f} s  {m:6.2f} GB", stage=s, seconds=round(v, 4), peak_rss_gb=round(m, 2))
    by_severity = result.flag_counts()
    message = (
        f"wrote {out_dir}: {graph.n_enterprises:,} enterprises, {tables.rejected_rows:,} rejected rows, "
        f"flags high={by_severity['high']} medium={by_severity['medium']} low={by_severity['low']}"
    )
    if changes is not None:
        c = changes["counts"]
        message += f"; since {since}: {c['new']} new, {c['resolved']} resolved"
    click.echo(message)
    if strict and tables.rejected_rows:
        return 1
    if fail_on is not None and any(by_severity[s] for s in severity_at_least(fail_on)):
        log(f"flags at {fail_on} severity or above: exit {EXIT_FLAGS} (--fail-on {fail_on})")
        return EXIT_FLAGS
    return 0


COMMANDS = [scan]
