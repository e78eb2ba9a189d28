// The written-back guarantee patterns a firm belongs to, for one scan run.
MATCH (e:Enterprise {id: $company})-[m:IN_GUARANTEE_PATTERN {run_id: $run_id}]->(p:GuaranteePattern {run_id: $run_id})
RETURN p.id AS pattern_id, p.pattern AS pattern, p.guaranteed_amount AS guaranteed_amount, p.reason AS reason,
       m.position AS position
ORDER BY pattern_id;
