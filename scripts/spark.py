#!/usr/bin/env python3
"""Fetch the jars the Spark engine (``graphrisk scan --engine spark``) puts on Spark's classpath.

    python scripts/spark.py fetch     # resolve through Maven once, copy into .spark/jars/, print what is there
    python scripts/spark.py status    # what is cached (exit 0 when every required jar is there, 3 when not)
    python scripts/spark.py jars      # the cached jar paths, one a line (what spark.jars gets; --comma: one line)
    python scripts/spark.py app       # the spark-submit application file of the installed graphrisk

Spark itself comes from PyPI (``pip install -e ".[spark]"`` installs pyspark, Spark 3.5 for Scala 2.12, which
runs on Java 17). This script only adds the connectors that are not part of Spark.

Which artefacts, and why
------------------------
Resolved with ``mvn dependency:copy-dependencies`` against Maven's default repository (the only JVM repository
the development machines and CI reach), reusing ``~/.m2``:

* ``org.neo4j:neo4j-connector-apache-spark_2.12:5.0.3_for_spark_3`` — the Neo4j Connector for Apache Spark
  (required). Neo4j's compatibility table names 5.4.x for Spark 3.4/3.5, but the repository reachable here
  serves only up to 5.0.3 of the ``_for_spark_3`` line (probed 2026-11-27: 5.3.x and 5.4.x answer 404). The
  connector uses the DataSource V2 API, which Spark 3.5 still provides; reading (``labels``, ``relationship``,
  ``query``) and query-mode writing work against Neo4j 5.26 (tests/test_spark_neo4j.py).
* ``io.graphframes:graphframes-spark3_2.12`` — GraphFrames (optional). Probed 0.9.3, 0.10.0, 0.10.1, 0.11.0,
  0.12.1 and 0.9.0-spark3.5: none is served by the reachable repository (404), and the older
  ``graphframes:graphframes`` lives on the Spark Packages repository, which is not reachable either. The engine
  therefore ships its own DataFrame connected components (see ``graphrisk/engines/spark/graph.py``). The probe
  runs once per pinned version and its failure is remembered in ``.spark/jars/manifest.json``
  (``--retry`` probes again); when a version resolves, the jar is cached beside the others.

Layout of the cache (``<repo>/.spark``, or ``$GRAPHRISK_SPARK_HOME``)::

    pom-<name>.xml          throw-away poms (packaging pom) whose dependencies Maven copies
    jars/*.jar              the jars (spark.jars)
    jars/manifest.json      what was fetched: coordinates, files, sizes, or why an optional artefact is absent

Standard library only; Maven (``mvn``) and Java 17 must be on PATH.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Artifact:
    """One Maven artefact to copy with its runtime dependencies (Spark's own jars are ``provided``)."""

    name: str
    group: str
    artifact: str
    version: str
    required: bool
    why: str

    @property
    def coordinates(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"


ARTIFACTS: tuple[Artifact, ...] = (
    Artifact(
        "neo4j-connector",
        "org.neo4j",
        "neo4j-connector-apache-spark_2.12",
        "5.0.3_for_spark_3",
        True,
        "Neo4j Connector for Apache Spark (read the graph from Neo4j, write results back)",
    ),
    Artifact(
        "graphframes",
        "io.graphframes",
        "graphframes-spark3_2.12",
        "0.9.3",
        False,
        "GraphFrames for Spark 3.5 / Scala 2.12 (optional: the engine has its own connected components)",
    ),
)

# Spark, Scala and the logging backends are on pyspark's classpath already: a second copy of any of them in
# spark.jars would shadow pyspark's and break at run time, so the copy leaves these groups out.
EXCLUDED_GROUPS = (
    "org.apache.spark",
    "org.scala-lang",
    "org.slf4j",
    "org.apache.logging.log4j",
    "log4j",
    "org.apache.xbean",  # pyspark ships xbean-asm9; the connector's asm6 copy would shadow it
)

POM = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by scripts/spark.py: only used to copy {coordinates} and its dependencies into jars/. -->
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 http://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.graphrisk</groupId>
  <artifactId>spark-jars-{name}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>{group}</groupId>
      <artifactId>{artifact}</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""


class Fail(Exception):
    """A failure reported as one message on stderr and exit code 1."""


def say(message: str) -> None:
    print(f"spark: {message}", file=sys.stderr, flush=True)


class Home:
    def __init__(self) -> None:
        self.root = Path(os.environ.get("GRAPHRISK_SPARK_HOME") or REPO / ".spark").resolve()
        self.jars = self.root / "jars"
        self.manifest = self.jars / "manifest.json"
        self.lock_file = self.root / ".lock"

    def read_manifest(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.manifest.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        if data.get("manifest_version") != MANIFEST_VERSION:
            return {}
        return dict(data.get("artifacts", {}))

    def write_manifest(self, entries: dict[str, dict[str, object]]) -> None:
        tmp = self.manifest.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"manifest_version": MANIFEST_VERSION, "artifacts": entries}, indent=2, sort_keys=True) + "\n",
            encoding="utf-8",
        )
        os.replace(tmp, self.manifest)


@contextlib.contextmanager
def locked(home: Home) -> Iterator[None]:
    """Two test runs fetching at once must not interleave their copies."""
    home.root.mkdir(parents=True, exist_ok=True)
    with open(home.lock_file, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def up_to_date(home: Home, art: Artifact, entry: dict[str, object] | None) -> bool:
    """The manifest entry is for this version and its files are all still there (or it failed before)."""
    if not entry or entry.get("coordinates") != art.coordinates:
        return False
    if entry.get("status") == "unavailable":
        return True
    files = entry.get("files")
    return isinstance(files, list) and bool(files) and all((home.jars / str(f)).is_file() for f in files)


def copy_artifact(home: Home, mvn: str, art: Artifact) -> dict[str, object]:
    """Copy one artefact and its runtime dependencies into a staging folder, then move the jars in."""
    pom = home.root / f"pom-{art.name}.xml"
    pom.write_text(
        POM.format(
            name=art.name,
            group=art.group,
            artifact=art.artifact,
            version=art.version,
            coordinates=art.coordinates,
        ),
        encoding="utf-8",
    )
    stage = home.root / f"stage-{art.name}"
    shutil.rmtree(stage, ignore_errors=True)
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={stage}",
        "-DincludeScope=runtime",
        f"-DexcludeGroupIds={','.join(EXCLUDED_GROUPS)}",
    ]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(stage, ignore_errors=True)
        text = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)  # Maven colours even with -B
        tail = "\n".join(line for line in text.splitlines()[-12:] if line.removeprefix("[ERROR]").strip())
        return {"coordinates": art.coordinates, "status": "unavailable", "reason": tail}
    files = sorted(p.name for p in stage.glob("*.jar"))
    for name in files:
        os.replace(stage / name, home.jars / name)
    shutil.rmtree(stage, ignore_errors=True)
    return {"coordinates": art.coordinates, "status": "fetched", "files": files}


def cmd_fetch(home: Home, retry: bool) -> int:
    with locked(home):
        home.jars.mkdir(parents=True, exist_ok=True)
        entries = home.read_manifest()
        mvn = shutil.which("mvn")
        changed = False
        for art in ARTIFACTS:
            entry = entries.get(art.name)
            if up_to_date(home, art, entry) and not (retry and entry and entry.get("status") == "unavailable"):
                continue
            if mvn is None:
                raise Fail(
                    "Maven (mvn) is not on PATH; it fetches the Spark connector jars. Fix: apt-get install maven."
                )
            say(f"resolving {art.coordinates} with Maven into {home.jars} (once) …")
            entries[art.name] = copy_artifact(home, mvn, art)
            changed = True
            if entries[art.name]["status"] != "fetched" and art.required:
                home.write_manifest(entries)
                raise Fail(f"Maven could not fetch {art.coordinates} ({art.why}):\n{entries[art.name]['reason']}")
        # Drop jars no artefact lists any more (a version bump): a stale copy must not stay on the classpath.
        listed = {str(f) for e in entries.values() for f in e.get("files", []) or []}  # type: ignore[union-attr]
        for jar in home.jars.glob("*.jar"):
            if jar.name not in listed:
                jar.unlink()
                changed = True
        if changed:
            home.write_manifest(entries)
        report(home, entries)
    return 0


def report(home: Home, entries: dict[str, dict[str, object]]) -> None:
    """What is cached, one line per artefact: quiet enough for every test run."""
    for art in ARTIFACTS:
        entry = entries.get(art.name, {})
        if entry.get("status") == "fetched":
            files = [str(f) for f in entry.get("files", [])]  # type: ignore[union-attr]
            size = sum((home.jars / f).stat().st_size for f in files) / 1e6
            say(f"{art.coordinates}: {len(files)} jars, {size:.1f} MB")
        else:
            kind = "required" if art.required else "optional, not used"
            say(f"{art.coordinates}: not available from the Maven repository ({kind})")


def cached_jars(home: Home) -> list[Path]:
    entries = home.read_manifest()
    out: list[Path] = []
    for art in ARTIFACTS:
        entry = entries.get(art.name, {})
        if entry.get("status") == "fetched":
            out += [home.jars / str(f) for f in entry.get("files", [])]  # type: ignore[union-attr]
    return out


def cmd_status(home: Home) -> int:
    entries = home.read_manifest()
    report(home, entries)
    missing = [a for a in ARTIFACTS if a.required and not up_to_date(home, a, entries.get(a.name))]
    return 3 if missing else 0


def cmd_jars(home: Home, comma: bool) -> int:
    jars = [str(j) for j in cached_jars(home)]
    print(",".join(jars) if comma else "\n".join(jars))  # --comma: for spark-submit --jars
    return 0 if jars else 3


def cmd_app() -> int:
    """The path of the spark-submit application file (graphrisk/engines/spark/app.py of the installed package)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("graphrisk.engines.spark.app")
    except ModuleNotFoundError:
        spec = None
    if spec is None or spec.origin is None:
        say("graphrisk is not installed in this Python: pip install -e '.[spark]'")
        return 1
    print(spec.origin)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=("fetch", "status", "jars", "app"))
    parser.add_argument("--comma", action="store_true", help="jars: one comma-separated line (spark-submit --jars)")
    parser.add_argument("--retry", action="store_true", help="probe optional artefacts that were unavailable again")
    args = parser.parse_args(argv)
    home = Home()
    try:
        if args.command == "fetch":
            return cmd_fetch(home, args.retry)
        if args.command == "app":
            return cmd_app()
        return cmd_status(home) if args.command == "status" else cmd_jars(home, args.comma)
    except Fail as exc:
        say(str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
