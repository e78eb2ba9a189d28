// Same-name person candidates written back by the Spark engine through the connector: one event per pair judged
// `same` or `unsure` (a_id, b_id, score, judgement, evidence, as_of, run_id, algorithm), run after
// `UNWIND $events AS event`; persons are never merged. Same effect as
// writeback/hidden_links_person_candidates.cypher.
MATCH (a:Person {id: event.a_id})
MATCH (b:Person {id: event.b_id})
MERGE (a)-[c:SAME_PERSON_CANDIDATE]->(b)
SET c.score = event.score,
    c.judgement = event.judgement,
    c.evidence = event.evidence,
    c.as_of = event.as_of,
    c.run_id = event.run_id,
    c.algorithm = event.algorithm;
