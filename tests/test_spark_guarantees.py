"""The guarantee analysis on Spark (issue 9, step 5) against the embedded ``guarantee_analysis``.

The 10k portfolio (seed 0) runs both ways with the scan's context: the same as-of date, the default thresholds and
the actual controllers of the embedded ownership analysis (the Spark control closure is ported apart; here its
table is handed to Spark). Every table and the flags must hold the same rows: ids, numbers, texts and evidence
equal, floats within 1e-9 relative. A hand-built portfolio checks the numbering across batches of components.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from conftest import SPARK_DAY

from graphrisk.analysis import AnalysisContext, AnalysisResult
from graphrisk.analysis.guarantees import PATTERNS
from graphrisk.analysis.guarantees import guarantee_analysis as embedded_analysis
from graphrisk.analysis.ownership import actual_controllers
from graphrisk.config import Config
from graphrisk.graph import EnterpriseGraph

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark

_CONTROLLER_COLUMNS = ["company_id", "controller_id", "controller_kind", "path"]


def _embedded(graph: EnterpriseGraph, controllers: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """The embedded analysis as the scan runs it: ownership's controllers in the context when given."""
    context = AnalysisContext(config=Config(), as_of=SPARK_DAY)
    if controllers is not None:
        context.results["ownership"] = AnalysisResult(name="ownership", tables={"controllers": controllers})
    result = embedded_analysis(graph, context)
    return {**result.tables, "flags": result.flags}


def _scan_controllers(graph: EnterpriseGraph) -> pd.DataFrame:
    """``actual_controllers`` with the thresholds the embedded ownership analysis passes."""
    th = Config().threshold
    return actual_controllers(
        graph,
        control_share=th("control_share"),
        relative_share=th("relative_control_share"),
        relative_lead=th("relative_control_lead"),
    )


def _to_spark(spark: SparkSession, controllers: pd.DataFrame) -> DataFrame:
    """The embedded controllers table as the Spark DataFrame the lead's control closure will produce."""
    frame = controllers[_CONTROLLER_COLUMNS]
    rows = [tuple(None if pd.isna(v) else str(v) for v in r) for r in frame.itertuples(index=False)]
    return spark.createDataFrame(rows, ", ".join(f"{c} string" for c in _CONTROLLER_COLUMNS))


def _plain(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v


def assert_same_rows(want: pd.DataFrame, got: pd.DataFrame, key: list[str]) -> None:
    """Same columns and rows (after sorting by ``key``); floats within 1e-9 relative, everything else equal."""
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    w = want.sort_values(key, kind="stable").reset_index(drop=True)
    g = got.sort_values(key, kind="stable").reset_index(drop=True)
    bad: list[str] = []
    for column in w.columns:
        for row, (a, b) in enumerate(zip(map(_plain, w[column]), map(_plain, g[column]), strict=True)):
            if isinstance(a, float) or isinstance(b, float):
                same = a is not None and b is not None and (a == b or math.isclose(a, b, rel_tol=1e-9))
                same = same or (a is None and b is None)
            else:
                same = a == b
            if not same:
                bad.append(f"{column} row {row}: embedded {a!r} spark {b!r}")
    assert not bad, f"{len(bad)} differences, first: " + "; ".join(bad[:3])


KEYS = {
    "guarantee_patterns": ["pattern_id"],
    "guarantee_circles": ["circle_id"],
    "guarantors": ["entity_id"],
    "flags": ["entity_id", "flag", "reason", "evidence"],
}


# ------------------------------------------------------------------------------------------------ 10k parity


@pytest.fixture(scope="module")
def both(
    spark: SparkSession, graph: EnterpriseGraph, tables: dict[str, DataFrame], components: DataFrame
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    from graphrisk.engines.spark.guarantees import guarantee_analysis

    controllers = _scan_controllers(graph)
    want = _embedded(graph, controllers)
    out = guarantee_analysis(tables, SPARK_DAY, Config(), _to_spark(spark, controllers), components=components)
    return want, {name: frame.toPandas() for name, frame in out.items()}


def test_patterns_parity(both: tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]) -> None:
    want, got = both
    counts = want["guarantee_patterns"]["pattern"].value_counts()
    # Every kind occurs, so the numbering of each is checked: 40 mutual, 33 joint, 10 revolving, 71 circles …
    assert all(counts.get(p, 0) >= 5 for p in PATTERNS), counts.to_dict()
    assert_same_rows(want["guarantee_patterns"], got["guarantee_patterns"], KEYS["guarantee_patterns"])


def test_circles_parity(both: tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]) -> None:
    want, got = both
    assert len(want["guarantee_circles"]) > 20
    assert_same_rows(want["guarantee_circles"], got["guarantee_circles"], KEYS["guarantee_circles"])


def test_guarantors_parity(both: tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]) -> None:
    want, got = both
    firms = want["guarantors"]
    assert len(firms) > 5000 and (firms["patterns"] != "").sum() > 1000 and firms["triggers"].ne("").any()
    assert_same_rows(firms, got["guarantors"], KEYS["guarantors"])


def test_flags_parity(both: tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]) -> None:
    want, got = both
    kinds = set(want["flags"]["flag"])
    assert kinds == {"in_revolving_cycle", "hub_guarantor", "in_large_circle", "over_guaranteed",
                     "guarantees_defaulted_firm"}  # fmt: skip
    assert_same_rows(want["flags"], got["flags"], KEYS["flags"])


# ------------------------------------------------------------------------------------------------ by hand


def _write(folder: Path, name: str, frame: pd.DataFrame) -> None:
    frame.to_csv(folder / f"{name}.csv", index=False, encoding="utf-8")


def test_numbering_across_batches_by_hand(spark: SparkSession, tmp_path: Path) -> None:
    """Two circles in different batches, numbered as the embedded analysis numbers the whole portfolio.

    Ring X: A → B → C → A (3 firms). Ring Y: D → E → F → D plus D → G (4 firms). Circles go by size first, so Y
    (smallest member D) is circle-00001 and X circle-00002, although A < D; revolving cycles go by their members,
    so A → B → C is revolving-00001 and D → E → F revolving-00002. H → I is a pair: no circle. Without the
    controllers table there is no intra-group pattern. Each component in a batch of its own (three batches put
    them apart, checked below) must give what one embedded run over all of them gives. (The 10k run has
    components together in a batch.)
    """
    from graphrisk.engines.spark.guarantees import _batch_of, guarantee_analysis
    from graphrisk.engines.spark.io import read_tables
    from loaders import load_tables

    firms = list("ABCDEFGHI")
    _write(tmp_path, "enterprises", pd.DataFrame({"id": firms, "name": firms, "net_assets": [100.0] * 9}))
    pairs = [("A", "B"), ("B", "C"), ("C", "A"), ("D", "E"), ("E", "F"), ("F", "D"), ("D", "G"), ("H", "I")]
    _write(
        tmp_path,
        "guarantees",
        pd.DataFrame({"guarantor_id": [a for a, _ in pairs], "borrower_id": [b for _, b in pairs],
                      "amount": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0]}),
    )  # fmt: skip
    _write(
        tmp_path, "exposures", pd.DataFrame({"borrower_id": ["A", "D"], "facility_id": ["f1", "f2"], "ead": [5.0, 7.0]})
    )
    want = _embedded(EnterpriseGraph(load_tables(tmp_path, pseudonym_key=b"hand")), None)
    tables = read_tables(spark, tmp_path)
    # The weak components by hand (key = smallest member), as steps.guarantee_components gives them.
    comp = {**dict.fromkeys("ABC", ("A", 3)), **dict.fromkeys("DEFG", ("D", 4)), **dict.fromkeys("HI", ("H", 2))}
    components = spark.createDataFrame(
        [(f, c, n) for f, (c, n) in comp.items()], "entity_id string, component string, firms long"
    )
    assert len({r["_batch"] for r in components.select(_batch_of(3)).distinct().collect()}) == 3
    out = guarantee_analysis(tables, SPARK_DAY, controllers=None, components=components, batches=3)
    got = {name: frame.toPandas() for name, frame in out.items()}
    for name, key in KEYS.items():
        assert_same_rows(want[name], got[name], key)
    assert got["guarantee_circles"].set_index("circle_id")["firms"].to_dict() == {"circle-00001": 4, "circle-00002": 3}
    revolving = got["guarantee_patterns"].set_index("pattern_id")["members"]
    assert revolving["revolving-00001"] == "A;B;C" and revolving["revolving-00002"] == "D;E;F"
    assert "intra_group" not in set(got["guarantee_patterns"]["pattern"])
