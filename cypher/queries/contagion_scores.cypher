// Firms carrying contagion figures from a scan's write-back, most systemic first, then by network PD uplift.
// Parameters: $limit (rows to return).
MATCH (e:Enterprise)
WHERE e.contagion_run_id IS NOT NULL
RETURN e.id AS id, e.pd AS pd, e.network_pd AS network_pd, e.systemic_debtrank AS systemic_debtrank,
       e.systemic_rank AS systemic_rank, e.contagion_firms_hit AS firms_hit, e.loss_if_default AS loss_if_default,
       e.contagion_run_id AS run_id
ORDER BY coalesce(e.systemic_rank, 2147483647), e.network_pd - coalesce(e.pd, 0.0) DESC, e.id
LIMIT $limit;
