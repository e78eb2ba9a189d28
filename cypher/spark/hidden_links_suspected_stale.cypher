// Removes suspected links written by another run, as writeback/hidden_links_suspected_stale.cypher does. The
// connector runs it after `UNWIND $events AS event` with one event: run_id.
MATCH (:Enterprise)-[s:SUSPECTED_LINK]->(:Enterprise)
WHERE s.run_id <> event.run_id
DELETE s;
