"""Benchmark: investigator views on the 100k portfolio.

    python bench/views.py [--data bench/out/portfolio-100000-s0] [--nodes 1000] [--chromium /usr/bin/chromium]

Loads the portfolio once (load time printed separately), then times:
- a picture of about ``--nodes`` entities (the busiest firm's neighbourhood, 6 hops, bounded by --max-nodes):
  selection + local flags + HTML written [< 2 s], and its settling in headless Chromium from file:// until
  vis-network reports 'stabilizationIterationsDone' / 'stabilized' [< 10 s];
- a dossier (JSON data, and the HTML page with its embedded picture) for one firm in a guarantee circle [< 3 s].
Prints a table of figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graphrisk.graph import EnterpriseGraph  # noqa: E402
from graphrisk.report.dossier import build_dossier  # noqa: E402
from graphrisk.report.viz import ego_view, render_dossier_html, render_view_html  # noqa: E402
from loaders import load_tables  # noqa: E402

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def busiest(graph: EnterpriseGraph) -> str:
    """The enterprise with the most relations: its 6-hop neighbourhood easily holds 1,000 entities."""
    deg = (
        np.asarray(graph.combined_adjacency().sum(axis=0)).ravel()
        + np.asarray(graph.combined_adjacency().sum(axis=1)).ravel()
    )
    return str(graph.node_ids[int(np.argmax(deg[: graph.n_enterprises]))])


def in_circle(graph: EnterpriseGraph, day: date) -> str:
    """A firm with owners and active guarantees given and received (a dossier with every section filled)."""
    g = graph.edges("guarantee")
    both = np.intersect1d(g["src"].to_numpy(), g["dst"].to_numpy())
    held = np.unique(graph.edges("ownership")["dst"].to_numpy())
    pick = np.intersect1d(both, held)
    return str(graph.node_ids[int(pick[0] if len(pick) else both[0])])


def settle(path: Path, chromium: str) -> tuple[float, int, int, int]:
    """Seconds from navigation until the page marks itself settled; the page's own ms; node and edge counts."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, offline=True)
        page = context.new_page()
        t0 = time.perf_counter()
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-stabilized-ms]", state="attached", timeout=60_000)
        wall = time.perf_counter() - t0
        own = int(page.evaluate("document.body.getAttribute('data-stabilized-ms')"))
        n, e = page.evaluate("[graphriskNetwork.body.data.nodes.length, graphriskNetwork.body.data.edges.length]")
        page.screenshot(path=str(path.with_suffix(".png")))
        browser.close()
    return wall, own, int(n), int(e)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "bench" / "out" / "portfolio-100000-s0")
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--out", type=Path, default=None, help="folder for the pages (default: a temporary folder)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="graphrisk-views-"))
    out.mkdir(parents=True, exist_ok=True)
    day = date.today()
    rows: list[tuple[str, str, str]] = []

    t0 = time.perf_counter()
    graph = EnterpriseGraph(load_tables(args.data, pseudonym_key=b"bench"))
    load = time.perf_counter() - t0
    rows.append((f"load + build graph ({graph.n_enterprises:,} enterprises)", f"{load:.2f} s", "(not timed)"))
    graph.combined_adjacency()  # the adjacency is cached once per graph, as in a session that draws many views

    entity = busiest(graph)
    t0 = time.perf_counter()
    view = ego_view(graph, entity, hops=6, max_neighbours=200, max_nodes=args.nodes, as_of=day)
    page = out / "picture.html"
    page.write_text(render_view_html(view), encoding="utf-8")
    write = time.perf_counter() - t0
    rows.append((f"picture written ({len(view.nodes):,} nodes, {len(view.edges):,} edges)", f"{write:.2f} s", "< 2 s"))
    wall, own, n, e = settle(page, args.chromium)
    rows.append((f"settled in Chromium (page: {n:,} nodes, {e:,} edges)", f"{wall:.2f} s", "< 10 s"))
    rows.append(("  of which physics (page's own timer)", f"{own / 1000:.2f} s", ""))

    firm = in_circle(graph, day)
    t0 = time.perf_counter()
    dossier = build_dossier(graph, firm, as_of=day)
    data_s = time.perf_counter() - t0
    rows.append((f"dossier data (JSON) for {firm}", f"{data_s:.2f} s", "< 3 s"))
    t0 = time.perf_counter()
    dossier = build_dossier(graph, firm, as_of=day)
    view = ego_view(graph, firm, as_of=day)
    (out / "dossier.html").write_text(render_dossier_html(dossier, view), encoding="utf-8")
    page_s = time.perf_counter() - t0
    rows.append((f"dossier page with picture ({len(view.nodes)} nodes)", f"{page_s:.2f} s", "< 3 s"))

    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  {'time':>8}  target")
    for what, value, target in rows:
        print(f"{what:<{width}}  {value:>8}  {target}")
    print(f"pages and screenshot in {out}")


if __name__ == "__main__":
    main()
