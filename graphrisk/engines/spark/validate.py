"""Row validation for the Spark engine: the embedded loader's rules as DataFrame expressions, and the rejects.

:func:`validate_tables` reads a data folder with :func:`.io.read_cells` and applies the rules of
:mod:`loaders.validate` in the same order, with the same reason codes, messages, masking of personal values and
line numbers. A row with any failure is rejected whole and appears in the rejects once per failing column;
identical rows sharing a key are merged; for every table ``rows == accepted + rejected`` and
``loaded == accepted - merged``, as in the embedded loader.

==========================  =======================================  ===========================================
rule (reason)               embedded (``loaders``)                   here
==========================  =======================================  ===========================================
parse (``invalid_number``,  ``columns.parse_*``                      a cast guarded by a regular expression of
``invalid_date``, …)                                                 what pandas parses (a bare cast takes
                                                                     ``1.5d`` and ``NaN``); dates by
                                                                     ``make_date`` after the same rewriting
ranges, enums, required     ``_parse_column``                        column expressions
``invalid_uscc``            ``identifiers.uscc_valid`` (numpy)       the check character as an expression
``invalid_id_number``       ``ric_valid`` + ``pseudonymise``         pandas UDF running the embedded functions
                                                                     on the executors (the key never enters a
                                                                     query plan)
person ids that are ID      ``_pseudonymise_person_ids``             distinct candidates, left_anti join against
numbers                                                              enterprise ids, the UDF, a join back
``self_*``, ``share_bounds``, ``_check_table_rules``                 column expressions
``date_order``
``id_collision``,           hash look-ups in the accepted ids        left joins against the accepted node ids
``unknown_endpoint``                                                 with a marker column (a left_anti join's
                                                                     rows, flagged in one pass)
``duplicate_key`` / merged  ``_deduplicate``                         one window per table over the key
``unknown_reference``       warning; the declaration is dropped      left joins, on the accepted rows only
``shares_over_100``         warning                                  group-by company over accepted holdings
==========================  =======================================  ===========================================

Where the Spark engine cannot do exactly what the embedded loader does:

* GBK/GB18030 text and XLSX are not read (:class:`~graphrisk.errors.InputFileError` naming the fix).
* Unicode NFKC before parsing numbers and dates is applied as its one-character mappings onto the characters
  the parsers read (165 in the Basic Multilingual Plane: full-width digits, ``％``, ``，``, superscripts,
  circled digits …); expansions to several characters (``⑴`` → ``(1)``, ``½``) are not made, so such rare
  cells are rejected here and read there.
* Casing for enums and yes/no values is Java's ``lower`` rather than Python's ``casefold`` (they differ only
  outside the spellings the schema accepts, so no accepted value changes).
* Shares are summed per company in Spark's order, not pandas'; a sum within 1e-15 of the tolerance could fall on
  the other side.
* Parquet cells are rendered as text by Spark, so the ``value`` shown for a rejected float may read ``1.0E7``
  where the embedded loader writes ``10000000.0`` (the parsed number is the same). A Parquet *folder* (Spark
  only) is read in file-name order, and its line numbers count on from file to file.
* A CSV row with more fields than the header is an error for pandas; here too, unless the extra fields are
  empty (Spark's CSV parser reads an empty field as null). A quoted field holding ``\\r\\n`` comes back
  with ``\\n``.

>>> from graphrisk.engines.spark.validate import validate_tables  # doctest: +SKIP
>>> v = validate_tables(spark, Path("portfolio"), pseudonym_key=b"key")  # doctest: +SKIP
>>> v.counts["guarantees"].rows == v.counts["guarantees"].accepted + v.counts["guarantees"].rejected  # doctest: +SKIP
True
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import pandas as pd

from graphrisk.config import CONFIG_FILE, Config, load_config
from graphrisk.engines.spark.fs import Location, location
from graphrisk.engines.spark.io import WHITESPACE, WHITESPACE_CLASS, RawCells, read_all_cells
from graphrisk.errors import InputFileError, MissingTableError
from graphrisk.schema import SCHEMA, Column, Table
from graphrisk.tables import REJECT_COLUMNS, TableStats

# The embedded loader's vocabulary, shared so the two engines cannot drift apart: reason texts, fixes, the
# markers of a missing value and the spellings of yes and no.
from loaders.columns import _FALSE, _MISSING_MARKERS, _TRUE
from loaders.validate import _FIX, REASONS

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkValidation", "validate_tables"]


class SparkValidation(NamedTuple):
    """What :func:`validate_tables` returns.

    ``tables``: accepted rows of every schema table (an empty frame for a table without a file), with the stored
    columns of the embedded :class:`~graphrisk.tables.Tables` (``id_pseudonym`` for persons) typed as
    :func:`.io.read_tables` types them. ``rejects`` and ``warnings``: columns ``table, file, line, column, value,
    reason, message`` (:data:`~graphrisk.tables.REJECT_COLUMNS`). ``counts``: rows, accepted, rejected, merged
    and warnings per table that has a file, the embedded loader's :class:`~graphrisk.tables.TableStats`.
    """

    tables: dict[str, DataFrame]
    rejects: DataFrame
    warnings: DataFrame
    counts: dict[str, TableStats]


_NUMBER = r"^[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)$"
_SPARK_TYPES = {"float": "double", "amount": "double", "share": "double", "probability": "double",
                "int": "long", "date": "date", "bool": "boolean"}  # fmt: skip
_PARSE_REASON = {"float": "invalid_number", "amount": "invalid_number", "share": "invalid_number",
                 "probability": "invalid_number", "date": "invalid_date", "bool": "invalid_bool",
                 "int": "invalid_int", "enum": "invalid_value"}  # fmt: skip
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_RE2_SPACE = "[\\t\\n\\f\\r ]"  # \s of RE2, the regex engine behind the embedded loader's Arrow string methods
_PY_SPACE = WHITESPACE_CLASS[1:-1]  # \s of Python's re, and what str.strip strips
_PERSON_ID_COLUMNS = {"persons": "id", "officers": "person_id", "shareholdings": "holder_id"}
_SELF_REASON = {"guarantees": "self_guarantee", "shareholdings": "self_ownership", "supply_links": "self_supply"}


def _F() -> Any:
    from pyspark.sql import functions as F

    return F


def _cell(name: str) -> str:
    """The column holding a cell's cleaned text ("" when empty); typed values keep the schema's name."""
    return f"_c_{name}"


# Characters the parsers of numbers and dates look at: an NFKC mapping onto any other character cannot turn a
# cell that does not parse into one that does.
_PARSED_CHARS = frozenset("0123456789+-.eE%,()¥$ T:/年月日万亿千元RMBCNY人民币infinityINFINITY")


@functools.cache
def _nfkc() -> tuple[str, str]:
    """NFKC's one-character mappings of the BMP onto the characters the parsers read (165: full-width digits,
    ％, ，, （, superscripts, circled digits …), as ``translate`` arguments."""
    src, dst = [], []
    for cp in range(0x80, 0x10000):
        if 0xD800 <= cp < 0xE000:
            continue
        ch = chr(cp)
        norm = unicodedata.normalize("NFKC", ch)
        if norm != ch and len(norm) == 1 and norm in _PARSED_CHARS:
            src.append(ch)
            dst.append(norm)
    return "".join(src), "".join(dst)


# ------------------------------------------------------------------------------------------- cell expressions
# A cell is parsed in two projections: its text normalised (_n_<column>), then the typed value. Each
# intermediate is referenced by name, so no expression is copied into the plan more than once or twice.


def _clean(raw: SparkColumn, markers: list[SparkColumn]) -> SparkColumn:
    """``loaders.columns.clean_strings``: stripped (Unicode spaces too), missing markers as "".

    ``markers`` are the literals of ``_MISSING_MARKERS``, made once per table (each literal is a call to the JVM).
    """
    F = _F()
    s = F.btrim(F.coalesce(raw, F.lit("")), F.lit(WHITESPACE))
    return F.when(s.isin(*markers), F.lit("")).otherwise(s)


def _number(text: SparkColumn) -> SparkColumn:
    """The number pandas' ``to_numeric`` reads from ``text``, else null."""
    F = _F()
    return F.when(text.rlike(_NUMBER), text.cast("double"))


def _strip(text: SparkColumn) -> SparkColumn:
    F = _F()
    return F.btrim(text, F.lit(WHITESPACE))


def _norm(name: str) -> str:
    return f"_n_{name}"


def _normalised(col: Column, s: SparkColumn) -> SparkColumn | None:
    """A cell's text as the embedded parser rewrites it before reading a number or a date (None: no rewriting).

    Plain cells skip the rewriting: a number that already parses (amounts, shares) needs none, and neither does
    a date already shaped 2024-1-31.
    """
    F = _F()
    if col.type not in ("float", "int", "amount", "share", "probability", "date"):
        return None
    t = F.translate(s, *_nfkc())
    if col.type == "amount":  # separators and currency marks go; the sign, parentheses and suffix are read later
        t = F.regexp_replace(t, f"(?:[,{_RE2_SPACE[1:-1]}¥$]|RMB|CNY|人民币)", "")
        return F.when(~s.rlike(_NUMBER), F.regexp_replace(t, "元", ""))
    if col.type in ("share", "probability"):
        return F.when(~s.rlike(_NUMBER), t)
    if col.type == "date":  # 2024年1月31日, 2024/1/31, 2024.1.31, 20240131 → 2024-1-31; a time part goes
        t = F.regexp_replace(t, r"[ T][0-9]{1,2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?$", "")
        t = F.regexp_replace(F.regexp_replace(t, "[年月/.]", "-"), "日", "")
        t = F.regexp_replace(t, "^([0-9]{4})([0-9]{2})([0-9]{2})$", "$1-$2-$3")
        return F.when(s.rlike(_DATE_SHAPE), s).otherwise(t)
    return t


_DATE_SHAPE = "^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}$"


def _amount(s: SparkColumn, n: SparkColumn, multiplier: float) -> SparkColumn:
    """``parse_amount``: plain numbers, else (after :func:`_normalised`) accounting negatives ``(1,000)`` and
    万/亿/千 suffixes, stripped in the embedded order (亿, then 万, then 千: "5千万" reads 5,000 there too)."""
    F = _F()
    plain = _number(s)
    negative = n.rlike(r"^\(.*\)$")
    pattern = r"^(?:\((.*)\)|(.*))$"
    inner = F.concat(F.regexp_extract(n, pattern, 1), F.regexp_extract(n, pattern, 2))
    suffixes = r"^(.*?)(千?)(万?)(亿?)$"
    body = F.regexp_extract(inner, suffixes, 1)
    mult = (
        F.when(F.regexp_extract(inner, suffixes, 2) != "", F.lit(1e3))
        .when(F.regexp_extract(inner, suffixes, 3) != "", F.lit(1e4))
        .when(F.regexp_extract(inner, suffixes, 4) != "", F.lit(1e8))
        .otherwise(F.lit(multiplier))
    )
    messy = _number(body) * mult
    messy = F.when(negative, -messy).otherwise(messy)
    return F.when(plain.isNotNull(), plain * F.lit(multiplier) if multiplier != 1.0 else plain).otherwise(messy)


def _share(s: SparkColumn, n: SparkColumn, percent: bool) -> SparkColumn:
    """``parse_share``: fractions, "35%", and plain percentages in a percent column."""
    F = _F()
    plain = _number(s)
    value = _number(_strip(F.regexp_replace(n, "%+$", "")))
    messy = F.when(n.endswith("%") | F.lit(percent), value / 100.0).otherwise(value)
    return F.when(plain.isNotNull(), plain / 100.0 if percent else plain).otherwise(messy)


def _date(n: SparkColumn) -> SparkColumn:
    """``parse_date`` on the normalised text: a real calendar date of the shape 2024-1-31."""
    F = _F()
    parts = F.split(n, "-")
    year, month, day = (parts.getItem(i).cast("int") for i in range(3))
    # No invalid date reaches make_date, so an ANSI session does not raise either.
    first = F.when(n.rlike(_DATE_SHAPE) & month.between(1, 12), F.make_date(year, month, F.lit(1)))
    return F.when(day.between(1, F.dayofmonth(F.last_day(first))), F.date_add(first, day - 1))


def _typed(col: Column, s: SparkColumn, n: SparkColumn | None, percent: bool, multiplier: float) -> SparkColumn:
    """The typed value of one cleaned cell ``s`` with its normalised text ``n`` (null: empty or unparsable)."""
    F = _F()
    present = s != ""
    if col.type in ("id", "text"):
        return F.when(present, s)
    if col.type == "enum":
        pairs = [F.lit(x) for spelling, canonical in col.enum_lookup().items() for x in (spelling, canonical)]
        return F.when(present, F.create_map(*pairs)[F.lower(s)])
    if col.type == "bool":
        low = F.lower(s)
        return F.when(low.isin(*sorted(_TRUE)), True).when(low.isin(*sorted(_FALSE)), False)
    assert n is not None
    if col.type == "amount":
        return F.when(present, _amount(s, n, multiplier))
    if col.type in ("share", "probability"):
        return F.when(present, _share(s, n, percent))
    if col.type == "date":
        return F.when(present, _date(n))
    value = _number(n)
    if col.type == "int":
        return F.when((value % 1) == 0, F.round(value)).cast("long")  # 2024.5 is not a year: null, invalid_int
    return value


def _mask_personal(v: SparkColumn) -> SparkColumn:
    """``graphrisk.privacy.mask_personal``: 张*丰, 李*, ``<ID number, 18 characters>``."""
    F = _F()
    ric = F.regexp_replace(v, f"[{_PY_SPACE}\\-]", "").rlike("^[0-9]{17}[0-9Xx]$")
    shown = F.concat(F.lit("<ID number, "), F.length(v).cast("string"), F.lit(" characters>"))
    return (
        F.when(v == "", v)
        .when(ric, shown)
        .when(F.length(v) <= 2, F.regexp_replace(v, "(?s)(?<=.).", "*"))
        .otherwise(F.regexp_replace(v, "(?s)(?<=.).(?=.)", "*"))
    )


def _looks_like_ric(v: SparkColumn) -> SparkColumn:
    """``identifiers.looks_like_ric``: 18–24 characters, 17 digits and a digit or X once compacted."""
    F = _F()
    compact = F.upper(F.regexp_replace(v, f"[{_RE2_SPACE[1:-1]}\\-]", ""))
    return F.coalesce(F.length(v).between(18, 24) & compact.rlike("^[0-9]{17}[0-9X]$"), F.lit(False))


def _uscc_valid(c: SparkColumn) -> SparkColumn:
    """``identifiers.uscc_valid`` of a compacted code (upper case, no spaces or hyphens): the GB 32100-2015 check
    character."""
    F = _F()
    index = F.create_map(*[F.lit(x) for i, ch in enumerate(_USCC_ALPHABET) for x in (ch, i)])
    total = sum((index[F.substring(c, i + 1, 1)] * w for i, w in enumerate(_USCC_WEIGHTS)), F.lit(0))
    shaped = c.rlike("^[0-9]{8}[0-9A-HJ-NP-RTUW-Y]{10}$")
    return F.when(shaped, F.pmod(-total, F.lit(31)) == index[F.substring(c, 18, 1)]).otherwise(False)


def _shown(table: Table, column: str) -> SparkColumn:
    """The ``value`` of a reject: the cleaned cell, masked when personal or shaped like an ID number."""
    F = _F()
    v = F.col(_cell(column))
    col = table.column(column) if column in table.column_names else None
    if col is not None and col.pseudonymise:
        return v  # masked in the first stage: the number in clear is not kept
    if col is not None and col.personal:
        return _mask_personal(v)
    if col is not None and col.type == "id":
        return F.when(_looks_like_ric(v), _mask_personal(v)).otherwise(v)
    return v


class _Kinds:
    """The failures and warnings one table's rows can carry, numbered. A row keeps only the numbers (an
    ``array<int>``); column, reason, message and the shown value are attached when the rejects are exploded, so
    the per-row work is a few comparisons and integer literals whatever the length of the texts."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.items: list[tuple[str, str, str]] = []  # (column, reason, message)

    def entry(self, cond: SparkColumn, column: str, reason: str, message: str | None = None) -> SparkColumn:
        """One entry of a row's failures (null when ``cond`` does not hold), as the embedded ``_Collector.add``."""
        F = _F()
        if message is None:
            message = f"{column}: {REASONS[reason]}; {_FIX.get(reason, 'correct the row')}"
        key = (column, reason, message)
        if key not in self.items:
            self.items.append(key)
        return F.when(cond, F.lit(self.items.index(key)))

    def explode(self, frame: DataFrame, raw: RawCells, column: str) -> DataFrame:
        """One row per entry of ``column`` (``_fails`` or ``_warns``), in the columns of the embedded rejects."""
        F = _F()
        base = frame.where(F.size(column) > 0).select("*", F.explode(column).alias("_e"))
        if not self.items:
            return base.where(F.lit(False)).select(
                *[F.lit(None).cast("long" if c == "line" else "string").alias(c) for c in REJECT_COLUMNS]
            )

        def pick(i: int) -> SparkColumn:
            return F.element_at(F.array(*[F.lit(item[i]) for item in self.items]), F.col("_e") + 1)

        col, reason = pick(0), pick(1)
        value = F.lit("")
        for name in dict.fromkeys(item[0] for item in self.items):
            value = F.when(col == name, _shown(self.table, name)).otherwise(value)
        # The duplicate-key message names the lines of the group; its stored text is the message's head.
        message = F.when(
            reason == "duplicate_key", F.concat(pick(2), F.col("_dup_lines"), F.lit(_DUPLICATE_TAIL))
        ).otherwise(pick(2))
        return base.select(
            F.lit(self.table.name).alias("table"),
            F.lit(str(raw.path)).alias("file"),
            F.col("_line").alias("line"),
            col.alias("column"),
            value.alias("value"),
            reason.alias("reason"),
            message.alias("message"),
        )


_DUPLICATE_TAIL = " with different values; keep one row"


def _add_failures(frame: DataFrame, entries: list[SparkColumn], into: str = "_fails") -> DataFrame:
    F = _F()
    if not entries:
        return frame
    new = F.filter(F.array(*entries), lambda x: x.isNotNull())
    return frame.withColumn(into, F.concat(F.col(into), new))


# --------------------------------------------------------------------------------------------- table stages


def _ric_udf(key: bytes) -> Any:
    """A pandas UDF: (valid, pseudonym) of resident ID numbers, by the embedded functions, on the executors."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("valid boolean, pseudonym string")  # type: ignore[call-overload]
    def check(values: pd.Series) -> pd.DataFrame:
        from loaders.identifiers import pseudonymise, ric_valid

        v = values.astype(object)
        present = v.notna() & (v != "")
        valid = pd.Series(False, index=v.index, dtype=bool)
        pseud = pd.Series(None, index=v.index, dtype=object)
        if present.any():
            ok = ric_valid(v[present].astype(str)).astype(bool)
            valid[ok.index] = ok.to_numpy()
            good = ok.index[ok.to_numpy()]
            if len(good):
                pseud[good] = pseudonymise(v[good].astype(str), key).astype(object).to_numpy()
        # object dtype: pyspark 3.5's Arrow serializer cannot take pandas 3's Arrow-backed strings.
        return pd.DataFrame({"valid": valid, "pseudonym": pseud.astype(object)})

    return check


def _first_stage(raw: RawCells, kinds: _Kinds, pseudonym_key: bytes) -> DataFrame:
    """Cells → typed values, and the per-row and per-table rules (``_parse_column``, ``_check_table_rules``).

    Four projections (cells, normalised text, typed values, failures): building a plan column by column with
    ``withColumn`` re-analyses it at every step.
    """
    F = _F()
    t = raw.table
    present_cols = [c for c in t.columns if c.name in raw.columns]
    markers = [F.lit(m) for m in _MISSING_MARKERS]
    cells = raw.frame.select("_line", "_overflow", *[_clean(F.col(c), markers).alias(_cell(c)) for c in raw.columns])
    norms = [(c, _normalised(c, F.col(_cell(c.name)))) for c in present_cols]
    cells = cells.select("*", *[n.alias(_norm(c.name)) for c, n in norms if n is not None])
    normalised = {c.name for c, n in norms if n is not None}
    typed = []
    for col in t.columns:
        if col.name in raw.columns:
            n_col = F.col(_norm(col.name)) if col.name in normalised else None
            s = F.col(_cell(col.name))
            value = _typed(col, s, n_col, col.name in raw.percent_columns, raw.multipliers.get(col.name, 1.0))
        else:
            value = F.lit(None)
        typed.append(value.cast(_SPARK_TYPES.get(col.type, "string")).alias(col.name))
    frame = cells.select("_line", "_overflow", *[_cell(c) for c in raw.columns], *typed)

    extra: dict[str, SparkColumn] = {}  # columns the table rules add or replace
    if t.name == "enterprises" and "uscc" in raw.columns:
        extra["_uscc"] = F.upper(F.regexp_replace("uscc", f"[{_RE2_SPACE[1:-1]}\\-]", ""))
    if t.name == "persons" and "id_number" in raw.columns:
        extra["_ric"] = _ric_udf(pseudonym_key)(F.col("id_number"))
    if extra:
        frame = frame.select("*", *[v.alias(k) for k, v in extra.items()])

    entries: list[SparkColumn] = []
    for col in present_cols:
        s, v = F.col(_cell(col.name)), F.col(col.name)
        present = s != ""
        if col.type == "enum":
            accepted = ", ".join(c for c, _ in col.enum)
            message = f"{col.name}: not one of the accepted values; use one of {accepted} (or their Chinese names)"
            entries.append(kinds.entry(present & v.isNull(), col.name, "invalid_value", message))
        elif col.type not in ("id", "text"):
            entries.append(kinds.entry(present & v.isNull(), col.name, _PARSE_REASON[col.type]))
            lo = 0.0 if col.type in ("share", "probability") else col.min
            hi = 1.0 if col.type in ("share", "probability") else col.max
            if col.type != "date" and (lo is not None or hi is not None):
                out = F.lit(False)
                if lo is not None:
                    out = out | (v < F.lit(lo))
                if hi is not None:
                    out = out | (v > F.lit(hi))
                if col.type == "share":
                    entries.append(kinds.entry(out, col.name, "share_out_of_range"))
                elif col.type == "amount" and lo == 0.0 and hi is None:
                    entries.append(kinds.entry(out, col.name, "negative_amount"))
                else:
                    message = (
                        f"{col.name}: outside [{'' if lo is None else f'{lo:g}'}, {'' if hi is None else f'{hi:g}'}]; "
                        "correct the value"
                        + ("; a probability is a fraction such as 0.02 or 2%" if col.type == "probability" else "")
                    )
                    entries.append(kinds.entry(out, col.name, "out_of_range", message))
        if col.required:
            entries.append(kinds.entry(~present, col.name, "missing_value"))

    # _check_table_rules, in its order.
    replace: dict[str, SparkColumn] = {}
    drop: list[str] = [*extra]
    if "_uscc" in extra:
        present = F.col("uscc").isNotNull()
        entries.append(kinds.entry(present & ~_uscc_valid(F.col("_uscc")), "uscc", "invalid_uscc"))
        replace["uscc"] = F.when(present, F.col("_uscc"))
    if t.name == "persons":
        if "_ric" in extra:
            present = F.col("id_number").isNotNull()
            entries.append(kinds.entry(present & ~F.col("_ric.valid"), "id_number", "invalid_id_number"))
            replace["id_pseudonym"] = F.when(present & F.col("_ric.valid"), F.col("_ric.pseudonym"))
            # The number in clear stops here: its typed value goes, its cell stays masked (the rejects show it).
            replace[_cell("id_number")] = _mask_personal(F.col(_cell("id_number")))
        else:
            replace["id_pseudonym"] = F.lit(None).cast("string")
        drop.append("id_number")
    if t.kind == "relation" and t.name in _SELF_REASON and t.source in raw.columns and t.target in raw.columns:
        same = F.col(t.source) == F.col(t.target)
        entries.append(kinds.entry(same, t.target, _SELF_REASON[t.name]))
    if t.name == "shareholdings" and "share" in raw.columns:
        share = F.col("share")
        if "share_min" in raw.columns:
            entries.append(kinds.entry(F.col("share_min") > share, "share_min", "share_bounds"))
        if "share_max" in raw.columns:
            entries.append(kinds.entry(F.col("share_max") < share, "share_max", "share_bounds"))
        if "share_min" in raw.columns and "share_max" in raw.columns:
            entries.append(kinds.entry(F.col("share_min") > F.col("share_max"), "share_max", "share_bounds"))
    if t.name == "guarantees" and "start_date" in raw.columns and "end_date" in raw.columns:
        entries.append(kinds.entry(F.col("start_date") > F.col("end_date"), "end_date", "date_order"))

    fails = F.filter(F.array(*entries), lambda x: x.isNotNull()) if entries else F.array().cast("array<int>")
    kept = [F.col(c) for c in frame.columns if c not in replace and c not in drop]
    return frame.select(*kept, *[v.alias(k) for k, v in replace.items()], fails.alias("_fails"))


def _pseudonymise_person_ids(
    staged: dict[str, DataFrame], raws: dict[str, RawCells], pseudonym_key: bytes
) -> dict[str, DataFrame]:
    """Person ids that are valid resident ID numbers (and no enterprise's id) become their pseudonyms in every
    table, before any id is compared: ``_pseudonymise_person_ids``."""
    F = _F()
    wanted = [(t, c) for t, c in _PERSON_ID_COLUMNS.items() if t in staged and c in raws[t].columns]
    if not wanted:
        return staged
    candidates = None
    for t, c in wanted:
        part = staged[t].select(F.col(c).alias("_v")).where(_looks_like_ric(F.col("_v")))
        candidates = part if candidates is None else candidates.unionByName(part)
    assert candidates is not None
    enterprise_ids = staged["enterprises"].where(F.size("_fails") == 0).select(F.col("id").alias("_v"))
    checked = (
        candidates.distinct()
        .join(enterprise_ids, "_v", "left_anti")
        .select("_v", _ric_udf(pseudonym_key)(F.col("_v")).alias("_r"))
    )
    mapping = _materialise(checked.where(F.col("_r.valid")).select("_v", F.col("_r.pseudonym").alias("_psn")))
    out = dict(staged)
    for t, c in wanted:
        joined = staged[t].join(mapping, F.col(c) == F.col("_v"), "left")
        out[t] = joined.withColumn(c, F.coalesce(F.col("_psn"), F.col(c))).drop("_v", "_psn")
    return out


def _materialise(frame: DataFrame) -> DataFrame:
    """``frame`` computed once and kept on the executors, its plan cut to one leaf.

    A local checkpoint rather than a cache: a cached frame's plan stays in every plan that reads it, and the
    validation's frames read each other (ids of nodes in the edges' checks) until printing a plan exhausts the
    driver's memory. Each call is one job.
    """
    return frame.localCheckpoint(eager=True)


def _flag_known(frame: DataFrame, column: str, ids: DataFrame, flag: str) -> DataFrame:
    """``frame`` with a boolean ``flag``: its ``column`` is one of ``ids`` (unique ids, column ``id``)."""
    F = _F()
    key = f"{flag}_id"
    right = ids.select(F.col("id").alias(key), F.lit(True).alias(flag))
    joined = frame.join(right, F.col(column) == F.col(key), "left").drop(key)
    return joined.withColumn(flag, F.coalesce(F.col(flag), F.lit(False)))


def _deduplicate(frame: DataFrame, raw: RawCells, kinds: _Kinds) -> DataFrame:
    """Identical rows sharing a key are merged (``_merged`` on all but the first); rows sharing a key with
    different values are all rejected (``duplicate_key``), among the rows without failures: ``_deduplicate``."""
    from pyspark.sql import Window

    F = _F()
    t = raw.table
    keys = [c for c in t.key if c in raw.columns]
    if not keys:
        return frame.withColumns({"_merged": F.lit(False), "_dup_lines": F.lit(None).cast("string")})
    stored = [c.table_name for c in t.columns if c.name in raw.columns]
    # The embedded loader compares rows by their typed values joined as text, a missing value as \x00.
    content = F.concat_ws("\x1f", *[F.coalesce(F.col(c).cast("string"), F.lit("\x00")) for c in stored])
    frame = frame.withColumn("_ok", F.size("_fails") == 0).withColumn("_content", content)
    group = Window.partitionBy("_ok", *keys)  # null keys group together, as the embedded \x00 placeholder does
    n = F.count(F.lit(1)).over(group)
    differs = F.min("_content").over(group) != F.max("_content").over(group)
    lines = F.array_join(F.array_sort(F.collect_list("_line").over(group)), ", ")
    rank = F.row_number().over(group.orderBy("_line"))
    conflict = F.col("_ok") & (n > 1) & differs
    frame = frame.withColumns(
        {
            "_conflict": conflict,
            "_merged": F.col("_ok") & (n > 1) & ~differs & (rank > 1),
            "_dup_lines": F.when(conflict, lines),
        }
    )
    head = f"key ({', '.join(keys)}) is on lines "  # + the lines + _DUPLICATE_TAIL, when exploded
    frame = _add_failures(frame, [kinds.entry(F.col("_conflict"), keys[0], "duplicate_key", head)])
    return frame.drop("_ok", "_content", "_conflict")


def _accepted_ids(frame: DataFrame) -> DataFrame:
    F = _F()
    return frame.where((F.size("_fails") == 0) & ~F.col("_merged")).select("id")


def _union_ids(parts: list[DataFrame]) -> DataFrame:
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def _reference_columns(table: Table, raw: RawCells) -> list[Column]:
    return [c for c in table.columns if c.references and c.name in raw.columns]


def _where(col: Column) -> str:
    return " or ".join(col.references)


# ------------------------------------------------------------------------------------------------- the API


def validate_tables(
    spark: SparkSession,
    data_dir: Location | str,
    *,
    pseudonym_key: bytes,
    config: Config | None = None,
    progress: Callable[[str], None] | None = None,
) -> SparkValidation:
    """Read and validate a data folder on Spark, as :func:`loaders.load_tables` does embedded.

    Every table file is read with :func:`.io.read_all_cells`; the rules run as DataFrame expressions, joins,
    one window per table and one group-by (see the module docstring). Rejected rows are left out of ``tables``,
    which every later step reads; ``rejects`` lists them once per failing column. ``pseudonym_key`` is the
    embedded loader's key (``graphrisk.cli.data.pseudonym_key``): the same key gives the same ``PSN-…``.

    Jobs: one counts the lines of every text file (two more for a file with quoted newlines); each node table's
    first stage, the pseudonym look-up and every table's final frame are computed once and kept as local
    checkpoints on the executors (one job each, 11 for a full folder); one last job gathers the counts. Only
    those counts, one row per table, reach the driver; ``rejects`` and ``warnings`` stay lazy frames.

    Raises what the embedded loader raises for an unusable folder or file: :class:`MissingTableError` for a
    missing ``enterprises`` table, :class:`~graphrisk.errors.MissingColumnError`,
    :class:`~graphrisk.errors.InputFileError` (a row longer than its header, an unclosed quote, GBK, XLSX).

    >>> v = validate_tables(spark, Path("p10k"), pseudonym_key=b"k")  # doctest: +SKIP
    >>> v.tables["guarantees"].columns[:3], v.counts["enterprises"].rejected  # doctest: +SKIP
    (['guarantor_id', 'borrower_id', 'amount'], 0)
    """
    F = _F()
    say = progress or (lambda _m: None)
    data_dir = location(data_dir, spark)
    if not data_dir.is_dir():
        raise InputFileError(str(data_dir), "no such folder", "give the folder that holds enterprises.csv")
    # A HadoopPath answers the Path methods load_config uses (exists, read_text).
    cfg = config if config is not None else load_config(cast(Path, data_dir / CONFIG_FILE))
    tolerance = float(cfg.threshold("share_sum_tolerance"))

    raws = read_all_cells(spark, data_dir, {t.name: cfg.source(t.name) for t in SCHEMA})
    for table in SCHEMA:
        if table.name in raws:
            say(f"validating {table.name} from {raws[table.name].path.name}")
        elif table.required:
            names = ", ".join(f"{n}.csv" for n in (table.name, *table.file_aliases[:3]))
            raise MissingTableError(
                f"{data_dir}: no file for the required table '{table.name}' (looked for {names}, "
                f'.parquet …). Fix: add it, or name it in {CONFIG_FILE} under [tables.{table.name}] file = "...".'
            )

    # Pass 1: cells → typed values, per-row and per-table rules; then person ids that are ID numbers.
    kinds = {name: _Kinds(raw.table) for name, raw in raws.items()}
    staged = {name: _first_stage(raw, kinds[name], pseudonym_key) for name, raw in raws.items()}
    # The node tables are read again by the id checks of every other table: each is computed once.
    for table in SCHEMA.node_tables:
        if table.name in staged:
            staged[table.name] = _materialise(staged[table.name])
    staged = _pseudonymise_person_ids(staged, raws, pseudonym_key)

    # Nodes first: their accepted ids decide which edges have both ends.
    final: dict[str, DataFrame] = {}
    node_ids: dict[str, DataFrame] = {}
    for table in SCHEMA.node_tables:
        if table.name not in staged:
            continue
        frame = staged[table.name]
        if table.name == "persons" and "enterprises" in node_ids:
            frame = _flag_known(frame, "id", node_ids["enterprises"], "_clash")
            clash = kinds[table.name].entry(F.col("_clash"), "id", "id_collision")
            frame = _add_failures(frame, [clash]).drop("_clash")
        frame = _materialise(_deduplicate(frame, raws[table.name], kinds[table.name]))
        final[table.name] = frame
        node_ids[table.name] = _accepted_ids(frame)

    # A node's reference to a node not in the data is dropped with a warning; the row is kept.
    for table in SCHEMA.node_tables:
        if table.name not in final:
            continue
        frame = final[table.name].withColumn("_warns", F.array().cast("array<int>"))
        kept = (F.size("_fails") == 0) & ~F.col("_merged")
        references = _reference_columns(table, raws[table.name])
        for col in references:
            parts = [node_ids[r] for r in col.references if r in node_ids]
            frame = _flag_known(frame, col.name, _union_ids(parts), "_known")
            unknown = kept & F.col(col.name).isNotNull() & ~F.col("_known")
            message = f"{col.name}: this id is not in {_where(col)}; the declaration is ignored (the row is kept)"
            entry = kinds[table.name].entry(unknown, col.name, "unknown_reference", message)
            frame = _add_failures(frame, [entry], "_warns")
            frame = frame.withColumn(col.name, F.when(~unknown, F.col(col.name))).drop("_known")
        final[table.name] = _materialise(frame) if references else frame

    # Edges and facilities: both ends must be accepted nodes.
    for table in SCHEMA:
        if table.kind == "node" or table.name not in staged:
            continue
        frame = staged[table.name]
        for col in _reference_columns(table, raws[table.name]):
            parts = [node_ids[r] for r in col.references if r in node_ids]
            if parts:
                frame = _flag_known(frame, col.name, _union_ids(parts), "_known")
            else:
                frame = frame.withColumn("_known", F.lit(False))
            noun = "entity" if len(col.references) > 1 else col.references[0][:-1]
            message = (
                f"{col.name}: this id is not in {_where(col)} (or its row there was rejected); add the "
                f"{noun} first or fix the id"
            )
            unknown = F.col(col.name).isNotNull() & ~F.col("_known")
            frame = _add_failures(frame, [kinds[table.name].entry(unknown, col.name, "unknown_endpoint", message)])
            frame = frame.drop("_known")
        frame = _deduplicate(frame, raws[table.name], kinds[table.name])
        final[table.name] = frame.withColumn("_warns", F.array().cast("array<int>"))
        final[table.name] = _materialise(final[table.name])

    accepted = {
        name: frame.where((F.size("_fails") == 0) & ~F.col("_merged")).select(*_stored(SCHEMA[name]))
        for name, frame in final.items()
    }
    warning_parts = [kinds[name].explode(final[name], raws[name], "_warns") for name in final]
    if "shareholdings" in accepted and "share" in raws["shareholdings"].columns:
        warning_parts.append(_shares_over_100(final["shareholdings"], raws["shareholdings"], tolerance))
    rejects = _union_ids([kinds[name].explode(final[name], raws[name], "_fails") for name in final])
    warnings = _union_ids(warning_parts)

    counts = _count(spark, final, raws, warnings)
    tables = {t.name: accepted[t.name] if t.name in accepted else _empty(spark, t) for t in SCHEMA}
    return SparkValidation(tables=tables, rejects=rejects, warnings=warnings, counts=counts)


def _stored(table: Table) -> list[SparkColumn]:
    F = _F()
    return [F.col(c.table_name).cast(_SPARK_TYPES.get(c.type, "string")).alias(c.table_name) for c in table.columns]


def _empty(spark: SparkSession, table: Table) -> DataFrame:
    schema = ", ".join(f"`{c.table_name}` {_SPARK_TYPES.get(c.type, 'string')}" for c in table.columns)
    return spark.createDataFrame([], schema)


def _shares_over_100(frame: DataFrame, raw: RawCells, tolerance: float) -> DataFrame:
    """The ``shares_over_100`` warning on the first accepted holding of each company whose accepted direct
    shares sum to more than 100 % plus the tolerance."""
    from pyspark.sql.functions import pandas_udf

    F = _F()

    @pandas_udf("string")  # type: ignore[call-overload]
    def message(total: pd.Series) -> pd.Series:
        # Python's percent format, as the embedded message (Java's rounds halves differently).
        return pd.Series(
            [
                f"direct shares of this company sum to {s:.2%}, over 100% (+{tolerance:.1%} tolerance); "
                "check for double-counted holders"
                for s in total
            ],
            index=total.index,
            dtype=object,
        )

    accepted = frame.where((F.size("_fails") == 0) & ~F.col("_merged"))
    per = accepted.groupBy("company_id").agg(
        F.sum("share").alias("_total"), F.min(F.struct("_line", _cell("company_id"))).alias("_first")
    )
    over = per.where(F.col("_total") > 1.0 + tolerance)
    cell = F.col(f"_first.{_cell('company_id')}")
    return over.select(
        F.lit(raw.table.name).alias("table"),
        F.lit(str(raw.path)).alias("file"),
        F.col("_first._line").alias("line"),
        F.lit("company_id").alias("column"),
        F.when(_looks_like_ric(cell), _mask_personal(cell)).otherwise(cell).alias("value"),
        F.lit("shares_over_100").alias("reason"),
        message(F.col("_total")).alias("message"),
    )


def _count(
    spark: SparkSession, final: dict[str, DataFrame], raws: dict[str, RawCells], warnings: DataFrame
) -> dict[str, TableStats]:
    """Rows, rejected, merged and warnings of every table in one job; a row longer than its header raises."""
    F = _F()
    parts = [
        frame.agg(
            F.lit(name).alias("table"),
            F.count(F.lit(1)).alias("rows"),
            F.sum((F.size("_fails") > 0).cast("long")).alias("rejected"),
            F.sum(F.col("_merged").cast("long")).alias("merged"),
            F.min(F.when(F.col("_overflow"), F.col("_line"))).alias("overflow"),
            F.lit(0).cast("long").alias("warnings"),
        )
        for name, frame in final.items()
    ]
    parts.append(
        warnings.groupBy("table").agg(
            F.lit(0).cast("long").alias("rows"),
            F.lit(0).cast("long").alias("rejected"),
            F.lit(0).cast("long").alias("merged"),
            F.lit(None).cast("long").alias("overflow"),
            F.count(F.lit(1)).alias("warnings"),
        )
    )
    totals: dict[str, dict[str, int]] = {}
    overflow: dict[str, int] = {}
    for r in _union_ids(parts).collect():
        got = totals.setdefault(str(r["table"]), {"rows": 0, "rejected": 0, "merged": 0, "warnings": 0})
        for k in got:
            got[k] += int(r[k] or 0)
        if r["overflow"] is not None:
            overflow[str(r["table"])] = int(r["overflow"])
    for name, line in overflow.items():
        raise InputFileError(
            str(raws[name].path),
            f"line {line} has more fields than the header",
            "check the delimiter and quoting, or set delimiter in graphrisk.toml",
        )
    return {
        name: TableStats(
            rows=c["rows"],
            accepted=c["rows"] - c["rejected"],
            rejected=c["rejected"],
            merged=c["merged"],
            warnings=c["warnings"],
            file=str(raws[name].path),
        )
        for name, c in totals.items()
        if name in raws
    }
