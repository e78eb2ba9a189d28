// Removes same-name person candidates written by another run, as
// writeback/hidden_links_person_candidates_stale.cypher does. The connector runs it after
// `UNWIND $events AS event` with one event: run_id.
MATCH (:Person)-[c:SAME_PERSON_CANDIDATE]->(:Person)
WHERE c.run_id <> event.run_id
DELETE c;
