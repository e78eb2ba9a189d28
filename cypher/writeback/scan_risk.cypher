// The scan's verdict on each flagged entity: risk score, worst severity, flag codes and reasons.
// Rows: id, risk_score, risk_severity, risk_flags (list), reasons; parameters: $run_id, $algorithm.
UNWIND $rows AS row
MATCH (e:Entity {id: row.id})
SET e.risk_score = row.risk_score,
    e.risk_severity = row.risk_severity,
    e.risk_flags = row.risk_flags,
    e.risk_reasons = row.reasons,
    e.risk_run_id = $run_id;
