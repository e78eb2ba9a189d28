"""The investigator's views: `graphrisk chain` (the guarantee tree around a firm) and `graphrisk path` (the
shortest relationship path between two entities). Both run embedded, or on Neo4j with --neo4j-uri."""

from __future__ import annotations

import json
from datetime import date, datetime
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import pandas as pd

from graphrisk.analysis.guarantees import (
    PATH_MAX_HOPS,
    ChainView,
    RelationPath,
    chain_view,
    guarantee_chain,
    path_hops,
    relation_path,
    shortest_path_nodes,
)
from graphrisk.cli.neo4j_options import explicit_neo4j_options, open_store
from graphrisk.errors import UnknownEntityError
from graphrisk.schema import SCHEMA

if TYPE_CHECKING:
    from graphrisk.store.neo4j import Neo4jStore

__all__ = ["COMMANDS", "chain_on_store", "path_on_store", "writeback_guarantee_patterns"]

CHAIN_MAX_DEPTH = 8  # the fixed upper bound of cypher/queries/guarantee_chain_*.cypher
_RELATION_OF_TYPE = {t.rel_type: t.relation for t in SCHEMA.relation_tables}


def _graph(data_dir: Path) -> Any:
    from graphrisk.cli.data import load_graph

    return load_graph(data_dir)[0]


def chain_on_store(store: Neo4jStore, company: str, *, depth: int, direction: str, as_of: date) -> ChainView:
    """The chain view read from Neo4j (``cypher/queries/guarantee_chain_*.cypher``)."""
    if not store.query("queries/guarantee_chain_nodes.cypher", ids=[company]):
        raise UnknownEntityError(f"'{company}' is not an enterprise in the Neo4j database. Fix: check the id.")
    rows: list[dict[str, Any]] = []
    for side in ("up", "down") if direction == "both" else (direction,):
        rows += store.query(f"queries/guarantee_chain_{side}.cypher", company=company, depth=depth, as_of=as_of)
    edges = pd.DataFrame(rows)
    ids = sorted({company, *(r["guarantor_id"] for r in rows), *(r["borrower_id"] for r in rows)})
    attrs = {r["id"]: r for r in store.query("queries/guarantee_chain_nodes.cypher", ids=ids)}
    return chain_view(company, edges, attrs, depth=depth, direction=direction, as_of=as_of)


def path_on_store(store: Neo4jStore, source: str, target: str) -> RelationPath:
    """The shortest relationship path read from Neo4j; ties go to the smallest ids in order, as embedded."""
    known = {r["id"] for r in store.query("queries/path_entities.cypher", ids=[source, target])}
    for i in (source, target):
        if i not in known:
            raise UnknownEntityError(f"'{i}' is not an enterprise or person in the Neo4j database. Fix: check the id.")
    if source == target:
        return relation_path(source, target, [source], [])
    paths = [list(r["ids"]) for r in store.query("queries/path_shortest.cypher", source=source, target=target)]
    if not paths:
        return relation_path(source, target, [], [])
    nodes = min(paths)
    pairs = [[a, b] for a, b in pairwise(nodes)]
    found = store.query("queries/path_hops.cypher", pairs=pairs)
    hops: list[list[tuple[str, str, str, dict[str, Any]]]] = [[] for _ in pairs]
    for r in found:
        k = pairs.index([r["a"], r["b"]])
        props = {k2: v for k2, v in dict(r["props"]).items() if k2 != "key"}
        hops[k].append((_RELATION_OF_TYPE[r["type"]], r["src"], r["dst"], props))
    return relation_path(source, target, nodes, hops)


def writeback_guarantee_patterns(store: Neo4jStore, rows: list[dict[str, Any]], *, run_id: str, as_of: date) -> int:
    """Write :func:`graphrisk.analysis.guarantees.writeback_rows` to Neo4j (for the scan's write-back)."""
    dated = [{**r, "as_of": as_of} for r in rows]
    return store.write(
        "writeback/guarantee_patterns.cypher", dated, params={"run_id": run_id, "algorithm": "guarantees"}
    )


def _as_of(value: datetime | None) -> date:
    return value.date() if value else date.today()


def _print_chain(view: ChainView, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(view.to_dict(), ensure_ascii=False, indent=2))
        return
    click.echo(
        f"guarantee chain of {view.company} on {view.as_of.isoformat()} (depth {view.depth}, {view.direction}; "
        "up = borrowers whose default reaches it, down = guarantors its default calls)"
    )
    if len(view.edges):
        click.echo(view.edges.to_string(index=False))
    else:
        click.echo("no active guarantees within reach")
    click.echo("\nfirms:")
    click.echo(view.nodes.to_string(index=False))
    click.echo("\npatterns:" if view.patterns else "\npatterns: none visible in this chain")
    for p in view.patterns:
        click.echo(f"  {p['pattern']}: {p['reason']}")


@click.command("chain")
@click.argument("data_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--company", required=True, help="Enterprise id (the USCC where there is one).")
@click.option(
    "--depth", type=click.IntRange(1, CHAIN_MAX_DEPTH), default=4, show_default=True, help="Hops from the firm."
)
@click.option(
    "--direction",
    type=click.Choice(["up", "down", "both"]),
    default="both",
    show_default=True,
    help="up: borrowers whose default reaches the firm; down: guarantors its default calls.",
)
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Only guarantees in force on this date count (default today).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@explicit_neo4j_options
def chain(
    data_dir: Path,
    company: str,
    depth: int,
    direction: str,
    as_of: datetime | None,
    fmt: str,
    neo4j_uri: str | None,
    neo4j_user: str,
    database: str | None,
) -> None:
    """The guarantee tree around --company in DATA_DIR: amounts, dates, statuses, PDs and its patterns."""
    day = _as_of(as_of)
    if neo4j_uri:
        with open_store(neo4j_uri, neo4j_user, database) as store:
            view = chain_on_store(store, company, depth=depth, direction=direction, as_of=day)
    else:
        graph = _graph(data_dir)
        graph.node(company)  # a clear error for an unknown id
        view = guarantee_chain(graph, company, depth=depth, direction=direction, as_of=day)
    _print_chain(view, fmt)


@click.command("path")
@click.argument("data_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--from", "source", required=True, help="Entity id (enterprise or person).")
@click.option("--to", "target", required=True, help="Entity id (enterprise or person).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@explicit_neo4j_options
def path(
    data_dir: Path, source: str, target: str, fmt: str, neo4j_uri: str | None, neo4j_user: str, database: str | None
) -> None:
    """The shortest relationship path between two entities over every relation type (两家企业间关联关系排查)."""
    if neo4j_uri:
        with open_store(neo4j_uri, neo4j_user, database) as store:
            result = path_on_store(store, source, target)
    else:
        graph = _graph(data_dir)
        nodes = shortest_path_nodes(graph, source, target, max_hops=PATH_MAX_HOPS)
        result = relation_path(source, target, nodes, path_hops(graph, nodes))
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    if not result.nodes:
        click.echo(f"no path between {source} and {target} within {PATH_MAX_HOPS} hops")
        return
    click.echo(f"{source} → {target}: {result.length} hop(s)")
    for k, (a, b, labels) in enumerate(zip(result.nodes, result.nodes[1:], result.hops, strict=False), start=1):
        click.echo(f"  {k}. {a} — {b}: " + "; ".join(labels))


COMMANDS = [chain, path]
