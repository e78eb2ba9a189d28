"""Benchmark: risky clusters (issue 7 § 2).

    python bench/clusters.py                          # the 1M portfolio
    python bench/clusters.py --sizes 100000,1000000
    python bench/clusters.py --cache /tmp/clusters    # keep the graph and earlier results between runs

On the synthetic portfolios in ``bench/out/portfolio-<N>-s0`` (``python bench/generate.py`` writes them): load
and build the graph, run the analyses the clusters read (ownership, guarantees and hidden_links in full; of
contagion only the network PD, which is all the clusters read; timed but not the figure), then the
``risk_clusters`` analysis, whose time and peak RSS are the figures (target on 1M: well under 2 minutes). Peak
RSS is sampled during the step (psutil, every 20 ms) beside the RSS before it (the graph and earlier results).
With ``--cache DIR`` the graph and earlier results are pickled there once and read back on later runs.
"""

from __future__ import annotations

import argparse
import pickle
import resource
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pandas as pd
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from graphrisk.analysis import AnalysisContext, AnalysisResult, registered_analyses
from graphrisk.analysis.contagion import graph_impact, network_pd, standalone_pd
from graphrisk.graph import EnterpriseGraph
from graphrisk.synth import AS_OF
from loaders import load_tables

ROOT = Path(__file__).resolve().parent.parent
KEY = b"bench"
EARLIER = ("ownership", "guarantees", "hidden_links", "contagion")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class PeakRss:
    """Largest resident set size seen while the block runs (a sampling thread)."""

    def __init__(self, every: float = 0.02) -> None:
        self.every = every
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(self.every)

    def __enter__(self) -> PeakRss:
        self.before = self._proc.memory_info().rss
        self.peak = self.before
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def network_pd_only(graph: EnterpriseGraph, ctx: AnalysisContext) -> AnalysisResult:
    """The contagion table's ``id, pd, network_pd``, which is all the clusters read: the full analysis adds the
    systemic ranking and a Monte Carlo whose dense scenario arrays took 18 GB at 1M on a shared machine."""
    net = graph_impact(graph, ctx)
    p, _ = standalone_pd(graph)
    npd = network_pd(p, net.matrix)
    table = pd.DataFrame({"id": list(net.ids), "pd": p, "network_pd": npd.network_pd})
    return AnalysisResult(name="contagion", tables={"contagion": table})


def inputs(size: int, cache: Path | None, out: dict[str, float]) -> tuple[EnterpriseGraph, dict[str, AnalysisResult]]:
    """The graph and the earlier analyses' results, from the cache when it holds them."""
    cached = cache / f"portfolio-{size}.pkl" if cache else None
    if cached is not None and cached.exists():
        t0 = time.perf_counter()
        with cached.open("rb") as fh:
            graph, results = pickle.load(fh)
        say(f"{size:,}: graph and earlier results read from {cached} in {time.perf_counter() - t0:.1f} s")
        return graph, results
    t0 = time.perf_counter()
    graph = EnterpriseGraph(load_tables(ROOT / "bench" / "out" / f"portfolio-{size}-s0", pseudonym_key=KEY))
    out["load_s"] = time.perf_counter() - t0
    say(f"{size:,}: loaded and built in {out['load_s']:.1f} s")
    ctx = AnalysisContext(as_of=date.fromisoformat(AS_OF))
    by_name = {a.name: a for a in registered_analyses()}
    for name in EARLIER:
        t0 = time.perf_counter()
        ctx.results[name] = by_name[name].run(graph, ctx) if name != "contagion" else network_pd_only(graph, ctx)
        out[f"{name}_s"] = time.perf_counter() - t0
        say(f"{size:,}: {name} {out[f'{name}_s']:.1f} s")
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with cached.open("wb") as fh:
            pickle.dump((graph, ctx.results), fh, protocol=pickle.HIGHEST_PROTOCOL)
    return graph, ctx.results


def run(size: int, cache: Path | None) -> dict[str, float]:
    out: dict[str, float] = {"size": float(size)}
    graph, results = inputs(size, cache, out)
    analysis = {a.name: a for a in registered_analyses()}["risk_clusters"]
    ctx = AnalysisContext(as_of=date.fromisoformat(AS_OF), results=dict(results))
    with PeakRss() as rss:
        t0 = time.perf_counter()
        result = analysis.run(graph, ctx)
        out["clusters_s"] = time.perf_counter() - t0
    s = result.summary
    out["clusters"] = float(s["clusters"])
    out["split"] = float(s["components_split"])
    out["largest"] = float(result.tables["clusters"]["component_firms"].max()) if s["clusters"] else 0.0
    out["high"] = float(s["by_severity"]["high"])
    out["medium"] = float(s["by_severity"]["medium"])
    out["rss_before_gb"] = rss.before / 1024**3
    out["step_peak_rss_gb"] = rss.peak / 1024**3
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    say(
        f"{size:,}: risk_clusters {out['clusters_s']:.1f} s, {s['clusters']:,} clusters "
        f"({s['components_split']:,} components split by Leiden, largest {out['largest']:,.0f} firms), "
        f"high {s['by_severity']['high']:,}, medium {s['by_severity']['medium']:,}; "
        f"RSS {out['rss_before_gb']:.2f} GB before the step (graph and earlier results), peak "
        f"{out['step_peak_rss_gb']:.2f} GB during it"
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000", help="portfolio sizes, comma-separated")
    ap.add_argument("--cache", type=Path, default=None, help="folder to keep the graph and earlier results in")
    args = ap.parse_args()
    rows = [run(int(s), args.cache) for s in args.sizes.split(",")]
    cols = ["size", "clusters_s", "clusters", "largest", "high", "medium", "rss_before_gb", "step_peak_rss_gb"]
    print(" ".join(f"{c:>16}" for c in cols))
    for r in rows:
        print(" ".join(f"{r.get(c, float('nan')):>16.2f}" for c in cols))


if __name__ == "__main__":
    main()
