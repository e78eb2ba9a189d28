"""Benchmark: loading a portfolio into Neo4j with batched ``UNWIND … MERGE`` versus one transaction per row.

    python scripts/neo4j.py start && set -a && . .neo4j/env && set +a
    python bench/neo4j_load.py --enterprises 100000                 # synthetic portfolio (graphrisk.synth)
    python bench/neo4j_load.py --data DIR                           # a data folder, through the loaders
    python bench/neo4j_load.py --enterprises 100000 --builtin       # simpler numpy portfolio, no loaders

For each batch size it clears the database, loads everything through :meth:`Neo4jStore.load` and prints rows,
nodes and relationships created, seconds and relationships per second. Then it clears again, loads the nodes
in batches and the first ``--naive-sample`` relationships one ``MERGE`` transaction per row (the same
statement with a one-row ``$rows``), extrapolates that rate to all relationships (labelled as such) and prints
the speed-up. The target is 20,000 relationships/s for the 100k portfolio on a 2-core machine.

It clears the database it is pointed at: never run it against data you want to keep.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from graphrisk.schema import SCHEMA
from graphrisk.store.neo4j import LoadSummary, Neo4jStore, _rows, store_from_env
from graphrisk.tables import Tables

TARGET_RELS_PER_S = 20_000


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------- portfolios


def builtin_tables(n: int, seed: int = 7) -> Tables:
    """N enterprises, N/2 persons and about four relations per enterprise, drawn with numpy (no loaders)."""
    rng = np.random.default_rng(seed)
    ent = np.array([f"E{i:08d}" for i in range(n)], dtype=object)
    per = np.array([f"P{i:08d}" for i in range(n // 2)], dtype=object)

    def pairs(m: int, src_pool: np.ndarray, dst_pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        src = src_pool[rng.integers(0, len(src_pool), m)]
        dst = dst_pool[rng.integers(0, len(dst_pool), m)]
        frame = pd.DataFrame({"s": src, "d": dst}).drop_duplicates()
        frame = frame[frame["s"] != frame["d"]]
        return frame["s"].to_numpy(), frame["d"].to_numpy()

    holders = np.concatenate([ent, per])
    hs, hc = pairs(int(1.2 * n), holders, ent)
    op, oc = pairs(n, per, ent)
    gg, gb = pairs(n, ent, ent)
    ss, sc = pairs(int(0.8 * n), ent, ent)
    days = rng.integers(0, 3650, len(gg))
    start = pd.Timestamp("2015-01-01") + pd.to_timedelta(days, unit="D")
    return Tables.from_frames(
        {
            "enterprises": pd.DataFrame(
                {
                    "id": ent,
                    "name": [f"企业{i}" for i in range(n)],
                    "established": pd.Timestamp("1990-01-01") + pd.to_timedelta(rng.integers(0, 12000, n), unit="D"),
                    "registered_capital": rng.lognormal(15, 1.5, n).round(2),
                    "pd": rng.beta(1, 60, n).round(5),
                    "defaulted": rng.random(n) < 0.02,
                    "region": rng.choice(["北京", "上海", "浙江", "广东"], n),
                }
            ),
            "persons": pd.DataFrame({"id": per, "name": [f"人{i}" for i in range(len(per))]}),
            "shareholdings": pd.DataFrame(
                {"holder_id": hs, "company_id": hc, "share": rng.uniform(0.01, 1.0, len(hs)).round(4)}
            ),
            "officers": pd.DataFrame(
                {"person_id": op, "company_id": oc, "role": rng.choice(["director", "supervisor", "manager"], len(op))}
            ),
            "guarantees": pd.DataFrame(
                {
                    "guarantor_id": gg,
                    "borrower_id": gb,
                    "amount": rng.lognormal(15, 1, len(gg)).round(2),
                    "loan_id": [f"L{i:09d}" for i in range(len(gg))],
                    "kind": "guarantee",
                    "start_date": start,
                    "end_date": start + pd.to_timedelta(365, unit="D"),
                }
            ),
            "supply_links": pd.DataFrame(
                {"supplier_id": ss, "customer_id": sc, "year": 2024, "amount": rng.lognormal(14, 1, len(ss)).round(2)}
            ),
            "exposures": pd.DataFrame(
                {
                    "borrower_id": ent[: n // 2],
                    "ead": rng.lognormal(16, 1, n // 2).round(2),
                    "facility_id": [f"F{i:08d}" for i in range(n // 2)],
                }
            ),
        }
    )


def synthetic_tables(n: int, seed: int) -> Tables:
    """graphrisk's synthetic portfolio, written as files and read back through the loaders (the real path)."""
    from graphrisk.synth import generate_portfolio, portfolio_files
    from loaders import load_tables

    portfolio = generate_portfolio(n, seed=seed)
    with tempfile.TemporaryDirectory(prefix="graphrisk-bench-") as tmp:
        for name, data in portfolio_files(portfolio).items():
            (Path(tmp) / name).write_bytes(data)
        return load_tables(Path(tmp), pseudonym_key=b"bench")


def relation_rows(tables: Tables) -> int:
    return sum(len(tables[t.name]) for t in SCHEMA if t.kind != "node")


# ------------------------------------------------------------------------------------------------- runs


def rels_per_s(summary: LoadSummary) -> float:
    return summary.relationships_created / summary.seconds if summary.seconds else float("nan")


def relation_phase(summary: LoadSummary) -> tuple[int, float]:
    """Relationships created and seconds spent by the relationship tables only (nodes excluded)."""
    parts = [t for t in summary.tables if SCHEMA[t.table].kind == "relation"]
    return sum(t.relationships_created for t in parts), sum(t.seconds for t in parts)


def batched(store: Neo4jStore, tables: Tables, batch_size: int) -> LoadSummary:
    store.clear()
    say(f"batched load, batch size {batch_size:,} …")
    summary = store.load(tables, batch_size=batch_size)
    if summary.skipped:
        say(f"warning: {summary.skipped:,} rows had an endpoint missing from the graph")
    return summary


def load_nodes(store: Neo4jStore, tables: Tables) -> None:
    store.clear()
    nodes_only = Tables.from_frames({t.name: tables[t.name] for t in SCHEMA if t.kind == "node"})
    store.load(nodes_only, batch_size=10_000)


def profiles(store: Neo4jStore, tables: Tables, batch_size: int) -> dict[str, list[str]]:
    """PROFILE of each relationship load on one batch, against a graph holding the nodes (rolled back)."""
    load_nodes(store, tables)
    return {
        t.name: store.load_plan(t.name, tables[t.name].iloc[:batch_size])
        for t in SCHEMA
        if t.kind == "relation" and len(tables[t.name])
    }


def naive(store: Neo4jStore, tables: Tables, sample: int) -> tuple[int, float, float]:
    """Nodes in batches (untimed), then the first ``sample`` relationship rows one transaction per row."""
    load_nodes(store, tables)
    left = sample
    frames: dict[str, pd.DataFrame] = {}
    for t in SCHEMA:
        if t.kind == "node":
            continue
        take = tables[t.name].iloc[:left]
        frames[t.name] = take
        left -= len(take)
    sample_tables = Tables.from_frames(frames)
    say(f"naive load: {sample - left:,} relationship rows, one MERGE transaction per row …")
    summary = store.load(sample_tables, batch_size=1)
    created = sum(t.relationships_created for t in summary.tables if SCHEMA[t.table].kind != "node")
    seconds = sum(t.seconds for t in summary.tables if SCHEMA[t.table].kind != "node")
    # How much of that is our per-row DataFrame → dict conversion rather than Neo4j round trips.
    started = time.perf_counter()
    for name, frame in frames.items():
        for i in range(len(frame)):
            _rows(SCHEMA[name], frame.iloc[i : i + 1])
    return created, seconds, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="data folder to read with the loaders")
    source.add_argument("--enterprises", type=int, help="size of a synthetic portfolio")
    parser.add_argument("--builtin", action="store_true", help="use the bench's own numpy portfolio")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-sizes", default="5000,10000,20000", help="comma-separated")
    parser.add_argument("--naive-sample", type=int, default=5000, help="rows loaded one by one (0: skip)")
    parser.add_argument("--profile", action="store_true", help="print the PROFILE of each relationship load")
    args = parser.parse_args()

    started = time.perf_counter()
    if args.data:
        from loaders import load_tables

        tables = load_tables(args.data, pseudonym_key=b"bench")
        origin = str(args.data)
    elif args.builtin:
        tables = builtin_tables(args.enterprises, args.seed)
        origin = f"builtin numpy portfolio, {args.enterprises:,} enterprises"
    else:
        tables = synthetic_tables(args.enterprises, args.seed)
        origin = f"graphrisk.synth portfolio, {args.enterprises:,} enterprises, seed {args.seed}"
    rows = {t.name: len(tables[t.name]) for t in SCHEMA}
    say(f"portfolio ready in {time.perf_counter() - started:.1f} s: {origin}")

    sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    results: list[LoadSummary] = []
    with store_from_env() as store:
        store.ensure_schema()
        for size in sizes:
            results.append(batched(store, tables, size))
        plans = profiles(store, tables, max(sizes)) if args.profile else {}
        naive_created, naive_seconds, naive_client = (
            naive(store, tables, args.naive_sample) if args.naive_sample else (0, 0.0, 0.0)
        )
        store.clear()

    print(f"\nNeo4j load benchmark — {origin}")
    print("rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()) + f" (total {sum(rows.values()):,})")
    print()
    header = (
        f"{'batch':>7} {'rows':>10} {'nodes':>9} {'rels':>9} {'seconds':>8} {'rels/s':>9} "
        f"{'rel-phase rels/s':>17} {'rows/s':>9}"
    )
    print(header)
    print("-" * len(header))
    for s in results:
        rel_created, rel_seconds = relation_phase(s)
        print(
            f"{s.batch_size:>7,} {s.rows:>10,} {s.nodes_created:>9,} {s.relationships_created:>9,} "
            f"{s.seconds:>8.1f} {rels_per_s(s):>9,.0f} {rel_created / rel_seconds:>17,.0f} "
            f"{s.rows / s.seconds:>9,.0f}"
        )
    best = max(results, key=rels_per_s)
    print()
    print(f"per table at batch size {best.batch_size:,}:")
    for t in best.tables:
        rate = (t.rows / t.seconds) if t.seconds else 0.0
        print(f"  {t.table:<14} {t.rows:>9,} rows {t.seconds:>7.1f} s {rate:>9,.0f} rows/s")
    verdict = "met" if rels_per_s(best) >= TARGET_RELS_PER_S else "NOT met"
    print(
        f"\nbest: {rels_per_s(best):,.0f} relationships/s at batch size {best.batch_size:,} "
        f"(all relationships created over the whole load, nodes included); target "
        f"{TARGET_RELS_PER_S:,}/s {verdict}"
    )
    for name, plan in plans.items():
        print(f"\nPROFILE of load/{name}.cypher on one batch (rolled back):")
        for line in plan:
            print(f"  {line}")
    if naive_created:
        naive_rate = naive_created / naive_seconds
        total_rels = best.relationships_created
        print(
            f"naive, one MERGE transaction per row: {naive_created:,} relationships in {naive_seconds:.1f} s = "
            f"{naive_rate:,.0f}/s (measured on a sample; {naive_client:.1f} s of it converting rows)"
        )
        print(
            f"  extrapolated, not measured: {total_rels:,} relationships would take "
            f"{total_rels / naive_rate:,.0f} s; batched is {rels_per_s(best) / naive_rate:,.1f}x faster"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
