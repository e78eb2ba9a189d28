// Contagion figures written back by the Spark engine through the connector onto the firms the network touches:
// one event per firm (id, network_pd, systemic_debtrank, systemic_rank, firms_hit, loss_if_default, run_id,
// algorithm), run after `UNWIND $events AS event`. Same effect as writeback/contagion_scores.cypher.
MATCH (e:Enterprise {id: event.id})
SET e.network_pd = event.network_pd,
    e.systemic_debtrank = event.systemic_debtrank,
    e.systemic_rank = event.systemic_rank,
    e.contagion_firms_hit = event.firms_hit,
    e.loss_if_default = event.loss_if_default,
    e.contagion_run_id = event.run_id;
