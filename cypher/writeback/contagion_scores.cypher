// Contagion figures written back onto the firms the network touches: network PD next to the standalone PD, and
// for the candidates ranked, systemic DebtRank, rank, firms hit and the bank's loss if the firm defaults.
// Rows: id, pd, network_pd, systemic_debtrank, systemic_rank, firms_hit, loss_if_default; $run_id, $algorithm.
UNWIND $rows AS row
MATCH (e:Enterprise {id: row.id})
SET e.network_pd = row.network_pd,
    e.systemic_debtrank = row.systemic_debtrank,
    e.systemic_rank = row.systemic_rank,
    e.contagion_firms_hit = row.firms_hit,
    e.loss_if_default = row.loss_if_default,
    e.contagion_run_id = $run_id;
