"""Read a folder of exports, validate every row against the schema, and hand over :class:`~graphrisk.tables.Tables`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from graphrisk.config import CONFIG_FILE, Config, load_config
from graphrisk.errors import DataError, MissingColumnError, MissingTableError
from graphrisk.schema import SCHEMA
from graphrisk.tables import Tables
from loaders.readers import RawTable, read_raw_table
from loaders.validate import REASONS, validate_tables

__all__ = ["REASONS", "load_tables", "read_data_dir"]


def read_data_dir(data_dir: Path, config: Config | None = None) -> tuple[dict[str, RawTable], Config]:
    """Every table file found in ``data_dir`` as raw strings, and the effective configuration."""
    if not data_dir.is_dir():
        raise DataError(
            f"{data_dir}: no such folder. Fix: give the folder that holds enterprises.csv and the other tables."
        )
    cfg = config if config is not None else load_config(data_dir / CONFIG_FILE)
    raws: dict[str, RawTable] = {}
    for table in SCHEMA:
        raw = read_raw_table(data_dir, table, cfg)
        if raw is None:
            if table.required:
                names = ", ".join(f"{n}.csv" for n in (table.name, *table.file_aliases[:3]))
                raise MissingTableError(
                    f"{data_dir}: no file for the required table '{table.name}' (looked for {names}, .xlsx, "
                    f'.parquet …). Fix: add it, or name it in {CONFIG_FILE} under [tables.{table.name}] file = "...".'
                )
            continue
        for column in table.required_columns:
            if column not in raw.frame.columns:
                raise MissingColumnError(
                    str(raw.path),
                    table.name,
                    column,
                    table.column(column).aliases,
                    [*map(str, raw.frame.columns), *raw.ignored_headers],
                )
        raws[table.name] = raw
    return raws, cfg


def load_tables(
    data_dir: Path, *, pseudonym_key: bytes, config: Config | None = None, progress: Callable[[str], None] | None = None
) -> Tables:
    """Read and validate a data folder. Bad rows are in ``tables.rejects``; bad files raise :class:`DataError`."""
    raws, cfg = read_data_dir(data_dir, config)
    return validate_tables(
        raws, pseudonym_key=pseudonym_key, share_sum_tolerance=cfg.threshold("share_sum_tolerance"), progress=progress
    )
