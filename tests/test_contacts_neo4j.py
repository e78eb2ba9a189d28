"""Reified contact identifiers in Neo4j (issue 6 §4): shared addresses, phones and emails as Address, Phone and
Email nodes written by the load, the shared-identifier queries, and `graphrisk links --shared`.

Tests marked ``neo4j`` need the server in NEO4J_URI (``python scripts/neo4j.py start``); they fail without it.
Persons' addresses and phones are personal data: no test prints them, and the CLI must not either.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from graphrisk.analysis.hidden_links import normalize_address, normalize_phone
from graphrisk.cli.main import main
from graphrisk.store.neo4j import Neo4jStore, contact_links
from graphrisk.tables import Tables

# The same room written three ways (full-width digits and letters, 座/栋, 室/房) and the same switchboard two ways.
ADDRESS_A = "浙江省杭州市西湖区文三路９０号　Ａ座１２０１室"
ADDRESS_B = "杭州市西湖区文三路90号A栋1201房"
ADDRESS_P1 = "杭州市西湖区文三路90号A座1201室"  # a person living there: personal data
ROOM = normalize_address(ADDRESS_A)
PHONE_A = "0571-8888 8888 转 123"
PHONE_B = "+86 (571) 88888888"
SWITCHBOARD = normalize_phone(PHONE_A)
HUB = "北京市朝阳区建国路88号1号楼101室"  # a registered-agent address: twelve firms
HUB_FIRMS = [f"H{i:02d}" for i in range(12)]
PERSON_NAME = "王小明"


def contact_tables() -> Tables:
    """Firms A and B share a room and a switchboard (written differently), A and C an email; person P1 lives in
    that room; D and E both give the unusable phone "12"; twelve firms H00…H11 share a hub address."""
    firms = pd.DataFrame(
        {
            "id": ["A", "B", "C", "D", "E", *HUB_FIRMS],
            "name": ["甲贸易有限公司", "乙商贸有限公司", "丙科技有限公司", "丁公司", "戊公司", *HUB_FIRMS],
            "address": [ADDRESS_A, ADDRESS_B, "上海市浦东新区张江路1号", None, None, *[HUB] * 12],
            "phone": [PHONE_A, PHONE_B, "021-55556666", "12", "12", *[None] * 12],
            "email": ["Finance@ＥＸＡＭＰＬＥ.com ", None, "finance@example.com", None, None, *[None] * 12],
        }
    )
    persons = pd.DataFrame(
        {"id": ["P1", "P2"], "name": [PERSON_NAME, "李四"], "address": [ADDRESS_P1, None], "phone": [None, "12"]}
    )
    return Tables.from_frames({"enterprises": firms, "persons": persons})


def test_contact_links_normalise_and_keep_only_shared_values() -> None:
    links = contact_links(contact_tables())
    assert ROOM == "杭州|西湖区|文三路90号A幢1201室" and SWITCHBOARD == "+8657188888888"
    room = links[links["key"] == ROOM]
    assert sorted(zip(room["id"], room["relation"], strict=True)) == [
        ("A", "REGISTERED_AT"),
        ("B", "REGISTERED_AT"),
        ("P1", "LIVES_AT"),
    ]
    assert sorted(links.loc[links["key"] == SWITCHBOARD, "id"]) == ["A", "B"]
    assert sorted(links.loc[links["kind"] == "email", "id"]) == ["A", "C"]
    assert set(links.loc[links["kind"] == "address", "key"]) == {ROOM, normalize_address(HUB)}
    # C's own address and phone are shared with nobody; "12" normalises to nothing: no identifier for them.
    assert set(links["kind"]) == {"address", "phone", "email"} and len(links) == 3 + 12 + 2 + 2
    # A value equal to an identifier already in the graph is linked even when nothing else in the load shares it.
    alone = Tables.from_frames({"enterprises": pd.DataFrame({"id": ["Z"], "name": ["Z"], "phone": ["0571 88888888"]})})
    assert contact_links(alone).empty
    known = contact_links(alone, {"phone": {SWITCHBOARD}})
    assert known[["kind", "key", "id"]].values.tolist() == [["phone", SWITCHBOARD, "Z"]]


# ------------------------------------------------------------------------------------------ with Neo4j


@pytest.mark.neo4j
def test_load_writes_one_node_per_shared_identifier(neo4j_empty_store: Neo4jStore) -> None:
    store = neo4j_empty_store
    tables = contact_tables()
    summary = store.load(tables)
    counts = store.counts()
    assert (counts["Address"], counts["Phone"], counts["Email"]) == (2, 1, 1)
    assert counts["REGISTERED_AT"] == 2 + 12 and counts["LIVES_AT"] == 1
    assert counts["HAS_PHONE"] == 2 and counts["HAS_EMAIL"] == 2
    # The summary keeps the tables' totals apart from the contact figures.
    assert summary.rows == sum(len(f) for f in tables.frames.values())
    assert summary.nodes_created == len(tables["enterprises"]) + len(tables["persons"])
    assert summary.relationships_created == 0
    assert summary.contacts is not None
    assert (summary.contacts.nodes_created, summary.contacts.relationships_created) == (4, 19)
    assert summary.contacts.rows == summary.contacts.matched == 19
    assert summary.to_dict()["contacts"]["relationships_created"] == 19  # type: ignore[index]

    room = store.query("queries/identifier_holders.cypher", kind="address", key=ROOM)
    assert [(r["entity_id"], r["entity_kind"], r["relation"]) for r in room] == [
        ("A", "enterprise", "REGISTERED_AT"),
        ("B", "enterprise", "REGISTERED_AT"),
        ("P1", "person", "LIVES_AT"),
    ]
    phone = store.query("queries/identifier_holders.cypher", kind="phone", key=SWITCHBOARD)
    assert [r["entity_id"] for r in phone] == ["A", "B"]
    # The kind selects the label: the same key asked as another kind finds nothing.
    assert store.query("queries/identifier_holders.cypher", kind="email", key=SWITCHBOARD) == []
    # The Address node shows a firm's spelling, never the person's.
    texts = {
        r["key"]: r["text"] for r in store.query("queries/shared_identifiers.cypher", company_id="A", max_others=9)
    }
    assert texts[ROOM] in {ADDRESS_A, ADDRESS_B}


@pytest.mark.neo4j
def test_shared_identifiers_query_counts_every_holder(neo4j_empty_store: Neo4jStore) -> None:
    store = neo4j_empty_store
    store.load(contact_tables())
    rows = store.query("queries/shared_identifiers.cypher", company_id="A", max_others=10)
    by_kind = {r["kind"]: r for r in rows}
    assert [r["kind"] for r in rows] == ["address", "email", "phone"]
    address = by_kind["address"]
    assert (address["key"], address["holders"], address["enterprises"], address["persons"]) == (ROOM, 3, 2, 1)
    assert [(o["id"], o["kind"], o["relation"]) for o in address["others"]] == [
        ("B", "enterprise", "REGISTERED_AT"),
        ("P1", "person", "LIVES_AT"),
    ]
    assert (by_kind["phone"]["key"], by_kind["phone"]["holders"]) == (SWITCHBOARD, 2)
    assert [o["id"] for o in by_kind["phone"]["others"]] == ["B"]
    assert (by_kind["email"]["key"], [o["id"] for o in by_kind["email"]["others"]]) == ("finance@example.com", ["C"])
    # A hub shows as its count; $max_others caps the list, not the count.
    hub = store.query("queries/shared_identifiers.cypher", company_id="H00", max_others=3)
    assert len(hub) == 1 and hub[0]["holders"] == 12 and hub[0]["enterprises"] == 12
    assert [o["id"] for o in hub[0]["others"]] == ["H01", "H02", "H03"]
    # No shared identifier: one row with a null kind; not in the graph: no row.
    assert [r["kind"] for r in store.query("queries/shared_identifiers.cypher", company_id="D", max_others=5)] == [None]
    assert store.query("queries/shared_identifiers.cypher", company_id="nobody", max_others=5) == []


@pytest.mark.neo4j
def test_round_trip_ignores_the_contact_nodes_and_clear_removes_them(neo4j_empty_store: Neo4jStore) -> None:
    store = neo4j_empty_store
    tables = contact_tables()
    store.load(tables)
    assert store.counts()["Address"] == 2
    assert store.read_tables().canonical_hash() == tables.canonical_hash()
    store.clear()
    assert store.counts() == {}


@pytest.mark.neo4j
def test_reloading_changes_nothing_and_follows_changed_contacts(neo4j_empty_store: Neo4jStore) -> None:
    store = neo4j_empty_store
    tables = contact_tables()
    store.load(tables)
    before = store.counts()
    again = store.load(tables, batch_size=2)
    assert again.contacts is not None and again.contacts.nodes_created == again.contacts.relationships_created == 0
    assert store.counts() == before

    def holders(key: str) -> list[str]:
        return [r["entity_id"] for r in store.query("queries/identifier_holders.cypher", kind="address", key=key)]

    # B moves out: the room keeps A and P1.
    firms = tables["enterprises"].copy()
    firms.loc[firms["id"] == "B", "address"] = "杭州市西湖区文三路100号"
    moved = Tables.from_frames({"enterprises": firms, "persons": tables["persons"]})
    store.load(moved)
    assert holders(ROOM) == ["A", "P1"]
    # P1 moves out too: a room held by one firm links nothing, so its node goes.
    persons = tables["persons"].copy()
    persons.loc[persons["id"] == "P1", "address"] = None
    store.load(Tables.from_frames({"enterprises": firms, "persons": persons}))
    assert holders(ROOM) == []
    assert store.counts()["Address"] == 1  # the hub stays
    assert (
        store.read_tables().canonical_hash()
        == Tables.from_frames({"enterprises": firms, "persons": persons}).canonical_hash()
    )


@pytest.mark.neo4j
def test_a_later_load_links_to_identifiers_already_in_the_graph(neo4j_empty_store: Neo4jStore) -> None:
    store = neo4j_empty_store
    store.load(contact_tables())
    newcomer = Tables.from_frames(
        {"enterprises": pd.DataFrame({"id": ["Z"], "name": ["新公司"], "phone": ["057188888888"]})}
    )
    summary = store.load(newcomer)
    assert summary.contacts is not None and summary.contacts.relationships_created == 1
    phone = store.query("queries/identifier_holders.cypher", kind="phone", key=SWITCHBOARD)
    assert [r["entity_id"] for r in phone] == ["A", "B", "Z"]
    # The earlier entities, absent from this load, keep their links.
    assert store.counts()["REGISTERED_AT"] == 14


@pytest.mark.neo4j
def test_contact_constraints_come_and_go_with_the_schema(neo4j_empty_store: Neo4jStore) -> None:
    store = neo4j_empty_store
    ours = {"address_key": "Address", "phone_key": "Phone", "email_key": "Email"}
    try:
        store.drop_schema()
        assert set(ours).isdisjoint(c["name"] for c in store.constraints())
        store.ensure_schema()
        constraints = {c["name"]: c for c in store.constraints()}
        for name, label in ours.items():
            c = constraints[name]
            assert (c["type"], c["labelsOrTypes"], c["properties"]) == ("UNIQUENESS", [label], ["key"])
        # The MERGE on a key seeks through the constraint's index.
        plan = " ".join(store.load_plan("enterprises"))
        assert "NodeUniqueIndexSeek" in plan
    finally:
        store.ensure_schema()


# -------------------------------------------------------------------------------------------- the CLI


def write_csvs(folder: Path) -> Path:
    tables = contact_tables()
    folder.mkdir(parents=True, exist_ok=True)
    ent = tables["enterprises"][["id", "name", "address", "phone", "email"]]
    ent.to_csv(folder / "enterprises.csv", index=False, encoding="utf-8")
    per = tables["persons"][["id", "name", "address", "phone"]]
    per.to_csv(folder / "persons.csv", index=False, encoding="utf-8")
    return folder


@pytest.mark.neo4j
def test_links_shared_prints_identifiers_with_persons_masked(
    neo4j_empty_store: Neo4jStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert os.environ.get("NEO4J_PASSWORD"), "the Neo4j tests need NEO4J_PASSWORD"
    monkeypatch.setenv("GRAPHRISK_PSEUDONYM_KEY", "contacts-test")
    data = write_csvs(tmp_path / "data")
    uri = os.environ["NEO4J_URI"]
    runner = CliRunner()
    loaded = runner.invoke(main, ["load", str(data), "--neo4j-uri", uri])
    assert loaded.exit_code == 0, loaded.output
    assert json.loads(loaded.stdout)["contacts"]["nodes_created"] == 4

    table = runner.invoke(main, ["links", str(data), "--company", "A", "--shared", "--neo4j-uri", uri])
    assert table.exit_code == 0, table.output
    assert ROOM in table.stdout and SWITCHBOARD in table.stdout and "finance@example.com" in table.stdout
    assert "王*明" in table.stdout and PERSON_NAME not in table.stdout
    assert ADDRESS_P1 not in table.stdout  # the person's own spelling of the address

    result = runner.invoke(
        main, ["links", str(data), "--company", "A", "--shared", "--neo4j-uri", uri, "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["company_id"] == "A" and payload["exclusivity_cap"] == 10
    address = next(i for i in payload["identifiers"] if i["kind"] == "address")
    assert (address["key"], address["holders"], address["exclusivity"]) == (ROOM, 3, 1.0)
    assert [(o["id"], o["name"]) for o in address["others"]] == [("B", "乙商贸有限公司"), ("P1", "王*明")]
    assert PERSON_NAME not in result.stdout and ADDRESS_P1 not in result.stdout

    hub = runner.invoke(
        main, ["links", str(data), "--company", "H00", "--shared", "--neo4j-uri", uri, "--format", "json"]
    )
    assert hub.exit_code == 0, hub.output
    (only,) = json.loads(hub.stdout)["identifiers"]
    assert only["holders"] == 12 and only["exclusivity"] == 0.0 and only["others_shown"] == 11

    none = runner.invoke(main, ["links", str(data), "--company", "D", "--shared", "--neo4j-uri", uri])
    assert none.exit_code == 0 and "no address, phone or email shared" in none.stdout
    unknown = runner.invoke(main, ["links", str(data), "--company", "nobody", "--shared", "--neo4j-uri", uri])
    assert unknown.exit_code == 1 and "nobody" in unknown.output


def test_links_shared_needs_a_server(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["links", str(tmp_path), "--company", "A", "--shared"])
    assert result.exit_code == 2 and "--neo4j-uri" in result.output
