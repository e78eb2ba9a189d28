// Removes CONTROLS relations written by another run, as writeback/ownership_controls_stale.cypher does. The
// connector runs it after `UNWIND $events AS event` with one event: run_id.
MATCH ()-[r:CONTROLS]->()
WHERE r.run_id <> event.run_id
DELETE r;
