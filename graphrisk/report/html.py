"""The scan report as one self-contained HTML file: inline styles, nothing fetched from the network; the only
script is the vendored vis-network drawing the top clusters' pictures (inline, when there are pictures).

Every piece of data is escaped: names are data, never markup.

>>> "<script>" in render_report({"run_id": "<script>"}, [], _flags())
False
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from graphrisk.analysis import FLAG_COLUMNS, SEVERITIES, AnalysisResult, Chart
from graphrisk.report.viz import CSP, View, pictures_block
from graphrisk.units import format_cny

__all__ = ["render_chart", "render_report"]

_MAX_ROWS = 25

_CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",system-ui,sans-serif;margin:2rem auto;
max-width:1100px;color:#1d2733;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;border-bottom:2px solid #d5dde6;padding-bottom:.2rem;
margin-top:2.2rem}h3{font-size:1rem;margin-bottom:.3rem}
.meta{color:#5b6b7c;font-size:.85rem}
.figures{display:flex;flex-wrap:wrap;gap:.6rem;margin:.8rem 0}
.figure{background:#f3f6f9;border-radius:6px;padding:.5rem .8rem;min-width:8rem}
.figure b{display:block;font-size:1.2rem}.figure span{font-size:.8rem;color:#5b6b7c}
table{border-collapse:collapse;font-size:.82rem;margin:.4rem 0 1rem;width:100%}
th,td{border:1px solid #d5dde6;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#eef2f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.sev-high{color:#fff;background:#b3261e}.sev-medium{background:#f2b84b}.sev-low{background:#dfe7ef}
.picture{width:100%;border:1px solid #d5dde6;background:#fff}.notes{font-size:.8rem;color:#5b6b7c;margin:.2rem 0}
.legend{display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;padding:.5rem 0;font-size:.8rem}
.legend span{display:inline-flex;align-items:center;gap:.3rem}
.sw{display:inline-block;width:14px;height:14px;border-radius:50%;border:1px solid #555}
.ln{display:inline-block;width:26px;height:0;border-top:3px solid}
.tip{font-size:12px;max-width:420px;white-space:normal}.tip div:first-child{font-weight:bold}
.more{color:#5b6b7c;font-size:.8rem}
figure{margin:.6rem 0 1.2rem}figcaption{font-size:.8rem;color:#5b6b7c}
svg.chart text{font-size:11px;fill:#33414f}svg.chart .grid{stroke:#e3e9ef}svg.chart .axis{stroke:#8595a6}
"""
_SERIES_COLOURS = ("#3b6ea5", "#b3261e", "#2e7d32", "#8e5bb5")


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _cell(value: Any) -> str:
    if isinstance(value, float | np.floating):
        number = float(value)
        if np.isnan(number):
            return "<td></td>"
        text = f"{number:,.4g}" if abs(number) < 1e6 else f"{number:,.0f}"
        return f'<td class="num">{_esc(text)}</td>'
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return f'<td class="num">{int(value):,}</td>'
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "<td></td>"
    return f"<td>{_esc(value)}</td>"


def _table(frame: pd.DataFrame, max_rows: int = _MAX_ROWS, severity_column: str | None = None) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    body = []
    for rec in frame.head(max_rows).itertuples(index=False):
        cells = []
        for col, v in zip(frame.columns, rec, strict=True):
            if col == severity_column and v in SEVERITIES:
                cells.append(f'<td class="sev-{_esc(v)}">{_esc(v)}</td>')
            else:
                cells.append(_cell(v))
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f'<p class="more">{len(frame) - max_rows:,} more rows in the CSV files.</p>' if len(frame) > max_rows else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def _figures(pairs: Sequence[tuple[str, str]]) -> str:
    items = "".join(f'<div class="figure"><b>{_esc(v)}</b><span>{_esc(k)}</span></div>' for k, v in pairs)
    return f'<div class="figures">{items}</div>'


def _tick_label(value: float, fmt: str) -> str:
    if fmt == "cny":
        return format_cny(value)
    return f"{value:,.3g}"


def render_chart(chart: Chart, width: int = 680, height: int = 300) -> str:
    """One chart as inline SVG (no script, nothing fetched); every label escaped.

    >>> svg = render_chart(Chart("t", "x", "y", (("a<b", (0.0, 1.0), (1.0, 0.5)),)))
    >>> svg.count("<polyline"), "a&lt;b" in svg
    (1, True)
    """
    left, right, top, bottom = 70, 20, 20, 48
    pw, ph = width - left - right, height - top - bottom
    xs = [x for _, sx, _ in chart.series for x in sx]
    ys = [y for _, _, sy in chart.series for y in sy if not chart.log_y or y > 0]
    if not xs or not ys:
        return f"<p>{_esc(chart.title)}: no data.</p>"
    x0, x1 = min(0.0, min(xs)), max(xs)
    x1 = x1 if x1 > x0 else x0 + 1.0
    if chart.log_y:
        y0, y1 = float(np.floor(np.log10(min(ys)))), float(np.ceil(np.log10(max(ys))))
        y1 = y1 if y1 > y0 else y0 + 1.0

        def fy(v: float) -> float:
            return top + ph * (1.0 - (np.log10(max(v, 10**y0)) - y0) / (y1 - y0))

        y_ticks = [(10**e, f"{10**e:g}") for e in range(int(y0), int(y1) + 1)]
    else:
        y0, y1 = min(0.0, min(ys)), max(ys)
        y1 = y1 if y1 > y0 else y0 + 1.0

        def fy(v: float) -> float:
            return top + ph * (1.0 - (v - y0) / (y1 - y0))

        y_ticks = [(float(t), f"{t:,.3g}") for t in np.linspace(y0, y1, 5)]

    def fx(v: float) -> float:
        return left + pw * (v - x0) / (x1 - x0)

    out = [
        f'<figure><svg class="chart" role="img" aria-label="{_esc(chart.title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
    ]
    for value, label in y_ticks:
        y = fy(value)
        out.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_esc(label)}</text>')
    for t in np.linspace(x0, x1, 5):
        x = fx(float(t))
        out.append(f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}"/>')
        out.append(
            f'<text x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle">{_esc(_tick_label(float(t), chart.x_format))}'
            "</text>"
        )
    out.append(f'<rect class="axis" x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none"/>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 8}" text-anchor="middle">{_esc(chart.x_label)}</text>')
    out.append(
        f'<text transform="translate(14 {top + ph / 2:.1f}) rotate(-90)" text-anchor="middle">{_esc(chart.y_label)}'
        f"{' (log scale)' if chart.log_y else ''}</text>"
    )
    for k, (label, sx, sy) in enumerate(chart.series):
        colour = _SERIES_COLOURS[k % len(_SERIES_COLOURS)]
        # A step curve: an exceedance probability holds until the next loss level.
        points: list[str] = []
        for i, (x, y) in enumerate(zip(sx, sy, strict=True)):
            if i:
                points.append(f"{fx(x):.1f},{fy(sy[i - 1]):.1f}")
            points.append(f"{fx(x):.1f},{fy(y):.1f}")
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(points)}"/>')
        ly = top + 14 + 16 * k
        out.append(f'<line x1="{left + pw - 170}" y1="{ly - 4}" x2="{left + pw - 150}" y2="{ly - 4}" '
                   f'stroke="{colour}" stroke-width="2"/>')  # fmt: skip
        out.append(f'<text x="{left + pw - 144}" y="{ly}">{_esc(label)}</text>')
    out.append("</svg>")
    caption = f"{chart.title}. {chart.note}".strip()
    out.append(f"<figcaption>{_esc(caption)}</figcaption></figure>")
    return "".join(out)


def _result(results: Sequence[AnalysisResult], name: str) -> AnalysisResult | None:
    return next((r for r in results if r.name == name), None)


def _executive(results: Sequence[AnalysisResult], names: dict[str, str]) -> list[str]:
    """What a credit committee reads first: top clusters, limit breaches, loss with and without contagion.
    Each part appears when its analysis ran."""
    parts: list[str] = []
    figures: list[tuple[str, str]] = []
    clusters = _result(results, "risk_clusters")
    cluster_table = clusters.tables.get("clusters") if clusters else None
    if cluster_table is not None and "severity" in cluster_table:
        sev = cluster_table["severity"].value_counts()
        figures += [(f"{s} risk clusters", f"{int(sev.get(s, 0)):,}") for s in ("high", "medium")]
    groups = _result(results, "counterparty_groups")
    breaches = groups.tables.get("limit_breaches") if groups else None
    if groups is not None:
        summary = groups.summary
        for key, label in (("groups", "connected-counterparty groups"), ("breaches", "limit breaches"),
                           ("near_breaches", "near-breaches")):  # fmt: skip
            if isinstance(summary.get(key), int | float):
                figures.append((label, f"{int(summary[key]):,}"))
    contagion = _result(results, "contagion")
    losses = contagion.summary.get("losses") if contagion else None
    if losses:
        figures += [
            ("EL without contagion", format_cny(losses["without_contagion"]["el"])),
            ("EL with contagion", format_cny(losses["with_contagion"]["el"])),
            ("VaR 99.9 % with contagion", format_cny(losses["with_contagion"]["var_99.9"])),
        ]
    if figures:
        parts.append(_figures(figures))
    if cluster_table is not None and len(cluster_table):
        cols = [c for c in ("cluster_id", "size", "ead", "score", "severity", "reasons") if c in cluster_table]
        parts += ["<h3>Top risk clusters</h3>", _table(cluster_table[cols], max_rows=10, severity_column="severity")]
    if breaches is not None and len(breaches):
        shown = breaches
        if "counterparty_id" in shown and names:
            shown = shown.assign(name=shown["counterparty_id"].map(names))
        parts += ["<h3>Large-exposure limit breaches and near-breaches</h3>", _table(shown, max_rows=15)]
    if losses:
        rows = pd.DataFrame(
            [
                {"distribution": k.replace("_", " "), **{m: format_cny(v) for m, v in row.items()}}
                for k, row in losses.items()
                if k in ("without_contagion", "with_contagion")
            ]
        )
        parts += ["<h3>Bank loss with and without contagion</h3>", _table(rows)]
    return parts


def _changes(changes: dict[str, Any]) -> list[str]:
    new, resolved = changes.get("new"), changes.get("resolved")
    parts = [
        f"<h2>Changes since {_esc(changes.get('since', 'the previous run'))}</h2>",
        _figures([(k, f"{int(v):,}") for k, v in changes.get("counts", {}).items()]),
    ]
    if isinstance(new, pd.DataFrame) and len(new):
        parts += ["<h3>New flags</h3>", _table(new[list(FLAG_COLUMNS)], max_rows=30, severity_column="severity")]
    if isinstance(resolved, pd.DataFrame) and len(resolved):
        cols = [c for c in FLAG_COLUMNS if c in resolved]
        parts += ["<h3>Resolved flags</h3>", _table(resolved[cols], max_rows=30, severity_column="severity")]
    return parts


def render_report(
    metadata: dict[str, Any],
    results: Sequence[AnalysisResult],
    flags: pd.DataFrame,
    names: dict[str, str] | None = None,
    *,
    pictures: Sequence[View] = (),
    changes: dict[str, Any] | None = None,
) -> str:
    """The report page: executive summary, changes since the previous run, flags, the top clusters' pictures,
    then one section per analysis.

    ``names`` maps entity ids to the names shown beside them (persons already masked by the caller);
    ``pictures`` are drawn with the vendored vis-network (the only script on the page); ``changes`` holds
    ``since``, ``counts``, and the ``new`` and ``resolved`` flag frames.
    """
    counts = flags["severity"].value_counts() if len(flags) else pd.Series(dtype=int)
    # No network: a restrictive policy makes the promise checkable by a browser too. Inline scripts only when
    # there are pictures to draw.
    csp = CSP if pictures else "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>graphrisk report {_esc(metadata.get('run_id', ''))}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>graphrisk scan report</h1>",
        f'<p class="meta">run {_esc(metadata.get("run_id", ""))} · graphrisk {_esc(metadata.get("version", ""))} · '
        f"data {_esc(metadata.get('data_dir', ''))} · source {_esc(metadata.get('source', ''))} · as of "
        f"{_esc(metadata.get('as_of', ''))}</p>",
        "<h2>Executive summary</h2>",
        _figures(
            [(f"{s} flags", f"{int(counts.get(s, 0)):,}") for s in SEVERITIES]
            + [(k, str(v)) for k, v in metadata.get("headline", {}).items()]
        ),
        *_executive(results, names or {}),
    ]
    if changes:
        parts += _changes(changes)
    if len(flags):
        shown = flags[list(FLAG_COLUMNS)]
        if names:
            shown = shown.assign(name=shown["entity_id"].map(names))[["entity_id", "name", *FLAG_COLUMNS[1:]]]
        parts += [
            "<h2>Flags</h2>",
            "<p>The most severe flags with their reasons; all of them are in flags.csv, and one score per "
            "entity in risk_scores.csv.</p>",
            _table(shown, max_rows=50, severity_column="severity"),
        ]
    if pictures:
        parts += [
            "<h2>Top clusters in pictures</h2>",
            "<p>Drag to move, scroll to zoom, hover for details. Persons are masked; colours are the worst flag "
            "or PD band.</p>",
            pictures_block(pictures),
        ]
    for r in results:
        if r.section is None:
            continue
        s = r.section
        parts.append(f"<h2>{_esc(s.title)}</h2>")
        if s.figures:
            parts.append(_figures(s.figures))
        parts += [f"<p>{_esc(p)}</p>" for p in s.paragraphs]
        parts += [render_chart(c) for c in s.charts]
        for title, frame in s.tables:
            parts += [f"<h3>{_esc(title)}</h3>", _table(frame)]
    timings = metadata.get("timings", [])
    if timings:
        parts += ["<h2>Run</h2>", _table(pd.DataFrame(timings))]
    parts.append("</body></html>")
    return "\n".join(parts)


def _flags() -> pd.DataFrame:  # for the doctest
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in FLAG_COLUMNS})
