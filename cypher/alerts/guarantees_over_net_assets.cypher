// alert: guarantees_over_net_assets
// severity: medium
// finds: a firm whose guarantees in force on $as_of add up to more than its net assets (or any guarantee at all
//   when its net assets are zero or negative): it cannot honour them if they are called together. Firms
//   without net_assets are skipped.
// parameters: $as_of (date: a guarantee is in force when start_date <= $as_of <= end_date, a missing date is
//   open). $since is not used: the alert holds for as long as the position does.
// columns: alert, severity, entity_id, entity_name (the guarantor), related_id and related_name (null), amount
//   (the guaranteed amounts in force), reason.
MATCH (g:Enterprise)-[r:GUARANTEES]->(b:Enterprise)
WHERE g.net_assets IS NOT NULL AND g <> b
  AND (r.start_date IS NULL OR r.start_date <= $as_of) AND (r.end_date IS NULL OR r.end_date >= $as_of)
WITH g, sum(coalesce(r.amount, 0.0)) AS given, count(DISTINCT b) AS borrowers
WHERE given > g.net_assets
RETURN 'guarantees_over_net_assets' AS alert,
       'medium' AS severity,
       g.id AS entity_id,
       g.name AS entity_name,
       null AS related_id,
       null AS related_name,
       given AS amount,
       coalesce(g.name, g.id) + ' guarantees ' + toString(borrowers) + ' borrower(s) for ' +
       toString(round(given / 10000.0, 1)) + '万 in total, ' +
       CASE WHEN g.net_assets > 0
            THEN toString(round(100.0 * given / g.net_assets)) + '% of its net assets of ' +
                 toString(round(g.net_assets / 10000.0, 1)) + '万'
            ELSE 'with net assets of ' + toString(round(g.net_assets / 10000.0, 1)) + '万 (not positive)'
       END AS reason
ORDER BY entity_id;
