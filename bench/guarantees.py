"""Benchmark: guarantee networks (issue 4).

    python bench/guarantees.py                                   # everything; Neo4j from NEO4J_URI
    python bench/guarantees.py --skip-neo4j --skip-naive         # only the 1M scan part

1. All patterns and measures (graphrisk.analysis.guarantees.guarantee_patterns + flags) on the synthetic 1M
   portfolio in ``bench/out/portfolio-1000000-s0``: seconds and peak RSS (targets < 60 s, < 6 GB). Loading the
   files is timed separately.
2. ``graphrisk chain`` depth 4 on Neo4j with the 100k portfolio loaded (``bench/out/portfolio-100000-s0``; it
   is loaded into the server in NEO4J_URI when the enterprise count differs, which CLEARS that database):
   median and p90 over firms that give or receive guarantees, after a warm-up (target median < 100 ms).
3. Revolving cycles the graphrisk way (inside strongly connected components, length bound 8) against naive
   networkx ``simple_cycles`` over the whole active guarantee graph, at 10k and 100k enterprises; the naive
   run is time-boxed (``--naive-timeout``) and reported as "> T" when it does not finish.

Prints a table of figures on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import networkx as nx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from graphrisk.analysis.guarantees import guarantee_flags, guarantee_network, guarantee_patterns, revolving_guarantees
from graphrisk.graph import EnterpriseGraph
from graphrisk.synth import AS_OF, generate_portfolio, portfolio_files
from loaders import load_tables

ROOT = Path(__file__).resolve().parent.parent
DAY = date.fromisoformat(AS_OF)
KEY = b"bench"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rss_gb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def current_rss_gb() -> float:
    """Resident set size now, from /proc (Linux)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024**2
    return 0.0


class PeakSampler:
    """Samples this process's RSS every 20 ms on a thread: the peak while a block runs (not the load's)."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss_gb())
            time.sleep(0.02)

    def __enter__(self) -> PeakSampler:
        self.peak = current_rss_gb()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss_gb())


def load_graph(folder: Path) -> tuple[EnterpriseGraph, float]:
    t0 = time.perf_counter()
    graph = EnterpriseGraph(load_tables(folder, pseudonym_key=KEY))
    return graph, time.perf_counter() - t0


# ------------------------------------------------------------------------------------------- 1. the scan


def bench_scan(folder: Path, rows: list[tuple[str, str, str]]) -> None:
    say(f"loading {folder} …")
    graph, load_s = load_graph(folder)
    rss_before = current_rss_gb()
    rows.append(("1M: load files + build graph", f"{load_s:.1f} s", "(not part of the target)"))
    say("running every guarantee pattern and measure …")
    with PeakSampler() as sampler:
        t0 = time.perf_counter()
        analysis = guarantee_patterns(graph, as_of=DAY)
        secs_patterns = time.perf_counter() - t0
        flags = guarantee_flags(analysis)
        secs = time.perf_counter() - t0
    counts: dict[str, int] = {}
    for p in analysis.patterns:
        counts[p.pattern] = counts.get(p.pattern, 0) + 1
    rows.append(
        (
            "1M: all patterns + measures + flags",
            f"{secs:.1f} s",
            f"target < 60 s; {len(analysis.network.edges):,} active guarantees, {len(analysis.circles):,} circles "
            f"(largest {int(analysis.circles['firms'].max()):,} firms), {len(analysis.firms):,} firms, "
            f"{len(flags):,} flags; patterns {counts}",
        )
    )
    rows.append(("1M: of which patterns + measures", f"{secs_patterns:.1f} s", "flags take the rest"))
    rows.append(
        (
            "1M: peak RSS during the analysis",
            f"{sampler.peak:.2f} GB",
            f"target < 6 GB; {rss_before:.2f} GB resident before it (graph loaded), so the analysis adds "
            f"{sampler.peak - rss_before:.2f} GB; process peak including the load {rss_gb():.2f} GB",
        )
    )


# ------------------------------------------------------------------------------------- 2. chain on Neo4j


def bench_chain(folder: Path, rows: list[tuple[str, str, str]], samples: int) -> None:
    from graphrisk.cli.guarantees import chain_on_store
    from graphrisk.store.neo4j import store_from_env

    graph, _ = load_graph(folder)
    with store_from_env() as store:
        # The first and last firms present tell that this portfolio is loaded (ids are sorted).
        probe = [str(graph.node_ids[0]), str(graph.node_ids[graph.n_enterprises - 1])]
        if len(store.query("queries/guarantee_chain_nodes.cypher", ids=probe)) < 2:
            say(f"loading {folder} into Neo4j (clears the database) …")
            store.clear()
            store.ensure_schema()
            store.load(load_tables(folder, pseudonym_key=KEY), progress=say)
        net = guarantee_network(graph, as_of=DAY)
        firms = sorted({str(graph.node_ids[i]) for i in net.src[:: max(1, len(net.src) // (samples * 3))]})
        firms = firms[:samples]
        say(f"chain depth 4 on Neo4j for {len(firms)} firms …")
        for f in firms[:10]:  # warm-up: plans cached, pages in memory
            chain_on_store(store, f, depth=4, direction="both", as_of=DAY)
        times = []
        for f in firms:
            t0 = time.perf_counter()
            chain_on_store(store, f, depth=4, direction="both", as_of=DAY)
            times.append(time.perf_counter() - t0)
    times.sort()
    p90 = times[int(0.9 * (len(times) - 1))]
    rows.append(
        (
            "100k on Neo4j: chain depth 4, both directions",
            f"{statistics.median(times) * 1000:.1f} ms median",
            f"target < 100 ms; p90 {p90 * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms over {len(times)} firms (warm)",
        )
    )


# ------------------------------------------------------------------------------ 3. cycles vs naive networkx


def _naive(edges: list[tuple[int, int]], out: mp.Queue) -> None:  # type: ignore[type-arg]
    g = nx.DiGraph(edges)
    t0 = time.perf_counter()
    n = sum(1 for c in nx.simple_cycles(g) if len(c) >= 3)
    out.put((time.perf_counter() - t0, n))


def bench_cycles(n: int, rows: list[tuple[str, str, str]], timeout: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        say(f"generating a {n:,}-enterprise portfolio …")
        for name, data in portfolio_files(generate_portfolio(n, seed=0)).items():
            (folder / name).write_bytes(data)
        graph, _ = load_graph(folder)
    t0 = time.perf_counter()
    net = guarantee_network(graph, as_of=DAY)
    ours = revolving_guarantees(net)
    ours_s = time.perf_counter() - t0
    edges = list(zip(net.src.tolist(), net.dst.tolist(), strict=True))
    queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    proc = mp.Process(target=_naive, args=(edges, queue))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.terminate()
        proc.join()
        naive = f"> {timeout:.0f} s"
        ratio = f"> {timeout / max(ours_s, 1e-9):,.0f}×"
        detail = "naive run stopped at the time box"
    else:
        naive_s, naive_n = queue.get()
        naive = f"{naive_s:.2f} s"
        ratio = f"{naive_s / max(ours_s, 1e-9):,.1f}×"
        detail = f"naive found {naive_n} cycles of ≥ 3 firms, graphrisk {len(ours)}"
    rows.append(
        (
            f"{n // 1000}k: revolving cycles, graphrisk vs naive nx.simple_cycles",
            f"{ours_s:.3f} s vs {naive}",
            f"speed-up {ratio}; {detail}; {len(edges):,} active guarantees",
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big", type=Path, default=ROOT / "bench/out/portfolio-1000000-s0")
    parser.add_argument("--neo4j-data", type=Path, default=ROOT / "bench/out/portfolio-100000-s0")
    parser.add_argument("--samples", type=int, default=100, help="firms timed for chain on Neo4j")
    parser.add_argument("--naive-timeout", type=float, default=120.0)
    parser.add_argument("--naive-sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--skip-scan", action="store_true")
    parser.add_argument("--skip-neo4j", action="store_true")
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    if not args.skip_naive:
        for n in args.naive_sizes:
            bench_cycles(n, rows, args.naive_timeout)
    if not args.skip_neo4j:
        if not os.environ.get("NEO4J_URI"):
            sys.exit("NEO4J_URI is not set: start a server (scripts/neo4j.py) or pass --skip-neo4j")
        bench_chain(args.neo4j_data, rows, args.samples)
    if not args.skip_scan:
        bench_scan(args.big, rows)  # last: its peak RSS is this process's
    width = max(len(r[0]) for r in rows)
    value_w = max(len(r[1]) for r in rows)
    print(f"{'measure':<{width}}  {'figure':<{value_w}}  notes")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:<{value_w}}  {note}")


if __name__ == "__main__":
    main()
