// The guarantees reachable forward from $company (the borrowers whose default can reach it), within $depth hops.
// A variable-length upper bound cannot be a parameter: the pattern expands to the fixed maximum of 8 and
// length(p) <= $depth keeps the wanted hops (graphrisk chain accepts --depth 1..8). Only guarantees active on
// $as_of count (open ends allowed); self-guarantees bind no other firm and are left out. An edge's hop is its
// smallest position on any such path, which equals a breadth-first search's distance of its near end + 1.
MATCH (c:Enterprise {id: $company})
MATCH p = (c)-[:GUARANTEES*1..8]->(:Enterprise)
WHERE length(p) <= $depth
  AND all(r IN relationships(p) WHERE startNode(r) <> endNode(r)
      AND (r.start_date IS NULL OR r.start_date <= $as_of)
      AND (r.end_date IS NULL OR r.end_date >= $as_of))
UNWIND range(0, length(p) - 1) AS i
WITH relationships(p)[i] AS r, i + 1 AS hop
WITH r, min(hop) AS hop
RETURN 'up' AS direction, hop, startNode(r).id AS guarantor_id, endNode(r).id AS borrower_id, r.amount AS amount,
       r.loan_id AS loan_id, r.kind AS kind, r.start_date AS start_date, r.end_date AS end_date;
