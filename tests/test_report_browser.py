"""The scan report opened from file:// in headless Chromium: the top clusters' pictures draw, nothing leaves the
machine, no script error, no CSP violation, and the charts and tables are there for a person to read."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_views import assert_offline
from test_views_browser import WATCH

from graphrisk.cli.main import main

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "portfolio"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "out"
    r = CliRunner().invoke(main, ["scan", str(EXAMPLE), "--out", str(out), "--as-of", "2026-06-30"])
    assert r.exit_code == 0, r.output
    return out / "report.html"


@pytest.fixture
def opened(browser: Any, report: Path) -> Iterator[tuple[Any, list[str], list[str]]]:
    context = browser.new_context(viewport={"width": 1300, "height": 1000}, offline=True)
    outside: list[str] = []
    errors: list[str] = []

    def block(route: Any) -> None:
        outside.append(route.request.url)
        route.abort()

    context.route(re.compile(r"^(?!file:|data:)"), block)
    context.add_init_script(WATCH)
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(report.as_uri())
    yield page, outside, errors
    context.close()


def test_report_is_offline_text(report: Path) -> None:
    assert_offline(report.read_text(encoding="utf-8"))


def test_report_pictures_draw_offline_without_errors(opened: tuple[Any, list[str], list[str]], report: Path) -> None:
    page, outside, errors = opened
    pictures = page.locator("div.picture").count()
    assert pictures >= 1  # the example has high and medium clusters
    page.wait_for_selector(f'body[data-pictures-settled="{pictures}"]', state="attached", timeout=60_000)
    # Every picture drew its nodes on a canvas of real size.
    sizes = page.evaluate("Array.from(document.querySelectorAll('div.picture canvas')).map(c => [c.width, c.height])")
    assert len(sizes) == pictures and all(w > 300 and h > 300 for w, h in sizes), sizes
    assert outside == [] and errors == []
    assert page.evaluate("window.__csp") == []
    assert page.evaluate("document.querySelectorAll('img, iframe, object, embed').length") == 0
    text = page.evaluate("document.body.innerText")
    for heading in ("Executive summary", "Top risk clusters", "Bank loss with and without contagion", "Flags"):
        assert heading in text
    assert page.locator("svg.chart polyline").count() == 2
    shot = report.with_suffix(".png")
    page.locator("div.picture").first.screenshot(path=str(shot))
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000
