"""``report.html`` for the Spark engine: the embedded report page (:func:`graphrisk.report.html.render_report`)
from what a Spark scan has at its end.

The page needs a few hundred rows whatever the portfolio's size: the most severe flags and the top rows of the main
tables (:data:`LISTINGS`), each collected with a sort and a limit, plus the names of the firms shown and the
figures of ``summary.json``. Nothing else reaches the driver. Every value is escaped by the embedded renderer and
the page loads nothing from the network. Not drawn here: the embedded report's cluster pictures (they need each
cluster's neighbourhood collected) and the per-analysis charts other than the loss exceedance curve.

>>> html = render_spark_report({"run_id": "r1", "steps": {}}, {}, _no_flags(), {})
>>> "<script" in html, "graphrisk scan report" in html
(False, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from graphrisk.analysis import FLAG_COLUMNS, AnalysisResult, Chart, ReportSection
from graphrisk.report.html import render_report
from graphrisk.units import format_cny

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["LISTINGS", "REPORT_FLAGS", "REPORT_ROWS", "Listing", "collect_listings", "render_spark_report"]

REPORT_ROWS = 20
"""Rows per listing: what a person reads; the full tables are the CSV and Parquet files beside the page."""

REPORT_FLAGS = 50
"""The most severe flags shown (flags.csv has all of them), as the embedded page."""


@dataclass(frozen=True)
class Listing:
    """A table's top rows in the report: ``order`` columns descending, or ascending when written ``+column``."""

    section: str
    title: str
    table: str
    order: tuple[str, ...]
    columns: tuple[str, ...]


LISTINGS: tuple[Listing, ...] = (
    Listing("guarantees", "Largest guarantee circles by EAD", "guarantee_circles", ("ead", "+circle_id"),
            ("circle_id", "firms", "guarantees", "guaranteed_amount", "ead", "defaulted_members", "reason")),
    Listing("guarantees", "Guarantee chains and patterns by EAD", "guarantee_patterns", ("ead", "+pattern_id"),
            ("pattern", "pattern_id", "size", "guaranteed_amount", "ead", "defaulted_members", "reason")),
    Listing("counterparty_groups", "Largest exposures to connected counterparties", "group_exposures",
            ("ead", "+counterparty_id"),
            ("counterparty_id", "kind", "name", "members", "ead", "ratio_to_tier1", "large_exposure", "limit_status")),
    Listing("counterparty_groups", "Limit breaches", "limit_breaches", ("ratio", "+counterparty_id", "+limit_name"),
            ("counterparty_id", "kind", "limit_name", "limit", "ratio", "ead", "status", "reason")),
    Listing("contagion", "Most systemic firms (their default alone)", "systemic_importance", ("+rank",),
            ("id", "rank", "systemic_debtrank", "firms_hit", "new_defaults", "loss_if_default", "ead_hit_share")),
    Listing("contagion", "Expected loss added along guarantee chains and circles (proxy)", "chain_losses",
            ("el_added", "+pattern_id"),
            ("pattern_id", "size", "el_standalone", "el_network", "el_added", "top_member")),
    Listing("hidden_links", "Strongest suspected links", "suspected_links", ("score", "+a_id", "+b_id"),
            ("a_id", "b_id", "score", "reasons")),
    Listing("hidden_links", "Largest suspected groups", "suspected_groups", ("size", "max_score", "+group_id"),
            ("group_id", "size", "max_score", "mean_score", "members")),
    Listing("risk_clusters", "Riskiest clusters", "clusters", ("score", "+cluster_id"),
            ("cluster_id", "size", "ead", "score", "severity", "reasons")),
)  # fmt: skip

# Section titles in page order, and the steps whose row counts head each section.
_SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ownership", "Ownership and actual controllers", ("control", "controllers", "groups_corporate", "cross_holdings",
                                                       "beneficial_owners")),
    ("guarantees", "Guarantee circles and chains", ("guarantee_components", "guarantee_circles_table",
                                                    "guarantee_patterns", "mutual_guarantees", "guarantors")),
    ("counterparty_groups", "Connected counterparties (large exposures)", ("counterparty_groups", "group_exposures",
                                                                           "limit_breaches", "lex_screening")),
    ("contagion", "Contagion", ("impact_edges", "contagion", "systemic_importance", "chain_losses")),
    ("hidden_links", "Hidden links", ("suspected_links", "suspected_groups", "person_candidates",
                                      "related_transactions")),
    ("risk_clusters", "Risk clusters", ("risk_clusters", "cluster_members")),
)  # fmt: skip


def collect_listings(frames: dict[str, DataFrame], rows: int = REPORT_ROWS) -> dict[str, pd.DataFrame]:
    """The top ``rows`` of each table of :data:`LISTINGS` found in ``frames`` (by table name), sorted on the
    executors and collected with a limit. A listed column missing from a table is an error, not a silent gap."""
    from pyspark.sql import functions as F

    out: dict[str, pd.DataFrame] = {}
    for listing in LISTINGS:
        frame = frames.get(listing.table)
        if frame is None:
            continue
        order = [
            F.col(c[1:]).asc_nulls_last() if c.startswith("+") else F.col(c).desc_nulls_last() for c in listing.order
        ]
        out[listing.table] = frame.orderBy(*order).limit(rows).select(*listing.columns).toPandas()
    return out


def most_severe_flags(flags: DataFrame, rows: int = REPORT_FLAGS) -> pd.DataFrame:
    """The first ``rows`` flags in the embedded order (severity, flag, entity), collected with a limit."""
    from graphrisk.engines.spark.flags import ordered_flags

    return ordered_flags(flags).limit(rows).select(*FLAG_COLUMNS).toPandas()


def firm_names(enterprises: DataFrame, ids: Sequence[str]) -> dict[str, str]:
    """The names of the firms among ``ids`` (a few hundred), for the page; persons stay as their pseudonyms."""
    wanted = sorted({str(i) for i in ids if i is not None})
    if not wanted:
        return {}
    rows = enterprises.where(enterprises["id"].isin(wanted)).select("id", "name").collect()
    return {str(r["id"]): str(r["name"]) for r in rows if r["name"] is not None}


def _count(value: Any) -> str:
    return f"{int(value):,}"


def _contagion_figures(contagion: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    figures: list[tuple[str, str]] = []
    radius = contagion.get("spectral_radius")
    figures.append(("spectral radius", "—" if radius is None else f"{float(radius):.3f}"))
    for key in ("too_connected_to_fail", "network_pd_uplift"):
        if key in contagion:
            figures.append((key.replace("_", " "), _count(contagion[key])))
    if "mean_pd" in contagion and "mean_network_pd" in contagion:
        figures.append(("mean PD → network PD", f"{contagion['mean_pd']:.4f} → {contagion['mean_network_pd']:.4f}"))
    return tuple(figures)


def _losses_chart(losses: dict[str, Any] | None) -> tuple[Chart, ...]:
    curves = (losses or {}).get("exceedance") or {}
    if not curves:
        return ()
    floor = 1.0 / max(1, int(losses.get("scenarios", 1))) if losses else 1.0
    series = tuple(
        (name.replace("_", " "), tuple(c["loss"]), tuple(max(p, floor) for p in c["probability_above"]))
        for name, c in curves.items()
    )
    note = (
        f"{int(losses.get('scenarios', 0)):,} scenarios, one-factor copula ρ = {losses.get('rho')}, seed "
        f"{losses.get('seed')}; the gap between the curves is the loss the network adds."
        if losses
        else ""
    )
    return (Chart("Loss exceedance: P(bank loss > x)", "bank loss", "probability", series, True, "cny", note),)


def render_spark_report(
    summary: dict[str, Any],
    listings: dict[str, pd.DataFrame],
    flags: pd.DataFrame,
    names: dict[str, str],
    *,
    losses: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
) -> str:
    """The report page of a Spark scan from its ``summary`` (``summary.json``), the collected ``listings``
    (:func:`collect_listings`), the most severe ``flags`` (:func:`most_severe_flags`), the ``names`` of the firms
    shown, the Monte Carlo ``losses`` document (``losses.json``, for the exceedance chart) and, with ``--since``,
    the ``changes`` (``since``, ``counts``, and the first ``new`` and ``resolved`` flags). Returns HTML text."""
    steps: dict[str, dict[str, Any]] = summary.get("steps", {})
    results: list[AnalysisResult] = []
    quality = summary.get("data_quality", {}).get("tables", {})
    if quality:
        table = pd.DataFrame(
            [{"table": name, **{k: v for k, v in stats.items() if isinstance(v, int | float)}}
             for name, stats in quality.items()]
        )  # fmt: skip
        rejected = sum(int(s.get("rejected", 0)) for s in quality.values())
        results.append(
            AnalysisResult(
                "data_quality",
                section=ReportSection(
                    "Input data",
                    paragraphs=("Every input row is either loaded or rejected with its file, line, column and reason "
                                "(rejects.csv).",),
                    figures=(("rows rejected", _count(rejected)),),
                    tables=(("Rows per table", table),),
                ),
            )
        )  # fmt: skip
    for name, title, counted in _SECTIONS:
        figures = tuple((s.replace("_", " "), _count(steps[s]["rows"])) for s in counted if s in steps)
        if name == "contagion" and isinstance(summary.get("contagion"), dict):
            figures += _contagion_figures(summary["contagion"])
        tables = tuple(
            (listing.title, listings[listing.table])
            for listing in LISTINGS
            if listing.section == name and listing.table in listings and len(listings[listing.table])
        )
        charts = _losses_chart(losses) if name == "contagion" else ()
        if not figures and not tables:
            continue
        paragraphs = (f"The top {REPORT_ROWS} rows of each table; every row is in the files named in summary.json.",)
        # What the embedded executive summary reads: the breaches (with names) and the loss distributions.
        shared: dict[str, pd.DataFrame] = {}
        facts: dict[str, Any] = {}
        if name == "counterparty_groups":
            if "limit_breaches" in listings:
                shared["limit_breaches"] = listings["limit_breaches"]
            if "limit_breaches" in steps:
                facts["breaches"] = int(steps["limit_breaches"]["rows"])
        if name == "contagion" and isinstance(summary.get("contagion"), dict) and summary["contagion"].get("losses"):
            facts["losses"] = {k: summary["contagion"]["losses"][k] for k in ("without_contagion", "with_contagion")}
        results.append(
            AnalysisResult(
                name, tables=shared, summary=facts, section=ReportSection(title, paragraphs, figures, tables, charts)
            )
        )
    not_ported = summary.get("not_ported") or []
    if not_ported:
        results.append(
            AnalysisResult(
                "not_ported",
                section=ReportSection(
                    "Not computed by the Spark engine",
                    paragraphs=("The embedded engine computes these as well; see summary.json → not_ported.",
                                *(str(x) for x in not_ported)),
                ),
            )
        )  # fmt: skip
    graph = summary.get("graph_summary", {})
    headline = {"engine": "spark"}
    if graph:
        headline["enterprises"] = _count(graph.get("enterprises", 0))
        headline["total EAD"] = format_cny(graph.get("total_ead"))
    if quality:
        headline["rejected rows"] = _count(sum(int(s.get("rejected", 0)) for s in quality.values()))
    for severity, count in (summary.get("risk_clusters_by_severity") or {}).items():
        headline[f"{severity} risk clusters"] = _count(count)
    timings = [
        {"step": s, "rows": int(info.get("rows", 0)), "seconds": float(info.get("seconds", 0.0)),
         "where": str(info.get("where", ""))}
        for s, info in steps.items()
    ]  # fmt: skip
    parameters = summary.get("parameters", {})
    metadata = {
        "run_id": summary.get("run_id", ""),
        "version": summary.get("version", ""),
        "data_dir": parameters.get("data_dir", ""),
        "source": parameters.get("source", ""),
        "as_of": summary.get("as_of", ""),
        "headline": headline,
        "timings": timings,
    }
    return render_report(metadata, results, flags, names, changes=changes)


def _no_flags() -> pd.DataFrame:  # for the doctest
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in FLAG_COLUMNS})
