// alert: guarantee_to_defaulted
// severity: high
// finds: a guarantee in force on $as_of given to a firm that has defaulted (defaulted = true) or whose registration
//   is revoked or deregistered (status 吊销 / 注销 and their variants): the guarantee is likely to be called.
// parameters: $as_of (date: a guarantee is in force when start_date <= $as_of <= end_date, a missing date is
//   open). $since is not used: the alert holds for as long as the guarantee does.
// columns: alert, severity, entity_id, entity_name (the guarantor), related_id, related_name (the borrower),
//   amount (the guaranteed amounts in force), reason.
MATCH (g:Enterprise)-[r:GUARANTEES]->(b:Enterprise)
WHERE g <> b
  AND (r.start_date IS NULL OR r.start_date <= $as_of) AND (r.end_date IS NULL OR r.end_date >= $as_of)
  AND (b.defaulted = true OR b.status IN ['吊销', '吊销未注销', '已吊销', 'revoked', '注销', '已注销', 'deregistered'])
WITH g, b, sum(coalesce(r.amount, 0.0)) AS amount, count(r) AS guarantees
RETURN 'guarantee_to_defaulted' AS alert,
       'high' AS severity,
       g.id AS entity_id,
       g.name AS entity_name,
       b.id AS related_id,
       b.name AS related_name,
       amount,
       coalesce(g.name, g.id) + ' guarantees ' + coalesce(b.name, b.id) + ', which ' +
       CASE
         WHEN b.defaulted = true THEN 'has defaulted'
         WHEN b.status IN ['注销', '已注销', 'deregistered'] THEN 'is deregistered (' + b.status + ')'
         ELSE 'has its licence revoked (' + b.status + ')'
       END +
       ': ' + toString(guarantees) + ' guarantee(s) in force for ' + toString(round(amount / 10000.0, 1)) +
       '万 may be called' AS reason
ORDER BY entity_id, related_id;
