// Takes the scan's verdict off entities flagged by another run, as writeback/scan_risk_stale.cypher does. The
// connector runs it after `UNWIND $events AS event` with one event: run_id.
MATCH (e:Entity)
WHERE e.risk_run_id IS NOT NULL AND e.risk_run_id <> event.run_id
REMOVE e.risk_score, e.risk_severity, e.risk_flags, e.risk_reasons, e.risk_run_id;
