// Removes contagion figures written by another run: after a scan, only this run's figures are on the firms.
// Rows: one placeholder row; parameters: $run_id, $algorithm.
UNWIND $rows AS placeholder
MATCH (e:Enterprise)
WHERE e.contagion_run_id IS NOT NULL AND e.contagion_run_id <> $run_id
REMOVE e.network_pd, e.systemic_debtrank, e.systemic_rank, e.contagion_firms_hit, e.loss_if_default,
       e.contagion_run_id;
