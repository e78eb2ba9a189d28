"""The input tables as Spark DataFrames: CSV or Parquet, canonical or alias headers, the schema's types.

Two readers:

* :func:`read_tables` casts every column to the schema's type; a value that does not parse becomes null,
  silently. Kept for callers that read data already validated (``graphrisk validate DATA``).
* :func:`read_cells` gives one table's cells as text with each row's line number, as the embedded loader's
  ``read_raw_table`` does; :func:`graphrisk.engines.spark.validate.validate_tables` validates them and writes
  the rejects. Line numbers of a CSV file come from :func:`numbered_records` (see there for quoted newlines).

Neither reads GBK/GB18030 text (Spark reads UTF-8; convert first) or XLSX. :func:`read_tables` drops the
columns marked ``pseudonymise``; the validating reader pseudonymises them with the key.

>>> from graphrisk.engines.spark.io import table_files
>>> from pathlib import Path

from graphrisk.engines.spark.fs import Location, location
>>> table_files(Path("/nonexistent"), "guarantees")
[]
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from graphrisk.config import TableSource
from graphrisk.engines.spark.fs import Location, location
from graphrisk.errors import DataError, InputFileError, MissingColumnError
from graphrisk.schema import SCHEMA, Column, Table
from loaders.readers import find_table_file

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "WHITESPACE",
    "WHITESPACE_CLASS",
    "RawCells",
    "find_table_path",
    "line_stats",
    "numbered_records",
    "quote_patterns",
    "quote_states",
    "read_all_cells",
    "read_cells",
    "read_table",
    "read_tables",
    "table_files",
]

_SUFFIXES = (".parquet", ".csv")
_TRUE = ("true", "1", "yes", "y", "t", "是", "真")
_FALSE = ("false", "0", "no", "n", "f", "否", "假")


def table_files(data_dir: Location, table: str) -> list[Location]:
    """The file (or Parquet folder) holding ``table``: its name or a file alias, ``.parquet`` before ``.csv``."""
    t = SCHEMA[table]
    for name in (t.name, *t.file_aliases):
        for suffix in _SUFFIXES:
            path = data_dir / f"{name}{suffix}"
            if path.exists():
                return [path]
    return []


def _target(table: Table, header: str) -> tuple[Column, float, bool] | None:
    found = SCHEMA.resolve_header(table.name, header.lstrip("\ufeff"))  # a UTF-8 BOM stays in Spark's first header
    if found is None:
        return None
    name, multiplier, percent = found
    return table.column(name), multiplier, percent


def _typed(raw: SparkColumn, col: Column, multiplier: float, percent: bool) -> SparkColumn:
    """Cast one raw string column to the schema's type (a value that does not parse becomes null)."""
    from pyspark.sql import functions as F

    text = F.trim(raw.cast("string"))
    text = F.when(text == "", None).otherwise(text)
    if col.type in ("float", "amount", "share", "probability"):
        value = F.regexp_replace(text, "[,，%％\\s]", "").cast("double") * F.lit(multiplier)
        if col.type in ("share", "probability"):
            # "35%" and a percent header's 35 are 0.35, as the embedded loader reads them; a bare 35 stays 35
            # (the embedded loader rejects it; row validation is not ported yet).
            pct = F.lit(percent) | text.endswith("%") | text.endswith("％")
            value = F.when(pct, value / 100.0).otherwise(value)
        return value
    if col.type == "int":
        return F.regexp_replace(text, "[,，\\s]", "").cast("double").cast("long")
    if col.type == "date":
        return F.coalesce(F.to_date(text, "yyyy-MM-dd"), F.to_date(text, "yyyy/M/d"), F.to_date(text, "yyyyMMdd"))
    if col.type == "bool":
        low = F.lower(text)
        return F.when(low.isin(*_TRUE), True).when(low.isin(*_FALSE), False)
    if col.type == "enum" and col.enum:
        pairs = [
            item for spelling, canonical in col.enum_lookup().items() for item in (F.lit(spelling), F.lit(canonical))
        ]
        low = F.lower(text)
        return F.coalesce(F.create_map(*pairs)[low], text)
    return text


def read_table(spark: SparkSession, path: Location, table: str) -> DataFrame:
    """One table with canonical column names and types; unknown headers are left out."""
    t = SCHEMA[table]
    if path.suffix == ".parquet":
        raw = spark.read.parquet(str(path))
    else:
        # Every value as text, then the schema's cast: inferring types would read an id like 0123 as a number.
        raw = spark.read.csv(str(path), header=True, inferSchema=False, escape='"', encoding="UTF-8")
    picked: dict[str, SparkColumn] = {}
    for header in raw.columns:
        found = _target(t, header)
        if found is None or found[0].name in picked or found[0].pseudonymise:
            continue
        col, multiplier, percent = found
        picked[col.name] = _typed(raw[f"`{header}`"], col, multiplier, percent).alias(col.name)
    missing = [c for c in t.required_columns if c not in picked]
    if missing:
        raise DataError(
            f"{path}: the required column(s) {', '.join(missing)} of table '{table}' are missing. Fix: add them "
            f"(accepted headers: {', '.join((missing[0], *t.column(missing[0]).aliases))})."
        )
    from pyspark.sql import functions as F

    # Absent optional columns are null of the right type, so every step can name every schema column.
    spark_type = {"float": "double", "amount": "double", "share": "double", "probability": "double",
                  "int": "long", "date": "date", "bool": "boolean"}  # fmt: skip
    columns = [
        picked.get(c.name, F.lit(None).cast(spark_type.get(c.type, "string")).alias(c.name))
        for c in t.columns
        if not c.pseudonymise
    ]
    return raw.select(*columns)


def read_tables(spark: SparkSession, data_dir: Location | str) -> dict[str, DataFrame]:
    """Every table found in ``data_dir`` (enterprises is required), keyed by the schema's table name.

    A missing optional table is an empty DataFrame with the schema's columns, so steps need no special case.
    """
    data_dir = location(data_dir, spark)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: no such folder. Fix: give the folder that holds enterprises.csv.")
    out: dict[str, DataFrame] = {}
    for t in SCHEMA:
        files = table_files(data_dir, t.name)
        if files:
            out[t.name] = read_table(spark, files[0], t.name)
        elif t.required:
            raise DataError(f"{data_dir}: no file for the required table '{t.name}' (.csv or .parquet).")
        else:
            out[t.name] = _empty(spark, t)
    return out


def _empty(spark: SparkSession, t: Table) -> DataFrame:
    from pyspark.sql.types import (
        BooleanType,
        DataType,
        DateType,
        DoubleType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    types: dict[str, DataType] = {"float": DoubleType(), "amount": DoubleType(), "share": DoubleType(),
                                  "probability": DoubleType(), "int": LongType(), "date": DateType(),
                                  "bool": BooleanType()}  # fmt: skip
    fields = [StructField(c.name, types.get(c.type, StringType()), True) for c in t.columns if not c.pseudonymise]
    return spark.createDataFrame([], StructType(fields))


# --------------------------------------------------------------------------------- cells as text, with lines

_Q_BODY = '(?:[^"]|"")*+'  # the inside of a quoted field: any character but a quote, or a doubled quote


def quote_patterns(delimiter: str) -> tuple[str, str]:
    """Two regular expressions telling how one line of CSV text moves the quote state of pandas' tokenizer
    (which the embedded loader reads with): ``opens`` matches a line that, read from the start of a record,
    ends inside a quoted field; ``stays`` matches a line that, read from inside a quoted field, ends inside one.

    A quote opens a quoted field only at the start of a field; ``""`` inside it is a quote; after the closing
    quote the field runs on to the next delimiter, as in pandas. Java (``rlike``) and Python read the patterns
    alike: possessive quantifiers, and the delimiter written as ``\\uXXXX``.

    >>> import re
    >>> opens, stays = quote_patterns(",")
    >>> [bool(re.search(opens, x)) for x in ('A,"x', 'A,"x"', 'a"b,c', '"a""', 'a,"b",c,"d')]
    [True, False, False, True, True]
    >>> [bool(re.search(stays, x)) for x in ('y"', 'y', 'y",B,"z', 'a""b')]
    [False, True, True, True]
    """
    d = f"\\u{ord(delimiter):04x}"
    field = f'(?:"{_Q_BODY}"[^{d}]*+|[^{d}"][^{d}]*+|)'
    opens = f'^(?:{field}{d})*+"{_Q_BODY}$'
    stays = f'^{_Q_BODY}(?:"[^{d}]*+{d}(?:{field}{d})*+"{_Q_BODY})?$'
    return opens, stays


def quote_states(opens: np.ndarray, stays: np.ndarray, entering: bool) -> tuple[np.ndarray, bool]:
    """The quote state entering each of a run of lines, and the state after the last, from each line's
    ``opens``/``stays`` flags (:func:`quote_patterns`) and the state entering the run; vectorised.

    A line maps the entering state (outside, inside) to (opens, stays): a line whose two flags agree sets the
    state whatever it was, a line with opens and not stays flips it, any other keeps it. So the state after
    line j is the last setting line's value, flipped once per flipping line since.

    >>> ent, after = quote_states(np.array([0, 1, 0, 0]), np.array([1, 0, 0, 1]), False)
    >>> ent.tolist(), after
    ([False, False, True, False], False)
    """
    f0 = np.asarray(opens, dtype=bool)
    f1 = np.asarray(stays, dtype=bool)
    n = len(f0)
    if n == 0:
        return np.zeros(0, dtype=bool), entering
    sets = f0 == f1
    last = np.maximum.accumulate(np.where(sets, np.arange(n), -1))
    flips = np.cumsum(f0 & ~f1)
    seen = last >= 0
    at = np.clip(last, 0, None)
    base = np.where(seen, f0[at], entering)
    parity = (flips - np.where(seen, flips[at], 0)) & 1
    after = base ^ parity.astype(bool)
    return np.concatenate([[entering], after[:-1]]).astype(bool), bool(after[-1])


def _partition_summary(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Pass 1 over one partition's lines: for each entering state, the leaving state, the number of record
    starts and the partition-local index of the last one (−1: none)."""
    pid: int | None = None
    state = {False: False, True: True}
    starts = {False: 0, True: 0}
    last = {False: -1, True: -1}
    seen = 0
    for batch in batches:
        if not len(batch):
            continue
        pid = int(batch["_pid"].iloc[0])
        f0, f1 = batch["_f0"].to_numpy(dtype=bool), batch["_f1"].to_numpy(dtype=bool)
        for entering in (False, True):
            ent, state[entering] = quote_states(f0, f1, state[entering])
            begins = np.flatnonzero(~ent)
            starts[entering] += len(begins)
            if len(begins):
                last[entering] = seen + int(begins[-1])
        seen += len(batch)
    if pid is not None:
        yield pd.DataFrame(
            {
                "_pid": [pid],
                "exit0": [state[False]],
                "exit1": [state[True]],
                "starts0": [starts[False]],
                "starts1": [starts[True]],
                "last0": [last[False]],
                "last1": [last[True]],
            }
        )


def _record_numberer(plan: dict[int, tuple[int, bool, int]]) -> Any:
    """Pass 2 over one partition's lines, given (lines before it, quote state entering it, records started
    before it): whole records with their number, and the pieces of records cut by a partition boundary."""

    def number(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        pending: tuple[int, int, list[str], bool] | None = None  # (record, first line, texts, starts here)
        state, line_base, rec_base = False, 0, 0
        first = True
        for batch in batches:
            if not len(batch):
                continue
            if first:
                line_base, state, rec_base = plan[int(batch["_pid"].iloc[0])]
                first = False
            n = len(batch)
            texts = batch["value"].astype(object).to_numpy()
            ent, after = quote_states(batch["_f0"].to_numpy(dtype=bool), batch["_f1"].to_numpy(dtype=bool), state)
            begins = ~ent
            recs = rec_base + np.cumsum(begins)
            lines = line_base + np.arange(n, dtype=np.int64) + 1
            ends = np.append(begins[1:], not after)  # the next line starts a record: this one ends its record
            out_rec: list[int] = []
            out_line: list[int] = []
            out_whole: list[bool] = []
            out_text: list[str] = []
            single = begins & ends
            i = 0
            while i < n:  # lines that are records alone are taken in bulk; the others gathered run by run
                if single[i]:
                    j = i
                    while j < n and single[j]:
                        j += 1
                    out_rec.extend(recs[i:j].tolist())
                    out_line.extend(lines[i:j].tolist())
                    out_whole.extend([True] * (j - i))
                    out_text.extend(texts[i:j].tolist())
                    i = j
                    continue
                if begins[i]:
                    if pending is not None:  # cannot happen: a record start closes the pending record
                        raise AssertionError("record start while a record is open")
                    pending = (int(recs[i]), int(lines[i]), [], True)
                elif pending is None:  # the partition starts inside a record begun in an earlier one
                    pending = (int(rec_base), int(lines[i]), [], False)
                pending[2].append(str(texts[i]))
                if ends[i]:
                    out_rec.append(pending[0])
                    out_line.append(pending[1])
                    out_whole.append(pending[3])
                    out_text.append("\n".join(pending[2]))
                    pending = None
                i += 1
            state, line_base, rec_base = after, int(lines[-1]), int(recs[-1])
            yield pd.DataFrame(
                {
                    "_rec": np.asarray(out_rec, dtype=np.int64),
                    "_piece": np.asarray(out_line, dtype=np.int64),
                    "_whole": np.asarray(out_whole, dtype=bool),
                    "text": pd.Series(out_text, dtype=object),  # object dtype: pyspark 3.5's Arrow serializer
                }
            )
        if pending is not None:  # the record runs on into the next partition
            yield pd.DataFrame(
                {
                    "_rec": np.asarray([pending[0]], dtype=np.int64),
                    "_piece": np.asarray([pending[1]], dtype=np.int64),
                    "_whole": np.asarray([False]),
                    "text": pd.Series(["\n".join(pending[2])], dtype=object),
                }
            )

    return number


def _numbered_lines(spark: SparkSession, path: Location, delimiter: str) -> DataFrame:
    """A text file's lines with their partition, the id Spark gives each row, the byte offset of their block and
    the quote flags of :func:`quote_patterns`. Built the same way wherever it is used, so that the partitions of
    the counting job and of the numbering are the same."""
    from pyspark.sql import functions as F

    if len(delimiter) != 1:
        raise InputFileError(str(path), f"delimiter {delimiter!r} is not one character", "set one character")
    opens, stays = quote_patterns(delimiter)
    value = F.col("value")
    quoted = value.contains('"')
    return spark.read.text(str(path)).select(
        value,
        F.spark_partition_id().alias("_pid"),
        F.monotonically_increasing_id().alias("_mid"),
        F.col("_metadata.file_block_start").alias("_block"),
        F.when(quoted, value.rlike(opens)).otherwise(False).alias("_f0"),
        F.when(quoted, value.rlike(stays)).otherwise(True).alias("_f1"),
    )


def line_stats(spark: SparkSession, files: list[tuple[Location, str]]) -> dict[str, list[tuple[int, int, int, int]]]:
    """For each (text file, delimiter): its partitions as (partition, lines, byte offset of the first block,
    lines ending inside a quoted field when read from a record start), in one Spark job for all the files."""
    from pyspark.sql import functions as F

    parts = [
        _numbered_lines(spark, path, delimiter)
        .groupBy("_pid")
        .agg(
            F.lit(str(path)).alias("_file"),
            F.count(F.lit(1)).alias("n"),
            F.min("_block").alias("block"),
            F.sum(F.col("_f0").cast("long")).alias("opens"),
        )
        for path, delimiter in files
    ]
    out: dict[str, list[tuple[int, int, int, int]]] = {str(path): [] for path, _ in files}
    if not parts:
        return out
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    for r in union.collect():
        out[str(r["_file"])].append((int(r["_pid"]), int(r["n"]), int(r["block"]), int(r["opens"] or 0)))
    return out


def numbered_records(
    spark: SparkSession, path: Location, delimiter: str = ",", stats: list[tuple[int, int, int, int]] | None = None
) -> DataFrame:
    """The records of a delimited text file with the embedded loader's numbering: ``_rec`` (the header is 1, the
    first data row 2; a blank line is a record too) and ``text`` (a record's lines joined by ``\\n``).

    Line numbers are a distributed row index. Spark splits the file into partitions in file order; one job
    counts each partition's lines (ordered by the byte offset of their block), and a line's number is the lines
    of the partitions before it plus its place in its own partition — what ``RDD.zipWithIndex`` does, without
    moving every line through Python.

    Quoted newlines: pandas numbers records, not physical lines, so a quoted field spanning lines shifts every
    later number, and its record must be read whole. The counting job also counts, with
    :func:`quote_patterns`, the lines that end inside a quoted field. Usually there are none: a record is then
    a line and everything stays in the JVM. Otherwise two passes of pandas code on the executors carry the quote
    state across partitions: the first finds, per partition, its leaving state and record starts for either
    entering state; the driver chains the partitions (one row each); the second numbers every line's record and
    joins multi-line records, and only records cut by a partition boundary are grouped across partitions.
    (Spark's own ``multiLine`` CSV mode would read each file in one task and still number no lines.) A quoted
    field that never closes is an :class:`InputFileError`, as it is for pandas.
    """
    from pyspark.sql import functions as F

    base = _numbered_lines(spark, path, delimiter)
    if stats is None:
        stats = line_stats(spark, [(path, delimiter)])[str(path)]
    value = F.col("value")
    order = sorted(stats, key=lambda r: (r[2], r[0]))
    offsets: dict[int, int] = {}
    total = 0
    for pid, n, _block, _opens in order:
        offsets[pid] = total
        total += n
    if not order:
        return spark.createDataFrame([], "_rec long, text string")
    if sum(r[3] for r in order) == 0:
        offset = F.create_map(*[F.lit(x) for p, o in offsets.items() for x in (p, o)])[F.col("_pid")]
        local = F.col("_mid") - F.shiftleft(F.col("_pid").cast("long"), 33)  # the id's low 33 bits
        return base.select((offset + local + 1).alias("_rec"), value.alias("text"))

    summary = {
        int(r["_pid"]): r
        for r in base.select("_pid", "_f0", "_f1")
        .mapInPandas(
            _partition_summary,
            "_pid int, exit0 boolean, exit1 boolean, starts0 long, starts1 long, last0 long, last1 long",
        )
        .collect()
    }
    plan: dict[int, tuple[int, bool, int]] = {}
    state, records, open_line = False, 0, 0
    for pid, *_rest in order:
        plan[pid] = (offsets[pid], state, records)
        s = summary[pid]
        k = "1" if state else "0"
        records += int(s[f"starts{k}"])
        if int(s[f"last{k}"]) >= 0:
            open_line = offsets[pid] + int(s[f"last{k}"]) + 1
        state = bool(s[f"exit{k}"])
    if state:
        raise InputFileError(
            str(path),
            f"the quoted field of the record starting on line {open_line} never closes",
            'close the quote, or double a quote that is part of the text ("")',
        )
    pieces = (
        base.select("_pid", "_f0", "_f1", "value")
        .mapInPandas(_record_numberer(plan), "_rec long, _piece long, _whole boolean, text string")
        .localCheckpoint(eager=True)
    )
    cut = (
        pieces.where(~F.col("_whole"))
        .groupBy("_rec")
        .agg(F.array_sort(F.collect_list(F.struct("_piece", "text"))).alias("_p"))
        .select("_rec", F.array_join(F.transform("_p", lambda p: p["text"]), "\n").alias("text"))
    )
    return pieces.where(F.col("_whole")).select("_rec", "text").unionByName(cut)


@dataclass(frozen=True)
class RawCells:
    """One table's cells as text under canonical column names, each row with its line number, before validation:
    the Spark counterpart of the embedded loader's ``RawTable``.

    ``frame`` has ``_line`` (long: spreadsheet numbering, the header is line 1), ``_overflow`` (the row has more
    fields than the header, which pandas refuses) and one string column per mapped header; a null is an empty
    cell. Rows whose mapped cells are all blank are left out, as the embedded reader leaves them out.
    """

    table: Table
    path: Location
    frame: DataFrame
    columns: tuple[str, ...]
    percent_columns: frozenset[str] = frozenset()
    multipliers: dict[str, float] = field(default_factory=dict)
    ignored_headers: tuple[str, ...] = ()


_TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)  # what Python's str.strip and Arrow's utf8_trim_whitespace strip (btrim's set of characters)
WHITESPACE_CLASS = "[" + "".join(f"\\u{ord(c):04x}" for c in WHITESPACE) + "]"  # the same, for a regex


def find_table_path(data_dir: Location, table: Table, source: TableSource) -> Location | None:
    """The file the embedded loader would read for ``table`` (same names, aliases, suffixes and graphrisk.toml
    ``file``), else a Parquet folder ``<table>.parquet``; ``None`` when there is neither."""
    # A HadoopPath answers the Path methods find_table_file uses (iterdir, is_file, suffix, stem, exists).
    found = find_table_file(cast(Path, data_dir), table, source)
    if found is not None:
        return found
    folders = [p for p in table_files(data_dir, table.name) if p.is_dir()]
    return folders[0] if folders else None


def _mangle(headers: list[str]) -> list[str]:
    """Header names made unique the way pandas does (``a``, ``a.1``; an empty one ``Unnamed: i``)."""
    out: list[str] = []
    taken = set(headers)
    seen: set[str] = set()
    for i, h in enumerate(headers):
        name = h if h else f"Unnamed: {i}"
        if name in seen:
            k = 1
            while f"{name}.{k}" in taken or f"{name}.{k}" in seen:
                k += 1
            name = f"{name}.{k}"
        seen.add(name)
        out.append(name)
    return out


def _sniff(header: str) -> str:
    counts = {d: header.count(d) for d in (",", "\t", ";", "|")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def _text_header(path: Location, source: TableSource) -> tuple[str, str]:
    """(delimiter, header line) of a text table, read on the driver as the embedded reader reads them.

    A file that does not start as UTF-8 is refused here, before Spark would read it with replacement characters.
    """
    if source.encoding and source.encoding.replace("-", "").replace("_", "").casefold() not in ("utf8", "utf8sig"):
        raise InputFileError(
            str(path), f"is set to encoding {source.encoding}; the Spark engine reads UTF-8 only", "save it as UTF-8"
        )
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as fh:
            first = fh.readline().rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            str(path), f"is not UTF-8 text ({exc}); the Spark engine reads UTF-8 only", "save it as UTF-8"
        ) from None
    if not first and path.stat().st_size == 0:
        raise InputFileError(str(path), "is empty (no header line)", "write the header line")
    delimiter = source.delimiter or ("\t" if path.suffix.casefold() == ".tsv" else _sniff(first))
    return delimiter, first


def _csv_cells(
    spark: SparkSession, path: Location, delimiter: str, first: str, stats: list[tuple[int, int, int, int]]
) -> tuple[DataFrame, list[str]]:
    """(frame with ``_line``, ``_overflow`` and ``_0`` … ``_{n-1}`` for the header's n fields, headers)."""
    from pyspark.sql import functions as F

    records = numbered_records(spark, path, delimiter, stats)
    header_text = first
    if re.search(quote_patterns(delimiter)[0], first):  # a quoted newline in the header: read record 1 whole
        row = records.where(F.col("_rec") == 1).select("text").collect()
        header_text = str(row[0]["text"]).lstrip("\ufeff") if row else first
    headers = next(csv.reader([header_text], delimiter=delimiter), [])
    if not headers:
        raise InputFileError(str(path), "has an empty header line", "write the header line")
    n = len(headers)
    schema = ", ".join(f"`_{i}` string" for i in range(n + 1))  # one more: a row longer than the header
    options = {"sep": delimiter, "quote": '"', "escape": '"', "mode": "PERMISSIVE"}
    parsed = records.where(F.col("_rec") > 1).select(
        F.col("_rec").alias("_line"), F.from_csv(F.col("text"), schema, options).alias("_r")
    )
    frame = parsed.select(
        "_line",
        F.col(f"_r._{n}").isNotNull().alias("_overflow"),
        *[F.col(f"_r._{i}").alias(f"_{i}") for i in range(n)],
    )
    return frame, _mangle(headers)


def _parquet_cells(spark: SparkSession, path: Location) -> tuple[DataFrame, list[str]]:
    """A Parquet file (or folder, files in name order) as text cells the way the embedded reader renders them."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    raw = spark.read.parquet(str(path))
    headers = list(raw.columns)
    line = F.col("_metadata.row_index") + 2
    if path.is_dir():  # a Parquet folder: rows count on from file to file, in file-name order (one small job)
        files = raw.select(F.col("_metadata.file_path").alias("f")).groupBy("f").count().collect()
        offsets: dict[str, int] = {}
        total = 0
        for r in sorted(files, key=lambda r: str(r["f"])):
            offsets[str(r["f"])] = total
            total += int(r["count"])
        if offsets:
            before = F.create_map(*[F.lit(x) for f, o in offsets.items() for x in (f, o)])
            line = line + before[F.col("_metadata.file_path")]
    cells = []
    for i, (name, dtype) in enumerate(zip(headers, [f.dataType for f in raw.schema.fields], strict=True)):
        c = raw[f"`{name}`"]
        if isinstance(dtype, T.DateType | T.TimestampType | T.TimestampNTZType):
            text = F.date_format(c, "yyyy-MM-dd")
        elif isinstance(dtype, T.BooleanType):
            text = F.when(c, "True").when(~c, "False")  # Python's str(True), as the embedded reader writes it
        else:
            text = c.cast("string")
        cells.append(text.alias(f"_{i}"))
    return raw.select(line.cast("long").alias("_line"), F.lit(False).alias("_overflow"), *cells), headers


def read_all_cells(
    spark: SparkSession,
    data_dir: Location | str,
    sources: Mapping[str, TableSource] | None = None,
    tables: Iterable[str] | None = None,
) -> dict[str, RawCells]:
    """The cells of every table (or of ``tables``) that has a file in ``data_dir``, as :func:`read_cells` reads
    them; one Spark job counts the lines of all the text files."""
    located: dict[str, tuple[Location, tuple[str, str] | None]] = {}
    for name in tables if tables is not None else [t.name for t in SCHEMA]:
        src = (sources or {}).get(name) or TableSource()
        path = find_table_path(location(data_dir, spark), SCHEMA[name], src)
        if path is None:
            continue
        suffix = path.suffix.casefold()
        if suffix in (".xlsx", ".xlsm"):
            raise InputFileError(
                str(path), "is a spreadsheet; the Spark engine reads CSV and Parquet", "export it as CSV"
            )
        located[name] = (path, None if suffix == ".parquet" else _text_header(path, src))
    stats = line_stats(spark, [(path, header[0]) for path, header in located.values() if header is not None])
    out: dict[str, RawCells] = {}
    for name, (path, header) in located.items():
        if header is None:
            frame, headers = _parquet_cells(spark, path)
        else:
            frame, headers = _csv_cells(spark, path, header[0], header[1], stats[str(path)])
        out[name] = _mapped(SCHEMA[name], path, frame, headers, (sources or {}).get(name) or TableSource())
    return out


def read_cells(
    spark: SparkSession, data_dir: Location | str, table: str, source: TableSource | None = None
) -> RawCells | None:
    """One table's cells as text with line numbers and its headers mapped onto the schema (``None`` when the
    folder has no file for it): :func:`graphrisk.engines.spark.validate.validate_tables` validates them.

    Files are found as the embedded loader finds them (name or alias, any case; ``.csv .tsv .txt .parquet``;
    ``file`` in graphrisk.toml) and headers mapped the same way (``columns``, ``percent_columns``, aliases,
    unit headers). A table without ``id`` whose file has ``uscc`` takes the USCC as its id. XLSX and
    non-UTF-8 text raise :class:`InputFileError` naming the fix. The line numbers hold for the session's
    file-split settings of the moment (``spark.sql.files.maxPartitionBytes``): use the frame before changing them.
    """
    return read_all_cells(spark, data_dir, {table: source} if source else None, [table]).get(table)


def _mapped(t: Table, path: Location, frame: DataFrame, headers: list[str], src: TableSource) -> RawCells:
    """Headers mapped onto the schema's columns, as the embedded reader maps them; blank rows left out."""
    from pyspark.sql import functions as F

    table = t.name
    mapped: dict[str, str] = {}  # header → canonical column
    positions: dict[str, int] = {}
    percent: set[str] = set(src.percent_columns)
    multipliers: dict[str, float] = {}
    ignored: list[str] = []
    for i, header in enumerate(headers):
        target = src.columns.get(header)
        mult, is_percent = 1.0, False
        if target is None:
            resolved = SCHEMA.resolve_header(table, header)
            if resolved is not None:
                target, mult, is_percent = resolved
        if target is None:
            ignored.append(header)
            continue
        if target in mapped.values():
            first = next(h for h, v in mapped.items() if v == target)
            raise InputFileError(
                str(path),
                f"headers '{first}' and '{header}' both map to column '{target}'",
                f"keep one of them, or map one to another column in graphrisk.toml [tables.{table}.columns]",
            )
        mapped[header] = target
        positions[target] = i
        if is_percent:
            percent.add(target)
        if mult != 1.0:
            multipliers[target] = mult
    cols = {name: F.col(f"_{i}") for name, i in positions.items()}
    if table == "enterprises" and "id" not in cols and "uscc" in cols:
        cols["id"] = cols["uscc"]  # the USCC is the natural key of a Chinese enterprise
    for column in t.required_columns:
        if column not in cols:
            raise MissingColumnError(str(path), table, column, t.column(column).aliases, [*cols, *ignored])
    blank = F.lit(True)
    for c in cols.values():
        blank = blank & (F.btrim(F.coalesce(c, F.lit("")), F.lit(WHITESPACE)) == "")
    out = frame.where(~blank).select("_line", "_overflow", *[c.alias(name) for name, c in cols.items()])
    return RawCells(
        table=t,
        path=path,
        frame=out,
        columns=tuple(cols),
        percent_columns=frozenset(percent),
        multipliers=multipliers,
        ignored_headers=tuple(ignored),
    )
