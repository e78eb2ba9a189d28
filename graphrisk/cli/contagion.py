"""`graphrisk stress`: default one or more firms (and optionally shock a sector or region) and see who is hit,
the new defaults, the bank's loss and the contagion paths that carried it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from graphrisk.analysis import AnalysisContext
from graphrisk.analysis.contagion import StressResult, stress_test
from graphrisk.cli.data import load_graph
from graphrisk.cli.neo4j_options import explicit_neo4j_options
from graphrisk.errors import UnknownEntityError
from graphrisk.units import format_cny

__all__ = ["COMMANDS"]


def _where(value: str | None) -> dict[str, str]:
    if value is None:
        return {}
    column, sep, wanted = value.partition("=")
    if not sep or column not in ("industry", "region") or not wanted:
        raise click.BadParameter("use industry=VALUE or region=VALUE", param_hint="--where")
    return {column: wanted}


def _print(result: StressResult, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2, default=str))
        return
    shocked = f", {len(result.shocked)} firms shocked by {result.shock:.0%}" if result.shocked else ""
    click.echo(
        f"stress ({result.model}): default of {', '.join(result.seeds) or 'none'}{shocked}; "
        f"{len(result.hit) - len(result.seeds)} other firms hit, {result.new_defaults} new defaults, "
        f"{result.rounds} rounds; bank loss {format_cny(result.bank_loss)}; DebtRank {result.debtrank:.4f}"
    )
    shown = result.hit.head(50)  # the full list is in --format json
    click.echo(shown.to_string(index=False, float_format=lambda x: f"{x:,.4g}") if len(shown) else "nobody is hit")
    if len(result.hit) > len(shown):
        click.echo(f"… {len(result.hit) - len(shown)} more firms hit (all of them with --format json)")
    if len(result.paths):
        click.echo("\npaths that carried most of the loss:")
        click.echo(result.paths.to_string(index=False, float_format=lambda x: f"{x:,.0f}"))


@click.command("stress")
@click.argument("data_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--default", "defaults", required=True, help="Enterprise id(s) that default, comma-separated.")
@click.option("--shock", type=click.FloatRange(0, 1), default=0.0, show_default=True, help="Equity share lost.")
@click.option("--where", "where", default=None, help="Whom --shock hits: industry=VALUE or region=VALUE.")
@click.option("--model", type=click.Choice(["debtrank", "linear", "cascade"]), default="debtrank", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Guarantees active on.")
@explicit_neo4j_options
def stress(
    data_dir: Path,
    defaults: str,
    shock: float,
    where: str | None,
    model: str,
    fmt: str,
    as_of: datetime | None,
    neo4j_uri: str | None,
    neo4j_user: str,
    database: str | None,
) -> None:
    """Who is hit when --default firms fail: final distress, new defaults, the bank's loss and the paths."""
    selection = _where(where)
    if shock > 0 and not selection:
        raise click.BadParameter("--shock needs --where industry=… or region=…", param_hint="--shock")
    graph, config = load_graph(data_dir, neo4j_uri, neo4j_user, database)
    context = AnalysisContext(config=config, as_of=as_of.date() if as_of else datetime.now().date())
    ids = [i.strip() for i in defaults.split(",") if i.strip()]
    try:
        result = stress_test(graph, ids, shock=shock, where=selection, model=model, context=context)  # type: ignore[arg-type]
    except (UnknownEntityError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    _print(result, fmt)


COMMANDS = (stress,)
