"""Neo4j as a store for :class:`~graphrisk.tables.Tables`: write them as a graph, read the same Tables back.

This is the only module of graphrisk that imports the ``neo4j`` driver. Every statement it runs is a file in
the ``cypher`` package (shipped in the wheel, read with :mod:`importlib.resources`):

* ``schema/``, ``load/``, ``export/`` are generated from :mod:`graphrisk.schema` by
  ``python -m graphrisk.schema --write-cypher``;
* ``store/`` holds the hand-written ones (counting, clearing, schema inspection, contact identifiers).

Besides the tables, a load writes *reified contact identifiers* (issue 6 §4): one ``(:Address {key, text})``,
``(:Phone {key})`` or ``(:Email {key})`` node per normalised value (the keys of
:mod:`graphrisk.analysis.hidden_links`) that two or more entities share, linked by
``(:Enterprise)-[:REGISTERED_AT]->(:Address)``, ``(:Person)-[:LIVES_AT]->(:Address)``, ``-[:HAS_PHONE]->`` and
``-[:HAS_EMAIL]->``, so ``cypher/queries/shared_identifiers.cypher`` finds who shares a firm's address or phone
without reading the tables back. They are derived data: :meth:`Neo4jStore.read_tables` ignores them.

Values only ever travel as parameters (``UNWIND $rows``); labels, types and property names come only from the
schema. Loads are batched and idempotent (``MERGE`` on node ids and on a relationship ``key``), each batch in
a managed write transaction that the driver retries on transient errors (deadlocks, leader switches).

>>> with Neo4jStore("bolt://127.0.0.1:7687", "neo4j", password) as store:  # doctest: +SKIP
...     store.ensure_schema()
...     summary = store.load(tables)
...     assert store.read_tables().canonical_hash() == tables.canonical_hash()
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, LiteralString, cast

import neo4j
import neo4j.exceptions
import numpy as np
import pandas as pd

from graphrisk import __version__
from graphrisk.analysis.hidden_links import (
    _address_cheap_key,
    _email_cheap_key,
    _normalise_colliding,
    _phone_cheap_key,
    normalize_address,
    normalize_email,
    normalize_phone,
)
from graphrisk.errors import StoreError
from graphrisk.schema import SCHEMA, Table
from graphrisk.tables import Tables, dtype_of

__all__ = [
    "CONTACT_KINDS",
    "KEY_SEPARATOR",
    "LoadSummary",
    "Neo4jStore",
    "TableLoad",
    "contact_links",
    "cypher_files_used",
    "read_cypher",
    "store_from_env",
]

KEY_SEPARATOR = "\x1f"  # ASCII unit separator: cannot be typed into an id by accident

Progress = Callable[[str], None]

# The driver logs every retried transaction (deadlocks between concurrent load batches are expected and
# retried); without a handler Python would print those to stderr. Failures still raise StoreError.
logging.getLogger("neo4j").addHandler(logging.NullHandler())

# Hand-written statements in cypher/store/ (the schema-derived ones are listed by _generated_files()).
_STORE_FILES = (
    "store/await_indexes.cypher",
    "store/clear.cypher",
    "store/contact_constraints.cypher",
    "store/contacts_address.cypher",
    "store/contacts_email.cypher",
    "store/contacts_existing.cypher",
    "store/contacts_phone.cypher",
    "store/contacts_unlink.cypher",
    "store/count_nodes.cypher",
    "store/count_relationships.cypher",
    "store/drop_constraint.cypher",
    "store/drop_index.cypher",
    "store/ping.cypher",
    "store/show_constraints.cypher",
    "store/show_indexes.cypher",
)
_CONSTRAINTS_FILE = "schema/constraints.cypher"
# Constraints of the tables (generated) and of the contact identifiers (hand-written: derived from columns).
_SCHEMA_FILES = (_CONSTRAINTS_FILE, "store/contact_constraints.cypher")
_INDEX_WAIT_S = 300

# Order of a load: relationships MATCH their endpoints, so every node table comes first.
_LOAD_ORDER: tuple[Table, ...] = (
    *(t for t in SCHEMA if t.kind == "node"),
    *(t for t in SCHEMA if t.kind == "facility"),
    *(t for t in SCHEMA if t.kind == "relation"),
)


def _generated_files() -> tuple[str, ...]:
    return (
        _CONSTRAINTS_FILE,
        *(f"load/{t.name}.cypher" for t in SCHEMA),
        *(f"load/{t.name}.create.cypher" for t in SCHEMA if t.kind == "relation"),
        *(f"count/{t.name}.cypher" for t in SCHEMA if t.kind == "relation"),
        *(f"export/{t.name}.cypher" for t in SCHEMA),
    )


def cypher_files_used() -> frozenset[str]:
    """Every file under ``cypher/`` this module reads, as paths relative to the package.

    :func:`read_cypher` refuses any other name, so this set is exactly what the store can run; a test checks
    that it equals the files on disk.
    """
    return frozenset((*_generated_files(), *_STORE_FILES, *_folder_files()))


# Folders whose every file is a statement users or analyses run by name (see Neo4jStore.query and .write).
QUERY_FOLDERS = ("queries", "writeback", "alerts")


@functools.cache
def _folder_files() -> tuple[str, ...]:
    out: list[str] = []
    root = files("cypher")
    for folder in QUERY_FOLDERS:
        base = root.joinpath(folder)
        if base.is_dir():
            out += [f"{folder}/{p.name}" for p in base.iterdir() if p.name.endswith(".cypher")]
    return tuple(sorted(out))


@functools.cache
def read_cypher(name: str) -> str:
    """The text of ``cypher/<name>``; ``name`` must be one of :func:`cypher_files_used`."""
    if name not in cypher_files_used():
        raise ValueError(f"cypher/{name} is not a statement of the store (see cypher_files_used())")
    resource = files("cypher").joinpath(*name.split("/"))
    try:
        return resource.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError(
            f"cypher/{name} is missing from the installation. Fix: run `python -m graphrisk.schema "
            "--write-cypher` in a checkout, or reinstall graphrisk."
        ) from None


def _statements(text: str) -> list[str]:
    """Split a file into statements on ``;``, dropping ``//`` comment lines and empty statements."""
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    return [s.strip() for s in body.split(";") if s.strip()]


def _schema_objects() -> list[tuple[str, str]]:
    """(``CONSTRAINT`` or ``INDEX``, name) of everything :meth:`Neo4jStore.ensure_schema` creates."""
    text = "\n".join(s for name in _SCHEMA_FILES for s in _statements(read_cypher(name)))
    return re.findall(r"CREATE\s+(CONSTRAINT|INDEX)\s+(\w+)", text)


def _literal(statement: str) -> LiteralString:
    # Statements come from files of the package, never from data: they are as safe as literals.
    return cast(LiteralString, statement)


def _query(name: str) -> LiteralString:
    """The single statement of a file."""
    (statement,) = _statements(read_cypher(name))
    return _literal(statement)


# ----------------------------------------------------------------------------------------- load summary


@dataclass(frozen=True)
class TableLoad:
    """What loading one table did. ``skipped`` rows had an endpoint that is not in the graph."""

    table: str
    rows: int
    matched: int
    nodes_created: int
    relationships_created: int
    properties_set: int
    batches: int
    seconds: float

    @property
    def skipped(self) -> int:
        return self.rows - self.matched

    def to_dict(self) -> dict[str, object]:
        return {
            "table": self.table,
            "rows": self.rows,
            "matched": self.matched,
            "skipped": self.skipped,
            "nodes_created": self.nodes_created,
            "relationships_created": self.relationships_created,
            "properties_set": self.properties_set,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class LoadSummary:
    """Per-table figures of one :meth:`Neo4jStore.load`, in load order."""

    tables: tuple[TableLoad, ...]
    seconds: float
    batch_size: int
    # The reified contact identifiers written after the tables (``rows`` = entity-identifier links sent). Kept
    # out of the totals below, which count what the tables themselves created.
    contacts: TableLoad | None = None

    def __getitem__(self, table: str) -> TableLoad:
        for t in self.tables:
            if t.table == table:
                return t
        raise KeyError(table)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def skipped(self) -> int:
        return sum(t.skipped for t in self.tables)

    @property
    def nodes_created(self) -> int:
        return sum(t.nodes_created for t in self.tables)

    @property
    def relationships_created(self) -> int:
        return sum(t.relationships_created for t in self.tables)

    @property
    def properties_set(self) -> int:
        return sum(t.properties_set for t in self.tables)

    def to_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "skipped": self.skipped,
            "nodes_created": self.nodes_created,
            "relationships_created": self.relationships_created,
            "properties_set": self.properties_set,
            "seconds": round(self.seconds, 3),
            "batch_size": self.batch_size,
            "tables": {t.table: t.to_dict() for t in self.tables},
            **({"contacts": self.contacts.to_dict()} if self.contacts is not None else {}),
        }


# ----------------------------------------------------------------------------------- values for the driver


def _scalar(value: Any) -> Any:
    """One value of an ``object`` column as something the driver can send."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, dt.datetime):  # pd.Timestamp is a datetime: dates are days in the graph
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value).date()
    if isinstance(value, np.generic):
        item = value.item()
        return None if isinstance(item, float) and item != item else item
    return value


def _column_values(series: pd.Series) -> list[Any]:
    """A column as plain Python values: None for missing, date for datetimes, int/float/bool/str otherwise.

    Vectorised per dtype because this runs over every value of a load (millions for a large portfolio).
    """
    dtype = series.dtype
    missing = series.isna().to_numpy(dtype=bool)
    values: list[Any]
    if isinstance(dtype, pd.DatetimeTZDtype):
        values = series.dt.tz_localize(None).to_numpy(dtype="datetime64[D]").tolist()
    elif pd.api.types.is_datetime64_dtype(dtype):
        values = series.to_numpy(dtype="datetime64[D]").tolist()  # numpy gives datetime.date, NaT → None
    elif pd.api.types.is_bool_dtype(dtype):
        values = series.to_numpy(dtype=bool, na_value=False).tolist()
    elif pd.api.types.is_integer_dtype(dtype):
        values = series.to_numpy(dtype="int64", na_value=0).tolist()
    elif pd.api.types.is_float_dtype(dtype):
        values = series.to_numpy(dtype="float64", na_value=np.nan).tolist()
    elif isinstance(dtype, pd.StringDtype):
        values = series.to_numpy(dtype=object).tolist()  # str, with pd.NA replaced below
    else:
        return [_scalar(v) for v in series.to_numpy(dtype=object)]
    if missing.any():
        for i in np.flatnonzero(missing).tolist():
            values[i] = None
    return values


def _key_part(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _rows(table: Table, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The batch's rows as parameter maps: the stored columns, plus ``key`` for relations and facilities."""
    names = list(table.stored_columns)
    n = len(frame)
    columns = [_column_values(frame[c]) if c in frame.columns else [None] * n for c in names]
    if table.kind != "node":
        parts = [columns[names.index(table.column(k).table_name)] for k in table.key]
        names.append("key")
        columns.append([KEY_SEPARATOR.join(_key_part(v) for v in vals) for vals in zip(*parts, strict=True)])
    # Missing values are left out of the map rather than sent as null: `row.x` of an absent key is null in
    # Cypher all the same, and packing parameters is the driver's slowest step (pure Python, per value).
    return [{k: v for k, v in zip(names, vals, strict=True) if v is not None} for vals in zip(*columns, strict=True)]


def _series(table: Table, name: str, values: list[Any]) -> pd.Series:
    """A column read from Neo4j as a Series of the schema's dtype."""
    column = next(c for c in table.columns if c.table_name == name)
    if column.type == "date":
        days = [None if v is None else (v.to_native() if hasattr(v, "to_native") else v) for v in values]
        days = [d.date() if isinstance(d, dt.datetime) else d for d in days]
        # Built through numpy at second resolution so dates outside pandas' nanosecond range survive.
        stamps = [np.datetime64("NaT") if d is None else np.datetime64(d, "D") for d in days]
        return pd.Series(np.array(stamps, dtype="datetime64[s]"))
    return pd.Series(pd.array(values, dtype=dtype_of(column.type)))  # type: ignore[call-overload]


# ---------------------------------------------------------------------------- reified contact identifiers


@dataclass(frozen=True)
class ContactKind:
    """One kind of reified contact identifier: its label, where its values come from and how they normalise."""

    kind: str
    label: str
    sources: tuple[tuple[str, str, str], ...]  # (table, column, relationship type from the holder)
    statement: str
    cheap_key: Callable[[pd.Series], Any]
    normalise: Callable[[Any], str | None]


CONTACT_KINDS: tuple[ContactKind, ...] = (
    ContactKind(
        "address",
        "Address",
        (("enterprises", "address", "REGISTERED_AT"), ("persons", "address", "LIVES_AT")),
        "store/contacts_address.cypher",
        _address_cheap_key,
        normalize_address,
    ),
    ContactKind(
        "phone",
        "Phone",
        (("enterprises", "phone", "HAS_PHONE"), ("persons", "phone", "HAS_PHONE")),
        "store/contacts_phone.cypher",
        _phone_cheap_key,
        normalize_phone,
    ),
    ContactKind(
        "email",
        "Email",
        (("enterprises", "email", "HAS_EMAIL"), ("persons", "email", "HAS_EMAIL")),
        "store/contacts_email.cypher",
        _email_cheap_key,
        normalize_email,
    ),
)

_LINK_COLUMNS = ("kind", "key", "id", "table", "relation", "text")


def contact_links(tables: Tables, known: Mapping[str, Collection[str]] | None = None) -> pd.DataFrame:
    """Who holds which shared contact identifier: ``kind, key, id, table, relation, text`` (the raw value).

    An identifier (a normalised address, phone or email) is kept when two or more entities of ``tables`` hold
    it, or when ``known`` (per kind, the keys already in the graph) has it: a node that would link nothing is
    not worth writing. Only values whose cheap key collides with another value's or a known key's are
    normalised (:func:`graphrisk.analysis.hidden_links._normalise_colliding`): among 150,000 registrations
    a few thousand are, so this costs well under a second. Unnormalisable values give no identifier.

    >>> phones = ["0571-88888888", "+86 571 8888 8888", "12"]
    >>> t = Tables.from_frames({"enterprises": pd.DataFrame({"id": ["A", "B", "C"], "name": ["甲", "乙", "丙"],
    ...                                                      "phone": phones})})
    >>> contact_links(t)[["kind", "key", "id", "relation"]].values.tolist()
    [['phone', '+8657188888888', 'A', 'HAS_PHONE'], ['phone', '+8657188888888', 'B', 'HAS_PHONE']]
    """
    known = known or {}
    parts: list[pd.DataFrame] = []
    for spec in CONTACT_KINDS:
        pieces = [
            (table, relation, tables[table][["id", column]])
            for table, column, relation in spec.sources
            if column in tables[table].columns and len(tables[table])
        ]
        if not pieces:
            continue
        existing = sorted(known.get(spec.kind, ()))
        raw = pd.concat([f.iloc[:, 1].astype("string") for _, _, f in pieces], ignore_index=True)
        n = len(raw)
        # Known keys join the collision test: a value equal to an identifier already in the graph has the same
        # cheap key, so it gets normalised and linked even when nothing else in this load shares it.
        keys = _normalise_colliding(pd.concat([raw, pd.Series(existing, dtype="string")], ignore_index=True),
                                    spec.cheap_key, spec.normalise)[:n]  # fmt: skip
        hit = pd.notna(keys)  # usually a few per cent: build the frame from those rows only
        frame = pd.DataFrame(
            {
                "kind": spec.kind,
                "key": keys[hit],
                "id": np.concatenate([f["id"].to_numpy(dtype=object) for _, _, f in pieces])[hit],
                "table": np.concatenate([np.full(len(f), table, dtype=object) for table, _, f in pieces])[hit],
                "relation": np.concatenate([np.full(len(f), rel, dtype=object) for _, rel, f in pieces])[hit],
                "text": raw.to_numpy(dtype=object)[hit],
            }
        ).drop_duplicates(["key", "id"])
        holders = frame.groupby("key")["id"].transform("size")
        parts.append(frame[(holders >= 2) | frame["key"].isin(existing)])
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in _LINK_COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["kind", "key", "table", "id"], kind="stable").reset_index(drop=True)


def _contact_rows(links: pd.DataFrame) -> list[dict[str, Any]]:
    """One statement row per identifier: key, text, enterprises, persons (links of one kind, sorted by key)."""
    if links.empty:
        return []
    keys = links["key"].to_numpy(dtype=object)
    ids = links["id"].tolist()
    firm = (links["table"] == "enterprises").to_numpy()
    texts = links["text"].tolist()
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]).tolist()
    ends = [*starts[1:], len(keys)]
    rows: list[dict[str, Any]] = []
    for a, b in zip(starts, ends, strict=True):
        spellings = [texts[i] for i in range(a, b) if firm[i] and texts[i] is not None]
        # The node shows a firm's spelling (the most common, then the smallest), never a person's: persons'
        # addresses are personal data and have no place on a node that firms' investigators read.
        text = min(set(spellings), key=lambda t: (-spellings.count(t), t)) if spellings else None
        rows.append(
            {
                "key": keys[a],
                "text": text,
                "enterprises": [ids[i] for i in range(a, b) if firm[i]],
                "persons": [ids[i] for i in range(a, b) if not firm[i]],
            }
        )
    return rows


def _link_batches(rows: list[dict[str, Any]], batch_size: int) -> Iterator[list[dict[str, Any]]]:
    """Identifier rows in batches of about ``batch_size`` links (a hub address is one row with many)."""
    batch: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        batch.append(row)
        size += len(row["enterprises"]) + len(row["persons"])
        if size >= batch_size:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


# ------------------------------------------------------------------------------------------------ store


def _display_uri(uri: str) -> str:
    """The URI without any user:password@ part, for messages."""
    return re.sub(r"//[^/@]*@", "//", uri)


class Neo4jStore:
    """A connection to one Neo4j database holding graphrisk's tables.

    Connecting checks that the server answers; failures raise :class:`StoreError` naming the URI (never the
    password) and the fix. Use it as a context manager or call :meth:`close`.
    """

    def __init__(self, uri: str, user: str, password: str, database: str | None = None) -> None:
        self.uri = uri
        self.user = user
        self.database = database
        self._secret = password  # kept only to scrub it from messages; never shown
        try:
            self._driver = neo4j.GraphDatabase.driver(
                uri,
                auth=(user, password),
                user_agent=f"graphrisk/{__version__}",
                connection_timeout=10.0,
                # The export statements name every schema property, and sparse data leaves some unset: the
                # server's "property key does not exist" notices are expected, not news for the user.
                notifications_disabled_classifications=[neo4j.NotificationDisabledClassification.UNRECOGNIZED],
            )
        except (neo4j.exceptions.ConfigurationError, ValueError) as exc:
            raise StoreError(
                f"invalid Neo4j URI {_display_uri(uri)!r}: {self._scrub(str(exc))}. Fix: give a URI such as "
                "bolt://127.0.0.1:7687 or neo4j://host:7687 (--neo4j-uri or NEO4J_URI)."
            ) from None
        try:
            with self._errors("connecting"):
                self._driver.verify_connectivity()
                with self._session() as session:
                    session.run(_query("store/ping.cypher")).consume()
        except BaseException:
            self._driver.close()
            raise

    def __repr__(self) -> str:
        return f"Neo4jStore({_display_uri(self.uri)!r}, user={self.user!r}, database={self.database!r})"

    def __enter__(self) -> Neo4jStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the driver and its connections (idempotent)."""
        self._driver.close()

    # -------------------------------------------------------------------------------------- plumbing

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "********") if self._secret else text

    def _session(self, **config: Any) -> neo4j.Session:
        return self._driver.session(database=self.database, **config)

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn driver exceptions into :class:`StoreError` with the URI and a fix."""
        where = _display_uri(self.uri) + (f" (database {self.database})" if self.database else "")
        try:
            yield
        except neo4j.exceptions.AuthError:
            raise StoreError(
                f"Neo4j at {where} refused user {self.user!r} while {action}: wrong user name or password. "
                "Fix: set NEO4J_PASSWORD (and NEO4J_USER) to that server's credentials; for the development "
                "server run `set -a; . .neo4j/env; set +a`."
            ) from None
        except (neo4j.exceptions.ServiceUnavailable, neo4j.exceptions.SessionExpired, OSError) as exc:
            raise StoreError(
                f"cannot reach Neo4j at {where} while {action}: {self._scrub(str(exc))}. Fix: start the "
                "server (`python scripts/neo4j.py start`, then `set -a; . .neo4j/env; set +a`) or point "
                "NEO4J_URI / --neo4j-uri at a running one."
            ) from None
        except neo4j.exceptions.Neo4jError as exc:
            hint = ""
            if exc.code and "DatabaseNotFound" in exc.code:
                hint = " Fix: create the database or choose another with --database / NEO4J_DATABASE."
            message = f"{exc.code}: {self._scrub(exc.message or str(exc))}"
            raise StoreError(f"Neo4j at {where} failed while {action}: {message}.{hint}") from None
        except neo4j.exceptions.DriverError as exc:
            message = self._scrub(str(exc))
            raise StoreError(f"Neo4j driver error at {where} while {action}: {message}") from None

    def query(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run the read statement ``cypher/<name>`` (e.g. ``"queries/guarantee_chain.cypher"``) with parameters.

        Only files of the package run: ``name`` is checked against :func:`cypher_files_used`. Values are always
        parameters; a file never has data formatted into it.
        """
        if name.split("/")[0] not in QUERY_FOLDERS:
            raise ValueError(f"{name}: query() runs files from {', '.join(QUERY_FOLDERS)}")
        with self._errors(f"running {name}"):
            return self._read(name, **params)

    def write(
        self,
        name: str,
        rows: Sequence[dict[str, Any]],
        *,
        batch_size: int = 5_000,
        params: dict[str, Any] | None = None,
    ) -> int:
        """Run the write statement ``cypher/<name>`` (``UNWIND $rows …``) over ``rows`` in batches.

        Each batch is one managed transaction (retried on transient errors); extra ``params`` go to every
        batch (a run id, say). Returns the number of rows sent.
        """
        if name.split("/")[0] not in QUERY_FOLDERS:
            raise ValueError(f"{name}: write() runs files from {', '.join(QUERY_FOLDERS)}")
        statement = _query(name)
        extra = params or {}

        def work(tx: neo4j.ManagedTransaction, batch: list[dict[str, Any]]) -> None:
            tx.run(statement, rows=batch, **extra).consume()

        with self._errors(f"running {name}"), self._session() as session:
            for start in range(0, len(rows), batch_size):
                session.execute_write(work, list(rows[start : start + batch_size]))
        return len(rows)

    def _read(self, name: str, **params: Any) -> list[dict[str, Any]]:
        def work(tx: neo4j.ManagedTransaction) -> list[dict[str, Any]]:
            return tx.run(_query(name), params).data()

        with self._session() as session:
            return session.execute_read(work)

    # ------------------------------------------------------------------------------------------ schema

    def ensure_schema(self) -> None:
        """Create the uniqueness constraints and key indexes (idempotent) and wait until they are online."""
        with self._errors("creating constraints"), self._session() as session:
            for name in _SCHEMA_FILES:
                for statement in _statements(read_cypher(name)):
                    session.run(_literal(statement)).consume()
            session.run(_query("store/await_indexes.cypher"), timeout_s=_INDEX_WAIT_S).consume()

    def drop_schema(self) -> None:
        """Drop the constraints and indexes that :meth:`ensure_schema` creates (data stays)."""
        with self._errors("dropping constraints"), self._session() as session:
            for kind, name in _schema_objects():
                query = "store/drop_constraint.cypher" if kind == "CONSTRAINT" else "store/drop_index.cypher"
                session.run(_query(query), name=name).consume()

    def constraints(self) -> list[dict[str, Any]]:
        """``SHOW CONSTRAINTS``: name, type, entityType, labelsOrTypes, properties."""
        with self._errors("listing constraints"):
            return self._read("store/show_constraints.cypher")

    def indexes(self) -> list[dict[str, Any]]:
        """``SHOW INDEXES``: name, type, entityType, labelsOrTypes, properties, state, owningConstraint."""
        with self._errors("listing indexes"):
            return self._read("store/show_indexes.cypher")

    # -------------------------------------------------------------------------------------------- load

    def load(
        self,
        tables: Tables,
        *,
        batch_size: int = 5_000,
        workers: int = 2,
        progress: Progress | None = None,
        contacts: bool = True,
    ) -> LoadSummary:
        """Write every table: nodes, then facilities, then relationships, ``batch_size`` rows per transaction.

        Then, unless ``contacts`` is false, the reified contact identifiers the entities share (see the module
        docstring and :func:`contact_links`); their figures are ``LoadSummary.contacts``. Load whole snapshots:
        identifiers are found among the entities of this load and the identifiers already in the graph, and an
        entity reloaded with a new address or phone loses its old link.

        Idempotent: loading the same Tables again creates nothing. Call :meth:`ensure_schema` first, or the
        ``MERGE`` statements scan instead of seeking (the load calls it when the constraints are missing).
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        started = time.perf_counter()
        if not self._has_schema():
            self.ensure_schema()
        results = [self._load_table(t, tables[t.name], batch_size, workers, progress) for t in _LOAD_ORDER]
        contact_load = self._load_contacts(tables, batch_size, progress) if contacts else None
        seconds = time.perf_counter() - started
        return LoadSummary(tables=tuple(results), seconds=seconds, batch_size=batch_size, contacts=contact_load)

    def _load_contacts(self, tables: Tables, batch_size: int, progress: Progress | None) -> TableLoad:
        """MERGE the shared Address, Phone and Email nodes and their links; unlink what reloaded entities lost."""
        started = time.perf_counter()
        with self._errors("reading contact identifiers"):
            existing = self._read("store/contacts_existing.cypher")
        known: dict[str, set[str]] = {}
        for r in existing:
            known.setdefault(r["kind"], set()).add(r["key"])
        links = contact_links(tables, known)
        matched = nodes = rels = props = batches = 0

        def write(tx: neo4j.ManagedTransaction, query: LiteralString, rows: list[dict[str, Any]]) -> tuple[int, ...]:
            result = tx.run(query, rows=rows)
            count = result.single(strict=True)["rows"]
            c = result.consume().counters
            return int(count), c.nodes_created, c.relationships_created, c.properties_set

        # One session, batches in sequence: a few thousand identifiers, and concurrent batches would contend
        # for the same entity nodes.
        with self._errors("loading contact identifiers"), self._session() as session:
            for spec in CONTACT_KINDS:
                rows = _contact_rows(links[links["kind"] == spec.kind])
                query = _query(spec.statement)
                for batch in _link_batches(rows, batch_size):
                    m, nc, rc, ps = session.execute_write(write, query, batch)
                    matched, nodes, rels, props, batches = matched + m, nodes + nc, rels + rc, props + ps, batches + 1
                if progress is not None and rows:
                    progress(f"contacts: {len(rows):,} shared {spec.kind} identifiers")
            loaded = set(tables["enterprises"]["id"].tolist()) | set(tables["persons"]["id"].tolist())
            wanted = set(zip(links["id"], links["relation"], links["key"], strict=True))
            stale = [
                {"id": r["id"], "relation": r["relation"], "key": r["key"]}
                for r in existing
                if r["id"] in loaded and (r["id"], r["relation"], r["key"]) not in wanted
            ]
            unlink = _query("store/contacts_unlink.cypher")
            for start in range(0, len(stale), batch_size):
                session.execute_write(write, unlink, stale[start : start + batch_size])
        return TableLoad(
            table="contacts",
            rows=len(links),
            matched=matched,
            nodes_created=nodes,
            relationships_created=rels,
            properties_set=props,
            batches=batches,
            seconds=time.perf_counter() - started,
        )

    def _has_schema(self) -> bool:
        names = {name for _, name in _schema_objects()}
        present = {c["name"] for c in self.constraints()} | {i["name"] for i in self.indexes()}
        return names <= present

    def _relationship_count(self, table: Table) -> int:
        with self._errors(f"counting {table.rel_type} relationships"):
            return int(self._read(f"count/{table.name}.cypher")[0]["n"])

    def _load_table(
        self, table: Table, frame: pd.DataFrame, batch_size: int, workers: int, progress: Progress | None
    ) -> TableLoad:
        name = f"load/{table.name}.cypher"
        if table.kind == "relation" and len(frame) and self._relationship_count(table) == 0:
            # Nothing of this type exists yet: CREATE skips MERGE's existence check. The rows are unique by
            # key (the loaders guarantee it), so the result is what MERGE would have written.
            name = f"load/{table.name}.create.cypher"
        query = _query(name)
        started = time.perf_counter()
        n = len(frame)
        matched = nodes = rels = props = batches = 0

        def write(tx: neo4j.ManagedTransaction, rows: list[dict[str, Any]]) -> tuple[int, int, int, int]:
            result = tx.run(query, rows=rows)
            count = result.single(strict=True)["rows"]
            c = result.consume().counters
            return int(count), c.nodes_created, c.relationships_created, c.properties_set

        starts = list(range(0, n, batch_size))

        def one_batch(start: int) -> tuple[int, int, int, int]:
            rows = _rows(table, frame.iloc[start : start + batch_size])
            with self._session() as session:
                return session.execute_write(write, rows)  # type: ignore[no-any-return]

        # Batches go to `workers` concurrent transactions: one writer keeps only one core of the server busy.
        # Batches never share a key, so order does not matter; two relationship batches touching the same
        # node may deadlock, which the server reports as transient and execute_write retries.
        done = 0
        with self._errors(f"loading {table.name}"), ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = [pool.submit(one_batch, s) for s in starts]
            for future in as_completed(futures):
                m, nc, rc, ps = future.result()
                matched, nodes, rels, props = matched + m, nodes + nc, rels + rc, props + ps
                batches += 1
                done = min(done + batch_size, n)
                if progress is not None:
                    progress(f"{table.name}: {done:,}/{n:,} rows")
        return TableLoad(
            table=table.name,
            rows=n,
            matched=matched,
            nodes_created=nodes,
            relationships_created=rels,
            properties_set=props,
            batches=batches,
            seconds=time.perf_counter() - started,
        )

    def load_plan(self, table: str, sample: pd.DataFrame | None = None) -> list[str]:
        """The operators of ``load/<table>.cypher``, depth first, one ``"Operator: details"`` string each.

        Without ``sample`` this is ``EXPLAIN`` (nothing runs). With a sample of the table's rows it is
        ``PROFILE`` inside a transaction that is rolled back, and each entry ends with the rows and database
        hits of that operator. Used to check that loads seek through the uniqueness constraints
        (``NodeUniqueIndexSeek``) instead of scanning labels, and to see where a slow load spends its time.
        """
        spec = SCHEMA[table]
        statement = _query(f"load/{spec.name}.cypher")
        with self._errors(f"planning the load of {table}"), self._session() as session:
            if sample is None:
                plan = session.run(_literal("EXPLAIN " + statement), rows=[]).consume().plan or {}
            else:
                with session.begin_transaction() as tx:
                    plan = tx.run(_literal("PROFILE " + statement), rows=_rows(spec, sample)).consume().profile or {}
                    tx.rollback()  # a profile must not change the data
        out: list[str] = []

        def walk(node: dict[str, Any]) -> None:
            line = f"{str(node.get('operatorType', '?')).split('@')[0]}: {node.get('args', {}).get('Details', '')}"
            if sample is not None:
                line += f" [rows {node.get('rows', 0):,}, db hits {node.get('dbHits', 0):,}]"
            out.append(line)
            for child in node.get("children", []):
                walk(child)

        walk(plan)
        return out

    # -------------------------------------------------------------------------------------------- read

    def read_tables(self, *, batch_size: int = 50_000, progress: Progress | None = None) -> Tables:
        """Every table back from the graph, streamed ``batch_size`` records at a time, as canonical Tables.

        Loading Tables and reading them back gives the same :meth:`Tables.canonical_hash`.
        """
        frames: dict[str, pd.DataFrame] = {}
        with self._session(fetch_size=batch_size) as session:
            for table in SCHEMA:
                with self._errors(f"reading {table.name}"):
                    frames[table.name] = session.execute_read(self._export, table, batch_size, progress)
        return Tables.from_frames(frames)

    def _export(
        self, tx: neo4j.ManagedTransaction, table: Table, batch_size: int, progress: Progress | None
    ) -> pd.DataFrame:
        result = tx.run(_query(f"export/{table.name}.cypher"))
        names = list(result.keys())
        columns: list[list[Any]] = [[] for _ in names]
        count = 0
        for record in result:
            for column, value in zip(columns, record.values(), strict=True):
                column.append(value)
            count += 1
            if progress is not None and count % batch_size == 0:
                progress(f"{table.name}: {count:,} rows read")
        if progress is not None and count % batch_size:
            progress(f"{table.name}: {count:,} rows read")
        try:
            return pd.DataFrame({n: _series(table, n, col) for n, col in zip(names, columns, strict=True)})
        except (TypeError, ValueError) as exc:
            raise StoreError(
                f"Neo4j at {_display_uri(self.uri)}: the {table.name} data has a value of the wrong type "
                f"({exc}). Fix: reload the table with graphrisk, which writes the schema's types."
            ) from None

    def content_hash(self) -> str:
        """SHA-256 of the whole content, as :meth:`Tables.canonical_hash` of :meth:`read_tables`."""
        return self.read_tables().canonical_hash()

    # ------------------------------------------------------------------------------------------- misc

    def counts(self) -> dict[str, int]:
        """Nodes per label and relationships per type (labels are CamelCase, types UPPER_SNAKE)."""
        with self._errors("counting"):
            nodes = self._read("store/count_nodes.cypher")
            rels = self._read("store/count_relationships.cypher")
        return {r["name"]: int(r["count"]) for r in (*nodes, *rels)}

    def clear(self) -> None:
        """Delete every node and relationship (contact identifiers and written-back nodes included), 10,000 per
        transaction. Constraints and indexes stay."""
        with self._errors("clearing the database"), self._session() as session:
            # CALL … IN TRANSACTIONS needs an implicit transaction: session.run, not execute_write.
            session.run(_query("store/clear.cypher")).consume()


def store_from_env(
    uri: str | None = None, user: str | None = None, password: str | None = None, database: str | None = None
) -> Neo4jStore:
    """A store from the arguments; None falls back to NEO4J_URI, NEO4J_USER (default neo4j), NEO4J_PASSWORD
    and NEO4J_DATABASE."""
    uri = uri or os.environ.get("NEO4J_URI")
    if not uri:
        raise StoreError(
            "no Neo4j URI: set NEO4J_URI (for the development server: `python scripts/neo4j.py "
            "start`, then `set -a; . .neo4j/env; set +a`) or pass --neo4j-uri."
        )
    user = user or os.environ.get("NEO4J_USER") or "neo4j"
    password = password if password is not None else os.environ.get("NEO4J_PASSWORD")
    if not password:
        raise StoreError(
            f"no password for Neo4j at {_display_uri(uri)}: set NEO4J_PASSWORD (for the "
            "development server: `set -a; . .neo4j/env; set +a`)."
        )
    database = database or os.environ.get("NEO4J_DATABASE") or None
    return Neo4jStore(uri, user, password, database)
