// Suspected links written back by the Spark engine through the connector: one event per pair of firms (a_id,
// b_id, score, reasons, signals, as_of, run_id, algorithm), run after `UNWIND $events AS event`. Same effect as
// writeback/hidden_links_suspected.cypher.
MATCH (a:Enterprise {id: event.a_id})
MATCH (b:Enterprise {id: event.b_id})
MERGE (a)-[s:SUSPECTED_LINK]->(b)
SET s.score = event.score,
    s.reasons = event.reasons,
    s.signals = event.signals,
    s.as_of = event.as_of,
    s.run_id = event.run_id,
    s.algorithm = event.algorithm;
