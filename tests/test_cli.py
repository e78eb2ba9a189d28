"""The command line through click's CliRunner, plus real subprocess runs of the installed command."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from graphrisk.cli.main import main
from graphrisk.schema import render_markdown
from loaders import REASONS

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "portfolio"
EVIL = "<img src=x onerror=alert(1)></script><script>alert(1)</script>"
EVIL_ID = "B<img src=x onerror=alert(2)>"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    (d / "enterprises.csv").write_text(
        f'id,name,net_assets,pd\nA,甲,100,0.01\n{EVIL_ID},"{EVIL}",50,0.02\nC,丙,10,0.5\nD,丁,abc,0.1\n',
        encoding="utf-8",
    )
    (d / "guarantees.csv").write_text(
        f"guarantor_id,borrower_id,amount\nA,{EVIL_ID},100\n{EVIL_ID},C,20\nC,Z,5\n", encoding="utf-8"
    )
    (d / "exposures.csv").write_text(f"borrower_id,ead\n{EVIL_ID},1000\nC,50\n", encoding="utf-8")
    return d


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)


def test_validate_table_and_exit_code(data_dir: Path, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    r = CliRunner().invoke(main, ["validate", str(data_dir), "--rejects", str(rejects)])
    assert r.exit_code == 1, r.output
    assert "enterprises" in r.output and "invalid_number" in r.output
    frame = read_csv(rejects)
    assert set(frame.columns) >= {"file", "line", "column", "value", "reason", "message"}
    got = set(zip(frame["reason"], frame["line"], strict=True))
    assert got == {("invalid_number", "5"), ("unknown_endpoint", "4")}


def test_validate_json_shape_and_clean_exit(data_dir: Path) -> None:
    r = CliRunner().invoke(main, ["validate", str(data_dir), "--format", "json"])
    payload = json.loads(r.output)
    assert payload["rejects_file"] is None
    assert payload["tables"]["enterprises"] == {"rows": 4, "accepted": 3, "rejected": 1, "warnings": 0}
    assert payload["tables"]["guarantees"] == {"rows": 3, "accepted": 2, "rejected": 1, "warnings": 0}
    (data_dir / "enterprises.csv").write_text(f"id,name\nA,甲\n{EVIL_ID},乙\nC,丙\nZ,子\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["validate", str(data_dir), "--format", "json"])
    assert r.exit_code == 0 and json.loads(r.output)["tables"]["guarantees"]["rejected"] == 0


def test_missing_table_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert r.exit_code == 1
    assert "enterprises" in r.output and "Traceback" not in r.output
    assert isinstance(r.exception, SystemExit)


def test_scan_writes_the_report_folder(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    r = CliRunner().invoke(main, ["scan", str(data_dir), "--out", str(out), "--as-of", "2026-06-30"])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["parameters"]["as_of"] == "2026-06-30" and summary["parameters"]["source"] == "embedded"
    assert summary["graph"]["enterprises"] == 3 and summary["graph"]["edges"]["guarantee"] == 2
    assert summary["data_quality"]["tables"]["enterprises"]["rejected"] == 1
    assert {i["table"] for i in summary["inputs"]} == {"enterprises", "guarantees", "exposures"}
    assert all(len(i["sha256"]) == 64 for i in summary["inputs"])
    stages = [t["stage"] for t in summary["timings"]]
    assert stages[0] == "validate" and "build_graph" in stages and "analysis:structure" in stages
    for name in summary["files"]:
        assert (out / name).exists(), name
    assert len(read_csv(out / "rejects.csv")) == 2
    comps = read_csv(out / "components.csv")
    assert comps["size"].tolist() == ["3"]


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_report_is_offline_and_escapes_names(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    # A hub threshold of 1 puts the evil name into the flags table of the report.
    (data_dir / "graphrisk.toml").write_text("[thresholds]\nhub_degree = 1\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["scan", str(data_dir), "--out", str(out)])
    assert r.exit_code == 0, r.output
    page = (out / "report.html").read_text(encoding="utf-8")
    parser = _Collect()
    parser.feed(page)
    tags = [t for t, _ in parser.tags]
    assert "img" not in tags
    for _tag, attrs in parser.tags:
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            assert not re.match(r"^(https?:)?//", value), value
    if "script" in tags:  # the top clusters' pictures: only the vendored vis-network and data blocks
        from test_views import assert_offline

        assert_offline(page)
    else:
        assert not re.search(r"https?://", page)
    flags = read_csv(out / "flags.csv")
    assert (flags["flag"] == "hub").any()
    assert EVIL_ID in set(flags["entity_id"])
    assert "B&lt;img src=x onerror=alert(2)&gt;" in page  # the id is shown, as text
    assert EVIL_ID not in page and EVIL not in page


def test_strict_exits_one_when_rows_are_rejected(data_dir: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["scan", str(data_dir), "--out", str(tmp_path / "o"), "--strict"])
    assert r.exit_code == 1
    assert (tmp_path / "o" / "report.html").exists()  # the report is still written


def test_schema_and_config_commands() -> None:
    r = CliRunner().invoke(main, ["schema"])
    assert r.exit_code == 0 and "担保金额" in r.output
    r = CliRunner().invoke(main, ["schema", "--format", "json"])
    tables = {t["name"] for t in json.loads(r.output)["tables"]}
    assert tables == {"enterprises", "persons", "shareholdings", "officers", "guarantees", "supply_links", "exposures"}
    r = CliRunner().invoke(main, ["config", "--format", "json"])
    names = {t["name"] for t in json.loads(r.output)["thresholds"]}
    assert "share_sum_tolerance" in names


def test_readme_data_format_is_generated_from_the_schema() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = "<!-- schema:start -->\n", "<!-- schema:end -->"
    section = readme[readme.index(start) + len(start) : readme.index(end)]
    assert section.strip() == render_markdown().strip()
    for code in REASONS:
        assert f"`{code}`" in readme, code


def test_generated_cypher_files_match_the_schema() -> None:
    from graphrisk.schema import render_cypher

    for rel, text in render_cypher().items():
        assert (ROOT / "cypher" / rel).read_text(encoding="utf-8") == text, rel


def test_installed_command_runs_the_example(tmp_path: Path) -> None:
    exe = shutil.which("graphrisk")
    assert exe, "the graphrisk console script is not installed (pip install -e .)"
    proc = subprocess.run(
        [exe, "scan", str(EXAMPLE), "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert "stage timings" in proc.stderr and "wrote" in proc.stdout
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["graph"]["enterprises"] >= 250


@pytest.mark.slow
def test_wheel_installs_in_a_clean_venv_and_scans(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    wheel = next(dist.glob("graphrisk-*.whl"))
    env_dir = tmp_path / "venv"
    # The venv sees the already installed dependencies but not the project's source tree.
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    clean_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    check = subprocess.run(
        [
            str(py),
            "-c",
            "import graphrisk, cypher, importlib.resources as r;"
            "print(graphrisk.__file__);"
            "print('UNWIND' in (r.files('cypher') / 'load' / 'guarantees.cypher').read_text())",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
    assert str(env_dir) in check.stdout and check.stdout.strip().endswith("True")
    proc = subprocess.run(
        [str(env_dir / "bin" / "graphrisk"), "scan", str(EXAMPLE), "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "r" / "report.html").exists()


def test_load_without_a_server_is_a_usage_error(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEO4J_URI", raising=False)
    r = CliRunner().invoke(main, ["load", str(data_dir)])
    assert r.exit_code == 2 and "--neo4j-uri" in r.output
