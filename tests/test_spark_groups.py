"""Connected counterparties and large exposures on Spark (``graphrisk.engines.spark.groups``) against the embedded
``counterparty_groups`` analysis: every table and flag equal, texts included.

A hand-made portfolio with every basis and text variant (state controller, declared controller, mutual
guarantee with a guarantor of negative net assets, supply both ways, repayment and funding sources, a firm with
more ties than the evidence spells out), then the synthetic 10k portfolio with the Spark controllers. Real Spark,
local[2] (the ``spark`` fixture of conftest).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from conftest import SPARK_DAY

from graphrisk.analysis import AnalysisContext, AnalysisResult
from graphrisk.analysis import ownership as embedded_ownership
from graphrisk.analysis.groups import counterparty_groups_analysis, writeback_rows
from graphrisk.config import Config
from graphrisk.graph import EnterpriseGraph
from loaders import load_tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark

TABLES = ("groups", "group_exposures", "limit_breaches", "lex_screening")
KEYS = {
    "groups": ["member_id"],
    "group_exposures": ["counterparty_id"],
    "limit_breaches": ["counterparty_id", "limit_name"],
    "lex_screening": ["firm_id"],
    "flags": ["entity_id", "flag"],
}


def _embedded(graph: EnterpriseGraph, config: Config) -> tuple[AnalysisResult, pd.DataFrame]:
    """The embedded analysis as the scan runs it (the controllers come from the ownership analysis's result),
    and those controllers."""
    context = AnalysisContext(config=config, as_of=SPARK_DAY)
    context.results["ownership"] = embedded_ownership.ownership(graph, context)
    return counterparty_groups_analysis(graph, context), context.results["ownership"].tables["controllers"]


def _plain(value: Any) -> Any:
    return None if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) else value


def assert_same_table(name: str, got: pd.DataFrame, want: pd.DataFrame, *, ordered: bool = True) -> None:
    """Equal after sorting on the key: text, integer and flag columns exactly, floats within 1e-9 relative.
    ``ordered``: the rows come in the embedded order too."""
    assert list(got.columns) == list(want.columns), name
    assert len(got) == len(want), f"{name}: {len(got)} rows on Spark, {len(want)} embedded"
    key = KEYS[name]
    if ordered:
        assert got[key].values.tolist() == want[key].values.tolist(), f"{name}: rows in another order"
    g = got.sort_values(key).reset_index(drop=True)
    w = want.sort_values(key).reset_index(drop=True)
    for c in w.columns:
        if pd.api.types.is_float_dtype(w[c]) or pd.api.types.is_float_dtype(g[c]):
            a, b = g[c].to_numpy(dtype="float64", na_value=np.nan), w[c].to_numpy(dtype="float64", na_value=np.nan)
            assert np.array_equal(np.isnan(a), np.isnan(b)), f"{name}.{c}: missing values differ"
            ok = ~np.isnan(b)
            assert np.allclose(a[ok], b[ok], rtol=1e-9, atol=0.0), f"{name}.{c}: {np.abs(a[ok] - b[ok]).max()}"
        else:
            a_list = [_plain(v) for v in g[c].astype(object)]
            b_list = [_plain(v) for v in w[c].astype(object)]
            diff = [i for i, (x, y) in enumerate(zip(a_list, b_list, strict=True)) if x != y]
            assert not diff, f"{name}.{c}: {len(diff)} rows differ, e.g. {a_list[diff[0]]!r} vs {b_list[diff[0]]!r}"


def assert_same_analysis(got: dict[str, pd.DataFrame], want: AnalysisResult) -> None:
    for name in TABLES:
        assert_same_table(name, got[name], want.tables[name])
    assert_same_table("flags", got["flags"], want.flags, ordered=False)


def _writeback_events(groups_writeback: DataFrame) -> pd.DataFrame:
    from graphrisk.engines.spark.neo4j_io import counterparty_group_events

    events = counterparty_group_events(groups_writeback, "run-1").toPandas()
    return events.drop(columns=["run_id", "algorithm"]).sort_values("member_id").reset_index(drop=True)


def assert_same_writeback(groups_writeback: DataFrame, want: AnalysisResult) -> None:
    """The Neo4j events built from the Spark groups carry what the embedded write-back sends per member."""
    got = _writeback_events(groups_writeback)
    rows = writeback_rows(want.tables["groups"], want.tables["group_exposures"])
    expected = pd.DataFrame(rows, columns=list(got.columns)).sort_values("member_id").reset_index(drop=True)
    assert len(got) == len(expected)
    for c in got.columns:
        a, b = [_plain(v) for v in got[c].astype(object)], [_plain(v) for v in expected[c].astype(object)]
        if c in ("ead", "ratio_to_tier1"):
            assert all((x is None) == (y is None) for x, y in zip(a, b, strict=True)), c
            assert all(x is None or x == pytest.approx(y, rel=1e-9) for x, y in zip(a, b, strict=True)), c
        else:
            assert a == b, c


def _to_spark(spark: SparkSession, controllers: pd.DataFrame) -> DataFrame:
    """The embedded controllers table as a Spark frame (the hand-made cases test the groups, not the ownership)."""
    rows = []
    for r in controllers[
        ["company_id", "controller_id", "controller_kind", "rule", "control_share", "path"]
    ].itertuples(index=False):
        company, controller, kind, rule, share, path = (_plain(v) for v in r)
        rows.append((company, controller, kind, rule, None if share is None else float(share), path))
    schema = "company_id string, controller_id string, controller_kind string, rule string, control_share double, "
    return spark.createDataFrame(rows, schema + "path string")


def _spark_analysis(
    tables: dict[str, DataFrame], config: Config, controllers: DataFrame, ties: DataFrame | None = None
) -> dict[str, Any]:
    from graphrisk.engines.spark.groups import groups_analysis

    out = groups_analysis(tables, SPARK_DAY, config, controllers, ties=ties)
    frames: dict[str, Any] = {name: frame.toPandas() for name, frame in out.items() if name != "groups_writeback"}
    frames["groups_writeback"] = out["groups_writeback"]
    return frames


# ------------------------------------------------------------------------------------------------ by hand


@pytest.fixture(scope="module")
def hand_made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every tie basis and text variant, with exposures that breach, near-breach and are large (Tier 1 = 1,000):

    - control: P holds 60 % of A and 70 % of B; G declares Q its controller and Q holds 80 % of E; the state body
      S holds all of X and Y and X holds 60 % of Z (Z ties to X, not through S; Y ties to nothing);
    - guarantees in force: A → C 100 (A's net assets 100: 100 %), C → A 80 (C's net assets −5: not positive),
      an expired A → J; N guarantees N1 … N6 60 each (net assets 100: 60 %), six ties, five spelled out;
    - supply: F takes 60 % of B's revenue in 2025 (90 % in 2024: the latest year counts) and B supplies 70 % of
      F's purchases; B takes 55 % of F's revenue (no year);
    - sources: K and L repay from H; M and O are funded by the person R (R is no member).

    Groups: {A, B, C, F} (control, guarantee, supply), {E, G}, {X, Z}, {H, K, L}, {M, O}, {N, N1 … N6}.
    Exposures: A 100 + 60 (two facilities), B 50, C 30, F 10 → group 250 (25 %: over the CBIRC group limit 20 %
    and at the Basel 25 %, within it), A alone 160 (16 % > 15 %); E 70 + G 50 → 120 (12 %: large); J 140 (in no
    group: 14 % ≥ 13.5 %, near the single limit); N 40.
    """
    folder = tmp_path_factory.mktemp("groups") / "hand"
    folder.mkdir()
    firms = ["A", "B", "C", "E", "F", "G", "H", "J", "K", "L", "M", "N", "O", "S", "X", "Y", "Z"]
    firms += [f"N{i}" for i in range(1, 7)]
    ent = pd.DataFrame({"id": firms, "name": [f"公司{f}" for f in firms]})
    ent.loc[ent["id"] == "S", "name"] = "某市国有资产监督管理委员会"
    ent["net_assets"] = [{"A": 100.0, "C": -5.0, "N": 100.0}.get(f, 1000.0) for f in firms]
    ent["declared_controller_id"] = [{"G": "Q"}.get(f) for f in firms]
    ent["main_repayment_source_id"] = [{"K": "H", "L": "H"}.get(f) for f in firms]
    ent["main_funding_source_id"] = [{"M": "R", "O": "R"}.get(f) for f in firms]
    ent.to_csv(folder / "enterprises.csv", index=False)
    persons = pd.DataFrame({"id": ["P", "Q", "R"], "name": ["张三", "李四", "王五"]})
    persons.to_csv(folder / "persons.csv", index=False)
    holdings = [("P", "A", 0.6), ("P", "B", 0.7), ("Q", "E", 0.8), ("S", "X", 1.0), ("S", "Y", 1.0), ("X", "Z", 0.6)]
    pd.DataFrame(holdings, columns=["holder_id", "company_id", "share"]).to_csv(
        folder / "shareholdings.csv", index=False
    )
    guarantees = [("A", "C", 100.0, "L1", None), ("C", "A", 80.0, "L2", None), ("A", "J", 500.0, "L3", "2020-01-01")]
    guarantees += [("N", f"N{i}", 60.0, f"LN{i}", None) for i in range(1, 7)]
    g = pd.DataFrame(guarantees, columns=["guarantor_id", "borrower_id", "amount", "loan_id", "end_date"])
    g.to_csv(folder / "guarantees.csv", index=False)
    supply = pd.DataFrame(
        {
            "supplier_id": ["B", "B", "F"],
            "customer_id": ["F", "F", "B"],
            "share_of_supplier_revenue": [0.9, 0.6, 0.55],
            "share_of_customer_purchases": [None, 0.7, None],
            "year": pd.array([2024, 2025, None], dtype="Int64"),
        }
    )
    supply.to_csv(folder / "supply_links.csv", index=False)
    exposures = [("A", 100.0, "F1"), ("A", 60.0, "F2"), ("B", 50.0, "F3"), ("C", 30.0, "F4"), ("F", 10.0, "F5"),
                 ("E", 70.0, "F6"), ("G", 50.0, "F7"), ("J", 140.0, "F8"), ("N", 40.0, "F9")]  # fmt: skip
    pd.DataFrame(exposures, columns=["borrower_id", "ead", "facility_id"]).to_csv(folder / "exposures.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def hand_graph(hand_made: Path) -> EnterpriseGraph:
    tables = load_tables(hand_made, pseudonym_key=b"spark-parity")
    assert len(tables.rejects) == 0
    return EnterpriseGraph(tables)


def _hand_case(spark: SparkSession, hand_made: Path, hand_graph: EnterpriseGraph, config: Config) -> tuple[Any, ...]:
    from graphrisk.engines.spark.io import read_tables

    want, controllers = _embedded(hand_graph, config)
    got = _spark_analysis(read_tables(spark, hand_made), config, _to_spark(spark, controllers))
    return got, want


def test_hand_made_parity_with_limits(spark: SparkSession, hand_made: Path, hand_graph: EnterpriseGraph) -> None:
    got, want = _hand_case(spark, hand_made, hand_graph, Config(thresholds={"tier1_capital": 1000.0}))
    groups = want.tables["groups"].set_index("member_id")
    # The embedded texts the Spark rendering must reproduce (worked out in the fixture's docstring).
    assert sorted(groups.groupby("group_id").size()) == [2, 2, 2, 3, 4, 7]
    assert groups.loc["Z", "evidence"] == "controlled through X (chain S>X>Z; state controller S does not group)"
    assert groups.loc["G", "evidence"] == "controller Q (person, declared)"
    assert "with the guarantor's net assets -5 (not positive)" in groups.loc["A", "evidence"]
    # F's two supply ties with B: its own side (F supplies B) first, then B's.
    assert groups.loc["F", "evidence"] == (
        "customer B takes 55% of its revenue; "
        "takes 60% of supplier B's revenue in 2025; supplier B provides 70% of its purchases in 2025"
    )
    assert groups.loc["M", "evidence"] == "main funding source R"
    assert groups.loc["N", "evidence"].endswith("; … and 1 more ties")
    assert set(want.flags["flag"]) == {"limit_breach", "limit_near_breach", "large_exposure"}
    assert_same_analysis(got, want)
    assert_same_writeback(got["groups_writeback"], want)


def test_hand_made_parity_without_tier1_and_through_state(
    spark: SparkSession, hand_made: Path, hand_graph: EnterpriseGraph
) -> None:
    """Tier 1 not configured: groups and exposures, nothing assessed; firms under the state body grouped through
    it (lex_group_through_state = 1)."""
    got, want = _hand_case(spark, hand_made, hand_graph, Config(thresholds={"lex_group_through_state": 1.0}))
    assert set(want.tables["group_exposures"]["limit_status"]) == {"not_assessed"}
    assert {"S", "X", "Y", "Z"} <= set(want.tables["groups"]["member_id"])
    assert not len(want.tables["limit_breaches"]) and not len(want.flags)
    assert_same_analysis(got, want)
    assert_same_writeback(got["groups_writeback"], want)


# ------------------------------------------------------------------------------------------------ 10k

# Tier 1 capital for the synthetic 10k portfolio (it ships no graphrisk.toml: the scan would assess nothing). At
# 5 × 10⁹ CNY every outcome occurs: groups and clients over a limit, near one, and a large exposure.
TIER1_10K = 5.0e9


@pytest.fixture(scope="module")
def spark_controllers(tables: dict[str, DataFrame]) -> DataFrame:
    from graphrisk.engines.spark import ownership as so

    th = Config().threshold
    state = so.control(tables, control_share=th("control_share"))
    return so.actual_controllers(
        tables, state, relative_share=th("relative_control_share"), relative_lead=th("relative_control_lead")
    ).localCheckpoint()


def test_10k_parity(graph: EnterpriseGraph, tables: dict[str, DataFrame], spark_controllers: DataFrame) -> None:
    config = Config(thresholds={"tier1_capital": TIER1_10K})
    from graphrisk.engines.spark import steps

    want, _ = _embedded(graph, config)
    # The ties as the scan computes them (default thresholds but Tier 1), handed over instead of recomputed.
    ties = steps.group_ties(tables, SPARK_DAY, spark_controllers).localCheckpoint()
    got = _spark_analysis(tables, config, spark_controllers, ties)
    # The limits are exercised: every flag kind, breaches of every limit, groups of every size class.
    assert set(want.flags["flag"]) == {"limit_breach", "limit_near_breach", "large_exposure"}
    breaches = want.tables["limit_breaches"]
    assert set(breaches["status"]) == {"breach", "near_breach"}
    assert set(breaches["limit_name"]) == {"lex_basel_limit", "cbirc_single_limit", "cbirc_group_limit"}
    assert want.tables["groups"]["group_id"].nunique() > 50 and len(want.tables["lex_screening"]) > 50
    assert want.tables["groups"]["evidence"].str.contains("more ties").any()
    assert_same_analysis(got, want)
    # A group's flag lists its 50 largest members and counts them all.
    group_flags = [json.loads(e) for e in got["flags"]["evidence"] if '"kind": "group"' in e]
    assert any(len(e["members"]) == 50 and e["members_total"] > 50 for e in group_flags)
    assert_same_writeback(got["groups_writeback"], want)
