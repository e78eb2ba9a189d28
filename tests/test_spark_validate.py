"""Row validation on Spark (issue 9, step 2) against the embedded loader: the same rejects, warnings and counts.

Real Spark in local[2] (the ``spark`` fixture of conftest). The expected rejects are never written here: each
test runs the embedded :func:`loaders.load_tables` on the same folder and compares every reject row whole
(table, file, line, column, value, reason, message) as a multiset.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from graphrisk.cli.main import main
from graphrisk.engines.spark.io import quote_patterns, quote_states
from graphrisk.tables import REJECT_COLUMNS, Tables
from loaders import REASONS, load_tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from graphrisk.engines.spark.validate import SparkValidation

pytestmark = pytest.mark.spark

KEY = b"spark-validate"
RIC = "11010519491231002X"  # a valid resident ID number (stdnum's documented example)


def rows(frame: pd.DataFrame) -> Counter[tuple[str, ...]]:
    """Reject or warning rows as a multiset of text tuples (a row can fail twice the same way)."""
    return Counter(tuple(str(v) for v in r) for r in frame[list(REJECT_COLUMNS)].itertuples(index=False))


def collected(frame: DataFrame) -> pd.DataFrame:
    return frame.toPandas()


def assert_same_as_embedded(got: SparkValidation, want: Tables) -> None:
    """Rejects, warnings and counts equal; the invariant rows = accepted + rejected holds on both sides."""
    spark_rejects = collected(got.rejects)
    assert rows(spark_rejects) == rows(want.rejects)
    assert rows(collected(got.warnings)) == rows(want.warnings)
    assert {n: s for n, s in got.counts.items()} == {n: s for n, s in want.stats.items() if s.file is not None}
    for name, c in got.counts.items():
        assert c.rows == c.accepted + c.rejected, name
        assert spark_rejects.loc[spark_rejects["table"] == name, "line"].nunique() == c.rejected, name
        assert got.tables[name].count() == c.loaded == len(want[name]), name


# ------------------------------------------------------------------------------------- record numbering


def test_quote_state_follows_pandas_on_random_text() -> None:
    """The record boundaries of :func:`quote_patterns` + :func:`quote_states` against pandas' own tokenizer on
    random lines of letters, delimiters and quotes: the same number of records and the same cells."""
    import io

    rng = np.random.default_rng(7)
    opens, stays = (re.compile(p) for p in quote_patterns(","))
    checked = 0
    for _ in range(400):
        lines = ["".join(rng.choice(list('ab,"'), rng.integers(0, 7))) for _ in range(rng.integers(1, 8))]
        text = "\n".join(lines) + "\n"
        try:
            want = pd.read_csv(
                io.StringIO(text), header=None, names=range(12), dtype=str, keep_default_na=False,
                skip_blank_lines=False, engine="c",
            )  # fmt: skip
        except pd.errors.ParserError:
            continue  # "EOF inside string": the Spark reader raises too (test_unclosed_quote_is_an_error)
        f0 = np.array([bool(opens.search(x)) for x in lines])
        f1 = np.array([bool(stays.search(x)) for x in lines])
        entering, after = quote_states(f0, f1, False)
        assert not after
        records: list[str] = []
        for line, inside in zip(lines, entering, strict=True):
            if inside:
                records[-1] += "\n" + line
            else:
                records.append(line)
        assert len(records) == len(want), text
        for record, (_, expected) in zip(records, want.iterrows(), strict=True):
            one = pd.read_csv(
                io.StringIO(record + "\n"), header=None, names=range(12), dtype=str, keep_default_na=False,
                skip_blank_lines=False, engine="c",
            )  # fmt: skip
            assert one.iloc[0].tolist() == expected.tolist(), (text, record)
        checked += 1
    assert checked > 200


@contextmanager
def split_files(spark: SparkSession, partition_bytes: int) -> Iterator[None]:
    """Files split into partitions of ``partition_bytes``, so that line numbers and quoted newlines cross
    partition boundaries."""
    old = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(partition_bytes))
    try:
        yield
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", old)


def test_line_numbers_and_cells_match_the_embedded_reader(spark: SparkSession, tmp_path: Path) -> None:
    """Quoted newlines (records spanning partitions), blank lines, doubled quotes, a BOM, a short row: the same
    line number and the same text for every row as ``loaders.readers.read_raw_table``."""
    from graphrisk.config import Config
    from graphrisk.engines.spark.io import read_cells
    from graphrisk.schema import SCHEMA
    from loaders.readers import read_raw_table

    rng = np.random.default_rng(3)
    lines = ["\ufeffid,name,address"]
    for i in range(200):
        kind = rng.random()
        if kind < 0.05:
            lines.append(f'E{i},"two\nlines {i}\n\n{"x" * int(rng.integers(0, 3000))}",addr')  # crosses 1 KB splits
        elif kind < 0.1:
            lines.append("")
        elif kind < 0.15:
            lines.append(f'E{i},"comma, and ""quotes""",x')
        elif kind < 0.2:
            lines.append(f'E{i},a"b,"c\nd"')
        elif kind < 0.22:
            lines.append(f"E{i}")
        else:
            lines.append(f"E{i},name {i},  addr {i}  ")
    (tmp_path / "enterprises.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    want = read_raw_table(tmp_path, SCHEMA["enterprises"], Config())
    with split_files(spark, 1024):
        assert spark.read.text(str(tmp_path / "enterprises.csv")).rdd.getNumPartitions() >= 8
        raw = read_cells(spark, tmp_path, "enterprises")
        assert raw is not None
        got = raw.frame.toPandas().sort_values("_line").reset_index(drop=True)
    assert got["_line"].tolist() == want.lines.tolist()
    for column in ("id", "name", "address"):
        assert got[column].fillna("").tolist() == want.frame[column].fillna("").astype(str).tolist(), column


def test_unclosed_quote_is_an_error(spark: SparkSession, tmp_path: Path) -> None:
    from graphrisk.engines.spark.io import read_cells
    from graphrisk.errors import InputFileError

    (tmp_path / "enterprises.csv").write_text('id,name\nA,甲\nB,"乙\nC,丙\n', encoding="utf-8")
    with pytest.raises(InputFileError, match="line 3"):
        read_cells(spark, tmp_path, "enterprises")


# ------------------------------------------------------------------------------------------------- parity


def test_10k_portfolio_has_no_rejects_and_the_counts_hold(spark: SparkSession, portfolio: Path) -> None:
    """The synthetic 10k portfolio: zero rejects on both engines, equal counts, equal accepted rows and the same
    ID-number pseudonyms (the key is the same)."""
    from graphrisk.engines.spark.validate import validate_tables

    want = load_tables(portfolio, pseudonym_key=KEY)
    got = validate_tables(spark, portfolio, pseudonym_key=KEY)
    assert len(want.rejects) == 0 and got.rejects.count() == 0
    assert sum(c.rows for c in got.counts.values()) > 50_000
    assert_same_as_embedded(got, want)
    persons = got.tables["persons"].toPandas().set_index("id")["id_pseudonym"]
    embedded = want["persons"].set_index("id")["id_pseudonym"].astype(object)
    assert persons.notna().sum() > 1000
    assert persons.reindex(embedded.index).fillna("").tolist() == embedded.fillna("").tolist()
    ent = got.tables["enterprises"].toPandas().set_index("id")
    emb = want["enterprises"].set_index("id")
    for column in ("net_assets", "pd", "established", "defaulted", "uscc"):
        mine, theirs = ent[column].reindex(emb.index), emb[column]
        if column == "established":
            mine, theirs = pd.to_datetime(mine), theirs.astype("datetime64[ns]")
        assert (mine.isna() == theirs.isna()).all(), column
        assert (mine[theirs.notna()] == theirs[theirs.notna()]).all(), column


def _corrupt(folder: Path) -> None:
    """One bad row per rule (and a few accepted oddities) in a generated portfolio, text-level, as a bank
    export might have them."""
    read = {n: pd.read_csv(folder / f"{n}.csv", dtype=str, keep_default_na=False) for n in (
        "enterprises", "persons", "shareholdings", "officers", "guarantees", "supply_links", "exposures")}  # fmt: skip
    e, p, s, o, g, sl, x = (read[n] for n in read)
    ids = e["id"].tolist()

    e.loc[3, "net_assets"] = "12x"  # invalid_number
    e.loc[4, "established"] = "2024-02-30"  # invalid_date
    e.loc[5, "pd"] = "1.5"  # out_of_range
    e.loc[6, "total_assets"] = "-5"  # negative_amount
    e.loc[7, "defaulted"] = "maybe"  # invalid_bool
    e.loc[8, "uscc"] = e.loc[8, "uscc"][:-1] + ("0" if e.loc[8, "uscc"][-1] != "0" else "1")  # invalid_uscc
    e.loc[9, "name"] = ""  # missing_value; guarantees and exposures below point at this firm
    e.loc[10, "id"] = "—"  # a missing-value marker in a required column
    e.loc[13, "declared_controller_id"] = "NOBODY"  # warning unknown_reference, the row is kept
    e.loc[14, "registered_capital"] = "１２万"  # full-width digits: 120,000
    e.loc[15, "revenue"] = "(1,000)"  # accounting negative: negative_amount
    e.loc[16, "net_assets"] = "5千万"  # the embedded suffix order reads 5,000 (kept as it is)
    e.loc[16, "revenue"] = "3.5亿"
    e.loc[17, "pd"] = "2%"
    e.loc[18, "pd"] = "NaN"  # not a missing marker in this spelling: invalid_number
    e.loc[19, "established"] = "2024年1月31日"
    e.loc[20, "established"] = "20240131 10:00"
    e.loc[21, "address"] = "第一行,\n第二行"  # a quoted newline: later line numbers count records
    e.loc[22, "total_liabilities"] = "1.5d"  # Java would read it, pandas does not: invalid_number
    e.loc[23, "listed"] = "是"
    e.loc[24, "phone"] = " 010-1234 5678\u3000"
    e.loc[25, "revenue"] = "RMB 1,000元"
    e.loc[26, "total_assets"] = "inf"
    dup = e.loc[[11]].copy()
    dup["name"] = dup["name"] + "（重复）"  # duplicate_key with line of row 11
    same = e.loc[[12]].copy()  # identical: merged
    e = pd.concat([e, dup, same], ignore_index=True)

    p.loc[2, "id_number"] = p.loc[2, "id_number"][:-1] + ("0" if p.loc[2, "id_number"][-1] != "0" else "1")
    p.loc[3, "id"] = ids[30]  # id_collision
    p.loc[4, "id"] = RIC  # an ID number as person id: pseudonymised everywhere
    p.loc[5, "name"] = ""  # missing_value
    pdup = p.loc[[6]].copy()
    pdup["name"] = "另一人"
    p = pd.concat([p, pdup], ignore_index=True)

    s.loc[2, "share"] = "1.2"  # share_out_of_range
    s.loc[3, "share"] = "35%"
    s.loc[4, ["share", "share_min"]] = ["0.3", "0.9"]  # share_bounds (share_min)
    s.loc[5, "holder_id"] = s.loc[5, "company_id"]  # self_ownership
    s.loc[6, "holder_id"] = "GHOST"  # unknown_endpoint
    s.loc[7, "share"] = "abc"  # invalid_number
    s.loc[8, ["share", "share_min", "share_max"]] = ["0.5", "0.6", "0.4"]  # three share_bounds, two alike
    s.loc[9, "holder_id"] = RIC  # the pseudonymised person
    sdup = s.loc[[10]].copy()
    sdup["share"] = "0.01"  # duplicate_key
    over = s.loc[[11]].copy()
    over["holder_id"] = ids[40] if ids[40] != over["company_id"].iloc[0] else ids[41]
    over["share"] = "0.99"  # shares of the company now sum over 100 %: warning
    s = pd.concat([s, sdup, over], ignore_index=True)

    o.loc[2, "role"] = "astronaut"  # invalid_value
    o.loc[3, "role"] = "董事"
    o.loc[4, "person_id"] = "NOBODY"  # unknown_endpoint
    o.loc[5, "role"] = ""  # missing_value
    o.loc[6, "person_id"] = RIC

    g.loc[2, "borrower_id"] = g.loc[2, "guarantor_id"]  # self_guarantee
    g.loc[3, ["start_date", "end_date"]] = ["2025-01-01", "2024-01-01"]  # date_order
    g.loc[4, "amount"] = ""  # missing_value
    g.loc[5, "borrower_id"] = ids[9]  # its enterprise row is rejected: unknown_endpoint
    g.loc[6, "kind"] = "gift"  # invalid_value
    g.loc[7, "amount"] = "1,200万"
    g.loc[8, "amount"] = "NaN"  # invalid_number
    g.loc[9, "start_date"] = "2024/13/01"  # invalid_date

    sl.loc[2, "year"] = "2024.5"  # invalid_int
    sl.loc[3, "year"] = "1800"  # out_of_range
    sl.loc[4, "customer_id"] = sl.loc[4, "supplier_id"]  # self_supply
    sl.loc[5, "share_of_supplier_revenue"] = "120%"  # share_out_of_range

    x.loc[2, "lgd"] = "1.5"  # out_of_range
    x.loc[3, "ead"] = "-1"  # negative_amount
    x.loc[4, "borrower_id"] = ids[9]  # unknown_endpoint
    x = pd.concat([x, x.loc[[5]]], ignore_index=True)  # identical: merged

    for name, frame in zip(read, (e, p, s, o, g, sl, x), strict=True):
        frame.to_csv(folder / f"{name}.csv", index=False, lineterminator="\n", encoding="utf-8")
    # A blank line inside enterprises: a record for the numbering, not a row.
    text = (folder / "enterprises.csv").read_text(encoding="utf-8").split("\n")
    (folder / "enterprises.csv").write_text("\n".join([*text[:40], "", *text[40:]]), encoding="utf-8")


@pytest.fixture(scope="module")
def corrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corrupt") / "p300"
    result = CliRunner().invoke(main, ["generate", str(out), "--enterprises", "300", "--seed", "3"])
    assert result.exit_code == 0, result.output
    _corrupt(out)
    return out


def test_corrupted_portfolio_gives_the_embedded_rejects(spark: SparkSession, corrupted: Path) -> None:
    """One bad row per rule: the same reject rows (file, line, column, masked value, reason, message), the
    same warnings and counts, every reason code exercised; files split into many partitions."""
    from graphrisk.engines.spark.validate import validate_tables

    want = load_tables(corrupted, pseudonym_key=KEY)
    with split_files(spark, 32 * 1024):  # enterprises.csv (≈ 100 KB) in several partitions
        got = validate_tables(spark, corrupted, pseudonym_key=KEY)
    assert set(want.rejects["reason"]) == set(REASONS)  # the corruption reaches every rule
    assert {"unknown_reference", "shares_over_100"} <= set(want.warnings["reason"])
    assert want.stats["enterprises"].merged == 1 and want.stats["exposures"].merged == 1
    assert_same_as_embedded(got, want)
    # The person whose id is an ID number: the same pseudonym in persons, officers and shareholdings.
    psn = [r["id"] for r in got.tables["persons"].where("id like 'PSN-%'").collect()]
    assert len(psn) == 1 and psn[0] in set(want["persons"]["id"])
    for table, column in (("officers", "person_id"), ("shareholdings", "holder_id")):
        mine = sorted(r[column] for r in got.tables[table].select(column).collect())
        assert mine == sorted(want[table][column].astype(str)), table
        assert RIC not in mine, table
    # Accepted oddities are read as the embedded loader reads them.
    ent = got.tables["enterprises"].toPandas().set_index("id")
    emb = want["enterprises"].set_index("id")
    for column in ("registered_capital", "revenue", "net_assets", "total_assets", "pd", "listed", "phone"):
        assert ent[column].reindex(emb.index).astype(object).fillna("∅").tolist() == (
            emb[column].astype(object).fillna("∅").tolist()
        ), column


def test_missing_enterprises_and_spreadsheets_raise(spark: SparkSession, tmp_path: Path) -> None:
    from graphrisk.engines.spark.validate import validate_tables
    from graphrisk.errors import InputFileError, MissingTableError

    (tmp_path / "persons.csv").write_text("id,name\nP,张\n", encoding="utf-8")
    with pytest.raises(MissingTableError, match="enterprises"):
        validate_tables(spark, tmp_path, pseudonym_key=KEY)
    (tmp_path / "enterprises.xlsx").write_bytes(b"not read")
    with pytest.raises(InputFileError, match="export it as CSV"):
        validate_tables(spark, tmp_path, pseudonym_key=KEY)


def test_a_filesystem_uri_reads_as_the_folder(spark: SparkSession, corrupted: Path, tmp_path: Path) -> None:
    """``file://`` goes through Hadoop's FileSystem (the code path of hdfs:// and s3a://): the same files found, the
    same header lines, graphrisk.toml read, and the same rejects, warnings and counts as the local folder."""
    from graphrisk.engines.spark.fs import HadoopPath, location
    from graphrisk.engines.spark.validate import validate_tables

    uri = corrupted.resolve().as_uri()
    folder = location(uri, spark)
    assert isinstance(folder, HadoopPath) and folder.is_dir() and not folder.is_file()
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in corrupted.iterdir())
    ent = folder / "enterprises.csv"
    assert ent.is_file() and ent.stat().st_size == (corrupted / "enterprises.csv").stat().st_size
    with (
        ent.open("r", encoding="utf-8-sig", newline="") as fh,
        (corrupted / "enterprises.csv").open(encoding="utf-8-sig", newline="") as local,
    ):
        assert fh.readline() == local.readline()
    # Writing (the report folder): bytes round-trip, a rerun overwrites.
    out = location(tmp_path.resolve().as_uri(), spark) / "report"
    out.mkdir(parents=True, exist_ok=True)
    payload = "图,x\n".encode() * 50_000
    (out / "a.csv").write_bytes(b"old")
    (out / "a.csv").write_bytes(payload)
    assert (tmp_path / "report" / "a.csv").read_bytes() == payload

    # graphrisk.toml is read through the filesystem too: it names the renamed enterprises file.
    renamed = tmp_path / "renamed"
    shutil.copytree(corrupted, renamed)
    (renamed / "enterprises.csv").rename(renamed / "firms-2026.csv")
    (renamed / "graphrisk.toml").write_text('[tables.enterprises]\nfile = "firms-2026.csv"\n', encoding="utf-8")
    want = validate_tables(spark, corrupted, pseudonym_key=KEY)
    got = validate_tables(spark, renamed.resolve().as_uri(), pseudonym_key=KEY)
    assert len(want.rejects.collect()) > 10

    def without_file(frame: DataFrame) -> Counter[tuple[str, ...]]:
        # The file column names what was read (a URI here, a path there): compare the file names.
        out = collected(frame)
        out["file"] = [PurePosixPath(f).name.replace("firms-2026.csv", "enterprises.csv") for f in out["file"]]
        return rows(out)

    assert without_file(got.rejects) == without_file(want.rejects)
    assert without_file(got.warnings) == without_file(want.warnings)

    def counts(v: SparkValidation) -> dict[str, dict[str, object]]:
        return {k: {f: x for f, x in c.as_dict().items() if f != "file"} for k, c in v.counts.items()}

    assert counts(got) == counts(want) and got.counts["enterprises"].file.endswith("firms-2026.csv")
