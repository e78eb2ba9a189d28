"""Alerts as queries (issue 7 §4): every file of cypher/alerts/ fires on its planted case and not on the near
miss beside it, and `graphrisk alerts` prints them, as a table or JSON, with --fail-on-match for schedulers.

The derived data the alerts read (risk flags, counterparty groups, risk clusters, suspected links) is written with
the scan's own write-back statements, so the alerts and the scan agree on names. Tests marked ``neo4j`` need the
server in NEO4J_URI (``python scripts/neo4j.py start``); they fail without it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from graphrisk.cli.alerts import ALERT_COLUMNS, EXIT_MATCHES, available_alerts
from graphrisk.cli.main import main
from graphrisk.store.neo4j import Neo4jStore, _query
from graphrisk.tables import Tables

AS_OF = dt.date(2025, 12, 31)
SINCE = dt.date(2025, 1, 1)
RUN = {"run_id": "alerts-test", "algorithm": "test"}

FIRMS = {
    # alert 1: mutual guarantees between flagged firms (new, old, one side unflagged, one side expired)
    "M1": "新互保甲",
    "M2": "新互保乙",
    "O1": "旧互保甲",
    "O2": "旧互保乙",
    "U1": "未标记甲",
    "U2": "未标记乙",
    "X1": "过期甲",
    "X2": "过期乙",
    # alert 2: guarantees to a defaulted and a revoked firm; a healthy borrower and an expired guarantee
    "G1": "担保人一",
    "G2": "担保人二",
    "D1": "违约企业",
    "R1": "吊销企业",
    "H1": "健康企业",
    # alert 3: a group in breach (K1, K2), one near breach (N1), one within its limit (L1, L2); outsiders Q1, Q2, N2
    "K1": "超限组甲",
    "K2": "超限组乙",
    "Q1": "组外一",
    "Q2": "组外二",
    "L1": "正常组甲",
    "L2": "正常组乙",
    "N1": "临界组甲",
    "N2": "组外三",
    # alert 4: a high-severity cluster (C1, C2) and a low one (C3); outsiders Z1, Z2, Z3
    "C1": "团簇甲",
    "C2": "团簇乙",
    "C3": "低风险团簇",
    "Z1": "外部担保人",
    "Z2": "外部借款人",
    "Z3": "外部担保人三",
    # alert 5: guarantees over net assets (W1), within them once expired ones are left out (W2), negative (W3)
    "W1": "过度担保",
    "W2": "到期担保",
    "W3": "资不抵债",
}


def guarantee(g: str, b: str, amount: float, start: str | None, end: str | None = None) -> dict[str, Any]:
    return {"guarantor_id": g, "borrower_id": b, "amount": amount, "loan_id": f"L-{g}-{b}-{start}", "start_date": start,
            "end_date": end}  # fmt: skip


GUARANTEES = [
    guarantee("M1", "M2", 5e6, "2025-06-01"),
    guarantee("M2", "M1", 3e6, "2024-01-01"),
    guarantee("O1", "O2", 1e6, "2023-01-01"),
    guarantee("O2", "O1", 1e6, "2023-02-01"),
    guarantee("U1", "U2", 1e6, "2025-03-01"),
    guarantee("U2", "U1", 1e6, "2025-03-01"),
    guarantee("X1", "X2", 1e6, "2025-03-01"),
    guarantee("X2", "X1", 1e6, "2025-03-01", "2025-06-30"),  # ended before AS_OF: no longer mutual
    guarantee("G1", "D1", 2e6, "2024-05-01"),
    guarantee("G2", "R1", 4e6, None),
    guarantee("G1", "H1", 9e6, "2024-05-01"),
    guarantee("G2", "D1", 7e6, "2020-01-01", "2021-01-01"),  # expired
    guarantee("Z1", "C1", 6e6, "2025-02-01"),
    guarantee("C2", "Z2", 6e6, "2025-02-01"),  # the cluster guarantees out: its own risk grows, none leaves
    guarantee("C1", "C2", 6e6, "2025-02-01"),
    guarantee("Z3", "C3", 6e6, "2025-02-01"),
    guarantee("W1", "H1", 8e5, "2025-01-01"),
    guarantee("W1", "Q1", 5e5, "2025-01-01"),
    guarantee("W2", "H1", 8e5, "2025-01-01"),
    guarantee("W2", "Q1", 5e5, "2020-01-01", "2024-12-31"),
    guarantee("W3", "H1", 1e5, None),
]


def alert_tables() -> Tables:
    ids = list(FIRMS)
    net_assets = {"W1": 1e6, "W2": 1e6, "W3": -2e5}
    return Tables.from_frames(
        {
            "enterprises": pd.DataFrame(
                {
                    "id": ids,
                    "name": [FIRMS[i] for i in ids],
                    "status": ["吊销" if i == "R1" else "存续" for i in ids],
                    "defaulted": [i == "D1" for i in ids],
                    "net_assets": [net_assets.get(i) for i in ids],
                }
            ),
            "guarantees": pd.DataFrame(GUARANTEES),
        }
    )


def plant(store: Neo4jStore) -> None:
    """Load the tables and write the scan's derived data with the scan's write-back statements."""
    store.load(alert_tables())
    flagged = {"M1": "high", "M2": "medium", "O1": "high", "O2": "high", "U1": "high", "X1": "high", "X2": "high"}
    store.write(
        "writeback/scan_risk.cypher",
        [
            {"id": i, "risk_score": 0.7, "risk_severity": s, "risk_flags": ["in_mutual_guarantee"], "reasons": "test"}
            for i, s in flagged.items()
        ],
        params=RUN,
    )

    def group(group_id: str, members: list[str], status: str | None, ratio: float) -> list[dict[str, Any]]:
        return [
            {"group_id": group_id, "member_id": m, "basis": "control", "evidence": "{}", "ead": 3e8,
             "members": len(members), "ratio_to_tier1": ratio, "limit_status": status, "large_exposure": True}
            for m in members
        ]  # fmt: skip

    store.write(
        "writeback/counterparty_groups.cypher",
        group("GRP-K", ["K1", "K2"], "breach", 0.27)
        + group("GRP-N", ["N1"], "near_breach", 0.14)
        + group("GRP-L", ["L1", "L2"], "ok", 0.05),
        params=RUN,
    )
    store.write(
        "writeback/risk_clusters.cypher",
        [
            {"cluster_id": 1, "score": 0.91, "severity": "high", "size": 2, "reasons": "test", "members": ["C1", "C2"]},
            {"cluster_id": 2, "score": 0.2, "severity": "low", "size": 1, "reasons": "test", "members": ["C3"]},
        ],
        params=RUN,
    )

    def link(a: str, b: str, as_of: dt.date) -> dict[str, Any]:
        return {"a_id": a, "b_id": b, "score": 0.82, "reasons": "shared phone (w=0.8)", "signals": "phone",
                "as_of": as_of}  # fmt: skip

    new, old = dt.date(2025, 6, 30), dt.date(2024, 6, 30)
    store.write(
        "writeback/hidden_links_suspected.cypher",
        [link("K1", "K2", new), link("K1", "Q1", new), link("K2", "Q2", old), link("L1", "L2", new),
         link("N1", "N2", new)],
        params=RUN,
    )  # fmt: skip


def run(store: Neo4jStore, name: str, since: dt.date | None = SINCE) -> list[tuple[Any, ...]]:
    """(severity, entity_id, related_id, amount) of every match of one alert, after checking its columns."""
    rows = store.query(f"alerts/{name}.cypher", as_of=AS_OF, since=since)
    for row in rows:
        assert list(row) == list(ALERT_COLUMNS), row
        assert row["alert"] == name and row["reason"]
    return [(r["severity"], r["entity_id"], r["related_id"], r["amount"]) for r in rows]


@pytest.fixture
def planted(neo4j_empty_store: Neo4jStore) -> Neo4jStore:
    plant(neo4j_empty_store)
    return neo4j_empty_store


# ----------------------------------------------------------------------------------------- the files


def test_every_alert_file_names_itself_with_severity_finds_and_parameters() -> None:
    alerts = {a.name: a for a in available_alerts()}
    assert set(alerts) == {
        "mutual_guarantee_flagged",
        "guarantee_to_defaulted",
        "suspected_link_group_over_limit",
        "guarantee_contagion_leaving_cluster",
        "guarantees_over_net_assets",
    }
    for a in alerts.values():
        assert a.file == f"alerts/{a.name}.cypher" and a.severity in {"high", "medium", "low"}
        assert "$rows" not in _query(a.file)  # one read statement, runnable as it is from a scheduler
        assert "$" in a.parameters and len(a.finds) > 40
    assert alerts["guarantees_over_net_assets"].severity == "medium"
    assert alerts["suspected_link_group_over_limit"].severity_note.startswith("high (")


def test_list_needs_no_server() -> None:
    result = CliRunner().invoke(main, ["alerts", "--list", "--format", "json"], env={"NEO4J_URI": ""})
    assert result.exit_code == 0, result.output
    assert [a["name"] for a in json.loads(result.stdout)][:2] == [
        "guarantee_contagion_leaving_cluster",
        "guarantee_to_defaulted",
    ]
    bad = CliRunner().invoke(main, ["alerts", "--list", "--only", "nope"])
    assert bad.exit_code == 2 and "mutual_guarantee_flagged" in bad.output
    no_server = CliRunner().invoke(main, ["alerts"], env={"NEO4J_URI": ""})
    assert no_server.exit_code == 2 and "--neo4j-uri" in no_server.output


# ------------------------------------------------------------------------------------ each alert on Neo4j


@pytest.mark.neo4j
def test_new_mutual_guarantee_between_flagged_firms(planted: Neo4jStore) -> None:
    # M1 ↔ M2 is new (M1 → M2 started after SINCE); O1 ↔ O2 is older; U2 is not flagged; X2 → X1 has ended.
    assert run(planted, "mutual_guarantee_flagged") == [("high", "M1", "M2", 8e6)]
    assert [r[1:3] for r in run(planted, "mutual_guarantee_flagged", since=None)] == [("M1", "M2"), ("O1", "O2")]
    assert run(planted, "mutual_guarantee_flagged", since=dt.date(2025, 6, 2)) == []
    (row,) = planted.query("alerts/mutual_guarantee_flagged.cypher", as_of=AS_OF, since=SINCE)
    assert "500.0万" in row["reason"] and "300.0万" in row["reason"] and "2025-06-01" in row["reason"]


@pytest.mark.neo4j
def test_guarantee_in_force_to_a_defaulted_or_revoked_firm(planted: Neo4jStore) -> None:
    # G1 → H1 is to a healthy firm; G2 → D1 expired in 2021.
    assert run(planted, "guarantee_to_defaulted") == [("high", "G1", "D1", 2e6), ("high", "G2", "R1", 4e6)]
    reasons = [r["reason"] for r in planted.query("alerts/guarantee_to_defaulted.cypher", as_of=AS_OF, since=None)]
    assert "has defaulted" in reasons[0] and "吊销" in reasons[1]
    # Before G2's guarantee to D1 ended, it counted too.
    early = planted.query("alerts/guarantee_to_defaulted.cypher", as_of=dt.date(2020, 6, 1), since=None)
    assert [(r["entity_id"], r["related_id"]) for r in early] == [("G2", "D1"), ("G2", "R1")]


@pytest.mark.neo4j
def test_new_suspected_link_touching_a_group_over_its_limit(planted: Neo4jStore) -> None:
    # K1–K2 inside the breaching group, K1–Q1 extending it, N1–N2 extending the near-breach one; K2–Q2 is older
    # than SINCE and L1–L2 is inside a group within its limit.
    assert run(planted, "suspected_link_group_over_limit") == [
        ("high", "K1", "K2", 3e8),
        ("high", "K1", "Q1", 3e8),
        ("medium", "N1", "N2", 3e8),
    ]
    assert [r[1:3] for r in run(planted, "suspected_link_group_over_limit", since=None)] == [
        ("K1", "K2"),
        ("K1", "Q1"),
        ("K2", "Q2"),
        ("N1", "N2"),
    ]
    reasons = {
        (r["entity_id"], r["related_id"]): r["reason"]
        for r in planted.query("alerts/suspected_link_group_over_limit.cypher", as_of=AS_OF, since=SINCE)
    }
    assert "inside counterparty group GRP-K" in reasons[("K1", "K2")] and "27.0% of Tier 1" in reasons[("K1", "K2")]
    assert "may extend the group" in reasons[("K1", "Q1")] and "near its limit" in reasons[("N1", "N2")]
    assert "shared phone" not in " ".join(reasons.values())  # signal codes only: detailed reasons can name persons


@pytest.mark.neo4j
def test_guarantee_carrying_a_high_cluster_risk_outside(planted: Neo4jStore) -> None:
    # Z1 stands behind C1's loan; C2 → Z2 points the other way, C1 → C2 stays inside, C3's cluster is low.
    assert run(planted, "guarantee_contagion_leaving_cluster") == [("high", "Z1", "C1", 6e6)]
    (row,) = planted.query("alerts/guarantee_contagion_leaving_cluster.cypher", as_of=AS_OF, since=None)
    assert "risk cluster 1" in row["reason"] and "0.91" in row["reason"]


@pytest.mark.neo4j
def test_guarantees_over_net_assets(planted: Neo4jStore) -> None:
    # W1: 1.3M in force against 1M; W2: the 0.5M guarantee has ended, 0.8M < 1M; W3: negative net assets.
    assert run(planted, "guarantees_over_net_assets") == [("medium", "W1", None, 1.3e6), ("medium", "W3", None, 1e5)]
    reasons = [r["reason"] for r in planted.query("alerts/guarantees_over_net_assets.cypher", as_of=AS_OF, since=None)]
    assert "130.0% of its net assets" in reasons[0] and "not positive" in reasons[1]


@pytest.mark.neo4j
def test_alerts_on_an_empty_graph_match_nothing(neo4j_empty_store: Neo4jStore) -> None:
    for a in available_alerts():
        assert neo4j_empty_store.query(a.file, as_of=AS_OF, since=SINCE) == []


# --------------------------------------------------------------------------------------------- the CLI


@pytest.mark.neo4j
def test_alerts_command_json_table_and_exit_codes(planted: Neo4jStore) -> None:
    assert os.environ.get("NEO4J_PASSWORD"), "the Neo4j tests need NEO4J_PASSWORD"
    uri = os.environ["NEO4J_URI"]
    runner = CliRunner()
    dates = ["--since", SINCE.isoformat(), "--as-of", AS_OF.isoformat()]
    result = runner.invoke(main, ["alerts", "--neo4j-uri", uri, *dates, "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert (payload["as_of"], payload["since"]) == ("2025-12-31", "2025-01-01")
    counts = {a["name"]: a["matches"] for a in payload["alerts"]}
    assert counts == {
        "guarantee_contagion_leaving_cluster": 1,
        "guarantee_to_defaulted": 2,
        "guarantees_over_net_assets": 2,
        "mutual_guarantee_flagged": 1,
        "suspected_link_group_over_limit": 3,
    }
    matches = payload["matches"]
    assert len(matches) == 9 and all(list(m) == list(ALERT_COLUMNS) for m in matches)
    # High first, then medium; within a severity by alert name and entity.
    assert [m["severity"] for m in matches] == ["high"] * 6 + ["medium"] * 3
    assert matches[0]["alert"] == "guarantee_contagion_leaving_cluster" and matches[0]["entity_name"] == "外部担保人"

    table = runner.invoke(main, ["alerts", "--neo4j-uri", uri, *dates, "--only", "guarantee_to_defaulted"])
    assert table.exit_code == 0, table.output
    assert "违约企业" in table.stdout and "吊销企业" in table.stdout and "mutual_guarantee" not in table.stdout

    fail = runner.invoke(main, ["alerts", "--neo4j-uri", uri, *dates, "--fail-on-match"])
    assert fail.exit_code == EXIT_MATCHES == 3, fail.output
    quiet = runner.invoke(
        main,
        ["alerts", "--neo4j-uri", uri, "--since", "2030-01-01", "--only",
         "mutual_guarantee_flagged,suspected_link_group_over_limit", "--fail-on-match"],
    )  # fmt: skip
    assert quiet.exit_code == 0, quiet.output
    assert "no alert matched (2 run" in quiet.stdout
    # The URI can come from NEO4J_URI, as for `graphrisk load` (the test session sets it).
    env = runner.invoke(main, ["alerts", *dates, "--only", "guarantees_over_net_assets", "--format", "json"])
    assert env.exit_code == 0, env.output
    assert [m["entity_id"] for m in json.loads(env.stdout)["matches"]] == ["W1", "W3"]
