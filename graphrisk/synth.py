"""Synthetic Chinese enterprise portfolios with planted risk patterns and the ground truth to score them.

:func:`generate_portfolio` builds every input table of :data:`graphrisk.schema.SCHEMA` for ``n`` enterprises:
registry data (names, valid USCCs, regions, GB/T 4754 industries, financials, ratings), natural persons with
valid resident ID numbers, ownership pyramids, officers, guarantees, supply links and the bank's exposures.
Into that background it plants the patterns a credit-risk analyst looks for (mutual and joint guarantees,
revolving guarantee cycles, long chains, hub guarantors, hidden related groups, registered-agent hub addresses,
same-name persons, cross-holdings, state and private pyramids, concentrated customers) and lists every one of
them in ``ground_truth``. The background is built so that it cannot form guarantee cycles of its own: every
non-planted guarantee points from a lower to a higher position of one global order in which each planted
mutual pair or cycle occupies a contiguous block, so the only strongly connected parts of the guarantee graph
are the planted ones.

Everything is vectorised with numpy; the same ``seed`` gives the same tables and, through
:func:`portfolio_files`, byte-identical files. Nothing here prints or writes files.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from graphrisk.schema import SCHEMA

__all__ = ["AS_OF", "MIN_ENTERPRISES", "SyntheticPortfolio", "generate_portfolio", "portfolio_files"]

AS_OF = "2026-06-30"
"""The portfolio's observation date: guarantees ending before it have expired."""

MIN_ENTERPRISES = 200
"""Fewer enterprises leave no room for every planted pattern next to a background."""

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
StrArray = NDArray[np.str_]

_AS_OF_DAY = int(np.datetime64(AS_OF, "D").astype(np.int64))

# ---------------------------------------------------------------------------------------------------------
# Reference data. Regions: (admin division code, province, city, district, short name used in company names,
# telephone area code, weight ~ share of registered firms).
_REGIONS: tuple[tuple[str, str, str, str, str, str, float], ...] = (
    ("110105", "北京市", "北京市", "朝阳区", "北京", "010", 4.0),
    ("110108", "北京市", "北京市", "海淀区", "北京", "010", 3.5),
    ("110101", "北京市", "北京市", "东城区", "北京", "010", 1.0),
    ("310115", "上海市", "上海市", "浦东新区", "上海", "021", 4.5),
    ("310104", "上海市", "上海市", "徐汇区", "上海", "021", 1.5),
    ("310112", "上海市", "上海市", "闵行区", "上海", "021", 2.0),
    ("120116", "天津市", "天津市", "滨海新区", "天津", "022", 2.0),
    ("500103", "重庆市", "重庆市", "渝中区", "重庆", "023", 2.0),
    ("330106", "浙江省", "杭州市", "西湖区", "杭州", "0571", 2.5),
    ("330108", "浙江省", "杭州市", "滨江区", "杭州", "0571", 2.0),
    ("330110", "浙江省", "杭州市", "余杭区", "杭州", "0571", 2.5),
    ("330212", "浙江省", "宁波市", "鄞州区", "宁波", "0574", 2.0),
    ("330302", "浙江省", "温州市", "鹿城区", "温州", "0577", 1.5),
    ("330782", "浙江省", "金华市", "义乌市", "义乌", "0579", 1.5),
    ("320102", "江苏省", "南京市", "玄武区", "南京", "025", 2.0),
    ("320505", "江苏省", "苏州市", "虎丘区", "苏州", "0512", 2.0),
    ("320583", "江苏省", "苏州市", "昆山市", "昆山", "0512", 1.5),
    ("320211", "江苏省", "无锡市", "滨湖区", "无锡", "0510", 1.5),
    ("440305", "广东省", "深圳市", "南山区", "深圳", "0755", 3.5),
    ("440304", "广东省", "深圳市", "福田区", "深圳", "0755", 2.5),
    ("440106", "广东省", "广州市", "天河区", "广州", "020", 3.0),
    ("441900", "广东省", "东莞市", "", "东莞", "0769", 2.0),
    ("440606", "广东省", "佛山市", "顺德区", "佛山", "0757", 1.5),
    ("350203", "福建省", "厦门市", "思明区", "厦门", "0592", 1.5),
    ("350102", "福建省", "福州市", "鼓楼区", "福州", "0591", 1.2),
    ("370102", "山东省", "济南市", "历下区", "济南", "0531", 1.5),
    ("370202", "山东省", "青岛市", "市南区", "青岛", "0532", 1.5),
    ("410105", "河南省", "郑州市", "金水区", "郑州", "0371", 1.5),
    ("420106", "湖北省", "武汉市", "武昌区", "武汉", "027", 1.5),
    ("430104", "湖南省", "长沙市", "岳麓区", "长沙", "0731", 1.2),
    ("510107", "四川省", "成都市", "武侯区", "成都", "028", 2.0),
    ("610113", "陕西省", "西安市", "雁塔区", "西安", "029", 1.2),
    ("340104", "安徽省", "合肥市", "蜀山区", "合肥", "0551", 1.2),
    ("360102", "江西省", "南昌市", "东湖区", "南昌", "0791", 0.8),
    ("210202", "辽宁省", "大连市", "中山区", "大连", "0411", 0.8),
    ("130104", "河北省", "石家庄市", "桥西区", "石家庄", "0311", 0.8),
    ("450103", "广西壮族自治区", "南宁市", "青秀区", "南宁", "0771", 0.6),
    ("530102", "云南省", "昆明市", "五华区", "昆明", "0871", 0.6),
)

# Birthplace codes for resident IDs, with the first birth year for which the code was in use (stdnum checks
# the code against the birth year, as the registry does).
_BIRTHPLACES: tuple[tuple[str, int, float], ...] = (
    ("110101", 1950, 1.0),
    ("110105", 1950, 1.5),
    ("110108", 1950, 1.5),
    ("110106", 1950, 0.8),
    ("120103", 1950, 0.8),
    ("310104", 1950, 1.2),
    ("310107", 1950, 0.8),
    ("330122", 1950, 1.0),
    ("340421", 1950, 1.0),
    ("360121", 1950, 1.0),
    ("430321", 1950, 1.0),
    ("510321", 1950, 1.0),
    ("530124", 1950, 0.6),
    ("620121", 1950, 0.6),
    ("429001", 1950, 1.0),
    ("610326", 1950, 0.8),
    ("210726", 1950, 0.6),
    ("140123", 1950, 0.6),
    ("330106", 1983, 1.5),
    ("330102", 1983, 1.0),
    ("320102", 1983, 1.0),
    ("370102", 1983, 1.0),
    ("410105", 1983, 1.2),
    ("420106", 1983, 1.2),
    ("350203", 1983, 0.8),
    ("440104", 1983, 1.2),
    ("440106", 1985, 1.0),
    ("510107", 1990, 1.0),
    ("500103", 1997, 0.8),
    ("330782", 1989, 0.8),
    ("320583", 1989, 0.8),
    ("441900", 1988, 1.0),
)

# GB/T 4754-2017 sections: (name, weight, words used in company names).
_INDUSTRIES: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("农、林、牧、渔业", 2.0, ("农业科技", "生态农业", "农产品", "养殖", "林业")),
    ("采矿业", 1.0, ("矿业", "能源开发", "矿产品")),
    (
        "制造业",
        28.0,
        (
            "机械制造",
            "电子",
            "新材料",
            "化工",
            "纺织",
            "服饰",
            "汽车零部件",
            "精密机械",
            "食品",
            "医疗器械",
            "塑胶制品",
            "五金制品",
            "光电",
            "包装",
            "家具",
            "智能装备",
        ),
    ),
    ("电力、热力、燃气及水生产和供应业", 2.0, ("电力", "新能源", "燃气", "水务", "热力")),
    ("建筑业", 9.0, ("建设工程", "建筑工程", "装饰工程", "市政工程", "钢结构工程")),
    ("批发和零售业", 22.0, ("贸易", "商贸", "供应链管理", "进出口", "电子商务", "百货", "医药")),
    ("交通运输、仓储和邮政业", 4.0, ("物流", "运输", "仓储", "货运代理")),
    ("住宿和餐饮业", 2.0, ("餐饮管理", "酒店管理", "餐饮")),
    ("信息传输、软件和信息技术服务业", 8.0, ("科技", "信息技术", "网络科技", "软件", "数据科技", "智能科技")),
    ("金融业", 1.0, ("融资租赁", "商业保理", "典当")),
    ("房地产业", 4.0, ("房地产开发", "置业", "物业管理", "地产")),
    ("租赁和商务服务业", 10.0, ("商务咨询", "企业管理", "投资", "广告", "人力资源", "会展服务")),
    ("科学研究和技术服务业", 4.0, ("生物科技", "检测技术", "环保科技", "工程设计", "医药科技")),
    ("水利、环境和公共设施管理业", 1.0, ("环境工程", "园林绿化", "环境治理")),
    ("居民服务、修理和其他服务业", 1.0, ("家政服务", "汽车服务", "维修服务")),
    ("教育", 0.5, ("教育科技", "培训")),
    ("卫生和社会工作", 0.5, ("医疗管理", "健康管理")),
    ("文化、体育和娱乐业", 1.0, ("文化传媒", "影视", "体育发展", "文化发展")),
)
_PUBLIC_ADMIN = "公共管理、社会保障和社会组织"
_BUSINESS_SERVICES = 11  # index of 租赁和商务服务业: holding companies are registered there
_HOLDING_WORDS = ("控股", "实业", "投资控股", "产业")
_STATE_HOLDING_WORDS = ("城市建设投资", "交通投资", "国有资本运营", "产业投资", "文化旅游", "水务", "能源")

_LEGAL_FORMS = ("有限公司", "有限责任公司", "股份有限公司", "集团有限公司")
_STATUSES = ("存续", "在业", "吊销", "注销")
_ROLES = ("legal_representative", "chairman", "director", "supervisor", "manager", "finance_head")
_KINDS = ("guarantee", "mortgage", "pledge")
_RATINGS = (
    "AAA",
    "AA+",
    "AA",
    "AA-",
    "A+",
    "A",
    "A-",
    "BBB+",
    "BBB",
    "BBB-",
    "BB+",
    "BB",
    "BB-",
    "B+",
    "B",
    "B-",
    "CCC",
    "CC",
)
_DEFAULT_RATING = "C"
_PD_MIN, _PD_MAX = 0.0003, 0.3

_BRAND_CHARS = (
    "华泰恒盛鑫瑞德信达隆兴宏安康博诚丰汇金源天海新创中科远明荣宝嘉和正通伟祥永佳亿铭润锦辰帆航腾飞骏星晟启元"
    "方圆同合力美优众联凯越鼎晶峰泽宸睿昊坤乾顺福禄祺裕懋翔立东南万千百云山川湖江龙凤鹏蓝青光辉耀展赢胜卓尚"
    "品益利拓朗弘昌茂晖景诺舜尧汉唐宁泓沃"
)
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN_CHARS = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂华建国文辉鹏宇浩凯俊斌飞鑫波宁婷雪玲燕萍红梅兰云丹琳晶莉颖"
    "慧佳欣怡思雨晨阳子轩博航宏志春海峰林亮成东新荣庆生永福金德祥兴安康瑞嘉家晓小天立正清振继良光玉秋月冬淑美"
    "琴芬翠彬越源卓睿铭泽昊然"
)
_ROADS = (
    "人民路",
    "解放路",
    "中山路",
    "建设路",
    "文化路",
    "科技路",
    "创业大道",
    "学院路",
    "长江路",
    "黄河路",
    "和平路",
    "新华路",
    "青年路",
    "东风路",
    "胜利路",
    "光明路",
    "工业路",
    "南京路",
    "北京路",
    "环城东路",
    "环城西路",
    "滨江大道",
    "世纪大道",
    "迎宾大道",
    "金融街",
    "高新大道",
    "朝阳路",
    "延安路",
    "复兴路",
    "淮海路",
    "长安街",
    "湖滨路",
    "春晖路",
    "秋实路",
    "兴业路",
    "振兴路",
    "发展大道",
    "创新路",
    "未来路",
    "智慧路",
    "天府大道",
    "深南大道",
    "珠江路",
    "钱江路",
    "太湖路",
    "西湖大道",
    "江南大道",
    "东方路",
    "锦绣路",
    "同心路",
)
_BUILDINGS = ("大厦", "国际中心", "商务中心", "科技园", "广场", "金融中心", "产业园")
_COMMUNITIES = ("花园", "小区", "公寓", "家园", "新村", "苑", "名都", "华庭")
_PARKS = ("众创空间", "创业园", "孵化器", "总部基地", "电商产业园", "科创中心")
_MOBILE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "198",
    "199",
)
_FREE_MAIL = ("163.com", "126.com", "sina.com", "foxmail.com", "139.com", "aliyun.com")
_CORP_TLD = (".com", ".com.cn", ".cn", ".net")
_MAIL_BOXES = ("info", "service", "admin", "hr", "sales", "contact", "finance")

# GB 32100-2015 (USCC) and GB 11714 (organisation code) alphabets and weights.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = np.full(128, -1, dtype=np.int64)
for _i, _ch in enumerate(_USCC_ALPHABET):
    _USCC_VALUE[ord(_ch)] = _i
_USCC_ASCII = np.frombuffer(_USCC_ALPHABET.encode(), dtype=np.uint8)
_USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_ORG_VALUE = np.full(128, -1, dtype=np.int64)
for _ch in "0123456789":
    _ORG_VALUE[ord(_ch)] = int(_ch)
for _ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    _ORG_VALUE[ord(_ch)] = ord(_ch) - 55  # GB 11714: A = 10 … Z = 35
_ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_RIC_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
_DIGIT_ASCII = np.frombuffer(b"0123456789X", dtype=np.uint8)


@dataclass(frozen=True)
class SyntheticPortfolio:
    """Input tables keyed by schema table name, and the planted patterns (``ground_truth``)."""

    tables: dict[str, pd.DataFrame]
    ground_truth: dict[str, Any]


# ---------------------------------------------------------------------------------------------------------
# Small vectorised helpers.


def _cat(*parts: StrArray | str) -> StrArray:
    """Element-wise concatenation of string arrays and scalars."""
    out = np.asarray(parts[0], dtype=np.str_)
    for p in parts[1:]:
        out = np.strings.add(out, np.asarray(p, dtype=np.str_))
    return out


def _num(x: IntArray, width: int = 0) -> StrArray:
    s = np.asarray(x, dtype=np.int64).astype(np.str_)
    return np.strings.zfill(s, width) if width else s


def _dates(days: IntArray) -> StrArray:
    return np.asarray(days, dtype="datetime64[D]").astype("U10")


def _choice(
    rng: np.random.Generator, k: int, size: int, weights: Sequence[float] | FloatArray | None = None
) -> IntArray:
    p = None if weights is None else np.asarray(weights, dtype=np.float64) / float(np.sum(weights))
    return rng.choice(k, size=size, p=p).astype(np.int64)


def _unique_ints(rng: np.random.Generator, high: int, size: int) -> IntArray:
    """``size`` distinct integers in ``[0, high)``: draw, then redraw the repeats until none are left."""
    if size > high // 2:
        raise ValueError(f"cannot draw {size} distinct values below {high}")
    out = rng.integers(0, high, size=size, dtype=np.int64)
    while True:
        _, first = np.unique(out, return_index=True)
        dup = np.ones(size, dtype=bool)
        dup[first] = False
        if not dup.any():
            return out
        out[dup] = rng.integers(0, high, size=int(dup.sum()), dtype=np.int64)


def _digits(x: IntArray, width: int) -> IntArray:
    """Decimal digits of non-negative integers, most significant first, shape (len(x), width)."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (np.asarray(x, dtype=np.int64)[:, None] // powers) % 10


def _ascii_rows(a: NDArray[np.uint8]) -> StrArray:
    """Rows of ASCII codes → strings."""
    a = np.ascontiguousarray(a, dtype=np.uint8)
    return a.view(f"S{a.shape[1]}").ravel().astype(f"U{a.shape[1]}")


def _uscc_check(codes17: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """GB 32100-2015 check characters (ASCII) of rows of 17 USCC characters (ASCII)."""
    total = (_USCC_VALUE[codes17] * _USCC_WEIGHTS).sum(axis=1)
    return _USCC_ASCII[(31 - total % 31) % 31]


def _org_check(body8: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """GB 11714 organisation-code check characters (ASCII): 11 - sum mod 11, 10 → X, 11 → 0."""
    c = 11 - (_ORG_VALUE[body8] * _ORG_WEIGHTS).sum(axis=1) % 11
    c = np.where(c == 11, 0, c)
    return _DIGIT_ASCII[c]


def _ric_check(body17: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """GB 11643-1999 check characters (ASCII) of rows of 17 resident-ID digits (ASCII)."""
    s = ((body17.astype(np.int64) - 48) * _RIC_WEIGHTS).sum(axis=1)
    return _DIGIT_ASCII[(12 - s % 11) % 11]


def _segments(sizes: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """For groups of the given sizes laid end to end: (group of each item, position in group, group starts)."""
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    group = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    pos = np.arange(int(sizes.sum()), dtype=np.int64) - starts[group]
    return group, pos, starts


def _split(flat: IntArray, sizes: IntArray) -> list[list[int]]:
    return [part.tolist() for part in np.split(flat, np.cumsum(sizes)[:-1])] if len(sizes) else []


def _micro(x: FloatArray) -> IntArray:
    """Shares are kept in millionths so that sums per company are exact."""
    return np.floor(np.asarray(x) * 1_000_000).astype(np.int64)


# ---------------------------------------------------------------------------------------------------------
# The generator.


class _Gen:
    """One portfolio under construction: integer indices everywhere, strings only at the end."""

    def __init__(self, n: int, seed: int, progress: Callable[[str], None] | None) -> None:
        self.n = n
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._progress = progress
        self.patterns: list[dict[str, Any]] = []

    def say(self, msg: str) -> None:
        if self._progress is not None:
            self._progress(msg)

    # -- structure: state bodies, pyramids, standalone families ------------------------------------------

    def structure(self) -> None:
        rng, n = self.rng, self.n
        self.n_state = int(min(max(2, n // 2000), 30))  # SASACs; _REGIONS has more than 30 cities and provinces
        n_ops = n - self.n_state
        self.ops = np.arange(self.n_state, n, dtype=np.int64)
        perm = rng.permutation(self.ops)

        # Pyramids: depth 1..6, one top company, each lower level 1..5 firms hanging under the level above.
        target = int(0.3 * n_ops)
        k = target // 3 + 10
        depth = 1 + _choice(rng, 6, k, (0.30, 0.27, 0.18, 0.12, 0.08, 0.05))
        depth[:6] = np.arange(6, 0, -1)  # every depth occurs, even in small portfolios
        seg_pyr, seg_level, _ = _segments(depth)
        seg_size = np.where(seg_level == 0, 1, np.minimum(1 + rng.poisson(1.2, len(seg_pyr)), 5))
        pyr_size = np.bincount(seg_pyr, weights=seg_size, minlength=k).astype(np.int64)
        n_pyr = max(1, int(np.searchsorted(np.cumsum(pyr_size), target, side="right")))
        keep = seg_pyr < n_pyr
        seg_pyr, seg_level, seg_size = seg_pyr[keep], seg_level[keep], seg_size[keep]
        self.pyr_depth = depth[:n_pyr]
        firm_seg, _, seg_start = _segments(seg_size)
        n_pyr_firms = len(firm_seg)
        u = rng.random(n_pyr_firms)
        parent_pos = seg_start[np.maximum(firm_seg - 1, 0)] + (u * seg_size[np.maximum(firm_seg - 1, 0)]).astype(
            np.int64
        )
        pyr_firms = perm[:n_pyr_firms]
        self.fam = np.full(n, -1, dtype=np.int64)
        self.level = np.zeros(n, dtype=np.int64)
        self.parent = np.full(n, -1, dtype=np.int64)
        self.fam[pyr_firms] = seg_pyr[firm_seg]
        self.level[pyr_firms] = seg_level[firm_seg]
        lower = seg_level[firm_seg] > 0
        self.parent[pyr_firms[lower]] = pyr_firms[parent_pos[lower]]
        self.pyr_members = pyr_firms  # grouped by pyramid, then level
        self.pyr_member_pyr = seg_pyr[firm_seg]

        # A few state bodies root some pyramids (local SOE groups); the rest are rooted in a founder.
        n_state_pyr = min(max(self.n_state, round(0.15 * n_pyr)), self.n_state * 40, n_pyr)
        self.pyr_state = np.full(n_pyr, -1, dtype=np.int64)
        state_pyrs = rng.choice(n_pyr, size=n_state_pyr, replace=False)
        self.pyr_state[np.sort(state_pyrs)] = np.arange(n_state_pyr) % self.n_state

        # Standalone firms: families of 1..5 firms under the same founder(s).
        rest = perm[n_pyr_firms:]
        sizes = 1 + _choice(rng, 5, len(rest) // 2 + 2, (0.25, 0.25, 0.20, 0.15, 0.15))
        n_fam_sa = int(np.searchsorted(np.cumsum(sizes), len(rest), side="left")) + 1
        sizes = sizes[:n_fam_sa].copy()
        sizes[-1] -= int(sizes.sum()) - len(rest)
        sizes = sizes[sizes > 0]
        sa_group, _, sa_start = _segments(sizes)
        self.fam[rest] = n_pyr + sa_group
        self.n_fam = n_pyr + len(sizes)
        self.fam_is_pyr = np.arange(self.n_fam) < n_pyr
        self.sa_heads = rest[sa_start]  # first firm of each standalone family
        self.is_pyr_firm = np.zeros(n, dtype=bool)
        self.is_pyr_firm[pyr_firms] = True

        # Persons: each family has its own people, so officers and holders never link unrelated families by
        # accident (planted hidden groups are the only such links).
        psize = np.where(self.fam_is_pyr, 2 + rng.binomial(2, 0.3, self.n_fam), 1 + (rng.random(self.n_fam) < 0.3))
        self.fam_psize = psize.astype(np.int64)
        self.fam_pstart = np.concatenate(([0], np.cumsum(self.fam_psize)[:-1])).astype(np.int64)
        self.n_fam_persons = int(self.fam_psize.sum())
        self.n_investors = max(20, n // 500)
        self.investor0 = self.n_fam_persons
        self.say(
            f"structure: {n_pyr:,} pyramids ({n_pyr_firms:,} firms, {n_state_pyr:,} state-rooted), "
            f"{len(sizes):,} standalone families, {self.n_state} state bodies"
        )

    # -- pattern pools that need distinct, unrelated firms --------------------------------------------

    def pools(self) -> None:
        rng, n = self.rng, self.n
        n_ops = n - self.n_state
        self.listed = np.zeros(n, dtype=bool)
        n_listed = max(2, round(0.01 * n_ops))
        # Listed firms: mostly group tops and their first-level subsidiaries, some standalone firms.
        w = np.where(self.is_pyr_firm[self.ops] & (self.level[self.ops] <= 1), 6.0, 1.0)
        self.listed[rng.choice(self.ops, size=n_listed, replace=False, p=w / w.sum())] = True

        # Pattern pools come from distinct standalone families without a listed firm, so that no ownership
        # path (not even through a listed firm's dispersed investors) joins two members.
        with_listed = np.unique(self.fam[self.listed])
        heads = self.sa_heads[~np.isin(self.fam[self.sa_heads], with_listed)]
        heads = heads[rng.permutation(len(heads))]
        cur = 0

        def take(k: int) -> IntArray:
            nonlocal cur
            if cur + k > len(heads):
                raise ValueError("too few enterprises for the planted patterns; use more enterprises")
            out = heads[cur : cur + k]
            cur += k
            return out

        n_hidden = max(3, n // 400)
        self.hidden_sizes = 2 + _choice(rng, 5, n_hidden, (0.35, 0.3, 0.18, 0.1, 0.07))
        self.hidden_members = take(int(self.hidden_sizes.sum()))
        n_cross = max(2, n // 1000)
        self.cross_pairs = take(2 * n_cross).reshape(n_cross, 2)
        n_hub = max(1, n // 10000)
        hi = int(min(300, max(10, n // 20)))
        lo = int(min(50, max(8, hi // 2)))
        self.hub_sizes = rng.integers(lo, hi + 1, size=n_hub).astype(np.int64)
        self.hub_members = take(int(self.hub_sizes.sum()))

    # -- enterprises -------------------------------------------------------------------------------------

    def enterprises(self) -> None:
        rng, n = self.rng, self.n
        ns = self.n_state
        # Regions: group members often sit with their top company; planted sharers share one region.
        region = _choice(rng, len(_REGIONS), n, [r[6] for r in _REGIONS])
        top = self.pyr_members[self.level[self.pyr_members] == 0]
        top_of_pyr = np.empty(len(self.pyr_depth), dtype=np.int64)
        top_of_pyr[self.fam[top]] = top
        same = (self.level[self.pyr_members] > 0) & (rng.random(len(self.pyr_members)) < 0.6)
        region[self.pyr_members[same]] = region[top_of_pyr[self.fam[self.pyr_members[same]]]]
        for members, sizes in ((self.hidden_members, self.hidden_sizes), (self.hub_members, self.hub_sizes)):
            grp, _, starts = _segments(sizes)
            region[members] = region[members[starts[grp]]]

        # State bodies: city or province SASACs.
        # (name, region text, admin code, index of the region its groups and phone area belong to)
        bodies: dict[str, tuple[str, str, str, int]] = {}
        for i, r in enumerate(_REGIONS):
            if r[1] != r[2]:
                city_code = r[0][:4] + "00"
                bodies.setdefault(city_code, (f"{r[2]}国有资产监督管理委员会", r[1] + r[2], city_code, i))
            prov_code = r[0][:2] + "0000"
            bodies.setdefault(prov_code, (f"{r[1]}人民政府国有资产监督管理委员会", r[1], prov_code, i))
        body_list = [bodies[k] for k in sorted(bodies)]
        pick = np.sort(rng.choice(len(body_list), size=ns, replace=False))
        state_names = np.array([body_list[i][0] for i in pick], dtype=np.str_)
        state_region = np.array([body_list[i][1] for i in pick], dtype=np.str_)
        state_code = np.array([body_list[i][2] for i in pick], dtype=np.str_)
        # State groups live where their owner is.
        body_region = np.array([body_list[i][3] for i in pick], dtype=np.int64)
        state_pyr_idx = np.flatnonzero(self.pyr_state >= 0)
        members_of_state = np.isin(self.fam[self.pyr_members], state_pyr_idx)
        sm = self.pyr_members[members_of_state]
        region[sm] = body_region[self.pyr_state[self.fam[sm]]]
        region[:ns] = body_region  # for the SASACs' own area codes
        self.region = region
        self.state_owned = np.zeros(n, dtype=bool)
        self.state_owned[:ns] = True
        self.state_owned[sm] = True

        # Industry and the word in the name.
        ind = _choice(rng, len(_INDUSTRIES), n, [i[1] for i in _INDUSTRIES])
        word_count = np.array([len(i[2]) for i in _INDUSTRIES])
        word = (rng.random(n) * word_count[ind]).astype(np.int64)
        words = np.array([w for i in _INDUSTRIES for w in i[2]], dtype=np.str_)
        word_start = np.concatenate(([0], np.cumsum(word_count)[:-1]))
        word_text = words[word_start[ind] + word]
        form = _choice(rng, 3, n, (0.55, 0.37, 0.08))
        is_top = np.zeros(n, dtype=bool)
        is_top[top] = True
        group_top = is_top & self.is_pyr_firm
        group_top[self.is_pyr_firm] &= self.pyr_depth[self.fam[self.is_pyr_firm]] >= 2
        hold_word = np.array(_HOLDING_WORDS)[rng.integers(0, len(_HOLDING_WORDS), n)]
        state_word = np.array(_STATE_HOLDING_WORDS)[rng.integers(0, len(_STATE_HOLDING_WORDS), n)]
        word_text = np.where(group_top, np.where(self.state_owned, state_word, hold_word), word_text)
        ind = np.where(group_top, _BUSINESS_SERVICES, ind)
        form = np.where(group_top & (rng.random(n) < 0.8), 3, form)
        form = np.where(self.listed, 2, form)
        # Brands: group members usually carry the top company's brand.
        n_brand = len(_BRAND_CHARS)
        brand = rng.integers(0, n_brand * n_brand, size=n)
        inherit = self.is_pyr_firm & ~is_top & (rng.random(n) < 0.8)
        pm = np.flatnonzero(inherit)
        brand[pm] = brand[top_of_pyr[self.fam[pm]]]
        chars = np.array(list(_BRAND_CHARS), dtype=np.str_)
        short = np.array([r[4] for r in _REGIONS], dtype=np.str_)
        forms = np.array(_LEGAL_FORMS, dtype=np.str_)
        names = _cat(short[region], chars[brand // n_brand], chars[brand % n_brand], word_text, forms[form])
        names = names.astype(object)  # fixed-width arrays would truncate the longer SASAC names
        names[:ns] = state_names
        # Registered names are unique: redraw the brand of any repeat.
        while True:
            dup = pd.Series(names).duplicated().to_numpy()
            if not dup.any():
                break
            idx = np.flatnonzero(dup)
            b = rng.integers(0, n_brand * n_brand, size=len(idx))
            names[idx] = _cat(
                short[region[idx]], chars[b // n_brand], chars[b % n_brand], word_text[idx], forms[form[idx]]
            )
        self.names = names.astype(np.str_)
        ind_names = np.array([i[0] for i in _INDUSTRIES], dtype=np.str_)
        self.industry = ind_names[ind].astype(object)
        self.industry[:ns] = _PUBLIC_ADMIN
        reg_text = np.array([r[1] + (r[2] if r[2] != r[1] else "") + r[3] for r in _REGIONS], dtype=np.str_)
        self.region_text = reg_text[region].astype(object)
        self.region_text[:ns] = state_region
        self.region_text = self.region_text.astype(np.str_)

        # Established: skewed to the last fifteen years; group tops and listed firms are older.
        start, end = (
            int(np.datetime64("1992-01-01").astype(np.int64)),
            int(np.datetime64("2025-12-31").astype(np.int64)),
        )
        est = start + ((end - start) * rng.beta(2.2, 1.2, n)).astype(np.int64)
        older = is_top | self.listed
        est[older] = start + ((end - start) * rng.beta(1.5, 2.5, int(older.sum()))).astype(np.int64)
        est[:ns] = int(np.datetime64("2004-06-01").astype(np.int64)) + rng.integers(0, 700, ns)
        self.est = est

        # USCC: 9 (market regulator) + 1 (company) for firms, 1 1 (government organ) for SASACs.
        reg_codes = np.array([r[0] for r in _REGIONS], dtype="S6")[region]
        reg_codes[:ns] = state_code.astype("S6")
        codes = np.empty((n, 18), dtype=np.uint8)
        codes[:, 0] = ord("9")
        codes[:, 1] = ord("1")
        codes[:ns, 0:2] = ord("1")
        codes[:, 2:8] = reg_codes.view(np.uint8).reshape(n, 6)
        # Organisation codes: since late 2015 they start with "MA"; before, eight digits.
        new = est >= int(np.datetime64("2015-10-01").astype(np.int64))
        n_new = int(new.sum())
        old_codes = _unique_ints(rng, 10**8, n - n_new)
        codes[~new, 8:16] = _digits(old_codes, 8) + 48
        alnum = np.frombuffer(b"0123456789ABCDEFGHJKLMNPQRTUWXY", dtype=np.uint8)
        new_codes = _unique_ints(rng, 31**6, n_new)
        pw = 31 ** np.arange(5, -1, -1, dtype=np.int64)
        codes[new, 8] = ord("M")
        codes[new, 9] = ord("A")
        codes[new, 10:16] = alnum[(new_codes[:, None] // pw) % 31]
        codes[:, 16] = _org_check(codes[:, 8:16])
        codes[:, 17] = _uscc_check(codes[:, :17])
        self.uscc = _ascii_rows(codes)
        self.ent_list: list[str] = self.uscc.tolist()  # Python strings for the ground truth

        # Status, financials, risk.
        status = _choice(rng, 4, n, (0.70, 0.22, 0.05, 0.03))
        status[:ns] = 0
        size = rng.standard_normal(n) + 1.2 * is_top + 0.6 * self.is_pyr_firm + 2.5 * self.listed
        assets = np.round(np.exp(np.log(2e7) + 1.5 * size), 2)
        lev = rng.beta(4.0, 3.5, n)
        insolvent = rng.random(n) < 0.02
        lev[insolvent] = rng.uniform(1.0, 1.4, int(insolvent.sum()))
        liabilities = np.round(assets * lev, 2)
        net = np.round(assets - liabilities, 2)
        cap = assets * rng.uniform(0.05, 0.5, n)
        step = 10.0 ** (np.floor(np.log10(cap)) - 1)
        capital = np.maximum(np.round(cap / step) * step, 1e5)
        capital = np.round(capital / 1e4) * 1e4  # registered capital is a round number of 万元
        revenue_true = np.round(assets * np.exp(np.log(0.7) + 0.6 * rng.standard_normal(n)), 2)
        logit = -6.8 + 5.0 * lev - 0.4 * size + 0.7 * rng.standard_normal(n)
        pd_ = np.clip(1.0 / (1.0 + np.exp(-logit)), _PD_MIN, _PD_MAX)
        p_def = np.minimum(1.0, pd_ * (0.01 / pd_.mean()))
        defaulted = rng.random(n) < p_def
        defaulted[:ns] = False
        pd_ = np.round(pd_, 6)
        bounds = np.geomspace(_PD_MIN, _PD_MAX, len(_RATINGS) + 1)[1:-1]
        rating = np.array(_RATINGS, dtype=np.str_)[np.searchsorted(bounds, pd_, side="right")]
        rating = np.where(defaulted, _DEFAULT_RATING, rating)
        pd_ = np.where(defaulted, 1.0, pd_)
        for a in (assets, liabilities, net, capital, revenue_true, pd_):
            a[:ns] = np.nan
        rating[:ns] = ""
        revenue = revenue_true.copy()
        revenue[rng.random(n) < 0.05] = np.nan
        self.status, self.assets, self.liabilities, self.net = status, assets, liabilities, net
        self.capital, self.revenue_true, self.revenue = capital, revenue_true, revenue
        self.pd, self.rating = pd_, rating
        self.defaulted = defaulted
        self.say(f"enterprises: {n:,} ({int(self.listed.sum()):,} listed, {int(defaulted.sum()):,} defaulted)")

    # -- persons -------------------------------------------------------------------------------------------

    def persons(self) -> None:
        rng = self.rng
        n_hidden = len(self.hidden_sizes)
        self.agent0 = self.investor0 + self.n_investors
        self.official0 = self.agent0 + n_hidden  # one bookkeeping agent per hidden group
        np_ = self.official0 + self.n_state  # each SASAC's director is its legal representative
        self.n_persons = np_
        ns, ng = len(_SURNAMES), len(_GIVEN_CHARS)
        n_given = ng + ng * ng
        sw = (1.0 / (np.arange(ns) + 8.0)).tolist()  # Zipf-like: 王李张 are far commoner than 汤
        code = _choice(rng, ns, np_, sw) * n_given + rng.integers(0, n_given, np_)
        # Background names are unique so that the only same-name persons are the planted ones.
        while True:
            _, first = np.unique(code, return_index=True)
            dup = np.ones(np_, dtype=bool)
            dup[first] = False
            if not dup.any():
                break
            k = int(dup.sum())
            code[dup] = _choice(rng, ns, k, sw) * n_given + rng.integers(0, n_given, k)
        sur, given = code // n_given, code % n_given
        gchars = np.array(list(_GIVEN_CHARS), dtype=np.str_)
        one = given < ng
        g2 = given - ng
        given_text = np.where(
            one,
            gchars[np.minimum(given, ng - 1)],
            _cat(gchars[np.maximum(g2, 0) // ng], gchars[np.maximum(g2, 0) % ng]),
        )
        names = _cat(np.array(list(_SURNAMES), dtype=np.str_)[sur], given_text)

        # Same-name persons: groups of 2–3 distinct people given one name.
        n_same = max(3, self.n // 500)
        same_sizes = 2 + (rng.random(n_same) < 0.3).astype(np.int64)
        same = rng.choice(self.n_fam_persons, size=int(same_sizes.sum()), replace=False).astype(np.int64)
        grp, _, starts = _segments(same_sizes)
        names[same] = names[same[starts[grp]]]
        self.p_names = names
        self.same_groups = (same, same_sizes)

        # Resident ID: birthplace code, birth date (not before the code existed), sequence, check character.
        bp = _choice(rng, len(_BIRTHPLACES), np_, [b[2] for b in _BIRTHPLACES])
        first_year = np.maximum(np.array([b[1] for b in _BIRTHPLACES])[bp], 1955)
        year = first_year + (rng.random(np_) * (2003 - first_year + 1)).astype(np.int64)
        jan1 = (year - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
        birth = jan1 + rng.integers(0, 365, np_)
        ymd = np.asarray(birth, dtype="datetime64[D]").astype("U10")
        ymd_int = np.strings.replace(ymd, "-", "").astype(np.int64)
        bp_codes = np.array([int(b[0]) for b in _BIRTHPLACES], dtype=np.int64)[bp]
        body = bp_codes * 10**11 + ymd_int * 1000 + rng.integers(0, 1000, np_)
        while True:
            _, first = np.unique(body, return_index=True)
            dup = np.ones(np_, dtype=bool)
            dup[first] = False
            if not dup.any():
                break
            body[dup] = (body[dup] // 1000) * 1000 + rng.integers(0, 1000, int(dup.sum()))
        ric = np.empty((np_, 18), dtype=np.uint8)
        ric[:, :17] = _digits(body, 17) + 48
        ric[:, 17] = _ric_check(ric[:, :17])
        self.p_idnum = _ascii_rows(ric)
        # The output id is a shuffled serial, so that neighbouring ids say nothing about families.
        width = max(6, len(str(np_)))
        self.p_label = _cat("P", _num(1 + rng.permutation(np_), width))
        self.say(f"persons: {np_:,} ({n_same:,} same-name groups)")

    # -- contacts: addresses, phones, emails ------------------------------------------------------------

    def contacts(self) -> None:
        rng, n = self.rng, self.n
        np_ = self.n_persons
        n_hidden = len(self.hidden_sizes)
        n_hub = len(self.hub_sizes)
        roads = np.array(_ROADS, dtype=np.str_)

        # Firm addresses: unique by construction (a distinct number encodes road, number, building, room).
        u = _unique_ints(rng, len(_ROADS) * 800 * 30 * 3000, n + n_hidden)
        road, num, bld, room = (
            u % len(_ROADS),
            (u // len(_ROADS)) % 800,
            (u // (len(_ROADS) * 800)) % 30,
            u // (len(_ROADS) * 800 * 30),
        )
        bchars = np.array(list(_BRAND_CHARS), dtype=np.str_)
        bname = _cat(
            bchars[(u // 7) % len(bchars)],
            bchars[(u // 11) % len(bchars)],
            np.array(_BUILDINGS, dtype=np.str_)[bld % len(_BUILDINGS)],
        )
        floor_room = _cat(_num(1 + room // 100), _num(room % 100, 2))
        reg_all = np.concatenate(
            (self.region_text, self.region_text[self.hidden_members[_segments(self.hidden_sizes)[2]]])
        )
        addr = _cat(
            reg_all, roads[road], _num(1 + num), "号", bname, _num(1 + bld // len(_BUILDINGS)), "幢", floor_room, "室"
        )
        self.address = addr[:n].astype(object)
        hidden_addr = addr[n:].copy()
        del addr, bname, floor_room, reg_all

        # Phones: landlines with the region's area code, or mobiles; all numbers distinct.
        area = np.array([r[5] for r in _REGIONS], dtype=np.str_)
        land = _unique_ints(rng, 10**7, n + n_hidden)
        land_text = _cat(
            area[np.concatenate((self.region, self.region[self.hidden_members[_segments(self.hidden_sizes)[2]]]))],
            "-",
            _num(2 + land % 7),
            _num(land // 7 % 10**7, 7),
        )
        mob = _unique_ints(rng, 10**8, n + np_)
        mob_text = _cat(
            np.array(_MOBILE_PREFIXES, dtype=np.str_)[rng.integers(0, len(_MOBILE_PREFIXES), n + np_)], _num(mob, 8)
        )
        kind = _choice(rng, 3, n, (0.55, 0.40, 0.05))
        phone = np.where(kind == 0, land_text[:n], mob_text[:n]).astype(object)
        phone[kind == 2] = None
        phone[: self.n_state] = land_text[: self.n_state]
        self.p_phone = mob_text[n:].astype(object)
        self.p_phone[rng.random(np_) < 0.1] = None
        # Small firms often list the founder's mobile: a link inside one family, never across families.
        founder = self.fam_pstart[np.maximum(self.fam, 0)]
        own = (~self.is_pyr_firm) & (self.fam >= 0) & (rng.random(n) < 0.3) & (kind == 1)
        phone[own] = self.p_phone[founder[own]]
        self.phone = phone
        hidden_phone = land_text[n:].copy()
        del land_text, mob_text

        # Emails: every address embeds a distinct number.
        m = _unique_ints(rng, 9 * 10**8, n + n_hidden) + 10**5
        letters = rng.integers(97, 123, size=(n + n_hidden, 4)).astype(np.uint8)
        lead = _ascii_rows(letters[:, :2])
        corp = _ascii_rows(letters)
        ek = _choice(rng, 3, n, (0.3, 0.3, 0.4))
        free_dom = np.array(_FREE_MAIL, dtype=np.str_)[rng.integers(0, len(_FREE_MAIL), n)]
        box = np.array(_MAIL_BOXES, dtype=np.str_)[rng.integers(0, len(_MAIL_BOXES), n)]
        tld = np.array(_CORP_TLD, dtype=np.str_)[rng.integers(0, len(_CORP_TLD), n)]
        email = np.empty(n, dtype=object)
        on = ek == 0  # QQ mail
        email[on] = _cat(_num(m[:n][on]), "@qq.com")
        on = ek == 1  # free mail
        email[on] = _cat(lead[:n][on], _num(m[:n][on]), "@", free_dom[on])
        on = ek == 2  # the company's own domain
        email[on] = _cat(box[on], "@", corp[:n][on], _num(m[:n][on]), tld[on])
        email[rng.random(n) < 0.15] = None
        self.email = email
        hidden_email = _cat("dz", _num(m[n:]), "@163.com")  # 代账 (bookkeeping agents') mailboxes
        del lead, corp, free_dom, box, tld

        # Person addresses: residential, unique, in one of the portfolio's regions.
        pr = _choice(rng, len(_REGIONS), np_, [r[6] for r in _REGIONS])
        reg_text = np.array([r[1] + (r[2] if r[2] != r[1] else "") + r[3] for r in _REGIONS], dtype=np.str_)
        pu = _unique_ints(rng, len(_ROADS) * 500 * len(_COMMUNITIES) * 40 * 3000, np_)
        p_addr = _cat(
            reg_text[pr],
            roads[pu % len(_ROADS)],
            _num(1 + (pu // len(_ROADS)) % 500),
            "号",
            bchars[pu % len(bchars)],
            bchars[(pu // 13) % len(bchars)],
            np.array(_COMMUNITIES, dtype=np.str_)[(pu // (len(_ROADS) * 500)) % len(_COMMUNITIES)],
            _num(1 + (pu // (len(_ROADS) * 500 * len(_COMMUNITIES))) % 40),
            "幢",
            _num(1 + pu // (len(_ROADS) * 500 * len(_COMMUNITIES) * 40) // 100),
            _num(pu // (len(_ROADS) * 500 * len(_COMMUNITIES) * 40) % 100, 2),
            "室",
        )
        self.p_address = p_addr.astype(object)
        self.p_address[rng.random(np_) < 0.2] = None

        # Hidden groups: 2–6 unrelated firms sharing some of address, phone, email, an officer.
        grp, _, _ = _segments(self.hidden_sizes)
        share = rng.random((n_hidden, 4)) < np.array([0.55, 0.45, 0.35, 0.5])
        none = ~share.any(axis=1)
        share[none, rng.integers(0, 4, int(none.sum()))] = True
        officer_role = np.where(rng.random(n_hidden) < 0.5, "legal_representative", "finance_head")
        hm = self.hidden_members
        for col, (arr, values) in enumerate(
            ((self.address, hidden_addr), (self.phone, hidden_phone), (self.email, hidden_email))
        ):
            on = share[grp, col]
            arr[hm[on]] = values[grp[on]]
        self.hidden_share = share
        self.hidden_role = officer_role
        self.hidden_values = (hidden_addr, hidden_phone, hidden_email)

        # Hub addresses: registered-agent or incubator addresses used by many unrelated firms.
        hg, _, hstarts = _segments(self.hub_sizes)
        hreg = self.region_text[self.hub_members[hstarts]]
        hu = rng.integers(0, 10**6, n_hub)
        hub_addr = _cat(
            hreg,
            roads[hu % len(_ROADS)],
            _num(1 + (hu // len(_ROADS)) % 900),
            "号",
            np.array(list(_BRAND_CHARS), dtype=np.str_)[hu % len(_BRAND_CHARS)],
            np.array(list(_BRAND_CHARS), dtype=np.str_)[(hu // 7) % len(_BRAND_CHARS)],
            np.array(_PARKS, dtype=np.str_)[hu % len(_PARKS)],
            _num(1 + hu % 5),
            "幢",
            _num(1 + hu % 9),
            "楼",
            _cat("(集中办公区", _num(1 + np.arange(n_hub)), ")"),
        )
        self.address[self.hub_members] = hub_addr[hg]
        self.hub_addr = hub_addr
        self.say("contacts: addresses, phones, emails")

    # -- ownership ---------------------------------------------------------------------------------------

    def ownership(self) -> None:
        rng, n = self.rng, self.n
        ops = self.ops
        fam = self.fam[ops]
        ps, sz = self.fam_pstart[fam], self.fam_psize[fam]
        lvl = self.level[ops]
        pyr = self.is_pyr_firm[ops]
        state_root = np.where(pyr, self.pyr_state[np.where(pyr, fam, 0)], -1)
        m = len(ops)
        # Primary holder (holder index: enterprises 0..n-1, persons n + p).
        primary = np.where(lvl > 0, self.parent[ops], np.where(state_root >= 0, state_root, n + ps))
        r = rng.random(m)
        nice = np.array([0.51, 0.6, 0.66, 0.7, 0.75, 0.8, 0.9])
        share = np.where(
            lvl > 0,
            np.where(r < 0.4, 1.0, rng.uniform(0.51, 0.95, m)),
            np.where(
                state_root >= 0,
                np.where(r < 0.6, 1.0, rng.uniform(0.51, 0.9, m)),
                np.where(
                    pyr,
                    np.where(r < 0.3, 1.0, rng.uniform(0.6, 0.95, m)),
                    np.where((sz == 1) | (r < 0.15), 1.0, nice[rng.integers(0, len(nice), m)]),
                ),
            ),
        )
        p_micro = _micro(share)
        p_micro[share == 1.0] = 1_000_000
        # Secondary holder: the co-founder (person-rooted tops and standalone firms) or a manager's stake.
        sec = np.where(lvl > 0, n + ps + rng.integers(1, np.maximum(sz, 2), m), n + ps + 1)
        has_sec = (p_micro < 1_000_000) & (sz >= 2) & (state_root < 0) & ((lvl == 0) | (rng.random(m) < 0.5))
        s_micro = 1_000_000 - p_micro
        listed = self.listed[ops]
        # Listed: a 20–45 % controller (with proxies lifting its votes), the rest dispersed or floating.
        p_micro[listed] = _micro(rng.uniform(0.2, 0.45, int(listed.sum())))
        has_sec &= ~listed
        vote = np.full(m, -1, dtype=np.int64)
        vote[listed] = p_micro[listed] + _micro(rng.uniform(0.05, 0.15, int(listed.sum())))
        # A few standalone firms give the founder more votes than equity (articles of association).
        extra_vote = has_sec & (lvl == 0) & ~pyr & (rng.random(m) < 0.03)
        vote[extra_vote] = np.minimum(p_micro[extra_vote] + 150_000, 1_000_000)

        holders = [primary, sec[has_sec]]
        companies = [ops, ops[has_sec]]
        micro = [p_micro, s_micro[has_sec]]
        votes = [vote, np.full(int(has_sec.sum()), -1, dtype=np.int64)]

        # Dispersed holders of listed firms: 5–10 distinct investors, 0.3–3 % each.
        lf = ops[listed]
        k = rng.integers(5, 11, len(lf))
        g, pos, _ = _segments(k)
        base = rng.integers(0, self.n_investors, len(lf))
        inv = n + self.investor0 + (base[g] + pos) % self.n_investors
        holders.append(inv)
        companies.append(lf[g])
        micro.append(_micro(rng.uniform(0.003, 0.03, len(g))))
        votes.append(np.full(len(g), -1, dtype=np.int64))

        # Cross-holdings: A holds a small stake of B and B of A; taken from the founder's stake.
        a, b = self.cross_pairs[:, 0], self.cross_pairs[:, 1]
        x_ab = _micro(rng.uniform(0.01, 0.1, len(a)))
        x_ba = _micro(rng.uniform(0.01, 0.1, len(a)))
        holders += [a, b]
        companies += [b, a]
        micro += [x_ab, x_ba]
        votes += [np.full(len(a), -1, dtype=np.int64)] * 2

        holder = np.concatenate(holders)
        company = np.concatenate(companies)
        sh = np.concatenate(micro)
        vt = np.concatenate(votes)
        # Keep every company's shares at most 1: the excess comes off its primary holder (row < m).
        tot = np.bincount(company, weights=sh, minlength=n).astype(np.int64)
        excess = np.maximum(tot - 1_000_000, 0)
        sh[:m] -= excess[ops]
        vt[:m] = np.where(vt[:m] >= 0, np.minimum(vt[:m], 1_000_000 - (tot[ops] - excess[ops] - sh[:m])), -1)
        # A few rows know only a range.
        nr = len(sh)
        rng_on = rng.random(nr) < 0.005
        lo = np.where(rng_on, np.maximum(sh - _micro(rng.uniform(0, 0.05, nr)), 0), -1)
        hi = np.where(rng_on, np.minimum(sh + _micro(rng.uniform(0, 0.05, nr)), 1_000_000), -1)
        self.sh = (holder, company, sh, vt, lo, hi)
        self.cross = (a, b, x_ab, x_ba)
        self.say(f"shareholdings: {nr:,} rows")

    # -- officers --------------------------------------------------------------------------------------

    def officers(self) -> None:
        rng, n = self.rng, self.n
        ops = self.ops
        m = len(ops)
        fam = self.fam[ops]
        ps, sz = self.fam_pstart[fam], self.fam_psize[fam]
        top = self.level[ops] == 0
        board = self.is_pyr_firm[ops] | self.listed[ops]
        # Offset of the legal representative among the family's people: the founder, except in group
        # subsidiaries (any family member) and a tenth of small firms (the co-founder).
        a = np.where(board & ~top, rng.integers(0, 1 << 30, m) % sz, (rng.random(m) < 0.1) % sz).astype(np.int64)
        lr = ps + a
        rows: list[tuple[IntArray, IntArray, int]] = []
        chair = board | (rng.random(m) < 0.5)
        rows.append((lr[chair], ops[chair], _ROLES.index("chairman")))
        k = np.where(board, np.clip(sz - 2, 0, 4), 0)
        for j in range(1, 5):
            on = k >= j
            rows.append((ps[on] + (a[on] + j) % sz[on], ops[on], _ROLES.index("director")))
        sup = sz >= 2
        rows.append((ps[sup] + (a[sup] + sz[sup] - 1) % sz[sup], ops[sup], _ROLES.index("supervisor")))
        mgr_other = board & (sz >= 3)
        mgr = np.where(mgr_other, ps + (a + 1) % sz, lr)
        has_mgr = board | (rng.random(m) < 0.7)
        rows.append((mgr[has_mgr], ops[has_mgr], _ROLES.index("manager")))
        fin = np.full(n, -1, dtype=np.int64)
        # Finance head: a director in groups with a board, otherwise often the owner himself; never the
        # supervisor (the Company Law keeps supervisors out of management).
        fon = rng.random(m) < 0.6
        fin[ops[fon]] = np.where(board & (k >= 2), ps + (a + 2) % sz, lr)[fon]
        legal = np.full(n, -1, dtype=np.int64)
        legal[ops] = lr
        legal[: self.n_state] = self.official0 + np.arange(self.n_state)
        grp, _, starts = _segments(self.hidden_sizes)
        hm = self.hidden_members
        off = self.hidden_share[grp, 3]
        by_legal = off & (self.hidden_role[grp] == "legal_representative")
        legal[hm[by_legal]] = legal[hm[starts[grp[by_legal]]]]
        by_fin = off & (self.hidden_role[grp] == "finance_head")
        fin[hm[by_fin]] = self.agent0 + grp[by_fin]
        self.hidden_person = np.where(
            self.hidden_role == "legal_representative", legal[hm[starts]], self.agent0 + np.arange(len(starts))
        )
        rows.append((legal, np.arange(n, dtype=np.int64), _ROLES.index("legal_representative")))
        fo = fin >= 0
        rows.append((fin[fo], np.flatnonzero(fo).astype(np.int64), _ROLES.index("finance_head")))
        self.off_person = np.concatenate([r[0] for r in rows])
        self.off_company = np.concatenate([r[1] for r in rows])
        self.off_role = np.concatenate([np.full(len(r[0]), r[2], dtype=np.int8) for r in rows])
        self.say(f"officers: {len(self.off_person):,} rows")

    # -- guarantees --------------------------------------------------------------------------------------

    def guarantees(self) -> None:
        rng, n = self.rng, self.n
        ops = self.ops
        n_ops = len(ops)
        gperm = rng.permutation(ops)
        cur = 0

        def take(k: int) -> IntArray:
            nonlocal cur
            if cur + k > int(0.6 * n_ops):
                raise ValueError("too few enterprises for the planted guarantee patterns")
            out = gperm[cur : cur + k]
            cur += k
            return out

        n_pairs = max(2, n // 250)
        pairs = take(2 * n_pairs).reshape(n_pairs, 2)
        n_cyc = max(2, n // 1000)
        cyc_sizes = rng.integers(3, 9, n_cyc).astype(np.int64)
        cyc = take(int(cyc_sizes.sum()))
        n_chain = max(1, n // 2000)
        chain_len = rng.integers(6, 13, n_chain).astype(np.int64)  # edges
        chain = take(int((chain_len + 1).sum()))
        n_hub = max(1, n // 5000)
        hub_k = rng.integers(10, 41, n_hub).astype(np.int64)
        hub = take(int((hub_k + 1).sum()))
        n_joint = max(2, n // 300)
        joint_k = rng.integers(2, 5, n_joint).astype(np.int64)
        joint = take(int((joint_k + 1).sum()))

        # One global order: tier first (background edges only go from tier t to t + 1, so background chains
        # stay short), then a random key per unit, where each planted pair or cycle is one unit occupying a
        # contiguous block. Every edge outside a block goes up this order, so no cycle can leave a block.
        tier = rng.integers(0, 4, n).astype(np.int64)
        unit = np.arange(n, dtype=np.int64)
        pos = np.zeros(n, dtype=np.int64)
        blocks = np.concatenate((np.full(n_pairs, 2, dtype=np.int64), cyc_sizes))
        bmembers = np.concatenate((pairs.ravel(), cyc))
        bg, bpos, bstart = _segments(blocks)
        tier[bmembers] = tier[bmembers[bstart[bg]]]
        unit[bmembers] = n + bg
        pos[bmembers] = bpos
        key = rng.random(n + len(blocks))
        order = np.lexsort((pos, key[unit], tier))
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)

        src: list[IntArray] = []
        dst: list[IntArray] = []
        loan: list[IntArray] = []  # loan group per edge; edges of one joint guarantee share one
        nloan = 0

        def add(s: IntArray, d: IntArray, loans: IntArray | None = None) -> IntArray:
            nonlocal nloan
            if loans is None:
                loans = nloan + np.arange(len(s), dtype=np.int64)
                nloan += len(s)
            src.append(s)
            dst.append(d)
            loan.append(loans)
            return loans

        pair_loans = add(np.concatenate((pairs[:, 0], pairs[:, 1])), np.concatenate((pairs[:, 1], pairs[:, 0])))
        cg, cpos, cstart = _segments(cyc_sizes)
        nxt = cstart[cg] + (cpos + 1) % cyc_sizes[cg]
        cyc_loans = add(cyc, cyc[nxt])
        # Chains run up the order; hubs guarantee firms above them; joint borrowers sit above their guarantors.
        chg, _, _ = _segments(chain_len + 1)
        chain = chain[np.lexsort((rank[chain], chg))]
        link = np.flatnonzero(np.diff(chg) == 0)
        add(chain[link], chain[link + 1])
        hg, hpos, hs = _segments(hub_k + 1)
        hub = hub[np.lexsort((rank[hub], hg))]
        hub_borrower = hpos > 0
        add(hub[hs[hg[hub_borrower]]], hub[hub_borrower])
        jg, jpos, js = _segments(joint_k + 1)
        joint = joint[np.lexsort((rank[joint], jg))]
        jlast = js + joint_k
        jguar = jpos < joint_k[jg]
        joint_loans = nloan + np.arange(n_joint, dtype=np.int64)
        nloan += n_joint
        add(joint[jguar], joint[jlast[jg[jguar]]], joint_loans[jg[jguar]])
        n_planted = sum(len(s) for s in src)

        # Background: guarantors in tiers 0–2 guarantee 0–4 firms of the next tier; each its own loan.
        by_tier = ops[np.argsort(tier[ops], kind="stable")]
        counts = np.bincount(tier[ops], minlength=4)
        tstart = np.concatenate(([0], np.cumsum(counts)[:-1]))
        cand = ops[tier[ops] < 3]
        want = max(n - n_planted, 0)
        lam = 1.03 * want / max(len(cand), 1)
        deg = np.minimum(rng.poisson(lam, len(cand)), 4)
        g = np.repeat(cand, deg)
        t1 = tier[g] + 1
        b = by_tier[tstart[t1] + (rng.random(len(g)) * counts[t1]).astype(np.int64)]
        add(g, b)

        gs = np.concatenate(src)
        gb = np.concatenate(dst)
        gl = np.concatenate(loan)
        ne = len(gs)
        planted = np.arange(ne) < n_planted
        amount = np.maximum(np.round(self.assets[gb] * rng.uniform(0.03, 0.25, ne) / 1e4) * 1e4, 1e5)
        kind = _choice(rng, 3, ne, (0.7, 0.2, 0.1))  # index into _KINDS
        # Dates: planted guarantees are in force on AS_OF; ~3 % of the background has already expired.
        est = np.maximum(self.est[gs], self.est[gb]) + 30
        lo_day, hi_day = int(np.datetime64("2021-07-01").astype(np.int64)), _AS_OF_DAY - 30
        start = np.maximum(rng.integers(lo_day, hi_day, ne), est)
        tenor = np.array([365, 730, 1095, 1826])[_choice(rng, 4, ne, (0.35, 0.35, 0.2, 0.1))]
        end = np.maximum(start + tenor, _AS_OF_DAY + 30 + rng.integers(0, 60, ne))
        expired = ~planted & (rng.random(ne) < 0.03)
        end[expired] = _AS_OF_DAY - rng.integers(1, 700, int(expired.sum()))
        start[expired] = np.minimum(start[expired], end[expired] - 365)
        # Joint guarantees: one loan, one start date, one amount.
        loan_start = np.zeros(nloan, dtype=np.int64)
        loan_start[gl] = start
        start = loan_start[gl]
        loan_amount = np.zeros(nloan)
        loan_amount[gl] = amount
        amount = loan_amount[gl]
        serial = rng.permutation(nloan)
        year = np.asarray(loan_start, dtype="datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
        loan_id = _cat("DK", _num(year), _num(serial, 8))
        self.g = (gs, gb, amount, loan_id[gl], kind, start, end)
        self.g_planted = n_planted

        # Ground truth.
        ent = self.ent_list
        for i in range(n_pairs):
            a_, b_ = pairs[i]
            self.patterns.append(
                {
                    "kind": "mutual_guarantee",
                    "members": [ent[a_], ent[b_]],
                    "loan_ids": [str(loan_id[pair_loans[i]]), str(loan_id[pair_loans[n_pairs + i]])],
                }
            )
        cyc_l = _split(cyc, cyc_sizes)
        cyc_loan_l = _split(cyc_loans, cyc_sizes)
        for mem, lids in zip(cyc_l, cyc_loan_l, strict=True):
            self.patterns.append(
                {
                    "kind": "revolving_cycle",
                    "members": [str(ent[x]) for x in mem],
                    "length": len(mem),
                    "loan_ids": [str(loan_id[x]) for x in lids],
                }
            )
        for mem in _split(chain, chain_len + 1):
            self.patterns.append(
                {"kind": "guarantee_chain", "members": [str(ent[x]) for x in mem], "length": len(mem) - 1}
            )
        for mem in _split(hub, hub_k + 1):
            self.patterns.append(
                {
                    "kind": "hub_guarantor",
                    "members": [str(ent[x]) for x in mem],
                    "hub": str(ent[mem[0]]),
                    "borrowers": len(mem) - 1,
                }
            )
        for i, mem in enumerate(_split(joint, joint_k + 1)):
            self.patterns.append(
                {
                    "kind": "joint_guarantee",
                    "members": [str(ent[x]) for x in mem],
                    "guarantors": [str(ent[x]) for x in mem[:-1]],
                    "borrower": str(ent[mem[-1]]),
                    "loan_id": str(loan_id[joint_loans[i]]),
                }
            )
        self.planted_borrowers = np.unique(gb[:n_planted])
        self.say(f"guarantees: {ne:,} rows ({n_planted:,} planted, {int(expired.sum()):,} expired)")

    # -- supply links ------------------------------------------------------------------------------------

    def supply(self) -> None:
        rng, n = self.rng, self.n
        ops = self.ops
        n_conc = max(3, n // 200)
        sup_c = rng.choice(ops, size=n_conc, replace=False)
        cus_c = ops[rng.integers(0, len(ops), n_conc)]
        cus_c = np.where(cus_c == sup_c, ops[(np.searchsorted(ops, cus_c) + 1) % len(ops)], cus_c)
        m = n - n_conc
        s = ops[rng.integers(0, len(ops), m)]
        c = ops[rng.integers(0, len(ops), m)]
        ok = s != c
        s, c = s[ok], c[ok]
        # One row per pair and year: drop background repeats and background copies of planted pairs.
        key = s * n + c
        _, first = np.unique(key, return_index=True)
        keep = np.zeros(len(s), dtype=bool)
        keep[first] = True
        keep &= ~np.isin(key, sup_c * n + cus_c)
        s, c = s[keep], c[keep]
        share_bg = np.minimum(rng.beta(1.2, 8.0, len(s)), 0.45)
        share_c = np.round(rng.uniform(0.5, 0.9, n_conc), 4)
        # A supplier's customers take at most 98 % of its revenue; planted concentrations stay as drawn.
        used = np.bincount(sup_c, weights=share_c, minlength=n)
        bg_sum = np.bincount(s, weights=share_bg, minlength=n)
        room = 0.98 - used
        scale = np.where(bg_sum > room, room / np.maximum(bg_sum, 1e-12), 1.0)
        share_bg = np.floor(share_bg * scale[s] * 1e4) / 1e4
        ss = np.concatenate((sup_c, s))
        cc = np.concatenate((cus_c, c))
        share = np.concatenate((share_c, share_bg))
        ok = share > 0
        ss, cc, share = ss[ok], cc[ok], share[ok]
        amount = np.round(share * self.revenue_true[ss], 2)
        # Customers' purchases: about 70 % of revenue, never less than what these suppliers sell them.
        bought = np.bincount(cc, weights=amount, minlength=n)
        purchases = np.maximum(0.7 * self.revenue_true, bought / 0.95)
        share_cust = np.floor(amount / purchases[cc] * 1e4) / 1e4
        self.s = (ss, cc, amount, share, share_cust)
        ent = self.ent_list
        for i in range(n_conc):
            self.patterns.append(
                {
                    "kind": "concentrated_customer",
                    "members": [str(ent[sup_c[i]]), str(ent[cus_c[i]])],
                    "supplier": str(ent[sup_c[i]]),
                    "customer": str(ent[cus_c[i]]),
                    "share_of_supplier_revenue": float(share_c[i]),
                }
            )
        self.say(f"supply_links: {len(ss):,} rows ({n_conc:,} concentrated customers)")

    # -- exposures ---------------------------------------------------------------------------------------

    def exposures(self) -> None:
        rng, n = self.rng, self.n
        ops = self.ops
        alive = self.status[ops] <= 1
        lend = alive & (rng.random(len(ops)) < 0.4)
        on = np.zeros(n, dtype=bool)
        on[ops[lend]] = True
        on[self.planted_borrowers] = True  # planted circles matter because the bank lends into them
        b = np.flatnonzero(on).astype(np.int64)
        two = rng.random(len(b)) < 0.12
        b = np.concatenate((b, b[two]))
        ead = np.maximum(np.round(self.assets[b] * rng.uniform(0.02, 0.25, len(b)) / 1e4) * 1e4, 1e5)
        lgd = np.round(rng.uniform(0.25, 0.6, len(b)), 4)
        fid = _cat("F", _num(_unique_ints(rng, 10**10, len(b)), 10))
        self.e = (b, ead, lgd, fid)
        self.say(f"exposures: {len(b):,} facilities")

    # -- ground truth for ownership and contacts ----------------------------------------------------------

    def ownership_truth(self) -> None:
        ent, pl = self.ent_list, self.p_label.tolist()
        # Pyramids, with members in level order.
        mem = self.pyr_members
        sizes = np.bincount(self.pyr_member_pyr, minlength=len(self.pyr_depth)).astype(np.int64)
        parts = _split(mem, sizes)
        state_members: dict[int, list[str]] = {}
        for p, firms in enumerate(parts):
            st = int(self.pyr_state[p])
            root = str(ent[st]) if st >= 0 else str(pl[self.fam_pstart[p]])
            ids = [str(ent[f]) for f in firms]
            self.patterns.append(
                {
                    "kind": "pyramid",
                    "members": [root, *ids],
                    "root": root,
                    "root_kind": "state" if st >= 0 else "person",
                    "depth": int(self.pyr_depth[p]),
                }
            )
            if st >= 0:
                state_members.setdefault(st, []).extend(ids)
        for st in sorted(state_members):
            self.patterns.append(
                {"kind": "state_root", "members": [str(ent[st]), *state_members[st]], "root": str(ent[st])}
            )
        a, b, x_ab, x_ba = self.cross
        for i in range(len(a)):
            self.patterns.append(
                {
                    "kind": "cross_holding",
                    "members": [str(ent[a[i]]), str(ent[b[i]])],
                    "shares": [x_ab[i] / 1e6, x_ba[i] / 1e6],
                }
            )
        hidden_addr, hidden_phone, hidden_email = self.hidden_values
        for i, firms in enumerate(_split(self.hidden_members, self.hidden_sizes)):
            shared = [
                k for k, on in zip(("address", "phone", "email", "officer"), self.hidden_share[i], strict=True) if on
            ]
            item: dict[str, Any] = {"kind": "hidden_group", "members": [str(ent[f]) for f in firms], "shared": shared}
            if "address" in shared:
                item["address"] = str(hidden_addr[i])
            if "phone" in shared:
                item["phone"] = str(hidden_phone[i])
            if "email" in shared:
                item["email"] = str(hidden_email[i])
            if "officer" in shared:
                item["person_id"] = str(pl[self.hidden_person[i]])
                item["role"] = str(self.hidden_role[i])
            self.patterns.append(item)
        for i, firms in enumerate(_split(self.hub_members, self.hub_sizes)):
            self.patterns.append(
                {"kind": "hub_address", "members": [str(ent[f]) for f in firms], "address": str(self.hub_addr[i])}
            )
        same, same_sizes = self.same_groups
        for people in _split(same, same_sizes):
            self.patterns.append(
                {
                    "kind": "same_name_persons",
                    "members": [str(pl[p]) for p in people],
                    "name": str(self.p_names[people[0]]),
                }
            )

    # -- tables ------------------------------------------------------------------------------------------

    def tables(self) -> dict[str, pd.DataFrame]:
        """The input tables. Each column is built, converted and its sources dropped in turn (peak memory)."""
        n, rng = self.n, self.rng
        pop = self.__dict__.pop
        ent = pop("uscc").astype(object)  # object takes share one str per id: 8 bytes a row
        pl = pop("p_label").astype(object)
        out: dict[str, pd.DataFrame] = {}

        def frame(name: str, cols: dict[str, Callable[[], Any]]) -> None:
            names = [c.name for c in SCHEMA[name].columns]
            data = {c: pd.Series(cols.pop(c)()) for c in names if c in cols}
            rows = len(next(iter(data.values()))) if data else 0
            # A schema column the generator does not fill (a declared controller, say) is written empty.
            for c in names:
                data.setdefault(c, pd.Series([None] * rows, dtype=object))
            out[name] = pd.DataFrame(data, columns=names, copy=False)

        def holder_id(h: IntArray) -> Any:
            return np.where(h >= n, pl[np.maximum(h - n, 0)], ent[np.minimum(h, n - 1)])

        def share(x: IntArray) -> FloatArray:
            return np.where(x >= 0, x / 1e6, np.nan)

        capital = self.capital
        frame(
            "enterprises",
            {
                "id": lambda: ent,
                "name": lambda: pop("names"),
                "uscc": lambda: ent,
                "status": lambda: np.array(_STATUSES, dtype=object)[pop("status")],
                "industry": lambda: pop("industry"),
                "region": lambda: pop("region_text"),
                "established": lambda: _dates(pop("est")),
                "registered_capital": lambda: pop("capital"),
                "net_assets": lambda: pop("net"),
                "total_assets": lambda: pop("assets"),
                "total_liabilities": lambda: pop("liabilities"),
                "revenue": lambda: pop("revenue"),
                "pd": lambda: pop("pd"),
                "rating": lambda: np.where(self.rating == "", None, pop("rating")),
                "defaulted": lambda: pop("defaulted"),
                "listed": lambda: pop("listed"),
                "state_owned": lambda: pop("state_owned"),
                "address": lambda: pop("address"),
                "phone": lambda: pop("phone"),
                "email": lambda: pop("email"),
            },
        )
        frame(
            "persons",
            {
                "id": lambda: pl,
                "name": lambda: pop("p_names"),
                "id_number": lambda: pop("p_idnum"),
                "address": lambda: pop("p_address"),
                "phone": lambda: pop("p_phone"),
            },
        )
        # Rows of relation tables come in random order, as they would from a registry extract.
        perm = rng.permutation(len(self.sh[0]))
        holder, company, sh, vt, lo, hi = (x[perm] for x in pop("sh"))
        frame(
            "shareholdings",
            {
                "holder_id": lambda: holder_id(holder),
                "company_id": lambda: ent[company],
                "share": lambda: share(sh),
                "voting_share": lambda: share(vt),
                "share_min": lambda: share(lo),
                "share_max": lambda: share(hi),
                "amount": lambda: np.round(sh / 1e6 * capital[company], 2),
                "as_of": lambda: np.where(rng.random(len(sh)) < 0.9, AS_OF, "2025-12-31").astype(object),
            },
        )
        perm = rng.permutation(len(self.off_person))
        frame(
            "officers",
            {
                "person_id": lambda: pl[pop("off_person")[perm]],
                "company_id": lambda: ent[pop("off_company")[perm]],
                "role": lambda: np.array(_ROLES, dtype=object)[pop("off_role")[perm]],
            },
        )
        gs, gb, amount, loan_id, kind, start, end = pop("g")
        perm = rng.permutation(len(gs))
        frame(
            "guarantees",
            {
                "guarantor_id": lambda: ent[gs[perm]],
                "borrower_id": lambda: ent[gb[perm]],
                "amount": lambda: amount[perm],
                "loan_id": lambda: loan_id[perm].astype(object),
                "kind": lambda: np.array(_KINDS, dtype=object)[kind[perm]],
                "start_date": lambda: _dates(start[perm]),
                "end_date": lambda: _dates(end[perm]),
                "currency": lambda: np.full(len(gs), "CNY", dtype=object),
            },
        )
        ss, cc, samount, sshare, scust = pop("s")
        perm = rng.permutation(len(ss))
        frame(
            "supply_links",
            {
                "supplier_id": lambda: ent[ss[perm]],
                "customer_id": lambda: ent[cc[perm]],
                "amount": lambda: samount[perm],
                "share_of_supplier_revenue": lambda: sshare[perm],
                "share_of_customer_purchases": lambda: scust[perm],
                "year": lambda: np.full(len(ss), 2025, dtype=np.int64),
            },
        )
        b, ead, lgd, fid = pop("e")
        frame(
            "exposures",
            {
                "borrower_id": lambda: ent[b],
                "ead": lambda: ead,
                "lgd": lambda: lgd,
                "facility_id": lambda: fid.astype(object),
            },
        )
        return out


def generate_portfolio(
    n_enterprises: int, *, seed: int = 0, progress: Callable[[str], None] | None = None
) -> SyntheticPortfolio:
    """A synthetic portfolio of ``n_enterprises`` Chinese enterprises with planted risk patterns.

    ``tables`` holds one DataFrame per schema table with its canonical columns in schema order;
    ``ground_truth["patterns"]`` lists every planted pattern (kind, member ids, details). ``progress``, when
    given, receives one line per stage. The same ``seed`` always gives the same portfolio.

    >>> p = generate_portfolio(300, seed=1)
    >>> len(p.tables["enterprises"]), p.ground_truth["as_of"]
    (300, '2026-06-30')
    >>> kinds = {q["kind"] for q in p.ground_truth["patterns"]}
    >>> {"mutual_guarantee", "revolving_cycle", "hidden_group"} <= kinds
    True
    """
    if n_enterprises < MIN_ENTERPRISES:
        raise ValueError(f"n_enterprises must be at least {MIN_ENTERPRISES}, got {n_enterprises}")
    g = _Gen(int(n_enterprises), int(seed), progress)
    g.structure()
    g.pools()
    g.enterprises()
    g.persons()
    g.contacts()
    g.ownership()
    g.officers()
    g.guarantees()
    g.supply()
    g.exposures()
    g.ownership_truth()
    tables = g.tables()
    order = (
        "mutual_guarantee",
        "joint_guarantee",
        "revolving_cycle",
        "guarantee_chain",
        "hub_guarantor",
        "hidden_group",
        "hub_address",
        "same_name_persons",
        "cross_holding",
        "state_root",
        "pyramid",
        "concentrated_customer",
    )
    rank = {k: i for i, k in enumerate(order)}
    patterns = sorted(g.patterns, key=lambda p: rank[p["kind"]])  # stable: creation order within a kind
    truth: dict[str, Any] = {
        "seed": int(seed),
        "n_enterprises": int(n_enterprises),
        "as_of": AS_OF,
        "rows": {name: len(df) for name, df in tables.items()},
        "patterns": patterns,
    }
    g.say(f"done: {sum(len(df) for df in tables.values()):,} rows, {len(patterns):,} planted patterns")
    return SyntheticPortfolio(tables=tables, ground_truth=truth)


# ---------------------------------------------------------------------------------------------------------
# Serialisation.


def _csv_bytes(df: pd.DataFrame) -> bytes:
    out = df.copy(deep=False)
    for c in out.columns:
        if out[c].dtype == bool:
            out[c] = np.where(out[c].to_numpy(), "true", "false")
    buf = io.BytesIO()
    # Floats are written in Python's shortest round-trip form, so equal values give equal bytes.
    out.to_csv(buf, index=False, lineterminator="\n", encoding="utf-8", na_rep="")
    return buf.getvalue()


def portfolio_files(p: SyntheticPortfolio) -> dict[str, bytes]:
    """File name → bytes: ``<table>.csv`` for every table (UTF-8, canonical header) and ``ground_truth.json``.

    >>> files = portfolio_files(generate_portfolio(300))
    >>> sorted(files)[:2], files["persons.csv"].splitlines()[0]
    (['enterprises.csv', 'exposures.csv'], b'id,name,id_number,address,phone')
    """
    files = {f"{name}.csv": _csv_bytes(df) for name, df in p.tables.items()}
    files["ground_truth.json"] = (
        json.dumps(p.ground_truth, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    ).encode("utf-8")
    return files
