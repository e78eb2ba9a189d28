#!/usr/bin/env python3
"""Provision, start, stop and describe a local Neo4j server for development and tests.

    python scripts/neo4j.py start     # download once, start in the background, wait until it answers
    set -a; . .neo4j/env; set +a      # NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD for the shell
    python scripts/neo4j.py status    # running / answering?  (exit 0 when it answers, 3 when not)
    python scripts/neo4j.py env       # export lines; the password is read from its file, never printed
    python scripts/neo4j.py stop      # SIGTERM, then SIGKILL after 60 s

Users with Docker or a server of their own set ``NEO4J_URI`` (and ``NEO4J_USER``/``NEO4J_PASSWORD``): then
``start`` only checks that this server answers and ``stop`` does nothing.

Which artefacts, and why
------------------------
Neo4j 5.26 is the LTS line and runs on Java 17. Probed with ``mvn dependency:get`` against Maven's default
repository (the only place besides the package registries that the development machines and CI reach):

* ``org.neo4j.assembly:neo4j-community:5.26.30:tar.gz:unix`` — the server tarball — is *not* served;
* ``org.neo4j.assembly:neo4j-community-standalone:5.26.30`` is served as a ``pom`` only (the assembler
  project that builds the tarball; no jar, no archive);
* the server's own jars are served.

So this script writes a throw-away ``pom.xml`` (packaging ``pom``) that depends on

* ``org.neo4j.app:neo4j-server`` — the server: Bolt, the ``CommunityEntryPoint`` main class, configuration;
* ``org.neo4j:neo4j`` — the community database engine and the ``AdminTool`` (``neo4j-admin``) commands;

and lets ``mvn dependency:copy-dependencies`` put them and their transitive dependencies (about 210 jars,
120 MB) into ``<cache>/lib``. A marker file with :data:`NEO4J_VERSION` records a complete copy, so later
starts skip Maven. The server is then run as ``java -cp 'lib/*' org.neo4j.server.CommunityEntryPoint`` with
a home directory under the cache, which is what the tarball's ``bin/neo4j`` would do.

Layout of the cache (``<repo>/.neo4j``, or ``$GRAPHRISK_NEO4J_HOME``)::

    pom.xml, lib/            the jars (lib/.complete holds the version)
    conf/neo4j.conf          written at every start (the port may change)
    data/ logs/ plugins/ import/ run/
    password                 random, mode 0600, created once, never printed
    env                      NEO4J_URI / NEO4J_USER / NEO4J_PASSWORD lines, mode 0600
    neo4j.pid                the server's process id while it runs

Standard library only, except that the readiness check runs ``RETURN 1`` through the official ``neo4j``
driver (a dependency of the project) when it is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

NEO4J_VERSION = "5.26.30"
USER = "neo4j"
READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0
HEAP = "2g"  # the machines have 24 GB and 2 cores; 2 GB heap + 1 GB page cache is plenty for 1M nodes
PAGECACHE = "1g"

REPO = Path(__file__).resolve().parent.parent
MAIN_CLASS = "org.neo4j.server.CommunityEntryPoint"
ADMIN_CLASS = "org.neo4j.cli.AdminTool"

POM = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by scripts/neo4j.py: only used to copy the Neo4j server jars into lib/. -->
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 http://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.graphrisk</groupId>
  <artifactId>neo4j-dev-server</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.neo4j.app</groupId>
      <artifactId>neo4j-server</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <groupId>org.neo4j</groupId>
      <artifactId>neo4j</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""

# JVM flags the tarball's default neo4j.conf passes (server.jvm.additional); we launch java ourselves.
JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
)


class Fail(Exception):
    """A failure reported as one message on stderr and exit code 1."""


def say(message: str) -> None:
    """Progress and diagnostics go to stderr; only `env` writes to stdout."""
    print(f"neo4j: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------- paths


class Home:
    """The cache directory and the files in it."""

    def __init__(self) -> None:
        self.root = Path(os.environ.get("GRAPHRISK_NEO4J_HOME") or REPO / ".neo4j").resolve()
        self.lib = self.root / "lib"
        self.lib_marker = self.lib / ".complete"
        self.pom = self.root / "pom.xml"
        self.conf_dir = self.root / "conf"
        self.conf = self.conf_dir / "neo4j.conf"
        self.logs = self.root / "logs"
        self.console_log = self.logs / "console.log"
        self.password_file = self.root / "password"
        self.env_file = self.root / "env"
        self.pid_file = self.root / "neo4j.pid"
        self.lock_file = self.root / ".lock"
        # The system database exists once the server has started: after that the initial password is taken.
        self.system_db = self.root / "data" / "databases" / "system"

    def java_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["NEO4J_HOME"] = str(self.root)
        env["NEO4J_CONF"] = str(self.conf_dir)
        for name in ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE"):
            env.pop(name, None)  # client settings; the server must not see the password in its environment
        return env


@contextlib.contextmanager
def locked(home: Home) -> Iterator[None]:
    """Serialise start/stop: several engineers and test runs share one server."""
    home.root.mkdir(parents=True, exist_ok=True)
    with open(home.lock_file, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only, without a moment where it is world-readable."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)  # the umask may have removed bits, never added: make it exact
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------- provisioning


def ensure_jars(home: Home) -> None:
    """Copy the server jars with Maven, once per version."""
    if home.lib_marker.is_file() and home.lib_marker.read_text().strip() == NEO4J_VERSION:
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise Fail(
            "Maven (mvn) is not on PATH; it fetches the Neo4j jars. Fix: install Maven "
            "(apt-get install maven), or set NEO4J_URI to a server of your own."
        )
    if home.lib.exists():
        # Incomplete or another version: start clean so that no stale jar stays on the classpath.
        shutil.rmtree(home.lib)
    home.pom.write_text(POM.format(version=NEO4J_VERSION), encoding="utf-8")
    say(f"fetching Neo4j {NEO4J_VERSION} jars with Maven into {home.lib} (once) …")
    cmd = [mvn, "-q", "-B", "-f", str(home.pom), "dependency:copy-dependencies", f"-DoutputDirectory={home.lib}"]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise Fail(f"Maven could not fetch the Neo4j jars (exit {proc.returncode}):\n{tail}")
    jars = list(home.lib.glob("*.jar"))
    if len(jars) < 50:
        raise Fail(f"Maven copied only {len(jars)} jars into {home.lib}; expected about 210.")
    home.lib_marker.write_text(NEO4J_VERSION + "\n")
    say(f"{len(jars)} jars in {home.lib}")


def ensure_password(home: Home) -> str:
    """The server's password: random, created once, kept in a 0600 file."""
    if not home.password_file.is_file():
        write_private(home.password_file, secrets.token_urlsafe(24) + "\n")
    return home.password_file.read_text(encoding="utf-8").strip()


def check_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise Fail("java is not on PATH; Neo4j 5.26 needs Java 17 or 21. Fix: apt-get install openjdk-17-jre-headless.")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    first = out.splitlines()[0] if out else ""
    try:
        major = int(first.split('"')[1].split(".")[0])
    except (IndexError, ValueError):
        return java  # an unusual banner: let Neo4j itself complain if it must
    if major < 17:
        raise Fail(f"Neo4j 5.26 needs Java 17 or 21, found: {first}")
    return java


def set_initial_password(home: Home, java: str, password: str) -> None:
    """Set the password with neo4j-admin before the first start (afterwards it lives in the system database).

    The password is passed in a picocli ``@argument file`` (mode 0600, deleted at once) rather than on the
    command line, where any user could read it from the process list.
    """
    argfile = home.root / ".initial-password.args"
    write_private(argfile, f"dbms\nset-initial-password\n{password}\n")
    try:
        proc = subprocess.run(
            [java, "-cp", str(home.lib / "*"), ADMIN_CLASS, f"@{argfile}"],
            env=home.java_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
    finally:
        argfile.unlink(missing_ok=True)
    if proc.returncode != 0:
        text = (proc.stdout + proc.stderr).replace(password, "********")
        raise Fail(f"neo4j-admin dbms set-initial-password failed (exit {proc.returncode}):\n{text[-3000:]}")


def write_conf(home: Home, port: int) -> None:
    for d in ("conf", "data", "logs", "plugins", "import", "run"):
        (home.root / d).mkdir(parents=True, exist_ok=True)
    home.conf.write_text(
        "# Written by scripts/neo4j.py at every start; edits are overwritten.\n"
        "server.default_listen_address=127.0.0.1\n"
        f"server.bolt.listen_address=127.0.0.1:{port}\n"
        f"server.bolt.advertised_address=127.0.0.1:{port}\n"
        "server.http.enabled=false\n"
        "server.https.enabled=false\n"
        f"server.memory.heap.initial_size={HEAP}\n"
        f"server.memory.heap.max_size={HEAP}\n"
        f"server.memory.pagecache.size={PAGECACHE}\n"
        "dbms.usage_report.enabled=false\n",
        encoding="utf-8",
    )


def write_env(home: Home, port: int, password: str) -> None:
    write_private(
        home.env_file,
        f"NEO4J_URI=bolt://127.0.0.1:{port}\nNEO4J_USER={USER}\nNEO4J_PASSWORD={password}\n",
    )


def read_env_file(home: Home) -> dict[str, str]:
    out: dict[str, str] = {}
    if home.env_file.is_file():
        for line in home.env_file.read_text(encoding="utf-8").splitlines():
            name, sep, value = line.partition("=")
            if sep:
                out[name.strip()] = value.strip()
    return out


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def choose_port(home: Home) -> int:
    """GRAPHRISK_NEO4J_PORT, else the port used last time (existing env files stay right), else a free one."""
    wanted = os.environ.get("GRAPHRISK_NEO4J_PORT")
    if wanted:
        try:
            port = int(wanted)
        except ValueError:
            raise Fail(f"GRAPHRISK_NEO4J_PORT={wanted!r} is not a port number") from None
        if not port_is_free(port):
            raise Fail(f"port {port} (GRAPHRISK_NEO4J_PORT) is in use on 127.0.0.1. Fix: choose another.")
        return port
    previous = read_env_file(home).get("NEO4J_URI", "").rpartition(":")[2]
    if previous.isdigit() and port_is_free(int(previous)):
        return int(previous)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ----------------------------------------------------------------------------------------------- process


def read_pid(home: Home) -> int | None:
    """The pid in the pid file when that process is alive and is our Neo4j server; else None."""
    try:
        pid = int(home.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return None
    # A recycled pid must never be signalled: check it is a server started with this home.
    if MAIN_CLASS not in cmdline or str(home.root) not in cmdline:
        return None
    return pid


LOG_FILES = ("console.log", "neo4j.log", "debug.log")


def log_sizes(home: Home) -> dict[str, int]:
    """Current size of each log, so that a failure shows only what this start wrote."""
    return {name: (home.logs / name).stat().st_size if (home.logs / name).is_file() else 0 for name in LOG_FILES}


def log_tail(home: Home, since: dict[str, int] | None = None, lines: int = 40) -> str:
    parts = []
    for name in LOG_FILES:
        path = home.logs / name
        if not path.is_file():
            continue
        with open(path, "rb") as fh:
            fh.seek((since or {}).get(name, 0))
            text = fh.read().decode("utf-8", errors="replace").splitlines()[-lines:]
        if text:
            parts.append(f"--- {path} (last {len(text)} lines) ---\n" + "\n".join(text))
    return "\n".join(parts) or f"(nothing new in the logs in {home.logs})"


def bolt_accepts(host: str, port: int) -> bool:
    """A TCP connection and a Bolt handshake: the server replies with a protocol version it accepts."""
    try:
        with socket.create_connection((host, port), timeout=2.0) as s:
            # Magic preamble, then four proposed versions (5.0-5.8, 4.4, none, none). Any 4-byte reply
            # (even "none of these") proves a Bolt server is listening; the driver query checks the rest.
            s.sendall(bytes.fromhex("6060B017") + bytes.fromhex("00080805 00000404 00000000 00000000"))
            s.settimeout(5.0)
            return len(s.recv(4)) == 4
    except OSError:
        return False


def import_driver() -> Any:
    """The official driver, or None. Imported lazily so that the rest of the script needs the stdlib only.

    This file is itself called ``neo4j.py`` and Python puts its folder first on ``sys.path``, where a plain
    ``import neo4j`` would find this script again: look the driver up without that folder.
    """
    here = Path(__file__).resolve().parent
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != here]
    try:
        module = sys.modules.get("neo4j")
        if module is not None and Path(getattr(module, "__file__", "") or "").resolve().parent == here:
            del sys.modules["neo4j"]
        return importlib.import_module("neo4j")
    except ImportError:
        return None
    finally:
        sys.path[:] = saved


def query_answers(uri: str, user: str, password: str) -> tuple[bool, str]:
    """Run ``RETURN 1`` through the driver. Returns (ok, reason); the reason never contains the password."""
    neo4j = import_driver()
    if neo4j is None:
        return True, "the neo4j driver is not installed; checked the Bolt handshake only"
    try:
        with neo4j.GraphDatabase.driver(uri, auth=(user, password), connection_timeout=5.0) as driver:
            records, _, _ = driver.execute_query("RETURN 1 AS one")
            if records and records[0]["one"] == 1:
                return True, "ok"
            return False, "RETURN 1 gave an unexpected result"
    except neo4j.exceptions.AuthError as exc:
        return False, f"authentication failed: {exc.message or type(exc).__name__}"
    except Exception as exc:  # any failure means "not ready yet"; the reason is reported
        return False, f"{type(exc).__name__}: {exc}".replace(password, "********")


def host_port(uri: str) -> tuple[str, int]:
    rest = uri.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, _, port = rest.rpartition(":")
    if not host:
        return rest, 7687
    return host.strip("[]"), int(port)


def wait_until_ready(
    home: Home, alive: Callable[[], bool], uri: str, password: str, since: dict[str, int] | None = None
) -> None:
    """Poll until Bolt accepts a connection and ``RETURN 1`` succeeds, or fail with the log tail."""
    host, port = host_port(uri)
    deadline = time.monotonic() + READY_TIMEOUT_S
    started = time.monotonic()
    last_report = 0.0
    reason = "Bolt is not listening yet"
    while time.monotonic() < deadline:
        if not alive():
            raise Fail(f"the Neo4j process exited during start-up.\n{log_tail(home, since)}")
        if bolt_accepts(host, port):
            ok, reason = query_answers(uri, USER, password)
            if ok:
                say(f"ready at {uri} after {time.monotonic() - started:.0f} s")
                return
            if reason.startswith("authentication failed"):
                raise Fail(
                    f"{uri} refused the password in {home.password_file} ({reason}). The data "
                    f"directory was initialised with another password. Fix: stop the server, delete "
                    f"{home.root / 'data'} (a development database), then start again."
                )
        if time.monotonic() - last_report >= 10:
            say(f"waiting for {uri} ({time.monotonic() - started:.0f} s): {reason}")
            last_report = time.monotonic()
        time.sleep(1.0)
    raise Fail(f"Neo4j did not answer at {uri} within {READY_TIMEOUT_S:.0f} s ({reason}).\n{log_tail(home, since)}")


# ---------------------------------------------------------------------------------------------- commands


def external_uri() -> str | None:
    return os.environ.get("NEO4J_URI") or None


def check_external(uri: str) -> int:
    user = os.environ.get("NEO4J_USER") or USER
    password = os.environ.get("NEO4J_PASSWORD")
    if not password:
        say(f"NEO4J_URI={uri} is set but NEO4J_PASSWORD is not. Fix: export NEO4J_PASSWORD.")
        return 1
    ok, reason = query_answers(uri, user, password)
    if ok:
        say(f"NEO4J_URI is set: {uri} answers as {user} (this script manages no server then)")
        return 0
    say(f"NEO4J_URI is set but {uri} does not answer as {user}: {reason}")
    return 1


def cmd_start(home: Home) -> int:
    uri = external_uri()
    if uri:
        return check_external(uri)
    with locked(home):
        pid = read_pid(home)
        env = read_env_file(home)
        if pid is not None and not env.get("NEO4J_URI"):
            raise Fail(
                f"a server is running (pid {pid}) but {home.env_file} is missing. Fix: "
                "python scripts/neo4j.py stop, then start."
            )
        if pid is not None:
            password = ensure_password(home)
            say(f"already running (pid {pid}) at {env['NEO4J_URI']}; checking it answers")
            wait_until_ready(home, lambda: read_pid(home) is not None, env["NEO4J_URI"], password)
            return 0
        java = check_java()
        ensure_jars(home)
        password = ensure_password(home)
        port = choose_port(home)
        write_conf(home, port)
        if not home.system_db.exists():
            say("setting the initial password (first start)")
            set_initial_password(home, java, password)
        uri = f"bolt://127.0.0.1:{port}"
        cmd = [
            java,
            f"-Xms{HEAP}",
            f"-Xmx{HEAP}",
            *JVM_FLAGS,
            "-cp",
            str(home.lib / "*"),
            MAIN_CLASS,
            f"--home-dir={home.root}",
            f"--config-dir={home.conf_dir}",
        ]
        say(f"starting Neo4j {NEO4J_VERSION} on {uri} (logs in {home.logs})")
        since = log_sizes(home)
        with open(home.console_log, "ab") as log:
            # A new session detaches the server from this script and from the shell's job control, so it
            # keeps running when the script exits and a Ctrl-C in the terminal does not reach it.
            proc = subprocess.Popen(
                cmd,
                cwd=home.root,
                env=home.java_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        home.pid_file.write_text(f"{proc.pid}\n")
        write_env(home, port, password)
        try:
            # proc.poll, not the pid file: until exec() the child's /proc cmdline is still python's.
            wait_until_ready(home, lambda: proc.poll() is None, uri, password, since)
        except BaseException:
            # Fail, Ctrl-C or a bug: never leave a half-started server behind.
            if proc.poll() is None:
                stop_pid(home, proc.pid)
            home.pid_file.unlink(missing_ok=True)
            raise
        say(f"use it with: set -a; . {shlex.quote(str(home.env_file))}; set +a")
        return 0


def stop_pid(home: Home, pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:  # already gone
        home.pid_file.unlink(missing_ok=True)
        return
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if read_pid(home) is None:
            break
        time.sleep(0.5)
    else:
        say(f"pid {pid} still running after {STOP_TIMEOUT_S:.0f} s; sending SIGKILL")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        for _ in range(40):
            if read_pid(home) is None:
                break
            time.sleep(0.25)
    home.pid_file.unlink(missing_ok=True)


def cmd_stop(home: Home) -> int:
    if external_uri():
        say("NEO4J_URI is set: the server is not managed by this script; nothing stopped")
        return 0
    with locked(home):
        pid = read_pid(home)
        if pid is None:
            home.pid_file.unlink(missing_ok=True)
            say("not running")
            return 0
        say(f"stopping pid {pid}")
        stop_pid(home, pid)
        say("stopped")
        return 0


def cmd_status(home: Home) -> int:
    uri = external_uri()
    if uri:
        return 0 if check_external(uri) == 0 else 3
    pid = read_pid(home)
    env = read_env_file(home)
    if pid is None:
        print(f"stopped (home {home.root})")
        return 3
    uri = env.get("NEO4J_URI", "?")
    ok, reason = query_answers(uri, USER, ensure_password(home)) if "NEO4J_URI" in env else (False, "no env")
    print(f"running pid {pid} at {uri}: {'answering' if ok else 'not answering (' + reason + ')'}")
    return 0 if ok else 3


def cmd_env(home: Home) -> int:
    env = read_env_file(home)
    if "NEO4J_URI" not in env:
        say(f"no {home.env_file} yet. Fix: python scripts/neo4j.py start")
        return 1
    print(f"export NEO4J_URI={shlex.quote(env['NEO4J_URI'])}")
    print(f"export NEO4J_USER={shlex.quote(env.get('NEO4J_USER', USER))}")
    # The password stays in its file: the shell reads it when the line runs, so it never reaches a terminal.
    print(f'export NEO4J_PASSWORD="$(cat {shlex.quote(str(home.password_file))})"')
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=("start", "stop", "status", "env"))
    args = parser.parse_args(argv)
    home = Home()
    commands = {"start": cmd_start, "stop": cmd_stop, "status": cmd_status, "env": cmd_env}
    try:
        return commands[args.command](home)
    except Fail as exc:
        say(str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
