"""Find each table's file in a data folder and read it as strings, with headers mapped onto the schema.

CSV, TSV and text files in UTF-8 (with or without BOM) or GBK/GB18030, Parquet, and XLSX. Every cell is read as
text so that the validators see exactly what the file holds; line numbers follow spreadsheet numbering (the
header is line 1, the first data row line 2).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from graphrisk.config import Config, TableSource
from graphrisk.errors import ConfigError, InputFileError
from graphrisk.schema import SCHEMA, Table

__all__ = ["SUFFIXES", "RawTable", "find_table_file", "read_raw_table"]

SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".xlsx", ".xlsm")
_ENCODINGS = ("utf-8-sig", "gb18030")  # GB18030 is a superset of GBK and GB2312


@dataclass
class RawTable:
    """One table's cells as stripped strings under canonical column names, before validation."""

    table: Table
    path: Path
    frame: pd.DataFrame
    lines: np.ndarray
    percent_columns: set[str] = field(default_factory=set)
    multipliers: dict[str, float] = field(default_factory=dict)
    ignored_headers: list[str] = field(default_factory=list)
    encoding: str | None = None


def find_table_file(data_dir: Path, table: Table, source: TableSource) -> Path | None:
    """The file holding ``table`` in ``data_dir``: the configured one, else one named by the table or an alias."""
    if source.file:
        path = data_dir / source.file
        if not path.exists():
            raise ConfigError(
                f"graphrisk.toml names {path} for table '{table.name}', but there is no such file. Fix the "
                f"'file' setting under [tables.{table.name}]."
            )
        return path
    names = {n.casefold() for n in (table.name, *table.file_aliases)}
    found = sorted(
        p for p in data_dir.iterdir() if p.is_file() and p.suffix.casefold() in SUFFIXES and p.stem.casefold() in names
    )
    if len(found) > 1:
        raise ConfigError(
            f"{data_dir}: several files could hold table '{table.name}': {', '.join(p.name for p in found)}. "
            f'Keep one, or name it in graphrisk.toml under [tables.{table.name}] file = "...".'
        )
    return found[0] if found else None


def _sniff_delimiter(path: Path, encoding: str) -> str:
    with path.open("r", encoding=encoding, errors="replace", newline="") as fh:
        head = fh.readline()
    counts = {d: head.count(d) for d in (",", "\t", ";", "|")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def _read_text_table(path: Path, source: TableSource) -> tuple[pd.DataFrame, str]:
    encodings = (source.encoding,) if source.encoding else _ENCODINGS
    last_error: Exception | None = None
    for enc in encodings:
        delimiter = source.delimiter or ("\t" if path.suffix.casefold() == ".tsv" else _sniff_delimiter(path, enc))
        try:
            frame = pd.read_csv(
                path,
                sep=delimiter,
                dtype=str,
                encoding=enc,
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=False,
                engine="c",
                quoting=csv.QUOTE_MINIMAL,
            )
            return frame, enc
        except UnicodeDecodeError as exc:
            last_error = exc
            continue
        except LookupError:
            raise ConfigError(f"graphrisk.toml: encoding '{enc}' for {path.name} is unknown to Python.") from None
        except (pd.errors.ParserError, ValueError) as exc:
            raise InputFileError(
                str(path),
                f"cannot be parsed as a delimited table ({exc})",
                "check the delimiter and quoting, or set delimiter in graphrisk.toml",
            ) from None
        except pd.errors.EmptyDataError:
            raise InputFileError(str(path), "is empty (no header line)", "write the header line") from None
    raise InputFileError(
        str(path),
        f"is neither UTF-8 nor GBK/GB18030 text ({last_error})",
        'save it as UTF-8, or set encoding = "..." for this table in graphrisk.toml',
    )


def _cells_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed columns (Parquet, Excel) rendered as the text a CSV export would hold."""
    out = {}
    for name, col in frame.items():
        if pd.api.types.is_datetime64_any_dtype(col):
            text = col.dt.strftime("%Y-%m-%d")
        elif pd.api.types.is_float_dtype(col):
            text = col.map(repr, na_action="ignore")
        else:
            text = col.astype(object).map(str, na_action="ignore")
        out[str(name)] = text.where(col.notna(), "").astype(object)
    return pd.DataFrame(out, index=frame.index)


def read_raw_table(data_dir: Path, table: Table, config: Config) -> RawTable | None:
    """Read ``table``'s file from ``data_dir`` as strings; None when the folder has no file for it."""
    source = config.source(table.name)
    path = find_table_file(data_dir, table, source)
    if path is None:
        return None
    suffix = path.suffix.casefold()
    encoding: str | None = None
    try:
        if suffix in (".csv", ".tsv", ".txt"):
            frame, encoding = _read_text_table(path, source)
        elif suffix == ".parquet":
            frame = _cells_as_text(pd.read_parquet(path))
        else:
            sheet: str | int = source.sheet if source.sheet is not None else 0
            frame = _cells_as_text(pd.read_excel(path, sheet_name=sheet, dtype=object, engine="openpyxl"))
    except (InputFileError, ConfigError):
        raise
    except Exception as exc:  # pyarrow, openpyxl and zipfile each raise their own kinds for a corrupt file
        raise InputFileError(
            str(path), f"cannot be read ({exc})", "export it again as CSV (UTF-8) or XLSX and check the sheet name"
        ) from None
    lines = np.arange(len(frame), dtype=np.int64) + 2
    # Arrow-backed strings: a fifth of the memory of Python str objects, and vectorised string functions.
    frame = frame.astype("string[pyarrow]")

    mapped: dict[str, str] = {}
    percent: set[str] = set(source.percent_columns)
    multipliers: dict[str, float] = {}
    ignored: list[str] = []
    for header in frame.columns:
        header_s = str(header)
        target: str | None = source.columns.get(header_s)
        mult, is_percent = 1.0, False
        if target is None:
            resolved = SCHEMA.resolve_header(table.name, header_s)
            if resolved is not None:
                target, mult, is_percent = resolved
        if target is None:
            ignored.append(header_s)
            continue
        if target in mapped.values():
            first = next(h for h, t in mapped.items() if t == target)
            raise InputFileError(
                str(path),
                f"headers '{first}' and '{header_s}' both map to column '{target}'",
                f"keep one of them, or map one to another column in graphrisk.toml [tables.{table.name}.columns]",
            )
        mapped[header_s] = target
        if is_percent:
            percent.add(target)
        if mult != 1.0:
            multipliers[target] = mult
    frame = frame[list(mapped)].rename(columns=mapped)
    if table.name == "enterprises" and "id" not in frame.columns and "uscc" in frame.columns:
        # The USCC is the natural key of a Chinese enterprise: a file without an id column uses it.
        frame["id"] = frame["uscc"]

    # Rows with every cell empty are blank lines, not records; their line numbers are kept for the others.
    if len(frame.columns):
        blank = np.ones(len(frame), dtype=bool)
        for name in frame.columns:
            blank &= (frame[name].fillna("").str.strip() == "").to_numpy(dtype=bool)
        if blank.any():
            frame = frame.loc[~blank]
            lines = lines[~blank]
    frame = frame.reset_index(drop=True)
    return RawTable(
        table=table,
        path=path,
        frame=frame,
        lines=lines,
        percent_columns=percent,
        multipliers=multipliers,
        ignored_headers=ignored,
        encoding=encoding,
    )
