"""`graphrisk alerts`: the pattern queries of ``cypher/alerts/`` run on Neo4j, every match printed the same way.

Each file there is one alert a team can also schedule on its own: a read query over the loaded data and what
``graphrisk scan --neo4j-uri`` writes back (risk flags, counterparty groups, risk clusters, suspected links). Its
header comment names it and gives its severity, what it finds and its parameters::

    // alert: guarantee_to_defaulted
    // severity: high
    // finds: ...
    // parameters: $as_of (date ...) ...

Every alert returns the columns of :data:`ALERT_COLUMNS`, so one table shows them all.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import click
import pandas as pd

from graphrisk.cli.neo4j_options import neo4j_options, open_store
from graphrisk.errors import StoreError
from graphrisk.store.neo4j import cypher_files_used, read_cypher

__all__ = ["ALERT_COLUMNS", "COMMANDS", "EXIT_MATCHES", "Alert", "available_alerts"]

ALERT_COLUMNS = ("alert", "severity", "entity_id", "entity_name", "related_id", "related_name", "amount", "reason")
SEVERITIES = ("high", "medium", "low")
EXIT_MATCHES = 3  # like `scan --fail-on`: 1 and 2 already mean an error and a usage error
_HEADER_FIELDS = ("alert", "severity", "finds", "parameters", "columns")
_HEADER_LINE = re.compile(r"^//\s*(\w+):\s*(.*)$")


@dataclass(frozen=True)
class Alert:
    """One ``cypher/alerts/<name>.cypher`` file and its header."""

    name: str
    severity: str  # the highest severity its rows can carry
    severity_note: str  # the header's severity line as written, e.g. "high (breach) | medium (near breach)"
    finds: str
    parameters: str
    file: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "severity": self.severity, "finds": self.finds, "parameters": self.parameters}


def _header(file: str) -> dict[str, str]:
    """The ``// key: value`` lines at the top of a file; indented comment lines continue the previous value."""
    fields: dict[str, str] = {}
    last: str | None = None
    for line in read_cypher(file).splitlines():
        if not line.startswith("//"):
            break
        m = _HEADER_LINE.match(line)
        if m and m[1] in _HEADER_FIELDS:
            last = m[1]
            fields[last] = m[2].strip()
        elif last is not None:
            fields[last] += " " + line.removeprefix("//").strip()
    return fields


def available_alerts() -> list[Alert]:
    """Every alert file of the installation, by name, with its parsed header (a malformed header is an error)."""
    out: list[Alert] = []
    for file in sorted(f for f in cypher_files_used() if f.startswith("alerts/")):
        name = file.removeprefix("alerts/").removesuffix(".cypher")
        fields = _header(file)
        missing = [f for f in _HEADER_FIELDS if not fields.get(f)]
        severity = fields.get("severity", "").split(" ", 1)[0]
        if missing or fields["alert"] != name or severity not in SEVERITIES:
            raise StoreError(
                f"cypher/{file}: its header must give alert: {name}, severity: high|medium|low, finds, parameters "
                f"and columns (missing or wrong: {', '.join(missing) or 'alert name or severity'})."
            )
        out.append(Alert(name, severity, fields["severity"], fields["finds"], fields["parameters"], file))
    return out


def _select(alerts: list[Alert], only: tuple[str, ...]) -> list[Alert]:
    wanted = [n.strip() for item in only for n in item.split(",") if n.strip()]
    if not wanted:
        return alerts
    names = {a.name for a in alerts}
    unknown = [n for n in wanted if n not in names]
    if unknown:
        raise click.BadParameter(
            f"no alert named {', '.join(unknown)}; the alerts are: {', '.join(sorted(names))}.", param_hint="--only"
        )
    return [a for a in alerts if a.name in wanted]


def _rows(alert: Alert, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in found:
        if set(row) != set(ALERT_COLUMNS):
            raise StoreError(
                f"cypher/{alert.file} returns {sorted(row)}, not the alert columns {list(ALERT_COLUMNS)}. Fix the "
                "file's RETURN clause."
            )
    return [{c: row[c] for c in ALERT_COLUMNS} for row in found]


@click.command("alerts")
@neo4j_options
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Report only what is new since this date (alerts that look at start dates or link dates; see --list).",
)
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Date for guarantees in force (start_date ≤ as-of ≤ end_date); default today.",
)
@click.option(
    "--only",
    multiple=True,
    metavar="NAME",
    help="Run only this alert (repeat, or separate names with commas).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option(
    "--fail-on-match",
    is_flag=True,
    help=f"Exit {EXIT_MATCHES} when any alert matched (for cron and schedulers); otherwise exit 0.",
)
@click.option("--list", "list_only", is_flag=True, help="List the alerts, their severity and parameters; no server.")
def alerts(
    neo4j_uri: str | None,
    neo4j_user: str,
    database: str | None,
    since: datetime | None,
    as_of: datetime | None,
    only: tuple[str, ...],
    fmt: str,
    fail_on_match: bool,
    list_only: bool,
) -> None:
    """Run the alert queries of cypher/alerts/ on Neo4j and print every match: alert, severity, the firms, the
    amount and the reason.

    Exit codes: 0 done (matches or not); 1 an error; 2 a usage error; 3 with --fail-on-match, some alert matched.
    """
    chosen = _select(available_alerts(), only)
    if list_only:
        if fmt == "json":
            click.echo(json.dumps([a.to_dict() for a in chosen], ensure_ascii=False, indent=2))
        else:
            for a in chosen:
                click.echo(f"{a.name}  [{a.severity_note}]\n  finds: {a.finds}\n  parameters: {a.parameters}\n")
        return
    if not neo4j_uri:
        raise click.UsageError("alerts run on Neo4j: give --neo4j-uri URI or set NEO4J_URI.")
    day = as_of.date() if as_of else date.today()
    since_day = since.date() if since else None
    counts: dict[str, int] = {}
    matches: list[dict[str, Any]] = []
    with open_store(neo4j_uri, neo4j_user, database) as store:
        for a in chosen:
            # Every alert gets both parameters; a file uses those its header names.
            found = _rows(a, store.query(a.file, as_of=day, since=since_day))
            counts[a.name] = len(found)
            matches += found
            click.echo(f"alert {a.name}: {len(found):,} match(es)", err=True)
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    matches.sort(
        key=lambda r: (rank.get(r["severity"], len(rank)), r["alert"], str(r["entity_id"]), str(r["related_id"] or ""))
    )
    if fmt == "json":
        payload = {
            "as_of": day.isoformat(),
            "since": since_day.isoformat() if since_day else None,
            "alerts": [{**a.to_dict(), "matches": counts[a.name]} for a in chosen],
            "matches": matches,
        }
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    elif not matches:
        click.echo(f"no alert matched ({len(chosen)} run, as of {day.isoformat()})")
    else:
        frame = pd.DataFrame(matches, columns=list(ALERT_COLUMNS)).astype(object)
        frame["amount"] = [None if v is None else f"{v:,.2f}" for v in frame["amount"]]
        frame = frame.where(frame.notna(), "")  # an alert about one firm has no related firm: blank, not NaN
        width = int(frame["reason"].str.len().max())
        click.echo(frame.to_string(index=False, formatters={"reason": lambda v: f"{v:<{width}}"}))
    if fail_on_match and matches:
        sys.exit(EXIT_MATCHES)


COMMANDS = [alerts]
