// Connected-counterparty groups (关联客户) written back: one (:CounterpartyGroup) per group, linked from each member
// firm by MEMBER_OF_GROUP with the basis and evidence that tied it in.
// Rows: group_id, member_id, basis, evidence, ead, members, ratio_to_tier1, limit_status, large_exposure (one row
// per member, the group's figures repeated); parameters: $run_id, $algorithm.
UNWIND $rows AS row
MATCH (e:Enterprise {id: row.member_id})
MERGE (g:CounterpartyGroup {group_id: row.group_id})
SET g.run_id = $run_id,
    g.algorithm = $algorithm,
    g.ead = row.ead,
    g.members = row.members,
    g.ratio_to_tier1 = row.ratio_to_tier1,
    g.limit_status = row.limit_status,
    g.large_exposure = row.large_exposure
MERGE (e)-[m:MEMBER_OF_GROUP {run_id: $run_id}]->(g)
SET m.basis = row.basis,
    m.evidence = row.evidence,
    m.algorithm = $algorithm
RETURN count(*) AS rows;
