// Equity penetration downstream (对外投资): every company $holder_id holds within $max_depth layers (at most
// 10), one row per simple path (no node twice), with the product of the shares along it.
// Parameters: $holder_id, $max_depth (1..10).
MATCH (h:Entity {id: $holder_id})
MATCH p = (h)-[:HOLDS_SHARES*1..10]->(c:Enterprise)
WITH c, p, nodes(p) AS ns
WHERE length(p) <= $max_depth
  AND all(i IN range(0, size(ns) - 2) WHERE NOT ns[i] IN ns[i + 1..])
RETURN c.id AS company_id,
       [n IN ns | n.id] AS path,
       reduce(s = 1.0, r IN relationships(p) | s * r.share) AS share,
       length(p) AS depth
ORDER BY depth, path;
