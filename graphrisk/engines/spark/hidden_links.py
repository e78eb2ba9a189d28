"""Hidden associations (疑似关联) on Spark: the signals, scores, links, groups and flags of
:mod:`graphrisk.analysis.hidden_links`, as DataFrame steps with the embedded weights, factors and texts.

=============================  ==============================================  ==================================
step                           embedded counterpart                            how it runs on Spark
=============================  ==============================================  ==================================
:func:`person_candidates`      ``same_name_candidates``                        one executor task per name
                                                                               (``applyInPandas``)
:func:`firm_signals`           ``firm_signals``                                one pandas UDF normalises each
                                                                               distinct contact value and name;
                                                                               one shuffle pairs every signal
:func:`contact_pairs`          ``firm_signals`` (phone, e-mail only)           as above
:func:`score_pairs`            ``score_pairs`` (noisy-OR)                      group-by; the sum in a pandas UDF
:func:`suspected_links`        ``suspected_links``                             group-by; score and texts in one
                                                                               pandas UDF
:func:`suspected_groups`       ``suspected_groups``                            connected components (joins)
:func:`related_transactions`   ``related_transactions``                        joins
:func:`link_flags`             ``_flags``                                      group-by; texts in a pandas UDF
:func:`hidden_links_analysis`  ``hidden_links_analysis`` (tables and flags)    all of the above
=============================  ==============================================  ==================================

Pairing: the (value, entity) rows of every signal (address, phone, e-mail, domain, officer, shareholder,
controller, name) are shuffled once by (signal, value); the count per value applies the exclusivity cap before
any pair exists, and the pairs of a kept value (at most cap²) come out of its sorted member array, so there is
no self-join. What a signal row needs from its two firms (status for the revoked/deregistered factors, the name
for look-alike names, the role rank for officers) travels with the members. Spark's fixed cost per job and per
Python stage dominates at 10k firms, so the steps keep both few: about 100 jobs for the whole analysis, most of
them the connected-component rounds of the groups.

The normalisers (Python, pandas UDFs) run once per distinct value. The embedded cheap-key prefilter is ported
too (``prefilter=True``): the key (every digit of an address, the last seven digits of a phone, the squeezed
lower-case e-mail, its domain) is a Spark expression for values written in ASCII, CJK ideographs and full-width
forms, where NFKC is a character map, and the embedded Arrow key in a pandas UDF for the rest; only values whose
key another value shares reach the normaliser. It does not pay on Spark: on the synthetic 100k portfolio (364k
address, phone and e-mail values, 2 cores) normalising every distinct value took 3.0 s and the prefiltered path
6.8 s (313k against 8k values normalised), because the normalisers cost only 2–11 µs a value while the key's
regexes, a checkpoint and the extra group-by and join cost more. It stays off by default and is tested for
equal results.

Numbers and texts equal the embedded ones, not just nearly: weights use the same floating-point operations,
and the rounding and formatting of scores and texts (``round``, ``f"{x:.2f}"``, ``json.dumps``) run in pandas UDFs
with the embedded expressions. Rows of one pair keep the embedded order (signal, then the value's run), so the
reasons read the same.

Person identity: as embedded, a person is its ``id`` (pseudonymised by the loader when it is an ID number),
merged with the persons judged ``same``; the judgement reads ``id_pseudonym`` from ``tables["persons"]`` when the
column is there. :func:`graphrisk.engines.spark.io.read_tables` drops ID numbers, so without that column pairs
of equal names are judged on phones, addresses and shared firms only.

>>> out = hidden_links_analysis(read_tables(spark, Path("data")), controllers=controllers)  # doctest: +SKIP
>>> out["suspected_links"].orderBy(F.desc("score")).show()  # doctest: +SKIP
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from graphrisk.config import Config
from graphrisk.engines.spark.graph import connected_components

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = [
    "contact_pairs",
    "firm_signals",
    "hidden_links_analysis",
    "link_flags",
    "person_candidates",
    "related_transactions",
    "score_pairs",
    "suspected_groups",
    "suspected_links",
]

# Position of each signal frame in the embedded concatenation: rows of one pair with equal weights keep it.
_FRAME_ORDER: dict[str, int] = {
    "address": 0, "phone": 1, "email": 2, "domain": 3, "website": 4, "officer": 5, "finance_head": 6,
    "legal_representative": 7, "shareholder": 8, "controller": 9, "name": 10,
}  # fmt: skip
_ROLE_RANK = {"officer": 0, "finance_head": 1, "legal_representative": 2}
_SIGNAL_COLUMNS = (
    "a_id",
    "b_id",
    "signal",
    "k",
    "value",
    "weight",
    "detail",
    "order_signal",
    "order_gap",
    "order_value",
)

# Characters for which NFKC is the identity or the full-width → ASCII map below, and which never compose with a
# neighbour: a value written only in them gets its cheap key from Spark expressions. The test checks the claim
# against unicodedata for every character of the class.
_FAST_CLASS = (
    "\\x00-\\x7F\\u00B7\\u2014\\u2018\\u2019\\u201C\\u201D\\u3000-\\u3029\\u3030-\\u3035\\u3037\\u303B-\\u303F"
    "\\u4E00-\\u9FFF\\uFF01-\\uFF5E"
)
_SLOW_CHARS = f"[^{_FAST_CLASS}]"
_WIDE = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\u3000"
_NARROW = "".join(chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)) + " "
_SPACE = "[\\t\\n\\f\\r ]"  # RE2's \s, which the Arrow keys use (Java's \s also takes \x0B)


def _F():  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    return F


def _window():  # type: ignore[no-untyped-def]
    from pyspark.sql import Window

    return Window


# ------------------------------------------------------------------------------------------ normalisation


def _cheap_key(kind: Column, raw: Column) -> Column:
    """The embedded Arrow cheap key of each row's ``kind`` as a Spark expression, for values without slow
    characters (there NFKC is the full-width → ASCII map, so the regexes see what Arrow sees)."""
    F = _F()
    text = F.translate(raw, _WIDE, _NARROW)
    cut = F.regexp_replace(text, f"(?:转|分机|[Ee][Xx][Tt]\\.?|[Xx]|#){_SPACE}*[0-9]{{1,6}}{_SPACE}*\\z", "")
    email = F.lower(F.regexp_replace(text, f"{_SPACE}+", ""))
    return (
        F.when(kind == "address", F.regexp_replace(text, "[^0-9]", ""))
        .when(kind == "phone", _right(F.regexp_replace(cut, "[^0-9]", ""), 7))
        .when(kind == "email", email)
        .otherwise(F.regexp_replace(email, "^.*@(www\\.)?", ""))
    )


def _right(column: Column, n: int) -> Column:
    """The last ``n`` characters (all of a shorter text), as Arrow's ``utf8_slice_codeunits(start=-n)``."""
    F = _F()
    return F.when(F.length(column) <= n, column).otherwise(F.substring(column, -n, n))


def _by_kind(kinds: pd.Series, values: pd.Series, apply: Any) -> pd.Series:
    """``apply(kind, values)`` on each kind's rows; object dtype, as pyspark 3.5's Arrow serializer needs."""
    out = np.full(len(values), None, dtype=object)
    kinds = kinds.astype(object).reset_index(drop=True)
    values = values.astype(object).reset_index(drop=True)
    for kind in pd.unique(kinds):
        on = (kinds == kind).to_numpy()
        out[on] = np.asarray(apply(kind, values[on]), dtype=object)
    return pd.Series(out, dtype=object)


def _arrow_keys(kind: str, values: pd.Series) -> list[Any]:
    """The embedded Arrow cheap keys (NFKC in Arrow, then regexes), for the values Spark cannot key."""
    from graphrisk.analysis import hidden_links as H

    cheap = {"address": H._address_cheap_key, "phone": H._phone_cheap_key, "email": H._email_cheap_key,
             "domain": H._domain_cheap_key}[kind]  # fmt: skip
    return list(cheap(values).to_pylist())


def _name_key(raw: str) -> str | None:
    """``name\\x1eregion`` (or the name alone) → the embedded name key ``f"{region}\\x1f{core}"``; a missing
    region reads ``<NA>`` as in the embedded f-string."""
    from graphrisk.analysis.hidden_links import name_core

    name, _, region = raw.partition("\x1e")
    core = name_core(name, region or None)
    return None if core is None else f"{region or '<NA>'}\x1f{core}"


def _normalise(kind: str, values: pd.Series) -> list[Any]:
    """The embedded normaliser of ``kind`` on each value (only distinct values reach here)."""
    from graphrisk.analysis import hidden_links as H

    fn = {"address": H.normalize_address, "phone": H.normalize_phone, "email": H.normalize_email,
          "domain": H.website_domain, "website": H.website_domain, "name": _name_key}[kind]  # fmt: skip
    return [fn(v) for v in values]


def _kind_udf(apply: Any):  # type: ignore[no-untyped-def]
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("string")  # type: ignore[call-overload]
    def run(kinds: pd.Series, values: pd.Series) -> pd.Series:
        return _by_kind(kinds, values, apply)

    return run


def _normalised(frame: DataFrame, specs: list[tuple[Column, str, bool]]) -> DataFrame:
    """``kind, id, raw, value`` for every (raw expression, kind, prefilter) of ``specs`` in one pass: one
    normaliser UDF (one Python stage) over the distinct (kind, raw) pairs, after the optional cheap-key
    prefilter."""
    F = _F()
    parts = [frame.select(F.lit(k).alias("kind"), F.lit(p).alias("pre"), "id", raw.alias("raw")) for raw, k, p in specs]
    rows = _union(parts).where(F.col("raw").isNotNull())
    todo = rows.where(~F.col("pre")).select("kind", "id", "raw")
    if any(pre for _, _, pre in specs):
        pre = rows.where(F.col("pre"))
        fast = ~F.col("raw").rlike(_SLOW_CHARS)
        # Checkpointed: the key feeds a count and a join, and Spark would evaluate a Python UDF once per use.
        keyed = (
            pre.where(fast)
            .withColumn("key", _cheap_key(F.col("kind"), F.col("raw")))
            .unionByName(pre.where(~fast).withColumn("key", _kind_udf(_arrow_keys)("kind", "raw")))
            .localCheckpoint()
        )
        shared = keyed.where(F.col("key") != "").groupBy("kind", "key").count().where(F.col("count") >= 2)
        colliding = keyed.join(shared.select("kind", "key"), ["kind", "key"], "left_semi")
        # An empty key (no digit, say) rules nothing out: normalised anyway, as embedded.
        todo = todo.unionByName(colliding.unionByName(keyed.where(F.col("key") == "")).select("kind", "id", "raw"))
    distinct = todo.select("kind", "raw").distinct()
    mapped = distinct.withColumn("value", _kind_udf(_normalise)("kind", "raw")).localCheckpoint()
    return todo.join(mapped.where(F.col("value").isNotNull()), ["kind", "raw"]).select("kind", "id", "raw", "value")


def _contact_specs(ent: DataFrame, kinds: tuple[str, ...], prefilter: bool) -> list[tuple[Column, str, bool]]:
    F = _F()
    column = {"address": "address", "phone": "phone", "email": "email", "domain": "email", "website": "website"}
    return [
        (F.col(column[k]).cast("string"), k, prefilter and k != "website") for k in kinds if column[k] in ent.columns
    ]


# ------------------------------------------------------------------------------------------------ pairing


def _union(frames: list[DataFrame]) -> DataFrame:
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return out


# Per (frame, value, entity) attributes carried to both ends of a pair, and how duplicates of one entity merge.
_CARRIED = ("status", "label", "rank")
_ENTRY_COLUMNS = ("frame", "entity", "value", "cap", "person", "vlabel", "status", "label", "rank")
_PAIRS_SQL = (
    "flatten(transform(sequence(1, cast(k as int) - 1), i -> transform(sequence(i + 1, cast(k as int)), "
    "j -> named_struct('a', element_at(m, i), 'b', element_at(m, j), 'gap', j - i))))"
)


def _value_pairs(entries: DataFrame) -> DataFrame:
    """Pairs ``a_id < b_id`` of entities sharing a value within a frame, for every frame at once, as the
    embedded ``shared_value_pairs``.

    ``entries``: ``frame``, ``entity``, ``value``, ``cap``, ``person`` (the member a person value came from, or
    null), ``vlabel`` (text of the value), and the entity's ``status``, ``label``, ``rank``. Out: ``frame``,
    ``value``, ``vlabel``, ``k`` (entities holding the value), ``order_gap`` (how far apart the two sit in the
    value's run), ``order_value`` (the smallest member person: the embedded first appearance of the value),
    ``a_id``, ``b_id`` and ``a_``/``b_`` status, label and rank.

    One shuffle (by frame and value); the cap drops a value held by more than ``cap`` entities at the count,
    before any pair exists, and the pairs of a kept value (at most cap²) come from its sorted member array."""
    F = _F()
    v = entries.where(F.col("value").isNotNull() & F.col("entity").isNotNull()).repartition("frame", "value")
    # One row per entity and value (a person with two roles in a firm is one member, at its strongest role).
    per = v.groupBy("frame", "value", "entity").agg(
        F.first("cap").alias("cap"),
        F.min("person").alias("person"),
        F.first("vlabel").alias("vlabel"),
        F.first("status").alias("status"),
        F.first("label").alias("label"),
        F.max("rank").alias("rank"),
    )
    counts = per.groupBy("frame", "value").agg(F.count("*").alias("k"), F.first("cap").alias("cap"))
    kept = counts.where((F.col("k") >= 2) & (F.col("k") <= F.col("cap"))).select("frame", "value", "k")
    member = F.struct("entity", *_CARRIED)
    runs = (
        per.join(kept, ["frame", "value"])
        .groupBy("frame", "value", "k")
        .agg(
            F.array_sort(F.collect_list(member)).alias("m"),
            F.coalesce(F.min("person"), F.lit("")).alias("order_value"),
            F.first("vlabel").alias("vlabel"),
        )
    )
    pairs = runs.select("frame", "value", "vlabel", "k", "order_value", F.explode(F.expr(_PAIRS_SQL)).alias("p"))
    return pairs.select(
        "frame",
        F.col("p.a.entity").alias("a_id"),
        F.col("p.b.entity").alias("b_id"),
        "value",
        "vlabel",
        "k",
        F.col("p.gap").cast("long").alias("order_gap"),
        "order_value",
        *[F.col(f"p.{end}.{c}").alias(f"{end}_{c}") for c in _CARRIED for end in ("a", "b")],
    )


def _lookup(mapping: dict[str, Any], key: Column) -> Column:
    """``mapping[key]`` as a Spark expression (a literal map)."""
    F = _F()
    return F.create_map(*[F.lit(x) for item in mapping.items() for x in item])[key]


def _exclusivity(k: Column, cap: int) -> Column:
    """``hidden_links.exclusivity`` with the same floating-point operations (x·x is numpy's ``x ** 2``)."""
    F = _F()
    x = (k.cast("double") - F.lit(2.0)) / F.lit(max(cap - 1.0, 1.0))
    f = F.lit(1.0) - x * x
    return F.when((k >= 2) & (k <= cap), F.least(F.greatest(f, F.lit(0.0)), F.lit(1.0))).otherwise(F.lit(0.0))


def _entries(rows: DataFrame, frame: Column, cap: int, **columns: Column) -> DataFrame:
    """``rows`` (``entity``, ``value``) as pairing entries of ``frame``."""
    F = _F()
    none = F.lit(None).cast("string")
    return rows.select(
        frame.alias("frame"),
        "entity",
        "value",
        F.lit(cap).alias("cap"),
        columns.get("person", none).alias("person"),
        columns.get("vlabel", none).alias("vlabel"),
        columns.get("label", none).alias("label"),
        columns.get("rank", F.lit(0)).alias("rank"),
    )


def _with_status(entries: DataFrame, enterprises: DataFrame) -> DataFrame:
    """Each entry with its firm's status (trimmed), carried through the pairing for the revoked / deregistered
    factors; all entries in one join."""
    F = _F()
    status = enterprises.select(F.col("id").alias("entity"), F.trim(F.col("status")).alias("status"))
    return entries.join(status, "entity", "left").select(*_ENTRY_COLUMNS)


def _signal_rows(pairs: DataFrame, config: Config, cap: int) -> DataFrame:
    """Every pair row as the embedded signal row: signal, weight (× exclusivity, × similarity for names, × the
    revoked / deregistered factors) and detail text, with the embedded order keys."""
    from pyspark.sql.functions import pandas_udf

    from graphrisk.analysis.hidden_links import _DEREGISTERED, _REVOKED, SIGNALS

    F = _F()
    th = config.threshold
    frame, k = F.col("frame"), F.col("k")
    rank = F.least("a_rank", "b_rank")
    # The weaker of the person's roles at the two firms names an officer tie; website evidence is a domain.
    signal = (
        F.when(frame == "officer", F.when(rank == 2, "legal_representative").when(rank == 1, "finance_head"))
        .when(frame == "website", F.lit("domain"))
        .otherwise(frame)
    )
    signal = F.coalesce(signal, F.lit("officer"))
    weights = {s: th(t) for s, (t, _) in SIGNALS.items()}
    words = {s: w for s, (_, w) in SIGNALS.items()} | {"domain": "domain"}
    shared = _lookup(weights, F.col("signal")) * _exclusivity(k, cap)
    text = F.when(F.col("vlabel").isNotNull(), F.concat(F.col("vlabel"), F.lit("/"), F.col("value"))).otherwise(
        F.col("value")
    )
    detail = F.concat(
        _lookup(words, F.col("signal")), F.lit(" "), text, F.lit(" ("), k.cast("string"), F.lit(" firms)")
    )
    base = pairs.withColumn("signal", signal).withColumn("order_signal", _lookup(_FRAME_ORDER, F.coalesce(
        F.when(frame == "officer", F.col("signal")), frame)))  # fmt: skip

    @pandas_udf("double")  # type: ignore[call-overload]
    def similarity(a: pd.Series, b: pd.Series) -> pd.Series:
        return _ratio_frame(a, b)

    # Marked non-deterministic so that the filter on the weight is not pushed into it (a second evaluation).
    ratio = similarity.asNondeterministic()
    names = base.where(frame == "name")
    names = names.select(
        "*",
        (F.lit(weights["name"]) * _exclusivity(k, cap) * F.greatest(ratio("a_label", "b_label"), F.lit(0.5))).alias(
            "weight"
        ),
        F.concat(F.lit("names differ only in wording: "), F.col("a_label"), F.lit(" / "), F.col("b_label")).alias(
            "detail"
        ),
    )
    controller = base.where(frame == "controller").select(
        "*", F.lit(weights["controller"]).alias("weight"), detail.alias("detail")
    )
    others = base.where(~frame.isin("name", "controller")).select("*", shared.alias("weight"), detail.alias("detail"))
    out = _union([others, controller, names])
    for values, name, note in (
        (_REVOKED, "hidden_links_revoked_factor", "revoked"),
        (_DEREGISTERED, "hidden_links_deregistered_factor", "deregistered"),
    ):
        factor = th(name)
        dead = F.coalesce(F.col("a_status").isin(*values) | F.col("b_status").isin(*values), F.lit(False))
        out = out.withColumn("weight", F.when(dead, F.col("weight") * F.lit(factor)).otherwise(F.col("weight")))
        suffix = F.lit(f" [counterpart {note} ×{factor:g}]")
        out = out.withColumn("detail", F.when(dead, F.concat("detail", suffix)).otherwise(F.col("detail")))
    return out.where(F.col("weight") > 0).select(*_SIGNAL_COLUMNS)


def contact_pairs(tables: dict[str, DataFrame], config: Config | None = None, *, prefilter: bool = False) -> DataFrame:
    """Hidden-link evidence from shared phone numbers and e-mail addresses: ``a_id < b_id``, ``signal``, ``k``,
    ``value``, ``weight`` (the phone and email rows of :func:`firm_signals`).

    The exclusivity cap (``hidden_links_exclusivity_cap``) is applied before any pair is formed: a value held
    by more firms (a call centre, an agent's mailbox) is dropped at the count, so the pairs of a value number at
    most cap². ``weight`` = signal weight × exclusivity(k), times the revoked / deregistered factor, with the
    thresholds of ``config`` as in ``hidden_links.firm_signals``.

    >>> contact_pairs(read_tables(spark, Path("data"))).show()  # doctest: +SKIP
    """
    F = _F()
    config = config or Config()
    cap = int(config.threshold("hidden_links_exclusivity_cap"))
    ent = tables["enterprises"]
    specs = _contact_specs(ent, ("phone", "email"), prefilter)
    if not specs:
        schema = "a_id string, b_id string, signal string, k long, value string, weight double"
        return ent.sparkSession.createDataFrame([], schema)
    values = _normalised(ent, specs).select(F.col("kind").alias("frame"), F.col("id").alias("entity"), "value")
    entries = _entries(values, F.col("frame"), cap)
    sig = _signal_rows(_value_pairs(_with_status(entries, ent)).localCheckpoint(), config, cap)
    return sig.select("a_id", "b_id", "signal", "k", "value", "weight")


# ----------------------------------------------------------------------------------------- same-name persons


def _judge(
    ids: tuple[Any, Any],
    phones: tuple[Any, Any],
    addresses: tuple[Any, Any],
    regions: tuple[Any, Any],
    common: list[str],
    t_same: float,
    t_distinct: float,
) -> tuple[float, str, str]:
    """One same-name pair's score, judgement and evidence, in the embedded ``same_name_candidates`` order."""
    from graphrisk.analysis.hidden_links import noisy_or, same_name_verdict

    ev: dict[str, Any] = {}
    w: list[float] = []
    id_a, id_b = ids
    has_ids = id_a is not None and id_b is not None
    if has_ids and id_a == id_b:
        ev["id_number"] = "equal pseudonymised ID number"
        w.append(0.99)
    if phones[0] is not None and phones[0] == phones[1]:
        ev["phone"] = phones[0]
        w.append(0.8)
    if addresses[0] is not None and addresses[0] == addresses[1]:
        ev["address"] = addresses[0]
        w.append(0.7)
    if common:
        ev["co_directorship"] = list(common)[:5]
        w.append(0.4)
    if regions[0] is not None and regions[0] == regions[1]:
        ev["region"] = regions[0]
        w.append(0.1)
    score = noisy_or(np.array(w)) if w else 0.0
    differ = 0
    for field, (x, y) in (("phone", phones), ("address", addresses)):
        if x is not None and y is not None and x != y:
            differ += 1
            ev[f"different_{field}"] = True
    if has_ids and id_a != id_b:
        ev["id_number"] = "different pseudonymised ID numbers"
    score, judgement = same_name_verdict(score, differ, has_ids and id_a != id_b, t_same, t_distinct)
    return round(score, 4), judgement, json.dumps(ev, ensure_ascii=False)


def _none(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


_CANDIDATE_SCHEMA = "a_id string, b_id string, name string, score double, judgement string, evidence string"


def _name_block(block: pd.DataFrame, cap: int, t_same: float, t_distinct: float) -> pd.DataFrame:
    """The embedded same-name judgement over one name's persons (sorted by id, so positions order as ids)."""
    from graphrisk.analysis.hidden_links import normalize_address, normalize_phone, shared_value_pairs

    block = block.sort_values("id", kind="stable").reset_index(drop=True)
    n = len(block)
    nodes = np.arange(n)
    ids = [_none(v) for v in block["ident"].astype(object)]
    phone = [None if _none(v) is None else normalize_phone(v) for v in block["phone"].astype(object)]
    addr = [None if _none(v) is None else normalize_address(v) for v in block["address"].astype(object)]
    region = [a.split("|", 1)[0] if isinstance(a, str) else None for a in addr]
    name = str(block["name"].iloc[0])
    parts = []
    for key in (ids, phone, addr, region):
        kv = np.array([f"{name}\x1f{v}" if v is not None else None for v in key], dtype=object)
        parts.append(shared_value_pairs(nodes, kv, cap=cap)[["a", "b"]])
    # Persons without an address meet on the name alone (capped), so a review list shows them as unsure.
    no_key = np.array([r is None for r in region])
    if no_key.any():
        names = np.full(int(no_key.sum()), name, dtype=object)
        parts.append(shared_value_pairs(nodes[no_key], names, cap=cap)[["a", "b"]])
    pairs = pd.concat(parts).drop_duplicates()
    firms = [frozenset(f) if f is not None else frozenset() for f in block["firms"]]
    person = block["id"].astype(object).to_numpy()
    rows = []
    for a, b in zip(pairs["a"].tolist(), pairs["b"].tolist(), strict=True):
        common = sorted(firms[a] & firms[b])
        score, judgement, evidence = _judge(
            (ids[a], ids[b]), (phone[a], phone[b]), (addr[a], addr[b]), (region[a], region[b]), common,
            t_same, t_distinct,
        )  # fmt: skip
        rows.append((person[a], person[b], name, score, judgement, evidence))
    columns = ["a_id", "b_id", "name", "score", "judgement", "evidence"]
    out = pd.DataFrame(rows, columns=columns)
    # object dtype: pyspark 3.5's Arrow serializer cannot take pandas 3's Arrow-backed strings.
    return out.astype({c: object for c in columns if c != "score"}).astype({"score": "float64"})


def person_candidates(tables: dict[str, DataFrame], config: Config | None = None) -> DataFrame:
    """Pairs of persons with equal names judged ``same``, ``distinct`` or ``unsure``: ``a_id < b_id``, ``name``,
    ``score``, ``judgement``, ``evidence`` (the embedded ``same_name_candidates`` without the node numbers).

    Persons sharing a name meet in one executor task per name (``applyInPandas``), which pairs them within
    (name, key) blocks capped like the firm signals (keys: ID pseudonym, phone, address, region; the name alone
    for persons without an address) and judges each pair with the embedded evidence and weights. A task holds
    one name's persons: the most common name bounds it.

    >>> person_candidates(read_tables(spark, Path("data"))).where("judgement = 'same'").show()  # doctest: +SKIP
    """
    F = _F()
    config = config or Config()
    cap = int(config.threshold("hidden_links_exclusivity_cap"))
    t_same, t_distinct = config.threshold("same_person_same"), config.threshold("same_person_distinct")
    per = tables["persons"]
    ident = F.col("id_pseudonym") if "id_pseudonym" in per.columns else F.lit(None).cast("string")
    names = per.groupBy("name").count().where(F.col("count") >= 2).select("name")
    dup = per.join(names, "name", "left_semi").select("id", "name", ident.alias("ident"), "phone", "address")
    firms = tables["officers"].groupBy(F.col("person_id").alias("id")).agg(F.collect_set("company_id").alias("firms"))
    return (
        dup.join(firms, "id", "left")
        .groupBy("name")
        .applyInPandas(lambda block: _name_block(block, cap, t_same, t_distinct), schema=_CANDIDATE_SCHEMA)
    )


def _canonical_persons(candidates: DataFrame) -> DataFrame | None:
    """``id, canon``: persons judged ``same`` merged (connected components), each to the smallest id; ``None``
    when no pair is ``same`` (every person is itself)."""
    F = _F()
    same = candidates.where(F.col("judgement") == "same").select(F.col("a_id").alias("src"), F.col("b_id").alias("dst"))
    if same.limit(1).count() == 0:
        return None
    return connected_components(same).select("id", F.col("component").alias("canon"))


# ---------------------------------------------------------------------------------------------- firm signals


def _ratio_frame(a: pd.Series, b: pd.Series) -> pd.Series:
    from rapidfuzz import fuzz

    pairs = zip(a.astype(object), b.astype(object), strict=True)
    return pd.Series([fuzz.ratio(x, y) / 100.0 for x, y in pairs], dtype="float64")


def _people_entries(tables: dict[str, DataFrame], canon: DataFrame | None, cap: int) -> DataFrame:
    """Officers (with the rank of their role) and person shareholders as entries, each person as the
    representative of the persons judged the same (its name and id make the detail)."""
    F = _F()
    firms = tables["enterprises"].select(F.col("id").alias("entity"))
    persons = tables["persons"].select(F.col("id").alias("person"), F.col("name").alias("vlabel"))
    role = F.col("role").cast("string")
    rank = F.when(role == "legal_representative", 2).when(role == "finance_head", 1).otherwise(0)
    officers = tables["officers"].select(
        F.lit("officer").alias("frame"), F.col("person_id").alias("person"), F.col("company_id").alias("entity"),
        rank.alias("rank"),
    )  # fmt: skip
    holders = tables["shareholdings"].select(
        F.lit("shareholder").alias("frame"), F.col("holder_id").alias("person"), F.col("company_id").alias("entity"),
        F.lit(0).alias("rank"),
    )  # fmt: skip
    people = officers.unionByName(holders).join(firms, "entity", "left_semi").join(persons, "person")
    if canon is None:
        people = people.withColumn("value", F.col("person"))
    else:
        c = canon.join(persons.toDF("canon", "canon_label"), "canon").withColumnRenamed("id", "person")
        people = people.join(c, "person", "left").select(
            "frame", "person", "entity", "rank",
            F.coalesce("canon", "person").alias("value"), F.coalesce("canon_label", "vlabel").alias("vlabel"),
        )  # fmt: skip
    none = F.lit(None).cast("string")
    return people.select("frame", "entity", "value", F.lit(cap).alias("cap"), "person", "vlabel", none.alias("label"),
                         "rank")  # fmt: skip


def firm_signals(
    tables: dict[str, DataFrame],
    config: Config | None = None,
    controllers: DataFrame | None = None,
    persons: DataFrame | None = None,
    *,
    prefilter: bool = False,
) -> DataFrame:
    """Every piece of evidence between two firms, as the embedded ``firm_signals``: ``a_id < b_id``, ``signal``,
    ``k`` (entities sharing the value), ``value``, ``weight``, ``detail``, and the embedded order of a pair's
    rows (``order_signal``, ``order_gap``, ``order_value``), which ties of equal weight follow in the reasons.

    Signals: address, phone, email, domain (of the e-mail, and of a ``website`` column when there is one),
    officers by role (legal representative, finance head, other), person shareholders, controller siblings
    (from ``controllers``: ``company_id``, ``controller_id``), look-alike names. ``persons`` is
    :func:`person_candidates` (computed when not given): persons judged ``same`` count as one. The normalisers
    and name cores run in one Python stage; every signal's (value, firm) entries go through one shuffle, where
    the cap drops hub values before any pair is formed. The result is checkpointed (links, groups and flags all
    read it).

    >>> firm_signals(tables, controllers=controllers).groupBy("signal").count().show()  # doctest: +SKIP
    """
    F = _F()
    config = config or Config()
    cap = int(config.threshold("hidden_links_exclusivity_cap"))
    ent = tables["enterprises"]
    specs = _contact_specs(ent, ("address", "phone", "email", "domain", "website"), prefilter)
    if "name" in ent.columns:
        region = [F.col("region")] if "region" in ent.columns else []
        specs.append((F.concat_ws("\x1e", F.col("name"), *region), "name", False))
    values = _normalised(ent, specs).select(F.col("kind").alias("frame"), F.col("id").alias("entity"), "value", "raw")
    # One branch for every kind: each kind as its own filter of the values would compute them once per kind.
    label = F.when(F.col("frame") == "name", F.split(F.col("raw"), "\x1e", 2)[0])
    entries = [_entries(values, F.col("frame"), cap, label=label)]
    canon = _canonical_persons(person_candidates(tables, config) if persons is None else persons)
    entries.append(_people_entries(tables, canon, cap))
    if controllers is not None:
        c = controllers.where(F.col("controller_id").isNotNull() & (F.col("company_id") != F.col("controller_id")))
        c = c.select(F.col("company_id").alias("entity"), F.col("controller_id").alias("value"))
        c = c.join(ent.select(F.col("id").alias("entity")), "entity", "left_semi")
        # Siblings under one controller: no decay, but a controller of more than hidden_links_controller_cap
        # firms (a state assets commission) is a visible group already and is left out. With several controllers
        # of one company (the ownership table has one), the controller id orders a pair's rows.
        ccap = int(config.threshold("hidden_links_controller_cap"))
        entries.append(_entries(c, F.lit("controller"), ccap, person=F.col("value")))
    # Materialised: the signal rows read the pairs in three branches (shared values, controllers, names).
    pairs = _value_pairs(_with_status(_union(entries), ent)).localCheckpoint()
    return _signal_rows(pairs, config, cap).localCheckpoint()


# ------------------------------------------------------------------------------------------ scores and links


def _kahan(values: np.ndarray) -> float:
    """Σ values with the compensated summation of pandas' group-by sum and mean, in the given order."""
    total = comp = 0.0
    for v in values.tolist():
        y = v - comp
        t = total + y
        comp = t - total - y
        total = t
    return total


def _noisy_or(weights: np.ndarray) -> float:
    """``round(1 − exp(Σ log(1 − w)), 4)`` over one pair's weights in the embedded row order, summed as the
    embedded ``score_pairs``' group-by sum (compensated)."""
    total = _kahan(np.log1p(-np.minimum(np.asarray(weights, dtype="float64"), 1.0 - 1e-12)))
    return float(np.round(1.0 - np.exp(total), 4))


def _noisy_or_frame(weights: pd.Series) -> pd.Series:
    return pd.Series([_noisy_or(w) for w in weights], index=weights.index, dtype="float64")


def _links_frame(threshold: float, cols: list[pd.Series]) -> pd.DataFrame:
    """Per pair (its rows in the embedded order): the score, and for pairs at the threshold the embedded
    ``signals`` and ``reasons`` (rows by weight, descending and stable, as ``detail (w=…)``)."""
    weights, details, signals = (c.reset_index(drop=True) for c in cols)
    flat = np.concatenate([np.asarray(w, dtype="float64") for w in weights]) if len(weights) else np.zeros(0)
    # The embedded text of a weight: weight.round(2).astype(str), here for the whole batch at once.
    texts = pd.Series(flat).round(2).astype(str).tolist()
    scores: list[float] = []
    names: list[str | None] = []
    reasons: list[str | None] = []
    start = 0
    for w, d, s in zip(weights, details, signals, strict=True):
        w = np.asarray(w, dtype="float64")
        score = _noisy_or(w)
        scores.append(score)
        if score >= threshold - 1e-12:
            order = sorted(range(len(w)), key=lambda i: -w[i])  # stable: equal weights keep the row order
            names.append(",".join(dict.fromkeys(str(s[i]) for i in order)))
            reasons.append("; ".join(f"{d[i]} (w={texts[start + i]})" for i in order))
        else:
            names.append(None)
            reasons.append(None)
        start += len(w)
    return pd.DataFrame(
        {
            "score": pd.Series(scores, dtype="float64"),
            "signals": pd.Series(names, dtype=object),
            "reasons": pd.Series(reasons, dtype=object),
        }
    )


def _mean_frame(scores: pd.Series) -> pd.Series:
    """Per row, the compensated mean of its scores rounded to 4 digits, as the embedded group statistics."""
    means = np.array([_kahan(np.asarray(s, dtype="float64")) / len(s) for s in scores], dtype="float64")
    return pd.Series(pd.Series(means).round(4).to_numpy(), index=scores.index)


def _double_udf(fn: Any):  # type: ignore[no-untyped-def]
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("double")  # type: ignore[call-overload]
    def apply(values: pd.Series) -> pd.Series:
        return fn(values)

    return apply


def _pair_rows(signals: DataFrame, *fields: str) -> Column:
    """A pair's signal rows as an array in the embedded row order (signal frame, run gap, first appearance)."""
    F = _F()
    return F.array_sort(F.collect_list(F.struct("order_signal", "order_gap", "order_value", *fields)))


def score_pairs(signals: DataFrame) -> DataFrame:
    """Noisy-OR per pair over its signals: ``a_id, b_id, score`` (rounded to 4 digits, as embedded).

    >>> score_pairs(firm_signals(tables)).orderBy(F.desc("score")).show()  # doctest: +SKIP
    """
    F = _F()
    per = signals.groupBy("a_id", "b_id").agg(_pair_rows(signals, "weight").alias("rows"))
    return per.select("a_id", "b_id", _double_udf(_noisy_or_frame)(F.col("rows.weight")).alias("score"))


def suspected_links(signals: DataFrame, config: Config | None = None) -> DataFrame:
    """Pairs scoring at least ``hidden_links_threshold``: ``a_id, b_id, score, signals, reasons``.

    ``reasons`` lists every signal as ``detail (w=…)``, strongest first (equal weights in the embedded row
    order); ``signals`` names each signal once, in that order. Scores and texts come from one pandas UDF over
    each pair's rows; the result is checkpointed.

    >>> suspected_links(firm_signals(tables, controllers=controllers)).show()  # doctest: +SKIP
    """
    F = _F()
    from pyspark.sql.functions import pandas_udf

    config = config or Config()
    threshold = config.threshold("hidden_links_threshold")

    @pandas_udf("score double, signals string, reasons string")  # type: ignore[call-overload]
    def links(*cols: pd.Series) -> pd.DataFrame:
        return _links_frame(threshold, list(cols))

    per = signals.groupBy("a_id", "b_id").agg(_pair_rows(signals, "weight", "detail", "signal").alias("rows"))
    scored = per.select("a_id", "b_id", links("rows.weight", "rows.detail", "rows.signal").alias("l"))
    # Materialised before the filter: Spark would otherwise run the UDF once for the filter and once more.
    scored = scored.select("a_id", "b_id", "l.score", "l.signals", "l.reasons").localCheckpoint()
    return scored.where(F.col("reasons").isNotNull())


def suspected_groups(links: DataFrame) -> DataFrame:
    """Connected sets of suspected links: ``group_id`` (1 … by size, best score, members), ``size``, ``members``
    (ids joined by ``;``), ``max_score``, ``mean_score``, ``links``. The numbering sorts the group table (one
    row per group).

    >>> suspected_groups(suspected_links(signals)).show()  # doctest: +SKIP
    """
    F, W = _F(), _window()
    cc = connected_components(links.select(F.col("a_id").alias("src"), F.col("b_id").alias("dst")))
    members = cc.groupBy("component").agg(
        F.count("*").alias("size"), F.array_join(F.array_sort(F.collect_list("id")), ";").alias("members")
    )
    # The embedded mean runs over the links in their listed order: score descending, then the ids.
    order = F.struct((-F.col("score")).alias("ns"), "a_id", "b_id", "score")
    stats = (
        links.join(cc.withColumnRenamed("id", "a_id"), "a_id")
        .groupBy("component")
        .agg(
            F.max("score").alias("max_score"),
            F.count("*").alias("links"),
            F.array_sort(F.collect_list(order)).alias("s"),
        )
        .select("component", "max_score", "links", _double_udf(_mean_frame)(F.col("s.score")).alias("mean_score"))
    )
    groups = members.join(stats, "component")
    rank = W.orderBy(F.desc("size"), F.desc("max_score"), F.asc("members"))
    return groups.select(
        F.row_number().over(rank).cast("long").alias("group_id"), "size", "members", "max_score", "mean_score", "links"
    )


def related_transactions(
    tables: dict[str, DataFrame], links: DataFrame, controllers: DataFrame | None = None
) -> DataFrame:
    """Guarantees and supply between suspected-linked or same-controller firms with no visible tie (no direct
    shareholding either way, no person who is officer or holder of both): ``kind``, ``from_id``, ``to_id``,
    ``amount``, ``basis``, ``score``, ``reason``, as the embedded ``related_transactions``.

    >>> related_transactions(tables, links, controllers).show()  # doctest: +SKIP
    """
    F = _F()
    parts = []
    for kind, table, src, dst in (("guarantee", "guarantees", "guarantor_id", "borrower_id"),
                                  ("supply", "supply_links", "supplier_id", "customer_id")):  # fmt: skip
        t = tables[table]
        amount = F.col("amount").cast("double") if "amount" in t.columns else F.lit(None).cast("double")
        parts.append(t.select(F.lit(kind).alias("kind"), F.col(src).alias("from_id"), F.col(dst).alias("to_id"),
                              amount.alias("amount")))  # fmt: skip
    # Both ends are firms wherever a basis is found (links and controllers join firms only): no check needed.
    tx = _union(parts).where(F.col("from_id") != F.col("to_id"))
    tx = tx.withColumn("a_id", F.least("from_id", "to_id")).withColumn("b_id", F.greatest("from_id", "to_id"))
    lk = links.select("a_id", "b_id", "score", F.col("reasons").alias("why"))
    tx = tx.join(lk, ["a_id", "b_id"], "left")
    tx = tx.withColumn("basis", F.when(F.col("score").isNotNull(), F.lit("suspected link")))
    if controllers is not None:
        c = controllers.where(F.col("controller_id").isNotNull() & (F.col("company_id") != F.col("controller_id")))
        c = c.select("company_id", "controller_id")
        tx = tx.join(c.toDF("from_id", "c_from"), "from_id", "left").join(c.toDF("to_id", "c_to"), "to_id", "left")
        same = F.col("basis").isNull() & (F.col("c_from") == F.col("c_to"))
        same = F.coalesce(same, F.lit(False))
        tx = tx.select(
            "kind", "from_id", "to_id", "a_id", "b_id", "amount",
            F.when(same, F.lit("same actual controller")).otherwise(F.col("basis")).alias("basis"),
            F.when(same, F.lit(1.0)).otherwise(F.col("score")).alias("score"),
            F.when(same, F.concat(F.lit("same actual controller "), F.col("c_from")))
            .otherwise(F.col("why")).alias("why"),
        )  # fmt: skip
    tx = tx.where(F.col("basis").isNotNull())
    own = tables["shareholdings"]
    direct = own.select(
        F.least("holder_id", "company_id").alias("a_id"), F.greatest("holder_id", "company_id").alias("b_id")
    )
    person_ids = tables["persons"].select(F.col("id").alias("person"))
    people = (
        tables["officers"].select(F.col("person_id").alias("person"), F.col("company_id").alias("firm"))
        .unionByName(own.select(F.col("holder_id").alias("person"), F.col("company_id").alias("firm"))
                     .join(person_ids, "person", "left_semi"))
        .distinct()
    )  # fmt: skip
    wanted = tx.select("a_id", "b_id").distinct()
    shared = (
        wanted.join(people.toDF("person", "a_id"), "a_id")
        .join(people.toDF("person", "b_id"), ["person", "b_id"])
        .select("a_id", "b_id")
    )
    visible = direct.unionByName(shared).distinct()
    tx = tx.join(visible, ["a_id", "b_id"], "left_anti")
    words = F.when(F.col("kind") == "guarantee", F.lit("guarantee")).otherwise(F.lit("trade"))
    reason = F.concat(F.lit("related-party "), words, F.lit(" not visible in ownership: "), F.col("why"))
    return tx.select("kind", "from_id", "to_id", "amount", "basis", "score", reason.alias("reason"))


# ------------------------------------------------------------------------------------------------- flags


def _link_flag_frame(cols: list[pd.Series]) -> pd.DataFrame:
    """The embedded suspected_link flag texts: reason with the strongest link, evidence with the top links."""
    n, best, first, strongest, others, scores, signals = cols
    reasons, evidence = [], []
    suffix = " [a link ≥ 0.90 not explained by a common controller]"
    for k, b, o, r, oo, ss, sg in zip(n, best, first, strongest, others, scores, signals, strict=True):
        reasons.append(f"suspected links to {int(k)} firm(s), strongest {o} (score {b:.2f}): {r}{suffix}")
        items = [
            json.dumps({"other": x, "score": round(float(s), 4), "signals": t}, ensure_ascii=False)
            for x, s, t in zip(oo, ss, sg, strict=True)
        ]
        evidence.append(f'{{"links": {int(k)}, "top": [{", ".join(items)}]}}')
    return pd.DataFrame({"reason": pd.Series(reasons, dtype=object), "evidence": pd.Series(evidence, dtype=object)})


def _tx_evidence_frame(to: pd.Series, amount: pd.Series, basis: pd.Series) -> pd.Series:
    items = [
        json.dumps({"to": t, "amount": float(a), "basis": b}, ensure_ascii=False)
        for t, a, b in zip(to.astype(object), amount.astype("float64"), basis.astype(object), strict=True)
    ]
    return pd.Series(items, index=to.index, dtype=object)


def link_flags(links: DataFrame, transactions: DataFrame, *, top: int = 5) -> DataFrame:
    """The embedded hidden-link flags: ``entity_id, flag, severity, reason, evidence``.

    ``suspected_link`` (medium) for each firm with a link ≥ 0.9 whose signals name no common controller (its
    strongest link in the reason, up to ``top`` links in the evidence); ``undisclosed_related_guarantee`` /
    ``undisclosed_related_supply`` (high) for each related transaction, on its ``from_id``.

    >>> link_flags(links, transactions).groupBy("flag").count().show()  # doctest: +SKIP
    """
    F = _F()
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("reason string, evidence string")  # type: ignore[call-overload]
    def link_texts(*cols: pd.Series) -> pd.DataFrame:
        return _link_flag_frame(list(cols))

    @pandas_udf("string")  # type: ignore[call-overload]
    def tx_evidence(to: pd.Series, amount: pd.Series, basis: pd.Series) -> pd.Series:
        return _tx_evidence_frame(to, amount, basis)

    strong = ~F.col("signals").contains("controller") & (F.col("score") >= 0.9)
    ends = [
        links.select(F.col(x).alias("entity_id"), F.col(y).alias("other"), "score", "signals", strong.alias("strong"))
        for x, y in (("a_id", "b_id"), ("b_id", "a_id"))
    ]
    long = ends[0].unionByName(ends[1])
    item = F.struct((-F.col("score")).alias("ns"), "other", "score", "signals")
    per = (
        long.groupBy("entity_id")
        .agg(F.count("*").alias("n"), F.max("score").alias("best"), F.max(F.col("strong").cast("int")).alias("medium"),
             F.array_sort(F.collect_list(item)).alias("items"))
        .where(F.col("medium") == 1)
        .withColumn("first", F.col("items")[0]["other"])
        .withColumn("top", F.slice("items", 1, top))
    )  # fmt: skip
    pair = links.select("a_id", "b_id", "reasons")
    per = per.join(
        pair, (F.least("entity_id", "first") == F.col("a_id")) & (F.greatest("entity_id", "first") == F.col("b_id"))
    )
    texts = link_texts("n", "best", "first", "reasons", F.col("top.other"), F.col("top.score"), F.col("top.signals"))
    # The texts as one struct column first: two field extractions of the UDF call would run it twice.
    suspected = per.select("entity_id", texts.alias("t")).select(
        "entity_id", F.lit("suspected_link").alias("flag"), F.lit("medium").alias("severity"), "t.reason",
        "t.evidence",
    )  # fmt: skip
    t = transactions
    undisclosed = t.select(
        F.col("from_id").alias("entity_id"),
        F.concat(F.lit("undisclosed_related_"), F.col("kind")).alias("flag"),
        F.lit("high").alias("severity"),
        F.concat(F.col("reason"), F.lit(" ("), F.col("from_id"), F.lit(" → "), F.col("to_id"), F.lit(")")).alias(
            "reason"
        ),
        tx_evidence("to_id", "amount", "basis").alias("evidence"),
    )
    return suspected.unionByName(undisclosed)


# ---------------------------------------------------------------------------------------------- the analysis


def hidden_links_analysis(
    tables: dict[str, DataFrame],
    config: Config | None = None,
    controllers: DataFrame | None = None,
    *,
    prefilter: bool = False,
) -> dict[str, DataFrame]:
    """The embedded scan's hidden-link tables and flags on Spark: ``suspected_links``, ``suspected_groups``,
    ``person_candidates``, ``related_transactions`` (the names of the embedded ``AnalysisResult.tables``),
    ``flags``, and ``signals`` (every piece of evidence, for the per-signal counts).

    ``controllers`` is the ownership step's table (``company_id``, ``controller_id``, …); without it the
    controller signal and the same-controller transactions are left out, as embedded. Signals, candidates and
    links are checkpointed: every table reads them.

    >>> out = hidden_links_analysis(read_tables(spark, Path("data")), controllers=controllers)  # doctest: +SKIP
    >>> sorted(out)  # doctest: +SKIP
    ['flags', 'person_candidates', 'related_transactions', 'signals', 'suspected_groups', 'suspected_links']
    """
    config = config or Config()
    persons = person_candidates(tables, config).localCheckpoint()
    signals = firm_signals(tables, config, controllers, persons, prefilter=prefilter)
    links = suspected_links(signals, config)
    transactions = related_transactions(tables, links, controllers).localCheckpoint()
    return {
        "suspected_links": links,
        "suspected_groups": suspected_groups(links),
        "person_candidates": persons,
        "related_transactions": transactions,
        "flags": link_flags(links, transactions),
        "signals": signals,
    }
