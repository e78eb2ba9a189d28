"""The investigator views opened from file:// in headless Chromium (Debian's ``chromium``, driven by Playwright).

Network off: the browser context is offline and every request that is not file:// or data: is aborted and
recorded. The tests read the vis network's node and edge counts from the page, hover the injection-named node
to see its tooltip as text, check that nothing ran (no dialog, no injected element, no CSP violation) and that
Chinese text has real glyphs. Screenshots are kept under pytest's tmp dir and their paths printed.

A missing browser or Playwright is a failure with the fix, never a skip (CI installs both: scripts/test.sh).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_views import XSS1, XSS2, write_hand_data

from graphrisk.cli.main import main

pytestmark = pytest.mark.browser

# Records CSP violations before any page script runs (Playwright's init scripts are not subject to the CSP).
WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The hand graph of test_views (34 nodes, 36 edges around A; path X1 → H: 3 nodes, 2 edges)."""
    root = tmp_path_factory.mktemp("views")
    data = write_hand_data(root / "data")
    env = {"GRAPHRISK_PSEUDONYM_KEY": "test-views"}
    out = {"ego": root / "ego.html", "path": root / "path.html", "dossier": root / "dossier.html"}
    runner = CliRunner(env=env)
    for args in (
        ["viz", str(data), "--entity", "A", "--out", str(out["ego"])],
        ["viz", str(data), "--path", "X1", "H", "--out", str(out["path"])],
        ["explain", str(data), "--entity", "A", "--out", str(out["dossier"])],
    ):
        r = runner.invoke(main, args, catch_exceptions=False)
        assert r.exit_code == 0, r.output
    return out


class Opened:
    def __init__(self, page: Any, outside: list[str], dialogs: list[str], errors: list[str]) -> None:
        self.page, self.outside, self.dialogs, self.errors = page, outside, dialogs, errors

    def eval(self, script: str) -> Any:
        return self.page.evaluate(script)


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    contexts: list[Any] = []

    def opener(path: Path) -> Opened:
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, offline=True)
        contexts.append(context)
        outside: list[str] = []
        dialogs: list[str] = []
        errors: list[str] = []

        def block(route: Any) -> None:
            outside.append(route.request.url)
            route.abort()

        context.route(re.compile(r"^(?!file:|data:)"), block)
        context.add_init_script(WATCH)
        page = context.new_page()
        page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else outside.append(r.url))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        # A selector, not wait_for_function: the page's CSP forbids the eval that wait_for_function needs.
        page.wait_for_selector("body[data-stabilized-ms]", state="attached", timeout=30_000)
        return Opened(page, outside, dialogs, errors)

    yield opener
    for c in contexts:
        c.close()


def counts(o: Opened) -> tuple[int, int]:
    n, e = o.eval("[graphriskNetwork.body.data.nodes.length, graphriskNetwork.body.data.edges.length]")
    return int(n), int(e)


def assert_clean(o: Opened) -> None:
    assert o.outside == [], f"requests left file://: {o.outside}"
    assert o.dialogs == [], f"a payload ran: {o.dialogs}"
    assert o.errors == [], o.errors
    assert o.eval("window.__csp") == []
    # Only our three scripts; no element a payload could have injected.
    assert o.eval("document.scripts.length") == 3
    assert o.eval("document.querySelectorAll('img, iframe, object, embed').length") == 0


def keep_screenshot(o: Opened, path: Path) -> None:
    o.page.screenshot(path=str(path), full_page=False)
    print(f"screenshot: {path}")
    assert path.stat().st_size > 10_000


def test_ego_page_counts_offline_and_safe(pages: dict[str, Path], open_page: Any) -> None:
    o = open_page(pages["ego"])
    assert counts(o) == (34, 36)
    assert o.eval("graphriskNetwork.body.data.nodes.get('more:H').label") == "… and 5 more"
    assert_clean(o)
    keep_screenshot(o, pages["ego"].with_suffix(".png"))


def test_tooltip_shows_injection_as_text(pages: dict[str, Path], open_page: Any) -> None:
    o = open_page(pages["ego"])
    for node, payload in (("X1", XSS1), ("X2", XSS2)):
        o.eval(f"graphriskNetwork.focus('{node}', {{scale: 1.5}})")
        o.page.wait_for_timeout(200)
        x, y = o.eval(
            f"(() => {{ const p = graphriskNetwork.canvasToDOM(graphriskNetwork.getPositions(['{node}'])['{node}']);"
            " const r = document.getElementById('graphrisk-graph').getBoundingClientRect();"
            " return [r.left + p.x, r.top + p.y]; })()"
        )
        o.page.mouse.move(x, y)
        o.page.wait_for_selector("div.vis-tooltip", state="visible", timeout=5_000)
        text = o.eval("document.querySelector('div.vis-tooltip').textContent")
        assert payload in text
        assert o.eval("document.querySelectorAll('div.vis-tooltip *:not(div)').length") == 0
        o.page.mouse.move(5, 5)
        o.page.wait_for_timeout(150)
    assert_clean(o)


def test_cjk_text_has_glyphs(pages: dict[str, Path], open_page: Any) -> None:
    o = open_page(pages["ego"])
    assert "甲公司" in o.eval("document.querySelector('h1').textContent")
    # Without a CJK font every character is the same missing-glyph box: distinct characters would draw the
    # same pixels. With one they differ, and a CJK glyph is about one em wide.
    result = o.eval(
        """(() => {
        const font = getComputedStyle(document.body).fontFamily;
        const draw = (ch) => { const c = document.createElement('canvas'); c.width = 40; c.height = 40;
          const x = c.getContext('2d'); x.font = '32px ' + font; x.fillText(ch, 2, 32);
          return [Array.from(x.getImageData(0, 0, 40, 40).data).join(','), x.measureText(ch).width]; };
        const a = draw('甲'), b = draw('乙'), t = draw('\\uE000');
        return {differ: a[0] !== b[0], notTofu: a[0] !== t[0], width: a[1],
                check: document.fonts.check('16px "Noto Sans CJK SC"', '甲公司')};
    })()"""
    )
    assert result["differ"] and result["notTofu"], result
    assert 28 <= result["width"] <= 36, result
    assert result["check"] is True
    keep_screenshot(o, pages["ego"].with_name("cjk.png"))


def test_path_page(pages: dict[str, Path], open_page: Any) -> None:
    o = open_page(pages["path"])
    assert counts(o) == (3, 2)
    assert_clean(o)


def test_dossier_page(pages: dict[str, Path], open_page: Any) -> None:
    o = open_page(pages["dossier"])
    assert counts(o) == (34, 36)
    assert "甲公司" in o.eval("document.body.innerText")
    assert "张三丰" not in o.eval("document.body.innerText")
    assert_clean(o)
    o.page.screenshot(path=str(pages["dossier"].with_suffix(".png")), full_page=True)
    print(f"screenshot: {pages['dossier'].with_suffix('.png')}")
