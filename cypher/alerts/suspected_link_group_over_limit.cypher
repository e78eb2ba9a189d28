// alert: suspected_link_group_over_limit
// severity: high (group in limit breach) | medium (near breach)
// finds: a new suspected link (SUSPECTED_LINK with as_of on or after $since) touching a connected-counterparty
//   group whose limit_status is 'breach' or 'near_breach': between two members of the group (the group's hidden
//   ties grow), or between a member and a firm outside the group (the group may have to take it in, adding its
//   exposure to a group already at its limit).
// parameters: $since (date or null: null reports every suspected link touching such a group). $as_of is not used.
// columns: alert, severity, entity_id, entity_name (the group member), related_id, related_name (the other firm),
//   amount (the group's EAD), reason (group, limit status, share of Tier 1, link score and signals; the
//   signals' detailed reasons can name persons and stay in Neo4j).
MATCH (m:Enterprise)-[:MEMBER_OF_GROUP]->(grp:CounterpartyGroup)
WHERE grp.limit_status IN ['breach', 'near_breach']
WITH DISTINCT m, grp
MATCH (m)-[s:SUSPECTED_LINK]-(o:Enterprise)
WHERE $since IS NULL OR s.as_of >= $since
WITH m, grp, o, s, EXISTS { (o)-[:MEMBER_OF_GROUP]->(grp) } AS inside
WHERE NOT inside OR m.id < o.id
RETURN 'suspected_link_group_over_limit' AS alert,
       CASE grp.limit_status WHEN 'breach' THEN 'high' ELSE 'medium' END AS severity,
       m.id AS entity_id,
       m.name AS entity_name,
       o.id AS related_id,
       o.name AS related_name,
       grp.ead AS amount,
       CASE WHEN $since IS NULL THEN 'suspected link' ELSE 'new suspected link' END +
       ' (score ' + toString(s.score) + ', signals ' + coalesce(s.signals, 'no signals recorded') + ') ' +
       CASE
         WHEN inside THEN 'inside counterparty group ' + toString(grp.group_id)
         ELSE 'from ' + coalesce(m.name, m.id) + ' of counterparty group ' + toString(grp.group_id) + ' to ' +
              coalesce(o.name, o.id) + ' outside it: it may extend the group'
       END +
       ', the group is ' + CASE grp.limit_status WHEN 'breach' THEN 'in limit breach' ELSE 'near its limit' END +
       CASE WHEN grp.ratio_to_tier1 IS NULL THEN ''
            ELSE ' at ' + toString(round(100.0 * grp.ratio_to_tier1, 1)) + '% of Tier 1 capital' END AS reason
ORDER BY entity_id, related_id;
