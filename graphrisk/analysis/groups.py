"""Connected counterparties (关联客户) and large exposures (大额风险暴露).

Firms that would fail together are one risk for the bank: a group of connected counterparties (Basel Framework
LEX10.10; 《商业银行大额风险暴露管理办法》: 关联客户 = 集团客户 and 经济依存客户). Ties, each with its basis:

- ``control``: firms under one actual controller (the ownership analysis's ``controllers`` table); a controller
  that is an enterprise is a member too. Firms linked only through a state-asset body are not grouped through it
  (threshold ``lex_group_through_state``); the control chain below the state body still ties them.
- ``guarantee``: a guarantee in force on ``as_of`` whose amount (summed per guarantor and borrower) is at least
  ``lex_guarantee_net_assets`` of the guarantor's net assets (any amount when its net assets are not positive);
- ``supply``: a supply link (its latest year) where the customer takes at least ``lex_supply_share`` of the
  supplier's revenue or the supplier provides that share of the customer's purchases;
- ``repayment_source`` / ``funding_source``: the optional enterprises columns ``main_repayment_source_id`` and
  ``main_funding_source_id``; firms sharing a source, and a firm with its source, are tied.

Groups are the connected components over all ties (``scipy.sparse.csgraph``, vectorised) with two or more
enterprises. A group's exposure is the sum of its members' EAD, compared with the bank's Tier 1 capital
(threshold ``tier1_capital``) and the Basel and CBIRC limits.

>>> import pandas as pd
>>> from graphrisk.tables import Tables
>>> t = Tables.from_frames({
...     "enterprises": pd.DataFrame({"id": ["A", "B", "C"], "name": ["甲", "乙", "丙"],
...                                  "net_assets": [100.0, 50.0, 80.0]}),
...     "guarantees": pd.DataFrame({"guarantor_id": ["A"], "borrower_id": ["B"], "amount": [60.0]}),
...     "exposures": pd.DataFrame({"borrower_id": ["B", "C"], "ead": [30.0, 20.0]}),
... })
>>> g = EnterpriseGraph(t)
>>> groups = counterparty_groups(g, as_of=date(2026, 6, 30))
>>> groups[["group_id", "member_id", "basis"]].values.tolist()
[['CG-000001', 'A', 'guarantee'], ['CG-000001', 'B', 'guarantee']]
>>> large_exposures(groups, g, 200.0)[["counterparty_id", "kind", "ratio_to_tier1", "limit_status"]].values.tolist()
[['CG-000001', 'group', 0.15, 'within'], ['B', 'single', 0.15, 'near_breach'], ['C', 'single', 0.1, 'within']]
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

from graphrisk.analysis import FLAG_COLUMNS, AnalysisContext, AnalysisResult, LazyRows, ReportSection, register
from graphrisk.analysis.guarantees import guarantees as active_guarantees
from graphrisk.analysis.ownership import actual_controllers
from graphrisk.config import Threshold, declare_thresholds
from graphrisk.graph import EnterpriseGraph
from graphrisk.tables import positions_in
from graphrisk.units import format_cny, format_share

__all__ = [
    "BASES",
    "EXPOSURE_COLUMNS",
    "GROUP_COLUMNS",
    "LIMITS",
    "GroupTies",
    "Limit",
    "counterparty_groups",
    "group_ties",
    "large_exposures",
    "limit_breaches",
    "limit_flags",
    "screening_list",
    "writeback_rows",
]

BASES: tuple[str, ...] = ("control", "guarantee", "supply", "repayment_source", "funding_source")
GROUP_COLUMNS = ("group_id", "member_id", "name", "basis", "evidence", "ead")
EXPOSURE_COLUMNS = (
    "counterparty_id",
    "kind",
    "name",
    "members",
    "group_id",
    "ead",
    "ratio_to_tier1",
    "large_exposure",
    "limits",
    "limit_use",
    "limit_status",
)
BREACH_COLUMNS = ("counterparty_id", "kind", "limit_name", "limit", "ratio", "ead", "status", "source", "reason")
SCREENING_COLUMNS = ("firm_id", "name", "ead", "ratio_to_tier1", "group_id", "in_group", "basis", "assessment")

_BASEL = "Basel Framework"
_CBIRC = "《商业银行大额风险暴露管理办法》(银保监会令2018年第1号)"

declare_thresholds(
    Threshold(
        "tier1_capital",
        0.0,
        "The bank's Tier 1 capital (一级资本净额), CNY: the denominator of every large-exposure ratio. 0 means not "
        "configured: groups are still formed, but no ratio, limit, screening list or limit flag is computed.",
        f"{_BASEL} LEX20.2 (Tier 1 capital as defined in CAP10.2); {_CBIRC}: 一级资本净额. Set it in graphrisk.toml",
    ),
    Threshold(
        "lex_large_exposure",
        0.10,
        "A counterparty or group whose exposure is at least this share of Tier 1 capital is a large exposure.",
        f"{_BASEL} LEX10.8 and LEX20.4 (10 % of Tier 1, reported to the supervisor); the CBIRC rules define "
        "大额风险暴露 from 2.5 % of 一级资本净额: set 0.025 to follow them",
    ),
    Threshold(
        "lex_basel_limit",
        0.25,
        "Exposure to a single counterparty or a group of connected counterparties above this share of Tier 1 "
        "capital breaches the Basel large-exposure limit.",
        f"{_BASEL} LEX20.1 (25 % of Tier 1; breaches reported at once, LEX20.3)",
    ),
    Threshold(
        "cbirc_single_limit",
        0.15,
        "Exposure to one non-interbank client above this share of Tier 1 capital breaches the CBIRC single-client "
        "limit (checked for every client, group members included).",
        f"{_CBIRC} Art. 7 (非同业单一客户: 15 % of 一级资本净额)",
    ),
    Threshold(
        "cbirc_group_limit",
        0.20,
        "Exposure to a group of connected non-interbank clients above this share of Tier 1 capital breaches the "
        "CBIRC group limit.",
        f"{_CBIRC} Art. 8 (一组非同业关联客户 — 集团客户 and 经济依存客户: 20 % of 一级资本净额)",
    ),
    Threshold(
        "lex_near_breach",
        0.9,
        "An exposure of at least this fraction of a limit, and not above it, is a near-breach.",
        "graphrisk convention (issue 7): early warning at 90 % of a limit",
    ),
    Threshold(
        "lex_screening",
        0.05,
        "Clients whose own exposure exceeds this share of Tier 1 capital are listed for an assessment of economic "
        "interdependence with other counterparties.",
        f"{_BASEL} LEX10 (connected counterparties): identifying economic interdependence is mandatory for "
        "exposures above 5 % of Tier 1",
    ),
    Threshold(
        "lex_guarantee_net_assets",
        0.5,
        "A guarantee in force whose amount is at least this share of the guarantor's net assets ties guarantor and "
        "borrower (economic interdependence); any amount does when the guarantor's net assets are not positive.",
        f"{_BASEL} LEX10 economic-interdependence criteria (a guarantee so large that the guarantor would likely "
        f"fail if called); {_CBIRC} 经济依存 (保证金额较大); the 50 % level is a graphrisk convention (issue 7)",
    ),
    Threshold(
        "lex_supply_share",
        0.5,
        "A supply link where the customer takes at least this share of the supplier's revenue, or the supplier "
        "provides at least this share of the customer's purchases, ties the two (economic interdependence).",
        f"{_BASEL} LEX10 economic-interdependence criteria (50 % or more of gross receipts or expenditures from "
        f"one counterparty); {_CBIRC} 经济依存 (年度总收入或总支出的50%以上)",
    ),
    Threshold(
        "lex_group_through_state",
        0.0,
        "1: firms whose actual controller is a state-asset body are grouped through it; 0: they are not, only the "
        "control chain below the state body ties them.",
        f"{_BASEL} LEX sovereign exemption (counterparties connected only through an exempt sovereign need not be "
        "grouped); 企业会计准则第36号 Art. 6 (仅同受国家控制 makes no related party)",
    ),
)


@dataclass(frozen=True)
class Limit:
    """A concentration limit: threshold name, value as a share of Tier 1, the source, and whom it applies to."""

    name: str
    value: float
    source: str
    applies_to: str  # "counterparty" (groups and single clients in no group), "single" (every client), "group"


# Names of the limit thresholds and a short source for reasons; the values come from the configuration.
LIMITS: tuple[tuple[str, str, str], ...] = (
    ("lex_basel_limit", "Basel LEX20.1", "counterparty"),
    ("cbirc_single_limit", "大额风险暴露管理办法 Art. 7", "single"),
    ("cbirc_group_limit", "大额风险暴露管理办法 Art. 8", "group"),
)
_DEFAULT_LIMITS = {"lex_basel_limit": 0.25, "cbirc_single_limit": 0.15, "cbirc_group_limit": 0.20}
_EVIDENCE_ITEMS = 5  # evidence items shown per member; the rest are counted
_FLAG_MEMBERS = 50  # members listed in a flag's evidence, by EAD
_EPS = 1e-12  # ratios computed from amounts: equality must not fail on rounding


def _limits(values: dict[str, float] | None = None) -> tuple[Limit, ...]:
    got = {**_DEFAULT_LIMITS, **(values or {})}
    return tuple(Limit(name, float(got[name]), source, applies) for name, source, applies in LIMITS)


# ----------------------------------------------------------------------------------------------- ties
#
# Evidence text is built with Arrow string kernels, and only for the ends that are group members: on a million
# firms, Python string operations per tie would cost more than everything else together.

_L = pa.large_string()
Piece: TypeAlias = pa.Array | str
Rendered: TypeAlias = tuple[pa.Array, pa.Array]
_SECOND_ON_PATH = r"^[^>]*>(?P<below>[^>]*)"  # "state>firm>…>company": the firm right under the state body


def _s(text: str) -> pa.Scalar:
    return pa.scalar(text, _L)


def _join(*pieces: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of Arrow string arrays and constant strings."""
    return pc.binary_join_element_wise(*(_s(p) if isinstance(p, str) else p for p in pieces), _s(""))


def _where(mask: np.ndarray, yes: pa.Array | str, no: pa.Array | str) -> pa.Array:
    return pc.if_else(
        pa.array(mask, pa.bool_()), _s(yes) if isinstance(yes, str) else yes, _s(no) if isinstance(no, str) else no
    )


def _arrow(series: pd.Series) -> pa.Array:
    """A text column as an Arrow large_string array (zero-copy for pandas' Arrow strings); missing as ""."""
    arr = pa.array(series.astype("str").array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(_L).fill_null("")


def _take(arr: pa.Array, idx: np.ndarray) -> pa.Array:
    return arr.take(pa.array(np.asarray(idx, dtype=np.int64)))


def _formatted(values: np.ndarray, fmt: Callable[[float], str]) -> pa.Array:
    """``fmt`` of every value, formatted once per distinct value (amounts repeat a lot)."""
    values = np.asarray(values, dtype="float64")
    if not len(values):
        return pa.array([], _L)
    uniq, inverse = np.unique(values, return_inverse=True)
    return _take(pa.array([fmt(float(v)) for v in uniq], _L), inverse.ravel())


def _percent(values: np.ndarray, digits: int) -> pa.Array:
    """Non-negative shares as "12.5%" (``digits`` decimals), vectorised; NaN and infinity as ""."""
    v = np.asarray(values, dtype="float64")
    with np.errstate(invalid="ignore"):
        scaled = np.round(v * 100 * 10**digits)
    ok = np.isfinite(scaled)
    q = np.where(ok, scaled, 0).astype(np.int64)
    if digits == 0:
        text = _join(pc.cast(pa.array(q), _L), "%")
    else:
        unit = 10**digits
        frac = pc.utf8_lpad(pc.cast(pa.array(q % unit), _L), digits, "0")
        text = _join(pc.cast(pa.array(q // unit), _L), ".", frac, "%")
    return _where(ok, text, "")


def _sides(want_a: np.ndarray, want_b: np.ndarray, pieces_a: list[Piece], pieces_b: list[Piece]) -> Rendered:
    """The text of end a for the rows in ``want_a`` and of end b for ``want_b``; pieces cover every row."""

    def text(pieces: list[Piece], want: np.ndarray) -> pa.Array:
        mask = pa.array(want, pa.bool_())
        return _join(*(p if isinstance(p, str) else p.filter(mask) for p in pieces))

    return text(pieces_a, want_a), text(pieces_b, want_b)


def _node_ids(graph: EnterpriseGraph) -> pa.Array:
    return _arrow(graph.nodes["id"])


def _group_codes(group_ids: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """Integer codes of group ids (in sorted order) and the ids. Our ids ("CG-000042") are parsed rather than
    hashed: a group table has a row per member, a million on a large portfolio."""
    ids = _arrow(group_ids)
    ours = len(ids) > 0 and bool(pc.all(pc.match_substring_regex(ids, r"^CG-\d+$")).as_py())
    if ours:
        uniq, codes = np.unique(pc.cast(pc.utf8_slice_codeunits(ids, 3), pa.int64()).to_numpy(), return_inverse=True)
        row = np.zeros(len(uniq), dtype=np.int64)
        row[codes] = np.arange(len(codes))  # any row of a group names it
        return codes.ravel().astype(np.int64), _take(ids, row)
    codes, found = pd.factorize(group_ids, sort=True)
    return codes.astype(np.int64), pa.array([str(u) for u in found], _L)


@dataclass(frozen=True)
class GroupTies:
    """Every tie between two nodes, per basis: a frame with integer ``a``, ``b`` and the figures behind it.

    ``a`` is the company (control), guarantor, supplier or the firm naming a source; ``b`` its controller (or
    the firm below a state controller), borrower, customer or source. ``notes`` say what could not be assessed.
    """

    graph: EnterpriseGraph
    parts: tuple[tuple[str, pd.DataFrame], ...]
    notes: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        """Ties per basis."""
        got = {basis: len(frame) for basis, frame in self.parts}
        return {b: int(got.get(b, 0)) for b in BASES}

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All ties as arrays: a, b and the basis code (index into :data:`BASES`)."""
        if not self.parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        a = np.concatenate([f["a"].to_numpy(dtype=np.int64) for _, f in self.parts])
        b = np.concatenate([f["b"].to_numpy(dtype=np.int64) for _, f in self.parts])
        code = np.concatenate([np.full(len(f), BASES.index(basis), dtype=np.int64) for basis, f in self.parts])
        return a, b, code

    def evidence(
        self, keep_a: np.ndarray, keep_b: np.ndarray, ids: pa.Array | None = None
    ) -> tuple[pa.Array, pa.Array]:
        """Evidence text of ties as seen from end a (where ``keep_a``, a mask over :meth:`pairs`) and from end b
        (where ``keep_b``), in tie order. ``ids`` are the node ids as Arrow strings (computed when absent)."""
        node_ids = _node_ids(self.graph) if ids is None else ids
        out_a: list[pa.Array] = []
        out_b: list[pa.Array] = []
        start = 0
        for basis, frame in self.parts:
            ka, kb = keep_a[start : start + len(frame)], keep_b[start : start + len(frame)]
            start += len(frame)
            either = ka | kb
            ta, tb = _RENDER[basis](frame[either], node_ids, ka[either], kb[either])
            out_a.append(ta.cast(_L))
            out_b.append(tb.cast(_L))
        if not out_a:
            return pa.array([], _L), pa.array([], _L)
        return pa.concat_arrays(out_a), pa.concat_arrays(out_b)

    def to_frame(self) -> pd.DataFrame:
        """Every tie with ids: ``a_id``, ``b_id``, ``basis``, ``evidence`` (as seen from a)."""
        a, b, code = self.pairs()
        ids = _node_ids(self.graph)
        return pd.DataFrame(
            {
                "a_id": pd.Series(_take(ids, a), dtype="str"),
                "b_id": pd.Series(_take(ids, b), dtype="str"),
                "basis": pd.Series(_take(pa.array(BASES, _L), code), dtype="str"),
                "evidence": pd.Series(
                    self.evidence(np.ones(len(a), bool), np.zeros(len(a), bool), ids)[0], dtype="str"
                ),
            }
        )


def _lookup(ids: pa.Array, columns: list[pa.Array]) -> list[np.ndarray]:
    """Node positions (−1 when absent or empty) of several id columns in one hash lookup: hashing a million
    node ids is the costly step, so it is done once."""
    total = sum(len(c) for c in columns)
    if not total:
        return [np.zeros(0, dtype=np.int64) for _ in columns]
    found = positions_in(pd.Series(pa.concat_arrays(columns), dtype="str"), ids)
    found[np.asarray(pc.equal(pa.concat_arrays(columns), _s("")).to_numpy(zero_copy_only=False), dtype=bool)] = -1
    out, at = [], 0
    for c in columns:
        out.append(found[at : at + len(c)])
        at += len(c)
    return out


def _positions(values: pd.Series, hay: pd.Series) -> np.ndarray:
    """Position in ``hay`` (unique ids) of each value, −1 when absent, hashing the smaller side: a few
    hundred flagged or screened ids are found among a million members without hashing the million."""
    needles, haystack = _arrow(values), _arrow(hay)
    if len(needles) * 4 >= len(haystack):
        return positions_in(pd.Series(needles, dtype="str"), pd.Series(haystack, dtype="str"))
    uniq = pc.unique(needles)
    hit = pc.index_in(haystack, value_set=uniq).fill_null(-1).to_numpy(zero_copy_only=False)
    where = np.full(len(uniq) + 1, -1, dtype=np.int64)
    rows = np.flatnonzero(hit >= 0)
    where[hit[rows]] = rows
    return where[pc.index_in(needles, value_set=uniq).fill_null(len(uniq)).to_numpy(zero_copy_only=False)]


def _control_frame(
    controllers: pd.DataFrame,
    company: np.ndarray,
    ctrl: np.ndarray,
    state: np.ndarray,
    below: np.ndarray,
    group_through_state: bool,
) -> tuple[pd.DataFrame, list[str]]:
    """Company — controller ties. Under a state controller (sovereign treatment) a company ties to the firm
    right under the state body on its control chain instead; held straight by the state body, to nothing."""
    notes: list[str] = []
    n = len(controllers)
    absent = pd.Series([None] * n, index=controllers.index, dtype=object)
    named = controllers["controller_id"].notna().to_numpy(dtype=bool)
    unknown = named & ((company < 0) | (ctrl < 0))
    if unknown.any():
        notes.append(f"{int(unknown.sum()):,} controller rows name ids not in the data: ignored.")
    has = named & ~unknown & (company != ctrl)
    via = has & state & (not group_through_state)
    target = ctrl.copy()
    if via.any():
        second = np.full(n, -1, dtype=np.int64)
        second[state] = below
        target[via] = np.where(second[via] == company[via], -1, second[via])
    rows = np.flatnonzero(has & (target >= 0))

    def column(name: str) -> pd.Series:
        return controllers.get(name, absent).iloc[rows].astype("str").reset_index(drop=True)

    frame = pd.DataFrame(
        {
            "a": company[rows],
            "b": target[rows],
            "controller": ctrl[rows],
            "kind": column("controller_kind"),
            "rule": column("rule"),
            "share": pd.to_numeric(controllers.get("control_share", absent)).to_numpy(dtype="float64", na_value=np.nan)[
                rows
            ],
            "path": column("path"),
            "via_state": via[rows],
        }
    )
    return frame, notes


def _render_control(f: pd.DataFrame, ids: pa.Array, want_a: np.ndarray, want_b: np.ndarray) -> Rendered:
    share = f["share"].to_numpy(dtype="float64")
    shown = _where(np.isnan(share), "", _join(", ", _percent(share, 1)))
    detail = _join(_arrow(f["kind"]), ", ", _arrow(f["rule"]), shown)
    via = f["via_state"].to_numpy(dtype=bool)
    chain = _arrow(f["path"])
    a, b, ctrl = f["a"].to_numpy(), f["b"].to_numpy(), f["controller"].to_numpy()
    # Each end's text is assembled for its wanted rows only: most controllers are persons, whose end has none.
    ma, mb = pa.array(want_a, pa.bool_()), pa.array(want_b, pa.bool_())
    b_id, ctrl_a, chain_a = _take(ids, b[want_a]), _take(ids, ctrl[want_a]), chain.filter(ma)
    from_a = _where(
        via[want_a],
        _join("controlled through ", b_id, " (chain ", chain_a, "; state controller ", ctrl_a, " does not group)"),
        _join("controller ", b_id, " (", detail.filter(ma), ")"),
    )
    a_id, ctrl_b, chain_b = _take(ids, a[want_b]), _take(ids, ctrl[want_b]), chain.filter(mb)
    from_b = _where(
        via[want_b],
        _join("controls ", a_id, " below state controller ", ctrl_b, " (chain ", chain_b, ")"),
        _join("actual controller of ", a_id, " (", detail.filter(mb), ")"),
    )
    return from_a, from_b


def _guarantee_ties(graph: EnterpriseGraph, as_of: date | None, threshold: float) -> tuple[pd.DataFrame, list[str]]:
    """Guarantor — borrower ties where the guarantees in force are large against the guarantor's net assets."""
    notes: list[str] = []
    act = active_guarantees(graph, as_of=as_of)
    src = act["src"].to_numpy(dtype=np.int64)
    dst = act["dst"].to_numpy(dtype=np.int64)
    amount = act["amount"].to_numpy(dtype="float64", na_value=0.0)
    ok = src != dst
    src, dst, amount = src[ok], dst[ok], amount[ok]
    n = max(graph.n_enterprises, 1)
    # Several guarantees for one borrower all fall on the guarantor together: amounts are summed per pair.
    uniq, inverse = np.unique(src * n + dst, return_inverse=True)
    total = np.bincount(inverse.ravel(), weights=amount, minlength=len(uniq))
    g, b = uniq // n, uniq % n
    net = graph.enterprises["net_assets"].to_numpy(dtype="float64", na_value=np.nan)[g]
    unknown = np.isnan(net) & (total > 0)
    if unknown.any():
        notes.append(
            f"{int(unknown.sum()):,} guarantor–borrower pairs in force were not assessed: the guarantor has no "
            "net assets in the data."
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(net > 0, total / net, np.inf)
    tie = (total > 0) & ~np.isnan(net) & ((net <= 0) | (ratio >= threshold - _EPS))
    frame = pd.DataFrame({"a": g[tie], "b": b[tie], "amount": total[tie], "net_assets": net[tie], "ratio": ratio[tie]})
    return frame, notes


def _render_guarantee(f: pd.DataFrame, ids: pa.Array, want_a: np.ndarray, want_b: np.ndarray) -> Rendered:
    amount = _formatted(f["amount"].to_numpy(), format_cny)
    net = _formatted(f["net_assets"].to_numpy(), format_cny)
    ratio = f["ratio"].to_numpy(dtype="float64")
    finite = np.isfinite(ratio)
    share = _where(finite, _join(" = ", _percent(ratio, 1), " of"), " with")
    tail = _where(finite, "", " (not positive)")
    a_id, b_id = _take(ids, f["a"].to_numpy()), _take(ids, f["b"].to_numpy())
    return _sides(
        want_a,
        want_b,
        ["guarantees ", b_id, " ", amount, share, " its net assets ", net, tail],
        ["guaranteed by ", a_id, " ", amount, share, " the guarantor's net assets ", net, tail],
    )


def _supply_ties(graph: EnterpriseGraph, threshold: float) -> tuple[pd.DataFrame, list[str]]:
    """Supplier — customer ties where one side depends on the other for half its revenue or purchases."""
    e = graph.edges("supply")
    a = e["src"].to_numpy(dtype=np.int64)
    b = e["dst"].to_numpy(dtype=np.int64)
    year = e["year"].astype("float64").to_numpy(dtype="float64", na_value=np.nan)
    # The latest year describes the dependence now; a row without a year counts as the oldest.
    order = np.lexsort((np.nan_to_num(year, nan=-1.0), b, a))
    a, b = a[order], b[order]
    last = np.r_[(a[1:] != a[:-1]) | (b[1:] != b[:-1]), True] & (a != b) if len(a) else np.zeros(0, dtype=bool)
    pick = order[last]
    rev = e["share_of_supplier_revenue"].to_numpy(dtype="float64", na_value=np.nan)[pick]
    pur = e["share_of_customer_purchases"].to_numpy(dtype="float64", na_value=np.nan)[pick]
    by_rev, by_pur = rev >= threshold - _EPS, pur >= threshold - _EPS
    tie = by_rev | by_pur
    frame = pd.DataFrame(
        {
            "a": a[last][tie],
            "b": b[last][tie],
            "year": year[pick][tie],
            "revenue": rev[tie],
            "purchases": pur[tie],
            "by_revenue": by_rev[tie],
            "by_purchases": by_pur[tie],
        }
    )
    return frame, []


def _render_supply(f: pd.DataFrame, ids: pa.Array, want_a: np.ndarray, want_b: np.ndarray) -> Rendered:
    a_id, b_id = _take(ids, f["a"].to_numpy()), _take(ids, f["b"].to_numpy())
    year = f["year"].to_numpy(dtype="float64")
    when = _where(np.isnan(year), "", _join(" in ", pc.cast(pa.array(np.nan_to_num(year).astype(np.int64)), _L)))
    rev, pur = f["by_revenue"].to_numpy(dtype=bool), f["by_purchases"].to_numpy(dtype=bool)
    rev_txt, pur_txt = _percent(f["revenue"].to_numpy(), 0), _percent(f["purchases"].to_numpy(), 0)
    both = _where(rev & pur, "; ", "")
    from_a = _join(
        _where(rev, _join("customer ", b_id, " takes ", rev_txt, " of its revenue", when), ""),
        both,
        _where(pur, _join("supplies ", pur_txt, " of customer ", b_id, "'s purchases", when), ""),
    )
    from_b = _join(
        _where(rev, _join("takes ", rev_txt, " of supplier ", a_id, "'s revenue", when), ""),
        both,
        _where(pur, _join("supplier ", a_id, " provides ", pur_txt, " of its purchases", when), ""),
    )
    return _sides(want_a, want_b, [from_a], [from_b])


def _source_column(graph: EnterpriseGraph, column: str) -> tuple[np.ndarray, pa.Array]:
    """Firms naming a source in an optional enterprises column, and the source ids."""
    ent = graph.enterprises
    if column not in ent or not len(ent):
        return np.zeros(0, dtype=np.int64), pa.array([], _L)
    values = ent[column]
    firms = np.flatnonzero(values.notna().to_numpy(dtype=bool))
    return firms.astype(np.int64), _arrow(values.iloc[firms])


def _source_frame(firms: np.ndarray, src: np.ndarray, what: str) -> tuple[pd.DataFrame, list[str]]:
    """Firm — source ties (a shared source joins its firms in one component); unknown sources are noted."""
    notes = []
    unknown = src < 0
    if unknown.any():
        # The loaders drop such ids with a warning; frames built in code may still carry them.
        notes.append(f"{int(unknown.sum()):,} {what} ids are not in the data: ignored.")
    keep = ~unknown & (src != firms)
    return pd.DataFrame({"a": firms[keep], "b": src[keep].astype(np.int64)}), notes


def _source_renderer(what: str) -> Callable[[pd.DataFrame, pa.Array, np.ndarray, np.ndarray], Rendered]:
    def render(f: pd.DataFrame, ids: pa.Array, want_a: np.ndarray, want_b: np.ndarray) -> Rendered:
        a, b = f["a"].to_numpy(), f["b"].to_numpy()
        return _join(f"{what} ", _take(ids, b[want_a])), _join(f"{what} of ", _take(ids, a[want_b]))

    return render


_RENDER: dict[str, Callable[[pd.DataFrame, pa.Array, np.ndarray, np.ndarray], Rendered]] = {
    "control": _render_control,
    "guarantee": _render_guarantee,
    "supply": _render_supply,
    "repayment_source": _source_renderer("main repayment source"),
    "funding_source": _source_renderer("main funding source"),
}


def group_ties(
    graph: EnterpriseGraph,
    controllers: pd.DataFrame | None = None,
    *,
    as_of: date | None = None,
    guarantee_net_assets: float = 0.5,
    supply_share: float = 0.5,
    group_through_state: bool = False,
) -> GroupTies:
    """Every tie between counterparties on the control and economic-interdependence bases.

    ``controllers`` is the ownership analysis's table (``company_id``, ``controller_id``, ``controller_kind``,
    ``rule``, ``control_share``, ``path``); without it the actual controllers are computed with the default
    thresholds. Guarantees count when in force on ``as_of`` (default today).

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": ["A", "B"], "name": ["甲", "乙"]}),
    ...     "supply_links": pd.DataFrame({"supplier_id": ["A"], "customer_id": ["B"],
    ...                                   "share_of_supplier_revenue": [0.7], "year": [2025]}),
    ... })
    >>> group_ties(EnterpriseGraph(t)).to_frame().values.tolist()
    [['A', 'B', 'supply', 'customer B takes 70% of its revenue in 2025']]
    """
    if controllers is None:
        controllers = actual_controllers(graph)
    ids = _node_ids(graph)
    n_ent = graph.n_enterprises
    absent = pd.Series([None] * len(controllers), index=controllers.index, dtype=object)
    company_ids = _arrow(controllers["company_id"])
    named = controllers["controller_id"].notna().to_numpy(dtype=bool)
    state = named & (controllers.get("controller_kind", absent) == "state").to_numpy(dtype=bool)
    below_ids = pc.extract_regex(_arrow(controllers.get("path", absent)[state]), _SECOND_ON_PATH).field("below")
    repay_firms, repay_ids = _source_column(graph, "main_repayment_source_id")
    fund_firms, fund_ids = _source_column(graph, "main_funding_source_id")
    # The ownership analysis lists every enterprise in node order: then its companies need no lookup.
    in_order = len(company_ids) == n_ent and bool(pc.all(pc.equal(company_ids, ids.slice(0, n_ent))).as_py())
    columns = [_arrow(controllers["controller_id"]), below_ids.cast(_L).fill_null(""), repay_ids, fund_ids]
    found = _lookup(ids, columns if in_order else [*columns, company_ids])
    company = np.arange(n_ent, dtype=np.int64) if in_order else found[4]
    parts: list[tuple[str, pd.DataFrame]] = []
    notes: list[str] = []
    for basis, (frame, said) in (
        ("control", _control_frame(controllers, company, found[0], state, found[1], group_through_state)),
        ("guarantee", _guarantee_ties(graph, as_of, guarantee_net_assets)),
        ("supply", _supply_ties(graph, supply_share)),
        ("repayment_source", _source_frame(repay_firms, found[2], "main repayment source")),
        ("funding_source", _source_frame(fund_firms, found[3], "main funding source")),
    ):
        parts.append((basis, frame))
        notes.extend(said)
    return GroupTies(graph=graph, parts=tuple(parts), notes=tuple(notes))


# ----------------------------------------------------------------------------------------------- groups


def _empty_groups() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype="float64" if c == "ead" else "str") for c in GROUP_COLUMNS})


def counterparty_groups(
    graph: EnterpriseGraph,
    controllers: pd.DataFrame | None = None,
    *,
    as_of: date | None = None,
    guarantee_net_assets: float = 0.5,
    supply_share: float = 0.5,
    group_through_state: bool = False,
    ties: GroupTies | None = None,
) -> pd.DataFrame:
    """Groups of connected counterparties: one row per member (``group_id``, ``member_id``, ``name``, ``basis``,
    ``evidence``, ``ead``).

    Groups are the connected components over every tie (see :func:`group_ties`, or pass ``ties``) holding two
    or more enterprises; persons (controllers, funding sources) connect firms but are not members. ``basis``
    joins the bases of the member's ties with ";", ``evidence`` says what tied it in. Group ids ``CG-000001`` …
    follow descending total EAD, then the smallest member id, so the same data gives the same ids.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": ["A", "B", "C"], "name": ["甲", "乙", "丙"],
    ...                                  "main_repayment_source_id": [None, "A", "A"]}),
    ... })
    >>> counterparty_groups(EnterpriseGraph(t))[["member_id", "basis", "evidence"]].values.tolist()
    [['A', 'repayment_source', 'main repayment source of B; main repayment source of C'], \
['B', 'repayment_source', 'main repayment source A'], ['C', 'repayment_source', 'main repayment source A']]
    """
    if ties is None:
        ties = group_ties(
            graph,
            controllers,
            as_of=as_of,
            guarantee_net_assets=guarantee_net_assets,
            supply_share=supply_share,
            group_through_state=group_through_state,
        )
    return _grouping(graph, ties)[0]


def _grouping(graph: EnterpriseGraph, ties: GroupTies) -> tuple[pd.DataFrame, np.ndarray]:
    """The groups table and each row's member node (so later steps need not look the ids up again)."""
    none = np.zeros(0, dtype=np.int64)
    n_ent, n = graph.n_enterprises, graph.n_nodes
    a, b, code = ties.pairs()
    if n_ent == 0 or len(a) == 0:
        return _empty_groups(), none
    adj = sp.coo_array((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    _, labels = csgraph.connected_components(adj, directed=False)
    ent_labels = labels[:n_ent]
    firms = np.bincount(ent_labels, minlength=int(labels.max()) + 1)
    grouped = firms >= 2
    members = np.flatnonzero(grouped[ent_labels])
    if not len(members):
        return _empty_groups(), none
    ead = graph.ead[:n_ent]
    comp = ent_labels[members]
    comps, first = np.unique(comp, return_index=True)  # members ascend, so `first` is the smallest member
    total = np.bincount(comp, weights=ead[members], minlength=len(firms))[comps]
    order = np.lexsort((members[first], -total))
    number_of_comp = np.zeros(len(firms), dtype=np.int64)
    number_of_comp[comps[order]] = np.arange(1, len(comps) + 1)

    # Output order: by group number, then member id (node order); the evidence is built in that order.
    member = members[np.lexsort((members, number_of_comp[comp]))]
    grp = number_of_comp[ent_labels[member]]
    place = np.zeros(n_ent, dtype=np.int64)
    place[member] = np.arange(len(member))

    # Evidence per member: its ties inside its group, by basis and the other end, at most a few spelled out;
    # persons tie firms together but are not members, so their ends get no text.
    ids = _node_ids(graph)
    in_group = grouped[labels[a]]
    keep_a, keep_b = in_group & (a < n_ent), in_group & (b < n_ent)
    text = pa.concat_arrays(list(ties.evidence(keep_a, keep_b, ids)))
    node = np.concatenate([a[keep_a], b[keep_b]])
    other = np.concatenate([b[keep_a], a[keep_b]])
    codes = np.concatenate([code[keep_a], code[keep_b]])
    # One integer key (member's place, basis, other end) sorts faster than a three-key lexsort.
    srt = np.argsort((place[node] * len(BASES) + codes) * n + other, kind="stable")
    node, codes = node[srt], codes[srt]
    starts = np.flatnonzero(np.r_[True, node[1:] != node[:-1]])  # one run per member, in output order
    counts = np.diff(np.r_[starts, len(node)])
    rank = np.arange(len(node)) - np.repeat(starts, counts)
    mask = np.bitwise_or.reduceat(np.left_shift(1, codes), starts)
    shown = rank < _EVIDENCE_ITEMS
    offsets = pa.array(np.r_[0, np.cumsum(np.minimum(counts, _EVIDENCE_ITEMS))].astype(np.int64))
    lists = pa.LargeListArray.from_arrays(offsets, _take(text, srt[shown]))
    evidence = pc.binary_join(lists, _s("; "))
    extra = counts - _EVIDENCE_ITEMS
    if (extra > 0).any():
        count_text = pc.cast(pa.array(np.maximum(extra, 0)), _L)
        evidence = _join(evidence, _where(extra > 0, _join("; … and ", count_text, " more ties"), ""))
    basis_text = pa.array([";".join(x for i, x in enumerate(BASES) if m >> i & 1) for m in range(1 << len(BASES))], _L)
    group_id = _join("CG-", pc.utf8_lpad(pc.cast(pa.array(grp), _L), 6, "0"))
    frame = pd.DataFrame(
        {
            "group_id": pd.Series(group_id, dtype="str"),
            "member_id": pd.Series(_take(ids, member), dtype="str"),
            "name": pd.Series(_take(_arrow(graph.nodes["name"]), member), dtype="str"),
            "basis": pd.Series(_take(basis_text, mask), dtype="str"),
            "evidence": pd.Series(evidence, dtype="str"),
            "ead": ead[member],
        }
    )
    return frame, member


# ----------------------------------------------------------------------------------------------- exposures


_STATUS = ("within", "near_breach", "breach")


def _status(ratio: np.ndarray, limit: float, near: float) -> np.ndarray:
    """Per row: 2 above the limit (breach), 1 from ``near`` × limit (near-breach), 0 within."""
    with np.errstate(invalid="ignore"):
        return np.where(ratio > limit + _EPS, 2, np.where(ratio >= near * limit - _EPS, 1, 0)).astype(np.int64)


def _applicability(kind: pd.Series, group_id: pd.Series, applies_to: str) -> np.ndarray:
    is_group = (kind == "group").to_numpy(dtype=bool)
    is_single = (kind == "single").to_numpy(dtype=bool)
    if applies_to == "group":
        return is_group
    if applies_to == "single":
        return is_single
    return is_group | (is_single & group_id.isna().to_numpy(dtype=bool))


def _empty_exposures() -> pd.DataFrame:
    types = {
        "members": "int64",
        "ead": "float64",
        "ratio_to_tier1": "float64",
        "large_exposure": "boolean",
        "limit_use": "float64",
    }
    return pd.DataFrame({c: pd.Series([], dtype=types.get(c, "str")) for c in EXPOSURE_COLUMNS})


def large_exposures(
    groups: pd.DataFrame,
    graph: EnterpriseGraph,
    tier1_capital: float,
    *,
    large_exposure: float = 0.10,
    limits: dict[str, float] | None = None,
    near_breach: float = 0.9,
    member_nodes: np.ndarray | None = None,
) -> pd.DataFrame:
    """The bank's exposures against Tier 1 capital: every group with an exposure and every client.

    One row per group (``kind`` group, EAD summed over members) and per bank client (``kind`` single, with
    ``group_id`` when it is a member). ``limits`` overrides the limit values by threshold name
    (``lex_basel_limit``, ``cbirc_single_limit``, ``cbirc_group_limit``). Basel's limit applies to groups and to
    clients in no group; the CBIRC single-client limit to every client; the CBIRC group limit to groups.
    ``limits`` lists each applicable limit with its status; ``limit_use`` is the largest ratio / limit;
    ``limit_status`` the worst status. With ``tier1_capital`` ≤ 0 (not configured) ratios are empty and the
    status is ``not_assessed``. Rows run by descending EAD (groups first on equal EAD, then by id).
    ``member_nodes`` (the graph node of each ``groups`` row) spares looking the member ids up again.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({"enterprises": pd.DataFrame({"id": ["A"], "name": ["甲"]}),
    ...                         "exposures": pd.DataFrame({"borrower_id": ["A"], "ead": [30.0]})})
    >>> row = large_exposures(counterparty_groups(EnterpriseGraph(t)), EnterpriseGraph(t), 100.0).iloc[0]
    >>> row["kind"], row["large_exposure"], row["limit_status"], row["limits"]
    ('single', np.True_, 'breach', 'lex_basel_limit 25%: breach; cbirc_single_limit 15%: breach')
    """
    n_ent = graph.n_enterprises
    ead_all = graph.ead[:n_ent]
    ids = _node_ids(graph)
    names = _arrow(graph.nodes["name"])
    group_code = np.full(n_ent, -1, dtype=np.int64)
    uniques = pa.array([], _L)
    parts: list[dict[str, Any]] = []
    if len(groups):
        pos = graph.index_of(groups["member_id"]) if member_nodes is None else np.asarray(member_nodes)
        codes, uniques = _group_codes(groups["group_id"])
        group_code[pos] = codes
        ead_m = ead_all[pos]
        total = np.bincount(codes, weights=ead_m, minlength=len(uniques))
        size = np.bincount(codes, minlength=len(uniques))
        by_lead = np.lexsort((pos, -ead_m, codes))
        lead = pos[by_lead][np.r_[True, codes[by_lead][1:] != codes[by_lead][:-1]]]
        has = np.flatnonzero(total > 0)
        parts.append(
            {
                "counterparty_id": _take(uniques, has),
                "kind": "group",
                "name": _join(_take(names, lead[has]), "等", pc.cast(pa.array(size[has]), _L), "户"),
                "members": size[has],
                "group_id": _take(uniques, has),
                "ead": total[has],
                "_key": has,
            }
        )
    clients = np.flatnonzero(ead_all > 0)
    in_group = group_code[clients]
    parts.append(
        {
            "counterparty_id": _take(ids, clients),
            "kind": "single",
            "name": _take(names, clients),
            "members": np.ones(len(clients), dtype=np.int64),
            "group_id": uniques.take(pa.array(np.maximum(in_group, 0), mask=in_group < 0))
            if len(uniques)
            else pa.nulls(len(clients), _L),
            "ead": ead_all[clients],
            "_key": clients,
        }
    )
    rows = sum(len(p["ead"]) for p in parts)
    if not rows:
        return _empty_exposures()
    ead = np.concatenate([p["ead"] for p in parts])
    single = np.concatenate([np.full(len(p["ead"]), p["kind"] == "single") for p in parts])
    # Ids sort as group numbers (groups) and node ids (firms, whose nodes are in id order): numeric keys suffice.
    order = np.lexsort((np.concatenate([p["_key"] for p in parts]), single, -ead))
    take = pa.array(order)

    def column(key: str) -> pa.Array:
        return pa.concat_arrays([p[key].cast(_L) for p in parts]).take(take)

    kind = np.where(single, "single", "group")[order]
    frame = pd.DataFrame(
        {
            "counterparty_id": pd.Series(column("counterparty_id"), dtype="str"),
            "kind": pd.Series(kind, dtype="str"),
            "name": pd.Series(column("name"), dtype="str"),
            "members": np.concatenate([p["members"] for p in parts])[order].astype(np.int64),
            "group_id": pd.Series(column("group_id"), dtype="str"),
            "ead": ead[order],
        }
    )
    assessed = tier1_capital > 0
    ratio = frame["ead"].to_numpy(dtype="float64") / tier1_capital if assessed else np.full(len(frame), np.nan)
    text = pa.array([""] * len(frame), _L)
    use = np.full(len(frame), np.nan)
    worst = np.zeros(len(frame), dtype=np.int64)
    for lim in _limits(limits):
        applies = _applicability(frame["kind"], frame["group_id"], lim.applies_to)
        label = f"{lim.name} {format_share(lim.value)}"
        if assessed:
            status = _status(ratio, lim.value, near_breach)
            part = _join(label + ": ", _take(pa.array(_STATUS, _L), status))
            use = np.where(applies, np.fmax(use, ratio / lim.value), use)
            worst = np.maximum(worst, np.where(applies, status, 0))
        else:
            part = pa.array(np.full(len(frame), label, dtype=object), _L)
        part = _where(applies, part, "")
        sep = _where((pc.utf8_length(text).to_numpy() > 0) & applies, "; ", "")
        text = _join(text, sep, part)
    frame["ratio_to_tier1"] = np.round(ratio, 12)
    frame["large_exposure"] = pd.array(
        ratio >= large_exposure - _EPS if assessed else np.full(len(frame), pd.NA), dtype="boolean"
    )
    frame["limits"] = pd.Series(text, dtype="str")
    frame["limit_use"] = np.round(use, 12)
    frame["limit_status"] = pd.Series(
        np.array(_STATUS, dtype=object)[worst] if assessed else np.full(len(frame), "not_assessed", dtype=object),
        dtype="str",
    )
    return frame[list(EXPOSURE_COLUMNS)]


def _kind_words(kind: str, members: int, group_id: Any) -> str:
    if kind == "group":
        return f"group of {members} connected counterparties"
    if isinstance(group_id, str):
        return f"single client (member of {group_id})"
    return "single client"


def limit_breaches(
    exposures: pd.DataFrame,
    tier1_capital: float,
    *,
    limits: dict[str, float] | None = None,
    near_breach: float = 0.9,
) -> pd.DataFrame:
    """Breaches and near-breaches of each applicable limit (one row per counterparty and limit).

    ``status`` is ``breach`` above the limit and ``near_breach`` from ``near_breach`` × limit; the reason states
    the ratio, the limit, its source and the near-breach threshold. Empty when Tier 1 is not configured.

    >>> import pandas as pd
    >>> e = pd.DataFrame({"counterparty_id": ["CG-000001"], "kind": ["group"], "members": [2],
    ...                   "group_id": ["CG-000001"], "ead": [21.0], "ratio_to_tier1": [0.21]})
    >>> limit_breaches(e, 100.0)[["limit_name", "status"]].values.tolist()
    [['cbirc_group_limit', 'breach']]
    """
    if tier1_capital <= 0 or not len(exposures):
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in BREACH_COLUMNS}).astype(
            {"limit": "float64", "ratio": "float64", "ead": "float64"}
        )
    ratio = exposures["ratio_to_tier1"].to_numpy(dtype="float64")
    parts: list[pd.DataFrame] = []
    for lim in _limits(limits):
        applies = _applicability(exposures["kind"], exposures["group_id"], lim.applies_to)
        status = np.array(_STATUS, dtype=object)[_status(ratio, lim.value, near_breach)]
        hit = applies & (status != "within")
        if not hit.any():
            continue
        sub = exposures[hit]
        reasons = []
        for r, st in zip(sub.to_dict("records"), status[hit], strict=True):
            ratio_r = float(r["ratio_to_tier1"])
            head = (
                f"{_kind_words(str(r['kind']), int(r['members']), r['group_id'])} {r['counterparty_id']}: exposure "
                f"{format_cny(float(r['ead']))} is {ratio_r:.1%} of Tier 1 capital {format_cny(tier1_capital)}"
            )
            if st == "breach":
                reasons.append(f"{head}, above the {format_share(lim.value)} limit {lim.name} ({lim.source})")
            else:
                reasons.append(
                    f"{head}, {ratio_r / lim.value:.0%} of the {format_share(lim.value)} limit {lim.name} "
                    f"({lim.source}); near-breach from {format_share(near_breach)} of a limit (lex_near_breach)"
                )
        parts.append(
            pd.DataFrame(
                {
                    "counterparty_id": sub["counterparty_id"].to_numpy(dtype=object),
                    "kind": sub["kind"].to_numpy(dtype=object),
                    "limit_name": lim.name,
                    "limit": lim.value,
                    "ratio": sub["ratio_to_tier1"].to_numpy(dtype="float64"),
                    "ead": sub["ead"].to_numpy(dtype="float64"),
                    "status": status[hit],
                    "source": lim.source,
                    "reason": reasons,
                }
            )
        )
    if not parts:
        return limit_breaches(exposures.iloc[:0], 0.0)
    out = pd.concat(parts, ignore_index=True)
    out = out.assign(_s=(out["status"] != "breach").astype(int))
    out = out.sort_values(["_s", "ratio", "counterparty_id", "limit_name"], ascending=[True, False, True, True])
    return out.drop(columns="_s").reset_index(drop=True)[list(BREACH_COLUMNS)]


def screening_list(
    exposures: pd.DataFrame, groups: pd.DataFrame, tier1_capital: float, *, screening: float = 0.05
) -> pd.DataFrame:
    """Clients whose own exposure exceeds ``screening`` of Tier 1: their interdependence must be assessed.

    ``in_group`` says whether the data already ties the client to others (and ``basis`` how); the others need
    an assessment beyond the data. Empty when Tier 1 is not configured.

    >>> import pandas as pd
    >>> e = pd.DataFrame({"counterparty_id": ["A"], "kind": ["single"], "name": ["甲"], "group_id": [None],
    ...                   "ead": [6.0], "ratio_to_tier1": [0.06]})
    >>> screening_list(e, pd.DataFrame(columns=["member_id", "basis"]), 100.0)[["firm_id", "in_group"]].values.tolist()
    [['A', False]]
    """
    if tier1_capital <= 0 or not len(exposures):
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in SCREENING_COLUMNS}).astype(
            {"ead": "float64", "ratio_to_tier1": "float64", "in_group": "bool"}
        )
    single = exposures[(exposures["kind"] == "single") & (exposures["ratio_to_tier1"] > screening + _EPS)]
    single = single.reset_index(drop=True)
    in_group = single["group_id"].notna().to_numpy(dtype=bool)
    basis = pd.Series("", index=single.index, dtype="str")
    if len(groups) and in_group.any():
        at = _positions(single["counterparty_id"], groups["member_id"])
        found = at >= 0
        basis[found] = groups["basis"].to_numpy(dtype=object)[at[found]]
    gid = single["group_id"].fillna("")
    assessment = np.where(
        in_group,
        "in group " + gid + " (" + basis + "); check for further ties",
        "in no group on the data: assess economic interdependence (Basel LEX10)",
    )
    return pd.DataFrame(
        {
            "firm_id": single["counterparty_id"],
            "name": single["name"],
            "ead": single["ead"].to_numpy(dtype="float64"),
            "ratio_to_tier1": single["ratio_to_tier1"].to_numpy(dtype="float64"),
            "group_id": single["group_id"],
            "in_group": in_group,
            "basis": basis,
            "assessment": pd.Series(assessment, dtype="str"),
        }
    )


def limit_flags(
    exposures: pd.DataFrame,
    breaches: pd.DataFrame,
    groups: pd.DataFrame,
    tier1_capital: float,
    *,
    large_exposure: float = 0.10,
) -> pd.DataFrame:
    """Flags: ``limit_breach`` (high), ``limit_near_breach`` (medium) and ``large_exposure`` (low), one per
    counterparty (the worst), entity_id the group id or the firm id. Evidence lists members and amounts.

    A large exposure with a limit flag gets no separate large-exposure flag; group members are flagged only for
    the single-client limit (their large exposure is the group's).

    >>> import pandas as pd
    >>> e = pd.DataFrame({"counterparty_id": ["A"], "kind": ["single"], "name": ["甲"], "members": [1],
    ...                   "group_id": [None], "ead": [12.0], "ratio_to_tier1": [0.12], "large_exposure": [True],
    ...                   "limits": [""], "limit_status": ["within"]})
    >>> limit_flags(e, limit_breaches(e, 100.0), pd.DataFrame(columns=["group_id"]), 100.0)["flag"].tolist()
    ['large_exposure']
    """
    if tier1_capital <= 0 or not len(exposures):
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in FLAG_COLUMNS})
    flagged: dict[str, tuple[str, str, list[str]]] = {}
    for cid, rows in breaches.groupby("counterparty_id", sort=True):
        breach = rows[rows["status"] == "breach"]
        picked = breach if len(breach) else rows
        flag, severity = ("limit_breach", "high") if len(breach) else ("limit_near_breach", "medium")
        flagged[str(cid)] = (flag, severity, picked["reason"].tolist())
    large = exposures["large_exposure"].fillna(False).to_numpy(dtype=bool) & (
        (exposures["kind"] == "group") | exposures["group_id"].isna()
    ).to_numpy(dtype=bool)
    for r in exposures[large].to_dict("records"):
        if str(r["counterparty_id"]) in flagged:
            continue
        reason = (
            f"{_kind_words(str(r['kind']), int(r['members']), r['group_id'])} {r['counterparty_id']}: exposure "
            f"{format_cny(float(r['ead']))} is {float(r['ratio_to_tier1']):.1%} of Tier 1 capital "
            f"{format_cny(tier1_capital)}, a large exposure (≥ {format_share(large_exposure)}, lex_large_exposure; "
            "Basel LEX10.8, reported under LEX20.4)"
        )
        flagged[str(r["counterparty_id"])] = ("large_exposure", "low", [reason])
    if not flagged:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in FLAG_COLUMNS})
    records = {
        str(r["counterparty_id"]): r
        for r in exposures[exposures["counterparty_id"].isin(list(flagged))].to_dict("records")
    }
    # Members of flagged groups by EAD (then id: the table lists members in id order), with one sort.
    slices: dict[str, tuple[np.ndarray, int]] = {}
    if any(records[k]["kind"] == "group" for k in flagged) and len(groups):
        codes, found = _group_codes(groups["group_id"])
        by_ead = np.lexsort((np.arange(len(groups)), -groups["ead"].to_numpy(dtype="float64"), codes))
        bounds = np.searchsorted(codes[by_ead], np.arange(len(found) + 1))
        for k, gid in enumerate(found.to_pylist()):
            if gid in flagged:
                slices[gid] = (
                    by_ead[bounds[k] : min(bounds[k + 1], bounds[k] + _FLAG_MEMBERS)],
                    int(bounds[k + 1] - bounds[k]),
                )
    out = []
    for cid, (flag, severity, reasons) in flagged.items():
        r = records[cid]
        if r["kind"] == "group" and cid in slices:
            top, total_members = slices[cid]
            listed = [
                {"id": str(x["member_id"]), "name": str(x["name"]), "ead": float(x["ead"]), "basis": str(x["basis"])}
                for x in groups.iloc[top].to_dict("records")
            ]
        else:
            listed = [{"id": cid, "name": str(r["name"]), "ead": float(r["ead"])}]
            total_members = 1
        evidence = {
            "kind": str(r["kind"]),
            "group_id": r["group_id"] if isinstance(r["group_id"], str) else None,
            "ead": float(r["ead"]),
            "tier1_capital": float(tier1_capital),
            "ratio_to_tier1": float(r["ratio_to_tier1"]),
            "limits": str(r["limits"]),
            "members_total": total_members,
            "members": listed,
        }
        out.append(
            {
                "entity_id": cid,
                "flag": flag,
                "severity": severity,
                "reason": "; ".join(reasons),
                "evidence": json.dumps(evidence, ensure_ascii=False),
            }
        )
    return pd.DataFrame(out, columns=list(FLAG_COLUMNS))


def writeback_rows(groups: pd.DataFrame, exposures: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for ``cypher/writeback/counterparty_groups.cypher``: one per member, with its group's figures.

    >>> g = pd.DataFrame({"group_id": ["CG-000001"] * 2, "member_id": ["A", "B"], "name": ["甲", "乙"],
    ...                   "basis": ["control"] * 2, "evidence": ["controller P", "controller P"], "ead": [1.0, 0.0]})
    >>> writeback_rows(g, pd.DataFrame(columns=list(EXPOSURE_COLUMNS)))[0]["members"]
    2
    """
    if not len(groups):
        return []
    codes, found = _group_codes(groups["group_id"])
    size = np.bincount(codes, minlength=len(found))
    total = np.bincount(codes, weights=groups["ead"].to_numpy(dtype="float64"), minlength=len(found))
    ex = exposures[exposures["kind"] == "group"]
    at = _positions(pd.Series(found, dtype="str"), ex["counterparty_id"])
    has = at >= 0
    pick = np.where(has, at, len(ex))  # one past the end: the padding value below
    ratio = np.r_[ex["ratio_to_tier1"].to_numpy(dtype="float64", na_value=np.nan), np.nan][pick]
    status = np.r_[ex["limit_status"].to_numpy(dtype=object), None][pick]
    large = np.r_[ex["large_exposure"].astype(object).where(ex["large_exposure"].notna(), None).to_numpy(), None][pick]
    # Per group once, then per member by code: plain Python values (Neo4j takes None, never NaN).
    per_group = [
        (
            float(total[k]),
            int(size[k]),
            float(ratio[k]) if has[k] and ratio[k] == ratio[k] else None,
            str(status[k]) if has[k] else None,  # a group without a bank exposure is not a counterparty
            bool(large[k]) if has[k] and large[k] is not None else None,
        )
        for k in range(len(found))
    ]
    columns = [_arrow(groups[c]).to_pylist() for c in ("group_id", "member_id", "basis", "evidence")]
    # A million small dicts: the cyclic garbage collector would rescan them all as they are made, and they
    # hold no cycles, so it is paused while they are built.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _member_rows(columns, [per_group[k] for k in codes.tolist()])
    finally:
        if paused:
            gc.enable()


def _member_rows(columns: list[list[Any]], figures: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [
        {
            "group_id": g,
            "member_id": m,
            "basis": b,
            "evidence": e,
            "ead": f[0],
            "members": f[1],
            "ratio_to_tier1": f[2],
            "limit_status": f[3],
            "large_exposure": f[4],
        }
        for g, m, b, e, f in zip(*columns, figures, strict=True)
    ]


# ----------------------------------------------------------------------------------------------- the scan


def _display(frame: pd.DataFrame, money: tuple[str, ...], shares: tuple[str, ...]) -> pd.DataFrame:
    """A copy for the report: amounts in 万/亿, shares in %."""
    out = frame.copy()
    for c in money:
        out[c] = [format_cny(float(v)) for v in out[c]]
    for c in shares:
        out[c] = [format_share(None if pd.isna(v) else float(v)) for v in out[c]]
    return out


@register(
    "counterparty_groups",
    title="Connected counterparties and large exposures (关联客户 · 大额风险暴露)",
    order=60,  # after ownership (its controllers) and guarantees; groups are the bank's unit of concentration
    description="Groups of connected counterparties on control and economic interdependence (guarantees, supply "
    "dependence, common repayment or funding source), their exposure against Tier 1 capital, Basel and CBIRC "
    "limit breaches and the 5 % screening list.",
)
def counterparty_groups_analysis(graph: EnterpriseGraph, context: AnalysisContext) -> AnalysisResult:
    th = context.config.threshold
    ownership = context.results.get("ownership")
    if ownership is not None and "controllers" in ownership.tables:
        controllers = ownership.tables["controllers"]
    else:
        controllers = actual_controllers(
            graph,
            control_share=th("control_share"),
            relative_share=th("relative_control_share"),
            relative_lead=th("relative_control_lead"),
        )
    ties = group_ties(
        graph,
        controllers,
        as_of=context.as_of,
        guarantee_net_assets=th("lex_guarantee_net_assets"),
        supply_share=th("lex_supply_share"),
        group_through_state=th("lex_group_through_state") >= 0.5,
    )
    groups, member_nodes = _grouping(graph, ties)
    tier1 = th("tier1_capital")
    large = th("lex_large_exposure")
    near = th("lex_near_breach")
    screening = th("lex_screening")
    limit_values = {name: th(name) for name, _, _ in LIMITS}
    exposures = large_exposures(
        groups, graph, tier1, large_exposure=large, limits=limit_values, near_breach=near, member_nodes=member_nodes
    )
    breaches = limit_breaches(exposures, tier1, limits=limit_values, near_breach=near)
    screen = screening_list(exposures, groups, tier1, screening=screening)
    flags = limit_flags(exposures, breaches, groups, tier1, large_exposure=large)
    assessed = tier1 > 0
    sizes = np.bincount(_group_codes(groups["group_id"])[0]) if len(groups) else np.zeros(0, dtype=np.int64)
    n_groups = len(sizes)
    counterparty = (exposures["kind"] == "group") | exposures["group_id"].isna()
    bases = {b: int(groups["basis"].str.contains(b, regex=False).sum()) for b in BASES}
    flag_counts = flags["flag"].value_counts() if len(flags) else pd.Series(dtype=np.int64)
    notes = list(ties.notes)
    if not assessed:
        notes.insert(
            0,
            "Tier 1 capital is not configured (threshold tier1_capital = 0): groups are formed, but no ratio, "
            "large exposure, limit check or screening list is computed. Set tier1_capital (CNY) under "
            "[thresholds] in graphrisk.toml.",
        )
    notes.append(
        "Every client is taken as non-interbank (the data does not mark banks): the CBIRC interbank limit and the "
        "exempt counterparties (central government, PBOC) are not applied; exposure is the EAD of exposures.csv, "
        "before credit-risk mitigation."
    )
    summary: dict[str, Any] = {
        "as_of": context.as_of.isoformat(),
        "tier1_capital": float(tier1) if assessed else None,
        "tier1_configured": bool(assessed),
        "groups": n_groups,
        "firms_in_groups": len(groups),
        "largest_group": int(sizes.max()) if len(sizes) else 0,
        "ties": ties.counts(),
        "members_by_basis": bases,
        "ead_in_groups": float(groups["ead"].sum()) if len(groups) else 0.0,
        "counterparties": int(counterparty.sum()),
        "groups_with_exposure": int((exposures["kind"] == "group").sum()),
        "large_exposures": int((exposures["large_exposure"].fillna(False) & counterparty).sum()) if assessed else None,
        # Counterparties (groups or clients) over a limit, and near one only (the report's executive summary).
        "breaches": int(flag_counts.get("limit_breach", 0)),
        "near_breaches": int(flag_counts.get("limit_near_breach", 0)),
        "screening": len(screen),
        "screening_not_in_group": int((~screen["in_group"]).sum()) if len(screen) else 0,
        "notes": notes,
    }
    top = exposures[counterparty.to_numpy(dtype=bool)].head(20)
    shown = _display(
        top[["counterparty_id", "kind", "name", "members", "ead", "ratio_to_tier1", "limit_status"]],
        ("ead",),
        ("ratio_to_tier1",),
    )
    paragraphs = [
        f"{n_groups:,} groups of connected counterparties with {len(groups):,} firms (largest "
        f"{summary['largest_group']:,}), from {sum(summary['ties'].values()):,} ties: "
        + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in summary["ties"].items())
        + f". Guarantees in force on {context.as_of.isoformat()} tie when at least "
        f"{format_share(th('lex_guarantee_net_assets'))} of the guarantor's net assets; supply links when one side "
        f"depends on the other for at least {format_share(th('lex_supply_share'))} of revenue or purchases.",
    ]
    if assessed:
        paragraphs.append(
            f"Against Tier 1 capital of {format_cny(tier1)}: {summary['large_exposures']:,} large exposures "
            f"(≥ {format_share(large)}), {summary['breaches']:,} counterparties over a limit and "
            f"{summary['near_breaches']:,} near one (≥ {format_share(near)} of it). Limits: Basel "
            f"{format_share(limit_values['lex_basel_limit'])} (LEX20.1); CBIRC single non-interbank client "
            f"{format_share(limit_values['cbirc_single_limit'])} (Art. 7) and group of connected clients "
            f"{format_share(limit_values['cbirc_group_limit'])} (Art. 8). {len(screen):,} clients exceed "
            f"{format_share(screening)} of Tier 1, {summary['screening_not_in_group']:,} of them in no group: their "
            "economic interdependence must be assessed."
        )
    paragraphs.extend(notes)
    figures: list[tuple[str, str]] = [
        ("Groups", f"{n_groups:,}"),
        ("Firms in groups", f"{len(groups):,}"),
        ("EAD in groups", format_cny(summary["ead_in_groups"])),
    ]
    tables: list[tuple[str, pd.DataFrame]] = [("Largest exposures", shown)]
    if assessed:
        figures += [
            ("Tier 1 capital", format_cny(tier1)),
            ("Large exposures", f"{summary['large_exposures']:,}"),
            ("Limit breaches", f"{summary['breaches']:,}"),
            ("Near-breaches", f"{summary['near_breaches']:,}"),
        ]
        tables += [
            (
                "Limit breaches and near-breaches",
                _display(
                    breaches.head(20)[["counterparty_id", "kind", "limit_name", "limit", "ratio", "status"]],
                    (),
                    ("limit", "ratio"),
                ),
            ),
            (
                f"Screening list (> {format_share(screening)} of Tier 1)",
                _display(
                    screen.head(20)[["firm_id", "name", "ead", "ratio_to_tier1", "group_id", "assessment"]],
                    ("ead",),
                    ("ratio_to_tier1",),
                ),
            ),
        ]
    section = ReportSection(
        title="Connected counterparties and large exposures (关联客户 · 大额风险暴露)",
        paragraphs=tuple(paragraphs),
        figures=tuple(figures),
        tables=tuple(tables),
    )
    return AnalysisResult(
        name="counterparty_groups",
        tables={
            "groups": groups,
            "group_exposures": exposures,
            "limit_breaches": breaches,
            "lex_screening": screen,
        },
        flags=flags,
        summary=summary,
        section=section,
        writeback=(
            ("writeback/counterparty_groups.cypher", LazyRows(lambda: writeback_rows(groups, exposures))),
            # Groups and memberships of earlier runs are removed: Neo4j holds this run's groups only.
            ("writeback/counterparty_groups_stale.cypher", [{"run": True}]),
        ),
    )
