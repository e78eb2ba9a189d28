"""`graphrisk links`: a company's suspected hidden associations (疑似关联), each with its score and reasons."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pandas as pd

from graphrisk.analysis.hidden_links import hidden_links
from graphrisk.analysis.ownership import actual_controllers
from graphrisk.cli.data import load_graph
from graphrisk.cli.neo4j_options import explicit_neo4j_options
from graphrisk.errors import UnknownEntityError

__all__ = ["COMMANDS"]


@click.command("links")
@click.argument("data_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--company", required=True, help="Company id (the USCC for firms).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@explicit_neo4j_options
def links(data_dir: Path, company: str, fmt: str, neo4j_uri: str | None, neo4j_user: str, database: str | None) -> None:
    """Suspected links of --company: other firms sharing people, contacts, a controller or a look-alike name."""
    graph, config = load_graph(data_dir, neo4j_uri, neo4j_user, database)
    if graph.node(company) >= graph.n_enterprises:
        raise UnknownEntityError(f"'{company}' is a person, not an enterprise. Fix: give a company id.")
    controllers = actual_controllers(
        graph,
        control_share=config.threshold("control_share"),
        relative_share=config.threshold("relative_control_share"),
        relative_lead=config.threshold("relative_control_lead"),
    )
    found = hidden_links(graph, config=config, controllers=controllers).links
    mine = found[(found["a_id"] == company) | (found["b_id"] == company)]
    other = mine["b_id"].where(mine["a_id"] == company, mine["a_id"])
    names = pd.Series(
        graph.nodes["name"].to_numpy()[: graph.n_enterprises], index=graph.node_ids[: graph.n_enterprises]
    )
    table = pd.DataFrame(
        {
            "other_id": other.to_numpy(dtype=object),
            "other_name": names.reindex(other.to_numpy(dtype=object)).to_numpy(dtype=object),
            "score": mine["score"].to_numpy(dtype="float64"),
            "signals": mine["signals"].to_numpy(dtype=object),
            "reasons": mine["reasons"].to_numpy(dtype=object),
        }
    )
    threshold = config.threshold("hidden_links_threshold")
    if fmt == "json":
        payload = {"company_id": company, "threshold": threshold, "links": table.to_dict("records")}
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    click.echo(f"suspected links of {company} (noisy-OR score ≥ {threshold:g})")
    if table.empty:
        click.echo("(no suspected links)")
        return
    with pd.option_context("display.max_colwidth", 160, "display.width", 250):
        click.echo(table.to_string(index=False))


COMMANDS = [links]
