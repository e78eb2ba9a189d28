// Every contact link already in the graph, so that a load can link new holders to existing identifiers and take
// stale links off the entities it reloads. The keys never leave graphrisk (persons' keys are personal data).
MATCH (e:Entity)-[r:REGISTERED_AT|LIVES_AT|HAS_PHONE|HAS_EMAIL]->(c)
WHERE c:Address OR c:Phone OR c:Email
RETURN e.id AS id,
       type(r) AS relation,
       CASE WHEN c:Address THEN 'address' WHEN c:Phone THEN 'phone' ELSE 'email' END AS kind,
       c.key AS key;
