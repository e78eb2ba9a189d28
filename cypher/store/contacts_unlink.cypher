// Takes stale contact links off reloaded entities (their address, phone or email changed), then deletes the
// identifiers left with fewer than two holders: a contact node exists only where it links entities.
// Rows: id, relation, key.
UNWIND $rows AS row
MATCH (e:Entity {id: row.id})-[r:REGISTERED_AT|LIVES_AT|HAS_PHONE|HAS_EMAIL]->(c)
WHERE type(r) = row.relation AND c.key = row.key AND (c:Address OR c:Phone OR c:Email)
DELETE r
WITH DISTINCT c
WHERE COUNT { (c)<-[:REGISTERED_AT|LIVES_AT|HAS_PHONE|HAS_EMAIL]-(:Entity) } < 2
DETACH DELETE c
RETURN count(*) AS rows;
