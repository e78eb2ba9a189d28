"""The input tables as Spark DataFrames: CSV or Parquet, canonical or alias headers, the schema's types.

What the embedded loader does and this reader does not (yet): row validation and rejects (issue 9 lists the
validation rules as a later milestone), GBK files (Spark reads UTF-8; convert first), XLSX, ``graphrisk.toml``
column mappings, pseudonymisation (columns marked ``pseudonymise`` are dropped: no step here needs them).

>>> from graphrisk.engines.spark.io import table_files
>>> from pathlib import Path
>>> table_files(Path("/nonexistent"), "guarantees")
[]
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from graphrisk.errors import DataError
from graphrisk.schema import SCHEMA, Column, Table

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["read_table", "read_tables", "table_files"]

_SUFFIXES = (".parquet", ".csv")
_TRUE = ("true", "1", "yes", "y", "t", "是", "真")
_FALSE = ("false", "0", "no", "n", "f", "否", "假")


def table_files(data_dir: Path, table: str) -> list[Path]:
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


def read_table(spark: SparkSession, path: Path, table: str) -> DataFrame:
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


def read_tables(spark: SparkSession, data_dir: Path) -> dict[str, DataFrame]:
    """Every table found in ``data_dir`` (enterprises is required), keyed by the schema's table name.

    A missing optional table is an empty DataFrame with the schema's columns, so steps need no special case.
    """
    data_dir = Path(data_dir)
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
