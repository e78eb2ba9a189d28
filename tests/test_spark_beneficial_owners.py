"""Beneficial owners on Spark (``graphrisk.engines.spark.beneficial_owners``) against
``graphrisk.analysis.ownership.beneficial_owners``.

A hand-made case worked by hand (interval shares, voting shares, the fallbacks to actual control and to the senior
manager, exactly 25 % under "≥" and ">"), then parity on the synthetic 10k portfolio. Real Spark, local[2].
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

from graphrisk.analysis import ownership as emb
from graphrisk.graph import EnterpriseGraph
from loaders import load_tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark

KEY = ["company_id", "person_id", "basis"]
TEXT = ["company_id", "person_id", "profile", "beneficial_owner", "basis", "convention"]
SHARES = ["share", "share_min", "share_max"]


def _write(folder: Path, name: str, frame: pd.DataFrame) -> None:
    frame.to_csv(folder / f"{name}.csv", index=False)


@pytest.fixture(scope="module")
def hand_made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A: P1 holds 20 %, known only to lie in [10 %, 40 %]; legal representative L1 and manager M1.
    B: P2 holds 10 % of the equity and 35 % of the votes.
    E: P4 holds exactly 25 %, Q 15 %; only a manager, M2.
    F: P7 → G (60 %) → H (60 %) → F (60 %): P7 controls F by the majority chain but owns 21.6 % of it; F's legal
    representative is L2.
    J: P9 holds 40 %, known to lie in [30 %, 50 %]."""
    folder = tmp_path_factory.mktemp("bo") / "hand"
    folder.mkdir()
    firms = ["A", "B", "E", "F", "G", "H", "J"]
    _write(folder, "enterprises", pd.DataFrame({"id": firms, "name": [f"公司{f}" for f in firms]}))
    people = ["P1", "P2", "P4", "Q", "P7", "P9", "L1", "M1", "M2", "L2"]
    _write(folder, "persons", pd.DataFrame({"id": people, "name": [f"人{p}" for p in people]}))
    nan = np.nan
    rows = [
        ("P1", "A", 0.2, nan, 0.1, 0.4), ("P2", "B", 0.1, 0.35, nan, nan), ("P4", "E", 0.25, nan, nan, nan),
        ("Q", "E", 0.15, nan, nan, nan), ("P7", "G", 0.6, nan, nan, nan), ("G", "H", 0.6, nan, nan, nan),
        ("H", "F", 0.6, nan, nan, nan), ("P9", "J", 0.4, nan, 0.3, 0.5),
    ]  # fmt: skip
    cols = ["holder_id", "company_id", "share", "voting_share", "share_min", "share_max"]
    _write(folder, "shareholdings", pd.DataFrame(rows, columns=cols))
    officers = [
        ("M1", "A", "manager"), ("L1", "A", "legal_representative"), ("M2", "E", "manager"),
        ("L2", "F", "legal_representative"), ("Q", "E", "director"),
    ]  # fmt: skip
    _write(folder, "officers", pd.DataFrame(officers, columns=["person_id", "company_id", "role"]))
    return folder


def _spark_rows(spark: SparkSession, folder: Path, profile: str) -> pd.DataFrame:
    from graphrisk.engines.spark import ownership as so
    from graphrisk.engines.spark.beneficial_owners import beneficial_owners
    from graphrisk.engines.spark.io import read_tables

    t = read_tables(spark, folder)
    controllers = so.actual_controllers(t, so.control(t))
    out = beneficial_owners(t, profile, controllers=controllers).toPandas()
    return out.sort_values(KEY).reset_index(drop=True)


def _assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Rows equal in (company_id, person_id, basis) order; shares null where NaN, else within 1e-9 relative plus
    1e-10 absolute: both engines round to 10 places, and the embedded sum cuts each cross-holding's geometric tail
    at 1e-12 per term where Spark solves it exactly (see test_spark_ownership.test_ultimate_shares_parity)."""
    want = want.sort_values(KEY).reset_index(drop=True)
    got = got.sort_values(KEY).reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    assert got[TEXT].astype(str).values.tolist() == want[TEXT].astype(str).values.tolist()
    for c in SHARES:
        g, w = got[c].to_numpy(dtype=float), want[c].to_numpy(dtype=float)
        assert (np.isnan(g) == np.isnan(w)).all(), c
        both = ~np.isnan(w)
        assert np.allclose(g[both], w[both], rtol=1e-9, atol=1e-10), (c, float(np.abs(g[both] - w[both]).max()))


def _rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """(company, person, verdict, basis, share, share_min, share_max) with shares rounded for reading."""
    out = []
    for r in frame.itertuples(index=False):
        shares = tuple(None if pd.isna(v) else round(float(v), 6) for v in (r.share, r.share_min, r.share_max))
        out.append((r.company_id, r.person_id, r.beneficial_owner, r.basis, *shares))
    return out


# ------------------------------------------------------------------------------------------------ by hand


def test_cn_2024_by_hand(spark: SparkSession, hand_made: Path) -> None:
    got = _spark_rows(spark, hand_made, "cn-2024")
    # A: P1's upper bound 40 % meets 25 %, the lower 10 % does not: possible; with no "yes", the senior manager
    #    is the legal representative L1 (before the manager M1).
    # B: max(10 % equity, 35 % votes) = 35 %, both bounds too (no interval on the row).
    # E: exactly 25 % meets "≥ 25 %". F: 0.6³ = 21.6 % misses; P7 controls F by the majority chain.
    # G 60 %, H 0.6² = 36 %. J: 40 % in [30 %, 50 %]: yes.
    assert _rows(got) == [
        ("A", "L1", "yes", "senior_manager:legal_representative", None, None, None),
        ("A", "P1", "possible", "ownership", 0.2, 0.1, 0.4),
        ("B", "P2", "yes", "ownership", 0.35, 0.35, 0.35),
        ("E", "P4", "yes", "ownership", 0.25, 0.25, 0.25),
        ("F", "P7", "yes", "actual_control", None, None, None),
        ("G", "P7", "yes", "ownership", 0.6, 0.6, 0.6),
        ("H", "P7", "yes", "ownership", 0.36, 0.36, 0.36),
        ("J", "P9", "yes", "ownership", 0.4, 0.3, 0.5),
    ]
    assert set(got["profile"]) == {"cn-2024"} and set(got["convention"]) == {"ultimate"}
    g = EnterpriseGraph(load_tables(hand_made, pseudonym_key=b"k"))
    _assert_same(got, emb.beneficial_owners(g, "cn-2024"))


def test_cn_2017_and_eu_amlr_by_hand(spark: SparkSession, hand_made: Path) -> None:
    g = EnterpriseGraph(load_tables(hand_made, pseudonym_key=b"k"))
    got = _spark_rows(spark, hand_made, "cn-2017")
    by = {(r[0], r[1]): r for r in _rows(got)}
    # Exactly 25 % fails "> 25 %": E has no owner, no controller (25 % < the 30 % of relative control), no legal
    # representative: its manager M2. The director Q is no senior manager.
    assert ("E", "P4") not in by and by[("E", "M2")][2:4] == ("yes", "senior_manager:manager")
    assert not [k for k in by if k[0] == "E" and k[1] != "M2"]
    _assert_same(got, emb.beneficial_owners(g, "cn-2017"))
    got = _spark_rows(spark, hand_made, "eu-amlr")
    by = {(r[0], r[1]): r for r in _rows(got)}
    # Equity only: P2's 10 % of B misses, but P2's 35 % of the votes is relative control (≥ 30 %, lead ≥ 10 pts).
    assert by[("B", "P2")][2:] == ("yes", "actual_control", None, None, None)
    assert by[("A", "P1")][2:] == ("possible", "ownership", 0.2, 0.1, 0.4)
    _assert_same(got, emb.beneficial_owners(g, "eu-amlr"))


def test_uk_psc_by_hand(spark: SparkSession, hand_made: Path) -> None:
    got = _spark_rows(spark, hand_made, "uk-psc")
    by = {(r[0], r[1]): r for r in _rows(got)}
    # Look-through: P7 controls G and H, so H's whole 60 % of F counts for P7. No fallback under uk-psc.
    assert by[("F", "P7")][2:] == ("yes", "ownership_look_through", 0.6, 0.6, 0.6)
    assert not (got["basis"] != "ownership_look_through").any()
    g = EnterpriseGraph(load_tables(hand_made, pseudonym_key=b"k"))
    _assert_same(got, emb.beneficial_owners(g, "uk-psc"))


# ------------------------------------------------------------------------------------------------ parity 10k


@pytest.fixture(scope="module")
def spark_inputs(tables: dict[str, DataFrame]) -> dict[str, Any]:
    from graphrisk.engines.spark import ownership as so

    state = so.control(tables)
    return {
        "controllers": so.actual_controllers(tables, state).localCheckpoint(),
        "ultimate": so.ultimate_holders(tables).localCheckpoint(),
    }


@pytest.fixture(scope="module")
def embedded_controllers(graph: EnterpriseGraph) -> pd.DataFrame:
    return emb.actual_controllers(graph)


# The scan's profile; the others are compared on the hand-made portfolio (a 10k run costs minutes per profile).
@pytest.mark.parametrize("profile", ["cn-2024"])
def test_parity_10k(
    profile: str,
    tables: dict[str, DataFrame],
    graph: EnterpriseGraph,
    spark_inputs: dict[str, Any],
    embedded_controllers: pd.DataFrame,
) -> None:
    from graphrisk.engines.spark.beneficial_owners import beneficial_owners

    want = emb.beneficial_owners(graph, profile, controllers=embedded_controllers)
    got = beneficial_owners(tables, profile, **spark_inputs).toPandas()
    # The portfolio exercises every kind of row: owners, possible owners, both fallbacks.
    assert len(want) > 5_000
    assert {"yes", "possible"} <= set(want["beneficial_owner"])
    assert {"ownership", "actual_control", "senior_manager:legal_representative"} <= set(want["basis"])
    _assert_same(got, want)
