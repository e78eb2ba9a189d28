"""Real data in through standard formats: BODS v0.4 examples and fixtures, GLEIF L1/L2, SEC Exhibit 21 shares."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from graphrisk.analysis.ownership import (
    PROFILES,
    actual_controllers,
    beneficial_owners,
    cross_holdings,
    integrated_shares_of,
    owners_of,
    ultimate_shares,
)
from graphrisk.cli.main import main
from graphrisk.graph import EnterpriseGraph
from graphrisk.tables import Tables
from loaders import load_tables
from loaders.bods import read_bods
from loaders.columns import parse_share
from loaders.gleif import read_gleif

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BODS_EXAMPLES = sorted((DATA / "bods-v04-examples").glob("*.json"))
BODS_FIXTURES = DATA / "bods-v04-fixtures"
GLEIF = DATA / "gleif-l1-l2-fixtures"
SEC = DATA / "sec-ex21-labels"


def imported(tmp_path: Path, kind: str, *files: Path) -> Tables:
    """Run `graphrisk import` and read the folder back through the ordinary loaders (validation included)."""
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["import", kind, *map(str, files), str(out)])
    assert res.exit_code == 0, res.output
    return load_tables(out, pseudonym_key=b"t")


def test_the_data_is_there() -> None:
    assert len(BODS_EXAMPLES) == 19, "../shared/data/bods-v04-examples should hold the 19 official examples"


@pytest.mark.parametrize("path", BODS_EXAMPLES, ids=lambda p: p.name)
def test_every_bods_example_imports_validates_and_analyses(path: Path, tmp_path: Path) -> None:
    tables = imported(tmp_path, "bods", path)
    assert tables.rejected_rows == 0, tables.rejects.to_string()
    g = EnterpriseGraph(tables)
    controllers = actual_controllers(g)
    assert len(controllers) == g.n_enterprises
    for profile in PROFILES:
        beneficial_owners(g, profile)
    for company in g.enterprises["id"]:
        _rows, notes = owners_of(g, str(company))
        assert notes[0].startswith("unidentified")
    # Ultimate shares of a company never sum above 1, even with the overlapping statements of updates.
    assert (np.asarray(ultimate_shares(g).sum(axis=0)).ravel() <= 1 + 1e-9).all()


def _declared_indirect() -> list[tuple[str, pd.Series]]:
    out = []
    for path in BODS_EXAMPLES:
        for _, row in read_bods([path]).declared_indirect.iterrows():
            if pd.notna(row["share"]):
                out.append((path.name, row))
    return out


@pytest.mark.parametrize("case", _declared_indirect(), ids=lambda c: f"{c[0]}:{c[1]['holder_id']}")
def test_declared_indirect_shares_match_what_we_compute(case: tuple[str, pd.Series], tmp_path: Path) -> None:
    """The indirect share a BODS example declares lies within our computed bounds, and equals them when exact.

    Component links whose share the example leaves unknown are [0, 1], so the bounds widen; the declared
    value must still lie inside them (examples: Company B 60 % of A, Person 1 → B unknown, declared 30 %).
    """
    name, row = case
    tables = imported(tmp_path, "bods", DATA / "bods-v04-examples" / name)
    g = EnterpriseGraph(tables)
    holder, company, declared = str(row["holder_id"]), str(row["company_id"]), float(row["share"])
    lo, _ = integrated_shares_of(g, company, "min")
    hi, _ = integrated_shares_of(g, company, "max_bound")
    direct = tables["shareholdings"].query("holder_id == @holder and company_id == @company")
    d_lo = float(direct["share_min"].fillna(direct["share"]).sum()) if len(direct) else 0.0
    d_hi = float(direct["share_max"].fillna(direct["share"]).sum()) if len(direct) else 0.0
    low, high = float(lo.get(holder, 0.0)) - d_lo, float(hi.get(holder, 0.0)) - d_hi
    assert min(low, high) - 1e-9 <= declared <= max(low, high) + 1e-9, (low, high, declared)
    if low == pytest.approx(high):
        assert declared == pytest.approx(low)


def test_unknown_links_make_a_possible_beneficial_owner(tmp_path: Path) -> None:
    # indirect-ownership.json: Company B holds 60 % of A; Person 1 holds B with an unknown share. Person 1 may own
    # up to 60 % of A: "possible" under cn-2024, and the example itself declares 30 %.
    g = EnterpriseGraph(imported(tmp_path, "bods", DATA / "bods-v04-examples" / "indirect-ownership.json"))
    bo = beneficial_owners(g, "cn-2024").set_index(["company_id", "person_id"])
    row = bo.loc[("ad3f6c2fcc9e", "c25d4d612c2c")]
    assert row["beneficial_owner"] == "possible"
    assert (row["share_min"], row["share_max"]) == (0.0, pytest.approx(0.6))


def test_fi_soe_state_ministry_is_state_control(tmp_path: Path) -> None:
    # Gasgrid Finland: the ministry holds 23.5 % directly and 100 % of Suomen Kaasuverkko, which holds 76.5 %:
    # integrated 100 % exactly, as the example's indirect interest of the state declares.
    g = EnterpriseGraph(imported(tmp_path, "bods", DATA / "bods-v04-examples" / "bods-package-fi-soe.json"))
    integrated, _ = integrated_shares_of(g, "19f1c5afe9d7")
    assert integrated["7ff95ba3682c"] == pytest.approx(1.0)
    c = actual_controllers(g).set_index("company_id").loc["19f1c5afe9d7"]
    assert c["controller_kind"] == "state"


def test_fixture_01_direct_ownership(tmp_path: Path) -> None:
    # Expected: Jane Smith is the UBO of Acme, a single hop, 75 % aggregate interest; both interests kept.
    tables = imported(tmp_path, "bods", BODS_FIXTURES / "core" / "01-direct-ownership.json")
    sh = tables["shareholdings"]
    assert sh[["holder_id", "company_id", "share", "voting_share"]].values.tolist() == [
        ["rec-jane-smith-1975", "rec-acme-holdings-ltd", 0.75, 0.75]
    ]
    rows, _ = owners_of(EnterpriseGraph(tables), "rec-acme-holdings-ltd")
    assert [(r["holder_id"], r["ultimate_share"], r["beneficial_owner"], len(r["paths"][0])) for r in rows] == [
        ("rec-jane-smith-1975", 0.75, True, 1)
    ]


def test_fixture_10_circular_ownership(tmp_path: Path) -> None:
    # Expected: terminate; no natural-person UBO (or flag the cycle); never a cycle entity as its own UBO;
    # no 200 %; both edges kept.
    tables = imported(tmp_path, "bods", BODS_FIXTURES / "edge-cases" / "10-circular-ownership.json")
    assert len(tables["shareholdings"]) == 2
    g = EnterpriseGraph(tables)
    for company in ("rec-alpha-corp", "rec-beta-corp"):
        rows, notes = owners_of(g, company)
        assert any("closed ownership cycle" in n for n in notes)
        assert all(r["holder_id"] != company for r in rows)
        assert all(r["beneficial_owner"] is False for r in rows)
        assert all(r["ultimate_share"] is None or r["ultimate_share"] <= 1.0 for r in rows)
    assert beneficial_owners(g, "cn-2024").empty
    assert bool(cross_holdings(g)["closed"].iloc[0])
    assert set(actual_controllers(g)["rule"]) == {"control_cycle"}


def test_fixture_11_declared_unknown_owner(tmp_path: Path) -> None:
    # Expected: keep the reason code verbatim; no placeholder person; the relationship is not dropped.
    path = BODS_FIXTURES / "edge-cases" / "11-anonymous-person.json"
    result = read_bods([path])
    assert result.persons.empty
    assert result.unspecified_owners[["company_id", "reason"]].values.tolist() == [
        ["rec-opaque-holdings-sa", "subjectUnableToConfirmOrIdentifyBeneficialOwner"]
    ]
    imported(tmp_path, "bods", path)
    side = pd.read_csv(tmp_path / "out" / "bods_unspecified_owners.csv", encoding="utf-8-sig")
    assert side["reason"].tolist() == ["subjectUnableToConfirmOrIdentifyBeneficialOwner"]


def test_bods_unknown_persons_and_ranges_are_kept(tmp_path: Path) -> None:
    levent = read_bods([DATA / "bods-v04-examples" / "levent.json"])
    unknown = levent.persons[levent.persons["name"].str.startswith("unknown person")]
    assert unknown["id"].tolist() == ["81337a6e"]  # the anonymous (under-age) beneficiary is an explicit holder
    ranged = read_bods([DATA / "bods-v04-examples" / "bods-package-linking-annotations.json"]).shareholdings
    assert ranged[["share", "share_min", "share_max"]].values.tolist() == [[0.25, 0.25, 0.5]]
    tables = imported(tmp_path, "bods", DATA / "bods-v04-examples" / "bods-package-linking-annotations.json")
    bo = beneficial_owners(EnterpriseGraph(tables), "uk-psc")
    assert bo["beneficial_owner"].tolist() == ["possible"]  # exclusiveMinimum 25 stored as a closed bound


def test_gleif_import(tmp_path: Path) -> None:
    files = sorted(GLEIF.glob("*.xml"))
    result = read_gleif(files)
    assert len(result.relationships) == 10
    assert result.relationships["relationship_type"].value_counts().to_dict() == {
        "IS_FUND-MANAGED_BY": 5,
        "IS_SUBFUND_OF": 3,
        "IS_DIRECTLY_CONSOLIDATED_BY": 1,
        "IS_ULTIMATELY_CONSOLIDATED_BY": 1,
    }
    assert len(result.exceptions) == 10 and set(result.exceptions["reason"]) >= {"NON_CONSOLIDATING"}
    tables = imported(tmp_path, "gleif", *files)
    assert tables.rejected_rows == 0
    assert len(tables["enterprises"]) >= 13
    sh = tables["shareholdings"]
    assert sh[["share", "share_min", "share_max"]].values.tolist() == [[0.5, 0.5, 1.0]]
    parent, child = sh["holder_id"].iloc[0], sh["company_id"].iloc[0]
    names = tables["enterprises"].set_index("id")["name"]
    # The trimmed fixture holds the relationship but not both Level 1 records: placeholders keep the edge.
    assert {names[parent], names[child]} and all(isinstance(n, str) and n for n in names)
    c = actual_controllers(EnterpriseGraph(tables)).set_index("company_id").loc[child]
    # 50 % is not a majority: the consolidating parent is found by relative control, and says so.
    assert (c["controller_id"], c["rule"]) == (parent, "relative_control")


def test_sec_exhibit_21_percentages_through_the_share_parser() -> None:
    labels = pd.read_csv(SEC / "ex21_labels.csv", dtype=str, keep_default_na=False)
    raw = labels["Ownership Percentage"].str.strip()
    present = raw != ""
    assert present.sum() == 300
    values, bad = parse_share(raw, percent=True)
    parsed = values[present]
    assert not bad.any()
    assert parsed.notna().mean() == 1.0
    assert ((parsed > 0) & (parsed <= 1)).mean() == 1.0
    assert (parsed == 1.0).sum() == 212  # wholly owned subsidiaries
    expected = pd.read_csv(SEC / "inference_and_extraction_expected_out.csv", dtype=str, keep_default_na=False)
    v2, bad2 = parse_share(expected["own_per"].str.strip(), percent=True)
    assert not bad2.any() and (v2.dropna() <= 1).all()
    # The parent CIK owns each listed subsidiary: wholly owned ones are controlled by their filer.
    rows = labels[present].assign(parent=labels["Filename"].str.split("-").str[0], share=parsed)
    rows = rows.assign(sub=rows["parent"] + ":" + rows["Subsidiary"].str.lower().str.strip())
    rows = rows.drop_duplicates(["parent", "sub"])
    ids = sorted(set(rows["parent"]) | set(rows["sub"]))
    g = EnterpriseGraph(
        Tables.from_frames(
            {
                "enterprises": pd.DataFrame({"id": ids, "name": ids}),
                "shareholdings": pd.DataFrame(
                    {"holder_id": rows["parent"], "company_id": rows["sub"], "share": rows["share"]}
                ),
            }
        )
    )
    ctl = actual_controllers(g).set_index("company_id").loc[rows["sub"]]
    majority = rows["share"].to_numpy() > 0.5
    assert (ctl["rule"].to_numpy()[majority] == "majority_chain").all()
    assert json.dumps(ctl["rule"].value_counts().to_dict())  # every row got a rule
