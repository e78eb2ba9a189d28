"""Tests of the synthetic portfolio generator: validity, integrity, determinism and every planted pattern."""

from __future__ import annotations

import doctest
import io
import itertools
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import connected_components
from stdnum.cn import ric, uscc

import graphrisk.synth as synth
from graphrisk.cli.generate import generate
from graphrisk.schema import SCHEMA
from graphrisk.synth import AS_OF, SyntheticPortfolio, generate_portfolio, portfolio_files

SMALL, LARGE = 300, 2000


@pytest.fixture(scope="module")
def small() -> SyntheticPortfolio:
    return generate_portfolio(SMALL, seed=7)


@pytest.fixture(scope="module")
def large() -> SyntheticPortfolio:
    return generate_portfolio(LARGE, seed=11)


@pytest.fixture(scope="module", params=["small", "large"])
def portfolio(request: pytest.FixtureRequest) -> SyntheticPortfolio:
    p: SyntheticPortfolio = request.getfixturevalue(request.param)
    return p


def patterns(p: SyntheticPortfolio, kind: str) -> list[dict[str, Any]]:
    return [q for q in p.ground_truth["patterns"] if q["kind"] == kind]


def edges(p: SyntheticPortfolio) -> set[tuple[str, str]]:
    g = p.tables["guarantees"]
    return set(zip(g["guarantor_id"], g["borrower_id"], strict=True))


# --- determinism and serialisation -------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_other_seed_differs() -> None:
    a = portfolio_files(generate_portfolio(SMALL, seed=3))
    b = portfolio_files(generate_portfolio(SMALL, seed=3))
    c = portfolio_files(generate_portfolio(SMALL, seed=4))
    assert a == b
    assert sorted(a) == sorted([f"{t.name}.csv" for t in SCHEMA] + ["ground_truth.json"])
    for name in a:
        assert a[name] != c[name], name


def test_files_have_canonical_headers_unix_newlines_and_parse_back(small: SyntheticPortfolio) -> None:
    files = portfolio_files(small)
    for t in SCHEMA:
        data = files[f"{t.name}.csv"]
        assert b"\r\n" not in data
        header = data.decode("utf-8").split("\n", 1)[0]
        assert header == ",".join(c.name for c in t.columns)
        back = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        assert len(back) == len(small.tables[t.name])
    ent = pd.read_csv(io.BytesIO(files["enterprises.csv"]), dtype=str, keep_default_na=False)
    assert set(ent["listed"]) == {"true", "false"}
    truth = json.loads(files["ground_truth.json"].decode("utf-8"))
    assert truth == json.loads(json.dumps(small.ground_truth))
    assert files["ground_truth.json"].decode("utf-8").startswith('{\n  "as_of"')  # sorted keys, indent 2
    assert "有限公司" in files["enterprises.csv"].decode("utf-8")  # UTF-8, not escaped


def test_columns_are_canonical_and_in_schema_order(portfolio: SyntheticPortfolio) -> None:
    assert list(portfolio.tables) == [t.name for t in SCHEMA]
    for t in SCHEMA:
        assert list(portfolio.tables[t.name].columns) == [c.name for c in t.columns]


def test_too_small_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        generate_portfolio(50)


def test_progress_is_reported() -> None:
    seen: list[str] = []
    generate_portfolio(SMALL, seed=1, progress=seen.append)
    assert len(seen) >= 8
    assert any(m.startswith("guarantees:") for m in seen)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(synth)
    assert result.attempted >= 2
    assert result.failed == 0


# --- identifiers -------------------------------------------------------------------------------------------


def test_uscc_and_resident_ids_are_valid(portfolio: SyntheticPortfolio) -> None:
    ent = portfolio.tables["enterprises"]
    sample = ent.sample(min(len(ent), 400), random_state=0)
    assert all(uscc.is_valid(x) for x in sample["uscc"])
    assert (ent["id"] == ent["uscc"]).all()
    assert ent["uscc"].str.len().eq(18).all()
    persons = portfolio.tables["persons"]
    sample = persons.sample(min(len(persons), 400), random_state=0)
    bad = [x for x in sample["id_number"] if not ric.is_valid(x)]
    assert not bad
    assert persons["id"].str.fullmatch(r"P\d{6,}").all()
    assert persons["id_number"].is_unique


def test_organisation_code_inside_uscc_has_its_own_valid_check(small: SyntheticPortfolio) -> None:
    for code in small.tables["enterprises"]["uscc"]:
        body = code[8:16]
        total = sum(
            (int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)
        )
        check = 11 - total % 11
        assert code[16] == {10: "X", 11: "0"}.get(check, str(check))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=17, max_size=17), min_size=1, max_size=20))
def test_vectorised_uscc_check_matches_stdnum(bodies: list[str]) -> None:
    codes = np.frombuffer("".join(bodies).encode(), dtype=np.uint8).reshape(len(bodies), 17)
    got = [chr(c) for c in synth._uscc_check(codes)]
    assert got == [uscc.calc_check_digit(b) for b in bodies]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="0123456789", min_size=17, max_size=17), min_size=1, max_size=20))
def test_vectorised_ric_check_matches_stdnum(bodies: list[str]) -> None:
    codes = np.frombuffer("".join(bodies).encode(), dtype=np.uint8).reshape(len(bodies), 17)
    got = [chr(c) for c in synth._ric_check(codes)]
    assert got == [ric.calc_check_digit(b + "0") for b in bodies]


# --- integrity ---------------------------------------------------------------------------------------------


def test_referential_integrity_keys_and_no_self_loops(portfolio: SyntheticPortfolio) -> None:
    t = portfolio.tables
    ent_ids = set(t["enterprises"]["id"])
    person_ids = set(t["persons"]["id"])
    assert len(ent_ids) == len(t["enterprises"]) == portfolio.ground_truth["n_enterprises"]
    assert len(person_ids) == len(t["persons"])
    assert not ent_ids & person_ids
    for table in SCHEMA:
        df = t[table.name]
        assert not df.duplicated(list(table.key)).any(), table.name
        for required in table.required_columns:
            assert df[required].notna().all(), (table.name, required)
        for c in table.columns:
            if c.references:
                allowed: set[str] = set()
                for ref in c.references:
                    allowed |= ent_ids if ref == "enterprises" else person_ids
                assert set(df[c.name].dropna()) <= allowed, (table.name, c.name)
            if c.type in ("share", "probability") and c.name in df:
                vals = df[c.name].dropna()
                assert ((vals >= 0) & (vals <= 1)).all(), (table.name, c.name)
        if table.kind == "relation":
            assert not (df[table.source] == df[table.target]).any(), table.name


def test_shares_per_company_sum_to_at_most_one(portfolio: SyntheticPortfolio) -> None:
    sh = portfolio.tables["shareholdings"]
    assert sh.groupby("company_id")["share"].sum().max() <= 1 + 1e-9
    ranged = sh.dropna(subset=["share_min"])
    assert len(ranged) > 0 or len(sh) < 1000
    assert (ranged["share_min"] <= ranged["share"] + 1e-12).all()
    assert (ranged["share"] <= ranged["share_max"] + 1e-12).all()
    assert sh["voting_share"].notna().any()


def test_every_enterprise_has_one_legal_representative(portfolio: SyntheticPortfolio) -> None:
    off = portfolio.tables["officers"]
    lr = off[off["role"] == "legal_representative"]
    assert lr["company_id"].is_unique
    assert set(lr["company_id"]) == set(portfolio.tables["enterprises"]["id"])
    roles = set(off["role"])
    assert {"director", "supervisor", "manager", "finance_head", "chairman"} <= roles
    assert roles <= {v for v, _ in SCHEMA["officers"].column("role").enum}


def test_financials_ratings_and_flags_are_consistent(large: SyntheticPortfolio) -> None:
    ent = large.tables["enterprises"]
    firms = ent[ent["total_assets"].notna()]
    assert np.allclose(firms["net_assets"], firms["total_assets"] - firms["total_liabilities"], atol=0.011)
    assert (firms["net_assets"] < 0).any()  # some insolvent firms
    live = firms[~firms["defaulted"]]
    assert live["pd"].between(0.0003, 0.3).all()
    assert (firms.loc[firms["defaulted"], "pd"] == 1.0).all()
    assert 0.003 <= firms["defaulted"].mean() <= 0.03
    assert 0.005 <= ent["listed"].mean() <= 0.02
    # Better grades never carry a higher pd than worse ones.
    order = {g: i for i, g in enumerate(synth._RATINGS)}
    by_grade = live.assign(g=live["rating"].map(order)).groupby("g")["pd"].agg(["min", "max"]).sort_index()
    assert (by_grade["max"].shift(1).dropna() <= by_grade["min"].iloc[1:] + 1e-12).all()
    # pd rises with leverage.
    lev = live["total_liabilities"] / live["total_assets"]
    assert np.corrcoef(lev, np.log(live["pd"]))[0, 1] > 0.5
    assert set(ent["status"]) <= {"存续", "在业", "吊销", "注销"}
    assert ent["established"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert ent["name"].is_unique
    assert ent["name"].str.endswith(("有限公司", "有限责任公司", "股份有限公司", "集团有限公司", "委员会")).all()
    assert ent["phone"].dropna().str.fullmatch(r"0\d{2,3}-[2-8]\d{7}|1[3-9]\d{9}").all()


def test_sizes_are_about_as_asked(large: SyntheticPortfolio) -> None:
    n = large.ground_truth["n_enterprises"]
    t = large.tables
    assert 0.35 * n <= len(t["persons"]) <= 0.7 * n
    assert 0.8 * n <= len(t["guarantees"]) <= 1.3 * n
    assert 0.8 * n <= len(t["supply_links"]) <= 1.2 * n
    borrowers = t["exposures"]["borrower_id"].nunique()
    assert 0.3 * n <= borrowers <= 0.55 * n
    assert t["exposures"]["lgd"].between(0.25, 0.6).all()
    g = t["guarantees"]
    assert (g["end_date"] < AS_OF).sum() > 0  # a few expired
    assert (g["end_date"] < AS_OF).mean() < 0.1
    assert (g["start_date"] < g["end_date"]).all()
    assert set(g["kind"]) == {"guarantee", "mortgage", "pledge"}
    assert set(g["currency"]) == {"CNY"}


# --- planted patterns --------------------------------------------------------------------------------------


def test_ground_truth_members_exist(portfolio: SyntheticPortfolio) -> None:
    ids = set(portfolio.tables["enterprises"]["id"]) | set(portfolio.tables["persons"]["id"])
    kinds = Counter(q["kind"] for q in portfolio.ground_truth["patterns"])
    assert set(kinds) == {
        "mutual_guarantee",
        "joint_guarantee",
        "revolving_cycle",
        "guarantee_chain",
        "hub_guarantor",
        "hidden_group",
        "hub_address",
        "same_name_persons",
        "cross_holding",
        "state_root",
        "pyramid",
        "concentrated_customer",
    }
    for q in portfolio.ground_truth["patterns"]:
        assert q["members"] and set(q["members"]) <= ids, q
        assert len(set(q["members"])) == len(q["members"]), q
    assert portfolio.ground_truth["as_of"] == AS_OF


def test_mutual_pairs_have_both_directions(portfolio: SyntheticPortfolio) -> None:
    e = edges(portfolio)
    pairs = patterns(portfolio, "mutual_guarantee")
    assert pairs
    for q in pairs:
        a, b = q["members"]
        assert (a, b) in e and (b, a) in e


def test_revolving_cycles_are_directed_cycles(portfolio: SyntheticPortfolio) -> None:
    e = edges(portfolio)
    cycles = patterns(portfolio, "revolving_cycle")
    assert cycles
    for q in cycles:
        m = q["members"]
        assert 3 <= len(m) <= 8 and q["length"] == len(m)
        for i, a in enumerate(m):
            assert (a, m[(i + 1) % len(m)]) in e


def test_background_creates_no_unlisted_guarantee_cycles(portfolio: SyntheticPortfolio) -> None:
    g = portfolio.tables["guarantees"]
    ids = pd.Index(portfolio.tables["enterprises"]["id"])
    src, dst = ids.get_indexer(g["guarantor_id"]), ids.get_indexer(g["borrower_id"])
    adj = sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(len(ids), len(ids)))
    _, label = connected_components(adj, directed=True, connection="strong")
    sccs = [set(ids[label == c]) for c, k in Counter(label).items() if k > 1]
    planted = [set(q["members"]) for q in patterns(portfolio, "mutual_guarantee")]
    planted += [set(q["members"]) for q in patterns(portfolio, "revolving_cycle")]
    assert sorted(map(sorted, sccs)) == sorted(map(sorted, planted))
    # Inside each planted set only the planted edges: the set is one simple cycle, no chords.
    pairs = set(zip(g["guarantor_id"], g["borrower_id"], strict=True))
    for s in planted:
        assert sum((a, b) in pairs for a in s for b in s) == len(s)


def test_joint_guarantees_share_one_loan(portfolio: SyntheticPortfolio) -> None:
    g = portfolio.tables["guarantees"]
    joint = patterns(portfolio, "joint_guarantee")
    assert joint
    for q in joint:
        rows = g[g["loan_id"] == q["loan_id"]]
        assert 2 <= len(rows) <= 4
        assert set(rows["guarantor_id"]) == set(q["guarantors"])
        assert set(rows["borrower_id"]) == {q["borrower"]}
        assert rows["start_date"].nunique() == 1
    # No accidental joint guarantees: every other loan has one guarantor.
    per_loan = g.groupby("loan_id")["guarantor_id"].nunique()
    assert set(per_loan[per_loan > 1].index) == {q["loan_id"] for q in joint}


def test_chains_and_hubs_are_real(portfolio: SyntheticPortfolio) -> None:
    e = edges(portfolio)
    for q in patterns(portfolio, "guarantee_chain"):
        m = q["members"]
        assert 6 <= q["length"] == len(m) - 1 <= 12
        assert all((a, b) in e for a, b in itertools.pairwise(m))
    out = Counter(a for a, _ in e)
    hubs = patterns(portfolio, "hub_guarantor")
    assert hubs
    for q in hubs:
        assert 10 <= len(q["members"]) - 1 <= 40
        assert all((q["hub"], b) in e for b in q["members"][1:])
    # Background guarantors stay small, so every firm guaranteeing ten or more others is a planted hub.
    assert {a for a, k in out.items() if k >= 10} == {q["hub"] for q in hubs}


def test_same_name_persons_are_distinct_people(portfolio: SyntheticPortfolio) -> None:
    persons = portfolio.tables["persons"].set_index("id")
    groups = patterns(portfolio, "same_name_persons")
    assert groups
    for q in groups:
        rows = persons.loc[q["members"]]
        assert len(rows) >= 2
        assert rows["name"].nunique() == 1 and rows["name"].iloc[0] == q["name"]
        assert rows["id_number"].is_unique
    # The planted groups are all the name clashes there are.
    counts = persons["name"].value_counts()
    assert set(counts[counts > 1].index) == {q["name"] for q in groups}


def test_hub_addresses_are_shared_by_many_firms(portfolio: SyntheticPortfolio) -> None:
    ent = portfolio.tables["enterprises"]
    hubs = patterns(portfolio, "hub_address")
    assert hubs
    n = portfolio.ground_truth["n_enterprises"]
    for q in hubs:
        firms = ent.loc[ent["address"] == q["address"], "id"]
        assert set(firms) == set(q["members"])
        assert len(firms) >= min(50, max(8, n // 40))


def test_hidden_groups_share_what_they_say_and_have_no_ownership_link(portfolio: SyntheticPortfolio) -> None:
    t = portfolio.tables
    ent = t["enterprises"].set_index("id")
    off = t["officers"]
    sh = t["shareholdings"]
    nodes = pd.Index(pd.concat([t["enterprises"]["id"], t["persons"]["id"]], ignore_index=True))
    h, c = nodes.get_indexer(sh["holder_id"]), nodes.get_indexer(sh["company_id"])
    adj = sp.csr_matrix((np.ones(len(h)), (h, c)), shape=(len(nodes), len(nodes)))
    _, comp = connected_components(adj, directed=False)
    comp_of = dict(zip(nodes, comp, strict=True))
    groups = patterns(portfolio, "hidden_group")
    assert groups
    for q in groups:
        m = q["members"]
        assert 2 <= len(m) <= 6
        assert len({comp_of[x] for x in m}) == len(m)  # no ownership path between any two members
        for what in ("address", "phone", "email"):
            if what in q["shared"]:
                assert (ent.loc[m, what] == q[what]).all()
        if "officer" in q["shared"]:
            rows = off[(off["role"] == q["role"]) & off["company_id"].isin(m)]
            assert set(rows["company_id"]) == set(m)
            assert set(rows["person_id"]) == {q["person_id"]}
    # Outside the planted groups and hubs no address is shared across unrelated firms.
    firms = t["enterprises"].dropna(subset=["address"])
    shared = firms[firms.duplicated("address", keep=False)]
    planted = {a for q in groups if "address" in q["shared"] for a in [q["address"]]}
    planted |= {q["address"] for q in patterns(portfolio, "hub_address")}
    assert set(shared["address"]) == planted


def test_cross_holdings_state_roots_and_pyramids(portfolio: SyntheticPortfolio) -> None:
    t = portfolio.tables
    sh = t["shareholdings"]
    held = set(zip(sh["holder_id"], sh["company_id"], strict=True))
    crosses = patterns(portfolio, "cross_holding")
    assert crosses
    for q in crosses:
        a, b = q["members"]
        assert (a, b) in held and (b, a) in held
        assert all(0 < s <= 0.1 for s in q["shares"])
    ent = t["enterprises"].set_index("id")
    roots = patterns(portfolio, "state_root")
    assert roots
    for q in roots:
        assert "国有资产监督管理委员会" in ent.loc[q["root"], "name"]
        assert ent.loc[q["members"], "state_owned"].all()
    parent: dict[str, set[str]] = defaultdict(set)
    for holder, company in held:
        parent[company].add(holder)
    pyramids = patterns(portfolio, "pyramid")
    assert {q["depth"] for q in pyramids} == {1, 2, 3, 4, 5, 6}
    for q in pyramids:
        root, firms = q["root"], q["members"][1:]
        inside = set(q["members"])
        depth = {root: 0}
        for f in firms:  # members come level by level, so a firm's holder inside the pyramid is known
            ups = [depth[h] for h in parent[f] if h in depth and h in inside]
            assert ups, (q, f)
            depth[f] = max(ups) + 1
        assert max(depth.values()) == q["depth"]
        assert q["root_kind"] == ("state" if root in {r["root"] for r in roots} else "person")


def test_concentrated_customers(portfolio: SyntheticPortfolio) -> None:
    s = portfolio.tables["supply_links"]
    planted = patterns(portfolio, "concentrated_customer")
    assert planted
    big = s[s["share_of_supplier_revenue"] >= 0.5]
    assert set(zip(big["supplier_id"], big["customer_id"], strict=True)) == {
        (q["supplier"], q["customer"]) for q in planted
    }
    assert s.groupby("supplier_id")["share_of_supplier_revenue"].sum().max() <= 1.0
    assert s.groupby("customer_id")["share_of_customer_purchases"].sum().max() <= 1.0


# --- CLI ---------------------------------------------------------------------------------------------------


def test_cli_writes_every_file(tmp_path: Path) -> None:
    out = tmp_path / "portfolio"
    result = CliRunner().invoke(generate, [str(out), "--enterprises", "250", "--seed", "5"])
    assert result.exit_code == 0, result.output
    written = {p.name: p.read_bytes() for p in out.iterdir()}
    assert written == portfolio_files(generate_portfolio(250, seed=5))
    assert result.stdout.count("\n") == 1 and "enterprises 250" in result.stdout
    assert "guarantees:" in result.stderr


def test_cli_refuses_too_few_enterprises(tmp_path: Path) -> None:
    result = CliRunner().invoke(generate, [str(tmp_path / "x"), "--enterprises", "10"])
    assert result.exit_code == 2
    assert not (tmp_path / "x").exists()
