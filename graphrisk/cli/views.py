"""`graphrisk viz` (an offline interactive picture of an entity's neighbourhood) and `graphrisk explain` (a
one-page dossier). Both run embedded, or on Neo4j with --neo4j-uri (the graph is read back from the server)."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path

import click
import pandas as pd

from graphrisk.cli.data import load_graph
from graphrisk.cli.neo4j_options import explicit_neo4j_options
from graphrisk.config import Config
from graphrisk.graph import RELATIONS, EnterpriseGraph

__all__ = ["COMMANDS"]


def _graph(
    data_dir: Path, neo4j_uri: str | None, neo4j_user: str, database: str | None
) -> tuple[EnterpriseGraph, Config]:
    return load_graph(data_dir, neo4j_uri, neo4j_user, database)


def _relations(value: str) -> list[str]:
    rels = [r.strip() for r in value.split(",") if r.strip()]
    unknown = [r for r in rels if r not in RELATIONS]
    if unknown or not rels:
        raise click.BadParameter(f"unknown relation(s) {', '.join(unknown) or '(none)'}; known: {', '.join(RELATIONS)}")
    return rels


def _day(value: datetime | None) -> date:
    return value.date() if value else date.today()


def _default_out(prefix: str, entity: str) -> Path:
    # Ids are data too: only safe characters go into a file name.
    return Path(f"{prefix}-{re.sub(r'[^0-9A-Za-z_.-]', '_', entity)[:80]}.html")


def _read_flags(path: Path | None) -> pd.DataFrame | None:
    if path is None:
        return None
    frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    missing = {"entity_id", "flag", "severity", "reason"} - set(frame.columns)
    if missing:
        raise click.BadParameter(f"{path} lacks the column(s) {', '.join(sorted(missing))}: give a scan's flags.csv")
    return frame


def _write(text: str, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}", err=True)


_AS_OF = click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Only guarantees in force on this date count (default today).",
)
_SHOW_NAMES = click.option("--show-names", is_flag=True, help="Show persons' names unmasked (default 张*三).")


@click.command("viz")
@click.argument("data_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--entity", default=None, help="Enterprise or person id at the centre of the picture.")
@click.option("--hops", type=click.IntRange(1, 6), default=2, show_default=True, help="Hops from the entity.")
@click.option("--relations", default=",".join(RELATIONS), show_default=True, help="Comma-separated relations to draw.")
@click.option(
    "--path",
    "path_ends",
    nargs=2,
    default=None,
    metavar="A B",
    help="Draw the shortest path between two entities (all given relations, read undirected).",
)
@click.option(
    "--max-neighbours",
    type=click.IntRange(1, 10_000),
    default=25,
    show_default=True,
    help="At most this many new neighbours per node; the rest become one '… and K more' node.",
)
@click.option(
    "--max-nodes",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="At most this many entities in the picture (the rest are counted in '… and K more' nodes).",
)
@click.option(
    "--flags",
    "flags_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Colour by a scan's flags.csv instead of computing flags on the neighbourhood.",
)
@_SHOW_NAMES
@_AS_OF
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="HTML file to write (default viz-<entity>.html).",
)
@explicit_neo4j_options
def viz(
    data_dir: Path,
    entity: str | None,
    hops: int,
    relations: str,
    path_ends: tuple[str, str] | None,
    max_neighbours: int,
    max_nodes: int,
    flags_file: Path | None,
    show_names: bool,
    as_of: datetime | None,
    out: Path | None,
    neo4j_uri: str | None,
    neo4j_user: str,
    database: str | None,
) -> None:
    """An offline interactive picture (one HTML file) of --entity's neighbourhood, or of --path A B."""
    from graphrisk.report.viz import ego_view, path_view, render_view_html

    if entity is None and not path_ends:
        raise click.UsageError("give --entity ID or --path A B")
    rels = _relations(relations)
    graph, config = _graph(data_dir, neo4j_uri, neo4j_user, database)
    flags = _read_flags(flags_file)
    day = _day(as_of)
    if path_ends:
        view = path_view(
            graph,
            path_ends[0],
            path_ends[1],
            relations=rels,
            show_names=show_names,
            as_of=day,
            flags=flags,
            config=config,
        )
        target = out or _default_out("path", f"{path_ends[0]}-{path_ends[1]}")
    else:
        assert entity is not None
        view = ego_view(
            graph,
            entity,
            hops=hops,
            relations=rels,
            max_neighbours=max_neighbours,
            max_nodes=max_nodes,
            show_names=show_names,
            as_of=day,
            flags=flags,
            config=config,
        )
        target = out or _default_out("viz", entity)
    _write(render_view_html(view), target)
    click.echo(json.dumps({"out": str(target), "nodes": len(view.nodes), "edges": len(view.edges)}))


@click.command("explain")
@click.argument("data_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--entity", required=True, help="Enterprise or person id.")
@click.option("--format", "fmt", type=click.Choice(["html", "json"]), default="html", show_default=True)
@click.option("--out", default=None, help="File to write (default dossier-<entity>.html; JSON to stdout, or '-').")
@_SHOW_NAMES
@_AS_OF
@click.option("--hops", type=click.IntRange(1, 6), default=2, show_default=True, help="Hops of the embedded picture.")
@explicit_neo4j_options
def explain(
    data_dir: Path,
    entity: str,
    fmt: str,
    out: str | None,
    show_names: bool,
    as_of: datetime | None,
    hops: int,
    neo4j_uri: str | None,
    neo4j_user: str,
    database: str | None,
) -> None:
    """A one-page dossier on --entity: identity, exposure, owners, controller, guarantees, flags, the picture."""
    from graphrisk.report.dossier import build_dossier

    graph, config = _graph(data_dir, neo4j_uri, neo4j_user, database)
    day = _day(as_of)
    dossier = build_dossier(graph, entity, as_of=day, config=config, show_names=show_names)
    if fmt == "json":
        text = json.dumps(dossier.to_dict(), ensure_ascii=False, indent=2, default=str)
        if out is None or out == "-":
            click.echo(text)
        else:
            _write(text + "\n", Path(out))
        return
    from graphrisk.report.viz import ego_view, render_dossier_html

    view = ego_view(graph, entity, hops=hops, show_names=show_names, as_of=day, config=config)
    page = render_dossier_html(dossier, view)
    if out == "-":
        click.echo(page, nl=False)
    else:
        _write(page, Path(out) if out else _default_out("dossier", entity))


COMMANDS = [viz, explain]
