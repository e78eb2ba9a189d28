"""Hidden associations: normalisers, each signal, exclusivity, noisy-OR, groups, same-name persons, transactions,
the scan analysis and `graphrisk links`. Every expected score is worked by hand in the comments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from graphrisk.analysis import AnalysisContext, registered_analyses
from graphrisk.analysis.hidden_links import (
    address_parts,
    exclusivity,
    firm_signals,
    hidden_links,
    name_core,
    noisy_or,
    normalize_address,
    normalize_email,
    normalize_phone,
    related_transactions,
    same_name_candidates,
    shared_value_pairs,
    suspected_groups,
    suspected_links,
    website_domain,
)
from graphrisk.cli.main import main
from graphrisk.config import Config
from graphrisk.graph import EnterpriseGraph
from graphrisk.tables import Tables

ROOT = Path(__file__).resolve().parent.parent


def graph(enterprises: dict[str, list[Any]], **frames: pd.DataFrame) -> EnterpriseGraph:
    return EnterpriseGraph(Tables.from_frames({"enterprises": pd.DataFrame(enterprises), **frames}))


def pairs_of(links: pd.DataFrame) -> dict[tuple[str, str], float]:
    return {(a, b): s for a, b, s in zip(links["a_id"], links["b_id"], links["score"], strict=True)}


# ------------------------------------------------------------------------------------------- normalisers


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("浙江省杭州市西湖区文三路90号1幢1201室", "杭州|西湖区|文三路90号1幢1201室"),
        ("杭州市西湖区文三路90号1幢1201室", "杭州|西湖区|文三路90号1幢1201室"),  # province left out
        ("浙江省杭州市西湖区文三路９０号１幢１２０１室", "杭州|西湖区|文三路90号1幢1201室"),  # full width
        ("浙江省 杭州市 西湖区 文三路90号 1栋 1201室", "杭州|西湖区|文三路90号1幢1201室"),  # spaces, 栋
        ("浙江省杭州市西湖区文三路90号1号楼1201室", "杭州|西湖区|文三路90号1幢1201室"),  # 号楼
        ("浙江省杭州市西湖区文三路90号A座1201房", "杭州|西湖区|文三路90号A幢1201室"),  # 座, 房
        ("杭州市西湖区文三路90号1幢12楼", "杭州|西湖区|文三路90号1幢12层"),  # 楼 as floor
        ("上海市浦东新区张江路1号", "上海|浦东新区|张江路1号"),  # municipality: province = city
        ("江苏省苏州市昆山市前进路8号", "苏州|昆山市|前进路8号"),  # county-level city as district
    ],
)
def test_normalize_address(text: str, key: str) -> None:
    assert normalize_address(text) == key


def test_address_keeps_building_and_room_and_rejects_bare_regions() -> None:
    room_a = normalize_address("杭州市西湖区文三路90号1幢1201室")
    assert room_a != normalize_address("杭州市西湖区文三路90号1幢1202室")
    assert room_a != normalize_address("杭州市西湖区文三路90号2幢1201室")
    assert normalize_address("浙江省杭州市") is None
    assert normalize_address(None) is None and normalize_address("  ") is None
    assert address_parts("广西壮族自治区南宁市青秀区民族大道1号") == ("广西壮族", "南宁", "青秀区", "民族大道1号")


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("0571-88888888", "+8657188888888"),
        ("(0571) 8888 8888", "+8657188888888"),
        ("+86 571 8888 8888", "+8657188888888"),
        ("86-571-88888888", "+8657188888888"),
        ("0571-88888888转8021", "+8657188888888"),  # extension dropped: one switchboard
        ("0571-88888888 ext. 12", "+8657188888888"),
        ("010-12345678", "+861012345678"),
        ("139 1234 5678", "+8613912345678"),
        ("+86-139-1234-5678", "+8613912345678"),
        ("１３９１２３４５６７８", "+8613912345678"),  # full width
        ("+852 2123 4567", "+85221234567"),  # foreign: phonenumbers
    ],
)
def test_normalize_phone(text: str, e164: str) -> None:
    assert normalize_phone(text) == e164


def test_phone_garbage_is_none() -> None:
    assert normalize_phone("12") is None and normalize_phone(None) is None and normalize_phone("n/a") is None


def test_normalize_email_and_domain() -> None:
    assert normalize_email(" Boss@Example.COM ") == "boss@example.com"
    assert normalize_email("ｂｏｓｓ＠ｅｘａｍｐｌｅ．ｃｏｍ") == "boss@example.com"
    assert normalize_email("not an email") is None
    assert website_domain("http://www.Example.cn/index.html") == "example.cn"
    assert website_domain("www.example.cn:8080") == "example.cn"
    assert website_domain("cw@example.cn") == "example.cn"
    assert website_domain("12345@qq.com") is None  # free mail says nothing
    assert website_domain(None) is None


def test_name_core() -> None:
    hz = "浙江省杭州市"  # city words come from the firm's region; provinces are known without it
    assert name_core("杭州宏达贸易有限公司", hz) == name_core("杭州市宏达商贸有限公司") == "宏达"
    assert name_core("浙江宏达实业股份有限公司") == "宏达"
    assert name_core("宏达科技(杭州)有限公司") == "宏达"
    assert name_core("昆山景拓电子商务有限责任公司", "江苏省苏州市昆山市") == "景拓"
    assert name_core("有限公司") is None


# ------------------------------------------------------------------------------------------ evidence maths


def test_exclusivity_and_noisy_or() -> None:
    # 1 − ((k − 2)/9)²: k = 2 → 1, k = 5 → 1 − 1/9 = 0.889, k = 11 → 0 (above the cap of 10).
    assert exclusivity(np.array([2, 5, 11])).round(3).tolist() == [1.0, 0.889, 0.0]
    assert exclusivity(np.array([4]), cap=3).tolist() == [0.0]
    assert noisy_or(np.array([0.8, 0.5])) == pytest.approx(0.9)  # 1 − 0.2 · 0.5
    assert noisy_or(np.array([])) == 0.0


def test_pairs_skip_hubs_before_pairing() -> None:
    # 1000 firms on one agent address and two on another: the hub gives no pair at all.
    entity = np.arange(1002)
    value = np.array(["hub"] * 1000 + ["x", "x"], dtype=object)
    out = shared_value_pairs(entity, value, cap=10)
    assert out[["a", "b", "k"]].values.tolist() == [[1000, 1001, 2]]
    # A group of exactly cap members is paired completely: 4 members → 6 pairs.
    assert len(shared_value_pairs(np.arange(4), np.array(["v"] * 4, dtype=object), cap=4)) == 6


# ------------------------------------------------------------------------------------------ firm signals

BASE = {"id": ["A", "B", "C", "D"], "name": ["甲一公司", "乙二公司", "丙三公司", "丁四公司"]}


def test_shared_address_phone_email_domain() -> None:
    g = graph(
        {
            **BASE,
            "address": ["浙江省杭州市西湖区文三路90号1幢1201室", "杭州市西湖区文三路９０号１栋１２０１室", None, None],
            "phone": [None, None, "0571-88888888", "+86 571 8888 8888 转 3"],
            "email": ["CW@hongda.cn", None, "cw@hongda.cn ", "hr@hongda.cn"],
        }
    )
    sig = firm_signals(g)
    got = {(int(a), int(b), s): round(w, 3) for a, b, s, w in sig[["a", "b", "signal", "weight"]].values}
    assert got[(0, 1, "address")] == 0.75
    assert got[(2, 3, "phone")] == 0.8
    assert got[(0, 2, "email")] == 0.85
    # domain hongda.cn on A, C, D: k = 3 → 0.6 · (1 − (1/9)²) = 0.593
    assert got[(0, 3, "domain")] == 0.593
    links = pairs_of(suspected_links(g))
    # A–C: email 0.85 and domain 0.593 → 1 − 0.15 · 0.407 = 0.939
    assert links[("A", "C")] == pytest.approx(0.939, abs=1e-3)
    assert links[("A", "B")] == 0.75 and links[("C", "D")] == pytest.approx(1 - 0.2 * 0.407, abs=1e-3)


def test_shared_people_by_role() -> None:
    persons = pd.DataFrame({"id": ["P", "Q", "R"], "name": ["张三", "李四", "王五"]})
    officers = pd.DataFrame(
        {
            "person_id": ["P", "P", "Q", "Q", "R", "R", "P"],
            "company_id": ["A", "B", "B", "C", "C", "D", "C"],
            "role": ["legal_representative", "legal_representative", "finance_head", "finance_head", "director",
                     "supervisor", "director"],
        }
    )  # fmt: skip
    g = graph(BASE, persons=persons, officers=officers)
    sig = firm_signals(g)
    got = {(int(a), int(b), s) for a, b, s in sig[["a", "b", "signal"]].values}
    # P is legal representative of A and B but only a director of C: A–C and B–C are director-strength ties.
    assert (0, 1, "legal_representative") in got
    assert (0, 2, "officer") in got and (1, 2, "officer") in got
    assert (1, 2, "finance_head") in got
    assert (2, 3, "officer") in got
    links = pairs_of(suspected_links(g))
    # P in A, B, C → k = 3 → 0.9 · 0.988 = 0.889 for A–B; C–D only 0.4 (below the threshold).
    assert links[("A", "B")] == pytest.approx(0.889, abs=1e-3)
    assert ("C", "D") not in links


def test_person_holding_shares_in_both() -> None:
    persons = pd.DataFrame({"id": ["P"], "name": ["张三"]})
    holdings = pd.DataFrame({"holder_id": ["P", "P"], "company_id": ["A", "B"], "share": [0.1, 0.1]})
    sig = firm_signals(graph(BASE, persons=persons, shareholdings=holdings))
    assert sig[["a", "b", "signal", "weight"]].values.tolist() == [[0, 1, "shareholder", 0.4]]


def test_same_controller_signal() -> None:
    # D reports itself as controller (nobody above it): it is no sibling of anything.
    controllers = pd.DataFrame({"company_id": ["A", "B", "C", "D"], "controller_id": ["X", "X", None, "D"]})
    links = suspected_links(graph(BASE), controllers=controllers)
    assert pairs_of(links) == {("A", "B"): 0.9}
    assert "same actual controller X" in links["reasons"].iloc[0]


def test_similar_names_in_one_region() -> None:
    g = graph(
        {
            "id": ["A", "B", "C"],
            "name": ["杭州宏达贸易有限公司", "杭州宏达商贸有限公司", "宁波宏达贸易有限公司"],
            "region": ["浙江省杭州市", "浙江省杭州市", "浙江省宁波市"],
        }
    )
    sig = firm_signals(g)
    # Only A–B (same region); weight 0.35 · rapidfuzz ratio (2 · 9 common / 20 characters = 0.9).
    assert sig[["a", "b", "signal"]].values.tolist() == [[0, 1, "name"]]
    assert sig["weight"].iloc[0] == pytest.approx(0.35 * 0.9, abs=1e-3)
    assert suspected_links(g).empty  # a look-alike name alone is no link


def test_hub_address_gives_nothing_and_small_groups_decay() -> None:
    n = 14
    addr = ["杭州市西湖区创业路1号孵化园1幢101室"] * 11 + ["杭州市西湖区文三路2号3幢301室"] * 3
    g = graph({"id": [f"F{i:02d}" for i in range(n)], "name": [f"公司{i}" for i in range(n)], "address": addr})
    sig = firm_signals(g)
    assert set(map(int, sig["a"])) | set(map(int, sig["b"])) == {11, 12, 13}  # the 11-firm hub is gone
    assert sig["weight"].round(3).unique().tolist() == [0.741]  # 0.75 · (1 − 1/81)


def test_revoked_and_deregistered_counterparts_count_less() -> None:
    g = graph({**BASE, "phone": ["13900000000"] * 2 + ["13800000000"] * 2, "status": ["存续", "吊销", "存续", "注销"]})
    w = dict(zip(zip(firm_signals(g)["a"], firm_signals(g)["b"], strict=True), firm_signals(g)["weight"], strict=True))
    assert w[(0, 1)] == pytest.approx(0.8 * 0.7)
    assert w[(2, 3)] == pytest.approx(0.8 * 0.3)


def test_reasons_list_every_signal_and_groups_connect() -> None:
    g = graph(
        {
            **BASE,
            "phone": ["13900000000", "13900000000", None, None],
            "email": ["a@x.cn", "a@x.cn", None, None],
            "address": [None, "杭州市西湖区文三路2号3幢301室", "杭州市西湖区文三路2号3幢301室", None],
        }
    )
    links = suspected_links(g)
    ab = links[(links["a_id"] == "A") & (links["b_id"] == "B")].iloc[0]
    assert ab["signals"] == "email,phone,domain"
    for words in ("same phone", "same email", "domain"):
        assert words in ab["reasons"]
    groups = suspected_groups(g, links)
    assert groups[["size", "members"]].values.tolist() == [[3, "A;B;C"]]


# -------------------------------------------------------------------------------------- same-name persons


def test_same_name_judgements() -> None:
    persons = pd.DataFrame(
        {
            "id": ["P1", "P2", "P3", "P4", "P5"],
            "name": ["王伟", "王伟", "王伟", "李娜", "李娜"],
            "id_pseudonym": ["h1", "h1", "h2", None, None],  # pseudonyms, as the loader stores them
            "phone": ["13900000001", None, "13900000001", "13900000009", "13900000008"],
            "address": [None, None, None, "杭州市西湖区文三路1号1幢1室", "上海市浦东新区张江路2号3幢4室"],
        }
    )
    t = Tables.from_frames({"enterprises": pd.DataFrame(BASE), "persons": persons})
    out = same_name_candidates(EnterpriseGraph(t))
    judged = {(a, b): j for a, b, j in zip(out["a_id"], out["b_id"], out["judgement"], strict=True)}
    assert judged[("P1", "P2")] == "same"  # one ID number
    assert judged[("P1", "P3")] == "distinct"  # same phone, but two different ID numbers settle it
    assert ("P4", "P5") not in judged  # no shared key at all: never paired on the name alone in a known city
    ev = json.loads(out.set_index(["a_id", "b_id"]).loc[("P1", "P3"), "evidence"])
    assert ev["id_number"] == "different pseudonymised ID numbers" and ev["phone"] == "+8613900000001"


def test_only_same_persons_feed_the_signals() -> None:
    persons = pd.DataFrame(
        {"id": ["P1", "P2", "P3"], "name": ["王伟"] * 3,
         "id_pseudonym": ["h1", "h1", "h2"]}
    )  # fmt: skip
    officers = pd.DataFrame(
        {"person_id": ["P1", "P2", "P3"], "company_id": ["A", "B", "C"], "role": ["legal_representative"] * 3}
    )
    t = Tables.from_frames({"enterprises": pd.DataFrame(BASE), "persons": persons, "officers": officers})
    links = pairs_of(suspected_links(EnterpriseGraph(t)))
    assert links == {("A", "B"): 0.9}  # P1 = P2 (one ID); P3 is another 王伟


# ---------------------------------------------------------------------------------- related transactions


def test_undisclosed_related_guarantee_and_trade() -> None:
    persons = pd.DataFrame({"id": ["P"], "name": ["张三"]})
    g = graph(
        {**BASE, "phone": ["13900000000", "13900000000", None, None]},
        persons=persons,
        officers=pd.DataFrame({"person_id": ["P", "P"], "company_id": ["C", "D"], "role": ["director", "director"]}),
        guarantees=pd.DataFrame({"guarantor_id": ["A", "C"], "borrower_id": ["B", "D"], "amount": [100.0, 5.0]}),
        supply_links=pd.DataFrame({"supplier_id": ["B"], "customer_id": ["D"], "amount": [7.0]}),
    )
    controllers = pd.DataFrame({"company_id": ["A", "B", "C", "D"], "controller_id": [None, "X", None, "X"]})
    links = suspected_links(g)
    tx = related_transactions(g, links, controllers)
    # A→B: phone link, no visible tie. C→D: not suspected (a director only, 0.4) and no shared controller.
    # B→D: same controller X, no visible tie.
    got = {(k, f, t): b for k, f, t, b in tx[["kind", "from_id", "to_id", "basis"]].values}
    assert got == {("guarantee", "A", "B"): "suspected link", ("supply", "B", "D"): "same actual controller"}
    assert tx["reason"].str.contains("not visible in ownership").all()


def test_visible_ownership_hides_the_transaction() -> None:
    g = graph(
        {**BASE, "phone": ["13900000000", "13900000000", None, None]},
        shareholdings=pd.DataFrame({"holder_id": ["A"], "company_id": ["B"], "share": [0.6]}),
        guarantees=pd.DataFrame({"guarantor_id": ["A"], "borrower_id": ["B"], "amount": [100.0]}),
    )
    assert related_transactions(g, suspected_links(g)).empty


# ------------------------------------------------------------------------------------ scan and command


def test_scan_analysis_is_registered_with_tables_flags_and_writeback() -> None:
    analysis = {a.name: a for a in registered_analyses()}["hidden_links"]
    assert analysis.order == 35
    g = graph({**BASE, "phone": ["13900000000", "13900000000", None, None]})
    result = analysis.run(g, AnalysisContext(config=Config()))
    assert set(result.tables) == {"suspected_links", "suspected_groups", "person_candidates", "related_transactions"}
    assert result.tables["suspected_links"][["a_id", "b_id", "score"]].values.tolist() == [["A", "B", 0.8]]
    assert {"a_id", "b_id", "score", "reasons"} <= set(result.tables["suspected_links"].columns)
    assert result.flags.empty  # a 0.8 link is listed, not flagged: only a hidden link ≥ 0.9 is an alert
    assert result.section is not None and result.summary["suspected_links"] == 1
    (stmt, rows), (stale, _), (cand, cand_rows), (cand_stale, _) = result.writeback
    assert rows[0]["a_id"] == "A" and rows[0]["score"] == 0.8 and cand_rows == []
    for name, relation in ((stmt, "SUSPECTED_LINK"), (stale, "SUSPECTED_LINK"), (cand, "SAME_PERSON_CANDIDATE"),
                           (cand_stale, "SAME_PERSON_CANDIDATE")):  # fmt: skip
        text = (ROOT / "cypher" / name).read_text(encoding="utf-8")
        assert relation in text and "$run_id" in text


def test_hidden_links_uses_the_controllers_from_context() -> None:
    g = graph(BASE)
    controllers = pd.DataFrame({"company_id": ["A", "B", "C", "D"], "controller_id": ["X", "X", "Y", "Y"]})
    found = hidden_links(g, controllers=controllers)
    assert set(pairs_of(found.links)) == {("A", "B"), ("C", "D")}
    assert len(found.groups) == 2


@pytest.fixture
def links_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    (d / "enterprises.csv").write_text(
        "id,name,phone,address\n"
        "A,杭州甲公司,0571-88888888,杭州市西湖区文三路2号3幢301室\n"
        "B,杭州乙公司,+86 571 8888 8888,杭州市西湖区文三路２号３栋３０１室\n"
        "C,杭州丙公司,,\n",
        encoding="utf-8",
    )
    return d


def test_links_command_table_and_json(links_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHRISK_PSEUDONYM_KEY", "test")
    r = CliRunner().invoke(main, ["links", str(links_dir), "--company", "A", "--format", "json"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output)
    # phone 0.8 and address 0.75: 1 − 0.2 · 0.25 = 0.95
    assert [(x["other_id"], x["score"]) for x in payload["links"]] == [("B", 0.95)]
    assert "same phone" in payload["links"][0]["reasons"]
    r = CliRunner().invoke(main, ["links", str(links_dir), "--company", "C"])
    assert r.exit_code == 0 and "(no suspected links)" in r.output
    r = CliRunner().invoke(main, ["links", str(links_dir), "--company", "A"])
    assert r.exit_code == 0 and "B" in r.output and "0.95" in r.output
    r = CliRunner().invoke(main, ["links", str(links_dir), "--company", "ZZZ"])
    assert r.exit_code == 1 and "ZZZ" in r.output


def test_suspected_link_flags_are_one_per_firm_and_medium_only_for_hidden_strong_links() -> None:
    from graphrisk.analysis.hidden_links import _flags

    links = pd.DataFrame(
        {
            "a_id": ["A", "A", "D"],
            "b_id": ["B", "C", "E"],
            "score": [0.95, 0.92, 0.6],
            "signals": ["controller,legal_representative", "address,phone", "address"],
            "reasons": ["same actual controller P1", "same address; same phone", "same address"],
        }
    )
    flags = _flags(links, pd.DataFrame()).set_index("entity_id")
    # A's strong link to C has no common controller: hidden, so A and C are flagged, once each however many links.
    # B's only link is explained by the controller and D–E's is weak: listed in suspected_links.csv, not flagged.
    assert flags["severity"].to_dict() == {"A": "medium", "C": "medium"}
    evidence = json.loads(flags.loc["A", "evidence"])
    assert evidence["links"] == 2 and [t["other"] for t in evidence["top"]] == ["B", "C"]
    assert flags.loc["A", "reason"].startswith("suspected links to 2 firm(s), strongest B (score 0.95)")
    assert "not explained by a common controller" in flags.loc["A", "reason"]
    assert json.loads(flags.loc["C", "evidence"])["links"] == 1


@pytest.mark.neo4j
def test_suspected_links_and_person_candidates_are_written_back_per_run(neo4j_empty_store: Any) -> None:
    from datetime import date

    from graphrisk.cli.data import load_graph
    from graphrisk.scan import run_scan

    example = Path(__file__).resolve().parents[1] / "examples" / "portfolio"
    graph, config = load_graph(example)
    neo4j_empty_store.load(graph.tables)
    scan = run_scan(graph, AnalysisContext(config=config, as_of=date(2026, 6, 30)), only=["ownership", "hidden_links"])
    result = next(r for r in scan.results if r.name == "hidden_links")
    statements = dict(result.writeback)
    links = statements["writeback/hidden_links_suspected.cypher"]
    people = statements["writeback/hidden_links_person_candidates.cypher"]
    assert len(links) == len(result.tables["suspected_links"]) > 0
    for name, rows in result.writeback:
        neo4j_empty_store.write(name, rows, params={"run_id": "r1", "algorithm": "hidden_links"})
    counts = neo4j_empty_store.counts()
    assert counts["SUSPECTED_LINK"] == len(links)
    assert counts.get("SAME_PERSON_CANDIDATE", 0) == len(people)
    # A later run that keeps one link: the stale statements leave exactly that run's relations.
    for name, rows in result.writeback:
        kept = rows[:1] if name == "writeback/hidden_links_suspected.cypher" else rows
        neo4j_empty_store.write(name, kept, params={"run_id": "r2", "algorithm": "hidden_links"})
    assert neo4j_empty_store.counts()["SUSPECTED_LINK"] == 1
