// Guarantee patterns written back by the Spark engine through the connector: one event per (pattern, member)
// (pattern_id, pattern, member, position, guaranteed_amount, ead, reason, as_of, run_id, algorithm), run after
// `UNWIND $events AS event`. Same effect as writeback/guarantee_patterns.cypher.
MATCH (e:Enterprise {id: event.member})
MERGE (p:GuaranteePattern {id: event.pattern_id, run_id: event.run_id})
SET p.pattern = event.pattern,
    p.guaranteed_amount = event.guaranteed_amount,
    p.ead = event.ead,
    p.reason = event.reason,
    p.as_of = event.as_of,
    p.algorithm = event.algorithm
MERGE (e)-[m:IN_GUARANTEE_PATTERN {run_id: event.run_id}]->(p)
SET m.position = event.position;
