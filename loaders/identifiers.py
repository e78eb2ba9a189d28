"""Chinese identifiers: USCC (GB 32100-2015) and resident ID numbers (GB 11643), checked over whole columns.

python-stdnum (``stdnum.cn.uscc``, ``stdnum.cn.ric``) is the reference: the tests check these functions agree
with it value for value. They exist because stdnum validates one string at a time (14 µs for a USCC, 27 µs for
an ID number), which is 14 s for a million firms; here the format and check characters are computed with numpy,
and stdnum's place-of-birth table is asked once per distinct (area code, birth year) instead of once per person.

>>> uscc_valid(pd.Series(["91110108551385082Q", "91110108551385082A"])).tolist()
[True, False]
>>> ric_valid(pd.Series(["11010519491231002X", "110105194912310021"])).tolist()
[True, False]
>>> pseudonymise(pd.Series(["11010519491231002X"]), b"k").str.startswith("PSN-").tolist()
[True]
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pandas as pd
from stdnum.cn import ric as stdnum_ric

__all__ = ["compact_identifier", "looks_like_ric", "pseudonymise", "ric_valid", "uscc_valid"]

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28], dtype=np.int64)
_RIC_WEIGHTS = np.array([pow(2, 16 - i, 11) for i in range(17)], dtype=np.int64)


def compact_identifier(s: pd.Series) -> pd.Series:
    """Upper case without spaces and hyphens (stdnum's compact form)."""
    return s.astype("string[pyarrow]").str.replace(r"[\s\-]", "", regex=True).str.upper()


def _codes(s: pd.Series, width: int) -> np.ndarray:
    """An (n, width) array of character code points of equal-length ASCII strings."""
    joined = "".join(s.tolist()).encode("ascii")
    return np.frombuffer(joined, dtype=np.uint8).reshape(len(s), width).astype(np.int64)


def uscc_valid(values: pd.Series) -> pd.Series:
    """True where the value (compacted) is a well-formed USCC with the right check character."""
    s = compact_identifier(values)
    out = pd.Series(False, index=values.index)
    shaped = s.str.fullmatch(r"[0-9]{8}[0-9A-HJ-NP-RTUW-Y]{10}")
    if not shaped.any():
        return out
    codes = _codes(s[shaped], 18)
    lookup = np.full(128, -1, dtype=np.int64)
    for i, ch in enumerate(_USCC_ALPHABET):
        lookup[ord(ch)] = i
    vals = lookup[codes]
    total = (vals[:, :17] * _USCC_WEIGHTS).sum(axis=1)
    check = (31 - total) % 31
    out[shaped] = check == vals[:, 17]
    return out


def looks_like_ric(values: pd.Series) -> pd.Series:
    """Shaped like an 18-character resident ID number (17 digits and a digit or X), whatever its check."""
    s = values.astype("string[pyarrow]")
    # Most ids are short codes: only values of about 18 characters are worth compacting.
    near = s.str.len().between(18, 24).fillna(False).astype(bool)
    out = pd.Series(False, index=values.index)
    if near.any():
        out[near] = compact_identifier(s[near]).str.fullmatch(r"[0-9]{17}[0-9X]").fillna(False).astype(bool)
    return out


def ric_valid(values: pd.Series) -> pd.Series:
    """True where the value is a valid resident ID number: format, check character, birth date, birth place."""
    s = compact_identifier(values)
    out = pd.Series(False, index=values.index)
    shaped = s.str.fullmatch(r"[0-9]{17}[0-9X]").fillna(False).astype(bool)
    if not shaped.any():
        return out
    sub = s[shaped]
    codes = _codes(sub, 18)
    digits = codes[:, :17] - ord("0")
    check = (1 - 2 * (digits * _RIC_WEIGHTS).sum(axis=1)) % 11  # stdnum: (1 - 2 * int(n[:-1], 13)) % 11
    last = np.where(codes[:, 17] == ord("X"), 10, codes[:, 17] - ord("0"))
    ok = check == last
    birth = pd.to_datetime(sub.str.slice(6, 14), format="%Y%m%d", errors="coerce")
    ok &= birth.notna().to_numpy()
    # Birth place: stdnum's table, asked once per distinct (area code, birth year).
    area_year = sub.str.slice(0, 6) + sub.str.slice(6, 10)
    candidates = area_year[ok]
    place_ok: dict[str, bool] = {}
    for key, example in candidates.groupby(candidates).head(1).items():
        number = sub.loc[key]
        place_ok[example] = _birth_place_known(number)
    ok &= area_year.map(place_ok).fillna(False).astype(bool).to_numpy()
    out[shaped] = ok
    return out


def _birth_place_known(number: str) -> bool:
    try:
        stdnum_ric.get_birth_place(number)
    except Exception:  # stdnum raises its own ValidationError subclasses and KeyError for unknown codes
        return False
    return True


def pseudonymise(values: pd.Series, key: bytes) -> pd.Series:
    """A keyed pseudonym (HMAC-SHA256) for each value: stable for one key, not reversible without it."""
    compact = compact_identifier(values)
    unique = compact.unique()
    mapping = {v: "PSN-" + hmac.new(key, v.encode("utf-8"), hashlib.sha256).hexdigest()[:24] for v in unique}
    return compact.map(mapping)
