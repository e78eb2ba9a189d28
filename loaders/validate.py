"""Lazy validation: every failure of every row is collected into one rejects table, nothing stops early.

A row with any failure is rejected whole and appears in the rejects once per failing column, with its file,
spreadsheet line, column, value (masked when personal), a reason code and a message that says how to fix it.
Invariant, tested: for every table ``rows == accepted + rejected``.

Reason codes: see :data:`REASONS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graphrisk.privacy import mask_personal
from graphrisk.schema import SCHEMA, Column, Table
from graphrisk.tables import (
    REJECT_COLUMNS,
    WARNING_COLUMNS,
    Tables,
    TableStats,
    coerce_frame,
    empty_frame,
    positions_in,
)
from loaders import columns as parse
from loaders.columns import map_distinct
from loaders.identifiers import compact_identifier, looks_like_ric, pseudonymise, ric_valid, uscc_valid
from loaders.readers import RawTable

__all__ = ["REASONS", "validate_tables"]

REASONS: dict[str, str] = {
    "missing_value": "a required value is empty",
    "invalid_number": "not a number",
    "invalid_date": "not a date",
    "invalid_bool": "not a yes/no value",
    "invalid_int": "not a whole number",
    "invalid_value": "not one of the accepted values",
    "out_of_range": "outside the allowed range",
    "negative_amount": "an amount below zero",
    "share_out_of_range": "a share outside [0, 1]",
    "share_bounds": "share_min ≤ share ≤ share_max does not hold",
    "invalid_uscc": "not a valid unified social credit code (GB 32100-2015)",
    "invalid_id_number": "not a valid resident ID number (GB 11643)",
    "date_order": "start date after end date",
    "self_guarantee": "a firm guaranteeing itself",
    "self_ownership": "a company holding its own shares",
    "self_supply": "a firm supplying itself",
    "unknown_endpoint": "the id is not in the node tables (or its row there was rejected)",
    "duplicate_key": "the same key on several rows with different values",
    "id_collision": "a person id equal to an enterprise id",
}

_FIX = {
    "missing_value": "fill it in, or drop the row",
    "invalid_number": "write a plain number such as 1234.5, 1,234.5, 12万 or 3.5亿",
    "invalid_date": "write a date as 2024-01-31, 2024/1/31, 20240131 or 2024年1月31日",
    "invalid_bool": "write true/false, 1/0, Y/N or 是/否",
    "invalid_int": "write a whole number",
    "out_of_range": "correct the value",
    "negative_amount": "amounts are zero or more",
    "share_out_of_range": "write a share as 0.35 or 35%, or use a percent header such as 持股比例(%)",
    "share_bounds": "correct share_min, share or share_max",
    "invalid_uscc": "check the 18-character code; its last character is a check character",
    "invalid_id_number": "check the 18-character number; its last character is a check character",
    "date_order": "swap or correct start_date and end_date",
    "self_guarantee": "a guarantee needs two different firms",
    "self_ownership": "remove the row (treasury shares are not an ownership link)",
    "self_supply": "a supply link needs two different firms",
    "id_collision": "give the person an id that no enterprise uses",
}

_PARSE_REASON = {
    "float": "invalid_number",
    "amount": "invalid_number",
    "share": "invalid_number",
    "probability": "invalid_number",
    "date": "invalid_date",
    "bool": "invalid_bool",
    "int": "invalid_int",
}


@dataclass
class _Collector:
    """Failures and warnings of one table, as column-wise lists (cheap to build for a million rows)."""

    raw: RawTable
    parts: list[pd.DataFrame] = field(default_factory=list)
    warning_parts: list[pd.DataFrame] = field(default_factory=list)

    def add(
        self,
        mask: np.ndarray | pd.Series,
        column: str,
        reason: str,
        values: pd.Series,
        message: str | pd.Series | None = None,
        *,
        warning: bool = False,
    ) -> None:
        m = np.asarray(mask, dtype=bool)
        if not m.any():
            return
        col = self.raw.table.column(column) if column in self.raw.table.column_names else None
        shown = values[m].astype(object).where(values[m].notna(), "").astype(str)
        if col is not None and (col.personal or col.pseudonymise):
            shown = shown.map(mask_personal)
        elif col is not None and col.type == "id":
            # An id that is a resident ID number is personal data: never echoed back.
            ric = looks_like_ric(shown)
            if ric.any():
                shown = shown.where(~ric, shown[ric].map(mask_personal))
        if message is None:
            text: pd.Series | str = f"{column}: {REASONS[reason]}; {_FIX.get(reason, 'correct the row')}"
        elif isinstance(message, str):
            text = message
        else:
            text = message[m].astype(str)
        part = pd.DataFrame(
            {
                "table": self.raw.table.name,
                "file": str(self.raw.path),
                "line": self.raw.lines[m],
                "column": column,
                "value": shown.to_numpy(),
                "reason": reason,
                "message": text if isinstance(text, str) else text.to_numpy(),
            }
        )
        (self.warning_parts if warning else self.parts).append(part)

    def rejected_mask(self, n: int) -> np.ndarray:
        bad = np.zeros(n, dtype=bool)
        if self.parts:
            lines = np.concatenate([p["line"].to_numpy() for p in self.parts])
            bad = np.isin(self.raw.lines, lines)
        return bad


def _parse_column(col: Column, raw: RawTable, cells: pd.Series, sink: _Collector) -> pd.Series:
    """Typed values of one column; unparseable and out-of-range cells go to the rejects."""
    present = cells != ""
    if col.type in ("id", "text"):
        values: pd.Series = cells.where(present, None)
    elif col.type == "enum":
        lookup = col.enum_lookup()
        values = map_distinct(cells, lambda v: lookup.get(v.casefold()))
        unknown = present & values.isna()
        accepted = ", ".join(v for v, _ in col.enum)
        sink.add(
            unknown,
            col.name,
            "invalid_value",
            cells,
            f"{col.name}: not one of the accepted values; use one of {accepted} (or their Chinese names)",
        )
    else:
        bad: pd.Series
        if col.type == "amount":
            values, bad = parse.parse_amount(cells, raw.multipliers.get(col.name, 1.0))
        elif col.type in ("share", "probability"):
            values, bad = parse.parse_share(cells, percent=col.name in raw.percent_columns)
        elif col.type == "date":
            values, bad = parse.parse_date(cells)
        elif col.type == "bool":
            values, bad = parse.parse_bool(cells)
        elif col.type == "int":
            values, bad = parse.parse_int(cells)
        else:
            values, bad = parse.parse_float(cells)
        sink.add(bad, col.name, _PARSE_REASON[col.type], cells)
        lo = 0.0 if col.type in ("share", "probability") else col.min
        hi = 1.0 if col.type in ("share", "probability") else col.max
        if lo is not None or hi is not None:
            num = values.astype("float64") if col.type != "date" else None
            if num is not None:
                out = pd.Series(False, index=cells.index)
                if lo is not None:
                    out |= num < lo
                if hi is not None:
                    out |= num > hi
                out = out.fillna(False).astype(bool)
                reason = (
                    "share_out_of_range"
                    if col.type == "share"
                    else "negative_amount"
                    if col.type == "amount" and lo == 0.0 and hi is None
                    else "out_of_range"
                )
                msg = (
                    None
                    if reason != "out_of_range"
                    else (
                        f"{col.name}: outside [{'' if lo is None else f'{lo:g}'}, {'' if hi is None else f'{hi:g}'}]; "
                        "correct the value"
                        + ("; a probability is a fraction such as 0.02 or 2%" if col.type == "probability" else "")
                    )
                )
                sink.add(out, col.name, reason, cells, msg)
    if col.required:
        sink.add(~present, col.name, "missing_value", cells)
    return values


def _check_table_rules(
    table: Table, typed: pd.DataFrame, cells: pd.DataFrame, sink: _Collector, pseudonym_key: bytes
) -> None:
    """Rules that look at more than one cell, or at identifiers."""
    name = table.name
    if name == "enterprises" and "uscc" in typed:
        present = typed["uscc"].notna()
        if present.any():
            ok = uscc_valid(typed["uscc"].where(present, ""))
            sink.add(present & ~ok, "uscc", "invalid_uscc", cells["uscc"])
            typed["uscc"] = compact_identifier(typed["uscc"].fillna("")).where(present, None)
    if name == "persons" and "id_number" in typed:
        present = typed["id_number"].notna()
        ok = ric_valid(typed["id_number"].where(present, ""))
        sink.add(present & ~ok, "id_number", "invalid_id_number", cells["id_number"])
        pseud = pd.Series(None, index=typed.index, dtype=object)
        good = present & ok
        if good.any():
            pseud[good] = pseudonymise(typed.loc[good, "id_number"], pseudonym_key)
        typed["id_pseudonym"] = pseud
        del typed["id_number"]  # the number in clear stops here
    if table.kind == "relation" and table.source in typed and table.target in typed:
        same = (typed[table.source] == typed[table.target]).fillna(False).astype(bool)
        reason = {"guarantees": "self_guarantee", "shareholdings": "self_ownership", "supply_links": "self_supply"}.get(
            name
        )
        if reason:
            sink.add(same, table.target, reason, cells[table.target])
    if name == "shareholdings" and "share" in typed:
        share = typed["share"]
        for bound, cmp in (("share_min", lambda b: b > share), ("share_max", lambda b: b < share)):
            if bound in typed:
                broken = cmp(typed[bound]).fillna(False).astype(bool)
                sink.add(broken, bound, "share_bounds", cells[bound])
        if "share_min" in typed and "share_max" in typed:
            broken = (typed["share_min"] > typed["share_max"]).fillna(False).astype(bool)
            sink.add(broken, "share_max", "share_bounds", cells["share_max"])
    if name == "guarantees" and "start_date" in typed and "end_date" in typed:
        broken = (typed["start_date"] > typed["end_date"]).fillna(False).astype(bool)
        sink.add(broken, "end_date", "date_order", cells["end_date"])


def member_of(values: pd.Series, allowed: pa.Array) -> pd.Series:
    """``values.isin(allowed)`` by hashing: pandas' Arrow-string isin builds one Python object per allowed id."""
    if len(allowed) == 0:
        return pd.Series(False, index=values.index)
    return pd.Series(positions_in(values, allowed) >= 0, index=values.index)


def member_of_many(columns: list[pd.Series], allowed: pa.Array) -> list[pd.Series]:
    """:func:`member_of` for several columns against one set, hashing the set once."""
    if not columns:
        return []
    joined = pd.concat([c.astype("string[pyarrow]") for c in columns], ignore_index=True)
    flags = member_of(joined, allowed).to_numpy()
    out, start = [], 0
    for c in columns:
        out.append(pd.Series(flags[start : start + len(c)], index=c.index))
        start += len(c)
    return out


_NO_IDS = pa.array([], type=pa.large_string())


def _id_index(ids: pd.Series) -> pa.Array:
    return pc.unique(pa.array(ids.dropna().astype("string[pyarrow]").array, type=pa.large_string()))


def _pseudonymise_person_ids(table: Table, typed: pd.DataFrame, key: bytes, enterprise_ids: pa.Array) -> None:
    """Resident ID numbers used as person ids are replaced by their pseudonym wherever they appear."""
    cols = []
    if table.name == "persons":
        cols = ["id"]
    elif table.name == "officers":
        cols = ["person_id"]
    elif table.name == "shareholdings":
        cols = ["holder_id"]
    for c in cols:
        if c not in typed:
            continue
        vals = typed[c].astype("string[pyarrow]").fillna("")
        candidates = looks_like_ric(vals) & ~member_of(vals, enterprise_ids)
        if candidates.any():
            ok = ric_valid(vals[candidates])
            idx = ok[ok].index
            if len(idx):
                typed.loc[idx, c] = pseudonymise(vals[idx], key)


def _deduplicate(
    table: Table, typed: pd.DataFrame, keep: np.ndarray, sink: _Collector, cells: pd.DataFrame
) -> tuple[np.ndarray, int]:
    """Identical rows are merged (counted); rows sharing a key with different values are all rejected."""
    key_cols = [c for c in table.key if c in typed]
    if not key_cols or not keep.any():
        return keep, 0
    sub = typed.loc[keep]
    key_frame = sub[key_cols].astype(object).where(sub[key_cols].notna(), "\x00")
    dup_key = key_frame.duplicated(keep=False).to_numpy()
    if not dup_key.any():
        return keep, 0
    content = sub.astype(object).where(sub.notna(), "\x00")
    dup_rows = sub.index[dup_key]
    groups = key_frame.loc[dup_rows].apply(lambda r: "\x1f".join(map(str, r)), axis=1)
    row_hash = content.loc[dup_rows].apply(lambda r: "\x1f".join(map(str, r)), axis=1)
    distinct = row_hash.groupby(groups).nunique()
    conflicting_groups = distinct[distinct > 1].index
    conflict_rows = groups[groups.isin(conflicting_groups)].index
    merged_rows = groups[~groups.isin(conflicting_groups)].index
    new_keep = keep.copy()
    merged = 0
    if len(merged_rows):
        first = row_hash.loc[merged_rows].groupby(groups.loc[merged_rows]).head(1).index
        drop = merged_rows.difference(first)
        new_keep[drop.to_numpy()] = False
        merged = len(drop)
    if len(conflict_rows):
        lines = pd.Series(sink.raw.lines[conflict_rows.to_numpy()], index=conflict_rows)
        lines_by_group = lines.groupby(groups.loc[conflict_rows]).apply(lambda s: ", ".join(map(str, s)))
        msg = (
            groups.loc[conflict_rows]
            .map(lines_by_group)
            .map(lambda ls: f"key ({', '.join(key_cols)}) is on lines {ls} with different values; keep one row")
        )
        mask = np.zeros(len(typed), dtype=bool)
        mask[conflict_rows.to_numpy()] = True
        message = pd.Series("", index=typed.index, dtype=object)
        message.loc[conflict_rows] = msg
        sink.add(
            mask, key_cols[-1] if len(key_cols) == 1 else key_cols[0], "duplicate_key", cells[key_cols[0]], message
        )
        new_keep[conflict_rows.to_numpy()] = False
    return new_keep, merged


def validate_tables(
    raws: dict[str, RawTable],
    *,
    pseudonym_key: bytes,
    share_sum_tolerance: float = 0.005,
    progress: Callable[[str], None] | None = None,
) -> Tables:
    """Validate every raw table; returns accepted rows as typed :class:`Tables` plus rejects and warnings.

    >>> import numpy as np, pandas as pd
    >>> from pathlib import Path
    >>> from loaders.readers import RawTable
    >>> raw = RawTable(SCHEMA["enterprises"], Path("e.csv"),
    ...                pd.DataFrame({"id": ["A", "B", ""], "name": ["甲", "乙", "丙"]}), np.array([2, 3, 4]))
    >>> t = validate_tables({"enterprises": raw}, pseudonym_key=b"k")
    >>> t.stats["enterprises"].accepted, t.stats["enterprises"].rejected, t.rejects["reason"].tolist()
    (2, 1, ['missing_value'])
    """
    say = progress or (lambda _m: None)
    frames: dict[str, pd.DataFrame] = {}
    stats: dict[str, TableStats] = {}
    rejects: list[pd.DataFrame] = []
    warnings: list[pd.DataFrame] = []
    typed_all: dict[str, tuple[pd.DataFrame, pd.DataFrame, np.ndarray, _Collector]] = {}

    # Pass 1: cells → typed values, per-row and per-table rules, duplicate keys.
    for table in SCHEMA:
        raw = raws.get(table.name)
        if raw is None:
            continue
        say(f"validating {table.name}: {len(raw.frame):,} rows from {raw.path.name}")
        sink = _Collector(raw)
        cells = pd.DataFrame({c: parse.clean_strings(raw.frame[c]) for c in raw.frame.columns})
        typed = pd.DataFrame(index=cells.index)
        for col in table.columns:
            if col.name in cells:
                typed[col.name] = _parse_column(col, raw, cells[col.name], sink)
        _check_table_rules(table, typed, cells, sink, pseudonym_key)
        typed_all[table.name] = (typed, cells, np.zeros(len(typed), dtype=bool), sink)

    enterprise_ids = _NO_IDS
    if "enterprises" in typed_all:
        typed, _cells, _keep, sink = typed_all["enterprises"]
        keep = ~sink.rejected_mask(len(typed))
        enterprise_ids = _id_index(typed.loc[keep, "id"])
    for name, (typed, _cells, _keep, _sink) in typed_all.items():
        _pseudonymise_person_ids(SCHEMA[name], typed, pseudonym_key, enterprise_ids)

    # Nodes first: their accepted ids decide which edges have both ends.
    node_ids: dict[str, pa.Array] = {}
    merged_counts: dict[str, int] = {}
    for table in SCHEMA.node_tables:
        if table.name not in typed_all:
            node_ids[table.name] = _NO_IDS
            continue
        typed, cells, _keep, sink = typed_all[table.name]
        if table.name == "persons":
            clash = member_of(typed["id"], node_ids.get("enterprises", _NO_IDS))
            sink.add(clash, "id", "id_collision", cells["id"])
        keep = ~sink.rejected_mask(len(typed))
        keep, merged_counts[table.name] = _deduplicate(table, typed, keep, sink, cells)
        typed_all[table.name] = (typed, cells, keep, sink)
        node_ids[table.name] = _id_index(typed.loc[keep, "id"])

    # A node's reference to another node (a declared controller) that is not in the data is dropped with a
    # warning: the firm itself is fine, only the declaration cannot be used.
    for table in SCHEMA.node_tables:
        if table.name not in typed_all:
            continue
        typed, cells, keep, sink = typed_all[table.name]
        for col in table.columns:
            if col.references and col.name in typed:
                id_parts = [node_ids.get(r, _NO_IDS) for r in col.references]
                allowed = id_parts[0] if len(id_parts) == 1 else pc.unique(pa.concat_arrays(id_parts))
                unknown = typed[col.name].notna() & ~member_of(typed[col.name], allowed)
                unknown = unknown & pd.Series(keep, index=typed.index)
                where = " or ".join(col.references)
                sink.add(
                    unknown,
                    col.name,
                    "unknown_reference",
                    cells[col.name],
                    f"{col.name}: this id is not in {where}; the declaration is ignored (the row is kept)",
                    warning=True,
                )
                typed.loc[unknown, col.name] = None

    # Endpoint columns referring to the same node tables are looked up together: one hash table per set.
    wanted: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for table in SCHEMA:
        if table.kind != "node" and table.name in typed_all:
            for col in table.columns:
                if col.references and col.name in typed_all[table.name][0]:
                    wanted.setdefault(col.references, []).append((table.name, col.name))
    known: dict[tuple[str, str], pd.Series] = {}
    for refs, cols in wanted.items():
        id_parts = [node_ids.get(r, _NO_IDS) for r in refs]
        allowed = id_parts[0] if len(id_parts) == 1 else pc.unique(pa.concat_arrays(id_parts))
        found = member_of_many([typed_all[t][0][c] for t, c in cols], allowed)
        known.update(zip(cols, found, strict=True))
    for table in SCHEMA:
        if table.kind == "node" or table.name not in typed_all:
            continue
        typed, cells, _keep, sink = typed_all[table.name]
        for col in table.columns:
            if col.references and col.name in typed:
                present = typed[col.name].notna()
                unknown = present & ~known[(table.name, col.name)]
                where = " or ".join(col.references)
                sink.add(
                    unknown,
                    col.name,
                    "unknown_endpoint",
                    cells[col.name],
                    f"{col.name}: this id is not in {where} (or its row there was rejected); add the "
                    f"{'entity' if len(col.references) > 1 else col.references[0][:-1]} first or fix the id",
                )
        keep = ~sink.rejected_mask(len(typed))
        keep, merged_counts[table.name] = _deduplicate(table, typed, keep, sink, cells)
        typed_all[table.name] = (typed, cells, keep, sink)

    for table in SCHEMA:
        if table.name not in typed_all:
            frames[table.name] = empty_frame(table)
            stats[table.name] = TableStats()
            continue
        typed, cells, keep, sink = typed_all[table.name]
        rejected = int(sink.rejected_mask(len(typed)).sum())
        accepted_frame = coerce_frame(table, typed.loc[keep])
        if table.name == "shareholdings" and len(accepted_frame):
            totals = accepted_frame.groupby("company_id", observed=True)["share"].sum()
            over = totals[totals > 1.0 + share_sum_tolerance]
            if len(over):
                rows = typed.index[keep & typed["company_id"].isin(over.index).to_numpy()]
                first = typed.loc[rows].groupby("company_id", observed=True).head(1).index
                mask = np.zeros(len(typed), dtype=bool)
                mask[first.to_numpy()] = True
                message = (
                    typed["company_id"]
                    .map(over)
                    .map(
                        lambda s: (
                            f"direct shares of this company sum to {s:.2%}, over 100% "
                            f"(+{share_sum_tolerance:.1%} tolerance); check for double-counted holders"
                        )
                    )
                )
                sink.add(mask, "company_id", "shares_over_100", cells["company_id"], message, warning=True)
        frames[table.name] = accepted_frame
        rejects.extend(sink.parts)
        warnings.extend(sink.warning_parts)
        n_warn = sum(len(p) for p in sink.warning_parts)
        stats[table.name] = TableStats(
            rows=len(typed),
            accepted=len(typed) - rejected,
            rejected=rejected,
            merged=merged_counts.get(table.name, 0),
            warnings=n_warn,
            file=str(sink.raw.path),
        )
    rejects_frame = pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame(columns=list(REJECT_COLUMNS))
    warnings_frame = pd.concat(warnings, ignore_index=True) if warnings else pd.DataFrame(columns=list(WARNING_COLUMNS))
    if len(rejects_frame):
        rejects_frame = rejects_frame.sort_values(["table", "line", "column"], kind="stable").reset_index(drop=True)
    return Tables(frames=frames, rejects=rejects_frame, warnings=warnings_frame, stats=stats)
