// Every entity holding one reified contact identifier, e.g. all firms registered at a hub address.
// Parameters: $kind ('address' | 'phone' | 'email'), $key (the normalised value, as shared_identifiers.cypher or
// graphrisk.analysis.hidden_links.normalize_address / normalize_phone / normalize_email gives it).
// One row per holder: entity_id, entity_kind ('enterprise' | 'person'), name, relation; firms first, then by id.
// Persons' names are personal data: mask them before showing (graphrisk.privacy.mask_personal).
CALL () {
  MATCH (c:Address {key: $key}) WHERE $kind = 'address' RETURN c
  UNION
  MATCH (c:Phone {key: $key}) WHERE $kind = 'phone' RETURN c
  UNION
  MATCH (c:Email {key: $key}) WHERE $kind = 'email' RETURN c
}
MATCH (c)<-[r:REGISTERED_AT|LIVES_AT|HAS_PHONE|HAS_EMAIL]-(h:Entity)
RETURN h.id AS entity_id,
       CASE WHEN h:Enterprise THEN 'enterprise' ELSE 'person' END AS entity_kind,
       h.name AS name,
       type(r) AS relation
ORDER BY entity_kind, entity_id;
