"""Vectorised parsers for the value formats found in Chinese bank and registry exports.

Each parser takes a Series of raw strings (already stripped, empty string = missing) and returns the typed
values and a boolean mask of the cells that were present but could not be parsed.

>>> vals, bad = parse_amount(pd.Series(["1,234.5", "12万", "3.5亿", "x", ""]))
>>> vals.tolist()[:3], bad.tolist()
([1234.5, 120000.0, 350000000.0], [False, False, False, True, False])
>>> parse_share(pd.Series(["0.35", "35%", "35"]), percent=False)[0].tolist()
[0.35, 0.35, 35.0]
>>> parse_date(pd.Series(["2024-01-31", "2024/1/31", "20240131", "2024年1月31日"]))[0].dt.day.tolist()
[31, 31, 31, 31]
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import numpy as np
import pandas as pd

__all__ = [
    "clean_strings",
    "parse_amount",
    "parse_bool",
    "parse_date",
    "parse_float",
    "parse_int",
    "parse_share",
]

Parsed = tuple[pd.Series, pd.Series]

_SPACES = re.compile(r"[\s\u3000\u00a0]+")
_MISSING_MARKERS = ["-", "--", "—", "无"] + [
    v for w in ("nan", "none", "null", "n/a", "na") for v in {w, w.upper(), w.capitalize(), w.title()}
]


def map_distinct(s: pd.Series, func: Callable[[str], object]) -> pd.Series:
    """``func`` applied once per distinct value: columns such as roles, flags and kinds hold few of them."""
    codes, uniques = pd.factorize(s.to_numpy(dtype=object))
    mapped = np.array([func(u) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], index=s.index)  # code -1 (missing) takes the trailing None


def clean_strings(raw: pd.Series) -> pd.Series:
    """Strip spaces (including full-width and no-break spaces); missing markers become ''."""
    s = raw.astype("string[pyarrow]").fillna("")
    s = s.str.replace("\u3000", " ", regex=False).str.replace("\u00a0", " ", regex=False).str.strip()
    return s.mask(s.isin(_MISSING_MARKERS), "")


def _fullwidth_to_ascii(s: pd.Series) -> pd.Series:
    # Only cells with non-ASCII characters pay for NFKC (full-width digits, ％, ，).
    non_ascii = s.astype("string[pyarrow]").str.contains(r"[^\x00-\x7f]", regex=True).fillna(False).astype(bool)
    if non_ascii.any():
        s = s.copy()
        s[non_ascii] = s[non_ascii].map(lambda v: unicodedata.normalize("NFKC", v))
    return s


_UNIT_SUFFIX = {"亿": 1e8, "万": 1e4, "千": 1e3}


def parse_float(s: pd.Series) -> Parsed:
    s = _fullwidth_to_ascii(s)
    present = s != ""
    vals = pd.to_numeric(s.where(present, None), errors="coerce").astype("float64")
    return vals, present & vals.isna()


def _plain_numbers(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numbers that need no cleaning, and the mask of present cells that do (most cells are plain)."""
    present = s != ""
    vals = pd.to_numeric(s.where(present, None), errors="coerce").astype("float64")
    return vals, present & vals.isna()


def parse_amount(s: pd.Series, multiplier: float = 1.0) -> Parsed:
    """Money: thousands separators, currency marks, 万/亿 suffixes, accounting negatives ``(1,000)``."""
    plain, rest = _plain_numbers(s)
    if not rest.any():
        vals = plain * multiplier if multiplier != 1.0 else plain
        return vals, rest
    messy_vals, messy_bad = _parse_messy_amount(s[rest], multiplier)
    vals = plain * multiplier if multiplier != 1.0 else plain.copy()
    vals[rest] = messy_vals
    bad = pd.Series(False, index=s.index)
    bad[rest] = messy_bad
    return vals, bad


def _parse_messy_amount(s: pd.Series, multiplier: float) -> Parsed:
    s = _fullwidth_to_ascii(s)
    present = s != ""
    t = s.str.replace(r"[,\s¥$]|RMB|CNY|人民币", "", regex=True).str.replace("元", "", regex=False)
    negative = t.str.match(r"^\(.*\)$")
    t = t.str.replace(r"^\((.*)\)$", r"\1", regex=True)
    mult = pd.Series(multiplier, index=s.index, dtype="float64")
    for suffix, factor in _UNIT_SUFFIX.items():
        has = t.str.endswith(suffix)
        if has.any():
            mult = mult.where(~has, factor)  # an explicit suffix overrides the unit of the header
            t = t.where(~has, t.str.slice(0, -1))
    vals = pd.to_numeric(t.where(present, None), errors="coerce").astype("float64") * mult
    vals = vals.where(~negative, -vals)
    return vals, present & vals.isna()


def parse_share(s: pd.Series, *, percent: bool) -> Parsed:
    """Shares as fractions (0.35), percent strings ("35%") or, when the column is a percent column, 35."""
    plain, rest = _plain_numbers(s)
    if not rest.any():
        return (plain / 100.0 if percent else plain), rest
    s = _fullwidth_to_ascii(s)
    present = s != ""
    has_pct = s.str.endswith("%")
    t = s.str.rstrip("%").str.strip()
    vals = pd.to_numeric(t.where(present, None), errors="coerce").astype("float64")
    # Division, not multiplication by 0.01, so that "35%" gives exactly 0.35.
    vals = vals.where(~(has_pct | percent), vals / 100.0)
    return vals, present & vals.isna()


def parse_int(s: pd.Series) -> Parsed:
    vals, bad = parse_float(s)
    frac = vals.notna() & (vals != np.floor(vals.fillna(0)))
    out = vals.where(~frac).round().astype("Int64")
    return out, bad | frac


_TRUE = {"true", "t", "1", "1.0", "y", "yes", "是", "真", "有"}
_FALSE = {"false", "f", "0", "0.0", "n", "no", "否", "假", "没有"}


def parse_bool(s: pd.Series) -> Parsed:
    folded = map_distinct(s, str.casefold)
    present = s != ""
    out = pd.Series(pd.NA, index=s.index, dtype="boolean")
    out[folded.isin(list(_TRUE)).to_numpy()] = True
    out[folded.isin(list(_FALSE)).to_numpy()] = False
    return out, present & out.isna()


def parse_date(s: pd.Series) -> Parsed:
    """Dates as 2024-01-31, 2024/1/31, 2024.1.31, 20240131, 2024年1月31日; a time part is ignored."""
    s = _fullwidth_to_ascii(s)
    present = s != ""
    t = s.str.replace(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$", "", regex=True)
    t = t.str.replace(r"[年月/.]", "-", regex=True).str.replace("日", "", regex=False)
    compact = t.str.fullmatch(r"\d{8}")
    t = t.where(~compact, t.str.slice(0, 4) + "-" + t.str.slice(4, 6) + "-" + t.str.slice(6, 8))
    shaped = t.str.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}")
    vals = pd.to_datetime(t.where(present & shaped, None), format="%Y-%m-%d", errors="coerce")
    vals = vals.astype("datetime64[s]")
    return vals, present & vals.isna()
