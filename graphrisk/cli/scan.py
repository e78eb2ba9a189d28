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

from graphrisk import __version__
from graphrisk.analysis import AnalysisContext, AnalysisResult
from graphrisk.cli.data import read_validated, stats_payload, write_frame
from graphrisk.cli.neo4j_options import explicit_neo4j_options
from graphrisk.graph import EnterpriseGraph
from graphrisk.privacy import mask_personal
from graphrisk.report.html import render_report
from graphrisk.scan import run_scan
from graphrisk.tables import Tables

__all__ = ["COMMANDS"]


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
@click.argument("data_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Report folder to write (created if needed).",
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
def scan(
    data_dir: Path,
    out_dir: Path,
    neo4j_uri: str | None,
    neo4j_user: str,
    database: str | None,
    load_first: bool,
    strict: bool,
    as_of: datetime | None,
) -> None:
    """Scan the portfolio in DATA_DIR and write flags, tables, summary.json and report.html to --out."""
    started = datetime.now(UTC)
    timings: list[tuple[str, float]] = []
    if load_first and not neo4j_uri:
        raise click.UsageError("--load needs --neo4j-uri.")

    if neo4j_uri is None or load_first:
        tables, config, secs = read_validated(data_dir)
        timings.append(("validate", secs))
    if neo4j_uri is not None:
        from graphrisk.cli.neo4j_options import open_store
        from graphrisk.config import CONFIG_FILE, load_config

        if not load_first:
            config = load_config(data_dir / CONFIG_FILE)
        with open_store(neo4j_uri, neo4j_user, database) as store:
            if load_first:
                t0 = time.perf_counter()
                store.ensure_schema()
                store.load(tables, progress=lambda m: click.echo(m, err=True))
                timings.append(("neo4j_load", time.perf_counter() - t0))
            t0 = time.perf_counter()
            stored = store.read_tables(progress=lambda m: click.echo(m, err=True))
            timings.append(("neo4j_read", time.perf_counter() - t0))
        if load_first:
            stored.rejects, stored.warnings, stored.stats = tables.rejects, tables.warnings, tables.stats
        tables = stored

    t0 = time.perf_counter()
    click.echo("building the graph", err=True)
    graph = EnterpriseGraph(tables)
    timings.append(("build_graph", time.perf_counter() - t0))

    day = as_of.date() if as_of else date.today()
    context = AnalysisContext(config=config, as_of=day, data_quality=_data_quality(tables))
    result = run_scan(graph, context, progress=lambda m: click.echo(m, err=True))
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
    if neo4j_uri is not None:
        t_wb = time.perf_counter()
        written_back = _write_back(neo4j_uri, neo4j_user, database, result.results, run_id)
        timings.append(("neo4j_writeback", time.perf_counter() - t_wb))
        click.echo(f"wrote back to Neo4j: {written_back}", err=True)
    write_frame(tables.rejects, out_dir / "rejects.csv")
    write_frame(tables.warnings, out_dir / "warnings.csv")
    write_frame(result.flags, out_dir / "flags.csv")
    written = ["rejects.csv", "warnings.csv", "flags.csv"]
    for r in result.results:
        for name, frame in r.tables.items():
            write_frame(frame, out_dir / f"{name}.csv")
            written.append(f"{name}.csv")
        for name, document in r.documents.items():
            (out_dir / f"{name}.json").write_text(
                json.dumps(document, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
            )
            written.append(f"{name}.json")
    timings.append(("write", time.perf_counter() - t0))
    timing_rows = [{"stage": s, "seconds": round(v, 4)} for s, v in timings]
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
        "timings": timing_rows,
        "files": sorted([*written, "summary.json", "report.html"]),
    }
    (out_dir / "summary.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
    )
    headline = {"rejected rows": f"{tables.rejected_rows:,}", "enterprises": f"{graph.n_enterprises:,}"}
    flagged = set(result.flags["entity_id"])
    names = {
        str(i): (str(n) if kind == "enterprise" else mask_personal(str(n)))
        for i, n, kind in graph.nodes[["id", "name", "kind"]].itertuples(index=False)
        if i in flagged
    }
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
        result.flags,
        names,
    )
    (out_dir / "report.html").write_text(html, encoding="utf-8")

    width = max(len(s) for s, _ in timings)
    click.echo("stage timings:", err=True)
    for s, v in timings:
        click.echo(f"  {s:<{width}}  {v:8.3f} s", err=True)
    counts = result.flag_counts()
    click.echo(
        f"wrote {out_dir}: {graph.n_enterprises:,} enterprises, {tables.rejected_rows:,} rejected rows, "
        f"flags high={counts['high']} medium={counts['medium']} low={counts['low']}"
    )
    if strict and tables.rejected_rows:
        sys.exit(1)


COMMANDS = [scan]
