"""Configuration: `graphrisk.toml` in the data folder (optional) and every threshold with its meaning and source.

A threshold is declared once here with its default, a one-line meaning and where the number comes from;
``graphrisk config`` prints the effective values. A data folder's ``graphrisk.toml`` may override thresholds
under ``[thresholds]`` and map a bank's own files and headers onto the schema under ``[tables.<name>]``::

    [tables.enterprises]
    file = "客户清单.xlsx"      # which file holds the table
    sheet = "客户"              # spreadsheet sheet (default: the first)
    encoding = "gbk"            # only when detection is not enough
    percent_columns = []        # columns whose plain numbers are percentages
    [tables.enterprises.columns]
    "客户号" = "id"             # your header = schema column

    [thresholds]
    share_sum_tolerance = 0.01

    [[stress]]                  # stress scenarios the scan runs (stress.csv); any number of them
    name = "地产下行"
    shock = 0.3                 # share of equity lost by every firm matching `where`
    where = { industry = "房地产" }
    defaults = []               # firms that default outright
    model = "debtrank"          # debtrank | linear | cascade

>>> Config().threshold("share_sum_tolerance")
0.005
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphrisk.errors import ConfigError
from graphrisk.schema import SCHEMA

__all__ = [
    "CONFIG_FILE",
    "STRESS_MODELS",
    "Config",
    "StressScenario",
    "TableSource",
    "Threshold",
    "all_thresholds",
    "declare_thresholds",
    "load_config",
]

CONFIG_FILE = "graphrisk.toml"


@dataclass(frozen=True)
class Threshold:
    name: str
    default: float
    meaning: str
    source: str


_FOUNDATION_THRESHOLDS: tuple[Threshold, ...] = (
    Threshold(
        "share_sum_tolerance",
        0.005,
        "Direct shares of one company may sum to 1 + this before a warning (rounding in registries).",
        "graphrisk convention (issue 2): 0.5 percentage points",
    ),
    Threshold(
        "large_component_size",
        50.0,
        "A connected component of the whole relation graph with at least this many enterprises is "
        "reported as a large connected component.",
        "graphrisk convention; tune to the portfolio",
    ),
    Threshold(
        "hub_degree",
        20.0,
        "An enterprise with at least this many relations of one kind is reported as a hub in the degree statistics.",
        "graphrisk convention; tune to the portfolio",
    ),
)
_THRESHOLD_BY_NAME: dict[str, Threshold] = {t.name: t for t in _FOUNDATION_THRESHOLDS}


def declare_thresholds(*thresholds: Threshold) -> None:
    """Declare an analysis module's thresholds (called at import); names must be unique across modules."""
    for t in thresholds:
        known = _THRESHOLD_BY_NAME.get(t.name)
        if known is not None and known != t:
            raise ValueError(f"threshold {t.name} is declared twice with different values")
        _THRESHOLD_BY_NAME[t.name] = t


def all_thresholds() -> tuple[Threshold, ...]:
    """Every declared threshold, the analyses' included."""
    import graphrisk.analysis as analysis  # importing the analyses declares their thresholds
    import graphrisk.scan  # noqa: F401  (the scan's own thresholds: the entity risk score)

    analysis.registered_analyses()
    return tuple(_THRESHOLD_BY_NAME.values())


@dataclass(frozen=True)
class TableSource:
    """Where one table comes from in a data folder, and how its headers map onto the schema."""

    file: str | None = None
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    percent_columns: tuple[str, ...] = ()


STRESS_MODELS = ("debtrank", "linear", "cascade")


@dataclass(frozen=True)
class StressScenario:
    """One ``[[stress]]`` scenario: firms that default outright and a shock to every firm matching ``where``."""

    name: str
    defaults: tuple[str, ...] = ()
    shock: float = 0.0
    where: tuple[tuple[str, str], ...] = ()  # (enterprise column, value), all must match
    model: str = "debtrank"


@dataclass(frozen=True)
class Config:
    tables: dict[str, TableSource] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    stress: tuple[StressScenario, ...] = ()
    pseudonym_key: str | None = None
    path: str | None = None

    def threshold(self, name: str) -> float:
        if name in self.thresholds:
            return self.thresholds[name]
        if name not in _THRESHOLD_BY_NAME:
            all_thresholds()
        return _THRESHOLD_BY_NAME[name].default

    def source(self, table: str) -> TableSource:
        return self.tables.get(table, TableSource())

    def effective(self) -> list[dict[str, Any]]:
        """Every threshold with its effective value, default, meaning and source."""
        return [
            {
                "name": t.name,
                "value": self.threshold(t.name),
                "default": t.default,
                "meaning": t.meaning,
                "source": t.source,
                "overridden": t.name in self.thresholds,
            }
            for t in all_thresholds()
        ]


def load_config(path: Path) -> Config:
    """Read ``graphrisk.toml``; a missing file gives the defaults."""
    if not path.exists():
        return Config()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: not valid TOML ({exc}). Fix the syntax; see the README's configuration section."
        ) from None
    tables: dict[str, TableSource] = {}
    for name, spec in (raw.get("tables") or {}).items():
        if name not in SCHEMA:
            known = ", ".join(t.name for t in SCHEMA)
            raise ConfigError(f"{path}: [tables.{name}] is not a table graphrisk knows. Use one of: {known}.")
        if not isinstance(spec, dict):
            raise ConfigError(f"{path}: [tables.{name}] must be a table of settings.")
        columns = {str(k): str(v) for k, v in (spec.get("columns") or {}).items()}
        known_cols = set(SCHEMA[name].column_names)
        for header, target in columns.items():
            if target not in known_cols:
                raise ConfigError(
                    f"{path}: [tables.{name}.columns] maps '{header}' to '{target}', which is not a column of "
                    f"{name}. Columns: {', '.join(sorted(known_cols))}."
                )
        unknown_keys = set(spec) - {"file", "sheet", "encoding", "delimiter", "columns", "percent_columns"}
        if unknown_keys:
            raise ConfigError(f"{path}: [tables.{name}] has unknown settings {sorted(unknown_keys)}.")
        tables[name] = TableSource(
            file=spec.get("file"),
            sheet=spec.get("sheet"),
            encoding=spec.get("encoding"),
            delimiter=spec.get("delimiter"),
            columns=columns,
            percent_columns=tuple(spec.get("percent_columns") or ()),
        )
    thresholds: dict[str, float] = {}
    all_thresholds()
    for name, value in (raw.get("thresholds") or {}).items():
        if name not in _THRESHOLD_BY_NAME:
            raise ConfigError(f"{path}: [thresholds] {name} is unknown. Known: {', '.join(_THRESHOLD_BY_NAME)}.")
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"{path}: [thresholds] {name} must be a number, not {value!r}.")
        thresholds[name] = float(value)
    key = raw.get("pseudonym_key")
    return Config(
        tables=tables,
        thresholds=thresholds,
        stress=_stress_scenarios(path, raw.get("stress")),
        pseudonym_key=str(key) if key else None,
        path=str(path),
    )


def _stress_scenarios(path: Path, raw: Any) -> tuple[StressScenario, ...]:
    """``[[stress]]`` tables, checked here so a typo stops the run before any analysis, naming the scenario."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise ConfigError(f"{path}: stress scenarios are written as [[stress]] tables (see the README).")
    enterprise_columns = set(SCHEMA["enterprises"].column_names)
    out: list[StressScenario] = []
    seen: set[str] = set()
    for number, spec in enumerate(raw, start=1):
        name = str(spec.get("name") or f"scenario {number}")
        where_ = f"{path}: [[stress]] '{name}'"
        unknown = set(spec) - {"name", "defaults", "shock", "where", "model"}
        if unknown:
            raise ConfigError(
                f"{where_} has unknown settings {sorted(unknown)}; known: name, defaults, shock, where, model."
            )
        if name in seen:
            raise ConfigError(f"{where_}: two scenarios share this name; give each a unique name.")
        seen.add(name)
        defaults = spec.get("defaults") or []
        if isinstance(defaults, str):
            defaults = [defaults]
        if not isinstance(defaults, list) or not all(isinstance(d, str | int) for d in defaults):
            raise ConfigError(f"{where_}: defaults must be a list of enterprise ids.")
        shock = spec.get("shock", 0.0)
        if not isinstance(shock, int | float) or isinstance(shock, bool) or not 0.0 <= float(shock) <= 1.0:
            raise ConfigError(f"{where_}: shock must be a number in [0, 1] (share of equity lost), not {shock!r}.")
        where = spec.get("where") or {}
        if not isinstance(where, dict):
            raise ConfigError(f'{where_}: where must be a table such as {{ industry = "房地产" }}.')
        for column in where:
            if column not in enterprise_columns:
                columns = ", ".join(sorted(enterprise_columns))
                raise ConfigError(f"{where_}: where.{column} is not an enterprises column. Columns: {columns}.")
        if float(shock) > 0 and not where:
            raise ConfigError(f"{where_}: a shock needs `where` to say which firms it hits.")
        model = str(spec.get("model", "debtrank"))
        if model not in STRESS_MODELS:
            raise ConfigError(f"{where_}: model {model!r} is unknown; use one of {', '.join(STRESS_MODELS)}.")
        if not defaults and not (float(shock) > 0 and where):
            raise ConfigError(f"{where_}: give defaults, or a shock with where; as written it stresses nothing.")
        out.append(
            StressScenario(
                name=name,
                defaults=tuple(str(d) for d in defaults),
                shock=float(shock),
                where=tuple((str(k), str(v)) for k, v in where.items()),
                model=model,
            )
        )
    return tuple(out)
