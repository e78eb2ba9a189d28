"""The contagion analysis on Spark: network PD, systemic importance, cascades, Monte Carlo, chain losses, flags.

The embedded ``contagion_analysis`` (:mod:`graphrisk.analysis.contagion`) as DataFrame rounds over the impact network
of :func:`.steps.impact_edges` (``source_id`` defaults, ``target_id`` loses ``impact`` of its equity):

==============================  ================================================  ====================================
what                            embedded counterpart                              how it runs on Spark
==============================  ================================================  ====================================
:func:`standalone_pd`,          ``standalone_pd``, ``loss_weights``, ``ead``      projections and one group-by
:func:`firm_exposure`
:func:`network_pd`              ``network_pd`` (VulnDS fixed point)               the embedded kernel per batch of whole
                                                                                  impact components; above the cap, per
                                                                                  round one join + group-by per target
:func:`candidates_by_exposure`  ``candidates_by_exposure``                        a group-by and a distributed top-k
:func:`systemic_importance`     ``systemic_importance`` (single hit, sparse)      the embedded kernel per batch of
                                                                                  components; above the cap, scenarios
                                                                                  batched: state keyed by (scenario,
                                                                                  id), one join + group-by per round
:func:`default_cascade`         ``default_cascade`` / ``_cascade_batch``          rounds as above, over new defaults
:func:`linear_debtrank`         ``debtrank(method="linear")``                     the same, over the increments
:func:`monte_carlo`             ``monte_carlo`` (cascade model)                   draws on the driver (the embedded
                                                                                  generator, scenario by scenario);
                                                                                  cascades per batch of components
:func:`spectral_radius`         ``spectral_radius`` (ARPACK)                      per batch of components, the largest
:func:`chain_losses`            ``chain_losses``                                  explode + join + group-by; reasons
                                                                                  in a pandas UDF
:func:`contagion_flags`         the analysis's flags and ``reasons``              filters; reasons and evidence in a
                                                                                  pandas UDF (Python formatting)
==============================  ================================================  ====================================

A round is one Spark job: the new state is checkpointed lazily and filled by the aggregate that gives the loop its
control number. The rounds run with adaptive query execution off (:func:`_rounds`), so the state keeps its hash
partitioning by firm and the edges theirs by source: a round shuffles only the distress it passes on. Only those
control numbers (one per round), a few scalars (total EAD, firm count) and the Monte Carlo's per-scenario losses
(one row per scenario, for the quantiles) reach the driver, plus the PD vector for the Monte Carlo draws.

Network PD, systemic importance, the Monte Carlo cascades and the spectral radius run the embedded kernels per batch
of whole impact components up to :data:`COMPONENT_CAP` (:func:`impact_components`); the rounds above serve larger
components. Not ported: the ``[[stress]]`` scenarios of ``graphrisk.toml`` (their contagion paths), and the
spectral radius of a component above the cap; :data:`NOT_PORTED` says so and the scan lists it.

>>> # doctest: +SKIP
>>> out = contagion_analysis(tables, date(2026, 6, 30), Config())
>>> sorted(out)
['contagion', 'flags', 'monte_carlo', 'systemic_importance']
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from graphrisk.analysis import FLAG_COLUMNS
from graphrisk.analysis.contagion import (
    DEFAULT_LGD,
    MonteCarloResult,
    _batch_size,
    _flag,
    loss_exceedance,
)
from graphrisk.config import Config
from graphrisk.engines.spark.steps import impact_edges
from graphrisk.units import format_cny

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row, SparkSession

__all__ = [
    "COMPONENT_CAP",
    "NOT_PORTED",
    "candidates_by_exposure",
    "chain_losses",
    "contagion_analysis",
    "contagion_flags",
    "contagion_summary",
    "default_cascade",
    "firm_exposure",
    "impact_components",
    "linear_debtrank",
    "losses_document",
    "monte_carlo",
    "network_pd",
    "spectral_radius",
    "standalone_pd",
    "systemic_importance",
]

NOT_PORTED: tuple[str, ...] = (
    "contagion: spectral radius of impact components above the cap (summary: null, with a note)",
    "contagion: [[stress]] scenarios of graphrisk.toml (stress.csv, stress_hits.csv, their contagion paths)",
)

_EPS = 1e-12  # the embedded tolerance: a loss fraction within it of a threshold reaches it
_FLAG_SCHEMA = "entity_id string, flag string, severity string, reason string, evidence string"


def _F():  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    return F


def _union(frames: Sequence[DataFrame]) -> DataFrame:
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return out


@contextmanager
def _rounds(spark: SparkSession) -> Iterator[int]:
    """Adaptive query execution off while the rounds run, yielding the shuffle partition count.

    An adaptive plan reports no output partitioning, so a checkpointed state would be shuffled again every round;
    with plain plans it keeps its hash partitioning by key, and the impact edges, hash-partitioned by source once,
    are not shuffled again either: a round shuffles only the distress it passes on (and the new state once)."""
    key = "spark.sql.adaptive.enabled"
    before = spark.conf.get(key) or "true"
    spark.conf.set(key, "false")
    try:
        yield int(spark.conf.get("spark.sql.shuffle.partitions") or 200)
    finally:
        spark.conf.set(key, before)


def _materialise(frame: DataFrame, *measures: Column) -> tuple[DataFrame, Row]:
    """Cut ``frame``'s lineage (local checkpoint) and compute the round's loop-control numbers in one job: the lazy
    checkpoint is filled by the aggregate, which reads every partition, so a round costs one job, not two."""
    out = frame.localCheckpoint(eager=False)
    row = out.agg(*measures).first()
    assert row is not None  # an aggregate without grouping has one row
    return out, row


# ----------------------------------------------------------------------------------------------- per firm


def standalone_pd(tables: dict[str, DataFrame]) -> DataFrame:
    """Each enterprise's own PD as the embedded ``standalone_pd``: ``id``, ``pd`` (1 when already defaulted, 0 when
    missing; not clipped), ``pd_missing`` (neither a PD nor a default)."""
    F = _F()
    ent = tables["enterprises"]
    p = F.col("pd").cast("double") if "pd" in ent.columns else F.lit(None).cast("double")
    if "defaulted" in ent.columns:
        p = F.when(F.coalesce(F.col("defaulted"), F.lit(False)), F.lit(1.0)).otherwise(p)
    return ent.select("id", F.coalesce(p, F.lit(0.0)).alias("pd"), p.isNull().alias("pd_missing"))


def firm_exposure(tables: dict[str, DataFrame]) -> DataFrame:
    """The bank's exposure per enterprise: ``id``, ``ead`` (Σ EAD of its facilities, 0 without one) and
    ``loss_weight`` (Σ EAD × LGD, a missing LGD read as the Basel foundation 45 %), as ``EnterpriseGraph.ead``
    and ``loss_weights``."""
    F = _F()
    exp = tables["exposures"]
    lgd = F.coalesce(F.col("lgd"), F.lit(DEFAULT_LGD)) if "lgd" in exp.columns else F.lit(DEFAULT_LGD)
    per = exp.groupBy(F.col("borrower_id").alias("id")).agg(
        F.sum("ead").alias("ead"), F.sum(F.col("ead") * lgd).alias("loss_weight")
    )
    return (
        tables["enterprises"]
        .select("id")
        .join(per, "id", "left")
        .select(
            "id", F.coalesce("ead", F.lit(0.0)).alias("ead"), F.coalesce("loss_weight", F.lit(0.0)).alias("loss_weight")
        )
    )


# ------------------------------------------------------------------------------------------------ network PD


def network_pd(
    pd_frame: DataFrame,
    impact: DataFrame,
    *,
    transmission: float = 1.0,
    tol: float = 1e-12,
    max_iter: int = 1000,
    components: DataFrame | None = None,
) -> DataFrame:
    """Network PD (VulnDS) of every firm of ``pd_frame`` (``id``, ``pd``), as the embedded ``network_pd``:
    p(v) = 1 − (1 − pd(v)) · Π_x (1 − min(1, transmission · impact[x, v]) · p(x)) iterated from p = pd until no
    firm moves by more than ``tol``.

    With ``components`` (:func:`impact_components`), each batch of whole components up to the cap runs the embedded
    ``network_pd`` on its own impact matrix in one executor task: a component's fixed point does not depend on the
    others, and each batch stops by the same rule (no firm of the batch moves by more than ``tol``), so the results
    differ from one global iteration by less than the tolerance. Components above the cap, and all firms without
    ``components``, run distributed rounds: one join of the impact edges with the current p of their source and a
    group-by per round summing, per target, the logs of the survival terms (log space as embedded, so a product over
    many neighbours stays exact). A firm on no impact edge keeps its PD. Returns ``id``, ``pd`` (the standalone PD
    clipped to [0, 1]), ``network_pd``, ``uplift``.

    >>> # doctest: +SKIP
    >>> network_pd(standalone_pd(tables), impact).orderBy(F.desc("uplift")).show(3)
    """
    F = _F()
    p0 = F.least(F.lit(1.0), F.greatest(F.lit(0.0), F.coalesce(F.col("pd").cast("double"), F.lit(0.0))))
    start = pd_frame.select("id", p0.alias("pd"))
    if components is None:
        found = _network_pd_rounds(start, impact, transmission=transmission, tol=tol, max_iter=max_iter)
        return found.select(
            "id", F.col("p0").alias("pd"), "network_pd", (F.col("network_pd") - F.col("p0")).alias("uplift")
        )
    big = components.where(F.col("_batch") < 0).select("id")
    parts = []
    if big.limit(1).count():  # the rounds only for components above the cap
        rounds = _network_pd_rounds(
            start.join(big, "id", "left_semi"),
            impact.join(big.withColumnRenamed("id", "source_id"), "source_id", "left_semi"),
            transmission=transmission, tol=tol, max_iter=max_iter,
        )  # fmt: skip
        parts.append(rounds.select("id", "network_pd"))
    nodes = components.where(F.col("_batch") >= 0).select("_batch", "id", "local").join(start, "id", "left")

    def task(e: pd.DataFrame, f: pd.DataFrame) -> pd.DataFrame:
        return _network_pd_batch(e, f, transmission=transmission, tol=tol, max_iter=max_iter)

    batches = (
        _batch_edges(impact, components)
        .groupBy("_edge_batch")
        .cogroup(nodes.groupBy("_batch"))
        .applyInPandas(task, schema="id string, network_pd double")
    )
    found = _union([batches, *parts])
    out = start.join(found, "id", "left").select("id", "pd", F.coalesce("network_pd", "pd").alias("network_pd"))
    return out.withColumn("uplift", F.col("network_pd") - F.col("pd"))


def _network_pd_batch(
    edges: pd.DataFrame, nodes: pd.DataFrame, *, transmission: float, tol: float, max_iter: int
) -> pd.DataFrame:
    """The embedded ``network_pd`` of one batch of whole impact components (``nodes``: ``id, local, pd``; ``edges``
    from :func:`_batch_edges`)."""
    from graphrisk.analysis.contagion import network_pd as embedded_network_pd

    if not len(nodes):
        return pd.DataFrame({"id": [], "network_pd": []})
    nodes = nodes.sort_values("local", kind="stable")
    it = _batch_transpose(edges, nodes["local"].to_numpy(dtype="int64"))
    result = embedded_network_pd(_col(nodes, "pd"), it.T, transmission=transmission, tol=tol, max_iter=max_iter)
    return pd.DataFrame({"id": nodes["id"].to_numpy(), "network_pd": result.network_pd})


def _network_pd_rounds(
    start: DataFrame, impact: DataFrame, *, transmission: float, tol: float, max_iter: int
) -> DataFrame:
    """:func:`network_pd` by distributed rounds over ``start`` (``id``, ``pd`` clipped): ``id, p0, network_pd``."""
    F = _F()
    with _rounds(impact.sparkSession) as parts:
        state = start.select("id", F.col("pd").alias("p0")).withColumn("p", F.col("p0")).repartition(parts, "id")
        cond = impact.select(
            "source_id", F.col("target_id").alias("id"), F.least(F.lit(1.0), transmission * F.col("impact")).alias("c")
        )
        cond = cond.repartition(parts, "source_id").localCheckpoint(eager=False)
        # A firm already in default (p0 = 1) survives with probability 0 whatever its neighbours do.
        base = F.log1p(-F.col("p0"))
        for _ in range(max_iter):
            px = state.select(F.col("id").alias("source_id"), F.col("p").alias("px"))
            terms = (
                cond.join(px, "source_id")
                .groupBy("id")
                .agg(F.sum(F.log1p(-F.least(F.col("c") * F.col("px"), F.lit(1.0 - 1e-16)))).alias("t"))
            )
            new = F.when(F.col("p0") >= 1.0, F.lit(1.0)).otherwise(
                F.greatest(F.col("p0"), -F.expm1(base + F.coalesce(F.col("t"), F.lit(0.0))))
            )
            step = state.join(terms, "id", "left").select(
                "id", "p0", new.alias("p"), F.abs(new - F.col("p")).alias("d")
            )
            state, row = _materialise(step, F.max("d"))
            if row[0] is None or row[0] <= tol:
                break
    return state.select("id", "p0", F.col("p").alias("network_pd"))


# ------------------------------------------------------------------------------------ scenarios, batched


def _edges(impact: DataFrame, parts: int) -> DataFrame:
    """The impact edges for the rounds: ``source_id``, ``id`` (the target), ``impact``, hash-partitioned by source
    once (call inside :func:`_rounds`)."""
    F = _F()
    edges = impact.select("source_id", F.col("target_id").alias("id"), F.col("impact").cast("double").alias("impact"))
    return edges.repartition(parts, "source_id").localCheckpoint(eager=False)


def _single_hit_rounds(edges: DataFrame, state: DataFrame, *, min_distress: float, max_rounds: int) -> DataFrame:
    """Single-hit DebtRank on a state ``scenario, id, h, fresh`` (fresh: distressed last round, passes it on now).

    As the embedded ``_single_hit_sparse``: a firm passes on the distress it has at the end of the round it is
    first reached, once; reached below ``min_distress`` it is recorded but passes nothing on. ``edges`` from
    :func:`_edges`, inside :func:`_rounds`."""
    F = _F()
    floor = max(min_distress, 1e-300)
    fresh = F.sum(F.col("fresh").cast("long"))
    state, row = _materialise(state, fresh)
    for _ in range(max_rounds):
        if not row[0]:
            return state.select("scenario", "id", "h")
        push = (
            state.where("fresh")
            .select("scenario", F.col("id").alias("source_id"), F.col("h").alias("hs"))
            .join(edges, "source_id")
            .groupBy("scenario", "id")
            .agg(F.sum(F.col("impact") * F.col("hs")).alias("dh"))
        )
        h = F.least(F.lit(1.0), F.coalesce(F.col("h"), F.lit(0.0)) + F.coalesce(F.col("dh"), F.lit(0.0)))
        state, row = _materialise(
            state.join(push, ["scenario", "id"], "full_outer").select(
                "scenario", "id", h.alias("h"), (F.col("h").isNull() & (h >= floor)).alias("fresh")
            ),
            fresh,
        )
    raise RuntimeError(f"DebtRank did not settle in {max_rounds} rounds")  # pragma: no cover


def candidates_by_exposure(impact: DataFrame, exposure: DataFrame, limit: int) -> DataFrame:
    """The ``limit`` firms with the largest EAD, then the most firms they impact (out-degree), then the lowest id,
    among firms whose default reaches someone: ``id``, ``ead``, ``degree``. As the embedded function (node
    order is id order there); the top-k is Spark's distributed ``orderBy(...).limit``."""
    F = _F()
    degree = impact.groupBy(F.col("source_id").alias("id")).agg(F.count("*").alias("degree"))
    ranked = exposure.select("id", "ead").join(degree, "id")
    return ranked.orderBy(F.col("ead").desc(), F.col("degree").desc(), F.col("id")).limit(int(limit))


def _totals(exposure: DataFrame) -> tuple[float, int]:
    F = _F()
    row = exposure.agg(F.sum("ead").alias("total"), F.count("*").alias("n")).first()
    assert row is not None
    return float(row["total"] or 0.0), int(row["n"])


def _batched(frame: DataFrame, column: str, batch: int) -> tuple[DataFrame, int]:
    """``frame`` (small: candidates, scenarios) with a ``_batch`` number by ``column`` order, and the batch count."""
    F = _F()
    from pyspark.sql import Window

    out = frame.withColumn("_batch", F.floor((F.row_number().over(Window.orderBy(column)) - 1) / int(batch)))
    out = out.localCheckpoint(eager=False)
    count = out.count()
    return out, math.ceil(count / batch) if count else 0


def systemic_importance(
    impact: DataFrame,
    candidates: DataFrame,
    exposure: DataFrame,
    *,
    hit_distress: float = 0.0,
    min_distress: float = 0.0,
    batch: int = 256,
    max_rounds: int = 10_000,
    components: DataFrame | None = None,
) -> DataFrame:
    """Single-hit DebtRank of each candidate (``candidates.id``) defaulting alone, as the embedded
    ``systemic_importance`` with EAD weights (uniform when the portfolio has no EAD).

    With ``components`` (:func:`impact_components`), candidates in a component of at most its cap run the embedded
    kernel on their component's impact matrix, one executor task per batch of whole components (a default reaches
    only its own component); the others, and all of them without ``components``, run distributed rounds:
    ``batch`` candidates at a time, the state keyed by (scenario, id) and holding only the firms each default
    reaches (so bounded by ``batch`` × the largest reach), one join and one group-by per round over the firms
    distressed in the last round. Returns the embedded columns, ranked (``rank`` 1 = most systemic; ties by loss,
    then id): ``id``, ``systemic_debtrank``, ``rank``, ``firms_hit``, ``new_defaults``, ``loss_if_default``,
    ``ead_hit_share``.

    >>> # doctest: +SKIP
    >>> systemic_importance(impact, candidates_by_exposure(impact, exp, 100), exp, hit_distress=0.05).show(5)
    """
    F = _F()
    from pyspark.sql import Window

    total, n = _totals(exposure)
    w = F.col("ead") / total if total > 0 else F.lit(1.0 / max(n, 1))
    firms = exposure.select("id", "ead", "loss_weight", w.alias("w"))
    candidates = candidates.select("id").distinct()
    parts = []
    if components is not None:
        parts.append(
            _systemic_by_component(
                impact, candidates, firms, components, total, hit_distress=hit_distress, min_distress=min_distress
            )
        )
        # Only the candidates of components above the cap (batch −1) are left for the rounds.
        big = components.where(F.col("_batch") < 0).select("id")
        candidates = candidates.join(big, "id", "left_semi")
        impact = impact.join(big.withColumnRenamed("id", "source_id"), "source_id", "left_semi")
    cands, batches = _batched(candidates, "id", batch)
    with _rounds(impact.sparkSession) as shuffle:
        edges = _edges(impact, shuffle)
        for b in range(batches):
            seeds = cands.where(F.col("_batch") == b).select(
                F.col("id").alias("scenario"), "id", F.lit(1.0).alias("h"), F.lit(True).alias("fresh")
            )
            h = _single_hit_rounds(edges, seeds, min_distress=min_distress, max_rounds=max_rounds)
            other = F.col("id") != F.col("scenario")  # the seed is counted in its loss only
            above = other & (F.col("h") > hit_distress)
            part = (
                h.join(firms, "id")
                .groupBy(F.col("scenario").alias("id"))
                .agg(
                    F.coalesce(F.sum(F.when(other, F.col("h") * F.col("w"))), F.lit(0.0)).alias("systemic_debtrank"),
                    F.sum(F.when(above, 1).otherwise(0)).cast("long").alias("firms_hit"),
                    F.sum(F.when(other & (F.col("h") >= 1.0 - _EPS), 1).otherwise(0))
                    .cast("long")
                    .alias("new_defaults"),
                    F.sum(F.col("h") * F.col("loss_weight")).alias("loss_if_default"),
                    (
                        F.coalesce(F.sum(F.when(above, F.col("ead"))), F.lit(0.0)) / total if total > 0 else F.lit(0.0)
                    ).alias("ead_hit_share"),
                )
            )
            parts.append(part.localCheckpoint())
    if not parts:
        spark = impact.sparkSession
        schema = (
            "id string, systemic_debtrank double, rank int, firms_hit long, new_defaults long, "
            "loss_if_default double, ead_hit_share double"
        )
        return spark.createDataFrame([], schema)
    # As embedded: DebtRank compared at 12 decimals and losses to the cent, so summation noise reorders no tie.
    ranking = Window.orderBy(
        F.bround("systemic_debtrank", 12).desc(), F.bround("loss_if_default", 2).desc(), F.col("id")
    )
    return _union(parts).select(
        "id",
        "systemic_debtrank",
        F.row_number().over(ranking).alias("rank"),
        "firms_hit",
        "new_defaults",
        "loss_if_default",
        "ead_hit_share",
    )


def default_cascade(
    impact: DataFrame, seeds: DataFrame, *, threshold: float = 1.0, max_rounds: int = 10_000
) -> DataFrame:
    """Threshold cascades (Furfine 2003) of many scenarios at once, as the embedded ``_cascade_batch``.

    ``seeds``: ``scenario``, ``id``, ``initial`` (the initial loss fraction, 1 = defaulted). A firm defaults once
    its initial plus cumulated loss reaches ``threshold``; each default passes its full impact on in the next round.
    One join and one group-by per round over the new defaults of the last round; the state holds only the firms
    reached. Returns ``scenario``, ``id``, ``distress`` (capped at 1), ``defaulted``, ``round`` (0 for the seeds,
    −1 for no default) for every firm reached, as ``CascadeResult.to_frame`` per scenario.
    """
    with _rounds(impact.sparkSession) as shuffle:
        return _cascade_rounds(_edges(impact, shuffle), seeds, threshold=threshold, max_rounds=max_rounds)


def _cascade_rounds(edges: DataFrame, seeds: DataFrame, *, threshold: float, max_rounds: int) -> DataFrame:
    """:func:`default_cascade` on edges from :func:`_edges`, inside :func:`_rounds`."""
    F = _F()
    cut = threshold - _EPS
    s0 = F.col("initial").cast("double")
    state = seeds.select(
        "scenario", "id", s0.alias("initial"), F.lit(0.0).alias("loss"), (s0 >= cut).alias("defaulted"),
        F.when(s0 >= cut, 0).otherwise(-1).alias("round"), (s0 >= cut).alias("fresh"),
    )  # fmt: skip
    fresh = F.sum(F.col("fresh").cast("long"))
    state, row = _materialise(state, fresh)
    for r in range(1, max_rounds + 1):
        if not row[0]:
            break
        push = (
            state.where("fresh")
            .select("scenario", F.col("id").alias("source_id"))
            .join(edges, "source_id")
            .groupBy("scenario", "id")
            .agg(F.sum("impact").alias("inc"))
        )
        initial = F.coalesce(F.col("initial"), F.lit(0.0))
        loss = F.coalesce(F.col("loss"), F.lit(0.0)) + F.coalesce(F.col("inc"), F.lit(0.0))
        was = F.coalesce(F.col("defaulted"), F.lit(False))
        new = F.col("inc").isNotNull() & (initial + loss >= cut) & ~was
        state, row = _materialise(
            state.join(push, ["scenario", "id"], "full_outer").select(
                "scenario", "id", initial.alias("initial"), loss.alias("loss"), (was | new).alias("defaulted"),
                F.when(new, F.lit(r)).otherwise(F.coalesce(F.col("round"), F.lit(-1))).alias("round"),
                new.alias("fresh"),
            ),
            fresh,
        )  # fmt: skip
    else:  # pragma: no cover - every firm defaults at most once, so rounds ≤ firms reached
        raise RuntimeError(f"the cascade did not settle in {max_rounds} rounds")
    distress = F.least(F.lit(1.0), F.col("initial") + F.col("loss"))
    return state.where(distress > 0).select(
        "scenario", "id", distress.alias("distress"), "defaulted", F.col("round").cast("long").alias("round")
    )


def linear_debtrank(impact: DataFrame, seeds: DataFrame, *, tol: float = 1e-12, max_rounds: int = 10_000) -> DataFrame:
    """Linear DebtRank (Bardoscia et al. 2015) of many scenarios at once, as the embedded ``_linear_batch``.

    ``seeds``: ``scenario``, ``id``, ``initial`` (ψ, capped at 1). Every increment of distress propagates again:
    s += Iᵀ(h − h_prev), h = min(1, s). Stops once no firm's distress grew, or once a round adds less than ``tol``
    (Euclidean norm of the step) in every scenario of the batch (the embedded rule; one number per round reaches
    the driver). Returns ``scenario``, ``id``, ``initial``, ``distress`` for every firm reached.
    """
    with _rounds(impact.sparkSession) as shuffle:
        return _linear_rounds(_edges(impact, shuffle), seeds, tol=tol, max_rounds=max_rounds)


def _linear_rounds(edges: DataFrame, seeds: DataFrame, *, tol: float, max_rounds: int) -> DataFrame:
    """:func:`linear_debtrank` on edges from :func:`_edges`, inside :func:`_rounds`."""
    F = _F()
    h0 = F.least(F.lit(1.0), F.col("initial").cast("double"))
    state = seeds.select("scenario", "id", h0.alias("initial"), h0.alias("s"), h0.alias("h"), h0.alias("inc"))
    state, row = _materialise(state, F.max("inc"))
    if not (row[0] or 0) > 0:
        max_rounds = 0
    for _ in range(max_rounds):
        push = (
            state.where(F.col("inc") > 0)
            .select("scenario", F.col("id").alias("source_id"), "inc")
            .join(edges, "source_id")
            .groupBy("scenario", "id")
            .agg(F.sum(F.col("impact") * F.col("inc")).alias("step"))
        )
        s = F.coalesce(F.col("s"), F.lit(0.0)) + F.coalesce(F.col("step"), F.lit(0.0))
        prev = F.coalesce(F.col("h"), F.lit(0.0))
        state = state.join(push, ["scenario", "id"], "full_outer").select(
            "scenario", "id", F.coalesce(F.col("initial"), F.lit(0.0)).alias("initial"), s.alias("s"),
            F.least(F.lit(1.0), s).alias("h"), (F.least(F.lit(1.0), s) - prev).alias("inc"),
            F.coalesce(F.col("step"), F.lit(0.0)).alias("step"),
        ).localCheckpoint(eager=False)  # fmt: skip
        # One job per round: the per-scenario norms and the largest increment, read from the new state.
        norms = state.groupBy("scenario").agg(
            F.sqrt(F.sum(F.col("step") * F.col("step"))).alias("norm"), F.max("inc").alias("inc")
        )
        row = norms.agg(F.max("norm"), F.max("inc")).first()  # type: ignore[assignment]
        if row is None or (row[0] or 0.0) < tol or not (row[1] or 0.0) > 0:
            break
        state = state.drop("step")
    return state.where(F.col("h") > 0).select("scenario", "id", "initial", F.col("h").alias("distress"))


# ------------------------------------------------------------------------ per batch of whole weak components

COMPONENT_CAP = 2_000_000
"""Impact components of at most this many firms run the embedded kernels in one executor task, on their own impact
matrix; larger ones run the distributed rounds. A default reaches only its own weak component, so both give the
embedded figures. The cap bounds a task's memory: the component's edges as pandas rows and a sparse matrix, and
dense states of ``graphrisk.analysis.contagion._batch_size`` scenarios (about 256 MB each); docs/spark-sizing.md."""


def impact_components(impact: DataFrame, *, batches: int, cap: int = COMPONENT_CAP) -> DataFrame:
    """``id, component, firms, _batch, local`` for every firm on an impact edge: its weak component of the impact
    network (:func:`.graph.connected_components`, labelled by the smallest id), the component's size, its batch,
    ``pmod(xxhash64(component), batches)`` when the component has at most ``cap`` firms and −1 (the distributed
    rounds) above, and ``local``, the firm's rank in its batch in id order (null in batch −1). The per-batch tasks
    index their impact matrix by ``local``, so edges and seeds travel as integers. Firms on no impact edge are in no
    component: their default reaches no one."""
    F = _F()
    from pyspark.sql import Window

    from graphrisk.engines.spark.graph import connected_components

    comp = connected_components(impact.select(F.col("source_id").alias("src"), F.col("target_id").alias("dst")))
    sizes = comp.groupBy("component").agg(F.count("*").alias("firms"))
    batch = F.when(F.col("firms") <= int(cap), F.pmod(F.xxhash64("component"), F.lit(int(batches)))).otherwise(-1)
    out = comp.join(sizes, "component").select("id", "component", "firms", batch.cast("long").alias("_batch"))
    # Ranked per batch only below the cap: a window over batch −1 would sort the giant components in one task.
    rank = (F.row_number().over(Window.partitionBy("_batch").orderBy("id")) - 1).cast("int")
    small = out.where(F.col("_batch") >= 0).withColumn("local", rank)
    big = out.where(F.col("_batch") < 0).withColumn("local", F.lit(None).cast("int"))
    return small.unionByName(big)


def _batch_edges(impact: DataFrame, components: DataFrame) -> DataFrame:
    """The impact edges inside the components up to the cap as ``_edge_batch, s, t, impact`` (the ranks of source
    and target in their batch). The batch goes under another name because the cogroups pair these edges with frames
    of the same lineage, and Spark refuses to group two such frames by "the same" column."""
    F = _F()
    small = components.where(F.col("_batch") >= 0)
    src = small.select(F.col("id").alias("source_id"), "_batch", F.col("local").alias("s"))
    dst = small.select(F.col("id").alias("target_id"), F.col("local").alias("t"))
    edges = impact.join(src, "source_id").join(dst, "target_id")
    return edges.select(F.col("_batch").alias("_edge_batch"), "s", "t", F.col("impact").cast("double").alias("impact"))


def _batch_transpose(edges: pd.DataFrame, local: np.ndarray) -> Any:
    """Iᵀ of one batch (the embedded ``_transpose`` of its impact matrix) from the edges of :func:`_batch_edges`;
    ``local`` are the ranks of the batch's firms as received, checked to be 0..n−1 so that a wrong rank can never
    index silently."""
    import scipy.sparse as sp

    from graphrisk.analysis.contagion import _transpose

    n = len(local)
    if not np.array_equal(np.sort(local), np.arange(n)):
        raise RuntimeError(f"the firms of an impact component batch are not ranked 0..{n - 1}")
    src, dst = edges["s"].to_numpy(dtype="int64"), edges["t"].to_numpy(dtype="int64")
    return _transpose(sp.csr_array((edges["impact"].to_numpy(dtype="float64"), (src, dst)), shape=(n, n)))


def spectral_radius(impact: DataFrame, components: DataFrame) -> float | None:
    """The largest absolute eigenvalue of the impact matrix (the embedded ``spectral_radius``: below 1 small shocks
    die out in the linear model). The matrix is block-diagonal by weak component, so its eigenvalues are those of
    the blocks: the embedded ARPACK solve runs on each batch of whole components up to the cap in one executor task,
    and the driver takes the largest. ``None`` when a component is above the cap (no distributed eigen-solver), or
    when no firm is on an impact edge it is 0. Each solve converges to ARPACK's 1e-8, so the figure equals the
    embedded one to about that.

    >>> # doctest: +SKIP
    >>> spectral_radius(impact, impact_components(impact, batches=8))
    0.93
    """
    F = _F()
    if components.where(F.col("_batch") < 0).limit(1).count():
        return None

    def task(edges: pd.DataFrame) -> pd.DataFrame:
        import scipy.sparse as sp

        from graphrisk.analysis.contagion import spectral_radius as embedded_spectral_radius

        n = int(max(edges["s"].max(), edges["t"].max())) + 1  # every firm of a component is on one of its edges
        src, dst = edges["s"].to_numpy(dtype="int64"), edges["t"].to_numpy(dtype="int64")
        matrix = sp.csr_array((edges["impact"].to_numpy(dtype="float64"), (src, dst)), shape=(n, n))
        return pd.DataFrame({"radius": [embedded_spectral_radius(matrix)]})

    radii = _batch_edges(impact, components).groupBy("_edge_batch").applyInPandas(task, schema="radius double")
    row = radii.agg(F.max("radius")).first()
    return float(row[0]) if row is not None and row[0] is not None else 0.0


_SYSTEMIC_SCHEMA = (
    "id string, systemic_debtrank double, firms_hit long, new_defaults long, loss_if_default double, "
    "ead_hit_share double"
)


def _systemic_batch(
    edges: pd.DataFrame, firms: pd.DataFrame, *, total_ead: float, hit_distress: float, min_distress: float
) -> pd.DataFrame:
    """The embedded single-hit figures of the candidates among ``firms`` (every firm of a batch of whole impact
    components: ``id, local, w, loss_weight, ead, candidate``), on the batch's own impact matrix (``edges`` from
    :func:`_batch_edges`)."""
    from graphrisk.analysis.contagion import single_hit_figures

    firms = firms.sort_values("local", kind="stable").reset_index(drop=True)
    seeds = np.flatnonzero(firms["candidate"].to_numpy(dtype=bool))
    if not len(seeds):
        return pd.DataFrame({c.split()[0]: [] for c in _SYSTEMIC_SCHEMA.split(", ")})
    it = _batch_transpose(edges, firms["local"].to_numpy(dtype="int64"))
    parts = []
    for start in range(0, len(seeds), 1024):  # the embedded batch of single-hit scenarios
        part = seeds[start : start + 1024]
        dr, hit, new, loss, share = single_hit_figures(
            it, part, _col(firms, "w"), _col(firms, "loss_weight"), _col(firms, "ead"), total_ead,
            hit_distress=hit_distress, min_distress=min_distress,
        )  # fmt: skip
        parts.append(
            pd.DataFrame(
                {
                    "id": firms["id"].to_numpy()[part],
                    "systemic_debtrank": dr,
                    "firms_hit": hit.astype("int64"),
                    "new_defaults": new.astype("int64"),
                    "loss_if_default": loss,
                    "ead_hit_share": share,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _systemic_by_component(
    impact: DataFrame,
    candidates: DataFrame,
    firms: DataFrame,
    components: DataFrame,
    total_ead: float,
    *,
    hit_distress: float,
    min_distress: float,
) -> DataFrame:
    """:func:`systemic_importance`'s figures (unranked) for the candidates in components of at most the cap: only
    the batches holding a candidate are shipped, edges and firms cogrouped by batch."""
    F = _F()
    small = components.where(F.col("_batch") >= 0).select("id", "_batch", "local")
    marked = candidates.select("id", F.lit(True).alias("candidate"))
    nodes = small.join(firms, "id", "left").join(marked, "id", "left").select(
        "_batch", "id", "local", *(F.coalesce(c, F.lit(0.0)).alias(c) for c in ("w", "loss_weight", "ead")),
        F.coalesce("candidate", F.lit(False)).alias("candidate"),
    )  # fmt: skip
    # The batches holding a candidate: at most the batch count, so a list on the driver.
    wanted = [int(r[0]) for r in nodes.where("candidate").select("_batch").distinct().collect()]
    nodes = nodes.where(F.col("_batch").isin(wanted))
    edges = _batch_edges(impact, components).where(F.col("_edge_batch").isin(wanted))

    def task(e: pd.DataFrame, f: pd.DataFrame) -> pd.DataFrame:
        return _systemic_batch(e, f, total_ead=total_ead, hit_distress=hit_distress, min_distress=min_distress)

    return edges.groupBy("_edge_batch").cogroup(nodes.groupBy("_batch")).applyInPandas(task, schema=_SYSTEMIC_SCHEMA)


_CASCADE_SCHEMA = "scenario long, defaults long, loss double"


def _cascade_batch_of_components(edges: pd.DataFrame, nodes: pd.DataFrame, *, threshold: float) -> pd.DataFrame:
    """Every scenario's defaults after the cascade (seeds included) and their loss, within one batch of whole
    impact components. ``edges`` are ``s, t, impact`` by the firms' ranks in the batch (id order); ``nodes`` holds
    the batch's firms (``local``, ``loss_weight``) and one row of seeds: the scenarios and the ranks of the firms,
    as two int32 blobs. The embedded ``_cascade_batch`` on the batch's impact matrix, ``_batch_size`` scenarios at
    a time."""
    from graphrisk.analysis.contagion import _cascade_batch

    blobs = nodes[nodes["scenarios"].notna()]
    firms = nodes[nodes["local"].notna()]
    if not len(blobs) or not len(firms):
        return pd.DataFrame({"scenario": [], "defaults": [], "loss": []})
    n = len(firms)
    local = firms["local"].to_numpy(dtype="int64")
    it = _batch_transpose(edges, local)
    weight = np.zeros(n)
    weight[local] = _col(firms, "loss_weight")
    row = blobs.iloc[0]
    scen = np.frombuffer(row["scenarios"], dtype="<i4").astype("int64")
    pos = np.frombuffer(row["locals"], dtype="<i4").astype("int64")
    scenarios, column = np.unique(scen, return_inverse=True)
    k = _batch_size(n)
    defaults, loss = np.zeros(len(scenarios), dtype="int64"), np.zeros(len(scenarios))
    for start in range(0, len(scenarios), k):
        m = min(k, len(scenarios) - start)
        mine = (column >= start) & (column < start + m)
        s0 = np.zeros((n, m))
        s0[pos[mine], column[mine] - start] = 1.0
        _, d, _, _ = _cascade_batch(it, s0, threshold=threshold)
        defaults[start : start + m] = d.sum(axis=0)
        loss[start : start + m] = weight @ d.astype("float64")
    return pd.DataFrame({"scenario": scenarios, "defaults": defaults, "loss": loss})


def _monte_carlo_by_component(
    impact: DataFrame,
    pd_frame: DataFrame,
    exposure: DataFrame,
    components: DataFrame,
    *,
    scenarios: int,
    rho: float,
    seed: int,
    threshold: float,
    batch: int,
) -> DataFrame:
    """:func:`monte_carlo` with ``components``: the draws stay on the driver as numbers. Per batch of scenarios the
    driver counts the defaults without contagion and those of firms on no impact edge itself, sends each batch of
    components its seeds as two int32 blobs (scenario, rank of the firm in the batch), and sends only seeds in
    components above the cap as ids to the distributed rounds. One row per scenario, as :func:`monte_carlo`."""
    F = _F()
    spark = impact.sparkSession
    lw = exposure.select("id", "loss_weight")
    small = components.where(F.col("_batch") >= 0).select("id", "_batch", "local")
    # Per firm in id order (the embedded node order, which the draws follow): PD, loss weight, batch (−1: a
    # component above the cap, −2: on no impact edge) and rank.
    firms = (
        pd_frame.select("id", F.col("pd").cast("double").alias("pd"))
        .join(lw, "id", "left")
        .join(components.select("id", "_batch", "local"), "id", "left")
        .select(
            "id", "pd", F.coalesce("loss_weight", F.lit(0.0)).alias("lw"), F.coalesce("_batch", F.lit(-2)).alias("b"),
            F.coalesce("local", F.lit(-1)).alias("local"),
        )
        .orderBy("id")
        .toPandas()
    )  # fmt: skip
    ids = firms["id"].to_numpy(dtype=object)
    p = np.clip(np.nan_to_num(firms["pd"].to_numpy(dtype="float64")), 0.0, 1.0)
    weight = firms["lw"].to_numpy(dtype="float64")
    where = firms["b"].to_numpy(dtype="int64")
    rank = firms["local"].to_numpy(dtype="int64")
    edges = _batch_edges(impact, components).localCheckpoint()
    members = small.join(lw, "id", "left").select(
        "_batch", "local", F.coalesce("loss_weight", F.lit(0.0)).alias("loss_weight"),
        F.lit(None).cast("binary").alias("scenarios"), F.lit(None).cast("binary").alias("locals"),
    ).localCheckpoint()  # fmt: skip
    big_impact = impact.join(components.where(F.col("_batch") < 0).select(F.col("id").alias("source_id")), "source_id")
    has_big = bool((where == -1).any())

    def task(e: pd.DataFrame, f: pd.DataFrame) -> pd.DataFrame:
        return _cascade_batch_of_components(e, f, threshold=threshold)

    base, full = np.zeros(scenarios), np.zeros(scenarios)
    nb, nf = np.zeros(scenarios, dtype="int64"), np.zeros(scenarios, dtype="int64")
    chunk = min(batch, _batch_size(len(p)))
    with _rounds(spark) as shuffle:
        rounds_edges = _edges(big_impact, shuffle) if has_big else None
        for start, rows, cols in _default_draws(p, scenarios, rho=rho, seed=seed, chunk=chunk):
            k = start + rows
            nb += np.bincount(k, minlength=scenarios)
            base += np.bincount(k, weights=weight[cols], minlength=scenarios)
            alone = where[cols] == -2  # a default on no impact edge reaches no one
            nf += np.bincount(k[alone], minlength=scenarios)
            full += np.bincount(k[alone], weights=weight[cols[alone]], minlength=scenarios)
            seeds = []
            for b in np.unique(where[cols][where[cols] >= 0]).tolist():
                mine = where[cols] == b
                seeds.append((int(b), bytearray(k[mine].astype("<i4").tobytes()),
                              bytearray(rank[cols[mine]].astype("<i4").tobytes())))  # fmt: skip
            parts = []
            if seeds:
                blobs = spark.createDataFrame(seeds, "_batch long, scenarios binary, locals binary")
                blobs = blobs.select(
                    "_batch", F.lit(None).cast("int").alias("local"), F.lit(None).cast("double").alias("loss_weight"),
                    "scenarios", "locals",
                )  # fmt: skip
                grouped = edges.groupBy("_edge_batch").cogroup(members.unionByName(blobs).groupBy("_batch"))
                parts.append(grouped.applyInPandas(task, schema=_CASCADE_SCHEMA))
            if has_big and rounds_edges is not None:
                big = where[cols] == -1
                listed: dict[int, list[str]] = {}
                for s_, i in zip(k[big].tolist(), ids[cols[big]].tolist(), strict=True):
                    listed.setdefault(int(s_), []).append(str(i))
                if listed:
                    frame = spark.createDataFrame(list(listed.items()), "scenario long, ids array<string>")
                    initial = frame.select("scenario", F.explode("ids").alias("id"), F.lit(1.0).alias("initial"))
                    final = _cascade_rounds(rounds_edges, initial, threshold=threshold, max_rounds=10_000)
                    parts.append(
                        final.where("defaulted").join(lw, "id", "left").groupBy("scenario")
                        .agg(F.count("*").alias("defaults"), F.coalesce(F.sum("loss_weight"), F.lit(0.0)).alias("loss"))
                    )  # fmt: skip
            if parts:
                for r in _union(parts).collect():  # one row per scenario and part: a few thousand numbers
                    nf[int(r["scenario"])] += int(r["defaults"])
                    full[int(r["scenario"])] += float(r["loss"])
    result = [(int(i), float(base[i]), float(full[i]), int(nb[i]), int(nf[i])) for i in range(scenarios)]
    return spark.createDataFrame(
        result,
        "scenario long, loss_without_contagion double, loss_with_contagion double, "
        "defaults_without_contagion long, defaults_with_contagion long",
    )


# ---------------------------------------------------------------------------------------------- Monte Carlo


def _default_draws(
    p: np.ndarray, scenarios: int, *, rho: float, seed: int, chunk: int
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """The embedded ``monte_carlo`` draws, chunk by chunk: (first scenario, scenario offsets, firm positions) of
    the initial defaults. One seeded generator consumed scenario by scenario (common factor first), so the chunk
    size does not change the draws."""
    from scipy.stats import norm

    rng = np.random.default_rng(seed)
    n = len(p)
    with np.errstate(divide="ignore"):
        cut = norm.ppf(p)
    for start in range(0, scenarios, chunk):
        m = min(chunk, scenarios - start)
        if rho > 0:
            draws = rng.standard_normal((m, n + 1))
            d0 = np.sqrt(rho) * draws[:, :1] + np.sqrt(1.0 - rho) * draws[:, 1:] < cut[None, :]
        else:
            d0 = rng.random((m, n)) < p[None, :]
        rows, cols = np.nonzero(d0)
        yield start, rows, cols


def monte_carlo(
    impact: DataFrame,
    pd_frame: DataFrame,
    exposure: DataFrame,
    *,
    scenarios: int = 10_000,
    rho: float = 0.0,
    seed: int = 0,
    threshold: float = 1.0,
    batch: int = 500,
    components: DataFrame | None = None,
) -> DataFrame:
    """The embedded ``monte_carlo`` (cascade model) with the same draws: one row per scenario, ``scenario``,
    ``loss_without_contagion``, ``loss_with_contagion``, ``defaults_without_contagion``, ``defaults_with_contagion``.

    The initial defaults are drawn on the driver with the embedded generator (``numpy.random.default_rng(seed)``,
    one-factor Gaussian copula when ``rho`` > 0), which needs the PD vector there (n floats, in id order as the
    embedded node order) and n draws per scenario; only the defaults drawn go to Spark, one row per scenario with
    its ids, ``batch`` scenarios at a time. Cascades never leave a weak component of the impact network, so a
    scenario's defaults are the sum over components: with ``components`` (:func:`impact_components`) those of at
    most its cap run the embedded cascade on their impact matrix, one executor task per batch of whole components,
    and the others (all, without ``components``) run distributed rounds (:func:`default_cascade`).

    >>> # doctest: +SKIP
    >>> monte_carlo(impact, standalone_pd(tables), firm_exposure(tables), scenarios=2000, rho=0.12).show(3)
    """
    if components is not None:
        return _monte_carlo_by_component(
            impact, pd_frame, exposure, components, scenarios=scenarios, rho=rho, seed=seed, threshold=threshold,
            batch=batch,
        )  # fmt: skip
    F = _F()
    spark = impact.sparkSession
    pdf = pd_frame.select("id", F.col("pd").cast("double").alias("pd")).orderBy("id").toPandas()
    ids = pdf["id"].to_numpy(dtype=object)
    p = np.clip(np.nan_to_num(pdf["pd"].to_numpy(dtype="float64")), 0.0, 1.0)
    lw = exposure.select("id", "loss_weight")
    frames: list[DataFrame] = []

    def cascade(edges: DataFrame, first: int, upto: int, drawn: dict[int, list[str]]) -> DataFrame:
        # A list of tuples, not a pandas frame: pyspark 3.5's Arrow conversion breaks on pandas 3.
        rows = [(k, v) for k, v in drawn.items()]
        seeds = spark.createDataFrame(rows, "scenario long, ids array<string>").select(
            "scenario", F.explode("ids").alias("id"), F.lit(1.0).alias("initial")
        )
        final = _cascade_rounds(edges, seeds, threshold=threshold, max_rounds=10_000)
        with_c = (
            final.where("defaulted")
            .join(lw, "id")
            .groupBy("scenario")
            .agg(F.count("*").alias("defaults_with_contagion"), F.sum("loss_weight").alias("loss_with_contagion"))
        )
        without = (
            seeds.join(lw, "id")
            .groupBy("scenario")
            .agg(F.count("*").alias("defaults_without_contagion"), F.sum("loss_weight").alias("loss_without_contagion"))
        )
        every = spark.range(first, upto).withColumnRenamed("id", "scenario")
        out = every.join(without, "scenario", "left").join(with_c, "scenario", "left")
        return out.select(
            "scenario",
            F.coalesce("loss_without_contagion", F.lit(0.0)).alias("loss_without_contagion"),
            F.coalesce("loss_with_contagion", F.lit(0.0)).alias("loss_with_contagion"),
            F.coalesce("defaults_without_contagion", F.lit(0)).cast("long").alias("defaults_without_contagion"),
            F.coalesce("defaults_with_contagion", F.lit(0)).cast("long").alias("defaults_with_contagion"),
        ).localCheckpoint()

    with _rounds(spark) as shuffle:
        edges = _edges(impact, shuffle)
        drawn: dict[int, list[str]] = {}
        first = 0
        chunk = min(batch, _batch_size(len(p)))
        for start, rows, cols in _default_draws(p, scenarios, rho=rho, seed=seed, chunk=chunk):
            for k, i in zip((start + rows).tolist(), ids[cols].tolist(), strict=True):
                drawn.setdefault(int(k), []).append(str(i))
            end = min(scenarios, start + chunk)
            if end - first >= batch or end == scenarios:
                frames.append(cascade(edges, first, end, drawn))
                drawn, first = {}, end
    if not frames:
        return spark.createDataFrame(
            [],
            "scenario long, loss_without_contagion double, loss_with_contagion double, "
            "defaults_without_contagion long, defaults_with_contagion long",
        )
    return _union(frames)


def losses_document(mc: pd.DataFrame, *, rho: float, seed: int, as_of: date) -> dict[str, Any]:
    """The embedded ``losses`` document (losses.json) and summary figures from the collected per-scenario table of
    :func:`monte_carlo` (one row per scenario: small): EL, VaR and ES at 99 % and 99.9 %, exceedance curves."""
    mc = mc.sort_values("scenario")
    result = MonteCarloResult(
        standalone=mc["loss_without_contagion"].to_numpy(dtype="float64"),
        contagion=mc["loss_with_contagion"].to_numpy(dtype="float64"),
        seed=seed,
        rho=rho,
        model="cascade",
        defaults_standalone=mc["defaults_without_contagion"].to_numpy(dtype=np.int64),
        defaults_contagion=mc["defaults_with_contagion"].to_numpy(dtype=np.int64),
    )
    losses = result.figures()
    curves = {k: loss_exceedance(v) for k, v in (("without", result.standalone), ("with", result.contagion))}
    n = len(result.contagion)
    return {
        "as_of": as_of.isoformat(),
        "scenarios": n,
        "model": result.model,
        "rho": rho,
        "seed": seed,
        "loss_unit": "CNY (Σ EAD × LGD of the firms in default)",
        **losses,
        "exceedance": {
            f"{k}_contagion": {"loss": list(x), "probability_above": list(y)} for k, (x, y) in curves.items()
        },
        "defaults_mean": {
            "without_contagion": float(result.defaults_standalone.mean()) if n else 0.0,
            "with_contagion": float(result.defaults_contagion.mean()) if n else 0.0,
        },
    }


# --------------------------------------------------------------------------------------------- chain losses


def _chain_reason_udf():  # type: ignore[no-untyped-def]
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("string")  # type: ignore[call-overload]
    def reason(pat: pd.Series, sz: pd.Series, ex: pd.Series, w: pd.Series, a: pd.Series, b: pd.Series) -> pd.Series:
        out = [
            f"{p} of {s} firms, {int(e)} with exposure (EAD×LGD {format_cny(x)}): expected loss {format_cny(y)} by "
            f"ratings alone, {format_cny(z)} with network PDs (+{format_cny(z - y)}; proxy: Σ PD × EAD × LGD over "
            "members)"
            for p, s, e, x, y, z in zip(pat, sz, ex, w, a, b, strict=True)
        ]
        return pd.Series(out, index=pat.index, dtype=object)

    return reason


def chain_losses(patterns: DataFrame, firms: DataFrame) -> DataFrame:
    """Expected loss along each guarantee chain and circle, as the embedded ``chain_losses`` (a documented proxy):
    ``patterns`` has ``pattern``, ``pattern_id``, ``members`` (``;``-joined) as ``guarantee_patterns``; ``firms``
    has ``id``, ``pd`` (standalone, not clipped), ``network_pd``, ``loss_weight``.

    Members exploded and joined with the firms, one group-by per pattern; the top member (adds most, then lowest
    id) by a window per pattern. Ordered as embedded: ``el_added`` descending, then ``pattern_id``."""
    F = _F()
    from pyspark.sql import Window

    kept = patterns.where(F.col("pattern").isin("chain", "circle"))
    long = kept.select(
        "pattern", "pattern_id", F.explode(F.split(F.col("members").cast("string"), ";")).alias("member")
    )
    long = long.dropDuplicates(["pattern_id", "member"])
    f = firms.select(F.col("id").alias("member"), "pd", "network_pd", F.col("loss_weight").alias("lw"))
    long = long.join(f, "member").select(
        "pattern", "pattern_id", "member", "lw",
        (F.col("pd") * F.col("lw")).alias("el0"), (F.col("network_pd") * F.col("lw")).alias("el1"),
        ((F.col("network_pd") - F.col("pd")) * F.col("lw")).alias("added"),
    )  # fmt: skip
    top = long.withColumn(
        "_r", F.row_number().over(Window.partitionBy("pattern_id").orderBy(F.col("added").desc(), F.col("member")))
    ).where(F.col("_r") == 1)
    agg = long.groupBy("pattern_id").agg(
        F.first("pattern").alias("pattern"),
        F.count("*").alias("size"),
        F.sum((F.col("lw") > 0).cast("long")).alias("members_with_exposure"),
        F.sum("lw").alias("ead_lgd"),
        F.sum("el0").alias("el_standalone"),
        F.sum("el1").alias("el_network"),
        F.sum("added").alias("el_added"),
    )
    agg = agg.join(top.select("pattern_id", F.col("member").alias("top_member")), "pattern_id")
    reason = _chain_reason_udf()("pattern", "size", "members_with_exposure", "ead_lgd", "el_standalone", "el_network")
    return agg.select(
        "pattern", "pattern_id", "size", "members_with_exposure", "ead_lgd", "el_standalone", "el_network",
        "el_added", "top_member", reason.alias("reason"),
    ).orderBy(F.col("el_added").desc(), F.col("pattern_id"))  # fmt: skip


# ------------------------------------------------------------------------------------------------ flags


def _col(rows: pd.DataFrame, name: str, dtype: str = "float64") -> np.ndarray:
    return rows[name].to_numpy(dtype=dtype)


def _too_connected(rows: pd.DataFrame, hit_n: int, ead_share: float) -> pd.DataFrame:
    """The embedded ``too_connected_to_fail`` rows (reason and evidence word for word) of a batch of candidates."""
    ids, rank = _col(rows, "id", "object"), _col(rows, "rank", "int64")
    hits, share = _col(rows, "firms_hit"), _col(rows, "ead_hit_share")
    sdr, loss = _col(rows, "systemic_debtrank"), _col(rows, "loss_if_default")
    out = []
    for i in range(len(rows)):
        # Many firms hit is a warning; a material share of the bank's own exposure hit is the high flag.
        severity = "high" if share[i] >= ead_share else "medium"
        why = (
            f"its default alone would distress {int(hits[i])} other firms with {share[i]:.1%} of the bank's EAD "
            f"(thresholds {hit_n} firms or {ead_share:.0%}; high at {ead_share:.0%} of EAD)"
        )
        evidence = {
            "systemic_debtrank": float(sdr[i]),
            "rank": int(rank[i]),
            "firms_hit": int(hits[i]),
            "ead_hit_share": float(share[i]),
            "loss_if_default": float(loss[i]),
            "threshold_firms_hit": hit_n,
            "threshold_ead_share": ead_share,
        }
        out.append(_flag(str(ids[i]), "too_connected_to_fail", severity, why, evidence))
    return pd.DataFrame(out, columns=list(FLAG_COLUMNS), dtype=object)


def _uplift(rows: pd.DataFrame, multiple: float, uplift_min: float) -> pd.DataFrame:
    """The embedded ``network_pd_uplift`` rows of a batch of firms."""
    ids, p, q = _col(rows, "id", "object"), _col(rows, "pd"), _col(rows, "network_pd")
    out = []
    for i in range(len(rows)):
        pd_, npd = float(p[i]), float(q[i])
        why = (
            f"network PD {npd:.2%} is {npd / pd_:.1f}× its standalone PD {pd_:.2%} (thresholds {multiple:g}× and "
            f"+{uplift_min:.0%} absolute)"
        )
        evidence = {"pd": pd_, "network_pd": npd, "threshold_multiple": multiple, "threshold_uplift": uplift_min}
        out.append(_flag(str(ids[i]), "network_pd_uplift", "medium", why, evidence))
    return pd.DataFrame(out, columns=list(FLAG_COLUMNS), dtype=object)


def contagion_flags(scores: DataFrame, config: Config | None = None) -> DataFrame:
    """The embedded analysis's flags with its reasons and evidence (Python formatting in a pandas UDF on the
    executors): ``too_connected_to_fail`` (a candidate whose default alone distresses ≥ ``contagion_firms_hit``
    firms or ≥ ``contagion_ead_share`` of the EAD; high at the EAD share) and ``network_pd_uplift`` (network PD
    ≥ ``contagion_pd_multiple`` × PD and ≥ PD + ``contagion_pd_uplift_min``, for 0 < PD < 1).

    ``scores``: one row per firm with ``id``, ``pd`` (standalone, not clipped), ``network_pd`` and, for the
    candidates, the :func:`systemic_importance` columns (null elsewhere). Columns ``entity_id, flag, severity,
    reason, evidence``."""
    F = _F()
    th = (config or Config()).threshold
    hit_n, ead_share = int(th("contagion_firms_hit")), th("contagion_ead_share")
    multiple, uplift_min = th("contagion_pd_multiple"), th("contagion_pd_uplift_min")
    connected = scores.where((F.col("firms_hit") >= hit_n) | (F.col("ead_hit_share") >= ead_share)).select(
        "id", "systemic_debtrank", "rank", "firms_hit", "ead_hit_share", "loss_if_default"
    )
    p, q = F.col("pd"), F.col("network_pd")
    uplifted = scores.where((p > 0) & (p < 1.0) & (q > p) & (q >= multiple * p) & (q - p >= uplift_min)).select(
        "id", "pd", "network_pd"
    )
    a = connected.mapInPandas(lambda it: (_too_connected(f, hit_n, ead_share) for f in it), _FLAG_SCHEMA)
    b = uplifted.mapInPandas(lambda it: (_uplift(f, multiple, uplift_min) for f in it), _FLAG_SCHEMA)
    return a.unionByName(b)


def _firm_reasons(flags: DataFrame) -> DataFrame:
    """Each firm's flag reasons joined by ``; `` in the embedded order (too connected first, then PD uplift)."""
    F = _F()
    order = F.when(F.col("flag") == "too_connected_to_fail", 0).otherwise(1)
    per = flags.groupBy(F.col("entity_id").alias("id")).agg(
        F.array_sort(F.collect_list(F.struct(order.alias("o"), F.col("reason")))).alias("_r")
    )
    return per.select("id", F.concat_ws("; ", F.transform("_r", lambda x: x["reason"])).alias("reasons"))


# ------------------------------------------------------------------------------------------------ entry


def contagion_analysis(
    tables: dict[str, DataFrame],
    as_of: date,
    config: Config | None = None,
    impact: DataFrame | None = None,
    *,
    patterns: DataFrame | None = None,
    batch: int = 256,
    mc_batch: int = 500,
    component_cap: int | None = COMPONENT_CAP,
) -> dict[str, DataFrame]:
    """The embedded ``contagion_analysis`` on Spark, with the thresholds of ``config`` on ``as_of``.

    ``impact`` reuses :func:`.steps.impact_edges` already built with the same factors; ``patterns`` (the guarantee
    analysis's ``guarantee_patterns``) adds ``chain_losses`` as the embedded scan does after the guarantees.
    ``batch`` candidates per systemic-importance batch, ``mc_batch`` Monte Carlo scenarios per cascade batch.
    Network PD, systemic importance and the Monte Carlo cascades run the embedded kernels per batch of whole impact
    components of at most ``component_cap`` firms and distributed rounds for larger ones (``None``: all distributed).

    Returns ``contagion`` (one row per firm, ordered by id: ``id, pd, network_pd, systemic_debtrank, rank,
    firms_hit, loss_if_default, reasons``), ``systemic_importance`` (the ranking of the candidates), ``flags``,
    ``monte_carlo`` (one row per scenario; absent with ``contagion_mc_scenarios`` = 0) and ``chain_losses``.
    Frames are checkpointed where the work is iterative, lazy elsewhere; :func:`contagion_summary` gives the
    summary figures.
    """
    F = _F()
    cfg = config or Config()
    th = cfg.threshold
    if impact is None:
        impact = impact_edges(
            tables,
            as_of,
            guarantee_recovery=th("contagion_guarantee_recovery"),
            supply_loss_factor=th("contagion_supply_loss_factor"),
            substitution_cost=th("contagion_substitution_cost"),
        )
    impact = impact.localCheckpoint(eager=False)
    p = standalone_pd(tables).localCheckpoint(eager=False)
    exposure = firm_exposure(tables).localCheckpoint(eager=False)
    components = None
    if component_cap is not None:
        parts = int(impact.sparkSession.conf.get("spark.sql.shuffle.partitions") or "200")
        components = impact_components(impact, batches=parts, cap=component_cap).localCheckpoint()
    npd = network_pd(p, impact, components=components).localCheckpoint(eager=False)
    cands = candidates_by_exposure(impact, exposure, int(th("contagion_candidates")))
    ranking = systemic_importance(
        impact,
        cands,
        exposure,
        hit_distress=th("contagion_hit_distress"),
        min_distress=th("contagion_min_distress"),
        batch=batch,
        components=components,
    ).localCheckpoint(eager=False)
    scores = (
        p.select("id", "pd")
        .join(npd.select("id", "network_pd"), "id")
        .join(ranking.drop("new_defaults"), "id", "left")
        .localCheckpoint(eager=False)
    )
    flags = contagion_flags(scores, cfg).localCheckpoint(eager=False)
    table = scores.join(_firm_reasons(flags), "id", "left").select(
        "id", "pd", "network_pd", "systemic_debtrank", "rank", "firms_hit", "loss_if_default",
        F.coalesce(F.col("reasons"), F.lit("")).alias("reasons"),
    ).orderBy("id")  # fmt: skip
    out: dict[str, DataFrame] = {
        "contagion": table,
        "systemic_importance": ranking.orderBy("rank"),
        "flags": flags,
    }
    scenarios = int(th("contagion_mc_scenarios"))
    if scenarios > 0:
        out["monte_carlo"] = monte_carlo(
            impact, p, exposure, scenarios=scenarios, rho=th("contagion_mc_rho"), seed=0, batch=mc_batch,
            components=components,
        ).orderBy("scenario")  # fmt: skip
    if components is not None:
        out["impact_components"] = components
    if patterns is not None:
        firms = scores.select("id", "pd", "network_pd").join(exposure.select("id", "loss_weight"), "id")
        out["chain_losses"] = chain_losses(patterns, firms)
    return out


def contagion_summary(
    tables: dict[str, DataFrame],
    results: dict[str, DataFrame],
    impact: DataFrame,
    as_of: date,
    config: Config | None = None,
) -> dict[str, Any]:
    """The embedded analysis's summary from the results of :func:`contagion_analysis` (small aggregates collected):
    impact links, the spectral radius (:func:`spectral_radius`, with ``impact_components`` in ``results``), candidates,
    flag counts, mean PDs, the Monte Carlo figures and the data-quality notes."""
    F = _F()
    th = (config or Config()).threshold
    ent = tables["enterprises"]
    na, rc = F.col("net_assets"), F.col("registered_capital")
    bad = ~F.coalesce(na > 0, F.lit(False))
    has_rc = F.coalesce(rc > 0, F.lit(False))
    quality = ent.agg(
        F.sum((bad & has_rc).cast("long")).alias("fallbacks"), F.sum((bad & ~has_rc).cast("long")).alias("missing")
    ).first()
    assert quality is not None
    pd_row = standalone_pd(tables).agg(F.sum(F.col("pd_missing").cast("long")).alias("m")).first()
    assert pd_row is not None
    means = results["contagion"].agg(F.mean("pd").alias("p"), F.mean("network_pd").alias("q")).first()
    assert means is not None
    counts = {str(r["flag"]): int(r["count"]) for r in results["flags"].groupBy("flag").count().collect()}
    notes = []
    if quality["fallbacks"]:
        notes.append(
            f"{quality['fallbacks']:,} firms without positive net assets use their registered capital as equity."
        )
    if quality["missing"]:
        notes.append(
            f"{quality['missing']:,} firms have neither net assets nor registered capital: any exposure wipes them out."
        )
    if pd_row["m"]:
        notes.append(f"{pd_row['m']:,} firms have no PD: taken as 0 (they only fail through the network).")
    summary: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "impact_links": int(impact.count()),
        "spectral_radius": None,  # below: per batch of impact components when none is above the cap
        "candidates": int(results["systemic_importance"].count()),
        "too_connected_to_fail": counts.get("too_connected_to_fail", 0),
        "network_pd_uplift": counts.get("network_pd_uplift", 0),
        "mean_pd": float(means["p"] or 0.0),
        "mean_network_pd": float(means["q"] or 0.0),
        "notes": notes,
        "not_ported": list(NOT_PORTED),
    }
    if "monte_carlo" in results:
        rho = th("contagion_mc_rho")
        doc = losses_document(results["monte_carlo"].toPandas(), rho=rho, seed=0, as_of=as_of)
        figures = {k: doc[k] for k in ("without_contagion", "with_contagion")}
        summary["losses"] = {"scenarios": doc["scenarios"], "rho": rho, "seed": 0, "model": "cascade", **figures}
    if "impact_components" in results:
        radius = spectral_radius(impact, results["impact_components"])
        summary["spectral_radius"] = radius
        if radius is None:
            notes.append("The spectral radius is not computed: an impact component is above the cap of firms per task.")
        # What bounds a task (the largest component collected) and how much ran in the distributed rounds.
        sizes = (
            results["impact_components"]
            .groupBy("component")
            .agg(F.first("firms").alias("firms"), F.first("_batch").alias("b"))
        )
        row = sizes.agg(
            F.max("firms").alias("largest"),
            F.max(F.when(F.col("b") >= 0, F.col("firms"))).alias("collected"),
            F.sum(F.when(F.col("b") < 0, F.col("firms"))).alias("rounds"),
        ).first()
        assert row is not None
        summary["impact_components"] = {
            "largest": int(row["largest"] or 0),
            "largest_collected": int(row["collected"] or 0),
            "firms_in_distributed_rounds": int(row["rounds"] or 0),
        }
    if "chain_losses" in results:
        total = results["chain_losses"].agg(F.sum("el_added")).first()
        summary["chain_el_added"] = float(total[0] or 0.0) if total is not None else 0.0
    return summary
