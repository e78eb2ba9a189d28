// Removes guarantee patterns written by another run, as writeback/guarantee_patterns_stale.cypher does. The
// connector runs it after `UNWIND $events AS event` with one event: run_id.
MATCH (p:GuaranteePattern)
WHERE p.run_id <> event.run_id
DETACH DELETE p;
