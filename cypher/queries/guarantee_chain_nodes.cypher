// The attributes the chain view shows for each firm on it.
UNWIND $ids AS id
MATCH (n:Enterprise {id: id})
RETURN n.id AS id, n.name AS name, n.status AS status, n.pd AS pd, n.defaulted AS defaulted;
