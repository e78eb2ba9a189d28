"""`graphrisk viz` and `graphrisk explain` through CliRunner: offline pages, counts, escaping, masking, dossier JSON.

The hand graph (amounts in CNY):

    P1 张三丰 (person, ID number 11010519491231002X) —holds 60 %→ A, and is A's legal representative
    B —holds 30 %→ A
    guarantees A→B 500万, B→C 1000万, C→A 200万 (a revolving cycle A, B, C), A→X1 100万
    supply X2→A 300万, A→H, and H→S01 … S30 (a hub with 30 customers)
    X1 and X2 carry script-injection names; EVIL_ID is an enterprise whose id is an injection too (C→EVIL_ID supply).

Ego network of A, 2 hops, at most 25 new neighbours per node:
    hop 1: P1, B, C, X1, X2, H (6);  hop 2: EVIL_ID (via C) and H's 30 customers → S01 … S25 drawn,
    "… and 5 more" (the limit counts new neighbours per expanded node)
    nodes 1 + 6 + 1 + 25 + 1 (more) = 34
    edges ownership 2 + officer 1 + guarantee 4 + supply (X2→A, A→H, C→EVIL_ID, 25 H→S) 28 + the more-edge 1 = 36
With 1 hop: 7 nodes, 2 + 1 + 4 + 2 (X2→A, A→H) = 9 edges, no "more" node (H is not expanded).
Path X1 → H: X1 —(A→X1 guarantee)— A —(A→H supply)— H: 3 nodes, 2 edges.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from graphrisk.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
ASSET = ROOT / "graphrisk" / "report" / "assets" / "vis-network.min.js"
XSS1 = "<img src=x onerror=alert(1)>"
XSS2 = "</script><script>alert(1)</script>"
EVIL_ID = "E<img src=x onerror=alert(3)>"
ID_NUMBER = "11010519491231002X"
PERSON = "张三丰"
# URLs inside the vendored vis-network build: its licence header and core-js's metadata strings. They are text,
# never fetched (the browser test checks no request leaves file://).
VENDOR_URLS = {
    "http://almende.com",
    "http://naver.github.io/egjs",
    "http://opensource.org/licenses/MIT",
    "http://www.apache.org/licenses/LICENSE-2.0",
    "https://github.com/visjs",
    "https://github.com/zloirock/core-js",
    "https://github.com/zloirock/core-js/blob/v3.51.0/LICENSE",
    "https://visjs.github.io/vis-network/",
}


def write_hand_data(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    shops = [f"S{k:02d}" for k in range(1, 31)]
    ent = [
        "id,name,pd,defaulted",
        "A,甲公司,0.01,false",
        "B,乙公司,0.03,false",
        "C,丙公司,0.2,true",
        f'X1,"{XSS1}",0.001,false',
        f'X2,"{XSS2}",,false',
        "H,枢纽公司,0.05,false",
        f'"{EVIL_ID}",恶意编号公司,,false',
    ]
    ent += [f"{s},客户{s},0.01,false" for s in shops]
    (d / "enterprises.csv").write_text("\n".join(ent) + "\n", encoding="utf-8")
    (d / "persons.csv").write_text(f"id,name,id_number\nP1,{PERSON},{ID_NUMBER}\n", encoding="utf-8")
    (d / "shareholdings.csv").write_text("holder_id,company_id,share\nP1,A,0.6\nB,A,0.3\n", encoding="utf-8")
    (d / "officers.csv").write_text("person_id,company_id,role\nP1,A,legal_representative\n", encoding="utf-8")
    (d / "guarantees.csv").write_text(
        "guarantor_id,borrower_id,amount,loan_id\nA,B,5000000,L1\nB,C,10000000,L2\nC,A,2000000,L3\nA,X1,1000000,L4\n",
        encoding="utf-8",
    )
    supply = ["supplier_id,customer_id,amount", "X2,A,3000000", "A,H,1000000", f'C,"{EVIL_ID}",10000']
    supply += [f"H,{s},{10000 * (k + 1)}" for k, s in enumerate(shops)]
    (d / "supply_links.csv").write_text("\n".join(supply) + "\n", encoding="utf-8")
    (d / "exposures.csv").write_text("borrower_id,ead\nA,80000000\nB,20000000\nH,5000000\n", encoding="utf-8")
    return d


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRAPHRISK_PSEUDONYM_KEY", "test-views")
    return write_hand_data(tmp_path / "data")


class Page(HTMLParser):
    """Every tag with its attributes and every script's text, by id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in: dict[str, str | None] | None = None
        self._buf: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in, self._buf = dict(attrs), []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._in is not None:
            self.scripts.append((self._in, "".join(self._buf)))
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self._buf.append(data)

    def script(self, script_id: str) -> str:
        return next(text for attrs, text in self.scripts if attrs.get("id") == script_id)


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


def graph_data(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(parse(text).script("graphrisk-data"))
    return data


def assert_offline(text: str) -> None:
    """No attribute points anywhere, no script or stylesheet is loaded, a CSP forbids the network, and the only
    URL-shaped text is inside the unchanged vendored vis-network build."""
    page = parse(text)
    for tag, attrs in page.tags:
        assert tag not in ("link", "iframe", "img", "object", "embed", "base", "form"), tag
        assert not (tag == "script" and "src" in attrs)
        for name, value in attrs.items():
            assert name not in ("src", "href", "action", "srcset", "background"), (tag, name, value)
            if value and name != "content":
                assert not re.search(r"(https?:|//|ftp:|ws:)", value), (tag, name, value)
    csp = [a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in str(csp[0]) and "connect-src" not in str(csp[0])
    lib = page.script("vis-network-lib")
    assert lib == ASSET.read_text(encoding="utf-8")  # the reviewed asset, unchanged
    assert set(re.findall(r"https?://[^\s\"')]+", lib)) <= VENDOR_URLS
    rest = text.replace(lib, "")
    assert not re.search(r"https?://|url\(|@import|fetch\(|XMLHttpRequest|WebSocket", rest)


def run(args: list[str]) -> Any:
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r


def viz(data_dir: Path, out: Path, *extra: str) -> str:
    run(["viz", str(data_dir), "--out", str(out), *extra])
    return out.read_text(encoding="utf-8")


def test_ego_counts_bounded_expansion_and_offline(data_dir: Path, tmp_path: Path) -> None:
    text = viz(data_dir, tmp_path / "a.html", "--entity", "A")
    assert_offline(text)
    data = graph_data(text)
    assert len(data["nodes"]) == 34
    assert len(data["edges"]) == 36
    more = [n for n in data["nodes"] if n.get("kind") == "more"]
    assert [n["label"] for n in more] == ["… and 5 more"] and more[0]["id"] == "more:H"
    ids = {n["id"] for n in data["nodes"]}
    assert {f"S{k:02d}" for k in range(1, 26)} <= ids and "S26" not in ids
    assert data["focus"] == ["A"]
    by_rel: dict[str, int] = {}
    for e in data["edges"]:
        by_rel[e["relation"]] = by_rel.get(e["relation"], 0) + 1
    assert by_rel == {"ownership": 2, "officer": 1, "guarantee": 4, "supply": 28, "more": 1}
    edge = next(e for e in data["edges"] if (e["from"], e["to"]) == ("B", "C"))
    assert edge["label"] == "1000万" and edge["arrows"] == "to"  # guarantor → borrower, amount in 万
    share = next(e for e in data["edges"] if (e["from"], e["to"]) == ("P1", "A") and e["relation"] == "ownership")
    assert share["label"] == "60%"
    nodes = {n["id"]: n for n in data["nodes"]}
    assert nodes["C"]["defaulted"] is True and nodes["C"]["label"].startswith("✖")
    assert nodes["P1"]["shape"] == "triangle" and nodes["A"]["shape"] == "dot"
    # The revolving cycle A → B → C → A is highlighted, and A is flagged for it (local analyses).
    assert all(
        e.get("highlight") for e in data["edges"] if (e["from"], e["to"]) in {("A", "B"), ("B", "C"), ("C", "A")}
    )
    assert any("in_revolving_cycle" in line for line in nodes["A"]["tip"])
    assert nodes["A"]["risk"] == "high"


def test_one_hop_and_relations(data_dir: Path, tmp_path: Path) -> None:
    data = graph_data(viz(data_dir, tmp_path / "a1.html", "--entity", "A", "--hops", "1"))
    assert (len(data["nodes"]), len(data["edges"])) == (7, 9)
    data = graph_data(viz(data_dir, tmp_path / "g.html", "--entity", "A", "--relations", "guarantee"))
    assert sorted(n["id"] for n in data["nodes"]) == ["A", "B", "C", "X1"]
    assert len(data["edges"]) == 4


def test_max_nodes_bounds_the_picture(data_dir: Path, tmp_path: Path) -> None:
    # Hop 1 takes B, H (largest EAD first), then C, P1, X1, X2: 7 nodes. Hop 2 expands B (nothing new), then
    # H: 3 places left, S01 and S02 plus "… and 28 more"; then the picture is full and C is not expanded.
    text = viz(data_dir, tmp_path / "n.html", "--entity", "A", "--max-nodes", "10")
    data = graph_data(text)
    more = {n["id"]: n["label"] for n in data["nodes"] if n.get("kind") == "more"}
    assert more == {"more:H": "… and 28 more"}
    assert len(data["nodes"]) == 10
    assert "1 entities at its edge not expanded" in " ".join(data["notes"])


def test_path_mode(data_dir: Path, tmp_path: Path) -> None:
    text = viz(data_dir, tmp_path / "p.html", "--path", "X1", "H")
    assert_offline(text)
    data = graph_data(text)
    assert [n["id"] for n in data["nodes"]] == ["A", "H", "X1"] or {n["id"] for n in data["nodes"]} == {"A", "H", "X1"}
    assert len(data["edges"]) == 2 and all(e.get("highlight") for e in data["edges"])
    assert sorted(data["focus"]) == ["H", "X1"]


def test_xss_names_only_escaped(data_dir: Path, tmp_path: Path) -> None:
    for text in (
        viz(data_dir, tmp_path / "x.html", "--entity", "A"),
        (
            run(["explain", str(data_dir), "--entity", "A", "--out", str(tmp_path / "d.html")]),
            (tmp_path / "d.html").read_text(encoding="utf-8"),
        )[1],
    ):
        for raw in (XSS1, XSS2, EVIL_ID, "<img", "<script>alert"):
            assert raw not in text
        labels = {n["label"] for n in graph_data(text)["nodes"]}
        assert XSS1 in labels and XSS2 in labels  # shown as text: the JSON carries them, escaped
        assert EVIL_ID in {n["id"] for n in graph_data(text)["nodes"]}
        # Only our three scripts: the data block, the library and the initialiser.
        assert len(parse(text).scripts) == 3


def test_names_masked_by_default_and_no_id_number(data_dir: Path, tmp_path: Path) -> None:
    masked = viz(data_dir, tmp_path / "m.html", "--entity", "A")
    shown = viz(data_dir, tmp_path / "s.html", "--entity", "A", "--show-names")
    dossier = run(["explain", str(data_dir), "--entity", "A", "--format", "json"]).output
    dossier_shown = run(["explain", str(data_dir), "--entity", "A", "--format", "json", "--show-names"]).output
    for text in (masked, shown, dossier, dossier_shown):
        assert ID_NUMBER not in text and ID_NUMBER[:17] not in text
    assert PERSON not in masked and PERSON not in dossier
    assert {n["label"] for n in graph_data(masked)["nodes"] if n["id"] == "P1"} == {"张*丰"}
    assert {n["label"] for n in graph_data(shown)["nodes"] if n["id"] == "P1"} == {PERSON}
    assert PERSON in json.loads(dossier_shown)["controller"]["controller_name"]


def test_dossier_json_fields(data_dir: Path) -> None:
    d = json.loads(run(["explain", str(data_dir), "--entity", "A", "--format", "json"]).output)
    assert d["entity_id"] == "A" and d["kind"] == "enterprise"
    assert d["identity"]["name"] == "甲公司" and d["identity"]["pd"] == 0.01 and d["identity"]["pd_band"] == "low"
    assert d["exposure"]["ead"] == 80_000_000 and d["exposure"]["ead_text"] == "8000万"
    c = d["controller"]
    # P1 holds 60 %: majority control; the chain runs P1 → A.
    assert (c["controller_id"], c["controller_kind"], c["rule"]) == ("P1", "person", "majority_chain")
    assert [x["id"] for x in c["chain"]] == ["P1", "A"] and c["controller_name"] == "张*丰"
    assert {o["holder_id"]: o["direct_share"] for o in d["owners"]} == {"P1": 0.6, "B": 0.3}
    assert [b["person_id"] for b in d["beneficial_owners"]] == ["P1"]
    g = d["guarantees"]
    assert g["available"] is True
    assert sorted(x["counterparty_id"] for x in g["given"]) == ["B", "X1"] and g["given_total"] == 6_000_000
    assert [x["counterparty_id"] for x in g["received"]] == ["C"]
    pats = {p["pattern"]: p for p in g["patterns"]}
    assert pats["revolving"]["members"] == ["A", "B", "C"]
    assert pats["circle"]["size"] == 4  # A, B, C, X1: the weak component of active guarantees
    assert set(d["sections_missing"]) == {"suspected_links", "contagion", "group_and_limits"}
    assert "in_revolving_cycle" in {f["flag"] for f in d["flags"]}


def test_dossier_html_offline_and_sections(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "dossier.html"
    run(["explain", str(data_dir), "--entity", "A", "--out", str(out)])
    text = out.read_text(encoding="utf-8")
    assert_offline(text)
    for heading in (
        "Actual controller",
        "Owners",
        "Beneficial owners",
        "Guarantees",
        "suspected links",
        "contagion",
        "group and limits",
        "Flags",
        "Picture",
    ):
        assert heading in text
    assert "issue 6" in text and "issue 5" in text and "issue 7" in text
    assert len(graph_data(text)["nodes"]) == 34


def test_person_dossier_and_unknown_entity(data_dir: Path) -> None:
    d = json.loads(run(["explain", str(data_dir), "--entity", "P1", "--format", "json"]).output)
    assert d["kind"] == "person" and d["identity"]["name"] == "张*丰"
    assert d["holdings"] == [{"company_id": "A", "company_name": "甲公司", "share": 0.6}]
    r = CliRunner().invoke(main, ["viz", str(data_dir), "--entity", "NOPE"])
    assert r.exit_code == 1 and "NOPE" in r.output
    r = CliRunner().invoke(main, ["viz", str(data_dir)])
    assert r.exit_code == 2


def test_all_digit_uscc_kept_and_person_id_number_hidden() -> None:
    # Public bodies' USCCs can be 18 digits, shaped like a resident ID number: they stay (and stay distinct).
    # A person id that is an ID number (a graph not built by the loaders, which pseudonymise it) is replaced.
    import pandas as pd

    from graphrisk.graph import EnterpriseGraph
    from graphrisk.report.viz import ego_view, render_view_html
    from graphrisk.tables import Tables

    g = EnterpriseGraph(
        Tables.from_frames(
            {
                "enterprises": pd.DataFrame({"id": ["111200006812880531", "111200006812880532"], "name": ["甲", "乙"]}),
                "persons": pd.DataFrame({"id": [ID_NUMBER], "name": [PERSON]}),
                "guarantees": pd.DataFrame(
                    {"guarantor_id": ["111200006812880531"], "borrower_id": ["111200006812880532"], "amount": [1.0]}
                ),
                "officers": pd.DataFrame(
                    {"person_id": [ID_NUMBER], "company_id": ["111200006812880531"], "role": ["manager"]}
                ),
            }
        )
    )
    view = ego_view(g, "111200006812880531")
    ids = sorted(n["id"] for n in view.nodes)
    assert ids[:2] == ["111200006812880531", "111200006812880532"] and ids[2].startswith("masked-")
    text = render_view_html(view)
    assert ID_NUMBER not in text and PERSON not in text and len(graph_data(text)["edges"]) == 2


def test_flags_file_colours_and_no_path(data_dir: Path, tmp_path: Path) -> None:
    flags = tmp_path / "flags.csv"
    flags.write_text(
        "entity_id,flag,severity,reason,evidence,analysis\nS01,watch_list,high,on the bank's watch list,{},manual\n",
        encoding="utf-8-sig",
    )
    data = graph_data(viz(data_dir, tmp_path / "f.html", "--entity", "A", "--flags", str(flags)))
    nodes = {n["id"]: n for n in data["nodes"]}
    assert nodes["S01"]["risk"] == "high" and "[high] watch_list: on the bank's watch list" in nodes["S01"]["tip"]
    # Only the guarantee relation: P1 (a person) is not linked to X1 by any guarantee.
    data = graph_data(viz(data_dir, tmp_path / "np.html", "--path", "P1", "X1", "--relations", "guarantee"))
    assert {n["id"] for n in data["nodes"]} == {"P1", "X1"} and data["edges"] == []
    assert data["notes"] == ["no path between P1 and X1"]


def test_dossier_html_to_stdout(data_dir: Path) -> None:
    out = run(["explain", str(data_dir), "--entity", "B", "--out", "-"]).output
    assert out.startswith("<!DOCTYPE html>") and "乙公司" in out
    assert_offline(out)


@pytest.mark.neo4j
def test_views_on_neo4j_match_embedded(data_dir: Path, tmp_path: Path, neo4j_empty_store: Any) -> None:
    import os

    from loaders import load_tables

    neo4j_empty_store.load(load_tables(data_dir, pseudonym_key=b"test-views"))
    uri = os.environ["NEO4J_URI"]
    args = ["explain", str(data_dir), "--entity", "A", "--format", "json", "--as-of", "2026-06-30"]
    assert json.loads(run([*args, "--neo4j-uri", uri]).output) == json.loads(run(args).output)
    a = graph_data(viz(data_dir, tmp_path / "e.html", "--entity", "A"))
    b = graph_data(viz(data_dir, tmp_path / "n.html", "--entity", "A", "--neo4j-uri", uri))
    assert b["nodes"] == a["nodes"] and len(b["edges"]) == len(a["edges"]) == 36
