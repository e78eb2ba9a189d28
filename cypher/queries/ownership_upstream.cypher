// Equity penetration upstream (股权穿透, simple_paths convention): every holder of $company_id within
// $max_depth layers (at most 10), one row per simple path (no node twice), with the product of the shares.
// Parameters: $company_id, $max_depth (1..10). In Neo4j Browser: :param company_id => '...'
MATCH (c:Enterprise {id: $company_id})
MATCH p = (h:Entity)-[:HOLDS_SHARES*1..10]->(c)
WITH h, p, nodes(p) AS ns
WHERE length(p) <= $max_depth
  AND all(i IN range(0, size(ns) - 2) WHERE NOT ns[i] IN ns[i + 1..])
RETURN h.id AS holder_id,
       [n IN ns | n.id] AS path,
       reduce(s = 1.0, r IN relationships(p) | s * r.share) AS share,
       length(p) AS depth
ORDER BY depth, path;
