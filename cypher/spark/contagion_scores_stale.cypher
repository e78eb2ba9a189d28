// Removes contagion figures written by another run, as writeback/contagion_scores_stale.cypher does. The
// connector runs it after `UNWIND $events AS event` with one event: run_id.
MATCH (e:Enterprise)
WHERE e.contagion_run_id IS NOT NULL AND e.contagion_run_id <> event.run_id
REMOVE e.network_pd, e.systemic_debtrank, e.systemic_rank, e.contagion_firms_hit, e.loss_if_default,
       e.contagion_run_id;
