"""`graphrisk owners`, `graphrisk controller` and `graphrisk import bods|gleif`: who owns and controls a company."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pandas as pd

from graphrisk.analysis.ownership import PROFILES, actual_controllers, owners_of
from graphrisk.cli.data import (
    load_graph,
    write_frame,
)
from graphrisk.cli.neo4j_options import explicit_neo4j_options
from graphrisk.config import Config
from graphrisk.errors import UnknownEntityError
from graphrisk.graph import EnterpriseGraph

__all__ = ["COMMANDS"]


def _graph(
    data_dir: Path, neo4j_uri: str | None, neo4j_user: str, database: str | None
) -> tuple[EnterpriseGraph, Config]:
    return load_graph(data_dir, neo4j_uri, neo4j_user, database)


def _enterprise(graph: EnterpriseGraph, company: str) -> None:
    if graph.node(company) >= graph.n_enterprises:
        raise UnknownEntityError(f"'{company}' is a person, not an enterprise. Fix: give a company id.")


@click.command("owners")
@click.argument("data_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--company", required=True, help="Company id (the USCC for firms).")
@click.option("--profile", type=click.Choice(sorted(PROFILES)), default="cn-2024", show_default=True)
@click.option(
    "--max-depth", type=int, default=None, help="Depth bound of simple paths (default: simple_path_depth, 10)."
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@explicit_neo4j_options
def owners(
    data_dir: Path,
    company: str,
    profile: str,
    max_depth: int | None,
    fmt: str,
    neo4j_uri: str | None,
    neo4j_user: str,
    database: str | None,
) -> None:
    """Every upstream holder of --company: ultimate, integrated and simple-path shares, paths, beneficial owners."""
    graph, config = _graph(data_dir, neo4j_uri, neo4j_user, database)
    _enterprise(graph, company)
    depth = max_depth if max_depth is not None else int(config.threshold("simple_path_depth"))
    rows, notes = owners_of(graph, company, profile=profile, max_depth=depth)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    frame = pd.DataFrame(
        [
            {
                **{k: v for k, v in r.items() if k != "paths"},
                "paths": len(r["paths"]),
                "example_path": ">".join([r["paths"][0][0]["from"], *(h["to"] for h in r["paths"][0])])
                if r["paths"]
                else "",
            }
            for r in rows
        ]
    )
    click.echo(f"owners of {company} (profile {profile}; conventions: ultimate, integrated, simple_paths ≤ {depth})")
    click.echo(frame.to_string(index=False) if len(frame) else "(no holders in the data)")


@click.command("controller")
@click.argument("data_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--company", required=True, help="Company id (the USCC for firms).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@explicit_neo4j_options
def controller(
    data_dir: Path, company: str, fmt: str, neo4j_uri: str | None, neo4j_user: str, database: str | None
) -> None:
    """The actual controller (实际控制人) of --company, the rule that found it, its control share and path."""
    graph, config = _graph(data_dir, neo4j_uri, neo4j_user, database)
    _enterprise(graph, company)
    table = actual_controllers(
        graph,
        control_share=config.threshold("control_share"),
        relative_share=config.threshold("relative_control_share"),
        relative_lead=config.threshold("relative_control_lead"),
    )
    row = table[table["company_id"] == company].iloc[0]
    record: dict[str, Any] = {
        "company_id": company,
        "controller_id": row["controller_id"],
        "controller_kind": row["controller_kind"],
        "rule": row["rule"],
        "control_share": None if pd.isna(row["control_share"]) else float(row["control_share"]),
        "path": row["path"],
    }
    if fmt == "json":
        click.echo(json.dumps(record, ensure_ascii=False, indent=2))
    else:
        width = max(len(k) for k in record)
        for k, v in record.items():
            click.echo(f"{k:<{width}}  {'' if v is None else v}")


@click.group("import")
def import_group() -> None:
    """Turn a standard ownership format into graphrisk tables (CSV) that validate, load and scan accept."""


def _write_tables(frames: dict[str, pd.DataFrame], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        write_frame(frame, out_dir / f"{name}.csv")
        click.echo(f"{name}.csv: {len(frame):,} rows", err=True)
    click.echo(json.dumps({name: len(f) for name, f in frames.items()}, ensure_ascii=False))


@import_group.command("bods")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
def import_bods(files: tuple[Path, ...], out_dir: Path) -> None:
    """BODS v0.4 JSON statements (FILE...) → enterprises, persons, shareholdings, officers in OUT_DIR."""
    from loaders.bods import read_bods

    _write_tables(read_bods(files).frames(), out_dir)


@import_group.command("gleif")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
def import_gleif(files: tuple[Path, ...], out_dir: Path) -> None:
    """GLEIF Level 1 (LEI-CDF) and Level 2 (RR-CDF, reporting exceptions) XML → enterprises, shareholdings."""
    from loaders.gleif import read_gleif

    _write_tables(read_gleif(files).frames(), out_dir)


COMMANDS = [owners, controller, import_group]
