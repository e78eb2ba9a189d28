"""Hidden associations (疑似关联): firms tied by shared people, contact details, controllers or look-alike names.

Every shared attribute is a *signal* with a declared weight. An attribute many entities share (a registered-agent
address, an incubator, a call-centre number) says little, so its weight falls with the number of entities that
share it and is zero above ``hidden_links_exclusivity_cap``; the cap is applied *before* pairs are formed, so a
hub never costs quadratic time. Per pair the evidence combines as a noisy-OR, ``1 − Π(1 − w)``, and every
contributing signal is kept as a reason. Pairs at or above ``hidden_links_threshold`` are suspected links;
connected sets of them are suspected related groups.

Persons with equal names (同名同姓) are never merged on the name: :func:`same_name_candidates` judges each pair
``same``, ``distinct`` or ``unsure`` from pseudonymised ID numbers, phones, addresses and shared firms, and only
``same`` pairs are treated as one person by the shared-people signals.

>>> import pandas as pd
>>> from graphrisk.tables import Tables
>>> t = Tables.from_frames({
...     "enterprises": pd.DataFrame({"id": ["A", "B", "C"], "name": ["甲公司", "乙公司", "丙公司"],
...                                  "phone": ["0571-88888888", "+86 571 8888 8888", None]}),
... })
>>> links = suspected_links(EnterpriseGraph(t))
>>> links[["a_id", "b_id", "score"]].values.tolist()
[['A', 'B', 0.8]]
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
from rapidfuzz import fuzz

from graphrisk.analysis import AnalysisContext, AnalysisResult, LazyRows, ReportSection, empty_flags, register
from graphrisk.config import Config, Threshold, declare_thresholds
from graphrisk.graph import EnterpriseGraph

__all__ = [
    "SIGNALS",
    "HiddenLinks",
    "address_parts",
    "exclusivity",
    "hidden_links",
    "name_core",
    "noisy_or",
    "normalize_address",
    "normalize_email",
    "normalize_phone",
    "related_transactions",
    "same_name_candidates",
    "same_name_verdict",
    "shared_value_pairs",
    "suspected_groups",
    "suspected_links",
    "website_domain",
]

_SOURCE = "graphrisk convention (issue 6); tune to the portfolio"

# Signal name → (threshold holding its weight, words for a reason).
SIGNALS: dict[str, tuple[str, str]] = {
    "legal_representative": ("hidden_links_w_legal_representative", "same legal representative"),
    "finance_head": ("hidden_links_w_finance_head", "same finance head"),
    "officer": ("hidden_links_w_officer", "same director/supervisor/manager"),
    "shareholder": ("hidden_links_w_shareholder", "same person holds shares in both"),
    "address": ("hidden_links_w_address", "same registered address"),
    "phone": ("hidden_links_w_phone", "same phone"),
    "email": ("hidden_links_w_email", "same email"),
    "domain": ("hidden_links_w_domain", "same email/website domain"),
    "controller": ("hidden_links_w_controller", "same actual controller"),
    "name": ("hidden_links_w_name", "names differ only in wording"),
}

declare_thresholds(
    Threshold("hidden_links_threshold", 0.5, "A pair whose noisy-OR score reaches this is a suspected link.", _SOURCE),
    Threshold(
        "hidden_links_exclusivity_cap",
        10.0,
        "An attribute shared by more entities than this (agent address, call centre) is no evidence at all.",
        _SOURCE,
    ),
    Threshold(
        "hidden_links_controller_cap",
        50.0,
        "Firms under one actual controller are paired as siblings only when the controller has at most this many.",
        _SOURCE,
    ),
    Threshold(
        "hidden_links_revoked_factor",
        0.7,
        "Weight multiplier when either firm's licence is revoked (吊销): it still exists, with its people.",
        _SOURCE,
    ),
    Threshold(
        "hidden_links_deregistered_factor",
        0.3,
        "Weight multiplier when either firm is deregistered (注销): its address or phone may have passed on.",
        _SOURCE,
    ),
    Threshold("hidden_links_w_legal_representative", 0.9, "Weight of a shared legal representative.", _SOURCE),
    Threshold("hidden_links_w_finance_head", 0.85, "Weight of a shared finance head.", _SOURCE),
    Threshold("hidden_links_w_officer", 0.4, "Weight of a shared director, supervisor or manager.", _SOURCE),
    Threshold("hidden_links_w_shareholder", 0.4, "Weight of a person holding shares in both firms.", _SOURCE),
    Threshold("hidden_links_w_address", 0.75, "Weight of a shared normalised registered address.", _SOURCE),
    Threshold("hidden_links_w_phone", 0.8, "Weight of a shared normalised phone number.", _SOURCE),
    Threshold("hidden_links_w_email", 0.85, "Weight of a shared email address.", _SOURCE),
    Threshold("hidden_links_w_domain", 0.6, "Weight of a shared company email or website domain.", _SOURCE),
    Threshold("hidden_links_w_controller", 0.9, "Weight of one actual controller over both firms.", _SOURCE),
    Threshold(
        "hidden_links_w_name", 0.35, "Weight of names equal after stripping region, legal form and trade.", _SOURCE
    ),
    Threshold("same_person_same", 0.8, "Same-name persons scoring at least this are judged the same person.", _SOURCE),
    Threshold(
        "same_person_distinct",
        0.3,
        "Same-name persons scoring below this, with contrary evidence (different ID, phone and address), are distinct.",
        _SOURCE,
    ),
)

_REVOKED = frozenset({"吊销", "revoked", "吊销未注销", "已吊销"})
_DEREGISTERED = frozenset({"注销", "deregistered", "已注销"})
_FREE_MAIL = frozenset(
    {"qq.com", "163.com", "126.com", "139.com", "sina.com", "sina.cn", "sohu.com", "gmail.com", "hotmail.com",
     "outlook.com", "foxmail.com", "aliyun.com", "yeah.net", "yahoo.com", "189.cn", "vip.qq.com", "vip.163.com"}
)  # fmt: skip

# --------------------------------------------------------------------------------------------- normalisers

# Municipalities and autonomous regions are provinces themselves; a small table suffices because the parser
# only needs to find where province, city and district end, not to validate them.
_MUNICIPALITIES = ("北京", "上海", "天津", "重庆")
_PROVINCE_RE = re.compile(r"^(?P<prov>[^省市区县]{2,7}?(?:省|自治区|特别行政区)|(?:北京|上海|天津|重庆)市?)")
_CITY_RE = re.compile(r"^(?P<city>[^省市区县路街道号]{2,8}?(?:市|自治州|地区|盟))")
_DISTRICT_RE = re.compile(r"^(?P<dist>[^省市区县路街道号]{1,8}?(?:区|县|旗|市))(?![场镇])")
_BUILDING = (
    (re.compile(r"号楼"), "幢"),
    (re.compile(r"[栋座]"), "幢"),
    (re.compile(r"(\d+)(?:楼|F|f)(?=\d|$|[^\d])"), r"\1层"),
    (re.compile(r"(?:房间?|单元室)"), "室"),
)
_SPACE_PUNCT = re.compile(r"[\s,，.。·、:：;；\"'“”‘’()（）\[\]【】<>《》-]+")


def _nfkc(text: str) -> str:
    """Full-width letters, digits and punctuation as half-width (ＡＢ１２ → AB12), the usual form."""
    return unicodedata.normalize("NFKC", text)


def address_parts(text: str | None) -> tuple[str, str, str, str] | None:
    """(province, city, district, rest) of a Chinese address, without the 省/市/区 suffixes' variants.

    >>> address_parts("浙江省杭州市西湖区文三路90号")
    ('浙江', '杭州', '西湖区', '文三路90号')
    >>> address_parts("上海市浦东新区张江路1号")
    ('上海', '上海', '浦东新区', '张江路1号')
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    s = _SPACE_PUNCT.sub("", _nfkc(str(text)))
    if not s:
        return None
    prov = city = dist = ""
    m = _PROVINCE_RE.match(s)
    if m:
        prov = re.sub(r"(省|市|自治区|特别行政区)$", "", m["prov"])
        s = s[m.end() :]
        if prov in _MUNICIPALITIES:
            city = prov
            if s.startswith("市辖区"):
                s = s[3:]
    if not city:
        m = _CITY_RE.match(s)
        if m:
            city = re.sub(r"市$", "", m["city"])
            s = s[m.end() :]
    m = _DISTRICT_RE.match(s)
    if m:
        dist = m["dist"]
        s = s[m.end() :]
    return prov, city, dist, s


def normalize_address(text: str | None) -> str | None:
    """A comparison key for a Chinese address: city|district|street-building-room, width and variants unified.

    The province is dropped when a city is known (firms write it or not); 栋/座/号楼 read as 幢, N楼/NF as N层,
    房 as 室; building, floor and room numbers are kept, so two rooms of one building stay different.

    >>> normalize_address("浙江省杭州市西湖区文三路９０号　Ａ座１２０１室")
    '杭州|西湖区|文三路90号A幢1201室'
    >>> normalize_address("杭州市西湖区文三路90号A栋1201房")
    '杭州|西湖区|文三路90号A幢1201室'
    >>> normalize_address("杭州市西湖区文三路90号A栋1202室") == normalize_address("杭州市西湖区文三路90号A栋1201室")
    False
    """
    parts = address_parts(text)
    if parts is None:
        return None
    prov, city, dist, rest = parts
    rest = rest.upper()
    for pattern, repl in _BUILDING:
        rest = pattern.sub(repl, rest)
    if not rest:
        return None  # a bare region is no address
    return f"{city or prov}|{dist}|{rest}"


_MOBILE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")
_LANDLINE = re.compile(r"^(?:\+?86)?0?([1-9]\d{1,2})(\d{7,8})$")
_EXTENSION = re.compile(r"(?:转|分机|ext\.?|x|#)\s*\d{1,6}$", re.IGNORECASE)


def normalize_phone(text: str | None, region: str = "CN") -> str | None:
    """E.164 form of a phone number without its extension (a switchboard's extensions are one firm).

    >>> normalize_phone("0571-8888 8888 转 123")
    '+8657188888888'
    >>> normalize_phone("+86 (571) 88888888"), normalize_phone("１３９１２３４５６７８")
    ('+8657188888888', '+8613912345678')
    >>> normalize_phone("12") is None
    True
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    s = _EXTENSION.sub("", _nfkc(str(text)).strip())
    digits = re.sub(r"[\s\-().]", "", s)
    # Fast path for the two shapes that make up almost every Chinese record: phonenumbers costs ~50 µs a call.
    m = _MOBILE.match(digits)
    if m:
        return "+86" + m[1]
    if not digits.startswith("+") or digits.startswith("+86"):
        m = _LANDLINE.match(digits)
        if m and len(m[1]) + len(m[2]) in (10, 11):
            return "+86" + m[1] + m[2]
    try:
        num = phonenumbers.parse(s, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(text: str | None) -> str | None:
    """Lower case, width unified, whitespace removed; ``None`` unless it looks like an address.

    >>> normalize_email("  Finance@ＥＸＡＭＰＬＥ.com ")
    'finance@example.com'
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    s = re.sub(r"\s+", "", _nfkc(str(text))).lower()
    return s if re.fullmatch(r"[^@]+@[^@]+\.[a-z0-9-]+", s) else None


def website_domain(text: str | None) -> str | None:
    """The registrable host of a website or company email; free-mail providers give ``None``.

    >>> website_domain("https://WWW.Example.com.cn/about"), website_domain("hr@example.com.cn")
    ('example.com.cn', 'example.com.cn')
    >>> website_domain("someone@qq.com") is None
    True
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    s = re.sub(r"\s+", "", _nfkc(str(text))).lower()
    host = s.rsplit("@", 1)[1] if "@" in s else re.sub(r"^[a-z]+://", "", s).split("/", 1)[0].split(":", 1)[0]
    host = host.removeprefix("www.")
    if "." not in host or host in _FREE_MAIL:
        return None
    return host


_LEGAL_FORMS = re.compile(
    r"(股份有限公司|有限责任公司|有限公司|股份公司|集团|公司|合伙企业|\(普通合伙\)|\(有限合伙\))+$"
)
_TRADES = re.compile(
    r"(商贸|贸易|科技|技术|实业|投资|咨询|管理|发展|建设|工程|建筑|电子|信息|网络|物流|供应链|进出口|国际|"
    r"制造|机械|设备|材料|化工|医药|生物|文化|传媒|餐饮|服务|置业|房地产|开发|能源|新能源|环保|农业|食品|服饰|纺织|"
    r"汽车|销售|控股|产业|企业|商务|电子商务|零部件|制品|塑胶|矿产品|旅游|设计|装饰|印刷|包装|五金|家具|酒店|"
    r"物业|租赁|保洁|广告|教育|培训|健康|科学|智能|数码|通信|软件|数据|金属|钢铁|化妆品|日用品|百货|超市|"
    r"商行|经营部|门市部|有限|股份)+$"
)
_PROVINCES = (
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽", "福建", "江西",
    "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州", "云南", "陕西", "甘肃", "青海", "台湾", "内蒙古",
    "广西", "西藏", "宁夏", "新疆", "香港", "澳门",
)  # fmt: skip
_CITY_PREFIX = re.compile(r"^[^市]{2,4}市")  # a city the region did not name: 杭州市宏达 → 宏达
_REGION_SUFFIX = re.compile(r"(省|市|自治区|特别行政区|自治州|地区|盟|新区|区|县|旗)$")


@lru_cache(maxsize=4096)
def _region_words(region: str | None) -> tuple[str, ...]:
    """Short forms of the province, city and district in a region text, longest first (浙江省杭州市 → 杭州 …)."""
    parts = address_parts(region) if isinstance(region, str) else None
    words = [w for w in (parts[:3] if parts else ()) if w]
    words += [_REGION_SUFFIX.sub("", w) for w in words]
    return tuple(sorted({w for w in words if len(w) >= 2}, key=len, reverse=True))


def name_core(name: str | None, region: str | None = None) -> str | None:
    """The brand (字号) of a company name: region, legal form and trade words stripped.

    ``region`` (the firm's region text) names the place words to strip; provinces are known without it.

    >>> name_core("杭州宏达贸易有限公司", "浙江省杭州市西湖区"), name_core("杭州市宏达商贸有限公司")
    ('宏达', '宏达')
    >>> name_core("宏达新能源科技(杭州)有限公司"), name_core("浙江宏达实业股份有限公司")
    ('宏达', '宏达')
    """
    if name is None or (isinstance(name, float) and np.isnan(name)):
        return None
    s = _LEGAL_FORMS.sub("", _nfkc(str(name)))
    s = re.sub(r"[(（][^)）]*[)）]", "", s)
    s = _SPACE_PUNCT.sub("", s)
    for word in (*_region_words(region if isinstance(region, str) else None), *_PROVINCES):
        if s.startswith(word) and len(s) > len(word) + 1:
            s = s[len(word) :]
            s = re.sub(r"^(省|市|区|县)", "", s)
            break
    m = _CITY_PREFIX.match(s)
    if m and len(s) > m.end() + 1:
        s = s[m.end() :]
    for _ in range(3):  # 宏达新能源科技 → 宏达: trade words stack
        s2 = _TRADES.sub("", s)
        if s2 == s or len(s2) < 2:
            break
        s = s2
    return s if len(s) >= 2 else None


# ------------------------------------------------------------------------------------------- evidence maths


def exclusivity(k: np.ndarray | int, cap: float = 10.0) -> np.ndarray:
    """Weight multiplier for an attribute shared by ``k`` entities: 1 for two, falling to zero above ``cap``.

    ``1 − ((k − 2)/(cap − 1))²``: gentle for small groups (a family of six firms keeps 80 %), steep near the
    cap (ten firms keep 21 %), and 0 beyond it.

    >>> exclusivity(np.array([2, 6, 10, 11])).round(2).tolist()
    [1.0, 0.8, 0.21, 0.0]
    """
    k = np.asarray(k, dtype="float64")
    f = 1.0 - ((k - 2.0) / max(cap - 1.0, 1.0)) ** 2
    return np.where((k >= 2) & (k <= cap), np.clip(f, 0.0, 1.0), 0.0)


def noisy_or(weights: np.ndarray) -> float:
    """``1 − Π(1 − w)``: independent pieces of evidence, each of which alone could explain the link.

    >>> round(noisy_or(np.array([0.5, 0.5])), 2)
    0.75
    """
    return float(1.0 - np.prod(1.0 - np.asarray(weights, dtype="float64")))


def shared_value_pairs(entity: np.ndarray, value: np.ndarray, *, cap: int = 10) -> pd.DataFrame:
    """Pairs ``a < b`` of entities sharing a value, with ``k`` (how many entities share it) and the value.

    Values shared by more than ``cap`` entities are dropped before any pair is formed, so the work is
    O(n · cap) whatever the hubs: entities are sorted by value and each is paired with the next ``cap − 1``.

    >>> shared_value_pairs(np.array([0, 1, 2, 3]), np.array(["x", "x", "y", "x"]), cap=3).values.tolist()
    [[0, 1, 3, 'x'], [0, 3, 3, 'x'], [1, 3, 3, 'x']]
    """
    frame = pd.DataFrame({"e": np.asarray(entity, dtype=np.int64), "v": np.asarray(value, dtype=object)})
    frame = frame.dropna().drop_duplicates()
    codes, uniques = pd.factorize(frame["v"])
    counts = np.bincount(codes, minlength=len(uniques)) if len(codes) else np.zeros(0, dtype=np.int64)
    k = counts[codes] if len(codes) else np.zeros(0, dtype=np.int64)
    keep = (k >= 2) & (k <= cap)
    e, c, k = frame["e"].to_numpy()[keep], codes[keep], k[keep]
    order = np.lexsort((e, c))
    e, c, k = e[order], c[order], k[order]
    a_parts, b_parts, idx_parts = [], [], []
    for d in range(1, int(cap)):
        if len(e) <= d:
            break
        same = c[:-d] == c[d:]
        if not same.any():
            break
        i = np.flatnonzero(same)
        a_parts.append(e[i])
        b_parts.append(e[i + d])
        idx_parts.append(i)
    if not a_parts:
        return pd.DataFrame({"a": pd.Series([], dtype=np.int64), "b": pd.Series([], dtype=np.int64),
                             "k": pd.Series([], dtype=np.int64), "value": pd.Series([], dtype=object)})  # fmt: skip
    a, b, i = np.concatenate(a_parts), np.concatenate(b_parts), np.concatenate(idx_parts)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    out = pd.DataFrame({"a": lo, "b": hi, "k": k[i], "value": np.asarray(uniques, dtype=object)[c[i]]})
    out = out[out["a"] != out["b"]]
    return out.sort_values(["a", "b"], kind="stable").reset_index(drop=True)


def _join_runs(keys: np.ndarray, texts: list[str], sep: str, *, unique: bool = False) -> list[str]:
    """Join ``texts`` over runs of equal ``keys`` (already sorted): pandas' string aggregation calls Python
    per group through its slow path, slicing a list is ten times faster."""
    if len(keys) == 0:
        return []
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    if unique:
        return [sep.join(dict.fromkeys(texts[a:b])) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
    return [sep.join(texts[a:b]) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


def _arrow_strings(values: pd.Series) -> pa.Array:
    arr = pa.array(values.astype("string[pyarrow]").array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return pc.utf8_normalize(arr, "NFKC")


def _address_cheap_key(values: pd.Series) -> pa.Array:
    """Every digit of the address: normalisation keeps them all, so equal keys need equal digits."""
    return pc.replace_substring_regex(_arrow_strings(values), pattern=r"\D", replacement="")


def _phone_cheap_key(values: pd.Series) -> pa.Array:
    """The last seven digits of the number once its extension is cut: equal numbers share them."""
    s = pc.replace_substring_regex(
        _arrow_strings(values), pattern=r"(?i)(转|分机|ext\.?|x|#)\s*\d{1,6}\s*$", replacement=""
    )
    d = pc.replace_substring_regex(s, pattern=r"\D", replacement="")
    return pc.utf8_slice_codeunits(d, start=-7)


def _email_cheap_key(values: pd.Series) -> pa.Array:
    return pc.utf8_lower(pc.replace_substring_regex(_arrow_strings(values), pattern=r"\s+", replacement=""))


def _domain_cheap_key(values: pd.Series) -> pa.Array:
    return pc.replace_substring_regex(_email_cheap_key(values), pattern=r"^.*@(www\.)?", replacement="")


def _normalise_colliding(values: pd.Series, cheap: Any, fn: Any) -> np.ndarray:
    """Normalise only values whose cheap key (computed in Arrow, in C++) another row shares.

    The cheap key is a necessary condition for equal normalised keys, so a value with a unique cheap key
    can match nothing and is left out (``None``): in a million registrations almost every address and phone
    is unique, and the Python normaliser then runs on a few per cent of them.

    >>> _normalise_colliding(pd.Series(["0571-88888888", "+86 571 8888 8888", "0571-12345678"]),
    ...                      _phone_cheap_key, normalize_phone).tolist()
    ['+8657188888888', '+8657188888888', None]
    """
    out = np.full(len(values), None, dtype=object)
    if len(values) == 0:
        return out
    key = pd.Series(cheap(values).to_pandas(types_mapper=pd.ArrowDtype), index=values.index).astype(object)
    present = values.notna().to_numpy() & key.notna().to_numpy()
    codes, _ = pd.factorize(key.where(key != "", None))
    counts = np.bincount(codes[codes >= 0]) if (codes >= 0).any() else np.zeros(0, dtype=np.int64)
    shared = np.zeros(len(values), dtype=bool)
    shared[codes >= 0] = counts[codes[codes >= 0]] >= 2
    # A value without any cheap key (no digits, say) is normalised anyway: the key cannot rule it out.
    todo = present & (shared | (codes < 0))
    if todo.any():
        out[todo] = _normalise_unique(values[todo], fn)
    return out


def _normalise_unique(values: pd.Series, fn: Any) -> np.ndarray:
    """Apply a scalar normaliser once per distinct value: registries repeat values, and Python calls cost."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([fn(u) for u in uniques] + [None], dtype=object)
    return mapped[codes]


# ----------------------------------------------------------------------------------------- same-name persons


def same_name_verdict(
    score: float, differ: int, ids_differ: bool, t_same: float, t_distinct: float
) -> tuple[float, str]:
    """The same-name rule on the evidence of one pair of persons: (score, ``same`` | ``unsure`` | ``distinct``).

    Different ID numbers settle it (score 0); different phones and addresses (``differ`` = 2, both known) cap the
    score at half the distinct threshold. Both engines call this, so their judgements cannot drift apart.

    >>> same_name_verdict(0.9, 0, False, 0.8, 0.3), same_name_verdict(0.5, 2, False, 0.8, 0.3)
    ((0.9, 'same'), (0.15, 'distinct'))
    """
    if ids_differ:
        score = 0.0
    elif differ == 2:
        score = min(score, t_distinct / 2)
    if score >= t_same:
        return score, "same"
    if score < t_distinct and (ids_differ or differ == 2):
        return score, "distinct"
    return score, "unsure"


def same_name_candidates(graph: EnterpriseGraph, *, config: Config | None = None) -> pd.DataFrame:
    """Pairs of persons with equal names, judged ``same``, ``distinct`` or ``unsure`` with a score and evidence.

    Evidence (noisy-OR): equal pseudonymised ID number (0.99), shared phone (0.8), shared address (0.7), both
    officers of one firm (0.4), same city (0.1). ``same`` needs ``same_person_same``; ``distinct`` needs
    contrary evidence (two different ID pseudonyms, or different phones *and* addresses); anything else is
    ``unsure`` and listed for review. Pairs are formed within (name, key) blocks, capped like the firm signals.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> t = Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": ["A"], "name": ["甲"]}),
    ...     "persons": pd.DataFrame({"id": ["P1", "P2", "P3"], "name": ["张伟", "张伟", "张伟"],
    ...                              "phone": ["13900000000", "139-0000-0000", None]}),
    ... })
    >>> same_name_candidates(EnterpriseGraph(t))[["a_id", "b_id", "judgement"]].values.tolist()
    [['P1', 'P2', 'same'], ['P1', 'P3', 'unsure'], ['P2', 'P3', 'unsure']]
    """
    config = config or Config()
    cap = int(config.threshold("hidden_links_exclusivity_cap"))
    t_same, t_distinct = config.threshold("same_person_same"), config.threshold("same_person_distinct")
    per = graph.persons
    cols = ["a", "b", "a_id", "b_id", "name", "score", "judgement", "evidence"]
    if len(per) < 2:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    base = graph.n_enterprises
    nodes = np.arange(base, base + len(per))
    names = per["name"].astype(object).to_numpy()
    ids = per["id_pseudonym"].astype(object).to_numpy() if "id_pseudonym" in per else np.full(len(per), None)
    # Blocks: equal name, and within it equal id, phone, address or region; the name alone never pairs people.
    dup = pd.Series(names).duplicated(keep=False).to_numpy()
    if not dup.any():
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    # Only persons sharing a name with someone are ever compared: normalise just their contacts.
    phone = np.full(len(per), None, dtype=object)
    addr = np.full(len(per), None, dtype=object)
    if "phone" in per:
        phone[dup] = _normalise_unique(per["phone"][dup], normalize_phone)
    if "address" in per:
        addr[dup] = _normalise_unique(per["address"][dup], normalize_address)
    region = np.array([a.split("|", 1)[0] if isinstance(a, str) else None for a in addr], dtype=object)
    parts = []
    for key in (ids, phone, addr, region):
        kv = np.array([f"{n}\x1f{v}" if v is not None and not pd.isna(v) else None for n, v in
                       zip(names[dup], key[dup], strict=True)], dtype=object)  # fmt: skip
        parts.append(shared_value_pairs(nodes[dup], kv, cap=cap)[["a", "b"]])
    # Persons without an address: compared with each other on the name alone (capped like everything else),
    # so that a review list shows them as unsure instead of leaving them out.
    no_key = dup & pd.isna(pd.Series(region, dtype=object)).to_numpy()
    if no_key.any():
        parts.append(shared_value_pairs(nodes[no_key], names[no_key], cap=cap)[["a", "b"]])
    pairs = pd.concat(parts).drop_duplicates().reset_index(drop=True)
    if pairs.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    ia, ib = pairs["a"].to_numpy() - base, pairs["b"].to_numpy() - base
    off = graph.edges("officer")
    firms_of = off.groupby("src")["dst"].agg(frozenset).to_dict() if len(off) else {}
    rows = []
    for a, b, x, y in zip(pairs["a"], pairs["b"], ia, ib, strict=True):
        ev: dict[str, Any] = {}
        w: list[float] = []
        id_a, id_b = ids[x], ids[y]
        has_ids = not pd.isna(id_a) and not pd.isna(id_b) and id_a is not None and id_b is not None
        if has_ids and id_a == id_b:
            ev["id_number"] = "equal pseudonymised ID number"
            w.append(0.99)
        if phone[x] is not None and phone[x] == phone[y]:
            ev["phone"] = phone[x]
            w.append(0.8)
        if addr[x] is not None and addr[x] == addr[y]:
            ev["address"] = addr[x]
            w.append(0.7)
        common = firms_of.get(a, frozenset()) & firms_of.get(b, frozenset())
        if common:
            ev["co_directorship"] = sorted(str(graph.node_ids[f]) for f in common)[:5]
            w.append(0.4)
        if region[x] is not None and region[x] == region[y]:
            ev["region"] = region[x]
            w.append(0.1)
        score = noisy_or(np.array(w)) if w else 0.0
        # Contrary evidence: different ID numbers settle it; different phones and addresses (both known)
        # make a same-name pair without positive evidence distinct too.
        differ = 0
        for field, values in (("phone", phone), ("address", addr)):
            if values[x] is not None and values[y] is not None and values[x] != values[y]:
                differ += 1
                ev[f"different_{field}"] = True
        if has_ids and id_a != id_b:
            ev["id_number"] = "different pseudonymised ID numbers"
        score, judgement = same_name_verdict(score, differ, has_ids and id_a != id_b, t_same, t_distinct)
        rows.append(
            {
                "a": int(a),
                "b": int(b),
                "a_id": str(graph.node_ids[a]),
                "b_id": str(graph.node_ids[b]),
                "name": str(names[x]),
                "score": round(score, 4),
                "judgement": judgement,
                "evidence": json.dumps(ev, ensure_ascii=False),
            }
        )
    return pd.DataFrame(rows, columns=cols)


# ---------------------------------------------------------------------------------------------- firm signals


def _signal_frame(pairs: pd.DataFrame, signal: str, weight: np.ndarray | float, detail: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": pairs["a"].to_numpy(dtype=np.int64),
            "b": pairs["b"].to_numpy(dtype=np.int64),
            "signal": signal,
            "weight": np.broadcast_to(np.asarray(weight, dtype="float64"), len(pairs)),
            "detail": detail,
        }
    )


def _person_canonical(graph: EnterpriseGraph, persons: pd.DataFrame) -> np.ndarray:
    """Node id → representative node id, merging only persons judged ``same``."""
    canon = np.arange(graph.n_nodes)
    same = persons[persons["judgement"] == "same"] if len(persons) else persons
    if len(same):
        n = graph.n_nodes
        m = sp.coo_array((np.ones(len(same)), (same["a"].to_numpy(), same["b"].to_numpy())), shape=(n, n))
        _, labels = csgraph.connected_components(m, directed=False)
        first = np.full(labels.max() + 1, n, dtype=np.int64)
        np.minimum.at(first, labels, np.arange(n))
        canon = first[labels]
    return canon


def firm_signals(
    graph: EnterpriseGraph,
    *,
    config: Config | None = None,
    controllers: pd.DataFrame | None = None,
    persons: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every piece of evidence between two firms: ``a``, ``b`` (node ids, a < b), ``signal``, ``weight``, ``detail``.

    ``controllers`` is the ownership analysis' table (``company_id``, ``controller_id``); ``persons`` the
    same-name judgements (computed when not given).
    """
    config = config or Config()
    cap = int(config.threshold("hidden_links_exclusivity_cap"))
    w = {s: config.threshold(t) for s, (t, _) in SIGNALS.items()}
    ent = graph.enterprises
    ne = graph.n_enterprises
    nodes = np.arange(ne)
    frames: list[pd.DataFrame] = []

    def add(signal: str, pairs: pd.DataFrame, words: str) -> None:
        if len(pairs):
            weight = w[signal] * exclusivity(pairs["k"].to_numpy(), cap)
            detail = (words + " " + pairs["value"].astype(str) + " (" + pairs["k"].astype(str) + " firms)").to_numpy()
            frames.append(_signal_frame(pairs, signal, weight, detail))

    if "address" in ent:
        addr = _normalise_colliding(ent["address"], _address_cheap_key, normalize_address)
        add("address", shared_value_pairs(nodes, addr, cap=cap), SIGNALS["address"][1])
    if "phone" in ent:
        phone = _normalise_colliding(ent["phone"], _phone_cheap_key, normalize_phone)
        add("phone", shared_value_pairs(nodes, phone, cap=cap), SIGNALS["phone"][1])
    if "email" in ent:
        email = _normalise_colliding(ent["email"], _email_cheap_key, normalize_email)
        add("email", shared_value_pairs(nodes, email, cap=cap), SIGNALS["email"][1])
        domain = _normalise_colliding(ent["email"], _domain_cheap_key, website_domain)
        add("domain", shared_value_pairs(nodes, domain, cap=cap), "domain")
    if "website" in ent:
        add("domain", shared_value_pairs(nodes, _normalise_unique(ent["website"], website_domain), cap=cap), "domain")

    # Shared people: a person's firms pair up; roles decide the weight (the weaker of the two roles).
    persons = same_name_candidates(graph, config=config) if persons is None else persons
    canon = _person_canonical(graph, persons)
    off = graph.edges("officer")
    role_signal = {"legal_representative": "legal_representative", "finance_head": "finance_head"}
    if len(off):
        o = pd.DataFrame(
            {
                "p": canon[off["src"].to_numpy()],
                "f": off["dst"].to_numpy(),
                "sig": off["role"].astype(str).map(role_signal).fillna("officer").to_numpy(),
            }
        )
        o = o[o["f"] < ne]
        pairs = shared_value_pairs(o["f"].to_numpy(), o["p"].to_numpy(), cap=cap)
        if len(pairs):
            # The weaker role of the person at each end: a legal representative here and a director there
            # is a director-strength tie.
            rank = {"officer": 0, "finance_head": 1, "legal_representative": 2}
            o["r"] = o["sig"].map(rank)
            best = o.groupby(["p", "f"])["r"].max()
            ra = best.reindex(pd.MultiIndex.from_arrays([pairs["value"].astype(np.int64), pairs["a"]])).to_numpy()
            rb = best.reindex(pd.MultiIndex.from_arrays([pairs["value"].astype(np.int64), pairs["b"]])).to_numpy()
            r = np.minimum(ra, rb)
            names = graph.nodes["name"].to_numpy()
            inv = {v: k for k, v in rank.items()}
            for code, role_sig in inv.items():
                on = r == code
                if on.any():
                    sub = pairs[on].copy()
                    sub["value"] = (
                        names[sub["value"].to_numpy(dtype=np.int64)]
                        + "/"
                        + graph.node_ids[sub["value"].to_numpy(dtype=np.int64)]
                    )
                    add(role_sig, sub, SIGNALS[role_sig][1])
    own = graph.edges("ownership")
    if len(own):
        ph = own[(own["src"] >= ne) & (own["dst"] < ne)]
        pairs = shared_value_pairs(ph["dst"].to_numpy(), canon[ph["src"].to_numpy()], cap=cap)
        if len(pairs):
            v = pairs["value"].to_numpy(dtype=np.int64)
            pairs["value"] = graph.nodes["name"].to_numpy()[v] + "/" + graph.node_ids[v]
            add("shareholder", pairs, SIGNALS["shareholder"][1])
    if controllers is not None and len(controllers):
        c = controllers.dropna(subset=["controller_id"])
        # A firm reported as its own controller (nobody above it) is the parent, not a sibling.
        c = c[c["company_id"].astype(str) != c["controller_id"].astype(str)]
        f = graph.index_of(c["company_id"].astype(str))
        # Siblings under one controller are related whatever their number, so no decay; but a controller of
        # hundreds of firms (a state assets commission) is a visible group already, and pairing its firms
        # would be quadratic: above ``hidden_links_controller_cap`` siblings the signal is left out.
        ccap = int(config.threshold("hidden_links_controller_cap"))
        pairs = shared_value_pairs(f, c["controller_id"].astype(str).to_numpy(dtype=object), cap=ccap)
        if len(pairs):
            detail = ("same actual controller " + pairs["value"] + " (" + pairs["k"].astype(str) + " firms)").to_numpy()
            frames.append(_signal_frame(pairs, "controller", w["controller"], detail))
    if "name" in ent:
        reg = ent["region"].astype(object).to_numpy() if "region" in ent else np.full(ne, None, dtype=object)
        core = np.array([name_core(nm, r) for nm, r in zip(ent["name"].to_numpy(dtype=object), reg, strict=True)],
                        dtype=object)  # fmt: skip
        key = np.array([f"{r}\x1f{c}" if c is not None else None for r, c in zip(reg, core, strict=True)], dtype=object)
        pairs = shared_value_pairs(nodes, key, cap=cap)
        if len(pairs):
            full = ent["name"].astype(str).to_numpy()
            sim = np.array([fuzz.ratio(full[a], full[b]) / 100.0 for a, b in zip(pairs["a"], pairs["b"], strict=True)])
            weight = w["name"] * exclusivity(pairs["k"].to_numpy(), cap) * np.maximum(sim, 0.5)
            detail = np.array(
                [
                    f"names differ only in wording: {full[a]} / {full[b]}"
                    for a, b in zip(pairs["a"], pairs["b"], strict=True)
                ],
                dtype=object,
            )
            frames.append(_signal_frame(pairs, "name", weight, detail))
    if not frames:
        return pd.DataFrame(
            {
                "a": pd.Series([], dtype=np.int64),
                "b": pd.Series([], dtype=np.int64),
                "signal": pd.Series([], dtype=object),
                "weight": pd.Series([], dtype="float64"),
                "detail": pd.Series([], dtype=object),
            }
        )
    sig = pd.concat(frames, ignore_index=True)
    if "status" in ent:
        status = ent["status"].astype(str).str.strip()
        # Deregistered first: a pair with one revoked and one deregistered firm takes the smaller factor.
        for values, name, words in (
            (_REVOKED, "hidden_links_revoked_factor", "revoked"),
            (_DEREGISTERED, "hidden_links_deregistered_factor", "deregistered"),
        ):
            flag = status.isin(values).to_numpy()
            dead = flag[sig["a"].to_numpy()] | flag[sig["b"].to_numpy()]
            if dead.any():
                factor = config.threshold(name)
                sig.loc[dead, "weight"] = sig.loc[dead, "weight"] * factor
                sig.loc[dead, "detail"] = sig.loc[dead, "detail"] + f" [counterpart {words} ×{factor:g}]"
    return sig[sig["weight"] > 0].reset_index(drop=True)


def score_pairs(signals: pd.DataFrame) -> pd.DataFrame:
    """Noisy-OR per pair over its signals, with every signal's contribution listed in ``reasons``."""
    if signals.empty:
        return pd.DataFrame({"a": [], "b": [], "score": [], "signals": [], "reasons": []})
    s = signals.assign(log=np.log1p(-np.minimum(signals["weight"].to_numpy(), 1.0 - 1e-12)))
    agg = s.groupby(["a", "b"], sort=True)["log"].sum()
    out = agg.reset_index()
    out["score"] = np.round(1.0 - np.exp(out["log"].to_numpy()), 4)
    return out.drop(columns="log")


def suspected_links(
    graph: EnterpriseGraph,
    *,
    config: Config | None = None,
    controllers: pd.DataFrame | None = None,
    persons: pd.DataFrame | None = None,
    signals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Suspected links: ``a_id``, ``b_id``, ``score`` (≥ threshold), ``signals`` and ``reasons`` (each weighted).

    Sorted by score, highest first.
    """
    config = config or Config()
    sig = firm_signals(graph, config=config, controllers=controllers, persons=persons) if signals is None else signals
    scored = score_pairs(sig)
    cols = ["a", "b", "a_id", "b_id", "score", "signals", "reasons"]
    if scored.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    keep = scored[scored["score"] >= config.threshold("hidden_links_threshold") - 1e-12]
    if keep.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    sub = sig.merge(keep[["a", "b"]], on=["a", "b"])
    sub = sub.sort_values(["a", "b", "weight"], ascending=[True, True, False], kind="stable")
    text = (sub["detail"].astype(str) + " (w=" + sub["weight"].round(2).astype(str) + ")").tolist()
    pair_key = sub["a"].to_numpy(dtype=np.int64) * graph.n_enterprises + sub["b"].to_numpy(dtype=np.int64)
    out = keep.sort_values(["a", "b"], kind="stable").reset_index(drop=True)
    out["signals"] = _join_runs(pair_key, sub["signal"].astype(str).tolist(), ",", unique=True)
    out["reasons"] = _join_runs(pair_key, text, "; ")
    out["a_id"] = graph.node_ids[out["a"].to_numpy(dtype=np.int64)]
    out["b_id"] = graph.node_ids[out["b"].to_numpy(dtype=np.int64)]
    out = out.sort_values(["score", "a", "b"], ascending=[False, True, True], kind="stable").reset_index(drop=True)
    return out[cols]


def suspected_groups(graph: EnterpriseGraph, links: pd.DataFrame) -> pd.DataFrame:
    """Connected sets of suspected links (scipy, never networkx): ``group_id``, ``size``, ``members``, ``max_score``.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> firms = pd.DataFrame({"id": list("ABCD"), "name": list("甲乙丙丁")})
    >>> g = EnterpriseGraph(Tables.from_frames({"enterprises": firms}))
    >>> suspected_groups(g, pd.DataFrame({"a": [0, 1], "b": [1, 2], "score": [0.9, 0.6]}))["members"].tolist()
    ['A;B;C']
    """
    cols = ["group_id", "size", "members", "max_score", "mean_score", "links"]
    if links.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    n = graph.n_enterprises
    a, b = links["a"].to_numpy(dtype=np.int64), links["b"].to_numpy(dtype=np.int64)
    m = sp.coo_array((np.ones(len(a)), (a, b)), shape=(n, n))
    _, labels = csgraph.connected_components(m, directed=False)
    involved = np.unique(np.concatenate([a, b]))
    frame = pd.DataFrame({"node": involved, "label": labels[involved]})
    frame["id"] = graph.node_ids[involved]
    frame = frame.sort_values(["label", "id"], kind="stable")
    labels_sorted = frame["label"].to_numpy()
    members = pd.Series(
        _join_runs(labels_sorted, frame["id"].astype(str).tolist(), ";"), index=np.unique(labels_sorted)
    )
    size = frame.groupby("label").size()
    lk = pd.DataFrame({"label": labels[a], "score": links["score"].to_numpy(dtype="float64")})
    stats = lk.groupby("label")["score"].agg(["max", "mean", "size"])
    stats = stats.rename(columns={"max": "max_score", "mean": "mean_score", "size": "links"})
    out = pd.DataFrame({"size": size, "members": members}).join(stats)
    out["mean_score"] = out["mean_score"].round(4)
    out = out.sort_values(["size", "max_score", "members"], ascending=[False, False, True], kind="stable")
    out.insert(0, "group_id", np.arange(1, len(out) + 1))
    return out.reset_index(drop=True)[cols]


def related_transactions(
    graph: EnterpriseGraph, links: pd.DataFrame, controllers: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Guarantees and supply between suspected-related or same-controller firms with no visible tie.

    Visible means a direct shareholding either way, or a person who is an officer or holder of both firms:
    those relations a credit file already shows. What is left is a related-party guarantee or trade that the
    ownership records do not show. Edges are matched to pairs by joins, never one by one.

    >>> import pandas as pd
    >>> from graphrisk.tables import Tables
    >>> g = EnterpriseGraph(Tables.from_frames({
    ...     "enterprises": pd.DataFrame({"id": ["A", "B"], "name": ["甲", "乙"]}),
    ...     "guarantees": pd.DataFrame({"guarantor_id": ["A"], "borrower_id": ["B"], "amount": [9.0]})}))
    >>> ctrl = pd.DataFrame({"company_id": ["A", "B"], "controller_id": ["X", "X"]})
    >>> related_transactions(g, suspected_links(g), ctrl)[["kind", "from_id", "to_id", "basis"]].values.tolist()
    [['guarantee', 'A', 'B', 'same actual controller']]
    """
    ne = graph.n_enterprises
    cols = ["kind", "from_id", "to_id", "amount", "basis", "score", "reason"]
    parts = []
    for kind, rel in (("guarantee", "guarantee"), ("supply", "supply")):
        e = graph.edges(rel)
        if e.empty:
            continue
        amount = e["amount"].astype("float64") if "amount" in e else pd.Series(np.nan, index=e.index)
        src, dst = e["src"].to_numpy(dtype=np.int64), e["dst"].to_numpy(dtype=np.int64)
        parts.append(
            pd.DataFrame(
                {"kind": kind, "s": src, "d": dst, "a": np.minimum(src, dst), "b": np.maximum(src, dst),
                 "amount": amount.to_numpy()}
            )
        )  # fmt: skip
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    tx = pd.concat(parts, ignore_index=True)
    tx = tx[(tx["s"] < ne) & (tx["d"] < ne) & (tx["s"] != tx["d"])]
    # Basis 1: a suspected link between the two firms.
    if len(links):
        lk = pd.DataFrame(
            {
                "a": links["a"].to_numpy(dtype=np.int64),
                "b": links["b"].to_numpy(dtype=np.int64),
                "score": links["score"].to_numpy(dtype="float64"),
                "why": links["reasons"].astype(str).to_numpy(dtype=object),
            }
        )
        tx = tx.merge(lk, on=["a", "b"], how="left")
    else:
        tx = tx.assign(score=np.nan, why=None)
    tx["basis"] = pd.Series("suspected link", index=tx.index, dtype=object).where(tx["score"].notna(), None)
    # Basis 2: one actual controller over both.
    if controllers is not None and len(controllers):
        c = controllers.dropna(subset=["controller_id"])
        c = c[c["company_id"].astype(str) != c["controller_id"].astype(str)]
        codes = np.full(ne, -1, dtype=np.int64)
        codes[graph.index_of(c["company_id"].astype(str))] = pd.factorize(c["controller_id"].astype(str))[0]
        names = np.full(ne, None, dtype=object)
        names[graph.index_of(c["company_id"].astype(str))] = c["controller_id"].astype(str).to_numpy(dtype=object)
        cs, cd = codes[tx["s"].to_numpy()], codes[tx["d"].to_numpy()]
        same = (cs >= 0) & (cs == cd) & tx["basis"].isna().to_numpy()
        tx.loc[same, "basis"] = "same actual controller"
        tx.loc[same, "score"] = 1.0
        tx.loc[same, "why"] = "same actual controller " + pd.Series(
            names[tx["s"].to_numpy()[same]], index=tx.index[same]
        )
    tx = tx[tx["basis"].notna()]
    if tx.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    # Visible ties: a direct shareholding, or a person who is officer or holder of both.
    own = graph.edges("ownership")
    direct = pd.DataFrame(
        {"a": np.minimum(own["src"].to_numpy(dtype=np.int64), own["dst"].to_numpy(dtype=np.int64)),
         "b": np.maximum(own["src"].to_numpy(dtype=np.int64), own["dst"].to_numpy(dtype=np.int64))}
    ).drop_duplicates()  # fmt: skip
    people = pd.concat(
        [graph.edges("officer")[["src", "dst"]], own[own["src"] >= ne][["src", "dst"]]], ignore_index=True
    ).drop_duplicates()
    wanted = np.unique(np.concatenate([tx["a"].to_numpy(), tx["b"].to_numpy()]))
    people = people[np.isin(people["dst"].to_numpy(), wanted)]
    shared = people.merge(people, on="src")
    shared = shared[shared["dst_x"] < shared["dst_y"]]
    visible = pd.concat(
        [direct, pd.DataFrame({"a": shared["dst_x"].to_numpy(), "b": shared["dst_y"].to_numpy()})], ignore_index=True
    ).drop_duplicates()
    visible["seen"] = True
    tx = tx.merge(visible, on=["a", "b"], how="left")
    tx = tx[tx["seen"].isna()]
    words = np.where(tx["kind"] == "guarantee", "guarantee", "trade")
    out = pd.DataFrame(
        {
            "kind": tx["kind"].to_numpy(dtype=object),
            "from_id": graph.node_ids[tx["s"].to_numpy()],
            "to_id": graph.node_ids[tx["d"].to_numpy()],
            "amount": tx["amount"].to_numpy(dtype="float64"),
            "basis": tx["basis"].to_numpy(dtype=object),
            "score": tx["score"].to_numpy(dtype="float64"),
            "reason": np.array(
                [f"related-party {w} not visible in ownership: {y}" for w, y in zip(words, tx["why"], strict=True)],
                dtype=object,
            ),
        }
    )  # fmt: skip
    return out.reset_index(drop=True)[cols]


@dataclass(frozen=True)
class HiddenLinks:
    """Everything :func:`hidden_links` finds, each row with its reasons."""

    links: pd.DataFrame
    groups: pd.DataFrame
    persons: pd.DataFrame
    transactions: pd.DataFrame
    signals: pd.DataFrame


def hidden_links(
    graph: EnterpriseGraph, *, config: Config | None = None, controllers: pd.DataFrame | None = None
) -> HiddenLinks:
    """Same-name judgements, firm signals, suspected links and groups, undisclosed related transactions."""
    config = config or Config()
    persons = same_name_candidates(graph, config=config)
    signals = firm_signals(graph, config=config, controllers=controllers, persons=persons)
    links = suspected_links(graph, config=config, signals=signals)
    return HiddenLinks(
        links=links,
        groups=suspected_groups(graph, links),
        persons=persons,
        transactions=related_transactions(graph, links, controllers),
        signals=signals,
    )


# ------------------------------------------------------------------------------------------------- the scan


def _flags(links: pd.DataFrame, transactions: pd.DataFrame, *, top: int = 5) -> pd.DataFrame:
    """One ``suspected_link`` flag per firm with a hidden strong link (its strongest link in the reason, up to
    ``top`` links in the evidence), and one flag per undisclosed related transaction; built from columns because a
    million-firm portfolio has millions of links.

    A firm is flagged (medium) when one of its links scores ≥ 0.9 *without* a known common controller: that tie
    is hidden from the ownership records. A link that a shared actual controller explains is already visible, and
    a weaker one is evidence to read, not an alert: those firms get no flag, and their links stay in
    suspected_links.csv and suspected_groups.csv. A guarantee or trade across a link is the high flag
    (``undisclosed_related_*``)."""
    parts = []
    if not links.empty:
        score = links["score"].astype("float64").to_numpy()
        signals = links["signals"].astype(str)
        hidden = ~signals.str.contains("controller", regex=False).to_numpy()
        a_ids, b_ids = links["a_id"].astype(str).to_numpy(), links["b_id"].astype(str).to_numpy()
        n_links = len(links)
        # Each link twice (once per end), carrying its row number instead of its texts: the reasons of a million
        # links are GBs of strings, and only each firm's strongest link needs them.
        long = pd.DataFrame(
            {
                "entity_id": np.r_[a_ids, b_ids],
                "other": np.r_[b_ids, a_ids],
                "score": np.r_[score, score],
                "strong_hidden": np.r_[hidden & (score >= 0.9), hidden & (score >= 0.9)],
                "link": np.r_[np.arange(n_links), np.arange(n_links)],
            }
        ).sort_values(["entity_id", "score", "other"], ascending=[True, False, True], kind="stable")
        g = long.groupby("entity_id", sort=True)
        per = pd.DataFrame({"n": g.size(), "best": g["score"].max(), "medium": g["strong_hidden"].any()})
        # Only firms with a strong link no common controller explains are flagged; every link stays listed in
        # suspected_links.csv. A per-firm flag for the rest drowned the report (910k flags at 1M, mostly low).
        per = per[per["medium"]]
    if not links.empty and len(per):
        long = long[long["entity_id"].isin(per.index)]
        head = long[long.groupby("entity_id", sort=True).cumcount().to_numpy() < top]
        firsts = long.drop_duplicates("entity_id").set_index("entity_id").reindex(per.index)
        signal_text = signals.to_numpy(dtype=object)
        # One JSON object per listed link, then joined per firm by slicing the sorted rows: no per-group Python.
        items = [
            json.dumps({"other": o, "score": round(float(sc), 4), "signals": signal_text[k]}, ensure_ascii=False)
            for o, sc, k in zip(head["other"], head["score"], head["link"], strict=True)
        ]
        ent = head["entity_id"].to_numpy(dtype=object)
        starts = np.flatnonzero(np.r_[True, ent[1:] != ent[:-1]])
        bounds = np.r_[starts, len(ent)]
        evidence = np.array(
            [
                f'{{"links": {int(k)}, "top": [{", ".join(items[a:b])}]}}'
                for k, a, b in zip(per["n"].to_numpy(), bounds[:-1], bounds[1:], strict=True)
            ],
            dtype=object,
        )
        del items
        strongest = links["reasons"].iloc[firsts["link"].to_numpy()].astype(str).to_numpy(dtype=object)
        suffix = np.where(per["medium"].to_numpy(), " [a link ≥ 0.90 not explained by a common controller]", "")
        reason = [
            f"suspected links to {int(k)} firm(s), strongest {o} (score {b:.2f}): {r}{x}"
            for k, o, b, r, x in zip(
                per["n"].to_numpy(), firsts["other"].to_numpy(dtype=object), per["best"].to_numpy(), strongest,
                suffix, strict=True,
            )
        ]  # fmt: skip
        parts.append(
            pd.DataFrame(
                {
                    "entity_id": per.index.to_numpy(dtype=object),
                    "flag": "suspected_link",
                    "severity": "medium",
                    "reason": np.array(reason, dtype=object),
                    "evidence": evidence,
                }
            )
        )
    if len(transactions):
        t = transactions
        tx_evidence = [
            json.dumps({"to": to, "amount": am, "basis": ba}, ensure_ascii=False)
            for to, am, ba in zip(t["to_id"], t["amount"].astype("float64"), t["basis"], strict=True)
        ]
        parts.append(
            pd.DataFrame(
                {
                    "entity_id": t["from_id"].to_numpy(dtype=object),
                    "flag": ("undisclosed_related_" + t["kind"].astype(str)).to_numpy(dtype=object),
                    "severity": "high",
                    "reason": (t["reason"] + " (" + t["from_id"] + " → " + t["to_id"] + ")").to_numpy(dtype=object),
                    "evidence": np.array(tx_evidence, dtype=object),
                }
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else empty_flags()


@register(
    "hidden_links",
    title="Hidden associations (疑似关联)",
    order=35,
    description="Suspected links from shared people, contacts, controllers and names; same-name persons; "
    "related transactions not visible in ownership.",
)
def hidden_links_analysis(graph: EnterpriseGraph, context: AnalysisContext) -> AnalysisResult:
    own = context.results.get("ownership")
    controllers = own.tables.get("controllers") if own is not None else None
    found = hidden_links(graph, config=context.config, controllers=controllers)
    links = found.links
    flags = _flags(links, found.transactions)
    judged = found.persons["judgement"].value_counts().to_dict() if len(found.persons) else {}
    summary: dict[str, Any] = {
        "suspected_links": len(links),
        "suspected_groups": len(found.groups),
        "same_name_pairs": len(found.persons),
        "same_name_judgements": {str(k): int(v) for k, v in judged.items()},
        "related_transactions": len(found.transactions),
        "threshold": context.config.threshold("hidden_links_threshold"),
        "exclusivity_cap": context.config.threshold("hidden_links_exclusivity_cap"),
    }
    per_signal = found.signals["signal"].value_counts().rename_axis("signal").reset_index(name="evidence_pairs")
    section = ReportSection(
        title="Hidden associations (疑似关联)",
        paragraphs=(
            f"{len(links):,} suspected links (noisy-OR score ≥ {summary['threshold']:g}) in "
            f"{len(found.groups):,} suspected related groups. Attributes shared by more than "
            f"{summary['exclusivity_cap']:g} firms are ignored; revoked or deregistered counterparts count less.",
            f"{len(found.persons):,} pairs of persons with equal names were judged: "
            + ", ".join(f"{k} {v:,}" for k, v in summary["same_name_judgements"].items())
            + "; only `same` merges people.",
            f"{len(found.transactions):,} guarantees or trades between related firms have no visible ownership or "
            "officer tie.",
        ),
        figures=(("Suspected links", f"{len(links):,}"), ("Suspected groups", f"{len(found.groups):,}")),
        tables=(
            ("Strongest suspected links", links.drop(columns=["a", "b"]).head(15)),
            ("Largest suspected groups", found.groups.head(15)),
            ("Evidence per signal", per_signal),
            ("Related transactions not visible in ownership", found.transactions.head(15)),
        ),
    )
    wb = links[["a_id", "b_id", "score", "reasons", "signals"]].astype({"score": "float64"})
    day = context.as_of
    rows = LazyRows(lambda: [{**{str(k): v for k, v in r.items()}, "as_of": day} for r in wb.to_dict("records")])
    # Distinct pairs are settled and stay out of the graph; same and unsure ones are candidates to review.
    review = found.persons[found.persons["judgement"] != "distinct"]
    candidates = LazyRows(
        lambda: [
            {"a_id": str(a), "b_id": str(b), "name": str(n), "score": float(sc), "judgement": str(j),
             "evidence": str(e), "as_of": day}
            for a, b, n, sc, j, e in zip(review["a_id"], review["b_id"], review["name"], review["score"],
                                         review["judgement"], review["evidence"], strict=True)
        ]
    )  # fmt: skip
    return AnalysisResult(
        name="hidden_links",
        tables={
            "suspected_links": links.drop(columns=["a", "b"]),
            "suspected_groups": found.groups,
            "person_candidates": found.persons.drop(columns=["a", "b"]),
            "related_transactions": found.transactions,
        },
        flags=flags,
        summary=summary,
        section=section,
        writeback=(
            ("writeback/hidden_links_suspected.cypher", rows),
            ("writeback/hidden_links_suspected_stale.cypher", [{"run": True}]),
            ("writeback/hidden_links_person_candidates.cypher", candidates),
            ("writeback/hidden_links_person_candidates_stale.cypher", [{"run": True}]),
        ),
    )
