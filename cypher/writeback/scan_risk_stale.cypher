// Takes the scan's verdict off entities flagged by another run (resolved since, or a different data set).
// Rows: one placeholder row; parameters: $run_id, $algorithm.
UNWIND $rows AS placeholder
MATCH (e:Entity)
WHERE e.risk_run_id IS NOT NULL AND e.risk_run_id <> $run_id
REMOVE e.risk_score, e.risk_severity, e.risk_flags, e.risk_reasons, e.risk_run_id;
