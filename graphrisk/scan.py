"""The batch scan: every registered analysis over one graph, with timings and all flags in one table; an
entity-level risk score from the flags, and what changed since a previous run.

>>> import pandas as pd
>>> from graphrisk.tables import Tables
>>> g = EnterpriseGraph(Tables.from_frames({"enterprises": pd.DataFrame({"id": ["A"], "name": ["甲"]})}))
>>> [r.name for r in run_scan(g, AnalysisContext()).results][:2]
['graph_summary', 'structure']
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from graphrisk.analysis import (
    FLAG_COLUMNS,
    SEVERITIES,
    AnalysisContext,
    AnalysisResult,
    empty_flags,
    registered_analyses,
)
from graphrisk.config import Config, Threshold, declare_thresholds
from graphrisk.graph import EnterpriseGraph

__all__ = [
    "CHANGE_KEY",
    "ScanResult",
    "compare_flags",
    "flag_rows_for_neo4j",
    "peak_rss_gb",
    "risk_scores",
    "run_scan",
    "severity_at_least",
]

declare_thresholds(
    Threshold(
        "risk_weight_high",
        0.5,
        "Entity risk score: weight of each distinct high flag in the noisy-OR 1 − Π(1 − w).",
        "graphrisk convention (issue 7): two independent high flags give 0.75",
    ),
    Threshold(
        "risk_weight_medium",
        0.2,
        "Entity risk score: weight of each distinct medium flag.",
        "graphrisk convention (issue 7)",
    ),
    Threshold(
        "risk_weight_low",
        0.05,
        "Entity risk score: weight of each distinct low flag.",
        "graphrisk convention (issue 7)",
    ),
)


def peak_rss_gb() -> float:
    """The process's peak resident memory so far, in GB (for the stage table of a nightly run)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / (1024**3 if sys.platform == "darwin" else 1024**2)


# A flag is the same flag in two runs when these agree; reasons carry figures that move from day to day.
CHANGE_KEY = ("entity_id", "flag", "analysis")


@dataclass(frozen=True)
class ScanResult:
    results: tuple[AnalysisResult, ...]
    flags: pd.DataFrame
    timings: tuple[tuple[str, float, float], ...]  # (stage, seconds, peak RSS in GB so far)

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
    timings: list[tuple[str, float, float]] = []
    for analysis in registered_analyses():
        if only is not None and analysis.name not in only:
            continue
        say(f"analysis {analysis.name}: {analysis.description}")
        t0 = time.perf_counter()
        outcome = analysis.run(graph, context)
        results.append(outcome)
        context.results[analysis.name] = outcome
        timings.append((f"analysis:{analysis.name}", time.perf_counter() - t0, peak_rss_gb()))
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


def severity_at_least(severity: str) -> list[str]:
    """The severities at or above ``severity`` (``high`` < ``medium`` < ``low`` in the order of SEVERITIES).

    >>> severity_at_least("medium")
    ['high', 'medium']
    """
    return list(SEVERITIES[: SEVERITIES.index(severity) + 1])


def risk_scores(flags: pd.DataFrame, config: Config | None = None, *, reason_chars: int = 120) -> pd.DataFrame:
    """One row per flagged entity: ``risk_score`` = 1 − Π(1 − w) over its distinct (flag, severity) pairs, with
    w from ``risk_weight_<severity>``; the worst severity; the flag codes; and the reason of its worst flag
    (cut at ``reason_chars``; every reason is in flags.csv).

    Examples
    --------
    >>> f = pd.DataFrame({"entity_id": ["A", "A", "B"], "flag": ["x", "y", "x"], "severity": ["high", "low", "medium"],
    ...                   "reason": ["r1", "r2", "r3"], "evidence": ["{}"] * 3, "analysis": ["a"] * 3})
    >>> risk_scores(f)[["entity_id", "risk_score", "severity", "flags", "reasons"]].values.tolist()
    [['A', 0.525, 'high', 'x;y', 'x: r1 (+1 more flag in flags.csv)'], ['B', 0.2, 'medium', 'x', 'x: r3']]
    """
    cfg = config or Config()
    columns = ["entity_id", "risk_score", "severity", "flag_count", "flags", "reasons"]
    if not len(flags):
        return pd.DataFrame(columns=columns)
    weight = {s: cfg.threshold(f"risk_weight_{s}") for s in SEVERITIES}
    order = {s: i for i, s in enumerate(SEVERITIES)}
    # A repeated flag (say, one per pattern) counts once: the score grows with kinds of risk, not with rows.
    f = flags[["entity_id", "flag", "severity", "reason"]].drop_duplicates(["entity_id", "flag", "severity"])
    f = f.assign(
        _log=np.log1p(-f["severity"].map(weight).astype("float64").clip(upper=1.0 - 1e-12)),
        _o=f["severity"].map(order).astype(np.int64),
    ).sort_values(["entity_id", "_o", "flag"], kind="stable")
    ent = f["entity_id"].astype(str).to_numpy(dtype=object)
    starts = np.flatnonzero(np.r_[True, ent[1:] != ent[:-1]])
    counts = np.diff(np.r_[starts, len(ent)])
    # Per entity by slicing the sorted rows (a million entities: no Python group loop).
    score = 1.0 - np.exp(np.add.reduceat(f["_log"].to_numpy(), starts))
    codes = f["flag"].astype(str).to_numpy(dtype=object)
    joined = [";".join(dict.fromkeys(codes[a : a + k])) for a, k in zip(starts, counts, strict=True)]
    first_reason = f["reason"].astype(str).to_numpy(dtype=object)[starts]
    reasons = [
        f"{c}: {r[:reason_chars]}{'…' if len(r) > reason_chars else ''}"
        + (f" (+{k - 1} more flag{'s' if k > 2 else ''} in flags.csv)" if k > 1 else "")
        for c, r, k in zip(codes[starts], first_reason, counts, strict=True)
    ]
    out = pd.DataFrame(
        {
            "entity_id": ent[starts],
            "risk_score": np.round(score, 6),
            "severity": np.asarray(SEVERITIES, dtype=object)[f["_o"].to_numpy()[starts]],
            "flag_count": counts,
            "flags": joined,
            "reasons": reasons,
        }
    )
    out = out.sort_values(["risk_score", "entity_id"], ascending=[False, True], kind="stable")
    return out[columns].reset_index(drop=True)


def compare_flags(current: pd.DataFrame, previous: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mark each current flag ``new`` or ``unchanged`` against a previous run's flags (same entity, flag and
    analysis: see :data:`CHANGE_KEY`); return the marked flags and the previous flags no longer raised
    (``resolved``).

    Examples
    --------
    >>> cols = {"flag": ["f", "f"], "severity": ["high"] * 2, "reason": ["", ""], "evidence": ["{}"] * 2,
    ...         "analysis": ["a"] * 2}
    >>> now, gone = compare_flags(pd.DataFrame({"entity_id": ["A", "B"], **cols}),
    ...                           pd.DataFrame({"entity_id": ["B", "C"], **cols}))
    >>> now["change"].tolist(), gone[["entity_id", "change"]].values.tolist()
    (['new', 'unchanged'], [['C', 'resolved']])
    """
    key = list(CHANGE_KEY)
    prev = previous.copy()
    for column in key:
        if column not in prev:
            prev[column] = ""
    prev_keys = set(map(tuple, prev[key].astype(str).to_numpy().tolist()))
    cur_keys = list(map(tuple, current[key].astype(str).to_numpy().tolist()))
    marked = current.assign(change=["unchanged" if k in prev_keys else "new" for k in cur_keys])
    cur_set = set(cur_keys)
    gone_mask = [k not in cur_set for k in map(tuple, prev[key].astype(str).to_numpy().tolist())]
    resolved = prev[gone_mask].drop(columns=["change"], errors="ignore").assign(change="resolved")
    return marked, resolved.reset_index(drop=True)


def flag_rows_for_neo4j(scores: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for ``cypher/writeback/scan_risk.cypher``: one per flagged enterprise or person."""
    return [
        {"id": i, "risk_score": float(s), "risk_severity": sev, "risk_flags": flags.split(";"), "reasons": r}
        for i, s, sev, flags, r in zip(
            scores["entity_id"], scores["risk_score"], scores["severity"], scores["flags"], scores["reasons"],
            strict=True,
        )
    ]  # fmt: skip
