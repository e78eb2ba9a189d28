"""The Spark engine's Neo4j write-back of every result the embedded scan writes back (issue 9).

A small synthetic portfolio goes into Neo4j with graphrisk's loader and through the embedded scan; its write-back
(``cypher/writeback/``) leaves a graph of results. Those results are wiped, the same tables go to Spark as
DataFrames with the columns the Spark scan's frames have, and :func:`write_back` (``cypher/spark/`` through the
Neo4j Connector for Apache Spark) must leave the same graph: same nodes, relationships, properties and property
types. A second run id removes the first run's results; the same run id twice changes nothing.
Real Spark (local[2]) and a real Neo4j (NEO4J_URI): both fail, never skip, when missing.
"""

from __future__ import annotations

import math
import os
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from click.testing import CliRunner

from graphrisk.analysis import AnalysisContext, AnalysisResult
from graphrisk.cli.main import main
from graphrisk.config import CONFIG_FILE, load_config
from graphrisk.graph import EnterpriseGraph
from graphrisk.scan import flag_rows_for_neo4j, risk_scores, run_scan
from loaders import load_tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from graphrisk.store.neo4j import Neo4jStore

pytestmark = [pytest.mark.spark, pytest.mark.neo4j]

DAY = date(2026, 6, 30)
KEY = b"spark-neo4j-writeback"

# Result name → (embedded analysis, its table the Spark scan has a frame of, the embedded statement's stem).
RESULTS: dict[str, tuple[str, str]] = {
    "risk_clusters": ("risk_clusters", "clusters"),
    "hidden_links_suspected": ("hidden_links", "suspected_links"),
    "hidden_links_person_candidates": ("hidden_links", "person_candidates"),
    "guarantee_patterns": ("guarantees", "guarantee_patterns"),
    "contagion_scores": ("contagion", "contagion"),
    "ownership_controls": ("ownership", "controllers"),
}

# What each result leaves in the graph: (key, properties) per node or relationship, read back for comparison.
SNAPSHOTS: dict[str, str] = {
    "scan_risk": "MATCH (e:Entity) WHERE e.risk_run_id IS NOT NULL "
    "RETURN [e.id] AS key, [k IN keys(e) WHERE k STARTS WITH 'risk_' | [k, e[k]]] AS p",
    "contagion_scores": "MATCH (e:Enterprise) WHERE e.contagion_run_id IS NOT NULL RETURN [e.id] AS key, "
    "[k IN keys(e) WHERE k IN ['network_pd', 'systemic_debtrank', 'systemic_rank', 'contagion_firms_hit', "
    "'loss_if_default', 'contagion_run_id'] | [k, e[k]]] AS p",
    "risk_clusters": "MATCH (c:RiskCluster) RETURN [c.cluster_id] AS key, [k IN keys(c) | [k, c[k]]] AS p",
    "in_cluster": "MATCH (e)-[m:IN_CLUSTER]->(c) RETURN [e.id, c.cluster_id] AS key, [k IN keys(m) | [k, m[k]]] AS p",
    "suspected": "MATCH (a)-[s:SUSPECTED_LINK]->(b) RETURN [a.id, b.id] AS key, [k IN keys(s) | [k, s[k]]] AS p",
    "candidates": "MATCH (a)-[c:SAME_PERSON_CANDIDATE]->(b) RETURN [a.id, b.id] AS key, "
    "[k IN keys(c) | [k, c[k]]] AS p",
    "patterns": "MATCH (p:GuaranteePattern) RETURN [p.id, p.run_id] AS key, [k IN keys(p) | [k, p[k]]] AS p",
    "in_pattern": "MATCH (e)-[m:IN_GUARANTEE_PATTERN]->(p) RETURN [e.id, p.id, m.run_id] AS key, "
    "[k IN keys(m) | [k, m[k]]] AS p",
    "controls": "MATCH (a)-[r:CONTROLS]->(b) RETURN [a.id, b.id] AS key, [k IN keys(r) | [k, r[k]]] AS p",
}
# Relationship counts per (key) must be one: a MERGE that split one relationship in two would hide in a dict.
COUNTS = (
    "MATCH ()-[r:IN_CLUSTER|SUSPECTED_LINK|SAME_PERSON_CANDIDATE|IN_GUARANTEE_PATTERN|CONTROLS]->() RETURN count(r)"
)

Snapshot = dict[str, dict[tuple[Any, ...], dict[str, tuple[str, Any]]]]


def _credentials() -> tuple[str, str, str]:
    return os.environ["NEO4J_URI"], os.environ.get("NEO4J_USER") or "neo4j", os.environ["NEO4J_PASSWORD"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,000 synthetic firms (seed 0)."""
    out = tmp_path_factory.mktemp("spark-neo4j-wb") / "p1000"
    result = CliRunner().invoke(main, ["generate", str(out), "--enterprises", "1000", "--seed", "0"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def embedded(folder: Path) -> tuple[dict[str, AnalysisResult], pd.DataFrame]:
    """The embedded scan's results by analysis name, and its risk scores."""
    tables = load_tables(folder, pseudonym_key=KEY)
    assert len(tables.rejects) == 0
    cfg = load_config(folder / CONFIG_FILE)
    result = run_scan(EnterpriseGraph(tables), AnalysisContext(config=cfg, as_of=DAY))
    return {r.name: r for r in result.results}, risk_scores(result.flags, cfg)


def _spark_frame(spark: SparkSession, pdf: pd.DataFrame) -> DataFrame:
    """An embedded table as a Spark frame: integers (nullable ones too) as long, floats as double, booleans,
    and everything else as text in object dtype (pandas 3's Arrow strings break pyspark 3.5)."""
    fields, columns = [], {}
    for name in pdf.columns:
        s = pdf[name]
        if pd.api.types.is_bool_dtype(s):
            kind = "boolean"
        elif pd.api.types.is_integer_dtype(s):
            kind = "long"
        elif pd.api.types.is_float_dtype(s):
            kind = "double"
        else:
            kind = "string"
        fields.append(f"`{name}` {kind}")
        columns[name] = [None if pd.isna(v) else str(v) if kind == "string" else v for v in s.astype(object)]
    rows = list(zip(*columns.values(), strict=True)) if columns else []
    return spark.createDataFrame(rows, ", ".join(fields))


def _frames(spark: SparkSession, embedded: tuple[dict[str, AnalysisResult], pd.DataFrame]) -> dict[str, DataFrame]:
    results, scores = embedded
    out = {"scan_risk": _spark_frame(spark, scores)}
    for name, (analysis, table) in RESULTS.items():
        out[name] = _spark_frame(spark, results[analysis].tables[table])
    return {name: frame.cache() for name, frame in out.items()}


def _embedded_write(
    store: Neo4jStore, embedded: tuple[dict[str, AnalysisResult], pd.DataFrame], run_id: str
) -> dict[str, int]:
    """What ``graphrisk scan --neo4j-uri`` writes back for these results (``cli.scan._write_back``)."""
    results, scores = embedded
    scan = AnalysisResult(
        name="scan",
        writeback=(
            ("writeback/scan_risk.cypher", flag_rows_for_neo4j(scores)),
            ("writeback/scan_risk_stale.cypher", [{"run": True}]),
        ),
    )
    counts: dict[str, int] = {}
    for r in (*(results[a] for a in dict.fromkeys(a for a, _ in RESULTS.values())), scan):
        for statement, rows in r.writeback:
            counts[statement] = store.write(statement, rows, params={"run_id": run_id, "algorithm": r.name})
    return counts


def _wipe(store: Neo4jStore) -> None:
    """Every result gone, by the embedded stale statements with a run id no write used."""
    for name in ("scan_risk", *RESULTS):
        store.write(f"writeback/{name}_stale.cypher", [{"run": True}], params={"run_id": "-", "algorithm": "-"})


def _typed(value: Any) -> tuple[str, Any]:
    """A property with its type, so an integer written as a float (or a date as text) shows."""
    if isinstance(value, list):
        return "list", tuple(_typed(v) for v in value)
    return type(value).__name__, value


def _snapshot(store: Neo4jStore) -> Snapshot:
    out: Snapshot = {}
    with store._session() as session:
        for name, query in SNAPSHOTS.items():
            rows = session.run(query).data()
            got = {tuple(r["key"]): {k: _typed(v) for k, v in r["p"]} for r in rows}
            assert len(got) == len(rows), name  # one node or relationship per key
            out[name] = got
        out["relationships"] = {(): {"count": _typed(session.run(COUNTS).single(strict=True)[0])}}
    return out


def _runs(snapshot: Snapshot) -> set[str]:
    """The run ids anything in the snapshot carries."""
    found = set()
    for items in snapshot.values():
        for props in items.values():
            for key in ("run_id", "risk_run_id", "contagion_run_id"):
                if key in props:
                    found.add(props[key][1])
    return found


def test_spark_write_back_leaves_the_graph_the_embedded_write_back_leaves(
    spark: SparkSession, neo4j_empty_store: Neo4jStore, folder: Path, embedded: Any
) -> None:
    from graphrisk.engines.spark.neo4j_io import WRITEBACK, write_back

    store = neo4j_empty_store
    summary = store.load(load_tables(folder, pseudonym_key=KEY))
    assert summary.skipped == 0
    uri, user, password = _credentials()
    frames = _frames(spark, embedded)
    assert set(frames) <= set(WRITEBACK)

    sent = _embedded_write(store, embedded, "r1")
    want = _snapshot(store)
    # Something of every kind the portfolio has (no same-name person is judged same or unsure at this size).
    assert all(want[n] for n in SNAPSHOTS if n != "candidates"), {n: len(v) for n, v in want.items()}
    assert _runs(want) == {"r1"}
    _wipe(store)
    assert all(not v for n, v in _snapshot(store).items() if n != "relationships")

    counts = write_back(frames, uri, user, password, "r1", as_of=DAY)
    got = _snapshot(store)
    for name in want:
        assert got[name] == want[name], name
    # Events sent per result: the rows the embedded write-back sent.
    assert counts == {n: sent[f"writeback/{n}.cypher"] for n in frames}

    # The same run again changes nothing.
    write_back(frames, uri, user, password, "r1", as_of=DAY)
    assert _snapshot(store) == want


def test_a_second_run_removes_the_first_runs_results(
    spark: SparkSession, neo4j_empty_store: Neo4jStore, folder: Path, embedded: Any
) -> None:
    from pyspark.sql import functions as F

    from graphrisk.engines.spark.neo4j_io import write_back

    store = neo4j_empty_store
    store.load(load_tables(folder, pseudonym_key=KEY))
    uri, user, password = _credentials()
    frames = _frames(spark, embedded)
    write_back(frames, uri, user, password, "r1", as_of=DAY)
    first = _snapshot(store)

    # The next run keeps half of each result (every other row by key), so some of r1's nodes and relationships are
    # rewritten by r2 and the others must go.
    keys = {
        "scan_risk": "entity_id",
        "risk_clusters": "cluster_id",
        "hidden_links_suspected": "a_id",
        "hidden_links_person_candidates": "a_id",
        "guarantee_patterns": "pattern_id",
        "contagion_scores": "id",
        "ownership_controls": "company_id",
    }
    second = {n: f.where(F.xxhash64(F.col(keys[n])) % 2 == 0).cache() for n, f in frames.items()}
    counts = write_back(second, uri, user, password, "r2", as_of=DAY)
    after = _snapshot(store)

    assert _runs(after) == {"r2"}
    # Events sent: one per cluster, link, (pattern, member) and scored firm.
    assert counts["risk_clusters"] == len(after["risk_clusters"]) and counts["guarantee_patterns"] == len(
        after["in_pattern"]
    )
    assert counts["hidden_links_suspected"] == len(after["suspected"])
    assert counts["contagion_scores"] == len(after["contagion_scores"])

    def kept(name: str, *columns: str) -> set[tuple[str, ...]]:
        return {tuple(r) for r in second[name].select(*columns).collect()}

    # Exactly what r2 wrote is left (risky-cluster flags name clusters, which have no entity node: the first run's
    # keys bound what can be matched).
    assert set(after["scan_risk"]) == kept("scan_risk", "entity_id") & set(first["scan_risk"])
    assert 0 < len(after["scan_risk"]) < len(first["scan_risk"])
    assert set(after["risk_clusters"]) == kept("risk_clusters", "cluster_id")
    assert set(after["suspected"]) == kept("hidden_links_suspected", "a_id", "b_id")
    assert set(after["controls"]) == kept("ownership_controls", "controller_id", "company_id") & set(first["controls"])
    assert 0 < len(after["controls"]) < len(first["controls"])
    assert {k[0] for k in after["patterns"]} == {k[0] for k in kept("guarantee_patterns", "pattern_id")}
    assert set(after["contagion_scores"]) == kept("contagion_scores", "id") & set(first["contagion_scores"])
    assert 0 < len(after["contagion_scores"]) < len(first["contagion_scores"])
    # Memberships follow their clusters and patterns: none of r1's is left.
    assert {p["run_id"][1] for p in after["in_cluster"].values()} == {"r2"}
    assert {k[2] for k in after["in_pattern"]} == {"r2"}
    members = {(m, c) for c, ms in kept("risk_clusters", "cluster_id", "members") for m in ms.split(";")}
    assert set(after["in_cluster"]) == members


def test_results_needing_the_date_refuse_to_run_without_it(spark: SparkSession) -> None:
    from graphrisk.engines.spark.neo4j_io import write_back

    empty = spark.createDataFrame([], "a_id string, b_id string, score double, reasons string, signals string")
    with pytest.raises(ValueError, match="hidden_links_suspected: the write-back needs the scan's as_of date"):
        write_back({"hidden_links_suspected": empty}, "bolt://127.0.0.1:1", "neo4j", "x", "r1")


# ------------------------------------------------------------------------------ the Spark scan's own frames


def _spark_scan_frames(spark: SparkSession, folder: Path) -> dict[str, DataFrame]:
    """The frames ``engines.spark.scan.run`` computes, by write-back result name (its steps, in its order)."""
    from graphrisk.engines.spark import contagion as CT
    from graphrisk.engines.spark import ownership as O
    from graphrisk.engines.spark import steps as S
    from graphrisk.engines.spark.clusters import clusters_analysis
    from graphrisk.engines.spark.flags import risk_scores as spark_risk_scores
    from graphrisk.engines.spark.flags import union_flags
    from graphrisk.engines.spark.groups import groups_analysis
    from graphrisk.engines.spark.guarantees import guarantee_analysis
    from graphrisk.engines.spark.hidden_links import hidden_links_analysis
    from graphrisk.engines.spark.quality import quality_analysis
    from graphrisk.engines.spark.structure import structure_analysis
    from graphrisk.engines.spark.validate import validate_tables

    cfg = load_config(folder / CONFIG_FILE)
    th = cfg.threshold
    checked = validate_tables(spark, folder, pseudonym_key=KEY, config=cfg)
    tables = checked.tables
    quality = {"tables": {n: s.as_dict() for n, s in checked.counts.items()}, "rejects_by_reason": {}}
    assert checked.rejects.count() == 0
    parts = [
        ("structure", structure_analysis(tables, cfg)["flags"]),
        ("data_quality", quality_analysis(tables, quality)["flags"]),
    ]
    components = S.guarantee_components(S.active_guarantees(tables, DAY)).cache()
    state = O.control(tables, control_share=th("control_share"))
    controllers = O.actual_controllers(
        tables, state, relative_share=th("relative_control_share"), relative_lead=th("relative_control_lead")
    ).cache()
    many = int(th("controller_many_borrowers"))
    parts.append(("ownership", O.ownership_flags(tables, controllers, O.cross_holdings(tables), many_borrowers=many)))
    g = {n: f.cache() for n, f in guarantee_analysis(tables, DAY, cfg, controllers, components=components).items()}
    parts.append(("guarantees", g["flags"]))
    ties = S.group_ties(
        tables,
        DAY,
        controllers,
        guarantee_net_assets=th("lex_guarantee_net_assets"),
        supply_share=th("lex_supply_share"),
        group_through_state=th("lex_group_through_state") >= 0.5,
    )
    parts.append(("counterparty_groups", groups_analysis(tables, DAY, cfg, controllers, ties=ties)["flags"]))
    h = {n: f.cache() for n, f in hidden_links_analysis(tables, cfg, controllers).items()}
    parts.append(("hidden_links", h["flags"]))
    impact = S.impact_edges(
        tables,
        DAY,
        guarantee_recovery=th("contagion_guarantee_recovery"),
        supply_loss_factor=th("contagion_supply_loss_factor"),
        substitution_cost=th("contagion_substitution_cost"),
    ).cache()
    c = {
        n: f.cache()
        for n, f in CT.contagion_analysis(tables, DAY, cfg, impact, patterns=g["guarantee_patterns"]).items()
    }
    parts.append(("contagion", c["flags"]))
    rc = clusters_analysis(
        tables, DAY, cfg, controllers, h["suspected_links"], guarantors=g["guarantors"],
        guarantee_patterns=g["guarantee_patterns"], contagion=c["contagion"], stats={},
    )  # fmt: skip
    parts.append(("risk_clusters", rc["flags"]))
    flags = union_flags(parts)
    assert flags is not None
    return {
        "scan_risk": spark_risk_scores(flags.cache(), cfg).cache(),
        "risk_clusters": rc["clusters"].cache(),
        "hidden_links_suspected": h["suspected_links"],
        "hidden_links_person_candidates": h["person_candidates"],
        "guarantee_patterns": g["guarantee_patterns"],
        "contagion_scores": c["contagion"],
        "ownership_controls": controllers,
    }


def _close(a: tuple[str, Any], b: tuple[str, Any]) -> bool:
    """Same type and value; floats within 1e-9 relative (Spark and numpy add in different orders)."""
    if a[0] != b[0]:
        return False
    if a[0] == "float":
        return math.isclose(a[1], b[1], rel_tol=1e-9, abs_tol=1e-12)
    if a[0] == "list":
        return len(a[1]) == len(b[1]) and all(_close(x, y) for x, y in zip(a[1], b[1], strict=True))
    return bool(a[1] == b[1])


@pytest.mark.slow
def test_the_spark_scans_frames_write_back_what_the_embedded_scan_writes_back(
    spark: SparkSession, neo4j_empty_store: Neo4jStore, folder: Path, embedded: Any
) -> None:
    from graphrisk.engines.spark.neo4j_io import write_back

    store = neo4j_empty_store
    store.load(load_tables(folder, pseudonym_key=KEY))
    _embedded_write(store, embedded, "r1")
    want = _snapshot(store)
    _wipe(store)
    uri, user, password = _credentials()
    write_back(_spark_scan_frames(spark, folder), uri, user, password, "r1", as_of=DAY)
    got = _snapshot(store)
    # Firms whose embedded network PD exceeds the standalone PD by float rounding only (numpy's order of additions
    # leaves 1e-17 where Spark's gives exactly the PD) are written by the embedded scan alone: no other difference.
    contagion = embedded[0]["contagion"].tables["contagion"]
    noise = contagion[(contagion["network_pd"] - contagion["pd"]).abs() <= 1e-12 * contagion["pd"].abs().clip(lower=1)]
    rounding = {(i,) for i in noise["id"]}
    problems: list[tuple[Any, ...]] = []
    for name in want:
        keys = want[name].keys() ^ got[name].keys()
        if name == "contagion_scores":
            keys -= rounding
        if keys:
            problems.append((name, sorted(keys)[:5], len(keys)))
        for key in want[name].keys() & got[name].keys():
            props, other = want[name][key], got[name][key]
            if props.keys() != other.keys() or not all(_close(props[p], other[p]) for p in props):
                problems.append((name, key, props, other))
    assert not problems, problems[:10]
    assert want["risk_clusters"] and want["suspected"] and want["controls"] and want["in_pattern"]
