"""The Spark engine on Neo4j through the Neo4j Connector for Apache Spark (issue 9, step 9).

A small synthetic portfolio goes into Neo4j with graphrisk's own loader; the connector reads it back into the
DataFrames ``io.read_tables`` gives for the same folder, the Spark steps give the same results on both, and the
counterparty groups written back through the connector leave the graph the embedded write-back leaves for the
same rows. Real Spark (local[2]) and a real Neo4j (NEO4J_URI): both fail, never skip, when missing.
"""

from __future__ import annotations

import math
import os
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from click.testing import CliRunner

from graphrisk.analysis.groups import BASES, EXPOSURE_COLUMNS, writeback_rows
from graphrisk.cli.main import main
from graphrisk.errors import StoreError
from graphrisk.schema import SCHEMA
from loaders import load_tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from graphrisk.store.neo4j import Neo4jStore

pytestmark = [pytest.mark.spark, pytest.mark.neo4j]

DAY = date(2026, 6, 30)
KEY = b"spark-neo4j"
# Sparse columns the generator leaves empty, planted so the read must find properties few nodes have.
REPAYMENT = 4  # firms given a main repayment source (each ties two firms into a group)
CONTROLLED = 3  # firms given a declared controller (a person)


def _credentials() -> tuple[str, str, str]:
    return os.environ["NEO4J_URI"], os.environ.get("NEO4J_USER") or "neo4j", os.environ["NEO4J_PASSWORD"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,500 synthetic firms (seed 3), with a few sparse id columns filled in."""
    out = tmp_path_factory.mktemp("spark-neo4j") / "p1500"
    result = CliRunner().invoke(main, ["generate", str(out), "--enterprises", "1500", "--seed", "3"])
    assert result.exit_code == 0, result.output
    firms = pd.read_csv(out / "enterprises.csv", dtype=str, keep_default_na=False)
    persons = pd.read_csv(out / "persons.csv", dtype=str, keep_default_na=False)
    ids = firms["id"].tolist()
    for k in range(REPAYMENT):
        firms.loc[100 + k, "main_repayment_source_id"] = ids[200 + k]
    for k in range(CONTROLLED):
        firms.loc[300 + k, "declared_controller_id"] = persons["id"].iloc[k]
    firms.to_csv(out / "enterprises.csv", index=False)
    return out


def _load(store: Neo4jStore, folder: Path) -> None:
    tables = load_tables(folder, pseudonym_key=KEY)
    assert tables.rejected_rows == 0  # the comparison holds on data the loader accepts whole
    summary = store.load(tables)
    assert summary.skipped == 0


def _pandas(frame: DataFrame) -> pd.DataFrame:
    """A small frame on the driver, rows in a fixed order (every column, missing last)."""
    pdf = frame.toPandas()
    return pdf.sort_values(list(pdf.columns), na_position="last", kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------------------------------------ reading


def test_connector_reads_the_loaded_graph_as_read_tables_reads_the_folder(
    spark: SparkSession, neo4j_empty_store: Neo4jStore, folder: Path
) -> None:
    from graphrisk.engines.spark import steps
    from graphrisk.engines.spark.io import read_tables
    from graphrisk.engines.spark.neo4j_io import read_tables_from_neo4j

    _load(neo4j_empty_store, folder)
    # Two pages per table: the connector's SKIP/LIMIT partitions must neither lose nor repeat a row.
    ours = {n: f.cache() for n, f in read_tables_from_neo4j(spark, *_credentials(), partitions=2).items()}
    theirs = {n: f.cache() for n, f in read_tables(spark, folder).items()}

    assert sorted(ours) == sorted(theirs) == sorted(t.name for t in SCHEMA)
    for name in theirs:
        assert ours[name].schema == theirs[name].schema, name
        a, b = _pandas(ours[name]), _pandas(theirs[name])
        assert len(a) > 0, name
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)
    assert "id_number" not in ours["persons"].columns  # pseudonymised at load: never read back in clear
    firms = ours["enterprises"]
    assert firms.where(firms["main_repayment_source_id"].isNotNull()).count() == REPAYMENT
    assert firms.where(firms["declared_controller_id"].isNotNull()).count() == CONTROLLED
    voting = ours["shareholdings"].where(ours["shareholdings"]["voting_share"].isNotNull()).count()
    assert 0 < voting < ours["shareholdings"].count()  # a sparse relationship property, read all the same

    # The steps cannot tell the sources apart.
    def comps(tables: dict[str, DataFrame]) -> pd.DataFrame:
        return _pandas(steps.guarantee_components(steps.active_guarantees(tables, DAY)))

    got, want = comps(ours), comps(theirs)
    assert len(got) > 0 and got["firms"].max() >= 3
    pd.testing.assert_frame_equal(got, want)


# ------------------------------------------------------------------------------------------------ writing


def _snapshot(store: Neo4jStore) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str, str], dict[str, Any]]]:
    """Every CounterpartyGroup (group_id → properties) and MEMBER_OF_GROUP ((member, group, run) → properties)."""
    with store._session() as session:
        nodes = session.run("MATCH (g:CounterpartyGroup) RETURN g.group_id AS id, properties(g) AS p").data()
        rels = session.run(
            "MATCH (e:Enterprise)-[m:MEMBER_OF_GROUP]->(g:CounterpartyGroup) "
            "RETURN e.id AS member, g.group_id AS grp, m.run_id AS run, properties(m) AS p"
        ).data()
    return {r["id"]: r["p"] for r in nodes}, {(r["member"], r["grp"], r["run"]): r["p"] for r in rels}


def _assert_same_graph(spark_side: Any, embedded: Any) -> None:
    """Equal keys and properties; a group's total EAD within 1e-9 relative (Spark and numpy add the members'
    EAD in different orders)."""
    (g1, m1), (g2, m2) = spark_side, embedded
    assert m1 == m2
    assert g1.keys() == g2.keys()
    for gid, props in g1.items():
        other = dict(g2[gid])
        assert math.isclose(props["ead"], other.pop("ead"), rel_tol=1e-9, abs_tol=1e-6), gid
        assert {k: v for k, v in props.items() if k != "ead"} == other, gid


def _with_basis(groups: DataFrame, ties: DataFrame) -> DataFrame:
    """``basis`` (the member's tie bases, in the embedded order, ";"-joined) and an ``evidence`` text (the other
    ends): the Spark engine computes neither yet, so the test supplies them to both write-backs alike."""
    from pyspark.sql import functions as F

    ends = ties.select(F.col("a_id").alias("member_id"), "basis", F.col("b_id").alias("other")).unionByName(
        ties.select(F.col("b_id").alias("member_id"), "basis", F.col("a_id").alias("other"))
    )
    order = F.create_map(*[x for i, b in enumerate(BASES) for x in (F.lit(b), F.lit(i))])
    per = ends.groupBy("member_id").agg(
        F.array_sort(F.collect_set(F.struct(order[F.col("basis")].alias("i"), F.col("basis")))).alias("b"),
        F.array_sort(F.collect_set("other")).alias("o"),
    )
    per = per.select(
        "member_id",
        F.array_join(F.col("b.basis"), ";").alias("basis"),
        F.concat(F.lit("tied to "), F.array_join(F.slice("o", 1, 5), ", ")).alias("evidence"),
    )
    return groups.join(per, "member_id", "left")


def _embedded_write(store: Neo4jStore, groups: DataFrame, run_id: str) -> None:
    """What the embedded scan does with these groups: ``groups.writeback_rows`` and the store's statements."""
    pdf = groups.toPandas()
    rows = writeback_rows(pdf, pd.DataFrame(columns=list(EXPOSURE_COLUMNS)))
    params = {"run_id": run_id, "algorithm": "counterparty_groups"}
    store.write("writeback/counterparty_groups.cypher", rows, params=params)
    store.write("writeback/counterparty_groups_stale.cypher", [{"run": True}], params=params)


def test_write_back_of_groups_leaves_the_graph_the_embedded_write_back_leaves(
    spark: SparkSession, neo4j_empty_store: Neo4jStore, folder: Path
) -> None:
    from pyspark.sql import functions as F

    from graphrisk.engines.spark import steps
    from graphrisk.engines.spark.neo4j_io import read_tables_from_neo4j, write_back
    from graphrisk.engines.spark.scan import _numbered_groups

    store = neo4j_empty_store
    _load(store, folder)
    uri, user, password = _credentials()
    tables = {n: f.cache() for n, f in read_tables_from_neo4j(spark, uri, user, password).items()}
    ties = steps.group_ties(tables, DAY).cache()
    first = _with_basis(_numbered_groups(steps.counterparty_groups(tables, ties)), ties).cache()
    # The next run lost the two largest groups: the others move up, so ids CG-000001 … are reused by other members
    # and the last two ids are not written at all.
    number = F.regexp_extract("group_id", r"(\d+)$", 1).cast("int")
    second = first.where(number > 2).withColumn(
        "group_id", F.concat(F.lit("CG-"), F.lpad((number - 2).cast("string"), 6, "0"))
    )
    n_first, n_second = first.count(), second.count()
    assert n_first > n_second > 0
    firms = tables["enterprises"]
    tied = {r["id"] for r in firms.where(firms["main_repayment_source_id"].isNotNull()).select("id").collect()}
    assert len(tied) == REPAYMENT and tied <= {r["member_id"] for r in first.select("member_id").collect()}

    assert write_back({"counterparty_groups": first}, uri, user, password, "r1") == {"counterparty_groups": n_first}
    after_first = _snapshot(store)
    write_back({"counterparty_groups": first}, uri, user, password, "r1")  # the same run again changes nothing
    assert _snapshot(store) == after_first
    write_back({"counterparty_groups": second}, uri, user, password, "r2")
    after_second = _snapshot(store)

    # The previous run is gone: only r2's groups and memberships, as many as the frame has.
    nodes, members = after_second
    assert set(nodes) == {r["group_id"] for r in second.select("group_id").distinct().collect()}
    assert {p["run_id"] for p in nodes.values()} == {"r2"} and {k[2] for k in members} == {"r2"}
    assert len(members) == n_second and sum(p["members"] for p in nodes.values()) == n_second
    assert {p["algorithm"] for p in nodes.values()} == {"counterparty_groups"}

    with store._session() as session:
        session.run("MATCH (g:CounterpartyGroup) DETACH DELETE g").consume()
    _embedded_write(store, first, "r1")
    _assert_same_graph(after_first, _snapshot(store))
    _embedded_write(store, second, "r2")
    _assert_same_graph(after_second, _snapshot(store))

    # Columns the Spark engine does not compute are left unset, never written as text.
    bare = second.drop("basis", "evidence")
    write_back({"counterparty_groups": bare}, uri, user, password, "r3")
    nodes, members = _snapshot(store)
    assert {k[2] for k in members} == {"r3"} and all("basis" not in p and "evidence" not in p for p in members.values())
    assert all("ratio_to_tier1" not in p and "limit_status" not in p for p in nodes.values())


# ------------------------------------------------------------------------------------------------ errors


def test_connector_errors_name_the_server_and_never_the_password(
    spark: SparkSession, neo4j_empty_store: Neo4jStore
) -> None:
    from graphrisk.engines.spark.neo4j_io import read_tables_from_neo4j, write_back

    uri, user, password = _credentials()
    wrong = password + "-not-it"
    with pytest.raises(StoreError, match="AuthenticationException") as caught:
        read_tables_from_neo4j(spark, uri, user, wrong)
    message = str(caught.value)
    assert wrong not in message and password not in message and "Fix:" in message
    assert "NEO4J_PASSWORD" in message and uri in message

    empty = spark.createDataFrame([], "group_id string, member_id string, ead double")
    with pytest.raises(StoreError, match="AuthenticationException") as caught:
        write_back({"counterparty_groups": empty}, uri, user, wrong, "r1")
    assert wrong not in str(caught.value)
    with pytest.raises(ValueError, match="no Spark write-back for beneficial_owners"):
        write_back({"beneficial_owners": empty}, uri, user, password, "r1")


def test_every_spark_cypher_file_is_used() -> None:
    from graphrisk.engines.spark.neo4j_io import WRITEBACK

    root = files("cypher").joinpath("spark")
    on_disk = {p.name for p in root.iterdir() if p.name.endswith(".cypher")}
    used = {"ping.cypher", *(w.statement for w in WRITEBACK.values()), *(w.stale for w in WRITEBACK.values())}
    assert on_disk == used
