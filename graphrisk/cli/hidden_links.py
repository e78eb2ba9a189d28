"""`graphrisk links`: a company's suspected hidden associations (疑似关联), each with its score and reasons;
with ``--shared``, the addresses, phones and emails it shares, read from the reified nodes in Neo4j."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pandas as pd

from graphrisk.analysis.hidden_links import exclusivity, hidden_links
from graphrisk.analysis.ownership import actual_controllers
from graphrisk.cli.data import load_graph
from graphrisk.cli.neo4j_options import explicit_neo4j_options, open_store
from graphrisk.config import CONFIG_FILE, load_config
from graphrisk.errors import UnknownEntityError
from graphrisk.privacy import mask_personal

__all__ = ["COMMANDS"]

# Other holders listed per identifier: a hub address can have hundreds, and its count already tells the story.
MAX_OTHERS = 50


@click.command("links")
@click.argument("data_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--company", required=True, help="Company id (the USCC for firms).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option(
    "--shared",
    is_flag=True,
    help="Instead of suspected links: the company's addresses, phones and emails that other entities share, with "
    "how many hold each, from the Address/Phone/Email nodes in Neo4j (needs --neo4j-uri; `graphrisk load` "
    "writes them).",
)
@explicit_neo4j_options
def links(
    data_dir: Path,
    company: str,
    fmt: str,
    shared: bool,
    neo4j_uri: str | None,
    neo4j_user: str,
    database: str | None,
) -> None:
    """Suspected links of --company: other firms sharing people, contacts, a controller or a look-alike name.

    With --shared (Neo4j only): the company's addresses, phones and emails that other firms or persons share, with
    the number of holders of each; persons' names masked.
    """
    if shared:
        _shared(data_dir, company, fmt, neo4j_uri, neo4j_user, database)
        return
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


def _shared(
    data_dir: Path, company: str, fmt: str, neo4j_uri: str | None, neo4j_user: str, database: str | None
) -> None:
    """``links --shared``: one line per (identifier, other holder); persons' names masked."""
    if not neo4j_uri:
        raise click.UsageError(
            "--shared reads the reified Address, Phone and Email nodes in Neo4j: give --neo4j-uri (and load "
            "DATA_DIR first with `graphrisk load`)."
        )
    cap = load_config(data_dir / CONFIG_FILE).threshold("hidden_links_exclusivity_cap")
    with open_store(neo4j_uri, neo4j_user, database) as store:
        found = store.query("queries/shared_identifiers.cypher", company_id=company, max_others=MAX_OTHERS)
    if not found:
        raise UnknownEntityError(f"no enterprise '{company}' in Neo4j. Fix: give a company id that was loaded.")
    identifiers: list[dict[str, Any]] = []
    for row in found:
        if row["kind"] is None:  # the company holds no shared identifier
            continue
        others = [
            {**o, "name": mask_personal(o["name"]) if o["kind"] == "person" and o["name"] else o["name"]}
            for o in row["others"]
        ]
        identifiers.append(
            {
                "kind": row["kind"],
                "key": row["key"],
                "text": row["text"],
                "holders": row["holders"],
                "enterprises": row["enterprises"],
                "persons": row["persons"],
                # The weight hidden-link scoring gives a value shared by this many firms (0 above the cap): a hub
                # is visible as a large count and a zero here.
                "exclusivity": round(float(exclusivity(int(row["enterprises"]), cap)), 3),
                "others": others,
                "others_shown": len(others),
            }
        )
    if fmt == "json":
        payload = {"company_id": company, "exclusivity_cap": cap, "identifiers": identifiers}
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    click.echo(f"shared identifiers of {company} (Neo4j; holders count the company)")
    if not identifiers:
        click.echo("(no address, phone or email shared with another entity)")
        return
    lines = [
        {
            "kind": i["kind"],
            "identifier": i["key"],
            "holders": i["holders"],
            "firms": i["enterprises"],
            "persons": i["persons"],
            "exclusivity": i["exclusivity"],
            "other_id": o["id"],
            "other_kind": o["kind"],
            "other_name": o["name"],
        }
        for i in identifiers
        for o in i["others"]
    ]
    with pd.option_context("display.max_colwidth", 80, "display.width", 250):
        click.echo(pd.DataFrame(lines).to_string(index=False))
    cut = [i for i in identifiers if i["holders"] - 1 > i["others_shown"]]
    for i in cut:
        click.echo(f"({i['kind']} {i['key']}: {i['holders'] - 1 - i['others_shown']:,} more holders not listed)")


COMMANDS = [links]
