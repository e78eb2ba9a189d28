// The guarantees reachable backward from $company (the guarantors its default calls), within $depth hops.
// Fixed maximum of 8 filtered by length(p) <= $depth, as in guarantee_chain_up.cypher.
MATCH (c:Enterprise {id: $company})
MATCH p = (c)<-[:GUARANTEES*1..8]-(:Enterprise)
WHERE length(p) <= $depth
  AND all(r IN relationships(p) WHERE startNode(r) <> endNode(r)
      AND (r.start_date IS NULL OR r.start_date <= $as_of)
      AND (r.end_date IS NULL OR r.end_date >= $as_of))
UNWIND range(0, length(p) - 1) AS i
WITH relationships(p)[i] AS r, i + 1 AS hop
WITH r, min(hop) AS hop
RETURN 'down' AS direction, hop, startNode(r).id AS guarantor_id, endNode(r).id AS borrower_id, r.amount AS amount,
       r.loan_id AS loan_id, r.kind AS kind, r.start_date AS start_date, r.end_date AS end_date;
