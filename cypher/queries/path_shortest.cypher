// Every shortest relationship path between two entities over all relation types, read undirected.
// The upper bound of 12 hops is fixed (a variable-length bound cannot be a parameter); graphrisk picks the
// path whose entity ids are smallest in order, as the embedded search does.
MATCH (a:Entity {id: $source}), (b:Entity {id: $target})
MATCH p = allShortestPaths((a)-[:HOLDS_SHARES|OFFICER_OF|GUARANTEES|SUPPLIES*..12]-(b))
RETURN [n IN nodes(p) | n.id] AS ids;
