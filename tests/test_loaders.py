"""Loaders: formats, encodings, header aliases, every reject reason, and rows = accepted + rejected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc

from graphrisk.errors import ConfigError, InputFileError, MissingColumnError, MissingTableError
from graphrisk.privacy import mask_personal
from graphrisk.schema import SCHEMA
from loaders import REASONS, load_tables
from loaders.columns import parse_amount, parse_bool, parse_date, parse_share
from loaders.identifiers import pseudonymise, ric_valid, uscc_valid

KEY = b"test-key"
USCC_A = "91110108551385082Q"  # valid (check character Q)
USCC_B = "91330106MA27XGQL0J"
RIC = "11010519491231002X"  # valid resident ID number (stdnum's documented example)


def write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def reasons(tables, table: str) -> dict[int, set[str]]:
    """line -> reason codes of one table's rejects."""
    r = tables.rejects[tables.rejects["table"] == table]
    out: dict[int, set[str]] = {}
    for line, reason in zip(r["line"], r["reason"], strict=True):
        out.setdefault(int(line), set()).add(reason)
    return out


def assert_invariant(tables) -> None:
    for name, s in tables.stats.items():
        assert s.rows == s.accepted + s.rejected, name
        assert len(tables[name]) == s.accepted - s.merged, name
        rejected_lines = tables.rejects.loc[tables.rejects["table"] == name, "line"].nunique()
        assert rejected_lines == s.rejected, name


@pytest.fixture
def basic(tmp_path: Path) -> Path:
    write(tmp_path, "enterprises.csv", "id,name\nA,甲\nB,乙\nC,丙\n")
    return tmp_path


def test_uscc_check_matches_stdnum() -> None:
    assert stdnum_uscc.is_valid(USCC_A) and stdnum_uscc.is_valid(USCC_B)
    rng = np.random.default_rng(1)
    alphabet = list("0123456789ABCDEFGHJKLMNPQRTUWXY")
    samples = [USCC_A, USCC_B, USCC_A.lower(), "9111 0108 5513 8508 2Q", "123", ""]
    for _ in range(3000):
        base = "".join(rng.choice(list("0123456789"), 8)) + "".join(rng.choice(alphabet, 9))
        samples.append(base + str(rng.choice(alphabet)))
    ours = uscc_valid(pd.Series(samples)).tolist()
    theirs = [stdnum_uscc.is_valid(s) for s in samples]
    assert ours == theirs
    assert sum(theirs) > 50  # the sample really contains valid codes


def test_ric_check_matches_stdnum() -> None:
    rng = np.random.default_rng(2)
    samples = [RIC, "110105194912310021", "11010519491231002x", "110105194902300022", "990105194912310020"]
    for _ in range(3000):
        area = str(rng.choice(["110105", "330106", "440305", "999999", "310115"]))
        birth = f"{rng.integers(1940, 2005)}{rng.integers(1, 13):02d}{rng.integers(1, 31):02d}"
        body = area + birth + f"{rng.integers(0, 1000):03d}"
        samples.append(body + str(rng.choice(list("0123456789X"))))
    ours = ric_valid(pd.Series(samples)).tolist()
    theirs = [stdnum_ric.is_valid(s) for s in samples]
    assert ours == theirs
    assert sum(theirs) > 100


def test_pseudonym_is_keyed_and_stable() -> None:
    a = pseudonymise(pd.Series([RIC]), b"one").iloc[0]
    assert a == pseudonymise(pd.Series([RIC.lower()]), b"one").iloc[0]
    assert a != pseudonymise(pd.Series([RIC]), b"two").iloc[0]
    assert RIC not in a and a.startswith("PSN-")


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False), st.sampled_from(["", "万", "亿"]))
@settings(max_examples=200, deadline=None)
def test_amount_parser_round_trips(value: float, unit: str) -> None:
    factor = {"": 1.0, "万": 1e4, "亿": 1e8}[unit]
    text = f"{value:,.2f}{unit}"
    parsed, bad = parse_amount(pd.Series([text]))
    assert not bad.iloc[0]
    assert parsed.iloc[0] == pytest.approx(round(value, 2) * factor, rel=1e-12)


@given(st.integers(min_value=0, max_value=10000))
@settings(max_examples=200, deadline=None)
def test_share_parser_forms_agree(basis_points: int) -> None:
    frac = basis_points / 10000
    pct = basis_points / 100
    values, bad = parse_share(pd.Series([repr(frac), f"{pct}%"]), percent=False)
    assert not bad.any()
    assert values.iloc[0] == pytest.approx(values.iloc[1], abs=1e-12)
    as_pct, _ = parse_share(pd.Series([repr(pct)]), percent=True)
    assert as_pct.iloc[0] == pytest.approx(frac, abs=1e-12)


@given(st.dates(min_value=pd.Timestamp("1900-01-01").date(), max_value=pd.Timestamp("2200-12-31").date()))
@settings(max_examples=200, deadline=None)
def test_date_parser_accepts_every_listed_form(d) -> None:
    forms = [
        d.isoformat(),
        f"{d.year}/{d.month}/{d.day}",
        d.strftime("%Y%m%d"),
        f"{d.year}年{d.month}月{d.day}日",
        f"{d.isoformat()} 00:00:00",
    ]
    values, bad = parse_date(pd.Series(forms))
    assert not bad.any()
    assert {v.date() for v in values} == {d}


def test_parsers_reject_garbage() -> None:
    assert parse_amount(pd.Series(["12x", "万"]))[1].all()
    assert parse_date(pd.Series(["2024-13-01", "31/01/2024", "yesterday"]))[1].all()
    assert parse_bool(pd.Series(["maybe"]))[1].all()
    values, bad = parse_bool(pd.Series(["是", "否", "Y", "n", "1", "0", "TRUE"]))
    assert not bad.any() and values.tolist() == [True, False, True, False, True, False, True]


def test_every_reject_reason(tmp_path: Path) -> None:
    write(
        tmp_path,
        "enterprises.csv",
        "id,name,uscc,pd,defaulted,established,net_assets,total_assets\n"
        f"A,甲,{USCC_A},0.01,N,2020-01-01,100,200\n"  # 2 ok
        "B,乙,,0.02,,,,\n"  # 3 ok
        "C,丙,91110108551385082A,,,,,\n"  # 4 invalid_uscc
        "D,丁,,1.5,,,,\n"  # 5 out_of_range
        "E,戊,,,maybe,,,\n"  # 6 invalid_bool
        "F,己,,,,2024-02-30,,\n"  # 7 invalid_date
        "G,庚,,,,,abc,\n"  # 8 invalid_number
        "H,辛,,,,,,-5\n"  # 9 negative_amount
        ",壬,,,,,,\n"  # 10 missing_value
        "K,癸,,,,,,\n"  # 11 ok
        "K,另一个,,,,,,\n"  # 12 duplicate_key with 11
        "L,子,,,,,,\n"  # 13 ok
        "L,子,,,,,,\n",
    )  # 14 identical to 13: merged
    write(tmp_path, "persons.csv", f"id,name,id_number\nP1,张三,{RIC}\nP2,李四,110105194912310021\nA,撞号,\n")
    write(
        tmp_path,
        "shareholdings.csv",
        "holder_id,company_id,share,share_min,share_max\n"
        "P1,A,0.4,0.3,0.5\n"  # 2 ok
        "A,A,0.1,,\n"  # 3 self_ownership
        "P1,B,1.2,,\n"  # 4 share_out_of_range
        "B,L,0.5,0.6,\n"  # 5 share_bounds
        "ZZ,B,0.1,,\n",
    )  # 6 unknown_endpoint
    write(tmp_path, "officers.csv", "person_id,company_id,role\nP1,A,法定代表人\nP1,B,astronaut\n")
    write(
        tmp_path,
        "guarantees.csv",
        "guarantor_id,borrower_id,amount,start_date,end_date\n"
        "A,B,100,2024-01-01,2025-01-01\n"  # 2 ok
        "A,A,100,,\n"  # 3 self_guarantee
        "A,B,100,2025-01-01,2024-01-01\n"  # 4 date_order
        "B,A,,,\n",
    )  # 5 missing_value
    write(tmp_path, "supply_links.csv", "supplier_id,customer_id,year\nA,B,2024\nB,A,2024.5\nA,A,2024\n")
    t = load_tables(tmp_path, pseudonym_key=KEY)
    assert_invariant(t)
    ent = reasons(t, "enterprises")
    assert ent == {
        4: {"invalid_uscc"},
        5: {"out_of_range"},
        6: {"invalid_bool"},
        7: {"invalid_date"},
        8: {"invalid_number"},
        9: {"negative_amount"},
        10: {"missing_value"},
        11: {"duplicate_key"},
        12: {"duplicate_key"},
    }
    assert t.stats["enterprises"].merged == 1
    assert sorted(t["enterprises"]["id"]) == ["A", "B", "L"]
    per = reasons(t, "persons")
    assert per == {3: {"invalid_id_number"}, 4: {"id_collision"}}
    sh = reasons(t, "shareholdings")
    assert sh == {3: {"self_ownership"}, 4: {"share_out_of_range"}, 5: {"share_bounds"}, 6: {"unknown_endpoint"}}
    assert reasons(t, "officers") == {3: {"invalid_value"}}
    assert reasons(t, "guarantees") == {3: {"self_guarantee"}, 4: {"date_order"}, 5: {"missing_value"}}
    assert reasons(t, "supply_links") == {3: {"invalid_int"}, 4: {"self_supply"}}
    seen = set(t.rejects["reason"])
    assert seen <= set(REASONS)
    assert seen == set(REASONS) - {"invalid_number"} | {"invalid_number"}  # every reason code exercised
    dup = t.rejects[t.rejects["reason"] == "duplicate_key"]["message"].iloc[0]
    assert "11, 12" in dup
    assert t["officers"]["role"].tolist() == ["legal_representative"]
    # every reject names its file and a real line, and no message is empty
    assert t.rejects["file"].map(lambda f: Path(f).exists()).all()
    assert (t.rejects["line"] >= 2).all() and (t.rejects["message"].str.len() > 10).all()


def test_personal_numbers_never_leave_the_loader(tmp_path: Path) -> None:
    write(tmp_path, "enterprises.csv", "id,name\nA,甲\n")
    write(tmp_path, "persons.csv", f"id,name,id_number\nP1,张三,{RIC}\n{RIC},李四,\nP3,王五,110105194912310021\n")
    write(tmp_path, "officers.csv", f"person_id,company_id,role\n{RIC},A,director\nP1,A,法人\n")
    t = load_tables(tmp_path, pseudonym_key=KEY)
    everything = pd.concat([f.astype(str) for f in t.frames.values()] + [t.rejects.astype(str)], axis=1)
    assert not everything.apply(lambda c: c.str.contains(RIC[:14], regex=False)).any().any()
    assert not everything.apply(lambda c: c.str.contains("11010519491231002", regex=False)).any().any()
    assert "id_number" not in t["persons"].columns
    pseud = t["persons"].set_index("name")
    # P1's ID number and the ID number used as 李四's key give the same pseudonym; officers follow it
    assert pseud.loc["张三", "id_pseudonym"] == pseud.loc["李四", "id"]
    assert pseud.loc["李四", "id"] in set(t["officers"]["person_id"])
    assert mask_personal("张三") == "张*"


def test_chinese_headers_gbk_units_and_percent(tmp_path: Path) -> None:
    write(
        tmp_path,
        "企业.csv",
        f'统一社会信用代码,企业名称,净资产(万元),违约概率,是否违约\n{USCC_A},北京甲,"1,200",2%,是\n'
        f"{USCC_B},杭州乙,3.5亿,0.01,否\n",
        encoding="gbk",
    )
    write(tmp_path, "股东.csv", f"股东,企业编号,持股比例(%)\n{USCC_B},{USCC_A},35\n", encoding="gb18030")
    write(
        tmp_path,
        "担保.tsv",
        f"担保人\t被担保人\t担保金额(万元)\t担保方式\t起始日\n{USCC_A}\t{USCC_B}\t50\t抵押\t2024年1月31日\n",
        encoding="utf-8-sig",
    )
    t = load_tables(tmp_path, pseudonym_key=KEY)
    assert t.rejected_rows == 0
    e = t["enterprises"].set_index("id")
    assert e.loc[USCC_A, "net_assets"] == 12_000_000.0 and e.loc[USCC_B, "net_assets"] == 3.5e8
    assert e.loc[USCC_A, "pd"] == pytest.approx(0.02) and bool(e.loc[USCC_A, "defaulted"])
    assert e.loc[USCC_A, "name"] == "北京甲"
    assert t["shareholdings"]["share"].tolist() == [0.35]
    g = t["guarantees"].iloc[0]
    assert g["amount"] == 500_000.0 and g["kind"] == "mortgage"
    assert str(g["start_date"].date()) == "2024-01-31"


def test_xlsx_and_parquet(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "企业编号": ["A", "B"],
            "企业名称": ["甲", "乙"],
            "成立日期": pd.to_datetime(["2020-01-31", "2021-02-01"]),
            "净资产": [1.5e6, None],
        }
    ).to_excel(tmp_path / "企业.xlsx", index=False)
    pd.DataFrame({"guarantor_id": ["A", "A"], "borrower_id": ["B", "C"], "amount": [10.0, 5.0]}).to_parquet(
        tmp_path / "guarantees.parquet"
    )
    t = load_tables(tmp_path, pseudonym_key=KEY)
    assert t["enterprises"]["established"].dt.strftime("%Y-%m-%d").tolist() == ["2020-01-31", "2021-02-01"]
    assert t["enterprises"]["net_assets"].iloc[0] == 1.5e6 and pd.isna(t["enterprises"]["net_assets"].iloc[1])
    assert reasons(t, "guarantees") == {3: {"unknown_endpoint"}}
    assert_invariant(t)


def test_config_maps_files_and_headers(tmp_path: Path) -> None:
    write(tmp_path, "客户清单.csv", "客户号,客户名称,PD值\nA,甲,3\nB,乙,0.5\n")
    write(
        tmp_path,
        "graphrisk.toml",
        '[tables.enterprises]\nfile = "客户清单.csv"\npercent_columns = ["pd"]\n'
        '[tables.enterprises.columns]\n"客户号" = "id"\n"客户名称" = "name"\n"PD值" = "pd"\n',
    )
    t = load_tables(tmp_path, pseudonym_key=KEY)
    assert t["enterprises"]["pd"].tolist() == [0.03, 0.005]


def test_blank_lines_keep_line_numbers(tmp_path: Path) -> None:
    write(tmp_path, "enterprises.csv", "id,name\nA,甲\n\n,乙\n")
    t = load_tables(tmp_path, pseudonym_key=KEY)
    assert t.rejects["line"].tolist() == [4] and t.stats["enterprises"].rows == 2


def test_share_sum_over_100_is_a_warning(tmp_path: Path) -> None:
    write(tmp_path, "enterprises.csv", "id,name\nA,甲\nB,乙\nC,丙\n")
    write(tmp_path, "shareholdings.csv", "holder_id,company_id,share\nA,C,0.6\nB,C,0.41\nA,B,0.5\nC,B,0.5\n")
    t = load_tables(tmp_path, pseudonym_key=KEY)
    assert t.rejected_rows == 0 and len(t["shareholdings"]) == 4
    assert t.warnings["reason"].tolist() == ["shares_over_100"]
    assert "101.00%" in t.warnings["message"].iloc[0]


@pytest.mark.parametrize(
    "setup, error, words",
    [
        (lambda p: write(p, "persons.csv", "id,name\nP,张\n"), MissingTableError, ["enterprises"]),
        (lambda p: write(p, "enterprises.csv", "编号,名字\nA,甲\n"), MissingColumnError, ["enterprises.csv", "'id'"]),
        (
            lambda p: (
                write(p, "enterprises.csv", "id,name\nA,甲\n"),
                write(p, "guarantees.csv", "guarantor_id,amount\nA,1\n"),
            ),
            MissingColumnError,
            ["guarantees.csv", "borrower_id"],
        ),
        (
            lambda p: (write(p, "enterprises.csv", "id,name\nA,甲\n"), write(p, "企业.csv", "id,name\nA,甲\n")),
            ConfigError,
            ["several files"],
        ),
        (lambda p: write(p, "enterprises.csv", "id,name,企业编号\nA,甲,B\n"), InputFileError, ["both map"]),
        (lambda p: write(p, "graphrisk.toml", "[tables.nonsense]\n"), ConfigError, ["nonsense"]),
        (lambda p: write(p, "enterprises.xlsx", "not a spreadsheet"), InputFileError, ["enterprises.xlsx"]),
    ],
)
def test_unusable_input_raises_a_clear_error(tmp_path: Path, setup, error, words) -> None:
    setup(tmp_path)
    with pytest.raises(error) as info:
        load_tables(tmp_path, pseudonym_key=KEY)
    for w in words:
        assert w in str(info.value)


def test_schema_declares_keys_and_types_consistently() -> None:
    for t in SCHEMA:
        names = set(t.column_names)
        assert set(t.key) <= names, t.name
        assert set(t.required_columns) <= names
        if t.kind == "relation":
            assert t.source in names and t.target in names and t.rel_type and t.relation


_CELL = st.one_of(
    st.sampled_from(
        ["", "A", "B", "C", "Z", "1,000", "12万", "-5", "35%", "1.5", "2024-01-31", "2024-02-30", "是", "x"]
    ),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=12),
)


@given(st.lists(st.tuples(_CELL, _CELL, _CELL, _CELL, _CELL), min_size=1, max_size=25))
@settings(max_examples=60, deadline=None)
def test_any_garbage_is_rejected_row_by_row_never_raised(rows: list[tuple[str, ...]]) -> None:
    import csv
    import io
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write(folder, "enterprises.csv", "id,name\nA,甲\nB,乙\nC,丙\n")
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["guarantor_id", "borrower_id", "amount", "start_date", "kind"])
        w.writerows(rows)
        write(folder, "guarantees.csv", buf.getvalue())
        t = load_tables(folder, pseudonym_key=KEY)
        assert_invariant(t)
        g = t["guarantees"]
        # whatever was accepted is valid: known distinct endpoints, non-negative amounts
        assert set(g["guarantor_id"]) <= {"A", "B", "C"} and set(g["borrower_id"]) <= {"A", "B", "C"}
        assert (g["guarantor_id"] != g["borrower_id"]).all() and (g["amount"] >= 0).all()
