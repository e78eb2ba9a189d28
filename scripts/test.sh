#!/usr/bin/env bash
# The whole test suite against a real Neo4j: install what the tests need, start Neo4j (unless NEO4J_URI points
# at a server already), run pytest, stop the server we started. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e ".[dev,spark]"
# The Spark engine's connector jars, through Maven into .spark/jars/ (once; later runs only list them).
python3 scripts/spark.py fetch
# Debian's chromium and a CJK font for the browser tests (Playwright drives that chromium; no browser download).
bash scripts/browser.sh

started_here=0
if [ -z "${NEO4J_URI:-}" ]; then
  python3 scripts/neo4j.py start
  started_here=1
  set -a; . .neo4j/env; set +a
else
  python3 scripts/neo4j.py start   # only checks that the given server answers
fi
stop_neo4j() { if [ "$started_here" = 1 ]; then env -u NEO4J_URI python3 scripts/neo4j.py stop || true; fi; }
trap stop_neo4j EXIT

# Every Neo4j test fails (never skips) when the server is missing; CI=true makes that explicit too.
python3 -m pytest "$@"
