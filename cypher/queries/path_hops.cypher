// Every relation between consecutive entities of a path, in either direction, with its properties.
UNWIND $pairs AS pair
MATCH (x:Entity {id: pair[0]})-[r:HOLDS_SHARES|OFFICER_OF|GUARANTEES|SUPPLIES]-(y:Entity {id: pair[1]})
RETURN pair[0] AS a, pair[1] AS b, type(r) AS type, startNode(r).id AS src, endNode(r).id AS dst,
       properties(r) AS props;
