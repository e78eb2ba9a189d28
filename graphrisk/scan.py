"""The batch scan: every registered analysis over one graph, with timings and all flags in one table.

>>> import pandas as pd
>>> from graphrisk.tables import Tables
>>> g = EnterpriseGraph(Tables.from_frames({"enterprises": pd.DataFrame({"id": ["A"], "name": ["甲"]})}))
>>> [r.name for r in run_scan(g, AnalysisContext()).results][:2]
['graph_summary', 'structure']
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from graphrisk.analysis import (
    FLAG_COLUMNS,
    SEVERITIES,
    AnalysisContext,
    AnalysisResult,
    empty_flags,
    registered_analyses,
)
from graphrisk.graph import EnterpriseGraph

__all__ = ["ScanResult", "run_scan"]


@dataclass(frozen=True)
class ScanResult:
    results: tuple[AnalysisResult, ...]
    flags: pd.DataFrame
    timings: tuple[tuple[str, float], ...]

    def flag_counts(self) -> dict[str, int]:
        counts = self.flags["severity"].value_counts()
        return {s: int(counts.get(s, 0)) for s in SEVERITIES}


def run_scan(
    graph: EnterpriseGraph,
    context: AnalysisContext,
    *,
    only: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ScanResult:
    """Run the registered analyses (all, or those named in ``only``) in order."""
    say = progress or (lambda _m: None)
    results: list[AnalysisResult] = []
    timings: list[tuple[str, float]] = []
    for analysis in registered_analyses():
        if only is not None and analysis.name not in only:
            continue
        say(f"analysis {analysis.name}: {analysis.description}")
        t0 = time.perf_counter()
        outcome = analysis.run(graph, context)
        results.append(outcome)
        context.results[analysis.name] = outcome
        timings.append((f"analysis:{analysis.name}", time.perf_counter() - t0))
    parts = [r.flags.assign(analysis=r.name) for r in results if len(r.flags)]
    flags = pd.concat(parts, ignore_index=True) if parts else empty_flags().assign(analysis=pd.Series(dtype=object))
    order = {s: i for i, s in enumerate(SEVERITIES)}
    if len(flags):
        flags = (
            flags.assign(_o=flags["severity"].map(order))
            .sort_values(["_o", "flag", "entity_id"], kind="stable")
            .drop(columns="_o")
            .reset_index(drop=True)
        )
    flags = flags[[*FLAG_COLUMNS, "analysis"]]
    return ScanResult(results=tuple(results), flags=flags, timings=tuple(timings))
