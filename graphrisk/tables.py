"""Validated tables: the contract between the loaders (or the Neo4j store) and everything downstream.

One typed pandas DataFrame per schema table, plus the rows that were rejected and the warnings raised while
validating. Nothing downstream of ``Tables`` reads files.

>>> t = Tables.empty()
>>> list(t["guarantees"].columns)[:3]
['guarantor_id', 'borrower_id', 'amount']
>>> len(t.canonical_hash())
64
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graphrisk.schema import SCHEMA, ColumnType, Table

__all__ = [
    "REJECT_COLUMNS",
    "WARNING_COLUMNS",
    "TableStats",
    "Tables",
    "coerce_frame",
    "empty_frame",
    "positions_in",
]

REJECT_COLUMNS = ("table", "file", "line", "column", "value", "reason", "message")
WARNING_COLUMNS = ("table", "file", "line", "column", "value", "reason", "message")

STRING_DTYPE = pd.StringDtype("pyarrow")

_DTYPES: dict[ColumnType, object] = {
    "id": STRING_DTYPE,
    "text": STRING_DTYPE,
    "enum": STRING_DTYPE,
    "float": "float64",
    "amount": "float64",
    "share": "float64",
    "probability": "float64",
    "date": "datetime64[s]",
    "bool": "boolean",
    "int": "Int64",
}


def _as_arrow_strings(values: pd.Series | np.ndarray | pa.Array) -> pa.Array:
    if isinstance(values, pa.Array):
        return values
    if isinstance(values, pd.Series):
        values = values.astype(STRING_DTYPE)
        return pa.array(values.array)  # type: ignore[no-any-return]
    return pa.array(values, type=pa.large_string(), from_pandas=True)


def positions_in(values: pd.Series | np.ndarray, ids: pd.Series | np.ndarray | pa.Array) -> np.ndarray:
    """Position of each value in ``ids`` (−1 when absent), hashed by Arrow: three times pandas' get_indexer.

    >>> positions_in(pd.Series(["b", "z", None]), np.array(["a", "b"], dtype=object)).tolist()
    [1, -1, -1]
    """
    hay = _as_arrow_strings(ids)
    needles = _as_arrow_strings(values)
    if hay.type != needles.type:
        needles = needles.cast(hay.type)
    found = pc.index_in(needles, value_set=hay)
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def dtype_of(column_type: ColumnType) -> object:
    return _DTYPES[column_type]


def empty_frame(table: Table) -> pd.DataFrame:
    """An empty DataFrame with the table's stored columns and dtypes."""
    return pd.DataFrame(
        {c.table_name: pd.Series([], dtype=dtype_of(c.type)) for c in table.columns}  # type: ignore[call-overload]
    )


def coerce_frame(table: Table, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with exactly the table's stored columns, in order, with canonical dtypes."""
    out: dict[str, pd.Series] = {}
    n = len(frame)
    for c in table.columns:
        name = c.table_name
        col = frame[name] if name in frame.columns else pd.Series([None] * n, index=frame.index, dtype=object)
        if c.type == "date":
            col = pd.to_datetime(col, errors="raise").astype("datetime64[s]")
        elif c.type in ("id", "text", "enum"):
            col = col.astype(STRING_DTYPE)
        elif c.type == "bool":
            col = col.astype("boolean")
        elif c.type == "int":
            col = pd.to_numeric(col).astype("Int64")
        else:
            col = pd.to_numeric(col).astype("float64")
        out[name] = col
    return pd.DataFrame(out).reset_index(drop=True)


@dataclass(frozen=True)
class TableStats:
    """Row counts of one table. ``rows == accepted + rejected``; ``loaded == accepted - merged``."""

    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    merged: int = 0
    warnings: int = 0
    file: str | None = None

    @property
    def loaded(self) -> int:
        return self.accepted - self.merged

    def as_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates_merged": self.merged,
            "loaded": self.loaded,
            "warnings": self.warnings,
            "file": self.file,
        }


@dataclass
class Tables:
    """The validated input: ``tables["guarantees"]`` is a typed DataFrame with the schema's columns."""

    frames: dict[str, pd.DataFrame]
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(REJECT_COLUMNS)))
    warnings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(WARNING_COLUMNS)))
    stats: dict[str, TableStats] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for t in SCHEMA:
            if t.name not in self.frames:
                self.frames[t.name] = empty_frame(t)
            self.stats.setdefault(t.name, TableStats(rows=len(self.frames[t.name]), accepted=len(self.frames[t.name])))

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.frames[name]

    @classmethod
    def empty(cls) -> Tables:
        return cls(frames={})

    @classmethod
    def from_frames(cls, frames: dict[str, pd.DataFrame]) -> Tables:
        """Tables from already-clean frames (tests, the Neo4j store): columns and dtypes are made canonical."""
        return cls(frames={name: coerce_frame(SCHEMA[name], f) for name, f in frames.items()})

    @property
    def rejected_rows(self) -> int:
        return sum(s.rejected for s in self.stats.values())

    def canonical_hash(self) -> str:
        """SHA-256 over every table's content, independent of row order and of where the data came from.

        Equal for the embedded loader and for the same data read back from Neo4j.
        """
        h = hashlib.sha256()
        for t in SCHEMA:
            h.update(f"[{t.name}]\n".encode())
            h.update(table_digest(t, self.frames[t.name]).encode())
        return h.hexdigest()


def canonical_strings(table: Table, frame: pd.DataFrame) -> pd.DataFrame:
    """Every value as a canonical string (floats by shortest repr, dates ISO, missing as empty)."""
    out: dict[str, pd.Series] = {}
    for c in table.columns:
        col = frame[c.table_name]
        if c.type == "date":
            s = pd.to_datetime(col).dt.strftime("%Y-%m-%d")
        elif c.type in ("float", "amount", "share", "probability"):
            vals = col.to_numpy(dtype="float64", na_value=np.nan)
            s = pd.Series([repr(float(v)) for v in vals], index=col.index, dtype=object)
        else:
            s = col.astype(object).map(str)
        out[c.table_name] = s.where(col.notna(), "").astype(object)
    return pd.DataFrame(out, index=frame.index)


def table_digest(table: Table, frame: pd.DataFrame) -> str:
    strings = canonical_strings(table, frame)
    if len(strings) == 0:
        return hashlib.sha256(b"").hexdigest()
    cols = [strings[c].astype(str) for c in strings.columns]
    lines = cols[0].str.cat(cols[1:], sep="\x1f") if len(cols) > 1 else cols[0]  # type: ignore[arg-type]
    body = "\n".join(sorted(lines.tolist()))
    return hashlib.sha256(body.encode()).hexdigest()
