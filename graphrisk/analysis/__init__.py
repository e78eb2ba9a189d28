"""Analyses and their registry: adding an analysis means writing one module that registers itself here.

An analysis is a pure function ``run(graph, context) -> AnalysisResult``: no printing, no files. Its result
carries the tables the scan writes (one CSV each), entity flags with reasons, summary figures for
``summary.json`` and a section for the report.

>>> [a.name for a in registered_analyses()][:3]
['graph_summary', 'structure', 'data_quality']
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from graphrisk.config import Config
from graphrisk.graph import EnterpriseGraph

__all__ = [
    "FLAG_COLUMNS",
    "SEVERITIES",
    "Analysis",
    "AnalysisContext",
    "AnalysisResult",
    "Chart",
    "LazyRows",
    "ReportSection",
    "empty_flags",
    "register",
    "registered_analyses",
]

FLAG_COLUMNS = ("entity_id", "flag", "severity", "reason", "evidence")
SEVERITIES = ("high", "medium", "low")


def _builtin_modules() -> list[str]:
    """Every module of this package: importing one registers its analyses, so a new analysis is one new file."""
    return [f"{__name__}.{m.name}" for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)]


def empty_flags() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in FLAG_COLUMNS})


@dataclass(frozen=True)
class Chart:
    """A line chart the report draws as inline SVG: one (label, xs, ys) per series, in data units."""

    title: str
    x_label: str
    y_label: str
    series: tuple[tuple[str, tuple[float, ...], tuple[float, ...]], ...]
    log_y: bool = False
    x_format: str = "number"  # "number" or "cny" (万/亿 labels)
    note: str = ""


@dataclass(frozen=True)
class ReportSection:
    """What the report shows for one analysis: text, figures and tables (already limited to what a person reads)."""

    title: str
    paragraphs: tuple[str, ...] = ()
    figures: tuple[tuple[str, str], ...] = ()  # (label, value)
    tables: tuple[tuple[str, pd.DataFrame], ...] = ()
    charts: tuple[Chart, ...] = ()


class LazyRows(Sequence[dict[str, Any]]):
    """Write-back rows built on first use. A scan without Neo4j never builds them: at a million firms the row
    dictionaries of every analysis held several GB that nothing read.

    >>> rows = LazyRows(lambda: [{"id": "A"}])
    >>> len(rows), rows[0], rows == [{"id": "A"}]
    (1, {'id': 'A'}, True)
    """

    def __init__(self, build: Callable[[], list[dict[str, Any]]]) -> None:
        self._build: Callable[[], list[dict[str, Any]]] | None = build
        self._rows: list[dict[str, Any]] | None = None

    def _get(self) -> list[dict[str, Any]]:
        if self._rows is None:
            assert self._build is not None
            self._rows, self._build = self._build(), None
        return self._rows

    def __len__(self) -> int:
        return len(self._get())

    def __getitem__(self, index: Any) -> Any:
        return self._get()[index]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._get())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyRows):
            other = other._get()
        return isinstance(other, list) and self._get() == other

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class AnalysisContext:
    config: Config = field(default_factory=Config)
    as_of: date = field(default_factory=date.today)
    data_quality: dict[str, Any] = field(default_factory=dict)  # validation stats and reject counts
    # Results of the analyses that ran before this one (by name): a later analysis may use an earlier one's
    # output, e.g. guarantees use the actual controllers to find intra-group guarantees.
    results: dict[str, AnalysisResult] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalysisResult:
    name: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # output name (no extension) → frame
    flags: pd.DataFrame = field(default_factory=empty_flags)
    summary: dict[str, Any] = field(default_factory=dict)
    section: ReportSection | None = None
    documents: dict[str, Any] = field(default_factory=dict)  # output name (no extension) → JSON-ready value
    # Derived data for Neo4j: (statement under cypher/writeback/, rows). The scan runs them, in order, when it
    # works on a Neo4j server, with $run_id and $algorithm as parameters.
    writeback: tuple[tuple[str, Sequence[dict[str, Any]]], ...] = ()


@dataclass(frozen=True)
class Analysis:
    name: str
    title: str
    description: str
    order: int
    run: Callable[[EnterpriseGraph, AnalysisContext], AnalysisResult]


_REGISTRY: dict[str, Analysis] = {}


def register(
    name: str, *, title: str, description: str, order: int
) -> Callable[
    [Callable[[EnterpriseGraph, AnalysisContext], AnalysisResult]],
    Callable[[EnterpriseGraph, AnalysisContext], AnalysisResult],
]:
    """Register ``run`` as the analysis ``name``; the scan runs analyses by ascending ``order``."""

    def decorate(
        run: Callable[[EnterpriseGraph, AnalysisContext], AnalysisResult],
    ) -> Callable[[EnterpriseGraph, AnalysisContext], AnalysisResult]:
        _REGISTRY[name] = Analysis(name=name, title=title, description=description, order=order, run=run)
        return run

    return decorate


def registered_analyses() -> list[Analysis]:
    """Every registered analysis, built-in ones imported first, in run order."""
    for module in _builtin_modules():
        importlib.import_module(module)
    return sorted(_REGISTRY.values(), key=lambda a: (a.order, a.name))
