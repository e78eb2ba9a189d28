"""Commands about the data itself: `validate`, `load`, `schema`, `config`."""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pandas as pd

from graphrisk.cli.neo4j_options import neo4j_options, open_store
from graphrisk.config import CONFIG_FILE, Config, load_config
from graphrisk.errors import ConfigError
from graphrisk.graph import EnterpriseGraph
from graphrisk.schema import render_markdown, schema_as_dict
from graphrisk.tables import Tables
from loaders import load_tables

__all__ = ["COMMANDS", "load_graph", "pseudonym_key", "read_validated", "stats_payload", "write_frame"]

PSEUDONYM_ENV = "GRAPHRISK_PSEUDONYM_KEY"


def pseudonym_key(config: Config) -> bytes:
    """The key for ID-number pseudonyms: environment, then graphrisk.toml, then a per-user key file.

    The key file (created once, readable only by its owner) keeps pseudonyms stable between runs on one
    machine; teams sharing a Neo4j database set GRAPHRISK_PSEUDONYM_KEY so that everyone's pseudonyms agree.
    """
    env = os.environ.get(PSEUDONYM_ENV)
    if env:
        return env.encode("utf-8")
    if config.pseudonym_key:
        return config.pseudonym_key.encode("utf-8")
    home = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "graphrisk"
    path = home / "pseudonym.key"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        click.echo(f"graphrisk: created a pseudonymisation key in {path} (set {PSEUDONYM_ENV} to share one).", err=True)
    return path.read_text().strip().encode("utf-8")


def read_validated(
    data_dir: Path, *, quiet: bool = False, progress: Callable[[str], None] | None = None
) -> tuple[Tables, Config, float]:
    """Load and validate a data folder, with progress on stderr (or to ``progress``); returns the tables, config
    and seconds."""
    config = load_config(data_dir / CONFIG_FILE)
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        if progress is not None:
            progress(msg)
        elif not quiet:
            click.echo(msg, err=True)

    tables = load_tables(data_dir, pseudonym_key=pseudonym_key(config), config=config, progress=say)
    return tables, config, time.perf_counter() - t0


def load_graph(
    data_dir: Path, neo4j_uri: str | None = None, neo4j_user: str = "neo4j", database: str | None = None
) -> tuple[EnterpriseGraph, Config]:
    """The graph from the files (embedded) or, with an explicit ``--neo4j-uri``, read back from Neo4j."""
    if neo4j_uri is None:
        tables, config, _ = read_validated(data_dir, quiet=True)
        return EnterpriseGraph(tables), config
    config = load_config(data_dir / CONFIG_FILE)
    with open_store(neo4j_uri, neo4j_user, database) as store:
        tables = store.read_tables()
    return EnterpriseGraph(tables), config


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """CSV for people and pipelines: UTF-8 with a BOM so that spreadsheet programs read Chinese right."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")


def stats_payload(tables: Tables) -> dict[str, dict[str, Any]]:
    """Row counts of every table that had a file, as plain data (validate output, summary.json)."""
    return {name: s.as_dict() for name, s in tables.stats.items() if s.file is not None}


@click.command("validate")
@click.argument("data_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--rejects",
    "rejects_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write every rejected row (file, line, column, value, reason, message) to this CSV.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def validate(data_dir: Path, rejects_file: Path | None, fmt: str) -> None:
    """Check every row of DATA_DIR against the schema; exit 1 when any row is rejected."""
    tables, _config, _secs = read_validated(data_dir, quiet=fmt == "json")
    if rejects_file is not None:
        write_frame(tables.rejects, rejects_file)
    stats = stats_payload(tables)
    if fmt == "json":
        payload = {
            "tables": {k: {f: v[f] for f in ("rows", "accepted", "rejected", "warnings")} for k, v in stats.items()},
            "rejects_file": str(rejects_file) if rejects_file else None,
        }
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        frame = pd.DataFrame(
            [
                {"table": k, **{f: v[f] for f in ("rows", "accepted", "rejected", "warnings", "duplicates_merged")}}
                for k, v in stats.items()
            ]
        )
        click.echo(frame.to_string(index=False))
        if len(tables.rejects):
            shown = tables.rejects.head(30)
            click.echo(
                f"\n{len(tables.rejects):,} rejected cells"
                + ("" if rejects_file else " (write them all with --rejects FILE)")
                + ":"
            )
            click.echo(shown[["file", "line", "column", "value", "reason", "message"]].to_string(index=False))
        if len(tables.warnings):
            click.echo(f"\n{len(tables.warnings):,} warnings:")
            click.echo(tables.warnings.head(30)[["file", "line", "column", "reason", "message"]].to_string(index=False))
    sys.exit(1 if tables.rejected_rows else 0)


@click.command("load")
@click.argument("data_dir", type=click.Path(path_type=Path, file_okay=False))
@neo4j_options
@click.option(
    "--batch-size", type=click.IntRange(100, 200_000), default=5_000, show_default=True, help="Rows per transaction."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 16),
    default=2,
    show_default=True,
    help="Concurrent write transactions (deadlocks between them are retried).",
)
@click.option("--strict", is_flag=True, help="Load nothing and exit 1 when any row is rejected.")
def load(
    data_dir: Path,
    neo4j_uri: str | None,
    neo4j_user: str,
    database: str | None,
    batch_size: int,
    workers: int,
    strict: bool,
) -> None:
    """Validate DATA_DIR and load it into Neo4j (idempotent: loading twice changes nothing)."""
    if not neo4j_uri:
        raise click.UsageError("load needs a Neo4j server: --neo4j-uri URI or NEO4J_URI.")
    tables, _config, _secs = read_validated(data_dir)
    if tables.rejected_rows:
        click.echo(
            f"{tables.rejected_rows:,} rows rejected; run `graphrisk validate {data_dir} --rejects "
            "rejects.csv` to see them.",
            err=True,
        )
        if strict:
            sys.exit(1)
    with open_store(neo4j_uri, neo4j_user, database) as store:
        store.ensure_schema()
        summary = store.load(tables, batch_size=batch_size, workers=workers, progress=lambda m: click.echo(m, err=True))
    click.echo(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2))


@click.command("schema")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
def schema(fmt: str) -> None:
    """Print the input tables and columns graphrisk understands."""
    if fmt == "json":
        click.echo(json.dumps(schema_as_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(render_markdown())


@click.command("config")
@click.argument("data_dir", type=click.Path(path_type=Path, file_okay=False), required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def config(data_dir: Path | None, fmt: str) -> None:
    """Print the effective thresholds (defaults, or DATA_DIR/graphrisk.toml overrides) with their sources."""
    cfg = load_config(data_dir / CONFIG_FILE) if data_dir else Config()
    if data_dir is not None and not data_dir.is_dir():
        raise ConfigError(f"{data_dir}: no such folder.")
    rows = cfg.effective()
    if fmt == "json":
        click.echo(json.dumps({"config_file": cfg.path, "thresholds": rows}, ensure_ascii=False, indent=2))
    else:
        click.echo(f"config file: {cfg.path or '(none, defaults)'}")
        for r in rows:
            mark = " (overridden)" if r["overridden"] else ""
            click.echo(f"{r['name']} = {r['value']:g}{mark}\n    {r['meaning']}\n    source: {r['source']}")


COMMANDS = [validate, load, schema, config]
