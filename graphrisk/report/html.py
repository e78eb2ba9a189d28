"""The scan report as one self-contained HTML file: inline styles, no script, nothing fetched from the network.

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

from graphrisk.analysis import FLAG_COLUMNS, SEVERITIES, AnalysisResult

__all__ = ["render_report"]

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
.more{color:#5b6b7c;font-size:.8rem}
"""


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


def render_report(
    metadata: dict[str, Any],
    results: Sequence[AnalysisResult],
    flags: pd.DataFrame,
    names: dict[str, str] | None = None,
) -> str:
    """The report page: executive summary, flags, then one section per analysis.

    ``names`` maps entity ids to the names shown beside them (persons already masked by the caller).
    """
    counts = flags["severity"].value_counts() if len(flags) else pd.Series(dtype=int)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        # No network: a restrictive policy makes the promise checkable by a browser too.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        'img-src data:">',
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
    ]
    if len(flags):
        shown = flags[list(FLAG_COLUMNS)]
        if names:
            shown = shown.assign(name=shown["entity_id"].map(names))[["entity_id", "name", *FLAG_COLUMNS[1:]]]
        parts += [
            "<h2>Flags</h2>",
            "<p>Every flag with its reason; all of them are in flags.csv.</p>",
            _table(shown, max_rows=50, severity_column="severity"),
        ]
    for r in results:
        if r.section is None:
            continue
        s = r.section
        parts.append(f"<h2>{_esc(s.title)}</h2>")
        if s.figures:
            parts.append(_figures(s.figures))
        parts += [f"<p>{_esc(p)}</p>" for p in s.paragraphs]
        for title, frame in s.tables:
            parts += [f"<h3>{_esc(title)}</h3>", _table(frame)]
    timings = metadata.get("timings", [])
    if timings:
        parts += ["<h2>Run</h2>", _table(pd.DataFrame(timings))]
    parts.append("</body></html>")
    return "\n".join(parts)


def _flags() -> pd.DataFrame:  # for the doctest
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in FLAG_COLUMNS})
