"""Benchmark: actual controller and beneficial owners for every company, and what a user would otherwise do.

    python bench/ownership.py full --data bench/out/portfolio-1000000-s0      # < 60 s, peak RSS < 8 GB
    python bench/ownership.py compare --sizes 10000 100000 [--neo4j]        # ratios vs networkx and Cypher

``full`` loads the folder (load time printed separately), then times ``actual_controllers`` and
``beneficial_owners`` (cn-2024) over the whole portfolio. ``compare`` times, on a sample of companies,
networkx ``all_simple_paths`` per (ancestor, company) — time-boxed per company — and, with ``--neo4j`` (NEO4J_URI
set; the database is cleared and loaded), the Cypher ``[:HOLDS_SHARES*1..10]`` upstream query; both are
extrapolated to every company with holders and labelled so. Answers are compared where both finish: the
networkx simple-path sum of each ultimate holder against our ``ultimate`` share (companies whose upstream has
no cycle), and the Cypher path products against our ``simple_paths``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

import networkx as nx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graphrisk.analysis.ownership import (  # noqa: E402
    actual_controllers,
    beneficial_owners,
    ownership_matrix,
    simple_paths_to,
    ultimate_holders,
    ultimate_shares,
)
from graphrisk.graph import EnterpriseGraph  # noqa: E402
from graphrisk.synth import generate_portfolio, portfolio_files  # noqa: E402
from loaders import load_tables  # noqa: E402


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux: kilobytes


def load(folder: Path) -> tuple[EnterpriseGraph, float]:
    t0 = time.perf_counter()
    graph = EnterpriseGraph(load_tables(folder, pseudonym_key=b"bench"))
    return graph, time.perf_counter() - t0


def full(folder: Path) -> None:
    graph, load_s = load(folder)
    t0 = time.perf_counter()
    controllers = actual_controllers(graph)
    t_ctrl = time.perf_counter() - t0
    t0 = time.perf_counter()
    bo = beneficial_owners(graph, "cn-2024", controllers=controllers)
    t_bo = time.perf_counter() - t0
    rules = controllers["rule"].value_counts().to_dict()
    print(
        f"portfolio {folder.name}: {graph.n_enterprises:,} enterprises, {graph.n_persons:,} persons, "
        f"{len(graph.edges('ownership')):,} holdings"
    )
    print(f"{'stage':<40}{'seconds':>10}")
    print(f"{'load + validate + build graph':<40}{load_s:>10.1f}")
    print(f"{'actual controllers (all companies)':<40}{t_ctrl:>10.1f}")
    print(f"{'beneficial owners cn-2024 (all)':<40}{t_bo:>10.1f}")
    print(f"{'controllers + beneficial owners':<40}{t_ctrl + t_bo:>10.1f}")
    print(f"peak RSS (whole process, load included): {peak_rss_gb():.2f} GB")
    print(f"rules: {rules}; beneficial-owner rows: {len(bo):,}")


def _portfolio(size: int, tmp: Path) -> Path:
    existing = ROOT / "bench" / "out" / f"portfolio-{size}-s0"
    if existing.is_dir():
        return existing
    folder = tmp / f"portfolio-{size}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in portfolio_files(generate_portfolio(size, seed=0)).items():
        (folder / name).write_bytes(data)
    return folder


def _nx_shares(g: nx.DiGraph, company: str, budget: float) -> tuple[dict[str, float], bool]:
    """What a user writes: for every ancestor, sum the share products of all simple paths (cutoff 10)."""
    t0 = time.perf_counter()
    out: dict[str, float] = {}
    for anc in nx.ancestors(g, company):
        total = 0.0
        for path in nx.all_simple_paths(g, anc, company, cutoff=10):
            prod = 1.0
            for a, b in pairwise(path):
                prod *= g[a][b]["share"]
            total += prod
            if time.perf_counter() - t0 > budget:
                return out, False
        out[anc] = total
    return out, True


def compare(sizes: list[int], sample: int, budget: float, use_neo4j: bool) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for size in sizes:
            graph, load_s = load(_portfolio(size, Path(tmpdir)))
            t0 = time.perf_counter()
            actual_controllers(graph)
            u = ultimate_shares(graph)
            ours = time.perf_counter() - t0
            e = graph.edges("ownership")
            ids = graph.node_ids
            g = nx.DiGraph()
            g.add_weighted_edges_from(
                zip(ids[e["src"]], ids[e["dst"]], e["share"].astype(float), strict=True), weight="share"
            )
            w = ownership_matrix(graph)
            held = np.flatnonzero(np.asarray(w.sum(axis=0)).ravel()[: graph.n_enterprises] > 0)
            rng = np.random.default_rng(0)
            picks = rng.choice(held, size=min(sample, len(held)), replace=False)
            ult = ultimate_holders(graph)
            t_nx, done, equal, compared = 0.0, 0, 0, 0
            for c in picks:
                t0 = time.perf_counter()
                shares, finished = _nx_shares(g, str(ids[c]), budget)
                t_nx += time.perf_counter() - t0
                if not finished:
                    continue
                done += 1
                acyclic = nx.is_directed_acyclic_graph(g.subgraph([*nx.ancestors(g, str(ids[c])), str(ids[c])]))
                if not acyclic:
                    continue
                for holder, s in shares.items():
                    h = graph.node(holder)
                    if ult[h]:
                        compared += 1
                        equal += abs(float(u[h, c]) - s) < 1e-9
            per_company = t_nx / len(picks)
            rows.append(
                (size, "networkx all_simple_paths", ours, per_company * len(held), done, len(picks), equal, compared)
            )
            if use_neo4j:
                rows.append(_cypher(graph, picks, held, ours, budget))
            print(f"size {size:,}: load {load_s:.1f} s", flush=True)
    print(
        f"{'size':>9} {'method':<28} {'ours s':>8} {'theirs s (extrapolated)':>24} {'ratio':>8} "
        f"{'finished':>9} {'equal':>9}"
    )
    for size, method, ours_s, theirs, done, n, eq, cmp_ in rows:
        print(
            f"{size:>9,} {method:<28} {ours_s:>8.2f} {theirs:>24.1f} {theirs / ours_s:>8.0f} "
            f"{done:>4}/{n:<4} {eq:>4}/{cmp_:<4}"
        )
    print(
        "ours = actual controllers + ultimate shares for every company; theirs = mean per sampled company × "
        "companies with holders (time-boxed per company; unfinished companies count their budget)."
    )


def _cypher(graph: EnterpriseGraph, picks: np.ndarray, held: np.ndarray, ours: float, budget: float) -> tuple:
    from graphrisk.store.neo4j import store_from_env

    store = store_from_env()
    try:
        store.ensure_schema()
        store.clear()
        store.load(graph.tables)
        t_q, done, equal, compared = 0.0, 0, 0, 0
        for c in picks:
            company = str(graph.node_ids[c])
            t0 = time.perf_counter()
            result = store.query("queries/ownership_upstream.cypher", company_id=company, max_depth=10)
            t_q += time.perf_counter() - t0
            done += 1
            paths, _ = simple_paths_to(graph, company, max_depth=10)
            want = sorted((p, round(s, 9)) for p, s in paths)
            got = sorted((tuple(r["path"]), round(r["share"], 9)) for r in result)
            compared += 1
            equal += want == got
        return (
            graph.n_enterprises,
            "Cypher HOLDS_SHARES*1..10",
            ours,
            t_q / len(picks) * len(held),
            done,
            len(picks),
            equal,
            compared,
        )
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("full")
    f.add_argument("--data", type=Path, default=ROOT / "bench" / "out" / "portfolio-1000000-s0")
    c = sub.add_parser("compare")
    c.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    c.add_argument("--sample", type=int, default=200)
    c.add_argument("--budget", type=float, default=2.0, help="seconds per company for networkx")
    c.add_argument("--neo4j", action="store_true", help="also time the Cypher query (needs NEO4J_URI)")
    args = parser.parse_args()
    if args.cmd == "full":
        full(args.data)
    else:
        if args.neo4j and not os.environ.get("NEO4J_URI"):
            parser.error("--neo4j needs NEO4J_URI (and NEO4J_PASSWORD)")
        compare(args.sizes, args.sample, args.budget, args.neo4j)


if __name__ == "__main__":
    main()
