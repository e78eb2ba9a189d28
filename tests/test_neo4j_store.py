"""The Neo4j store: schema, batched idempotent loads, the round trip Tables → Neo4j → Tables, hostile values,
connection errors, and that every Cypher file is used.

Tests marked ``neo4j`` need the server in NEO4J_URI (``python scripts/neo4j.py start``); they fail without it.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import os
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphrisk.errors import StoreError
from graphrisk.schema import SCHEMA, render_cypher
from graphrisk.store.neo4j import KEY_SEPARATOR, Neo4jStore, _rows, cypher_files_used, store_from_env
from graphrisk.tables import Tables
from loaders import load_tables

# ------------------------------------------------------------------------------------------- test data


def small_tables() -> Tables:
    """4 enterprises, 2 persons, and every relation, built by hand.

    Expected graph (counted by hand):
      nodes: Enterprise 4 + Person 2 + Facility 3 = 9        (Entity = 6)
      HOLDS_SHARES 4 (P1→E1, E1→E2, E2→E3, P2→E3: holders are persons and enterprises)
      OFFICER_OF 3, GUARANTEES 4 (E1→E2 twice, for loans L1 and L4), SUPPLIES 2 (E4→E1 in 2023 and 2024),
      HAS_FACILITY 3 (E1: F1, E2: F2 and F3)                  relationships = 16
    """
    return Tables.from_frames(
        {
            "enterprises": pd.DataFrame(
                {
                    "id": ["E1", "E2", "E3", "E4"],
                    "name": ["甲公司", "乙公司", "Gamma Ltd", "丁"],
                    "uscc": ["91110108551385082Q", None, None, None],
                    "status": ["存续", "在业", None, "吊销"],
                    "established": ["2001-05-17", None, "1999-12-31", "2020-02-29"],
                    "registered_capital": [5e7, 1e6, None, 0.0],
                    "net_assets": [-1.5e6, 2e7, None, 3.25],
                    "pd": [0.012, 0.2, None, 1.0],
                    "defaulted": [False, True, None, False],
                    "listed": [True, None, False, False],
                }
            ),
            "persons": pd.DataFrame(
                {
                    "id": ["P1", "P2"],
                    "name": ["张三", "李四"],
                    "id_pseudonym": ["ps-1", None],
                    "phone": [None, "+86 138 0000 0000"],
                }
            ),
            "shareholdings": pd.DataFrame(
                {
                    "holder_id": ["P1", "E1", "E2", "P2"],
                    "company_id": ["E1", "E2", "E3", "E3"],
                    "share": [0.6, 0.51, 0.3, 0.2],
                    "voting_share": [None, 0.67, None, None],
                    "amount": [3e7, None, 1e5, 2e4],
                    "as_of": ["2024-06-30", None, "2024-06-30", "2023-01-01"],
                }
            ),
            "officers": pd.DataFrame(
                {
                    "person_id": ["P1", "P1", "P2"],
                    "company_id": ["E1", "E2", "E3"],
                    "role": ["legal_representative", "director", "supervisor"],
                }
            ),
            "guarantees": pd.DataFrame(
                {
                    "guarantor_id": ["E1", "E2", "E3", "E1"],
                    "borrower_id": ["E2", "E3", "E1", "E2"],
                    "amount": [1e7, 5e6, 2.5e6, 1.25e6],
                    "loan_id": ["L1", "L2", "L3", "L4"],
                    "kind": ["guarantee", "mortgage", "pledge", None],
                    "start_date": ["2024-01-01", "2023-03-15", None, "2024-01-01"],
                    "end_date": ["2025-12-31", None, "2026-06-30", "2024-12-31"],
                    "currency": ["CNY", None, "USD", None],
                }
            ),
            "supply_links": pd.DataFrame(
                {
                    "supplier_id": ["E4", "E4"],
                    "customer_id": ["E1", "E1"],
                    "amount": [1.2e8, 9.9e7],
                    "share_of_supplier_revenue": [0.45, 0.4],
                    "share_of_customer_purchases": [0.1, None],
                    "year": [2023, 2024],
                }
            ),
            "exposures": pd.DataFrame(
                {
                    "borrower_id": ["E1", "E2", "E2"],
                    "ead": [1e8, 3e7, 4.5e6],
                    "lgd": [0.45, None, 0.6],
                    "facility_id": ["F1", "F2", "F3"],
                }
            ),
        }
    )


SMALL_COUNTS = {
    "Enterprise": 4,
    "Person": 2,
    "Entity": 6,
    "Facility": 3,
    "HOLDS_SHARES": 4,
    "OFFICER_OF": 3,
    "GUARANTEES": 4,
    "SUPPLIES": 2,
    "HAS_FACILITY": 3,
}


def sorted_frame(tables: Tables, name: str) -> pd.DataFrame:
    table = SCHEMA[name]
    keys = [table.column(k).table_name for k in table.key]
    return tables[name].sort_values(keys, na_position="first").reset_index(drop=True)


def assert_same_tables(actual: Tables, expected: Tables) -> None:
    for table in SCHEMA:
        pd.testing.assert_frame_equal(
            sorted_frame(actual, table.name), sorted_frame(expected, table.name), check_exact=True, obj=table.name
        )
    assert actual.canonical_hash() == expected.canonical_hash()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------ without a server


def test_rows_are_plain_python_values_with_a_key() -> None:
    tables = small_tables()
    rows = _rows(SCHEMA["guarantees"], tables["guarantees"])
    assert rows[0]["key"] == KEY_SEPARATOR.join(["E1", "E2", "L1", "2024-01-01"])
    assert rows[2]["key"] == KEY_SEPARATOR.join(["E3", "E1", "L3", ""])  # a missing key part is ""
    assert rows[0]["start_date"] == dt.date(2024, 1, 1) and type(rows[0]["start_date"]) is dt.date
    assert "end_date" not in rows[1] and "kind" not in rows[3]  # missing values are left out (null in Cypher)
    assert type(rows[0]["amount"]) is float
    supply = _rows(SCHEMA["supply_links"], tables["supply_links"])
    assert type(supply[0]["year"]) is int and "share_of_customer_purchases" not in supply[1]
    assert supply[1]["key"] == KEY_SEPARATOR.join(["E4", "E1", "2024"])
    ent = _rows(SCHEMA["enterprises"], tables["enterprises"])
    assert "key" not in ent[0]
    assert type(ent[0]["defaulted"]) is bool and type(ent[0]["pd"]) is float
    assert "defaulted" not in ent[2] and "pd" not in ent[2]
    assert set(ent[0]) <= set(SCHEMA["enterprises"].stored_columns)
    assert {"id", "name", "uscc", "established", "net_assets", "listed"} <= set(ent[0])


def test_rows_from_object_columns_convert_numpy_and_timestamps() -> None:
    frame = pd.DataFrame(
        {
            "borrower_id": pd.Series(["E1", "E2"], dtype=object),
            "ead": pd.Series([np.float64(2.5), np.nan], dtype=object),
            "lgd": pd.Series([np.int64(1), pd.NA], dtype=object),
            "facility_id": pd.Series([pd.Timestamp("2024-02-03 10:00"), None], dtype=object),
        }
    )
    rows = _rows(SCHEMA["exposures"], frame)
    assert rows[0] == {
        "borrower_id": "E1",
        "ead": 2.5,
        "lgd": 1,
        "facility_id": dt.date(2024, 2, 3),
        "key": "E1\x1f2024-02-03",
    }
    assert type(rows[0]["lgd"]) is int and type(rows[0]["ead"]) is float
    assert rows[1] == {"borrower_id": "E2", "key": "E2\x1f"}


def test_missing_password_is_a_store_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:1")
    monkeypatch.delenv("NEO4J_PASSWORD", raising=False)
    with pytest.raises(StoreError, match="NEO4J_PASSWORD"):
        store_from_env()


def test_every_cypher_file_is_used_and_generated_files_are_current() -> None:
    root = Path(str(importlib.resources.files("cypher")))
    # cypher/spark/ holds the Spark connector's statements (engines/spark/neo4j_io.py); the store never runs them,
    # and tests/test_spark_neo4j.py::test_every_spark_cypher_file_is_used checks each is used.
    on_disk = {n for p in root.rglob("*.cypher") if not (n := p.relative_to(root).as_posix()).startswith("spark/")}
    used = cypher_files_used()
    generated = render_cypher()
    assert on_disk - used == set(), "files under cypher/ that no code reads"
    assert used - on_disk == set(), "statements the store reads that are missing from cypher/"
    assert set(generated) <= used, "schema-derived statements the store never runs"
    for name, text in generated.items():
        assert (root / name).read_text(encoding="utf-8") == text, (
            f"cypher/{name} differs from render_cypher(): run `python -m graphrisk.schema --write-cypher`"
        )


# ------------------------------------------------------------------------------------------ with Neo4j


@pytest.mark.neo4j
def test_ensure_schema_creates_uniqueness_constraints(neo4j_empty_store: Neo4jStore) -> None:
    store = neo4j_empty_store
    store.drop_schema()
    ours = {"entity_id", "enterprises_id", "persons_id", "exposures_key"}
    assert ours.isdisjoint(c["name"] for c in store.constraints())
    try:
        store.ensure_schema()
        store.ensure_schema()  # idempotent
        constraints = {c["name"]: c for c in store.constraints()}
        assert ours <= set(constraints)
        expected = {
            "entity_id": (["Entity"], ["id"]),
            "enterprises_id": (["Enterprise"], ["id"]),
            "persons_id": (["Person"], ["id"]),
            "exposures_key": (["Facility"], ["key"]),
        }
        for name, (labels, props) in expected.items():
            c = constraints[name]
            assert c["type"] == "UNIQUENESS" and c["entityType"] == "NODE", c
            assert (c["labelsOrTypes"], c["properties"]) == (labels, props), c
        # No relationship index: MERGE finds a relationship between its two bound endpoints (Expand(Into)),
        # and an index on the key would only slow every load down.
        rel_indexes = [i for i in store.indexes() if i["entityType"] == "RELATIONSHIP" and i["properties"] == ["key"]]
        assert rel_indexes == []
    finally:
        store.ensure_schema()  # leave the server as the other tests expect it


@pytest.mark.neo4j
def test_load_creates_the_expected_graph(neo4j_empty_store: Neo4jStore) -> None:
    store = neo4j_empty_store
    progress: list[str] = []
    summary = store.load(small_tables(), batch_size=2, progress=progress.append)
    assert summary.nodes_created == 9
    assert summary.relationships_created == 16
    assert summary.skipped == 0 and summary.rows == 4 + 2 + 4 + 3 + 4 + 2 + 3
    assert summary["enterprises"].nodes_created == 4 and summary["enterprises"].batches == 2
    assert summary["exposures"].nodes_created == 3 and summary["exposures"].relationships_created == 3
    assert summary["guarantees"].relationships_created == 4
    assert summary["guarantees"].properties_set > 0
    assert [t.table for t in summary.tables][:3] == ["enterprises", "persons", "exposures"]
    assert summary.to_dict()["tables"]["officers"]["relationships_created"] == 3  # type: ignore[index]
    assert "enterprises: 2/4 rows" in progress
    assert store.counts() == SMALL_COUNTS


@pytest.mark.neo4j
def test_read_tables_returns_what_was_loaded(neo4j_empty_store: Neo4jStore) -> None:
    store = neo4j_empty_store
    tables = small_tables()
    store.load(tables)
    back = store.read_tables(batch_size=3)
    assert_same_tables(back, tables)
    assert store.content_hash() == tables.canonical_hash()
    assert back["enterprises"]["established"].dtype == "datetime64[s]"


@pytest.mark.neo4j
def test_loading_twice_creates_nothing(neo4j_empty_store: Neo4jStore) -> None:
    store = neo4j_empty_store
    tables = small_tables()
    first = store.load(tables)
    before = store.content_hash()
    second = store.load(tables, batch_size=3)
    assert first.relationships_created == 16
    assert second.nodes_created == 0
    assert second.relationships_created == 0
    assert store.content_hash() == before == tables.canonical_hash()
    assert store.counts() == SMALL_COUNTS


HOSTILE = [
    "'}) DETACH DELETE n //",
    '"}) MATCH (m) DETACH DELETE m //',
    "`Enterprise` `x`",
    'it\'s "quoted"',
    "line one\nline two\r\n",
    "😀🏦",
    "中文名称（有限公司）",
    "$rows",
    "{rows}",
    "\\u0000 backslash \\",
    " leading and trailing ",
]


@pytest.mark.neo4j
def test_hostile_strings_come_back_byte_identical(neo4j_empty_store: Neo4jStore) -> None:
    store = neo4j_empty_store
    n = len(HOSTILE)
    tables = Tables.from_frames(
        {
            "enterprises": pd.DataFrame({"id": HOSTILE, "name": HOSTILE[::-1], "address": HOSTILE}),
            "persons": pd.DataFrame({"id": [f"person {s}" for s in HOSTILE], "name": HOSTILE}),
            "guarantees": pd.DataFrame(
                {
                    "guarantor_id": HOSTILE,
                    "borrower_id": HOSTILE[1:] + HOSTILE[:1],
                    "amount": [1.0] * n,
                    "loan_id": HOSTILE,
                }
            ),
            "officers": pd.DataFrame(
                {"person_id": [f"person {s}" for s in HOSTILE], "company_id": HOSTILE, "role": ["director"] * n}
            ),
        }
    )
    summary = store.load(tables)
    assert summary.nodes_created == 2 * n
    assert store.counts() == {"Enterprise": n, "Person": n, "Entity": 2 * n, "GUARANTEES": n, "OFFICER_OF": n}
    back = store.read_tables()
    assert_same_tables(back, tables)
    names = dict(zip(back["enterprises"]["id"], back["enterprises"]["name"], strict=True))
    for s, name in zip(HOSTILE, HOSTILE[::-1], strict=True):
        assert names[s].encode("utf-8") == name.encode("utf-8")


@pytest.mark.neo4j
def test_wrong_password_is_a_store_error_without_the_password(neo4j_store: Neo4jStore) -> None:
    secret = "not-the-password-7d1f3a"
    with pytest.raises(StoreError) as info:
        Neo4jStore(neo4j_store.uri, neo4j_store.user, secret)
    message = str(info.value)
    assert secret not in message and secret not in repr(info.value)
    assert neo4j_store.uri in message and "NEO4J_PASSWORD" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.neo4j
def test_unreachable_server_is_a_store_error_naming_the_uri(neo4j_store: Neo4jStore) -> None:
    secret = "another-secret-52be"
    uri = f"bolt://127.0.0.1:{free_port()}"
    with pytest.raises(StoreError) as info:
        Neo4jStore(uri, "neo4j", secret)
    message = str(info.value)
    assert uri in message and secret not in message
    assert "scripts/neo4j.py start" in message


@pytest.mark.neo4j
def test_loader_output_round_trips(neo4j_empty_store: Neo4jStore, tmp_path: Path) -> None:
    files = {
        "企业.csv": "企业编号,企业名称,统一社会信用代码,成立日期,注册资本(万元),违约概率,是否上市\n"
        "E1,甲有限公司,91110108551385082Q,2001-05-17,500,0.02,是\n"
        'E2,乙股份有限公司,91330106MA27XGQL0J,2010/3/4,"1,200",,否\n'
        "E3,丙贸易,,20150601,3.5亿,0.5,\n",
        "persons.csv": "人员编号,姓名,身份证号\nP1,张三,11010519491231002X\nP2,李四,\n",
        "股东.csv": "股东编号,被投资企业,持股比例\nP1,E1,60%\nE1,E2,0.51\nP2,E3,35%\n",
        "高管.csv": "人员编号,企业编号,职务\nP1,E1,法定代表人\nP2,E2,监事\n",
        "担保.csv": "担保人,被担保人,担保金额,担保方式,起始日,到期日,贷款编号\n"
        'E1,E2,100万,保证,2024-01-01,2025-12-31,L1\nE2,E3,"2,000,000",抵押,2023年3月15日,,L2\n',
        "supply_links.csv": "supplier_id,customer_id,amount,year\nE3,E1,12万,2023\n",
        "exposures.csv": "借款人,风险暴露,违约损失率,授信编号\nE1,1亿,0.45,F1\nE2,3000万,,F2\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    tables = load_tables(tmp_path, pseudonym_key=b"test")
    assert tables.rejected_rows == 0, tables.rejects.to_dict("records")
    assert len(tables["enterprises"]) == 3 and len(tables["guarantees"]) == 2
    summary = neo4j_empty_store.load(tables)
    assert summary.skipped == 0
    back = neo4j_empty_store.read_tables()
    assert back.canonical_hash() == tables.canonical_hash()
    assert_same_tables(back, tables)


@pytest.mark.neo4j
def test_loads_seek_through_the_uniqueness_constraints(neo4j_store: Neo4jStore) -> None:
    scans = (
        "AllNodesScan",
        "NodeByLabelScan",
        "DirectedAllRelationshipsScan",
        "UndirectedAllRelationshipsScan",
        "DirectedRelationshipTypeScan",
    )
    for table in SCHEMA:
        plan = neo4j_store.load_plan(table.name)
        operators = [step.split(":")[0] for step in plan]
        assert not any(op.startswith(scans) for op in operators), (table.name, plan)
        seeks = [step for step in plan if step.startswith("NodeUniqueIndexSeek")]
        if table.kind == "relation":
            # Both endpoints are found through the id constraints; the relationship is looked for only between
            # them (Expand(Into)), and created under a lock on both.
            assert len(seeks) == 2, (table.name, plan)
            assert any(op.startswith("Expand(Into)") for op in operators), (table.name, plan)
            assert any(op.startswith("LockingMerge") for op in operators), (table.name, plan)
        else:
            assert seeks, (table.name, plan)


@pytest.mark.neo4j
def test_cli_options_open_the_store(neo4j_store: Neo4jStore, monkeypatch: pytest.MonkeyPatch) -> None:
    import click
    from click.testing import CliRunner

    from graphrisk.cli.neo4j_options import neo4j_options, open_store

    @click.command()
    @neo4j_options
    def probe(neo4j_uri: str | None, neo4j_user: str, database: str | None) -> None:
        with open_store(neo4j_uri, neo4j_user, database) as store:
            click.echo(f"connected {store.user}, {len(store.constraints())} constraints")

    password = os.environ["NEO4J_PASSWORD"]
    runner = CliRunner()
    help_text = runner.invoke(probe, ["--help"]).output
    assert "--neo4j-uri" in help_text and "--neo4j-user" in help_text and "--database" in help_text
    assert "--password" not in help_text and "--neo4j-password" not in help_text
    ok = runner.invoke(probe, ["--neo4j-uri", neo4j_store.uri], env={"NEO4J_PASSWORD": password})
    assert ok.exit_code == 0, ok.output
    assert "connected neo4j" in ok.output and password not in ok.output
    monkeypatch.delenv("NEO4J_PASSWORD")
    missing = runner.invoke(probe, ["--neo4j-uri", neo4j_store.uri], env={"NEO4J_PASSWORD": None})
    assert isinstance(missing.exception, StoreError) and "NEO4J_PASSWORD" in str(missing.exception)
